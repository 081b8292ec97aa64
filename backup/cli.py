"""``dbhealth-backup-verify``: verify the backups once (default), on a schedule, or check a configuration.

Exit codes: 0 verified, 1 verification failed, 2 could not run (configuration,
S3 or a database unreachable, another run holding the lock). One verdict per check
on stdout; progress on stderr. Settings: defaults → YAML (--config.file or
BACKUP_VERIFY_CONFIG) → BACKUP_VERIFY_* environment → flags.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
import time
from typing import Any
from zoneinfo import ZoneInfo

from . import __version__
from .errors import ConfigError
from .loader import load_settings, mask_url, masked
from .runner import COULD_NOT_RUN, final_line, run_once, verdict_line
from .schedule import run_forever
from .settings import CHECKS, Settings

PROG = "dbhealth-backup-verify"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", nargs="?", default="run", choices=["run", "check-config"],
                        help="run (default): verify now; check-config: validate and print the "
                             "effective settings (secrets masked)")
    parser.add_argument("--config.file", dest="config_file", metavar="PATH",
                        help="YAML settings file (also BACKUP_VERIFY_CONFIG)")
    parser.add_argument("--check", dest="checks", action="append", metavar="NAME[,NAME]",
                        help=f"run only these checks (repeatable): {', '.join(CHECKS)}; "
                             "inventory always runs, completeness implies the restore drill")
    parser.add_argument("--schedule", action="store_true",
                        help="stay running and verify at schedule.cron (default 02:00 daily, local time)")
    parser.add_argument("--production.url", dest="production_url", metavar="DSN",
                        help="production database, read-only (also BACKUP_VERIFY_PRODUCTION_URL)")
    parser.add_argument("--scratch.url", dest="scratch_url", metavar="DSN",
                        help="scratch server for the restore drill (also BACKUP_VERIFY_SCRATCH_URL)")
    parser.add_argument("--audit.url", dest="audit_url", metavar="DSN",
                        help="where audit rows go (default: the production database)")
    parser.add_argument("--log.level", dest="log_level", metavar="LEVEL",
                        help="debug, info, warning or error")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def flag_overrides(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for flag, path in (("production_url", "production"), ("scratch_url", "scratch"), ("audit_url", "audit")):
        if getattr(args, flag):
            out.setdefault(path, {})["url"] = getattr(args, flag)
    if args.checks:
        out["checks"] = [c.strip() for item in args.checks for c in item.split(",") if c.strip()]
    if args.log_level:
        out["log_level"] = args.log_level
    return out


def progress(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


def where(settings: Settings) -> list[str]:
    """Each configured location, for the start-up line (no credentials)."""
    out = []
    physical = settings.pgbackrest.repo if settings.pgbackrest else None
    for kind, s3 in (("logical", settings.s3), ("physical", physical)):
        for role in ("primary", "replica"):
            region = getattr(s3, role, None) if s3 else None
            if region is not None:
                out.append(f"{kind} {role} s3://{region.bucket}/{region.prefix} ({region.region})")
    return out


def verify(settings: Settings) -> int:
    report = run_once(settings, progress, on_outcome=lambda o: print(verdict_line(o), flush=True))
    print(final_line(report), flush=True)
    return report.exit_code


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings(args.config_file, overrides=flag_overrides(args))
    except ConfigError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return COULD_NOT_RUN
    logging.basicConfig(level=settings.log_level,
                        format="ts=%(asctime)s level=%(levelname)s logger=%(name)s msg=%(message)s")
    logging.getLogger("botocore").setLevel(logging.WARNING)
    if args.command == "check-config":
        print(json.dumps(masked(settings), indent=2))
        return 0
    progress(f"{PROG} {__version__}: production {mask_url(settings.production.url)}, "
             f"scratch {mask_url(settings.scratch.url)}, " + ", ".join(where(settings)))
    if not args.schedule:
        return verify(settings)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    run_forever(settings.schedule.cron, ZoneInfo(settings.timezone), lambda: verify(settings), stop, progress)
    progress("schedule: stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
