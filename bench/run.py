"""Benchmark: our exporter vs Debian's prometheus-postgres-exporter 0.11, side by side, in one run.

    python bench/run.py            # SPEC 9 scale (~160 tables, 1.5 M guests, 3 000 statements, 125 clients)
    python bench/run.py --quick    # small smoke run (seconds)

Writes bench/results/latest.json (raw numbers) and docs/BENCHMARKS.md (the table
against the SPEC 9 targets). See docs/BENCHMARKS.md for what is measured and how.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `bench`, `demo`, `exporter` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import dataset, report
from bench.exporters import FRESH_ENV, REPO, RIVAL_BIN, Running, ours, rival, rival_version
from bench.measure import counter_for
from bench.scenarios import (
    measure_ours_burst,
    measure_ours_cached,
    measure_ours_fresh,
    measure_rival,
)

DEFAULT_L1_TTL = 30.0
QUICK_L1_TTL = 3.0
# Short enough to reach the steady state (every statement classified) in about a minute.
BURST_L1_TTL = 1.0


def log(line: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {line}", flush=True)


def machine() -> dict[str, Any]:
    mem_kib = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal:"))
    model = next((line.split(":", 1)[1].strip() for line in
                  Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")), "?")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                            text=True).stdout.strip()
    return {"nproc": os.cpu_count(), "cpu": model, "memory_gib": round(mem_kib / 1024 / 1024, 1),
            "kernel": platform.release(), "python": platform.python_version(),
            "loadavg_at_start": os.getloadavg(), "git_commit": commit,
            "started_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())}


def run(args: argparse.Namespace) -> dict[str, Any]:
    scale = dataset.QUICK if args.quick else dataset.FULL
    l1_ttl = QUICK_L1_TTL if args.quick else DEFAULT_L1_TTL
    results: dict[str, Any] = {"scale": scale.__dict__, "machine": machine(), "exporters": {}}
    cache_dir = Path(args.cache_dir)
    log_dir = Path(tempfile.mkdtemp(prefix="dbhealth-bench-logs-"))
    cluster = dataset.start_cluster(cache_dir, scale, log)
    try:
        subprocess.run([sys.executable, "-m", "exporter", "migrate", "--database.url",
                        cluster.dsn(dataset.DBNAME)], cwd=REPO, check=True, capture_output=True)
        results["statement_shapes"] = dataset.make_statements(cluster, scale, log)
        with dataset.HeldClients(cluster, scale):
            results["dataset"] = dataset.dataset_facts(cluster)
            log(f"dataset: {results['dataset']}")
            ours_counter = counter_for(cluster.port, dataset.OURS_ROLE)
            rival_counter = counter_for(cluster.port, dataset.RIVAL_ROLE)
            ex = results["exporters"]
            from exporter import __version__ as ours_version

            results["versions"] = {"ours": ours_version, "rival": rival_version()}
            cached_env = {} if l1_ttl == DEFAULT_L1_TTL else {"DBHEALTH_CACHE__L1_TTL_SECONDS": str(l1_ttl)}
            with Running(ours("ours_fresh", "ours, TTL 0 (fresh)", cluster.port, FRESH_ENV), log_dir) as r:
                ex["ours_fresh"] = measure_ours_fresh(r, scale, ours_counter, log)
                ex["ours_fresh"]["log_tail"] = r.log_tail()
            with Running(ours("ours_cached", "ours, default TTLs", cluster.port, cached_env), log_dir) as r:
                ex["ours_cached"] = measure_ours_cached(r, scale, ours_counter, log, l1_ttl)
                ex["ours_cached"]["l1_ttl_seconds"] = l1_ttl
                ex["ours_cached"]["log_tail"] = r.log_tail()
            burst_env = {"DBHEALTH_CACHE__L1_TTL_SECONDS": str(BURST_L1_TTL)}
            if args.baseline:
                # The same measurements of another checkout, in the same run: absolute times
                # on this shared machine move, the ratio between the two does not.
                source = Path(args.baseline).resolve()
                with Running(ours("baseline_fresh", "baseline, TTL 0", cluster.port, FRESH_ENV,
                                  source), log_dir) as r:
                    ex["baseline_fresh"] = measure_ours_fresh(r, scale, ours_counter, log)
                with Running(ours("baseline_cached", "baseline, default TTLs", cluster.port,
                                  cached_env, source), log_dir) as r:
                    ex["baseline_cached"] = measure_ours_cached(r, scale, ours_counter, log, l1_ttl)
                results["baseline"] = args.baseline_label or str(source)
            with Running(ours("ours_burst", f"ours, L1 TTL {BURST_L1_TTL:g}s", cluster.port, burst_env),
                         log_dir) as r:
                ex["ours_burst"] = measure_ours_burst(r, scale, log, BURST_L1_TTL)
                ex["ours_burst"]["log_tail"] = r.log_tail()
            if args.rival and RIVAL_BIN.exists():
                for key, label, queries in (
                        ("rival_default", "postgres_exporter 0.11, defaults", None),
                        ("rival_tables", "postgres_exporter 0.11 + per-table stats", "per_table.yaml"),
                        ("rival_statements", "postgres_exporter 0.11 + every pg_stat_statements row",
                         "stat_statements.yaml")):
                    with Running(rival(key, label, cluster.port, queries), log_dir) as r:
                        ex[key] = measure_rival(r, scale, rival_counter, log)
                        ex[key]["log_tail"] = r.log_tail()
            results["dataset"]["pg_stat_statements_entries_at_end"] = dataset.dataset_facts(
                cluster)["pg_stat_statements_entries"]
    finally:
        cluster.stop()
    results["machine"]["loadavg_at_end"] = os.getloadavg()
    results["finished_utc"] = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
    results["logs"] = str(log_dir)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small scale smoke run")
    parser.add_argument("--no-rival", dest="rival", action="store_false",
                        help="skip prometheus-postgres-exporter")
    parser.add_argument("--output", default=str(REPO / "bench" / "results" / "latest.json"),
                        help="raw results JSON (default bench/results/latest.json)")
    parser.add_argument("--markdown", default=None,
                        help="report to write (default docs/BENCHMARKS.md for a full run, none for --quick)")
    parser.add_argument("--cache-dir", default=str(REPO / "bench" / ".cache"),
                        help="where the seeded cluster is kept between runs")
    parser.add_argument("--baseline", metavar="DIR",
                        help="also measure the exporter of this source tree (e.g. the previous "
                             "release, from `git archive`), side by side in the same run")
    parser.add_argument("--baseline-label", metavar="TEXT", help="how the report names it")
    parser.add_argument("--from-json", metavar="PATH",
                        help="measure nothing: re-render the report from a results JSON")
    args = parser.parse_args(argv)
    if args.from_json:
        results = json.loads(Path(args.from_json).read_text())
    else:
        results = run(args)
        out = Path(args.output)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=2, default=str))
        log(f"raw results: {out}")
    quick = results["scale"]["name"] == "quick"
    markdown = args.markdown or (None if quick else str(REPO / "docs" / "BENCHMARKS.md"))
    if markdown:
        path = Path(markdown)
        old = path.read_text() if path.exists() else ""
        path.write_text(report.keep_other_sections(report.render(results), old))
        log(f"report: {markdown}")
    print(report.summary_table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
