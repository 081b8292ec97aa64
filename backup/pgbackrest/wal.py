"""WAL continuity from the archive's key listing (pure: names and times in, gaps and windows out).

Keys: ``<archive-id>/<TTTTTTTTXXXXXXXX>/<segment>-<sha1>[.gz]`` (the SHA-1 of the
segment), ``….backup`` labels, ``<archive-id>/<TTTTTTTT>.history``. A segment name is
timeline, then the segment number split at ``0x100000000 // wal_segment_size``; the
segment size is read from the backups themselves (their start LSN and start segment
agree for one size only), so a 1 MiB or 64 MiB cluster is not a false gap
(check_pgbackrest#49). History files give each timeline's parent and switch point:
before the switch the parent's segments count, from it on the child's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

SEGMENT = re.compile(r"(?:^|/)([0-9A-F]{24})-([0-9a-f]{40})(?:\.[a-z0-9]+)?$")
HISTORY = re.compile(r"(?:^|/)([0-9A-F]{8})\.history$")
SIZES = [1 << n for n in range(20, 31)]
DEFAULT_SIZE = 16 << 20


@dataclass(frozen=True)
class Segment:
    timeline: int
    number: int               # absolute segment number: lsn // wal_segment_size
    sha1: str
    archived_at: datetime


def per_xlogid(size: int) -> int:
    return 0x100000000 // size


def parse_name(name: str, size: int) -> tuple[int, int]:
    """``000000010000000000000009`` → (timeline 1, segment number 9)."""
    return int(name[:8], 16), int(name[8:16], 16) * per_xlogid(size) + int(name[16:24], 16)


def segment_name(timeline: int, number: int, size: int) -> str:
    per = per_xlogid(size)
    return f"{timeline:08X}{number // per:08X}{number % per:08X}"


def lsn_value(lsn: str) -> int:
    high, _, low = lsn.partition("/")
    return (int(high, 16) << 32) | int(low, 16)


def infer_segment_size(pairs: list[tuple[str, str]]) -> int | None:
    """Pure: the one segment size for which every (start LSN, start segment) pair agrees."""
    fits = [s for s in SIZES if pairs and all(parse_name(name, s)[1] == lsn_value(lsn) // s
                                              for lsn, name in pairs)]
    return fits[0] if len(fits) == 1 else (DEFAULT_SIZE if DEFAULT_SIZE in fits else None)


def parse_history(text: str) -> list[tuple[int, int]]:
    """(parent timeline, switch LSN) lines of a ``.history`` file, oldest first."""
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].isdigit() and "/" in parts[1]:
            out.append((int(parts[0]), lsn_value(parts[1])))
    return out


def timeline_path(newest: int, histories: dict[int, list[tuple[int, int]]], size: int
                  ) -> list[tuple[int, int, int | None]]:
    """(timeline, first segment on it, first on the next or None), from timeline 1 to ``newest``."""
    chain = histories.get(newest, [])
    spans: list[tuple[int, int, int | None]] = []
    start = 0
    for parent, switch in chain:
        spans.append((parent, start, switch // size))
        start = switch // size
    spans.append((newest, start, None))
    return spans


@dataclass(frozen=True)
class Continuity:
    gaps: list[str]                      # missing segment names, oldest first
    newest: Segment | None               # newest segment reachable without a gap from the oldest need
    restorable: dict[str, bool]          # backup label -> its own WAL (start..stop) is all there
    first_gap_after: dict[str, str | None]


def expected_timeline(number: int, path: list[tuple[int, int, int | None]]) -> int:
    for timeline, first, until in path:
        if number >= first and (until is None or number < until):
            return timeline
    return path[-1][0]


def continuity(segments: list[Segment], backups: list[tuple[str, str, str]],
               histories: dict[int, list[tuple[int, int]]], size: int) -> Continuity:
    """Pure: gaps from the oldest backup's start segment to the newest archived one, on the timeline path.

    ``backups`` are (label, archive start name, archive stop name).
    """
    if not segments or not backups:
        return Continuity([], None, {label: False for label, _, _ in backups},
                          {label: None for label, _, _ in backups})
    newest_tl = max(s.timeline for s in segments)
    path = timeline_path(newest_tl, histories, size)
    present = {(s.timeline, s.number): s for s in segments}
    starts = {label: parse_name(start, size)[1] for label, start, _ in backups}
    stops = {label: parse_name(stop, size)[1] for label, _, stop in backups}
    first = min(starts.values())
    last = max(s.number for s in segments if s.timeline == newest_tl)
    gaps, missing_numbers = [], []
    newest: Segment | None = None
    for number in range(first, last + 1):
        timeline = expected_timeline(number, path)
        found = present.get((timeline, number))
        if found is None:
            gaps.append(segment_name(timeline, number, size))
            missing_numbers.append(number)
        elif not missing_numbers:
            newest = found
    restorable = {label: not any(starts[label] <= n <= stops[label] for n in missing_numbers)
                  for label in starts}
    first_gap = {label: next((segment_name(expected_timeline(n, path), n, size) for n in missing_numbers
                              if n >= starts[label]), None) for label in starts}
    return Continuity(gaps, newest, restorable, first_gap)


def newest_in_both(primary: list[Segment], replica: list[Segment]) -> Segment | None:
    """Pure: the newest segment both regions hold with the same SHA-1 (the older of the two copies' times)."""
    theirs = {(s.timeline, s.number, s.sha1): s for s in replica}
    both = [(s, theirs[(s.timeline, s.number, s.sha1)]) for s in primary
            if (s.timeline, s.number, s.sha1) in theirs]
    if not both:
        return None
    mine, other = max(both, key=lambda pair: (pair[0].number, pair[0].timeline))
    return mine if mine.archived_at >= other.archived_at else other


def idle(newest_written: str | None, newest_archived: Segment | None, size: int) -> bool:
    """Pure: production wrote nothing past the newest archived segment (so its age is not lost data)."""
    if newest_written is None or newest_archived is None:
        return False
    timeline, number = parse_name(newest_written, size)
    return (number, timeline) <= (newest_archived.number, newest_archived.timeline)
