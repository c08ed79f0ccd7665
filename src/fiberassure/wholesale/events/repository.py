from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import (
    Integer,
    Select,
    String,
    Text,
    bindparam,
    cast,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from fiberassure.wholesale.db import UTCDateTime
from fiberassure.wholesale.events.models import Delivery, DeliveryAttempt, Hub, OutboxEvent


class LeasedDelivery(NamedTuple):
    """A line head the dispatcher has just leased, with what it needs to send it."""

    id: int
    hub_id: str
    event_id: str
    attempts: int
    # The event as stored, which is the body sent: no JSON decoding and encoding again.
    payload: str
    callback: str
    secret: str


class AttemptRecord(NamedTuple):
    """One attempt, and its delivery's state after it, written while `lease_token` holds."""

    delivery_id: int
    lease_token: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    attempted_at: datetime
    status_code: int | None
    latency_ms: float
    error: str | None
    response_body: str | None


# The attempts arrive as one array per column; the UPDATE applies only where the lease token
# still matches (it re-checks the row it locks), and only those attempts are inserted.
_RECORD_ATTEMPTS_POSTGRESQL = text(
    """
WITH outcome AS (
    SELECT * FROM unnest(
        CAST(:delivery_id AS BIGINT[]),
        CAST(:lease_token AS VARCHAR[]),
        CAST(:status AS VARCHAR[]),
        CAST(:attempts AS INTEGER[]),
        CAST(:next_attempt_at AS TIMESTAMPTZ[]),
        CAST(:delivered_at AS TIMESTAMPTZ[]),
        CAST(:attempted_at AS TIMESTAMPTZ[]),
        CAST(:status_code AS INTEGER[]),
        CAST(:latency_ms AS FLOAT8[]),
        CAST(:error AS VARCHAR[]),
        CAST(:response_body AS VARCHAR[])
    ) AS o(
        delivery_id, lease_token, status, attempts, next_attempt_at, delivered_at,
        attempted_at, status_code, latency_ms, error, response_body
    )
),
changed AS (
    UPDATE delivery
    SET status = outcome.status,
        attempts = outcome.attempts,
        last_status_code = outcome.status_code,
        last_error = outcome.error,
        next_attempt_at = coalesce(outcome.next_attempt_at, delivery.next_attempt_at),
        delivered_at = coalesce(outcome.delivered_at, delivery.delivered_at),
        lease_until = NULL,
        lease_token = NULL
    FROM outcome
    WHERE delivery.id = outcome.delivery_id AND delivery.lease_token = outcome.lease_token
    RETURNING delivery.id
)
INSERT INTO delivery_attempt (
    delivery_id, attempted_at, status_code, latency_ms, error, response_body
)
SELECT outcome.delivery_id, outcome.attempted_at, outcome.status_code, outcome.latency_ms,
    outcome.error, outcome.response_body
FROM outcome JOIN changed ON changed.id = outcome.delivery_id
ORDER BY outcome.delivery_id
RETURNING delivery_attempt.delivery_id
"""
)


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
        self, operator_id: str, resource_type: str, start: datetime, end: datetime, limit: int
    ) -> list[OutboxEvent]:
        statement = self._scoped(
            select(OutboxEvent)
            .where(OutboxEvent.resource_type == resource_type)
            .where(OutboxEvent.event_time >= start)
            .where(OutboxEvent.event_time < end)
            .order_by(OutboxEvent.position)
            .limit(limit),
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


def _due_heads() -> Select[int]:
    """Ids of due deliveries that head their line (the first pending delivery of the same
    resource to the same hub) on an active hub, unleased or with a lapsed lease, at most
    `:head_limit` of them, at `:now`. Locked; rows another worker is claiming are skipped,
    not waited for (SQLite, which has one writer at a time, ignores the locking clause)."""
    now = bindparam("now", type_=UTCDateTime)
    line = aliased(Delivery)
    # A correlated subquery rather than NOT EXISTS: PostgreSQL runs it as an index lookup
    # on ix_delivery_line per candidate even before the table has statistics, where the
    # anti-join it plans for NOT EXISTS compared every pending row with every other one.
    line_head = (
        select(line.id)
        .where(
            line.hub_id == Delivery.hub_id,
            line.resource_key == Delivery.resource_key,
            line.status == "pending",
        )
        .order_by(line.sequence_number, line.id)
        .limit(1)
        .correlate(Delivery)
        .scalar_subquery()
    )
    return (
        select(Delivery.id)
        .join(Hub, Hub.id == Delivery.hub_id)
        .where(Hub.status == "active")
        .where(Delivery.status == "pending")
        .where(Delivery.next_attempt_at <= now)
        .where(or_(Delivery.lease_until.is_(None), Delivery.lease_until <= now))
        .where(Delivery.id == line_head)
        # Exactly the order of ix_delivery_due, so the scan stops after `limit` heads;
        # a tie-break column would make PostgreSQL sort every due row first.
        .order_by(Delivery.next_attempt_at)
        .limit(bindparam("head_limit", type_=Integer))
        .with_for_update(of=Delivery, skip_locked=True)
    )


# Built once: the dispatcher runs them every few milliseconds when busy and every poll when
# idle, and building the statement cost more CPU than running it.
_LEASE_HEADS = (
    update(Delivery)
    .where(Delivery.id.in_(_due_heads().scalar_subquery()))
    .values(
        lease_until=bindparam("lease_until", type_=UTCDateTime),
        lease_token=bindparam("lease_token", type_=String),
    )
    .returning(Delivery.id, Delivery.hub_id, Delivery.event_id, Delivery.attempts)
)
_LEASED = _LEASE_HEADS.cte("claimed")
_LEASE_HEADS_POSTGRESQL = (
    select(
        _LEASED.c.id,
        _LEASED.c.hub_id,
        _LEASED.c.event_id,
        _LEASED.c.attempts,
        cast(OutboxEvent.payload, Text),
        Hub.callback,
        Hub.secret,
    )
    .join(OutboxEvent, OutboxEvent.event_id == _LEASED.c.event_id)
    .join(Hub, Hub.id == _LEASED.c.hub_id)
)


class DeliveryRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, delivery: Delivery) -> None:
        self.session.add(delivery)

    async def lease_heads(
        self, now: datetime, lease_until: datetime, lease_token: str, limit: int
    ) -> list[LeasedDelivery]:
        """Unscoped (the dispatcher works for every operator): lease up to `limit` due line
        heads to `lease_token` until `lease_until`, each returned with its event payload,
        callback and secret. On PostgreSQL one statement; on SQLite an UPDATE … RETURNING and
        a read of what it leased."""
        connection = await self.session.connection()
        values: dict[str, object] = {
            "now": now,
            "lease_until": lease_until,
            "lease_token": lease_token,
            "head_limit": limit,
        }
        if connection.dialect.name == "postgresql":
            rows = (await connection.execute(_LEASE_HEADS_POSTGRESQL, values)).all()
            return [LeasedDelivery(*row) for row in rows]
        leased = await connection.execute(_LEASE_HEADS, values)
        heads_leased = {row[0]: row for row in leased.all()}
        if not heads_leased:
            return []
        details = (
            select(Delivery.id, cast(OutboxEvent.payload, Text), Hub.callback, Hub.secret)
            .join(OutboxEvent, OutboxEvent.event_id == Delivery.event_id)
            .join(Hub, Hub.id == Delivery.hub_id)
            .where(Delivery.id.in_(list(heads_leased)))
            .order_by(Delivery.id)
        )
        return [
            LeasedDelivery(*heads_leased[row[0]], row[1], row[2], row[3])
            for row in (await connection.execute(details)).all()
        ]

    async def record_attempts(self, records: list[AttemptRecord]) -> set[int]:
        """Unscoped: write each attempt and its delivery's new state, ending the lease, for the
        deliveries whose lease the dispatcher still holds; returns their ids. A `None` next
        attempt or delivery time keeps the stored one. Batched: one statement on PostgreSQL,
        three on SQLite."""
        if not records:
            return set()
        connection = await self.session.connection()
        if connection.dialect.name == "postgresql":
            columns = {name: [getattr(r, name) for r in records] for name in AttemptRecord._fields}
            applied = await connection.execute(_RECORD_ATTEMPTS_POSTGRESQL, columns)
            return set(applied.scalars())
        held_statement = select(Delivery.id, Delivery.lease_token).where(
            Delivery.id.in_([r.delivery_id for r in records])
        )
        leases = {r.delivery_id: r.lease_token for r in records}
        held = {
            row[0]
            for row in (await connection.execute(held_statement)).all()
            if row[1] == leases[row[0]]
        }
        kept = [r for r in records if r.delivery_id in held]
        if not kept:
            return set()
        change = (
            update(Delivery)
            .where(Delivery.id == bindparam("b_id"))
            .values(
                status=bindparam("b_status"),
                attempts=bindparam("b_attempts"),
                last_status_code=bindparam("b_status_code"),
                last_error=bindparam("b_error"),
                next_attempt_at=func.coalesce(
                    bindparam("b_next_attempt_at", type_=UTCDateTime), Delivery.next_attempt_at
                ),
                delivered_at=func.coalesce(
                    bindparam("b_delivered_at", type_=UTCDateTime), Delivery.delivered_at
                ),
                lease_until=None,
                lease_token=None,
            )
        )
        await connection.execute(
            change,
            [
                {
                    "b_id": r.delivery_id,
                    "b_status": r.status,
                    "b_attempts": r.attempts,
                    "b_status_code": r.status_code,
                    "b_error": r.error,
                    "b_next_attempt_at": r.next_attempt_at,
                    "b_delivered_at": r.delivered_at,
                }
                for r in kept
            ],
        )
        await connection.execute(
            insert(DeliveryAttempt),
            [
                {
                    "delivery_id": r.delivery_id,
                    "attempted_at": r.attempted_at,
                    "status_code": r.status_code,
                    "latency_ms": r.latency_ms,
                    "error": r.error,
                    "response_body": r.response_body,
                }
                for r in kept
            ],
        )
        return held

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
