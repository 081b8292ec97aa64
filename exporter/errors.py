"""The exporter's exceptions: one small hierarchy, caught at the scrape and request boundaries.

Database errors keep their SQLSTATE (``QueryFailed.sqlstate``) so callers compare
against psycopg's error classes (``exc.matches(errors.UndefinedTable)``) instead
of searching message text. Their text never carries data values: the server's
primary message only, with every quoted span replaced (``invalid input syntax
for type integer: "?"``), because a cast error in business SQL quotes the very
value that failed — a guest's email, say — and error text ends up in logs,
``/health/full`` and audit rows kept for 30 days. The one exception is SQLSTATE
class 42 (undefined table, column, function; permission denied) other than
syntax errors: there the server quotes names from the statement, never data,
and the name is what an operator needs (``relation "public.weddings" does not exist``).
"""

from __future__ import annotations

import re

import psycopg

# A double- or single-quoted span, possibly cut off at the end of the message.
_QUOTED = re.compile(r'"(?:[^"]|"")*"?|\'(?:[^\']|\'\')*\'?')


def strip_quoted(text: str) -> str:
    """``text`` with every quoted value replaced by ``"?"`` (values may be personal data)."""
    return _QUOTED.sub('"?"', text)


def safe_message(exc: BaseException) -> str:
    """One line naming the error class and a message with no quoted values."""
    first = (str(exc).splitlines() or [""])[0]
    return f"{type(exc).__name__}: {strip_quoted(first)}" if first else type(exc).__name__


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
    """A monitoring query failed.

    ``sqlstate`` is the server's error code (None when the server never answered),
    ``timed_out`` is set when a statement, lock or scrape deadline cancelled it,
    ``connection_lost`` when the server went away mid-query. ``expected`` marks a
    condition whose remedy was already logged once (the scraper then stays quiet).
    """

    def __init__(self, message: str, *, sqlstate: str | None = None, timed_out: bool = False,
                 connection_lost: bool = False, expected: bool = False):
        super().__init__(message)
        self.sqlstate = sqlstate
        self.timed_out = timed_out
        self.connection_lost = connection_lost
        self.expected = expected

    @classmethod
    def from_driver(cls, exc: psycopg.Error, *, timed_out: bool = False,
                    connection_lost: bool = False) -> QueryFailed:
        """Translate a psycopg error: class name, SQLSTATE and the scrubbed primary message."""
        diag = getattr(exc, "diag", None)
        sqlstate = getattr(diag, "sqlstate", None)
        primary = getattr(diag, "message_primary", None) or (str(exc).splitlines() or [""])[0]
        names_only = sqlstate is not None and sqlstate.startswith("42") and sqlstate != "42601"
        text = (primary if names_only else strip_quoted(primary)) or type(exc).__name__
        label = f"{type(exc).__name__}[{sqlstate}]" if sqlstate else type(exc).__name__
        return cls(f"{label}: {text}", sqlstate=sqlstate, timed_out=timed_out,
                   connection_lost=connection_lost)

    def matches(self, *classes: type[psycopg.Error]) -> bool:
        """True when the SQLSTATE is that of one of the psycopg error classes given."""
        return self.sqlstate is not None and any(
            self.sqlstate == getattr(cls, "sqlstate", None) for cls in classes)


class PrivilegeMissing(QueryFailed):
    """The monitoring role cannot see what the collector needs (it would report blind numbers)."""

    SQLSTATE = "42501"  # insufficient_privilege: what the server says for a missing grant

    def __init__(self, message: str):
        super().__init__(message, sqlstate=self.SQLSTATE)

