"""``dbhealth-demo``: create, seed and exercise the WedSync-like demo database."""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

import psycopg

from .load import LoadPlan, run_load
from .seed import SeedScale, apply_schema, is_seeded, seed

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/wedsync"


def ensure_database(dsn: str) -> bool:
    """Create the database named in ``dsn`` when it does not exist; True if created."""
    info = psycopg.conninfo.conninfo_to_dict(dsn)
    name = str(info.get("dbname", "wedsync"))
    admin = psycopg.conninfo.make_conninfo(dsn, dbname="postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            return False
        conn.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(name)))
        return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dbhealth-demo", description=__doc__)
    parser.add_argument("--dsn", default=DEFAULT_DSN, help="demo database (created if missing)")
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("seed", help="create the schema and fill it (skipped when already seeded)")
    s.add_argument("--weddings", type=int, default=SeedScale.weddings)
    s.add_argument("--guests-per-wedding", type=int, default=SeedScale.guests_per_wedding)
    s.add_argument("--weddings-today", type=int, default=SeedScale.weddings_today)
    s.add_argument("--extra-tables", type=int, default=0,
                   help="extra small tables, for a production-like catalog (benchmarks use 150)")
    s.add_argument("--today", type=date.fromisoformat, default=date.today())
    s.add_argument("--force", action="store_true", help="drop and re-create the demo tables first")
    ld = sub.add_parser("load", help="generate query traffic and idle / idle-in-transaction sessions")
    ld.add_argument("--duration", type=float, default=LoadPlan.duration_seconds)
    ld.add_argument("--clients", type=int, default=LoadPlan.clients)
    ld.add_argument("--rate", type=float, default=LoadPlan.rate_per_client)
    ld.add_argument("--idle", type=int, default=LoadPlan.idle_sessions)
    ld.add_argument("--idle-in-transaction", type=int, default=LoadPlan.idle_in_transaction_sessions)
    bk = sub.add_parser("backup", help="pg_dump the demo database into the local S3, both regions, "
                                       "with SHA-256 sidecars")
    bk.add_argument("--s3-endpoint", default=None, help="S3 endpoint (default: the demo's local S3)")
    pb = sub.add_parser("pgbackrest-buckets", help="create the pgBackRest repository buckets, both "
                                                   "regions (compose: before pgbackrest-init)")
    pb.add_argument("--s3-endpoint", required=True)
    ps = sub.add_parser("pgbackrest-sync", help="copy the primary pgBackRest bucket into the replica "
                                                "region's, periodically (stand-in for S3 replication)")
    ps.add_argument("--s3-endpoint", required=True)
    ps.add_argument("--interval", type=float, default=60.0, help="seconds between passes")
    ps.add_argument("--heartbeat", type=Path, default=None, help="file touched after each pass")
    ps.add_argument("--once", action="store_true", help="one pass, then exit (0, or 2 on failure)")
    sub.add_parser("up", help="start the whole demo system in the background (seeds if needed)")
    sub.add_parser("down", help="stop everything 'up' started")
    sub.add_parser("status", help="which demo processes are running")
    sk = sub.add_parser("sinks", help="run local SMS-API and SMTP stand-ins (used by 'up')")
    sk.add_argument("--sms-port", type=int, default=9190)
    sk.add_argument("--smtp-port", type=int, default=9125)
    sk.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 in a container)")
    args = parser.parse_args(argv)
    if args.command == "sinks":
        from .sinks import main as sinks_main
        return sinks_main(["--sms-port", str(args.sms_port), "--smtp-port", str(args.smtp_port),
                           "--host", args.host])
    if args.command == "backup":
        from . import backups
        try:
            key = backups.take_backup(args.dsn, print, args.s3_endpoint or backups.S3_URL)
        except Exception as exc:  # S3 or the database unreachable: say which, exit 2
            print(f"demo: backup failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 2
        print(f"demo: backup {key} in {', '.join(backups.REGIONS.values())}")
        return 0
    if args.command in ("pgbackrest-buckets", "pgbackrest-sync"):
        from . import s3sync
        if args.command == "pgbackrest-sync":
            return s3sync.run(args.s3_endpoint, args.interval, args.heartbeat, args.once)
        try:
            s3sync.ensure_buckets(args.s3_endpoint)
        except Exception as exc:  # S3 unreachable or refusing: say which, exit 2
            print(f"demo: pgbackrest-buckets failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 2
        return 0
    if args.command in ("up", "down", "status"):
        from . import stack
        return int(getattr(stack, args.command)())

    try:
        if args.command == "seed":
            if ensure_database(args.dsn):
                print("demo: created the database")
            with psycopg.connect(args.dsn, autocommit=True) as conn:
                if args.force:
                    conn.execute("DROP TABLE IF EXISTS payments, guests, bookings, weddings, "
                                 "couples, vendors, venues, user_profiles CASCADE")
                apply_schema(conn)
                if is_seeded(conn):
                    print("demo: already seeded (use --force to start again)")
                    return 0
                seed(conn, SeedScale(args.weddings, args.guests_per_wedding, args.weddings_today,
                                     args.extra_tables), args.today)
            print("demo: seeded")
        else:
            run_load(args.dsn, LoadPlan(args.duration, args.clients, args.rate, args.idle,
                                        args.idle_in_transaction))
    except psycopg.OperationalError as exc:
        print(f"demo: cannot reach the database: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
