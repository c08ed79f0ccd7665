"""Delivery to a real listener on 127.0.0.1: content, signatures, order, retries, failure."""

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook

from fiberassure.wholesale.clock import SettableClock
from fiberassure.wholesale.db import Database
from fiberassure.wholesale.events import service as events_service
from fiberassure.wholesale.events.dispatcher import Dispatcher
from fiberassure.wholesale.events.models import Delivery
from fiberassure.wholesale.events.signing import sign
from fiberassure.wholesale.settings import Settings
from fiberassure.wholesale.worker import run_deadlines_once
from tests.conftest import BASE_URL, World
from tests.listener import Answer, RecordingListener, free_port
from tests.tickets import create_ticket, ops_action, patch_ticket
from tests.wholesale.events.conftest import HUBS, drain, subscribe


def arrivals(listener: RecordingListener, path: str, ticket_id: str) -> list[tuple[str, str]]:
    """(eventType, ticket status) of each distinct event about a ticket, in arrival order."""
    seen: dict[str, tuple[str, str]] = {}
    for received in listener.on(path):
        event = received.event
        ticket = event["event"]["troubleTicket"]
        if ticket["id"] == ticket_id:
            seen.setdefault(event["eventId"], (event["eventType"], ticket["status"]))
    return list(seen.values())


async def test_every_notification_of_the_seed_arrives_with_its_type_and_status(
    http: httpx.AsyncClient,
    retail_a: dict[str, str],
    ops: dict[str, str],
    world: World,
    listener: RecordingListener,
    dispatcher: Dispatcher,
    clock: SettableClock,
    clean_database: Database,
    app_settings: Settings,
) -> None:
    await subscribe(http, retail_a, listener.url("ctt"))
    repaired = await create_ticket(http, retail_a, world.a.services[0])
    ticket_id = repaired["id"]
    await ops_action(http, ops, ticket_id, "start")
    await ops_action(
        http,
        ops,
        ticket_id,
        "requestInformation",
        {"reason": "customerUnreachable", "fieldPath": "visitWindow"},
    )
    window = {"startDateTime": "2026-11-29T08:00:00Z", "endDateTime": "2026-11-29T12:00:00Z"}
    await patch_ticket(http, retail_a, ticket_id, {"visitWindow": window})
    await ops_action(http, ops, ticket_id, "replaceOnt", {"newSerialNumber": "ALCLFACE0001"})
    await ops_action(http, ops, ticket_id, "resolve")
    await patch_ticket(http, retail_a, ticket_id, {"status": "inProgress"})
    await ops_action(http, ops, ticket_id, "resolve")
    clock.advance(timedelta(hours=24, seconds=1))
    await run_deadlines_once(clean_database, app_settings, clock, BASE_URL)
    rejected = await create_ticket(http, retail_a, world.a.services[1])
    await ops_action(http, ops, rejected["id"], "rejectNoFault")
    cancelled = await create_ticket(http, retail_a, world.a.services[2])
    await patch_ticket(http, retail_a, cancelled["id"], {"status": "cancelled"})

    await drain(dispatcher, clock)

    assert arrivals(listener, "ctt", ticket_id) == [
        ("TroubleTicketCreateEvent", "acknowledged"),
        ("TroubleTicketStatusChangeEvent", "inProgress"),
        ("TroubleTicketInformationRequiredEvent", "pending"),
        ("TroubleTicketStatusChangeEvent", "inProgress"),
        ("TroubleTicketAttributeValueChangeEvent", "inProgress"),
        ("TroubleTicketResolvedEvent", "resolved"),
        ("TroubleTicketStatusChangeEvent", "inProgress"),
        ("TroubleTicketResolvedEvent", "resolved"),
        ("TroubleTicketResolvedEvent", "closed"),
    ]
    assert arrivals(listener, "ctt", rejected["id"])[-1] == (
        "TroubleTicketStatusChangeEvent",
        "cancelled",
    )
    assert arrivals(listener, "ctt", cancelled["id"])[-1] == (
        "TroubleTicketStatusChangeEvent",
        "cancelled",
    )
    ont_change = next(
        r.event
        for r in listener.on("ctt")
        if r.event["eventType"] == "TroubleTicketAttributeValueChangeEvent"
    )
    assert ont_change["fieldPath"] == "relatedEntity.ont"
    ont = next(
        e for e in ont_change["event"]["troubleTicket"]["relatedEntity"] if e["role"] == "ont"
    )
    assert ont["id"] == "ALCLFACE0001"


async def test_signatures_verify_with_the_standard_webhooks_library(
    http: httpx.AsyncClient,
    retail_a: dict[str, str],
    world: World,
    listener: RecordingListener,
    dispatcher: Dispatcher,
    clock: SettableClock,
) -> None:
    hub = await subscribe(http, retail_a, listener.url("signed"))
    ticket = await create_ticket(http, retail_a, world.a.services[0])

    await drain(dispatcher, clock)

    [received] = listener.on("signed")
    verified = Webhook(hub["secret"]).verify(received.body, received.headers)
    assert verified["event"]["troubleTicket"]["id"] == ticket["id"]
    assert received.headers["webhook-id"] == verified["eventId"]
    assert received.headers["content-type"] == "application/json"


def test_signature_matches_the_published_known_answer_vector() -> None:
    # The Standard Webhooks reference vector (also in the svix libraries' test suites).
    signature = sign(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1614265330,
        b'{"test": 2432232314}',
    )
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


async def test_another_operators_events_never_reach_a_hub(
    http: httpx.AsyncClient,
    retail_a: dict[str, str],
    retail_b: dict[str, str],
    world: World,
    listener: RecordingListener,
    dispatcher: Dispatcher,
    clock: SettableClock,
) -> None:
    await subscribe(http, retail_b, listener.url("b"))
    await create_ticket(http, retail_a, world.a.services[0])
    mine = await create_ticket(http, retail_b, world.b.services[0])

    await drain(dispatcher, clock)

    tickets = {r.event["event"]["troubleTicket"]["id"] for r in listener.on("b")}
    assert tickets == {mine["id"]}


async def test_query_selects_event_types_and_attributes(
    http: httpx.AsyncClient,
    retail_a: dict[str, str],
    ops: dict[str, str],
    world: World,
    listener: RecordingListener,
    dispatcher: Dispatcher,
    clock: SettableClock,
) -> None:
    await subscribe(
        http, retail_a, listener.url("resolved"), "eventType=TroubleTicketResolvedEvent"
    )
    await subscribe(http, retail_a, listener.url("pending"), "event.troubleTicket.status=pending")
    ticket = await create_ticket(http, retail_a, world.a.services[0])
    await ops_action(http, ops, ticket["id"], "start")
    await ops_action(
        http, ops, ticket["id"], "requestInformation", {"reason": "x", "fieldPath": "note"}
    )
    await patch_ticket(http, retail_a, ticket["id"], {"note": [{"text": "call after 17:00"}]})
    await ops_action(http, ops, ticket["id"], "resolve")

    await drain(dispatcher, clock)

    assert [r.event["eventType"] for r in listener.on("resolved")] == ["TroubleTicketResolvedEvent"]
    assert [r.event["eventType"] for r in listener.on("pending")] == [
        "TroubleTicketInformationRequiredEvent"
    ]


async def deliveries(database: Database) -> list[Delivery]:
    async with database.transaction() as session:
        return list((await session.execute(select(Delivery).order_by(Delivery.id))).scalars())


async def test_retries_after_errors_and_timeouts_stop_at_the_first_success(
    http: httpx.AsyncClient,
    retail_a: dict[str, str],
    world: World,
    listener: RecordingListener,
    dispatcher: Dispatcher,
    clock: SettableClock,
    clean_database: Database,
) -> None:
    hub = await subscribe(http, retail_a, listener.url("flaky"))
    listener.answer("flaky", Answer(500), Answer(status=200, delay=1.5), Answer(502))
    await create_ticket(http, retail_a, world.a.services[0])

    await drain(dispatcher, clock)

    assert len(listener.on("flaky")) == 4
    [delivery] = await deliveries(clean_database)
    assert delivery.status == "delivered"
    assert delivery.attempts == 4
    log = await http.get(f"{HUBS}/{hub['id']}/delivery/{delivery.id}", headers=retail_a)
    attempts = log.json()["attempt"]
    assert [a.get("statusCode") for a in attempts] == [500, None, 502, 200]
    assert attempts[1]["error"] == "timeout"
    assert len({r.headers["webhook-id"] for r in listener.on("flaky")}) == 1


async def test_connection_refused_is_retried_until_the_listener_is_back(
    http: httpx.AsyncClient,
    retail_a: dict[str, str],
    world: World,
    dispatcher: Dispatcher,
    clock: SettableClock,
    clean_database: Database,
) -> None:
    port = free_port()
    await subscribe(http, retail_a, f"http://127.0.0.1:{port}/late")
    await create_ticket(http, retail_a, world.a.services[0])

    assert await dispatcher.run_once() == 1
    [delivery] = await deliveries(clean_database)
    assert delivery.status == "pending"
    assert delivery.last_error is not None
    assert "Connect" in delivery.last_error

    listener = RecordingListener(port=port).start()
    try:
        await drain(dispatcher, clock)
    finally:
        listener.stop()
    [delivery] = await deliveries(clean_database)
    assert delivery.status == "delivered"
    assert delivery.attempts == 2
    assert len(listener.on("late")) == 1


async def test_exhausted_retries_fail_and_can_be_redelivered(
    http: httpx.AsyncClient,
    retail_a: dict[str, str],
    world: World,
    listener: RecordingListener,
    dispatcher: Dispatcher,
    clock: SettableClock,
    clean_database: Database,
) -> None:
    hub = await subscribe(http, retail_a, listener.url("down"))
    listener.answer("down", *[Answer(500)] * 4)
    ticket = await create_ticket(http, retail_a, world.a.services[0])
    await drain(dispatcher, clock)

    failed = await http.get(f"{HUBS}/{hub['id']}/delivery?status=failed", headers=retail_a)
    assert failed.headers["X-Total-Count"] == "1"
    [record] = failed.json()
    assert record["attempts"] == 4  # the first try and three retries
    assert record["lastStatusCode"] == 500
    # After a failure the line moves on: the ticket's next event is delivered.
    await patch_ticket(http, retail_a, ticket["id"], {"note": [{"text": "still down"}]})
    await drain(dispatcher, clock)
    assert listener.on("down")[-1].event["sequenceNumber"] == 2

    again = await http.post(
        f"{HUBS}/{hub['id']}/delivery/{record['id']}/redeliver", headers=retail_a
    )
    assert again.status_code == 200, again.text
    assert again.json()["status"] == "pending"
    await drain(dispatcher, clock)

    log = await http.get(f"{HUBS}/{hub['id']}/delivery?status=failed", headers=retail_a)
    assert log.headers["X-Total-Count"] == "0"
    assert listener.on("down")[-1].headers["webhook-id"] == record["eventId"]
    refused = await http.post(
        f"{HUBS}/{hub['id']}/delivery/{record['id']}/redeliver", headers=retail_a
    )
    assert refused.status_code == 409


async def test_redeliver_a_time_range_sends_those_events_again(
    http: httpx.AsyncClient,
    retail_a: dict[str, str],
    ops: dict[str, str],
    world: World,
    listener: RecordingListener,
    dispatcher: Dispatcher,
    clock: SettableClock,
) -> None:
    hub = await subscribe(http, retail_a, listener.url("replay"))
    early = await create_ticket(http, retail_a, world.a.services[0])
    clock.advance(timedelta(hours=1))
    await create_ticket(http, retail_a, world.a.services[1])
    await drain(dispatcher, clock)
    assert len(listener.on("replay")) == 2

    period = {"from": "2026-11-28T08:00:00Z", "to": "2026-11-28T09:30:00Z"}
    replay = await http.post(f"/ops/v1/hub/{hub['id']}/redeliver", json=period, headers=ops)
    assert replay.status_code == 202, replay.text
    assert replay.json() == {"deliveriesCreated": 1}
    await drain(dispatcher, clock)

    again = listener.on("replay")[2:]
    assert [r.event["event"]["troubleTicket"]["id"] for r in again] == [early["id"]]


async def test_redelivering_a_period_with_too_many_events_is_refused_and_queues_nothing(
    http: httpx.AsyncClient,
    retail_a: dict[str, str],
    world: World,
    listener: RecordingListener,
    dispatcher: Dispatcher,
    clock: SettableClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(events_service, "MAX_REDELIVERY_EVENTS", 1)
    hub = await subscribe(http, retail_a, listener.url("flood"))
    await create_ticket(http, retail_a, world.a.services[0])
    await create_ticket(http, retail_a, world.a.services[1])
    await drain(dispatcher, clock)

    period = {"from": "2026-11-28T00:00:00Z", "to": "2026-11-29T00:00:00Z"}
    replay = await http.post(f"{HUBS}/{hub['id']}/redeliver", json=period, headers=retail_a)
    assert replay.status_code == 400, replay.text
    assert "shorter periods" in replay.json()["message"]
    await drain(dispatcher, clock)
    assert len(listener.on("flood")) == 2


async def test_gone_disables_the_hub(
    http: httpx.AsyncClient,
    retail_a: dict[str, str],
    world: World,
    listener: RecordingListener,
    dispatcher: Dispatcher,
    clock: SettableClock,
) -> None:
    hub = await subscribe(http, retail_a, listener.url("gone"))
    listener.answer("gone", Answer(410))
    await create_ticket(http, retail_a, world.a.services[0])
    await drain(dispatcher, clock)

    await create_ticket(http, retail_a, world.a.services[1])
    await drain(dispatcher, clock)

    assert len(listener.on("gone")) == 1
    fetched = (await http.get(f"{HUBS}/{hub['id']}", headers=retail_a)).json()
    assert fetched["status"] == "disabled"
    assert "410" in fetched["statusReason"]


async def test_retry_after_is_honoured(
    http: httpx.AsyncClient,
    retail_a: dict[str, str],
    world: World,
    listener: RecordingListener,
    dispatcher: Dispatcher,
    clock: SettableClock,
    clean_database: Database,
) -> None:
    await subscribe(http, retail_a, listener.url("busy"))
    listener.answer("busy", Answer(429, headers={"Retry-After": "120"}))
    await create_ticket(http, retail_a, world.a.services[0])

    await dispatcher.run_once()

    [delivery] = await deliveries(clean_database)
    assert delivery.next_attempt_at >= clock.now() + timedelta(seconds=120)
    clock.advance(timedelta(seconds=60))
    assert await dispatcher.run_once() == 0
    clock.advance(timedelta(seconds=61))
    assert await dispatcher.run_once() == 1


async def test_events_of_a_ticket_arrive_in_order_under_concurrency(
    http: httpx.AsyncClient,
    retail_a: dict[str, str],
    ops: dict[str, str],
    world: World,
    listener: RecordingListener,
    clean_database: Database,
    app_settings: Settings,
    clock: SettableClock,
) -> None:
    await subscribe(http, retail_a, listener.url("order"))
    # Every third request fails at first, so retries interleave with new events.
    listener.answer("order", *[Answer(500 if i % 3 == 0 else 200) for i in range(60)])
    tickets = [await create_ticket(http, retail_a, s) for s in world.a.services]

    async def churn(ticket_id: str) -> None:
        for number in range(8):
            await patch_ticket(http, retail_a, ticket_id, {"note": [{"text": f"n{number}"}]})

    two = [Dispatcher(clean_database, app_settings, clock) for _ in range(2)]

    async def dispatch_while_churning() -> None:
        for _ in range(40):
            await asyncio.gather(*(d.run_once(limit=5) for d in two))
            clock.advance(timedelta(seconds=5))
            await asyncio.sleep(0.01)

    await asyncio.gather(dispatch_while_churning(), *(churn(t["id"]) for t in tickets))
    for dispatcher in two:
        await drain(dispatcher, clock)

    for ticket in tickets:
        first_seen: list[int] = []
        ids_by_sequence: dict[int, str] = {}
        for received in listener.on("order"):
            event: dict[str, Any] = received.event
            if event["event"]["troubleTicket"]["id"] != ticket["id"]:
                continue
            sequence = event["sequenceNumber"]
            # A repeat is only ever a re-send of the same message.
            assert (
                ids_by_sequence.setdefault(sequence, received.headers["webhook-id"])
                == (received.headers["webhook-id"])
            )
            if sequence not in first_seen:
                first_seen.append(sequence)
        assert first_seen == list(range(1, 10)), ticket["id"]


async def test_metrics_show_deliveries_and_the_oldest_pending_event(
    http: httpx.AsyncClient,
    retail_a: dict[str, str],
    world: World,
    listener: RecordingListener,
    dispatcher: Dispatcher,
    clock: SettableClock,
) -> None:
    hub = await subscribe(http, retail_a, listener.url("metrics"))
    await create_ticket(http, retail_a, world.a.services[0])
    clock.advance(timedelta(seconds=42))

    pending = (await http.get("/metrics")).text
    assert f'fiberassure_delivery_oldest_pending_seconds{{hub="{hub["id"]}"}} 42.0' in pending

    await drain(dispatcher, clock)
    scraped = (await http.get("/metrics")).text
    assert 'fiberassure_deliveries_total{outcome="delivered"}' in scraped
    assert "fiberassure_delivery_attempt_seconds_bucket" in scraped
    assert hub["id"] not in scraped.split("fiberassure_delivery_oldest_pending_seconds")[-1]
    assert (
        'fiberassure_http_requests_total{method="POST",route="/tmf-api/troubleTicket/v4/troubleTicket",status="201"}'
        in scraped
    )
