"""The diagram check: the seed's arrows, and a played diagram that differs is caught."""

from pathlib import Path

import pytest

from fiberassure.demo.seed import SEED_DIAGRAM
from fiberassure.demo.sequence import (
    RETAIL,
    WHOLESALE,
    Arrow,
    SequenceDiagram,
    arrows_of,
    compare,
    message_key,
)

SHARED_SEED = Path(__file__).resolve().parents[3] / "shared" / "seed" / "SEQUENCE.md"


def test_the_embedded_seed_is_the_shared_one() -> None:
    if not SHARED_SEED.exists():
        pytest.skip("../shared/seed/SEQUENCE.md is not beside this checkout")
    shared = SHARED_SEED.read_text()
    block = shared.split("```mermaid", 1)[1].split("```", 1)[0]
    assert arrows_of(block) == arrows_of(SEED_DIAGRAM)


def test_the_seed_has_28_arrows_starting_with_the_test_order() -> None:
    seed = arrows_of(SEED_DIAGRAM)

    assert len(seed) == 28
    assert seed[0].key() == ("OK", "NX", "POST /serviceTest")
    assert seed[-1].key() == ("OK", "NX", "200")


SAME = [
    (
        "POST ServiceTestAttributeValueChangeEvent (results)",
        "POST ServiceTestAttributeValueChangeNotification (results)",
    ),
    ("POST TroubleTicketResolvedEvent (Closed)", "POST troubleTicketResolvedEvent (Closed)"),
    (
        "PATCH /troubleTicket/5c1e2f3a… status=cancelled",
        "PATCH /troubleTicket/{id} status=cancelled",
    ),
    ("GET /troubleTicket?status=acknowledged", "GET /troubleTicket?criteria"),
    ("201 Created (acknowledged)", "201 Created"),
    (
        "GET /serviceTest/3f0c… · GET /serviceTest · GET /serviceTest/limits",
        "GET /serviceTest/{id} · GET /serviceTest · GET /serviceTest/limits",
    ),
]


@pytest.mark.parametrize(("ours", "theirs"), SAME)
def test_the_same_message_in_other_words_is_the_same_arrow(ours: str, theirs: str) -> None:
    assert message_key(ours) == message_key(theirs)


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        ("GET /serviceTest/limits", "GET /serviceTest/{id}"),
        ("200 OK", "201 Created"),
        ("POST TroubleTicketResolvedEvent (Resolved)", "POST troubleTicketStatusChangeEvent"),
        ("PATCH /troubleTicket/abc", "POST /troubleTicket"),
    ],
)
def test_a_different_message_is_a_different_arrow(ours: str, theirs: str) -> None:
    assert message_key(ours) != message_key(theirs)


def played_like_the_seed() -> SequenceDiagram:
    diagram = SequenceDiagram()
    for arrow in arrows_of(SEED_DIAGRAM):
        diagram.arrow(arrow.sender, arrow.receiver, arrow.label)
    return diagram


def test_a_diagram_with_the_seeds_arrows_matches() -> None:
    comparison = compare(played_like_the_seed().arrows(), arrows_of(SEED_DIAGRAM))

    assert comparison.same
    assert comparison.matched == 28


def test_a_missing_notification_is_caught() -> None:
    arrows = played_like_the_seed().arrows()
    del arrows[2:4]  # the test results notification and its answer

    comparison = compare(arrows, arrows_of(SEED_DIAGRAM))

    assert not comparison.same
    assert "26 arrows played, the seed has 28" in comparison.differences


def test_a_wrong_status_or_direction_is_caught() -> None:
    arrows = played_like_the_seed().arrows()
    arrows[1] = Arrow(WHOLESALE, RETAIL, "200 OK")  # 201 expected
    arrows[3] = Arrow(WHOLESALE, RETAIL, "200 OK")  # the listener answers, not the server

    comparison = compare(arrows, arrows_of(SEED_DIAGRAM))

    assert [d.split(":")[0] for d in comparison.differences] == ["arrow 2", "arrow 4"]


def test_blocks_and_notes_render_as_mermaid() -> None:
    diagram = SequenceDiagram()
    diagram.note("NOC: start")
    diagram.open("alt", "fault")
    diagram.arrow(RETAIL, WHOLESALE, "PATCH /troubleTicket/x; y #1")
    diagram.otherwise("no fault")
    diagram.close()

    assert diagram.mermaid().splitlines()[3:] == [
        "    Note over NX: NOC: start",
        "    alt fault",
        "        OK->>NX: PATCH /troubleTicket/x, y 1",
        "    else no fault",
        "    end",
    ]
