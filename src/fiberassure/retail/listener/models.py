"""The listener's own tables (its own database, not the wholesaler's)."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Index, Integer, MetaData, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from fiberassure.wholesale.db import NAMING_CONVENTION, UTCDateTime


class ListenerBase(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class ReceivedEvent(ListenerBase):
    """Every verified message, once per eventId, exactly as it arrived."""

    __tablename__ = "listener_event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(200), unique=True)
    event_type: Mapped[str | None] = mapped_column(String(100))
    # The {eventName} of the URL it was POSTed to (None for plain /listener).
    path_name: Mapped[str | None] = mapped_column(String(100))
    resource_type: Mapped[str | None] = mapped_column(String(20))
    resource_id: Mapped[str | None] = mapped_column(String(200))
    sequence_number: Mapped[int | None] = mapped_column(Integer)
    event_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    headers: Mapped[dict[str, str]] = mapped_column(JSON)
    body: Mapped[str] = mapped_column(Text)
    # Whether this event moved the mirror (False: older than the mirror, or unreadable).
    applied: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (Index("ix_listener_event_resource", "resource_type", "resource_id"),)


class MirroredResource(ListenerBase):
    """The latest known state of one trouble ticket or service test."""

    __tablename__ = "listener_resource"

    resource_type: Mapped[str] = mapped_column(String(20), primary_key=True)
    resource_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    # The highest sequenceNumber (revision) the state is known to include.
    sequence_number: Mapped[int] = mapped_column(Integer)
    # Tickets: lastUpdate. Tests: startDateTime (they have no lastUpdate).
    last_update: Mapped[datetime | None] = mapped_column(UTCDateTime)
    state: Mapped[dict[str, Any]] = mapped_column(JSON)
    # event, fetch (after a gap) or reconcile.
    source: Mapped[str] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RegisteredHub(ListenerBase):
    """A hub `--register` created on the wholesale side, with its signing secret."""

    __tablename__ = "listener_hub"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    api: Mapped[str] = mapped_column(String(20))
    callback: Mapped[str] = mapped_column(String(2000))
    secret: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
