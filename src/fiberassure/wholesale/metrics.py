"""Prometheus metrics of this process (GET /metrics). Counters are per process: Prometheus
sums them across the API and worker processes it scrapes."""

import time

from fastapi import APIRouter, Response
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fiberassure.wholesale.events.repository import DeliveryRepository
from fiberassure.wholesale.http import ClockDep, SessionDep

DELIVERIES = Counter(
    "fiberassure_deliveries_total",
    "Delivery attempts by outcome: delivered, retry, failed (no attempts left), gone (410).",
    ["outcome"],
)
ATTEMPT_SECONDS = Histogram(
    "fiberassure_delivery_attempt_seconds",
    "Time from sending an event to the callback's response.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
OLDEST_PENDING_SECONDS = Gauge(
    "fiberassure_delivery_oldest_pending_seconds",
    "Age of the oldest undelivered event per hub (read from the database at scrape time).",
    ["hub"],
)
SERVICE_TESTS = Counter(
    "fiberassure_service_tests_total",
    "Finished service tests by state (completed, failed) and outcome or failure code.",
    ["state", "code"],
)
ADAPTER_SECONDS = Histogram(
    "fiberassure_network_adapter_seconds",
    "Time the network adapter took to read an ONT (timeouts included).",
    buckets=(0.01, 0.1, 0.5, 1, 2, 3, 5, 10, 30, 60),
)
HTTP_REQUESTS = Counter(
    "fiberassure_http_requests_total",
    "HTTP requests served, by method, route and status.",
    ["method", "route", "status"],
)
HTTP_SECONDS = Histogram(
    "fiberassure_http_request_seconds",
    "HTTP request duration, by method and route.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)


class RequestMetrics:
    """Counts and times every HTTP request by its route template (not its raw path, which
    would make one series per ticket id)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            HTTP_REQUESTS.labels(scope["method"], template, str(status)).inc()
            HTTP_SECONDS.labels(scope["method"], template).observe(time.perf_counter() - started)


router = APIRouter(tags=["Health"])


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=PlainTextResponse,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}},
)
async def prometheus_metrics(session: SessionDep, clock: ClockDep) -> Response:
    now = clock.now()
    OLDEST_PENDING_SECONDS.clear()
    for hub_id, oldest in await DeliveryRepository(session).oldest_pending_by_hub():
        OLDEST_PENDING_SECONDS.labels(hub=hub_id).set(max((now - oldest).total_seconds(), 0))
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
