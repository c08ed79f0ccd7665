import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from fiberassure.tmf.trouble_ticket import SlaClass

# Nokia ONTs report a vendor id (ALCL) and 8 hex digits; other vendors follow the same form.
ONT_SERIAL_PATTERN = re.compile(r"^[A-Z]{4}[0-9A-F]{8}$")


class ServiceRecord(BaseModel):
    """One access line, as the CLI adds it or a CSV row describes it."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    service_id: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[\x21-\x7e]+$")]
    operator_id: Annotated[str, Field(min_length=1, max_length=64)]
    ont_serial_number: str
    ont_model: Annotated[str, Field(max_length=100)] | None = None
    olt_name: Annotated[str, Field(min_length=1, max_length=100)]
    pon_port: Annotated[str, Field(pattern=r"^\d+(/\d+){1,4}$")]
    address: Annotated[str, Field(max_length=300)] | None = None
    city: Annotated[str, Field(max_length=100)] | None = None
    postal_code: Annotated[str, Field(max_length=16)] | None = None
    sla_class: SlaClass = SlaClass.STANDARD

    @field_validator("ont_serial_number")
    @classmethod
    def _serial(cls, value: str) -> str:
        value = value.upper()
        if not ONT_SERIAL_PATTERN.match(value):
            raise ValueError(
                "an ONT serial number is 4 letters and 8 hex digits, e.g. ALCLB2C3D4E5"
            )
        return value

    @field_validator("ont_model", "address", "city", "postal_code", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("sla_class", mode="before")
    @classmethod
    def _empty_is_standard(cls, value: object) -> object:
        return SlaClass.STANDARD if value in ("", None) else value
