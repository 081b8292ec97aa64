"""The collectors: one PostgreSQL view (or topic) each, one SQL statement each.

This module holds data only — the names of the collectors in the order they run,
and whether each is on by default — so that the settings and the command line can
know them without importing any collector code. The one place that builds them
is :func:`exporter.server.build_collectors`; a new collector is one module plus a
line here and a line there (``--[no-]collector.<name>`` and ``collectors:`` follow).
"""

from __future__ import annotations

# Run in this order. The wedding-day signal goes first: it is what the rules need
# most, and it must not be the one left out when a scrape deadline runs short.
COLLECTOR_DEFAULTS: dict[str, bool] = {
    "wedding": True,
    "activity": True,
    "database": True,
    "replication": True,
    "archiver": True,
    "tables": True,
    "statements": True,
    "backup": True,
}

__all__ = ["COLLECTOR_DEFAULTS"]
