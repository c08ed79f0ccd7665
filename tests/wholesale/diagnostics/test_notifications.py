"""Service-test results reach the retail operator's listener over real HTTP on 127.0.0.1."""

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from fiberassure.wholesale.clock import SettableClock
from fiberassure.wholesale.db import Database
from fiberassure.wholesale.events.dispatcher import Dispatcher
from fiberassure.wholesale.settings import Settings
from tests.listener import RecordingListener
from tests.service_tests import order_test, run_all, set_condition
from tests.wholesale.events.conftest import drain

TEST_HUBS = "/tmf-api/serviceTestManagement/v4/hub"
FINAL_RESULTS = (
    "eventType=ServiceTestAttributeValueChangeEvent&event.serviceTest.state=completed,failed"
)


@pytest.fixture
def app_settings(app_settings: Settings) -> Settings:
    # Room for a busy host: a slow answer from the local listener is retried, not lost.
    return app_settings.with_overrides(delivery_timeout=5, retry_schedule="1,2,3")


@pytest.fixture
def listener() -> Iterator[RecordingListener]:
    listener = RecordingListener().start()
    yield listener
    listener.stop()


@pytest.fixture
async def dispatcher(
    clean_database: Database, app_settings: Settings, clock: SettableClock
) -> AsyncIterator[Dispatcher]:
    dispatcher = Dispatcher(clean_database, app_settings, clock)
    yield dispatcher
    await dispatcher.close()


async def subscribe(
    http: httpx.AsyncClient, auth: dict[str, str], callback: str, query: str | None = None
) -> dict[str, Any]:
    body = {"callback": callback} if query is None else {"callback": callback, "query": query}
    response = await http.post(TEST_HUBS, json=body, headers=auth)
    assert response.status_code == 201, response.text
    hub: dict[str, Any] = response.json()
    return hub


def received(listener: RecordingListener, path: str) -> list[dict[str, Any]]:
    return [r.event for r in listener.on(path)]


async def test_the_results_reach_the_listener_as_an_attribute_value_change_event(
    http: httpx.AsyncClient,
    retail_a: dict[str, str],
    ops: dict[str, str],
    clean_database: Database,
    app_settings: Settings,
    clock: SettableClock,
    listener: RecordingListener,
    dispatcher: Dispatcher,
) -> None:
    await subscribe(http, retail_a, listener.url("a"))
    await set_condition(http, ops, "SRV-A0", "fibreCut")
    created = await order_test(http, retail_a, "SRV-A0")

    await run_all(clean_database, app_settings, clock)
    await drain(dispatcher, clock)

    events = received(listener, "a")
    assert [(e["eventType"], e["sequenceNumber"]) for e in events] == [
        ("ServiceTestCreateEvent", 1),
        ("ServiceTestAttributeValueChangeEvent", 2),
        ("ServiceTestAttributeValueChangeEvent", 3),
    ]
    assert [e["event"]["serviceTest"]["state"] for e in events] == [
        "acknowledged",
        "inProgress",
        "completed",
    ]
    final = events[-1]["event"]["serviceTest"]
    assert final["id"] == created["id"]
    assert final["relatedService"]["id"] == "SRV-A0"
    assert final["outcome"]["code"] == "FIBRE_LOS"
    assert final["outcome"]["faultTicketWarranted"] is True
    names = {m["metricName"] for m in final["testMeasure"]}
    assert {"ontOperationalState", "lastDownCause", "ponPortState"} <= names
    state = next(m for m in final["testMeasure"] if m["metricName"] == "ontOperationalState")
    assert state["value"]["value"] == "down"
    assert state["ruleViolation"]
    # What the listener got is what the API shows.
    fetched = await http.get(
        f"{created['href'].removeprefix('http://testserver')}", headers=retail_a
    )
    assert final == fetched.json()
    assert all("webhook-signature" in r.headers for r in listener.on("a"))


async def test_a_hub_asking_for_final_results_gets_only_those(
    http: httpx.AsyncClient,
    retail_a: dict[str, str],
    ops: dict[str, str],
    clean_database: Database,
    app_settings: Settings,
    clock: SettableClock,
    listener: RecordingListener,
    dispatcher: Dispatcher,
) -> None:
    await subscribe(http, retail_a, listener.url("final"), FINAL_RESULTS)
    await subscribe(http, retail_a, listener.url("all"))
    await set_condition(http, ops, "SRV-A1", "ontUnknown")
    completes = await order_test(http, retail_a, "SRV-A0")
    fails = await order_test(http, retail_a, "SRV-A1")

    await run_all(clean_database, app_settings, clock)
    await drain(dispatcher, clock)

    final = received(listener, "final")
    assert {e["eventType"] for e in final} == {"ServiceTestAttributeValueChangeEvent"}
    by_test = {e["event"]["serviceTest"]["id"]: e["event"]["serviceTest"] for e in final}
    assert len(final) == 2
    assert by_test[completes["id"]]["state"] == "completed"
    assert by_test[completes["id"]]["outcome"]["code"] == "NO_FAULT_FOUND"
    assert by_test[fails["id"]]["state"] == "failed"
    assert by_test[fails["id"]]["failureReason"]["code"] == "ONT_UNKNOWN"
    assert len(received(listener, "all")) == 6


async def test_another_operators_hub_hears_nothing_of_a_test(
    http: httpx.AsyncClient,
    retail_a: dict[str, str],
    retail_b: dict[str, str],
    clean_database: Database,
    app_settings: Settings,
    clock: SettableClock,
    listener: RecordingListener,
    dispatcher: Dispatcher,
) -> None:
    await subscribe(http, retail_b, listener.url("b"))
    await subscribe(http, retail_a, listener.url("a"))
    await order_test(http, retail_a, "SRV-A0")

    await run_all(clean_database, app_settings, clock)
    await drain(dispatcher, clock)

    assert len(received(listener, "a")) == 3
    assert received(listener, "b") == []
