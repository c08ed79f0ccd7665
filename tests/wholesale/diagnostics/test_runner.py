"""The test runner: a test moves acknowledged → inProgress → completed | failed with an event
for each step; failures on the wholesale side are refunded; a lost runner's test is taken
over; many tests run at once."""

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from fiberassure.wholesale.clock import SettableClock
from fiberassure.wholesale.db import Database
from fiberassure.wholesale.diagnostics.runner import MAX_ATTEMPTS, TestRunner
from fiberassure.wholesale.events.models import OutboxEvent
from fiberassure.wholesale.network.adapter import Line, NetworkAdapter, OntReading
from fiberassure.wholesale.network.adapters import adapter_for
from fiberassure.wholesale.settings import Settings
from tests.service_tests import (
    LIMITS,
    SERVICE_TESTS,
    SPECIFICATIONS,
    order_test,
    run_all,
    runner,
    set_condition,
)

CREATE = "ServiceTestCreateEvent"
CHANGE = "ServiceTestAttributeValueChangeEvent"


async def fetch(http: httpx.AsyncClient, auth: dict[str, str], test_id: str) -> dict[str, Any]:
    response = await http.get(f"{SERVICE_TESTS}/{test_id}", headers=auth)
    assert response.status_code == 200, response.text
    test: dict[str, Any] = response.json()
    return test


async def events_of(database: Database, test_id: str) -> list[OutboxEvent]:
    async with database.transaction() as session:
        statement = (
            select(OutboxEvent)
            .where(OutboxEvent.resource_id == test_id)
            .order_by(OutboxEvent.sequence_number)
        )
        return list((await session.execute(statement)).scalars())


async def used(http: httpx.AsyncClient, auth: dict[str, str], service_id: str) -> dict[str, int]:
    """How much of each quota counts against the line: {quota name: used}."""
    response = await http.get(LIMITS, params={"relatedService.id": service_id}, headers=auth)
    assert response.status_code == 200, response.text
    return {
        quota["name"]: quota["used"]
        for quota in response.json()
        if quota.get("relatedService") is None or quota["relatedService"]["id"] == service_id
    }


# -- the life of a test -----------------------------------------------------------------------


async def test_a_test_goes_from_acknowledged_through_in_progress_to_completed(
    http: httpx.AsyncClient,
    retail_a: dict[str, str],
    clean_database: Database,
    app_settings: Settings,
    clock: SettableClock,
) -> None:
    created = await order_test(http, retail_a, "SRV-A0")
    assert created["state"] == "acknowledged"
    test_runner = runner(clean_database, app_settings, clock)

    claimed = await test_runner.claim(10)

    assert [c.test_id for c in claimed] == [created["id"]]
    assert (await fetch(http, retail_a, created["id"]))["state"] == "inProgress"
    runs = [await test_runner.execute(c) for c in claimed]
    await test_runner.record(runs)

    result = await fetch(http, retail_a, created["id"])
    assert result["state"] == "completed"
    assert result["outcome"]["code"] == "NO_FAULT_FOUND"
    events = await events_of(clean_database, created["id"])
    assert [(e.sequence_number, e.event_type) for e in events] == [
        (1, CREATE),
        (2, CHANGE),
        (3, CHANGE),
    ]
    tests = [e.payload["event"]["serviceTest"] for e in events]
    assert [t["state"] for t in tests] == ["acknowledged", "inProgress", "completed"]
    assert all(e.operator_id == "op-a" for e in events)
    assert "testMeasure" not in tests[1] or tests[1]["testMeasure"] == []
    # The last event carries every result: exactly what GET shows.
    assert events[2].payload["fieldPath"] == "state,endDateTime,testMeasure,outcome,validFor"
    assert tests[2] == result
    spec = await http.get(f"{SPECIFICATIONS}/ontStatus", headers=retail_a)
    measured = [m["metricName"] for m in tests[2]["testMeasure"]]
    assert measured == [d["metricName"] for d in spec.json()["testMeasureDefinition"]]
    # Nothing is left to run.
    assert await test_runner.run_once() == 0


async def test_a_completed_test_is_not_refunded(
    http: httpx.AsyncClient,
    retail_a: dict[str, str],
    ops: dict[str, str],
    clean_database: Database,
    app_settings: Settings,
    clock: SettableClock,
) -> None:
    # A fault found is a result like any other: it uses up the quota.
    await set_condition(http, ops, "SRV-A1", "fibreCut")
    healthy = await order_test(http, retail_a, "SRV-A0")
    faulty = await order_test(http, retail_a, "SRV-A1")

    await run_all(clean_database, app_settings, clock)

    for created in (healthy, faulty):
        result = await fetch(http, retail_a, created["id"])
        assert result["state"] == "completed"
        assert "failureReason" not in result or result["failureReason"] is None
    assert await used(http, retail_a, "SRV-A0") == {"perOperatorPerDay": 2, "perServicePerHour": 1}
    assert (await used(http, retail_a, "SRV-A1"))["perServicePerHour"] == 1


# -- failures on the wholesale side -----------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "code"),
    [
        ("oltUnreachable", "OLT_UNREACHABLE"),
        ("ontUnknown", "ONT_UNKNOWN"),
        ("adapterTimeout", "ADAPTER_TIMEOUT"),
    ],
)
async def test_an_adapter_failure_fails_the_test_with_an_event_and_a_refund(
    http: httpx.AsyncClient,
    retail_a: dict[str, str],
    ops: dict[str, str],
    clean_database: Database,
    app_settings: Settings,
    clock: SettableClock,
    condition: str,
    code: str,
) -> None:
    await set_condition(http, ops, "SRV-A0", condition)
    created = await order_test(http, retail_a, "SRV-A0")
    assert await used(http, retail_a, "SRV-A0") == {"perOperatorPerDay": 1, "perServicePerHour": 1}

    ran = await run_all(clean_database, app_settings, clock)

    assert ran == 1
    result = await fetch(http, retail_a, created["id"])
    assert result["state"] == "failed"
    assert result["failureReason"]["code"] == code
    assert result["failureReason"]["quotaRefunded"] is True
    assert result["failureReason"]["message"]
    assert result.get("outcome") is None
    assert result.get("testMeasure", []) == []
    if condition == "adapterTimeout":
        assert "0.5 s" in result["failureReason"]["message"]
    events = await events_of(clean_database, created["id"])
    assert [(e.sequence_number, e.event_type) for e in events][-1] == (3, CHANGE)
    assert events[-1].payload["event"]["serviceTest"] == result
    assert await used(http, retail_a, "SRV-A0") == {"perOperatorPerDay": 0, "perServicePerHour": 0}


async def test_refunded_tests_can_be_ordered_again_beyond_the_hourly_limit(
    http: httpx.AsyncClient,
    retail_a: dict[str, str],
    ops: dict[str, str],
    clean_database: Database,
    app_settings: Settings,
    clock: SettableClock,
) -> None:
    limit = app_settings.test_quota_per_service_per_hour
    await set_condition(http, ops, "SRV-A0", "ontUnknown")
    for _ in range(limit):
        await order_test(http, retail_a, "SRV-A0")
    refused = await http.post(
        SERVICE_TESTS,
        json={
            "name": "ONT status check",
            "relatedService": {"id": "SRV-A0"},
            "testSpecification": {"id": "ontStatus"},
        },
        headers=retail_a,
    )
    assert refused.status_code == 429

    await run_all(clean_database, app_settings, clock)

    # Every failed test was given back, so the line can be tested again at once.
    again = await order_test(http, retail_a, "SRV-A0")
    assert again["state"] == "acknowledged"


# -- lost runners -----------------------------------------------------------------------------


async def test_a_runner_whose_lease_ran_out_is_replaced_and_its_late_result_ignored(
    http: httpx.AsyncClient,
    retail_a: dict[str, str],
    ops: dict[str, str],
    clean_database: Database,
    app_settings: Settings,
    clock: SettableClock,
) -> None:
    created = await order_test(http, retail_a, "SRV-A0")
    slow = runner(clean_database, app_settings, clock)
    [slow_claim] = await slow.claim(10)
    slow_run = await slow.execute(slow_claim)  # read while healthy, never recorded in time

    clock.advance(app_settings.test_lease + timedelta(seconds=1))
    await set_condition(http, ops, "SRV-A0", "fibreCut")
    rescuer = runner(clean_database, app_settings, clock)
    [taken_over] = await rescuer.claim(10)
    assert taken_over.test_id == created["id"]
    assert taken_over.lease_token != slow_claim.lease_token
    await slow.record([slow_run])  # too late: the test is no longer this runner's

    assert (await fetch(http, retail_a, created["id"]))["state"] == "inProgress"
    await rescuer.record([await rescuer.execute(taken_over)])
    await slow.record([slow_run])  # and still ignored once the test is finished

    result = await fetch(http, retail_a, created["id"])
    assert result["state"] == "completed"
    assert result["outcome"]["code"] == "FIBRE_LOS"
    events = await events_of(clean_database, created["id"])
    assert [e.payload["event"]["serviceTest"]["state"] for e in events] == [
        "acknowledged",
        "inProgress",
        "completed",
    ]
    assert await used(http, retail_a, "SRV-A0") == {"perOperatorPerDay": 1, "perServicePerHour": 1}


async def test_a_test_no_runner_finishes_fails_as_runner_lost_and_is_refunded(
    http: httpx.AsyncClient,
    retail_a: dict[str, str],
    clean_database: Database,
    app_settings: Settings,
    clock: SettableClock,
) -> None:
    created = await order_test(http, retail_a, "SRV-A0")
    for _ in range(MAX_ATTEMPTS):
        [claimed] = await runner(clean_database, app_settings, clock).claim(10)
        assert claimed.test_id == created["id"]
        assert (await fetch(http, retail_a, created["id"]))["state"] == "inProgress"
        clock.advance(app_settings.test_lease + timedelta(seconds=1))  # the runner died

    assert await runner(clean_database, app_settings, clock).claim(10) == []

    result = await fetch(http, retail_a, created["id"])
    assert result["state"] == "failed"
    assert result["failureReason"]["code"] == "RUNNER_LOST"
    assert result["failureReason"]["quotaRefunded"] is True
    events = await events_of(clean_database, created["id"])
    assert [e.payload["event"]["serviceTest"]["state"] for e in events] == [
        "acknowledged",
        "inProgress",
        "failed",
    ]
    assert await used(http, retail_a, "SRV-A0") == {"perOperatorPerDay": 0, "perServicePerHour": 0}
    clock.advance(app_settings.test_lease + timedelta(seconds=1))
    assert await run_all(clean_database, app_settings, clock) == 0


# -- concurrency ------------------------------------------------------------------------------


class CountingAdapter:
    """Wraps an adapter and counts how many of its calls are in flight at once."""

    def __init__(self, inner: NetworkAdapter) -> None:
        self.inner = inner
        self.name = inner.name
        self.in_flight = 0
        self.most_in_flight = 0
        self.calls = 0

    async def read_ont(self, line: Line) -> OntReading:
        self.calls += 1
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            return await self.inner.read_ont(line)
        finally:
            self.in_flight -= 1


async def test_many_tests_run_at_once_not_one_after_another(
    http: httpx.AsyncClient,
    retail_a: dict[str, str],
    ops: dict[str, str],
    clean_database: Database,
    app_settings: Settings,
    clock: SettableClock,
) -> None:
    raised = await http.patch(
        "/ops/v1/operator/op-a/serviceTestQuota", json={"perServicePerHour": 100}, headers=ops
    )
    assert raised.status_code == 200, raised.text
    ordered = [await order_test(http, retail_a, f"SRV-A{n % 3}") for n in range(50)]
    # Each read takes 0.2 s in the simulated network; the timeout leaves room for a busy host.
    slow = app_settings.with_overrides(
        simulator_latency_min=0.2, simulator_latency_max=0.2, adapter_timeout=10, test_lease=30
    )
    adapter = CountingAdapter(adapter_for(slow, clean_database, clock))
    test_runner = TestRunner(clean_database, slow, clock, adapter, "http://testserver")

    ran = await test_runner.run_once()

    assert ran == 50
    assert adapter.calls == 50
    assert adapter.most_in_flight == 50
    completed = await http.get(SERVICE_TESTS, params={"state": "completed"}, headers=retail_a)
    assert completed.headers["X-Total-Count"] == "50"
    assert {t["id"] for t in completed.json()} <= {t["id"] for t in ordered}
