from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from fiberassure.wholesale.events.models import Delivery, DeliveryAttempt, Hub, OutboxEvent


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

    async def in_period(
        self, operator_id: str, resource_type: str, start: datetime, end: datetime
    ) -> list[OutboxEvent]:
        statement = self._scoped(
            select(OutboxEvent)
            .where(OutboxEvent.resource_type == resource_type)
            .where(OutboxEvent.event_time >= start)
            .where(OutboxEvent.event_time < end)
            .order_by(OutboxEvent.position),
            operator_id,
        )
        return list((await self.session.execute(statement)).scalars())

    @staticmethod
    def _scoped(statement: Select[OutboxEvent], operator_id: str) -> Select[OutboxEvent]:
        """The only place where outbox reads are narrowed to one operator."""
        return statement.where(OutboxEvent.operator_id == operator_id)


class HubRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @staticmethod
    def _scoped(statement: Select[Hub], operator_id: str) -> Select[Hub]:
        """The only place where hubs are narrowed to one operator."""
        return statement.where(Hub.operator_id == operator_id)

    async def get_for_operator(self, hub_id: str, operator_id: str, api: str) -> Hub | None:
        statement = self._scoped(select(Hub).where(Hub.id == hub_id, Hub.api == api), operator_id)
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def list_for_operator(self, operator_id: str, api: str) -> list[Hub]:
        statement = self._scoped(
            select(Hub).where(Hub.api == api).order_by(Hub.created_at, Hub.id), operator_id
        )
        return list((await self.session.execute(statement)).scalars())

    async def active_for_operator(self, operator_id: str, api: str) -> list[Hub]:
        statement = self._scoped(
            select(Hub).where(Hub.api == api, Hub.status == "active"), operator_id
        )
        return list((await self.session.execute(statement)).scalars())

    async def get(self, hub_id: str) -> Hub | None:
        """Unscoped: for the wholesaler's operations."""
        return await self.session.get(Hub, hub_id)

    async def list_all(self) -> list[Hub]:
        """Unscoped: for the wholesaler's operations."""
        statement = select(Hub).order_by(Hub.operator_id, Hub.created_at, Hub.id)
        return list((await self.session.execute(statement)).scalars())

    async def disable(self, hub_id: str, reason: str) -> None:
        """Unscoped: the dispatcher disables a hub whose callback answered 410 Gone."""
        await self.session.execute(
            update(Hub).where(Hub.id == hub_id).values(status="disabled", status_reason=reason)
        )

    def add(self, hub: Hub) -> None:
        self.session.add(hub)

    async def delete(self, hub: Hub) -> None:
        """Unscoped: deletes a hub the caller looked up through the operator's scope."""
        await self.session.delete(hub)


class DeliveryRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, delivery: Delivery) -> None:
        self.session.add(delivery)

    async def claim_heads(
        self, now: datetime, limit: int
    ) -> list[tuple[Delivery, dict[str, Any], str, str]]:
        """Unscoped (the dispatcher works for every operator): due deliveries that head their
        line (no earlier pending delivery of the same resource to the same hub), each with its
        event payload, callback and secret. Rows are locked; rows another worker is claiming
        are skipped, not waited for."""
        earlier = aliased(Delivery)
        earlier_pending = exists().where(
            earlier.hub_id == Delivery.hub_id,
            earlier.resource_key == Delivery.resource_key,
            earlier.status == "pending",
            or_(
                earlier.sequence_number < Delivery.sequence_number,
                and_(
                    earlier.sequence_number == Delivery.sequence_number,
                    earlier.id < Delivery.id,
                ),
            ),
        )
        statement = (
            select(Delivery, OutboxEvent.payload, Hub.callback, Hub.secret)
            .join(Hub, Hub.id == Delivery.hub_id)
            .join(OutboxEvent, OutboxEvent.event_id == Delivery.event_id)
            .where(Hub.status == "active")
            .where(Delivery.status == "pending")
            .where(Delivery.next_attempt_at <= now)
            .where(or_(Delivery.lease_until.is_(None), Delivery.lease_until <= now))
            .where(~earlier_pending)
            .order_by(Delivery.next_attempt_at, Delivery.id)
            .limit(limit)
            .with_for_update(of=Delivery, skip_locked=True)
        )
        rows = (await self.session.execute(statement)).all()
        return [(row[0], row[1], row[2], row[3]) for row in rows]

    async def still_leased(self, leases: dict[int, str]) -> dict[int, Delivery]:
        """Unscoped: of the deliveries (id → lease token) the dispatcher holds, those whose
        lease it still holds, locked, by id."""
        if not leases:
            return {}
        statement = (
            select(Delivery)
            .where(Delivery.id.in_(list(leases)))
            .order_by(Delivery.id)
            .with_for_update()
        )
        found = (await self.session.execute(statement)).scalars()
        return {d.id: d for d in found if d.lease_token == leases[d.id]}

    def add_attempt(self, attempt: DeliveryAttempt) -> None:
        self.session.add(attempt)

    async def for_hub(
        self, hub_id: str, statuses: Sequence[str], offset: int, limit: int
    ) -> tuple[list[Delivery], int]:
        """Unscoped: callers look the hub up through the operator's scope first."""
        statement = select(Delivery).where(Delivery.hub_id == hub_id)
        if statuses:
            statement = statement.where(Delivery.status.in_(statuses))
        total = (
            await self.session.execute(select(func.count()).select_from(statement.subquery()))
        ).scalar_one()
        page = statement.order_by(Delivery.id.desc()).offset(offset).limit(limit)
        return list((await self.session.execute(page)).scalars()), int(total)

    async def get_in_hub(self, hub_id: str, delivery_id: int) -> Delivery | None:
        """Unscoped: callers look the hub up through the operator's scope first."""
        statement = select(Delivery).where(Delivery.hub_id == hub_id, Delivery.id == delivery_id)
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def attempts_of(self, delivery_id: int) -> list[DeliveryAttempt]:
        """Unscoped: callers look the delivery up through the operator's scope first."""
        statement = (
            select(DeliveryAttempt)
            .where(DeliveryAttempt.delivery_id == delivery_id)
            .order_by(DeliveryAttempt.id)
        )
        return list((await self.session.execute(statement)).scalars())

    async def oldest_pending_by_hub(self) -> list[tuple[str, datetime]]:
        """Unscoped: for the metrics endpoint."""
        statement = (
            select(Delivery.hub_id, func.min(Delivery.created_at))
            .where(Delivery.status == "pending")
            .group_by(Delivery.hub_id)
        )
        return [(row[0], row[1]) for row in (await self.session.execute(statement)).all()]
