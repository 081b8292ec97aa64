"""SMS through a Twilio-compatible Messages API (form-encoded POST, HTTP basic auth).

How answers are treated (``http.classify_status``): 2xx sent; 401/403/404/30x
are our configuration's fault (retried, and loud); 408/429/5xx retried, after
``Retry-After`` when given; other 4xx (invalid number, opted out) dead-letter.
"""

from __future__ import annotations

import json
from urllib.parse import quote

import requests

from ..delivery import DeliveryError, SendFailure
from ..settings import Settings
from . import http
from .deadline import SendDeadline


def send(settings: Settings, session: requests.Session, to: str, body: str,
         running: SendDeadline) -> str | None:
    if not (settings.sms_account_sid and settings.sms_auth_token and settings.sms_from):
        # Ours to fix; the message waits in the outbox until SMS is configured.
        raise DeliveryError(SendFailure(
            "SMS is not configured (RECEIVER_SMS_ACCOUNT_SID/AUTH_TOKEN/FROM)", ours=True))
    sid = quote(settings.sms_account_sid, safe="")
    _status, answer = http.post(
        session, f"{settings.sms_base_url}/2010-04-01/Accounts/{sid}/Messages.json", "SMS API",
        running, data={"To": to, "From": settings.sms_from, "Body": body},
        auth=(settings.sms_account_sid, settings.sms_auth_token.get_secret_value()),
        headers={"Accept": "application/json"})
    try:
        sid_value = json.loads(answer).get("sid")
    except (ValueError, AttributeError):
        sid_value = None  # accepted all the same: the status code is what counts
    return str(sid_value)[:64] if sid_value else None
