from collections.abc import Iterator

import httpx
import pytest

from fiberassure.wholesale.clock import SettableClock
from fiberassure.wholesale.db import Database
from fiberassure.wholesale.events.dispatcher import Dispatcher
from fiberassure.wholesale.settings import Settings
from tests.listener import RecordingListener

HUBS = "/tmf-api/troubleTicket/v4/hub"


@pytest.fixture
def app_settings(settings: Settings) -> Settings:
    # Loopback callbacks are allowed here; retries are fast and few; tokens outlive the
    # clock moves of these tests.
    return settings.with_overrides(
        token_ttl="P30D",
        callback_allow_private=True,
        retry_schedule="1,2,3",
        retry_jitter=0,
        delivery_timeout=0.5,
    )


@pytest.fixture
def listener() -> Iterator[RecordingListener]:
    listener = RecordingListener().start()
    yield listener
    listener.stop()


@pytest.fixture
async def dispatcher(
    clean_database: Database, app_settings: Settings, clock: SettableClock
) -> Dispatcher:
    return Dispatcher(clean_database, app_settings, clock)


async def subscribe(
    http: httpx.AsyncClient, auth: dict[str, str], callback: str, query: str | None = None
) -> dict[str, str]:
    body = {"callback": callback} if query is None else {"callback": callback, "query": query}
    response = await http.post(HUBS, json=body, headers=auth)
    assert response.status_code == 201, response.text
    hub: dict[str, str] = response.json()
    return hub


async def drain(dispatcher: Dispatcher, clock: SettableClock, rounds: int = 50) -> None:
    """Dispatch until nothing is pending, moving the clock past retry delays."""
    from datetime import timedelta

    for _ in range(rounds):
        if await dispatcher.run_once() == 0:
            clock.advance(timedelta(minutes=1))
            if await dispatcher.run_once() == 0:
                return
