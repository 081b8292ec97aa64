"""The registry of collectors: name → (factory, on by default).

Adding a collector is one module in this package plus one line here; the
``--[no-]collector.<name>`` flags and the ``collectors:`` settings keys follow.
"""

from __future__ import annotations

from ..statements.collector import StatementsCollector
from ..wedding.collector import WeddingCollector
from .activity import ActivityCollector
from .archiver import ArchiverCollector
from .base import CollectContext, Collector, CollectorFactory
from .database import DatabaseCollector
from .replication import ReplicationCollector
from .tables import TablesCollector

# Run in this order. The wedding-day signal goes first: it is what the rules need
# most, and it must not be the one left out when a scrape deadline runs short.
REGISTRY: dict[str, tuple[CollectorFactory, bool]] = {
    "wedding": (WeddingCollector, True),
    "activity": (ActivityCollector, True),
    "database": (DatabaseCollector, True),
    "replication": (ReplicationCollector, True),
    "archiver": (ArchiverCollector, True),
    "tables": (TablesCollector, True),
    "statements": (StatementsCollector, True),
}

COLLECTOR_DEFAULTS: dict[str, bool] = {name: on for name, (_, on) in REGISTRY.items()}

__all__ = ["COLLECTOR_DEFAULTS", "REGISTRY", "CollectContext", "Collector", "CollectorFactory"]
