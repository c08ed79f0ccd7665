"""The request is the unit of work: it commits once, before the response is sent."""

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import event, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from fiberassure.wholesale.db import Database
from fiberassure.wholesale.events.models import OutboxEvent
from fiberassure.wholesale.tickets.models import TroubleTicket
from tests.conftest import World
from tests.tickets import TICKETS, ticket_body


class CommitFailure:
    """While active, every commit fails, as it would with a lost database connection."""

    def __init__(self) -> None:
        self.refused = 0

    def _refuse(self, _session: Session) -> None:
        self.refused += 1
        raise OperationalError("COMMIT", {}, Exception("connection lost"))

    def start(self) -> None:
        event.listen(Session, "before_commit", self._refuse)

    def stop(self) -> None:
        if event.contains(Session, "before_commit", self._refuse):
            event.remove(Session, "before_commit", self._refuse)


@pytest.fixture
def commit_failure() -> Iterator[CommitFailure]:
    failure = CommitFailure()
    yield failure
    failure.stop()


async def count(database: Database, model: Any) -> int:
    async with database.transaction() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


async def test_client_never_sees_201_for_a_write_that_failed_to_commit(
    http: httpx.AsyncClient,
    retail_a: dict[str, str],
    world: World,
    clean_database: Database,
    commit_failure: CommitFailure,
) -> None:
    commit_failure.start()
    response = await http.post(TICKETS, json=ticket_body(world.a.services[0]), headers=retail_a)
    commit_failure.stop()

    assert commit_failure.refused == 1, "the request's commit ran before the response"
    assert response.status_code == 503
    assert response.json()["code"] == "INTERNAL_ERROR"
    assert response.headers["Retry-After"] == "1"
    assert await count(clean_database, TroubleTicket) == 0
    assert await count(clean_database, OutboxEvent) == 0


async def test_a_successful_write_is_committed_when_the_client_gets_201(
    http: httpx.AsyncClient, retail_a: dict[str, str], world: World, clean_database: Database
) -> None:
    response = await http.post(TICKETS, json=ticket_body(world.a.services[0]), headers=retail_a)

    assert response.status_code == 201
    # Read through a different session: the ticket and its event are already durable.
    assert await count(clean_database, TroubleTicket) == 1
    assert await count(clean_database, OutboxEvent) == 1
