"""docs/BENCHMARKS.md from a results dict: machine, dataset, side-by-side table, SPEC 9 targets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

NA = "\u2013"  # en dash for "not measured"
NOTES = Path(__file__).resolve().parent / "notes.md"  # hand-written analysis, included verbatim
COLUMNS = (("ours_fresh", "ours, fresh (TTL 0)"), ("ours_cached", "ours, cached (default TTLs)"),
           ("ours_burst", "ours, L1 TTL 1 s (steady state)"),
           ("baseline_fresh", "baseline, fresh (TTL 0)"),
           ("baseline_cached", "baseline, cached (default TTLs)"),
           ("rival_default", "postgres_exporter 0.11 defaults"),
           ("rival_tables", "0.11 + per-table stats"),
           ("rival_statements", "0.11 + every pg_stat_statements row"))


def _get(data: dict[str, Any], *path: str) -> Any:
    node: Any = data
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def _fmt(value: Any, spec: str = ".1f", unit: str = "") -> str:
    if value is None:
        return NA
    if isinstance(value, float | int) and not isinstance(value, bool):
        return f"{value:{spec}}{unit}"
    return str(value)


def targets(results: dict[str, Any]) -> list[tuple[str, str, str, bool | None]]:
    """(target, limit, measured, passed) for each SPEC 9 exporter target."""
    ex = results.get("exporters", {})
    fresh, cached = ex.get("ours_fresh", {}), ex.get("ours_cached", {})
    collectors = len(fresh.get("collector_duration_ms") or {}) or 7
    steady = ex.get("ours_burst", {})
    burst = steady.get("burst_expired") or cached.get("burst_expired") or {}
    per_scrape = fresh.get("statements_per_scrape_pg_stat_statements")
    rss = [v for v in (fresh.get("rss_steady_mib"), cached.get("rss_steady_mib"),
                       steady.get("rss_steady_mib")) if v is not None]
    peaks = [_get(fresh, "burst", "peak_mib"), _get(cached, "burst_warm", "peak_mib"),
             _get(cached, "burst_expired", "peak_mib"), burst.get("peak_mib")]
    peaks = [p for p in peaks if p is not None]

    def check(ok: Any) -> bool | None:
        return None if ok is None else bool(ok)

    median = _get(fresh, "fresh", "median_ms")
    rival_default = _get(ex.get("rival_default", {}), "fresh", "median_ms")
    rival_tables = _get(ex.get("rival_tables", {}), "fresh", "median_ms")

    def ratio(theirs: float | None, limit: float) -> tuple[str, bool | None]:
        if median is None or not theirs:
            return NA, None
        return f"{median / theirs:.2f}x ({median:.1f} / {theirs:.1f} ms)", median / theirs <= limit

    vs_default, vs_default_ok = ratio(rival_default, 1.0)
    vs_tables, vs_tables_ok = ratio(rival_tables, 0.5)
    cached_median = _get(cached, "cached", "median_ms")
    wall, collections = burst.get("wall_s"), burst.get("collections")
    samples = max((v for v in (fresh.get("samples"), cached.get("samples")) if v is not None),
                  default=None)
    while_cached = cached.get("statements_while_cached")
    fresh_text = f"{_fmt(median, '.1f', ' ms')} (p90 {_fmt(_get(fresh, 'fresh', 'p90_ms'), '.1f', ' ms')})"
    cached_text = (f"{_fmt(cached_median, '.2f', ' ms')} "
                   f"(p90 {_fmt(_get(cached, 'cached', 'p90_ms'), '.2f', ' ms')})")
    self_reported = _fmt(fresh.get("statements_per_scrape_self_reported"), ".0f")
    return [
        ("fresh scrape, median", "(orientation)", fresh_text, None),
        ("fresh scrape vs postgres_exporter 0.11 defaults (same run)", "\u2264 1.0x", vs_default,
         vs_default_ok),
        ("fresh scrape vs 0.11 with per-table stats (same run)", "\u2264 0.5x", vs_tables,
         vs_tables_ok),
        ("cached scrape, median", "\u2264 3 ms", cached_text,
         check(None if cached_median is None else cached_median <= 3)),
        (f"{burst.get('clients', 50)} concurrent scrapes on an expired cache (steady state)",
         "\u2264 0.3 s, 1 collection", f"{_fmt(wall, '.3f', ' s')}, {_fmt(collections, 'd')} collection(s)",
         check(None if wall is None else wall <= 0.3 and collections == 1)),
        ("SQL statements per fresh scrape", f"\u2264 1 per collector ({collectors})",
         f"{_fmt(per_scrape, '.2f')} (self-reported {self_reported})",
         check(None if per_scrape is None else per_scrape <= collectors)),
        ("SQL statements while cached", "0", _fmt(while_cached, "d"),
         check(None if while_cached is None else while_cached == 0)),
        ("samples per scrape", "\u2264 3 000", _fmt(samples, "d"),
         check(None if samples is None else samples <= 3000)),
        ("RSS steady", "\u2264 40 MiB", _fmt(max(rss) if rss else None, ".1f", " MiB"),
         check(max(rss) <= 40 if rss else None)),
        ("RSS peak under a burst", "\u2264 45 MiB", _fmt(max(peaks) if peaks else None, ".1f", " MiB"),
         check(max(peaks) <= 45 if peaks else None)),
    ]


def summary_table(results: dict[str, Any]) -> str:
    lines = ["| SPEC 9 target | limit | measured (ours) | result |", "|---|---|---|---|"]
    for name, limit, measured, ok in targets(results):
        lines.append(f"| {name} | {limit} | {measured} | {NA if ok is None else 'PASS' if ok else 'MISS'} |")
    return "\n".join(lines)


def comparison_table(results: dict[str, Any]) -> str:
    ex = results.get("exporters", {})
    present = [(k, label) for k, label in COLUMNS if k in ex]
    rows: list[tuple[str, list[str]]] = []

    def row(title: str, fn: Any) -> None:
        rows.append((title, [fn(ex[k]) for k, _ in present]))

    row("fresh scrape median / p90 (ms)", lambda e: (
        f"{_fmt(_get(e, 'fresh', 'median_ms'))} / {_fmt(_get(e, 'fresh', 'p90_ms'))}"
        if "fresh" in e else NA))
    row("cached scrape median / p90 (ms)", lambda e: (
        f"{_fmt(_get(e, 'cached', 'median_ms'), '.2f')} / {_fmt(_get(e, 'cached', 'p90_ms'), '.2f')}"
        if "cached" in e else NA + " (no cache)"))
    row("first scrape after start (ms)", lambda e: _fmt(e.get("first_scrape_ms"), ".0f"))
    row("exporter CPU per fresh scrape (ms)", lambda e: _fmt(e.get("cpu_ms_per_scrape")))
    row("SQL statements per fresh scrape (pg_stat_statements)",
        lambda e: _fmt(e.get("statements_per_scrape_pg_stat_statements"), ".2f"))
    row("samples per scrape", lambda e: _fmt(e.get("samples"), "d"))
    row("response size (KiB)", lambda e: _fmt(e["bytes"] / 1024) if "bytes" in e else NA)
    row("RSS steady (MiB)", lambda e: _fmt(e.get("rss_steady_mib")))
    row("of which heap (RssAnon) / mapped files (RssFile)", lambda e: (
        f"{_fmt(_get(e, 'rss_steady_detail', 'RssAnon'))} / {_fmt(_get(e, 'rss_steady_detail', 'RssFile'))}"
        if "rss_steady_detail" in e else NA))

    def burst_cell(e: dict[str, Any]) -> str:
        parts = []
        for key, name in (("burst", "all fresh"), ("burst_warm", "warm cache"),
                          ("burst_expired", "expired cache")):
            b = e.get(key)
            if b:
                coll = f", {b['collections']} coll." if "collections" in b else ""
                parts.append(f"{name}: {b['wall_s']:.3f} s{coll}, {b['ok']}/{b['clients']} OK")
        return "<br>".join(parts) or NA

    row("concurrent burst wall time", burst_cell)
    row("RSS peak during the burst (MiB)", lambda e: " / ".join(
        _fmt(_get(e, k, "peak_mib")) for k in ("burst", "burst_warm", "burst_expired") if k in e))
    head = "| | " + " | ".join(label for _, label in present) + " |"
    sep = "|---" * (len(present) + 1) + "|"
    return "\n".join([head, sep, *(f"| {t} | " + " | ".join(c) + " |" for t, c in rows)])


def render(results: dict[str, Any]) -> str:
    m, d, s = results["machine"], results.get("dataset", {}), results["scale"]
    fresh = results.get("exporters", {}).get("ours_fresh", {})
    per_collector = ", ".join(f"{k} {v:.1f}" for k, v in sorted(
        (fresh.get("collector_duration_ms") or {}).items(), key=lambda kv: -kv[1]))
    notes = NOTES.read_text().strip() if NOTES.exists() else ""
    def load(key: str) -> str:
        return ", ".join(f"{x:.2f}" for x in m[key])

    size_mib = (d.get("database_size_bytes") or 0) / 2**20
    entries = (d.get("pg_stat_statements_entries"), d.get("pg_stat_statements_entries_at_end"))
    busy = m["loadavg_at_start"][0] > 0.5 * (m["nproc"] or 1)
    load_note = (" (other jobs were running on the machine: expect noisier numbers)" if busy
                 else " (the machine was otherwise idle)")
    baseline_note = (f";\n  baseline (the \"baseline\" columns, same venv, same run): {results['baseline']}"
                     if results.get("baseline") else "")
    return f"""# Benchmarks: dbhealth exporter vs prometheus-postgres-exporter

Generated by `python bench/run.py` ({s['name']} scale) on {results['finished_utc']} UTC;
raw numbers in `bench/results/latest.json` (not committed). Targets: SPEC section 9.

## Machine and software

- {m['nproc']} CPUs ({m['cpu']}), {m['memory_gib']} GiB RAM, Linux {m['kernel']}, Python {m['python']}
- load average (1, 5, 15 min) at start {load('loadavg_at_start')}; at end {load('loadavg_at_end')}{load_note}
- PostgreSQL {d.get('server_version')} (own cluster, `pg_stat_statements.max = 10000`, track = all,
  `max_connections = {d.get('max_connections')}`, fsync off), on the same machine as the
  exporters and the HTTP client
- ours: dbhealth-exporter {results['versions']['ours']} (git {m['git_commit']});
  rival: {results['versions']['rival']}{baseline_note}

## Dataset actually produced

- {d.get('user_tables')} user tables, {_fmt(d.get('guests'), ',')} guests,
  {_fmt(d.get('weddings'), ',')} weddings, database {size_mib:.0f} MiB
- {results.get('statement_shapes')} distinct statement shapes run; pg_stat_statements held
  {entries[0]} entries at the start of the measurements, {entries[1]} at the end
- {d.get('client_connections')} client connections during the measurements: {s['held_idle']} idle,
  {s['held_idle_in_transaction']} idle in transaction, {s['held_active']} active in `pg_sleep`

## Against the SPEC 9 targets (ours, full collector set)

{summary_table(results)}

## Side by side

{comparison_table(results)}

Our per-collector time in a fresh collection (median, ms): {per_collector or NA}.

## How it is measured

- Every scrape is a real `GET /metrics` over a new TCP connection (`http.client`,
  `Connection: close`, no keep-alive), timed with `time.perf_counter` from connect to the
  last body byte; {s['fresh_scrapes']} sequential scrapes per series, after warm-up, each after 0.1 s of
  quiet (Prometheus scrapes every 10 s, not back to back). The exporter CPU per fresh scrape
  is the process's CPU over the whole series (work between scrapes, such as reading
  pg_stat_statements ahead, included) divided by the scrapes.
- Ours runs as `python -m exporter` with the default collectors (wedding, activity, database,
  replication, archiver, tables, statements), no Redis (L1 only). "Fresh" is a separate
  process with every cache TTL at 0 (`DBHEALTH_CACHE__*_TTL_SECONDS=0`), warmed up until the
  statements collector has classified every statement; "cached" is a process with the default TTLs.
  After its first scrape the bench waits until the exporter's role has run nothing for a second
  (the background classifier's text batches: counted separately) before the cached series.
- Sequential series are measured minutes apart on a shared machine; `python bench/interleaved.py
  --baseline DIR --inline` scrapes ours, a baseline checkout, ours reading pg_stat_statements
  inside the scrape, and postgres_exporter alternately in the same minutes (the ratios quoted
  under Findings).
- The expired-cache burst waits until the L1 entry is older than its TTL, then releases
  {s['burst']} client threads at once (a barrier); collections are counted from `dbhealth_collections_total`.
- SQL statements: each exporter logs in as its own role, and the statements are the delta of
  `sum(calls)` of that role's top-level entries in `pg_stat_statements` over the series, divided
  by the number of scrapes (ours also self-reports `dbhealth_collection_statements`).
- postgres_exporter 0.11 has only `--collector.database` and `--collector.bgwriter` flags (no
  `--collector.stat_statements`; per-table `stat_user_tables` is not a default in 0.11, unlike
  later versions). Per-table stats and pg_stat_statements come from `--extend.query-path` with
  Debian's example `queries.yaml` (`bench/rival_queries/`, only the `*_time` columns renamed
  for PostgreSQL 13+).
- Samples are non-comment lines; RSS is `VmRSS` from `/proc/<pid>/status`; the burst peak is
  `VmHWM` after resetting it (`echo 5 > /proc/<pid>/clear_refs`) just before the burst.
{notes and chr(10) + notes + chr(10)}
## How to reproduce

`scripts/setup.sh` then `python bench/run.py` (full scale, about 2 minutes, plus ~20 s to seed the
first time; the seeded cluster is kept in `bench/.cache/`), or `python bench/run.py --quick` for a
smoke run; `python bench/profile_collection.py` for the in-process breakdown above.
"""


# Sections other benchmarks maintain in the same file (bench/receiver_load.py, the week replay
# of tests/rules/week.py) survive a rewrite.
KEPT_SECTIONS = (("<!-- receiver-bench:begin -->", "<!-- receiver-bench:end -->"),
                 ("<!-- backup-bench:start -->", "<!-- backup-bench:end -->"),
                 ("<!-- page-latency:begin -->", "<!-- page-latency:end -->"),
                 ("<!-- pgbackrest-bench:start -->", "<!-- pgbackrest-bench:end -->"),
                 ("<!-- week-replay:begin -->", "<!-- week-replay:end -->"))


def keep_other_sections(new: str, old: str) -> str:
    for begin, end in KEPT_SECTIONS:
        start, stop = old.find(begin), old.find(end)
        if start != -1 and stop > start and begin not in new:
            new = new.rstrip("\n") + "\n\n" + old[start:stop + len(end)] + "\n"
    return new
