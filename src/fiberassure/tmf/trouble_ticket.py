"""TMF621 v4 Trouble Ticket, as profiled by fiberassure (DESIGN §4, docs/api-profile.md).

These models are the wire format on both sides: the wholesale server renders them and the
retail SDK parses them.
"""

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from fiberassure.tmf.schema import AwareDatetime, TMFInput, TMFModel
from fiberassure.tmf.ticket_lifecycle import TicketStatus as TicketStatus

SCHEMA_LOCATION = "/tmf-api/troubleTicket/v4/openapi.json"
CONSUMER_TROUBLE_TICKET = "ConsumerTroubleTicket"


class Severity(StrEnum):
    CRITICAL = "critical"  # no service at all for the subscriber
    MAJOR = "major"  # service degraded
    MINOR = "minor"  # cosmetic or intermittent


class TicketType(StrEnum):
    NO_SERVICE = "noService"
    DEGRADED_SERVICE = "degradedService"
    INTERMITTENT_SERVICE = "intermittentService"
    EQUIPMENT_FAULT = "equipmentFault"
    OTHER = "other"


class SlaClass(StrEnum):
    STANDARD = "standard"
    ENHANCED = "enhanced"


class RelatedEntityRole(StrEnum):
    AFFECTED_SERVICE = "affectedService"
    ONT = "ont"
    SERVICE_TEST = "serviceTest"


REFERRED_TYPE_BY_ROLE = {
    RelatedEntityRole.AFFECTED_SERVICE: "Service",
    RelatedEntityRole.ONT: "Resource",
    RelatedEntityRole.SERVICE_TEST: "ServiceTest",
}

ShortText = Annotated[str, Field(min_length=1, max_length=200)]
LongText = Annotated[str, Field(min_length=1, max_length=4000)]
Identifier = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[\x21-\x7e]+$")]


class TimePeriod(TMFInput):
    start_date_time: AwareDatetime
    end_date_time: AwareDatetime

    @model_validator(mode="after")
    def _ordered(self) -> "TimePeriod":
        if self.end_date_time <= self.start_date_time:
            raise ValueError("endDateTime must be after startDateTime")
        return self


class SubscriberContact(TMFInput):
    """Who the technician calls to arrange the visit (ConsumerTroubleTicket extension)."""

    name: ShortText
    phone_number: Annotated[str, Field(pattern=r"^\+?[0-9][0-9 ()\-]{5,24}$")]
    email: Annotated[str, Field(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")] | None = (
        None
    )
    preferred_contact_time: ShortText | None = None


class RelatedEntityRef(TMFInput):
    id: Identifier
    role: RelatedEntityRole
    referred_type: str = Field(alias="@referredType")
    name: ShortText | None = None
    href: Annotated[str, Field(max_length=500)] | None = None
    type: str | None = Field(default=None, alias="@type")

    @model_validator(mode="after")
    def _referred_type_matches_role(self) -> "RelatedEntityRef":
        expected = REFERRED_TYPE_BY_ROLE[self.role]
        if self.referred_type != expected:
            raise ValueError(f"a relatedEntity with role {self.role} has @referredType {expected}")
        return self


class NoteInput(TMFInput):
    text: LongText
    author: ShortText | None = None
    type: str | None = Field(default=None, alias="@type")


class AttachmentInput(TMFInput):
    """A reference to a document kept elsewhere (photos, reports); content is not stored."""

    name: ShortText
    url: Annotated[str, Field(max_length=2000, pattern=r"^https?://\S+$")]
    mime_type: ShortText | None = None
    description: LongText | None = None
    attachment_type: ShortText | None = None
    type: str | None = Field(default=None, alias="@type")


# Attributes the server owns: accepted in a create body and ignored (TMF clients often echo
# them), refused in a PATCH because a PATCH that tries to set them is a mistake.
SERVER_SET_ATTRIBUTES = frozenset(
    {
        "id",
        "href",
        "status",
        "statusChange",
        "statusChangeDate",
        "statusChangeReason",
        "creationDate",
        "lastUpdate",
        "expectedResolutionDate",
        "resolutionDate",
        "@baseType",
        "@schemaLocation",
        "slaClass",
    }
)


class TroubleTicketCreate(TMFInput):
    """Body of `POST /troubleTicket`."""

    description: LongText
    severity: Severity
    ticket_type: TicketType
    related_entity: Annotated[list[RelatedEntityRef], Field(min_length=1, max_length=5)]
    subscriber_contact: SubscriberContact
    visit_window: TimePeriod | None = None
    name: ShortText | None = None
    external_id: Identifier | None = None
    note: Annotated[list[NoteInput], Field(max_length=20)] = []
    attachment: Annotated[list[AttachmentInput], Field(max_length=20)] = []
    type: Literal["ConsumerTroubleTicket", "TroubleTicket"] = Field(
        default="ConsumerTroubleTicket", alias="@type"
    )

    @model_validator(mode="before")
    @classmethod
    def _drop_server_set(cls, body: Any) -> Any:
        if isinstance(body, dict):
            return {k: v for k, v in body.items() if k not in SERVER_SET_ATTRIBUTES}
        return body

    @field_validator("related_entity")
    @classmethod
    def _one_affected_service(cls, entities: list[RelatedEntityRef]) -> list[RelatedEntityRef]:
        roles = [e.role for e in entities]
        if roles.count(RelatedEntityRole.AFFECTED_SERVICE) != 1:
            raise ValueError("exactly one relatedEntity with role affectedService is required")
        if len(set(roles)) != len(roles):
            raise ValueError("each relatedEntity role may appear once")
        return entities

    def related(self, role: RelatedEntityRole) -> RelatedEntityRef | None:
        return next((e for e in self.related_entity if e.role is role), None)


class RetailStatusRequest(StrEnum):
    """The statuses a retail operator may ask for in a PATCH."""

    CANCELLED = "cancelled"
    IN_PROGRESS = "inProgress"  # reopen a resolved ticket, or answer a pending one
    CLOSED = "closed"  # accept the resolution


class TroubleTicketUpdate(TMFInput):
    """Body of `PATCH /troubleTicket/{id}` (merge-patch). Notes and attachments are appended."""

    status: RetailStatusRequest | None = None
    status_change_reason: ShortText | None = None
    description: LongText | None = None
    severity: Severity | None = None
    subscriber_contact: SubscriberContact | None = None
    visit_window: TimePeriod | None = None
    note: Annotated[list[NoteInput], Field(max_length=20)] | None = None
    attachment: Annotated[list[AttachmentInput], Field(max_length=20)] | None = None

    @model_validator(mode="before")
    @classmethod
    def _refuse_server_set(cls, body: Any) -> Any:
        if isinstance(body, dict):
            readonly = sorted(
                k for k in body if k in SERVER_SET_ATTRIBUTES - {"status", "statusChangeReason"}
            )
            readonly += sorted(
                k for k in body if k in {"relatedEntity", "ticketType", "externalId"}
            )
            if readonly:
                raise ValueError(f"not patchable: {', '.join(readonly)}")
            for nullable in ("status", "description", "severity", "subscriberContact"):
                if nullable in body and body[nullable] is None:
                    raise ValueError(f"{nullable} cannot be removed")
        return body

    def changed_attributes(self) -> list[str]:
        """Wire names of the attributes the body changes (status aside). Notes and attachments
        are appended, so an empty or null list changes nothing."""
        by_field = {name: info.alias or name for name, info in type(self).model_fields.items()}
        return sorted(
            by_field[name]
            for name in self.model_fields_set
            if name not in ("status", "status_change_reason")
            and (name not in ("note", "attachment") or getattr(self, name))
        )


class RelatedEntity(TMFModel):
    id: str
    role: str
    referred_type: str = Field(alias="@referredType")
    name: str | None = None
    href: str | None = None


class Note(TMFModel):
    id: str
    author: str | None = None
    date: datetime
    text: str


class Attachment(TMFModel):
    id: str
    name: str
    url: str
    mime_type: str | None = None
    description: str | None = None
    attachment_type: str | None = None


class StatusChange(TMFModel):
    status: TicketStatus
    change_date: datetime
    change_reason: str | None = None


class SubscriberContactOut(TMFModel):
    name: str
    phone_number: str
    email: str | None = None
    preferred_contact_time: str | None = None


class TimePeriodOut(TMFModel):
    start_date_time: datetime
    end_date_time: datetime


class TroubleTicket(TMFModel):
    """A trouble ticket as the server returns it and as events carry it."""

    id: str
    href: str
    name: str | None = None
    description: str
    severity: Severity
    ticket_type: TicketType
    status: TicketStatus
    status_change_reason: str | None = None
    status_change_date: datetime
    creation_date: datetime
    last_update: datetime
    expected_resolution_date: datetime | None = None
    resolution_date: datetime | None = None
    external_id: str | None = None
    sla_class: SlaClass
    subscriber_contact: SubscriberContactOut | None = None
    visit_window: TimePeriodOut | None = None
    related_entity: list[RelatedEntity] = []
    note: list[Note] = []
    attachment: list[Attachment] = []
    status_change: list[StatusChange] = []
    type: str = Field(default=CONSUMER_TROUBLE_TICKET, alias="@type")
    base_type: str = Field(default="TroubleTicket", alias="@baseType")
    schema_location: str | None = Field(default=None, alias="@schemaLocation")

    def related(self, role: RelatedEntityRole) -> RelatedEntity | None:
        return next((e for e in self.related_entity if e.role == role), None)
