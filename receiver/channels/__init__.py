"""Delivery channels. Each ``send`` returns a provider id or raises ``DeliveryError``
(``permanent=True`` → dead-letter, otherwise retry with backoff)."""

from __future__ import annotations

from ..errors import DeliveryError
from ..settings import Settings
from . import email, sms, webhook


def send(settings: Settings, channel: str, recipient: str, subject: str | None, body: str,
         timeout: float) -> str | None:
    if channel == "sms":
        return sms.send(settings, recipient, body, timeout)
    if channel == "email":
        return email.send(settings, recipient, subject or "", body, timeout)
    if channel == "webhook":
        return webhook.send(recipient, body, timeout)
    raise DeliveryError(f"unknown channel {channel!r}", permanent=True)
