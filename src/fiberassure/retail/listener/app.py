"""The listener's ASGI app: `POST /listener` and `POST /listener/{eventName}` receive the
wholesaler's events; `GET /events` and `GET /mirror/…` read what was received."""

import asyncio
import contextlib
import hmac
import ipaddress
import time
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse

from fiberassure import __version__
from fiberassure.retail.listener import service
from fiberassure.retail.listener.forward import Forwarder
from fiberassure.retail.listener.models import MirroredResource, ReceivedEvent
from fiberassure.retail.listener.reconcile import Puller, WholesaleReader
from fiberassure.retail.listener.repository import ListenerRepository
from fiberassure.retail.listener.settings import ListenerSettings
from fiberassure.retail.listener.store import create_schema, open_store
from fiberassure.retail.listener.verify import SignatureError, secret_key, verify
from fiberassure.tmf.errors import ErrorBody
from fiberassure.wholesale.clock import Clock, SystemClock
from fiberassure.wholesale.db import Database

log = structlog.get_logger(__name__)
MAX_BODY_BYTES = 1024 * 1024
KEY_RELOAD_INTERVAL_S = 1.0


def error_response(status: int, code: str, reason: str, message: str) -> JSONResponse:
    body = ErrorBody(code=code, reason=reason, message=message, status=str(status))
    return JSONResponse(body.model_dump(by_alias=True, exclude_none=True), status_code=status)


class KeyRing:
    """The HMAC keys of every secret the listener accepts: its registered hubs' (in the
    database) and the configured ones. Reloaded from the database, at most once a second,
    when a message matches none (a hub registered by another process)."""

    def __init__(self, database: Database, configured: Sequence[str]) -> None:
        self.database = database
        self.configured = [secret_key(secret) for secret in configured]
        self.keys: list[bytes] = list(self.configured)
        self._loaded_at = -float("inf")
        self._lock = asyncio.Lock()

    async def reload(self, *, force: bool = True) -> bool:
        """Read the hubs' secrets again; False when skipped (reloaded less than 1 s ago)."""
        async with self._lock:
            if not force and time.monotonic() - self._loaded_at < KEY_RELOAD_INTERVAL_S:
                return False
            async with self.database.transaction() as session:
                hubs = await ListenerRepository(session).hubs()
            self.keys = [*self.configured, *(secret_key(hub.secret) for hub in hubs)]
            self._loaded_at = time.monotonic()
            return True


class Listener:
    """Everything one listener process holds: store, keys, puller, forwarder, loops."""

    def __init__(
        self,
        settings: ListenerSettings,
        database: Database,
        client: WholesaleReader | None,
        clock: Clock,
        forwarder: Forwarder,
    ) -> None:
        self.settings = settings
        self.database = database
        self.client = client
        self.clock = clock
        self.forwarder = forwarder
        self.keys = KeyRing(database, settings.hub_secrets)
        self.puller = (
            Puller(database, client, clock, settings.reconcile_overlap) if client else None
        )
        self._stop = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None

    async def start(self, *, run_background: bool = True) -> None:
        await create_schema(self.database)
        await self.keys.reload()
        if not self.keys.keys:
            log.warning("listener knows no hub secret yet: every event will be refused (401)")
        interval = self.settings.reconcile_interval
        if run_background and self.puller is not None and interval.total_seconds() > 0:
            self._stop.clear()
            self._loop_task = asyncio.create_task(self.puller.run(interval, self._stop))

    async def stop(self) -> None:
        self._stop.set()
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        if self.puller is not None:
            await self.puller.wait_for_fetches()
        await self.forwarder.close()

    async def settle(self) -> None:
        """Until background fetches and forwards are done (tests use this)."""
        if self.puller is not None:
            await self.puller.wait_for_fetches()
        await self.forwarder.drain()

    async def receive(self, request: Request, path_name: str | None) -> JSONResponse:
        if path_name is not None:
            canonical = service.event_name(path_name)
            if canonical is None:
                return error_response(
                    404, "NOT_FOUND", "Unknown event name", f"no listener for {path_name!r}"
                )
            path_name = canonical
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return error_response(413, "TOO_LARGE", "Body too large", f"> {MAX_BODY_BYTES} bytes")
        now = datetime.now(UTC)  # the signer's timestamp is wall time: so is this check
        refusal = self._refusal(request, body, now)
        if refusal is not None and await self.keys.reload(force=False):
            refusal = self._refusal(request, body, now)  # perhaps signed by a new hub
        if refusal is not None:
            log.warning("listener refused a message", reason=str(refusal))
            return error_response(401, "INVALID_SIGNATURE", "Signature refused", str(refusal))
        message_id = request.headers["webhook-id"]
        headers = {name: value for name, value in request.headers.items()}
        async with self.database.transaction() as session:
            receipt = await service.receive(
                session,
                message_id=message_id,
                headers=headers,
                body=body,
                path_name=path_name,
                now=self.clock.now(),
            )
        if receipt.gap is not None:
            if self.puller is not None:
                self.puller.request_fetch(*receipt.gap)
            else:
                log.warning("events missed and no wholesale client to fetch with", gap=receipt.gap)
        if not receipt.duplicate:
            self.forwarder.submit(body)
        return JSONResponse(
            {"eventId": receipt.event_id, "duplicate": receipt.duplicate}, status_code=200
        )

    def _refusal(self, request: Request, body: bytes, now: datetime) -> SignatureError | None:
        try:
            verify(self.keys.keys, request.headers, body, now, self.settings.signature_tolerance)
        except SignatureError as error:
            return error
        return None


async def _listener(request: Request) -> Listener:
    listener: Listener = request.app.state.listener
    return listener


async def _may_read(request: Request, listener: Annotated[Listener, Depends(_listener)]) -> None:
    """The read endpoints: a bearer token when one is configured, else loopback clients."""
    token = listener.settings.read_token
    if token:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if hmac.compare_digest(given.encode(), token.encode()):
            return
    elif request.client is not None and _is_loopback(request.client.host):
        return
    raise _Forbidden


class _Forbidden(Exception):
    pass


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host in ("localhost", "testclient")


def _event_out(event: ReceivedEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "eventId": event.event_id,
        "eventType": event.event_type,
        "resourceType": event.resource_type,
        "resourceId": event.resource_id,
        "sequenceNumber": event.sequence_number,
        "eventTime": event.event_time.isoformat() if event.event_time else None,
        "receivedAt": event.received_at.isoformat(),
        "applied": event.applied,
        "body": event.body,
    }


def _mirror_out(mirror: MirroredResource) -> dict[str, Any]:
    return {
        "resourceType": mirror.resource_type,
        "id": mirror.resource_id,
        "sequenceNumber": mirror.sequence_number,
        "source": mirror.source,
        "updatedAt": mirror.updated_at.isoformat(),
        "state": mirror.state,
    }


router = APIRouter()


@router.post("/listener", summary="Receive an event (any type)")
async def receive_any(
    request: Request, listener: Annotated[Listener, Depends(_listener)]
) -> JSONResponse:
    return await listener.receive(request, None)


@router.post("/listener/{event_name}", summary="Receive an event of one type")
async def receive_named(
    request: Request, event_name: str, listener: Annotated[Listener, Depends(_listener)]
) -> JSONResponse:
    return await listener.receive(request, event_name)


@router.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok", "version": __version__}


@router.get("/events", dependencies=[Depends(_may_read)])
async def events(
    listener: Annotated[Listener, Depends(_listener)],
    after: Annotated[int, Query(ge=0, description="Only events stored after this id.")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    resource_type: Annotated[str | None, Query(alias="resourceType")] = None,
    resource_id: Annotated[str | None, Query(alias="resourceId")] = None,
) -> list[dict[str, Any]]:
    """Stored events in arrival order (`after` = the last `id` seen, for tailing)."""
    async with listener.database.transaction() as session:
        rows = await ListenerRepository(session).events(
            after=after, limit=limit, resource_type=resource_type, resource_id=resource_id
        )
        return [_event_out(row) for row in rows]


@router.get("/mirror/{resource_type}", dependencies=[Depends(_may_read)])
async def mirrors(resource_type: str, listener: Annotated[Listener, Depends(_listener)]) -> Any:
    if resource_type not in service.RESOURCE_TYPES:
        return error_response(404, "NOT_FOUND", "Unknown resource type", resource_type)
    async with listener.database.transaction() as session:
        rows = await ListenerRepository(session).mirrors(resource_type)
        return [_mirror_out(row) for row in rows]


@router.get("/mirror/{resource_type}/{resource_id}", dependencies=[Depends(_may_read)])
async def mirror(
    resource_type: str, resource_id: str, listener: Annotated[Listener, Depends(_listener)]
) -> Any:
    async with listener.database.transaction() as session:
        row = await ListenerRepository(session).mirror(resource_type, resource_id)
        if row is None:
            return error_response(404, "NOT_FOUND", "Not in the mirror", resource_id)
        return _mirror_out(row)


def create_app(
    settings: ListenerSettings,
    *,
    database: Database | None = None,
    client: WholesaleReader | None = None,
    clock: Clock | None = None,
    forwarder: Forwarder | None = None,
    run_background: bool = True,
) -> FastAPI:
    """The listener app. Without `client`, one is made from the settings' wholesale URL and
    credentials when given (no client: gaps are only logged and nothing is reconciled)."""
    owned_database = database is None
    store = database or open_store(settings.database_url)
    owned_client = None
    if client is None and settings.can_call_wholesaler:
        from fiberassure.retail.client import AsyncRetailClient

        owned_client = AsyncRetailClient(
            settings.wholesale_url, settings.client_id, settings.client_secret
        )
        client = owned_client
    listener = Listener(
        settings,
        store,
        client,
        clock or SystemClock(),
        forwarder
        or Forwarder(
            command=settings.forward_command,
            url=settings.forward_url,
            timeout=settings.forward_timeout,
        ),
    )

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await listener.start(run_background=run_background)
        try:
            yield
        finally:
            await listener.stop()
            if owned_client is not None:
                await owned_client.aclose()
            if owned_database:
                await store.dispose()

    app = FastAPI(
        title="fiberassure retail listener",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.listener = listener
    app.include_router(router)

    @app.exception_handler(_Forbidden)
    async def _forbidden(_request: Request, _error: _Forbidden) -> JSONResponse:
        return error_response(
            403, "FORBIDDEN", "Not allowed", "read endpoints need the read token or loopback"
        )

    return app
