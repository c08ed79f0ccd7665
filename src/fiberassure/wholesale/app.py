"""The wholesale API application."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from fiberassure import __version__
from fiberassure.wholesale import metrics
from fiberassure.wholesale.clock import Clock, SystemClock
from fiberassure.wholesale.db import Database
from fiberassure.wholesale.diagnostics.endpoints import ops_router as quota_ops_router
from fiberassure.wholesale.diagnostics.endpoints import router as service_tests_router
from fiberassure.wholesale.events.endpoints import hub_router
from fiberassure.wholesale.events.endpoints import ops_router as ops_hub_router
from fiberassure.wholesale.http import BodySizeLimit, install_error_handlers
from fiberassure.wholesale.network.endpoints import router as simulator_router
from fiberassure.wholesale.operators.endpoints import router as oauth_router
from fiberassure.wholesale.ops.endpoints import router as ops_router
from fiberassure.wholesale.settings import Settings
from fiberassure.wholesale.tickets.endpoints import router as tickets_router
from fiberassure.wholesale.worker import run_workers

DEFAULT_BASE_URL = "http://127.0.0.1:8000"

DESCRIPTION = """
The wholesale side of fiberassure: TM Forum TMF621 Trouble Ticket and TMF653 Service Test
(v4 profiles) for retail operators, and the operations API through which the wholesaler's
staff drive repairs and the simulated network.

Authenticate with OAuth2 client credentials at `/oauth/token` and send
`Authorization: Bearer <token>`. Errors use the TMF `Error` body (`code`, `reason`,
`message`, `status`). See docs/api-profile.md for the lifecycle and the events.

A consumer ticket (`@type: ConsumerTroubleTicket`) extends TMF621 with `subscriberContact`
(who the technician calls), `visitWindow` (when the technician may come) and `slaClass`.
"""


def base_url_of(settings: Settings) -> str:
    return (settings.public_base_url or DEFAULT_BASE_URL).rstrip("/")


def create_app(
    settings: Settings | None = None,
    *,
    database: Database | None = None,
    clock: Clock | None = None,
    run_background: bool = False,
) -> FastAPI:
    """The API. Without `database`, one is opened at start-up (in the serving event loop);
    with `run_background`, the scheduler loop runs in-process."""
    settings = settings or Settings()
    clock = clock or SystemClock()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own_database = app.state.database is None
        if own_database:
            app.state.database = Database.from_settings(settings)
        stop = asyncio.Event()
        background = (
            asyncio.create_task(
                run_workers(app.state.database, settings, clock, app.state.base_url, stop)
            )
            if run_background
            else None
        )
        try:
            yield
        finally:
            stop.set()
            if background is not None:
                await background
            if own_database:
                await app.state.database.dispose()

    app = FastAPI(
        title="fiberassure wholesale API",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.clock = clock
    app.state.database = database
    app.state.base_url = base_url_of(settings)
    install_error_handlers(app)
    app.include_router(oauth_router)
    app.include_router(tickets_router)
    app.include_router(hub_router("troubleTicket"))
    app.include_router(service_tests_router)
    app.include_router(hub_router("serviceTest"))
    app.include_router(ops_router)
    app.include_router(quota_ops_router)
    app.include_router(simulator_router)
    app.include_router(ops_hub_router)
    app.include_router(metrics.router)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(metrics.RequestMetrics)

    @app.get("/health", tags=["Health"], summary="Liveness: the process answers")
    async def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    return app
