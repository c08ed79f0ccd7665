from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from fiberassure.wholesale.db import Base, UTCDateTime


class Operator(Base):
    """A retail ISP (the seed's OK): the tenant that owns services, tickets, tests and hubs."""

    __tablename__ = "operator"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Service-test quotas of this operator; empty = the deployment's defaults (settings).
    test_quota_per_day: Mapped[int | None] = mapped_column(Integer)
    test_quota_per_service_per_hour: Mapped[int | None] = mapped_column(Integer)


class ApiClient(Base):
    """OAuth2 client-credentials client. `operator_id` is empty for the wholesaler's own
    systems (scope `ops`)."""

    __tablename__ = "api_client"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    secret_hash: Mapped[str] = mapped_column(String(128))
    operator_id: Mapped[str | None] = mapped_column(
        ForeignKey("operator.id", ondelete="CASCADE"), index=True
    )
    scopes: Mapped[str] = mapped_column(String(200))  # space-separated, as OAuth2 writes them
    name: Mapped[str] = mapped_column(String(200))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
