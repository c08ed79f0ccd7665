"""OAuth2 client credentials at /oauth/token (RFC 6749 §4.4) and bearer tokens on the API."""

import base64
from datetime import timedelta
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy import select

from fiberassure.wholesale.clock import SettableClock
from fiberassure.wholesale.db import Database
from fiberassure.wholesale.operators.models import ApiClient
from fiberassure.wholesale.operators.service import TOKEN_ALGORITHM, TOKEN_AUDIENCE
from fiberassure.wholesale.settings import Settings
from tests.conftest import World
from tests.tickets import OPS_TICKETS, TICKETS, create_ticket

TOKEN = "/oauth/token"
TMF_ERROR_KEYS = {"code", "reason", "message", "status"}


async def token_request(
    http: httpx.AsyncClient,
    data: dict[str, str],
    auth: tuple[str | bytes, str | bytes] | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    if auth is None:
        return await http.post(TOKEN, data=data, headers=headers)
    return await http.post(TOKEN, data=data, auth=auth, headers=headers)


def assert_oauth_error(response: httpx.Response, status: int, error: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error
    assert isinstance(body.get("error_description", ""), str)
    assert set(body) <= {"error", "error_description", "error_uri"}
    assert response.headers["Cache-Control"] == "no-store"


def assert_tmf_error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) >= TMF_ERROR_KEYS
    assert body["status"] == str(status)
    return body


def forged_token(world: World, clock: SettableClock, key: str, **claims: Any) -> str:
    now = int(clock.now().timestamp())
    payload = {
        "sub": world.a.client_id,
        "op": world.a.operator_id,
        "scope": "troubleTicket serviceTest hub",
        "aud": TOKEN_AUDIENCE,
        "iat": now,
        "exp": now + 600,
        **claims,
    }
    return jwt.encode(payload, key, algorithm=TOKEN_ALGORITHM)


# -- issuing tokens ---------------------------------------------------------------------------


async def test_credentials_in_the_form_body_get_a_bearer_token(
    http: httpx.AsyncClient, world: World, settings: Settings
) -> None:
    response = await token_request(
        http,
        {
            "grant_type": "client_credentials",
            "client_id": world.a.client_id,
            "client_secret": world.a.client_secret,
        },
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["access_token"]
    assert body["expires_in"] == int(settings.token_ttl.total_seconds())
    assert set(body["scope"].split()) == {"troubleTicket", "serviceTest", "hub"}
    assert response.headers["Cache-Control"] == "no-store"


async def test_credentials_by_http_basic_get_a_bearer_token(
    http: httpx.AsyncClient, world: World
) -> None:
    response = await token_request(
        http, {"grant_type": "client_credentials"}, auth=(world.a.client_id, world.a.client_secret)
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert {"access_token", "expires_in", "scope"} <= set(body)
    assert response.headers["Cache-Control"] == "no-store"
    tickets = await http.get(TICKETS, headers={"Authorization": f"Bearer {body['access_token']}"})
    assert tickets.status_code == 200


async def test_wrong_secret_is_invalid_client(http: httpx.AsyncClient, world: World) -> None:
    response = await token_request(
        http, {"grant_type": "client_credentials"}, auth=(world.a.client_id, "not-the-secret")
    )

    assert_oauth_error(response, 401, "invalid_client")
    assert "WWW-Authenticate" in response.headers


async def test_wrong_secret_in_the_form_body_is_invalid_client(
    http: httpx.AsyncClient, world: World
) -> None:
    response = await token_request(
        http,
        {
            "grant_type": "client_credentials",
            "client_id": world.a.client_id,
            "client_secret": world.b.client_secret,
        },
    )

    assert_oauth_error(response, 401, "invalid_client")


async def test_unknown_client_is_invalid_client(http: httpx.AsyncClient, world: World) -> None:
    response = await token_request(
        http, {"grant_type": "client_credentials"}, auth=("no-such-client", world.a.client_secret)
    )

    assert_oauth_error(response, 401, "invalid_client")


async def test_missing_credentials_are_invalid_client(http: httpx.AsyncClient) -> None:
    response = await token_request(http, {"grant_type": "client_credentials"})

    assert_oauth_error(response, 401, "invalid_client")


async def test_malformed_basic_header_is_invalid_client(http: httpx.AsyncClient) -> None:
    response = await token_request(
        http, {"grant_type": "client_credentials"}, headers={"Authorization": "Basic %%%not-b64"}
    )

    assert_oauth_error(response, 401, "invalid_client")


async def test_unsupported_grant_type_is_refused(http: httpx.AsyncClient, world: World) -> None:
    response = await token_request(
        http, {"grant_type": "password"}, auth=(world.a.client_id, world.a.client_secret)
    )

    assert_oauth_error(response, 400, "unsupported_grant_type")


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"", "application/x-www-form-urlencoded"),
        (b"scope=troubleTicket", "application/x-www-form-urlencoded"),
        (b'{"grant_type": "client_credentials"}', "application/json"),
        (b"grant_type=" + b"x" * 100, "application/x-www-form-urlencoded"),
    ],
    ids=["empty", "no-grant-type", "json", "grant-type-too-long"],
)
async def test_malformed_token_request_is_invalid_request(
    http: httpx.AsyncClient, world: World, content: bytes, content_type: str
) -> None:
    response = await http.post(
        TOKEN,
        content=content,
        headers={"Content-Type": content_type},
        auth=(world.a.client_id, world.a.client_secret),
    )

    assert_oauth_error(response, 400, "invalid_request")


async def test_client_id_with_a_nul_is_invalid_client(http: httpx.AsyncClient) -> None:
    response = await token_request(
        http,
        {"grant_type": "client_credentials", "client_id": "client\x00", "client_secret": "s"},
    )

    assert_oauth_error(response, 401, "invalid_client")


async def test_scope_not_granted_is_invalid_scope(http: httpx.AsyncClient, world: World) -> None:
    response = await token_request(
        http,
        {"grant_type": "client_credentials", "scope": "troubleTicket ops"},
        auth=(world.a.client_id, world.a.client_secret),
    )

    assert_oauth_error(response, 400, "invalid_scope")


async def test_unknown_scope_is_invalid_scope(http: httpx.AsyncClient, world: World) -> None:
    response = await token_request(
        http,
        {"grant_type": "client_credentials", "scope": "everything"},
        auth=(world.a.client_id, world.a.client_secret),
    )

    assert_oauth_error(response, 400, "invalid_scope")


async def test_a_subset_of_scopes_is_granted_and_limits_the_token(
    http: httpx.AsyncClient, world: World
) -> None:
    response = await token_request(
        http,
        {"grant_type": "client_credentials", "scope": "serviceTest"},
        auth=(world.a.client_id, world.a.client_secret),
    )

    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "serviceTest"
    limited = {"Authorization": f"Bearer {response.json()['access_token']}"}
    refused = await http.get(TICKETS, headers=limited)
    body = assert_tmf_error(refused, 403)
    assert "troubleTicket" in body["message"]


# -- using tokens ---------------------------------------------------------------------------


async def test_missing_authorization_is_401_with_a_tmf_body(http: httpx.AsyncClient) -> None:
    response = await http.get(TICKETS)

    body = assert_tmf_error(response, 401)
    assert body["code"] == "UNAUTHORIZED"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


async def test_basic_credentials_on_the_api_are_refused(
    http: httpx.AsyncClient, world: World
) -> None:
    response = await http.get(TICKETS, auth=(world.a.client_id, world.a.client_secret))

    assert_tmf_error(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "authorization",
    ["Bearer garbage", "Bearer ", "Bearer a.b.c", "bearer eyJhbGciOiJub25lIn0.e30.", "Token x"],
)
async def test_garbage_token_is_401(http: httpx.AsyncClient, authorization: str) -> None:
    response = await http.get(TICKETS, headers={"Authorization": authorization})

    assert_tmf_error(response, 401)
    assert "WWW-Authenticate" in response.headers


async def test_token_signed_with_another_key_is_401(
    http: httpx.AsyncClient, world: World, clock: SettableClock
) -> None:
    token = forged_token(world, clock, "someone-elses-signing-key-that-is-long-enough")

    response = await http.get(TICKETS, headers={"Authorization": f"Bearer {token}"})

    body = assert_tmf_error(response, 401)
    assert "not valid" in body["message"]


async def test_unsigned_token_is_401(
    http: httpx.AsyncClient, world: World, clock: SettableClock
) -> None:
    now = int(clock.now().timestamp())
    claims = {
        "sub": world.a.client_id,
        "op": world.a.operator_id,
        "scope": "troubleTicket",
        "aud": TOKEN_AUDIENCE,
        "exp": now + 600,
    }
    token = jwt.encode(claims, key=None, algorithm="none")

    response = await http.get(TICKETS, headers={"Authorization": f"Bearer {token}"})

    assert_tmf_error(response, 401)


async def test_token_for_another_audience_is_401(
    http: httpx.AsyncClient, world: World, clock: SettableClock, settings: Settings
) -> None:
    token = forged_token(world, clock, settings.token_signing_key, aud="someone-else")

    response = await http.get(TICKETS, headers={"Authorization": f"Bearer {token}"})

    assert_tmf_error(response, 401)


async def test_expired_token_is_401_saying_it_expired(
    http: httpx.AsyncClient, retail_a: dict[str, str], clock: SettableClock, settings: Settings
) -> None:
    assert (await http.get(TICKETS, headers=retail_a)).status_code == 200

    clock.advance(settings.token_ttl + timedelta(seconds=1))
    response = await http.get(TICKETS, headers=retail_a)

    body = assert_tmf_error(response, 401)
    assert "expired" in body["message"]
    assert "WWW-Authenticate" in response.headers


async def test_token_is_valid_until_just_before_its_expiry(
    http: httpx.AsyncClient, retail_a: dict[str, str], clock: SettableClock, settings: Settings
) -> None:
    clock.advance(settings.token_ttl - timedelta(seconds=1))

    assert (await http.get(TICKETS, headers=retail_a)).status_code == 200


async def test_retail_token_on_the_ops_api_is_403(
    http: httpx.AsyncClient, retail_a: dict[str, str], world: World
) -> None:
    ticket = await create_ticket(http, retail_a, world.a.services[0])

    response = await http.post(f"{OPS_TICKETS}/{ticket['id']}/start", json={}, headers=retail_a)

    body = assert_tmf_error(response, 403)
    assert body["code"] == "FORBIDDEN"
    assert "ops" in body["message"]


async def test_ops_token_on_the_retail_api_is_403(
    http: httpx.AsyncClient, ops: dict[str, str]
) -> None:
    response = await http.get(TICKETS, headers=ops)

    body = assert_tmf_error(response, 403)
    assert body["code"] == "FORBIDDEN"


async def test_disabled_client_gets_no_token(
    http: httpx.AsyncClient, world: World, clean_database: Database
) -> None:
    async with clean_database.transaction() as session:
        client = await session.get(ApiClient, world.a.client_id)
        assert client is not None
        client.disabled = True

    response = await token_request(
        http, {"grant_type": "client_credentials"}, auth=(world.a.client_id, world.a.client_secret)
    )

    assert_oauth_error(response, 401, "invalid_client")


async def test_client_secrets_are_stored_only_as_hashes(
    world: World, clean_database: Database
) -> None:
    secrets = {world.a.client_secret, world.b.client_secret, world.ops_client_secret}
    async with clean_database.transaction() as session:
        clients = list((await session.execute(select(ApiClient))).scalars())

    assert len(clients) == 3
    for client in clients:
        stored = " ".join(str(getattr(client, column.key)) for column in ApiClient.__table__.c)
        for secret in secrets:
            assert secret not in stored
            assert base64.b64encode(secret.encode()).decode() not in stored
        assert len(client.secret_hash) == 64
