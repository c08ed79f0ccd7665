"""The listener's database: SQLite by default, PostgreSQL by URL. The schema is created with
`metadata.create_all` at start (idempotent; new tables appear, existing ones are kept)."""

from fiberassure.retail.listener.models import ListenerBase
from fiberassure.wholesale.db import Database


def open_store(url: str, *, pool_size: int = 5) -> Database:
    """An engine on `url` (sqlite:///file.db or postgresql://…); call `create_schema` once."""
    return Database(url, pool_size=pool_size)


async def create_schema(database: Database) -> None:
    if database.is_sqlite:
        from pathlib import Path

        from sqlalchemy.engine import make_url

        path = make_url(database.url).database
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    async with database.engine.begin() as connection:
        await connection.run_sync(ListenerBase.metadata.create_all)
