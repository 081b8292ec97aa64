"""``dbhealth-exporter wedding-override``: switch the wedding-day mode on until a time, or off.

The override lives in one row of ``dbhealth_wedding_day_override`` (migration
0002) in the monitored database, so every exporter replica sees it on its next
collection without a restart. Writing it needs a role allowed to write that
table, which is what authenticates the operator. Every override expires; the
collector ignores rows whose ``until`` has passed.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from ..db import Database
from ..errors import DatabaseUnavailable, QueryFailed
from ..settings import Settings
from ..sqlcheck import quote_ident
from .calendar import Clock, aware, system_clock

# A forgotten override must not keep Saturday thresholds for weeks.
MAX_DURATION = timedelta(days=14)
MAX_REASON = 200

# {table}: the override table named with its schema (sessions use search_path = pg_catalog).
SET = """
INSERT INTO {table} (id, active, until, reason, set_by, set_at)
VALUES (1, true, %(until)s, %(reason)s, current_user, pg_catalog.now())
ON CONFLICT (id) DO UPDATE
   SET active = true, until = EXCLUDED.until, reason = EXCLUDED.reason,
       set_by = current_user, set_at = pg_catalog.now()"""
CLEAR = """
UPDATE {table}
   SET active = false, set_by = current_user, set_at = pg_catalog.now()
 WHERE id = 1 AND active"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("wedding-override")
    switch = group.add_mutually_exclusive_group()
    switch.add_argument("--on", dest="override_on", action="store_true", default=None,
                        help="treat every day until --until as a wedding day")
    switch.add_argument("--off", dest="override_on", action="store_false", default=None,
                        help="end the run-time override now")
    group.add_argument("--until", dest="override_until", metavar="ISO_DATETIME",
                       help="when the override ends, e.g. 2026-12-01T02:00 (local time in the "
                            "configured timezone unless an offset is given)")
    group.add_argument("--reason", dest="override_reason", default="", metavar="TEXT",
                       help="why (shown in /health/wedding-day; no names or contact details)")


def parse_until(text: str, tz: ZoneInfo, now: datetime) -> datetime:
    """An aware expiry in the future and within MAX_DURATION; ValueError says what is wrong."""
    try:
        until = aware(datetime.fromisoformat(text), tz)
    except ValueError:
        raise ValueError(f"--until: {text!r} is not an ISO date-time "
                         "(e.g. 2026-12-01T02:00)") from None
    if until <= now:
        raise ValueError(f"--until: {until.isoformat()} is already in the past")
    if until - now > MAX_DURATION:
        raise ValueError(f"--until: at most {MAX_DURATION.days} days ahead "
                         "(set it again when it ends)")
    return until


def _write(database: Database, statement: str, params: dict[str, object] | None,
           patience: float) -> int:
    give_up = time.monotonic() + patience
    while True:
        try:
            return database.write(statement, params)
        except DatabaseUnavailable:
            if time.monotonic() >= give_up:
                raise


def run(settings: Settings, args: argparse.Namespace, clock: Clock = system_clock) -> int:
    """The subcommand; returns the process exit code."""
    tz = ZoneInfo(settings.timezone)
    if args.override_on is None:
        print("dbhealth-exporter wedding-override: give --on --until TIME or --off",
              file=sys.stderr)
        return 2
    params: dict[str, object] = {}
    if args.override_on:
        if not args.override_until:
            print("dbhealth-exporter wedding-override: --on needs --until (overrides expire)",
                  file=sys.stderr)
            return 2
        if len(args.override_reason) > MAX_REASON:
            print(f"dbhealth-exporter wedding-override: --reason: at most {MAX_REASON} "
                  "characters", file=sys.stderr)
            return 2
        try:
            until = parse_until(args.override_until, tz, clock())
        except ValueError as exc:
            print(f"dbhealth-exporter wedding-override: {exc}", file=sys.stderr)
            return 2
        params = {"until": until, "reason": args.override_reason}
    table = f"{quote_ident(settings.database.exporter_schema)}.dbhealth_wedding_day_override"
    database = Database(settings.database)
    database.open()
    try:
        patience = settings.database.connect_timeout_seconds
        if args.override_on:
            _write(database, SET.format(table=table), params, patience)
            print(f"wedding-day override on until {params['until']:%Y-%m-%d %H:%M %Z} "
                  f"({settings.timezone})")
        else:
            cleared = _write(database, CLEAR.format(table=table), None, patience)
            print("wedding-day override off" if cleared else "no run-time override was on")
    except (DatabaseUnavailable, QueryFailed) as exc:
        hint = (" (run 'dbhealth-exporter migrate' first)"
                if "dbhealth_wedding_day_override" in str(exc) else "")
        print(f"dbhealth-exporter wedding-override: {exc}{hint}", file=sys.stderr)
        return 1
    finally:
        database.close()
    return 0
