"""Malformed orders and queries on the TMF653 API: every refusal is a 4xx with the TMF error
body, never a 5xx or a stack trace, and a refused order writes no test and counts nothing
against a quota."""

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from fiberassure.wholesale.app import create_app
from fiberassure.wholesale.clock import SettableClock
from fiberassure.wholesale.db import Database
from fiberassure.wholesale.diagnostics.models import QuotaUsage, ServiceTest, ServiceTestJob
from fiberassure.wholesale.settings import Settings
from tests.conftest import BASE_URL, START, bearer
from tests.service_tests import SERVICE_TESTS, service_test_body
from tests.wholesale.test_bad_input import (
    MEGABYTE,
    NOT_OBJECTS,
    Bad,
    assert_tmf_error,
    empty_tables,
    everything,
    params,
    seed,
    wrong_content_types,
)

Auth = dict[str, str]
# A line of operator A on which the base body is accepted (the scene orders one test on it).
LINE = "SRV-A1"


@dataclass(frozen=True)
class Scene:
    """One app shared by the module, so the set-up is paid once per database."""

    http: httpx.AsyncClient
    database: Database
    settings: Settings
    retail: Auth
    test_id: str  # operator A's test of LINE


@pytest.fixture(scope="module")
async def scene(database: Database, database_url: str) -> AsyncIterator[Scene]:
    clock = SettableClock(START)
    await empty_tables(database)
    credentials = await seed(database, clock.now())
    settings = Settings(database_url=database_url, public_base_url=BASE_URL)
    app = create_app(settings, database=database, clock=clock)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL) as http:
        retail = await bearer(http, *credentials["A"])
        created = await http.post(SERVICE_TESTS, json=service_test_body(LINE), headers=retail)
        assert created.status_code == 201, created.text
        yield Scene(http, database, settings, retail, created.json()["id"])
    await empty_tables(database)


async def counts(database: Database) -> tuple[int, int, int]:
    """(service tests, their jobs, the summed quota usage)."""
    async with database.transaction() as session:
        tests = (await session.execute(select(func.count()).select_from(ServiceTest))).scalar()
        jobs = (await session.execute(select(func.count()).select_from(ServiceTestJob))).scalar()
        used = (await session.execute(select(func.sum(QuotaUsage.used)))).scalar()
    return int(tests or 0), int(jobs or 0), int(used or 0)


@pytest.fixture
async def unchanged(scene: Scene) -> AsyncIterator[None]:
    """Asserts after the test that no row changed: one test, one job, one unit of each
    quota, exactly as the scene left them."""
    before = await everything(scene.database)
    assert await counts(scene.database) == (1, 1, 2)
    yield
    assert await counts(scene.database) == (1, 1, 2)
    assert await everything(scene.database) == before


def with_(**changes: Any) -> dict[str, Any]:
    return service_test_body(LINE, **changes)


def without(*keys: str) -> dict[str, Any]:
    body = service_test_body(LINE)
    for key in keys:
        del body[key]
    return body


def line(**changes: Any) -> dict[str, Any]:
    return {"id": LINE, **changes}


def spec(**changes: Any) -> dict[str, Any]:
    return {"id": "ontStatus", **changes}


CREATE_CASES = [
    *(
        Bad(f"missing-{key}", without(key))
        for key in ("name", "relatedService", "testSpecification")
    ),
    Bad("missing-everything", {}),
    Bad("name-number", with_(name=42)),
    Bad("name-null", with_(name=None)),
    Bad("name-list", with_(name=["ONT", "check"])),
    Bad("name-empty", with_(name="")),
    Bad("name-blank", with_(name="   ")),
    Bad("name-over-200", with_(name="n" * 201)),
    Bad("name-nul", with_(name="ONT\x00check")),
    Bad("description-nul", with_(description="flat 12\x00")),
    Bad("description-number", with_(description=12)),
    Bad("description-over-4000", with_(description="d" * 4001)),
    Bad("related-service-string", with_(relatedService=LINE)),
    Bad("related-service-list", with_(relatedService=[line()])),
    Bad("related-service-null", with_(relatedService=None)),
    Bad("related-service-no-id", with_(relatedService={"name": "Kowalski"})),
    Bad("related-service-id-number", with_(relatedService={"id": 1})),
    Bad("related-service-id-empty", with_(relatedService={"id": ""})),
    Bad("related-service-id-space", with_(relatedService={"id": "SRV A1"})),
    Bad("related-service-id-non-ascii", with_(relatedService={"id": "SRV-\u00c41"})),
    Bad("related-service-id-nul", with_(relatedService={"id": "SRV-A1\x00"})),
    Bad("related-service-id-too-long", with_(relatedService={"id": "S" * 101})),
    Bad("related-service-unknown-attribute", with_(relatedService=line(colour="red"))),
    Bad("related-service-referred-type", with_(relatedService=line(**{"@referredType": "X"}))),
    Bad("related-service-unknown", with_(relatedService={"id": "SRV-NOPE"})),
    Bad("related-service-of-operator-b", with_(relatedService={"id": "SRV-B0"})),
    Bad("specification-string", with_(testSpecification="ontStatus")),
    Bad("specification-no-id", with_(testSpecification={"name": "ONT status"})),
    Bad("specification-id-number", with_(testSpecification={"id": 7})),
    Bad("specification-unknown", with_(testSpecification={"id": "otdrTrace"})),
    Bad("specification-unknown-attribute", with_(testSpecification=spec(depth="full"))),
    Bad("specification-version-too-long", with_(testSpecification=spec(version="9" * 21))),
    Bad("unknown-attribute", with_(priority="high")),
    Bad("unknown-attribute-camel", with_(testMeasureDefinition=[])),
    Bad("mode-manual", with_(mode="manual")),
    Bad("type-unknown", with_(**{"@type": "ServiceTestV5"})),
    *NOT_OBJECTS,
    *wrong_content_types(with_()),
    Bad("no-content-type", with_(), 415, None),
]


@pytest.mark.parametrize("case", params(CREATE_CASES))
async def test_bad_order_is_refused_and_writes_nothing(
    scene: Scene, unchanged: None, case: Bad
) -> None:
    response = await scene.http.post(
        SERVICE_TESTS, content=case.content(), headers=case.request_headers(scene.retail)
    )

    assert_tmf_error(response, case.status)
    assert "X-RateLimit-Remaining" not in response.headers  # no quota was looked at


async def test_missing_attribute_is_named_in_the_error(scene: Scene, unchanged: None) -> None:
    for key in ("name", "relatedService", "testSpecification"):
        response = await scene.http.post(SERVICE_TESTS, json=without(key), headers=scene.retail)

        error = assert_tmf_error(response, 400)
        assert key in json.dumps(error), error


async def test_order_over_the_size_limit_is_413(scene: Scene, unchanged: None) -> None:
    body = json.dumps(with_(description="x" * MEGABYTE)).encode()
    assert len(body) > scene.settings.max_body_bytes

    response = await scene.http.post(
        SERVICE_TESTS, content=body, headers={**scene.retail, "Content-Type": "application/json"}
    )

    error = assert_tmf_error(response, 413)
    assert str(scene.settings.max_body_bytes) in error["message"]


async def test_streamed_order_over_the_size_limit_is_413(scene: Scene, unchanged: None) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"name": "'
        for _ in range(16):
            yield b"x" * 65536
        yield b'"}'

    response = await scene.http.post(
        SERVICE_TESTS,
        content=chunks(),
        headers={**scene.retail, "Content-Type": "application/json"},
    )

    assert "content-length" not in response.request.headers
    assert_tmf_error(response, 413)


QUERY_CASES = [
    {"state": "bogus"},
    {"state": "completed,bogus"},
    {"state": "Completed"},
    {"state": ","},
    {"startDateTime.gt": "notadate"},
    {"startDateTime.gt": "2026-11-28T09:00:00"},  # no time zone
    {"startDateTime.lt": "yesterday"},
    {"startDateTime.lt": "0001-01-01T00:00:00+01:00"},
    {"limit": "0"},
    {"limit": "-1"},
    {"limit": "ten"},
    {"limit": "1001"},
    {"offset": "-1"},
    {"offset": "x"},
    {"sort": "name"},
    {"fields": "colour"},
    {"relatedService.id": "S" * 101},
    {"testSpecification.id": "s" * 201},
    {"relatedServiceId": LINE},
]


@pytest.mark.parametrize(
    "query",
    [pytest.param(q, id="&".join(f"{k}={v[:20]}" for k, v in q.items())) for q in QUERY_CASES],
)
async def test_bad_history_query_is_400(
    scene: Scene, unchanged: None, query: dict[str, str]
) -> None:
    response = await scene.http.get(SERVICE_TESTS, params=query, headers=scene.retail)

    assert_tmf_error(response, 400)
    assert "X-Total-Count" not in response.headers


@pytest.mark.parametrize(
    "query",
    [{"state": "completed"}, {"fields": "colour"}, {"relatedService.id": LINE}],
    ids=["filter", "unknown-field", "list-filter"],
)
async def test_bad_query_on_one_test_is_400(
    scene: Scene, unchanged: None, query: dict[str, str]
) -> None:
    response = await scene.http.get(
        f"{SERVICE_TESTS}/{scene.test_id}", params=query, headers=scene.retail
    )

    assert_tmf_error(response, 400)


async def test_overlong_test_id_is_refused(scene: Scene, unchanged: None) -> None:
    response = await scene.http.get(f"{SERVICE_TESTS}/{'t' * 101}", headers=scene.retail)

    assert_tmf_error(response, 400, 404)
