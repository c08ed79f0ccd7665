"""Reconciliation: a listener that was down heals from the API, not from the retries."""

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest

from fiberassure.retail.cli_listen import register
from fiberassure.retail.client import AsyncRetailClient
from fiberassure.retail.listener.settings import ListenerSettings
from fiberassure.wholesale.clock import SettableClock
from fiberassure.wholesale.db import Database
from fiberassure.wholesale.events.dispatcher import Dispatcher
from fiberassure.wholesale.settings import Settings
from tests.conftest import World
from tests.listener import free_port
from tests.retail.listener.conftest import (
    ListenerUnderTest,
    same_test,
    same_ticket,
    start_listener,
)
from tests.service_tests import order_test, run_all
from tests.tickets import create_ticket, ops_action, patch_ticket


@pytest.fixture
async def receiver(
    listener_url: str, listener_store: Database, wholesale_sdk: AsyncRetailClient
) -> AsyncIterator[ListenerUnderTest]:
    """The listener, registered at a port where nothing listens: it is down."""
    settings = ListenerSettings(
        database_url=listener_url,
        public_url=f"http://127.0.0.1:{free_port()}",
        reconcile_interval=0,
    )
    await register(settings, wholesale_sdk)
    async for running in start_listener(settings, listener_store, wholesale_sdk):
        yield running


async def test_a_ten_minute_outage_is_healed_by_one_reconciliation_pass(
    receiver: ListenerUnderTest,
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
    puller = receiver.listener.puller
    assert puller is not None
    before = await create_ticket(http, retail_a, world.a.services[0])
    assert (await puller.reconcile_once()).changed == 1  # the mirror as the outage starts

    # Ten minutes of changes while every delivery fails (connection refused).
    for minute in range(10):
        clock.advance(timedelta(minutes=1))
        if minute == 1:
            await ops_action(http, ops, before["id"], "start")
        if minute == 3:
            await ops_action(
                http,
                ops,
                before["id"],
                "requestInformation",
                {"reason": "customerUnreachable", "fieldPath": "visitWindow"},
            )
        if minute == 5:
            window = {
                "startDateTime": "2026-11-29T08:00:00Z",
                "endDateTime": "2026-11-29T12:00:00Z",
            }
            await patch_ticket(http, retail_a, before["id"], {"visitWindow": window})
        if minute == 7:
            created = await create_ticket(http, retail_a, world.a.services[1])
            test = await order_test(http, retail_a, world.a.services[2])
            await run_all(clean_database, app_settings, clock)
        await dispatcher.run_once()
    hubs = await wholesale_sdk.list_hubs("troubleTicket")
    log = await wholesale_sdk.hub_deliveries("troubleTicket", hubs[0].id)
    assert log
    assert all(delivery.status != "delivered" for delivery in log)
    assert await receiver.events() == []

    result = await puller.reconcile_once()

    assert result.changed == 3  # the changed ticket, the new ticket, the new test
    for ticket_id in (before["id"], created["id"]):
        mirrored = await receiver.mirror(ticket_id)
        assert same_ticket(mirrored["state"], await wholesale_sdk.get_ticket(ticket_id))
    healed = (await receiver.mirror(before["id"]))["state"]
    assert (healed["status"], healed["visitWindow"]["startDateTime"]) == (
        "inProgress",
        "2026-11-29T08:00:00Z",
    )
    mirrored_test = await receiver.mirror(test["id"], "serviceTest")
    fetched_test = await wholesale_sdk.get_test(test["id"])
    assert fetched_test.state == "completed"
    assert same_test(mirrored_test["state"], fetched_test)
    # A second pass finds nothing new.
    assert (await puller.reconcile_once()).changed == 0
