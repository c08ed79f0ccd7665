"""The trouble-ticket lifecycle (DESIGN §4) as one table.

The wholesale service looks every action up here, the console asks it which buttons to show,
the retail SDK uses it to explain a refusal, and the tests generate action sequences from it.
"""

from dataclasses import dataclass
from enum import StrEnum

from fiberassure.tmf.errors import InvalidTransition


class TicketStatus(StrEnum):
    ACKNOWLEDGED = "acknowledged"
    REJECTED = "rejected"
    PENDING = "pending"
    HELD = "held"
    IN_PROGRESS = "inProgress"
    CANCELLED = "cancelled"
    CLOSED = "closed"
    RESOLVED = "resolved"


FINAL_STATUSES = frozenset({TicketStatus.CLOSED, TicketStatus.CANCELLED, TicketStatus.REJECTED})
OPEN_STATUSES = frozenset(TicketStatus) - FINAL_STATUSES


class Actor(StrEnum):
    RETAIL = "retail"  # the retail operator, through the TMF621 API
    WHOLESALE = "wholesale"  # the network operator's staff and systems, through the ops API
    SCHEDULER = "scheduler"  # deadlines: auto-close, pending timeout


class Action(StrEnum):
    CREATE = "create"
    START = "start"
    REQUEST_INFORMATION = "requestInformation"
    PROVIDE_INFORMATION = "provideInformation"
    EXPIRE_PENDING = "expirePending"
    HOLD = "hold"
    RELEASE = "release"
    REPLACE_ONT = "replaceOnt"
    RESOLVE = "resolve"
    REOPEN = "reopen"
    ACCEPT = "accept"
    AUTO_CLOSE = "autoClose"
    CANCEL = "cancel"
    REJECT_NO_FAULT = "rejectNoFault"
    ADD_NOTE = "addNote"
    UPDATE = "update"


class TicketEventType(StrEnum):
    CREATE = "TroubleTicketCreateEvent"
    STATUS_CHANGE = "TroubleTicketStatusChangeEvent"
    ATTRIBUTE_VALUE_CHANGE = "TroubleTicketAttributeValueChangeEvent"
    RESOLVED = "TroubleTicketResolvedEvent"
    INFORMATION_REQUIRED = "TroubleTicketInformationRequiredEvent"


@dataclass(frozen=True)
class Transition:
    action: Action
    actor: Actor
    sources: frozenset[TicketStatus]  # empty only for create
    target: TicketStatus | None  # None: the status stays as it is
    event_type: TicketEventType
    reason: str | None = None  # the statusChangeReason recorded unless the caller gives one

    def target_from(self, status: TicketStatus) -> TicketStatus:
        return self.target or status


S = TicketStatus
_ANY_OPEN = OPEN_STATUSES

TRANSITIONS: tuple[Transition, ...] = (
    Transition(Action.CREATE, Actor.RETAIL, frozenset(), S.ACKNOWLEDGED, TicketEventType.CREATE),
    Transition(
        Action.START,
        Actor.WHOLESALE,
        frozenset({S.ACKNOWLEDGED}),
        S.IN_PROGRESS,
        TicketEventType.STATUS_CHANGE,
        "workStarted",
    ),
    Transition(
        Action.REQUEST_INFORMATION,
        Actor.WHOLESALE,
        frozenset({S.ACKNOWLEDGED, S.IN_PROGRESS}),
        S.PENDING,
        TicketEventType.INFORMATION_REQUIRED,
        "informationRequired",
    ),
    Transition(
        Action.PROVIDE_INFORMATION,
        Actor.RETAIL,
        frozenset({S.PENDING}),
        S.IN_PROGRESS,
        TicketEventType.STATUS_CHANGE,
        "informationProvided",
    ),
    Transition(
        Action.EXPIRE_PENDING,
        Actor.SCHEDULER,
        frozenset({S.PENDING}),
        S.CANCELLED,
        TicketEventType.STATUS_CHANGE,
        "informationNotProvided",
    ),
    Transition(
        Action.HOLD,
        Actor.WHOLESALE,
        frozenset({S.IN_PROGRESS}),
        S.HELD,
        TicketEventType.STATUS_CHANGE,
        "onHold",
    ),
    Transition(
        Action.RELEASE,
        Actor.WHOLESALE,
        frozenset({S.HELD}),
        S.IN_PROGRESS,
        TicketEventType.STATUS_CHANGE,
        "released",
    ),
    Transition(
        Action.REPLACE_ONT,
        Actor.WHOLESALE,
        frozenset({S.IN_PROGRESS}),
        None,
        TicketEventType.ATTRIBUTE_VALUE_CHANGE,
    ),
    Transition(
        Action.RESOLVE,
        Actor.WHOLESALE,
        frozenset({S.IN_PROGRESS}),
        S.RESOLVED,
        TicketEventType.RESOLVED,
        "faultRemoved",
    ),
    Transition(
        Action.REOPEN,
        Actor.RETAIL,
        frozenset({S.RESOLVED}),
        S.IN_PROGRESS,
        TicketEventType.STATUS_CHANGE,
        "faultPersists",
    ),
    Transition(
        Action.ACCEPT,
        Actor.RETAIL,
        frozenset({S.RESOLVED}),
        S.CLOSED,
        TicketEventType.RESOLVED,
        "resolutionAccepted",
    ),
    Transition(
        Action.AUTO_CLOSE,
        Actor.SCHEDULER,
        frozenset({S.RESOLVED}),
        S.CLOSED,
        TicketEventType.RESOLVED,
        "autoClosed",
    ),
    Transition(
        Action.CANCEL,
        Actor.RETAIL,
        frozenset({S.ACKNOWLEDGED, S.IN_PROGRESS, S.PENDING, S.HELD}),
        S.CANCELLED,
        TicketEventType.STATUS_CHANGE,
        "cancelledByCustomer",
    ),
    Transition(
        Action.REJECT_NO_FAULT,
        Actor.WHOLESALE,
        frozenset({S.ACKNOWLEDGED, S.IN_PROGRESS}),
        S.CANCELLED,
        TicketEventType.STATUS_CHANGE,
        "noFaultFound",
    ),
    Transition(
        Action.ADD_NOTE, Actor.WHOLESALE, _ANY_OPEN, None, TicketEventType.ATTRIBUTE_VALUE_CHANGE
    ),
    # A retail change to a pending ticket answers the information request instead (above).
    Transition(
        Action.UPDATE,
        Actor.RETAIL,
        _ANY_OPEN - {S.PENDING},
        None,
        TicketEventType.ATTRIBUTE_VALUE_CHANGE,
    ),
)

_BY_ACTION: dict[tuple[Action, Actor], Transition] = {(t.action, t.actor): t for t in TRANSITIONS}


CREATION = _BY_ACTION[(Action.CREATE, Actor.RETAIL)]


def allowed_actions(status: TicketStatus, actor: Actor) -> list[Action]:
    """The actions `actor` may take on a ticket in `status`, in table order."""
    return [t.action for t in TRANSITIONS if t.actor is actor and status in t.sources]


def transition_for(action: Action, actor: Actor, status: TicketStatus) -> Transition:
    """The table row for `action` by `actor` from `status`, or `InvalidTransition` (409)."""
    transition = _BY_ACTION.get((action, actor))
    if transition is None or status not in transition.sources:
        allowed = allowed_actions(status, actor)
        final = " (a final status)" if status in FINAL_STATUSES else ""
        raise InvalidTransition(
            f"cannot {action} a ticket in status {status}{final}; "
            f"allowed: {', '.join(allowed) if allowed else 'none'}",
            details={
                "currentStatus": str(status),
                "action": str(action),
                "allowedActions": [str(a) for a in allowed],
            },
        )
    return transition
