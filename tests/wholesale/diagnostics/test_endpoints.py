"""The TMF653 API as a retail operator's developer meets it: ordering a test, reading it back,
searching the history, and the specifications that say what a test measures."""

from datetime import timedelta
from typing import Any

import httpx
import pytest

from fiberassure.wholesale.clock import SettableClock
from fiberassure.wholesale.db import Database
from fiberassure.wholesale.settings import Settings
from tests.conftest import BASE_URL, START, World
from tests.service_tests import (
    LIMITS,
    SERVICE_TESTS,
    SPECIFICATIONS,
    order_test,
    run_all,
    service_test_body,
)

Auth = dict[str, str]


def ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [test["id"] for test in response.json()]


async def test_order_is_acknowledged_with_its_location_and_the_rate_limit(
    http: httpx.AsyncClient, retail_a: Auth, world: World
) -> None:
    response = await http.post(
        SERVICE_TESTS, json=service_test_body(world.a.services[0]), headers=retail_a
    )

    assert response.status_code == 201, response.text
    test = response.json()
    assert test["state"] == "acknowledged"
    assert test["href"] == f"{BASE_URL}{SERVICE_TESTS}/{test['id']}"
    assert response.headers["Location"] == test["href"]
    assert test["relatedService"]["id"] == world.a.services[0]
    assert test["testSpecification"]["id"] == "ontStatus"
    assert test["startDateTime"].startswith("2026-11-28T09:00:00")
    assert test.get("testMeasure", []) == []
    assert "outcome" not in test
    # The tightest quota is the line's hour (10 by default), reset at 10:00 = in 3600 s.
    assert response.headers["X-RateLimit-Limit"] == "10"
    assert response.headers["X-RateLimit-Remaining"] == "9"
    assert response.headers["X-RateLimit-Reset"] == "3600"


async def test_rate_limit_headers_count_down_with_each_order(
    http: httpx.AsyncClient, retail_a: Auth, world: World, clock: SettableClock
) -> None:
    remaining = []
    for _ in range(3):
        clock.advance(timedelta(minutes=10))
        response = await http.post(
            SERVICE_TESTS, json=service_test_body(world.a.services[0]), headers=retail_a
        )
        assert response.status_code == 201, response.text
        remaining.append(
            (response.headers["X-RateLimit-Remaining"], response.headers["X-RateLimit-Reset"])
        )

    assert remaining == [("9", "3000"), ("8", "2400"), ("7", "1800")]


async def test_an_ordered_test_reads_back_by_id(
    http: httpx.AsyncClient, retail_a: Auth, world: World
) -> None:
    created = await order_test(
        http, retail_a, world.a.services[1], spec="opticalLevels", description="Slow at night"
    )

    response = await http.get(f"{SERVICE_TESTS}/{created['id']}", headers=retail_a)

    assert response.status_code == 200, response.text
    assert response.json() == created
    assert response.json()["description"] == "Slow at night"
    assert response.json()["testSpecification"]["id"] == "opticalLevels"


async def test_fields_returns_only_the_chosen_attributes(
    http: httpx.AsyncClient, retail_a: Auth, world: World
) -> None:
    created = await order_test(http, retail_a, world.a.services[0])

    one = await http.get(
        f"{SERVICE_TESTS}/{created['id']}", params={"fields": "state"}, headers=retail_a
    )
    listed = await http.get(
        SERVICE_TESTS, params={"fields": "state,relatedService"}, headers=retail_a
    )

    assert one.status_code == 200, one.text
    assert set(one.json()) == {"id", "href", "@type", "state"}
    assert listed.status_code == 200, listed.text
    assert [set(t) for t in listed.json()] == [{"id", "href", "@type", "state", "relatedService"}]
    bogus = await http.get(SERVICE_TESTS, params={"fields": "colour"}, headers=retail_a)
    assert bogus.status_code == 400
    assert bogus.json()["code"] == "INVALID_QUERY"


@pytest.fixture
async def history(
    http: httpx.AsyncClient, retail_a: Auth, world: World, clock: SettableClock
) -> list[dict[str, Any]]:
    """Five tests of operator A ten minutes apart, oldest first: A0, A1, A0 (opticalLevels),
    A2, A0."""
    orders = [
        (world.a.services[0], "ontStatus"),
        (world.a.services[1], "ontStatus"),
        (world.a.services[0], "opticalLevels"),
        (world.a.services[2], "ontStatus"),
        (world.a.services[0], "ontStatus"),
    ]
    created = []
    for service_id, spec in orders:
        created.append(await order_test(http, retail_a, service_id, spec=spec))
        clock.advance(timedelta(minutes=10))
    return created


async def test_history_is_newest_first_with_counts(
    http: httpx.AsyncClient, retail_a: Auth, history: list[dict[str, Any]]
) -> None:
    response = await http.get(SERVICE_TESTS, headers=retail_a)

    assert ids(response) == [t["id"] for t in reversed(history)]
    assert response.headers["X-Total-Count"] == "5"
    assert response.headers["X-Result-Count"] == "5"
    oldest_first = await http.get(SERVICE_TESTS, params={"sort": "startDateTime"}, headers=retail_a)
    assert ids(oldest_first) == [t["id"] for t in history]


async def test_history_pages_with_offset_and_limit(
    http: httpx.AsyncClient, retail_a: Auth, history: list[dict[str, Any]]
) -> None:
    newest_first = [t["id"] for t in reversed(history)]
    pages = []
    for offset in (0, 2, 4):
        response = await http.get(
            SERVICE_TESTS, params={"offset": offset, "limit": 2}, headers=retail_a
        )
        assert response.headers["X-Total-Count"] == "5"
        assert response.headers["X-Result-Count"] == str(len(response.json()))
        pages.append(ids(response))

    assert pages == [newest_first[0:2], newest_first[2:4], newest_first[4:]]
    past_the_end = await http.get(SERVICE_TESTS, params={"offset": 9}, headers=retail_a)
    assert ids(past_the_end) == []
    assert past_the_end.headers["X-Total-Count"] == "5"
    assert past_the_end.headers["X-Result-Count"] == "0"


async def test_history_filters_by_line(
    http: httpx.AsyncClient, retail_a: Auth, world: World, history: list[dict[str, Any]]
) -> None:
    response = await http.get(
        SERVICE_TESTS, params={"relatedService.id": world.a.services[0]}, headers=retail_a
    )

    assert ids(response) == [history[4]["id"], history[2]["id"], history[0]["id"]]
    assert response.headers["X-Total-Count"] == "3"


async def test_history_filters_by_specification(
    http: httpx.AsyncClient, retail_a: Auth, history: list[dict[str, Any]]
) -> None:
    optical = await http.get(
        SERVICE_TESTS, params={"testSpecification.id": "opticalLevels"}, headers=retail_a
    )
    status = await http.get(
        SERVICE_TESTS, params={"testSpecification.id": "ontStatus"}, headers=retail_a
    )

    assert ids(optical) == [history[2]["id"]]
    assert len(ids(status)) == 4


async def test_history_filters_by_start_time(
    http: httpx.AsyncClient, retail_a: Auth, history: list[dict[str, Any]]
) -> None:
    # Orders were placed at 09:00, 09:10, 09:20, 09:30 and 09:40; both bounds are exclusive.
    after = await http.get(
        SERVICE_TESTS, params={"startDateTime.gt": "2026-11-28T09:10:00Z"}, headers=retail_a
    )
    before = await http.get(
        SERVICE_TESTS, params={"startDateTime.lt": "2026-11-28T09:20:00Z"}, headers=retail_a
    )
    between = await http.get(
        SERVICE_TESTS,
        params={
            "startDateTime.gt": "2026-11-28T09:05:00Z",
            "startDateTime.lt": "2026-11-28T11:35:00+02:00",  # 09:35 UTC
        },
        headers=retail_a,
    )

    assert ids(after) == [history[4]["id"], history[3]["id"], history[2]["id"]]
    assert ids(before) == [history[1]["id"], history[0]["id"]]
    assert ids(between) == [history[3]["id"], history[2]["id"], history[1]["id"]]


async def test_history_filters_by_state_list(
    http: httpx.AsyncClient,
    retail_a: Auth,
    world: World,
    history: list[dict[str, Any]],
    clean_database: Database,
    app_settings: Settings,
    clock: SettableClock,
) -> None:
    assert await run_all(clean_database, app_settings, clock) == 5
    newer = await order_test(http, retail_a, world.a.services[1])

    acknowledged = await http.get(SERVICE_TESTS, params={"state": "acknowledged"}, headers=retail_a)
    finished = await http.get(SERVICE_TESTS, params={"state": "completed,failed"}, headers=retail_a)
    both = await http.get(
        SERVICE_TESTS, params={"state": "acknowledged,completed"}, headers=retail_a
    )
    running = await http.get(SERVICE_TESTS, params={"state": "inProgress"}, headers=retail_a)

    assert ids(acknowledged) == [newer["id"]]
    assert ids(finished) == [t["id"] for t in reversed(history)]
    assert {t["state"] for t in finished.json()} == {"completed"}
    assert len(ids(both)) == 6
    assert ids(running) == []


async def test_filters_combine(
    http: httpx.AsyncClient, retail_a: Auth, world: World, history: list[dict[str, Any]]
) -> None:
    response = await http.get(
        SERVICE_TESTS,
        params={
            "relatedService.id": world.a.services[0],
            "testSpecification.id": "ontStatus",
            "startDateTime.gt": START.isoformat(),
        },
        headers=retail_a,
    )

    assert ids(response) == [history[4]["id"]]


@pytest.mark.parametrize(
    "params",
    [
        {"relatedServiceId": "SRV-A0"},
        {"status": "completed"},
        {"startDateTime": "2026-11-28T09:00:00Z"},
        {"startDateTime.gte": "2026-11-28T09:00:00Z"},
    ],
    ids=["misspelt-service", "status-not-state", "bare-date", "gte"],
)
async def test_unknown_filter_is_refused_not_ignored(
    http: httpx.AsyncClient, retail_a: Auth, world: World, params: dict[str, str]
) -> None:
    await order_test(http, retail_a, world.a.services[0])

    response = await http.get(SERVICE_TESTS, params=params, headers=retail_a)

    assert response.status_code == 400, response.text
    error = response.json()
    assert error["code"] == "INVALID_QUERY"
    assert error["@type"] == "Error"
    assert next(iter(params)) in error["message"]
    assert "relatedService.id" in error["details"]["supported"]


async def test_specifications_describe_measures_units_and_thresholds(
    http: httpx.AsyncClient, retail_a: Auth
) -> None:
    response = await http.get(SPECIFICATIONS, headers=retail_a)

    assert response.status_code == 200, response.text
    specs = {spec["id"]: spec for spec in response.json()}
    assert set(specs) == {"ontStatus", "opticalLevels"}
    assert response.headers["X-Total-Count"] == "2"
    status = {m["metricName"]: m for m in specs["ontStatus"]["testMeasureDefinition"]}
    for name in (
        "ontOperationalState",
        "ontRxPower",
        "ontTxPower",
        "oltRxPower",
        "ontDistance",
        "ontTemperature",
        "ontSupplyVoltage",
        "laserBiasCurrent",
        "lastDownCause",
        "lastDownTime",
        "lastUpTime",
        "lanPortState",
    ):
        assert name in status, name
    assert status["ontRxPower"]["unitOfMeasure"] == "dBm"
    assert status["ontDistance"]["unitOfMeasure"] == "m"
    assert status["laserBiasCurrent"]["unitOfMeasure"] == "mA"
    # GPON class B+: ONT Rx -27..-8 dBm, Tx +0.5..+5 dBm, OLT Rx -28..-8 dBm, reach 20 km.
    (rx,) = status["ontRxPower"]["thresholdRule"]
    assert (rx["conformanceComparatorLower"], rx["conformanceTargetLower"]) == (">=", "-27")
    assert (rx["conformanceComparatorUpper"], rx["conformanceTargetUpper"]) == ("<=", "-8")
    assert rx["thresholdRuleSeverity"] == "major"
    (tx,) = status["ontTxPower"]["thresholdRule"]
    assert (tx["conformanceTargetLower"], tx["conformanceTargetUpper"]) == ("0.5", "5")
    (olt,) = status["oltRxPower"]["thresholdRule"]
    assert (olt["conformanceTargetLower"], olt["conformanceTargetUpper"]) == ("-28", "-8")
    (reach,) = status["ontDistance"]["thresholdRule"]
    assert reach["conformanceTargetUpper"] == "20000"
    (state,) = status["ontOperationalState"]["thresholdRule"]
    assert state["conformanceTargetExact"] == "up"
    optical = [m["metricName"] for m in specs["opticalLevels"]["testMeasureDefinition"]]
    assert optical == [
        "ontOperationalState",
        "ontRxPower",
        "ontTxPower",
        "oltRxPower",
        "ontDistance",
    ]
    for spec in specs.values():
        assert spec["href"] == f"{BASE_URL}{SPECIFICATIONS}/{spec['id']}"
        assert spec["description"]


async def test_one_specification_reads_by_id(http: httpx.AsyncClient, retail_a: Auth) -> None:
    listed = {s["id"]: s for s in (await http.get(SPECIFICATIONS, headers=retail_a)).json()}

    response = await http.get(f"{SPECIFICATIONS}/opticalLevels", headers=retail_a)
    unknown = await http.get(f"{SPECIFICATIONS}/fibreSnapshot", headers=retail_a)

    assert response.status_code == 200, response.text
    assert response.json() == listed["opticalLevels"]
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "NOT_FOUND"


async def test_unknown_specification_is_refused_naming_the_known_ones(
    http: httpx.AsyncClient, retail_a: Auth, world: World
) -> None:
    response = await http.post(
        SERVICE_TESTS,
        json=service_test_body(world.a.services[0], spec="otdrTrace"),
        headers=retail_a,
    )

    assert response.status_code == 400, response.text
    error = response.json()
    assert error["code"] == "INVALID_REQUEST"
    assert "otdrTrace" in error["message"]
    assert "ontStatus" in error["message"]
    assert "opticalLevels" in error["message"]
    assert ids(await http.get(SERVICE_TESTS, headers=retail_a)) == []


async def test_server_set_attributes_in_an_order_are_ignored(
    http: httpx.AsyncClient, retail_a: Auth, world: World
) -> None:
    body = service_test_body(
        world.a.services[0],
        id="my-own-id",
        href="http://evil.example/serviceTest/my-own-id",
        state="completed",
        startDateTime="2020-01-01T00:00:00Z",
        endDateTime="2020-01-01T00:00:01Z",
        testMeasure=[{"metricName": "ontRxPower", "value": {"value": -20}}],
        outcome={"rating": "green", "code": "NO_FAULT_FOUND"},
        failureReason={"code": "ADAPTER_TIMEOUT"},
        validFor={"startDateTime": "2020-01-01T00:00:00Z"},
    )

    response = await http.post(SERVICE_TESTS, json=body, headers=retail_a)

    assert response.status_code == 201, response.text
    test = response.json()
    assert test["id"] != "my-own-id"
    assert test["href"].startswith(BASE_URL)
    assert test["state"] == "acknowledged"
    assert test["startDateTime"].startswith("2026-11-28T09:00:00")
    for attribute in ("endDateTime", "outcome", "failureReason", "validFor"):
        assert attribute not in test
    assert test.get("testMeasure", []) == []
    stored = await http.get(f"{SERVICE_TESTS}/{test['id']}", headers=retail_a)
    assert stored.json()["state"] == "acknowledged"
    assert (await http.get(f"{SERVICE_TESTS}/my-own-id", headers=retail_a)).status_code == 404


async def test_limits_is_not_taken_for_a_test_id(
    http: httpx.AsyncClient, retail_a: Auth, world: World
) -> None:
    await order_test(http, retail_a, world.a.services[0])

    response = await http.get(LIMITS, headers=retail_a)

    assert response.status_code == 200, response.text
    quotas = response.json()
    assert isinstance(quotas, list)
    assert [q["name"] for q in quotas] == ["perOperatorPerDay", "perServicePerHour"]
    assert all(q["@type"] == "ServiceTestQuota" for q in quotas)


async def test_unknown_test_id_is_not_found(http: httpx.AsyncClient, retail_a: Auth) -> None:
    response = await http.get(f"{SERVICE_TESTS}/no-such-test", headers=retail_a)

    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"


async def test_an_idempotency_key_makes_a_repeated_order_return_the_first_test(
    http: httpx.AsyncClient, retail_a: Auth, world: World
) -> None:
    body = service_test_body(world.a.services[0])
    headers = {**retail_a, "Idempotency-Key": "order-7"}

    first = await http.post(SERVICE_TESTS, json=body, headers=headers)
    again = await http.post(SERVICE_TESTS, json=body, headers=headers)
    other = await http.post(
        SERVICE_TESTS, json=service_test_body(world.a.services[1]), headers=headers
    )

    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert other.status_code == 422
    assert other.json()["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert ids(await http.get(SERVICE_TESTS, headers=retail_a)) == [first.json()["id"]]
    [day, hour] = (await http.get(LIMITS, headers=retail_a)).json()
    assert (day["used"], hour["used"]) == (1, 1)  # counted once
