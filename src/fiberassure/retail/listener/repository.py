"""Every SQL statement of the listener."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from fiberassure.retail.listener.models import MirroredResource, ReceivedEvent, RegisteredHub

TEST_FINAL_STATES = ("completed", "failed")


class ListenerRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def _insert(self, table: Any) -> Any:
        dialect = self.session.bind.dialect.name if self.session.bind else "sqlite"
        return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)

    # -- events -----------------------------------------------------------------------------

    async def add_event(self, values: dict[str, Any]) -> int | None:
        """Store an event; None when its eventId is already stored (a redelivery)."""
        statement = (
            self._insert(ReceivedEvent)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["event_id"])
            .returning(ReceivedEvent.id)
        )
        inserted: int | None = (await self.session.execute(statement)).scalar_one_or_none()
        return inserted

    async def mark_applied(self, event_pk: int) -> None:
        event = await self.session.get(ReceivedEvent, event_pk)
        if event is not None:
            event.applied = True

    async def events(
        self,
        *,
        after: int = 0,
        limit: int = 100,
        resource_type: str | None = None,
        resource_id: str | None = None,
    ) -> Sequence[ReceivedEvent]:
        query = select(ReceivedEvent).where(ReceivedEvent.id > after)
        if resource_type:
            query = query.where(ReceivedEvent.resource_type == resource_type)
        if resource_id:
            query = query.where(ReceivedEvent.resource_id == resource_id)
        return (await self.session.scalars(query.order_by(ReceivedEvent.id).limit(limit))).all()

    async def count_events(self, event_id: str | None = None) -> int:
        query = select(func.count()).select_from(ReceivedEvent)
        if event_id is not None:
            query = query.where(ReceivedEvent.event_id == event_id)
        return int((await self.session.execute(query)).scalar_one())

    # -- the mirror -------------------------------------------------------------------------

    async def insert_mirror(self, values: dict[str, Any]) -> bool:
        """Create the mirror row; False when it exists already (then lock and compare)."""
        statement = (
            self._insert(MirroredResource)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["resource_type", "resource_id"])
            .returning(MirroredResource.resource_id)
        )
        return (await self.session.execute(statement)).scalar_one_or_none() is not None

    async def mirror_for_update(
        self, resource_type: str, resource_id: str
    ) -> MirroredResource | None:
        query = (
            select(MirroredResource)
            .where(
                MirroredResource.resource_type == resource_type,
                MirroredResource.resource_id == resource_id,
            )
            .with_for_update()
        )
        return (await self.session.scalars(query)).one_or_none()

    async def mirror(self, resource_type: str, resource_id: str) -> MirroredResource | None:
        return await self.session.get(MirroredResource, (resource_type, resource_id))

    async def mirrors(self, resource_type: str) -> Sequence[MirroredResource]:
        query = select(MirroredResource).where(MirroredResource.resource_type == resource_type)
        return (await self.session.scalars(query.order_by(MirroredResource.resource_id))).all()

    async def newest_ticket_update(self) -> datetime | None:
        query = select(func.max(MirroredResource.last_update)).where(
            MirroredResource.resource_type == "troubleTicket"
        )
        newest: datetime | None = (await self.session.execute(query)).scalar_one()
        return newest

    async def test_reconcile_start(self) -> datetime | None:
        """Where to look for changed tests from: the oldest test not yet finished in the
        mirror (it may have finished meanwhile), else the newest test."""
        tests = await self.mirrors("serviceTest")
        unfinished = [t.last_update for t in tests if t.state.get("state") not in TEST_FINAL_STATES]
        starts = [start for start in unfinished if start is not None]
        if starts:
            return min(starts)
        known = [t.last_update for t in tests if t.last_update is not None]
        return max(known) if known else None

    # -- hubs -------------------------------------------------------------------------------

    async def hubs(self) -> Sequence[RegisteredHub]:
        return (await self.session.scalars(select(RegisteredHub).order_by(RegisteredHub.id))).all()

    async def add_hub(self, hub: RegisteredHub) -> None:
        self.session.add(hub)
        await self.session.flush()

    async def delete_hub(self, hub_id: str) -> None:
        await self.session.execute(delete(RegisteredHub).where(RegisteredHub.id == hub_id))
