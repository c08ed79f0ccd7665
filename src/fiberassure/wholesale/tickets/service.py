"""Trouble-ticket rules (TMF621 profile): create, retail PATCH, wholesale actions, deadlines.

Every change goes through `_apply`, which looks the action up in the lifecycle table and
writes the new status, its status-history entry, the deadlines, the SLA clock and the one
outbox event together, in the caller's transaction. Nothing here commits.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from fiberassure.tmf import trouble_ticket as tmf
from fiberassure.tmf.errors import (
    Conflict,
    InvalidRequest,
    InvalidTransition,
    NotFound,
    PreconditionFailed,
    RecentTestRequired,
)
from fiberassure.tmf.ticket_lifecycle import (
    CREATION,
    Action,
    Actor,
    TicketEventType,
    TicketStatus,
    Transition,
    transition_for,
)
from fiberassure.tmf.trouble_ticket import RelatedEntityRole
from fiberassure.wholesale.diagnostics.repository import ServiceTestRepository
from fiberassure.wholesale.events.service import record_event
from fiberassure.wholesale.inventory import service as inventory
from fiberassure.wholesale.inventory.models import Service
from fiberassure.wholesale.inventory.repository import ServiceRepository
from fiberassure.wholesale.network.adapter import line_of
from fiberassure.wholesale.network.simulator import heal
from fiberassure.wholesale.settings import Settings
from fiberassure.wholesale.tickets.models import TicketNote, TicketStatusChange, TroubleTicket
from fiberassure.wholesale.tickets.repository import TicketFilter, TicketRepository
from fiberassure.wholesale.tickets.schemas import to_tmf

RESOURCE_TYPE = "troubleTicket"
# What a retail operator can be asked for in requestInformation (the attributes it can patch).
REQUESTABLE_FIELDS = frozenset(
    {"visitWindow", "subscriberContact", "description", "note", "attachment"}
)


@dataclass(frozen=True)
class Change:
    """Optional details of a transition: reason, notes, changed attributes for fieldPath."""

    reason: str | None = None
    field_path: str | None = None


def etag(ticket: TroubleTicket) -> str:
    return f'"{ticket.revision}"'


def _if_match_satisfied(if_match: str, ticket: TroubleTicket) -> bool:
    candidates = [tag.strip().removeprefix("W/") for tag in if_match.split(",")]
    return "*" in candidates or etag(ticket) in candidates


class TicketService:
    def __init__(
        self, session: AsyncSession, settings: Settings, now: datetime, base_url: str
    ) -> None:
        self.session = session
        self.settings = settings
        self.now = now
        self.base_url = base_url
        self.tickets = TicketRepository(session)

    # -- reading ------------------------------------------------------------------------------

    async def get_for_operator(
        self, ticket_id: str, operator_id: str, *, lock: bool = False
    ) -> TroubleTicket:
        ticket = await self.tickets.get_for_operator(ticket_id, operator_id, lock=lock)
        if ticket is None:
            raise NotFound(f"no trouble ticket {ticket_id}")
        return ticket

    async def get(self, ticket_id: str, *, lock: bool = False) -> TroubleTicket:
        ticket = await self.tickets.get(ticket_id, lock=lock)
        if ticket is None:
            raise NotFound(f"no trouble ticket {ticket_id}")
        return ticket

    async def search(
        self, criteria: TicketFilter, offset: int, limit: int
    ) -> tuple[list[TroubleTicket], int]:
        return await self.tickets.search(criteria, offset, limit)

    def render(self, ticket: TroubleTicket) -> tmf.TroubleTicket:
        return to_tmf(ticket, self.base_url)

    # -- retail operator ----------------------------------------------------------------------

    async def create(
        self, operator_id: str, body: tmf.TroubleTicketCreate, author: str
    ) -> TroubleTicket:
        affected = body.related(RelatedEntityRole.AFFECTED_SERVICE)
        assert affected is not None  # the schema requires exactly one
        service = await ServiceRepository(self.session).get_for_operator(affected.id, operator_id)
        if service is None:
            # Another operator's line is indistinguishable from no line at all.
            raise InvalidRequest(
                f"relatedEntity affectedService {affected.id} is not one of your services",
                details={"field": "relatedEntity"},
            )
        open_ticket = await self.tickets.open_for_service(service.id)
        if open_ticket is not None:
            raise Conflict(
                f"service {service.id} already has open ticket {open_ticket.id} "
                f"(status {open_ticket.status})",
                details={"openTicketId": open_ticket.id, "openTicketStatus": open_ticket.status},
            )
        if body.external_id and await self.tickets.by_external_id(operator_id, body.external_id):
            raise Conflict(f"externalId {body.external_id} is already used by another ticket")
        test = body.related(RelatedEntityRole.SERVICE_TEST)
        await self._check_service_test(operator_id, service, test.id if test else None)
        sla_duration = self.settings.sla_durations[service.sla_class]
        ticket = TroubleTicket(
            id=str(uuid.uuid4()),
            operator_id=operator_id,
            service_id=service.id,
            external_id=body.external_id,
            name=body.name,
            description=body.description,
            severity=body.severity.value,
            ticket_type=body.ticket_type.value,
            type=body.type,
            status=TicketStatus.ACKNOWLEDGED.value,
            status_change_reason=None,
            status_change_date=self.now,
            creation_date=self.now,
            last_update=self.now,
            sla_class=service.sla_class,
            sla_parked_seconds=0.0,
            expected_resolution_date=self.now + sla_duration,
            ont_serial_number=service.ont_serial_number,
            ont_model=service.ont_model,
            service_test_id=test.id if test else None,
            subscriber_contact=body.subscriber_contact.model_dump(mode="json", exclude_none=True),
            visit_window_start=body.visit_window.start_date_time if body.visit_window else None,
            visit_window_end=body.visit_window.end_date_time if body.visit_window else None,
            attachments=[self._attachment(a) for a in body.attachment],
            revision=0,
            notes=[self._note(n.text, n.author or author) for n in body.note],
            status_changes=[],
        )
        self.tickets.add(ticket)
        try:
            await self._record(ticket, CREATION, Actor.RETAIL, Change(reason="created"))
        except IntegrityError:
            # Lost a race with another create for the same service or externalId. The failed
            # flush expired the ORM objects, so name the service from the request body.
            raise Conflict(
                f"service {affected.id} or externalId {body.external_id} was just used by "
                "another request; list the open tickets and retry"
            ) from None
        return ticket

    async def _check_service_test(
        self, operator_id: str, service: Service, test_id: str | None
    ) -> None:
        """A referenced test must be the operator's own and of the same line; with
        FIBERASSURE_REQUIRE_RECENT_TEST the line needs a recently completed test."""
        tests = ServiceTestRepository(self.session)
        if test_id is not None:
            test = await tests.get_for_operator(test_id, operator_id)
            if test is None:
                raise InvalidRequest(
                    f"relatedEntity serviceTest {test_id} is not one of your service tests",
                    details={"field": "relatedEntity"},
                )
            if test.service_id != service.id:
                raise InvalidRequest(
                    f"relatedEntity serviceTest {test_id} tested service {test.service_id}, "
                    f"not the affected service {service.id}",
                    details={"field": "relatedEntity"},
                )
        if self.settings.require_recent_test:
            since = self.now - self.settings.recent_test_window
            if await tests.latest_completed(service.id, operator_id, since) is None:
                raise RecentTestRequired(
                    f"service {service.id} has no completed service test since "
                    f"{since.isoformat()}; run one (POST /serviceTest) and report the fault "
                    "with its result",
                    details={"serviceId": service.id, "since": since.isoformat()},
                )

    async def update_by_retail(
        self,
        ticket_id: str,
        operator_id: str,
        update: tmf.TroubleTicketUpdate,
        author: str,
        if_match: str | None = None,
    ) -> TroubleTicket:
        ticket = await self.get_for_operator(ticket_id, operator_id, lock=True)
        if if_match is not None and not _if_match_satisfied(if_match, ticket):
            raise PreconditionFailed(
                f"If-Match {if_match} does not match the current ETag {etag(ticket)}",
                details={"currentETag": etag(ticket)},
            )
        status = TicketStatus(ticket.status)
        changed = update.changed_attributes()
        if update.status is not None:
            action = self._retail_action_for(update.status, status)
        elif changed:
            action = Action.PROVIDE_INFORMATION if status is TicketStatus.PENDING else Action.UPDATE
        else:
            return ticket  # an empty PATCH changes nothing and announces nothing
        transition = transition_for(action, Actor.RETAIL, status)
        if action is Action.REOPEN and ticket.auto_close_at and ticket.auto_close_at <= self.now:
            # The scheduler may not have run yet; the window is the deadline, not the status.
            raise InvalidTransition(
                f"cannot reopen a resolved ticket after its reopen window ended at "
                f"{ticket.auto_close_at.isoformat()}; it is closing. "
                "Open a new ticket if the fault persists.",
                details={
                    "currentStatus": ticket.status,
                    "action": str(action),
                    "allowedActions": [str(Action.ACCEPT)],
                },
            )
        self._apply_attributes(ticket, update, author)
        field_path = ",".join(changed) if changed else None
        await self._record(
            ticket, transition, Actor.RETAIL, Change(update.status_change_reason, field_path)
        )
        return ticket

    @staticmethod
    def _retail_action_for(requested: tmf.RetailStatusRequest, status: TicketStatus) -> Action:
        if requested is tmf.RetailStatusRequest.CANCELLED:
            return Action.CANCEL
        if requested is tmf.RetailStatusRequest.CLOSED:
            return Action.ACCEPT
        # inProgress answers an information request, or reopens a resolved ticket.
        return Action.PROVIDE_INFORMATION if status is TicketStatus.PENDING else Action.REOPEN

    def _apply_attributes(
        self, ticket: TroubleTicket, update: tmf.TroubleTicketUpdate, author: str
    ) -> None:
        present = update.model_fields_set
        if "description" in present and update.description is not None:
            ticket.description = update.description
        if "severity" in present and update.severity is not None:
            ticket.severity = update.severity.value
        if "subscriber_contact" in present and update.subscriber_contact is not None:
            ticket.subscriber_contact = update.subscriber_contact.model_dump(
                mode="json", exclude_none=True
            )
        if "visit_window" in present:
            window = update.visit_window
            ticket.visit_window_start = window.start_date_time if window else None
            ticket.visit_window_end = window.end_date_time if window else None
        for note in update.note or ():
            ticket.notes.append(self._note(note.text, note.author or author))
        if update.attachment:
            ticket.attachments = [
                *ticket.attachments,
                *(self._attachment(a) for a in update.attachment),
            ]

    # -- wholesale operator -------------------------------------------------------------------

    async def act(
        self,
        ticket_id: str,
        action: Action,
        *,
        reason: str | None = None,
        note: str | None = None,
        author: str = "NOC",
        field_path: str | None = None,
        new_ont: tuple[str, str | None] | None = None,
    ) -> TroubleTicket:
        """Take a wholesale action (start, requestInformation, hold, release, replaceOnt,
        resolve, rejectNoFault, addNote) on any operator's ticket."""
        ticket = await self.get(ticket_id, lock=True)
        transition = transition_for(action, Actor.WHOLESALE, TicketStatus(ticket.status))
        if action is Action.REQUEST_INFORMATION:
            unknown = sorted(set((field_path or "").split(",")) - REQUESTABLE_FIELDS)
            if not field_path or unknown:
                raise InvalidRequest(
                    f"fieldPath names what is needed: one or more of "
                    f"{', '.join(sorted(REQUESTABLE_FIELDS))}"
                )
        if action in (Action.REPLACE_ONT, Action.RESOLVE):
            # The repair heals the fault the simulated network was given for this line.
            service = await ServiceRepository(self.session).get(ticket.service_id)
            assert service is not None
            await heal(self.session, line_of(service))
        if action is Action.REPLACE_ONT:
            assert new_ont is not None
            service = await ServiceRepository(self.session).get(ticket.service_id)
            assert service is not None
            await inventory.replace_ont(self.session, service, new_ont[0], new_ont[1], self.now)
            ticket.ont_serial_number = service.ont_serial_number
            ticket.ont_model = service.ont_model
            field_path = "relatedEntity.ont"
            note = note or f"ONT replaced; new serial number {service.ont_serial_number}"
        if action is Action.ADD_NOTE:
            field_path = "note"
        if note:
            ticket.notes.append(self._note(note, author))
        await self._record(ticket, transition, Actor.WHOLESALE, Change(reason, field_path))
        return ticket

    # -- deadlines ----------------------------------------------------------------------------

    async def close_resolved(self, limit: int = 100) -> int:
        """Close tickets resolved longer than the auto-close delay ago. Idempotent."""
        return await self._run_deadline(
            "auto_close_at", TicketStatus.RESOLVED, Action.AUTO_CLOSE, limit
        )

    async def expire_pending(self, limit: int = 100) -> int:
        """Cancel tickets left pending longer than the pending timeout. Idempotent."""
        return await self._run_deadline(
            "pending_expires_at", TicketStatus.PENDING, Action.EXPIRE_PENDING, limit
        )

    async def _run_deadline(
        self, deadline: str, status: TicketStatus, action: Action, limit: int
    ) -> int:
        ids = await self.tickets.claim_due(deadline, status, self.now, limit)
        for ticket_id in ids:
            ticket = await self.get(ticket_id, lock=True)
            transition = transition_for(action, Actor.SCHEDULER, TicketStatus(ticket.status))
            await self._record(ticket, transition, Actor.SCHEDULER, Change())
        return len(ids)

    # -- the one place a change is written ----------------------------------------------------

    async def _record(
        self, ticket: TroubleTicket, transition: Transition, actor: Actor, change: Change
    ) -> None:
        previous = TicketStatus(ticket.status)
        target = transition.target_from(previous)
        now = self.now
        ticket.revision += 1
        ticket.last_update = now
        if transition.action is Action.CREATE or target is not previous:
            self._move(ticket, previous, target, now)
            reason = change.reason or transition.reason
            ticket.status_change_reason = reason
            ticket.status_changes.append(
                TicketStatusChange(
                    status=target.value,
                    reason=reason,
                    actor=actor.value,
                    action=transition.action.value,
                    change_date=now,
                )
            )
        await self.session.flush()
        await record_event(
            self.session,
            operator_id=ticket.operator_id,
            resource_type=RESOURCE_TYPE,
            resource_id=ticket.id,
            resource=self.render(ticket).to_wire(),
            sequence_number=ticket.revision,
            event_type=transition.event_type.value,
            now=now,
            field_path=(
                change.field_path
                if transition.event_type
                in (TicketEventType.ATTRIBUTE_VALUE_CHANGE, TicketEventType.INFORMATION_REQUIRED)
                else None
            ),
        )

    def _move(
        self, ticket: TroubleTicket, previous: TicketStatus, target: TicketStatus, now: datetime
    ) -> None:
        """Status, status date, SLA clock and deadlines for a change of status."""
        ticket.status = target.value
        ticket.status_change_date = now
        if previous is TicketStatus.PENDING and ticket.pending_since is not None:
            # The SLA clock was stopped while the retail operator owed an answer.
            ticket.sla_parked_seconds += (now - ticket.pending_since).total_seconds()
            ticket.pending_since = None
            sla = self.settings.sla_durations[ticket.sla_class]
            parked = timedelta(seconds=ticket.sla_parked_seconds)
            ticket.expected_resolution_date = ticket.creation_date + sla + parked
        ticket.pending_expires_at = None
        ticket.auto_close_at = None
        if target is TicketStatus.PENDING:
            ticket.pending_since = now
            ticket.pending_expires_at = now + self.settings.pending_timeout
        elif target is TicketStatus.RESOLVED:
            ticket.resolution_date = now
            ticket.auto_close_at = now + self.settings.auto_close_after
        elif target is TicketStatus.IN_PROGRESS and previous is TicketStatus.RESOLVED:
            ticket.resolution_date = None  # reopened: the fault was not removed after all

    def _note(self, text: str, author: str) -> TicketNote:
        return TicketNote(author=author, date=self.now, text=text)

    @staticmethod
    def _attachment(attachment: tmf.AttachmentInput) -> dict[str, Any]:
        return {
            "id": str(uuid.uuid4()),
            **attachment.model_dump(mode="json", exclude_none=True, exclude={"type"}),
        }
