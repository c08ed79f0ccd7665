from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fiberassure.wholesale.events.models import OutboxEvent


class OutboxRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, event: OutboxEvent) -> None:
        self.session.add(event)

    async def for_resource(self, resource_type: str, resource_id: str) -> list[OutboxEvent]:
        """Unscoped: the outbox is read by the wholesaler's dispatcher, not by tenants."""
        statement = (
            select(OutboxEvent)
            .where(OutboxEvent.resource_type == resource_type)
            .where(OutboxEvent.resource_id == resource_id)
            .order_by(OutboxEvent.sequence_number)
        )
        return list((await self.session.execute(statement)).scalars())

    async def after(self, position: int, limit: int = 500) -> list[OutboxEvent]:
        """Unscoped: the outbox is read by the wholesaler's dispatcher, not by tenants."""
        statement = (
            select(OutboxEvent)
            .where(OutboxEvent.position > position)
            .order_by(OutboxEvent.position)
            .limit(limit)
        )
        return list((await self.session.execute(statement)).scalars())
