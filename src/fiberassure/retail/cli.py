"""`fiberassure retail …`: the wholesaler's TMF621/TMF653 APIs for a retail ISP's support staff.

Every command talks to the wholesale API through the SDK (`RetailClient`), prints readable
plain text, or the TMF JSON with `--json`. Exit status: 0 done, 1 the wholesaler refused or
could not be reached (the TMF error code and message go to stderr), 2 a usage or
configuration error. See docs/retail-cli.md.
"""

import json
import re
import textwrap
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from pydantic import BaseModel, ValidationError

from fiberassure.retail import render
from fiberassure.retail.cli_listen import listen_command
from fiberassure.retail.client import RetailClient
from fiberassure.retail.config import ConfigError, load_config
from fiberassure.retail.errors import (
    ApiError,
    AuthenticationError,
    QuotaExceededError,
    ServerError,
    TransportError,
    WaitTimeout,
)
from fiberassure.tmf.durations import parse_duration
from fiberassure.tmf.service_test import FINAL_STATES, ServiceTest, ServiceTestState
from fiberassure.tmf.trouble_ticket import (
    RelatedEntityRole,
    Severity,
    TicketStatus,
    TicketType,
    TroubleTicket,
    TroubleTicketCreate,
    TroubleTicketUpdate,
)

app = typer.Typer(
    help="The wholesaler's trouble tickets and service tests, for a retail ISP's support "
    "staff. Configure with --url/--client-id/--client-secret, FIBERASSURE_RETAIL_* "
    "variables or ~/.config/fiberassure/retail.toml.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
test_app = typer.Typer(help="Service tests (TMF653): run a line test, see results and limits.")
ticket_app = typer.Typer(help="Trouble tickets (TMF621): report a fault and follow it.")
events_app = typer.Typer(help="Follow changes to your tickets and tests.")
for group in (test_app, ticket_app, events_app):
    group.info.no_args_is_help = True
app.add_typer(test_app, name="test")
app.add_typer(ticket_app, name="ticket")
app.add_typer(events_app, name="events")
# The listener reads its own flags and FIBERASSURE_RETAIL_* settings (docs/retail-listener.md).
app.command("listen")(listen_command)

ModelT = TypeVar("ModelT", bound=BaseModel)
JsonFlag = Annotated[bool, typer.Option("--json", help="Print the TMF JSON instead of tables.")]


@dataclass
class Connection:
    """What the `retail` callback was given; the configuration is read when a command needs
    it, so `--help` works without any."""

    url: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    config_path: Path | None = None


@app.callback()
def retail(
    ctx: typer.Context,
    url: Annotated[
        str | None, typer.Option(help="The wholesale API base URL. [FIBERASSURE_RETAIL_URL]")
    ] = None,
    client_id: Annotated[
        str | None, typer.Option(help="API client id. [FIBERASSURE_RETAIL_CLIENT_ID]")
    ] = None,
    client_secret: Annotated[
        str | None,
        typer.Option(help="API client secret. [FIBERASSURE_RETAIL_CLIENT_SECRET]"),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            help="TOML file with url, client_id, client_secret (default "
            "~/.config/fiberassure/retail.toml). [FIBERASSURE_RETAIL_CONFIG]",
            dir_okay=False,
        ),
    ] = None,
) -> None:
    if ctx.invoked_subcommand == "listen" and (url or client_id or client_secret or config):
        # Silently ignored they would make the listener call with other credentials.
        fail(
            "listen takes its own options: `fiberassure retail listen --wholesale-url … "
            "--client-id … --client-secret …` (or FIBERASSURE_RETAIL_* variables)",
            2,
        )
    ctx.obj = Connection(url, client_id, client_secret, config)


# -- plumbing -----------------------------------------------------------------------------------


def fail(message: str, status: int = 1) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(status)


def api_error(error: ApiError) -> str:
    code, text = error.code, error.message
    if isinstance(error, AuthenticationError):
        # The token endpoint answers in OAuth2's shape, not TMF's.
        try:
            oauth = json.loads(text)
        except ValueError:
            oauth = None
        if isinstance(oauth, dict) and "error" in oauth:
            code, text = str(oauth["error"]), str(oauth.get("error_description", ""))
    message = f"{code}: {text} (HTTP {error.status_code})"
    if isinstance(error, QuotaExceededError) and error.retry_after is not None:
        message += f"; the quota resets in {error.retry_after:g} s"
    return message


@contextmanager
def connect(ctx: typer.Context) -> Iterator[RetailClient]:
    """A client for the configured wholesaler; its errors become messages and exit codes."""
    given = ctx.find_object(Connection) or Connection()
    try:
        config, warnings = load_config(
            url=given.url,
            client_id=given.client_id,
            client_secret=given.client_secret,
            config_path=given.config_path,
        )
    except ConfigError as error:
        fail(str(error), 2)
    for warning in warnings:
        typer.echo(warning, err=True)
    try:
        with RetailClient(
            config.url, config.client_id, config.client_secret, timeout=config.timeout
        ) as client:
            yield client
    except AuthenticationError as error:
        fail(
            f"{api_error(error)}; check the client id (from {config.source_of('client_id')}) "
            f"and secret (from {config.source_of('client_secret')})"
        )
    except ApiError as error:
        fail(api_error(error))
    except TransportError as error:
        fail(f"cannot reach the wholesale API at {config.url}: {error}")
    except WaitTimeout as error:
        fail(str(error))


def validated(model: type[ModelT], body: dict[str, Any], what: str) -> ModelT:
    """The body as `model`, or exit 2 listing what is wrong in the wire names."""
    try:
        return model.model_validate(body)
    except ValidationError as error:
        problems = [
            f"{'.'.join(str(part) for part in problem['loc']) or what}: {problem['msg']}"
            for problem in error.errors()
        ]
        fail(f"invalid {what}:\n  " + "\n  ".join(problems), 2)


def print_json(value: BaseModel | Sequence[BaseModel]) -> None:
    if isinstance(value, BaseModel):
        wire: Any = value.model_dump(mode="json", by_alias=True, exclude_none=True)
    else:
        wire = [item.model_dump(mode="json", by_alias=True, exclude_none=True) for item in value]
    typer.echo(json.dumps(wire, indent=2, ensure_ascii=False))


def parse_time(text: str, option: str) -> datetime:
    """An ISO 8601 date-time; without an offset it is this machine's local time."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not a date-time such as 2026-12-01T09:00 or 2026-12-01T09:00+01:00",
            param_hint=option,
        ) from None
    return value if value.tzinfo else value.astimezone()


SHORT_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhd])$")
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_since(text: str) -> datetime:
    """`15m`, `2h`, `1d`, seconds, an ISO 8601 duration (all: that long ago) or a date-time."""
    value = text.strip()
    short = SHORT_DURATION.match(value)
    if short:
        seconds = float(short.group(1)) * UNIT_SECONDS[short.group(2)]
        return datetime.now(UTC) - timedelta(seconds=seconds)
    try:
        return datetime.now(UTC) - parse_duration(value)
    except ValueError:
        return parse_time(value, "--since")


def visit_window(start: str | None, end: str | None) -> dict[str, str] | None:
    if start is None and end is None:
        return None
    if start is None or end is None:
        raise typer.BadParameter("give both --visit-from and --visit-to", param_hint="--visit-to")
    return {
        "startDateTime": parse_time(start, "--visit-from").isoformat(),
        "endDateTime": parse_time(end, "--visit-to").isoformat(),
    }


def show_ticket(ticket: TroubleTicket, as_json: bool, headline: str | None = None) -> None:
    if as_json:
        print_json(ticket)
        return
    if headline:
        typer.echo(headline + "\n")
    typer.echo(render.trouble_ticket(ticket))


# -- service tests ------------------------------------------------------------------------------


@test_app.command("run")
def service_test_run(
    ctx: typer.Context,
    service: Annotated[str, typer.Argument(help="The line's service id, e.g. SRV-000001.")],
    spec: Annotated[
        str, typer.Option("--spec", help="Test specification (see `test specs`).")
    ] = "ontStatus",
    wait: Annotated[bool, typer.Option("--wait", help="Wait for the result and print it.")] = False,
    timeout: Annotated[
        float, typer.Option(help="With --wait: give up after this many seconds.", min=0)
    ] = 60.0,
    poll_interval: Annotated[
        float, typer.Option(help="With --wait: ask for the result this often (s).", min=0.05)
    ] = 1.0,
    as_json: JsonFlag = False,
) -> None:
    """Order a remote test of a line; with --wait, print the outcome and every measure."""
    with connect(ctx) as client:
        test = client.run_test(service, specification=spec)
        if wait and test.state not in FINAL_STATES:
            if not as_json:
                typer.echo(f"test {test.id} ordered; waiting for the result…", err=True)
            test = client.wait_for_test(test.id, timeout=timeout, poll_interval=poll_interval)
    if as_json:
        print_json(test)
    else:
        typer.echo(render.service_test(test))


@test_app.command("show")
def service_test_show(
    ctx: typer.Context,
    test_id: Annotated[str, typer.Argument(metavar="ID", help="The test's id.")],
    as_json: JsonFlag = False,
) -> None:
    """One test with its outcome and measures."""
    with connect(ctx) as client:
        test = client.get_test(test_id)
    if as_json:
        print_json(test)
    else:
        typer.echo(render.service_test(test))


@test_app.command("list")
def service_test_list(
    ctx: typer.Context,
    service: Annotated[str | None, typer.Option(help="Only this line's tests.")] = None,
    state: Annotated[
        list[ServiceTestState] | None, typer.Option(help="Only tests in this state (repeatable).")
    ] = None,
    spec: Annotated[str | None, typer.Option("--spec", help="Only this specification.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many.", min=1, max=1000)] = 20,
    offset: Annotated[int, typer.Option(help="Skip this many first.", min=0)] = 0,
    as_json: JsonFlag = False,
) -> None:
    """Your test history, newest first."""
    with connect(ctx) as client:
        page = client.list_tests(
            service_id=service,
            state=[s.value for s in state] if state else None,
            specification=spec,
            limit=limit,
            offset=offset,
        )
    if as_json:
        print_json(page.items)
    else:
        typer.echo(render.service_tests(page.items, page.total))


@test_app.command("limits")
def service_test_limits(
    ctx: typer.Context,
    service: Annotated[
        str | None,
        typer.Option(help="Show the daily quota and this line's hourly quota only."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Your test quotas: limit, used, remaining and when each resets."""
    with connect(ctx) as client:
        quotas = client.test_limits(service)
    if service is not None:
        quotas = [q for q in quotas if q.related_service is None or q.related_service.id == service]
    if as_json:
        print_json(quotas)
    else:
        typer.echo(render.quotas(quotas))


@test_app.command("specs")
def service_test_specs(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """The tests the wholesaler offers (the values of `test run --spec`)."""
    with connect(ctx) as client:
        specifications = client.list_specifications()
    if as_json:
        print_json(specifications)
        return
    rows = [
        [s.id, s.version, str(len(s.test_measure_definition)), short(s.description, 80)]
        for s in specifications
    ]
    typer.echo(render.table(["Spec", "Version", "Measures", "Description"], rows))


# -- trouble tickets ----------------------------------------------------------------------------


@ticket_app.command("create")
def ticket_create(
    ctx: typer.Context,
    service: Annotated[str, typer.Option(help="The affected line's service id.")],
    description: Annotated[str, typer.Option(help="What the subscriber reports.")],
    severity: Annotated[Severity, typer.Option(help="critical: no service at all.")],
    ticket_type: Annotated[TicketType, typer.Option("--type", help="The kind of fault.")],
    contact_name: Annotated[str, typer.Option(help="Who the technician calls.")],
    contact_phone: Annotated[str, typer.Option(help="Their phone number.")],
    contact_email: Annotated[str | None, typer.Option(help="Their e-mail address.")] = None,
    test: Annotated[
        str | None, typer.Option("--test", help="The id of the test that found the fault.")
    ] = None,
    ont: Annotated[str | None, typer.Option(help="The ONT's serial number.")] = None,
    external_id: Annotated[
        str | None, typer.Option(help="Your own ticket number (unique among your tickets).")
    ] = None,
    name: Annotated[str | None, typer.Option(help="A short title.")] = None,
    visit_from: Annotated[
        str | None, typer.Option(help="Visit window start, e.g. 2026-12-01T09:00 (local time).")
    ] = None,
    visit_to: Annotated[str | None, typer.Option(help="Visit window end.")] = None,
    note: Annotated[str | None, typer.Option(help="A first note for the technician.")] = None,
    idempotency_key: Annotated[
        str | None,
        typer.Option(help="Repeat a create safely: the same key returns the first ticket."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Report a fault on a line."""
    related = [{"id": service, "role": "affectedService", "@referredType": "Service"}]
    if test:
        related.append({"id": test, "role": "serviceTest", "@referredType": "ServiceTest"})
    if ont:
        related.append({"id": ont, "role": "ont", "@referredType": "Resource"})
    contact = {"name": contact_name, "phoneNumber": contact_phone}
    if contact_email:
        contact["email"] = contact_email
    body: dict[str, Any] = {
        "description": description,
        "severity": severity.value,
        "ticketType": ticket_type.value,
        "relatedEntity": related,
        "subscriberContact": contact,
    }
    optional = {
        "name": name,
        "externalId": external_id,
        "visitWindow": visit_window(visit_from, visit_to),
        "note": [{"text": note}] if note else None,
    }
    body.update({key: value for key, value in optional.items() if value is not None})
    ticket_body = validated(TroubleTicketCreate, body, "ticket")
    with connect(ctx) as client:
        ticket = client.create_ticket(ticket_body, idempotency_key=idempotency_key)
    show_ticket(ticket, as_json, f"Ticket {ticket.id} created ({ticket.status}).")


@ticket_app.command("list")
def ticket_list(
    ctx: typer.Context,
    status: Annotated[
        list[TicketStatus] | None, typer.Option(help="Only tickets in this status (repeatable).")
    ] = None,
    service: Annotated[str | None, typer.Option(help="Only this line's tickets.")] = None,
    severity: Annotated[list[Severity] | None, typer.Option(help="Repeatable.")] = None,
    ticket_type: Annotated[
        list[TicketType] | None, typer.Option("--type", help="Repeatable.")
    ] = None,
    external_id: Annotated[str | None, typer.Option(help="Your own ticket number.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many.", min=1, max=1000)] = 20,
    offset: Annotated[int, typer.Option(help="Skip this many first.", min=0)] = 0,
    as_json: JsonFlag = False,
) -> None:
    """Your tickets, newest first."""
    with connect(ctx) as client:
        page = client.list_tickets(
            status=[s.value for s in status] if status else None,
            related_entity_id=service,
            severity=[s.value for s in severity] if severity else None,
            ticket_type=[t.value for t in ticket_type] if ticket_type else None,
            external_id=external_id,
            limit=limit,
            offset=offset,
        )
    if as_json:
        print_json(page.items)
    else:
        typer.echo(render.trouble_tickets(page.items, page.total))


TicketId = Annotated[str, typer.Argument(metavar="ID", help="The ticket's id.")]
Reason = Annotated[str | None, typer.Option(help="Why (kept in the status history).")]


@ticket_app.command("show")
def ticket_show(ctx: typer.Context, ticket_id: TicketId, as_json: JsonFlag = False) -> None:
    """One ticket with its notes and status history."""
    with connect(ctx) as client:
        ticket = client.get_ticket(ticket_id)
    show_ticket(ticket, as_json)


@ticket_app.command("cancel")
def ticket_cancel(
    ctx: typer.Context, ticket_id: TicketId, reason: Reason = None, as_json: JsonFlag = False
) -> None:
    """Withdraw the ticket (e.g. the subscriber fixed it)."""
    with connect(ctx) as client:
        ticket = client.cancel_ticket(ticket_id, reason)
    show_ticket(ticket, as_json, f"Ticket {ticket.id} cancelled.")


@ticket_app.command("reopen")
def ticket_reopen(
    ctx: typer.Context, ticket_id: TicketId, reason: Reason = None, as_json: JsonFlag = False
) -> None:
    """The fault persists: put a resolved ticket back in progress."""
    with connect(ctx) as client:
        ticket = client.reopen_ticket(ticket_id, reason)
    show_ticket(ticket, as_json, f"Ticket {ticket.id} reopened ({ticket.status}).")


@ticket_app.command("accept")
def ticket_accept(ctx: typer.Context, ticket_id: TicketId, as_json: JsonFlag = False) -> None:
    """Accept the resolution: close the ticket now."""
    with connect(ctx) as client:
        ticket = client.accept_ticket(ticket_id)
    show_ticket(ticket, as_json, f"Ticket {ticket.id} closed.")


@ticket_app.command("note")
def ticket_note(
    ctx: typer.Context,
    ticket_id: TicketId,
    text: Annotated[str, typer.Argument(help="The note.")],
    author: Annotated[str | None, typer.Option(help="Who writes it.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Add a note for the wholesaler's technicians."""
    body = {"note": [{"text": text, **({"author": author} if author else {})}]}
    validated(TroubleTicketUpdate, body, "note")
    with connect(ctx) as client:
        ticket = client.add_note(ticket_id, text, author)
    show_ticket(ticket, as_json, f"Note added to ticket {ticket.id}.")


@ticket_app.command("update")
def ticket_update(
    ctx: typer.Context,
    ticket_id: TicketId,
    description: Annotated[str | None, typer.Option(help="A new description.")] = None,
    severity: Annotated[Severity | None, typer.Option(help="A new severity.")] = None,
    visit_from: Annotated[str | None, typer.Option(help="New visit window start.")] = None,
    visit_to: Annotated[str | None, typer.Option(help="New visit window end.")] = None,
    contact_name: Annotated[str | None, typer.Option(help="New contact name.")] = None,
    contact_phone: Annotated[str | None, typer.Option(help="New contact phone.")] = None,
    contact_email: Annotated[str | None, typer.Option(help="New contact e-mail.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Change the description, severity, visit window or contact. Answering a pending ticket
    this way puts it back in progress."""
    changes: dict[str, Any] = {}
    if description is not None:
        changes["description"] = description
    if severity is not None:
        changes["severity"] = severity.value
    window = visit_window(visit_from, visit_to)
    if window is not None:
        changes["visitWindow"] = window
    contact = {
        key: value
        for key, value in (
            ("name", contact_name),
            ("phoneNumber", contact_phone),
            ("email", contact_email),
        )
        if value is not None
    }
    if not changes and not contact:
        fail("nothing to change: give at least one option (see --help)", 2)
    with connect(ctx) as client:
        if contact:
            # The contact is replaced as a whole: keep what was not given.
            current = client.get_ticket(ticket_id).subscriber_contact
            kept = current.model_dump(by_alias=True, exclude_none=True) if current else {}
            changes["subscriberContact"] = {**kept, **contact}
        patch = validated(TroubleTicketUpdate, changes, "change")
        ticket = client.update_ticket(ticket_id, patch)
    show_ticket(ticket, as_json, f"Ticket {ticket.id} updated ({ticket.status}).")


# -- events tail --------------------------------------------------------------------------------

# Changes are asked for from this long before the newest one seen: a change committed late
# with an earlier timestamp is still found; repeats are recognised and left out.
OVERLAP = timedelta(seconds=5)


@dataclass(frozen=True)
class Change:
    time: datetime
    event_type: str
    summary: str
    resource: TroubleTicket | ServiceTest

    def line(self) -> str:
        return f"{render.when(self.time)}  {self.summary}"

    def wire(self) -> dict[str, Any]:
        name = "troubleTicket" if isinstance(self.resource, TroubleTicket) else "serviceTest"
        return {
            "eventType": self.event_type,
            "eventTime": self.time.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "summary": self.summary,
            "event": {
                name: self.resource.model_dump(mode="json", by_alias=True, exclude_none=True)
            },
        }


def ticket_event_type(status: str) -> str:
    if status in ("resolved", "closed"):
        return "TroubleTicketResolvedEvent"
    if status == "pending":
        return "TroubleTicketInformationRequiredEvent"
    return "TroubleTicketStatusChangeEvent"


def short(text: str, width: int = 70) -> str:
    return textwrap.shorten(" ".join(text.split()), width, placeholder="…")


@dataclass
class ChangeFollower:
    """Turns successive polls of the list endpoints into one change per line, like the events
    the listener would receive (without their ids: these are derived from the resources)."""

    since: datetime
    tickets: dict[str, TroubleTicket] = field(default_factory=dict)
    tests: dict[str, ServiceTest] = field(default_factory=dict)
    ticket_cursor: datetime | None = None
    test_cursor: datetime | None = None

    def poll(self, client: RetailClient) -> list[Change]:
        changes: list[Change] = []
        after = (self.ticket_cursor or self.since) - OVERLAP
        for ticket in client.iter_tickets(updated_after=after, sort="lastUpdate"):
            changes += self.ticket_changes(ticket)
        after = (self.test_cursor or self.since) - OVERLAP
        fresh = {test.id: test for test in client.iter_tests(started_after=after)}
        for test_id, known in list(self.tests.items()):
            if test_id not in fresh and known.state not in FINAL_STATES:
                fresh[test_id] = client.get_test(test_id)
        for test in fresh.values():
            changes += self.test_changes(test)
        return sorted(changes, key=lambda change: change.time)

    def ticket_changes(self, ticket: TroubleTicket) -> list[Change]:
        previous = self.tickets.get(ticket.id)
        baseline = previous.last_update if previous else self.since
        if ticket.last_update <= baseline:
            return []
        self.tickets[ticket.id] = ticket
        self.ticket_cursor = max(self.ticket_cursor or ticket.last_update, ticket.last_update)
        service = render.related_id(ticket, RelatedEntityRole.AFFECTED_SERVICE) or "?"
        label = f"ticket {ticket.id} ({service})"
        changes: list[Change] = []
        created = ticket.creation_date > baseline
        if created:
            changes.append(
                Change(
                    ticket.creation_date,
                    "TroubleTicketCreateEvent",
                    f"{label} created: {ticket.severity} {ticket.ticket_type}",
                    ticket,
                )
            )
        history = ticket.status_change
        for index, change in enumerate(history):
            if change.change_date <= baseline or (created and index == 0):
                continue
            before = history[index - 1].status if index else "?"
            reason = f" ({change.change_reason})" if change.change_reason else ""
            changes.append(
                Change(
                    change.change_date,
                    ticket_event_type(change.status),
                    f"{label} {before} -> {change.status}{reason}",
                    ticket,
                )
            )
        for note in ticket.note:
            # Notes given with the create are part of the creation, later ones are changes.
            if note.date > baseline and not (created and note.date <= ticket.creation_date):
                author = note.author or "?"
                changes.append(
                    Change(
                        note.date,
                        "TroubleTicketAttributeValueChangeEvent",
                        f"{label} note from {author}: {short(note.text)}",
                        ticket,
                    )
                )
        if not changes:
            what = self.changed_attributes(previous, ticket) if previous else "updated"
            changes.append(
                Change(
                    ticket.last_update,
                    "TroubleTicketAttributeValueChangeEvent",
                    f"{label} {what}",
                    ticket,
                )
            )
        return changes

    @staticmethod
    def changed_attributes(previous: TroubleTicket, ticket: TroubleTicket) -> str:
        names = [
            ("description", "description"),
            ("severity", "severity"),
            ("subscriber_contact", "contact"),
            ("visit_window", "visit window"),
            ("related_entity", "related entities (e.g. the ONT)"),
            ("attachment", "attachments"),
            ("expected_resolution_date", "due date"),
        ]
        changed = [
            label for name, label in names if getattr(previous, name) != getattr(ticket, name)
        ]
        return "changed: " + ", ".join(changed) if changed else "updated"

    def test_changes(self, test: ServiceTest) -> list[Change]:
        previous = self.tests.get(test.id)
        if previous is None and test.start_date_time <= self.since:
            if test.state not in FINAL_STATES:
                self.tests[test.id] = test  # started before the tail: report how it ends
            return []
        if previous is not None and previous.state == test.state:
            return []
        self.tests[test.id] = test
        self.test_cursor = max(self.test_cursor or test.start_date_time, test.start_date_time)
        label = f"test {test.id} ({test.related_service.id})"
        changes: list[Change] = []
        if previous is None and test.start_date_time > self.since:
            changes.append(
                Change(
                    test.start_date_time,
                    "ServiceTestCreateEvent",
                    f"{label} ordered: {test.test_specification.id}",
                    test,
                )
            )
        if test.state in FINAL_STATES:
            if test.outcome is not None:
                outcome = test.outcome
                ticket = "fault ticket warranted" if outcome.fault_ticket_warranted else "no ticket"
                result = f"{outcome.rating.upper()} {outcome.code} ({ticket})"
            elif test.failure_reason is not None:
                result = f"{test.failure_reason.code}: {short(test.failure_reason.message)}"
            else:
                result = ""
            changes.append(
                Change(
                    # endDateTime has whole seconds: never before the start it follows.
                    max(test.end_date_time or test.start_date_time, test.start_date_time),
                    "ServiceTestAttributeValueChangeEvent",
                    f"{label} {test.state}: {result}".rstrip(": "),
                    test,
                )
            )
        elif previous is not None:
            changes.append(
                Change(
                    test.start_date_time,
                    "ServiceTestAttributeValueChangeEvent",
                    f"{label} {previous.state} -> {test.state}",
                    test,
                )
            )
        return changes


@events_app.command("tail")
def events_tail(
    ctx: typer.Context,
    interval: Annotated[float, typer.Option(help="Seconds between polls.", min=0.1)] = 5.0,
    since: Annotated[
        str | None,
        typer.Option(
            help="Start from this long ago (15m, 2h, 1d, PT30M) or this date-time (default: now)."
        ),
    ] = None,
    once: Annotated[bool, typer.Option("--once", help="Poll once and exit.")] = False,
    duration: Annotated[
        float | None, typer.Option(help="Stop after this many seconds (default: Ctrl-C).", min=0)
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per change (TMF event shape).")
    ] = False,
) -> None:
    """Print one line per change to your tickets and tests, by polling the wholesale API.

    This is for a person watching; for real time, and for every change in between two polls,
    run `fiberassure retail listen` (it receives the wholesaler's signed notifications)."""
    try:
        start = parse_since(since) if since else datetime.now(UTC)
    except typer.BadParameter as error:
        fail(error.message, 2)
    follower = ChangeFollower(since=start)
    deadline = None if duration is None else time.monotonic() + duration
    with connect(ctx) as client:
        if not as_json:
            typer.echo(f"following changes since {render.when(start)} (Ctrl-C to stop)", err=True)
        try:
            while True:
                try:
                    changes = follower.poll(client)
                except (TransportError, ServerError) as error:
                    if once:
                        raise
                    typer.echo(f"warning: {error}; trying again", err=True)
                    changes = []
                for change in changes:
                    typer.echo(
                        json.dumps(change.wire(), ensure_ascii=False) if as_json else change.line()
                    )
                if once or (deadline is not None and time.monotonic() + interval > deadline):
                    return
                time.sleep(interval)
        except KeyboardInterrupt:
            return
