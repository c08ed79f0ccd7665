"""TMF hub (EventSubscription) wire models and the delivery log: shared by the server and the
retail SDK."""

from datetime import datetime
from typing import Annotated

from pydantic import Field

from fiberassure.tmf.schema import AwareDatetime, TMFInput, TMFModel


class HubCreate(TMFInput):
    """TMF `EventSubscriptionInput`."""

    callback: Annotated[str, Field(min_length=1, max_length=2000)] = Field(
        description="Where events are POSTed, exactly as given (http or https)."
    )
    query: Annotated[str, Field(max_length=1000)] | None = Field(
        default=None,
        description="Which events: eventType=A,B&event.troubleTicket.status=resolved",
    )


class HubOut(TMFModel):
    """TMF `EventSubscription`, plus the signing secret (shown only when created)."""

    id: str
    href: str
    callback: str
    query: str | None = None
    status: str
    status_reason: str | None = None
    created_at: datetime
    secret: str | None = Field(
        default=None,
        description="Standard Webhooks signing secret (whsec_…). Returned once, on creation.",
    )


class DeliveryAttemptOut(TMFModel):
    attempted_at: datetime
    status_code: int | None = None
    latency_ms: float
    error: str | None = None
    response_body: str | None = None


class DeliveryOut(TMFModel):
    id: str
    event_id: str
    event_type: str
    resource_key: str
    sequence_number: int
    status: str
    attempts: int
    next_attempt_at: datetime | None = None
    created_at: datetime
    delivered_at: datetime | None = None
    last_status_code: int | None = None
    last_error: str | None = None
    attempt: list[DeliveryAttemptOut] | None = None


class RedeliverPeriod(TMFInput):
    """Send again every event of the hub's API from `from` (inclusive) to `to` (exclusive)."""

    start: AwareDatetime = Field(alias="from")
    end: AwareDatetime = Field(alias="to")


class RedeliverResult(TMFModel):
    deliveries_created: int
