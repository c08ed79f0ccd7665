from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fiberassure.wholesale.db import Base, UTCDateTime


class OutboxEvent(Base):
    """A notification for a retail operator, written in the transaction of the change it
    describes. `payload` is the full TMF event envelope, exactly as it will be sent."""

    __tablename__ = "outbox_event"
    __table_args__ = (
        Index(
            "uq_outbox_event_resource_sequence",
            "resource_type",
            "resource_id",
            "sequence_number",
            unique=True,
        ),
        Index("ix_outbox_event_operator_time", "operator_id", "event_time"),
    )

    # Insertion order, for readers that page through the outbox; eventId is the public id.
    position: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    operator_id: Mapped[str] = mapped_column(ForeignKey("operator.id"))
    resource_type: Mapped[str] = mapped_column(String(32))
    resource_id: Mapped[str] = mapped_column(String(36))
    sequence_number: Mapped[int] = mapped_column(Integer)
    event_type: Mapped[str] = mapped_column(String(64))
    event_time: Mapped[datetime] = mapped_column(UTCDateTime)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)


class Hub(Base):
    """A retail operator's event subscription (TMF `EventSubscription`) on one API."""

    __tablename__ = "hub"
    __table_args__ = (Index("ix_hub_operator_api", "operator_id", "api"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    operator_id: Mapped[str] = mapped_column(ForeignKey("operator.id", ondelete="CASCADE"))
    # The resource type whose events it receives: troubleTicket (TMF621) or serviceTest (TMF653).
    api: Mapped[str] = mapped_column(String(32))
    callback: Mapped[str] = mapped_column(String(2000))
    query: Mapped[str | None] = mapped_column(String(1000))
    # `whsec_` + base64 key. Kept readable because every delivery is signed with it.
    secret: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="active")
    status_reason: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Delivery(Base):
    """One event on its way to one hub. Deliveries of one resource to one hub form a line
    that is delivered in sequence order; only the head of a line is ever claimed."""

    __tablename__ = "delivery"
    __table_args__ = (
        Index("ix_delivery_line", "hub_id", "resource_key", "status", "sequence_number"),
        Index("ix_delivery_due", "status", "next_attempt_at"),
        Index("ix_delivery_event", "event_id"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    hub_id: Mapped[str] = mapped_column(ForeignKey("hub.id", ondelete="CASCADE"))
    operator_id: Mapped[str] = mapped_column(String(64))
    event_id: Mapped[str] = mapped_column(ForeignKey("outbox_event.event_id"))
    # Declared so the unit of work inserts the event before its deliveries.
    event: Mapped[OutboxEvent] = relationship(lazy="raise")
    event_type: Mapped[str] = mapped_column(String(64))
    resource_key: Mapped[str] = mapped_column(String(80))  # "troubleTicket:<id>"
    sequence_number: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))  # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # A claimed delivery is leased: another worker may take it over only after the lease.
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_token: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(500))


class DeliveryAttempt(Base):
    __tablename__ = "delivery_attempt"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("delivery.id", ondelete="CASCADE"), index=True
    )
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status_code: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[float] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(String(500))
    response_body: Mapped[str | None] = mapped_column(String(1000))
