"""A retail operator sees and tests only its own lines: another operator's test is 404 (never
403), its lines cannot be tested, and its usage is not shown. Only ops clients use the ops
API (simulator, per-operator quotas) and only retail clients the TMF653 API."""

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from fiberassure.wholesale.db import Database
from fiberassure.wholesale.diagnostics.models import QuotaUsage, ServiceTest
from tests.conftest import World
from tests.service_tests import (
    LIMITS,
    SERVICE_TESTS,
    SIMULATOR,
    SPECIFICATIONS,
    order_test,
    service_test_body,
)

Auth = dict[str, str]
QUOTA = "/ops/v1/operator/{}/serviceTestQuota"


async def count(database: Database, model: type[ServiceTest] | type[QuotaUsage]) -> int:
    async with database.transaction() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


@pytest.fixture
async def a_test(http: httpx.AsyncClient, retail_a: Auth, world: World) -> dict[str, Any]:
    """Operator A's test of its first line, with a description only A should ever see."""
    return await order_test(
        http, retail_a, world.a.services[0], description="Subscriber Kowalski, flat 12"
    )


async def test_another_operators_test_is_not_found(
    http: httpx.AsyncClient, retail_b: Auth, a_test: dict[str, Any]
) -> None:
    foreign = await http.get(f"{SERVICE_TESTS}/{a_test['id']}", headers=retail_b)
    unknown = await http.get(f"{SERVICE_TESTS}/no-such-test", headers=retail_b)

    assert foreign.status_code == unknown.status_code == 404
    assert foreign.json()["code"] == unknown.json()["code"] == "NOT_FOUND"
    assert foreign.json()["reason"] == unknown.json()["reason"]
    assert "Kowalski" not in foreign.text
    assert a_test["relatedService"]["id"] not in foreign.text


async def test_another_operators_tests_are_not_listed(
    http: httpx.AsyncClient,
    retail_a: Auth,
    retail_b: Auth,
    world: World,
    a_test: dict[str, Any],
) -> None:
    b_test = await order_test(http, retail_b, world.b.services[0])

    b_sees = await http.get(SERVICE_TESTS, headers=retail_b)
    b_filters_a_line = await http.get(
        SERVICE_TESTS, params={"relatedService.id": world.a.services[0]}, headers=retail_b
    )
    a_sees = await http.get(SERVICE_TESTS, headers=retail_a)

    assert [t["id"] for t in b_sees.json()] == [b_test["id"]]
    assert b_sees.headers["X-Total-Count"] == "1"
    assert b_filters_a_line.json() == []
    assert b_filters_a_line.headers["X-Total-Count"] == "0"
    assert [t["id"] for t in a_sees.json()] == [a_test["id"]]


async def test_another_operators_usage_is_not_in_limits(
    http: httpx.AsyncClient,
    retail_a: Auth,
    retail_b: Auth,
    world: World,
    a_test: dict[str, Any],
) -> None:
    await order_test(http, retail_a, world.a.services[1])

    b_limits = await http.get(LIMITS, headers=retail_b)
    b_asks_for_a_line = await http.get(
        LIMITS, params={"relatedService.id": world.a.services[0]}, headers=retail_b
    )

    assert b_limits.status_code == 200, b_limits.text
    assert b_limits.json()[0]["used"] == 0  # A's two tests count in A's day only
    assert [q["name"] for q in b_limits.json()] == ["perOperatorPerDay"]
    assert world.a.services[0] not in b_limits.text
    assert b_asks_for_a_line.status_code == 404
    a_limits = (await http.get(LIMITS, headers=retail_a)).json()
    assert [q["used"] for q in a_limits] == [2, 1, 1]


async def test_a_test_of_another_operators_line_is_refused_and_counts_nothing(
    http: httpx.AsyncClient, retail_b: Auth, world: World, clean_database: Database
) -> None:
    foreign = await http.post(
        SERVICE_TESTS, json=service_test_body(world.a.services[0]), headers=retail_b
    )
    unknown = await http.post(SERVICE_TESTS, json=service_test_body("SRV-NOPE"), headers=retail_b)

    assert foreign.status_code == unknown.status_code == 400
    assert foreign.json()["code"] == "INVALID_REQUEST"
    assert foreign.json()["details"] == unknown.json()["details"] == {"field": "relatedService"}
    # The refusal reads the same as for a line that does not exist.
    assert foreign.json()["message"].replace(world.a.services[0], "X") == unknown.json()[
        "message"
    ].replace("SRV-NOPE", "X")
    assert await count(clean_database, ServiceTest) == 0
    assert await count(clean_database, QuotaUsage) == 0


RETAIL_ENDPOINTS = [
    ("POST", SERVICE_TESTS),
    ("GET", SERVICE_TESTS),
    ("GET", f"{SERVICE_TESTS}/{{test}}"),
    ("GET", LIMITS),
    ("GET", SPECIFICATIONS),
    ("GET", f"{SPECIFICATIONS}/ontStatus"),
]


@pytest.mark.parametrize(("method", "path"), RETAIL_ENDPOINTS)
async def test_ops_token_cannot_use_the_retail_api(
    http: httpx.AsyncClient,
    ops: Auth,
    world: World,
    a_test: dict[str, Any],
    clean_database: Database,
    method: str,
    path: str,
) -> None:
    body = service_test_body(world.a.services[0]) if method == "POST" else None

    response = await http.request(method, path.format(test=a_test["id"]), json=body, headers=ops)

    assert response.status_code == 403, response.text
    assert response.json()["code"] == "FORBIDDEN"
    assert "Kowalski" not in response.text
    assert await count(clean_database, ServiceTest) == 1


@pytest.mark.parametrize(("method", "path"), RETAIL_ENDPOINTS)
async def test_retail_api_needs_a_token(
    http: httpx.AsyncClient, world: World, method: str, path: str
) -> None:
    body = service_test_body(world.a.services[0]) if method == "POST" else None

    response = await http.request(method, path.format(test="any"), json=body)

    assert response.status_code == 401, response.text
    assert response.json()["code"] == "UNAUTHORIZED"


OPS_ENDPOINTS = [
    ("GET", f"{SIMULATOR}/{{line}}", None),
    ("PUT", f"{SIMULATOR}/{{line}}", {"condition": "fibreCut"}),
    ("DELETE", f"{SIMULATOR}/{{line}}", None),
    ("GET", QUOTA.format("{operator}"), None),
    ("PATCH", QUOTA.format("{operator}"), {"perServicePerHour": 1000}),
]


@pytest.mark.parametrize(("method", "path", "body"), OPS_ENDPOINTS)
async def test_retail_token_cannot_use_the_ops_api(
    http: httpx.AsyncClient,
    retail_a: Auth,
    ops: Auth,
    world: World,
    method: str,
    path: str,
    body: dict[str, Any] | None,
) -> None:
    url = path.format(line=world.a.services[0], operator=world.a.operator_id)

    response = await http.request(method, url, json=body, headers=retail_a)

    assert response.status_code == 403, response.text
    assert response.json()["code"] == "FORBIDDEN"
    # Nothing changed: the line is still healthy and the quota still the default.
    line = await http.get(f"{SIMULATOR}/{world.a.services[0]}", headers=ops)
    assert line.json()["condition"] == "healthy"
    quota = await http.get(QUOTA.format(world.a.operator_id), headers=ops)
    assert quota.json() == {"perOperatorPerDay": 1000, "perServicePerHour": 10}
