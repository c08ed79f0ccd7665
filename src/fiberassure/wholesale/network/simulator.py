"""A deterministic simulated GPON network (the default adapter).

Every ONT of the inventory exists on its OLT and PON port and answers with believable class
B+ values derived from its serial number, so the same line always reads the same. A line can
be given a fault (`LineCondition`): through the ops API (kept in `simulated_condition`, so
every process sees it), or for good by its service id (the sandbox lines,
`SANDBOX-<anything>-<CONDITION>`, e.g. `SANDBOX-A-FIBRE-CUT`). Resolving a ticket or
replacing the ONT heals what the ops API set (`heal`); a sandbox line keeps its condition.
"""

import asyncio
import hashlib
import random
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from fiberassure.wholesale.clock import Clock
from fiberassure.wholesale.db import Database
from fiberassure.wholesale.inventory.repository import ServiceRepository
from fiberassure.wholesale.network.adapter import (
    AdapterError,
    DownCause,
    LanPort,
    Line,
    OltUnreachable,
    OntReading,
    OntUnknown,
)
from fiberassure.wholesale.network.models import SimulatedCondition
from fiberassure.wholesale.network.repository import ConditionRepository


class LineCondition(StrEnum):
    HEALTHY = "healthy"
    POWER_OFF = "powerOff"  # the subscriber's ONT has no power (dying gasp)
    FIBRE_CUT = "fibreCut"  # drop fibre broken: loss of signal
    HIGH_LOSS = "highLoss"  # dirty connector or tight bend: low receive power
    FAILING_LASER = "failingLaser"  # ONT transmitter wearing out: low Tx, high bias
    FLAPPING = "flapping"  # the link keeps dropping and coming back
    ONT_FAULT = "ontFault"  # ONT hardware failing: overheating, bad supply, LAN dead
    PON_OUTAGE = "ponOutage"  # feeder fibre or OLT port: every ONT on the PON is down
    OLT_UNREACHABLE = "oltUnreachable"  # the adapter cannot reach the OLT
    ADAPTER_TIMEOUT = "adapterTimeout"  # the OLT never answers
    ONT_UNKNOWN = "ontUnknown"  # the OLT does not know the ONT serial number


# Where a condition lives: on the line, on the whole PON port, or on the OLT.
PON_CONDITIONS = frozenset({LineCondition.PON_OUTAGE})
OLT_CONDITIONS = frozenset({LineCondition.OLT_UNREACHABLE, LineCondition.ADAPTER_TIMEOUT})
SANDBOX_PREFIX = "SANDBOX-"
# Long enough for any sane adapter timeout to fire first.
NEVER_ANSWERS = timedelta(hours=1)


def kebab(condition: LineCondition) -> str:
    """FIBRE-CUT for fibreCut: how a sandbox service id names its condition."""
    return "".join(f"-{c}" if c.isupper() else c.upper() for c in condition.value)


SANDBOX_SUFFIXES = {kebab(condition): condition for condition in LineCondition}


def sandbox_condition(service_id: str) -> LineCondition | None:
    if not service_id.startswith(SANDBOX_PREFIX):
        return None
    for suffix, condition in SANDBOX_SUFFIXES.items():
        if service_id.endswith(f"-{suffix}"):
            return condition
    return None


def line_target(service_id: str) -> str:
    return f"line:{service_id}"


def pon_target(olt_name: str, pon_port: str) -> str:
    return f"pon:{olt_name}:{pon_port}"


def olt_target(olt_name: str) -> str:
    return f"olt:{olt_name}"


def target_for(line: Line, condition: LineCondition) -> str:
    if condition in PON_CONDITIONS:
        return pon_target(line.olt_name, line.pon_port)
    if condition in OLT_CONDITIONS:
        return olt_target(line.olt_name)
    return line_target(line.service_id)


def targets_of(line: Line) -> list[str]:
    """Every target whose condition affects `line`, most specific last."""
    return [
        olt_target(line.olt_name),
        pon_target(line.olt_name, line.pon_port),
        line_target(line.service_id),
    ]


@dataclass(frozen=True)
class EffectiveCondition:
    condition: LineCondition
    source: Literal["default", "sandbox", "line", "pon", "olt"]
    since: datetime | None
    note: str | None = None


async def effective_condition(session: AsyncSession, line: Line) -> EffectiveCondition:
    """The condition a test of `line` finds now."""
    return condition_of(line, await ConditionRepository(session).for_targets(targets_of(line)))


def condition_of(line: Line, found: Mapping[str, SimulatedCondition]) -> EffectiveCondition:
    """Of the conditions `found` (by target), the one `line` has. The OLT's condition wins
    (nothing behind an unreachable OLT can be read), then the PON's, then the line's own,
    then the sandbox id, else healthy."""
    for target in targets_of(line):
        row = found.get(target)
        if row is not None and row.condition != LineCondition.HEALTHY:
            source: Literal["line", "pon", "olt"] = target.split(":", 1)[0]  # type: ignore[assignment]
            return EffectiveCondition(LineCondition(row.condition), source, row.since, row.note)
    row = found.get(line_target(line.service_id))
    if row is not None:  # explicitly healthy overrides the sandbox id
        return EffectiveCondition(LineCondition.HEALTHY, "line", row.since, row.note)
    fixed = sandbox_condition(line.service_id)
    if fixed is not None:
        return EffectiveCondition(fixed, "sandbox", None)
    return EffectiveCondition(LineCondition.HEALTHY, "default", None)


async def set_condition(
    session: AsyncSession, line: Line, condition: LineCondition, now: datetime, note: str | None
) -> str:
    """Give `line` (or its PON or OLT, as the condition says) a fault. Returns the target."""
    if condition is LineCondition.HEALTHY:
        await heal(session, line)
    target = target_for(line, condition)
    await ConditionRepository(session).put(
        SimulatedCondition(target=target, condition=condition.value, since=now, note=note)
    )
    return target


async def heal(session: AsyncSession, line: Line) -> int:
    """Repair what the ops API broke on this line and its PON (called in the transaction
    that resolves the ticket or replaces the ONT). The OLT's condition is not the line's
    fault and stays."""
    targets = [line_target(line.service_id), pon_target(line.olt_name, line.pon_port)]
    return await ConditionRepository(session).remove(targets)


def _unit(serial: str, salt: str) -> float:
    """A stable number in [0, 1) for one property of one ONT."""
    digest = hashlib.sha256(f"{serial}:{salt}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _between(serial: str, salt: str, low: float, high: float) -> float:
    return low + (high - low) * _unit(serial, salt)


LAN_PORTS_BY_MODEL = {"Nokia G-2425G-A": 4}
SPEED_BY_MODEL = {"Nokia XS-010X-Q": 10000}


def _lan_ports(line: Line, all_down: bool) -> tuple[LanPort, ...]:
    count = LAN_PORTS_BY_MODEL.get(line.ont_model or "", 1)
    speed = SPEED_BY_MODEL.get(line.ont_model or "", 1000)
    ports = []
    for number in range(1, count + 1):
        # The subscriber's router is on LAN1; other ports are usually empty.
        up = number == 1 and not all_down
        ports.append(LanPort(f"LAN{number}", "up" if up else "down", speed if up else None))
    return tuple(ports)


# Where the simulated history of every ONT is counted from.
HISTORY_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def _last_moment(
    serial: str, salt: str, now: datetime, every: timedelta, ago: timedelta
) -> datetime:
    """The latest of a series of moments, one `every`, at a phase fixed by the serial, at
    least `ago` before now: tests an hour apart see the same moment."""
    offset = every * _unit(serial, f"{salt}phase")
    latest_allowed = now - ago
    moment = latest_allowed - (latest_allowed - HISTORY_EPOCH - offset) % every
    return moment.replace(microsecond=0)


def _last_power_cycle(serial: str, now: datetime) -> datetime:
    """A healthy ONT is power-cycled every few days to weeks, last more than 30 hours ago."""
    cycle = timedelta(hours=_between(serial, "lastdown", 30, 900))
    return _last_moment(serial, "cycle", now, cycle, timedelta(hours=30))


def simulate_reading(
    line: Line, condition: EffectiveCondition, now: datetime, pon_onts_total: int
) -> OntReading:
    """What the ONT of `line` reports under `condition`. Pure: same inputs, same reading."""
    serial = line.ont_serial_number
    now = now.replace(microsecond=0)  # an OLT reports whole seconds
    distance_m = round(_between(serial, "distance", 300, 18_000))
    km = distance_m / 1000
    # Downstream 1490 nm: OLT +3.5 dBm, 1:32 splitter 17.5 dB, connectors, 0.35 dB/km.
    ont_rx = round(3.5 - 17.5 - _between(serial, "connectors", 0.5, 2.0) - 0.35 * km, 2)
    ont_tx = round(_between(serial, "tx", 1.5, 3.5), 2)
    # Upstream 1310 nm: 0.5 dB/km.
    olt_rx = round(ont_tx - 17.5 - _between(serial, "upconnectors", 0.5, 2.0) - 0.5 * km, 2)
    temperature = round(_between(serial, "temperature", 38, 55), 1)
    voltage = round(_between(serial, "voltage", 3.25, 3.35), 2)
    bias = round(_between(serial, "bias", 8, 18), 1)
    last_down = _last_power_cycle(serial, now)
    last_up = last_down + timedelta(seconds=round(_between(serial, "boot", 70, 140)))
    # A sandbox fault has no start of its own: it started at a fixed time of day, 1-25 h ago.
    since = condition.since or _last_moment(
        serial, "fault", now, timedelta(days=1), timedelta(hours=1)
    )
    reading = OntReading(
        captured_at=now,
        oper_state="up",
        ont_rx_dbm=ont_rx,
        ont_tx_dbm=ont_tx,
        olt_rx_dbm=olt_rx,
        distance_m=distance_m,
        temperature_c=temperature,
        voltage_v=voltage,
        laser_bias_ma=bias,
        last_down_cause=DownCause.DYING_GASP,
        vendor_down_code="dying-gasp",
        last_up_time=last_up,
        last_down_time=last_down,
        link_downs_24h=0,
        lan_ports=_lan_ports(line, all_down=False),
        pon_port_state="up",
        pon_onts_total=pon_onts_total,
        pon_onts_down=0,
    )
    return _with_condition(reading, line, condition.condition, since)


def _down(
    reading: OntReading, line: Line, cause: DownCause, vendor_code: str, since: datetime
) -> OntReading:
    """An ONT the OLT cannot hear: no optical levels, no ONT-side values."""
    return _replace(
        reading,
        oper_state="down",
        ont_rx_dbm=None,
        ont_tx_dbm=None,
        olt_rx_dbm=None,
        temperature_c=None,
        voltage_v=None,
        laser_bias_ma=None,
        last_down_cause=cause,
        vendor_down_code=vendor_code,
        last_down_time=since,
        link_downs_24h=1,
        lan_ports=_lan_ports(line, all_down=True),
        pon_onts_down=1,
    )


def _replace(reading: OntReading, **changes: Any) -> OntReading:
    return replace(reading, **changes)


def _with_condition(
    reading: OntReading, line: Line, condition: LineCondition, since: datetime
) -> OntReading:
    serial = line.ont_serial_number
    now = reading.captured_at
    match condition:
        case LineCondition.HEALTHY:
            return reading
        case LineCondition.POWER_OFF:
            return _down(reading, line, DownCause.DYING_GASP, "dying-gasp", since)
        case LineCondition.FIBRE_CUT:
            return _down(reading, line, DownCause.LOS, "los", since)
        case LineCondition.PON_OUTAGE:
            down = _down(reading, line, DownCause.LOS, "los", since)
            total = max(reading.pon_onts_total, 1)
            return _replace(down, pon_port_state="down", pon_onts_down=total)
        case LineCondition.HIGH_LOSS:
            # At least 11.5 dB more: even the shortest line ends below class B+ (-27 dBm).
            extra = _between(serial, "extraloss", 11.5, 13.0)
            return _replace(
                reading,
                ont_rx_dbm=round(min(reading.ont_rx_dbm or 0, -16.0) - extra, 2),
                olt_rx_dbm=round(min(reading.olt_rx_dbm or 0, -17.0) - extra, 2),
                link_downs_24h=1,
            )
        case LineCondition.FAILING_LASER:
            tx = round(_between(serial, "weaktx", -2.5, -0.5), 2)
            return _replace(
                reading,
                ont_tx_dbm=tx,
                olt_rx_dbm=round((reading.olt_rx_dbm or 0) - ((reading.ont_tx_dbm or 0) - tx), 2),
                laser_bias_ma=round(_between(serial, "highbias", 55, 75), 1),
            )
        case LineCondition.FLAPPING:
            return _replace(
                reading,
                last_down_cause=DownCause.LOF,
                vendor_down_code="lofi",
                last_down_time=now - timedelta(minutes=7),
                last_up_time=now - timedelta(minutes=6),
                link_downs_24h=round(_between(serial, "flaps", 9, 30)),
            )
        case LineCondition.ONT_FAULT:
            return _replace(
                reading,
                temperature_c=round(_between(serial, "hot", 88, 96), 1),
                voltage_v=round(_between(serial, "lowvolt", 2.6, 2.85), 2),
                last_down_cause=DownCause.ONT_RESET,
                vendor_down_code="ont-self-reset",
                last_down_time=since,
                last_up_time=since + timedelta(seconds=95),
                link_downs_24h=4,
                lan_ports=_lan_ports(line, all_down=True),
            )
        case _:  # the failures raise before a reading exists
            raise AssertionError(f"{condition} has no reading")


# (the line's condition, how many ONTs share its PON port)
Situation = tuple[EffectiveCondition, int]
# Lookups per transaction: three targets each stay far below SQLite's parameter limit.
LOOKUP_BATCH = 500


@dataclass(frozen=True)
class Latency:
    low: timedelta
    high: timedelta


class SimulatedNetwork:
    """The `NetworkAdapter` of the simulated network."""

    name = "simulator"

    def __init__(
        self, database: Database, clock: Clock, latency: Latency, seed: int | None = None
    ) -> None:
        self.database = database
        self.clock = clock
        self.latency = latency
        self.random = random.Random(seed)
        self._pending: list[tuple[Line, asyncio.Future[Situation]]] | None = None
        self._lookups: set[asyncio.Task[None]] = set()

    async def _look_up(self, line: Line) -> Situation:
        """The line's condition and how many ONTs share its PON. The runner starts a batch
        of tests at once: their lookups are gathered into one transaction (two queries)
        instead of one each, which would queue a thousand tests on the connection pool."""
        if self._pending is None or len(self._pending) >= LOOKUP_BATCH:
            self._pending = []
            task = asyncio.create_task(self._look_up_pending(self._pending))
            self._lookups.add(task)
            task.add_done_callback(self._lookups.discard)
        answer: asyncio.Future[Situation] = asyncio.get_running_loop().create_future()
        self._pending.append((line, answer))
        return await answer

    async def _look_up_pending(self, pending: list[tuple[Line, asyncio.Future[Situation]]]) -> None:
        # Runs after every lookup already started this turn of the event loop has joined.
        if self._pending is pending:
            self._pending = None
        lines = [line for line, _ in pending]
        try:
            async with self.database.transaction() as session:
                found = await ConditionRepository(session).for_targets(
                    sorted({target for line in lines for target in targets_of(line)})
                )
                onts_on_pon = await ServiceRepository(session).count_on_pons(
                    {(line.olt_name, line.pon_port) for line in lines}
                )
        except Exception as error:
            for _, answer in pending:
                if not answer.done():
                    answer.set_exception(error)
            return
        for line, answer in pending:
            if not answer.done():  # a test whose adapter timeout fired no longer waits
                answer.set_result(
                    (condition_of(line, found), onts_on_pon.get((line.olt_name, line.pon_port), 0))
                )

    async def read_ont(self, line: Line) -> OntReading:
        condition, pon_onts_total = await self._look_up(line)
        delay = self.random.uniform(
            self.latency.low.total_seconds(), self.latency.high.total_seconds()
        )
        match condition.condition:
            case LineCondition.ADAPTER_TIMEOUT:
                await asyncio.sleep(NEVER_ANSWERS.total_seconds())
                raise AdapterError("the OLT did not answer")
            case LineCondition.OLT_UNREACHABLE:
                await asyncio.sleep(delay)
                raise OltUnreachable(f"{line.olt_name} does not answer on its management link")
            case LineCondition.ONT_UNKNOWN:
                await asyncio.sleep(delay)
                raise OntUnknown(
                    f"{line.olt_name} {line.pon_port} has no ONT {line.ont_serial_number}"
                )
        await asyncio.sleep(delay)
        return simulate_reading(line, condition, self.clock.now(), pon_onts_total)
