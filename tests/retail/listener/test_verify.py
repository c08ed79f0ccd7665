"""The listener's verification agrees with the Standard Webhooks reference library."""

import base64
import time
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook

from fiberassure.retail.listener.verify import SignatureError, secret_key, verify
from fiberassure.wholesale.events.signing import new_secret, sign

BODY = b'{"eventId":"e-1","eventType":"TroubleTicketResolvedEvent"}'


def headers(secret: str, timestamp: int, message_id: str = "e-1") -> dict[str, str]:
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, message_id, timestamp, BODY),
    }


def test_what_the_library_accepts_the_listener_accepts() -> None:
    secret = new_secret()
    now = int(time.time())
    sent = headers(secret, now)
    Webhook(secret).verify(BODY, sent)  # raises if the library disagrees
    verified = verify([secret_key(secret)], sent, BODY, datetime.now(UTC))
    assert verified.message_id == "e-1"


def test_one_of_several_signatures_and_one_of_several_secrets_is_enough() -> None:
    old, current = new_secret(), new_secret()
    now = int(time.time())
    sent = headers(current, now)
    sent["webhook-signature"] = "v1,bm90IGl0 " + sent["webhook-signature"]
    keys = [secret_key(old), secret_key(current)]
    assert verify(keys, sent, BODY, datetime.now(UTC)).message_id == "e-1"


@pytest.mark.parametrize(
    "skew", [timedelta(minutes=-5, seconds=-2), timedelta(minutes=5, seconds=2)]
)
def test_a_timestamp_beyond_five_minutes_is_refused_like_the_library_does(
    skew: timedelta,
) -> None:
    secret = new_secret()
    now = datetime.now(UTC)
    sent = headers(secret, int((now + skew).timestamp()))
    with pytest.raises(Exception, match=r"(?i)timestamp"):
        Webhook(secret).verify(BODY, sent)
    with pytest.raises(SignatureError, match="too old or too new"):
        verify([secret_key(secret)], sent, BODY, now)


def test_a_secret_that_is_not_base64_is_refused_at_configuration() -> None:
    with pytest.raises(ValueError, match="base64"):
        secret_key("whsec_not base64!")
    assert secret_key("whsec_" + base64.b64encode(b"k" * 24).decode()) == b"k" * 24
