"""Streamed hashing with progress: bounded memory whatever the object size.

Only one chunk is alive at a time; the caller decides the chunk size (the stream's
own read size). ``hashlib`` releases the GIL on large updates, so hashing overlaps
with the socket reads of the next chunk.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

MiB = 1024 * 1024


@dataclass(frozen=True)
class Digest:
    algorithm: str
    hexdigest: str
    size: int
    seconds: float

    @property
    def mb_per_second(self) -> float:
        return self.size / 1e6 / self.seconds if self.seconds > 0 else 0.0


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


class Throttle:
    """Calls ``report`` at most once per ``interval`` seconds (and always for ``final``)."""

    def __init__(self, report: Callable[[str], None], interval: float):
        self._report = report
        self._interval = interval
        self._next = time.monotonic() + interval

    def __call__(self, message: str, *, final: bool = False) -> None:
        now = time.monotonic()
        if final or now >= self._next:
            self._report(message)
            self._next = now + self._interval


def hash_chunks(chunks: Iterable[bytes], algorithm: str, *, total: int | None = None,
                label: str = "", progress: Throttle | None = None,
                sink: Callable[[bytes], object] | None = None) -> Digest:
    """Hash every chunk (also handing it to ``sink``, e.g. a file being downloaded)."""
    digest = hashlib.new(algorithm)
    done = 0
    started = time.monotonic()
    for chunk in chunks:
        digest.update(chunk)
        if sink is not None:
            sink(chunk)
        done += len(chunk)
        if progress is not None:
            progress(_progress_line(label, done, total, started))
    seconds = time.monotonic() - started
    if progress is not None:
        progress(_progress_line(label, done, total, started), final=True)
    return Digest(algorithm, digest.hexdigest(), done, seconds)


def _progress_line(label: str, done: int, total: int | None, started: float) -> str:
    elapsed = max(time.monotonic() - started, 1e-9)
    rate = f"{done / 1e6 / elapsed:.0f} MB/s"
    if total:
        return (f"{label}: {human_bytes(done)} of {human_bytes(total)} "
                f"({100 * done // total}%), {rate}")
    return f"{label}: {human_bytes(done)}, {rate}"
