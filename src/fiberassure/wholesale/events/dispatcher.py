"""The dispatcher: delivers outbox events to hubs, at least once, in order per resource per hub.

A pass claims the heads of due delivery lines in one short transaction (leasing them), POSTs
outside any transaction, and records outcomes in another short transaction. A worker that
dies mid-delivery loses only its lease: the delivery is claimed again when the lease ends and
re-sent with the same `webhook-id`.
"""

import asyncio
import email.utils
import json
import random
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx2
import structlog

from fiberassure import __version__
from fiberassure.wholesale import metrics
from fiberassure.wholesale.clock import Clock
from fiberassure.wholesale.db import Database
from fiberassure.wholesale.events.callbacks import CallbackPolicy, CallbackRefused
from fiberassure.wholesale.events.models import DeliveryAttempt
from fiberassure.wholesale.events.repository import DeliveryRepository, HubRepository
from fiberassure.wholesale.events.signing import sign
from fiberassure.wholesale.settings import Settings

log = structlog.get_logger(__name__)
RESPONSE_BODY_KEPT = 1000
MAX_RETRY_AFTER = timedelta(days=1)


@dataclass(frozen=True)
class ClaimedDelivery:
    delivery_id: int
    lease_token: str
    hub_id: str
    callback: str
    secret: str
    event_id: str
    attempts: int
    body: bytes


@dataclass(frozen=True)
class Outcome:
    claimed: ClaimedDelivery
    attempted_at: datetime
    latency_ms: float
    status_code: int | None = None
    error: str | None = None
    response_body: str | None = None
    retry_after: timedelta | None = None

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def parse_retry_after(value: str | None, now: datetime) -> timedelta | None:
    """`Retry-After` as seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(timedelta(seconds=int(value)), MAX_RETRY_AFTER)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return min(max(when - now, timedelta(0)), MAX_RETRY_AFTER)


class Dispatcher:
    def __init__(
        self,
        database: Database,
        settings: Settings,
        clock: Clock,
    ) -> None:
        self.database = database
        self.settings = settings
        self.clock = clock
        self.policy = CallbackPolicy(settings.callback_allow_private, settings.callback_allowlist)
        concurrency = settings.dispatcher_concurrency
        # httpx2 rather than httpx: httpx's pool slows down sharply with many requests in
        # flight (encode/httpx#3215): 131 vs 848 POSTs/s at 64 concurrent here (bench/).
        self.client = httpx2.AsyncClient(
            timeout=settings.delivery_timeout.total_seconds(),
            follow_redirects=False,
            limits=httpx2.Limits(
                max_connections=concurrency, max_keepalive_connections=concurrency
            ),
            headers={"User-Agent": f"fiberassure/{__version__}"},
        )
        self.random = random.Random()

    async def close(self) -> None:
        await self.client.aclose()

    # -- the three steps --------------------------------------------------------------------

    async def claim(self, limit: int) -> list[ClaimedDelivery]:
        """Lease up to `limit` deliveries that head their line and are due."""
        now = self.clock.now()
        lease_until = now + self.settings.delivery_lease
        claimed = []
        async with self.database.transaction() as session:
            for delivery, payload, callback, secret in await DeliveryRepository(
                session
            ).claim_heads(now, limit):
                token = str(uuid.uuid4())
                delivery.lease_until = lease_until
                delivery.lease_token = token
                claimed.append(
                    ClaimedDelivery(
                        delivery_id=delivery.id,
                        lease_token=token,
                        hub_id=delivery.hub_id,
                        callback=callback,
                        secret=secret,
                        event_id=delivery.event_id,
                        attempts=delivery.attempts,
                        body=json.dumps(payload, separators=(",", ":")).encode(),
                    )
                )
        return claimed

    async def send(self, claimed: ClaimedDelivery) -> Outcome:
        """POST one event. Never raises: every failure is an outcome."""
        attempted_at = self.clock.now()
        started = time.perf_counter()

        def elapsed_ms() -> float:
            return (time.perf_counter() - started) * 1000

        try:
            await self.policy.check_destination(claimed.callback)
        except CallbackRefused as error:
            return Outcome(claimed, attempted_at, elapsed_ms(), error=str(error)[:500])
        # The receiver checks the timestamp against its own wall clock, so it is wall time.
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "webhook-id": claimed.event_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(claimed.secret, claimed.event_id, timestamp, claimed.body),
        }
        try:
            response = await self.client.post(
                claimed.callback, content=claimed.body, headers=headers
            )
        except httpx2.TimeoutException:
            return Outcome(claimed, attempted_at, elapsed_ms(), error="timeout")
        except httpx2.HTTPError as error:
            message = f"{type(error).__name__}: {error}"[:500]
            return Outcome(claimed, attempted_at, elapsed_ms(), error=message)
        latency = elapsed_ms()
        metrics.ATTEMPT_SECONDS.observe(latency / 1000)
        retry_after = None
        if response.status_code in (429, 503):
            retry_after = parse_retry_after(response.headers.get("Retry-After"), attempted_at)
        return Outcome(
            claimed,
            attempted_at,
            latency,
            status_code=response.status_code,
            response_body=response.text[:RESPONSE_BODY_KEPT] if response.content else None,
            retry_after=retry_after,
        )

    async def record(self, outcomes: list[Outcome]) -> None:
        """Write the outcomes: delivered, retry later, failed, or hub gone (410)."""
        if not outcomes:
            return
        async with self.database.transaction() as session:
            deliveries = DeliveryRepository(session)
            held = await deliveries.still_leased(
                {o.claimed.delivery_id: o.claimed.lease_token for o in outcomes}
            )
            for outcome in outcomes:
                delivery = held.get(outcome.claimed.delivery_id)
                if delivery is None:
                    continue  # the lease ran out and another worker took it over
                deliveries.add_attempt(
                    DeliveryAttempt(
                        delivery_id=delivery.id,
                        attempted_at=outcome.attempted_at,
                        status_code=outcome.status_code,
                        latency_ms=round(outcome.latency_ms, 3),
                        error=outcome.error,
                        response_body=outcome.response_body,
                    )
                )
                delivery.attempts += 1
                delivery.last_status_code = outcome.status_code
                delivery.last_error = outcome.error
                delivery.lease_until = None
                delivery.lease_token = None
                if outcome.delivered:
                    delivery.status = "delivered"
                    delivery.delivered_at = self.clock.now()
                    metrics.DELIVERIES.labels(outcome="delivered").inc()
                elif outcome.status_code == 410:
                    delivery.status = "failed"
                    reason = f"callback answered 410 Gone at {outcome.attempted_at.isoformat()}"
                    await HubRepository(session).disable(delivery.hub_id, reason)
                    metrics.DELIVERIES.labels(outcome="gone").inc()
                elif delivery.attempts > len(self.settings.retry_schedule):
                    delivery.status = "failed"
                    metrics.DELIVERIES.labels(outcome="failed").inc()
                else:
                    delivery.next_attempt_at = self.clock.now() + self._delay(
                        delivery.attempts, outcome.retry_after
                    )
                    metrics.DELIVERIES.labels(outcome="retry").inc()

    def _delay(self, attempts: int, retry_after: timedelta | None) -> timedelta:
        base = self.settings.retry_schedule[attempts - 1]
        jitter = self.settings.retry_jitter
        delay = base * self.random.uniform(1 - jitter, 1 + jitter)
        return max(delay, retry_after) if retry_after is not None else delay

    # -- loops ------------------------------------------------------------------------------

    async def run_once(self, limit: int | None = None) -> int:
        """Claim, send concurrently and record one batch. Returns how many were attempted."""
        claimed = await self.claim(limit or self.settings.dispatcher_concurrency)
        outcomes = await asyncio.gather(*(self.send(c) for c in claimed))
        await self.record(list(outcomes))
        return len(claimed)

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until `stop` is set, keeping up to `dispatcher_concurrency` POSTs in flight;
        a slow callback holds one slot, not the whole batch."""
        concurrency = self.settings.dispatcher_concurrency
        poll = self.settings.dispatcher_poll_interval.total_seconds()
        in_flight: set[asyncio.Task[Outcome]] = set()
        finished: list[Outcome] = []
        wake = asyncio.Event()

        def collect(task: asyncio.Task[Outcome]) -> None:
            in_flight.discard(task)
            if not task.cancelled() and task.exception() is None:
                finished.append(task.result())
            wake.set()

        try:
            while not stop.is_set():
                wake.clear()
                try:
                    if finished:
                        batch = finished[:]
                        finished.clear()
                        await self.record(batch)
                    free = concurrency - len(in_flight)
                    claimed = await self.claim(free) if free > 0 else []
                except Exception:
                    # A database blip: leases keep the claimed rows safe until they expire.
                    log.exception("dispatcher pass failed")
                    claimed = []
                    await asyncio.sleep(poll)
                for delivery in claimed:
                    task = asyncio.create_task(self.send(delivery))
                    in_flight.add(task)
                    task.add_done_callback(collect)
                if not claimed and not finished:
                    waiters = [asyncio.create_task(wake.wait()), asyncio.create_task(stop.wait())]
                    await asyncio.wait(waiters, timeout=poll, return_when=asyncio.FIRST_COMPLETED)
                    for waiter in waiters:
                        waiter.cancel()
        finally:
            if in_flight:
                await asyncio.wait(in_flight)
            if finished:
                await self.record(finished)
            await self.close()
