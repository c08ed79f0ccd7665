"""The loop of a background worker that leases work (the test runner; the dispatcher has a
loop of its own, tuned for throughput): claim what is due, perform each item concurrently
outside any transaction, record the results in batches.

`claim`, `perform` and `record` own their transactions and leases; this loop only keeps up
to `concurrency` items in flight, so one slow item holds one slot, not the whole batch.
"""

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, TypeVar

import structlog

log = structlog.get_logger(__name__)
Claimed = TypeVar("Claimed")
Result = TypeVar("Result")


async def run_leased_work(
    name: str,
    claim: Callable[[int], Awaitable[Sequence[Claimed]]],
    perform: Callable[[Claimed], Coroutine[Any, Any, Result]],
    record: Callable[[list[Result]], Awaitable[None]],
    *,
    concurrency: int,
    poll_seconds: float,
    stop: asyncio.Event,
    claim_batch: int = 100,
) -> None:
    """Run until `stop` is set; then wait for what is in flight and record it.

    At most `claim_batch` items are claimed per transaction, so with a deep backlog the
    first items are already being performed while the next batch is claimed."""
    in_flight: set[asyncio.Task[Result]] = set()
    finished: list[Result] = []
    wake = asyncio.Event()

    def collect(task: asyncio.Task[Result]) -> None:
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
                    await record(batch)
                free = min(concurrency - len(in_flight), claim_batch)
                claimed = await claim(free) if free > 0 else []
            except Exception:
                # A database blip: leases keep the claimed rows safe until they expire.
                log.exception(f"{name} pass failed")
                claimed = []
                await asyncio.sleep(poll_seconds)
            for item in claimed:
                task = asyncio.create_task(perform(item))
                in_flight.add(task)
                task.add_done_callback(collect)
            if len(claimed) == claim_batch:
                await asyncio.sleep(0)  # let the new tasks start, then claim again at once
                continue
            if not claimed and not finished:
                waiters = [asyncio.create_task(wake.wait()), asyncio.create_task(stop.wait())]
                await asyncio.wait(
                    waiters, timeout=poll_seconds, return_when=asyncio.FIRST_COMPLETED
                )
                for waiter in waiters:
                    waiter.cancel()
    finally:
        if in_flight:
            await asyncio.wait(in_flight)
        if finished:
            await record(finished)
