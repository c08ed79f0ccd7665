"""Base classes for TMF wire models: camelCase on the wire, snake_case in Python."""

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


def _require_timezone(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("a time zone is required (e.g. 2026-11-28T09:00:00Z)")
    return value


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
