"""The deadline scheduler: auto-close after resolution, pending timeout, idempotency expiry,
safe side by side with another worker, and a loop that stops when told."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from fiberassure.wholesale import worker
from fiberassure.wholesale.app import create_app
from fiberassure.wholesale.clock import Clock, SettableClock
from fiberassure.wholesale.db import Database
from fiberassure.wholesale.events.models import OutboxEvent
from fiberassure.wholesale.events.repository import OutboxRepository
from fiberassure.wholesale.idempotency.models import IdempotencyRecord
from fiberassure.wholesale.settings import Settings
from fiberassure.wholesale.tickets.models import TroubleTicket
from fiberassure.wholesale.tickets.repository import TicketRepository
from fiberassure.wholesale.tickets.schemas import to_tmf
from fiberassure.wholesale.worker import run_deadlines_once, scheduler_loop
from tests.conftest import BASE_URL, World, bearer
from tests.tickets import TICKETS, create_ticket, ops_action, patch_ticket, ticket_body

SECOND = timedelta(seconds=1)


async def run_pass(database: Database, settings: Settings, clock: Clock) -> dict[str, int]:
    return await run_deadlines_once(database, settings, clock, BASE_URL)


async def events_of(database: Database, ticket_id: str) -> list[OutboxEvent]:
    async with database.transaction() as session:
        return await OutboxRepository(session).for_resource("troubleTicket", ticket_id)


async def read(database: Database, ticket_id: str) -> dict[str, Any]:
    """The ticket as the API renders it, read straight from the database (access tokens
    expire when the clock moves on by a day)."""
    async with database.transaction() as session:
        ticket = await TicketRepository(session).get(ticket_id)
        assert ticket is not None
        return to_tmf(ticket, BASE_URL).to_wire()


async def resolved_ticket(
    http: httpx.AsyncClient, retail: dict[str, str], ops: dict[str, str], service_id: str
) -> str:
    ticket = await create_ticket(http, retail, service_id)
    for action in ("start", "resolve"):
        response = await ops_action(http, ops, ticket["id"], action)
        assert response.status_code == 200, response.text
    return str(ticket["id"])


async def pending_ticket(
    http: httpx.AsyncClient, retail: dict[str, str], ops: dict[str, str], service_id: str
) -> str:
    ticket = await create_ticket(http, retail, service_id)
    response = await ops_action(
        http,
        ops,
        ticket["id"],
        "requestInformation",
        {"reason": "customerUnreachable", "fieldPath": "visitWindow"},
    )
    assert response.status_code == 200, response.text
    return str(ticket["id"])


@asynccontextmanager
async def client_with(
    settings: Settings, database: Database, clock: SettableClock
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app running with `settings` (tokens from the `http` app stay valid)."""
    app = create_app(settings, database=database, clock=clock)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=BASE_URL
    ) as client:
        yield client


# -- auto-close ------------------------------------------------------------------------------


async def test_resolved_ticket_closes_24_hours_after_resolution_and_not_a_second_before(
    http: httpx.AsyncClient,
    retail_a: dict[str, str],
    ops: dict[str, str],
    world: World,
    clean_database: Database,
    settings: Settings,
    clock: SettableClock,
) -> None:
    ticket_id = await resolved_ticket(http, retail_a, ops, world.a.services[0])
    resolved_at = clock.now()

    clock.advance(timedelta(hours=24) - SECOND)
    early = await run_pass(clean_database, settings, clock)
    assert early["autoClosed"] == 0
    assert (await read(clean_database, ticket_id))["status"] == "resolved"
    assert len(await events_of(clean_database, ticket_id)) == 3

    clock.advance(SECOND)
    done = await run_pass(clean_database, settings, clock)

    assert done["autoClosed"] == 1
    ticket = await read(clean_database, ticket_id)
    assert ticket["status"] == "closed"
    assert ticket["statusChangeReason"] == "autoClosed"
    assert ticket["statusChange"][-1]["status"] == "closed"
    assert datetime.fromisoformat(ticket["statusChangeDate"]) == resolved_at + timedelta(hours=24)
    events = await events_of(clean_database, ticket_id)
    assert [e.sequence_number for e in events] == [1, 2, 3, 4]
    closing = events[-1]
    assert closing.event_type == "TroubleTicketResolvedEvent"
    assert closing.payload["event"]["troubleTicket"]["status"] == "closed"


async def test_a_second_pass_after_auto_close_changes_nothing(
    http: httpx.AsyncClient,
    retail_a: dict[str, str],
    ops: dict[str, str],
    world: World,
    clean_database: Database,
    settings: Settings,
    clock: SettableClock,
) -> None:
    ticket_id = await resolved_ticket(http, retail_a, ops, world.a.services[0])
    clock.advance(timedelta(hours=25))
    assert (await run_pass(clean_database, settings, clock))["autoClosed"] == 1

    clock.advance(timedelta(days=30))
    again = await run_pass(clean_database, settings, clock)

    assert again == {
        "autoClosed": 0,
        "pendingExpired": 0,
        "idempotencyForgotten": 0,
        "quotaWindowsForgotten": 0,
    }
    assert len(await events_of(clean_database, ticket_id)) == 4


async def test_auto_close_follows_a_shortened_setting(
    http: httpx.AsyncClient,
    retail_a: dict[str, str],
    ops: dict[str, str],
    world: World,
    clean_database: Database,
    settings: Settings,
    clock: SettableClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FIBERASSURE_AUTO_CLOSE_AFTER", "PT2H")
    short = Settings(database_url=settings.database_url, public_base_url=BASE_URL)
    assert short.auto_close_after == timedelta(hours=2)
    async with client_with(short, clean_database, clock) as client:
        ticket_id = await resolved_ticket(client, retail_a, ops, world.a.services[0])

        clock.advance(timedelta(hours=2) - SECOND)
        assert (await run_pass(clean_database, short, clock))["autoClosed"] == 0
        assert (await read(clean_database, ticket_id))["status"] == "resolved"

        clock.advance(SECOND)
        assert (await run_pass(clean_database, short, clock))["autoClosed"] == 1
        assert (await read(clean_database, ticket_id))["status"] == "closed"


async def test_auto_close_deadline_is_fixed_when_the_ticket_is_resolved(
    http: httpx.AsyncClient,
    retail_a: dict[str, str],
    ops: dict[str, str],
    world: World,
    clean_database: Database,
    settings: Settings,
    clock: SettableClock,
) -> None:
    # Resolved under a 30-minute setting: a worker with the default 24 h still closes it on
    # time, because the deadline is a column written at resolution.
    short = settings.with_overrides(auto_close_after=timedelta(minutes=30))
    async with client_with(short, clean_database, clock) as client:
        ticket_id = await resolved_ticket(client, retail_a, ops, world.a.services[0])

    clock.advance(timedelta(minutes=30) - SECOND)
    assert (await run_pass(clean_database, settings, clock))["autoClosed"] == 0
    clock.advance(SECOND)
    assert (await run_pass(clean_database, settings, clock))["autoClosed"] == 1
    assert (await read(clean_database, ticket_id))["status"] == "closed"


async def test_reopening_before_the_deadline_cancels_the_auto_close(
    http: httpx.AsyncClient,
    retail_a: dict[str, str],
    ops: dict[str, str],
    world: World,
    clean_database: Database,
    settings: Settings,
    clock: SettableClock,
) -> None:
    ticket_id = await resolved_ticket(http, retail_a, ops, world.a.services[0])
    clock.advance(timedelta(hours=23))
    retail_a = await bearer(http, world.a.client_id, world.a.client_secret)
    reopened = await patch_ticket(http, retail_a, ticket_id, {"status": "inProgress"})
    assert reopened.status_code == 200, reopened.text

    clock.advance(timedelta(hours=2))  # past the first resolution's deadline
    assert (await run_pass(clean_database, settings, clock))["autoClosed"] == 0
    assert (await read(clean_database, ticket_id))["status"] == "inProgress"
    assert len(await events_of(clean_database, ticket_id)) == 4

    # Resolved again: a fresh 24 hours from the second resolution.
    ops = await bearer(http, world.ops_client_id, world.ops_client_secret)
    assert (await ops_action(http, ops, ticket_id, "resolve")).status_code == 200
    clock.advance(timedelta(hours=24) - SECOND)
    assert (await run_pass(clean_database, settings, clock))["autoClosed"] == 0
    assert (await read(clean_database, ticket_id))["status"] == "resolved"
    clock.advance(SECOND)
    assert (await run_pass(clean_database, settings, clock))["autoClosed"] == 1
    assert (await read(clean_database, ticket_id))["status"] == "closed"


async def test_accepted_ticket_is_not_closed_again_by_the_scheduler(
    http: httpx.AsyncClient,
    retail_a: dict[str, str],
    ops: dict[str, str],
    world: World,
    clean_database: Database,
    settings: Settings,
    clock: SettableClock,
) -> None:
    ticket_id = await resolved_ticket(http, retail_a, ops, world.a.services[0])
    accepted = await patch_ticket(http, retail_a, ticket_id, {"status": "closed"})
    assert accepted.status_code == 200, accepted.text

    clock.advance(timedelta(days=2))
    assert (await run_pass(clean_database, settings, clock))["autoClosed"] == 0
    ticket = await read(clean_database, ticket_id)
    assert ticket["statusChangeReason"] == "resolutionAccepted"
    assert len(await events_of(clean_database, ticket_id)) == 4


# -- pending timeout -------------------------------------------------------------------------


async def test_pending_ticket_is_cancelled_after_five_days_without_an_answer(
    http: httpx.AsyncClient,
    retail_a: dict[str, str],
    ops: dict[str, str],
    world: World,
    clean_database: Database,
    settings: Settings,
    clock: SettableClock,
) -> None:
    ticket_id = await pending_ticket(http, retail_a, ops, world.a.services[0])

    clock.advance(timedelta(days=5) - SECOND)
    assert (await run_pass(clean_database, settings, clock))["pendingExpired"] == 0
    assert (await read(clean_database, ticket_id))["status"] == "pending"

    clock.advance(SECOND)
    done = await run_pass(clean_database, settings, clock)

    assert done["pendingExpired"] == 1
    ticket = await read(clean_database, ticket_id)
    assert ticket["status"] == "cancelled"
    assert ticket["statusChangeReason"] == "informationNotProvided"
    assert ticket["statusChange"][-1] == {
        "status": "cancelled",
        "changeDate": ticket["statusChangeDate"],
        "changeReason": "informationNotProvided",
    }
    events = await events_of(clean_database, ticket_id)
    assert [e.sequence_number for e in events] == [1, 2, 3]
    assert events[-1].event_type == "TroubleTicketStatusChangeEvent"
    assert events[-1].payload["event"]["troubleTicket"]["status"] == "cancelled"


async def test_answering_an_information_request_stops_the_pending_timeout(
    http: httpx.AsyncClient,
    retail_a: dict[str, str],
    ops: dict[str, str],
    world: World,
    clean_database: Database,
    settings: Settings,
    clock: SettableClock,
) -> None:
    ticket_id = await pending_ticket(http, retail_a, ops, world.a.services[0])
    clock.advance(timedelta(days=4))
    retail_a = await bearer(http, world.a.client_id, world.a.client_secret)
    answer = {
        "visitWindow": {
            "startDateTime": "2026-12-03T08:00:00Z",
            "endDateTime": "2026-12-03T12:00:00Z",
        }
    }
    answered = await patch_ticket(http, retail_a, ticket_id, answer)
    assert answered.status_code == 200, answered.text
    assert answered.json()["status"] == "inProgress"

    clock.advance(timedelta(days=2))
    assert (await run_pass(clean_database, settings, clock))["pendingExpired"] == 0
    assert (await read(clean_database, ticket_id))["status"] == "inProgress"


async def test_pending_timeout_follows_its_setting(
    http: httpx.AsyncClient,
    retail_a: dict[str, str],
    ops: dict[str, str],
    world: World,
    clean_database: Database,
    settings: Settings,
    clock: SettableClock,
) -> None:
    short = settings.with_overrides(pending_timeout="PT6H")
    async with client_with(short, clean_database, clock) as client:
        ticket_id = await pending_ticket(client, retail_a, ops, world.a.services[0])
        clock.advance(timedelta(hours=6) - SECOND)
        assert (await run_pass(clean_database, short, clock))["pendingExpired"] == 0
        clock.advance(SECOND)
        assert (await run_pass(clean_database, short, clock))["pendingExpired"] == 1
        assert (await read(clean_database, ticket_id))["status"] == "cancelled"


# -- two workers -----------------------------------------------------------------------------


async def test_two_workers_passing_at_once_close_each_ticket_exactly_once(
    http: httpx.AsyncClient,
    retail_a: dict[str, str],
    retail_b: dict[str, str],
    ops: dict[str, str],
    world: World,
    clean_database: Database,
    settings: Settings,
    clock: SettableClock,
) -> None:
    resolved = [
        await resolved_ticket(http, auth, ops, service)
        for auth, services in ((retail_a, world.a.services), (retail_b, world.b.services))
        for service in services[:2]
    ]
    pending = [
        await pending_ticket(http, auth, ops, services[2])
        for auth, services in ((retail_a, world.a.services), (retail_b, world.b.services))
    ]
    clock.advance(timedelta(days=6))
    # A second worker process: its own engine and connection pool on the same database.
    other = Database(settings.database_url)
    try:
        first, second = await asyncio.gather(
            run_pass(clean_database, settings, clock), run_pass(other, settings, clock)
        )
    finally:
        await other.dispose()

    assert first["autoClosed"] + second["autoClosed"] == len(resolved)
    assert first["pendingExpired"] + second["pendingExpired"] == len(pending)
    for ticket_id, final in [(t, "closed") for t in resolved] + [(t, "cancelled") for t in pending]:
        events = await events_of(clean_database, ticket_id)
        statuses = [e.payload["event"]["troubleTicket"]["status"] for e in events]
        assert statuses.count(final) == 1, (ticket_id, statuses)
        assert [e.sequence_number for e in events] == list(range(1, len(events) + 1))
        assert statuses[-1] == final


# -- idempotency records ---------------------------------------------------------------------


async def idempotency_keys(database: Database) -> set[str]:
    async with database.transaction() as session:
        return set((await session.execute(select(IdempotencyRecord.key))).scalars())


async def test_idempotency_records_are_forgotten_once_the_retention_has_passed(
    http: httpx.AsyncClient,
    world: World,
    clean_database: Database,
    settings: Settings,
    clock: SettableClock,
) -> None:
    async def create_with_key(key: str, service_id: str) -> None:
        auth = await bearer(http, world.a.client_id, world.a.client_secret)
        response = await http.post(
            TICKETS, json=ticket_body(service_id), headers={**auth, "Idempotency-Key": key}
        )
        assert response.status_code == 201, response.text

    await create_with_key("old-key", world.a.services[0])
    clock.advance(timedelta(hours=12))
    await create_with_key("newer-key", world.a.services[1])

    clock.advance(timedelta(hours=12))  # the old record is exactly 24 h old: still kept
    assert (await run_pass(clean_database, settings, clock))["idempotencyForgotten"] == 0
    assert await idempotency_keys(clean_database) == {"old-key", "newer-key"}

    clock.advance(SECOND)
    done = await run_pass(clean_database, settings, clock)

    assert done["idempotencyForgotten"] == 1
    assert await idempotency_keys(clean_database) == {"newer-key"}
    # The ticket the forgotten record pointed to is, of course, still there.
    async with clean_database.transaction() as session:
        tickets = await session.execute(select(func.count()).select_from(TroubleTicket))
        assert tickets.scalar_one() == 2


async def test_idempotency_retention_follows_its_setting(
    http: httpx.AsyncClient,
    retail_a: dict[str, str],
    world: World,
    clean_database: Database,
    settings: Settings,
    clock: SettableClock,
) -> None:
    response = await http.post(
        TICKETS,
        json=ticket_body(world.a.services[0]),
        headers={**retail_a, "Idempotency-Key": "short-lived"},
    )
    assert response.status_code == 201, response.text
    short = settings.with_overrides(idempotency_retention="PT1H")

    clock.advance(timedelta(hours=1) + SECOND)

    assert (await run_pass(clean_database, short, clock))["idempotencyForgotten"] == 1
    assert await idempotency_keys(clean_database) == set()


# -- the loop --------------------------------------------------------------------------------


async def wait_for_status(database: Database, ticket_id: str, status: str) -> None:
    async def poll() -> None:
        while (await read(database, ticket_id))["status"] != status:
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), timeout=10)


async def test_scheduler_loop_runs_a_pass_and_stops_promptly_when_told(
    http: httpx.AsyncClient,
    retail_a: dict[str, str],
    ops: dict[str, str],
    world: World,
    clean_database: Database,
    settings: Settings,
    clock: SettableClock,
) -> None:
    ticket_id = await resolved_ticket(http, retail_a, ops, world.a.services[0])
    clock.advance(timedelta(hours=24))
    # An hour between passes: the loop must not sit out the interval once stopped.
    hourly = settings.with_overrides(scheduler_interval="PT1H")
    stop = asyncio.Event()
    loop = asyncio.create_task(scheduler_loop(clean_database, hourly, clock, BASE_URL, stop))
    try:
        await wait_for_status(clean_database, ticket_id, "closed")
        stop.set()
        await asyncio.wait_for(loop, timeout=5)
    finally:
        if not loop.done():
            loop.cancel()
    assert loop.done()
    assert loop.exception() is None


async def test_scheduler_loop_does_not_start_a_pass_once_stopped(
    clean_database: Database, settings: Settings, clock: SettableClock
) -> None:
    stop = asyncio.Event()
    stop.set()
    await asyncio.wait_for(scheduler_loop(clean_database, settings, clock, BASE_URL, stop), 5)


async def test_scheduler_loop_survives_a_failed_pass(
    http: httpx.AsyncClient,
    retail_a: dict[str, str],
    ops: dict[str, str],
    world: World,
    clean_database: Database,
    settings: Settings,
    clock: SettableClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ticket_id = await resolved_ticket(http, retail_a, ops, world.a.services[0])
    clock.advance(timedelta(hours=24))
    real_pass = worker.run_deadlines_once
    failures = 0

    async def flaky_pass(*args: Any) -> dict[str, int]:
        nonlocal failures
        if failures == 0:
            failures += 1
            raise ConnectionError("database went away")
        return await real_pass(*args)

    monkeypatch.setattr(worker, "run_deadlines_once", flaky_pass)
    quick = settings.with_overrides(scheduler_interval="0.01")
    stop = asyncio.Event()
    loop = asyncio.create_task(scheduler_loop(clean_database, quick, clock, BASE_URL, stop))
    try:
        await wait_for_status(clean_database, ticket_id, "closed")
    finally:
        stop.set()
        await asyncio.wait_for(loop, timeout=5)
    assert failures == 1
