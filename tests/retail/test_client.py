"""The retail SDK against the real wholesale app: every operation, tokens, retries, errors."""

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import func, select

from fiberassure.retail.client import (
    AsyncRetailClient,
    ConflictError,
    NotFoundError,
    QuotaExceededError,
    RetailClient,
    ServerError,
    TransportError,
)
from fiberassure.retail.errors import AuthenticationError, BadRequestError
from fiberassure.wholesale.app import create_app
from fiberassure.wholesale.clock import SettableClock
from fiberassure.wholesale.db import Database
from fiberassure.wholesale.settings import Settings
from fiberassure.wholesale.tickets.models import TroubleTicket
from tests.conftest import BASE_URL, World
from tests.listener import free_port
from tests.service_tests import run_all
from tests.tickets import ticket_body


@pytest.fixture
def app_settings(settings: Settings) -> Settings:
    return settings.with_overrides(
        simulator_latency_min=0, simulator_latency_max=0, callback_allow_private=True
    )


class CountingTransport(httpx.AsyncBaseTransport):
    """The app in-process, counting requests by path, and failing on demand."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.paths: list[str] = []
        # The next answers to fake, in order: a status code or a transport error.
        self.fail_with: list[int | type[httpx.TransportError]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(f"{request.method} {request.url.path}")
        if self.fail_with:
            failure = self.fail_with.pop(0)
            if isinstance(failure, int):
                headers = {"Retry-After": "1"} if failure in (429, 503) else {}
                return httpx.Response(failure, json={"code": "X", "reason": "x"}, headers=headers)
            raise failure("injected", request=request)
        return await self.inner.handle_async_request(request)


@pytest.fixture
def transport(
    world: World, clean_database: Database, app_settings: Settings, clock: SettableClock
) -> CountingTransport:
    app = create_app(app_settings, database=clean_database, clock=clock)
    return CountingTransport(httpx.ASGITransport(app=app))


@pytest.fixture
async def client(world: World, transport: CountingTransport) -> AsyncIterator[AsyncRetailClient]:
    async with AsyncRetailClient(
        BASE_URL, world.a.client_id, world.a.client_secret, transport=transport
    ) as client:
        yield client


@pytest.fixture
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record the client's back-off sleeps instead of waiting."""
    waits: list[float] = []
    real_sleep = asyncio.sleep

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        await real_sleep(0)

    monkeypatch.setattr("fiberassure.retail.client.asyncio.sleep", sleep)
    return waits


async def test_a_ticket_goes_through_every_retail_operation(
    client: AsyncRetailClient, world: World
) -> None:
    ticket = await client.create_ticket(ticket_body(world.a.services[0]))
    assert ticket.status == "acknowledged"

    page = await client.list_tickets(status=["acknowledged", "inProgress"])
    assert [t.id for t in page.items] == [ticket.id]
    assert page.total == 1
    assert (await client.get_ticket(ticket.id)).id == ticket.id

    noted = await client.add_note(ticket.id, "The subscriber is home after 17:00.")
    assert [n.text for n in noted.note] == ["The subscriber is home after 17:00."]
    updated = await client.update_ticket(
        ticket.id, {"description": "Red LOS light"}, if_match='"2"'
    )
    assert updated.description == "Red LOS light"

    cancelled = await client.cancel_ticket(ticket.id, "fixed by the subscriber")
    assert (cancelled.status, cancelled.status_change_reason) == (
        "cancelled",
        "fixed by the subscriber",
    )
    with pytest.raises(ConflictError) as refused:
        await client.reopen_ticket(ticket.id)
    assert refused.value.code == "INVALID_TRANSITION"


async def test_iterating_reads_every_page(client: AsyncRetailClient, world: World) -> None:
    for service in world.a.services:
        await client.create_ticket(ticket_body(service))

    seen = [t.id async for t in client.iter_tickets(limit=2)]

    assert len(seen) == len(set(seen)) == 3


async def test_a_test_is_run_waited_for_and_listed_with_its_limits(
    client: AsyncRetailClient,
    world: World,
    clean_database: Database,
    app_settings: Settings,
    clock: SettableClock,
) -> None:
    ordered = await client.run_test(world.a.services[1], specification="opticalLevels")
    assert ordered.state == "acknowledged"
    await run_all(clean_database, app_settings, clock)

    done = await client.wait_for_test(ordered.id, timeout=5, poll_interval=0.01)
    assert done.state == "completed"
    assert done.outcome is not None
    assert {m.metric_name for m in done.test_measure} >= {"ontRxPower", "oltRxPower"}
    assert [t.id for t in (await client.list_tests(state="completed")).items] == [ordered.id]
    limits = {(q.name, q.used) for q in await client.test_limits(world.a.services[1])}
    assert limits == {("perOperatorPerDay", 1), ("perServicePerHour", 1)}
    assert {s.id for s in await client.list_specifications()} == {"ontStatus", "opticalLevels"}


async def test_hubs_are_created_listed_and_deleted(client: AsyncRetailClient) -> None:
    hub = await client.create_hub("serviceTest", "http://127.0.0.1:9/listener")

    assert hub.secret is not None
    assert hub.secret.startswith("whsec_")
    assert [h.id for h in await client.list_hubs("serviceTest")] == [hub.id]
    assert await client.list_hubs("troubleTicket") == []
    await client.delete_hub("serviceTest", hub.id)
    assert await client.list_hubs("serviceTest") == []


async def test_errors_carry_the_tmf_error(client: AsyncRetailClient, world: World) -> None:
    with pytest.raises(NotFoundError) as missing:
        await client.get_ticket("no-such-ticket")
    assert missing.value.status_code == 404
    assert "no-such-ticket" in missing.value.message

    with pytest.raises(BadRequestError) as invalid:
        await client.run_test(world.b.services[0])  # another operator's line
    assert invalid.value.code == "INVALID_REQUEST"


async def test_the_token_is_fetched_once_and_again_when_it_expires(
    client: AsyncRetailClient, transport: CountingTransport, world: World, clock: SettableClock
) -> None:
    for _ in range(3):
        await client.list_tickets()
    assert transport.paths.count("POST /oauth/token") == 1

    # The server's clock passes the token's expiry: the 401 makes the client fetch a new one.
    clock.advance(timedelta(hours=1))
    await client.list_tickets()

    assert transport.paths.count("POST /oauth/token") == 2


async def test_wrong_credentials_raise_an_authentication_error(
    transport: CountingTransport, world: World
) -> None:
    async with AsyncRetailClient(
        BASE_URL, world.a.client_id, "wrong", transport=transport
    ) as client:
        with pytest.raises(AuthenticationError):
            await client.list_tickets()


async def test_reads_are_retried_on_server_errors_and_connection_failures(
    client: AsyncRetailClient, transport: CountingTransport, no_sleep: list[float]
) -> None:
    await client.list_tickets()  # token first
    transport.fail_with = [503, httpx.ReadError, 502]

    assert (await client.list_tickets()).total == 0

    assert transport.paths.count("GET /tmf-api/troubleTicket/v4/troubleTicket") == 5
    assert no_sleep[0] == 1.0  # the first wait is the 503's Retry-After


async def test_retries_stop_after_max_retries(
    client: AsyncRetailClient, transport: CountingTransport, no_sleep: list[float]
) -> None:
    await client.list_tickets()
    transport.fail_with = [500] * 10

    with pytest.raises(ServerError):
        await client.list_tickets()

    assert len(no_sleep) == client.max_retries


async def test_a_patch_is_not_repeated_after_its_answer_was_lost(
    client: AsyncRetailClient, transport: CountingTransport, world: World, no_sleep: list[float]
) -> None:
    ticket = await client.create_ticket(ticket_body(world.a.services[0]))
    transport.fail_with = [httpx.ReadError]

    with pytest.raises(TransportError):
        await client.add_note(ticket.id, "appended once at most")

    assert no_sleep == []


async def test_a_quota_that_resets_later_is_raised_at_once_with_retry_after(
    client: AsyncRetailClient, world: World, no_sleep: list[float]
) -> None:
    for _ in range(10):
        await client.run_test(world.a.services[0])

    with pytest.raises(QuotaExceededError) as refused:
        await client.run_test(world.a.services[0])

    assert refused.value.code == "QUOTA_EXCEEDED"
    assert refused.value.retry_after == 3600
    assert no_sleep == []  # an hour is longer than max_retry_wait: not waited for


def test_the_blocking_client_has_the_same_operations(
    world: World, transport: CountingTransport
) -> None:
    with RetailClient(
        BASE_URL, world.a.client_id, world.a.client_secret, transport=transport
    ) as client:
        ticket = client.create_ticket(ticket_body(world.a.services[2]))
        assert client.get_ticket(ticket.id).status == "acknowledged"
        assert [t.id for t in client.iter_tickets()] == [ticket.id]
        assert client.accept_ticket is not None
        test = client.run_test(world.a.services[2])
        assert client.get_test(test.id).state == "acknowledged"


# -- a create whose answer is lost on the way back ------------------------------------------


class ServerThread:
    """The wholesale app served by uvicorn on 127.0.0.1 in a thread of its own."""

    def __init__(self, settings: Settings) -> None:
        self.port = free_port()
        config = uvicorn.Config(
            create_app(settings), host="127.0.0.1", port=self.port, log_level="error"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def __enter__(self) -> "ServerThread":
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.01)
        return self

    def __exit__(self, *_: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


class DroppingProxy:
    """A TCP proxy that forwards each request and, for the first one whose request line
    starts with `drop_first`, reads the server's answer and closes the connection instead of
    passing it on: the change is made, the client never hears of it."""

    def __init__(self, upstream_port: int, drop_first: bytes) -> None:
        self.upstream_port = upstream_port
        self.drop_first: bytes | None = drop_first
        self.dropped: list[bytes] = []
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(
            "127.0.0.1", self.upstream_port
        )
        try:
            while request := await self._message(reader):
                upstream_writer.write(request)
                await upstream_writer.drain()
                response = await self._message(upstream_reader)
                if self.drop_first and request.startswith(self.drop_first):
                    self.dropped.append(request.split(b"\r\n", 1)[0])
                    self.drop_first = None
                    return  # the answer is lost
                writer.write(response)
                await writer.drain()
        finally:
            writer.close()
            upstream_writer.close()

    @staticmethod
    async def _message(reader: asyncio.StreamReader) -> bytes:
        """One HTTP/1.1 message with a Content-Length body (what both sides send here)."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return b""
        length = 0
        for line in head.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        return head + (await reader.readexactly(length) if length else b"")

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()


@pytest.fixture
def served(world: World, app_settings: Settings) -> Iterator[ServerThread]:
    with ServerThread(app_settings) as server:
        yield server


async def count_tickets(database: Database) -> int:
    async with database.transaction() as session:
        return int((await session.execute(select(func.count(TroubleTicket.id)))).scalar_one())


async def test_a_create_whose_answer_is_lost_is_retried_into_the_same_ticket(
    served: ServerThread, world: World, clean_database: Database
) -> None:
    proxy = DroppingProxy(served.port, drop_first=b"POST /tmf-api/troubleTicket/v4/troubleTicket")
    await proxy.start()
    try:
        async with AsyncRetailClient(
            f"http://127.0.0.1:{proxy.port}", world.a.client_id, world.a.client_secret
        ) as client:
            ticket = await client.create_ticket(ticket_body(world.a.services[0]))

            assert proxy.dropped, "the first answer was not dropped"
            assert await count_tickets(clean_database) == 1
            assert (await client.get_ticket(ticket.id)).id == ticket.id
            assert [t.id for t in (await client.list_tickets()).items] == [ticket.id]
    finally:
        await proxy.close()


async def test_without_the_idempotency_key_the_same_loss_would_open_a_second_ticket(
    served: ServerThread, world: World, clean_database: Database
) -> None:
    """The control experiment: the proxy really loses an answer to a committed create."""
    proxy = DroppingProxy(served.port, drop_first=b"POST /tmf-api/troubleTicket/v4/troubleTicket")
    await proxy.start()
    body: dict[str, Any] = ticket_body(world.a.services[0])
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{proxy.port}") as http:
            token = await http.post(
                "/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=(world.a.client_id, world.a.client_secret),
            )
            auth = {"Authorization": f"Bearer {token.json()['access_token']}"}
            with pytest.raises(httpx.RemoteProtocolError):
                await http.post("/tmf-api/troubleTicket/v4/troubleTicket", json=body, headers=auth)
            again = await http.post(
                "/tmf-api/troubleTicket/v4/troubleTicket", json=body, headers=auth
            )

        assert again.status_code == 409  # the line already has the ticket the client never saw
        assert await count_tickets(clean_database) == 1
    finally:
        await proxy.close()
