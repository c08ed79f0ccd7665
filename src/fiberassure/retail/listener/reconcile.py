"""Reading the wholesaler's API to heal the mirror: a fetch of one resource after a sequence
gap, and the reconciliation pass that pulls everything changed since the newest change the
mirror holds (so an outage longer than the wholesaler's retries heals too)."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import structlog

from fiberassure.retail.listener.repository import ListenerRepository
from fiberassure.retail.listener.service import (
    SERVICE_TEST,
    TROUBLE_TICKET,
    Snapshot,
    apply,
)
from fiberassure.tmf.service_test import ServiceTest
from fiberassure.tmf.trouble_ticket import TroubleTicket
from fiberassure.wholesale.clock import Clock
from fiberassure.wholesale.db import Database

log = structlog.get_logger(__name__)


class WholesaleReader(Protocol):
    """The part of `fiberassure.retail.client.AsyncRetailClient` the listener reads with."""

    async def get_ticket(self, ticket_id: str) -> TroubleTicket: ...

    async def get_test(self, test_id: str) -> ServiceTest: ...

    def iter_tickets(self, **filters: Any) -> AsyncIterator[TroubleTicket]: ...

    def iter_tests(self, **filters: Any) -> AsyncIterator[ServiceTest]: ...


@dataclass(frozen=True)
class ReconcileResult:
    examined: int
    changed: int


def _wire(resource: TroubleTicket | ServiceTest) -> dict[str, Any]:
    return resource.model_dump(mode="json", by_alias=True, exclude_none=True)


class Puller:
    def __init__(
        self, database: Database, client: WholesaleReader, clock: Clock, overlap: timedelta
    ) -> None:
        self.database = database
        self.client = client
        self.clock = clock
        self.overlap = overlap
        self._pending: set[tuple[str, str]] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    # -- a fetch after a gap ----------------------------------------------------------------

    def request_fetch(self, resource_type: str, resource_id: str) -> None:
        """Fetch in the background (the webhook answer does not wait); one fetch at a time
        per resource."""
        key = (resource_type, resource_id)
        if key in self._pending:
            return
        self._pending.add(key)
        task = asyncio.create_task(self._fetch_logged(key))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _fetch_logged(self, key: tuple[str, str]) -> None:
        try:
            await self.fetch(*key)
        except Exception:
            # The next reconciliation pass heals it.
            log.exception("listener could not fetch after a gap", resource=key)
        finally:
            self._pending.discard(key)

    async def fetch(self, resource_type: str, resource_id: str) -> bool:
        """Read one resource and make it the mirror's state if newer. Returns whether it was."""
        resource: TroubleTicket | ServiceTest
        if resource_type == TROUBLE_TICKET:
            resource = await self.client.get_ticket(resource_id)
        else:
            resource = await self.client.get_test(resource_id)
        return await self._apply(resource_type, resource, "fetch")

    async def wait_for_fetches(self) -> None:
        """For tests and shutdown: until the background fetches are done."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # -- reconciliation ---------------------------------------------------------------------

    async def reconcile_once(self) -> ReconcileResult:
        """Pull tickets changed and tests started since the mirror's newest (minus the
        overlap); the first pass, with an empty mirror, pulls everything."""
        async with self.database.transaction() as session:
            repository = ListenerRepository(session)
            tickets_since = await repository.newest_ticket_update()
            tests_since = await repository.test_reconcile_start()
        examined = changed = 0
        async for ticket in self.client.iter_tickets(updated_after=self._minus(tickets_since)):
            examined += 1
            changed += await self._apply(TROUBLE_TICKET, ticket, "reconcile")
        async for test in self.client.iter_tests(started_after=self._minus(tests_since)):
            examined += 1
            changed += await self._apply(SERVICE_TEST, test, "reconcile")
        if changed:
            log.info("listener reconciled", examined=examined, changed=changed)
        return ReconcileResult(examined, changed)

    async def run(self, interval: timedelta, stop: asyncio.Event) -> None:
        """Reconcile at start and then every `interval` until `stop` is set."""
        while not stop.is_set():
            try:
                await self.reconcile_once()
            except Exception:
                log.exception("listener reconciliation failed; trying again next interval")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval.total_seconds())

    def _minus(self, when: datetime | None) -> datetime | None:
        return None if when is None else when - self.overlap

    async def _apply(
        self, resource_type: str, resource: TroubleTicket | ServiceTest, source: str
    ) -> bool:
        # A ticket read from the API carries no revision (its ETag is not exposed by the SDK):
        # its lastUpdate orders it against the events instead.
        snapshot = Snapshot.of(resource_type, _wire(resource))
        async with self.database.transaction() as session:
            applied = await apply(session, snapshot, source=source, now=self.clock.now())
        return applied.changed
