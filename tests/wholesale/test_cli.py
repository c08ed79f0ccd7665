"""`fiberassure wholesale …` one-shot commands, run as an administrator would, on each database."""

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
from alembic import command
from sqlalchemy import create_engine, inspect, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner, Result

from fiberassure.cli import app as cli
from fiberassure.wholesale.app import create_app
from fiberassure.wholesale.db import Base, Database, alembic_config, sync_url
from fiberassure.wholesale.inventory.models import Service
from fiberassure.wholesale.settings import Settings
from tests.databases import database_url_for
from tests.tickets import TICKETS, ticket_body

T = TypeVar("T")
BASE_URL = "http://testserver"
runner = CliRunner()
CSV_HEADER = "serviceId,operatorId,ontSerialNumber,oltName,ponPort,slaClass"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def cli_database_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One migrated database per backend for this module; tests use unique names and ids."""
    with database_url_for(backend, tmp_path_factory.mktemp("cli")) as url:
        yield url


def fiberassure(url: str, *args: str) -> Result:
    return runner.invoke(cli, ["wholesale", *args], env={"FIBERASSURE_DATABASE_URL": url})


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def new_serial() -> str:
    return f"ALCL{uuid.uuid4().hex[:8].upper()}"


def create_operator(url: str) -> dict[str, str]:
    result = fiberassure(url, "operator", "create", unique("Operator"), "--json")
    assert result.exit_code == 0, result.output
    created: dict[str, str] = json.loads(result.stdout)
    return created


def stored_services(url: str, service_ids: list[str]) -> dict[str, Service]:
    engine = create_engine(sync_url(url))
    try:
        with Session(engine) as session:
            lines = session.scalars(select(Service).where(Service.id.in_(service_ids)))
            return {line.id: line for line in lines}
    finally:
        engine.dispose()


def call_api(url: str, requests: Callable[[httpx.AsyncClient], Awaitable[T]]) -> T:
    """Run `requests` against the API over the database the commands wrote to.

    The commands run `asyncio.run` themselves, so these tests are synchronous and do the same.
    """

    async def run() -> T:
        database = Database(url)
        app = create_app(Settings(database_url=url), database=database)
        try:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
                return await requests(http)
        finally:
            await database.dispose()

    return asyncio.run(run())


async def token(http: httpx.AsyncClient, client_id: str, client_secret: str) -> dict[str, str]:
    response = await http.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, client_secret)
    )
    assert response.status_code == 200, response.text
    body: dict[str, str] = response.json()
    return body


def csv_file(directory: Path, *rows: str) -> Path:
    path = directory / f"{unique('lines')}.csv"
    path.write_text("\n".join((CSV_HEADER, *rows)) + "\n", encoding="utf-8")
    return path


def test_migrate_creates_the_schema_on_an_empty_database(backend: str, tmp_path: Path) -> None:
    with database_url_for(backend, tmp_path) as url:
        command.downgrade(alembic_config(url), "base")

        result = fiberassure(url, "migrate")

        assert result.exit_code == 0, result.output
        assert "schema is up to date" in result.stdout
        engine = create_engine(sync_url(url))
        try:
            with engine.connect() as connection:
                tables = set(inspect(connection).get_table_names())
        finally:
            engine.dispose()
        assert set(Base.metadata.tables) <= tables


def test_operator_create_prints_credentials_that_get_a_retail_token(
    cli_database_url: str,
) -> None:
    name = unique("Fibrolink Polska")

    result = fiberassure(cli_database_url, "operator", "create", name, "--json")

    assert result.exit_code == 0, result.output
    created = json.loads(result.stdout)
    assert set(created) == {"operatorId", "clientId", "clientSecret"}
    assert created["operatorId"].startswith(name.lower().replace(" ", "-") + "-")
    granted = call_api(
        cli_database_url, lambda http: token(http, created["clientId"], created["clientSecret"])
    )
    assert granted["scope"].split() == ["troubleTicket", "serviceTest", "hub"]


def test_operator_create_with_a_taken_name_fails_with_a_clear_message(
    cli_database_url: str,
) -> None:
    name = unique("Fibrolink")
    assert fiberassure(cli_database_url, "operator", "create", name).exit_code == 0

    again = fiberassure(cli_database_url, "operator", "create", name)

    assert again.exit_code != 0
    assert f"an operator named '{name}' already exists" in again.stderr
    assert "Traceback" not in again.output


def test_ops_client_create_prints_credentials_that_get_an_ops_token(
    cli_database_url: str,
) -> None:
    result = fiberassure(cli_database_url, "ops-client", "create", "--name", "NOC", "--json")

    assert result.exit_code == 0, result.output
    created = json.loads(result.stdout)
    assert set(created) == {"clientId", "clientSecret"}
    granted = call_api(
        cli_database_url, lambda http: token(http, created["clientId"], created["clientSecret"])
    )
    assert granted["scope"] == "ops"


def test_service_add_creates_a_line_a_ticket_can_be_opened_on(cli_database_url: str) -> None:
    operator = create_operator(cli_database_url)
    service_id = unique("SRV")
    serial = new_serial()

    result = fiberassure(
        cli_database_url,
        "service",
        "add",
        "--operator",
        operator["operatorId"],
        "--service-id",
        service_id,
        "--ont-serial",
        serial.lower(),
        "--sla-class",
        "enhanced",
    )

    assert result.exit_code == 0, result.output
    assert f"service {service_id} added for operator {operator['operatorId']}" in result.stdout
    line = stored_services(cli_database_url, [service_id])[service_id]
    assert (line.ont_serial_number, line.sla_class) == (serial, "enhanced")

    async def open_ticket(http: httpx.AsyncClient) -> httpx.Response:
        granted = await token(http, operator["clientId"], operator["clientSecret"])
        return await http.post(
            TICKETS,
            json=ticket_body(service_id),
            headers={"Authorization": f"Bearer {granted['access_token']}"},
        )

    opened = call_api(cli_database_url, open_ticket)
    assert opened.status_code == 201, opened.text
    assert opened.json()["status"] == "acknowledged"


def test_service_add_with_a_bad_serial_fails_with_a_clear_message(cli_database_url: str) -> None:
    operator = create_operator(cli_database_url)
    service_id = unique("SRV")

    result = fiberassure(
        cli_database_url,
        "service",
        "add",
        "--operator",
        operator["operatorId"],
        "--service-id",
        service_id,
        "--ont-serial",
        "ALCL-123",
    )

    assert result.exit_code != 0
    assert "an ONT serial number is 4 letters and 8 hex digits" in result.stderr
    assert "Traceback" not in result.output
    assert stored_services(cli_database_url, [service_id]) == {}


def test_service_add_for_an_unknown_operator_fails_with_a_clear_message(
    cli_database_url: str,
) -> None:
    service_id = unique("SRV")

    result = fiberassure(
        cli_database_url,
        "service",
        "add",
        "--operator",
        "no-such-operator",
        "--service-id",
        service_id,
        "--ont-serial",
        new_serial(),
    )

    assert result.exit_code != 0
    assert "no operator no-such-operator" in result.stderr
    assert stored_services(cli_database_url, [service_id]) == {}


def test_service_import_adds_every_row(cli_database_url: str, tmp_path: Path) -> None:
    operator = create_operator(cli_database_url)["operatorId"]
    ids = [unique("SRV") for _ in range(3)]
    serials = [new_serial() for _ in ids]
    path = csv_file(
        tmp_path,
        *(
            f"{service_id},{operator},{serial},OLT-01,1/1/1/{n},standard"
            for n, (service_id, serial) in enumerate(zip(ids, serials, strict=True), start=1)
        ),
    )

    result = fiberassure(cli_database_url, "service", "import", str(path))

    assert result.exit_code == 0, result.output
    assert "imported 3 services" in result.stdout
    stored = stored_services(cli_database_url, ids)
    assert {service_id: stored[service_id].ont_serial_number for service_id in ids} == dict(
        zip(ids, serials, strict=True)
    )


BAD_ROWS = {
    "bad serial": ("{id},{operator},NOTASERIAL,OLT-01,1/1/1/9,standard", "ont_serial_number"),
    "unknown operator": (
        "{id},no-such-operator,{serial},OLT-01,1/1/1/9,standard",
        "no operator no-such-operator",
    ),
    "duplicate serial": (
        "{id},{operator},{first_serial},OLT-01,1/1/1/9,standard",
        "ONT {first_serial} already serves {first_id}",
    ),
    "missing column": ("{id},{operator},{serial},OLT-01", "pon_port"),
    "extra column": (
        "{id},{operator},{serial},OLT-01,1/1/1/9,standard,Warszawa",
        "more fields than the header has columns",
    ),
}


@pytest.mark.parametrize("kind", list(BAD_ROWS))
def test_service_import_with_one_bad_row_imports_nothing_and_names_its_line(
    cli_database_url: str, tmp_path: Path, kind: str
) -> None:
    operator = create_operator(cli_database_url)["operatorId"]
    ids = [unique("SRV") for _ in range(3)]
    first_serial = new_serial()
    row, complaint = (
        text.format(
            id=ids[2],
            operator=operator,
            serial=new_serial(),
            first_serial=first_serial,
            first_id=ids[0],
        )
        for text in BAD_ROWS[kind]
    )
    path = csv_file(
        tmp_path,
        f"{ids[0]},{operator},{first_serial},OLT-01,1/1/1/1,standard",
        f"{ids[1]},{operator},{new_serial()},OLT-01,1/1/1/2,standard",
        row,
    )

    result = fiberassure(cli_database_url, "service", "import", str(path))

    assert result.exit_code != 0
    assert "1 bad row(s), nothing imported" in result.stderr
    problems = [line for line in result.stderr.splitlines() if line.startswith("line ")]
    assert len(problems) == 1, result.stderr
    assert problems[0].startswith("line 4: ")
    assert complaint in problems[0]
    assert stored_services(cli_database_url, ids) == {}


def test_service_import_names_physical_line_numbers_past_blank_lines(
    cli_database_url: str, tmp_path: Path
) -> None:
    operator = create_operator(cli_database_url)["operatorId"]
    ids = [unique("SRV") for _ in range(2)]
    path = csv_file(
        tmp_path,
        f"{ids[0]},{operator},{new_serial()},OLT-01,1/1/1/1,standard",
        "",
        f"{ids[1]},{operator},NOTASERIAL,OLT-01,1/1/1/2,standard",
    )

    result = fiberassure(cli_database_url, "service", "import", str(path))

    assert result.exit_code != 0
    assert "line 4: ont_serial_number" in result.stderr
    assert stored_services(cli_database_url, ids) == {}


def test_service_import_without_a_required_column_names_it_and_imports_nothing(
    cli_database_url: str, tmp_path: Path
) -> None:
    operator = create_operator(cli_database_url)["operatorId"]
    service_id = unique("SRV")
    path = tmp_path / "no-port.csv"
    path.write_text(
        f"serviceId,operatorId,ontSerialNumber,oltName\n{service_id},{operator},{new_serial()},OLT-01\n",
        encoding="utf-8",
    )

    result = fiberassure(cli_database_url, "service", "import", str(path))

    assert result.exit_code != 0
    assert "missing columns ['ponPort']" in result.stderr
    assert stored_services(cli_database_url, [service_id]) == {}
