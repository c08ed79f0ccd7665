"""The hub `query`: which events a hub receives.

Written like a URL query string:
`eventType=TroubleTicketResolvedEvent,TroubleTicketStatusChangeEvent` selects event types;
`event.troubleTicket.status=resolved,closed` selects on an attribute of the resource in the
event. Every condition must hold; a comma list means any of its values.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from fiberassure.tmf.errors import InvalidRequest


@dataclass(frozen=True)
class EventFilter:
    event_types: frozenset[str]  # lower-case; empty = every type
    attributes: tuple[tuple[tuple[str, ...], frozenset[str]], ...]  # (path, allowed values)

    def matches(self, event_type: str, envelope: Mapping[str, Any]) -> bool:
        if self.event_types and event_type.lower() not in self.event_types:
            return False
        for path, allowed in self.attributes:
            value: Any = envelope
            for part in path:
                value = value.get(part) if isinstance(value, Mapping) else None
            if value is None or str(value) not in allowed:
                return False
        return True


def parse_query(query: str | None, resource_type: str) -> EventFilter:
    """Parse and validate a hub query; InvalidRequest names what is wrong."""
    if query is None or not query.strip():
        return EventFilter(frozenset(), ())
    if len(query) > 1000:
        raise InvalidRequest("query is longer than 1000 characters")
    event_types: set[str] = set()
    attributes: list[tuple[tuple[str, ...], frozenset[str]]] = []
    try:
        pairs = parse_qsl(query.strip().lstrip("?"), keep_blank_values=True, strict_parsing=True)
    except ValueError:
        raise InvalidRequest(
            "query must look like eventType=A,B&event.troubleTicket.status=x"
        ) from None
    for key, raw in pairs:
        values = frozenset(v.strip() for v in raw.split(",") if v.strip())
        if not values:
            raise InvalidRequest(f"query: {key} has no value")
        if key == "eventType":
            event_types |= {v.lower() for v in values}
            continue
        path = tuple(key.split("."))
        if len(path) < 3 or path[0] != "event" or path[1] != resource_type or "" in path:
            raise InvalidRequest(
                f"query: unknown condition {key!r}; "
                f"use eventType or event.{resource_type}.<attribute>"
            )
        attributes.append((path, values))
    return EventFilter(frozenset(event_types), tuple(attributes))
