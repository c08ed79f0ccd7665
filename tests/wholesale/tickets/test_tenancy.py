"""A retail operator sees and touches only its own tickets; another operator's ticket is
404, never 403. Only the wholesaler's ops clients use the ops API, and only retail clients
the TMF API."""

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from fiberassure.wholesale.db import Database
from fiberassure.wholesale.events.models import OutboxEvent
from tests.conftest import World
from tests.tickets import OPS_TICKETS, TICKETS, create_ticket, ops_action, ticket_body

Auth = dict[str, str]


async def event_count(database: Database, ticket_id: str) -> int:
    async with database.transaction() as session:
        statement = (
            select(func.count())
            .select_from(OutboxEvent)
            .where(OutboxEvent.resource_id == ticket_id)
        )
        return int((await session.execute(statement)).scalar_one())


@pytest.fixture
async def b_ticket(http: httpx.AsyncClient, retail_b: Auth, world: World) -> dict[str, Any]:
    """Operator B's open ticket on its first line, with B's own ticket number."""
    return await create_ticket(http, retail_b, world.b.services[0], externalId="B-0001")


async def test_another_operators_ticket_is_not_found(
    http: httpx.AsyncClient, retail_a: Auth, b_ticket: dict[str, Any]
) -> None:
    foreign = await http.get(f"{TICKETS}/{b_ticket['id']}", headers=retail_a)
    unknown = await http.get(f"{TICKETS}/no-such-ticket", headers=retail_a)

    assert foreign.status_code == unknown.status_code == 404
    assert foreign.json()["code"] == unknown.json()["code"] == "NOT_FOUND"
    assert b_ticket["description"] not in foreign.text
    assert "ETag" not in foreign.headers


@pytest.mark.parametrize(
    "change",
    [
        {"status": "cancelled"},
        {"description": "Overwritten by the wrong operator."},
        {"note": [{"text": "Hello from operator A."}]},
    ],
    ids=["cancel", "description", "note"],
)
async def test_another_operators_ticket_cannot_be_changed(
    http: httpx.AsyncClient,
    retail_a: Auth,
    retail_b: Auth,
    b_ticket: dict[str, Any],
    clean_database: Database,
    change: dict[str, Any],
) -> None:
    response = await http.patch(
        f"{TICKETS}/{b_ticket['id']}",
        json=change,
        headers={**retail_a, "Content-Type": "application/merge-patch+json", "If-Match": '"1"'},
    )

    assert response.status_code == 404, response.text
    assert response.json()["code"] == "NOT_FOUND"
    unchanged = await http.get(f"{TICKETS}/{b_ticket['id']}", headers=retail_b)
    assert unchanged.json() == b_ticket
    assert unchanged.headers["ETag"] == '"1"'
    assert await event_count(clean_database, b_ticket["id"]) == 1


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"relatedEntity.id": "SRV-B0"},
        {"externalId": "B-0001"},
        {"status": "acknowledged"},
    ],
    ids=["all", "relatedEntity.id", "externalId", "status"],
)
async def test_another_operators_ticket_is_never_listed(
    http: httpx.AsyncClient,
    retail_a: Auth,
    world: World,
    b_ticket: dict[str, Any],
    params: dict[str, str],
) -> None:
    own = await create_ticket(http, retail_a, world.a.services[0])

    response = await http.get(TICKETS, params=params, headers=retail_a)

    assert response.status_code == 200, response.text
    listed = [t["id"] for t in response.json()]
    assert b_ticket["id"] not in listed
    expected_own = [] if params.keys() & {"relatedEntity.id", "externalId"} else [own["id"]]
    assert listed == expected_own
    assert response.headers["X-Total-Count"] == str(len(expected_own))


async def test_the_ont_serial_of_another_operators_line_finds_nothing(
    http: httpx.AsyncClient, retail_a: Auth, b_ticket: dict[str, Any]
) -> None:
    serial = next(e["id"] for e in b_ticket["relatedEntity"] if e["role"] == "ont")

    response = await http.get(TICKETS, params={"relatedEntity.id": serial}, headers=retail_a)

    assert response.json() == []
    assert response.headers["X-Total-Count"] == "0"


async def test_a_ticket_cannot_be_opened_on_another_operators_service(
    http: httpx.AsyncClient, retail_a: Auth, retail_b: Auth, world: World
) -> None:
    refused = await http.post(TICKETS, json=ticket_body(world.b.services[1]), headers=retail_a)

    assert refused.status_code == 400, refused.text
    assert refused.json()["code"] == "INVALID_REQUEST"
    # Nothing was opened on B's line: B can still report its own fault there.
    await create_ticket(http, retail_b, world.b.services[1])


async def test_ops_sees_any_operators_ticket(
    http: httpx.AsyncClient, retail_a: Auth, ops: Auth, world: World, b_ticket: dict[str, Any]
) -> None:
    a_ticket = await create_ticket(http, retail_a, world.a.services[0])

    for ticket in (a_ticket, b_ticket):
        response = await http.get(f"{OPS_TICKETS}/{ticket['id']}", headers=ops)
        assert response.status_code == 200, response.text
        seen = response.json()
        assert seen["id"] == ticket["id"]
        assert seen["relatedEntity"] == ticket["relatedEntity"]
        assert seen["allowedActions"] == ["start", "requestInformation", "rejectNoFault", "addNote"]
        assert response.headers["ETag"] == '"1"'


async def test_ops_gets_404_for_an_unknown_ticket(http: httpx.AsyncClient, ops: Auth) -> None:
    response = await http.get(f"{OPS_TICKETS}/no-such-ticket", headers=ops)

    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"


async def test_a_retail_token_cannot_use_the_ops_api(
    http: httpx.AsyncClient, retail_b: Auth, b_ticket: dict[str, Any], clean_database: Database
) -> None:
    read = await http.get(f"{OPS_TICKETS}/{b_ticket['id']}", headers=retail_b)
    act = await ops_action(http, retail_b, b_ticket["id"], "resolve")

    for response in (read, act):
        assert response.status_code == 403, response.text
        assert (response.json()["code"], response.json()["status"]) == ("FORBIDDEN", "403")
    assert (await http.get(f"{TICKETS}/{b_ticket['id']}", headers=retail_b)).json() == b_ticket
    assert await event_count(clean_database, b_ticket["id"]) == 1


async def test_an_ops_token_cannot_use_the_retail_api(
    http: httpx.AsyncClient, ops: Auth, world: World, b_ticket: dict[str, Any]
) -> None:
    responses = [
        await http.get(TICKETS, headers=ops),
        await http.get(f"{TICKETS}/{b_ticket['id']}", headers=ops),
        await http.post(TICKETS, json=ticket_body(world.a.services[0]), headers=ops),
        await http.patch(
            f"{TICKETS}/{b_ticket['id']}",
            json={"status": "cancelled"},
            headers={**ops, "Content-Type": "application/merge-patch+json"},
        ),
    ]

    for response in responses:
        assert response.status_code == 403, response.text
        assert response.json()["code"] == "FORBIDDEN"
    seen = await http.get(f"{OPS_TICKETS}/{b_ticket['id']}", headers=ops)
    assert seen.json()["status"] == "acknowledged"


async def test_calls_without_a_token_are_401(
    http: httpx.AsyncClient, b_ticket: dict[str, Any]
) -> None:
    for response in (
        await http.get(TICKETS),
        await http.get(f"{TICKETS}/{b_ticket['id']}"),
        await http.get(f"{OPS_TICKETS}/{b_ticket['id']}"),
    ):
        assert response.status_code == 401, response.text
        assert response.json()["code"] == "UNAUTHORIZED"
