"""Database plumbing: engines for SQLite (embedded default) and PostgreSQL, the UTC column
type, the declarative base, and migrations (the schema exists only through Alembic)."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import DateTime, MetaData, event
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

if TYPE_CHECKING:
    from fiberassure.wholesale.settings import Settings

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC timestamp on both databases.

    SQLite has no time-zone type and would drop an offset silently, so values are normalised
    to UTC before storage and come back aware. Naive values are refused: they are bugs.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: all timestamps are UTC-aware")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def async_url(url: str) -> str:
    """The async driver URL for a user-facing URL (`sqlite:///x.db`, `postgresql://…`)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return str(parsed.set(drivername="sqlite+aiosqlite").render_as_string(hide_password=False))
    if parsed.get_backend_name() == "postgresql":
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    raise ValueError(f"unsupported database (use sqlite:/// or postgresql://): {url}")


def sync_url(url: str) -> str:
    """The synchronous driver URL, used by Alembic and the CLI's one-shot commands."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return parsed.set(drivername="sqlite").render_as_string(hide_password=False)
    if parsed.get_backend_name() == "postgresql":
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    raise ValueError(f"unsupported database (use sqlite:/// or postgresql://): {url}")


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def configure_sqlite(engine: Any, busy_timeout_ms: int) -> None:
    """WAL, a busy timeout and `BEGIN IMMEDIATE`.

    pysqlite's own transaction handling is switched off so that every transaction takes the
    write lock when it begins: two deferred transactions that both try to upgrade to a writer
    would otherwise fail with SQLITE_BUSY instead of waiting their turn.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


class DatabaseBusy(Exception):
    """SQLite: this process's other transactions held the database past the busy timeout."""


class Database:
    """The async engine and session factory of one process."""

    def __init__(self, url: str, *, pool_size: int = 10, busy_timeout_seconds: float = 30) -> None:
        self.url = url
        self.is_sqlite = is_sqlite(url)
        options: dict[str, Any] = {}
        if self.is_sqlite:
            options["connect_args"] = {"timeout": busy_timeout_seconds}
        else:
            options["pool_size"] = pool_size
            options["max_overflow"] = pool_size
            options["pool_pre_ping"] = True
        self.engine: AsyncEngine = create_async_engine(async_url(url), **options)
        if self.is_sqlite:
            configure_sqlite(self.engine.sync_engine, int(busy_timeout_seconds * 1000))
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False, autoflush=False)
        self.busy_timeout_seconds = busy_timeout_seconds
        self._writer_turn: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One short unit of work that commits on success and rolls back on any error."""
        async with self._turn_to_write(), self.sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def _turn_to_write(self) -> AsyncIterator[None]:
        """On SQLite, the transactions of this process take the write lock in turn.

        SQLite has one writer at a time and every transaction here begins with the write
        lock. Without a queue the waiters poll the lock with growing sleeps and miss it when
        it is free only between two commits, so a busy producer (the API) starved the
        dispatcher for seconds. In turn, waiting is first come, first served. The wait is
        bounded by the busy timeout, as SQLite's own would be; PostgreSQL needs none of it.
        """
        if not self.is_sqlite:
            yield
            return
        loop = asyncio.get_running_loop()
        if self._writer_turn is None or self._writer_turn[0] is not loop:
            self._writer_turn = (loop, asyncio.Lock())
        turn = self._writer_turn[1]
        try:
            async with asyncio.timeout(self.busy_timeout_seconds):
                await turn.acquire()
        except TimeoutError:
            raise DatabaseBusy(
                f"no turn to write to the database within {self.busy_timeout_seconds:g} s"
            ) from None
        try:
            yield
        finally:
            turn.release()

    async def dispose(self) -> None:
        await self.engine.dispose()

    @classmethod
    def from_settings(cls, settings: "Settings") -> "Database":
        return cls(
            settings.database_url,
            pool_size=settings.database_pool_size,
            busy_timeout_seconds=settings.sqlite_busy_timeout.total_seconds(),
        )


# A wheel carries the migrations inside the package; a source checkout keeps them at the top.
_PACKAGED_MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"
MIGRATIONS_DIR = (
    _PACKAGED_MIGRATIONS
    if _PACKAGED_MIGRATIONS.is_dir()
    else Path(__file__).resolve().parents[3] / "migrations"
)


def alembic_config(url: str) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", sync_url(url).replace("%", "%%"))
    return config


def migrate(url: str, revision: str = "head") -> None:
    """Bring the schema to `revision` (synchronous: call before starting an event loop)."""
    from alembic import command

    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(url), revision)
