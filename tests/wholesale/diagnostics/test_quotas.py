"""Service-test quotas (DESIGN §5): per operator per UTC day and per line per clock hour,
atomic under concurrent orders, readable at `/serviceTest/limits`, configurable per operator
through the ops API, and refunded when a test fails on the wholesale side."""

import asyncio
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
import uvicorn
from hypothesis import HealthCheck, event, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from fiberassure.wholesale.app import create_app
from fiberassure.wholesale.clock import SettableClock
from fiberassure.wholesale.db import Base, Database
from fiberassure.wholesale.diagnostics.models import QuotaUsage, ServiceTest
from fiberassure.wholesale.events.models import OutboxEvent
from fiberassure.wholesale.inventory.schemas import ServiceRecord
from fiberassure.wholesale.inventory.service import add_service
from fiberassure.wholesale.settings import Settings
from tests.conftest import BASE_URL, START, World, bearer
from tests.listener import free_port
from tests.service_tests import LIMITS, SERVICE_TESTS, run_all, service_test_body, set_condition

Auth = dict[str, str]
QUOTA = "/ops/v1/operator/{}/serviceTestQuota"
# START is 09:00 UTC: the hour ends in 3600 s, the day in 15 h.
HOUR_LEFT = 3600
DAY_LEFT = 15 * 3600


@pytest.fixture
def app_settings(settings: Settings) -> Settings:
    return settings.with_overrides(
        token_ttl="P30D",
        simulator_latency_min=0,
        simulator_latency_max=0,
        adapter_timeout=0.5,
        test_lease=5,
        test_quota_per_day=1000,
        test_quota_per_service_per_hour=10,
    )


async def order(http: httpx.AsyncClient, auth: Auth, service_id: str) -> httpx.Response:
    return await http.post(SERVICE_TESTS, json=service_test_body(service_id), headers=auth)


async def set_quota(http: httpx.AsyncClient, ops: Auth, operator_id: str, **limits: Any) -> Any:
    response = await http.patch(QUOTA.format(operator_id), json=limits, headers=ops)
    assert response.status_code == 200, response.text
    return response.json()


async def limits(
    http: httpx.AsyncClient, auth: Auth, service_id: str | None = None
) -> dict[str | None, dict[str, Any]]:
    """`/serviceTest/limits` by line (None: the operator's daily quota)."""
    params = {"relatedService.id": service_id} if service_id else {}
    response = await http.get(LIMITS, params=params, headers=auth)
    assert response.status_code == 200, response.text
    return {q.get("relatedService", {}).get("id"): q for q in response.json()}


async def rows(database: Database, model: type[Base]) -> int:
    async with database.transaction() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


async def usage(database: Database) -> dict[tuple[str, str, datetime], int]:
    async with database.transaction() as session:
        found = (await session.execute(select(QuotaUsage))).scalars()
        return {(u.operator_id, u.quota, u.window_start): u.used for u in found}


def assert_quota_refusal(response: httpx.Response, quota: str, limit: int, retry: int) -> None:
    assert response.status_code == 429, response.text
    error = response.json()
    assert error["code"] == "QUOTA_EXCEEDED"
    assert error["@type"] == "Error"
    assert error["status"] == "429"
    assert error["details"]["quota"] == quota
    assert error["details"]["limit"] == limit
    assert response.headers["Retry-After"] == str(retry)
    assert response.headers["X-RateLimit-Limit"] == str(limit)
    assert response.headers["X-RateLimit-Remaining"] == "0"
    assert response.headers["X-RateLimit-Reset"] == str(retry)


async def add_lines(database: Database, operator_id: str, count: int, now: datetime) -> list[str]:
    lines = []
    async with database.transaction() as session:
        for n in range(count):
            service_id = f"SRV-X{n:02d}"
            record = ServiceRecord(
                service_id=service_id,
                operator_id=operator_id,
                ont_serial_number=f"ALCLFF{n:06X}",
                olt_name="OLT-TEST-02",
                pon_port=f"1/1/2/{n % 16 + 1}",
            )
            await add_service(session, record, now)
            lines.append(service_id)
    return lines


# -- atomic under concurrency -------------------------------------------------------------


async def test_hundred_concurrent_orders_for_one_line_accept_exactly_ten(
    http: httpx.AsyncClient, retail_a: Auth, world: World, clean_database: Database
) -> None:
    line = world.a.services[0]

    responses = await asyncio.gather(*(order(http, retail_a, line) for _ in range(100)))

    statuses = Counter(r.status_code for r in responses)
    assert statuses == {201: 10, 429: 90}, [r.text for r in responses if r.status_code >= 500]
    for refused in (r for r in responses if r.status_code == 429):
        assert_quota_refusal(refused, "perServicePerHour", 10, HOUR_LEFT)
    accepted = sorted(int(r.headers["X-RateLimit-Remaining"]) for r in responses if r.is_success)
    assert accepted == list(range(10))  # each accepted order saw its own count
    assert await rows(clean_database, ServiceTest) == 10
    assert await rows(clean_database, OutboxEvent) == 10  # a refused order announces nothing
    assert await usage(clean_database) == {
        ("op-a", "perOperatorPerDay", START.replace(hour=0)): 10,
        ("op-a", f"perServicePerHour:{line}", START): 10,
    }
    quotas = await limits(http, retail_a)
    assert (quotas[None]["used"], quotas[line]["used"], quotas[line]["remaining"]) == (10, 10, 0)


async def test_hundred_concurrent_orders_across_lines_stop_at_the_daily_limit(
    http: httpx.AsyncClient,
    retail_a: Auth,
    ops: Auth,
    world: World,
    clean_database: Database,
    clock: SettableClock,
) -> None:
    lines = await add_lines(clean_database, world.a.operator_id, 20, clock.now())
    await set_quota(http, ops, world.a.operator_id, perOperatorPerDay=10)

    responses = await asyncio.gather(
        *(order(http, retail_a, lines[n % len(lines)]) for n in range(100))
    )

    statuses = Counter(r.status_code for r in responses)
    assert statuses == {201: 10, 429: 90}, [r.text for r in responses if r.status_code >= 500]
    for refused in (r for r in responses if r.status_code == 429):
        assert_quota_refusal(refused, "perOperatorPerDay", 10, DAY_LEFT)
    assert await rows(clean_database, ServiceTest) == 10
    counted = await usage(clean_database)
    assert counted[("op-a", "perOperatorPerDay", START.replace(hour=0))] == 10
    # A refused order left nothing behind in its line's hourly counter either.
    hourly = {
        quota: used for (_, quota, _), used in counted.items() if quota != "perOperatorPerDay"
    }
    accepted_lines = Counter(r.json()["relatedService"]["id"] for r in responses if r.is_success)
    assert hourly == {f"perServicePerHour:{line}": n for line, n in accepted_lines.items()}
    quotas = await limits(http, retail_a)
    assert quotas[None] | {"used": 10, "remaining": 0} == quotas[None]
    # Operator B's day is untouched.
    retail_b = await bearer(http, world.b.client_id, world.b.client_secret)
    assert (await order(http, retail_b, world.b.services[0])).status_code == 201


@pytest.fixture
async def second_process(
    world: World, database_url: str, app_settings: Settings, clock: SettableClock
) -> AsyncIterator[httpx.AsyncClient]:
    """Another wholesale app on the same database with its own connection pool, as a second
    server process would be. A small pool: the PostgreSQL server is shared with other test
    sessions."""
    database = Database(database_url, pool_size=5)
    app = create_app(app_settings, database=database, clock=clock)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL) as c:
        yield c
    await database.dispose()


async def test_two_servers_on_one_database_still_accept_exactly_ten(
    http: httpx.AsyncClient,
    second_process: httpx.AsyncClient,
    retail_a: Auth,
    world: World,
    clean_database: Database,
) -> None:
    line = world.a.services[1]

    responses = await asyncio.gather(
        *(order(client, retail_a, line) for _ in range(50) for client in (http, second_process))
    )

    assert Counter(r.status_code for r in responses) == {201: 10, 429: 90}
    assert await rows(clean_database, ServiceTest) == 10
    quotas = await limits(http, retail_a)
    assert (quotas[None]["used"], quotas[line]["used"]) == (10, 10)


@pytest.fixture
def real_server(world: World, app_settings: Settings, clock: SettableClock) -> Iterator[str]:
    """The app served by uvicorn on 127.0.0.1 with its own database pool: the orders arrive
    over real HTTP connections."""
    app = create_app(app_settings.with_overrides(database_pool_size=5), clock=clock)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


async def test_hundred_concurrent_orders_over_real_http_accept_exactly_ten(
    real_server: str, http: httpx.AsyncClient, retail_a: Auth, world: World
) -> None:
    line = world.a.services[2]
    pool = httpx.Limits(max_connections=100)
    async with httpx.AsyncClient(base_url=real_server, limits=pool, timeout=60) as client:
        responses = await asyncio.gather(*(order(client, retail_a, line) for _ in range(100)))

    assert Counter(r.status_code for r in responses) == {201: 10, 429: 90}
    assert sorted(r.headers["X-RateLimit-Remaining"] for r in responses if r.is_success) == [
        str(n) for n in range(10)
    ]
    quotas = await limits(http, retail_a)
    assert (quotas[None]["used"], quotas[line]["used"]) == (10, 10)


# -- what /serviceTest/limits says --------------------------------------------------------


async def test_limits_match_what_happened(
    http: httpx.AsyncClient, retail_a: Auth, world: World, clock: SettableClock
) -> None:
    a0, a1, untested = world.a.services
    for _ in range(3):
        assert (await order(http, retail_a, a0)).status_code == 201
    clock.advance(timedelta(minutes=20, seconds=30))  # 09:20:30
    assert (await order(http, retail_a, a1)).status_code == 201

    response = await http.get(LIMITS, params={"relatedService.id": untested}, headers=retail_a)

    assert response.status_code == 200, response.text
    day, *hours = response.json()
    assert day == {
        "name": "perOperatorPerDay",
        "description": day["description"],
        "limit": 1000,
        "used": 4,
        "remaining": 996,
        "window": "P1D",
        "windowStart": "2026-11-28T00:00:00Z",
        "resetTime": "2026-11-29T00:00:00Z",
        "@type": "ServiceTestQuota",
    }
    assert [
        (q["relatedService"]["id"], q["limit"], q["used"], q["remaining"], q["window"])
        for q in hours
    ] == [(a0, 10, 3, 7, "PT1H"), (a1, 10, 1, 9, "PT1H"), (untested, 10, 0, 10, "PT1H")]
    for quota in hours:
        assert quota["name"] == "perServicePerHour"
        assert (quota["windowStart"], quota["resetTime"]) == (
            "2026-11-28T09:00:00Z",
            "2026-11-28T10:00:00Z",
        )
    # Without relatedService.id only the lines tested this hour are listed.
    assert list(await limits(http, retail_a)) == [None, a0, a1]


async def test_limits_of_another_operators_line_are_not_found(
    http: httpx.AsyncClient, retail_a: Auth, world: World
) -> None:
    foreign = await http.get(
        LIMITS, params={"relatedService.id": world.b.services[0]}, headers=retail_a
    )
    unknown = await http.get(LIMITS, params={"relatedService.id": "SRV-NOPE"}, headers=retail_a)

    assert foreign.status_code == unknown.status_code == 404
    assert foreign.json()["code"] == unknown.json()["code"] == "NOT_FOUND"


async def test_limits_refuse_an_unknown_parameter(http: httpx.AsyncClient, retail_a: Auth) -> None:
    response = await http.get(LIMITS, params={"service": "SRV-A0"}, headers=retail_a)

    assert response.status_code == 400
    assert response.json()["code"] == "INVALID_QUERY"


# -- windows ------------------------------------------------------------------------------


async def test_hourly_quota_is_fresh_after_the_top_of_the_hour(
    http: httpx.AsyncClient, retail_a: Auth, world: World, clock: SettableClock
) -> None:
    line = world.a.services[0]
    clock.set(START + timedelta(minutes=50))
    for _ in range(10):
        assert (await order(http, retail_a, line)).status_code == 201
    clock.set(START + timedelta(minutes=59, seconds=59))
    last_second = await order(http, retail_a, line)
    assert_quota_refusal(last_second, "perServicePerHour", 10, 1)

    clock.set(START + timedelta(hours=1))
    fresh = await order(http, retail_a, line)

    assert fresh.status_code == 201, fresh.text
    assert fresh.headers["X-RateLimit-Remaining"] == "9"
    assert fresh.headers["X-RateLimit-Reset"] == "3600"
    quotas = await limits(http, retail_a)
    assert quotas[line]["used"] == 1
    assert quotas[line]["windowStart"] == "2026-11-28T10:00:00Z"
    assert quotas[None]["used"] == 11  # the day keeps counting


async def test_daily_quota_is_fresh_after_utc_midnight(
    http: httpx.AsyncClient, retail_a: Auth, ops: Auth, world: World, clock: SettableClock
) -> None:
    await set_quota(http, ops, world.a.operator_id, perOperatorPerDay=3)
    for line in world.a.services:
        assert (await order(http, retail_a, line)).status_code == 201
    clock.set(datetime.fromisoformat("2026-11-28T23:59:30+00:00"))
    late = await order(http, retail_a, world.a.services[0])
    assert_quota_refusal(late, "perOperatorPerDay", 3, 30)

    clock.set(datetime.fromisoformat("2026-11-29T00:00:00+00:00"))
    fresh = await order(http, retail_a, world.a.services[0])

    assert fresh.status_code == 201, fresh.text
    quotas = await limits(http, retail_a)
    assert (quotas[None]["used"], quotas[None]["remaining"]) == (1, 2)
    assert quotas[None]["windowStart"] == "2026-11-29T00:00:00Z"
    assert quotas[None]["resetTime"] == "2026-11-30T00:00:00Z"


# -- per-operator limits through the ops API ----------------------------------------------


async def test_ops_override_applies_only_to_that_operator(
    http: httpx.AsyncClient, retail_a: Auth, retail_b: Auth, ops: Auth, world: World
) -> None:
    before = await http.get(QUOTA.format(world.a.operator_id), headers=ops)
    assert before.json() == {"perOperatorPerDay": 1000, "perServicePerHour": 10}

    changed = await set_quota(http, ops, world.a.operator_id, perServicePerHour=2)

    assert changed == {"perOperatorPerDay": 1000, "perServicePerHour": 2}
    a_line, b_line = world.a.services[0], world.b.services[0]
    assert [(await order(http, retail_a, a_line)).status_code for _ in range(3)] == [201, 201, 429]
    assert [(await order(http, retail_b, b_line)).status_code for _ in range(3)] == [201] * 3
    assert (await limits(http, retail_a))[a_line]["limit"] == 2
    assert (await limits(http, retail_b))[b_line]["limit"] == 10
    other = await http.get(QUOTA.format(world.b.operator_id), headers=ops)
    assert other.json() == {"perOperatorPerDay": 1000, "perServicePerHour": 10}


async def test_ops_override_set_to_null_returns_to_the_default(
    http: httpx.AsyncClient, retail_a: Auth, ops: Auth, world: World
) -> None:
    line = world.a.services[0]
    await set_quota(http, ops, world.a.operator_id, perOperatorPerDay=50, perServicePerHour=1)
    assert [(await order(http, retail_a, line)).status_code for _ in range(2)] == [201, 429]

    # Leaving an attribute out keeps it; null gives it back to the deployment's default.
    kept = await set_quota(http, ops, world.a.operator_id, perOperatorPerDay=None)
    assert kept == {"perOperatorPerDay": 1000, "perServicePerHour": 1}
    reset = await set_quota(http, ops, world.a.operator_id, perServicePerHour=None)

    assert reset == {"perOperatorPerDay": 1000, "perServicePerHour": 10}
    assert (await order(http, retail_a, line)).status_code == 201
    assert (await limits(http, retail_a))[line] | {"limit": 10, "used": 2} == (
        await limits(http, retail_a)
    )[line]


async def test_zero_limit_refuses_every_order(
    http: httpx.AsyncClient, retail_a: Auth, ops: Auth, world: World, clean_database: Database
) -> None:
    await set_quota(http, ops, world.a.operator_id, perOperatorPerDay=0)

    response = await order(http, retail_a, world.a.services[0])

    assert_quota_refusal(response, "perOperatorPerDay", 0, DAY_LEFT)
    assert await rows(clean_database, ServiceTest) == 0


@pytest.mark.parametrize(
    ("operator", "body", "status"),
    [
        ("op-nope", {"perOperatorPerDay": 5}, 404),
        ("op-a", {"perOperatorPerDay": -1}, 400),
        ("op-a", {"perOperatorPerDay": "ten"}, 400),
        ("op-a", {"perMinute": 5}, 400),
    ],
    ids=["unknown-operator", "negative", "string", "unknown-quota"],
)
async def test_bad_quota_change_is_refused(
    http: httpx.AsyncClient, ops: Auth, world: World, operator: str, body: Any, status: int
) -> None:
    response = await http.patch(QUOTA.format(operator), json=body, headers=ops)

    assert response.status_code == status, response.text
    assert (await http.get(QUOTA.format("op-a"), headers=ops)).json() == {
        "perOperatorPerDay": 1000,
        "perServicePerHour": 10,
    }


# -- refunds ------------------------------------------------------------------------------


async def test_a_test_failed_on_the_wholesale_side_is_refunded(
    http: httpx.AsyncClient,
    retail_a: Auth,
    ops: Auth,
    world: World,
    clean_database: Database,
    app_settings: Settings,
    clock: SettableClock,
) -> None:
    line = world.a.services[1]
    await set_quota(http, ops, world.a.operator_id, perServicePerHour=2)
    await set_condition(http, ops, line, "ontUnknown")
    assert [(await order(http, retail_a, line)).status_code for _ in range(3)] == [201, 201, 429]

    assert await run_all(clean_database, app_settings, clock) == 2

    quotas = await limits(http, retail_a)
    assert (quotas[None]["used"], quotas[line]["used"]) == (0, 0)
    tests = (await http.get(SERVICE_TESTS, headers=retail_a)).json()
    assert [(t["state"], t["failureReason"]["quotaRefunded"]) for t in tests] == [
        ("failed", True)
    ] * 2
    assert (await order(http, retail_a, line)).status_code == 201


# -- the invariant, for random histories --------------------------------------------------

LINE_COUNT = 3  # A0 and A1 are healthy; A2 fails (ONT unknown) and is refunded
DAY_LIMIT, HOUR_LIMIT = 5, 2
MINUTES = (1, 13, 40, 61, 400)
Step = tuple[str, int]
# Mostly orders, so that windows fill up; `value` picks the line or how far the clock moves.
STEPS = st.lists(
    st.tuples(st.sampled_from(["order"] * 4 + ["advance", "run"]), st.integers(0, 4)),
    min_size=1,
    max_size=30,
)
# Fill a line's hour, have the failing line refunded, fill the day, then a new hour.
REFUND_THEN_REFILL: list[Step] = [
    *[("order", 0)] * 3,
    *[("order", 2)] * 3,
    ("run", 0),
    *[("order", 2)] * 3,
    *[("order", 1)] * 3,
    ("advance", 3),
    *[("order", 1)] * 2,
]


def hour_of(when: datetime) -> datetime:
    return when.replace(minute=0, second=0, microsecond=0)


def day_of(when: datetime) -> datetime:
    return when.replace(hour=0, minute=0, second=0, microsecond=0)


@hypothesis_settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=STEPS)
@example(steps=REFUND_THEN_REFILL)
async def test_quota_invariant_holds_for_random_histories(
    http: httpx.AsyncClient,
    ops: Auth,
    world: World,
    clean_database: Database,
    app_settings: Settings,
    clock: SettableClock,
    steps: list[Step],
) -> None:
    """Each order is accepted exactly when a model of the two windows says there is room;
    the counters always equal accepted - refunded and never exceed the limit."""
    # Every example starts on a day of its own, so earlier examples cannot fill its windows.
    await run_all(clean_database, app_settings, clock)
    clock.set(day_of(clock.now()) + timedelta(days=1, hours=9))
    auth = await bearer(http, world.a.client_id, world.a.client_secret)
    await set_quota(
        http, ops, world.a.operator_id, perOperatorPerDay=DAY_LIMIT, perServicePerHour=HOUR_LIMIT
    )
    lines = world.a.services[:LINE_COUNT]
    await set_condition(http, ops, lines[2], "ontUnknown")
    used: Counter[tuple[str, datetime]] = Counter()  # the model: window → accepted - refunded
    pending: list[tuple[str, datetime, datetime]] = []  # unrun tests of the failing line
    accepted: set[str] = set()

    for action, value in steps:
        if action == "advance":
            clock.advance(timedelta(minutes=MINUTES[value]))
        elif action == "run":
            await run_all(clean_database, app_settings, clock)
            if pending:
                event("tests refunded")
            for line, day, hour in pending:
                used[("day", day)] -= 1
                used[(line, hour)] -= 1
            pending.clear()
        else:
            line, now = lines[value % LINE_COUNT], clock.now()
            day_key, hour_key = ("day", day_of(now)), (line, hour_of(now))
            room = used[day_key] < DAY_LIMIT and used[hour_key] < HOUR_LIMIT
            response = await order(http, auth, line)
            assert response.status_code == (201 if room else 429), response.text
            event("order accepted" if room else "order refused")
            if room:
                accepted.add(response.json()["id"])
                used[day_key] += 1
                used[hour_key] += 1
                if line == lines[2]:
                    pending.append((line, day_of(now), hour_of(now)))
        counters = await usage(clean_database)
        for (scope, start), expected in used.items():
            quota = "perOperatorPerDay" if scope == "day" else f"perServicePerHour:{scope}"
            limit = DAY_LIMIT if scope == "day" else HOUR_LIMIT
            assert counters.get(("op-a", quota, start), 0) == expected, (scope, start)
            assert 0 <= expected <= limit

    # The same, counted from the tests themselves: used == accepted - refunded per window.
    async with clean_database.transaction() as session:
        tests = [
            t for t in (await session.execute(select(ServiceTest))).scalars() if t.id in accepted
        ]
    from_tests: Counter[tuple[str, datetime]] = Counter()
    for test in tests:
        if not test.quota_refunded:
            from_tests[("day", test.quota_day_start)] += 1
            from_tests[(test.service_id, test.quota_hour_start)] += 1
    assert +from_tests == +used
