from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from fiberassure.wholesale.db import Base, UTCDateTime


class ServiceTest(Base):
    """A TMF653 service test of one line, from request to result."""

    __tablename__ = "service_test"
    __table_args__ = (
        Index("ix_service_test_operator_start", "operator_id", "start_date_time"),
        # The most recent completed test of a line (FIBERASSURE_REQUIRE_RECENT_TEST).
        Index("ix_service_test_service_state_end", "service_id", "state", "end_date_time"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    operator_id: Mapped[str] = mapped_column(ForeignKey("operator.id"))
    service_id: Mapped[str] = mapped_column(ForeignKey("service.id"))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    specification_id: Mapped[str] = mapped_column(String(64))
    specification_version: Mapped[str] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(16))
    # When the wholesaler accepted the test, and when its result was captured.
    start_date_time: Mapped[datetime] = mapped_column(UTCDateTime)
    end_date_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ont_serial_number: Mapped[str] = mapped_column(String(32))
    test_measures: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    outcome: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    failure_reason: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The quota windows the test was counted in, so a refund returns it to the same ones.
    quota_day_start: Mapped[datetime] = mapped_column(UTCDateTime)
    quota_hour_start: Mapped[datetime] = mapped_column(UTCDateTime)
    quota_refunded: Mapped[bool] = mapped_column(Boolean, default=False)
    # Counts changes from 1: each event's sequenceNumber.
    revision: Mapped[int] = mapped_column(Integer)


class ServiceTestJob(Base):
    """Work for the test runner: present while the test is not finished. A runner leases it
    for the length of one adapter call; a runner that dies loses only its lease."""

    __tablename__ = "service_test_job"

    service_test_id: Mapped[str] = mapped_column(
        ForeignKey("service_test.id", ondelete="CASCADE"), primary_key=True
    )
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_token: Mapped[str | None] = mapped_column(String(36))


class QuotaUsage(Base):
    """How many tests one quota window has counted. `quota` is `perOperatorPerDay` or
    `perServicePerHour:<service id>`; windows are fixed (a UTC day, a clock hour)."""

    __tablename__ = "service_test_quota_usage"

    operator_id: Mapped[str] = mapped_column(
        ForeignKey("operator.id", ondelete="CASCADE"), primary_key=True
    )
    quota: Mapped[str] = mapped_column(String(150), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    used: Mapped[int] = mapped_column(Integer)
