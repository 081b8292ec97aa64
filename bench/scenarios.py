"""What is measured on each exporter process (one function per kind of process)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from .dataset import Scale
from .exporters import Running
from .measure import (
    Response,
    StatementCounter,
    burst,
    cpu_seconds,
    proc_status,
    reset_peak,
    scrape,
    summarize,
)

Progress = Callable[[str], None]


FRESH_GAP_SECONDS = 0.1


def _body_facts(resp: Response) -> dict[str, Any]:
    return {"samples": resp.samples, "bytes": len(resp.body), "status": resp.status}


def _fresh_series(run: Running, scale: Scale, counter: StatementCounter,
                  ) -> tuple[list[Response], dict[str, Any]]:
    cpu_before = cpu_seconds(run.pid)
    counter.start()
    series = []
    for _ in range(scale.fresh_scrapes):
        # Prometheus scrapes every 10 s, not back to back: what an exporter does between
        # scrapes (reading ahead) is counted in its CPU below, not in the next scrape.
        time.sleep(FRESH_GAP_SECONDS)
        series.append(scrape(run.port))
    time.sleep(FRESH_GAP_SECONDS)
    statements, breakdown = counter.delta()
    cpu = cpu_seconds(run.pid) - cpu_before
    return series, {
        "fresh": summarize([r.seconds for r in series]),
        "statements_per_scrape_pg_stat_statements": statements / len(series),
        "statements_breakdown": [{"calls": c, "query": q} for c, q in breakdown[:12]],
        "cpu_ms_per_scrape": cpu * 1000 / len(series),
        **_body_facts(series[-1]),
    }


def _steady(run: Running) -> tuple[float | None, dict[str, float]]:
    status = proc_status(run.pid)
    return status.get("VmRSS"), status


def _burst_with_memory(run: Running, clients: int) -> dict[str, Any]:
    steady = proc_status(run.pid)
    peak_reset = reset_peak(run.pid)
    result = burst(run.port, clients)
    after = proc_status(run.pid)
    result.update({"rss_before_mib": steady.get("VmRSS"), "rss_after_mib": after.get("VmRSS"),
                   "peak_mib": after.get("VmHWM"), "peak_is_burst_only": peak_reset})
    return result


def measure_rival(run: Running, scale: Scale, counter: StatementCounter, progress: Progress,
                  ) -> dict[str, Any]:
    first = scrape(run.port)
    scrape(run.port)
    _, out = _fresh_series(run, scale, counter)
    out["first_scrape_ms"] = first.seconds * 1000
    out["rss_steady_mib"], out["rss_steady_detail"] = _steady(run)
    out["burst"] = _burst_with_memory(run, scale.burst)
    progress(f"  {run.spec.label}: fresh median {out['fresh']['median_ms']:.1f} ms, "
             f"{out['samples']} samples, {out['statements_per_scrape_pg_stat_statements']:.1f} "
             f"statements/scrape, burst {out['burst']['wall_s']:.2f}s")
    return out


def _wait_classified(run: Running, timeout: float, pause: float = 0.2) -> tuple[int, float, int | None]:
    """Scrape until no statement waits for classification; (scrapes, seconds, left)."""
    started = time.monotonic()
    scrapes = 0
    left: float | None = None
    while time.monotonic() - started < timeout:
        resp = scrape(run.port)
        scrapes += 1
        left = resp.value("dbhealth_statements_unclassified")
        if left is None or left == 0:
            break
        time.sleep(pause)  # warm-up only: no need to hammer the database while waiting
    return scrapes, time.monotonic() - started, None if left is None else int(left)


def _wait_quiet(counter: StatementCounter, timeout: float = 30.0) -> dict[str, float]:
    """Wait until the exporter's role ran no statement for a second (its background work
    after a collection is done); what it ran meanwhile, and for how long."""
    counter.start()
    started = time.monotonic()
    last = -1
    while time.monotonic() - started < timeout:
        total, _ = counter.delta()
        if total == last:
            break
        last = total
        time.sleep(1.0)  # a benchmark, not a test
    return {"statements": float(max(last, 0)), "seconds": time.monotonic() - started}


def measure_ours_fresh(run: Running, scale: Scale, counter: StatementCounter, progress: Progress,
                       ) -> dict[str, Any]:
    """Cache TTLs 0: every scrape is a fresh collection."""
    counter.read()  # the counter's own statement: known before our warm-up, not new during it
    first = scrape(run.port)
    warm_scrapes, warm_seconds, left = _wait_classified(run, timeout=scale.warmup_timeout)
    progress(f"  {run.spec.label}: first scrape {first.seconds * 1000:.0f} ms; "
             f"{warm_scrapes} warm-up scrapes in {warm_seconds:.1f}s until classified "
             f"(left: {left})")
    background = _wait_quiet(counter)  # the classifier's last batches, off the scrape path
    series, out = _fresh_series(run, scale, counter)
    out["background_after_warmup"] = background
    own = [r.value("dbhealth_collection_statements") for r in series]
    out["statements_per_scrape_self_reported"] = max(v for v in own if v is not None) if any(
        v is not None for v in own) else None
    out["collection_duration_ms"] = summarize(
        [v for v in (r.value("dbhealth_collection_duration_seconds") for r in series) if v is not None])
    out["collector_duration_ms"] = _collector_durations(series)
    out["first_scrape_ms"] = first.seconds * 1000
    out["warmup"] = {"scrapes": warm_scrapes, "seconds": warm_seconds, "unclassified_left": left}
    out["rss_steady_mib"], out["rss_steady_detail"] = _steady(run)
    before = scrape(run.port).value("dbhealth_collections_total") or 0.0
    out["burst"] = _burst_with_memory(run, scale.burst)
    after = scrape(run.port).value("dbhealth_collections_total") or 0.0
    # Minus the two probes themselves (each is a fresh collection at TTL 0).
    out["burst"]["collections"] = int(after - before) - 1
    progress(f"  {run.spec.label}: fresh median {out['fresh']['median_ms']:.1f} ms "
             f"(p90 {out['fresh']['p90_ms']:.1f}), {out['samples']} samples, "
             f"{out['statements_per_scrape_pg_stat_statements']:.2f} statements/scrape, "
             f"RSS {out['rss_steady_mib']:.1f} MiB, burst {out['burst']['wall_s']:.3f}s "
             f"({out['burst']['collections']} collections)")
    return out


def _collector_durations(series: list[Response]) -> dict[str, float]:
    per: dict[str, list[float]] = {}
    for resp in series:
        for name, value in re.findall(
                rb'^dbhealth_collector_duration_seconds\{collector="([^"]+)"\} (\S+)$', resp.body, re.M):
            per.setdefault(name.decode(), []).append(float(value) * 1000)
    return {name: sorted(v)[len(v) // 2] for name, v in per.items()}


def measure_ours_cached(run: Running, scale: Scale, counter: StatementCounter, progress: Progress,
                        ttl_seconds: float) -> dict[str, Any]:
    """Default TTLs: cached scrapes, a burst on a warm cache, then one on an expired cache."""
    first = scrape(run.port)
    # The first collection hands every statement text to the background classifier; its
    # batches are not cached scrapes: wait until the role runs nothing, then measure.
    out_background = _wait_quiet(counter)
    counter.start()
    cached = [scrape(run.port) for _ in range(max(30, scale.fresh_scrapes))]
    statements, _ = counter.delta()
    out: dict[str, Any] = {"first_scrape_ms": first.seconds * 1000,
                           "cached": summarize([r.seconds for r in cached]),
                           "statements_while_cached": statements, **_body_facts(cached[-1]),
                           "background_after_first_scrape": out_background,
                           "rss_steady_mib": proc_status(run.pid).get("VmRSS")}
    before = cached[-1].value("dbhealth_collections_total") or 0.0
    out["burst_warm"] = _burst_with_memory(run, scale.burst)
    mid = scrape(run.port)
    out["burst_warm"]["collections"] = int((mid.value("dbhealth_collections_total") or 0) - before)
    # Wait (a benchmark, not a test) until the in-process entry has expired, then burst.
    collected_at = mid.value("dbhealth_collection_timestamp_seconds") or time.time()
    time.sleep(max(0.0, collected_at + ttl_seconds + 0.5 - time.time()))
    unclassified = mid.value("dbhealth_statements_unclassified")
    before = mid.value("dbhealth_collections_total") or 0.0
    out["burst_expired"] = _burst_with_memory(run, scale.burst)
    last = scrape(run.port)
    out["burst_expired"]["collections"] = int((last.value("dbhealth_collections_total") or 0) - before)
    out["burst_expired"]["unclassified_before"] = unclassified
    out["burst_expired"]["collection_duration_ms"] = (
        last.value("dbhealth_collection_duration_seconds") or 0.0) * 1000
    progress(f"  {run.spec.label}: cached median {out['cached']['median_ms']:.2f} ms, "
             f"warm burst {out['burst_warm']['wall_s']:.3f}s, expired-cache burst "
             f"{out['burst_expired']['wall_s']:.3f}s with {out['burst_expired']['collections']} "
             f"collection(s), peak {out['burst_expired']['peak_mib']:.1f} MiB")
    return out


def measure_ours_burst(run: Running, scale: Scale, progress: Progress, ttl_seconds: float,
                       ) -> dict[str, Any]:
    """Short L1 TTL, warmed up to the steady state; then a burst on an expired cache."""
    warm_scrapes, warm_seconds, left = _wait_classified(run, timeout=scale.warmup_timeout, pause=ttl_seconds)
    mid = scrape(run.port)
    collected_at = mid.value("dbhealth_collection_timestamp_seconds") or time.time()
    time.sleep(max(0.0, collected_at + ttl_seconds + 0.2 - time.time()))
    before = mid.value("dbhealth_collections_total") or 0.0
    out: dict[str, Any] = {"l1_ttl_seconds": ttl_seconds,
                           "warmup": {"scrapes": warm_scrapes, "seconds": warm_seconds,
                                      "unclassified_left": left},
                           "rss_steady_mib": proc_status(run.pid).get("VmRSS")}
    out["burst_expired"] = _burst_with_memory(run, scale.burst)
    last = scrape(run.port)
    out["burst_expired"]["collections"] = int((last.value("dbhealth_collections_total") or 0) - before)
    out["burst_expired"]["collection_duration_ms"] = (
        last.value("dbhealth_collection_duration_seconds") or 0.0) * 1000
    b = out["burst_expired"]
    progress(f"  {run.spec.label}: steady-state expired-cache burst {b['wall_s']:.3f}s with "
             f"{b['collections']} collection(s) of {b['collection_duration_ms']:.1f} ms, "
             f"peak {b['peak_mib']:.1f} MiB")
    return out
