"""``pg_restore -j N`` into the drill database, with phase progress and sanitized errors.

The archive's table of contents (``pg_restore -l``) gives the number of items and
their kinds, so ``-v`` output ("processing item 3365", "finished item 3365") becomes
"restore: 40/52 items, data". Names from the table of contents are catalog names,
not data, so they may stay in the sanitized error text.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict

from .errors import RestoreFailed
from .hashing import Throttle
from .pgtools import libpq_env, tool
from .sanitize import sanitize

# "3365; 0 16388 TABLE DATA public guests postgres"
_TOC_LINE = re.compile(r"^(\d+);\s+\d+\s+\d+\s+(.+)$")
_ITEM = re.compile(r"(?:processing|finished) item (\d+)\b")  # -j N (and its serial pre-data)
# -j 1 names no items: "creating INDEX \"public.x\"", "processing data for table \"public.guests\""
_SERIAL = re.compile(r"^pg_restore: (?:(?:creating|executing) ([A-Z][A-Z ]*?) \"|"
                     r"(processing data for table) |executing (SEQUENCE SET) )")
_POST_DATA = ("INDEX", "CONSTRAINT", "FK CONSTRAINT", "TRIGGER", "RULE", "POLICY",
              "MATERIALIZED VIEW DATA", "EVENT TRIGGER", "STATISTICS")


@dataclass(frozen=True)
class TocEntry:
    item: int
    kind: str     # "TABLE", "TABLE DATA", "INDEX", …
    words: tuple[str, ...]

    @property
    def phase(self) -> str:
        if self.kind == "TABLE DATA" or self.kind.endswith("SEQUENCE SET"):
            return "data"
        return "post-data" if self.kind in _POST_DATA else "pre-data"


_KINDS = sorted(["TABLE DATA", "SEQUENCE SET", "SEQUENCE OWNED BY", "FK CONSTRAINT",
                 "MATERIALIZED VIEW DATA", "MATERIALIZED VIEW", "EVENT TRIGGER", "DEFAULT ACL",
                 "TABLE", "SEQUENCE", "INDEX", "CONSTRAINT", "TRIGGER", "RULE", "POLICY",
                 "VIEW", "FUNCTION", "EXTENSION", "COMMENT", "SCHEMA", "TYPE", "DEFAULT",
                 "STATISTICS", "ACL", "DOMAIN", "AGGREGATE", "PROCEDURE"], key=len, reverse=True)


def phase_of_kind(kind: str) -> str:
    return TocEntry(0, kind, ()).phase


def classify(line: str, phase_of_item: dict[int, str], parallel: bool) -> tuple[int | None, str | None]:
    """Pure: (item id or None, phase or None) for one line of ``pg_restore --verbose``."""
    item = _ITEM.search(line)
    if item and int(item.group(1)) in phase_of_item:
        return int(item.group(1)), phase_of_item[int(item.group(1))]
    serial = None if parallel else _SERIAL.match(line)
    if serial:
        kind = serial.group(1) or ("TABLE DATA" if serial.group(2) else "SEQUENCE SET")
        return None, phase_of_kind(kind)
    return None, None


def parse_toc(listing: str) -> list[TocEntry]:
    entries = []
    for line in listing.splitlines():
        match = _TOC_LINE.match(line.strip())
        if not match:
            continue
        rest = match.group(2)
        kind = next((k for k in _KINDS if rest.startswith(k + " ")), rest.split(" ", 1)[0])
        entries.append(TocEntry(int(match.group(1)), kind, tuple(rest[len(kind):].split())))
    return entries


def catalog_names(entries: list[TocEntry]) -> set[str]:
    """Schema, table, index and constraint names: what error text may keep quoted."""
    return {w for e in entries for w in e.words if re.fullmatch(r"[A-Za-z_][\w$]*", w)} - {"-"}


def read_toc(archive: Path, bindir: str | None) -> list[TocEntry]:
    done = subprocess.run([tool("pg_restore", bindir), "-l", str(archive)], capture_output=True,
                          text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise RestoreFailed(f"pg_restore -l: {sanitize(done.stderr)}")
    return parse_toc(done.stdout)


def restore(archive: Path, dsn: str, *, jobs: int, bindir: str | None, timeout: float,
            progress: Throttle) -> dict[str, float]:
    """Run pg_restore; returns seconds per phase. Raises RestoreFailed with sanitized text."""
    toc = read_toc(archive, bindir)
    phase_of = {e.item: e.phase for e in toc}
    names = catalog_names(toc)
    argv = [tool("pg_restore", bindir), "--verbose", "--exit-on-error", "--no-owner",
            "--no-privileges", "--no-subscriptions", "--no-publications", f"--jobs={jobs}",
            "--dbname", dsn_without_secrets(dsn), str(archive)]
    env = {**os.environ, **libpq_env(dsn)}
    started = time.monotonic()
    first: dict[str, float] = {}
    last_done: dict[str, float] = {}
    done: set[int] = set()
    parallel = False
    errors: list[str] = []
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env=env, start_new_session=True)
    assert proc.stderr is not None
    timed_out = threading.Event()

    def stop() -> None:
        timed_out.set()
        os.killpg(proc.pid, signal.SIGTERM)  # our own child's process group: it and its workers

    watchdog = threading.Timer(timeout, stop)
    watchdog.start()
    try:
        for line in proc.stderr:
            if "error:" in line or line.startswith(("ERROR", "DETAIL", "CONTEXT")) or errors:
                errors.append(line)
            parallel = parallel or bool(_ITEM.search(line))
            item, phase = classify(line, phase_of, parallel)
            if phase is None:
                continue
            done.add(item if item is not None else -len(done) - 1)
            first.setdefault(phase, time.monotonic())
            if "finished item" in line:
                last_done[phase] = time.monotonic()
            progress(f"restore: {min(len(done), len(toc))}/{len(toc)} items, {phase}")
        code = proc.wait()
    finally:
        watchdog.cancel()
    ended = time.monotonic()
    progress(f"restore: {min(len(done), len(toc))}/{len(toc)} items, pg_restore exited {code}", final=True)
    if timed_out.is_set():
        raise RestoreFailed(f"pg_restore did not finish within drill.timeout_seconds ({timeout:.0f}s)")
    if code != 0:
        raise RestoreFailed(f"pg_restore exited {code}: {sanitize(''.join(errors), names)}")
    return phase_seconds(started, ended, first, last_done)


def phase_seconds(started: float, ended: float, first: dict[str, float],
                  last_done: dict[str, float]) -> dict[str, float]:
    """Pure: pre-data until the first data item; data until the last one finished (``-j N``
    says when) or the first post-data item (``-j 1``); post-data is the tail after the data,
    the index builds still running when every table is loaded."""
    pre_end = first.get("data", first.get("post-data", ended))
    out = {"restore_pre_data": pre_end - started}
    if "data" in first:
        data_end = max(last_done.get("data", first.get("post-data", ended)), first["data"])
        out["restore_data"] = data_end - first["data"]
        out["restore_post_data"] = ended - data_end
    elif "post-data" in first:
        out["restore_post_data"] = ended - pre_end
    return {k: round(v, 3) for k, v in out.items()}


def dsn_without_secrets(dsn: str) -> str:
    """Only the database name goes on the command line; everything else is in PG* variables."""
    return f"dbname={conninfo_to_dict(dsn).get('dbname', 'postgres')}"
