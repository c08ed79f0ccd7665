"""The listener's rules: what an incoming event or a fetched resource does to the store.

Every verified event is stored once per eventId. The mirror keeps the latest state of each
ticket and test: an event moves it only when its sequenceNumber is higher than the mirror's
(and, for tickets, its lastUpdate is not older: a state fetched without a revision may be
newer than events still arriving). A sequenceNumber more than one past the mirror's means
events were missed: the caller fetches the resource.
"""

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from fiberassure.retail.listener.models import MirroredResource
from fiberassure.retail.listener.repository import ListenerRepository
from fiberassure.tmf.events import EventEnvelope
from fiberassure.tmf.service_test import SEED_RESULT_NOTIFICATION, ServiceTestEventType
from fiberassure.tmf.ticket_lifecycle import TicketEventType

TROUBLE_TICKET = "troubleTicket"
SERVICE_TEST = "serviceTest"
RESOURCE_TYPES = (TROUBLE_TICKET, SERVICE_TEST)

EVENT_NAMES: tuple[str, ...] = (
    *(event.value for event in TicketEventType),
    *(event.value for event in ServiceTestEventType),
    SEED_RESULT_NOTIFICATION,
)
_BY_LOWER = {name.lower(): name for name in EVENT_NAMES}

# A test changes exactly three times (docs/service-tests.md), so its state is its revision.
TEST_STATE_REVISION = {"acknowledged": 1, "inProgress": 2, "completed": 3, "failed": 3}


def event_name(name: str) -> str | None:
    """The canonical event name for a URL's {eventName} in any letter case, else None."""
    return _BY_LOWER.get(name.lower())


@dataclass(frozen=True)
class Snapshot:
    """A ticket's or test's full state, from an event or read from the API."""

    resource_type: str
    resource_id: str
    state: dict[str, Any]
    # The revision the state is at, when known (events: sequenceNumber; tests: from state).
    sequence_number: int | None
    last_update: datetime | None

    @classmethod
    def of(
        cls, resource_type: str, state: dict[str, Any], sequence_number: int | None = None
    ) -> "Snapshot":
        if resource_type == SERVICE_TEST:
            stamp = state.get("startDateTime")
            if sequence_number is None:
                sequence_number = TEST_STATE_REVISION.get(str(state.get("state")))
        else:
            stamp = state.get("lastUpdate")
        return cls(resource_type, str(state["id"]), state, sequence_number, _parse_time(stamp))


@dataclass(frozen=True)
class Receipt:
    """What happened to one incoming message."""

    event_id: str
    duplicate: bool
    applied: bool = False
    # (resource type, id) to fetch because events were missed.
    gap: tuple[str, str] | None = None


@dataclass(frozen=True)
class Applied:
    changed: bool
    previous_sequence: int  # 0 when the resource was new to the mirror


async def receive(
    session: AsyncSession,
    *,
    message_id: str,
    headers: dict[str, str],
    body: bytes,
    path_name: str | None,
    now: datetime,
) -> Receipt:
    """Store a verified message and apply it to the mirror (one transaction: the caller's)."""
    envelope, resource_type, state = _read(body)
    event_id = envelope.event_id if envelope else message_id
    repository = ListenerRepository(session)
    stored = await repository.add_event(
        {
            "event_id": event_id,
            "event_type": envelope.event_type if envelope else None,
            "path_name": path_name,
            "resource_type": resource_type,
            "resource_id": str(state["id"]) if state else None,
            "sequence_number": envelope.sequence_number if envelope else None,
            "event_time": envelope.event_time if envelope else None,
            "received_at": now,
            "headers": headers,
            "body": body.decode("utf-8", errors="replace"),
            "applied": False,
        }
    )
    if stored is None:
        return Receipt(event_id, duplicate=True)
    if envelope is None or resource_type is None or state is None:
        return Receipt(event_id, duplicate=False)
    snapshot = Snapshot.of(resource_type, state, envelope.sequence_number)
    applied = await apply(session, snapshot, source="event", now=now)
    if applied.changed:
        await repository.mark_applied(stored)
    gap = None
    if envelope.sequence_number > applied.previous_sequence + 1:
        gap = (snapshot.resource_type, snapshot.resource_id)
    return Receipt(event_id, duplicate=False, applied=applied.changed, gap=gap)


async def apply(
    session: AsyncSession, snapshot: Snapshot, *, source: str, now: datetime
) -> Applied:
    """Make `snapshot` the mirror's state unless the mirror is already as new or newer."""
    repository = ListenerRepository(session)
    values = {
        "resource_type": snapshot.resource_type,
        "resource_id": snapshot.resource_id,
        "sequence_number": snapshot.sequence_number or 0,
        "last_update": snapshot.last_update,
        "state": snapshot.state,
        "source": source,
        "updated_at": now,
    }
    if await repository.insert_mirror(values):
        return Applied(changed=True, previous_sequence=0)
    mirror = await repository.mirror_for_update(snapshot.resource_type, snapshot.resource_id)
    if mirror is None:  # deleted meanwhile: nothing deletes mirror rows today
        return Applied(changed=False, previous_sequence=0)
    previous = mirror.sequence_number
    if not _newer(snapshot, mirror):
        return Applied(changed=False, previous_sequence=previous)
    mirror.sequence_number = max(previous, snapshot.sequence_number or 0)
    if snapshot.state == mirror.state:  # e.g. the event of a state already fetched
        return Applied(changed=False, previous_sequence=previous)
    mirror.state = snapshot.state
    mirror.last_update = snapshot.last_update
    mirror.source = source
    mirror.updated_at = now
    return Applied(changed=True, previous_sequence=previous)


def _newer(snapshot: Snapshot, mirror: MirroredResource) -> bool:
    if snapshot.sequence_number is not None and snapshot.sequence_number <= mirror.sequence_number:
        return False
    if snapshot.last_update is not None and mirror.last_update is not None:
        return snapshot.last_update >= mirror.last_update
    return True


def _read(body: bytes) -> tuple[EventEnvelope | None, str | None, dict[str, Any] | None]:
    """The envelope and the resource in it; Nones for a body that is not a TMF event (it is
    still stored: it was signed by the wholesaler)."""
    try:
        envelope = EventEnvelope.model_validate(json.loads(body))
    except (ValueError, ValidationError):
        return None, None, None
    for resource_type in RESOURCE_TYPES:
        state = envelope.event.get(resource_type)
        if isinstance(state, dict) and isinstance(state.get("id"), str):
            return envelope, resource_type, state
    return envelope, None, None


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
