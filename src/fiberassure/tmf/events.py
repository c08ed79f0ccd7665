"""The TMF event envelope (TMF688 style, as TMF621/TMF653 v4 define their notifications)."""

from datetime import datetime
from typing import Any

from pydantic import Field

from fiberassure.tmf.schema import TMFModel


class EventEnvelope(TMFModel):
    """What a listener receives: `event` holds the full resource under its type's name.

    `sequenceNumber` is a profile extension: it counts the changes of one resource from 1
    with no gaps, so a listener can apply events in order and notice a missing one.
    """

    event_id: str
    event_time: datetime
    event_type: str
    event: dict[str, Any]
    sequence_number: int = Field(ge=1)
    field_path: str | None = None
    correlation_id: str | None = None
    domain: str | None = None
    title: str | None = None
    description: str | None = None
