"""Test databases: SQLite always; PostgreSQL whenever reachable (and required under CI=true).

Each test session gets fresh databases built by the real Alembic migrations.
"""

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from fiberassure.wholesale.db import migrate

POSTGRES_URL = os.environ.get(
    "FIBERASSURE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _admin_conninfo() -> str:
    url = make_url(POSTGRES_URL)
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def postgres_reachable() -> bool:
    try:
        with psycopg.connect(_admin_conninfo(), connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


def require_postgres() -> None:
    """Skip without PostgreSQL, except under CI where its absence is a failure."""
    if postgres_reachable():
        return
    if IN_CI:
        pytest.fail(f"CI=true and PostgreSQL is not reachable at {POSTGRES_URL}", pytrace=False)
    pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL}")


@contextmanager
def postgres_database() -> Iterator[str]:
    """A new, migrated PostgreSQL database, dropped afterwards."""
    require_postgres()
    name = f"fiberassure_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_admin_conninfo(), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    try:
        migrate(url)
        yield url
    finally:
        with psycopg.connect(_admin_conninfo(), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def sqlite_database(directory: Path) -> Iterator[str]:
    """A new, migrated SQLite file."""
    url = f"sqlite:///{directory / f'fiberassure-{uuid.uuid4().hex[:8]}.db'}"
    migrate(url)
    yield url


@contextmanager
def database_url_for(backend: str, directory: Path) -> Iterator[str]:
    if backend == "postgresql":
        with postgres_database() as url:
            yield url
    else:
        with sqlite_database(directory) as url:
            yield url
