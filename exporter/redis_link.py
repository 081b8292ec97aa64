"""One way to talk to the shared Redis and to stop talking to it for a while after a fault.

Both users — the L2 snapshot cache and the shared statement counters — degrade to
what this process has when Redis fails, and must not pay a timeout on every scrape
meanwhile: after a failure Redis is left alone for ``redis.retry_after_seconds``,
and the first failure of each outage is logged (by type only: a message could
quote stored content).
"""

from __future__ import annotations

import logging
import time

import redis

from .redact import mask_url
from .settings import RedisSettings

log = logging.getLogger(__name__)


class RedisLink:
    def __init__(self, settings: RedisSettings, *, purpose: str, fallback: str,
                 socket_timeout: float | None = None):
        """``purpose``/``fallback`` name the user in the log ("the L2 cache", "L1")."""
        assert settings.url
        self.settings = settings
        self.purpose, self.fallback = purpose, fallback
        self.client = redis.Redis.from_url(
            settings.url, socket_timeout=socket_timeout or settings.socket_timeout_seconds,
            socket_connect_timeout=settings.socket_timeout_seconds, health_check_interval=0)
        self._down_until = 0.0
        self.errors = 0

    @property
    def available(self) -> bool:
        return time.monotonic() >= self._down_until

    def failed(self, exc: BaseException) -> None:
        self.errors += 1
        if self.available:
            log.warning("redis %s unavailable for %s (%s); %s for %.0fs",
                        mask_url(self.settings.url or ""), self.purpose, type(exc).__name__,
                        self.fallback, self.settings.retry_after_seconds)
        self._down_until = time.monotonic() + self.settings.retry_after_seconds
