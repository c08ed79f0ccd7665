"""Helpers for ordering and running service tests through the HTTP API in tests."""

from typing import Any

import httpx

from fiberassure.wholesale.clock import Clock
from fiberassure.wholesale.db import Database
from fiberassure.wholesale.diagnostics.runner import TestRunner
from fiberassure.wholesale.network.adapters import adapter_for
from fiberassure.wholesale.settings import Settings

SERVICE_TESTS = "/tmf-api/serviceTestManagement/v4/serviceTest"
LIMITS = f"{SERVICE_TESTS}/limits"
SPECIFICATIONS = "/tmf-api/serviceTestManagement/v4/serviceTestSpecification"
SIMULATOR = "/ops/v1/simulator/line"


def service_test_body(service_id: str, spec: str = "ontStatus", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "ONT status check",
        "relatedService": {"id": service_id},
        "testSpecification": {"id": spec},
    }
    body.update(overrides)
    return body


async def order_test(
    http: httpx.AsyncClient, auth: dict[str, str], service_id: str, **overrides: Any
) -> dict[str, Any]:
    response = await http.post(
        SERVICE_TESTS, json=service_test_body(service_id, **overrides), headers=auth
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def set_condition(
    http: httpx.AsyncClient, ops: dict[str, str], service_id: str, condition: str
) -> dict[str, Any]:
    response = await http.put(
        f"{SIMULATOR}/{service_id}", json={"condition": condition}, headers=ops
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def runner(database: Database, settings: Settings, clock: Clock) -> TestRunner:
    return TestRunner(
        database, settings, clock, adapter_for(settings, database, clock), "http://testserver"
    )


async def run_all(database: Database, settings: Settings, clock: Clock) -> int:
    """Run every queued test to its end; returns how many ran."""
    test_runner = runner(database, settings, clock)
    total = 0
    while ran := await test_runner.run_once():
        total += ran
    return total
