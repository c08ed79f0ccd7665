"""TMF630 query conventions: attribute selection (`fields`), paging and filter operators."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

from fiberassure.tmf.errors import InvalidQuery

E = TypeVar("E", bound=StrEnum)

PAGING_PARAMETERS = frozenset({"offset", "limit", "fields", "sort"})
ALWAYS_SELECTED = ("id", "href", "@type")


def select_fields(resource: dict[str, Any], fields: list[str] | None) -> dict[str, Any]:
    """Keep only the requested top-level attributes (plus id, href and @type)."""
    if not fields:
        return resource
    keep = set(fields) | set(ALWAYS_SELECTED)
    return {key: value for key, value in resource.items() if key in keep}


def parse_fields(raw: str | None, known: Iterable[str]) -> list[str] | None:
    if raw is None or raw.strip() == "":
        return None
    names = [name.strip() for name in raw.split(",") if name.strip()]
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise InvalidQuery(f"fields: unknown attribute(s) {', '.join(unknown)}")
    return names


@dataclass(frozen=True)
class Page:
    offset: int
    limit: int


def parse_page(params: Mapping[str, str], default_limit: int, max_limit: int) -> Page:
    def number(name: str, default: int) -> int:
        raw = params.get(name)
        if raw is None:
            return default
        if not raw.isdigit():
            raise InvalidQuery(f"{name} must be a non-negative whole number")
        return int(raw)

    offset, limit = number("offset", 0), number("limit", default_limit)
    if limit < 1 or limit > max_limit:
        raise InvalidQuery(f"limit must be between 1 and {max_limit}")
    if offset > 10_000_000:
        raise InvalidQuery("offset is too large")
    return Page(offset=offset, limit=limit)


def parse_enum_list(raw: str, enum: type[E], name: str) -> list[E]:
    """A comma list of enum values, e.g. `status=acknowledged,inProgress`."""
    values = [part.strip() for part in raw.split(",") if part.strip()]
    if not values:
        raise InvalidQuery(f"{name} is empty")
    try:
        return [enum(value) for value in values]
    except ValueError:
        allowed = ", ".join(member.value for member in enum)
        raise InvalidQuery(f"{name}: unknown value in {raw!r}; allowed: {allowed}") from None


def parse_datetime(raw: str, name: str) -> datetime:
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00").replace(" ", "+"))
    except ValueError:
        raise InvalidQuery(
            f"{name} must be an ISO-8601 date-time, e.g. 2026-11-28T09:00:00Z"
        ) from None
    if value.tzinfo is None:
        raise InvalidQuery(f"{name} needs a time zone, e.g. 2026-11-28T09:00:00Z")
    try:
        return value.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        raise InvalidQuery(f"{name} is out of range") from None


def refuse_unknown_parameters(params: Mapping[str, str], known: Iterable[str]) -> None:
    """A misspelt filter must not silently return everything."""
    unknown = sorted(set(params) - set(known) - PAGING_PARAMETERS)
    if unknown:
        raise InvalidQuery(
            f"unknown query parameter(s): {', '.join(unknown)}",
            details={"supported": sorted(set(known) | PAGING_PARAMETERS)},
        )


def parse_sort(raw: str | None, allowed: Iterable[str], default: str) -> tuple[str, bool]:
    """`sort=lastUpdate` ascending, `sort=-lastUpdate` descending. Returns (name, descending)."""
    value = (raw or default).strip()
    descending = value.startswith("-")
    name = value.lstrip("-+")
    if name not in set(allowed):
        raise InvalidQuery(f"sort: one of {', '.join(sorted(allowed))}, optionally with '-'")
    return name, descending
