"""Standard Webhooks verification (https://www.standardwebhooks.com/), the counterpart of
`fiberassure.wholesale.events.signing`: any of the listener's hub secrets may have signed."""

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)


class SignatureError(Exception):
    """Why a message was refused (the text is sent back in the 401 body)."""


@dataclass(frozen=True)
class Verified:
    message_id: str
    timestamp: datetime


def secret_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_…` secret: its base64-decoded part."""
    try:
        return base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a hub secret is whsec_ followed by base64") from None


def verify(
    keys: Iterable[bytes],
    headers: Mapping[str, str],
    body: bytes,
    now: datetime,
    tolerance: timedelta = timedelta(minutes=5),
) -> Verified:
    """Check the three `webhook-*` headers against `body`; raise SignatureError otherwise.

    `headers` must look names up case-insensitively (Starlette's and httpx's do). A message
    whose timestamp is more than `tolerance` away from `now` is refused even when correctly
    signed: that is what stops an old captured message from being replayed.
    """
    message_id = headers.get("webhook-id")
    timestamp_text = headers.get("webhook-timestamp")
    signature_header = headers.get("webhook-signature")
    if not message_id or not timestamp_text or not signature_header:
        raise SignatureError("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        timestamp = datetime.fromtimestamp(int(timestamp_text), tz=now.tzinfo)
    except (ValueError, OverflowError, OSError):
        raise SignatureError("webhook-timestamp is not a Unix time in seconds") from None
    if abs(now - timestamp) > tolerance:
        raise SignatureError("webhook-timestamp is too old or too new")
    signed = f"{message_id}.{timestamp_text}.".encode() + body
    # The header may carry several space-separated signatures (during secret rotation).
    offered = [
        part.removeprefix("v1,").encode()
        for part in signature_header.split()
        if part.startswith("v1,")
    ]
    for key in keys:
        expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest())
        if any(hmac.compare_digest(expected, candidate) for candidate in offered):
            return Verified(message_id, timestamp)
    raise SignatureError("no valid signature")
