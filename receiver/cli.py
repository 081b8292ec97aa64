"""``dbhealth-receiver``: serve the webhook API under gunicorn, or ``migrate`` the schema.

    dbhealth-receiver --bind 0.0.0.0:9095 [--workers 2] [--migrate]
    dbhealth-receiver migrate
    dbhealth-receiver check-config
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import psycopg

from .errors import ConfigError
from .settings import Settings, load_settings


def _settings() -> Settings | None:
    try:
        return load_settings(os.environ)
    except ConfigError as exc:
        print(f"{exc.message}:", *exc.details, sep="\n  ", file=sys.stderr)
        return None


def _bind(value: str) -> str:
    _host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError("must be HOST:PORT, e.g. 0.0.0.0:9095")
    return value


def _check_config(settings: Settings) -> int:
    """Print the settings (secrets masked) and check the vendor (and couple) queries on the
    live database; each problem names its policy key."""
    from .roster_query import COUPLES, VENDORS
    from .vendors import describe_vendor_query

    print(json.dumps(settings.describe(), indent=2, default=str))
    problems = []
    for audience, enabled in ((VENDORS, settings.policy.vendors.enabled),
                              (COUPLES, settings.policy.couples.enabled)):
        if enabled:
            problems += describe_vendor_query(settings.vendor_dsn, settings.policy, audience)
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dbhealth-receiver", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bind", type=_bind, default="0.0.0.0:9095", help="HOST:PORT to serve")
    parser.add_argument("--workers", type=int, default=int(os.environ.get("RECEIVER_WORKERS", 2)))
    parser.add_argument("--migrate", action="store_true", help="apply migrations before serving")
    parser.add_argument("command", nargs="?", choices=["serve", "migrate", "check-config"],
                        default="serve")
    args = parser.parse_args(argv)
    settings = _settings()
    if settings is None:
        return 2
    if args.command == "check-config":
        return _check_config(settings)
    from .migrate import MigrationRefused, migrate, pending, search_path_writers

    try:
        writers = search_path_writers(settings.database_url)
        if writers:
            print("dbhealth-receiver: warning: other roles can create objects on the receiver's"
                  " search_path: " + "; ".join(writers) + ". They could plant functions that the"
                  " receiver would run with its privileges: REVOKE CREATE from them"
                  " (docs/receiver.md)", file=sys.stderr)
        if args.command == "migrate" or args.migrate:
            migrate(settings.database_url)
            if args.command == "migrate":
                return 0
        missing = pending(settings.database_url)
    except MigrationRefused as exc:
        print(f"dbhealth-receiver: {exc}", file=sys.stderr)
        return 2
    except psycopg.Error as exc:
        # Refusing to start would silence every page while the database is away: serve,
        # answer 503 (Alertmanager retries) and let /readyz say why.
        print(f"dbhealth-receiver: database unreachable ({type(exc).__name__}); serving anyway,"
              " webhooks get 503 until it answers", file=sys.stderr)
        if args.command == "migrate":
            return 1
        missing = []
    if missing:
        print("dbhealth-receiver: the schema is not migrated (pending: " + ", ".join(missing)
              + "); run `dbhealth-receiver migrate` or start with --migrate", file=sys.stderr)
        return 2
    argv_gunicorn = [sys.executable, "-m", "gunicorn", "-c", "python:receiver.gunicorn_conf",
                     "--bind", args.bind, "--workers", str(args.workers), "receiver.wsgi:app"]
    os.execv(sys.executable, argv_gunicorn)  # noqa: S606 - replace ourselves with gunicorn
    return 0  # not reached
