"""Delivery channels. ``Channels.send`` returns a provider id or raises ``DeliveryError``.

Every send runs under a total deadline (``deadline.SendDeadline``); SMS and
webhooks each keep one ``requests.Session`` (connection reuse, no redirects).
"""

from __future__ import annotations

import threading

import requests

from ..delivery import DeliveryError, SendFailure
from ..settings import Settings
from . import email, http, sms, webhook
from .deadline import SendDeadline

CHANNELS = ("sms", "email", "webhook")


class Channels:
    """The senders of one worker process; safe to use from several threads."""

    def __init__(self, settings: Settings):
        self.settings = settings
        # A Session is not documented thread-safe: one per (channel, thread).
        self._local = threading.local()

    def _session(self, channel: str) -> requests.Session:
        sessions: dict[str, requests.Session] = getattr(self._local, "sessions", None) or {}
        self._local.sessions = sessions
        if channel not in sessions:
            sessions[channel] = http.new_session()
        return sessions[channel]

    def send(self, channel: str, recipient: str, subject: str | None, body: str,
             deadline_seconds: float) -> str | None:
        with SendDeadline(deadline_seconds) as running:
            if channel == "sms":
                return sms.send(self.settings, self._session("sms"), recipient, body, running)
            if channel == "email":
                return email.send(self.settings, recipient, subject or "", body, running)
            if channel == "webhook":
                return webhook.send(self._session("webhook"), recipient, body, running)
        raise DeliveryError(SendFailure(f"unknown channel {channel!r}", permanent=True))

    def close(self) -> None:
        for session in (getattr(self._local, "sessions", None) or {}).values():
            session.close()
