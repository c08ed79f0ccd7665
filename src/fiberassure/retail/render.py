"""Plain-text rendering of tickets, tests and quotas for `fiberassure retail …`.

Every function returns a string (no colours, no terminal control) so the output reads the
same in a terminal, a log and a helpdesk ticket it is pasted into. Times are shown in UTC,
as the wholesaler's diagnoses are written.
"""

import textwrap
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from fiberassure.tmf.service_test import Quota, ServiceTest, TestMeasure, ThresholdRule
from fiberassure.tmf.trouble_ticket import RelatedEntityRole, TroubleTicket

NONE = "-"
WIDTH = 100


def when(value: datetime | None) -> str:
    if value is None:
        return NONE
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """Columns padded to their widest cell, a dashed rule under the headers."""
    body = [[cell.replace("\n", " ") for cell in row] for row in rows]
    widths = [len(header) for header in headers]
    for row in body:
        widths = [max(width, len(cell)) for width, cell in zip(widths, row, strict=True)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True))

    lines = [line(headers), line(["-" * width for width in widths])]
    lines += [line(row) for row in body]
    return "\n".join(text.rstrip() for text in lines)


def fields(pairs: Iterable[tuple[str, str | None]]) -> str:
    """`Label   value` lines with the values aligned; long values wrap under themselves.
    Pairs whose value is None are left out."""
    shown = [(label, value) for label, value in pairs if value is not None]
    if not shown:
        return ""
    indent = max(len(label) for label, _ in shown) + 2
    lines = []
    for label, value in shown:
        wrapped = textwrap.wrap(value, WIDTH - indent) or [""]
        lines.append(label.ljust(indent) + wrapped[0])
        lines += [" " * indent + more for more in wrapped[1:]]
    return "\n".join(lines)


def yes_no(value: bool) -> str:
    return "yes" if value else "no"


# -- service tests ------------------------------------------------------------------------------


def measure_value(measure: TestMeasure) -> str:
    value: Any = measure.value.value
    kind = measure.value.value_type
    if value is None:
        return NONE
    if kind == "dateTime" and isinstance(value, str):
        try:
            return when(datetime.fromisoformat(value))
        except ValueError:
            return value
    if isinstance(value, dict) and "cause" in value:
        vendor = value.get("vendorCode")
        return f"{value['cause']} ({vendor})" if vendor else str(value["cause"])
    if isinstance(value, list):
        return "; ".join(_port(item) if isinstance(item, dict) else str(item) for item in value)
    if isinstance(value, dict):
        return ", ".join(f"{key}={item}" for key, item in value.items())
    if isinstance(value, bool):
        return yes_no(value)
    return str(value)


def _port(item: dict[str, Any]) -> str:
    if "port" in item and "state" in item:
        speed = item.get("speedMbps")
        return f"{item['port']} {item['state']}" + (f" {speed} Mbit/s" if speed else "")
    return ", ".join(f"{key}={value}" for key, value in item.items())


def threshold(rule: ThresholdRule) -> str:
    if rule.conformance_target_exact is not None:
        return f"= {rule.conformance_target_exact}"
    parts = []
    if rule.conformance_target_lower is not None:
        parts.append(f"{rule.conformance_comparator_lower or '>='} {rule.conformance_target_lower}")
    if rule.conformance_target_upper is not None:
        parts.append(f"{rule.conformance_comparator_upper or '<='} {rule.conformance_target_upper}")
    return " and ".join(parts) or rule.description


def check(measure: TestMeasure) -> str:
    """`VIOLATION (critical)` for a broken rule, `ok` for a kept one, blank without a rule."""
    if measure.rule_violation:
        severities = sorted({rule.threshold_rule_severity for rule in measure.rule_violation})
        return f"VIOLATION ({', '.join(severities)})"
    return "ok" if measure.threshold_rule else ""


def measures_table(measures: Sequence[TestMeasure]) -> str:
    rows = [
        [
            measure.metric_name,
            measure_value(measure),
            measure.unit_of_measure or "",
            "; ".join(threshold(rule) for rule in measure.threshold_rule),
            check(measure),
        ]
        for measure in measures
    ]
    return table(["Metric", "Value", "Unit", "Threshold", "Check"], rows)


def service_test(test: ServiceTest) -> str:
    spec = test.test_specification
    head = fields(
        [
            ("Test", test.id),
            ("Service", test.related_service.id),
            ("Specification", f"{spec.id} {spec.version}" if spec.version else spec.id),
            ("State", str(test.state)),
            ("Started", when(test.start_date_time)),
            ("Ended", when(test.end_date_time) if test.end_date_time else None),
            ("Valid until", when(test.valid_for.end_date_time) if test.valid_for else None),
        ]
    )
    parts = [head]
    if test.outcome is not None:
        outcome = test.outcome
        parts.append(
            fields(
                [
                    ("Rating", outcome.rating.upper()),
                    ("Code", str(outcome.code)),
                    (
                        "Fault ticket",
                        "warranted" if outcome.fault_ticket_warranted else "not warranted",
                    ),
                    ("Diagnosis", outcome.diagnosis),
                ]
            )
        )
    if test.failure_reason is not None:
        failure = test.failure_reason
        parts.append(
            fields(
                [
                    ("Failed", str(failure.code)),
                    ("Reason", failure.message),
                    ("Quota refunded", yes_no(failure.quota_refunded)),
                ]
            )
        )
    if test.test_measure:
        parts.append(measures_table(test.test_measure))
    elif test.state not in ("completed", "failed"):
        parts.append(f"No result yet: `fiberassure retail test show {test.id}` later.")
    return "\n\n".join(parts)


def service_tests(tests: Sequence[ServiceTest], total: int) -> str:
    rows = [
        [
            test.id,
            test.related_service.id,
            test.test_specification.id,
            str(test.state),
            when(test.start_date_time),
            test.outcome.rating if test.outcome else "",
            str(test.outcome.code)
            if test.outcome
            else (str(test.failure_reason.code) if test.failure_reason else ""),
        ]
        for test in tests
    ]
    headers = ["Test", "Service", "Spec", "State", "Started", "Rating", "Outcome"]
    return table(headers, rows) + "\n" + shown(len(tests), total, "test")


def quotas(items: Sequence[Quota]) -> str:
    rows = [
        [
            quota.name,
            quota.related_service.id if quota.related_service else "(all lines)",
            str(quota.limit),
            str(quota.used),
            str(quota.remaining),
            quota.window,
            when(quota.reset_time),
        ]
        for quota in items
    ]
    return table(["Quota", "Service", "Limit", "Used", "Remaining", "Window", "Resets"], rows)


def shown(count: int, total: int, noun: str) -> str:
    plural = noun if total == 1 else noun + "s"
    if count == total:
        return f"{total} {plural}"
    return f"{count} of {total} {plural} shown (use --limit/--offset for more)"


# -- trouble tickets ----------------------------------------------------------------------------


def related_id(ticket: TroubleTicket, role: RelatedEntityRole) -> str | None:
    entity = ticket.related(role)
    return entity.id if entity else None


def trouble_ticket(ticket: TroubleTicket) -> str:
    contact = ticket.subscriber_contact
    contact_text = None
    if contact is not None:
        contact_text = ", ".join(
            part
            for part in (
                contact.name,
                contact.phone_number,
                contact.email,
                contact.preferred_contact_time,
            )
            if part
        )
    visit = ticket.visit_window
    status = str(ticket.status)
    if ticket.status_change_reason:
        status += f" ({ticket.status_change_reason})"
    head = fields(
        [
            ("Ticket", ticket.id),
            ("External id", ticket.external_id),
            ("Status", status),
            ("Severity", str(ticket.severity)),
            ("Type", str(ticket.ticket_type)),
            ("Service", related_id(ticket, RelatedEntityRole.AFFECTED_SERVICE)),
            ("ONT", related_id(ticket, RelatedEntityRole.ONT)),
            ("Prior test", related_id(ticket, RelatedEntityRole.SERVICE_TEST)),
            ("Contact", contact_text),
            (
                "Visit window",
                f"{when(visit.start_date_time)} to {when(visit.end_date_time)}" if visit else None,
            ),
            ("SLA", str(ticket.sla_class)),
            (
                "Due",
                when(ticket.expected_resolution_date) if ticket.expected_resolution_date else None,
            ),
            ("Created", when(ticket.creation_date)),
            ("Last update", when(ticket.last_update)),
            ("Resolved", when(ticket.resolution_date) if ticket.resolution_date else None),
            ("Description", ticket.description),
        ]
    )
    parts = [head]
    if ticket.note:
        notes = [f"Notes ({len(ticket.note)})"]
        for note in ticket.note:
            author = note.author or "?"
            notes.append(f"  {when(note.date)}  {author}:")
            notes += ["    " + line for line in textwrap.wrap(note.text, WIDTH - 4)]
        parts.append("\n".join(notes))
    if ticket.attachment:
        rows = [[a.name, a.mime_type or "", a.url] for a in ticket.attachment]
        parts.append("Attachments\n" + table(["Name", "Type", "URL"], rows))
    if ticket.status_change:
        rows = [
            [when(change.change_date), str(change.status), change.change_reason or ""]
            for change in ticket.status_change
        ]
        parts.append("Status history\n" + table(["When", "Status", "Reason"], rows))
    return "\n\n".join(parts)


def trouble_tickets(tickets: Sequence[TroubleTicket], total: int) -> str:
    rows = [
        [
            ticket.id,
            ticket.external_id or "",
            related_id(ticket, RelatedEntityRole.AFFECTED_SERVICE) or "",
            str(ticket.status),
            str(ticket.severity),
            str(ticket.ticket_type),
            when(ticket.last_update),
        ]
        for ticket in tickets
    ]
    headers = ["Ticket", "External id", "Service", "Status", "Severity", "Type", "Last update"]
    return table(headers, rows) + "\n" + shown(len(tickets), total, "ticket")
