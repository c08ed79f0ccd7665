"""The event outbox: every change writes its notification in the change's own transaction."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from fiberassure.tmf.events import EventEnvelope
from fiberassure.wholesale.events.models import OutboxEvent
from fiberassure.wholesale.events.repository import OutboxRepository


def record_event(
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
    """Add the TMF event for a change to the session (the caller's transaction commits it).

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
    event = OutboxEvent(
        event_id=envelope.event_id,
        operator_id=operator_id,
        resource_type=resource_type,
        resource_id=resource_id,
        sequence_number=sequence_number,
        event_type=event_type,
        event_time=now,
        payload=envelope.to_wire(),
    )
    OutboxRepository(session).add(event)
    return event
