"""`fiberassure demo`: the seed played end to end between two real processes.

A wholesale server (`fiberassure wholesale serve --demo`) and a retail listener
(`fiberassure retail listen --register`) run on 127.0.0.1 with throwaway SQLite databases and
shortened timers. The demo acts as the retail operator's staff (through the SDK) and as the
wholesaler's NOC (through the ops API), walks every path of the seed, and checks that each
notification the seed expects reached the listener, was verified there, and was answered
2xx. It prints every HTTP message that crossed the wire and writes the sequence that
actually happened as a Mermaid diagram, checked arrow for arrow against the seed's.
"""

import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fiberassure.demo.seed import SEED_DIAGRAM
from fiberassure.demo.sequence import RETAIL, WHOLESALE, SequenceDiagram, arrows_of, compare
from fiberassure.retail.client import AsyncRetailClient, HubApi
from fiberassure.tmf.service_test import SERVICE_TEST_BASE_PATH

RETAIL_CLIENT = ("demo-retail-a", "demo-retail-a-secret")
OPS_CLIENT = ("demo-ops", "demo-ops-secret")
AUTO_CLOSE_SECONDS = 3
NOTIFICATION_TIMEOUT = 15.0
# The notifications the seed's retail operator acts on, one hub each (DESIGN §6 queries).
SUBSCRIPTIONS: tuple[tuple[HubApi, str], ...] = (
    (
        "serviceTest",
        "eventType=ServiceTestAttributeValueChangeEvent&event.serviceTest.state=completed,failed",
    ),
    (
        "troubleTicket",
        "eventType=TroubleTicketInformationRequiredEvent,TroubleTicketAttributeValueChangeEvent,"
        "TroubleTicketResolvedEvent",
    ),
    (
        "troubleTicket",
        "eventType=TroubleTicketStatusChangeEvent&event.troubleTicket.statusChangeReason=noFaultFound",
    ),
)
SHORT_PATHS = {
    "/tmf-api/troubleTicket/v4": "",
    SERVICE_TEST_BASE_PATH: "",
}


class StepFailed(Exception):
    """A step of the seed did not happen as it should."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def short(path: str) -> str:
    """/tmf-api/troubleTicket/v4/troubleTicket/5c1e…: the resource path, ids shortened."""
    for prefix, replacement in SHORT_PATHS.items():
        if path.startswith(prefix):
            path = replacement + path[len(prefix) :]
    return "/".join(part[:8] + "…" if len(part) > 20 else part for part in path.split("/"))


@dataclass
class Forwarded:
    """Receives what the listener forwards: each new, verified event, as it stored it."""

    port: int = field(default_factory=free_port)
    events: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        app = Starlette(routes=[Route("/forwarded", self._receive, methods=["POST"])])
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="error", lifespan="off"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/forwarded"

    async def _receive(self, request: Request) -> Response:
        event = json.loads(await request.body())
        with self.lock:
            self.events.append(event)
        return Response(status_code=204)

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the forward receiver did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=5)

    async def wait_for(
        self, description: str, matches: Callable[[dict[str, Any]], bool]
    ) -> dict[str, Any]:
        deadline = time.monotonic() + NOTIFICATION_TIMEOUT
        while time.monotonic() < deadline:
            with self.lock:
                found = next((event for event in self.events if matches(event)), None)
            if found is not None:
                return found
            await asyncio.sleep(0.05)
        raise StepFailed(f"no {description} reached the listener in {NOTIFICATION_TIMEOUT:g} s")


def resource_of(event: dict[str, Any]) -> dict[str, Any]:
    inner = event.get("event") or {}
    resource: dict[str, Any] = inner.get("troubleTicket") or inner.get("serviceTest") or {}
    return resource


@dataclass
class Wire:
    """Every HTTP message of the demo, printed as it crosses the wire."""

    started: float = field(default_factory=time.monotonic)
    printed: list[str] = field(default_factory=list)
    echo: bool = True

    def line(self, who: str, text: str) -> None:
        entry = f"{time.monotonic() - self.started:6.2f}s  {who:<8} {text}"
        self.printed.append(entry)
        if self.echo:
            print(entry, flush=True)

    async def on_response(self, response: httpx.Response) -> None:
        request = response.request
        query = f"?{request.url.query.decode()}" if request.url.query else ""
        path = request.url.path
        sender = "NOC → NX" if "/ops/" in path else "OK → NX"
        if "/hub/" in path and path.endswith("/delivery"):
            sender = "check"  # the demo reading the delivery log, not part of the seed
        self.line(
            sender,
            f"{request.method} {request.url.path}{query}  →  "
            f"{response.status_code} {response.reason_phrase}",
        )


@dataclass
class Outcome:
    steps_passed: int
    diagram: str
    comparison_same: bool
    differences: list[str]
    wire: list[str]


class Demo:
    def __init__(self, workdir: Path, output: Path, *, echo: bool = True) -> None:
        self.workdir = workdir
        self.output = output
        self.wire = Wire(echo=echo)
        self.diagram = SequenceDiagram()
        self.forwarded = Forwarded()
        self.wholesale_port = free_port()
        self.listener_port = free_port()
        self.steps = 0
        self.listener_command = [sys.executable, "-m", "fiberassure", "retail", "listen"]

    @property
    def wholesale_url(self) -> str:
        return f"http://127.0.0.1:{self.wholesale_port}"

    # -- processes ----------------------------------------------------------------------------

    def _environment(self) -> dict[str, str]:
        return {
            **os.environ,
            "FIBERASSURE_DATABASE_URL": f"sqlite:///{self.workdir / 'wholesale.db'}",
            "FIBERASSURE_PUBLIC_BASE_URL": self.wholesale_url,
            "FIBERASSURE_AUTO_CLOSE_AFTER": str(AUTO_CLOSE_SECONDS),
            "FIBERASSURE_SCHEDULER_INTERVAL": "0.2",
            "FIBERASSURE_SIMULATOR_LATENCY_MIN": "0.2",
            "FIBERASSURE_SIMULATOR_LATENCY_MAX": "0.5",
            "FIBERASSURE_CALLBACK_ALLOW_PRIVATE": "true",
            "FIBERASSURE_RETRY_SCHEDULE": "0.5,1,2",
            "FIBERASSURE_DISPATCHER_POLL_INTERVAL": "0.02",
            "FIBERASSURE_LOG_FORMAT": "json",
        }

    @contextmanager
    def processes(self) -> Iterator[None]:
        log = (self.workdir / "processes.log").open("wb")
        started: list[subprocess.Popen[bytes]] = []
        command = [sys.executable, "-m", "fiberassure"]
        try:
            started.append(
                subprocess.Popen(  # noqa: S603 (our own command, no shell)
                    [*command, "wholesale", "serve", "--demo", "--port", str(self.wholesale_port)],
                    env=self._environment(),
                    stdout=log,
                    stderr=log,
                )
            )
            self._wait_until_up(f"{self.wholesale_url}/health", started[0], "wholesale serve")
            listener = [
                *self.listener_command,
                "--port",
                str(self.listener_port),
                "--database-url",
                f"sqlite:///{self.workdir / 'listener.db'}",
                "--wholesale-url",
                self.wholesale_url,
                "--client-id",
                RETAIL_CLIENT[0],
                "--client-secret",
                RETAIL_CLIENT[1],
                "--public-url",
                f"http://127.0.0.1:{self.listener_port}",
                "--register",
                "--forward-url",
                self.forwarded.url,
            ]
            for api, query in SUBSCRIPTIONS:
                listener += ["--subscribe", f"{api}:{query}"]
            started.append(
                subprocess.Popen(  # noqa: S603 (our own command, no shell)
                    listener, env=self._environment(), stdout=log, stderr=log
                )
            )
            self._wait_until_up(
                f"http://127.0.0.1:{self.listener_port}/health", started[1], "retail listen"
            )
            yield
        finally:
            for process in started:
                process.terminate()
            for process in started:
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
            log.close()

    def _wait_until_up(self, url: str, process: subprocess.Popen[bytes], name: str) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise StepFailed(
                    f"{name} exited with status {process.returncode}; "
                    f"run with --keep and see {self.workdir / 'processes.log'}"
                )
            try:
                if httpx.get(url, timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise StepFailed(f"{url} did not answer in 30 s")

    # -- the play -------------------------------------------------------------------------------

    def run(self) -> Outcome:
        self.forwarded.start()
        try:
            with self.processes():
                asyncio.run(self._play())
        finally:
            self.forwarded.stop()
        mermaid = self.diagram.mermaid()
        comparison = compare(arrows_of(mermaid), arrows_of(SEED_DIAGRAM))
        self.output.write_text(self._document(mermaid, comparison.same))
        return Outcome(
            self.steps, mermaid, comparison.same, comparison.differences, self.wire.printed
        )

    async def _play(self) -> None:
        hooks = {"response": [self.wire.on_response]}
        async with (
            AsyncRetailClient(self.wholesale_url, *RETAIL_CLIENT, event_hooks=hooks) as retail,
            httpx.AsyncClient(base_url=self.wholesale_url, event_hooks=hooks) as ops,
        ):
            token = await ops.post(
                "/oauth/token", data={"grant_type": "client_credentials"}, auth=OPS_CLIENT
            )
            ops.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
            self.retail, self.ops = retail, ops
            self.hubs = {hub.id: api for api in ("troubleTicket", "serviceTest")
                         for hub in await retail.list_hubs(api)}  # fmt: skip
            if len(self.hubs) != len(SUBSCRIPTIONS):
                raise StepFailed(f"the listener registered {len(self.hubs)} hubs")
            await self._telediagnostics()
            await self._trouble_tickets()

    async def _noc(self, action: str, ticket_id: str, body: dict[str, Any] | None = None) -> None:
        response = await self.ops.post(f"/ops/v1/troubleTicket/{ticket_id}/{action}", json=body)
        if response.status_code != 200:
            raise StepFailed(f"NOC {action}: {response.status_code} {response.text}")

    def _passed(self) -> None:
        self.steps += 1

    async def _notification(
        self,
        event_type: str,
        resource_id: str,
        detail: str,
        matches: Callable[[dict[str, Any]], bool],
    ) -> dict[str, Any]:
        """Wait for the listener to have received and verified the event, then draw it and
        the listener's answer as the wholesaler's delivery log recorded it."""
        event = await self.forwarded.wait_for(
            f"{event_type} ({detail}) for {resource_id}",
            lambda e: (
                e.get("eventType") == event_type
                and resource_of(e).get("id") == resource_id
                and matches(e)
            ),
        )
        status = await self._delivery_status(str(event["eventId"]))
        self.wire.line("NX → OK", f"POST {event_type} ({detail})  →  {status} (verified, stored)")
        self.diagram.arrow(WHOLESALE, RETAIL, f"POST {event_type} ({detail})")
        self.diagram.arrow(RETAIL, WHOLESALE, f"{status} OK" if status == 200 else str(status))
        if not 200 <= status < 300:
            raise StepFailed(f"the listener answered {status} to {event_type}")
        self._passed()
        return event

    async def _delivery_status(self, event_id: str) -> int:
        deadline = time.monotonic() + NOTIFICATION_TIMEOUT
        while time.monotonic() < deadline:
            for hub_id, api in self.hubs.items():
                for delivery in await self.retail.hub_deliveries(api, hub_id, status="delivered"):  # type: ignore[arg-type]
                    if delivery.event_id == event_id and delivery.last_status_code is not None:
                        return delivery.last_status_code
            await asyncio.sleep(0.05)
        raise StepFailed(f"event {event_id} was not recorded as delivered")

    async def _telediagnostics(self) -> None:
        line = "SRV-000002"
        fault = await self.ops.put(
            f"/ops/v1/simulator/line/{line}", json={"condition": "fibreCut", "note": "demo"}
        )
        if fault.status_code != 200:
            raise StepFailed(f"could not break {line} in the simulator: {fault.text}")
        self.diagram.note(f"simulator: the drop fibre of {line} is cut")
        test = await self.retail.run_test(line, name="Subscriber reports no internet")
        self.diagram.arrow(RETAIL, WHOLESALE, f"POST /serviceTest ({line})")
        self.diagram.arrow(WHOLESALE, RETAIL, f"201 Created ({test.state})")
        self._passed()
        result = await self._notification(
            "ServiceTestAttributeValueChangeEvent",
            test.id,
            "results: completed",
            lambda e: resource_of(e).get("state") == "completed",
        )
        code = resource_of(result)["outcome"]["code"]
        if code != "FIBRE_LOS":
            raise StepFailed(f"the test of a cut fibre found {code}")
        self.diagram.note(f"outcome {code}: fault ticket warranted")
        self.test_id = test.id

        self.diagram.open("opt", "details / history / limits")
        details = await self.retail.get_test(test.id)
        history = await self.retail.list_tests(service_id=line)
        limits = await self.retail.test_limits(line)
        if details.id != test.id or test.id not in {t.id for t in history.items} or not limits:
            raise StepFailed("test details, history or limits are wrong")
        self.diagram.arrow(
            RETAIL,
            WHOLESALE,
            f"GET /serviceTest/{test.id[:8]}… · GET /serviceTest · GET /serviceTest/limits",
        )
        remaining = next(q.remaining for q in limits if q.related_service)
        self.diagram.arrow(WHOLESALE, RETAIL, f"200 OK ({remaining} tests left this hour)")
        self.diagram.close()
        self._passed()

    def _ticket_body(self, line: str, description: str, test_id: str | None) -> dict[str, Any]:
        related = [{"id": line, "role": "affectedService", "@referredType": "Service"}]
        if test_id:
            related.append({"id": test_id, "role": "serviceTest", "@referredType": "ServiceTest"})
        return {
            "description": description,
            "severity": "critical",
            "ticketType": "noService",
            "relatedEntity": related,
            "subscriberContact": {"name": "Jan Kowalski", "phoneNumber": "+48 600 100 200"},
        }

    async def _trouble_tickets(self) -> None:
        line = "SRV-000002"
        ticket = await self.retail.create_ticket(
            self._ticket_body(line, "No internet; the test found loss of signal.", self.test_id)
        )
        self.diagram.arrow(RETAIL, WHOLESALE, f"POST /troubleTicket ({line}, test attached)")
        self.diagram.arrow(WHOLESALE, RETAIL, f"201 Created ({ticket.status})")
        self._passed()
        self.diagram.open("opt", "list")
        listed = await self.retail.list_tickets(status=["acknowledged", "inProgress", "pending"])
        if ticket.id not in {t.id for t in listed.items}:
            raise StepFailed("the new ticket is not in the list")
        self.diagram.arrow(
            RETAIL, WHOLESALE, "GET /troubleTicket?status=acknowledged,inProgress,pending"
        )
        self.diagram.arrow(WHOLESALE, RETAIL, f"200 OK ({listed.total} open)")
        self.diagram.close()
        self._passed()

        self.diagram.open("alt", "fault on wholesale infrastructure")
        await self._cancelled_by_retail()
        await self._repaired(ticket.id)
        self.diagram.otherwise("no fault on wholesale infrastructure")
        await self._rejected()
        self.diagram.close()

    async def _cancelled_by_retail(self) -> None:
        self.diagram.open("opt", "OK cancels")
        other = await self.retail.create_ticket(
            self._ticket_body("SRV-000003", "Slow internet in the evenings.", None)
        )
        self.diagram.note_retail(
            f"opened ticket {other.id[:8]}… on SRV-000003 for this path (POST → 201)"
        )
        cancelled = await self.retail.cancel_ticket(other.id, "the subscriber's router was off")
        if cancelled.status != "cancelled":
            raise StepFailed(f"cancel left the ticket {cancelled.status}")
        self.diagram.arrow(
            RETAIL, WHOLESALE, f"PATCH /troubleTicket/{other.id[:8]}… status=cancelled"
        )
        self.diagram.arrow(WHOLESALE, RETAIL, "200 OK (Cancelled)")
        self.diagram.close()
        self._passed()

    async def _repaired(self, ticket_id: str) -> None:
        def status_is(status: str) -> Callable[[dict[str, Any]], bool]:
            return lambda e: resource_of(e).get("status") == status

        self.diagram.open("opt", "customer unreachable")
        await self._noc("start", ticket_id)
        await self._noc(
            "requestInformation",
            ticket_id,
            {"reason": "customerUnreachable", "fieldPath": "visitWindow"},
        )
        self.diagram.note("NOC: work started, the technician cannot reach the customer")
        await self._notification(
            "TroubleTicketInformationRequiredEvent", ticket_id, "Pending", status_is("pending")
        )
        visit = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
        window = {
            "startDateTime": visit.isoformat().replace("+00:00", "Z"),
            "endDateTime": (visit + timedelta(hours=4)).isoformat().replace("+00:00", "Z"),
        }
        answered = await self.retail.update_ticket(ticket_id, {"visitWindow": window})
        self.diagram.arrow(RETAIL, WHOLESALE, f"PATCH /troubleTicket/{ticket_id[:8]}… visitWindow")
        self.diagram.arrow(WHOLESALE, RETAIL, f"200 OK ({answered.status})")
        self.diagram.close()
        self._passed()

        self.diagram.open("opt", "ONT replaced")
        await self._noc("replaceOnt", ticket_id, {"newSerialNumber": "ALCLFA570001"})
        self.diagram.note("NOC: the technician replaces the ONT")
        await self._notification(
            "TroubleTicketAttributeValueChangeEvent",
            ticket_id,
            "new serial ALCLFA570001",
            lambda e: e.get("fieldPath") == "relatedEntity.ont",
        )
        self.diagram.close()

        await self._noc("resolve", ticket_id, {"resolutionCode": "fibreSpliced"})
        self.diagram.note("NOC: fibre spliced, fault removed")
        first = await self._notification(
            "TroubleTicketResolvedEvent", ticket_id, "Resolved", status_is("resolved")
        )

        self.diagram.open("opt", "fault persists")
        reopened = await self.retail.reopen_ticket(ticket_id, "still no internet")
        self.diagram.arrow(RETAIL, WHOLESALE, f"PATCH /troubleTicket/{ticket_id[:8]}… (reopen)")
        self.diagram.arrow(WHOLESALE, RETAIL, f"200 OK ({reopened.status})")
        self._passed()
        await self._noc("resolve", ticket_id, {"resolutionCode": "connectorCleaned"})
        self.diagram.note("NOC: fault removed again")
        await self._notification(
            "TroubleTicketResolvedEvent",
            ticket_id,
            "Resolved again",
            lambda e: (
                resource_of(e).get("status") == "resolved"
                and e.get("sequenceNumber", 0) > first.get("sequenceNumber", 0)
            ),
        )
        self.diagram.close()

        self.diagram.note(
            f"{AUTO_CLOSE_SECONDS} s after Resolved (24 h in production), not reopened"
        )
        await self._notification(
            "TroubleTicketResolvedEvent", ticket_id, "Closed", status_is("closed")
        )

    async def _rejected(self) -> None:
        other = await self.retail.create_ticket(
            self._ticket_body("SRV-000004", "No TV channels.", None)
        )
        self.diagram.note_retail(
            f"opened ticket {other.id[:8]}… on SRV-000004 for this path (POST → 201)"
        )
        await self._noc("start", other.id)
        await self._noc("rejectNoFault", other.id, {"note": "Line and ONT test clean."})
        self.diagram.note("NOC: no fault on the wholesale network")
        await self._notification(
            "TroubleTicketStatusChangeEvent",
            other.id,
            "Cancelled = rejected, noFaultFound",
            lambda e: resource_of(e).get("status") == "cancelled",
        )

    def _document(self, mermaid: str, same: bool) -> str:
        verdict = (
            "It matches the seed's diagram arrow for arrow."
            if same
            else "It does NOT match the seed's diagram; see the demo's output."
        )
        wire = "\n".join(self.wire.printed)
        return (
            "# The seed, played by `fiberassure demo`\n\n"
            f"Recorded {datetime.now(UTC):%Y-%m-%d %H:%M} UTC between a wholesale server and a "
            f"retail listener on 127.0.0.1. {verdict} Notes stand for what happened inside "
            "one side (the NOC's actions, the simulator, tickets opened only to walk a path). "
            "Not drawn: token requests, the demo's reads of the delivery log (marked "
            "`check` below), and the listener's own reads when a filtered hub leaves gaps "
            "in a ticket's sequence numbers (in the listener's log).\n\n"
            f"```mermaid\n{mermaid}```\n\n## Every HTTP message\n\n```text\n{wire}\n```\n"
        )


def run_demo(output: Path, *, keep: bool = False, echo: bool = True) -> Outcome:
    """Play the seed; `keep` leaves the temporary databases and logs in place."""
    workdir = Path(tempfile.mkdtemp(prefix="fiberassure-demo-"))
    demo = Demo(workdir, output, echo=echo)
    try:
        return demo.run()
    finally:
        if not keep:
            for path in workdir.iterdir():
                path.unlink()
            workdir.rmdir()
