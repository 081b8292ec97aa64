"""The exporter's exceptions: one small hierarchy, caught at the scrape and request boundaries."""

from __future__ import annotations

from typing import Any


class ExporterError(Exception):
    """Base class of every error the exporter raises on purpose."""


class ConfigError(ExporterError):
    """Settings are invalid; carries every problem found, each naming its key."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("invalid settings:\n" + "\n".join(f"  - {p}" for p in problems))


class DatabaseUnavailable(ExporterError):
    """No connection to the monitored database could be had in time."""


class QueryFailed(ExporterError):
    """A monitoring query failed; ``timed_out`` when a statement or lock timeout cancelled it."""

    def __init__(self, message: str, *, timed_out: bool = False, server_answered: bool = True):
        super().__init__(message)
        self.timed_out = timed_out
        self.server_answered = server_answered


class DeadlineExceeded(ExporterError):
    """The scrape deadline passed before this collector could run."""


class PartialCollection(ExporterError):
    """A collector failed but still has families worth serving (the wedding-day clock).

    The scraper serves ``families`` and reports the collector as failed because of ``cause``.
    """

    def __init__(self, families: list[Any], cause: Exception):
        super().__init__(str(cause))
        self.families = families
        self.cause = cause
