"""The message sequence the demo records, drawn as a Mermaid sequence diagram, and compared
with the seed's diagram arrow for arrow.

Two arrows are the same when they go the same way and carry the same message: a request's
method and resource path (ids are ids), a response's status code, a notification's event
name (the seed's `ServiceTestAttributeValueChangeNotification` is TMF's
`ServiceTestAttributeValueChangeEvent`).
"""

import re
from dataclasses import dataclass, field

from fiberassure.tmf.service_test import SEED_RESULT_NOTIFICATION, ServiceTestEventType

RETAIL, WHOLESALE = "OK", "NX"
PARTICIPANTS = (
    "    participant OK as OK (retail operator)",
    "    participant NX as NEXERA (wholesale)",
)
ARROW = re.compile(r"^\s*(\w+)(-->>|->>)(\w+):\s*(.+?)\s*$")
RESOURCES = ("serviceTest", "troubleTicket")


@dataclass(frozen=True)
class Arrow:
    sender: str
    receiver: str
    label: str

    @property
    def dashed(self) -> bool:
        """A response (the seed draws answers dashed)."""
        return self.label[:3].isdigit()

    def key(self) -> tuple[str, str, str]:
        return (self.sender, self.receiver, message_key(self.label))

    def mermaid(self) -> str:
        return f"{self.sender}{'-->>' if self.dashed else '->>'}{self.receiver}: {self.label}"


def message_key(label: str) -> str:
    """What an arrow says, without ids, query strings, and explanations in brackets."""
    if label[:3].isdigit():
        return label[:3]
    parts = []
    for request in label.split(" · "):
        method, _, rest = request.strip().partition(" ")
        target = rest.split(" ", 1)[0].split("?", 1)[0]
        if target.startswith("/"):
            segments = target.strip("/").split("/")
            for index, segment in enumerate(segments[:-1]):
                following = segments[index + 1]
                if segment in RESOURCES and following != "limits":
                    segments[index + 1] = "{id}"
            target = "/" + "/".join(segments)
        else:
            target = target[:1].lower() + target[1:]
            if target.lower() == SEED_RESULT_NOTIFICATION.lower():
                target = ServiceTestEventType.ATTRIBUTE_VALUE_CHANGE.value
            target = target[:1].lower() + target[1:]
        parts.append(f"{method} {target}")
    return " · ".join(parts)


def arrows_of(mermaid: str) -> list[Arrow]:
    found = []
    for line in mermaid.splitlines():
        match = ARROW.match(line)
        if match:
            sender, _, receiver, label = match.groups()
            found.append(Arrow(sender, receiver, label))
    return found


@dataclass
class SequenceDiagram:
    """Built while the demo plays: arrows, notes, and opt/alt blocks, in order."""

    lines: list[str] = field(default_factory=list)
    depth: int = 1

    def arrow(self, sender: str, receiver: str, label: str) -> Arrow:
        arrow = Arrow(sender, receiver, _safe(label))
        self.lines.append("    " * self.depth + arrow.mermaid())
        return arrow

    def note(self, text: str) -> None:
        self.lines.append("    " * self.depth + f"Note over {WHOLESALE}: {_safe(text)}")

    def note_retail(self, text: str) -> None:
        self.lines.append("    " * self.depth + f"Note over {RETAIL}: {_safe(text)}")

    def open(self, kind: str, label: str) -> None:
        self.lines.append("    " * self.depth + f"{kind} {label}")
        self.depth += 1

    def otherwise(self, label: str) -> None:
        self.lines.append("    " * (self.depth - 1) + f"else {label}")

    def close(self) -> None:
        self.depth -= 1
        self.lines.append("    " * self.depth + "end")

    def mermaid(self) -> str:
        return "\n".join(["sequenceDiagram", *PARTICIPANTS, *self.lines]) + "\n"

    def arrows(self) -> list[Arrow]:
        return arrows_of(self.mermaid())


def _safe(text: str) -> str:
    # ';' and '#' end or escape a Mermaid message.
    return text.replace(";", ",").replace("#", "")


@dataclass(frozen=True)
class Comparison:
    matched: int
    differences: list[str]

    @property
    def same(self) -> bool:
        return not self.differences


def compare(played: list[Arrow], seed: list[Arrow]) -> Comparison:
    """Arrow for arrow: the same number of arrows, each the same way with the same message."""
    differences = []
    for number, (ours, theirs) in enumerate(zip(played, seed, strict=False), start=1):
        if ours.key() != theirs.key():
            differences.append(
                f"arrow {number}: played {ours.mermaid()!r}, the seed has {theirs.mermaid()!r}"
            )
    if len(played) != len(seed):
        differences.append(f"{len(played)} arrows played, the seed has {len(seed)}")
    matched = sum(
        1 for ours, theirs in zip(played, seed, strict=False) if ours.key() == theirs.key()
    )
    return Comparison(matched, differences)
