"""`fiberassure wholesale …`: serve the API, run workers, migrate, manage operators and lines."""

import asyncio
import json
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
import uvicorn
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from fiberassure.tmf.errors import TMFError
from fiberassure.tmf.trouble_ticket import SlaClass
from fiberassure.wholesale.app import base_url_of, create_app
from fiberassure.wholesale.clock import SystemClock
from fiberassure.wholesale.db import Database, migrate
from fiberassure.wholesale.inventory.demo import DEMO_CLIENTS, demo_service_count, seed_demo
from fiberassure.wholesale.inventory.schemas import ServiceRecord
from fiberassure.wholesale.inventory.service import add_service, import_services_csv
from fiberassure.wholesale.logs import configure_logging
from fiberassure.wholesale.operators.schemas import Scope
from fiberassure.wholesale.operators.service import create_client, create_retail_operator
from fiberassure.wholesale.settings import Environment, Settings
from fiberassure.wholesale.worker import run_workers

app = typer.Typer(
    help="The wholesale network's server and tools.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
operator_app = typer.Typer(help="Retail operators (tenants).", no_args_is_help=True)
ops_client_app = typer.Typer(
    help="API clients for the wholesaler's staff and systems.", no_args_is_help=True
)
service_app = typer.Typer(help="The access-line inventory.", no_args_is_help=True)
app.add_typer(operator_app, name="operator")
app.add_typer(ops_client_app, name="ops-client")
app.add_typer(service_app, name="service")

T = TypeVar("T")


def _settings() -> Settings:
    try:
        return Settings()
    except ValueError as error:
        typer.echo(f"invalid settings: {error}", err=True)
        raise typer.Exit(2) from None


def _in_transaction(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Migrate, then run `work` in one transaction; a TMF error becomes a clean exit 1."""
    migrate(settings.database_url)

    async def run() -> T:
        database = Database.from_settings(settings)
        try:
            async with database.transaction() as session:
                return await work(session)
        finally:
            await database.dispose()

    try:
        return asyncio.run(run())
    except TMFError as error:
        typer.echo(f"error: {error.message}", err=True)
        raise typer.Exit(1) from None


@app.command("migrate")
def migrate_command() -> None:
    """Bring the database schema up to date (serve and worker do this at start too)."""
    settings = _settings()
    configure_logging(settings.log_format)
    migrate(settings.database_url)
    typer.echo("schema is up to date")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    demo: Annotated[
        bool, typer.Option(help="Seed the demo network and print its credentials.")
    ] = False,
    background: Annotated[
        bool, typer.Option(help="Run the scheduler in this process (off: run `worker` instead).")
    ] = True,
) -> None:
    """Serve the API, with the background loops in-process."""
    settings = _settings()
    configure_logging(settings.log_format)
    if not settings.public_base_url:
        shown_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104
        settings = settings.with_overrides(public_base_url=f"http://{shown_host}:{port}")
    if demo and settings.environment is not Environment.DEVELOPMENT:
        typer.echo("--demo is refused outside FIBERASSURE_ENVIRONMENT=development", err=True)
        raise typer.Exit(2)
    migrate(settings.database_url)
    if demo:
        _in_transaction(settings, lambda session: seed_demo(session, SystemClock().now()))
        services = _in_transaction(settings, demo_service_count)
    base_url = base_url_of(settings)
    typer.echo(f"fiberassure wholesale API on {base_url}  (OpenAPI: {base_url}/docs)")
    # The URL may hold the database password; the console output often ends up in logs.
    typer.echo(f"database: {make_url(settings.database_url).render_as_string(hide_password=True)}")
    if demo:
        typer.echo(
            f"demo network: {services} services. "
            f"Credentials (OAuth2 client credentials at {base_url}/oauth/token):"
        )
        for client in DEMO_CLIENTS:
            first = f"  e.g. service {client.first_service}" if client.first_service else ""
            typer.echo(
                f"  {client.label:14} client_id={client.client_id}  "
                f"client_secret={client.client_secret}{first}"
            )
        typer.echo(
            "  sandbox lines with fixed faults for service tests: SANDBOX-A-FIBRE-CUT, "
            "SANDBOX-A-POWER-OFF, … (retail A), SANDBOX-B-… (retail B); see docs/sandbox.md"
        )
    api = create_app(settings, run_background=background)
    uvicorn.run(api, host=host, port=port, log_level="warning", access_log=False)


@app.command()
def worker() -> None:
    """Run the background loops alone (for scale-out beside API processes)."""
    settings = _settings()
    configure_logging(settings.log_format)
    migrate(settings.database_url)

    async def run() -> None:
        database = Database.from_settings(settings)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        try:
            await run_workers(database, settings, SystemClock(), base_url_of(settings), stop)
        finally:
            await database.dispose()

    typer.echo("fiberassure worker running (Ctrl-C to stop)")
    # uvloop where it is installed (not on Windows): the dispatcher's POSTs and database
    # round trips cost ~10% less CPU on it (bench/); `serve` gets it from uvicorn.
    try:
        import uvloop
    except ImportError:
        asyncio.run(run())
    else:
        uvloop.run(run())


@operator_app.command("create")
def operator_create(
    name: Annotated[str, typer.Argument(help="The retail operator's name.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Create a retail operator and its API client (scopes troubleTicket, serviceTest, hub)."""
    settings = _settings()
    credentials = _in_transaction(
        settings, lambda session: create_retail_operator(session, name, SystemClock().now())
    )
    if as_json:
        typer.echo(json.dumps(credentials.model_dump(by_alias=True, exclude={"scopes"})))
    else:
        typer.echo(
            f"operator {credentials.operator_id}\nclient_id {credentials.client_id}\n"
            f"client_secret {credentials.client_secret}  (shown once)"
        )


@ops_client_app.command("create")
def ops_client_create(
    name: Annotated[str, typer.Option(help="Who uses it, e.g. 'NOC console'.")] = "ops client",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Create an API client with scope `ops` for the wholesaler's staff or systems."""
    settings = _settings()
    credentials = _in_transaction(
        settings,
        lambda session: create_client(
            session, name=name, operator_id=None, scopes=(Scope.OPS,), now=SystemClock().now()
        ),
    )
    if as_json:
        typer.echo(
            json.dumps(credentials.model_dump(by_alias=True, exclude={"scopes", "operator_id"}))
        )
    else:
        typer.echo(
            f"client_id {credentials.client_id}\n"
            f"client_secret {credentials.client_secret}  (shown once)"
        )


@service_app.command("add")
def service_add(
    operator: Annotated[str, typer.Option(help="Operator id.")],
    service_id: Annotated[str, typer.Option(help="The line's service id.")],
    ont_serial: Annotated[str, typer.Option(help="ONT serial number, e.g. ALCLB2C3D4E5.")],
    olt: Annotated[str, typer.Option(help="OLT name.")] = "OLT-01",
    pon_port: Annotated[str, typer.Option(help="PON port, e.g. 1/1/3/7.")] = "1/1/1/1",
    ont_model: Annotated[str | None, typer.Option(help="ONT model.")] = None,
    address: Annotated[str | None, typer.Option(help="Street address.")] = None,
    city: Annotated[str | None, typer.Option(help="City.")] = None,
    postal_code: Annotated[str | None, typer.Option(help="Postal code.")] = None,
    sla_class: Annotated[SlaClass, typer.Option(help="SLA class.")] = SlaClass.STANDARD,
) -> None:
    """Add one access line to the inventory."""
    settings = _settings()
    try:
        record = ServiceRecord(
            service_id=service_id,
            operator_id=operator,
            ont_serial_number=ont_serial,
            ont_model=ont_model,
            olt_name=olt,
            pon_port=pon_port,
            address=address,
            city=city,
            postal_code=postal_code,
            sla_class=sla_class,
        )
    except ValueError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    _in_transaction(settings, lambda session: add_service(session, record, SystemClock().now()))
    typer.echo(f"service {service_id} added for operator {operator}")


@service_app.command("import")
def service_import(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="CSV with a header row.")
    ],
) -> None:
    """Import lines from CSV; columns: serviceId, operatorId, ontSerialNumber, oltName,
    ponPort, and optionally ontModel, address, city, postalCode, slaClass. All or nothing."""
    settings = _settings()
    text = file.read_text(encoding="utf-8-sig")
    added = _in_transaction(
        settings, lambda session: import_services_csv(session, text, SystemClock().now())
    )
    typer.echo(f"imported {added} services")
