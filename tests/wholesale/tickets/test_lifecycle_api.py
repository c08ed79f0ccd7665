"""Every row of the lifecycle table (DESIGN §4), driven through HTTP: the retail operator
through PATCH, the wholesaler through the ops API, the scheduler by moving the clock past
the deadline. Each change must show its status, its statusChange entry and exactly one new
outbox event with the next sequenceNumber."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from fiberassure.tmf.ticket_lifecycle import TRANSITIONS, Action, Actor, TicketStatus
from fiberassure.wholesale.clock import SettableClock
from fiberassure.wholesale.db import Database
from fiberassure.wholesale.events.models import OutboxEvent
from fiberassure.wholesale.events.repository import OutboxRepository
from fiberassure.wholesale.inventory.repository import ServiceRepository
from fiberassure.wholesale.settings import Settings
from fiberassure.wholesale.worker import run_deadlines_once
from tests.conftest import BASE_URL, World, bearer
from tests.tickets import TICKETS, create_ticket, ops_action, patch_ticket

S = TicketStatus
CREATE = "TroubleTicketCreateEvent"
STATUS_CHANGE = "TroubleTicketStatusChangeEvent"
INFORMATION_REQUIRED = "TroubleTicketInformationRequiredEvent"
ATTRIBUTE_VALUE_CHANGE = "TroubleTicketAttributeValueChangeEvent"
RESOLVED = "TroubleTicketResolvedEvent"

NEW_ONT_SERIAL = "ALCLFEEDBEEF"
VISIT_WINDOW = {
    "startDateTime": "2026-11-30T08:00:00Z",
    "endDateTime": "2026-11-30T12:00:00Z",
}
NEW_CONTACT = {"name": "Anna Kowalska", "phoneNumber": "+48 600 300 400"}


@dataclass
class Desk:
    """One retail operator's line, the wholesaler's NOC, the scheduler and the clock."""

    http: httpx.AsyncClient
    world: World
    database: Database
    settings: Settings
    clock: SettableClock
    retail: dict[str, str]
    ops: dict[str, str]

    @property
    def service_id(self) -> str:
        return self.world.a.services[0]

    async def create(self, **overrides: Any) -> dict[str, Any]:
        return await create_ticket(self.http, self.retail, self.service_id, **overrides)

    async def act(
        self, ticket_id: str, action: str, body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        response = await ops_action(self.http, self.ops, ticket_id, action, body)
        assert response.status_code == 200, response.text
        ticket: dict[str, Any] = response.json()
        return ticket

    async def patch(self, ticket_id: str, body: dict[str, Any]) -> dict[str, Any]:
        response = await patch_ticket(self.http, self.retail, ticket_id, body)
        assert response.status_code == 200, response.text
        ticket: dict[str, Any] = response.json()
        return ticket

    async def get(self, ticket_id: str) -> httpx.Response:
        response = await self.http.get(f"{TICKETS}/{ticket_id}", headers=self.retail)
        assert response.status_code == 200, response.text
        return response

    async def events(self, ticket_id: str) -> list[OutboxEvent]:
        async with self.database.transaction() as session:
            return await OutboxRepository(session).for_resource("troubleTicket", ticket_id)

    async def advance(self, by: timedelta) -> None:
        """Move time on; access tokens expire with it, so both parties sign in again."""
        self.clock.advance(by)
        self.retail = await bearer(self.http, self.world.a.client_id, self.world.a.client_secret)
        self.ops = await bearer(self.http, self.world.ops_client_id, self.world.ops_client_secret)

    async def run_scheduler(self) -> dict[str, int]:
        return await run_deadlines_once(self.database, self.settings, self.clock, BASE_URL)

    async def ticket_in(self, status: TicketStatus) -> dict[str, Any]:
        """A new ticket on the line, driven to `status` through the API."""
        ticket = await self.create()
        ticket_id = ticket["id"]
        if status is S.ACKNOWLEDGED:
            return ticket
        if status is S.PENDING:
            return await self.act(ticket_id, "requestInformation", CUSTOMER_UNREACHABLE)
        ticket = await self.act(ticket_id, "start")
        if status is S.HELD:
            return await self.act(ticket_id, "hold")
        if status is S.RESOLVED:
            return await self.act(ticket_id, "resolve")
        assert status is S.IN_PROGRESS, f"cannot drive a ticket to {status}"
        return ticket


CUSTOMER_UNREACHABLE = {"reason": "customerUnreachable", "fieldPath": "visitWindow"}


@pytest.fixture
async def desk(
    http: httpx.AsyncClient,
    world: World,
    clean_database: Database,
    app_settings: Settings,
    clock: SettableClock,
    retail_a: dict[str, str],
    ops: dict[str, str],
) -> Desk:
    return Desk(http, world, clean_database, app_settings, clock, retail_a, ops)


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value)


# -- one case per row of DESIGN §4 and each status it starts from ---------------------------

Perform = Callable[[Desk, str], Awaitable[Any]]
Attempt = Callable[[], Awaitable[httpx.Response]]


async def _scheduler_after(desk: Desk, delay: timedelta) -> None:
    await desk.advance(delay + timedelta(seconds=1))
    await desk.run_scheduler()


def _ops(action: str, body: dict[str, Any] | None = None) -> Perform:
    async def perform(desk: Desk, ticket_id: str) -> None:
        await desk.act(ticket_id, action, body)

    return perform


def _patch(body: dict[str, Any]) -> Perform:
    async def perform(desk: Desk, ticket_id: str) -> None:
        await desk.patch(ticket_id, body)

    return perform


async def _expire_pending(desk: Desk, _ticket_id: str) -> None:
    await _scheduler_after(desk, desk.settings.pending_timeout)


async def _auto_close(desk: Desk, _ticket_id: str) -> None:
    await _scheduler_after(desk, desk.settings.auto_close_after)


@dataclass(frozen=True)
class Row:
    action: Action
    actor: Actor
    source: TicketStatus
    perform: Perform
    status: TicketStatus
    event_type: str
    reason: str | None  # the new statusChange entry's reason; None: no status change
    field_path: str | None = None

    def __str__(self) -> str:
        return f"{self.actor}-{self.action}-from-{self.source}"


ROWS = [
    Row(
        Action.START,
        Actor.WHOLESALE,
        S.ACKNOWLEDGED,
        _ops("start"),
        S.IN_PROGRESS,
        STATUS_CHANGE,
        "workStarted",
    ),
    *(
        Row(
            Action.REQUEST_INFORMATION,
            Actor.WHOLESALE,
            source,
            _ops("requestInformation", CUSTOMER_UNREACHABLE),
            S.PENDING,
            INFORMATION_REQUIRED,
            "customerUnreachable",
            "visitWindow",
        )
        for source in (S.ACKNOWLEDGED, S.IN_PROGRESS)
    ),
    Row(
        Action.PROVIDE_INFORMATION,
        Actor.RETAIL,
        S.PENDING,
        _patch({"visitWindow": VISIT_WINDOW}),
        S.IN_PROGRESS,
        STATUS_CHANGE,
        "informationProvided",
    ),
    Row(
        Action.EXPIRE_PENDING,
        Actor.SCHEDULER,
        S.PENDING,
        _expire_pending,
        S.CANCELLED,
        STATUS_CHANGE,
        "informationNotProvided",
    ),
    Row(Action.HOLD, Actor.WHOLESALE, S.IN_PROGRESS, _ops("hold"), S.HELD, STATUS_CHANGE, "onHold"),
    Row(
        Action.RELEASE,
        Actor.WHOLESALE,
        S.HELD,
        _ops("release"),
        S.IN_PROGRESS,
        STATUS_CHANGE,
        "released",
    ),
    Row(
        Action.REPLACE_ONT,
        Actor.WHOLESALE,
        S.IN_PROGRESS,
        _ops("replaceOnt", {"newSerialNumber": NEW_ONT_SERIAL, "model": "Nokia G-010G-R"}),
        S.IN_PROGRESS,
        ATTRIBUTE_VALUE_CHANGE,
        None,
        "relatedEntity.ont",
    ),
    Row(
        Action.RESOLVE,
        Actor.WHOLESALE,
        S.IN_PROGRESS,
        _ops("resolve"),
        S.RESOLVED,
        RESOLVED,
        "faultRemoved",
    ),
    Row(
        Action.REOPEN,
        Actor.RETAIL,
        S.RESOLVED,
        _patch({"status": "inProgress"}),
        S.IN_PROGRESS,
        STATUS_CHANGE,
        "faultPersists",
    ),
    Row(
        Action.ACCEPT,
        Actor.RETAIL,
        S.RESOLVED,
        _patch({"status": "closed"}),
        S.CLOSED,
        RESOLVED,
        "resolutionAccepted",
    ),
    Row(
        Action.AUTO_CLOSE,
        Actor.SCHEDULER,
        S.RESOLVED,
        _auto_close,
        S.CLOSED,
        RESOLVED,
        "autoClosed",
    ),
    *(
        Row(
            Action.CANCEL,
            Actor.RETAIL,
            source,
            _patch({"status": "cancelled"}),
            S.CANCELLED,
            STATUS_CHANGE,
            "cancelledByCustomer",
        )
        for source in (S.ACKNOWLEDGED, S.IN_PROGRESS, S.PENDING, S.HELD)
    ),
    *(
        Row(
            Action.REJECT_NO_FAULT,
            Actor.WHOLESALE,
            source,
            _ops("rejectNoFault"),
            S.CANCELLED,
            STATUS_CHANGE,
            "noFaultFound",
        )
        for source in (S.ACKNOWLEDGED, S.IN_PROGRESS)
    ),
    *(
        Row(
            Action.ADD_NOTE,
            Actor.WHOLESALE,
            source,
            _ops("addNote", {"text": "Technician booked for Monday."}),
            source,
            ATTRIBUTE_VALUE_CHANGE,
            None,
            "note",
        )
        for source in (S.ACKNOWLEDGED, S.IN_PROGRESS, S.PENDING, S.HELD, S.RESOLVED)
    ),
    *(
        Row(
            Action.UPDATE,
            Actor.RETAIL,
            source,
            _patch({"note": [{"text": "The subscriber is home after 16:00."}]}),
            source,
            ATTRIBUTE_VALUE_CHANGE,
            None,
            "note",
        )
        for source in (S.ACKNOWLEDGED, S.IN_PROGRESS, S.HELD, S.RESOLVED)
    ),
]


def test_every_row_of_the_lifecycle_table_has_an_api_test() -> None:
    table = {(t.action, t.actor, s) for t in TRANSITIONS for s in t.sources}
    table.add((Action.CREATE, Actor.RETAIL, S.ACKNOWLEDGED))  # create, tested on its own
    covered = {(row.action, row.actor, row.source) for row in ROWS}
    covered.add((Action.CREATE, Actor.RETAIL, S.ACKNOWLEDGED))
    assert covered == table


async def assert_one_new_event(
    desk: Desk, ticket_id: str, before: int, event_type: str, status: TicketStatus
) -> dict[str, Any]:
    events = await desk.events(ticket_id)
    assert len(events) == before + 1, [e.event_type for e in events]
    assert [e.sequence_number for e in events] == list(range(1, before + 2))
    event = events[-1]
    assert event.event_type == event_type
    payload = event.payload
    assert payload["eventType"] == event_type
    assert payload["sequenceNumber"] == before + 1
    assert payload["event"]["troubleTicket"]["id"] == ticket_id
    assert payload["event"]["troubleTicket"]["status"] == status
    return payload


async def test_create_acknowledges_the_ticket_and_announces_it(desk: Desk) -> None:
    ticket = await desk.create()

    assert ticket["status"] == "acknowledged"
    assert [(c["status"], c.get("changeReason")) for c in ticket["statusChange"]] == [
        ("acknowledged", "created")
    ]
    payload = await assert_one_new_event(desk, ticket["id"], 0, CREATE, S.ACKNOWLEDGED)
    assert payload["event"]["troubleTicket"] == ticket
    assert "fieldPath" not in payload


@pytest.mark.parametrize("row", ROWS, ids=str)
async def test_each_lifecycle_row_changes_status_history_and_sends_one_event(
    desk: Desk, row: Row
) -> None:
    ticket = await desk.ticket_in(row.source)
    ticket_id = ticket["id"]
    history_before = ticket["statusChange"]
    events_before = len(await desk.events(ticket_id))

    await row.perform(desk, ticket_id)

    response = await desk.get(ticket_id)
    after = response.json()
    assert after["status"] == row.status
    if row.reason is None:
        assert after["statusChange"] == history_before
    else:
        assert after["statusChange"][:-1] == history_before
        latest = after["statusChange"][-1]
        assert (latest["status"], latest["changeReason"]) == (row.status, row.reason)
        assert after["statusChangeReason"] == row.reason
    payload = await assert_one_new_event(desk, ticket_id, events_before, row.event_type, row.status)
    assert payload.get("fieldPath") == row.field_path
    assert response.headers["ETag"] == f'"{events_before + 1}"'
    assert payload["event"]["troubleTicket"] == after


# -- the rows' particular promises --------------------------------------------------------


async def test_information_request_tells_the_retail_operator_what_is_needed(desk: Desk) -> None:
    ticket = await desk.ticket_in(S.IN_PROGRESS)

    pending = await desk.act(
        ticket["id"],
        "requestInformation",
        {"reason": "customerUnreachable", "fieldPath": "visitWindow,subscriberContact"},
    )

    assert pending["status"] == "pending"
    assert pending["statusChangeReason"] == "customerUnreachable"
    event = (await desk.events(ticket["id"]))[-1]
    assert event.payload["eventType"] == INFORMATION_REQUIRED
    assert event.payload["fieldPath"] == "visitWindow,subscriberContact"


@pytest.mark.parametrize(
    "answer",
    [
        {"visitWindow": VISIT_WINDOW},
        {"subscriberContact": NEW_CONTACT},
        {"note": [{"text": "Call the neighbour at flat 4, she has the keys."}]},
        {"status": "inProgress"},
    ],
    ids=["visitWindow", "subscriberContact", "note", "status"],
)
async def test_any_update_to_a_pending_ticket_puts_it_back_in_progress(
    desk: Desk, answer: dict[str, Any]
) -> None:
    ticket = await desk.ticket_in(S.PENDING)

    answered = await desk.patch(ticket["id"], answer)

    assert answered["status"] == "inProgress"
    assert answered["statusChange"][-1]["changeReason"] == "informationProvided"
    for name, value in answer.items():
        if name == "note":
            assert answered["note"][-1]["text"] == value[0]["text"]
        elif name != "status":
            assert answered[name] == value
    await assert_one_new_event(desk, ticket["id"], 2, STATUS_CHANGE, S.IN_PROGRESS)


async def test_replacing_the_ont_shows_the_new_serial_and_updates_the_inventory(
    desk: Desk,
) -> None:
    ticket = await desk.ticket_in(S.IN_PROGRESS)
    old_serial = next(e["id"] for e in ticket["relatedEntity"] if e["role"] == "ont")

    replaced = await desk.act(
        ticket["id"],
        "replaceOnt",
        {"newSerialNumber": NEW_ONT_SERIAL.lower(), "model": "Nokia G-010G-R"},
    )

    ont = next(e for e in replaced["relatedEntity"] if e["role"] == "ont")
    assert (ont["id"], ont["name"], ont["@referredType"]) == (
        NEW_ONT_SERIAL,
        "Nokia G-010G-R",
        "Resource",
    )
    assert replaced["status"] == "inProgress"
    assert NEW_ONT_SERIAL in replaced["note"][-1]["text"]
    payload = await assert_one_new_event(
        desk, ticket["id"], 2, ATTRIBUTE_VALUE_CHANGE, S.IN_PROGRESS
    )
    assert payload["fieldPath"] == "relatedEntity.ont"
    event_ont = next(
        e for e in payload["event"]["troubleTicket"]["relatedEntity"] if e["role"] == "ont"
    )
    assert event_ont["id"] == NEW_ONT_SERIAL
    async with desk.database.transaction() as session:
        service = await ServiceRepository(session).get(desk.service_id)
        assert service is not None
        assert (service.ont_serial_number, service.ont_model) == (NEW_ONT_SERIAL, "Nokia G-010G-R")
        assert await ServiceRepository(session).get_by_serial(old_serial) is None


async def test_replacing_the_ont_with_one_serving_another_line_is_refused(desk: Desk) -> None:
    ticket = await desk.ticket_in(S.IN_PROGRESS)
    other_line = desk.world.a.services[1]
    async with desk.database.transaction() as session:
        service = await ServiceRepository(session).get(other_line)
        assert service is not None
        taken = service.ont_serial_number

    response = await ops_action(
        desk.http, desk.ops, ticket["id"], "replaceOnt", {"newSerialNumber": taken}
    )

    assert response.status_code == 409, response.text
    assert len(await desk.events(ticket["id"])) == 2


async def test_resolving_records_the_resolution_and_announces_it(desk: Desk) -> None:
    ticket = await desk.ticket_in(S.IN_PROGRESS)
    await desk.advance(timedelta(hours=2))

    resolved = await desk.act(
        ticket["id"], "resolve", {"resolutionCode": "fibreSpliced", "note": "Splice redone."}
    )

    assert resolved["status"] == "resolved"
    assert resolved["statusChangeReason"] == "fibreSpliced"
    assert parse_time(resolved["resolutionDate"]) == desk.clock.now()
    assert resolved["note"][-1]["text"] == "Splice redone."
    payload = await assert_one_new_event(desk, ticket["id"], 2, RESOLVED, S.RESOLVED)
    assert payload["event"]["troubleTicket"]["resolutionDate"] == resolved["resolutionDate"]


async def test_accepting_the_resolution_closes_with_a_resolved_event(desk: Desk) -> None:
    ticket = await desk.ticket_in(S.RESOLVED)

    closed = await desk.patch(ticket["id"], {"status": "closed"})

    assert closed["status"] == "closed"
    payload = await assert_one_new_event(desk, ticket["id"], 3, RESOLVED, S.CLOSED)
    assert payload["event"]["troubleTicket"]["statusChangeReason"] == "resolutionAccepted"


async def test_reopening_clears_the_resolution_date(desk: Desk) -> None:
    ticket = await desk.ticket_in(S.RESOLVED)
    assert "resolutionDate" in ticket

    reopened = await desk.patch(
        ticket["id"], {"status": "inProgress", "statusChangeReason": "stillNoSignal"}
    )

    assert reopened["status"] == "inProgress"
    assert "resolutionDate" not in reopened
    assert reopened["statusChange"][-1]["changeReason"] == "stillNoSignal"


async def test_reject_no_fault_cancels_with_no_fault_found(desk: Desk) -> None:
    ticket = await desk.ticket_in(S.IN_PROGRESS)

    rejected = await desk.act(
        ticket["id"], "rejectNoFault", {"note": "Line tests clean; check the home router."}
    )

    assert rejected["status"] == "cancelled"
    assert rejected["statusChangeReason"] == "noFaultFound"
    assert rejected["allowedActions"] == []
    payload = await assert_one_new_event(desk, ticket["id"], 2, STATUS_CHANGE, S.CANCELLED)
    assert payload["event"]["troubleTicket"]["statusChangeReason"] == "noFaultFound"


async def test_pending_timeout_cancels_with_information_not_provided(desk: Desk) -> None:
    ticket = await desk.ticket_in(S.PENDING)
    timeout = desk.settings.pending_timeout

    await desk.advance(timeout - timedelta(minutes=1))
    assert (await desk.run_scheduler())["pendingExpired"] == 0
    assert (await desk.get(ticket["id"])).json()["status"] == "pending"

    await desk.advance(timedelta(minutes=1))
    assert (await desk.run_scheduler())["pendingExpired"] == 1

    expired = (await desk.get(ticket["id"])).json()
    assert expired["status"] == "cancelled"
    assert expired["statusChangeReason"] == "informationNotProvided"
    await assert_one_new_event(desk, ticket["id"], 2, STATUS_CHANGE, S.CANCELLED)
    assert (await desk.run_scheduler())["pendingExpired"] == 0, "a second pass does nothing"
    assert len(await desk.events(ticket["id"])) == 3


async def test_answered_information_request_is_not_expired_later(desk: Desk) -> None:
    ticket = await desk.ticket_in(S.PENDING)
    await desk.patch(ticket["id"], {"visitWindow": VISIT_WINDOW})

    await desk.advance(desk.settings.pending_timeout + timedelta(hours=1))
    await desk.run_scheduler()

    assert (await desk.get(ticket["id"])).json()["status"] == "inProgress"


async def test_resolved_ticket_closes_itself_after_24_hours(desk: Desk) -> None:
    ticket = await desk.ticket_in(S.RESOLVED)

    await desk.advance(timedelta(hours=24) - timedelta(minutes=1))
    assert (await desk.run_scheduler())["autoClosed"] == 0
    assert (await desk.get(ticket["id"])).json()["status"] == "resolved"

    await desk.advance(timedelta(minutes=1))
    assert (await desk.run_scheduler())["autoClosed"] == 1

    closed = (await desk.get(ticket["id"])).json()
    assert closed["status"] == "closed"
    assert closed["statusChangeReason"] == "autoClosed"
    await assert_one_new_event(desk, ticket["id"], 3, RESOLVED, S.CLOSED)


# -- refusals -------------------------------------------------------------------------------


async def assert_refused(
    desk: Desk,
    ticket_id: str,
    attempt: Attempt,
    status: str,
    allowed: list[str],
) -> None:
    """409 with the TMF error naming the status and what is allowed; nothing written."""
    before = await desk.get(ticket_id)
    events_before = len(await desk.events(ticket_id))

    response = await attempt()

    assert response.status_code == 409, response.text
    error = response.json()
    assert (error["code"], error["status"], error["@type"]) == (
        "INVALID_TRANSITION",
        "409",
        "Error",
    )
    assert error["reason"]
    assert status in error["message"]
    assert error["details"]["currentStatus"] == status
    assert error["details"]["allowedActions"] == allowed
    after = await desk.get(ticket_id)
    assert after.json() == before.json()
    assert after.headers["ETag"] == before.headers["ETag"]
    assert len(await desk.events(ticket_id)) == events_before


def retail_patch(desk: Desk, ticket_id: str, body: dict[str, Any]) -> Attempt:
    return lambda: patch_ticket(desk.http, desk.retail, ticket_id, body)


def wholesale_action(desk: Desk, ticket_id: str, action: str) -> Attempt:
    return lambda: ops_action(desk.http, desk.ops, ticket_id, action)


async def test_reopen_after_close_is_refused(desk: Desk) -> None:
    ticket = await desk.ticket_in(S.RESOLVED)
    await desk.patch(ticket["id"], {"status": "closed"})

    reopen = retail_patch(desk, ticket["id"], {"status": "inProgress"})

    await assert_refused(desk, ticket["id"], reopen, "closed", [])


async def test_reopen_after_auto_close_is_refused(desk: Desk) -> None:
    ticket = await desk.ticket_in(S.RESOLVED)
    await _auto_close(desk, ticket["id"])

    reopen = retail_patch(desk, ticket["id"], {"status": "inProgress"})

    await assert_refused(desk, ticket["id"], reopen, "closed", [])


async def test_reopen_after_the_window_is_refused_before_the_scheduler_closes_it(
    desk: Desk,
) -> None:
    ticket = await desk.ticket_in(S.RESOLVED)
    await desk.advance(timedelta(hours=24))

    reopen = retail_patch(desk, ticket["id"], {"status": "inProgress"})

    await assert_refused(desk, ticket["id"], reopen, "resolved", ["accept"])


async def test_empty_note_list_changes_nothing_on_a_pending_ticket(desk: Desk) -> None:
    ticket = await desk.ticket_in(S.PENDING)
    events_before = len(await desk.events(ticket["id"]))

    empties: list[dict[str, Any]] = [{"note": []}, {"note": None}, {"attachment": []}]
    for empty in empties:
        response = await patch_ticket(desk.http, desk.retail, ticket["id"], empty)
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "pending"

    assert len(await desk.events(ticket["id"])) == events_before


async def test_resolving_an_acknowledged_ticket_is_refused(desk: Desk) -> None:
    ticket = await desk.ticket_in(S.ACKNOWLEDGED)

    resolve = wholesale_action(desk, ticket["id"], "resolve")

    allowed = ["start", "requestInformation", "rejectNoFault", "addNote"]
    await assert_refused(desk, ticket["id"], resolve, "acknowledged", allowed)


async def test_cancelling_a_closed_ticket_is_refused(desk: Desk) -> None:
    ticket = await desk.ticket_in(S.RESOLVED)
    await desk.patch(ticket["id"], {"status": "closed"})

    cancel = retail_patch(desk, ticket["id"], {"status": "cancelled"})

    await assert_refused(desk, ticket["id"], cancel, "closed", [])


async def test_cancelling_a_resolved_ticket_is_refused(desk: Desk) -> None:
    ticket = await desk.ticket_in(S.RESOLVED)

    cancel = retail_patch(desk, ticket["id"], {"status": "cancelled"})

    await assert_refused(desk, ticket["id"], cancel, "resolved", ["reopen", "accept", "update"])


async def test_accepting_an_unresolved_ticket_is_refused(desk: Desk) -> None:
    ticket = await desk.ticket_in(S.IN_PROGRESS)

    accept = retail_patch(desk, ticket["id"], {"status": "closed"})

    await assert_refused(desk, ticket["id"], accept, "inProgress", ["cancel", "update"])


async def test_reopening_an_unresolved_ticket_is_refused(desk: Desk) -> None:
    ticket = await desk.ticket_in(S.ACKNOWLEDGED)

    reopen = retail_patch(desk, ticket["id"], {"status": "inProgress"})

    await assert_refused(desk, ticket["id"], reopen, "acknowledged", ["cancel", "update"])


async def test_updating_a_cancelled_ticket_is_refused(desk: Desk) -> None:
    ticket = await desk.ticket_in(S.ACKNOWLEDGED)
    await desk.patch(ticket["id"], {"status": "cancelled"})

    update = retail_patch(desk, ticket["id"], {"note": [{"text": "Any news?"}]})

    await assert_refused(desk, ticket["id"], update, "cancelled", [])


@pytest.mark.parametrize("action", ["start", "resolve", "hold", "rejectNoFault", "release"])
async def test_wholesale_cannot_act_on_a_cancelled_ticket(desk: Desk, action: str) -> None:
    ticket = await desk.ticket_in(S.IN_PROGRESS)
    await desk.act(ticket["id"], "rejectNoFault")

    attempt = wholesale_action(desk, ticket["id"], action)

    await assert_refused(desk, ticket["id"], attempt, "cancelled", [])


async def test_information_request_must_name_a_field_the_retail_operator_can_update(
    desk: Desk,
) -> None:
    ticket = await desk.ticket_in(S.IN_PROGRESS)

    response = await ops_action(
        desk.http,
        desk.ops,
        ticket["id"],
        "requestInformation",
        {"reason": "customerUnreachable", "fieldPath": "status"},
    )

    assert response.status_code == 400, response.text
    assert response.json()["code"] == "INVALID_REQUEST"
    assert (await desk.get(ticket["id"])).json()["status"] == "inProgress"
    assert len(await desk.events(ticket["id"])) == 2


# -- the seed's paths, end to end ---------------------------------------------------------


async def event_trail(desk: Desk, ticket_id: str) -> list[tuple[int, str, str]]:
    return [
        (e.sequence_number, e.event_type, e.payload["event"]["troubleTicket"]["status"])
        for e in await desk.events(ticket_id)
    ]


async def test_seed_path_2a_fault_on_the_wholesale_network(desk: Desk) -> None:
    ticket = await desk.create(externalId="OK-2026-0001")
    ticket_id = ticket["id"]
    await desk.act(ticket_id, "start")

    # The technician cannot reach the subscriber: the retail operator must give a new window.
    await desk.advance(timedelta(hours=1))
    await desk.act(ticket_id, "requestInformation", CUSTOMER_UNREACHABLE)
    await desk.advance(timedelta(hours=2))
    await desk.patch(ticket_id, {"visitWindow": VISIT_WINDOW})

    # Field work: the ONT is swapped, the fault is removed.
    await desk.advance(timedelta(hours=3))
    await desk.act(ticket_id, "replaceOnt", {"newSerialNumber": NEW_ONT_SERIAL})
    first = await desk.act(ticket_id, "resolve")
    first_resolution = parse_time(first["resolutionDate"])

    # The fault persists: the retail operator reopens, the wholesaler fixes it again.
    await desk.advance(timedelta(hours=2))
    await desk.patch(ticket_id, {"status": "inProgress"})
    await desk.advance(timedelta(hours=1))
    second = await desk.act(ticket_id, "resolve")
    second_resolution = parse_time(second["resolutionDate"])
    assert second_resolution == first_resolution + timedelta(hours=3)

    # 24 h counts from the latest resolution, not the first.
    await desk.advance(first_resolution + timedelta(hours=24, minutes=1) - desk.clock.now())
    await desk.run_scheduler()
    assert (await desk.get(ticket_id)).json()["status"] == "resolved"
    await desk.advance(second_resolution + timedelta(hours=24) - desk.clock.now())
    await desk.run_scheduler()

    closed = (await desk.get(ticket_id)).json()
    assert closed["status"] == "closed"
    assert [(c["status"], c["changeReason"]) for c in closed["statusChange"]] == [
        ("acknowledged", "created"),
        ("inProgress", "workStarted"),
        ("pending", "customerUnreachable"),
        ("inProgress", "informationProvided"),
        ("resolved", "faultRemoved"),
        ("inProgress", "faultPersists"),
        ("resolved", "faultRemoved"),
        ("closed", "autoClosed"),
    ]
    ont = next(e for e in closed["relatedEntity"] if e["role"] == "ont")
    assert ont["id"] == NEW_ONT_SERIAL
    assert closed["visitWindow"] == VISIT_WINDOW
    assert await event_trail(desk, ticket_id) == [
        (1, CREATE, "acknowledged"),
        (2, STATUS_CHANGE, "inProgress"),
        (3, INFORMATION_REQUIRED, "pending"),
        (4, STATUS_CHANGE, "inProgress"),
        (5, ATTRIBUTE_VALUE_CHANGE, "inProgress"),
        (6, RESOLVED, "resolved"),
        (7, STATUS_CHANGE, "inProgress"),
        (8, RESOLVED, "resolved"),
        (9, RESOLVED, "closed"),
    ]
    field_paths = [e.payload.get("fieldPath") for e in await desk.events(ticket_id)]
    assert field_paths == [None, None, "visitWindow", None, "relatedEntity.ont", *[None] * 4]


async def test_seed_path_2a_cancelled_by_the_retail_operator(desk: Desk) -> None:
    ticket = await desk.create()

    cancelled = await desk.patch(ticket["id"], {"status": "cancelled"})

    assert cancelled["status"] == "cancelled"
    assert await event_trail(desk, ticket["id"]) == [
        (1, CREATE, "acknowledged"),
        (2, STATUS_CHANGE, "cancelled"),
    ]


async def test_seed_path_2b_no_fault_on_the_wholesale_network(desk: Desk) -> None:
    ticket = await desk.create()

    rejected = await desk.act(ticket["id"], "rejectNoFault")

    assert rejected["status"] == "cancelled"
    assert rejected["statusChangeReason"] == "noFaultFound"
    assert await event_trail(desk, ticket["id"]) == [
        (1, CREATE, "acknowledged"),
        (2, STATUS_CHANGE, "cancelled"),
    ]
    final = (await desk.events(ticket["id"]))[-1].payload["event"]["troubleTicket"]
    assert final["statusChangeReason"] == "noFaultFound"
    # The line is free for the next report once the ticket is final.
    await desk.create()
