"""Where our exporter's time and memory go: fresh collections in-process, timed, then profiled.

    python bench/profile_collection.py [--quick] [--collections 40]

Uses the same cached, seeded cluster and statement mix as bench/run.py and the
full collector set in this process (no HTTP). Prints RSS after each stage, then
(1) plain timings: per collector, per SQL statement, rendering; (2) cProfile's
top functions; (3) tracemalloc's largest live allocation sites. Stage 1 wraps
a few functions with timers; that is instrumentation for this tool only.
"""

from __future__ import annotations

import argparse
import cProfile
import ctypes
import io
import pstats
import re
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def rss() -> str:
    status = Path("/proc/self/status").read_text()

    def get(key: str) -> float:
        match = re.search(key + r":\s+(\d+)", status)
        return int(match.group(1)) / 1024 if match else 0.0

    return f"RSS {get('VmRSS'):.1f} MiB (heap {get('RssAnon'):.1f}, mapped files {get('RssFile'):.1f})"


def timed(owner: Any, attr: str, key: Callable[..., str], into: dict[str, list[float]]) -> None:
    original = getattr(owner, attr)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            into.setdefault(key(*args), []).append(1000 * (time.perf_counter() - started))

    setattr(owner, attr, wrapper)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--collections", type=int, default=40)
    args = parser.parse_args()
    print(f"interpreter only: {rss()}")
    from bench import dataset
    from exporter import db, scrape
    from exporter.migrate import migrate
    from exporter.scrape import Scraper
    from exporter.server import Exporter, build_collectors  # noqa: F401 - the real server's imports
    from exporter.settings import load_settings
    from exporter.statements import tracker
    from exporter.statements.collector import StatementsCollector

    print(f"after importing exporter.server: {rss()}")
    scale = dataset.QUICK if args.quick else dataset.FULL
    cluster = dataset.start_cluster(Path(__file__).resolve().parent / ".cache", scale, print)
    try:
        migrate(cluster.dsn(dataset.DBNAME), progress=lambda _m: None)  # as bench/run.py does
        dataset.make_statements(cluster, scale, print)
        dsn = f"postgresql://{dataset.OURS_ROLE}@127.0.0.1:{cluster.port}/{dataset.DBNAME}"
        settings = load_settings(environ={}, overrides={"database": {"url": dsn}})
        database = db.Database(settings.database)
        database.open()
        scraper = Scraper(database, build_collectors(settings, database=database))
        print(f"settings loaded, pool open: {rss()}")
        started = time.perf_counter()
        scraper.collect(time.monotonic() + 30)
        print(f"first collection (hands the texts to the background classifier) "
              f"{1000 * (time.perf_counter() - started):.0f} ms: {rss()}")
        statements = next(c for c in scraper.collectors if isinstance(c, StatementsCollector))
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # classified off the scrape path: wait for it
            statements.texts.join(timeout=1)
            if "dbhealth_statements_unclassified 0.0" in scraper.collect(time.monotonic() + 30).exposition:
                break
        print(f"every statement classified ({time.perf_counter() - started:.1f} s after the "
              f"first collection): {rss()}")

        # 1. plain timings
        parts: dict[str, list[float]] = {}
        timed(db.Session, "query", lambda _self, sql, *_: "SQL " + " ".join(sql.split())[:48], parts)
        timed(scrape, "render", lambda *_: "render (exposition text)", parts)
        timed(tracker.StatementTracker, "update", lambda *_: "statements: tracker.update", parts)
        collectors: dict[str, list[float]] = {}
        total: list[float] = []
        for _ in range(args.collections):
            started = time.perf_counter()
            snap = scraper.collect(time.monotonic() + 30)
            total.append(1000 * (time.perf_counter() - started))
            for name, check in snap.checks.items():
                collectors.setdefault(name, []).append(1000 * check.duration_seconds)
        med = statistics.median
        print(f"\n1. collection median {med(total):.2f} ms over {args.collections}; "
              f"per collector (median ms):")
        for name, values in sorted(collectors.items(), key=lambda kv: -med(kv[1])):
            print(f"   {med(values):7.2f}  {name}")
        print("   parts (median ms):")
        for name, values in sorted(parts.items(), key=lambda kv: -med(kv[1])):
            print(f"   {med(values):7.2f}  {name}")

        # 2. cProfile
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(args.collections):
            scraper.collect(time.monotonic() + 30)
        profiler.disable()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(15)
        print("\n2. cProfile, by own time:\n" + out.getvalue())

        # 3. tracemalloc
        tracemalloc.start(5)
        for _ in range(5):
            scraper.collect(time.monotonic() + 30)
        current, peak = tracemalloc.get_traced_memory()
        snapshot = tracemalloc.take_snapshot()
        tracemalloc.stop()
        print(f"3. Python heap allocated during 5 collections and still live: {current / 2**20:.2f} MiB "
              f"(peak {peak / 2**20:.2f} MiB); largest sites:")
        for stat in snapshot.statistics("lineno")[:10]:
            print(f"   {stat.size / 2**10:8.1f} KiB {stat.count:6d} blocks  {stat.traceback[0]}")
        print(f"\nafter the runs: {rss()}")
        ctypes.CDLL("libc.so.6").malloc_trim(0)
        print(f"after malloc_trim(0) (freed heap handed back to the OS): {rss()}")
        database.close()
    finally:
        cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
