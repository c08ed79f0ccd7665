"""The network adapter: how a service test reaches the ONT.

An adapter is given the inventory record of a line and returns what the OLT and the ONT
report, normalised to one vendor-neutral reading. The simulator is the default; a real
adapter (SNMP, NETCONF, a vendor's northbound API) implements the same protocol.
"""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal, Protocol

from fiberassure.tmf.service_test import FailureCode
from fiberassure.wholesale.inventory.models import Service


class DownCause(StrEnum):
    """Why the ONT last went down, normalised across vendors (the vendor's code is kept)."""

    DYING_GASP = "DYING_GASP"  # the ONT lost power and said so
    LOS = "LOS"  # loss of signal: no light reaches the receiver
    LOF = "LOF"  # loss of frame: light, but no readable signal
    SFI = "SFI"  # signal fail: too many errors
    ONT_RESET = "ONT_RESET"
    UNKNOWN = "UNKNOWN"


@dataclass(frozen=True)
class Line:
    """What the adapter needs to find the ONT: the inventory record of the line."""

    service_id: str
    ont_serial_number: str
    ont_model: str | None
    olt_name: str
    pon_port: str


@dataclass(frozen=True)
class LanPort:
    name: str
    state: Literal["up", "down"]
    speed_mbps: int | None


@dataclass(frozen=True)
class OntReading:
    """Everything one test measures, in SI-ish units. `None` = the value could not be read
    (an ONT that is down reports no optical levels of its own)."""

    captured_at: datetime
    oper_state: Literal["up", "down"]
    ont_rx_dbm: float | None
    ont_tx_dbm: float | None
    olt_rx_dbm: float | None
    distance_m: int | None
    temperature_c: float | None
    voltage_v: float | None
    laser_bias_ma: float | None
    last_down_cause: DownCause | None
    vendor_down_code: str | None
    last_up_time: datetime | None
    last_down_time: datetime | None
    link_downs_24h: int
    lan_ports: tuple[LanPort, ...]
    # The OLT's view of the whole PON port: "down" when it hears no ONT at all.
    pon_port_state: Literal["up", "down"]
    pon_onts_total: int
    pon_onts_down: int


class AdapterError(Exception):
    """The test could not be carried out; `code` says why."""

    code: FailureCode = FailureCode.ADAPTER_ERROR

    def __init__(self, message: str, code: FailureCode | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class OltUnreachable(AdapterError):
    code = FailureCode.OLT_UNREACHABLE


class OntUnknown(AdapterError):
    code = FailureCode.ONT_UNKNOWN


class NetworkAdapter(Protocol):
    name: str

    async def read_ont(self, line: Line) -> OntReading:
        """Read the ONT of `line`. Raises AdapterError when the network cannot answer; the
        caller enforces the time limit."""
        ...


def line_of(service: Service) -> Line:
    return Line(
        service_id=service.id,
        ont_serial_number=service.ont_serial_number,
        ont_model=service.ont_model,
        olt_name=service.olt_name,
        pon_port=service.pon_port,
    )
