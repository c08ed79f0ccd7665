"""The lifecycle table (DESIGN §4) as data: what it allows, and how it refuses the rest."""

import pytest

from fiberassure.tmf.errors import InvalidTransition
from fiberassure.tmf.ticket_lifecycle import (
    CREATION,
    FINAL_STATUSES,
    OPEN_STATUSES,
    TRANSITIONS,
    Action,
    Actor,
    TicketEventType,
    TicketStatus,
    allowed_actions,
    transition_for,
)

S = TicketStatus
A = Action

# DESIGN §4, written out by hand: which actions each party may take in each status, in the
# order the table lists them (the console shows its buttons in this order).
EXPECTED_ALLOWED: dict[tuple[TicketStatus, Actor], list[Action]] = {
    (S.ACKNOWLEDGED, Actor.RETAIL): [A.CANCEL, A.UPDATE],
    (S.IN_PROGRESS, Actor.RETAIL): [A.CANCEL, A.UPDATE],
    (S.PENDING, Actor.RETAIL): [A.PROVIDE_INFORMATION, A.CANCEL],
    (S.HELD, Actor.RETAIL): [A.CANCEL, A.UPDATE],
    (S.RESOLVED, Actor.RETAIL): [A.REOPEN, A.ACCEPT, A.UPDATE],
    (S.ACKNOWLEDGED, Actor.WHOLESALE): [
        A.START,
        A.REQUEST_INFORMATION,
        A.REJECT_NO_FAULT,
        A.ADD_NOTE,
    ],
    (S.IN_PROGRESS, Actor.WHOLESALE): [
        A.REQUEST_INFORMATION,
        A.HOLD,
        A.REPLACE_ONT,
        A.RESOLVE,
        A.REJECT_NO_FAULT,
        A.ADD_NOTE,
    ],
    (S.PENDING, Actor.WHOLESALE): [A.ADD_NOTE],
    (S.HELD, Actor.WHOLESALE): [A.RELEASE, A.ADD_NOTE],
    (S.RESOLVED, Actor.WHOLESALE): [A.ADD_NOTE],
    (S.ACKNOWLEDGED, Actor.SCHEDULER): [],
    (S.IN_PROGRESS, Actor.SCHEDULER): [],
    (S.PENDING, Actor.SCHEDULER): [A.EXPIRE_PENDING],
    (S.HELD, Actor.SCHEDULER): [],
    (S.RESOLVED, Actor.SCHEDULER): [A.AUTO_CLOSE],
}

# DESIGN §4: action → (target, event sent to the retail operator); None keeps the status.
EXPECTED_OUTCOME: dict[Action, tuple[TicketStatus | None, TicketEventType]] = {
    A.CREATE: (S.ACKNOWLEDGED, TicketEventType.CREATE),
    A.START: (S.IN_PROGRESS, TicketEventType.STATUS_CHANGE),
    A.REQUEST_INFORMATION: (S.PENDING, TicketEventType.INFORMATION_REQUIRED),
    A.PROVIDE_INFORMATION: (S.IN_PROGRESS, TicketEventType.STATUS_CHANGE),
    A.EXPIRE_PENDING: (S.CANCELLED, TicketEventType.STATUS_CHANGE),
    A.HOLD: (S.HELD, TicketEventType.STATUS_CHANGE),
    A.RELEASE: (S.IN_PROGRESS, TicketEventType.STATUS_CHANGE),
    A.REPLACE_ONT: (None, TicketEventType.ATTRIBUTE_VALUE_CHANGE),
    A.RESOLVE: (S.RESOLVED, TicketEventType.RESOLVED),
    A.REOPEN: (S.IN_PROGRESS, TicketEventType.STATUS_CHANGE),
    A.ACCEPT: (S.CLOSED, TicketEventType.RESOLVED),
    A.AUTO_CLOSE: (S.CLOSED, TicketEventType.RESOLVED),
    A.CANCEL: (S.CANCELLED, TicketEventType.STATUS_CHANGE),
    A.REJECT_NO_FAULT: (S.CANCELLED, TicketEventType.STATUS_CHANGE),
    A.ADD_NOTE: (None, TicketEventType.ATTRIBUTE_VALUE_CHANGE),
    A.UPDATE: (None, TicketEventType.ATTRIBUTE_VALUE_CHANGE),
}


@pytest.mark.parametrize("status", sorted(FINAL_STATUSES))
@pytest.mark.parametrize("actor", list(Actor))
def test_final_statuses_allow_no_action_to_anyone(status: TicketStatus, actor: Actor) -> None:
    assert allowed_actions(status, actor) == []
    for action in Action:
        with pytest.raises(InvalidTransition):
            transition_for(action, actor, status)


def test_closed_cancelled_and_rejected_are_the_final_statuses() -> None:
    assert set(FINAL_STATUSES) == {S.CLOSED, S.CANCELLED, S.REJECTED}
    assert set(TicketStatus) - FINAL_STATUSES == OPEN_STATUSES


@pytest.mark.parametrize(("status", "actor"), list(EXPECTED_ALLOWED))
def test_allowed_actions_match_the_design_table(status: TicketStatus, actor: Actor) -> None:
    assert allowed_actions(status, actor) == EXPECTED_ALLOWED[(status, actor)]


@pytest.mark.parametrize("action", list(Action))
def test_each_action_leads_where_the_design_says_with_its_event(action: Action) -> None:
    rows = [t for t in TRANSITIONS if t.action is action]
    assert len(rows) == 1, f"{action} has {len(rows)} rows"
    assert (rows[0].target, rows[0].event_type) == EXPECTED_OUTCOME[action]


def test_every_row_names_valid_statuses_and_events() -> None:
    for transition in TRANSITIONS:
        assert transition.sources <= set(TicketStatus), transition
        assert not transition.sources & FINAL_STATUSES, f"{transition.action} leaves a final status"
        assert transition.target is None or transition.target in set(TicketStatus), transition
        assert transition.event_type in set(TicketEventType), transition
        if transition.action is not Action.CREATE:
            assert transition.sources, f"{transition.action} can never happen"
        if transition.target is not None and transition.action is not Action.CREATE:
            assert transition.reason, f"{transition.action} records no statusChangeReason"


def test_each_action_and_actor_pair_is_one_row() -> None:
    pairs = [(t.action, t.actor) for t in TRANSITIONS]
    assert len(pairs) == len(set(pairs))


def test_creation_starts_acknowledged_from_nothing() -> None:
    assert CREATION.action is Action.CREATE
    assert CREATION.actor is Actor.RETAIL
    assert CREATION.sources == frozenset()
    assert CREATION.target is S.ACKNOWLEDGED
    assert CREATION.event_type is TicketEventType.CREATE


def test_a_status_keeping_row_stays_in_its_status() -> None:
    note = transition_for(Action.ADD_NOTE, Actor.WHOLESALE, S.PENDING)
    assert note.target_from(S.PENDING) is S.PENDING
    start = transition_for(Action.START, Actor.WHOLESALE, S.ACKNOWLEDGED)
    assert start.target_from(S.ACKNOWLEDGED) is S.IN_PROGRESS


def test_every_status_action_actor_combination_is_allowed_exactly_when_listed() -> None:
    for status in TicketStatus:
        for actor in Actor:
            allowed = allowed_actions(status, actor)
            for action in Action:
                if action in allowed:
                    transition = transition_for(action, actor, status)
                    assert status in transition.sources
                else:
                    with pytest.raises(InvalidTransition) as refused:
                        transition_for(action, actor, status)
                    assert refused.value.details is not None
                    assert refused.value.details["allowedActions"] == [str(a) for a in allowed]


def test_resolving_an_acknowledged_ticket_is_refused_with_the_allowed_actions() -> None:
    with pytest.raises(InvalidTransition) as refused:
        transition_for(Action.RESOLVE, Actor.WHOLESALE, S.ACKNOWLEDGED)

    error = refused.value
    assert error.status_code == 409
    assert error.code == "INVALID_TRANSITION"
    assert error.details == {
        "currentStatus": "acknowledged",
        "action": "resolve",
        "allowedActions": ["start", "requestInformation", "rejectNoFault", "addNote"],
    }
    assert "acknowledged" in error.message
    assert "start, requestInformation, rejectNoFault, addNote" in error.message
    body = error.body()
    assert (body.code, body.status) == ("INVALID_TRANSITION", "409")


def test_reopening_a_closed_ticket_is_refused_as_final() -> None:
    with pytest.raises(InvalidTransition) as refused:
        transition_for(Action.REOPEN, Actor.RETAIL, S.CLOSED)

    assert refused.value.details is not None
    assert refused.value.details["currentStatus"] == "closed"
    assert refused.value.details["allowedActions"] == []
    assert "closed (a final status)" in refused.value.message
    assert "allowed: none" in refused.value.message


def test_an_action_of_another_party_is_refused_with_the_callers_own_actions() -> None:
    # Resolving is the wholesaler's: the retail operator is told what it can do instead.
    with pytest.raises(InvalidTransition) as refused:
        transition_for(Action.RESOLVE, Actor.RETAIL, S.IN_PROGRESS)

    assert refused.value.details is not None
    assert refused.value.details["currentStatus"] == "inProgress"
    assert refused.value.details["allowedActions"] == ["cancel", "update"]
