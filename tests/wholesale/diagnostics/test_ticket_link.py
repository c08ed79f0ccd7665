"""A trouble ticket may point at the service test behind it (DESIGN §5, issue 4): the test
must be the caller's own and of the ticket's line. With FIBERASSURE_REQUIRE_RECENT_TEST a
ticket needs a completed test of its line within FIBERASSURE_RECENT_TEST_WINDOW."""

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from fiberassure.wholesale.clock import SettableClock
from fiberassure.wholesale.db import Base, Database
from fiberassure.wholesale.events.models import OutboxEvent
from fiberassure.wholesale.settings import Settings
from fiberassure.wholesale.tickets.models import TroubleTicket
from tests.conftest import BASE_URL, World
from tests.service_tests import SERVICE_TESTS, order_test, run_all, set_condition
from tests.tickets import TICKETS, ticket_body

Auth = dict[str, str]
WINDOW = timedelta(hours=2)
# Tests marked so run with FIBERASSURE_REQUIRE_RECENT_TEST on (the app_settings parameter).
require_recent_test = pytest.mark.parametrize(
    "app_settings", [True], indirect=True, ids=["requireRecentTest"]
)


@pytest.fixture
def app_settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    """The recent-test rule is on for tests marked `require_recent_test`, off otherwise."""
    rule_on: bool = getattr(request, "param", False)
    return settings.with_overrides(
        token_ttl="P30D",
        simulator_latency_min=0,
        simulator_latency_max=0,
        adapter_timeout=0.5,
        test_lease=5,
        require_recent_test=rule_on,
        recent_test_window=WINDOW,
    )


def with_test(service_id: str, test_id: str) -> dict[str, Any]:
    return ticket_body(
        service_id,
        relatedEntity=[
            {"id": service_id, "role": "affectedService", "@referredType": "Service"},
            {"id": test_id, "role": "serviceTest", "@referredType": "ServiceTest"},
        ],
    )


async def count(database: Database, model: type[Base]) -> int:
    async with database.transaction() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


async def assert_nothing_written(database: Database, events_before: int) -> None:
    assert await count(database, TroubleTicket) == 0
    assert await count(database, OutboxEvent) == events_before


async def completed_test(
    http: httpx.AsyncClient,
    auth: Auth,
    service_id: str,
    database: Database,
    settings: Settings,
    clock: SettableClock,
) -> dict[str, Any]:
    """Order a test of the line and run it to its end; returns it as the API shows it."""
    created = await order_test(http, auth, service_id)
    assert await run_all(database, settings, clock) >= 1
    response = await http.get(f"{SERVICE_TESTS}/{created['id']}", headers=auth)
    test: dict[str, Any] = response.json()
    return test


# -- the link -----------------------------------------------------------------------------


async def test_ticket_shows_the_callers_test_of_the_same_line(
    http: httpx.AsyncClient, retail_a: Auth, world: World
) -> None:
    line = world.a.services[0]
    test = await order_test(http, retail_a, line)

    response = await http.post(TICKETS, json=with_test(line, test["id"]), headers=retail_a)

    assert response.status_code == 201, response.text
    expected = {
        "id": test["id"],
        "role": "serviceTest",
        "@referredType": "ServiceTest",
        "href": f"{BASE_URL}{SERVICE_TESTS}/{test['id']}",
    }
    linked = [e for e in response.json()["relatedEntity"] if e["role"] == "serviceTest"]
    assert [{k: e[k] for k in expected} for e in linked] == [expected]
    stored = await http.get(f"{TICKETS}/{response.json()['id']}", headers=retail_a)
    assert [e for e in stored.json()["relatedEntity"] if e["role"] == "serviceTest"] == linked


async def test_another_operators_test_cannot_be_referenced(
    http: httpx.AsyncClient,
    retail_a: Auth,
    retail_b: Auth,
    world: World,
    clean_database: Database,
) -> None:
    b_test = await order_test(http, retail_b, world.b.services[0])
    events = await count(clean_database, OutboxEvent)

    response = await http.post(
        TICKETS, json=with_test(world.a.services[0], b_test["id"]), headers=retail_a
    )
    unknown = await http.post(
        TICKETS, json=with_test(world.a.services[0], "no-such-test"), headers=retail_a
    )

    assert response.status_code == unknown.status_code == 400, response.text
    assert response.json()["code"] == "INVALID_REQUEST"
    # Indistinguishable from a test that does not exist: B's line is not revealed.
    assert world.b.services[0] not in response.text
    assert response.json()["details"] == unknown.json()["details"]
    await assert_nothing_written(clean_database, events)


async def test_a_test_of_another_line_cannot_be_referenced(
    http: httpx.AsyncClient, retail_a: Auth, world: World, clean_database: Database
) -> None:
    tested, faulty = world.a.services[1], world.a.services[0]
    test = await order_test(http, retail_a, tested)
    events = await count(clean_database, OutboxEvent)

    response = await http.post(TICKETS, json=with_test(faulty, test["id"]), headers=retail_a)

    assert response.status_code == 400, response.text
    error = response.json()
    assert error["code"] == "INVALID_REQUEST"
    assert tested in error["message"]
    assert faulty in error["message"]
    await assert_nothing_written(clean_database, events)


async def test_without_the_rule_a_ticket_needs_no_test(
    http: httpx.AsyncClient, retail_a: Auth, world: World
) -> None:
    response = await http.post(TICKETS, json=ticket_body(world.a.services[0]), headers=retail_a)

    assert response.status_code == 201, response.text
    assert "serviceTest" not in {e["role"] for e in response.json()["relatedEntity"]}


# -- FIBERASSURE_REQUIRE_RECENT_TEST ------------------------------------------------------


@require_recent_test
async def test_rule_refuses_a_ticket_for_an_untested_line(
    http: httpx.AsyncClient, retail_a: Auth, world: World, clean_database: Database
) -> None:
    line = world.a.services[0]

    response = await http.post(TICKETS, json=ticket_body(line), headers=retail_a)

    assert response.status_code == 422, response.text
    error = response.json()
    assert error["code"] == "RECENT_TEST_REQUIRED"
    assert error["details"]["serviceId"] == line
    assert error["details"]["since"].startswith("2026-11-28T07:00:00")  # START - 2 h
    await assert_nothing_written(clean_database, 0)


@require_recent_test
async def test_rule_does_not_count_a_test_that_has_not_run(
    http: httpx.AsyncClient, retail_a: Auth, world: World, clean_database: Database
) -> None:
    line = world.a.services[0]
    test = await order_test(http, retail_a, line)

    response = await http.post(TICKETS, json=with_test(line, test["id"]), headers=retail_a)

    assert response.status_code == 422, response.text
    assert response.json()["code"] == "RECENT_TEST_REQUIRED"
    assert await count(clean_database, TroubleTicket) == 0


@require_recent_test
async def test_rule_accepts_a_ticket_after_a_completed_test_within_the_window(
    http: httpx.AsyncClient,
    retail_a: Auth,
    ops: Auth,
    world: World,
    clean_database: Database,
    app_settings: Settings,
    clock: SettableClock,
) -> None:
    line = world.a.services[0]
    await set_condition(http, ops, line, "fibreCut")
    test = await completed_test(http, retail_a, line, clean_database, app_settings, clock)
    assert test["state"] == "completed"
    assert test["outcome"]["code"] == "FIBRE_LOS"
    clock.advance(WINDOW - timedelta(minutes=1))

    linked = await http.post(TICKETS, json=with_test(line, test["id"]), headers=retail_a)

    assert linked.status_code == 201, linked.text
    assert test["id"] in {e["id"] for e in linked.json()["relatedEntity"]}


@require_recent_test
async def test_rule_accepts_a_ticket_that_does_not_name_the_recent_test(
    http: httpx.AsyncClient,
    retail_a: Auth,
    world: World,
    clean_database: Database,
    app_settings: Settings,
    clock: SettableClock,
) -> None:
    line = world.a.services[1]
    await completed_test(http, retail_a, line, clean_database, app_settings, clock)

    response = await http.post(TICKETS, json=ticket_body(line), headers=retail_a)

    assert response.status_code == 201, response.text


@require_recent_test
async def test_rule_refuses_a_test_older_than_the_window(
    http: httpx.AsyncClient,
    retail_a: Auth,
    world: World,
    clean_database: Database,
    app_settings: Settings,
    clock: SettableClock,
) -> None:
    line = world.a.services[0]
    test = await completed_test(http, retail_a, line, clean_database, app_settings, clock)
    clock.advance(WINDOW + timedelta(seconds=1))
    events = await count(clean_database, OutboxEvent)

    response = await http.post(TICKETS, json=with_test(line, test["id"]), headers=retail_a)

    assert response.status_code == 422, response.text
    assert response.json()["code"] == "RECENT_TEST_REQUIRED"
    await assert_nothing_written(clean_database, events)
    # A fresh test makes the ticket acceptable again.
    await completed_test(http, retail_a, line, clean_database, app_settings, clock)
    again = await http.post(TICKETS, json=ticket_body(line), headers=retail_a)
    assert again.status_code == 201, again.text


@require_recent_test
async def test_rule_does_not_count_a_failed_test(
    http: httpx.AsyncClient,
    retail_a: Auth,
    ops: Auth,
    world: World,
    clean_database: Database,
    app_settings: Settings,
    clock: SettableClock,
) -> None:
    line = world.a.services[0]
    await set_condition(http, ops, line, "ontUnknown")
    test = await completed_test(http, retail_a, line, clean_database, app_settings, clock)
    assert test["state"] == "failed"

    response = await http.post(TICKETS, json=with_test(line, test["id"]), headers=retail_a)

    assert response.status_code == 422, response.text
    assert response.json()["code"] == "RECENT_TEST_REQUIRED"
    assert await count(clean_database, TroubleTicket) == 0


@require_recent_test
async def test_rule_does_not_count_a_test_of_another_line(
    http: httpx.AsyncClient,
    retail_a: Auth,
    world: World,
    clean_database: Database,
    app_settings: Settings,
    clock: SettableClock,
) -> None:
    await completed_test(http, retail_a, world.a.services[1], clean_database, app_settings, clock)

    response = await http.post(TICKETS, json=ticket_body(world.a.services[0]), headers=retail_a)

    assert response.status_code == 422, response.text
    assert response.json()["code"] == "RECENT_TEST_REQUIRED"
