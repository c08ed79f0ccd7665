"""OAuth2 token endpoint (RFC 6749 client credentials, §4.4)."""

import base64
import binascii
from typing import Annotated

from fastapi import APIRouter, Form, Header
from fastapi.responses import JSONResponse

from fiberassure.wholesale.http import ClockDep, SessionDep, SettingsDep
from fiberassure.wholesale.operators.schemas import OAuthErrorBody, TokenResponse
from fiberassure.wholesale.operators.service import InvalidClient, InvalidScope, issue_token

router = APIRouter(tags=["OAuth2"])


def _oauth_error(status: int, error: str, description: str) -> JSONResponse:
    headers = {"Cache-Control": "no-store"}
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="fiberassure"'
    body = OAuthErrorBody(error=error, error_description=description)
    return JSONResponse(body.model_dump(exclude_none=True), status_code=status, headers=headers)


def _basic_credentials(authorization: str | None) -> tuple[str, str] | None:
    if not authorization or not authorization.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, sep, secret = decoded.partition(":")
    return (client_id, secret) if sep else None


@router.post(
    "/oauth/token",
    response_model=TokenResponse,
    summary="Exchange client credentials for a bearer token",
    responses={400: {"model": OAuthErrorBody}, 401: {"model": OAuthErrorBody}},
)
async def token(
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    grant_type: Annotated[str, Form(max_length=64)],
    scope: Annotated[str | None, Form(max_length=200)] = None,
    client_id: Annotated[str | None, Form(max_length=64)] = None,
    client_secret: Annotated[str | None, Form(max_length=200)] = None,
    authorization: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    """Credentials in the form body (`client_id`, `client_secret`) or HTTP Basic."""
    if grant_type != "client_credentials":
        return _oauth_error(400, "unsupported_grant_type", "only client_credentials is supported")
    credentials = _basic_credentials(authorization) or (
        (client_id, client_secret) if client_id and client_secret else None
    )
    if credentials is None:
        return _oauth_error(401, "invalid_client", "client credentials are required")
    try:
        response = await issue_token(
            session,
            client_id=credentials[0],
            client_secret=credentials[1],
            requested_scope=scope,
            signing_key=settings.token_signing_key,
            ttl=settings.token_ttl,
            now=clock.now(),
        )
    except InvalidClient:
        return _oauth_error(401, "invalid_client", "unknown client or wrong secret")
    except InvalidScope:
        return _oauth_error(
            400, "invalid_scope", "a requested scope was not granted to this client"
        )
    return JSONResponse(
        response.model_dump(), headers={"Cache-Control": "no-store", "Pragma": "no-cache"}
    )
