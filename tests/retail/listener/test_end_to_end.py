"""The real dispatcher signs and POSTs to the listener served by uvicorn on 127.0.0.1."""

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
import uvicorn

from fiberassure.retail.cli_listen import register
from fiberassure.retail.client import AsyncRetailClient
from fiberassure.retail.listener.app import Listener, create_app
from fiberassure.retail.listener.settings import ListenerSettings
from fiberassure.wholesale.clock import SettableClock
from fiberassure.wholesale.db import Database
from fiberassure.wholesale.events.dispatcher import Dispatcher
from fiberassure.wholesale.settings import Settings
from tests.conftest import World
from tests.listener import free_port
from tests.retail.listener.conftest import same_test, same_ticket
from tests.service_tests import order_test, run_all
from tests.tickets import create_ticket, ops_action, patch_ticket
from tests.wholesale.events.conftest import drain


@pytest.fixture
async def served(
    listener_url: str, listener_store: Database, wholesale_sdk: AsyncRetailClient
) -> AsyncIterator[tuple[str, Listener]]:
    """`--register`, then the listener served by uvicorn (in this event loop)."""
    port = free_port()
    settings = ListenerSettings(
        database_url=listener_url, public_url=f"http://127.0.0.1:{port}", reconcile_interval=0
    )
    hubs = await register(settings, wholesale_sdk)
    assert {hub.api for hub in hubs} == {"troubleTicket", "serviceTest"}
    app = create_app(settings, database=listener_store, client=wholesale_sdk)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    yield f"http://127.0.0.1:{port}", app.state.listener
    server.should_exit = True
    await task


async def test_signed_deliveries_verify_and_the_mirror_matches_the_api(
    served: tuple[str, Listener],
    wholesale_sdk: AsyncRetailClient,
    http: httpx.AsyncClient,
    retail_a: dict[str, str],
    ops: dict[str, str],
    world: World,
    dispatcher: Dispatcher,
    clock: SettableClock,
    clean_database: Database,
    app_settings: Settings,
) -> None:
    url, listener = served
    ticket = await create_ticket(http, retail_a, world.a.services[0])
    await ops_action(http, ops, ticket["id"], "start")
    await ops_action(
        http,
        ops,
        ticket["id"],
        "requestInformation",
        {"reason": "customerUnreachable", "fieldPath": "visitWindow"},
    )
    window = {"startDateTime": "2026-11-29T08:00:00Z", "endDateTime": "2026-11-29T12:00:00Z"}
    await patch_ticket(http, retail_a, ticket["id"], {"visitWindow": window})
    await ops_action(http, ops, ticket["id"], "replaceOnt", {"newSerialNumber": "ALCLFACE0001"})
    await ops_action(http, ops, ticket["id"], "resolve")
    test = await order_test(http, retail_a, world.a.services[1])
    await run_all(clean_database, app_settings, clock)

    await drain(dispatcher, clock)
    await listener.settle()

    for api in ("troubleTicket", "serviceTest"):
        [hub] = await wholesale_sdk.list_hubs(api)
        log = await wholesale_sdk.hub_deliveries(api, hub.id)
        assert [d.last_status_code for d in log] == [200] * len(log)
    async with httpx.AsyncClient(base_url=url) as reader:
        events = (await reader.get("/events", params={"limit": 1000})).json()
        mirrored_ticket = (await reader.get(f"/mirror/troubleTicket/{ticket['id']}")).json()
        mirrored_test = (await reader.get(f"/mirror/serviceTest/{test['id']}")).json()
    ticket_events = [e for e in events if e["resourceId"] == ticket["id"]]
    assert [e["sequenceNumber"] for e in ticket_events] == [1, 2, 3, 4, 5, 6]
    assert all(e["applied"] for e in events)
    assert len(events) == 9  # six of the ticket, three of the test
    assert mirrored_ticket["state"]["status"] == "resolved"
    assert same_ticket(mirrored_ticket["state"], await wholesale_sdk.get_ticket(ticket["id"]))
    assert mirrored_test["sequenceNumber"] == 3
    assert same_test(mirrored_test["state"], await wholesale_sdk.get_test(test["id"]))
