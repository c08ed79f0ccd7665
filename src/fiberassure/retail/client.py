"""The retail SDK: typed clients for the wholesaler's TMF621 and TMF653 APIs and hubs.

```python
async with AsyncRetailClient(url, client_id, client_secret) as wholesale:
    test = await wholesale.wait_for_test((await wholesale.run_test("SRV-000001")).id)
    if test.outcome and test.outcome.fault_ticket_warranted:
        ticket = await wholesale.create_ticket({...})
```

`RetailClient` is the same API without `await`, for scripts and the CLI.

What the clients do for you:
- OAuth2 client credentials: the token is fetched when first needed, kept, and fetched again
  shortly before it expires or when the server says it expired.
- Retries with exponential back-off and jitter, honouring `Retry-After`: a request that can
  be repeated safely (GET, DELETE, and creates, which carry an `Idempotency-Key` so the server
  answers a repeat with the first response) is retried on connection errors, timeouts, 5xx
  and 429; any other request only when it cannot have reached the server (the connection
  failed) or the server refused it without doing anything (429, 503).
- A 429 whose quota resets later than `max_retry_wait` is not waited for: it raises
  `QuotaExceededError` at once, with `retry_after`.
- Every error answer raises a typed `ApiError` carrying the TMF error body.
"""

import asyncio
import random
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Generic, Literal, Self, TypeVar

import httpx
from pydantic import BaseModel

from fiberassure import __version__
from fiberassure.retail.errors import (
    ApiError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    FiberassureError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    PreconditionFailedError,
    QuotaExceededError,
    ServerError,
    TransportError,
    UnprocessableError,
    WaitTimeout,
    error_for,
)
from fiberassure.tmf.errors import ErrorBody
from fiberassure.tmf.hub import DeliveryOut, HubOut
from fiberassure.tmf.service_test import (
    FINAL_STATES,
    SERVICE_TEST_BASE_PATH,
    Quota,
    ServiceTest,
    ServiceTestSpecification,
)
from fiberassure.tmf.trouble_ticket import TroubleTicket, TroubleTicketCreate, TroubleTicketUpdate

__all__ = [
    "ApiError",
    "AsyncRetailClient",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "FiberassureError",
    "HubApi",
    "NotFoundError",
    "Page",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "PreconditionFailedError",
    "QuotaExceededError",
    "RetailClient",
    "ServerError",
    "TransportError",
    "UnprocessableError",
    "WaitTimeout",
]

TICKETS = "/tmf-api/troubleTicket/v4/troubleTicket"
TESTS = f"{SERVICE_TEST_BASE_PATH}/serviceTest"
SPECIFICATIONS = f"{SERVICE_TEST_BASE_PATH}/serviceTestSpecification"
HUB_PATHS = {
    "troubleTicket": "/tmf-api/troubleTicket/v4/hub",
    "serviceTest": f"{SERVICE_TEST_BASE_PATH}/hub",
}
HubApi = Literal["troubleTicket", "serviceTest"]
# Refused before the server did anything: safe to send again whatever the request.
REFUSED_UNDONE = frozenset({429, 503})
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
TOKEN_MARGIN_S = 30.0

Item = TypeVar("Item", bound=BaseModel)
Result = TypeVar("Result")


@dataclass(frozen=True)
class Page(Generic[Item]):
    """One page of a list: `items`, and `total` matches over all pages (X-Total-Count)."""

    items: list[Item]
    total: int
    offset: int


def _when(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("give date-times with a time zone, e.g. datetime.now(UTC)")
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _comma(value: str | list[str] | None) -> str | None:
    return ",".join(value) if isinstance(value, list) else value


def _query(**params: Any) -> dict[str, Any]:
    return {name: value for name, value in params.items() if value is not None}


def _wire(body: BaseModel | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(body, BaseModel):
        return body.model_dump(mode="json", by_alias=True, exclude_unset=True)
    return dict(body)


class AsyncRetailClient:
    """Async client of the wholesaler's APIs for one retail operator's API client."""

    def __init__(
        self,
        base_url: str,
        client_id: str,
        client_secret: str,
        *,
        timeout: float = 30.0,
        max_retries: int = 4,
        max_retry_wait: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
        event_hooks: dict[str, list[Callable[..., Any]]] | None = None,
    ) -> None:
        """`max_retries` more attempts after the first; `max_retry_wait` is the longest
        back-off or `Retry-After` the client sleeps through. `transport` is for tests;
        `event_hooks` are httpx's (e.g. to log every request and response)."""
        self.client_id = client_id
        self._client_secret = client_secret
        self.max_retries = max_retries
        self.max_retry_wait = max_retry_wait
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            timeout=timeout,
            transport=transport,
            headers={"User-Agent": f"fiberassure-retail/{__version__}"},
            event_hooks=event_hooks,
        )
        self._token: str | None = None
        self._token_expires = 0.0
        self._token_lock = asyncio.Lock()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- trouble tickets (TMF621) -------------------------------------------------------------

    async def create_ticket(
        self,
        body: TroubleTicketCreate | Mapping[str, Any],
        *,
        idempotency_key: str | None = None,
    ) -> TroubleTicket:
        """Report a fault. The request carries an `Idempotency-Key` (a new UUID unless
        given), so a retry after a lost answer returns the same ticket, never a second one."""
        ticket = TroubleTicketCreate.model_validate(_wire(body))
        response = await self._request(
            "POST",
            TICKETS,
            json=_wire(ticket),
            headers={"Idempotency-Key": idempotency_key or str(uuid.uuid4())},
            repeatable=True,
        )
        return TroubleTicket.model_validate(response.json())

    async def list_tickets(
        self,
        *,
        status: str | list[str] | None = None,
        ticket_type: str | list[str] | None = None,
        severity: str | list[str] | None = None,
        external_id: str | None = None,
        related_entity_id: str | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        updated_after: datetime | None = None,
        updated_before: datetime | None = None,
        sort: str | None = None,
        offset: int = 0,
        limit: int | None = None,
    ) -> Page[TroubleTicket]:
        """Your tickets matching every given filter, newest first unless `sort` says so."""
        params = _query(
            status=_comma(status),
            ticketType=_comma(ticket_type),
            severity=_comma(severity),
            externalId=external_id,
            **{"relatedEntity.id": related_entity_id},
            **{"creationDate.gt": _when(created_after), "creationDate.lt": _when(created_before)},
            **{"lastUpdate.gt": _when(updated_after), "lastUpdate.lt": _when(updated_before)},
            sort=sort,
            offset=offset,
            limit=limit,
        )
        return await self._page(TICKETS, params, TroubleTicket, offset)

    async def iter_tickets(self, **filters: Any) -> AsyncIterator[TroubleTicket]:
        """Every ticket matching `filters` (as for `list_tickets`), page after page."""
        async for ticket in self._iterate(self.list_tickets, filters):
            yield ticket

    async def get_ticket(self, ticket_id: str) -> TroubleTicket:
        response = await self._request("GET", f"{TICKETS}/{ticket_id}")
        return TroubleTicket.model_validate(response.json())

    async def update_ticket(
        self,
        ticket_id: str,
        changes: TroubleTicketUpdate | Mapping[str, Any],
        *,
        if_match: str | None = None,
    ) -> TroubleTicket:
        """Merge-patch the ticket (notes and attachments are appended). With `if_match` (an
        ETag, e.g. `'"3"'`), the change is refused if someone changed the ticket since."""
        patch = _wire(TroubleTicketUpdate.model_validate(_wire(changes)))
        headers = {"Content-Type": "application/merge-patch+json"}
        if if_match is not None:
            headers["If-Match"] = if_match
        response = await self._request(
            "PATCH", f"{TICKETS}/{ticket_id}", json=patch, headers=headers
        )
        return TroubleTicket.model_validate(response.json())

    async def cancel_ticket(self, ticket_id: str, reason: str | None = None) -> TroubleTicket:
        return await self._set_status(ticket_id, "cancelled", reason)

    async def reopen_ticket(self, ticket_id: str, reason: str | None = None) -> TroubleTicket:
        """The fault persists: put a resolved ticket back in progress (within the reopen
        window)."""
        return await self._set_status(ticket_id, "inProgress", reason)

    async def accept_ticket(self, ticket_id: str) -> TroubleTicket:
        """Accept the resolution: the ticket is closed now instead of after the window."""
        return await self._set_status(ticket_id, "closed", None)

    async def add_note(self, ticket_id: str, text: str, author: str | None = None) -> TroubleTicket:
        note = _query(text=text, author=author)
        return await self.update_ticket(ticket_id, {"note": [note]})

    async def _set_status(self, ticket_id: str, status: str, reason: str | None) -> TroubleTicket:
        return await self.update_ticket(ticket_id, _query(status=status, statusChangeReason=reason))

    # -- service tests (TMF653) ---------------------------------------------------------------

    async def run_test(
        self,
        service_id: str,
        *,
        specification: str = "ontStatus",
        name: str | None = None,
        description: str | None = None,
        idempotency_key: str | None = None,
    ) -> ServiceTest:
        """Order a test of one of your lines; it comes back `acknowledged`. The result
        arrives at your listener, or wait for it with `wait_for_test`."""
        body = _query(
            name=name or f"{specification} of {service_id}",
            description=description,
            relatedService={"id": service_id},
            testSpecification={"id": specification},
        )
        response = await self._request(
            "POST",
            TESTS,
            json=body,
            headers={"Idempotency-Key": idempotency_key or str(uuid.uuid4())},
            repeatable=True,
        )
        return ServiceTest.model_validate(response.json())

    async def wait_for_test(
        self,
        test_id: str,
        *,
        timeout: float = 60.0,  # noqa: ASYNC109 (a deadline for polling, not for one call)
        poll_interval: float = 1.0,
    ) -> ServiceTest:
        """Poll until the test is completed or failed; WaitTimeout after `timeout` s."""
        deadline = time.monotonic() + timeout
        while True:
            test = await self.get_test(test_id)
            if test.state in FINAL_STATES:
                return test
            if time.monotonic() + poll_interval > deadline:
                raise WaitTimeout(f"test {test_id} is still {test.state} after {timeout:g} s")
            await asyncio.sleep(poll_interval)

    async def get_test(self, test_id: str) -> ServiceTest:
        response = await self._request("GET", f"{TESTS}/{test_id}")
        return ServiceTest.model_validate(response.json())

    async def list_tests(
        self,
        *,
        service_id: str | None = None,
        state: str | list[str] | None = None,
        specification: str | None = None,
        started_after: datetime | None = None,
        started_before: datetime | None = None,
        sort: str | None = None,
        offset: int = 0,
        limit: int | None = None,
    ) -> Page[ServiceTest]:
        """Your tests (the history), newest first."""
        params = _query(
            **{"relatedService.id": service_id, "testSpecification.id": specification},
            state=_comma(state),
            **{"startDateTime.gt": _when(started_after), "startDateTime.lt": _when(started_before)},
            sort=sort,
            offset=offset,
            limit=limit,
        )
        return await self._page(TESTS, params, ServiceTest, offset)

    async def iter_tests(self, **filters: Any) -> AsyncIterator[ServiceTest]:
        async for test in self._iterate(self.list_tests, filters):
            yield test

    async def test_limits(self, service_id: str | None = None) -> list[Quota]:
        """Every query limit with limit, used, remaining, window start and reset time."""
        params = _query(**{"relatedService.id": service_id})
        response = await self._request("GET", f"{TESTS}/limits", params=params)
        return [Quota.model_validate(item) for item in response.json()]

    async def list_specifications(self) -> list[ServiceTestSpecification]:
        response = await self._request("GET", SPECIFICATIONS)
        return [ServiceTestSpecification.model_validate(item) for item in response.json()]

    # -- hubs -----------------------------------------------------------------------------------

    async def create_hub(self, api: HubApi, callback: str, query: str | None = None) -> HubOut:
        """Subscribe `callback` to the events of one API. Keep the returned `secret`: it is
        shown only now, and the listener needs it to verify signatures."""
        body = _query(callback=callback, query=query)
        # Not repeatable: a repeat after a lost answer would make a second hub.
        response = await self._request("POST", HUB_PATHS[api], json=body)
        return HubOut.model_validate(response.json())

    async def list_hubs(self, api: HubApi) -> list[HubOut]:
        response = await self._request("GET", HUB_PATHS[api])
        return [HubOut.model_validate(item) for item in response.json()]

    async def delete_hub(self, api: HubApi, hub_id: str) -> None:
        await self._request("DELETE", f"{HUB_PATHS[api]}/{hub_id}")

    async def hub_deliveries(
        self, api: HubApi, hub_id: str, *, status: str | None = None, limit: int = 1000
    ) -> list[DeliveryOut]:
        """The hub's delivery log, newest first: each event, its attempts' outcome."""
        params = _query(status=status, limit=limit)
        response = await self._request("GET", f"{HUB_PATHS[api]}/{hub_id}/delivery", params=params)
        return [DeliveryOut.model_validate(item) for item in response.json()]

    # -- plumbing ----------------------------------------------------------------------------------

    async def _page(
        self, path: str, params: dict[str, Any], model: type[Item], offset: int
    ) -> Page[Item]:
        response = await self._request("GET", path, params=params)
        items = [model.model_validate(item) for item in response.json()]
        total = int(response.headers.get("X-Total-Count", len(items)))
        return Page(items, total, offset)

    @staticmethod
    async def _iterate(list_page: Any, filters: dict[str, Any]) -> AsyncIterator[Any]:
        offset = 0
        while True:
            page = await list_page(**{**filters, "offset": offset})
            for item in page.items:
                yield item
            offset += len(page.items)
            if not page.items or offset >= page.total:
                return

    async def _bearer(self, *, renew: bool = False) -> str:
        async with self._token_lock:
            if renew or self._token is None or time.monotonic() >= self._token_expires:
                response = await self._send(
                    "POST",
                    "/oauth/token",
                    data={"grant_type": "client_credentials"},
                    auth=(self.client_id, self._client_secret),
                    repeatable=True,
                    authenticate=False,
                )
                grant = response.json()
                self._token = str(grant["access_token"])
                lifetime = float(grant.get("expires_in", 300))
                self._token_expires = time.monotonic() + max(lifetime - TOKEN_MARGIN_S, 1.0)
            return self._token

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
        repeatable: bool | None = None,
    ) -> httpx.Response:
        if repeatable is None:
            repeatable = method in ("GET", "HEAD", "DELETE")
        return await self._send(
            method, path, params=params, json=json, headers=headers, repeatable=repeatable
        )

    async def _send(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        data: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        repeatable: bool,
        authenticate: bool = True,
    ) -> httpx.Response:
        renewed = False
        attempt = 0
        while True:
            request_headers = dict(headers or {})
            if authenticate:
                request_headers["Authorization"] = f"Bearer {await self._bearer()}"
            try:
                response = await self._http.request(
                    method,
                    path,
                    params=params,
                    json=json,
                    data=data,
                    headers=request_headers,
                    auth=auth or httpx.USE_CLIENT_DEFAULT,
                )
            except httpx.TransportError as error:
                # A failed connection never reached the server; anything later may have.
                never_sent = isinstance(error, httpx.ConnectError | httpx.ConnectTimeout)
                if (repeatable or never_sent) and attempt < self.max_retries:
                    attempt += 1
                    await asyncio.sleep(self._backoff(attempt))
                    continue
                raise TransportError(f"{method} {path}: {type(error).__name__}: {error}") from error
            if response.is_success:
                return response
            if response.status_code == 401 and authenticate and not renewed:
                renewed = True  # the token expired or was revoked: one fresh token, once
                await self._bearer(renew=True)
                continue
            retry = response.status_code in RETRYABLE_STATUS and (
                repeatable or response.status_code in REFUSED_UNDONE
            )
            if retry and attempt < self.max_retries:
                wait = self._retry_after(response) or self._backoff(attempt + 1)
                if wait <= self.max_retry_wait:
                    attempt += 1
                    await asyncio.sleep(wait)
                    continue
            raise self._error(response)

    def _backoff(self, attempt: int) -> float:
        base = min(0.25 * 2.0 ** (attempt - 1), self.max_retry_wait)
        return base * random.uniform(0.8, 1.2)

    @staticmethod
    def _retry_after(response: httpx.Response) -> float | None:
        value = response.headers.get("Retry-After", "")
        return float(value) if value.isdigit() else None

    @staticmethod
    def _error(response: httpx.Response) -> ApiError:
        try:
            body = ErrorBody.model_validate(response.json())
        except ValueError:
            # Not a TMF error (a proxy's page, an OAuth2 error): keep what there is.
            text = response.text[:500]
            body = ErrorBody(code=f"HTTP_{response.status_code}", reason=text or "no body")
        if response.request.url.path.endswith("/oauth/token"):
            return AuthenticationError(response.status_code, body, dict(response.headers))
        return error_for(response.status_code)(response.status_code, body, dict(response.headers))


class RetailClient:
    """The same API as `AsyncRetailClient`, blocking. Not for use from inside a running event
    loop (use the async client there), and not shared between threads."""

    def __init__(
        self,
        base_url: str,
        client_id: str,
        client_secret: str,
        *,
        timeout: float = 30.0,
        max_retries: int = 4,
        max_retry_wait: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._loop = asyncio.new_event_loop()
        self._async = AsyncRetailClient(
            base_url,
            client_id,
            client_secret,
            timeout=timeout,
            max_retries=max_retries,
            max_retry_wait=max_retry_wait,
            transport=transport,
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if not self._loop.is_closed():
            self._run(self._async.aclose())
            self._loop.close()

    def _run(self, work: Coroutine[Any, Any, Result] | Awaitable[Result]) -> Result:
        return self._loop.run_until_complete(work)

    def _iterate(self, items: AsyncIterator[Item]) -> Iterator[Item]:
        while True:
            try:
                yield self._run(anext(items))
            except StopAsyncIteration:
                return

    def create_ticket(
        self, body: TroubleTicketCreate | Mapping[str, Any], *, idempotency_key: str | None = None
    ) -> TroubleTicket:
        return self._run(self._async.create_ticket(body, idempotency_key=idempotency_key))

    def list_tickets(self, **filters: Any) -> Page[TroubleTicket]:
        return self._run(self._async.list_tickets(**filters))

    def iter_tickets(self, **filters: Any) -> Iterator[TroubleTicket]:
        return self._iterate(self._async.iter_tickets(**filters))

    def get_ticket(self, ticket_id: str) -> TroubleTicket:
        return self._run(self._async.get_ticket(ticket_id))

    def update_ticket(
        self,
        ticket_id: str,
        changes: TroubleTicketUpdate | Mapping[str, Any],
        *,
        if_match: str | None = None,
    ) -> TroubleTicket:
        return self._run(self._async.update_ticket(ticket_id, changes, if_match=if_match))

    def cancel_ticket(self, ticket_id: str, reason: str | None = None) -> TroubleTicket:
        return self._run(self._async.cancel_ticket(ticket_id, reason))

    def reopen_ticket(self, ticket_id: str, reason: str | None = None) -> TroubleTicket:
        return self._run(self._async.reopen_ticket(ticket_id, reason))

    def accept_ticket(self, ticket_id: str) -> TroubleTicket:
        return self._run(self._async.accept_ticket(ticket_id))

    def add_note(self, ticket_id: str, text: str, author: str | None = None) -> TroubleTicket:
        return self._run(self._async.add_note(ticket_id, text, author))

    def run_test(
        self,
        service_id: str,
        *,
        specification: str = "ontStatus",
        name: str | None = None,
        description: str | None = None,
        idempotency_key: str | None = None,
    ) -> ServiceTest:
        return self._run(
            self._async.run_test(
                service_id,
                specification=specification,
                name=name,
                description=description,
                idempotency_key=idempotency_key,
            )
        )

    def wait_for_test(
        self, test_id: str, *, timeout: float = 60.0, poll_interval: float = 1.0
    ) -> ServiceTest:
        return self._run(
            self._async.wait_for_test(test_id, timeout=timeout, poll_interval=poll_interval)
        )

    def get_test(self, test_id: str) -> ServiceTest:
        return self._run(self._async.get_test(test_id))

    def list_tests(self, **filters: Any) -> Page[ServiceTest]:
        return self._run(self._async.list_tests(**filters))

    def iter_tests(self, **filters: Any) -> Iterator[ServiceTest]:
        return self._iterate(self._async.iter_tests(**filters))

    def test_limits(self, service_id: str | None = None) -> list[Quota]:
        return self._run(self._async.test_limits(service_id))

    def list_specifications(self) -> list[ServiceTestSpecification]:
        return self._run(self._async.list_specifications())

    def create_hub(self, api: HubApi, callback: str, query: str | None = None) -> HubOut:
        return self._run(self._async.create_hub(api, callback, query))

    def list_hubs(self, api: HubApi) -> list[HubOut]:
        return self._run(self._async.list_hubs(api))

    def delete_hub(self, api: HubApi, hub_id: str) -> None:
        self._run(self._async.delete_hub(api, hub_id))

    def hub_deliveries(
        self, api: HubApi, hub_id: str, *, status: str | None = None, limit: int = 1000
    ) -> list[DeliveryOut]:
        return self._run(self._async.hub_deliveries(api, hub_id, status=status, limit=limit))
