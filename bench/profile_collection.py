"""Where our exporter's time and memory go: fresh collections in-process under cProfile and tracemalloc.

    python bench/profile_collection.py [--quick] [--collections 50]

Uses the same cached, seeded cluster and statement mix as bench/run.py, runs the
full collector set in this process (no HTTP), and prints RSS after each stage,
the collectors' own timings, the top functions by cumulative time and the top
allocation sites still alive after the collections.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import re
import sys
import time
import tracemalloc
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def rss() -> str:
    status = Path("/proc/self/status").read_text()

    def get(key: str) -> float:
        match = re.search(key + r":\s+(\d+)", status)
        return int(match.group(1)) / 1024 if match else 0.0

    return f"RSS {get('VmRSS'):.1f} MiB (anon {get('RssAnon'):.1f}, file {get('RssFile'):.1f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--collections", type=int, default=50)
    args = parser.parse_args()
    print(f"interpreter only: {rss()}")
    from bench import dataset
    from exporter.db import Database
    from exporter.scrape import Scraper, build_collectors, render
    from exporter.server import Exporter  # noqa: F401 - the import cost of the real server
    from exporter.settings import load_settings

    print(f"after imports: {rss()}")
    tracemalloc.start(10)  # after the imports: their cost is the RSS line above
    scale = dataset.QUICK if args.quick else dataset.FULL
    root = Path(__file__).resolve().parent
    cluster = dataset.start_cluster(root / ".cache", scale, print)
    try:
        dataset.make_statements(cluster, scale, print)
        dsn = f"postgresql://{dataset.OURS_ROLE}@127.0.0.1:{cluster.port}/{dataset.DBNAME}"
        settings = load_settings(environ={}, overrides={"database": {"url": dsn}})
        database = Database(settings.database)
        database.open()
        scraper = Scraper(settings, database, build_collectors(settings))
        print(f"after settings, pool open: {rss()}")
        started = time.perf_counter()
        scraper.collect(time.monotonic() + 30)
        print(f"first collection {1000 * (time.perf_counter() - started):.0f} ms: {rss()}")
        # Finish classification (time-boxed per collection) before profiling the steady state.
        for _ in range(200):
            snap = scraper.collect(time.monotonic() + 30)
            if "dbhealth_statements_unclassified 0.0" in snap.exposition:
                break
        print(f"classified: {rss()}")
        before = tracemalloc.take_snapshot()
        profiler = cProfile.Profile()
        durations: dict[str, list[float]] = {}
        render_ms: list[float] = []
        total: list[float] = []
        for _ in range(args.collections):
            started = time.perf_counter()
            profiler.enable()
            snap = scraper.collect(time.monotonic() + 30)
            profiler.disable()
            total.append(1000 * (time.perf_counter() - started))
            for name, check in snap.checks.items():
                durations.setdefault(name, []).append(1000 * check.duration_seconds)
            started = time.perf_counter()
            render([])
            render_ms.append(1000 * (time.perf_counter() - started))
        after = tracemalloc.take_snapshot()
        print(f"after {args.collections} profiled collections: {rss()}")

        def median(values: list[float]) -> float:
            return sorted(values)[len(values) // 2]

        print(f"collection median {median(total):.1f} ms; per collector (median ms): " + ", ".join(
            f"{k} {median(v):.2f}" for k, v in durations.items()))
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(30)
        print(out.getvalue())
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(20)
        print(out.getvalue())
        current, peak = tracemalloc.get_traced_memory()
        print(f"python heap traced: {current / 2**20:.1f} MiB (peak {peak / 2**20:.1f} MiB)")
        print("largest live allocation sites (by file:line):")
        for stat in after.statistics("lineno")[:15]:
            print(f"  {stat.size / 2**20:6.2f} MiB  {stat.count:7d} blocks  {stat.traceback[0]}")
        print("growth during the profiled collections:")
        for diff in after.compare_to(before, "lineno")[:8]:
            print(f"  {diff.size_diff / 2**10:+8.1f} KiB  {diff.traceback[0]}")
        database.close()
    finally:
        cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
