"""Requests generated from the app's own OpenAPI (schemathesis) against a real server on
127.0.0.1: none may get a 5xx, and every error carries the TMF error body (the RFC 6749 body on
the token endpoint)."""

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import Case, CheckContext, GenerationMode, Response
from schemathesis.checks import not_a_server_error

from fiberassure.wholesale.app import create_app
from fiberassure.wholesale.clock import SettableClock
from fiberassure.wholesale.settings import Settings
from tests.conftest import World
from tests.tickets import ticket_body

TMF_ERROR_KEYS = ("code", "reason", "message", "status")
TOKEN_PATH = "/oauth/token"
MAX_EXAMPLES = 30  # per operation and generation mode: bounded, and the same cases every run


@dataclass(frozen=True)
class Served:
    """The app on a real socket, with bearer headers and a few real tickets to aim at."""

    base_url: str
    retail: dict[str, str]
    ops: dict[str, str]
    services: list[str]
    tickets: list[str]

    def auth_for(self, case: Case[Any]) -> dict[str, str]:
        if case.operation.path == TOKEN_PATH:
            return {}
        return self.ops if case.operation.path.startswith("/ops/") else self.retail


class ThreadedServer:
    """uvicorn in a thread with its own event loop; the app opens its own Database there."""

    def __init__(self, settings: Settings, clock: SettableClock) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.bind(("127.0.0.1", 0))
        host, port = self.socket.getsockname()
        self.base_url = f"http://{host}:{port}"
        app = create_app(settings, clock=clock)
        config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True
        )

    def __enter__(self) -> "ThreadedServer":
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:  # readiness, not timing: the server says when it is up
            assert self.thread.is_alive(), "the server thread died while starting"
            assert time.monotonic() < deadline, "the server did not start within 20 s"
            time.sleep(0.02)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)
        self.socket.close()
        assert not self.thread.is_alive(), "the server thread did not stop"


def bearer(client: httpx.Client, client_id: str, client_secret: str) -> dict[str, str]:
    response = client.post(
        TOKEN_PATH, data={"grant_type": "client_credentials"}, auth=(client_id, client_secret)
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture
def served(world: World, settings: Settings, clock: SettableClock) -> Iterator[Served]:
    # `world` committed its rows through the test loop's Database before the server starts.
    with ThreadedServer(settings, clock) as server, httpx.Client(base_url=server.base_url) as c:
        retail = bearer(c, world.a.client_id, world.a.client_secret)
        ops = bearer(c, world.ops_client_id, world.ops_client_secret)
        tickets = []
        for service in world.a.services[:2]:
            created = c.post(
                "/tmf-api/troubleTicket/v4/troubleTicket",
                json=ticket_body(service),
                headers=retail,
            )
            assert created.status_code == 201, created.text
            tickets.append(str(created.json()["id"]))
        yield Served(server.base_url, retail, ops, list(world.a.services), tickets)


def documented_operations() -> list[Any]:
    """Every operation the app documents (known without a server, for the test ids), in both
    generation modes; negative only where there is an input to get wrong."""
    document = create_app(Settings(database_url="sqlite://")).openapi()
    params = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            has_input = bool(operation.get("parameters") or operation.get("requestBody"))
            for mode in GenerationMode:
                if mode is GenerationMode.POSITIVE or has_input:
                    label = f"{mode.value}-{method.upper()} {path}"
                    params.append(pytest.param(mode, method.upper(), path, id=label))
    return params


def error_body_is_tmf(ctx: CheckContext, response: Response, case: Case[Any]) -> bool | None:
    """An error carries the TMF error body; the token endpoint answers as RFC 6749 says."""
    if response.status_code < 400:
        return None
    assert "traceback" not in response.text.lower(), response.text[:500]
    body: Any = response.json()
    assert isinstance(body, dict), response.text[:500]
    if case.operation.path == TOKEN_PATH and response.status_code in (400, 401):
        assert isinstance(body.get("error"), str), f"not an RFC 6749 error body: {body}"
        return None
    for key in TMF_ERROR_KEYS:
        assert isinstance(body.get(key), str), f"TMF error body without {key}: {body}"
    assert body["status"] == str(response.status_code), body
    return None


def aim_at_real_resources(case: Case[Any], served: Served, data: st.DataObject) -> None:
    """Sometimes use a real ticket id and a real line, so the generated bodies reach the
    service's rules instead of stopping at 404 / 'not one of your services'."""
    if case.path_parameters and "id" in case.path_parameters and data.draw(st.booleans()):
        case.path_parameters["id"] = data.draw(st.sampled_from(served.tickets))
    entities = case.body.get("relatedEntity") if isinstance(case.body, dict) else None
    if isinstance(entities, list):
        for entity in entities:
            if (
                isinstance(entity, dict)
                and entity.get("role") == "affectedService"
                and data.draw(st.booleans())
            ):
                entity["id"] = data.draw(st.sampled_from(served.services))


@pytest.mark.parametrize(("mode", "method", "path"), documented_operations())
def test_generated_requests_never_get_a_server_error(
    served: Served, mode: GenerationMode, method: str, path: str
) -> None:
    schema = schemathesis.openapi.from_url(f"{served.base_url}/openapi.json")
    operation = schema[path][method]

    @given(case=operation.as_strategy(generation_mode=mode), data=st.data())
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def generated(case: Case[Any], data: st.DataObject) -> None:
        aim_at_real_resources(case, served, data)
        response = case.call(base_url=served.base_url, headers=served.auth_for(case), timeout=30)
        case.validate_response(response, checks=[not_a_server_error, error_body_is_tmf])

    generated()


# -- what the OpenAPI document promises -------------------------------------------------------


@pytest.fixture
async def openapi(http: httpx.AsyncClient) -> dict[str, Any]:
    response = await http.get("/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def properties_of(document: dict[str, Any], name: str) -> dict[str, Any]:
    properties: dict[str, Any] = document["components"]["schemas"][name]["properties"]
    return properties


def resolve(document: dict[str, Any], schema_: dict[str, Any]) -> dict[str, Any]:
    """Follow a `$ref` (directly or as the one non-null `anyOf` branch)."""
    if "anyOf" in schema_:
        (schema_,) = [s for s in schema_["anyOf"] if s.get("type") != "null"]
    ref = schema_.get("$ref")
    if ref is None:
        return schema_
    resolved: dict[str, Any] = document["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    return resolved


async def test_openapi_documents_the_consumer_ticket_extension(openapi: dict[str, Any]) -> None:
    for model in ("TroubleTicketCreate", "TroubleTicketUpdate", "TroubleTicket"):
        properties = properties_of(openapi, model)
        assert {"subscriberContact", "visitWindow"} <= set(properties), model
    create = openapi["components"]["schemas"]["TroubleTicketCreate"]
    assert "subscriberContact" in create["required"]
    assert "ConsumerTroubleTicket" in properties_of(openapi, "TroubleTicketCreate")["@type"]["enum"]
    contact = resolve(openapi, properties_of(openapi, "TroubleTicketCreate")["subscriberContact"])
    assert {"name", "phoneNumber"} <= set(contact["required"])
    assert "pattern" in contact["properties"]["phoneNumber"]
    window = resolve(openapi, properties_of(openapi, "TroubleTicketCreate")["visitWindow"])
    assert set(window["required"]) == {"startDateTime", "endDateTime"}
    assert "ConsumerTroubleTicket" in openapi["info"]["description"]


async def test_openapi_documents_the_tmf_error_responses(openapi: dict[str, Any]) -> None:
    error_ref = "#/components/schemas/ErrorBody"
    error = openapi["components"]["schemas"]["ErrorBody"]
    assert set(TMF_ERROR_KEYS) <= set(error["properties"])
    tickets = openapi["paths"]["/tmf-api/troubleTicket/v4/troubleTicket"]
    expected = {
        ("post", "400"),
        ("post", "401"),
        ("post", "409"),
        ("post", "413"),
        ("post", "415"),
        ("get", "400"),
        ("get", "401"),
        ("get", "403"),
    }
    for method, status in expected:
        content = tickets[method]["responses"][status]["content"]["application/json"]
        assert content["schema"]["$ref"] == error_ref, (method, status)
    one = openapi["paths"]["/tmf-api/troubleTicket/v4/troubleTicket/{id}"]
    for status in ("404", "409", "412"):
        content = one["patch"]["responses"][status]["content"]["application/json"]
        assert content["schema"]["$ref"] == error_ref, status


async def test_every_documented_client_error_uses_the_error_body(openapi: dict[str, Any]) -> None:
    """No FastAPI 422 `HTTPValidationError` left over: validation errors are TMF 400s."""
    wrong = []
    for path, operations in openapi["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if not status.startswith("4"):
                    continue
                ref = response["content"]["application/json"]["schema"]["$ref"]
                oauth = path == TOKEN_PATH and status in ("400", "401")
                expected = "OAuthErrorBody" if oauth else "ErrorBody"
                if not ref.endswith(f"/{expected}"):
                    wrong.append(f"{method.upper()} {path} {status}: {ref}")
    assert wrong == []
