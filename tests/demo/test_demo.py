"""The demo database: seeding with progress output, and a load that the exporter sees."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import psycopg

from demo.load import LoadPlan, run_load

from ..support.postgres import PostgresServer


def test_seed_command_creates_seeds_and_is_idempotent(pg_server: PostgresServer) -> None:
    dsn = pg_server.dsn("demo_seed_cli")
    cmd = [sys.executable, "-m", "demo.cli", "--dsn", dsn, "seed", "--weddings", "200",
           "--guests-per-wedding", "10", "--weddings-today", "4", "--extra-tables", "3"]
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    assert "created the database" in first.stdout
    assert "guests: 2,000/2,000 (100%)" in first.stdout          # progress output
    with psycopg.connect(dsn) as conn:
        weddings, today, saturdays, guests, ops = conn.execute("""
            SELECT count(*), count(*) FILTER (WHERE wedding_date = current_date),
                   count(*) FILTER (WHERE extract(dow FROM wedding_date) = 6),
                   (SELECT count(*) FROM guests),
                   (SELECT count(*) FROM pg_tables WHERE tablename LIKE 'ops_table_%')
            FROM weddings""").fetchone()  # type: ignore[misc]
    assert (weddings, guests, ops) == (200, 2000, 3)
    assert today >= 4 and saturdays > weddings / 2
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and "already seeded" in again.stdout


def test_seed_command_reports_unreachable_database() -> None:
    result = subprocess.run([sys.executable, "-m", "demo.cli", "--dsn",
                             "postgresql://postgres@127.0.0.1:1/x", "seed"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "cannot reach the database" in result.stderr


def test_load_produces_traffic_and_held_sessions(demo_dsn: str) -> None:
    stop = threading.Event()
    lines: list[str] = []
    done: list[int] = []
    worker = threading.Thread(target=lambda: done.append(run_load(
        demo_dsn, LoadPlan(duration_seconds=120, clients=2, rate_per_client=50, idle_sessions=3,
                           idle_in_transaction_sessions=2), progress=lines.append, stop=stop)))
    worker.start()
    try:
        deadline = time.monotonic() + 30
        with psycopg.connect(demo_dsn, autocommit=True) as conn:
            while True:
                # The held sessions come first; the clients' traffic shows as a session
                # that ran something other than the held transactions' one query (a client
                # counts its query once it returns, before it looks at ``stop`` again).
                states: dict[str, int] = dict(conn.execute(
                    "SELECT state, count(*) FROM pg_stat_activity "
                    "WHERE application_name = 'wedsync-demo-load' GROUP BY state").fetchall())
                (traffic,), = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                    "'wedsync-demo-load' AND query <> '' AND state <> 'idle in transaction'"
                ).fetchall()
                if states.get("idle in transaction") == 2 and states.get("idle", 0) >= 3 \
                        and traffic > 0:
                    break
                assert time.monotonic() < deadline, states
                time.sleep(0.05)
    finally:
        stop.set()
        worker.join(timeout=60)
    assert done and done[0] > 0
    assert lines[0].startswith("load: 2 clients") and lines[-1].startswith("load: done")


def test_the_demo_runs_the_exporter_as_a_pg_monitor_role_never_a_superuser(
        demo_dsn: str) -> None:
    from demo.roles import create_monitoring_role
    from demo.stack import MONITOR_ROLE, monitor_dsn

    assert monitor_dsn(demo_dsn).startswith(f"postgresql://{MONITOR_ROLE}@")
    with psycopg.connect(demo_dsn, autocommit=True) as conn:
        create_monitoring_role(conn, MONITOR_ROLE)
        create_monitoring_role(conn, MONITOR_ROLE)  # idempotent, as the demo re-runs it
        row = conn.execute("SELECT rolsuper, pg_has_role(oid, 'pg_monitor', 'USAGE') "
                           "FROM pg_roles WHERE rolname = %s", [MONITOR_ROLE]).fetchone()
    assert row == (False, True)
