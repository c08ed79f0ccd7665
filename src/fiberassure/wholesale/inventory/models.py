from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from fiberassure.wholesale.db import Base, UTCDateTime


class Service(Base):
    """An access line sold to a retail operator: the subscriber's ONT on an OLT PON port."""

    __tablename__ = "service"
    # The lines sharing a PON port (the simulator's outage view, the NOC's impact lists).
    __table_args__ = (Index("ix_service_olt_pon", "olt_name", "pon_port"),)

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    operator_id: Mapped[str] = mapped_column(ForeignKey("operator.id"), index=True)
    ont_serial_number: Mapped[str] = mapped_column(String(32), unique=True)
    ont_model: Mapped[str | None] = mapped_column(String(100))
    olt_name: Mapped[str] = mapped_column(String(100))
    pon_port: Mapped[str] = mapped_column(String(32))  # rack/shelf/slot/port, e.g. 1/1/3/7
    address: Mapped[str | None] = mapped_column(String(300))
    city: Mapped[str | None] = mapped_column(String(100))
    postal_code: Mapped[str | None] = mapped_column(String(16))
    sla_class: Mapped[str] = mapped_column(String(16), default="standard")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
