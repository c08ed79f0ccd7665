"""`fiberassure retail …` as support staff use it, against a real `wholesale serve --demo`.

One server per module (its own SQLite file, zero simulator latency); each test uses lines of
its own so the tests do not depend on each other's tickets.
"""

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner, Result

from fiberassure.cli import app as cli
from fiberassure.retail.client import RetailClient
from fiberassure.retail.config import ConfigError, load_config
from fiberassure.tmf.service_test import ServiceTest
from fiberassure.tmf.trouble_ticket import TroubleTicket
from tests.tickets import OPS_TICKETS
from tests.wholesale.test_serve import bearer, environment, free_port, serving

pytestmark = pytest.mark.slow

CLIENT_ID, CLIENT_SECRET = "demo-retail-a", "demo-retail-a-secret"
OPS_ID, OPS_SECRET = "demo-ops", "demo-ops-secret"
FAST = ["--poll-interval", "0.1"]


@dataclass(frozen=True)
class Server:
    url: str
    home: Path  # XDG_CONFIG_HOME for the CLI: no user's real config file is read

    def env(self, **overrides: str | None) -> dict[str, str | None]:
        """The CLI's environment: credentials for retail A, nothing else of fiberassure."""
        env: dict[str, str | None] = {
            "FIBERASSURE_RETAIL_URL": self.url,
            "FIBERASSURE_RETAIL_CLIENT_ID": CLIENT_ID,
            "FIBERASSURE_RETAIL_CLIENT_SECRET": CLIENT_SECRET,
            "FIBERASSURE_RETAIL_WHOLESALE_URL": None,
            "FIBERASSURE_RETAIL_CONFIG": None,
            "XDG_CONFIG_HOME": str(self.home),
        }
        env.update(overrides)
        return env


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    cwd = tmp_path_factory.mktemp("wholesale")
    env = environment(simulator_latency_min="0", simulator_latency_max="0")
    with serving("serve", ["--demo"], cwd, env) as (_process, url):
        yield Server(url, tmp_path_factory.mktemp("config-home"))


def retail(server: Server, *args: str, env: dict[str, str | None] | None = None) -> Result:
    return CliRunner().invoke(cli, ["retail", *args], env=env or server.env())


def ok(result: Result) -> str:
    assert result.exit_code == 0, f"exit {result.exit_code}\n{result.output}"
    return result.stdout


def row(output: str, first_cell: str) -> list[str]:
    """The cells of the table row that starts with `first_cell` (cells split on 2+ spaces)."""
    for line in output.splitlines():
        if line.split("  ")[0] == first_cell:
            return [cell.strip() for cell in line.split("  ") if cell.strip()]
    raise AssertionError(f"no row {first_cell!r} in:\n{output}")


def create_ticket(server: Server, service: str, *extra: str) -> TroubleTicket:
    result = retail(
        server,
        "ticket",
        "create",
        "--service",
        service,
        "--description",
        "No internet since this morning; the LOS light is red.",
        "--severity",
        "critical",
        "--type",
        "noService",
        "--contact-name",
        "Jan Kowalski",
        "--contact-phone",
        "+48 600 100 200",
        *extra,
        "--json",
    )
    return TroubleTicket.model_validate_json(ok(result))


def ops(server: Server, ticket_id: str, *actions: str) -> None:
    """The NOC moves the ticket (start, resolve, …) through the ops API."""
    with httpx.Client(base_url=server.url, timeout=10) as api:
        auth = bearer(api, OPS_ID, OPS_SECRET)
        for action in actions:
            response = api.post(f"{OPS_TICKETS}/{ticket_id}/{action}", json={}, headers=auth)
            assert response.status_code == 200, response.text


# -- service tests ------------------------------------------------------------------------------


def test_run_wait_on_a_cut_fibre_prints_a_red_outcome_and_the_broken_measure(
    server: Server,
) -> None:
    output = ok(retail(server, "test", "run", "SANDBOX-A-FIBRE-CUT", "--wait", *FAST))

    assert row(output, "State") == ["State", "completed"]
    assert row(output, "Rating") == ["Rating", "RED"]
    assert row(output, "Code") == ["Code", "FIBRE_LOS"]
    assert row(output, "Fault ticket") == ["Fault ticket", "warranted"]
    assert "No light reaches the ONT" in output
    assert row(output, "Metric") == ["Metric", "Value", "Unit", "Threshold", "Check"]
    assert row(output, "ontOperationalState") == [
        "ontOperationalState",
        "down",
        "= up",
        "VIOLATION (critical)",
    ]
    assert row(output, "lastDownCause") == ["lastDownCause", "LOS (los)"]


def test_run_wait_on_a_healthy_line_finds_no_fault_and_no_violation(server: Server) -> None:
    output = ok(retail(server, "test", "run", "SANDBOX-A-HEALTHY", "--wait", *FAST))

    assert row(output, "Rating") == ["Rating", "GREEN"]
    assert row(output, "Code") == ["Code", "NO_FAULT_FOUND"]
    assert row(output, "Fault ticket") == ["Fault ticket", "not warranted"]
    assert "VIOLATION" not in output
    rx = row(output, "ontRxPower")
    assert rx[2:] == ["dBm", ">= -27 and <= -8", "ok"]
    assert -27 <= float(rx[1]) <= -8


def test_run_wait_json_prints_the_tmf_service_test(server: Server) -> None:
    result = retail(server, "test", "run", "SANDBOX-A-FIBRE-CUT", "--wait", "--json", *FAST)

    wire = json.loads(ok(result))
    assert wire["state"] == "completed"
    assert wire["relatedService"]["id"] == "SANDBOX-A-FIBRE-CUT"
    assert wire["outcome"]["code"] == "FIBRE_LOS"
    assert wire["outcome"]["faultTicketWarranted"] is True
    violated = [m["metricName"] for m in wire["testMeasure"] if m["ruleViolation"]]
    assert violated == ["ontOperationalState"]
    assert ServiceTest.model_validate(wire).id == wire["id"]


def test_run_without_wait_returns_at_once_and_show_gives_the_result_later(
    server: Server,
) -> None:
    ordered = json.loads(ok(retail(server, "test", "run", "SANDBOX-A-POWER-OFF", "--json")))
    assert ordered["state"] in ("acknowledged", "inProgress", "completed")

    deadline = time.monotonic() + 10
    while True:
        shown = json.loads(ok(retail(server, "test", "show", ordered["id"], "--json")))
        if shown["state"] == "completed" or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert shown["outcome"]["code"] == "CUSTOMER_POWER_OFF"
    table = ok(retail(server, "test", "show", ordered["id"]))
    assert row(table, "Test") == ["Test", ordered["id"]]
    assert row(table, "Code") == ["Code", "CUSTOMER_POWER_OFF"]


def test_a_test_that_could_not_be_carried_out_shows_why_and_the_refund(server: Server) -> None:
    output = ok(retail(server, "test", "run", "SANDBOX-A-OLT-UNREACHABLE", "--wait", *FAST))

    assert row(output, "State") == ["State", "failed"]
    assert row(output, "Failed") == ["Failed", "OLT_UNREACHABLE"]
    assert row(output, "Quota refunded") == ["Quota refunded", "yes"]
    assert "Metric" not in output


def test_list_shows_a_lines_test_history_newest_first(server: Server) -> None:
    first = json.loads(
        ok(retail(server, "test", "run", "SANDBOX-A-HIGH-LOSS", "--wait", "--json", *FAST))
    )
    second = json.loads(
        ok(retail(server, "test", "run", "SANDBOX-A-HIGH-LOSS", "--wait", "--json", *FAST))
    )

    listed = json.loads(
        ok(retail(server, "test", "list", "--service", "SANDBOX-A-HIGH-LOSS", "--json"))
    )
    assert [t["id"] for t in listed] == [second["id"], first["id"]]
    output = ok(retail(server, "test", "list", "--service", "SANDBOX-A-HIGH-LOSS", "--limit", "1"))
    cells = row(output, second["id"])
    assert cells[1:4] == ["SANDBOX-A-HIGH-LOSS", "ontStatus", "completed"]
    assert cells[-2:] == ["amber", "LOW_OPTICAL_POWER"]
    assert "1 of 2 tests shown" in output


def test_limits_show_the_daily_quota_and_the_lines_hourly_quota(server: Server) -> None:
    ok(retail(server, "test", "run", "SANDBOX-A-FLAPPING", "--wait", *FAST))
    ok(retail(server, "test", "run", "SANDBOX-A-ONT-FAULT", "--wait", *FAST))

    output = ok(retail(server, "test", "limits", "--service", "SANDBOX-A-FLAPPING"))
    daily = row(output, "perOperatorPerDay")
    assert daily[1:3] == ["(all lines)", "1000"]
    assert int(daily[3]) + int(daily[4]) == 1000
    hourly = row(output, "perServicePerHour")
    assert hourly[1:6] == ["SANDBOX-A-FLAPPING", "10", "1", "9", "PT1H"]
    assert "SANDBOX-A-ONT-FAULT" not in output  # another line's quota is left out

    quotas = json.loads(ok(retail(server, "test", "limits", "--json")))
    lines = {q["relatedService"]["id"] for q in quotas if "relatedService" in q}
    assert {"SANDBOX-A-FLAPPING", "SANDBOX-A-ONT-FAULT"} <= lines
    assert all(q["remaining"] == q["limit"] - q["used"] for q in quotas)


def test_an_unknown_line_is_refused_with_the_tmf_error(server: Server) -> None:
    result = retail(server, "test", "run", "SRV-NO-SUCH-LINE")

    assert result.exit_code == 1
    assert result.stdout == ""
    assert "error: " in result.stderr
    assert "(HTTP 4" in result.stderr


# -- trouble tickets ----------------------------------------------------------------------------


def test_a_ticket_is_created_listed_noted_shown_and_cancelled(server: Server) -> None:
    test = json.loads(
        ok(retail(server, "test", "run", "SANDBOX-A-FAILING-LASER", "--wait", "--json", *FAST))
    )
    created = create_ticket(
        server,
        "SANDBOX-A-FAILING-LASER",
        "--test",
        test["id"],
        "--external-id",
        "OK-CLI-1",
        "--visit-from",
        "2030-01-07T09:00+01:00",
        "--visit-to",
        "2030-01-07T13:00+01:00",
    )
    assert created.status == "acknowledged"
    assert created.external_id == "OK-CLI-1"
    assert created.visit_window is not None
    assert created.visit_window.start_date_time.isoformat() == "2030-01-07T08:00:00+00:00"

    listed = ok(retail(server, "ticket", "list", "--status", "acknowledged"))
    cells = row(listed, created.id)
    assert cells[1:6] == [
        "OK-CLI-1",
        "SANDBOX-A-FAILING-LASER",
        "acknowledged",
        "critical",
        "noService",
    ]

    ok(
        retail(
            server,
            "ticket",
            "note",
            created.id,
            "The subscriber is home after 17:00.",
            "--author",
            "anna",
        )
    )
    ok(retail(server, "ticket", "cancel", created.id, "--reason", "fixed by the subscriber"))

    shown = ok(retail(server, "ticket", "show", created.id))
    assert row(shown, "Status") == ["Status", "cancelled (fixed by the subscriber)"]
    assert row(shown, "Prior test") == ["Prior test", test["id"]]
    assert row(shown, "Visit window") == [
        "Visit window",
        "2030-01-07 08:00:00 UTC to 2030-01-07 12:00:00 UTC",
    ]
    assert "Notes (1)" in shown
    assert "anna:" in shown
    assert "The subscriber is home after 17:00." in shown
    history = shown.split("Status history\n", 1)[1]
    assert [row(history, "When")[1], *[line.split()[3] for line in history.splitlines()[2:]]] == [
        "Status",
        "acknowledged",
        "cancelled",
    ]
    cancelled = json.loads(ok(retail(server, "ticket", "list", "--status", "cancelled", "--json")))
    assert created.id in [t["id"] for t in cancelled]


def test_reopening_a_cancelled_ticket_is_refused_with_invalid_transition(server: Server) -> None:
    ticket = create_ticket(server, "SRV-000011")
    ok(retail(server, "ticket", "cancel", ticket.id))

    result = retail(server, "ticket", "reopen", ticket.id, "--reason", "still broken")

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("error: INVALID_TRANSITION: ")
    assert "cancelled" in result.stderr
    assert "(HTTP 409)" in result.stderr


def test_a_resolved_ticket_is_reopened_then_accepted(server: Server) -> None:
    ticket = create_ticket(server, "SRV-000012")
    ops(server, ticket.id, "start", "resolve")

    reopened = json.loads(
        ok(retail(server, "ticket", "reopen", ticket.id, "--reason", "still no light", "--json"))
    )
    assert (reopened["status"], reopened["statusChangeReason"]) == ("inProgress", "still no light")
    ops(server, ticket.id, "resolve")
    output = ok(retail(server, "ticket", "accept", ticket.id))

    assert output.startswith(f"Ticket {ticket.id} closed.")
    assert row(output, "Status")[1].startswith("closed")


def test_update_changes_the_contact_phone_and_keeps_the_name(server: Server) -> None:
    ticket = create_ticket(server, "SRV-000013")

    output = ok(retail(server, "ticket", "update", ticket.id, "--contact-phone", "+48 600 999 999"))

    assert row(output, "Contact") == ["Contact", "Jan Kowalski, +48 600 999 999"]
    nothing = retail(server, "ticket", "update", ticket.id)
    assert nothing.exit_code == 2
    assert "nothing to change" in nothing.stderr
    ok(retail(server, "ticket", "cancel", ticket.id))


def test_a_bad_phone_number_is_a_usage_error_and_creates_nothing(server: Server) -> None:
    result = retail(
        server,
        "ticket",
        "create",
        "--service",
        "SRV-000014",
        "--description",
        "x",
        "--severity",
        "minor",
        "--type",
        "other",
        "--contact-name",
        "Jan",
        "--contact-phone",
        "call me",
    )

    assert result.exit_code == 2
    assert "invalid ticket" in result.stderr
    assert "subscriberContact.phoneNumber" in result.stderr
    listed = json.loads(ok(retail(server, "ticket", "list", "--service", "SRV-000014", "--json")))
    assert listed == []


def test_an_unknown_ticket_is_not_found(server: Server) -> None:
    result = retail(server, "ticket", "show", "no-such-ticket")

    assert result.exit_code == 1
    assert result.stderr.startswith("error: NOT_FOUND: ")


# -- events tail --------------------------------------------------------------------------------


def test_tail_once_prints_one_line_per_change_since_a_time(server: Server) -> None:
    ticket = create_ticket(server, "SRV-000015")
    ok(retail(server, "ticket", "note", ticket.id, "Gate code 1234."))
    ok(retail(server, "ticket", "cancel", ticket.id, "--reason", "duplicate"))

    output = ok(retail(server, "events", "tail", "--since", "5m", "--once"))

    mine = [line for line in output.splitlines() if ticket.id in line]
    assert [line.split("(SRV-000015) ", 1)[1] for line in mine] == [
        "created: critical noService",
        "note from retail-a: Gate code 1234.",
        "acknowledged -> cancelled (duplicate)",
    ]
    events = [
        json.loads(line)
        for line in ok(
            retail(server, "events", "tail", "--since", "5m", "--once", "--json")
        ).splitlines()
    ]
    types = [
        e["eventType"] for e in events if e["event"].get("troubleTicket", {}).get("id") == ticket.id
    ]
    assert types == [
        "TroubleTicketCreateEvent",
        "TroubleTicketAttributeValueChangeEvent",
        "TroubleTicketStatusChangeEvent",
    ]


def test_tail_follows_a_test_ordered_while_it_runs(server: Server) -> None:
    ordered: list[str] = []

    def order_a_test() -> None:
        time.sleep(0.8)
        with RetailClient(server.url, CLIENT_ID, CLIENT_SECRET) as client:
            ordered.append(client.run_test("SANDBOX-A-PON-OUTAGE").id)

    worker = threading.Thread(target=order_a_test)
    worker.start()
    try:
        result = retail(server, "events", "tail", "--interval", "0.3", "--duration", "3")
    finally:
        worker.join()

    output = ok(result)
    lines = [line for line in output.splitlines() if ordered and ordered[0] in line]
    assert [line.split("(SANDBOX-A-PON-OUTAGE) ", 1)[1] for line in lines] == [
        "ordered: ontStatus",
        "completed: RED PON_OUTAGE (no ticket)",
    ]


# -- configuration ------------------------------------------------------------------------------


def test_credentials_missing_everywhere_is_a_usage_error_naming_the_ways_to_give_them(
    server: Server,
) -> None:
    env = server.env(FIBERASSURE_RETAIL_CLIENT_ID=None, FIBERASSURE_RETAIL_CLIENT_SECRET=None)

    result = retail(server, "ticket", "list", env=env)

    assert result.exit_code == 2
    assert result.stdout == ""
    assert "missing client_id, client_secret" in result.stderr
    assert "FIBERASSURE_RETAIL_CLIENT_SECRET" in result.stderr
    assert "--client-secret" in result.stderr
    assert str(server.home / "fiberassure" / "retail.toml") in result.stderr


def test_a_config_file_alone_is_enough(server: Server, tmp_path: Path) -> None:
    config = tmp_path / "retail.toml"
    config.write_text(
        f'url = "{server.url}"\nclient_id = "{CLIENT_ID}"\nclient_secret = "{CLIENT_SECRET}"\n'
    )
    config.chmod(0o600)
    env = server.env(
        FIBERASSURE_RETAIL_URL=None,
        FIBERASSURE_RETAIL_CLIENT_ID=None,
        FIBERASSURE_RETAIL_CLIENT_SECRET=None,
    )

    result = retail(server, "--config", str(config), "test", "limits", env=env)

    ok(result)
    assert result.stderr == ""  # no warning: the file is private


def test_flags_win_over_environment_which_wins_over_the_file(
    server: Server, tmp_path: Path
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    (server.home / "fiberassure").mkdir(exist_ok=True)
    default_file = server.home / "fiberassure" / "retail.toml"
    default_file.write_text(
        f'url = "{dead}"\nclient_id = "{CLIENT_ID}"\nclient_secret = "{CLIENT_SECRET}"\n'
    )
    default_file.chmod(0o600)
    try:
        # The file: a dead URL, the right secret (client_id comes from it alone).
        # The environment: the live URL, a wrong secret. A flag: the right secret again.
        env = server.env(
            FIBERASSURE_RETAIL_CLIENT_ID=None, FIBERASSURE_RETAIL_CLIENT_SECRET="env-secret"
        )
        env_over_file = retail(server, "ticket", "list", env=env)
        flag_over_env = retail(server, "--client-secret", CLIENT_SECRET, "ticket", "list", env=env)
    finally:
        default_file.unlink()

    # The live URL was used (no "cannot reach"), with the environment's wrong secret.
    assert env_over_file.exit_code == 1
    assert "invalid_client" in env_over_file.stderr
    assert f"client id (from {default_file})" in env_over_file.stderr
    assert "secret (from FIBERASSURE_RETAIL_CLIENT_SECRET)" in env_over_file.stderr
    ok(flag_over_env)


def test_load_config_reports_where_each_value_came_from(tmp_path: Path) -> None:
    config = tmp_path / "retail.toml"
    config.write_text('url = "http://file"\nclient_id = "file-id"\nclient_secret = "file-secret"\n')
    config.chmod(0o644)
    env = {
        "FIBERASSURE_RETAIL_CLIENT_ID": "env-id",
        "FIBERASSURE_RETAIL_CLIENT_SECRET": "env-secret",
    }

    loaded, warnings = load_config(client_secret="flag-secret", config_path=config, environ=env)

    assert (loaded.url, loaded.client_id, loaded.client_secret) == (
        "http://file",
        "env-id",
        "flag-secret",
    )
    assert loaded.source_of("url") == str(config)
    assert loaded.source_of("client_id") == "FIBERASSURE_RETAIL_CLIENT_ID"
    assert loaded.source_of("client_secret") == "--client-secret"
    assert warnings == [
        f"warning: {config} holds a client secret and other users can read it (chmod 600 {config})"
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('url = "http://x"\nclient_secrt = "typo"\n', "unknown key(s)"),
        ("url = \n", "not valid TOML"),
        ('url = "ftp://x"\nclient_id = "a"\nclient_secret = "b"\n', "must start with http"),
    ],
)
def test_a_broken_config_file_is_refused_with_the_reason(
    tmp_path: Path, content: str, message: str
) -> None:
    config = tmp_path / "retail.toml"
    config.write_text(content)

    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_config(config_path=config, environ={})


def test_a_named_config_file_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(config_path=tmp_path / "nope.toml", environ={})


def test_unreachable_server_exits_1_with_the_url(server: Server) -> None:
    dead = f"http://127.0.0.1:{free_port()}"

    result = retail(server, "--url", dead, "ticket", "list")

    assert result.exit_code == 1
    assert f"cannot reach the wholesale API at {dead}" in result.stderr


def test_listen_is_a_retail_command_and_refuses_the_cli_connection_flags() -> None:
    shown = CliRunner().invoke(cli, ["retail", "listen", "--help"])
    refused = CliRunner().invoke(cli, ["retail", "--url", "http://127.0.0.1:1", "listen"])

    assert shown.exit_code == 0
    assert "--register" in shown.stdout
    assert refused.exit_code == 2
    assert "listen takes its own options" in refused.stderr
