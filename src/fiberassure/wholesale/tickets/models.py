from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fiberassure.wholesale.db import Base, UTCDateTime

# Kept in step with ticket_lifecycle.OPEN_STATUSES; the migration writes the same predicate.
OPEN_STATUS_PREDICATE = "status NOT IN ('closed', 'cancelled', 'rejected')"


class TroubleTicket(Base):
    __tablename__ = "trouble_ticket"
    __table_args__ = (
        # At most one open ticket per service: the service check gives the friendly 409,
        # this index keeps it true when two requests race.
        Index(
            "uq_trouble_ticket_open_per_service",
            "service_id",
            unique=True,
            sqlite_where=text(OPEN_STATUS_PREDICATE),
            postgresql_where=text(OPEN_STATUS_PREDICATE),
        ),
        Index("uq_trouble_ticket_external_id", "operator_id", "external_id", unique=True),
        Index("ix_trouble_ticket_operator_created", "operator_id", "creation_date"),
        Index("ix_trouble_ticket_operator_updated", "operator_id", "last_update"),
        Index("ix_trouble_ticket_auto_close_at", "auto_close_at"),
        Index("ix_trouble_ticket_pending_expires_at", "pending_expires_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    operator_id: Mapped[str] = mapped_column(ForeignKey("operator.id"))
    service_id: Mapped[str] = mapped_column(ForeignKey("service.id"))
    external_id: Mapped[str | None] = mapped_column(String(100))
    name: Mapped[str | None] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    severity: Mapped[str] = mapped_column(String(16))
    ticket_type: Mapped[str] = mapped_column(String(32))
    type: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    status_change_reason: Mapped[str | None] = mapped_column(String(200))
    status_change_date: Mapped[datetime] = mapped_column(UTCDateTime)
    creation_date: Mapped[datetime] = mapped_column(UTCDateTime)
    last_update: Mapped[datetime] = mapped_column(UTCDateTime)
    resolution_date: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # SLA: the clock runs from creation, stops while pending (parked time is added back).
    sla_class: Mapped[str] = mapped_column(String(16))
    sla_parked_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    pending_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expected_resolution_date: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Deadlines the scheduler acts on; empty when nothing is due.
    auto_close_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    pending_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ont_serial_number: Mapped[str] = mapped_column(String(32))
    ont_model: Mapped[str | None] = mapped_column(String(100))
    service_test_id: Mapped[str | None] = mapped_column(String(36))
    subscriber_contact: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    visit_window_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    visit_window_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attachments: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # Counts changes from 1: the ETag and each event's sequenceNumber. Changed only under the
    # row lock, inside the transaction that makes the change.
    revision: Mapped[int] = mapped_column(Integer)

    notes: Mapped[list["TicketNote"]] = relationship(
        lazy="raise", order_by="TicketNote.id", cascade="all, delete-orphan"
    )
    status_changes: Mapped[list["TicketStatusChange"]] = relationship(
        lazy="raise", order_by="TicketStatusChange.id", cascade="all, delete-orphan"
    )


class TicketNote(Base):
    __tablename__ = "trouble_ticket_note"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[str] = mapped_column(
        ForeignKey("trouble_ticket.id", ondelete="CASCADE"), index=True
    )
    author: Mapped[str] = mapped_column(String(200))
    date: Mapped[datetime] = mapped_column(UTCDateTime)
    text: Mapped[str] = mapped_column(Text)


class TicketStatusChange(Base):
    __tablename__ = "trouble_ticket_status_change"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[str] = mapped_column(
        ForeignKey("trouble_ticket.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(200))
    actor: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(32))
    change_date: Mapped[datetime] = mapped_column(UTCDateTime)
