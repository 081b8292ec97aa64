"""Outbound JSON webhooks: the outbox body is already the JSON document to POST."""

from __future__ import annotations

import requests

from . import http
from .deadline import SendDeadline


def send(session: requests.Session, url: str, body: str, running: SendDeadline) -> str | None:
    status, _answer = http.post(session, url, "webhook", running, data=body.encode(),
                                headers={"Content-Type": "application/json"})
    return f"http-{status}"
