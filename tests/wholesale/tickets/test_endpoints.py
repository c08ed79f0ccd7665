"""The TMF621 endpoints as a retail operator uses them: create, list, read, patch, and the
SLA date the ticket promises."""

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from fiberassure.wholesale.clock import SettableClock
from fiberassure.wholesale.db import Database
from fiberassure.wholesale.events.models import OutboxEvent
from fiberassure.wholesale.tickets.models import TroubleTicket
from tests.conftest import BASE_URL, START, World
from tests.tickets import TICKETS, create_ticket, ops_action, patch_ticket, ticket_body

Auth = dict[str, str]


def at(instant: datetime) -> str:
    return instant.isoformat().replace("+00:00", "Z")


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def count(database: Database, model: type[TroubleTicket] | type[OutboxEvent]) -> int:
    async with database.transaction() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


async def list_tickets(http: httpx.AsyncClient, auth: Auth, **params: str) -> httpx.Response:
    response = await http.get(TICKETS, params=params, headers=auth)
    assert response.status_code == 200, response.text
    return response


async def listed_ids(http: httpx.AsyncClient, auth: Auth, **params: str) -> list[str]:
    return [t["id"] for t in (await list_tickets(http, auth, **params)).json()]


# -- create -------------------------------------------------------------------------------


async def test_create_returns_201_with_location_and_etag(
    http: httpx.AsyncClient, retail_a: Auth, world: World
) -> None:
    response = await http.post(TICKETS, json=ticket_body(world.a.services[0]), headers=retail_a)

    assert response.status_code == 201, response.text
    created = response.json()
    assert response.headers["Location"] == f"{BASE_URL}{TICKETS}/{created['id']}"
    assert created["href"] == response.headers["Location"]
    assert response.headers["ETag"] == '"1"'
    assert created["creationDate"] == created["lastUpdate"] == at(START)
    fetched = await http.get(response.headers["Location"], headers=retail_a)
    assert fetched.status_code == 200
    assert fetched.json() == created


async def test_create_ignores_server_set_attributes_in_the_body(
    http: httpx.AsyncClient, retail_a: Auth, world: World
) -> None:
    body = ticket_body(
        world.a.services[0],
        status="resolved",
        creationDate="2020-01-01T00:00:00Z",
        expectedResolutionDate="2020-01-02T00:00:00Z",
        id="chosen-by-client",
    )

    created = await http.post(TICKETS, json=body, headers=retail_a)

    assert created.status_code == 201, created.text
    ticket = created.json()
    assert ticket["status"] == "acknowledged"
    assert ticket["id"] != "chosen-by-client"
    assert ticket["creationDate"] == at(START)
    assert ticket["expectedResolutionDate"] == at(START + timedelta(hours=24))


@pytest.mark.parametrize(
    "missing", ["description", "severity", "ticketType", "relatedEntity", "subscriberContact"]
)
async def test_create_without_a_mandatory_attribute_is_refused(
    http: httpx.AsyncClient, retail_a: Auth, world: World, clean_database: Database, missing: str
) -> None:
    body = ticket_body(world.a.services[0])
    del body[missing]

    response = await http.post(TICKETS, json=body, headers=retail_a)

    assert response.status_code == 400, response.text
    error = response.json()
    assert (error["code"], error["status"]) == ("INVALID_REQUEST", "400")
    assert missing in error["message"]
    assert await count(clean_database, TroubleTicket) == 0


async def test_create_without_an_affected_service_is_refused(
    http: httpx.AsyncClient, retail_a: Auth, world: World, clean_database: Database
) -> None:
    body = ticket_body(
        world.a.services[0],
        relatedEntity=[{"id": "ALCL00000000", "role": "ont", "@referredType": "Resource"}],
    )

    response = await http.post(TICKETS, json=body, headers=retail_a)

    assert response.status_code == 400, response.text
    assert "affectedService" in response.json()["message"]
    assert await count(clean_database, TroubleTicket) == 0


async def test_a_ticket_on_another_operators_service_looks_like_an_unknown_service(
    http: httpx.AsyncClient, retail_a: Auth, world: World, clean_database: Database
) -> None:
    foreign = await http.post(TICKETS, json=ticket_body(world.b.services[0]), headers=retail_a)
    unknown = await http.post(TICKETS, json=ticket_body("SRV-NOSUCH"), headers=retail_a)

    assert foreign.status_code == unknown.status_code == 400
    foreign_error, unknown_error = foreign.json(), unknown.json()
    assert foreign_error["code"] == unknown_error["code"] == "INVALID_REQUEST"
    assert foreign_error["message"].replace(world.b.services[0], "X") == unknown_error[
        "message"
    ].replace("SRV-NOSUCH", "X")
    assert world.b.operator_id not in foreign.text
    assert await count(clean_database, TroubleTicket) == 0


async def test_second_open_ticket_for_a_service_is_refused_naming_the_open_one(
    http: httpx.AsyncClient, retail_a: Auth, world: World
) -> None:
    first = await create_ticket(http, retail_a, world.a.services[0])

    second = await http.post(TICKETS, json=ticket_body(world.a.services[0]), headers=retail_a)

    assert second.status_code == 409, second.text
    error = second.json()
    assert error["code"] == "CONFLICT"
    assert first["id"] in error["message"]
    assert error["details"]["openTicketId"] == first["id"]
    assert await listed_ids(http, retail_a) == [first["id"]]


async def test_a_service_can_have_a_new_ticket_once_the_old_one_is_final(
    http: httpx.AsyncClient, retail_a: Auth, world: World
) -> None:
    first = await create_ticket(http, retail_a, world.a.services[0])
    cancelled = await patch_ticket(http, retail_a, first["id"], {"status": "cancelled"})
    assert cancelled.status_code == 200, cancelled.text

    second = await create_ticket(http, retail_a, world.a.services[0])

    assert second["id"] != first["id"]


async def test_external_id_is_unique_per_operator(
    http: httpx.AsyncClient, retail_a: Auth, retail_b: Auth, world: World
) -> None:
    first = await create_ticket(http, retail_a, world.a.services[0], externalId="OK-1")

    again = await http.post(
        TICKETS, json=ticket_body(world.a.services[1], externalId="OK-1"), headers=retail_a
    )
    other_operator = await http.post(
        TICKETS, json=ticket_body(world.b.services[0], externalId="OK-1"), headers=retail_b
    )

    assert again.status_code == 409, again.text
    assert again.json()["code"] == "CONFLICT"
    assert "OK-1" in again.json()["message"]
    assert other_operator.status_code == 201, other_operator.text
    assert await listed_ids(http, retail_a, externalId="OK-1") == [first["id"]]
    assert await listed_ids(http, retail_b, externalId="OK-1") == [other_operator.json()["id"]]


# -- Idempotency-Key ------------------------------------------------------------------------


async def test_retried_create_with_the_same_idempotency_key_returns_the_first_ticket(
    http: httpx.AsyncClient, retail_a: Auth, world: World, clean_database: Database
) -> None:
    body = ticket_body(world.a.services[0], externalId="OK-77")
    headers = {**retail_a, "Idempotency-Key": "retry-77"}

    first = await http.post(TICKETS, json=body, headers=headers)
    second = await http.post(TICKETS, json=body, headers=headers)

    assert first.status_code == second.status_code == 201, second.text
    assert second.json() == first.json()
    assert second.headers["Location"] == first.headers["Location"]
    assert second.headers["ETag"] == first.headers["ETag"]
    assert second.headers["Idempotent-Replayed"] == "true"
    assert await count(clean_database, TroubleTicket) == 1
    assert await count(clean_database, OutboxEvent) == 1


async def test_reusing_an_idempotency_key_for_another_body_is_refused(
    http: httpx.AsyncClient, retail_a: Auth, world: World, clean_database: Database
) -> None:
    headers = {**retail_a, "Idempotency-Key": "retry-78"}
    first = await http.post(TICKETS, json=ticket_body(world.a.services[0]), headers=headers)
    assert first.status_code == 201, first.text

    other = await http.post(TICKETS, json=ticket_body(world.a.services[1]), headers=headers)

    assert other.status_code == 422, other.text
    assert other.json()["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert await count(clean_database, TroubleTicket) == 1
    assert await count(clean_database, OutboxEvent) == 1


async def test_idempotency_keys_of_different_operators_do_not_collide(
    http: httpx.AsyncClient, retail_a: Auth, retail_b: Auth, world: World
) -> None:
    a = await http.post(
        TICKETS,
        json=ticket_body(world.a.services[0]),
        headers={**retail_a, "Idempotency-Key": "shared-key"},
    )
    b = await http.post(
        TICKETS,
        json=ticket_body(world.b.services[0]),
        headers={**retail_b, "Idempotency-Key": "shared-key"},
    )

    assert (a.status_code, b.status_code) == (201, 201), b.text
    assert a.json()["id"] != b.json()["id"]


# -- list -----------------------------------------------------------------------------------


class Listing:
    """Three of operator A's tickets, one a minute apart; the middle one was then started."""

    def __init__(self, tickets: list[dict[str, Any]], serials: list[str]) -> None:
        self.first, self.second, self.third = (t["id"] for t in tickets)
        self.serials = serials


@pytest.fixture
async def listing(
    http: httpx.AsyncClient, retail_a: Auth, ops: Auth, world: World, clock: SettableClock
) -> Listing:
    kinds = [
        ("critical", "noService", "OK-1"),
        ("major", "degradedService", "OK-2"),
        ("minor", "intermittentService", "OK-3"),
    ]
    tickets = []
    for service_id, (severity, ticket_type, external_id) in zip(
        world.a.services, kinds, strict=True
    ):
        tickets.append(
            await create_ticket(
                http,
                retail_a,
                service_id,
                severity=severity,
                ticketType=ticket_type,
                externalId=external_id,
            )
        )
        clock.advance(timedelta(minutes=1))
    started = await ops_action(http, ops, tickets[1]["id"], "start")  # at START + 3 min
    assert started.status_code == 200, started.text
    serials = [next(e["id"] for e in t["relatedEntity"] if e["role"] == "ont") for t in tickets]
    return Listing(tickets, serials)


async def test_list_is_newest_first_with_counts(
    http: httpx.AsyncClient, retail_a: Auth, listing: Listing
) -> None:
    response = await list_tickets(http, retail_a)

    assert [t["id"] for t in response.json()] == [listing.third, listing.second, listing.first]
    assert response.headers["X-Total-Count"] == "3"
    assert response.headers["X-Result-Count"] == "3"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"status": "acknowledged"}, ["third", "first"]),
        ({"status": "inProgress"}, ["second"]),
        ({"status": "acknowledged,inProgress"}, ["third", "second", "first"]),
        ({"status": "resolved"}, []),
        ({"ticketType": "degradedService"}, ["second"]),
        ({"ticketType": "noService,intermittentService"}, ["third", "first"]),
        ({"severity": "minor"}, ["third"]),
        ({"externalId": "OK-2"}, ["second"]),
        ({"externalId": "OK-404"}, []),
        ({"relatedEntity.id": "SRV-A0"}, ["first"]),
        ({"creationDate.gt": at(START + timedelta(seconds=30))}, ["third", "second"]),
        ({"creationDate.lt": at(START + timedelta(seconds=90))}, ["second", "first"]),
        (
            {
                "creationDate.gt": at(START + timedelta(seconds=30)),
                "creationDate.lt": at(START + timedelta(seconds=90)),
            },
            ["second"],
        ),
        ({"lastUpdate.gt": at(START + timedelta(seconds=150))}, ["second"]),
        ({"severity": "critical", "status": "inProgress"}, []),
    ],
    ids=lambda value: (
        "&".join(f"{k}={v}" for k, v in value.items())
        if isinstance(value, dict)
        else ",".join(value) or "none"
    ),
)
async def test_list_filters(
    http: httpx.AsyncClient,
    retail_a: Auth,
    listing: Listing,
    params: dict[str, str],
    expected: list[str],
) -> None:
    response = await list_tickets(http, retail_a, **params)

    assert [t["id"] for t in response.json()] == [getattr(listing, name) for name in expected]
    assert response.headers["X-Total-Count"] == str(len(expected))


async def test_list_filters_by_ont_serial_number(
    http: httpx.AsyncClient, retail_a: Auth, listing: Listing
) -> None:
    assert await listed_ids(http, retail_a, **{"relatedEntity.id": listing.serials[2]}) == [
        listing.third
    ]


async def test_list_returns_only_the_selected_fields(
    http: httpx.AsyncClient, retail_a: Auth, listing: Listing
) -> None:
    response = await list_tickets(http, retail_a, fields="status,severity")

    assert [set(t) for t in response.json()] == [{"id", "href", "@type", "status", "severity"}] * 3
    assert response.json()[0]["severity"] == "minor"


async def test_list_pages_with_offset_and_limit(
    http: httpx.AsyncClient, retail_a: Auth, listing: Listing
) -> None:
    first_page = await list_tickets(http, retail_a, limit="2")
    second_page = await list_tickets(http, retail_a, limit="2", offset="2")

    assert [t["id"] for t in first_page.json()] == [listing.third, listing.second]
    assert (first_page.headers["X-Total-Count"], first_page.headers["X-Result-Count"]) == (
        "3",
        "2",
    )
    assert [t["id"] for t in second_page.json()] == [listing.first]
    assert (second_page.headers["X-Total-Count"], second_page.headers["X-Result-Count"]) == (
        "3",
        "1",
    )


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("creationDate", ["first", "second", "third"]),
        ("-creationDate", ["third", "second", "first"]),
        ("-lastUpdate", ["second", "third", "first"]),
    ],
)
async def test_list_sorts(
    http: httpx.AsyncClient, retail_a: Auth, listing: Listing, sort: str, expected: list[str]
) -> None:
    assert await listed_ids(http, retail_a, sort=sort) == [
        getattr(listing, name) for name in expected
    ]


@pytest.mark.parametrize(
    "params",
    [
        {"stauts": "acknowledged"},
        {"status": "open"},
        {"severity": "urgent"},
        {"creationDate.gt": "yesterday"},
        {"creationDate.gt": "2026-11-28T09:00:00"},
        {"fields": "status,colour"},
        {"sort": "severity"},
        {"limit": "0"},
    ],
    ids=lambda params: "&".join(f"{k}={v}" for k, v in params.items()),
)
async def test_list_refuses_a_bad_query(
    http: httpx.AsyncClient, retail_a: Auth, listing: Listing, params: dict[str, str]
) -> None:
    response = await http.get(TICKETS, params=params, headers=retail_a)

    assert response.status_code == 400, response.text
    assert response.json()["code"] in ("INVALID_QUERY", "INVALID_REQUEST")
    assert response.json()["status"] == "400"


# -- read -----------------------------------------------------------------------------------


async def test_get_one_returns_the_ticket_with_its_etag(
    http: httpx.AsyncClient, retail_a: Auth, world: World
) -> None:
    created = await create_ticket(http, retail_a, world.a.services[0], externalId="OK-9")

    response = await http.get(f"{TICKETS}/{created['id']}", headers=retail_a)

    assert response.status_code == 200
    assert response.headers["ETag"] == '"1"'
    assert response.json() == created
    ont = next(e for e in created["relatedEntity"] if e["role"] == "ont")
    assert ont["@referredType"] == "Resource"


async def test_get_one_with_fields(http: httpx.AsyncClient, retail_a: Auth, world: World) -> None:
    created = await create_ticket(http, retail_a, world.a.services[0])

    response = await http.get(
        f"{TICKETS}/{created['id']}", params={"fields": "status"}, headers=retail_a
    )

    assert response.json() == {
        "id": created["id"],
        "href": created["href"],
        "@type": "ConsumerTroubleTicket",
        "status": "acknowledged",
    }


async def test_get_unknown_ticket_is_404_with_a_tmf_body(
    http: httpx.AsyncClient, retail_a: Auth
) -> None:
    response = await http.get(f"{TICKETS}/no-such-ticket", headers=retail_a)

    assert response.status_code == 404
    assert (response.json()["code"], response.json()["status"]) == ("NOT_FOUND", "404")


# -- patch ----------------------------------------------------------------------------------


@pytest.mark.parametrize("content_type", ["application/json", "application/merge-patch+json"])
async def test_patch_accepts_json_and_merge_patch(
    http: httpx.AsyncClient, retail_a: Auth, world: World, content_type: str
) -> None:
    created = await create_ticket(http, retail_a, world.a.services[0])

    response = await http.patch(
        f"{TICKETS}/{created['id']}",
        json={"severity": "major", "description": "Slow since the storm."},
        headers={**retail_a, "Content-Type": content_type},
    )

    assert response.status_code == 200, response.text
    patched = response.json()
    assert (patched["severity"], patched["description"]) == ("major", "Slow since the storm.")
    assert patched["subscriberContact"] == created["subscriberContact"]
    assert response.headers["ETag"] == '"2"'


async def test_patch_with_another_content_type_is_refused(
    http: httpx.AsyncClient, retail_a: Auth, world: World
) -> None:
    created = await create_ticket(http, retail_a, world.a.services[0])

    response = await http.patch(
        f"{TICKETS}/{created['id']}",
        content=b"severity=major",
        headers={**retail_a, "Content-Type": "application/x-www-form-urlencoded"},
    )

    assert response.status_code == 415, response.text
    assert response.json()["code"] == "UNSUPPORTED_MEDIA_TYPE"


async def test_patch_appends_notes_and_attachments(
    http: httpx.AsyncClient, retail_a: Auth, world: World
) -> None:
    created = await create_ticket(
        http, retail_a, world.a.services[0], note=[{"text": "First call."}]
    )
    attachment = {"name": "router.jpg", "url": "https://files.example/router.jpg"}

    response = await patch_ticket(
        http,
        retail_a,
        created["id"],
        {"note": [{"text": "Second call."}], "attachment": [attachment]},
    )

    assert response.status_code == 200, response.text
    patched = response.json()
    assert [n["text"] for n in patched["note"]] == ["First call.", "Second call."]
    assert [(a["name"], a["url"]) for a in patched["attachment"]] == [
        ("router.jpg", "https://files.example/router.jpg")
    ]


async def test_patch_of_a_server_set_attribute_is_refused(
    http: httpx.AsyncClient, retail_a: Auth, world: World, clean_database: Database
) -> None:
    created = await create_ticket(http, retail_a, world.a.services[0])

    response = await patch_ticket(
        http, retail_a, created["id"], {"expectedResolutionDate": "2030-01-01T00:00:00Z"}
    )

    assert response.status_code == 400, response.text
    assert "expectedResolutionDate" in response.json()["message"]
    assert await count(clean_database, OutboxEvent) == 1


async def test_patch_with_matching_if_match_succeeds_with_a_new_etag(
    http: httpx.AsyncClient, retail_a: Auth, world: World
) -> None:
    created = await create_ticket(http, retail_a, world.a.services[0])
    etag = (await http.get(f"{TICKETS}/{created['id']}", headers=retail_a)).headers["ETag"]

    response = await patch_ticket(
        http, retail_a, created["id"], {"severity": "minor"}, **{"If-Match": etag}
    )

    assert response.status_code == 200, response.text
    assert response.headers["ETag"] != etag
    fetched = await http.get(f"{TICKETS}/{created['id']}", headers=retail_a)
    assert fetched.headers["ETag"] == response.headers["ETag"]


async def test_patch_with_a_stale_if_match_is_refused_and_changes_nothing(
    http: httpx.AsyncClient, retail_a: Auth, world: World, clean_database: Database
) -> None:
    created = await create_ticket(http, retail_a, world.a.services[0])
    stale = '"1"'
    first = await patch_ticket(
        http, retail_a, created["id"], {"severity": "major"}, **{"If-Match": stale}
    )
    assert first.status_code == 200, first.text

    second = await patch_ticket(
        http,
        retail_a,
        created["id"],
        {"severity": "minor", "status": "cancelled"},
        **{"If-Match": stale},
    )

    assert second.status_code == 412, second.text
    assert (second.json()["code"], second.json()["status"]) == ("PRECONDITION_FAILED", "412")
    current = await http.get(f"{TICKETS}/{created['id']}", headers=retail_a)
    assert current.headers["ETag"] == first.headers["ETag"]
    assert (current.json()["severity"], current.json()["status"]) == ("major", "acknowledged")
    assert await count(clean_database, OutboxEvent) == 2


async def test_delete_is_not_allowed(http: httpx.AsyncClient, retail_a: Auth, world: World) -> None:
    created = await create_ticket(http, retail_a, world.a.services[0])

    response = await http.delete(f"{TICKETS}/{created['id']}", headers=retail_a)

    assert response.status_code == 405
    assert response.headers["Allow"] == "GET, PATCH"
    error = response.json()
    assert (error["code"], error["status"], error["@type"]) == (
        "METHOD_NOT_ALLOWED",
        "405",
        "Error",
    )
    assert (await http.get(f"{TICKETS}/{created['id']}", headers=retail_a)).status_code == 200


# -- SLA ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("line", "sla_class", "hours"), [(0, "standard", 24), (2, "enhanced", 8)])
async def test_expected_resolution_follows_the_lines_sla_class(
    http: httpx.AsyncClient,
    retail_a: Auth,
    world: World,
    line: int,
    sla_class: str,
    hours: int,
) -> None:
    created = await create_ticket(http, retail_a, world.a.services[line])

    assert created["slaClass"] == sla_class
    assert parse_time(created["expectedResolutionDate"]) == START + timedelta(hours=hours)


async def test_time_spent_pending_extends_the_expected_resolution(
    http: httpx.AsyncClient,
    retail_a: Auth,
    ops: Auth,
    world: World,
    clock: SettableClock,
) -> None:
    created = await create_ticket(http, retail_a, world.a.services[2])  # enhanced: 8 h
    ticket_id = created["id"]
    information = {"reason": "customerUnreachable", "fieldPath": "subscriberContact"}
    contact = {"subscriberContact": {"name": "Ola Nowak", "phoneNumber": "+48 600 999 000"}}

    clock.advance(timedelta(minutes=1))
    assert (await ops_action(http, ops, ticket_id, "requestInformation", information)).is_success
    clock.advance(timedelta(minutes=8))
    pending = (await http.get(f"{TICKETS}/{ticket_id}", headers=retail_a)).json()
    assert parse_time(pending["expectedResolutionDate"]) == START + timedelta(hours=8)
    answered = await patch_ticket(http, retail_a, ticket_id, contact)
    assert answered.status_code == 200, answered.text
    assert parse_time(answered.json()["expectedResolutionDate"]) == START + timedelta(
        hours=8, minutes=8
    )

    # A second wait adds up with the first.
    assert (await ops_action(http, ops, ticket_id, "requestInformation", information)).is_success
    clock.advance(timedelta(minutes=4))
    again = await patch_ticket(http, retail_a, ticket_id, {"status": "inProgress"})

    assert again.status_code == 200, again.text
    assert parse_time(again.json()["expectedResolutionDate"]) == START + timedelta(
        hours=8, minutes=12
    )
