"""Shared fixtures. Every test that uses `database` runs once on SQLite and once on
PostgreSQL (when reachable; under CI=true PostgreSQL is required)."""

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from fiberassure.wholesale.app import create_app
from fiberassure.wholesale.clock import SettableClock
from fiberassure.wholesale.db import Base, Database
from fiberassure.wholesale.inventory.schemas import ServiceRecord
from fiberassure.wholesale.inventory.service import add_service
from fiberassure.wholesale.logs import configure_logging
from fiberassure.wholesale.operators.schemas import RETAIL_SCOPES, Scope
from fiberassure.wholesale.operators.service import create_client, create_operator
from fiberassure.wholesale.settings import Settings
from tests.databases import database_url_for

# Plain tracebacks: the default rich ones take seconds each when a test hits an error.
configure_logging("console")

START = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
BASE_URL = "http://testserver"


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    directory: Path = tmp_path_factory.mktemp("db")
    with database_url_for(str(request.param), directory) as url:
        yield url


@pytest.fixture(scope="session")
async def database(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url, pool_size=20)
    yield database
    await database.dispose()


@pytest.fixture
async def clean_database(database: Database) -> Database:
    """The database with every table emptied (the schema stays, as migrated)."""
    tables = [table.name for table in reversed(Base.metadata.sorted_tables)]
    async with database.transaction() as session:
        if database.is_sqlite:
            for name in tables:
                await session.execute(text(f'DELETE FROM "{name}"'))
        else:
            quoted = ", ".join(f'"{name}"' for name in tables)
            await session.execute(text(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE"))
    return database


@pytest.fixture
def clock() -> SettableClock:
    return SettableClock(START)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, public_base_url=BASE_URL)


@dataclass
class Tenant:
    operator_id: str
    client_id: str
    client_secret: str
    services: list[str]


@dataclass
class World:
    """Two retail operators with three lines each, and a wholesale ops client."""

    a: Tenant
    b: Tenant
    ops_client_id: str
    ops_client_secret: str


@pytest.fixture
async def world(clean_database: Database, clock: SettableClock) -> World:
    now = clock.now()
    tenants = []
    async with clean_database.transaction() as session:
        for index, name in enumerate(("Operator A", "Operator B")):
            operator = await create_operator(session, name, now, operator_id=f"op-{'ab'[index]}")
            credentials = await create_client(
                session,
                name=f"{name} client",
                operator_id=operator.id,
                scopes=RETAIL_SCOPES,
                now=now,
            )
            services = []
            for line in range(3):
                service_id = f"SRV-{'AB'[index]}{line}"
                await add_service(
                    session,
                    ServiceRecord(
                        service_id=service_id,
                        operator_id=operator.id,
                        ont_serial_number=f"ALCL{index:04X}{line:04X}",
                        ont_model="Nokia G-010G-Q",
                        olt_name="OLT-TEST-01",
                        pon_port=f"1/1/1/{line + 1}",
                        sla_class="enhanced" if line == 2 else "standard",
                    ),
                    now,
                )
                services.append(service_id)
            tenants.append(
                Tenant(operator.id, credentials.client_id, credentials.client_secret, services)
            )
        ops = await create_client(
            session, name="NOC", operator_id=None, scopes=(Scope.OPS,), now=now
        )
    return World(tenants[0], tenants[1], ops.client_id, ops.client_secret)


@pytest.fixture
def app_settings(settings: Settings) -> Settings:
    """Override in a test module to change settings for the app under test."""
    return settings


@pytest.fixture
async def http(
    world: World, clean_database: Database, app_settings: Settings, clock: SettableClock
) -> AsyncIterator[httpx.AsyncClient]:
    """An unauthenticated client of the app (in-process ASGI)."""
    app = create_app(app_settings, database=clean_database, clock=clock)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        yield client


async def bearer(http: httpx.AsyncClient, client_id: str, client_secret: str) -> dict[str, str]:
    response = await http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(client_id, client_secret),
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture
async def retail_a(http: httpx.AsyncClient, world: World) -> dict[str, str]:
    """Authorization header for operator A."""
    return await bearer(http, world.a.client_id, world.a.client_secret)


@pytest.fixture
async def retail_b(http: httpx.AsyncClient, world: World) -> dict[str, str]:
    return await bearer(http, world.b.client_id, world.b.client_secret)


@pytest.fixture
async def ops(http: httpx.AsyncClient, world: World) -> dict[str, str]:
    return await bearer(http, world.ops_client_id, world.ops_client_secret)
