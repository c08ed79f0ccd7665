"""Database plumbing on both databases: UTC timestamps, the migrated schema, SQLite's pragmas
and the driver URLs."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.exc import IntegrityError, StatementError

import fiberassure.wholesale.all_models  # noqa: F401  (every table in Base.metadata)
from fiberassure.wholesale.db import (
    Base,
    Database,
    DatabaseBusy,
    alembic_config,
    async_url,
    sync_url,
)
from fiberassure.wholesale.inventory.models import Service
from fiberassure.wholesale.operators.models import Operator
from tests.databases import database_url_for, sqlite_database


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def migrated_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with database_url_for(backend, tmp_path_factory.mktemp("db-layer")) as url:
        yield url


@pytest.fixture
async def database(migrated_url: str) -> AsyncIterator[Database]:
    database = Database(migrated_url)
    yield database
    await database.dispose()


def new_operator(created_at: datetime) -> Operator:
    return Operator(id=f"op-{uuid.uuid4().hex[:12]}", name=uuid.uuid4().hex, created_at=created_at)


def schema_differences(url: str) -> list[Any]:
    """What autogenerate would write to make the database match the models (nothing, ideally).

    Types and server defaults are compared too. UTCDateTime is compared through its
    `impl`, DateTime(timezone=True), which is what both databases reflect, so it is not noise.
    """
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "compare_server_default": True}
            )
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


def table_names(url: str) -> set[str]:
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as connection:
            return set(inspect(connection).get_table_names())
    finally:
        engine.dispose()


def current_revision(url: str) -> str | None:
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


async def test_a_timestamp_comes_back_as_the_same_instant_in_utc(
    database: Database, backend: str
) -> None:
    india = timezone(timedelta(hours=5, minutes=30))
    written = datetime(2026, 11, 28, 14, 45, 30, 123456, tzinfo=india)
    operator = new_operator(written)
    async with database.transaction() as session:
        session.add(operator)

    async with database.transaction() as session:
        if backend == "postgresql":
            # The session's time zone must not leak into what the application reads.
            await session.execute(text("SET LOCAL TIME ZONE 'America/New_York'"))
        read = await session.scalar(select(Operator.created_at).where(Operator.id == operator.id))

    assert read == datetime(2026, 11, 28, 9, 15, 30, 123456, tzinfo=UTC)
    assert read is not None
    assert read.tzinfo is UTC


async def test_timestamps_with_different_offsets_sort_by_instant(database: Database) -> None:
    # 05:00Z written as 10:00+05:00, then 06:00Z: stored offsets would sort them the other way.
    earlier = new_operator(datetime(2026, 11, 28, 10, 0, tzinfo=timezone(timedelta(hours=5))))
    later = new_operator(datetime(2026, 11, 28, 6, 0, tzinfo=UTC))
    async with database.transaction() as session:
        session.add_all([later, earlier])

    async with database.transaction() as session:
        ordered = await session.scalars(
            select(Operator.id)
            .where(Operator.id.in_([earlier.id, later.id]))
            .order_by(Operator.created_at)
        )

        assert list(ordered) == [earlier.id, later.id]


async def test_a_naive_timestamp_is_refused_and_nothing_is_stored(database: Database) -> None:
    operator = new_operator(datetime(2026, 11, 28, 9, 0))  # naive: the point of the test

    with pytest.raises(StatementError, match="naive datetime refused"):
        async with database.transaction() as session:
            session.add(operator)

    async with database.transaction() as session:
        assert await session.get(Operator, operator.id) is None


async def test_a_line_for_an_unknown_operator_is_refused_by_the_database(
    database: Database,
) -> None:
    now = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
    orphan = Service(
        id=f"SRV-{uuid.uuid4().hex[:8]}",
        operator_id="no-such-operator",
        ont_serial_number=f"ALCL{uuid.uuid4().hex[:8].upper()}",
        olt_name="OLT-01",
        pon_port="1/1/1/1",
        sla_class="standard",
        created_at=now,
        updated_at=now,
    )

    with pytest.raises(IntegrityError):
        async with database.transaction() as session:
            session.add(orphan)


def test_migrations_produce_exactly_the_models_schema(migrated_url: str) -> None:
    assert schema_differences(migrated_url) == []


def test_downgrade_to_base_and_upgrade_to_head_again(backend: str, tmp_path: Path) -> None:
    with database_url_for(backend, tmp_path) as url:
        config = alembic_config(url)
        head = ScriptDirectory.from_config(config).get_current_head()

        command.downgrade(config, "base")

        assert table_names(url) == {"alembic_version"}
        assert current_revision(url) is None
        missing = {diff[1].name for diff in schema_differences(url) if diff[0] == "add_table"}
        assert missing == set(Base.metadata.tables)

        command.upgrade(config, "head")

        assert current_revision(url) == head
        assert schema_differences(url) == []


async def test_sqlite_connections_use_wal_foreign_keys_and_the_busy_timeout(
    tmp_path: Path,
) -> None:
    with sqlite_database(tmp_path) as url:
        database = Database(url, busy_timeout_seconds=7)
        try:
            async with database.transaction() as session:
                journal_mode = await session.scalar(text("PRAGMA journal_mode"))
                foreign_keys = await session.scalar(text("PRAGMA foreign_keys"))
                busy_timeout = await session.scalar(text("PRAGMA busy_timeout"))
        finally:
            await database.dispose()

    assert (journal_mode, foreign_keys, busy_timeout) == ("wal", 1, 7000)


async def test_sqlite_transactions_of_one_process_take_the_write_lock_first_come_first_served(
    tmp_path: Path,
) -> None:
    """A producer committing back to back must not starve another writer of the process
    (the dispatcher behind the API): it gets in after the producer's current transaction."""
    with sqlite_database(tmp_path) as url:
        database = Database(url)
        commits: list[str] = []
        waiting = asyncio.Event()

        async def producer() -> None:
            for number in range(50):
                async with database.transaction() as session:
                    await session.execute(text("SELECT 1"))
                    if number == 5:
                        waiting.set()  # the other writer asks for its turn now
                    await asyncio.sleep(0.002)  # a transaction that awaits, as requests do
                commits.append("producer")

        async def other_writer() -> None:
            await waiting.wait()
            async with database.transaction() as session:
                await session.execute(text("SELECT 1"))
            commits.append("other")

        try:
            await asyncio.gather(producer(), other_writer())
        finally:
            await database.dispose()

    assert commits.index("other") <= 7


async def test_a_sqlite_transaction_that_never_gets_its_turn_fails_after_the_busy_timeout(
    tmp_path: Path,
) -> None:
    with sqlite_database(tmp_path) as url:
        database = Database(url, busy_timeout_seconds=0.2)
        try:
            async with database.transaction():
                with pytest.raises(DatabaseBusy):
                    # Another task of the process while this one holds the lock.
                    await asyncio.create_task(_open_transaction(database))
        finally:
            await database.dispose()


async def _open_transaction(database: Database) -> None:
    async with database.transaction() as session:
        await session.execute(text("SELECT 1"))


@pytest.mark.parametrize(
    ("url", "expected_async", "expected_sync"),
    [
        (
            "sqlite:///fiberassure.db",
            "sqlite+aiosqlite:///fiberassure.db",
            "sqlite:///fiberassure.db",
        ),
        (
            "sqlite:////var/lib/fiberassure/fiberassure.db",
            "sqlite+aiosqlite:////var/lib/fiberassure/fiberassure.db",
            "sqlite:////var/lib/fiberassure/fiberassure.db",
        ),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite:///x.db", "sqlite:///x.db"),
        (
            "postgresql://fa:p%40ss%2Fw%25rd@db.example:5433/fiberassure?sslmode=require",
            "postgresql+psycopg://fa:p%40ss%2Fw%25rd@db.example:5433/fiberassure?sslmode=require",
            "postgresql+psycopg://fa:p%40ss%2Fw%25rd@db.example:5433/fiberassure?sslmode=require",
        ),
        (
            "postgresql+asyncpg://fa@db.example/fiberassure",
            "postgresql+psycopg://fa@db.example/fiberassure",
            "postgresql+psycopg://fa@db.example/fiberassure",
        ),
    ],
)
def test_database_urls_map_to_the_async_and_sync_drivers(
    url: str, expected_async: str, expected_sync: str
) -> None:
    assert async_url(url) == expected_async
    assert sync_url(url) == expected_sync
    # Alembic's config file syntax treats % specially: the URL must reach it unchanged.
    assert alembic_config(url).get_main_option("sqlalchemy.url") == expected_sync


@pytest.mark.parametrize("url", ["mysql://fa@db.example/fiberassure", "oracle://fa@db/xe"])
def test_unsupported_databases_are_refused_with_the_supported_schemes(url: str) -> None:
    with pytest.raises(
        ValueError, match=r"unsupported database \(use sqlite:/// or postgresql://\)"
    ):
        async_url(url)
    with pytest.raises(ValueError, match="unsupported database"):
        sync_url(url)
