"""Hostile and malformed input (DESIGN §7): every refusal is a 4xx with the TMF error body, never
a 5xx or a stack trace, and a refused write leaves every table exactly as it was."""

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from fiberassure.wholesale.app import create_app
from fiberassure.wholesale.clock import SettableClock
from fiberassure.wholesale.db import Base, Database
from fiberassure.wholesale.inventory.schemas import ServiceRecord
from fiberassure.wholesale.inventory.service import add_service
from fiberassure.wholesale.operators.schemas import RETAIL_SCOPES, Scope
from fiberassure.wholesale.operators.service import create_client, create_operator
from fiberassure.wholesale.settings import Settings
from tests.conftest import BASE_URL, START, bearer
from tests.tickets import OPS_TICKETS, TICKETS, ticket_body

MEGABYTE = 1024 * 1024
LEAKS = ("Traceback", 'File "', "sqlalchemy", "psycopg", "sqlite3", "pydantic_core")
JSON = "application/json"
MERGE_PATCH = "application/merge-patch+json"
TEXT = "text/plain"
FORM = "application/x-www-form-urlencoded"


class Raw(bytes):
    """A request body sent as these exact bytes instead of being JSON-encoded."""


NO_BODY = Raw(b"")


@dataclass(frozen=True)
class Bad:
    """One malformed request: its body (a JSON value, or `Raw` bytes), Content-Type, extra
    headers and the status it must get."""

    id: str
    body: Any
    status: int = 400
    content_type: str | None = JSON
    headers: tuple[tuple[bytes, bytes], ...] = ()

    def content(self) -> bytes:
        if isinstance(self.body, Raw):
            return bytes(self.body)
        return json.dumps(self.body).encode()

    def request_headers(self, auth: dict[str, str]) -> list[tuple[bytes, bytes]]:
        headers = [(name.encode(), value.encode()) for name, value in auth.items()]
        if self.content_type is not None:
            headers.append((b"Content-Type", self.content_type.encode()))
        headers.extend(self.headers)
        return headers


def params(cases: list[Bad]) -> list[Any]:
    return [pytest.param(case, id=case.id) for case in cases]


def assert_tmf_error(response: httpx.Response, *statuses: int) -> dict[str, Any]:
    """A 4xx in `statuses` with the TMF error body and nothing of the server's insides."""
    assert response.status_code in statuses, (response.status_code, response.text[:500])
    assert 400 <= response.status_code < 500
    assert response.headers["content-type"].startswith("application/json")
    for leak in LEAKS:
        assert leak not in response.text, f"{leak!r} leaked: {response.text[:500]}"
    body: dict[str, Any] = response.json()
    assert isinstance(body, dict)
    for key in ("code", "reason", "message", "status"):
        assert isinstance(body.get(key), str), (key, body)
        assert body[key], (key, body)
    assert body["status"] == str(response.status_code)
    return body


async def everything(database: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table: a refused write must leave all of it as it was."""
    rows: dict[str, list[tuple[Any, ...]]] = {}
    async with database.transaction() as session:
        for table in Base.metadata.sorted_tables:
            result = await session.execute(table.select())
            rows[table.name] = sorted((tuple(row) for row in result), key=repr)
    return rows


@dataclass(frozen=True)
class Scene:
    """One app and one ticket shared by the module, so the set-up is paid once per database.
    Tests of refusals check that nothing changed (`unchanged`); the one test that changes data
    uses line SRV-A2, which no other test relies on."""

    http: httpx.AsyncClient
    database: Database
    settings: Settings
    retail: dict[str, str]
    ops: dict[str, str]
    ticket: str  # acknowledged, operator A, line SRV-A0; SRV-A1 and SRV-A2 are free


async def empty_tables(database: Database) -> None:
    tables = [table.name for table in reversed(Base.metadata.sorted_tables)]
    async with database.transaction() as session:
        for name in tables:
            await session.execute(text(f'DELETE FROM "{name}"'))


async def seed(database: Database, now: datetime) -> dict[str, tuple[str, str]]:
    """Operators A (lines SRV-A0..2) and B (SRV-B0) and an ops client: name → credentials."""
    credentials = {}
    async with database.transaction() as session:
        for letter in "AB":
            operator = await create_operator(
                session, f"Operator {letter}", now, operator_id=f"op-{letter.lower()}"
            )
            client = await create_client(
                session, name=letter, operator_id=operator.id, scopes=RETAIL_SCOPES, now=now
            )
            credentials[letter] = (client.client_id, client.client_secret)
            for line in range(3 if letter == "A" else 1):
                record = ServiceRecord(
                    service_id=f"SRV-{letter}{line}",
                    operator_id=operator.id,
                    ont_serial_number=f"ALCL{ord(letter):04X}{line:04X}",
                    olt_name="OLT-TEST-01",
                    pon_port=f"1/1/1/{line + 1}",
                )
                await add_service(session, record, now)
        ops = await create_client(
            session, name="NOC", operator_id=None, scopes=(Scope.OPS,), now=now
        )
        credentials["ops"] = (ops.client_id, ops.client_secret)
    return credentials


@pytest.fixture(scope="module")
async def scene(database: Database, database_url: str) -> AsyncIterator[Scene]:
    clock = SettableClock(START)
    await empty_tables(database)
    credentials = await seed(database, clock.now())
    settings = Settings(database_url=database_url, public_base_url=BASE_URL)
    app = create_app(settings, database=database, clock=clock)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
        retail = await bearer(http, *credentials["A"])
        ops = await bearer(http, *credentials["ops"])
        # The base body of every create case is accepted on a free line.
        created = await http.post(TICKETS, json=ticket_body("SRV-A0"), headers=retail)
        assert created.status_code == 201, created.text
        yield Scene(http, database, settings, retail, ops, created.json()["id"])
    await empty_tables(database)


@pytest.fixture
async def unchanged(scene: Scene) -> AsyncIterator[None]:
    """Asserts after the test that no row changed, written or half-written."""
    before = await everything(scene.database)
    yield
    after = await everything(scene.database)
    assert after == before


# SRV-A0 holds the scene's open ticket; on the free line SRV-A1 a create body that slipped
# through validation would be accepted, so only its flaw can get it refused.
FREE_LINE = "SRV-A1"


def with_(**changes: Any) -> dict[str, Any]:
    return ticket_body(FREE_LINE, **changes)


def without(*keys: str) -> dict[str, Any]:
    body = ticket_body(FREE_LINE)
    for key in keys:
        del body[key]
    return body


def contact(**changes: Any) -> dict[str, Any]:
    return {"name": "Jan Kowalski", "phoneNumber": "+48 600 100 200", **changes}


def affected(**changes: Any) -> list[dict[str, Any]]:
    return [{"id": FREE_LINE, "role": "affectedService", "@referredType": "Service", **changes}]


def window(start: Any, end: Any) -> dict[str, Any]:
    return {"startDateTime": start, "endDateTime": end}


BAD_PHONE_NUMBERS = [
    "call me maybe",
    "",
    "+",
    "12345",
    "+48 600 100 200 ext. 7",
    "+48\uff16\uff10\uff10100200",  # full-width digits
    "1" * 40,
    "+48\n600100200",
    "+48 600 100 200; DROP TABLE",
]

NOT_OBJECTS = [
    Bad("broken-json", Raw(b'{"description": "no closing brace"')),
    Bad("trailing-garbage", Raw(b'{"description": "x"} and more')),
    Bad("empty-body", NO_BODY),
    Bad("list", []),
    Bad("string", "a ticket, please"),
    Bad("null", None),
    Bad("number", 42),
    Bad("true", True),
    Bad("invalid-utf8", Raw(b'{"description": "\xff\xfe"}')),
    Bad("nan", Raw(b'{"description": NaN}')),
    Bad("deep-nesting", Raw(b"[" * 50_000 + b"]" * 50_000)),
]


def wrong_content_types(body: Any) -> list[Bad]:
    return [
        Bad("text-plain", body, 415, TEXT),
        Bad("form", Raw(b"description=hello&severity=critical"), 415, FORM),
        Bad("multipart", Raw(b"--x\r\n\r\nhello\r\n--x--\r\n"), 415, "multipart/form-data"),
        Bad("xml", Raw(b"<troubleTicket/>"), 415, "application/xml"),
    ]


CREATE_CASES = [
    *(
        Bad(f"missing-{key}", without(key))
        for key in ("description", "severity", "ticketType", "relatedEntity", "subscriberContact")
    ),
    Bad("missing-phone-number", with_(subscriberContact={"name": "Jan"})),
    Bad("missing-related-entity-role", with_(relatedEntity=[{"id": FREE_LINE}])),
    Bad("missing-related-entity-id", with_(relatedEntity=affected(id=None))),
    Bad("description-number", with_(description=42)),
    Bad("description-list", with_(description=["no", "service"])),
    Bad("description-empty", with_(description="")),
    Bad("description-blank", with_(description="   ")),
    Bad("description-over-4000", with_(description="x" * 4001)),
    Bad("description-nul", with_(description="no\x00service")),
    Bad("severity-number", with_(severity=1)),
    Bad("severity-null", with_(severity=None)),
    Bad("severity-unknown", with_(severity="catastrophic")),
    Bad("severity-wrong-case", with_(severity="Critical")),
    Bad("ticket-type-bool", with_(ticketType=True)),
    Bad("ticket-type-unknown", with_(ticketType="brokenHeart")),
    Bad("related-entity-object", with_(relatedEntity=affected()[0])),
    Bad("related-entity-string", with_(relatedEntity=FREE_LINE)),
    Bad("related-entity-empty", with_(relatedEntity=[])),
    Bad("related-entity-of-strings", with_(relatedEntity=[FREE_LINE])),
    Bad("related-entity-role-unknown", with_(relatedEntity=affected(role="owner"))),
    Bad(
        "related-entity-referred-type-wrong",
        with_(relatedEntity=affected(**{"@referredType": "X"})),
    ),
    Bad("related-entity-two-services", with_(relatedEntity=affected() + affected(id="SRV-A2"))),
    Bad(
        "related-entity-no-service",
        with_(relatedEntity=[{"id": "ALCL00000000", "role": "ont", "@referredType": "Resource"}]),
    ),
    Bad("related-entity-non-ascii-id", with_(relatedEntity=affected(id="SRV-\u00c40"))),
    Bad("related-entity-id-too-long", with_(relatedEntity=affected(id="S" * 101))),
    Bad("related-entity-unknown-attribute", with_(relatedEntity=affected(colour="red"))),
    Bad("service-of-another-operator", with_(relatedEntity=affected(id="SRV-B0"))),
    Bad("service-that-does-not-exist", with_(relatedEntity=affected(id="SRV-NOPE"))),
    Bad("type-unknown", with_(**{"@type": "TroubleTicketV5"})),
    Bad("unknown-attribute", with_(priority="high")),
    Bad("contact-string", with_(subscriberContact="Jan Kowalski")),
    Bad("contact-unknown-attribute", with_(subscriberContact=contact(age=42))),
    Bad("contact-email-invalid", with_(subscriberContact=contact(email="not-an-email"))),
    *(
        Bad(f"phone-{index}", with_(subscriberContact=contact(phoneNumber=phone)))
        for index, phone in enumerate(BAD_PHONE_NUMBERS)
    ),
    Bad("phone-number-number", with_(subscriberContact=contact(phoneNumber=48600100200))),
    Bad("note-string", with_(note="call before noon")),
    Bad("note-text-number", with_(note=[{"text": 5}])),
    Bad("note-too-many", with_(note=[{"text": "n"}] * 21)),
    Bad("attachment-url-not-http", with_(attachment=[{"name": "a", "url": "file:///etc/passwd"}])),
    Bad("external-id-number", with_(externalId=7)),
    Bad("external-id-with-space", with_(externalId="OK 123")),
    Bad("visit-window-string", with_(visitWindow="tomorrow morning")),
    Bad(
        "visit-window-naive-start",
        with_(visitWindow=window("2026-11-29T08:00:00", "2026-11-29T12:00:00Z")),
    ),
    Bad(
        "visit-window-naive-end",
        with_(visitWindow=window("2026-11-29T08:00:00Z", "2026-11-29T12:00:00")),
    ),
    Bad(
        "visit-window-end-before-start",
        with_(visitWindow=window("2026-11-29T12:00:00Z", "2026-11-29T08:00:00Z")),
    ),
    Bad(
        "visit-window-empty",
        with_(visitWindow=window("2026-11-29T12:00:00Z", "2026-11-29T12:00:00Z")),
    ),
    Bad("visit-window-not-a-date", with_(visitWindow=window("someday", "2026-11-29T12:00:00Z"))),
    Bad(
        "visit-window-year-0",
        with_(visitWindow=window("0001-01-01T00:00:00+01:00", "2026-11-29T12:00:00Z")),
    ),
    Bad(
        "visit-window-after-9999",
        with_(visitWindow=window("2026-11-29T08:00:00Z", "9999-12-31T23:59:59-01:00")),
    ),
    Bad("visit-window-missing-end", with_(visitWindow={"startDateTime": "2026-11-29T08:00:00Z"})),
    *NOT_OBJECTS,
    *wrong_content_types(with_()),
    Bad("no-content-type", with_(), 415, None),
    Bad("idempotency-key-huge", with_(), headers=((b"Idempotency-Key", b"k" * 10_000),)),
    Bad("idempotency-key-non-ascii", with_(), headers=((b"Idempotency-Key", "kłucz".encode()),)),
    Bad("idempotency-key-latin1", with_(), headers=((b"Idempotency-Key", b"\xff\xfe"),)),
    Bad("idempotency-key-space", with_(), headers=((b"Idempotency-Key", b"a b"),)),
]


@pytest.mark.parametrize("case", params(CREATE_CASES))
async def test_bad_create_is_refused_and_writes_nothing(
    scene: Scene, unchanged: None, case: Bad
) -> None:
    response = await scene.http.post(
        TICKETS, content=case.content(), headers=case.request_headers(scene.retail)
    )

    assert_tmf_error(response, case.status)


async def test_body_over_the_size_limit_is_413(scene: Scene, unchanged: None) -> None:
    body = json.dumps(with_(description="x" * MEGABYTE)).encode()
    assert len(body) > scene.settings.max_body_bytes

    response = await scene.http.post(
        TICKETS, content=body, headers={**scene.retail, "Content-Type": JSON}
    )

    error = assert_tmf_error(response, 413)
    assert str(scene.settings.max_body_bytes) in error["message"]


async def test_streamed_body_over_the_size_limit_is_413(scene: Scene, unchanged: None) -> None:
    """Without Content-Length the limit is enforced while the body is read."""

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"description": "'
        for _ in range(16):
            yield b"x" * 65536
        yield b'"}'

    response = await scene.http.post(
        TICKETS, content=chunks(), headers={**scene.retail, "Content-Type": JSON}
    )

    assert "content-length" not in response.request.headers
    assert_tmf_error(response, 413)


# -- PATCH /troubleTicket/{id} ----------------------------------------------------------------

PATCH_CASES = [
    Bad("patch-description-number", {"description": 42}),
    Bad("patch-description-empty", {"description": ""}),
    Bad("patch-description-over-4000", {"description": "x" * 4001}),
    Bad("patch-description-nul", {"description": "\x00"}),
    Bad("patch-description-null", {"description": None}),
    Bad("patch-severity-number", {"severity": 1}),
    Bad("patch-severity-unknown", {"severity": "catastrophic"}),
    Bad("patch-severity-null", {"severity": None}),
    Bad("patch-status-unknown", {"status": "bogus"}),
    Bad("patch-status-server-only", {"status": "resolved"}),
    Bad("patch-status-initial", {"status": "acknowledged"}),
    Bad("patch-status-number", {"status": 3}),
    Bad("patch-status-null", {"status": None}),
    Bad("patch-contact-string", {"subscriberContact": "Jan"}),
    Bad("patch-contact-null", {"subscriberContact": None}),
    Bad("patch-contact-unknown-attribute", {"subscriberContact": contact(age=42)}),
    *(
        Bad(f"patch-phone-{index}", {"subscriberContact": contact(phoneNumber=phone)})
        for index, phone in enumerate(BAD_PHONE_NUMBERS)
    ),
    Bad("patch-visit-window-string", {"visitWindow": "soon"}),
    Bad(
        "patch-visit-window-naive",
        {"visitWindow": window("2026-11-29T08:00:00", "2026-11-29T12:00:00")},
    ),
    Bad(
        "patch-visit-window-end-before-start",
        {"visitWindow": window("2026-11-29T12:00:00Z", "2026-11-29T08:00:00Z")},
    ),
    Bad(
        "patch-visit-window-year-0",
        {"visitWindow": window("0001-01-01T00:00:00+01:00", "2026-11-29T12:00:00Z")},
    ),
    Bad("patch-note-string", {"note": "hello"}),
    Bad("patch-note-without-text", {"note": [{"author": "me"}]}),
    Bad("patch-attachment-object", {"attachment": {"name": "a", "url": "https://x/a.jpg"}}),
    Bad("patch-unknown-attribute", {"priority": "high"}),
    Bad("patch-unknown-and-valid", {"description": "fine", "priority": "high"}),
    *(
        Bad(f"patch-read-only-{key}", {key: value})
        for key, value in (
            ("id", "another-id"),
            ("relatedEntity", affected()),
            ("ticketType", "other"),
            ("externalId", "X-1"),
            ("creationDate", "2020-01-01T00:00:00Z"),
            ("href", "http://evil.example/"),
        )
    ),
    *(Bad(f"patch-{case.id}", case.body) for case in NOT_OBJECTS),
    *(
        Bad(f"patch-{case.id}", case.body, case.status, case.content_type)
        for case in wrong_content_types({"description": "x"})
    ),
    Bad("patch-if-match-stale", {"description": "x"}, 412, MERGE_PATCH, ((b"If-Match", b'"99"'),)),
]


@pytest.mark.parametrize("case", params(PATCH_CASES))
async def test_bad_patch_is_refused_and_writes_nothing(
    scene: Scene, unchanged: None, case: Bad
) -> None:
    response = await scene.http.patch(
        f"{TICKETS}/{scene.ticket}",
        content=case.content(),
        headers=case.request_headers(scene.retail),
    )

    assert_tmf_error(response, case.status)


async def test_patch_over_the_size_limit_is_413(scene: Scene, unchanged: None) -> None:
    response = await scene.http.patch(
        f"{TICKETS}/{scene.ticket}",
        content=json.dumps({"description": "x" * MEGABYTE}).encode(),
        headers={**scene.retail, "Content-Type": MERGE_PATCH},
    )

    assert_tmf_error(response, 413)


# -- the wholesale operations API -------------------------------------------------------------

OPS_CASES = [
    Bad("start-unknown-attribute", {"colour": "red"}),
    Bad("start-note-number", {"note": 5}),
    Bad("start-note-over-4000", {"note": "x" * 4001}),
    *(
        Bad(f"start-{case.id}", case.body)
        for case in NOT_OBJECTS
        if case.id not in ("empty-body", "null")
    ),
    *(Bad(f"start-{c.id}", c.body, c.status, c.content_type) for c in wrong_content_types({})),
    Bad("hold-text-plain", Raw(b"please hold"), 415, TEXT),
    Bad("release-form", Raw(b"note=x"), 415, FORM),
    Bad("resolve-text-plain", Raw(b"fixed"), 415, TEXT),
    Bad("resolve-code-number", {"resolutionCode": 5}),
    Bad("resolve-code-empty", {"resolutionCode": ""}),
    Bad("rejectNoFault-list", []),
    Bad("rejectNoFault-xml", Raw(b"<x/>"), 415, "application/xml"),
    Bad("requestInformation-empty-object", {}),
    Bad("requestInformation-empty-body", NO_BODY),
    Bad("requestInformation-missing-field-path", {"reason": "customerUnreachable"}),
    Bad("requestInformation-field-path-unknown", {"reason": "x", "fieldPath": "password"}),
    Bad("requestInformation-field-path-number", {"reason": "x", "fieldPath": 5}),
    Bad("requestInformation-reason-too-long", {"reason": "x" * 201, "fieldPath": "visitWindow"}),
    Bad("requestInformation-null", None),
    Bad("requestInformation-text-plain", Raw(b"call the customer"), 415, TEXT),
    Bad("replaceOnt-empty-object", {}),
    Bad("replaceOnt-serial-garbage", {"newSerialNumber": "xyz"}),
    Bad("replaceOnt-serial-not-hex", {"newSerialNumber": "ALCL0000000G"}),
    Bad("replaceOnt-serial-number", {"newSerialNumber": 12345678}),
    Bad("replaceOnt-serial-non-ascii", {"newSerialNumber": "ALCŁ00000001"}),
    Bad("replaceOnt-unknown-attribute", {"newSerialNumber": "ALCL0000ABCD", "vendor": "x"}),
    Bad("replaceOnt-form", Raw(b"newSerialNumber=ALCL0000ABCD"), 415, FORM),
    Bad("addNote-empty-object", {}),
    Bad("addNote-text-empty", {"text": ""}),
    Bad("addNote-text-number", {"text": 5}),
    Bad("addNote-text-over-4000", {"text": "x" * 4001}),
    Bad("addNote-text-nul", {"text": "a\x00b"}),
    Bad("addNote-string", "a note"),
    Bad("addNote-form", Raw(b"text=hello"), 415, FORM),
]


def ops_action_of(case: Bad) -> str:
    action = case.id.split("-", 1)[0]
    assert action in {
        "start",
        "hold",
        "release",
        "resolve",
        "rejectNoFault",
        "requestInformation",
        "replaceOnt",
        "addNote",
    }
    return action


@pytest.mark.parametrize("case", params(OPS_CASES))
async def test_bad_ops_action_is_refused_and_writes_nothing(
    scene: Scene, unchanged: None, case: Bad
) -> None:
    response = await scene.http.post(
        f"{OPS_TICKETS}/{scene.ticket}/{ops_action_of(case)}",
        content=case.content(),
        headers=case.request_headers(scene.ops),
    )

    assert_tmf_error(response, case.status)


async def test_ops_action_without_a_body_is_accepted(scene: Scene) -> None:
    """The optional-body check refuses non-JSON bodies, not requests without one."""
    created = await scene.http.post(TICKETS, json=ticket_body("SRV-A2"), headers=scene.retail)
    assert created.status_code == 201, created.text

    response = await scene.http.post(
        f"{OPS_TICKETS}/{created.json()['id']}/start", headers=scene.ops
    )

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "inProgress"


async def test_ops_note_over_the_size_limit_is_413(scene: Scene, unchanged: None) -> None:
    response = await scene.http.post(
        f"{OPS_TICKETS}/{scene.ticket}/addNote",
        content=json.dumps({"text": "x" * MEGABYTE}).encode(),
        headers={**scene.ops, "Content-Type": JSON},
    )

    assert_tmf_error(response, 413)


# -- path ids ---------------------------------------------------------------------------------

ODD_IDS = [
    pytest.param("x" * 101, id="101-chars"),
    pytest.param("x" * 10_000, id="10000-chars"),
    pytest.param("%00", id="nul"),
    pytest.param("%FF%FE", id="invalid-utf8"),
    pytest.param("%C3%A9t%C3%A9", id="non-ascii"),
    pytest.param("%F0%9F%92%A9", id="emoji"),
    pytest.param("..%2F..%2Fetc%2Fpasswd", id="traversal"),
    pytest.param("%27%20OR%201%3D1--", id="sql"),
    pytest.param("%25s%25s%25n", id="format-string"),
    pytest.param("%20", id="space"),
    pytest.param("%0D%0ASet-Cookie:%20x=1", id="crlf"),
]


def odd_id_statuses(raw: str) -> tuple[int, ...]:
    # Too long for the path parameter: 400; anything else is simply no such ticket (404).
    # On PostgreSQL a NUL is a value that cannot be looked up at all: 400.
    return (400,) if raw.startswith("x" * 101) else (400, 404)


@pytest.mark.parametrize("raw_id", ODD_IDS)
async def test_odd_ticket_id_on_get_is_a_tmf_4xx(scene: Scene, raw_id: str) -> None:
    response = await scene.http.get(f"{TICKETS}/{raw_id}", headers=scene.retail)

    assert_tmf_error(response, *odd_id_statuses(raw_id))
    assert "set-cookie" not in response.headers


@pytest.mark.parametrize("raw_id", ODD_IDS)
async def test_odd_ticket_id_on_patch_writes_nothing(
    scene: Scene, unchanged: None, raw_id: str
) -> None:
    response = await scene.http.patch(
        f"{TICKETS}/{raw_id}",
        json={"description": "x"},
        headers={**scene.retail, "Content-Type": MERGE_PATCH},
    )

    assert_tmf_error(response, *odd_id_statuses(raw_id))


@pytest.mark.parametrize("raw_id", ODD_IDS)
async def test_odd_ticket_id_on_an_ops_action_writes_nothing(
    scene: Scene, unchanged: None, raw_id: str
) -> None:
    response = await scene.http.post(
        f"{OPS_TICKETS}/{raw_id}/addNote", json={"text": "x"}, headers=scene.ops
    )

    assert_tmf_error(response, *odd_id_statuses(raw_id))


# -- query parameters -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=abc",
        "limit=-1",
        "limit=1.5",
        "limit=1001",
        "limit=99999999999999999999999999",
        "offset=-1",
        "offset=abc",
        "offset=99999999999",
        "status=bogus",
        "status=acknowledged,bogus",
        "status=%2C",
        "severity=catastrophic",
        "ticketType=brokenHeart",
        "creationDate.gt=notadate",
        "creationDate.gt=2026-11-28T09:00:00",
        "creationDate.lt=2026-13-45T00:00:00Z",
        "lastUpdate.gt=0001-01-01T00:00:00%2B01:00",
        "lastUpdate.lt=9999-12-31T23:59:59-01:00",
        "fields=password",
        "sort=secret",
        "sort=--creationDate;DROP",
        "colour=red",
        "externalId=" + "x" * 101,
        "relatedEntity.id=" + "x" * 101,
    ],
)
async def test_invalid_query_parameter_is_400(scene: Scene, query: str) -> None:
    response = await scene.http.get(f"{TICKETS}?{query}", headers=scene.retail)

    assert_tmf_error(response, 400)


@pytest.mark.parametrize("query", ["externalId=%00", "relatedEntity.id=%00", "status=%00"])
async def test_nul_in_a_query_parameter_is_never_a_server_error(scene: Scene, query: str) -> None:
    response = await scene.http.get(f"{TICKETS}?{query}", headers=scene.retail)

    if response.status_code == 200:  # SQLite can look a NUL up; it matches nothing
        assert response.json() == []
    else:
        assert_tmf_error(response, 400)


# -- routing ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/nope"),
        ("GET", "/tmf-api/troubleTicket/v4/nope"),
        ("GET", "/tmf-api/troubleTicket/v5/troubleTicket"),
        ("POST", "/tmf-api/troubleTicket/v4/troubleTicket/x/y"),
        ("POST", "/ops/v1/troubleTicket/x/explode"),
        ("GET", "/ops/v1"),
    ],
)
async def test_unknown_path_is_404_with_a_tmf_body(scene: Scene, method: str, path: str) -> None:
    response = await scene.http.request(method, path, headers=scene.retail)

    body = assert_tmf_error(response, 404)
    assert body["code"] == "NOT_FOUND"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("DELETE", TICKETS),
        ("PUT", TICKETS),
        ("PUT", f"{TICKETS}/some-id"),
        ("DELETE", f"{TICKETS}/some-id"),
        ("POST", f"{TICKETS}/some-id"),
        ("GET", "/oauth/token"),
        ("GET", f"{OPS_TICKETS}/some-id/start"),
        ("PATCH", f"{OPS_TICKETS}/some-id"),
    ],
)
async def test_wrong_method_is_405_with_a_tmf_body(scene: Scene, method: str, path: str) -> None:
    response = await scene.http.request(method, path, headers=scene.retail)

    body = assert_tmf_error(response, 405)
    assert body["code"] == "METHOD_NOT_ALLOWED"
    assert response.headers["Allow"]
