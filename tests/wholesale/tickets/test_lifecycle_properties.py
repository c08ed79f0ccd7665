"""Random sequences of retail, wholesale and scheduler actions on a few tickets, checked
against the lifecycle table (DESIGN §4): the table decides what is allowed, a refusal changes
nothing, and every accepted change is announced by exactly one event, numbered in order.

Hypothesis stateful tests are synchronous, so the machine runs its own event loop and its own
Database on the test database (emptied at the start of each example).
"""

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select, text
from sqlalchemy.orm import selectinload

import fiberassure.wholesale.all_models  # noqa: F401  (every table in Base.metadata)
from fiberassure.tmf import trouble_ticket as tmf
from fiberassure.tmf.errors import Conflict, InvalidTransition, PreconditionFailed, TMFError
from fiberassure.tmf.ticket_lifecycle import (
    FINAL_STATUSES,
    OPEN_STATUSES,
    TRANSITIONS,
    Action,
    Actor,
    TicketEventType,
    TicketStatus,
    Transition,
)
from fiberassure.wholesale.clock import SettableClock
from fiberassure.wholesale.db import Base, Database
from fiberassure.wholesale.events.models import OutboxEvent
from fiberassure.wholesale.inventory.models import Service
from fiberassure.wholesale.inventory.schemas import ServiceRecord
from fiberassure.wholesale.inventory.service import add_service
from fiberassure.wholesale.operators.service import create_operator
from fiberassure.wholesale.settings import Settings
from fiberassure.wholesale.tickets.models import TroubleTicket
from fiberassure.wholesale.tickets.service import TicketService
from fiberassure.wholesale.worker import run_deadlines_once
from tests.conftest import BASE_URL, START
from tests.tickets import ticket_body

T = TypeVar("T")
S = TicketStatus

OPERATOR = "op-prop"
SERVICES = ("SRV-P0", "SRV-P1")
TABLE: dict[tuple[Action, Actor], Transition] = {(t.action, t.actor): t for t in TRANSITIONS}

VISIT_WINDOW = {"startDateTime": "2026-12-10T08:00:00Z", "endDateTime": "2026-12-10T12:00:00Z"}
NOTE = {"text": "The subscriber says the LOS light is still red."}
# Retail PATCH bodies, named for what the support agent means by them.
RETAIL_PATCHES: dict[str, dict[str, Any]] = {
    "cancel": {"status": "cancelled"},
    "cancelWithNote": {"status": "cancelled", "note": [NOTE]},
    "accept": {"status": "closed"},
    "reopenOrAnswer": {"status": "inProgress"},
    "answerWithVisitWindow": {"status": "inProgress", "visitWindow": VISIT_WINDOW},
    "addNote": {"note": [NOTE]},
    "addTwoNotes": {"note": [NOTE, {"text": "Second call, same symptoms."}]},
    "newVisitWindow": {"visitWindow": VISIT_WINDOW},
    "newContact": {"subscriberContact": {"name": "Anna Nowak", "phoneNumber": "+48 601 200 300"}},
    "lowerSeverity": {"severity": "major"},
    "nothing": {},
}
WHOLESALE_ACTIONS = (
    Action.START,
    Action.REQUEST_INFORMATION,
    Action.HOLD,
    Action.RELEASE,
    Action.REPLACE_ONT,
    Action.RESOLVE,
    Action.REJECT_NO_FAULT,
    Action.ADD_NOTE,
)
# Steps of the scheduler's clock, around the 24 h auto-close and the 5-day pending timeout.
CLOCK_STEPS = (
    timedelta(minutes=1),
    timedelta(hours=1),
    timedelta(hours=23, minutes=59, seconds=59),
    timedelta(hours=24),
    timedelta(days=5) - timedelta(seconds=1),
    timedelta(days=5),
)


def retail_action(body: dict[str, Any], status: TicketStatus) -> Action | None:
    """What a PATCH body asks for (DESIGN §4), or None for an empty PATCH."""
    requested = body.get("status")
    if requested == "cancelled":
        return Action.CANCEL
    if requested == "closed":
        return Action.ACCEPT
    if requested == "inProgress":
        return Action.PROVIDE_INFORMATION if status is S.PENDING else Action.REOPEN
    if body:
        return Action.PROVIDE_INFORMATION if status is S.PENDING else Action.UPDATE
    return None


@dataclass(frozen=True)
class ExpectedEvent:
    event_type: TicketEventType
    status: TicketStatus
    status_changes: int


@dataclass
class ModelTicket:
    """What the table says the ticket must look like."""

    id: str
    service_id: str
    ont_serial_number: str
    created: datetime
    status: TicketStatus = S.ACKNOWLEDGED
    status_changes: int = 1
    status_change_reason: str | None = "created"
    notes: int = 0
    resolution_date: datetime | None = None
    auto_close_at: datetime | None = None
    pending_expires_at: datetime | None = None
    events: list[ExpectedEvent] = field(default_factory=list)
    last_update: datetime = field(init=False)
    status_change_date: datetime = field(init=False)

    def __post_init__(self) -> None:
        self.last_update = self.status_change_date = self.created

    @property
    def revision(self) -> int:
        return len(self.events)


class TicketLifecycleMachine(RuleBasedStateMachine):
    database_url = ""  # set by the test, per database

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.database = Database(self.database_url, pool_size=2)
        self.settings = Settings(database_url=self.database_url, public_base_url=BASE_URL)
        self.clock = SettableClock(START)
        self.model: dict[str, ModelTicket] = {}
        self.touched: set[str] = set()  # tickets a step may have changed: checked after it
        self.service_serials = {service: f"ALCL{n:08X}" for n, service in enumerate(SERVICES)}
        self.wait(self._fresh_world())

    def teardown(self) -> None:
        self.wait(self.database.dispose())
        self.loop.close()

    # -- plumbing -----------------------------------------------------------------------------

    def wait(self, work: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(work)

    def in_transaction(self, work: Callable[[TicketService], Awaitable[T]]) -> T:
        """Run `work` in one transaction, as a request would: committed, or rolled back whole."""

        async def run() -> T:
            async with self.database.transaction() as session:
                service = TicketService(session, self.settings, self.clock.now(), BASE_URL)
                return await work(service)

        return self.wait(run())

    def attempt(
        self, work: Callable[[TicketService], Awaitable[T]]
    ) -> tuple[T | None, TMFError | None]:
        """`in_transaction`, with a refusal the model can predict returned instead of raised."""
        try:
            return self.in_transaction(work), None
        except (Conflict, PreconditionFailed) as refusal:
            return None, refusal

    def assert_refused_by_the_table(
        self, refusal: TMFError | None, ticket: ModelTicket, actor: Actor, action: Action | None
    ) -> None:
        assert isinstance(refusal, InvalidTransition), refusal
        transition = TABLE.get((action, actor)) if action else None
        assert transition is None or ticket.status not in transition.sources, (
            f"{actor} {action} was refused from {ticket.status}"
        )
        allowed = [t.action for t in TRANSITIONS if t.actor is actor and ticket.status in t.sources]
        assert refusal.details == {
            "currentStatus": ticket.status,
            "action": action,
            "allowedActions": allowed,
        }

    async def _fresh_world(self) -> None:
        now = self.clock.now()
        async with self.database.transaction() as session:
            # DELETE rather than TRUNCATE: much faster on PostgreSQL for a handful of rows.
            for table in reversed(Base.metadata.sorted_tables):
                await session.execute(text(f'DELETE FROM "{table.name}"'))
        async with self.database.transaction() as session:
            await create_operator(session, "Property Operator", now, operator_id=OPERATOR)
            for service_id, serial in self.service_serials.items():
                record = ServiceRecord(
                    service_id=service_id,
                    operator_id=OPERATOR,
                    ont_serial_number=serial,
                    olt_name="OLT-PROP-01",
                    pon_port="1/1/1/1",
                )
                await add_service(session, record, now)

    def accept(
        self,
        ticket: ModelTicket,
        transition: Transition,
        notes_added: int = 0,
        reason: str | None = None,
    ) -> None:
        """Move the model as the table says, at the clock's current time."""
        now = self.clock.now()
        previous = ticket.status
        target = transition.target_from(previous)
        assert previous not in FINAL_STATUSES, "a final status never changes"
        ticket.notes += notes_added
        ticket.last_update = now
        if target is not previous:
            ticket.status = target
            ticket.status_changes += 1
            ticket.status_change_date = now
            ticket.status_change_reason = reason or transition.reason
            ticket.auto_close_at = ticket.pending_expires_at = None
            if target is S.RESOLVED:
                ticket.auto_close_at = now + self.settings.auto_close_after
                ticket.resolution_date = now
            if target is S.PENDING:
                ticket.pending_expires_at = now + self.settings.pending_timeout
            if previous is S.RESOLVED and target is S.IN_PROGRESS:
                ticket.resolution_date = None  # reopened: the fault is back
        ticket.events.append(
            ExpectedEvent(transition.event_type, ticket.status, ticket.status_changes)
        )

    # -- rules --------------------------------------------------------------------------------
    # Besides any action of either party (mostly refused), a rule moves an open ticket along
    # the seed's main flow, so that short sequences still reach resolved, reopened and closed.

    @staticmethod
    def pick(data: st.DataObject, ticket_ids: list[str]) -> str:
        # By creation order, not by id: the ids are random, the choice must replay.
        index = data.draw(st.integers(0, len(ticket_ids) - 1), label="ticket number")
        return ticket_ids[index]

    def open_on(self, service_id: str) -> bool:
        return any(
            t.service_id == service_id and t.status in OPEN_STATUSES for t in self.model.values()
        )

    def _create(self, service_id: str) -> None:
        open_ticket = self.open_on(service_id)
        body = tmf.TroubleTicketCreate.model_validate(ticket_body(service_id))

        async def create(service: TicketService) -> str:
            return (await service.create(OPERATOR, body, author=OPERATOR)).id

        ticket_id, refusal = self.attempt(create)
        if ticket_id is None:
            assert type(refusal) is Conflict, refusal
            assert open_ticket, "a service without an open ticket must accept a new one"
            return
        assert not open_ticket, "at most one open ticket per service"
        ticket = ModelTicket(
            ticket_id, service_id, self.service_serials[service_id], self.clock.now()
        )
        ticket.events.append(ExpectedEvent(TicketEventType.CREATE, S.ACKNOWLEDGED, 1))
        self.model[ticket_id] = ticket
        self.touched.add(ticket_id)

    @initialize()
    def open_a_ticket_on_every_line(self) -> None:
        for service_id in SERVICES:
            self._create(service_id)

    @precondition(lambda self: not all(self.open_on(service_id) for service_id in SERVICES))
    @rule(service_id=st.sampled_from(SERVICES))
    def report_a_fault(self, service_id: str) -> None:
        self._create(service_id)  # refused (409) when that service's ticket is still open

    @rule(data=st.data())
    def the_work_moves_on(self, data: st.DataObject) -> None:
        open_tickets = [i for i, t in self.model.items() if t.status in OPEN_STATUSES]
        if not open_tickets:
            return
        ticket_id = self.pick(data, open_tickets)
        status = self.model[ticket_id].status
        if status is S.ACKNOWLEDGED:
            self._wholesale(ticket_id, Action.START)
        elif status is S.IN_PROGRESS:
            self._wholesale(ticket_id, Action.RESOLVE)
        elif status is S.HELD:
            self._wholesale(ticket_id, Action.RELEASE)
        elif status is S.PENDING:
            self._retail(ticket_id, "answerWithVisitWindow", "current")
        else:
            answer = data.draw(st.sampled_from(["reopenOrAnswer", "accept"]), label="answer")
            self._retail(ticket_id, answer, "none")

    @rule(data=st.data())
    def the_retail_operator_patches(self, data: st.DataObject) -> None:
        ticket_id = self.pick(data, list(self.model))
        status = self.model[ticket_id].status
        allowed = [
            name
            for name, body in sorted(RETAIL_PATCHES.items())
            if (action := retail_action(body, status)) is None
            or status in TABLE[(action, Actor.RETAIL)].sources
        ]
        if data.draw(st.booleans(), label="only what the table allows"):
            patch = data.draw(st.sampled_from(allowed), label="patch")
            if_match = data.draw(st.sampled_from(["none", "current", "any"]), label="if_match")
        else:
            patch = data.draw(st.sampled_from(sorted(RETAIL_PATCHES)), label="patch")
            if_match = data.draw(st.sampled_from(["none", "current", "stale"]), label="if_match")
        self._retail(ticket_id, patch, if_match)

    @rule(data=st.data())
    def the_wholesaler_acts(self, data: st.DataObject) -> None:
        ticket_id = self.pick(data, list(self.model))
        status = self.model[ticket_id].status
        allowed = [a for a in WHOLESALE_ACTIONS if status in TABLE[(a, Actor.WHOLESALE)].sources]
        only_allowed = data.draw(st.booleans(), label="only what the table allows")
        if allowed and only_allowed:
            action = data.draw(st.sampled_from(allowed), label="action")
        else:
            action = data.draw(st.sampled_from(WHOLESALE_ACTIONS), label="action")
        self._wholesale(ticket_id, action)

    @precondition(lambda self: any(t.status in FINAL_STATUSES for t in self.model.values()))
    @rule(data=st.data())
    def someone_acts_on_a_finished_ticket(self, data: st.DataObject) -> None:
        finished = [i for i, t in self.model.items() if t.status in FINAL_STATUSES]
        ticket_id = self.pick(data, finished)
        if data.draw(st.booleans(), label="the retail operator"):
            patch = data.draw(st.sampled_from(sorted(RETAIL_PATCHES)), label="patch")
            self._retail(ticket_id, patch, "current")
        else:
            action = data.draw(st.sampled_from(WHOLESALE_ACTIONS), label="action")
            self._wholesale(ticket_id, action)

    def _retail(self, ticket_id: str, patch: str, if_match: str) -> None:
        ticket = self.model[ticket_id]
        self.touched.add(ticket_id)
        body = RETAIL_PATCHES[patch]
        tag = {
            "none": None,
            "current": f'"{ticket.revision}"',
            "stale": f'"{ticket.revision - 1}"',
            "any": "*",
        }[if_match]
        update = tmf.TroubleTicketUpdate.model_validate(body)
        action = retail_action(body, ticket.status)
        transition = TABLE.get((action, Actor.RETAIL)) if action else None

        async def patch_ticket(service: TicketService) -> None:
            await service.update_by_retail(ticket_id, OPERATOR, update, OPERATOR, if_match=tag)

        _, refusal = self.attempt(patch_ticket)
        if if_match == "stale":
            assert isinstance(refusal, PreconditionFailed), "a stale ETag must be refused"
            return
        if refusal is not None:
            self.assert_refused_by_the_table(refusal, ticket, Actor.RETAIL, action)
            return
        if transition is None:
            return  # an empty PATCH changes nothing, in any status
        assert ticket.status in transition.sources, f"{action} accepted from {ticket.status}"
        self.accept(ticket, transition, notes_added=len(body.get("note", [])))

    def _wholesale(self, ticket_id: str, action: Action) -> None:
        ticket = self.model[ticket_id]
        self.touched.add(ticket_id)
        transition = TABLE[(action, Actor.WHOLESALE)]
        new_serial = f"ALCL{uuid.uuid4().hex[:8].upper()}"
        options_by_action: dict[Action, dict[str, Any]] = {
            Action.REQUEST_INFORMATION: {
                "reason": "customerUnreachable",
                "field_path": "visitWindow",
            },
            Action.REPLACE_ONT: {"new_ont": (new_serial, "Nokia G-010G-T")},
            Action.ADD_NOTE: {"note": "Technician booked for Tuesday."},
            Action.RESOLVE: {"reason": "fibreSpliced"},
        }
        options = options_by_action.get(action, {})

        async def act(service: TicketService) -> None:
            await service.act(ticket_id, action, **options)

        _, refusal = self.attempt(act)
        if refusal is not None:
            self.assert_refused_by_the_table(refusal, ticket, Actor.WHOLESALE, action)
            return
        assert ticket.status in transition.sources, f"{action} accepted from {ticket.status}"
        notes_added = 1 if action in (Action.ADD_NOTE, Action.REPLACE_ONT) else 0
        if action is Action.REPLACE_ONT:
            ticket.ont_serial_number = self.service_serials[ticket.service_id] = new_serial
        self.accept(ticket, transition, notes_added, options.get("reason"))

    @rule(step=st.sampled_from(CLOCK_STEPS))
    def time_passes_and_the_scheduler_runs(self, step: timedelta) -> None:
        self.clock.advance(step)
        self.touched.update(self.model)
        now = self.clock.now()
        due_close = [
            t
            for t in self.model.values()
            if t.status is S.RESOLVED and t.auto_close_at is not None and t.auto_close_at <= now
        ]
        due_expiry = [
            t
            for t in self.model.values()
            if t.status is S.PENDING
            and t.pending_expires_at is not None
            and t.pending_expires_at <= now
        ]

        done = self.wait(run_deadlines_once(self.database, self.settings, self.clock, BASE_URL))

        assert done["autoClosed"] == len(due_close)
        assert done["pendingExpired"] == len(due_expiry)
        for ticket in due_close:
            self.accept(ticket, TABLE[(Action.AUTO_CLOSE, Actor.SCHEDULER)])
        for ticket in due_expiry:
            self.accept(ticket, TABLE[(Action.EXPIRE_PENDING, Actor.SCHEDULER)])

    # -- what must always hold ----------------------------------------------------------------

    @invariant()
    def every_ticket_is_as_the_table_says(self) -> None:
        # Only the tickets the last step could have changed are read again (speed); a
        # refused create would show up in the totals.
        self.wait(self._check_touched())
        self.touched.clear()

    async def _check_touched(self) -> None:
        # A few queries for all touched tickets at once: the check runs after every step.
        ids = sorted(self.touched)
        async with self.database.transaction() as session:
            total_tickets = await session.scalar(select(func.count()).select_from(TroubleTicket))
            total_events = await session.scalar(select(func.count()).select_from(OutboxEvent))
            assert total_tickets == len(self.model), "a refused create left a ticket behind"
            assert total_events == sum(t.revision for t in self.model.values())
            services = (await session.execute(select(Service))).scalars()
            assert {s.id: s.ont_serial_number for s in services} == self.service_serials
            tickets = await session.execute(
                select(TroubleTicket)
                .where(TroubleTicket.id.in_(ids))
                .options(
                    selectinload(TroubleTicket.notes), selectinload(TroubleTicket.status_changes)
                )
            )
            events = await session.execute(
                select(OutboxEvent)
                .where(OutboxEvent.resource_id.in_(ids))
                .order_by(OutboxEvent.resource_id, OutboxEvent.sequence_number)
            )
        events_by_ticket: dict[str, list[OutboxEvent]] = {ticket_id: [] for ticket_id in ids}
        for event in events.scalars():
            events_by_ticket[event.resource_id].append(event)
        found = {ticket.id: ticket for ticket in tickets.scalars()}
        assert sorted(found) == ids
        for ticket_id in ids:
            self._check(found[ticket_id], events_by_ticket[ticket_id], self.model[ticket_id])

    @staticmethod
    def _check(ticket: TroubleTicket, events: list[OutboxEvent], expected: ModelTicket) -> None:
        assert isinstance(TicketStatus(ticket.status), TicketStatus)
        assert ticket.status == expected.status
        assert ticket.revision == expected.revision
        assert len(ticket.status_changes) == expected.status_changes
        assert len(ticket.notes) == expected.notes
        assert ticket.ont_serial_number == expected.ont_serial_number
        assert ticket.status_change_reason == expected.status_change_reason
        assert ticket.status_change_date == expected.status_change_date
        assert ticket.last_update == expected.last_update
        assert ticket.resolution_date == expected.resolution_date
        assert ticket.auto_close_at == expected.auto_close_at
        assert ticket.pending_expires_at == expected.pending_expires_at
        if expected.status in FINAL_STATUSES:
            assert ticket.auto_close_at is None
            assert ticket.pending_expires_at is None

        assert [e.sequence_number for e in events] == list(range(1, expected.revision + 1))
        seen = [
            ExpectedEvent(
                TicketEventType(e.event_type),
                TicketStatus(e.payload["event"]["troubleTicket"]["status"]),
                len(e.payload["event"]["troubleTicket"]["statusChange"]),
            )
            for e in events
        ]
        assert seen == expected.events
        for event in events:
            assert event.resource_type == "troubleTicket"
            assert event.payload["sequenceNumber"] == event.sequence_number
            assert event.payload["eventType"] == event.event_type
            assert event.payload["event"]["troubleTicket"]["id"] == expected.id


def test_ticket_lifecycle_follows_the_table_for_any_sequence_of_actions(database_url: str) -> None:
    machine = type(
        "TicketLifecycleOn" + ("SQLite" if database_url.startswith("sqlite") else "PostgreSQL"),
        (TicketLifecycleMachine,),
        {"database_url": database_url},
    )
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=25,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
