"""The simulated network as a retail operator and the NOC see it: every condition set through
the ops API reads as documented, sandbox lines keep their fixed faults, readings are
deterministic, and a repair on a ticket heals the line."""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import settings as examples
from hypothesis import strategies as st
from sqlalchemy import event

from fiberassure.wholesale.clock import SettableClock
from fiberassure.wholesale.db import Database
from fiberassure.wholesale.diagnostics.specifications import SPECIFICATIONS, diagnose, measures_for
from fiberassure.wholesale.inventory.repository import ServiceRepository
from fiberassure.wholesale.inventory.schemas import ServiceRecord
from fiberassure.wholesale.inventory.service import add_service
from fiberassure.wholesale.network.adapter import DownCause, Line, line_of
from fiberassure.wholesale.network.simulator import (
    EffectiveCondition,
    Latency,
    LineCondition,
    SimulatedNetwork,
    kebab,
    simulate_reading,
)
from fiberassure.wholesale.settings import Settings
from tests.service_tests import SERVICE_TESTS, SIMULATOR, order_test, run_all, set_condition
from tests.tickets import create_ticket, ops_action

# condition -> (outcome code, rating, faultTicketWarranted), as DESIGN §5 and the spec document.
OUTCOMES: dict[str, tuple[str, str, bool]] = {
    "healthy": ("NO_FAULT_FOUND", "green", False),
    "powerOff": ("CUSTOMER_POWER_OFF", "amber", False),
    "fibreCut": ("FIBRE_LOS", "red", True),
    "highLoss": ("LOW_OPTICAL_POWER", "amber", True),
    "failingLaser": ("ONT_LASER_DEGRADED", "red", True),
    "flapping": ("INTERMITTENT_LINK", "amber", True),
    "ontFault": ("ONT_FAULT", "red", True),
    "ponOutage": ("PON_OUTAGE", "red", False),
}
DOWN = {"powerOff", "fibreCut", "ponOutage"}
OPTICAL = ("ontRxPower", "ontTxPower", "oltRxPower")
NUMERIC = (
    "ontRxPower",
    "ontTxPower",
    "oltRxPower",
    "ontDistance",
    "ontTemperature",
    "ontSupplyVoltage",
    "laserBiasCurrent",
)
NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
WORLD_LINES = ["SRV-A0", "SRV-A1", "SRV-A2", "SRV-B0", "SRV-B1", "SRV-B2"]


# -- helpers ----------------------------------------------------------------------------------


async def result_of(
    http: httpx.AsyncClient,
    auth: dict[str, str],
    service_id: str,
    database: Database,
    app_settings: Settings,
    clock: SettableClock,
) -> dict[str, Any]:
    """Order a test of the line, let the runner carry it out, and read the result."""
    created = await order_test(http, auth, service_id)
    await run_all(database, app_settings, clock)
    response = await http.get(f"{SERVICE_TESTS}/{created['id']}", headers=auth)
    assert response.status_code == 200, response.text
    test: dict[str, Any] = response.json()
    return test


def measures(test: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["metricName"]: m for m in test["testMeasure"]}


def value(test: dict[str, Any], name: str) -> Any:
    return measures(test)[name]["value"]["value"]


def violated(test: dict[str, Any]) -> dict[str, set[str]]:
    """metric name -> names of the rules it breaks, for the measures that break one."""
    return {
        name: {v["name"] for v in m["ruleViolation"]}
        for name, m in measures(test).items()
        if m["ruleViolation"]
    }


def outside_rule(measured: Any, rule: dict[str, Any]) -> bool:
    if rule.get("conformanceTargetExact") is not None:
        return str(measured) != str(rule["conformanceTargetExact"])
    lower, upper = rule.get("conformanceTargetLower"), rule.get("conformanceTargetUpper")
    below = lower is not None and float(measured) < float(lower)
    above = upper is not None and float(measured) > float(upper)
    return below or above


def assert_violations_match_rules(test: dict[str, Any]) -> None:
    """A measure carries a ruleViolation exactly when its value is outside its own rule."""
    for name, m in measures(test).items():
        for rule in m["thresholdRule"]:
            expected = outside_rule(m["value"]["value"], rule)
            assert bool(m["ruleViolation"]) == expected, (name, m["value"]["value"], rule)


async def add_line(database: Database, service_id: str, serial: str, now: datetime) -> None:
    async with database.transaction() as session:
        await add_service(
            session,
            ServiceRecord(
                service_id=service_id,
                operator_id="op-a",
                ont_serial_number=serial,
                ont_model="Nokia G-010G-Q",
                olt_name="OLT-SANDBOX-01",
                pon_port="1/1/1/1",
            ),
            now,
        )


# -- every condition through the ops API -------------------------------------------------------


@pytest.mark.parametrize("condition", list(OUTCOMES))
async def test_each_condition_set_through_the_ops_api_reads_as_documented(
    http: httpx.AsyncClient,
    retail_a: dict[str, str],
    ops: dict[str, str],
    clean_database: Database,
    app_settings: Settings,
    clock: SettableClock,
    condition: str,
) -> None:
    shown = await set_condition(http, ops, "SRV-A0", condition)
    assert shown["condition"] == condition
    assert shown["source"] == {"healthy": "line", "ponOutage": "pon"}.get(condition, "line")

    test = await result_of(http, retail_a, "SRV-A0", clean_database, app_settings, clock)

    assert test["state"] == "completed"
    code, rating, warranted = OUTCOMES[condition]
    outcome = test["outcome"]
    assert (outcome["code"], outcome["rating"], outcome["faultTicketWarranted"]) == (
        code,
        rating,
        warranted,
    )
    assert outcome["diagnosis"]
    assert test["validFor"]["endDateTime"] > test["validFor"]["startDateTime"]
    assert_violations_match_rules(test)
    broken = violated(test)
    state = value(test, "ontOperationalState")
    if condition in DOWN:
        assert state == "down"
        assert broken["ontOperationalState"] == {"ontOperational"}
        # A dark ONT reports no optical levels of its own, and the OLT hears nothing from it.
        assert not set(OPTICAL) & set(measures(test))
        assert "ontTemperature" not in measures(test)
    else:
        assert state == "up"
        for name in OPTICAL:
            assert name in measures(test)
    match condition:
        case "healthy":
            assert broken == {}
            assert -27 <= value(test, "ontRxPower") <= -8
            assert 0.5 <= value(test, "ontTxPower") <= 5
            assert -28 <= value(test, "oltRxPower") <= -8
            assert 0 < value(test, "ontDistance") <= 20000
            assert value(test, "ponPortState") == "up"
        case "powerOff":
            assert value(test, "lastDownCause") == {
                "cause": "DYING_GASP",
                "vendorCode": "dying-gasp",
            }
            assert broken == {"ontOperationalState": {"ontOperational"}}
        case "fibreCut":
            assert value(test, "lastDownCause") == {"cause": "LOS", "vendorCode": "los"}
            assert value(test, "ponPortState") == "up"
            assert broken == {"ontOperationalState": {"ontOperational"}}
        case "highLoss":
            assert value(test, "ontRxPower") < -27
            assert "ontRxPowerClassBPlus" in broken["ontRxPower"]
            assert "ontTxPower" not in broken
        case "failingLaser":
            assert value(test, "ontTxPower") < 0.5
            assert value(test, "laserBiasCurrent") > 40
            assert broken["ontTxPower"] == {"ontTxPowerClassBPlus"}
            assert broken["laserBiasCurrent"] == {"laserBias"}
            assert "ontRxPower" not in broken
        case "flapping":
            assert value(test, "linkDownCount24h") > 3
            assert broken == {"linkDownCount24h": {"linkStability"}}
            assert value(test, "lastDownCause")["cause"] == "LOF"
        case "ontFault":
            assert value(test, "ontTemperature") > 80 or value(test, "ontSupplyVoltage") < 3.0
            assert {"ontTemperature", "ontSupplyVoltage"} & set(broken)
            assert "ontRxPower" not in broken
            assert all(port["state"] == "down" for port in value(test, "lanPortState"))
        case "ponOutage":
            assert value(test, "ponPortState") == "down"
            assert broken["ponPortState"] == {"ponOperational"}


async def test_a_pon_outage_takes_down_every_line_on_the_pon_of_every_operator(
    http: httpx.AsyncClient,
    retail_a: dict[str, str],
    retail_b: dict[str, str],
    ops: dict[str, str],
    clean_database: Database,
    app_settings: Settings,
    clock: SettableClock,
) -> None:
    # SRV-A0 and SRV-B0 share PON 1/1/1/1 of OLT-TEST-01; SRV-A1 is on 1/1/1/2.
    await set_condition(http, ops, "SRV-A0", "ponOutage")

    neighbour = await http.get(f"{SIMULATOR}/SRV-B0", headers=ops)
    assert (neighbour.json()["condition"], neighbour.json()["source"]) == ("ponOutage", "pon")
    a0 = await result_of(http, retail_a, "SRV-A0", clean_database, app_settings, clock)
    b0 = await result_of(http, retail_b, "SRV-B0", clean_database, app_settings, clock)
    a1 = await result_of(http, retail_a, "SRV-A1", clean_database, app_settings, clock)

    assert a0["outcome"]["code"] == b0["outcome"]["code"] == "PON_OUTAGE"
    assert "2 of 2 lines" in b0["outcome"]["diagnosis"]
    assert a1["outcome"]["code"] == "NO_FAULT_FOUND"


async def test_clearing_a_line_through_the_ops_api_makes_it_healthy_again(
    http: httpx.AsyncClient,
    retail_a: dict[str, str],
    ops: dict[str, str],
    clean_database: Database,
    app_settings: Settings,
    clock: SettableClock,
) -> None:
    await set_condition(http, ops, "SRV-A0", "fibreCut")
    await set_condition(http, ops, "SRV-A0", "oltUnreachable")

    cleared = await http.delete(f"{SIMULATOR}/SRV-A0", headers=ops)

    assert cleared.status_code == 204
    shown = (await http.get(f"{SIMULATOR}/SRV-A0", headers=ops)).json()
    assert (shown["condition"], shown["source"]) == ("healthy", "default")
    test = await result_of(http, retail_a, "SRV-A0", clean_database, app_settings, clock)
    assert test["outcome"]["code"] == "NO_FAULT_FOUND"


async def test_the_simulator_ops_api_needs_the_ops_scope(
    http: httpx.AsyncClient, retail_a: dict[str, str], ops: dict[str, str]
) -> None:
    refused = await http.put(
        f"{SIMULATOR}/SRV-A0", json={"condition": "fibreCut"}, headers=retail_a
    )
    missing = await http.put(
        f"{SIMULATOR}/NO-SUCH-LINE", json={"condition": "fibreCut"}, headers=ops
    )
    unknown = await http.put(f"{SIMULATOR}/SRV-A0", json={"condition": "onFire"}, headers=ops)

    assert refused.status_code == 403
    assert missing.status_code == 404
    assert unknown.status_code == 400
    shown = (await http.get(f"{SIMULATOR}/SRV-A0", headers=ops)).json()
    assert shown["condition"] == "healthy"


# -- sandbox lines ----------------------------------------------------------------------------


async def test_sandbox_ids_give_their_fixed_condition(
    http: httpx.AsyncClient,
    retail_a: dict[str, str],
    ops: dict[str, str],
    clean_database: Database,
    app_settings: Settings,
    clock: SettableClock,
) -> None:
    ids = {}
    for number, condition in enumerate(OUTCOMES):
        service_id = f"SANDBOX-A-{kebab(LineCondition(condition))}"
        await add_line(clean_database, service_id, f"SBOX{number:08X}", clock.now())
        ids[condition] = service_id
    assert ids["fibreCut"] == "SANDBOX-A-FIBRE-CUT"
    tests = {condition: await order_test(http, retail_a, sid) for condition, sid in ids.items()}

    await run_all(clean_database, app_settings, clock)

    for condition, created in tests.items():
        test = (await http.get(f"{SERVICE_TESTS}/{created['id']}", headers=retail_a)).json()
        assert test["state"] == "completed", condition
        assert test["outcome"]["code"] == OUTCOMES[condition][0], condition
    shown = (await http.get(f"{SIMULATOR}/SANDBOX-A-FIBRE-CUT", headers=ops)).json()
    assert (shown["condition"], shown["source"]) == ("fibreCut", "sandbox")


# -- determinism ------------------------------------------------------------------------------


async def test_the_same_line_always_reads_the_same_values(
    http: httpx.AsyncClient,
    retail_a: dict[str, str],
    clean_database: Database,
    app_settings: Settings,
    clock: SettableClock,
) -> None:
    first = await result_of(http, retail_a, "SRV-A0", clean_database, app_settings, clock)
    clock.advance(timedelta(minutes=10))
    second = await result_of(http, retail_a, "SRV-A0", clean_database, app_settings, clock)
    other = await result_of(http, retail_a, "SRV-A1", clean_database, app_settings, clock)

    assert [value(first, n) for n in NUMERIC] == [value(second, n) for n in NUMERIC]
    # The ONT did not reboot in between: its last down and up stay where they were.
    assert value(first, "lastUpTime") == value(second, "lastUpTime")
    assert value(first, "lastDownTime") == value(second, "lastDownTime")
    assert first["outcome"]["diagnosis"] == second["outcome"]["diagnosis"]
    # Derived from the ONT, not one value for every line.
    assert [value(first, n) for n in NUMERIC] != [value(other, n) for n in NUMERIC]


async def test_tests_started_together_share_one_lookup_and_each_reads_its_own_line(
    http: httpx.AsyncClient,
    ops: dict[str, str],
    clean_database: Database,
    clock: SettableClock,
) -> None:
    """The runner starts a batch of tests at once; the simulator looks their lines up in one
    transaction, not one each, and every test still gets its own line's condition."""
    await set_condition(http, ops, "SRV-A1", "fibreCut")
    await set_condition(http, ops, "SRV-B2", "ponOutage")  # the PON 1/1/1/3 of SRV-A2 too
    async with clean_database.transaction() as session:
        lines = {
            line.id: line_of(line)
            for line in (await ServiceRepository(session).get_many(WORLD_LINES)).values()
        }
    network = SimulatedNetwork(clean_database, clock, Latency(timedelta(0), timedelta(0)))
    transactions: list[object] = []

    def began(connection: object) -> None:
        transactions.append(connection)

    event.listen(clean_database.engine.sync_engine, "begin", began)
    try:
        readings = await asyncio.gather(*(network.read_ont(lines[id_]) for id_ in WORLD_LINES))
    finally:
        event.remove(clean_database.engine.sync_engine, "begin", began)

    assert len(transactions) == 1
    read = dict(zip(WORLD_LINES, readings, strict=True))
    assert read["SRV-A1"].last_down_cause is DownCause.LOS
    assert read["SRV-A1"].pon_port_state == "up"
    for on_the_dark_pon in ("SRV-A2", "SRV-B2"):
        assert read[on_the_dark_pon].pon_port_state == "down"
    for healthy in ("SRV-A0", "SRV-B0", "SRV-B1"):
        assert read[healthy].oper_state == "up"
        assert read[healthy].pon_port_state == "up"
    # Each PON port of the test network has one line of each operator.
    assert {reading.pon_onts_total for reading in readings} == {2}

    # The next batch looks again: a repair between two batches is seen by the second.
    await set_condition(http, ops, "SRV-A1", "healthy")
    again = await network.read_ont(lines["SRV-A1"])
    assert again.oper_state == "up"


serials = st.from_regex(r"[A-Z]{4}[0-9A-F]{8}", fullmatch=True)


def line_with(serial: str) -> Line:
    return Line("SRV-PROPERTY", serial, "Nokia G-010G-Q", "OLT-PROPERTY-01", "1/1/1/1")


@examples(max_examples=300, deadline=None)
@given(serial=serials)
def test_every_healthy_ont_reads_within_class_b_plus_and_has_no_fault(serial: str) -> None:
    line = line_with(serial)
    condition = EffectiveCondition(LineCondition.HEALTHY, "default", None)

    reading = simulate_reading(line, condition, NOW, pon_onts_total=16)

    assert reading.oper_state == "up"
    assert reading.ont_rx_dbm is not None
    assert -27 <= reading.ont_rx_dbm <= -8
    assert reading.ont_tx_dbm is not None
    assert 0.5 <= reading.ont_tx_dbm <= 5
    assert reading.olt_rx_dbm is not None
    assert -28 <= reading.olt_rx_dbm <= -8
    assert reading.distance_m is not None
    assert 0 < reading.distance_m <= 20000
    assert reading.last_up_time is not None
    assert reading.last_down_time is not None
    assert reading.last_down_time < reading.last_up_time <= NOW - timedelta(hours=24)
    assert reading.link_downs_24h == 0
    assert reading == simulate_reading(line, condition, NOW, pon_onts_total=16)
    assert diagnose(reading, line.olt_name, line.pon_port).code == "NO_FAULT_FOUND"
    measured = measures_for(SPECIFICATIONS["ontStatus"], reading)
    assert [m.metric_name for m in measured if m.rule_violation] == []


@pytest.mark.parametrize("condition", [c for c in OUTCOMES if c != "healthy"])
@examples(max_examples=100, deadline=None)
@given(serial=serials)
def test_every_ont_with_a_fault_is_diagnosed_with_its_code(condition: str, serial: str) -> None:
    line = line_with(serial)

    reading = simulate_reading(
        line, EffectiveCondition(LineCondition(condition), "line", NOW), NOW, pon_onts_total=16
    )

    outcome = diagnose(reading, line.olt_name, line.pon_port)
    assert (outcome.code, outcome.rating, outcome.fault_ticket_warranted) == OUTCOMES[condition]


# -- healing ----------------------------------------------------------------------------------


async def test_resolving_a_ticket_heals_the_fibre_cut(
    http: httpx.AsyncClient,
    retail_a: dict[str, str],
    ops: dict[str, str],
    clean_database: Database,
    app_settings: Settings,
    clock: SettableClock,
) -> None:
    await set_condition(http, ops, "SRV-A0", "fibreCut")
    before = await result_of(http, retail_a, "SRV-A0", clean_database, app_settings, clock)
    assert before["outcome"]["code"] == "FIBRE_LOS"
    ticket = await create_ticket(http, retail_a, "SRV-A0")

    started = await ops_action(http, ops, ticket["id"], "start")
    assert started.status_code == 200, started.text
    # Work started is not a repair.
    during = await result_of(http, retail_a, "SRV-A0", clean_database, app_settings, clock)
    assert during["outcome"]["code"] == "FIBRE_LOS"
    resolved = await ops_action(
        http, ops, ticket["id"], "resolve", {"resolutionCode": "fibreSpliced"}
    )
    assert resolved.status_code == 200, resolved.text

    after = await result_of(http, retail_a, "SRV-A0", clean_database, app_settings, clock)
    assert after["outcome"]["code"] == "NO_FAULT_FOUND"
    assert after["outcome"]["faultTicketWarranted"] is False


async def test_replacing_the_ont_heals_the_ont_fault(
    http: httpx.AsyncClient,
    retail_a: dict[str, str],
    ops: dict[str, str],
    clean_database: Database,
    app_settings: Settings,
    clock: SettableClock,
) -> None:
    await set_condition(http, ops, "SRV-A1", "ontFault")
    ticket = await create_ticket(http, retail_a, "SRV-A1")
    assert (await ops_action(http, ops, ticket["id"], "start")).status_code == 200

    replaced = await ops_action(
        http, ops, ticket["id"], "replaceOnt", {"newSerialNumber": "ALCL12345678"}
    )

    assert replaced.status_code == 200, replaced.text
    after = await result_of(http, retail_a, "SRV-A1", clean_database, app_settings, clock)
    assert after["outcome"]["code"] == "NO_FAULT_FOUND"
    shown = (await http.get(f"{SIMULATOR}/SRV-A1", headers=ops)).json()
    assert (shown["ontSerialNumber"], shown["condition"]) == ("ALCL12345678", "healthy")


async def test_a_sandbox_line_keeps_its_fault_after_a_repair(
    http: httpx.AsyncClient,
    retail_a: dict[str, str],
    ops: dict[str, str],
    clean_database: Database,
    app_settings: Settings,
    clock: SettableClock,
) -> None:
    await add_line(clean_database, "SANDBOX-A-FIBRE-CUT", "SBOX00000001", clock.now())
    ticket = await create_ticket(http, retail_a, "SANDBOX-A-FIBRE-CUT")
    assert (await ops_action(http, ops, ticket["id"], "start")).status_code == 200

    resolved = await ops_action(http, ops, ticket["id"], "resolve")

    assert resolved.status_code == 200, resolved.text
    after = await result_of(
        http, retail_a, "SANDBOX-A-FIBRE-CUT", clean_database, app_settings, clock
    )
    assert after["outcome"]["code"] == "FIBRE_LOS"
