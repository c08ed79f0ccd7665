"""The hub API: subscriptions belong to one operator; callbacks are checked."""

import httpx
import pytest

from fiberassure.wholesale.settings import Settings
from tests.conftest import World

HUBS = "/tmf-api/troubleTicket/v4/hub"
TEST_HUBS = "/tmf-api/serviceTestManagement/v4/hub"
PUBLIC_CALLBACK = "https://93.184.215.14/listener/troubleTicketResolvedEvent"


@pytest.fixture
def app_settings(settings: Settings) -> Settings:
    return settings  # the production default: private callbacks refused


async def test_a_new_hub_returns_its_signing_secret_once(
    http: httpx.AsyncClient, retail_a: dict[str, str]
) -> None:
    created = await http.post(HUBS, json={"callback": PUBLIC_CALLBACK}, headers=retail_a)

    assert created.status_code == 201, created.text
    hub = created.json()
    assert hub["secret"].startswith("whsec_")
    assert hub["callback"] == PUBLIC_CALLBACK
    assert created.headers["Location"] == hub["href"]
    fetched = await http.get(f"{HUBS}/{hub['id']}", headers=retail_a)
    assert fetched.status_code == 200
    assert "secret" not in fetched.json()
    listed = await http.get(HUBS, headers=retail_a)
    assert [h["id"] for h in listed.json()] == [hub["id"]]


async def test_hubs_of_one_api_are_not_listed_on_the_other(
    http: httpx.AsyncClient, retail_a: dict[str, str]
) -> None:
    await http.post(HUBS, json={"callback": PUBLIC_CALLBACK}, headers=retail_a)
    on_tests = await http.get(TEST_HUBS, headers=retail_a)
    assert on_tests.status_code == 200
    assert on_tests.json() == []


async def test_another_operators_hub_is_not_found(
    http: httpx.AsyncClient, retail_a: dict[str, str], retail_b: dict[str, str]
) -> None:
    hub = (await http.post(HUBS, json={"callback": PUBLIC_CALLBACK}, headers=retail_a)).json()

    assert (await http.get(f"{HUBS}/{hub['id']}", headers=retail_b)).status_code == 404
    assert (await http.delete(f"{HUBS}/{hub['id']}", headers=retail_b)).status_code == 404
    assert (await http.get(HUBS, headers=retail_b)).json() == []
    deliveries = await http.get(f"{HUBS}/{hub['id']}/delivery", headers=retail_b)
    assert deliveries.status_code == 404


async def test_deleted_hub_is_gone(http: httpx.AsyncClient, retail_a: dict[str, str]) -> None:
    hub = (await http.post(HUBS, json={"callback": PUBLIC_CALLBACK}, headers=retail_a)).json()

    deleted = await http.delete(f"{HUBS}/{hub['id']}", headers=retail_a)

    assert deleted.status_code == 204
    assert (await http.get(f"{HUBS}/{hub['id']}", headers=retail_a)).status_code == 404


@pytest.mark.parametrize(
    ("callback", "problem"),
    [
        ("http://127.0.0.1:9000/hook", "private or loopback"),
        ("http://10.1.2.3/hook", "private or loopback"),
        ("http://[::1]:9000/hook", "private or loopback"),
        ("http://localhost:9000/hook", "private or loopback"),
        ("ftp://93.184.215.14/hook", "http or https"),
        ("https://user:pass@93.184.215.14/hook", "credentials"),
        ("not a url", "http or https"),
        ("https:///nohost", "host"),
    ],
)
async def test_unsafe_callbacks_are_refused(
    http: httpx.AsyncClient, retail_a: dict[str, str], callback: str, problem: str
) -> None:
    response = await http.post(HUBS, json={"callback": callback}, headers=retail_a)

    assert response.status_code == 400, response.text
    assert problem in response.json()["message"]
    assert (await http.get(HUBS, headers=retail_a)).json() == []


@pytest.mark.parametrize(
    "query",
    ["status=resolved", "event.serviceTest.state=completed", "eventType=", "event.troubleTicket"],
)
async def test_queries_that_could_never_match_are_refused(
    http: httpx.AsyncClient, retail_a: dict[str, str], query: str
) -> None:
    response = await http.post(
        HUBS, json={"callback": PUBLIC_CALLBACK, "query": query}, headers=retail_a
    )
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "INVALID_REQUEST"


async def test_hubs_need_scope_hub(
    http: httpx.AsyncClient, ops: dict[str, str], world: World
) -> None:
    response = await http.post(HUBS, json={"callback": PUBLIC_CALLBACK}, headers=ops)
    assert response.status_code == 403


async def test_ops_sees_every_operators_hubs(
    http: httpx.AsyncClient,
    retail_a: dict[str, str],
    retail_b: dict[str, str],
    ops: dict[str, str],
) -> None:
    await http.post(HUBS, json={"callback": PUBLIC_CALLBACK}, headers=retail_a)
    await http.post(TEST_HUBS, json={"callback": PUBLIC_CALLBACK}, headers=retail_b)

    listed = await http.get("/ops/v1/hub", headers=ops)

    assert listed.status_code == 200
    assert sorted(h["operatorId"] for h in listed.json()) == ["op-a", "op-b"]
