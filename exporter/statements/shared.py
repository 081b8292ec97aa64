"""The statement accumulators shared by every exporter replica through Redis.

Behind the L2 cache, whichever replica wins the single-flight lock collects.
With per-process accumulators, the counters served would jump between
replicas' histories (a replica started later has smaller totals: Prometheus
would see counter resets and rate() spikes). So the tracker's state — last
value per entry, domain totals, statement series — lives in Redis as one
versioned blob:

1. load: if the stored generation is not ours, import it (one small GET when it is);
2. fold this collection's pg_stat_statements reading in;
3. save with compare-and-set on the generation (WATCH/MULTI). If a peer saved
   meanwhile, import theirs and fold our reading in again; if their reading is
   newer than ours, ours is dropped (applying an older reading after a newer
   one would look like a reset and count everything twice).

The state is a JSON header plus packed arrays (no pickle: Redis content is
data, never code). Redis down: the tracker goes on in-process and tries Redis
again after ``redis.retry_after_seconds``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import struct
import sys
from array import array
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import redis

from ..redact import mask_url
from ..redis_link import RedisLink
from .settings import DOMAINS
from .tracker import StatementTracker, Totals

if TYPE_CHECKING:
    from ..settings import Settings

log = logging.getLogger(__name__)

MAGIC = b"DBHSTMT1"
NO_QUERYID = -(2**63)  # entries whose queryid we may not see (insufficient privilege)
STATE_TTL_SECONDS = 7 * 86400


def dump(tracker: StatementTracker) -> bytes:
    header = {
        "generation": tracker.generation, "read_at": tracker.read_at,
        "stats_reset": tracker.stats_reset, "byteorder": sys.byteorder,
        "domains": {d: [t.calls, t.seconds, t.rows] for d, t in tracker.domains.items()},
        "series": [[q, t.calls, t.seconds, tracker.series_domain.get(q, "other")]
                   for q, t in tracker.series.items()],
        "other": [tracker.other.calls, tracker.other.seconds],
        "tracked": tracker.tracked,
    }
    head = json.dumps(header, separators=(",", ":")).encode()
    items = tracker.last.items()
    ints = array("q", [x for (queryid, dbid, userid), (calls, _, nrows) in items
                       for x in (NO_QUERYID if queryid is None else queryid, dbid, userid,
                                 calls, nrows)])
    floats = array("d", [value[1] for value in tracker.last.values()])
    return b"".join((MAGIC, struct.pack("<II", len(head), len(floats)), head,
                     ints.tobytes(), floats.tobytes()))


def load(blob: bytes, tracker: StatementTracker) -> None:
    """Replace the tracker's shared state with ``blob`` (ValueError if it is not one)."""
    if not blob.startswith(MAGIC):
        raise ValueError("not a statements state blob")
    offset = len(MAGIC)
    head_len, count = struct.unpack_from("<II", blob, offset)
    offset += 8
    header: dict[str, Any] = json.loads(blob[offset: offset + head_len])
    offset += head_len
    ints, floats = array("q"), array("d")
    ints.frombytes(blob[offset: offset + 40 * count])
    floats.frombytes(blob[offset + 40 * count: offset + 48 * count])
    if len(ints) != 5 * count or len(floats) != count:
        raise ValueError("truncated statements state blob")
    if header["byteorder"] != sys.byteorder:
        ints.byteswap()
        floats.byteswap()
    tracker.last = {
        (None if queryid == NO_QUERYID else queryid, dbid, userid): (calls, total_ms, nrows)
        for queryid, dbid, userid, calls, nrows, total_ms in zip(
            ints[0::5], ints[1::5], ints[2::5], ints[3::5], ints[4::5], floats, strict=True)}
    tracker.generation = int(header["generation"])
    tracker.read_at = float(header["read_at"])
    tracker.stats_reset = header["stats_reset"]
    tracker.domains = {d: Totals(*header["domains"].get(d, (0.0, 0.0, 0.0))) for d in DOMAINS}
    tracker.series = OrderedDict((int(q), Totals(c, s, 0.0)) for q, c, s, _ in header["series"])
    tracker.series_domain = {int(q): d for q, _, _, d in header["series"]}
    other = header["other"]
    tracker.other = Totals(float(other[0]), float(other[1]), 0.0)
    tracker.tracked = [int(q) for q in header["tracked"]]


class SharedState:
    """Load / compare-and-set save of one tracker's state in Redis."""

    def __init__(self, settings: Settings):
        assert settings.redis.url
        self.settings = settings.redis
        # Its own pool: state blobs are larger than a snapshot, so reads get more time.
        self.link = RedisLink(settings.redis, purpose="the shared statement counters",
                              fallback="accumulating in-process",
                              socket_timeout=max(0.2, settings.redis.socket_timeout_seconds))
        self.client = self.link.client
        # Replicas watching the same database share the state, whatever their collectors.
        scope = hashlib.sha256(mask_url(settings.database.url).encode()).hexdigest()[:16]
        self.state_key = f"{settings.redis.key_prefix}:{scope}:statements:state"
        self.generation_key = f"{settings.redis.key_prefix}:{scope}:statements:generation"

    # What a failed Redis call raises, for callers that do not import redis themselves.
    errors: tuple[type[Exception], ...] = (redis.RedisError,)

    @property
    def available(self) -> bool:
        return self.link.available

    def failed(self, exc: Exception) -> None:
        self.link.failed(exc)

    def refresh(self, tracker: StatementTracker) -> None:
        """Import the stored state unless it is the one this tracker has."""
        raw = self.client.get(self.generation_key)
        generation = int(raw) if raw is not None else 0
        if generation == tracker.generation:
            return
        blob = self.client.get(self.state_key)
        if blob is None:
            tracker.generation = generation
            return
        try:
            load(bytes(blob) if isinstance(blob, bytes) else blob.encode("latin-1"), tracker)
        except (ValueError, KeyError, TypeError, struct.error):
            log.warning("ignoring an unreadable shared statements state (another version?)")
            tracker.generation = generation

    def save(self, tracker: StatementTracker, based_on: int) -> bool:
        """Store the tracker's state if nobody saved since ``based_on``; True when stored."""
        with self.client.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(self.generation_key)  # type: ignore[no-untyped-call]
                raw: Any = pipe.get(self.generation_key)  # immediate while watching
                if (int(raw) if raw is not None else 0) != based_on:
                    pipe.unwatch()
                    return False
                tracker.generation = based_on + 1
                pipe.multi()
                pipe.set(self.state_key, dump(tracker), ex=STATE_TTL_SECONDS)
                pipe.set(self.generation_key, tracker.generation, ex=STATE_TTL_SECONDS)
                pipe.execute()
                return True
            except redis.WatchError:
                tracker.generation = based_on
                return False
            except redis.RedisError:
                tracker.generation = based_on
                raise
