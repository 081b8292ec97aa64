"""Fresh scrapes of several exporters interleaved, on the bench database: ratios that survive a noisy machine.

    python bench/interleaved.py --baseline DIR [--rounds 60] [--block 1] [--gap 0.1] [--inline] [--no-rival]

bench/run.py measures one exporter after the other; on a shared machine the load
moves between them (the same code measured 20 ms and 45 ms a few minutes apart).
Here ours (this checkout), a baseline checkout (same venv) and postgres_exporter
with its defaults run at the same time, every cache TTL of ours at 0, each warmed
up until every statement is classified; then each round scrapes each of them
``--block`` times back to back (1: strictly alternating), in alternating order, each
scrape after ``--gap`` seconds of quiet (Prometheus scrapes a target every 10 s, not
back to back; work an exporter does between scrapes, such as reading ahead, must not
land on the next exporter's scrape). Prints the medians, quartiles, each exporter's
CPU over the whole run per scrape (work between scrapes included) and ratios; writes
nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import dataset
from bench.exporters import FRESH_ENV, REPO, Running, ours, rival
from bench.measure import scrape
from bench.scenarios import _wait_classified


def cpu_ms(pid: int) -> float:
    """User + system CPU of a process so far (clock ticks of 10 ms)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000.0 / os.sysconf("SC_CLK_TCK")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", metavar="DIR", help="another checkout of the exporter")
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--block", type=int, default=1, help="back-to-back scrapes per turn")
    parser.add_argument("--gap", type=float, default=0.1, help="seconds of quiet before a scrape")
    parser.add_argument("--no-rival", dest="rival", action="store_false")
    parser.add_argument("--inline", action="store_true",
                        help="also run this checkout with pg_stat_statements read inside the "
                             "scrape (statements.prefetch_seconds 0), as \"inline\"")
    parser.add_argument("--cache-dir", default=str(REPO / "bench" / ".cache"))
    args = parser.parse_args(argv)
    scale = dataset.FULL
    cluster = dataset.start_cluster(Path(args.cache_dir), scale, print)
    try:
        subprocess.run([sys.executable, "-m", "exporter", "migrate", "--database.url",
                        cluster.dsn(dataset.DBNAME)], cwd=REPO, check=True, capture_output=True)
        dataset.make_statements(cluster, scale, print)
        specs = [ours("ours", "ours", cluster.port, FRESH_ENV)]
        if args.baseline:
            specs.append(ours("baseline", "baseline", cluster.port, FRESH_ENV,
                              source=Path(args.baseline).resolve()))
        if args.inline:
            specs.append(ours("inline", "inline", cluster.port,
                              {**FRESH_ENV, "DBHEALTH_STATEMENTS__PREFETCH_SECONDS": "0"}))
        if args.rival:
            specs.append(rival("rival", "postgres_exporter defaults", cluster.port))
        logs = Path(tempfile.mkdtemp(prefix="dbhealth-interleaved-"))
        with dataset.HeldClients(cluster, scale):
            runs = [Running(spec, logs) for spec in specs]
            try:
                for run in runs:
                    run.__enter__()
                for run in runs:
                    if run.spec.ours:
                        scrapes, seconds, left = _wait_classified(run, timeout=120)
                        print(f"{run.spec.key}: classified after {scrapes} scrapes, "
                              f"{seconds:.1f}s (left {left})")
                times: dict[str, list[float]] = {run.spec.key: [] for run in runs}
                cpu = {run.spec.key: -cpu_ms(run.pid) for run in runs}
                for i in range(args.rounds):
                    for run in runs if i % 2 == 0 else runs[::-1]:
                        for _ in range(args.block):
                            time.sleep(args.gap)
                            times[run.spec.key].append(scrape(run.port).seconds * 1000)
                time.sleep(args.gap)
                for run in runs:
                    cpu[run.spec.key] += cpu_ms(run.pid)
            finally:
                for run in runs:
                    run.__exit__(None, None, None)
        median = {k: statistics.median(v) for k, v in times.items()}
        for key, values in times.items():
            q1, _, q3 = statistics.quantiles(values, n=4)
            print(f"{key}: median {median[key]:.1f} ms (quartiles {q1:.1f} / {q3:.1f}, "
                  f"min {min(values):.1f}), CPU {cpu[key] / len(values):.1f} ms per scrape, "
                  f"over {len(values)} fresh scrapes")
        if "rival" in median:
            print(f"ours / postgres_exporter defaults: {median['ours'] / median['rival']:.2f}x")
        for other in ("baseline", "inline"):
            if other in median:
                print(f"ours / {other}: {median['ours'] / median[other]:.2f}x")
        if "inline" in median and "rival" in median:
            print(f"inline / postgres_exporter defaults: {median['inline'] / median['rival']:.2f}x")
    finally:
        cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
