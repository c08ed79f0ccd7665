"""Listener fixtures: its store runs on SQLite and on PostgreSQL (following the wholesale
`database_url` parameter), events are signed like the dispatcher signs them."""

import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import delete
from sqlalchemy.engine import make_url

from fiberassure.retail.client import AsyncRetailClient
from fiberassure.retail.listener.app import Listener, create_app
from fiberassure.retail.listener.forward import Forwarder
from fiberassure.retail.listener.models import ListenerBase
from fiberassure.retail.listener.reconcile import WholesaleReader
from fiberassure.retail.listener.settings import ListenerSettings
from fiberassure.retail.listener.store import create_schema, open_store
from fiberassure.tmf.service_test import ServiceTest
from fiberassure.tmf.trouble_ticket import TroubleTicket
from fiberassure.wholesale.app import create_app as create_wholesale_app
from fiberassure.wholesale.clock import SettableClock
from fiberassure.wholesale.db import Database
from fiberassure.wholesale.events.dispatcher import Dispatcher
from fiberassure.wholesale.events.signing import new_secret, sign
from fiberassure.wholesale.settings import Settings
from tests.conftest import BASE_URL, World

SECRET = new_secret()
LISTENER_URL = "http://listener.test"


@pytest.fixture
def listener_url(database_url: str, tmp_path: Path) -> str:
    """SQLite: a file of its own. PostgreSQL: the test database (listener_* tables)."""
    if make_url(database_url).get_backend_name() == "sqlite":
        return f"sqlite:///{tmp_path / 'listener.db'}"
    return database_url


@pytest.fixture
async def listener_store(listener_url: str) -> AsyncIterator[Database]:
    database = open_store(listener_url)
    await create_schema(database)
    async with database.transaction() as session:
        for table in reversed(ListenerBase.metadata.sorted_tables):
            await session.execute(delete(table))
    yield database
    await database.dispose()


@pytest.fixture
def listener_settings(listener_url: str) -> ListenerSettings:
    return ListenerSettings(database_url=listener_url, hub_secrets=[SECRET], reconcile_interval=0)


def ticket_state(ticket_id: str, sequence: int, status: str = "inProgress") -> dict[str, Any]:
    """A ticket as an event carries it, its lastUpdate moving with its revision."""
    changed = datetime(2026, 11, 28, 9, sequence, tzinfo=UTC).isoformat().replace("+00:00", "Z")
    return {
        "id": ticket_id,
        "href": f"http://wholesale.test/tmf-api/troubleTicket/v4/troubleTicket/{ticket_id}",
        "description": f"revision {sequence}",
        "severity": "critical",
        "ticketType": "noService",
        "status": status,
        "statusChangeDate": changed,
        "creationDate": "2026-11-28T09:00:00Z",
        "lastUpdate": changed,
        "slaClass": "standard",
        "@type": "ConsumerTroubleTicket",
    }


def envelope(
    state: dict[str, Any],
    sequence: int,
    event_type: str = "TroubleTicketStatusChangeEvent",
    resource: str = "troubleTicket",
    event_id: str | None = None,
) -> bytes:
    return json.dumps(
        {
            "eventId": event_id or str(uuid.uuid4()),
            "eventTime": "2026-11-28T09:00:00Z",
            "eventType": event_type,
            "event": {resource: state},
            "sequenceNumber": sequence,
        }
    ).encode()


def signed(
    body: bytes, secret: str = SECRET, *, at: float | None = None, message_id: str | None = None
) -> dict[str, str]:
    """The headers the dispatcher sends with `body`."""
    message_id = message_id or json.loads(body)["eventId"]
    timestamp = int(time.time() if at is None else at)
    return {
        "Content-Type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, message_id, timestamp, body),
    }


class FakeWholesale:
    """What the wholesaler's API would answer now (tickets and tests by id)."""

    def __init__(self) -> None:
        self.tickets: dict[str, dict[str, Any]] = {}
        self.tests: dict[str, dict[str, Any]] = {}
        self.fetched: list[str] = []

    async def get_ticket(self, ticket_id: str) -> TroubleTicket:
        self.fetched.append(ticket_id)
        return TroubleTicket.model_validate(self.tickets[ticket_id])

    async def get_test(self, test_id: str) -> ServiceTest:
        self.fetched.append(test_id)
        return ServiceTest.model_validate(self.tests[test_id])

    async def iter_tickets(self, **filters: Any) -> AsyncIterator[TroubleTicket]:
        for state in self.tickets.values():
            yield TroubleTicket.model_validate(state)

    async def iter_tests(self, **filters: Any) -> AsyncIterator[ServiceTest]:
        for state in self.tests.values():
            yield ServiceTest.model_validate(state)


@pytest.fixture
def fake_wholesale() -> FakeWholesale:
    return FakeWholesale()


class ListenerUnderTest:
    def __init__(self, http: httpx.AsyncClient, listener: Listener) -> None:
        self.http = http
        self.listener = listener

    async def post(
        self, body: bytes, headers: dict[str, str], path: str = "/listener"
    ) -> httpx.Response:
        return await self.http.post(path, content=body, headers=headers)

    async def deliver(self, body: bytes, path: str = "/listener") -> httpx.Response:
        response = await self.post(body, signed(body), path)
        assert response.status_code == 200, response.text
        return response

    async def mirror(self, resource_id: str, resource: str = "troubleTicket") -> dict[str, Any]:
        response = await self.http.get(f"/mirror/{resource}/{resource_id}")
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()
        return found

    async def events(self) -> list[dict[str, Any]]:
        response = await self.http.get("/events", params={"limit": 1000})
        assert response.status_code == 200, response.text
        found: list[dict[str, Any]] = response.json()
        return found


async def start_listener(
    settings: ListenerSettings,
    store: Database,
    client: WholesaleReader | None,
    forwarder: Forwarder | None = None,
) -> AsyncIterator[ListenerUnderTest]:
    app = create_app(
        settings,
        database=store,
        client=client,
        clock=SettableClock(datetime(2026, 11, 28, 9, 0, tzinfo=UTC)),
        forwarder=forwarder,
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url=LISTENER_URL) as http:
            yield ListenerUnderTest(http, app.state.listener)


@pytest.fixture
async def receiver(
    listener_settings: ListenerSettings, listener_store: Database, fake_wholesale: FakeWholesale
) -> AsyncIterator[ListenerUnderTest]:
    """The listener app in-process, reading from the fake wholesaler after a gap."""
    async for running in start_listener(listener_settings, listener_store, fake_wholesale):
        yield running


# -- the real wholesale side, in-process -------------------------------------------------------


@pytest.fixture
def app_settings(settings: Settings) -> Settings:
    # Loopback callbacks, quick retries, tests run by the runner without simulated latency.
    return settings.with_overrides(
        token_ttl="P30D",
        callback_allow_private=True,
        retry_schedule="1,2,3",
        retry_jitter=0,
        delivery_timeout=0.5,
        simulator_latency_min=0,
        simulator_latency_max=0,
        adapter_timeout=0.5,
        test_lease=5,
    )


@pytest.fixture
async def wholesale_sdk(
    world: World, clean_database: Database, app_settings: Settings, clock: SettableClock
) -> AsyncIterator[AsyncRetailClient]:
    """The retail SDK of operator A, talking to the wholesale app in-process."""
    app = create_wholesale_app(app_settings, database=clean_database, clock=clock)
    async with AsyncRetailClient(
        BASE_URL,
        world.a.client_id,
        world.a.client_secret,
        transport=httpx.ASGITransport(app=app),
    ) as client:
        yield client


@pytest.fixture
async def dispatcher(
    clean_database: Database, app_settings: Settings, clock: SettableClock
) -> AsyncIterator[Dispatcher]:
    dispatcher = Dispatcher(clean_database, app_settings, clock)
    yield dispatcher
    await dispatcher.close()


def same_ticket(mirrored: dict[str, Any], fetched: TroubleTicket) -> bool:
    return TroubleTicket.model_validate(mirrored).to_wire() == fetched.to_wire()


def same_test(mirrored: dict[str, Any], fetched: ServiceTest) -> bool:
    return ServiceTest.model_validate(mirrored).to_wire() == fetched.to_wire()
