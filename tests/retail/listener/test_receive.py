"""Receiving: signatures, de-duplication, ordering, gaps, forwarding (docs/retail-listener.md)."""

import json
import sys
import time
from pathlib import Path

import httpx
import pytest

from fiberassure.retail.listener.forward import Forwarder
from fiberassure.retail.listener.settings import ListenerSettings
from fiberassure.wholesale.db import Database
from fiberassure.wholesale.events.signing import new_secret
from tests.retail.listener.conftest import (
    FakeWholesale,
    ListenerUnderTest,
    envelope,
    signed,
    start_listener,
    ticket_state,
)

REFUSALS = {
    "forged": lambda body: {**signed(body), "webhook-signature": "v1," + "A" * 44},
    "body changed after signing": lambda body: signed(
        body.replace(b"revision", b"REVISION"), message_id=json.loads(body)["eventId"]
    ),
    "unknown secret": lambda body: signed(body, new_secret()),
    "missing signature": lambda body: {
        k: v for k, v in signed(body).items() if k != "webhook-signature"
    },
    "missing id": lambda body: {k: v for k, v in signed(body).items() if k != "webhook-id"},
    "missing timestamp": lambda body: {
        k: v for k, v in signed(body).items() if k != "webhook-timestamp"
    },
    "stale (6 min old)": lambda body: signed(body, at=time.time() - 360),
    "from the future (6 min)": lambda body: signed(body, at=time.time() + 360),
    "garbage timestamp": lambda body: {**signed(body), "webhook-timestamp": "yesterday"},
}


@pytest.mark.parametrize("case", list(REFUSALS))
async def test_bad_signatures_are_refused_with_401_and_nothing_is_stored(
    receiver: ListenerUnderTest, case: str
) -> None:
    body = envelope(ticket_state("TT-1", 1), 1)
    response = await receiver.post(body, REFUSALS[case](body))
    assert response.status_code == 401
    assert response.json()["code"] == "INVALID_SIGNATURE"
    assert await receiver.events() == []
    missing = await receiver.http.get("/mirror/troubleTicket/TT-1")
    assert missing.status_code == 404


async def test_a_replayed_old_message_is_refused_although_it_was_once_valid(
    receiver: ListenerUnderTest,
) -> None:
    body = envelope(ticket_state("TT-1", 2), 2)
    captured = signed(body, at=time.time() - 600)  # a correct signature, 10 minutes old
    await receiver.deliver(envelope(ticket_state("TT-1", 1), 1))

    response = await receiver.post(body, captured)

    assert response.status_code == 401
    assert [e["sequenceNumber"] for e in await receiver.events()] == [1]
    assert (await receiver.mirror("TT-1"))["sequenceNumber"] == 1


async def test_a_redelivery_is_answered_200_and_stored_once(
    receiver: ListenerUnderTest, fake_wholesale: FakeWholesale
) -> None:
    first = envelope(ticket_state("TT-1", 1, "acknowledged"), 1)
    again = await receiver.deliver(first)
    assert again.json()["duplicate"] is False
    mirror_before = await receiver.mirror("TT-1")

    # The same event again, as the dispatcher re-sends it: same id, new timestamp.
    response = await receiver.post(first, signed(first, at=time.time() + 1))

    assert response.status_code == 200
    assert response.json()["duplicate"] is True
    assert len(await receiver.events()) == 1
    assert await receiver.mirror("TT-1") == mirror_before


async def test_events_out_of_order_leave_the_newest_state(
    receiver: ListenerUnderTest, fake_wholesale: FakeWholesale
) -> None:
    fake_wholesale.tickets["TT-1"] = ticket_state("TT-1", 3, "resolved")
    await receiver.deliver(envelope(ticket_state("TT-1", 1, "acknowledged"), 1))
    await receiver.deliver(envelope(ticket_state("TT-1", 3, "resolved"), 3))
    await receiver.deliver(envelope(ticket_state("TT-1", 2, "inProgress"), 2))
    await receiver.listener.settle()

    mirror = await receiver.mirror("TT-1")
    assert mirror["sequenceNumber"] == 3
    assert mirror["state"]["status"] == "resolved"
    stored = {e["sequenceNumber"]: e["applied"] for e in await receiver.events()}
    assert stored == {1: True, 3: True, 2: False}  # the late one is kept, not applied


async def test_a_gap_fetches_the_ticket_and_the_mirror_takes_the_fetched_state(
    receiver: ListenerUnderTest, fake_wholesale: FakeWholesale
) -> None:
    # Events 2 and 3 were lost; by the time we ask, the ticket is at revision 5.
    fake_wholesale.tickets["TT-1"] = ticket_state("TT-1", 5, "pending")
    await receiver.deliver(envelope(ticket_state("TT-1", 1, "acknowledged"), 1))
    assert fake_wholesale.fetched == []

    await receiver.deliver(envelope(ticket_state("TT-1", 4, "resolved"), 4))
    await receiver.listener.settle()

    assert fake_wholesale.fetched == ["TT-1"]
    mirror = await receiver.mirror("TT-1")
    assert mirror["state"]["status"] == "pending"
    assert mirror["state"]["description"] == "revision 5"
    assert mirror["source"] == "fetch"

    # Event 5, when it arrives, changes nothing; a late event 3 neither.
    await receiver.deliver(envelope(ticket_state("TT-1", 3, "inProgress"), 3))
    await receiver.listener.settle()
    assert (await receiver.mirror("TT-1"))["state"]["description"] == "revision 5"


async def test_a_test_seen_first_at_its_result_is_fetched_then_kept(
    receiver: ListenerUnderTest, fake_wholesale: FakeWholesale
) -> None:
    test = {
        "id": "ST-1",
        "href": "http://wholesale.test/tmf-api/serviceTestManagement/v4/serviceTest/ST-1",
        "name": "ONT status check",
        "state": "completed",
        "startDateTime": "2026-11-28T09:00:00Z",
        "endDateTime": "2026-11-28T09:00:02Z",
        "relatedService": {"id": "SRV-A0"},
        "testSpecification": {"id": "ontStatus"},
    }
    fake_wholesale.tests["ST-1"] = test
    await receiver.deliver(
        envelope(test, 3, "ServiceTestAttributeValueChangeEvent", "serviceTest"),
        "/listener/ServiceTestAttributeValueChangeNotification",
    )
    await receiver.listener.settle()

    assert fake_wholesale.fetched == ["ST-1"]
    mirror = await receiver.mirror("ST-1", "serviceTest")
    assert (mirror["sequenceNumber"], mirror["state"]["state"]) == (3, "completed")


@pytest.mark.parametrize(
    "path",
    [
        "/listener",
        "/listener/TroubleTicketStatusChangeEvent",
        "/listener/troubleTicketResolvedEvent",
        "/listener/troubleticketinformationrequiredevent",
        "/listener/ServiceTestAttributeValueChangeNotification",
    ],
)
async def test_every_event_name_is_accepted_in_either_case(
    receiver: ListenerUnderTest, path: str
) -> None:
    await receiver.deliver(envelope(ticket_state("TT-1", 1), 1), path)
    assert len(await receiver.events()) == 1


async def test_an_unknown_event_name_is_404(receiver: ListenerUnderTest) -> None:
    body = envelope(ticket_state("TT-1", 1), 1)
    response = await receiver.post(body, signed(body), "/listener/TicketExplodedEvent")
    assert response.status_code == 404
    assert await receiver.events() == []


async def test_a_signed_body_that_is_not_an_event_is_stored_without_touching_the_mirror(
    receiver: ListenerUnderTest,
) -> None:
    body = b'{"hello": "world"}'
    response = await receiver.post(body, signed(body, message_id="msg-1"))
    assert response.status_code == 200
    [event] = await receiver.events()
    assert (event["eventId"], event["resourceId"], event["body"]) == ("msg-1", None, body.decode())


async def test_read_endpoints_refuse_clients_off_this_machine(
    listener_settings: ListenerSettings, listener_store: Database
) -> None:
    async for running in start_listener(listener_settings, listener_store, None):
        transport = httpx.ASGITransport(
            app=running.http._transport.app,  # type: ignore[attr-defined]
            client=("203.0.113.9", 40000),
        )
        async with httpx.AsyncClient(transport=transport, base_url="http://l") as outside:
            assert (await outside.get("/events")).status_code == 403
            body = envelope(ticket_state("TT-1", 1), 1)
            posted = await outside.post("/listener", content=body, headers=signed(body))
            assert posted.status_code == 200  # the wholesaler comes from outside


async def test_new_events_are_forwarded_to_a_command_once(
    listener_settings: ListenerSettings, listener_store: Database, tmp_path: Path
) -> None:
    out = tmp_path / "helpdesk.jsonl"
    script = f"import sys; open({str(out)!r}, 'a').write(sys.stdin.read() + '\\n')"
    forwarder = Forwarder(command=f"{sys.executable} -c {json.dumps(script)}")
    async for running in start_listener(listener_settings, listener_store, None, forwarder):
        first = envelope(ticket_state("TT-1", 1), 1)
        await running.deliver(first)
        await running.post(first, signed(first))  # a duplicate: not forwarded again
        await running.deliver(envelope(ticket_state("TT-1", 2), 2))
        await running.listener.settle()
    lines = out.read_text().splitlines()
    assert [json.loads(line)["sequenceNumber"] for line in lines] == [1, 2]


async def test_a_failing_forward_url_does_not_fail_the_delivery(
    listener_settings: ListenerSettings, listener_store: Database
) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500)

    forwarder = Forwarder(url="http://helpdesk.test/in", transport=httpx.MockTransport(refuse))
    async for running in start_listener(listener_settings, listener_store, None, forwarder):
        await running.deliver(envelope(ticket_state("TT-1", 1), 1))
        await running.listener.settle()
        assert (forwarder.forwarded, forwarder.failed) == (0, 1)
        assert (await running.mirror("TT-1"))["sequenceNumber"] == 1
