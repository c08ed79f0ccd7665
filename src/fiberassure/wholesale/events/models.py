from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

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
