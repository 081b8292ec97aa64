"""Acknowledging by replying to a page: Twilio's inbound-SMS webhook, as pure functions.

Signature (Twilio's "webhook security" documentation): base64 of HMAC-SHA1, keyed
with the account's auth token, over the full public URL of the webhook followed by
every POST parameter name and value, sorted by name. The URL is our configured
public one, never the request's Host header, which the sender chooses. Written
here rather than taking the twilio SDK (and its HTTP stack) for one function; the
tests sign with the SDK's own ``RequestValidator`` to prove the two agree.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass
from xml.sax.saxutils import escape


def signature(auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    data = url + "".join(k + v for k, v in sorted(params))
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def signature_valid(auth_token: str, url: str, params: Iterable[tuple[str, str]],
                    given: str | None) -> bool:
    if not given:
        return False
    expected = signature(auth_token, url, params)
    return hmac.compare_digest(expected.encode(), given.strip().encode("utf-8", "replace"))


@dataclass(frozen=True)
class AckCommand:
    incident_id: int | None  # None: "the latest page to this number"


_ACK = re.compile(r"^\s*(?:ack(?:nowledge)?\s*#?\s*(\d{1,18})|(1)|ack(?:nowledge)?)\s*[.!]?\s*$",
                  re.IGNORECASE)


def parse_reply(body: str) -> AckCommand | None:
    """ "ACK 12" acks incident 12; "1" or a bare "ACK" the latest page; else None."""
    match = _ACK.match(body or "")
    if match is None:
        return None
    return AckCommand(int(match.group(1)) if match.group(1) else None)


HELP = ("Reply ACK <incident number> (for example ACK 12) to acknowledge, "
        "or 1 to acknowledge the latest page you received.")


def twiml(message: str | None) -> str:
    """A TwiML answer: Twilio texts ``message`` back to the sender; None sends nothing."""
    if message is None:
        return '<?xml version="1.0" encoding="UTF-8"?><Response/>'
    return ('<?xml version="1.0" encoding="UTF-8"?>'
            f"<Response><Message>{escape(message)}</Message></Response>")
