"""`Idempotency-Key` on POST: the same key and body get the first response again; the same
key with a different body is refused (422). Records expire after the retention setting."""

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from fiberassure.tmf.errors import IdempotencyKeyReused, InvalidRequest
from fiberassure.wholesale.idempotency.models import IdempotencyRecord
from fiberassure.wholesale.idempotency.repository import IdempotencyRepository

KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}$")


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: dict[str, Any]
    location: str | None
    etag: str | None = None

    def headers(self) -> dict[str, str]:
        """The headers a replay repeats, and `Idempotent-Replayed: true`."""
        headers = {"Idempotent-Replayed": "true"}
        if self.location:
            headers["Location"] = self.location
        if self.etag:
            headers["ETag"] = self.etag
        return headers


def fingerprint(endpoint: str, body: dict[str, Any]) -> str:
    canonical = json.dumps([endpoint, body], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


async def previous_response(
    session: AsyncSession, operator_id: str, key: str, endpoint: str, body: dict[str, Any]
) -> StoredResponse | None:
    """The response recorded for this key, or None if the key is new."""
    if not KEY_PATTERN.match(key):
        raise InvalidRequest("Idempotency-Key must be 1 to 255 printable ASCII characters")
    record = await IdempotencyRepository(session).get(operator_id, key)
    if record is None:
        return None
    if record.request_fingerprint != fingerprint(endpoint, body):
        raise IdempotencyKeyReused(
            f"Idempotency-Key {key} was used for a different request on {record.endpoint}"
        )
    return StoredResponse(
        record.response_status,
        record.response_body,
        record.response_location,
        record.response_etag,
    )


def remember_response(
    session: AsyncSession,
    *,
    operator_id: str,
    key: str,
    endpoint: str,
    body: dict[str, Any],
    response: StoredResponse,
    now: datetime,
) -> None:
    """Store the response in the same transaction as the change it reports."""
    IdempotencyRepository(session).add(
        IdempotencyRecord(
            operator_id=operator_id,
            key=key,
            endpoint=endpoint,
            request_fingerprint=fingerprint(endpoint, body),
            response_status=response.status,
            response_body=response.body,
            response_location=response.location,
            response_etag=response.etag,
            created_at=now,
        )
    )


@dataclass(frozen=True)
class IdempotentCreate:
    """One create request that may carry an `Idempotency-Key`: look for the first response
    before doing anything, remember the response in the create's own transaction after."""

    session: AsyncSession
    operator_id: str
    key: str | None
    endpoint: str
    body: dict[str, Any]

    async def previous(self) -> StoredResponse | None:
        if self.key is None:
            return None
        return await previous_response(
            self.session, self.operator_id, self.key, self.endpoint, self.body
        )

    def remember(self, response: StoredResponse, now: datetime) -> None:
        if self.key is not None:
            remember_response(
                self.session,
                operator_id=self.operator_id,
                key=self.key,
                endpoint=self.endpoint,
                body=self.body,
                response=response,
                now=now,
            )


async def forget_expired(session: AsyncSession, before: datetime) -> int:
    return await IdempotencyRepository(session).delete_older_than(before)
