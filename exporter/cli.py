"""``dbhealth-exporter``: serve metrics, apply migrations, or check a configuration.

Flags follow the Prometheus style and override the YAML file and the
environment (defaults → YAML → environment → flags).
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import logging
import signal
import sys
from typing import Any

from . import __version__
from .collectors import COLLECTOR_DEFAULTS
from .errors import ConfigError, safe_message
from .migrate import migrate
from .settings import Settings, load_settings
from .wedding import override as wedding_override

log = logging.getLogger("exporter")

M_ARENA_MAX = -8  # mallopt(3) parameter number in glibc's malloc.h


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dbhealth-exporter", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", nargs="?", default="serve",
                        choices=["serve", "migrate", "check-config", "wedding-override"],
                        help="serve (default); migrate: create/upgrade the history table; "
                             "check-config: validate and print the effective settings; "
                             "wedding-override: force the wedding-day mode on until a time, "
                             "or off (docs/wedding-day.md)")
    parser.add_argument("--config.file", dest="config_file", metavar="PATH",
                        help="YAML settings file (also DBHEALTH_CONFIG)")
    parser.add_argument("--web.listen-address", dest="listen_address", metavar="HOST:PORT",
                        help="address to serve on (default 0.0.0.0:9188)")
    parser.add_argument("--database.url", dest="database_url", metavar="DSN",
                        help="monitored database (also DBHEALTH_DATABASE_URL)")
    parser.add_argument("--redis.url", dest="redis_url", metavar="URL",
                        help="shared L2 cache (also DBHEALTH_REDIS_URL); optional")
    parser.add_argument("--log.level", dest="log_level", metavar="LEVEL",
                        help="debug, info, warning or error")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    wedding_override.add_arguments(parser)
    for name in COLLECTOR_DEFAULTS:
        parser.add_argument(f"--collector.{name}", dest=f"collector_{name}",
                            action=argparse.BooleanOptionalAction, default=None,
                            help=f"enable the {name} collector")
    return parser


def flag_overrides(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if args.listen_address:
        out.setdefault("web", {})["listen_address"] = args.listen_address
    if args.database_url:
        out.setdefault("database", {})["url"] = args.database_url
    if args.redis_url:
        out.setdefault("redis", {})["url"] = args.redis_url
    if args.log_level:
        out["log_level"] = args.log_level
    toggles = {name: getattr(args, f"collector_{name}") for name in COLLECTOR_DEFAULTS}
    toggles = {k: v for k, v in toggles.items() if v is not None}
    if toggles:
        out["collectors"] = toggles
    return out



def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings(args.config_file, overrides=flag_overrides(args))
    except ConfigError as exc:
        print(f"dbhealth-exporter: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level,
                        format="ts=%(asctime)s level=%(levelname)s logger=%(name)s msg=%(message)s")
    if settings.log_level != "DEBUG":
        # The pool warns on every reconnect attempt; the scraper already logs the
        # database going down and coming back, once each.
        logging.getLogger("psycopg.pool").setLevel(logging.ERROR)
        # "Task queue depth is N" whenever more scrapes arrive than there are threads:
        # expected with HA Prometheus pairs and replicas; the requests simply queue.
        logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    if args.command == "check-config":
        print(json.dumps(settings.masked(), indent=2))
        return 0
    if args.command == "wedding-override":
        return wedding_override.run(settings, args)
    if args.command == "migrate":
        try:
            migrate(settings.database.url, schema=settings.database.exporter_schema)
        except Exception as exc:
            print(f"dbhealth-exporter: migration failed: {safe_message(exc)}", file=sys.stderr)
            return 1
        return 0
    return serve(settings)


def limit_malloc_arenas(arenas: int = 2) -> None:
    """Ask glibc for few malloc arenas before any thread starts.

    By default glibc gives threads arenas of their own (up to 8 per core); the
    exporter's request threads spend their time under the GIL, so the extra arenas
    only hold freed memory: 5 MiB of RSS with 8 threads (docs/BENCHMARKS.md).
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc: nothing to tune
        return
    libc.mallopt(M_ARENA_MAX, arenas)


# Objects allocated (net) before the cyclic GC's youngest generation is scanned. A fresh
# collection creates ~20 000 short-lived objects (~3 000 pg_stat_statements rows of six
# values) and frees them again; at Python's default (700) that meant a GC pass or two per
# collection, ~0.45 ms of it in total, for garbage reference counting frees anyway.
GC_YOUNG_THRESHOLD = 10_000


def tune_gc() -> None:
    """Fewer cyclic GC passes, and none over what was there at start (imports, settings)."""
    gc.collect()
    gc.freeze()  # what is alive now lives for the process: never scan it again
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)


def serve(settings: Settings) -> int:
    from .server import Exporter

    limit_malloc_arenas()
    masked = settings.masked()
    log.info("starting dbhealth-exporter %s: database %s, redis %s, collectors %s", __version__,
             masked["database"]["url"], masked["redis"]["url"] or "off",
             ",".join(settings.enabled_collectors))
    log.debug("effective settings: %s", json.dumps(masked, separators=(",", ":")))
    # Block SIGTERM/SIGINT before any thread exists (threads inherit the mask) and take
    # them synchronously below: a signal that arrives while starting stays pending, and
    # none can land on a thread where Python would never run its handler.
    stop_signals = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    exporter = Exporter(settings)
    tune_gc()
    try:
        exporter.start()
    except OSError as exc:
        log.error("cannot listen on %s: %s", settings.web.listen_address, exc)
        return 1
    signum = signal.sigwait(stop_signals)
    log.info("received signal %d, shutting down", signum)
    exporter.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
