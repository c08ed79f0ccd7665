"""Concurrent requests on one ticket or one service lose nothing and announce each change once.

SQLite serialises writers with BEGIN IMMEDIATE; PostgreSQL with the ticket's row lock and the
one-open-ticket-per-service unique index. Both run every test here.
"""

import asyncio
from collections import Counter

import httpx
from sqlalchemy import func, select

from fiberassure.wholesale.db import Database
from fiberassure.wholesale.events.models import OutboxEvent
from fiberassure.wholesale.events.repository import OutboxRepository
from fiberassure.wholesale.tickets.models import TroubleTicket
from tests.conftest import World
from tests.tickets import TICKETS, create_ticket, ops_action, patch_ticket, ticket_body


async def events_of(database: Database, ticket_id: str) -> list[OutboxEvent]:
    async with database.transaction() as session:
        return await OutboxRepository(session).for_resource("troubleTicket", ticket_id)


async def count(database: Database, model: type[TroubleTicket] | type[OutboxEvent]) -> int:
    async with database.transaction() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


async def test_fifty_concurrent_notes_are_all_kept_and_each_announced_once(
    http: httpx.AsyncClient, retail_a: dict[str, str], world: World, clean_database: Database
) -> None:
    ticket_id = (await create_ticket(http, retail_a, world.a.services[0]))["id"]
    texts = [f"Subscriber called again ({n})" for n in range(50)]

    responses = await asyncio.gather(
        *(patch_ticket(http, retail_a, ticket_id, {"note": [{"text": t}]}) for t in texts)
    )

    assert [r.status_code for r in responses] == [200] * 50, [
        r.text for r in responses if r.status_code != 200
    ]
    # Each request saw its own revision: none was applied on top of a stale read.
    assert sorted(int(r.headers["ETag"].strip('"')) for r in responses) == list(range(2, 52))
    final = await http.get(f"{TICKETS}/{ticket_id}", headers=retail_a)
    assert final.headers["ETag"] == '"51"'
    assert sorted(note["text"] for note in final.json()["note"]) == sorted(texts)

    events = await events_of(clean_database, ticket_id)
    assert [e.sequence_number for e in events] == list(range(1, 52))
    assert Counter(e.event_type for e in events) == {
        "TroubleTicketCreateEvent": 1,
        "TroubleTicketAttributeValueChangeEvent": 50,
    }
    # Event n carries the ticket as it was after change n: exactly n - 1 notes.
    assert [len(e.payload["event"]["troubleTicket"].get("note", [])) for e in events] == list(
        range(51)
    )


async def test_twenty_concurrent_creates_for_one_service_make_one_ticket(
    http: httpx.AsyncClient, retail_a: dict[str, str], world: World, clean_database: Database
) -> None:
    service_id = world.a.services[0]
    responses = await asyncio.gather(
        *(
            http.post(
                TICKETS,
                json=ticket_body(service_id, externalId=f"OK-{n}"),
                headers=retail_a,
            )
            for n in range(20)
        )
    )

    statuses = Counter(r.status_code for r in responses)
    assert statuses == {201: 1, 409: 19}, [r.text for r in responses if r.status_code >= 500]
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"CONFLICT"}
    assert await count(clean_database, TroubleTicket) == 1
    assert await count(clean_database, OutboxEvent) == 1
    created = next(r for r in responses if r.status_code == 201).json()
    listed = await http.get(TICKETS, headers=retail_a)
    assert [t["id"] for t in listed.json()] == [created["id"]]


async def test_concurrent_patches_with_the_same_etag_let_exactly_one_win(
    http: httpx.AsyncClient, retail_a: dict[str, str], world: World, clean_database: Database
) -> None:
    created = await http.post(TICKETS, json=ticket_body(world.a.services[0]), headers=retail_a)
    ticket_id, tag = created.json()["id"], created.headers["ETag"]

    responses = await asyncio.gather(
        *(
            patch_ticket(
                http, retail_a, ticket_id, {"note": [{"text": f"edit {n}"}]}, **{"If-Match": tag}
            )
            for n in range(10)
        )
    )

    assert Counter(r.status_code for r in responses) == {200: 1, 412: 9}
    for refused in (r for r in responses if r.status_code == 412):
        assert refused.json()["code"] == "PRECONDITION_FAILED"
        assert refused.json()["details"]["currentETag"] == '"2"'
    final = await http.get(f"{TICKETS}/{ticket_id}", headers=retail_a)
    assert final.headers["ETag"] == '"2"'
    assert len(final.json()["note"]) == 1
    assert [e.sequence_number for e in await events_of(clean_database, ticket_id)] == [1, 2]


async def test_concurrent_cancellations_cancel_once(
    http: httpx.AsyncClient, retail_a: dict[str, str], world: World, clean_database: Database
) -> None:
    ticket_id = (await create_ticket(http, retail_a, world.a.services[0]))["id"]

    responses = await asyncio.gather(
        *(patch_ticket(http, retail_a, ticket_id, {"status": "cancelled"}) for _ in range(10))
    )

    assert Counter(r.status_code for r in responses) == {200: 1, 409: 9}
    for refused in (r for r in responses if r.status_code == 409):
        assert refused.json()["code"] == "INVALID_TRANSITION"
        assert refused.json()["details"]["currentStatus"] == "cancelled"
    events = await events_of(clean_database, ticket_id)
    assert [e.payload["event"]["troubleTicket"]["status"] for e in events] == [
        "acknowledged",
        "cancelled",
    ]


async def test_retail_and_wholesale_acting_at_once_are_applied_one_after_the_other(
    http: httpx.AsyncClient,
    retail_a: dict[str, str],
    ops: dict[str, str],
    world: World,
    clean_database: Database,
) -> None:
    ticket_id = (await create_ticket(http, retail_a, world.a.services[0]))["id"]
    assert (await ops_action(http, ops, ticket_id, "start")).status_code == 200

    retail_notes = [
        patch_ticket(http, retail_a, ticket_id, {"note": [{"text": f"retail {n}"}]})
        for n in range(10)
    ]
    wholesale_notes = [
        ops_action(http, ops, ticket_id, "addNote", {"text": f"NOC {n}"}) for n in range(10)
    ]
    responses = await asyncio.gather(*retail_notes, *wholesale_notes)

    assert [r.status_code for r in responses] == [200] * 20
    final = await http.get(f"{TICKETS}/{ticket_id}", headers=retail_a)
    assert final.headers["ETag"] == '"22"'
    assert len(final.json()["note"]) == 20
    events = await events_of(clean_database, ticket_id)
    assert [e.sequence_number for e in events] == list(range(1, 23))
