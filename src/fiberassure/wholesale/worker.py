"""Background loops: the deadline scheduler (auto-close, pending timeout, idempotency and
quota housekeeping), the event dispatcher and the service-test runner.

Each pass is a plain function taking the database, so tests call it directly; the loop only
repeats it. Every pass claims its rows in a short transaction of its own, so any number of
worker processes can run it side by side.
"""

import asyncio
import contextlib
from datetime import timedelta

import structlog

from fiberassure.wholesale.clock import Clock
from fiberassure.wholesale.db import Database
from fiberassure.wholesale.diagnostics.repository import QuotaRepository
from fiberassure.wholesale.diagnostics.runner import TestRunner
from fiberassure.wholesale.events.dispatcher import Dispatcher
from fiberassure.wholesale.idempotency.service import forget_expired
from fiberassure.wholesale.network.adapters import adapter_for
from fiberassure.wholesale.settings import Settings
from fiberassure.wholesale.tickets.service import TicketService

log = structlog.get_logger(__name__)
BATCH = 100
# Quota counters are kept a little longer than their longest window (a day), for support.
QUOTA_RETENTION = timedelta(days=2)


async def run_deadlines_once(
    database: Database, settings: Settings, clock: Clock, base_url: str
) -> dict[str, int]:
    """One pass over every deadline; returns how many rows each job handled."""
    done = {
        "autoClosed": 0,
        "pendingExpired": 0,
        "idempotencyForgotten": 0,
        "quotaWindowsForgotten": 0,
    }
    for job, key in (
        (TicketService.close_resolved, "autoClosed"),
        (TicketService.expire_pending, "pendingExpired"),
    ):
        while True:
            async with database.transaction() as session:
                handled = await job(TicketService(session, settings, clock.now(), base_url), BATCH)
            done[key] += handled
            if handled < BATCH:
                break
    async with database.transaction() as session:
        done["idempotencyForgotten"] = await forget_expired(
            session, clock.now() - settings.idempotency_retention
        )
        done["quotaWindowsForgotten"] = await QuotaRepository(session).forget_before(
            clock.now() - QUOTA_RETENTION
        )
    return done


async def scheduler_loop(
    database: Database, settings: Settings, clock: Clock, base_url: str, stop: asyncio.Event
) -> None:
    interval = settings.scheduler_interval.total_seconds()
    while not stop.is_set():
        try:
            done = await run_deadlines_once(database, settings, clock, base_url)
            if any(done.values()):
                log.info("deadlines handled", **done)
        except Exception:
            # A database blip must not end the loop: the next pass retries the same rows.
            log.exception("scheduler pass failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)


async def run_workers(
    database: Database, settings: Settings, clock: Clock, base_url: str, stop: asyncio.Event
) -> None:
    """Every background loop of this process, until `stop` is set."""
    dispatcher = Dispatcher(database, settings, clock)
    runner = TestRunner(database, settings, clock, adapter_for(settings, database, clock), base_url)
    await asyncio.gather(
        scheduler_loop(database, settings, clock, base_url, stop),
        dispatcher.run(stop),
        runner.run(stop),
    )
