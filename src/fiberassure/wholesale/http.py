"""HTTP plumbing shared by every router: the request's unit of work, authentication,
content negotiation and the TMF error rendering."""

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any

import jwt
import structlog
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.models import OAuthFlowClientCredentials, OAuthFlows
from fastapi.responses import JSONResponse
from fastapi.security import OAuth2
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fiberassure.tmf.errors import (
    Conflict,
    Forbidden,
    InternalError,
    InvalidRequest,
    MethodNotAllowed,
    NotAuthenticated,
    NotFound,
    PayloadTooLarge,
    TMFError,
    UnsupportedMediaType,
)
from fiberassure.wholesale.clock import Clock
from fiberassure.wholesale.db import Database, DatabaseBusy
from fiberassure.wholesale.operators.schemas import Scope as ApiScope
from fiberassure.wholesale.operators.service import Principal, principal_from_token
from fiberassure.wholesale.settings import Settings

log = structlog.get_logger(__name__)


# Dependencies are `async def` even without I/O: FastAPI runs a plain `def` in its thread
# pool, a thread hop per dependency per request.
async def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def clock_of(request: Request) -> Clock:
    clock: Clock = request.app.state.clock
    return clock


async def request_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's unit of work: one transaction, committed once.

    Used with `scope="function"`, so the commit runs when the endpoint returns and before the
    response is sent: a client never sees 201 for a write that then fails to commit.
    """
    database: Database = request.app.state.database
    async with database.transaction() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(request_session, scope="function")]
SettingsDep = Annotated[Settings, Depends(settings_of)]
ClockDep = Annotated[Clock, Depends(clock_of)]

oauth2_scheme = OAuth2(
    flows=OAuthFlows(
        clientCredentials=OAuthFlowClientCredentials(
            tokenUrl="/oauth/token",
            scopes={
                ApiScope.TROUBLE_TICKET: "Trouble tickets (TMF621)",
                ApiScope.SERVICE_TEST: "Service tests (TMF653)",
                ApiScope.HUB: "Event subscriptions",
                ApiScope.OPS: "Wholesale operations",
            },
        )
    ),
    auto_error=False,
)


def _bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise NotAuthenticated("an Authorization: Bearer <token> header is required")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthenticated("the Authorization header must be 'Bearer <token>'")
    return token.strip()


def require_scope(scope: ApiScope) -> Callable[..., Awaitable[Principal]]:
    """A dependency that authenticates the caller and checks it holds `scope`."""

    async def authorized(
        request: Request,
        settings: SettingsDep,
        clock: ClockDep,
        authorization: Annotated[str | None, Depends(oauth2_scheme)],
    ) -> Principal:
        token = _bearer_token(authorization)
        try:
            principal = principal_from_token(token, settings.token_signing_key, clock.now())
        except jwt.ExpiredSignatureError:
            raise NotAuthenticated("the access token has expired; request a new one") from None
        except jwt.InvalidTokenError:
            raise NotAuthenticated("the access token is not valid") from None
        if scope not in principal.scopes:
            raise Forbidden(f"this operation needs scope {scope}")
        if scope is not ApiScope.OPS and principal.operator_id is None:
            raise Forbidden("only a retail operator's client can use this API")
        request.state.principal = principal
        return principal

    return authorized


JSON_MEDIA_TYPES = ("application/json", "application/merge-patch+json")


async def require_json_body(request: Request) -> None:
    """Refuse a body that is not JSON with 415 instead of a confusing validation error."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in JSON_MEDIA_TYPES:
        raise UnsupportedMediaType(
            f"Content-Type must be one of {', '.join(JSON_MEDIA_TYPES)}, "
            f"not {media_type or 'missing'}"
        )


async def require_json_body_if_any(request: Request) -> None:
    """For an optional body: none at all is fine, but a body that is there must be JSON."""
    has_body = request.headers.get("content-length", "0") != "0"
    if has_body or "transfer-encoding" in request.headers:
        await require_json_body(request)


class BodySizeLimit:
    """Refuse request bodies above a limit before they are read whole (413)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLarge
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _BodyTooLarge:
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        error = PayloadTooLarge(f"request bodies are limited to {self.max_bytes} bytes")
        await tmf_error_response(error)(scope, receive, send)


class _BodyTooLarge(Exception):
    pass


def tmf_error_response(error: TMFError, status_code: int | None = None) -> JSONResponse:
    """Render `error` as the TMF body; `status_code` overrides the class's status."""
    body = error.body()
    if status_code is not None:
        body.status = str(status_code)
    return JSONResponse(
        status_code=status_code or error.status_code,
        content=body.model_dump(mode="json", by_alias=True, exclude_none=True),
        headers=error.headers,
    )


def _describe_validation_errors(errors: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    # The offending input is not echoed back: it may be a megabyte long.
    described = []
    for error in errors[:20]:
        location = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
        described.append({"field": location or "body", "problem": error.get("msg", "invalid")})
    message = "; ".join(f"{d['field']}: {d['problem']}" for d in described)
    return message, described


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route accepts on the request's path (routers included)."""

    def collect(routes: list[Any], scope: dict[str, Any], methods: set[str]) -> set[str]:
        for route in routes:
            match, child_scope = route.matches(scope)
            if match is Match.NONE:
                continue
            included = getattr(route, "original_router", None)
            if included is not None:
                collect(included.routes, {**scope, **child_scope}, methods)
            else:
                methods |= set(getattr(route, "methods", None) or ())
        return methods

    return sorted(collect(request.app.router.routes, dict(request.scope), set()))


def install_error_handlers(app: FastAPI) -> None:
    async def on_tmf_error(_request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, TMFError)
        return tmf_error_response(error)

    async def on_validation_error(_request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        errors = list(error.errors())
        if any(e.get("type") == "json_invalid" for e in errors):
            return tmf_error_response(InvalidRequest("the request body is not valid JSON"))
        message, described = _describe_validation_errors(errors)
        return tmf_error_response(InvalidRequest(message, details={"errors": described}))

    async def on_http_error(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, StarletteHTTPException)
        headers = dict(error.headers or {})
        if isinstance(error.__cause__, _BodyTooLarge):
            # A body without Content-Length that grew past the limit while FastAPI read it.
            limit = request.app.state.settings.max_body_bytes
            return tmf_error_response(
                PayloadTooLarge(f"request bodies are limited to {limit} bytes")
            )
        if error.status_code == 404:
            return tmf_error_response(NotFound("no such resource or path"))
        if error.status_code == 405:
            # Starlette names only the first route matching the path; a path has several.
            headers["Allow"] = ", ".join(_allowed_methods(request))
            return tmf_error_response(
                MethodNotAllowed("this method is not allowed on this resource", headers=headers)
            )
        return tmf_error_response(
            InvalidRequest(str(error.detail), headers=headers), status_code=error.status_code
        )

    async def on_integrity_error(_request: Request, error: Exception) -> JSONResponse:
        log.warning("integrity error", error=str(error).splitlines()[0])
        return tmf_error_response(
            Conflict("the change conflicts with a concurrent change; read and retry")
        )

    async def on_data_error(_request: Request, error: Exception) -> JSONResponse:
        # A value the database cannot store, e.g. a NUL character in a PostgreSQL text column.
        log.warning("data error", error=str(error).splitlines()[0])
        return tmf_error_response(InvalidRequest("a value in the request cannot be stored"))

    async def on_database_error(_request: Request, error: Exception) -> JSONResponse:
        log.error("database error", error=str(error).splitlines()[0])
        if isinstance(error, OperationalError | DatabaseBusy):
            busy = InternalError(
                "the database is busy; retry shortly", headers={"Retry-After": "1"}
            )
            return tmf_error_response(busy, status_code=503)
        return tmf_error_response(InternalError("unexpected database error"))

    async def on_unexpected(_request: Request, error: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=error)
        return tmf_error_response(InternalError("unexpected error; it has been logged"))

    app.add_exception_handler(TMFError, on_tmf_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(IntegrityError, on_integrity_error)
    app.add_exception_handler(DataError, on_data_error)
    app.add_exception_handler(DBAPIError, on_database_error)
    app.add_exception_handler(DatabaseBusy, on_database_error)
    app.add_exception_handler(Exception, on_unexpected)
