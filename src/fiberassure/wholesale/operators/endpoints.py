"""OAuth2 token endpoint (RFC 6749 client credentials, §4.4)."""

import base64
import binascii
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Form, Header, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from fiberassure.tmf.errors import ErrorBody
from fiberassure.wholesale.http import ClockDep, SessionDep, SettingsDep
from fiberassure.wholesale.operators.schemas import OAuthErrorBody, TokenResponse
from fiberassure.wholesale.operators.service import InvalidClient, InvalidScope, issue_token


def _oauth_error(status: int, error: str, description: str) -> JSONResponse:
    headers = {"Cache-Control": "no-store"}
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="fiberassure"'
    body = OAuthErrorBody(error=error, error_description=description)
    return JSONResponse(body.model_dump(exclude_none=True), status_code=status, headers=headers)


class OAuthRoute(APIRoute):
    """A malformed token request gets the RFC 6749 §5.2 body OAuth2 clients expect."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as error:
                fields = sorted({str(e.get("loc", ("?",))[-1]) for e in error.errors()})
                return _oauth_error(
                    400, "invalid_request", f"missing or invalid: {', '.join(fields)}"
                )

        return handle


router = APIRouter(tags=["OAuth2"], route_class=OAuthRoute)


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
    responses={
        400: {"model": OAuthErrorBody},
        401: {"model": OAuthErrorBody},
        "4XX": {"model": ErrorBody, "description": "Any other client error (TMF error body)"},
    },
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
    # No client id holds a NUL, and PostgreSQL could not even look one up.
    if credentials is None or "\x00" in credentials[0]:
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
