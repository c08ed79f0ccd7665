"""What a service test measures, the threshold of each measure, and what the readings mean.

One table of measure definitions serves three readers: `GET /serviceTestSpecification`
(documentation), the result's `testMeasure[]` (violations are computed from the same
thresholds) and the diagnosis (`outcome`). Thresholds are GPON class B+ (ITU-T G.984.2).
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fiberassure.tmf import service_test as tmf
from fiberassure.tmf.service_test import OutcomeCode, Rating
from fiberassure.wholesale.network.adapter import DownCause, OntReading

SPECIFICATIONS_UPDATED = datetime.fromisoformat("2026-11-28T00:00:00+00:00")


@dataclass(frozen=True)
class Threshold:
    name: str
    description: str
    severity: str  # critical | major | minor
    lower: float | None = None
    upper: float | None = None
    exact: str | None = None

    def violated_by(self, value: Any) -> bool:
        if value is None:
            return False  # not readable: the diagnosis says why, not the threshold
        if self.exact is not None:
            return str(value) != self.exact
        if self.lower is not None and value < self.lower:
            return True
        return self.upper is not None and value > self.upper

    def as_rule(self) -> tmf.ThresholdRule:
        return tmf.ThresholdRule(**self._fields())

    def as_violation(self) -> tmf.ThresholdRuleViolation:
        return tmf.ThresholdRuleViolation(**self._fields())

    def _fields(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "threshold_rule_severity": self.severity,
            "conformance_comparator_lower": ">=" if self.lower is not None else None,
            "conformance_target_lower": _number(self.lower),
            "conformance_comparator_upper": "<=" if self.upper is not None else None,
            "conformance_target_upper": _number(self.upper),
            "conformance_target_exact": self.exact,
        }


def _number(value: float | None) -> str | None:
    return None if value is None else f"{value:g}"


@dataclass(frozen=True)
class MeasureDefinition:
    metric_name: str
    description: str
    unit: str | None
    value_type: str  # number | integer | string | dateTime | object | array
    capture_method: str  # where the value comes from: OLT, OMCI (the ONT itself)
    read: Callable[[OntReading], Any]
    threshold: Threshold | None = None

    def measure(self, reading: OntReading) -> tmf.TestMeasure | None:
        value = self.read(reading)
        if value is None:
            return None  # an ONT that is down cannot report it; the outcome explains
        if isinstance(value, datetime):
            value = value.isoformat().replace("+00:00", "Z")
        threshold = self.threshold
        return tmf.TestMeasure(
            metric_name=self.metric_name,
            metric_description=self.description,
            unit_of_measure=self.unit,
            capture_date_time=reading.captured_at,
            capture_method=self.capture_method,
            value=tmf.Characteristic(
                name=self.metric_name, value_type=self.value_type, value=value
            ),
            threshold_rule=[threshold.as_rule()] if threshold else [],
            rule_violation=(
                [threshold.as_violation()] if threshold and threshold.violated_by(value) else []
            ),
        )

    def definition(self) -> tmf.TestMeasureDefinition:
        return tmf.TestMeasureDefinition(
            name=self.metric_name,
            metric_name=self.metric_name,
            metric_description=self.description,
            unit_of_measure=self.unit,
            value_type=self.value_type,
            capture_method=self.capture_method,
            threshold_rule=[self.threshold.as_rule()] if self.threshold else [],
        )


ONT_RX = Threshold(
    "ontRxPowerClassBPlus", "ONT receive power within GPON class B+ (-27 to -8 dBm)", "major",
    lower=-27, upper=-8,
)  # fmt: skip
ONT_TX = Threshold(
    "ontTxPowerClassBPlus", "ONT transmit power within GPON class B+ (+0.5 to +5 dBm)", "major",
    lower=0.5, upper=5,
)  # fmt: skip
OLT_RX = Threshold(
    "oltRxPowerClassBPlus", "OLT receive power within GPON class B+ (-28 to -8 dBm)", "major",
    lower=-28, upper=-8,
)  # fmt: skip
REACH = Threshold("gponReach", "Fibre distance within the 20 km GPON reach", "major", upper=20000)
TEMPERATURE = Threshold(
    "ontTemperature", "ONT optics temperature within -10 to +80 °C", "major", lower=-10, upper=80
)
VOLTAGE = Threshold(
    "ontSupplyVoltage", "ONT optics supply voltage within 3.0 to 3.6 V", "major",
    lower=3.0, upper=3.6,
)  # fmt: skip
BIAS = Threshold("laserBias", "ONT laser bias current at most 40 mA", "minor", upper=40)
OPER_STATE = Threshold("ontOperational", "The ONT is up on its PON", "critical", exact="up")
PON_STATE = Threshold(
    "ponOperational", "The OLT hears ONTs on the PON port", "critical", exact="up"
)
LINK_DOWNS = Threshold(
    "linkStability", "At most 3 link drops in the last 24 hours", "minor", upper=3
)

MEASURES = {
    m.metric_name: m
    for m in (
        MeasureDefinition(
            "ontOperationalState", "Operational state of the ONT as the OLT sees it", None,
            "string", "OLT", lambda r: r.oper_state, OPER_STATE,
        ),
        MeasureDefinition(
            "ontRxPower", "Optical power received by the ONT (downstream, 1490 nm)", "dBm",
            "number", "OMCI", lambda r: r.ont_rx_dbm, ONT_RX,
        ),
        MeasureDefinition(
            "ontTxPower", "Optical power transmitted by the ONT (upstream, 1310 nm)", "dBm",
            "number", "OMCI", lambda r: r.ont_tx_dbm, ONT_TX,
        ),
        MeasureDefinition(
            "oltRxPower", "Optical power the OLT receives from this ONT", "dBm",
            "number", "OLT", lambda r: r.olt_rx_dbm, OLT_RX,
        ),
        MeasureDefinition(
            "ontDistance", "Fibre distance from the OLT, from the ranging delay", "m",
            "integer", "OLT", lambda r: r.distance_m, REACH,
        ),
        MeasureDefinition(
            "ontTemperature", "Temperature of the ONT's optical module", "Cel",
            "number", "OMCI", lambda r: r.temperature_c, TEMPERATURE,
        ),
        MeasureDefinition(
            "ontSupplyVoltage", "Supply voltage of the ONT's optical module", "V",
            "number", "OMCI", lambda r: r.voltage_v, VOLTAGE,
        ),
        MeasureDefinition(
            "laserBiasCurrent", "Bias current of the ONT's laser (rises as it wears out)", "mA",
            "number", "OMCI", lambda r: r.laser_bias_ma, BIAS,
        ),
        MeasureDefinition(
            "lastDownCause",
            "Why the ONT last went down: normalised cause (DYING_GASP, LOS, LOF, SFI, "
            "ONT_RESET, UNKNOWN) and the vendor's own code",
            None, "object", "OLT",
            lambda r: (
                {"cause": r.last_down_cause.value, "vendorCode": r.vendor_down_code}
                if r.last_down_cause else None
            ),
        ),
        MeasureDefinition(
            "lastDownTime", "When the ONT last went down", None, "dateTime", "OLT",
            lambda r: r.last_down_time,
        ),
        MeasureDefinition(
            "lastUpTime", "When the ONT last came up", None, "dateTime", "OLT",
            lambda r: r.last_up_time,
        ),
        MeasureDefinition(
            "linkDownCount24h", "How many times the ONT dropped off the PON in the last 24 h",
            None, "integer", "OLT", lambda r: r.link_downs_24h, LINK_DOWNS,
        ),
        MeasureDefinition(
            "lanPortState", "State and speed of each Ethernet port of the ONT", None,
            "array", "OMCI",
            lambda r: [
                {"port": p.name, "state": p.state, "speedMbps": p.speed_mbps}
                for p in r.lan_ports
            ],
        ),
        MeasureDefinition(
            "ponPortState",
            "State of the OLT's PON port: down when it hears none of its ONTs", None,
            "string", "OLT", lambda r: r.pon_port_state, PON_STATE,
        ),
    )
}  # fmt: skip


@dataclass(frozen=True)
class Specification:
    id: str
    name: str
    description: str
    version: str
    measures: tuple[str, ...]


SPECIFICATIONS = {
    spec.id: spec
    for spec in (
        Specification(
            "ontStatus",
            "ONT status",
            "Full status of the subscriber's ONT: operational state, optical levels at both "
            "ends, distance, optics health, last down cause and times, link stability, LAN "
            "ports and the PON port, with a diagnosis.",
            "1.0",
            tuple(MEASURES),
        ),
        Specification(
            "opticalLevels",
            "Optical levels",
            "The optical path only: ONT state, receive and transmit power at the ONT, receive "
            "power at the OLT and the fibre distance, with a diagnosis.",
            "1.0",
            ("ontOperationalState", "ontRxPower", "ontTxPower", "oltRxPower", "ontDistance"),
        ),
    )
}


def measures_for(spec: Specification, reading: OntReading) -> list[tmf.TestMeasure]:
    measured = (MEASURES[name].measure(reading) for name in spec.measures)
    return [m for m in measured if m is not None]


def _time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "an unknown time"


def diagnose(reading: OntReading, olt_name: str, pon_port: str) -> tmf.Outcome:
    """What the reading means for the retail operator: the first rule that applies wins,
    most severe and most certain first."""

    def outcome(rating: Rating, code: OutcomeCode, diagnosis: str, warranted: bool) -> tmf.Outcome:
        return tmf.Outcome(
            rating=rating, code=code, diagnosis=diagnosis, fault_ticket_warranted=warranted
        )

    if reading.oper_state == "down":
        if reading.pon_port_state == "down":
            return outcome(
                Rating.RED,
                OutcomeCode.PON_OUTAGE,
                f"Every ONT on PON port {olt_name} {pon_port} is down "
                f"({reading.pon_onts_down} of {reading.pon_onts_total} lines) since "
                f"{_time(reading.last_down_time)}: an outage of the wholesale network, "
                "already visible to the wholesaler's NOC. No individual fault ticket is "
                "needed; the service returns when the outage is repaired.",
                False,
            )
        if reading.last_down_cause is DownCause.DYING_GASP:
            return outcome(
                Rating.AMBER,
                OutcomeCode.CUSTOMER_POWER_OFF,
                f"The ONT sent a dying gasp at {_time(reading.last_down_time)}: it lost "
                "power at the subscriber's premises. Ask the subscriber to check the ONT's "
                "power supply and socket. A fault ticket is warranted only if the ONT stays "
                "dark with power restored.",
                False,
            )
        if reading.last_down_cause is DownCause.LOS:
            return outcome(
                Rating.RED,
                OutcomeCode.FIBRE_LOS,
                f"No light reaches the ONT (loss of signal since "
                f"{_time(reading.last_down_time)}) while the PON port is up: the drop fibre "
                "or the connector at the premises is broken. Raise a fault ticket; a "
                "technician visit is needed.",
                True,
            )
        return outcome(
            Rating.RED,
            OutcomeCode.ONT_FAULT,
            f"The ONT is down (last cause {reading.last_down_cause or 'unknown'}, vendor code "
            f"{reading.vendor_down_code or 'none'}) with light on the fibre: the ONT is "
            "faulty. Raise a fault ticket; the ONT needs replacing.",
            True,
        )
    if TEMPERATURE.violated_by(reading.temperature_c) or VOLTAGE.violated_by(reading.voltage_v):
        return outcome(
            Rating.RED,
            OutcomeCode.ONT_FAULT,
            f"The ONT's optics run at {reading.temperature_c} °C on {reading.voltage_v} V "
            "(limits 80 °C, 3.0 to 3.6 V) and it reset itself at "
            f"{_time(reading.last_down_time)}: its hardware is failing. Raise a fault "
            "ticket; the ONT needs replacing.",
            True,
        )
    if ONT_TX.violated_by(reading.ont_tx_dbm) or BIAS.violated_by(reading.laser_bias_ma):
        return outcome(
            Rating.RED,
            OutcomeCode.ONT_LASER_DEGRADED,
            f"The ONT transmits {reading.ont_tx_dbm} dBm (minimum +0.5 dBm) with a laser bias "
            f"of {reading.laser_bias_ma} mA (maximum 40 mA): its laser is wearing out and "
            "the service will fail. Raise a fault ticket; the ONT needs replacing.",
            True,
        )
    if ONT_RX.violated_by(reading.ont_rx_dbm) or OLT_RX.violated_by(reading.olt_rx_dbm):
        return outcome(
            Rating.AMBER,
            OutcomeCode.LOW_OPTICAL_POWER,
            f"The ONT receives {reading.ont_rx_dbm} dBm (class B+ minimum -27 dBm) and the "
            f"OLT receives {reading.olt_rx_dbm} dBm (minimum -28 dBm): too much loss on the "
            "fibre path, typically a dirty connector or a tight bend. The service may drop "
            "out; raise a fault ticket.",
            True,
        )
    if LINK_DOWNS.violated_by(reading.link_downs_24h):
        return outcome(
            Rating.AMBER,
            OutcomeCode.INTERMITTENT_LINK,
            f"The ONT is up now but dropped off the PON {reading.link_downs_24h} times in the "
            f"last 24 hours (last at {_time(reading.last_down_time)}, cause "
            f"{reading.last_down_cause}): an intermittent fault on the fibre path. Raise a "
            "fault ticket and say when the subscriber noticed the drops.",
            True,
        )
    lan = ", ".join(
        f"{p.name} {p.state}" + (f" at {p.speed_mbps} Mbit/s" if p.speed_mbps else "")
        for p in reading.lan_ports
    )
    return outcome(
        Rating.GREEN,
        OutcomeCode.NO_FAULT_FOUND,
        f"The ONT is up since {_time(reading.last_up_time)} with optical levels within class "
        f"B+ (ONT receives {reading.ont_rx_dbm} dBm, OLT receives {reading.olt_rx_dbm} dBm, "
        f"{reading.distance_m} m of fibre); {lan}. No fault on the wholesale network: check "
        "the subscriber's router and in-home wiring.",
        False,
    )
