"""Events: the outbox, hubs (subscriptions) and deliveries.

Every change writes its notification in the change's own transaction, together with one
delivery row per matching hub, so a crash can lose neither.
"""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from fiberassure.tmf.errors import Conflict, InvalidRequest, NotFound
from fiberassure.tmf.events import EventEnvelope
from fiberassure.wholesale.events.callbacks import CallbackPolicy, CallbackRefused
from fiberassure.wholesale.events.models import Delivery, Hub, OutboxEvent
from fiberassure.wholesale.events.repository import (
    DeliveryRepository,
    HubRepository,
    OutboxRepository,
)
from fiberassure.wholesale.events.signing import new_secret
from fiberassure.wholesale.events.subscriptions import parse_query

DELIVERY_STATUSES = ("pending", "delivered", "failed")


MAX_REDELIVERY_EVENTS = 10_000


async def record_event(
    session: AsyncSession,
    *,
    operator_id: str,
    resource_type: str,
    resource_id: str,
    resource: dict[str, Any],
    sequence_number: int,
    event_type: str,
    now: datetime,
    field_path: str | None = None,
) -> OutboxEvent:
    """Add the TMF event for a change, and a delivery for every hub that wants it, to the
    caller's transaction.

    `sequence_number` must come from the resource's own row, incremented under its lock in
    this same transaction, so events of one resource are numbered in commit order.
    """
    envelope = EventEnvelope(
        event_id=str(uuid.uuid4()),
        event_time=now,
        event_type=event_type,
        event={resource_type: resource},
        sequence_number=sequence_number,
        field_path=field_path,
        correlation_id=resource_id,
        domain="fiberassure",
    )
    payload = envelope.to_wire()
    event = OutboxEvent(
        event_id=envelope.event_id,
        operator_id=operator_id,
        resource_type=resource_type,
        resource_id=resource_id,
        sequence_number=sequence_number,
        event_type=event_type,
        event_time=now,
        payload=payload,
    )
    OutboxRepository(session).add(event)
    await _fan_out(session, event, now)
    return event


async def _fan_out(session: AsyncSession, event: OutboxEvent, now: datetime) -> int:
    # A worker's transaction may write hundreds of events of one operator: its hubs are
    # read once per transaction (hubs change in transactions of their own).
    cache: dict[tuple[str, str], list[Hub]] = session.info.setdefault("active_hubs", {})
    key = (event.operator_id, event.resource_type)
    if key not in cache:
        cache[key] = await HubRepository(session).active_for_operator(*key)
    hubs = cache[key]
    deliveries = DeliveryRepository(session)
    created = 0
    for hub in hubs:
        if parse_query(hub.query, hub.api).matches(event.event_type, event.payload):
            deliveries.add(_delivery(hub, event, now))
            created += 1
    return created


def _delivery(hub: Hub, event: OutboxEvent, now: datetime) -> Delivery:
    return Delivery(
        hub_id=hub.id,
        operator_id=hub.operator_id,
        event=event,
        event_id=event.event_id,
        event_type=event.event_type,
        resource_key=f"{event.resource_type}:{event.resource_id}",
        sequence_number=event.sequence_number,
        status="pending",
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )


class HubService:
    """Hubs of one API (`api` = the resource type: troubleTicket or serviceTest)."""

    def __init__(self, session: AsyncSession, api: str, policy: CallbackPolicy, now: datetime):
        self.session = session
        self.api = api
        self.policy = policy
        self.now = now
        self.hubs = HubRepository(session)
        self.deliveries = DeliveryRepository(session)

    async def create(self, operator_id: str, callback: str, query: str | None) -> Hub:
        parse_query(query, self.api)  # refuse a query that could never match
        try:
            await self.policy.check_destination(callback)
        except CallbackRefused as error:
            raise InvalidRequest(f"callback refused: {error}") from None
        hub = Hub(
            id=str(uuid.uuid4()),
            operator_id=operator_id,
            api=self.api,
            callback=callback,
            query=query or None,
            secret=new_secret(),
            status="active",
            created_at=self.now,
        )
        self.hubs.add(hub)
        await self.session.flush()
        self.session.info.pop("active_hubs", None)
        return hub

    async def get(self, hub_id: str, operator_id: str | None) -> Hub:
        """The hub, if `operator_id` owns it (None: the wholesaler, who sees every hub)."""
        hub = (
            await self.hubs.get(hub_id)
            if operator_id is None
            else await self.hubs.get_for_operator(hub_id, operator_id, self.api)
        )
        if hub is None:
            raise NotFound(f"no hub {hub_id}")
        return hub

    async def list_for(self, operator_id: str) -> list[Hub]:
        return await self.hubs.list_for_operator(operator_id, self.api)

    async def delete(self, hub_id: str, operator_id: str) -> None:
        """Delete the hub; its undelivered deliveries go with it."""
        await self.hubs.delete(await self.get(hub_id, operator_id))
        self.session.info.pop("active_hubs", None)

    async def deliveries_of(
        self, hub: Hub, statuses: list[str], offset: int, limit: int
    ) -> tuple[list[Delivery], int]:
        unknown = sorted(set(statuses) - set(DELIVERY_STATUSES))
        if unknown:
            raise InvalidRequest(f"status: one of {', '.join(DELIVERY_STATUSES)}")
        return await self.deliveries.for_hub(hub.id, statuses, offset, limit)

    async def delivery(self, hub: Hub, delivery_id: str) -> Delivery:
        found = (
            await self.deliveries.get_in_hub(hub.id, int(delivery_id))
            if delivery_id.isdigit() and len(delivery_id) < 19
            else None
        )
        if found is None:
            raise NotFound(f"no delivery {delivery_id} for hub {hub.id}")
        return found

    async def redeliver(self, hub: Hub, delivery_id: str) -> Delivery:
        """Send a failed delivery again, from a fresh retry schedule."""
        delivery = await self.delivery(hub, delivery_id)
        if hub.status != "active":
            raise Conflict(f"hub {hub.id} is {hub.status}: {hub.status_reason}")
        if delivery.status != "failed":
            raise Conflict(f"delivery {delivery_id} is {delivery.status}; only failed ones")
        delivery.status = "pending"
        delivery.attempts = 0
        delivery.next_attempt_at = self.now
        delivery.lease_until = None
        delivery.lease_token = None
        return delivery

    async def redeliver_period(self, hub: Hub, start: datetime, end: datetime) -> int:
        """Send again every matching event of the hub's operator in [start, end)."""
        if end <= start:
            raise InvalidRequest("'to' must be after 'from'")
        if hub.status != "active":
            raise Conflict(f"hub {hub.id} is {hub.status}: {hub.status_reason}")
        # One request writes at most this many deliveries in its transaction: a period of
        # years would otherwise hold the database and the hub's line for minutes.
        most = MAX_REDELIVERY_EVENTS
        events = await OutboxRepository(self.session).in_period(
            hub.operator_id, hub.api, start, end, limit=most + 1
        )
        if len(events) > most:
            raise InvalidRequest(
                f"the period holds more than {most} events; redeliver it in shorter periods",
                details={"field": "to", "limit": most},
            )
        wanted = parse_query(hub.query, hub.api)
        created = 0
        for event in events:
            if wanted.matches(event.event_type, event.payload):
                self.deliveries.add(_delivery(hub, event, self.now))
                created += 1
        return created
