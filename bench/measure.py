"""Measuring one running exporter: scrape latency, bursts, samples, SQL statements, memory.

Every scrape is a real HTTP GET over a new TCP connection with ``Connection: close``
(http.client, no keep-alive), timed with ``time.perf_counter`` from just before the
connection is opened to the last byte of the body.
"""

from __future__ import annotations

import http.client
import os
import re
import statistics
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from .dataset import DBNAME


@dataclass
class Response:
    seconds: float
    status: int
    body: bytes

    @property
    def samples(self) -> int:
        return sum(1 for line in self.body.decode("utf-8", "replace").splitlines()
                   if line and not line.startswith("#"))

    def value(self, name: str) -> float | None:
        """The first sample of ``name`` (no labels), or None."""
        match = re.search(rb"^" + re.escape(name.encode()) + rb"(?:\{[^}]*\})? (\S+)$", self.body, re.M)
        return float(match.group(1)) if match else None


def scrape(port: int, path: str = "/metrics", timeout: float = 120.0) -> Response:
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Connection": "close",
                                           "X-Prometheus-Scrape-Timeout-Seconds": "10"})
        resp = conn.getresponse()
        body = resp.read()
        status = resp.status
    finally:
        conn.close()
    return Response(time.perf_counter() - started, status, body)


def wait_until_serving(port: int, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"exporter exited with {proc.returncode} before serving")
        try:
            if scrape(port, "/", timeout=2).status < 500:
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"nothing served on port {port} after {timeout}s")
        time.sleep(0.05)


def summarize(seconds: list[float]) -> dict[str, float]:
    ordered = sorted(seconds)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return {"n": len(ordered), "median_ms": statistics.median(ordered) * 1000, "p90_ms": p90 * 1000,
            "min_ms": ordered[0] * 1000, "max_ms": ordered[-1] * 1000,
            "mean_ms": statistics.fmean(ordered) * 1000}


def burst(port: int, clients: int) -> dict[str, Any]:
    """``clients`` scrapes released together; wall time from release to the last body."""
    gate = threading.Barrier(clients + 1)
    results: list[Response | BaseException] = []
    lock = threading.Lock()

    def one() -> None:
        gate.wait()
        try:
            result: Response | BaseException = scrape(port)
        except BaseException as exc:
            result = exc
        with lock:
            results.append(result)

    threads = [threading.Thread(target=one) for _ in range(clients)]
    for t in threads:
        t.start()
    gate.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    ok = [r for r in results if isinstance(r, Response) and r.status == 200]
    return {"clients": clients, "wall_s": wall, "ok": len(ok),
            "errors": [repr(r) for r in results if not isinstance(r, Response)][:5],
            "slowest_ms": max((r.seconds for r in ok), default=0.0) * 1000}


# -- process memory and CPU -------------------------------------------------------------------
def proc_status(pid: int) -> dict[str, float]:
    """VmRSS / VmHWM / RssAnon (private heap) / RssFile (mapped files, shared libraries) in MiB."""
    out: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
            out[key] = int(rest.split()[0]) / 1024
    return out


def reset_peak(pid: int) -> bool:
    """Reset VmHWM to the current RSS (Linux ≥ 4.0, writing 5 to clear_refs)."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime


# -- SQL statements run by a role ---------------------------------------------------------------
@dataclass
class StatementCounter:
    """Top-level statements a role ran, from pg_stat_statements (calls, all databases)."""

    dsn: str
    role: str
    by_query: dict[int, int] = field(default_factory=dict)

    def read(self) -> dict[int, tuple[int, str]]:
        with psycopg.connect(self.dsn, autocommit=True, application_name="bench-counter") as conn:
            rows = conn.execute(
                "SELECT s.queryid, s.calls, left(s.query, 80) FROM pg_stat_statements s "
                "JOIN pg_roles r ON r.oid = s.userid WHERE r.rolname = %s AND s.toplevel",
                (self.role,)).fetchall()
        return {int(q): (int(c), str(t)) for q, c, t in rows}

    def start(self) -> None:
        self.by_query = {q: c for q, (c, _) in self.read().items()}

    def delta(self) -> tuple[int, list[tuple[int, str]]]:
        """Statements since ``start``: total and the per-query breakdown (calls, text prefix)."""
        now = self.read()
        per = [(c - self.by_query.get(q, 0), t) for q, (c, t) in now.items()]
        per = sorted((p for p in per if p[0] > 0), reverse=True)
        return sum(c for c, _ in per), per


def counter_for(port: int, role: str) -> StatementCounter:
    return StatementCounter(f"postgresql://postgres@127.0.0.1:{port}/{DBNAME}", role)
