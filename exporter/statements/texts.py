"""Statement texts and their wedding domains, off the scrape path.

The scrape reads counters only (``pg_stat_statements(false)``). Queryids it has
no domain for are handed to this background classifier, which:

1. fetches their texts in bounded batches (``statements.text_batch_size``, 500)
   over one connection borrowed from the exporter's pool, one statement per batch
   returning only the texts asked for, so memory stays bounded however many
   statements are new;
2. classifies them (pglast) and publishes the domains batch by batch.

A thread runs only while there is work and ends when the backlog is empty. After
the first ``STARTUP_ROUNDS`` rounds (the exporter's own statements appear right
after its first reads), a new round starts at most every
``statements.text_fetch_interval_seconds``. A failed fetch (database down, no
pool connection) puts its batch back and waits for the next round. Texts gone
from pg_stat_statements' file cannot be classified: their queryid is ``other``.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING

from psycopg_pool import PoolClosed

from ..sqlcheck import quote_ident
from .classify import Classifier
from .settings import StatementsSettings

if TYPE_CHECKING:
    from ..db import Database

log = logging.getLogger(__name__)

STARTUP_ROUNDS = 3

# {ext}: pg_stat_statements' schema, read from pg_extension.
TEXTS_SQL = """
SELECT s.queryid, pg_catalog.min(s.query)
FROM {ext}.pg_stat_statements(true) s
WHERE s.queryid = ANY(%(queryids)s::bigint[])
GROUP BY s.queryid
"""

TextFetch = Callable[[str, list[int]], Mapping[int, str | None]]


def database_fetch(database: Database) -> TextFetch:
    """Texts of ``queryids`` over one borrowed pool connection (pg_stat_statements in
    ``schema``): one statement, read-only by the session's own settings."""
    def fetch(schema: str, queryids: list[int]) -> Mapping[int, str | None]:
        with database.borrow() as conn:
            rows = conn.execute(TEXTS_SQL.format(ext=quote_ident(schema)),
                                {"queryids": queryids}).fetchall()
        return {int(q): t for q, t in rows}
    return fetch


def trim_heap() -> None:
    """Hand the heap a round freed (texts, parse trees) back to the OS (glibc only)."""
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to hand back
        ctypes.CDLL("libc.so.6").malloc_trim(0)


class TextClassifier:
    def __init__(self, settings: StatementsSettings, classifier: Classifier,
                 fetch: TextFetch | None):
        self.settings = settings
        self.classifier = classifier
        self.fetch = fetch
        self.domains: dict[int, str] = {}  # queryid → domain: read by scrapes, written here
        self.lock = threading.Lock()
        self._wanted: dict[int, None] = {}  # insertion-ordered set
        self._thread: threading.Thread | None = None
        self._rounds = 0
        self._next_round = 0.0
        self._schema = ""

    @property
    def busy(self) -> bool:
        return self._thread is not None

    def want(self, schema: str, queryids: Iterable[int]) -> None:
        """Queryids seen without a domain; starts a round when one is due."""
        limit = self.settings.max_known_statements
        with self.lock:
            for q in queryids:
                if q not in self.domains and len(self._wanted) < limit:
                    self._wanted[q] = None
            due = self._rounds < STARTUP_ROUNDS or time.monotonic() >= self._next_round
            if not self._wanted or self._thread is not None or not due or self.fetch is None:
                return
            self._schema = schema
            self._rounds += 1
            self._next_round = time.monotonic() + self.settings.text_fetch_interval_seconds
            self._thread = threading.Thread(target=self._round, name="dbhealth-classify",
                                            daemon=True)
            self._thread.start()

    def forget(self, present: set[int]) -> None:
        """Keep the domains of the queryids still in pg_stat_statements only."""
        with self.lock:
            self.domains = {q: d for q, d in self.domains.items() if q in present}

    def _round(self) -> None:
        assert self.fetch is not None
        try:
            while True:
                with self.lock:
                    batch = list(self._wanted)[: self.settings.text_batch_size]
                    if not batch:
                        return
                    for q in batch:
                        del self._wanted[q]
                try:
                    texts = self.fetch(self._schema, batch)
                except Exception as exc:  # database down, no pool connection: next round
                    # A closed pool is the exporter stopping, not a fault to warn about.
                    log.log(logging.DEBUG if isinstance(exc, PoolClosed) else logging.WARNING,
                            "statement texts not fetched (%s); retrying later",
                            type(exc).__name__)
                    with self.lock:
                        for q in batch:
                            self._wanted.setdefault(q, None)
                    return
                found = {q: self.classifier.classify(texts.get(q))[0] for q in batch}
                with self.lock:
                    self.domains.update(found)
        finally:
            trim_heap()
            with self.lock:
                self._thread = None

    def join(self, timeout: float) -> bool:
        """Wait for the running round (tools and shutdown); True when none is running."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return self._thread is None
