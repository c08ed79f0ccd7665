from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from fiberassure.wholesale.db import Base, UTCDateTime


class IdempotencyRecord(Base):
    """The response to a POST made with an Idempotency-Key, replayed for a retry."""

    __tablename__ = "idempotency_record"

    operator_id: Mapped[str] = mapped_column(
        ForeignKey("operator.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    endpoint: Mapped[str] = mapped_column(String(200))
    request_fingerprint: Mapped[str] = mapped_column(String(64))
    response_status: Mapped[int] = mapped_column(Integer)
    response_body: Mapped[dict[str, Any]] = mapped_column(JSON)
    response_location: Mapped[str | None] = mapped_column(String(500))
    response_etag: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
