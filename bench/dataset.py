"""The benchmark database: a seeded cluster (cached between runs), distinct statements, held clients.

The cluster lives in ``bench/.cache/<scale>/`` so the 1.5 M-guest seed (about 15 s)
is paid once; every run starts it on a fresh free port, resets pg_stat_statements
and recreates the statement mix, so runs are comparable.
"""

from __future__ import annotations

import contextlib
import random
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import psycopg

from demo.cluster import LocalCluster
from demo.seed import SeedScale, apply_schema, seed

Progress = Callable[[str], None]
DBNAME = "wedsync"
OURS_ROLE = "dbhealth_bench"
RIVAL_ROLE = "pgexporter_bench"
HELD_APP = "bench-held-client"
# Seeding is throwaway work: durability off, as in tests/support/postgres.py.
FAST = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


@dataclass(frozen=True)
class Scale:
    name: str
    weddings: int
    guests_per_wedding: int
    extra_tables: int
    statements: int
    held_idle: int
    held_idle_in_transaction: int
    held_active: int
    fresh_scrapes: int
    burst: int
    warmup_timeout: float

    @property
    def held(self) -> int:
        return self.held_idle + self.held_idle_in_transaction + self.held_active


FULL = Scale("full", 15_000, 100, 150, 3_000, 100, 20, 5, 40, 50, 180.0)
QUICK = Scale("quick", 300, 10, 10, 200, 8, 3, 1, 8, 10, 5.0)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_cluster(cache_dir: Path, scale: Scale, progress: Progress) -> LocalCluster:
    """Start (and on first use initdb + seed) the cluster for ``scale``."""
    cluster = LocalCluster(cache_dir / scale.name, free_port(), max_connections=300, extra_conf={
        **FAST,
        "pg_stat_statements.max": "10000",
        "shared_buffers": "'256MB'",
    })
    fresh = not cluster.initialized
    if fresh:
        progress(f"initdb in {cluster.root}")
        cluster.initdb()
    else:
        cluster.write_conf()  # appended: the new port wins over the previous run's
    if cluster.is_running():  # a previous run died without stopping it
        try:
            cluster.stop("immediate")
        except Exception:
            (cluster.datadir / "postmaster.pid").unlink(missing_ok=True)
    cluster.start()
    with cluster.connect() as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DBNAME,)).fetchone()
        if not exists:
            conn.execute(f"CREATE DATABASE {DBNAME}")
    with cluster.connect(DBNAME) as conn:
        if not _seeded(conn):
            started = time.monotonic()
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            apply_schema(conn)
            seed(conn, SeedScale(weddings=scale.weddings, guests_per_wedding=scale.guests_per_wedding,
                                 extra_tables=scale.extra_tables), date.today(),
                 progress=lambda line: progress("  " + line.strip()))
            progress(f"seeded in {time.monotonic() - started:.1f}s")
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        _roles(conn)
    return cluster


def _seeded(conn: psycopg.Connection[tuple[object, ...]]) -> bool:
    # demo.seed.is_seeded plans its EXISTS against a table that may not exist yet.
    row = conn.execute("SELECT to_regclass('public.weddings') IS NOT NULL").fetchone()
    if not (row and row[0]):
        return False
    return conn.execute("SELECT EXISTS (SELECT 1 FROM weddings)").fetchone() == (True,)


def _roles(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    """One login role per exporter, so pg_stat_statements can count each one's statements."""
    for role in (OURS_ROLE, RIVAL_ROLE):
        if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
            conn.execute(f"CREATE ROLE {role} LOGIN")
        # What a monitoring role gets in production: pg_monitor, plus read access for
        # the wedding-day business queries (ours only needs it; harmless for the rival).
        conn.execute(f"GRANT pg_monitor, pg_read_all_data TO {role}")
    # Our wedding-day override table and L3 history are written by `migrate` as the owner.
    conn.execute(f"GRANT pg_write_all_data TO {OURS_ROLE}")


def dataset_facts(cluster: LocalCluster) -> dict[str, object]:
    with cluster.connect(DBNAME) as conn:
        row = conn.execute("""
            SELECT (SELECT count(*) FROM pg_stat_user_tables),
                   (SELECT count(*) FROM guests),
                   (SELECT count(*) FROM weddings),
                   (SELECT count(*) FROM pg_stat_statements),
                   (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'),
                   pg_database_size(current_database()),
                   current_setting('server_version'),
                   current_setting('max_connections')::int""").fetchone()
    assert row is not None
    keys = ("user_tables", "guests", "weddings", "pg_stat_statements_entries",
            "client_connections", "database_size_bytes", "server_version", "max_connections")
    return dict(zip(keys, row, strict=True))


# -- distinct statements -------------------------------------------------------------------------
# Each template touches different wedding tables (so the statements collector sees
# every domain); an IN list of k literals gives a distinct queryid per k on PG15
# (constants are normalised, the list length is not).
TEMPLATES = (
    "SELECT id, rsvp_status FROM guests WHERE id IN ({ids})",
    "SELECT g.id, w.wedding_date FROM guests g JOIN weddings w ON w.id = g.wedding_id WHERE g.id IN ({ids})",
    "SELECT id, status FROM bookings WHERE id IN ({ids})",
    "SELECT b.id, v.category FROM bookings b JOIN vendors v ON v.id = b.vendor_id WHERE b.id IN ({ids})",
    "SELECT id, capacity FROM venues WHERE id IN ({ids})",
    "SELECT w.id, v.city FROM weddings w JOIN venues v ON v.id = w.venue_id WHERE w.id IN ({ids})",
    "SELECT id, amount_pence FROM payments WHERE id IN ({ids})",
    "SELECT p.id, b.status FROM payments p JOIN bookings b ON b.id = p.booking_id WHERE p.id IN ({ids})",
    "SELECT id, wedding_date FROM weddings WHERE id IN ({ids})",
    "SELECT id, created_at FROM couples WHERE id IN ({ids})",
    "SELECT id, role FROM user_profiles WHERE id IN ({ids})",
    "SELECT id, note FROM ops_table_{t:03d} WHERE id IN ({ids})",
)


def make_statements(cluster: LocalCluster, scale: Scale, progress: Progress) -> int:
    """Reset pg_stat_statements and create ``scale.statements`` distinct ones; returns the count."""
    rng = random.Random(20261125)
    per_template = -(-scale.statements // len(TEMPLATES))
    started = time.monotonic()
    with cluster.connect(DBNAME, application_name="bench-statements") as conn:
        conn.execute("SELECT pg_stat_statements_reset()")
        made = 0
        for k in range(1, per_template + 1):
            for n, template in enumerate(TEMPLATES):
                if made >= scale.statements:
                    break
                ids = ", ".join(str(rng.randint(1, 100)) for _ in range(k))
                table = 1 + (k % max(1, scale.extra_tables))
                text = template.format(ids=ids, t=table)
                for _ in range(1 + (k * 7 + n) % 4):  # a few calls each, so top-N has an order
                    conn.execute(text)
                made += 1
        count = conn.execute("SELECT count(*) FROM pg_stat_statements").fetchone()
    progress(f"{made} statement shapes run in {time.monotonic() - started:.1f}s; "
             f"pg_stat_statements holds {count[0] if count else '?'} entries")
    return made


# -- held client connections ---------------------------------------------------------------------
class HeldClients:
    """Idle, idle-in-transaction and active (pg_sleep) client sessions, held during measurement."""

    def __init__(self, cluster: LocalCluster, scale: Scale):
        self.cluster = cluster
        self.scale = scale
        self.conns: list[psycopg.Connection[tuple[object, ...]]] = []
        self.threads: list[threading.Thread] = []

    def __enter__(self) -> HeldClients:
        dsn = self.cluster.dsn(DBNAME)
        for _ in range(self.scale.held_idle):
            conn = psycopg.connect(dsn, autocommit=True, application_name=HELD_APP)
            conn.execute("SELECT 1")
            self.conns.append(conn)
        for i in range(self.scale.held_idle_in_transaction):
            conn = psycopg.connect(dsn, application_name=HELD_APP)
            conn.execute("SELECT id FROM weddings WHERE id = %s", (i + 1,))  # transaction left open
            self.conns.append(conn)
        for _ in range(self.scale.held_active):
            conn = psycopg.connect(dsn, autocommit=True, application_name=HELD_APP + "-active")
            self.conns.append(conn)
            thread = threading.Thread(target=_sleep_until_cancelled, args=(conn,), daemon=True)
            thread.start()
            self.threads.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        with self.cluster.connect(DBNAME) as admin:
            admin.execute("SELECT pg_cancel_backend(pid) FROM pg_stat_activity "
                          "WHERE application_name = %s", (HELD_APP + "-active",))
        for thread in self.threads:
            thread.join(timeout=10)
        for conn in self.conns:
            conn.close()


def _sleep_until_cancelled(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    with contextlib.suppress(psycopg.Error):  # cancelled at the end of the run
        conn.execute("SELECT pg_sleep(3600)")
