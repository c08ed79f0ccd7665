"""Base classes for TMF wire models: camelCase on the wire, snake_case in Python."""

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, field_validator
from pydantic.alias_generators import to_camel


def _require_timezone(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("a time zone is required (e.g. 2026-11-28T09:00:00Z)")
    # Stored and sent back in UTC, so the first response matches every later read.
    try:
        return value.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        raise ValueError("the date-time is out of range") from None


AwareDatetime = Annotated[datetime, AfterValidator(_require_timezone)]


class TMFModel(BaseModel):
    """A resource or sub-resource as the server sends it."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    def to_wire(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class TMFInput(BaseModel):
    """A request body: unknown attributes are refused so a typo is not silently ignored."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", str_strip_whitespace=True
    )

    @field_validator("*", mode="after")
    @classmethod
    def _refuse_nul(cls, value: Any) -> Any:
        # PostgreSQL text cannot hold NUL: refuse it on every database alike.
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("must not contain the NUL character")
        return value
