"""SMS through a Twilio-compatible Messages API (form-encoded POST, HTTP basic auth).

429 and 5xx (and network errors) are retried; any other 4xx is permanent
(invalid number, opted out), so it is dead-lettered rather than hammered.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request

from ..errors import DeliveryError
from ..settings import Settings


def send(settings: Settings, to: str, body: str, timeout: float) -> str | None:
    if not (settings.sms_account_sid and settings.sms_auth_token and settings.sms_from):
        # Retryable: the message waits in the outbox until the operator configures SMS.
        raise DeliveryError("SMS is not configured (RECEIVER_SMS_ACCOUNT_SID/AUTH_TOKEN/FROM)",
                            permanent=False)
    sid = urllib.parse.quote(settings.sms_account_sid, safe="")
    url = f"{settings.sms_base_url}/2010-04-01/Accounts/{sid}/Messages.json"
    form = urllib.parse.urlencode({"To": to, "From": settings.sms_from, "Body": body}).encode()
    token = f"{settings.sms_account_sid}:{settings.sms_auth_token.get_secret_value()}"
    headers = {
        "Authorization": "Basic " + base64.b64encode(token.encode()).decode(),
        "Content-Type": "application/x-www-form-urlencoded",
        "Accept": "application/json",
    }
    # The base URL is validated as http(s) in settings, so no file:// surprises.
    request = urllib.request.Request(url, data=form, method="POST", headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            answer = response.read(65536)
    except urllib.error.HTTPError as exc:
        retry = exc.code == 429 or exc.code >= 500
        raise DeliveryError(f"SMS API answered HTTP {exc.code}", permanent=not retry) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DeliveryError(f"SMS API unreachable: {type(reason).__name__}",
                            permanent=False) from None
    try:
        sid_value = json.loads(answer).get("sid")
    except (ValueError, AttributeError):
        sid_value = None
    return str(sid_value) if sid_value else None
