"""Tenants, API clients and OAuth2 client-credentials tokens."""

import hashlib
import hmac
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt
from sqlalchemy.ext.asyncio import AsyncSession

from fiberassure.tmf.errors import Conflict, InvalidRequest
from fiberassure.wholesale.operators.models import ApiClient, Operator
from fiberassure.wholesale.operators.repository import OperatorRepository
from fiberassure.wholesale.operators.schemas import (
    RETAIL_SCOPES,
    ClientCredentials,
    Scope,
    TokenResponse,
)

TOKEN_ALGORITHM = "HS256"  # noqa: S105
TOKEN_AUDIENCE = "fiberassure"  # noqa: S105


def hash_secret(secret: str) -> str:
    # Client secrets are 256 random bits, so a fast hash is as strong as a slow KDF here.
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def operator_id_for(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or "operator"
    return f"{slug}-{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class Principal:
    """Who is calling: an API client, its operator (None for the wholesaler) and scopes."""

    client_id: str
    operator_id: str | None
    scopes: frozenset[str]


class InvalidClient(Exception):
    """Unknown client, wrong secret or disabled client (RFC 6749 `invalid_client`)."""


class InvalidScope(Exception):
    """The client asked for a scope it was not granted (RFC 6749 `invalid_scope`)."""


async def create_operator(
    session: AsyncSession, name: str, now: datetime, operator_id: str | None = None
) -> Operator:
    repository = OperatorRepository(session)
    if not name.strip():
        raise InvalidRequest("an operator needs a name")
    if await repository.get_by_name(name):
        raise Conflict(f"an operator named {name!r} already exists")
    operator = Operator(id=operator_id or operator_id_for(name), name=name, created_at=now)
    repository.add(operator)
    await session.flush()
    return operator


async def create_client(
    session: AsyncSession,
    *,
    name: str,
    operator_id: str | None,
    scopes: tuple[Scope, ...],
    now: datetime,
    client_id: str | None = None,
    client_secret: str | None = None,
) -> ClientCredentials:
    """A new API client. Retail clients belong to an operator; `ops` clients to nobody."""
    if operator_id is None and scopes != (Scope.OPS,):
        raise InvalidRequest("a client without an operator is an ops client: scope ops only")
    if operator_id is not None and Scope.OPS in scopes:
        raise InvalidRequest("a retail operator's client cannot have scope ops")
    secret = client_secret or new_secret()
    client = ApiClient(
        client_id=client_id or f"client-{uuid.uuid4().hex[:16]}",
        secret_hash=hash_secret(secret),
        operator_id=operator_id,
        scopes=" ".join(scopes),
        name=name,
        disabled=False,
        created_at=now,
    )
    OperatorRepository(session).add(client)
    await session.flush()
    return ClientCredentials(
        operator_id=operator_id,
        client_id=client.client_id,
        client_secret=secret,
        scopes=list(scopes),
    )


async def create_retail_operator(
    session: AsyncSession, name: str, now: datetime
) -> ClientCredentials:
    operator = await create_operator(session, name, now)
    return await create_client(
        session, name=f"{name} API client", operator_id=operator.id, scopes=RETAIL_SCOPES, now=now
    )


async def issue_token(
    session: AsyncSession,
    *,
    client_id: str,
    client_secret: str,
    requested_scope: str | None,
    signing_key: str,
    ttl: timedelta,
    now: datetime,
) -> TokenResponse:
    client = await OperatorRepository(session).get_client(client_id)
    if (
        client is None
        or client.disabled
        or not hmac.compare_digest(client.secret_hash, hash_secret(client_secret))
    ):
        raise InvalidClient
    granted = client.scopes.split()
    scopes = requested_scope.split() if requested_scope else granted
    if not scopes or not set(scopes) <= set(granted):
        raise InvalidScope
    claims = {
        "sub": client.client_id,
        "op": client.operator_id,
        "scope": " ".join(scopes),
        "aud": TOKEN_AUDIENCE,
        "iat": int(now.timestamp()),
        "exp": int((now + ttl).timestamp()),
        "jti": uuid.uuid4().hex,
    }
    token = jwt.encode(claims, signing_key, algorithm=TOKEN_ALGORITHM)
    return TokenResponse(
        access_token=token, expires_in=int(ttl.total_seconds()), scope=" ".join(scopes)
    )


def principal_from_token(token: str, signing_key: str, now: datetime) -> Principal:
    """Verify a bearer token; raises `jwt.InvalidTokenError` when it is not ours or expired."""
    claims = jwt.decode(
        token,
        signing_key,
        algorithms=[TOKEN_ALGORITHM],
        audience=TOKEN_AUDIENCE,
        options={"require": ["sub", "exp", "scope"], "verify_exp": False, "verify_iat": False},
    )
    # Expiry (and issue time) are checked against the injectable clock, not the wall clock.
    if int(claims["exp"]) <= int(now.timestamp()):
        raise jwt.ExpiredSignatureError("token expired")
    return Principal(
        client_id=str(claims["sub"]),
        operator_id=claims.get("op"),
        scopes=frozenset(str(claims["scope"]).split()),
    )
