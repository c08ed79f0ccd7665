"""The dispatcher: delivers outbox events to hubs, at least once, in order per resource per hub.

A pass claims the heads of due delivery lines in one short transaction (leasing them), POSTs
outside any transaction, and records outcomes in another short transaction. A worker that
dies mid-delivery loses only its lease: the delivery is claimed again when the lease ends and
re-sent with the same `webhook-id`.
"""

import asyncio
import contextlib
import email.utils
import math
import random
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import aiohttp
import structlog

from fiberassure import __version__
from fiberassure.wholesale import metrics
from fiberassure.wholesale.clock import Clock
from fiberassure.wholesale.db import Database
from fiberassure.wholesale.events.callbacks import CallbackPolicy, CallbackRefused
from fiberassure.wholesale.events.repository import (
    AttemptRecord,
    DeliveryRepository,
    HubRepository,
)
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
        self.random = random.Random()
        self._client: aiohttp.ClientSession | None = None
        # SQLite has one writer: the claim and record transactions of this process take turns
        # here instead of in SQLite's sleeping busy handler.
        self._sqlite_turn = asyncio.Lock() if database.is_sqlite else None

    @property
    def client(self) -> aiohttp.ClientSession:
        """The pooled keep-alive HTTP client, made in the running event loop on first use.

        aiohttp rather than httpx/httpx2: their connection pools cost O(connections) of Python
        per request, which capped a 64-wide pool at ~1,700 POSTs/s here (bench/)."""
        if self._client is None:
            concurrency = self.settings.dispatcher_concurrency
            self._client = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=concurrency, limit_per_host=0),
                timeout=aiohttp.ClientTimeout(total=self.settings.delivery_timeout.total_seconds()),
                headers={"User-Agent": f"fiberassure/{__version__}"},
                # Cookies a listener sets must not travel to other callbacks.
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    @contextlib.asynccontextmanager
    async def _write_turn(self) -> AsyncIterator[None]:
        if self._sqlite_turn is None:
            yield
            return
        async with self._sqlite_turn:
            yield

    # -- the three steps --------------------------------------------------------------------

    async def claim(self, limit: int) -> list[ClaimedDelivery]:
        """Lease up to `limit` deliveries that head their line and are due."""
        now = self.clock.now()
        # One token per claim: it names the claim that holds these leases.
        token = str(uuid.uuid4())
        async with self._write_turn(), self.database.transaction() as session:
            leased = await DeliveryRepository(session).lease_heads(
                now, now + self.settings.delivery_lease, token, limit
            )
        return [
            ClaimedDelivery(
                delivery_id=row.id,
                lease_token=token,
                hub_id=row.hub_id,
                callback=row.callback,
                secret=row.secret,
                event_id=row.event_id,
                attempts=row.attempts,
                body=row.payload.encode(),
            )
            for row in leased
        ]

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
            async with self.client.post(
                claimed.callback, data=claimed.body, headers=headers, allow_redirects=False
            ) as response:
                content = await response.read()
                status_code = response.status
                retry_after_header = response.headers.get("Retry-After")
                charset = response.charset or "utf-8"
        except TimeoutError:
            return Outcome(claimed, attempted_at, elapsed_ms(), error="timeout")
        except (aiohttp.ClientError, OSError, ValueError) as error:
            message = f"{type(error).__name__}: {error}"[:500]
            return Outcome(claimed, attempted_at, elapsed_ms(), error=message)
        latency = elapsed_ms()
        metrics.ATTEMPT_SECONDS.observe(latency / 1000)
        retry_after = None
        if status_code in (429, 503):
            retry_after = parse_retry_after(retry_after_header, attempted_at)
        return Outcome(
            claimed,
            attempted_at,
            latency,
            status_code=status_code,
            response_body=_text(content, charset) if content else None,
            retry_after=retry_after,
        )

    async def record(self, outcomes: list[Outcome]) -> None:
        """Write the outcomes: delivered, retry later, failed, or hub gone (410). An outcome
        whose lease ran out meanwhile (another worker took the delivery over) is dropped."""
        if not outcomes:
            return
        now = self.clock.now()
        records: list[AttemptRecord] = []
        results: dict[int, str] = {}
        gone: dict[int, tuple[str, str]] = {}
        for outcome in outcomes:
            claimed = outcome.claimed
            tried = claimed.attempts + 1
            next_attempt_at = delivered_at = None
            if outcome.delivered:
                status, result, delivered_at = "delivered", "delivered", now
            elif outcome.status_code == 410:
                status, result = "failed", "gone"
                gone[claimed.delivery_id] = (
                    claimed.hub_id,
                    f"callback answered 410 Gone at {outcome.attempted_at.isoformat()}",
                )
            elif tried > len(self.settings.retry_schedule):
                status, result = "failed", "failed"
            else:
                status, result = "pending", "retry"
                next_attempt_at = now + self._delay(tried, outcome.retry_after)
            results[claimed.delivery_id] = result
            records.append(
                AttemptRecord(
                    delivery_id=claimed.delivery_id,
                    lease_token=claimed.lease_token,
                    status=status,
                    attempts=tried,
                    next_attempt_at=next_attempt_at,
                    delivered_at=delivered_at,
                    attempted_at=outcome.attempted_at,
                    status_code=outcome.status_code,
                    latency_ms=round(outcome.latency_ms, 3),
                    error=outcome.error,
                    response_body=outcome.response_body,
                )
            )
        async with self._write_turn(), self.database.transaction() as session:
            applied = await DeliveryRepository(session).record_attempts(records)
            hubs = HubRepository(session)
            for delivery_id, (hub_id, reason) in gone.items():
                if delivery_id in applied:
                    await hubs.disable(hub_id, reason)
        for delivery_id in applied:
            metrics.DELIVERIES.labels(outcome=results[delivery_id]).inc()

    def _delay(self, attempts: int, retry_after: timedelta | None) -> timedelta:
        base = self.settings.retry_schedule[attempts - 1]
        jitter = self.settings.retry_jitter
        delay = base * self.random.uniform(1 - jitter, 1 + jitter)
        return max(delay, retry_after) if retry_after is not None else delay

    # -- loops ------------------------------------------------------------------------------

    async def run_once(self, limit: int | None = None) -> int:
        """Claim, send concurrently and record one batch. Returns how many were attempted.
        The HTTP client is closed afterwards: one batch keeps no connections open."""
        try:
            claimed = await self.claim(limit or self.settings.dispatcher_concurrency)
            outcomes = await asyncio.gather(*(self.send(c) for c in claimed))
            await self.record(list(outcomes))
            return len(claimed)
        finally:
            await self.close()

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until `stop` is set, keeping up to `dispatcher_concurrency` POSTs in flight;
        a slow callback holds one slot, not the whole batch.

        Claims refill free slots in batches (a quarter of the slots at least, or any number
        when nothing is in flight), and outcomes are recorded by one writer beside the
        claims, in batches of whatever finished meanwhile: two short transactions per batch
        rather than per delivery. While claims keep finding work, the database is polled five
        times as often as when idle."""
        concurrency = self.settings.dispatcher_concurrency
        refill = max(1, concurrency // 4)
        poll = self.settings.dispatcher_poll_interval.total_seconds()
        in_flight: set[asyncio.Task[Outcome]] = set()
        finished: list[Outcome] = []
        wake = asyncio.Event()
        recording: asyncio.Task[None] | None = None
        found_work_at = -math.inf

        def collect(task: asyncio.Task[Outcome]) -> None:
            in_flight.discard(task)
            if not task.cancelled() and task.exception() is None:
                finished.append(task.result())
            wake.set()

        async def record_finished() -> None:
            while finished:
                batch = finished[:]
                finished.clear()
                try:
                    await self.record(batch)
                except Exception:
                    # The leases keep these deliveries: they are sent again when they end.
                    log.exception("dispatcher could not record outcomes")
                    await asyncio.sleep(poll)

        try:
            while not stop.is_set():
                wake.clear()
                if finished and (recording is None or recording.done()):
                    recording = asyncio.create_task(record_finished())
                free = concurrency - len(in_flight)
                claimed: list[ClaimedDelivery] = []
                if free >= refill or (free > 0 and not in_flight):
                    try:
                        claimed = await self.claim(free)
                    except Exception:
                        # A database blip: leases keep the claimed rows safe until they expire.
                        log.exception("dispatcher pass failed")
                        await asyncio.sleep(poll)
                for delivery in claimed:
                    task = asyncio.create_task(self.send(delivery))
                    in_flight.add(task)
                    task.add_done_callback(collect)
                if claimed:
                    found_work_at = time.monotonic()
                elif not wake.is_set():
                    busy = time.monotonic() - found_work_at < poll
                    waiters = [asyncio.create_task(wake.wait()), asyncio.create_task(stop.wait())]
                    await asyncio.wait(
                        waiters,
                        timeout=poll / 5 if busy else poll,
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                    for waiter in waiters:
                        waiter.cancel()
        finally:
            if in_flight:
                await asyncio.wait(in_flight)
            if recording is not None:
                await recording
            if finished:
                await self.record(finished)
            await self.close()


def _text(content: bytes, charset: str) -> str:
    """The start of an answer's body as text, for the attempt log."""
    try:
        return content[: RESPONSE_BODY_KEPT * 4].decode(charset, errors="replace")[
            :RESPONSE_BODY_KEPT
        ]
    except LookupError:  # an unknown charset
        return content[: RESPONSE_BODY_KEPT * 4].decode("utf-8", errors="replace")[
            :RESPONSE_BODY_KEPT
        ]
