"""Three cache tiers in front of the database, so scrapes never multiply queries.

- L1: the last snapshot in this process (``cache.l1_ttl_seconds``, capped by the L2
  TTL in force, so on wedding days both keep ``l2_wedding_day_ttl_seconds``).
- L2: the last snapshot in Redis, shared by every exporter replica
  (``cache.l2_ttl_seconds``, ``l2_wedding_day_ttl_seconds`` on wedding days),
  with single-flight: one replica holds a short Redis lock and collects while the
  others wait for its snapshot. Inside a process, concurrent scrapes share one
  in-flight collection. So N replicas x M Prometheus servers cause at most one
  collection per TTL.
- L3: history rows in PostgreSQL (see ``audit.py``).

Redis is optional. When it is unreachable — or answers anything unexpected —
the exporter stops asking it for ``redis.retry_after_seconds`` (a scrape must
not pay a timeout every time) and serves from L1; a Redis fault is never a
failed scrape. Degraded snapshots (database down, a collector failed) are
kept only ``cache.error_ttl_seconds`` so recovery shows quickly.

Nothing in Redis is trusted blindly: a snapshot stamped in the future beyond
``cache.max_clock_skew_seconds`` is refused (it would look fresh forever, and
keep a dead database "healthy" on every replica), and with ``redis.signing_key``
set only snapshots carrying a valid HMAC of the replicas' shared key are read.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING

from .redact import mask_url
from .scrape import Scraper
from .settings import CacheSettings, RedisSettings
from .snapshot import CheckResult, Snapshot, render

if TYPE_CHECKING:  # redis is imported only by deployments that configure it (RedisTier)
    from redis.lock import Lock

# The longest a lock or an entry is ever held, whatever deadline a request brought.
MAX_TTL_SECONDS = 600.0

log = logging.getLogger(__name__)



class Holder(Enum):
    """Who collects for everybody this time (single-flight through a Redis lock)."""

    US = "us"
    PEER = "peer"
    NOBODY = "nobody"  # Redis is unusable: everybody collects for themselves


def _px(ttl: float) -> int:
    """Milliseconds for Redis, always finite and within MAX_TTL_SECONDS."""
    return max(1, int(min(max(ttl, 0.0), MAX_TTL_SECONDS) * 1000))


class RedisTier:
    def __init__(self, settings: RedisSettings, namespace: str, max_skew: float = 2.0):
        assert settings.url
        self.settings = settings
        self.max_skew = max_skew
        self._key = settings.signing_key.encode() if settings.signing_key else None
        self._refused_logged = False
        from .redis_link import RedisLink  # imports redis: only when Redis is configured

        self.link = RedisLink(settings, purpose="the shared snapshot cache",
                              fallback="serving from the in-process cache")
        self.client = self.link.client
        self.snapshot_key = f"{settings.key_prefix}:{namespace}:snapshot"
        self.lock_key = f"{settings.key_prefix}:{namespace}:collecting"

    @property
    def available(self) -> bool:
        return self.link.available

    def _failed(self, exc: Exception) -> None:
        # Any exception, not only RedisError: whatever the shared tier does, the scrape is
        # served from L1.
        self.link.failed(exc)

    def _sign(self, payload: bytes) -> bytes:
        assert self._key is not None
        return hmac.new(self._key, payload, hashlib.sha256).hexdigest().encode()

    def _refuse(self, why: str) -> None:
        if not self._refused_logged:
            log.warning("ignoring the shared snapshot in redis: %s (logged once)", why)
            self._refused_logged = True

    def decode(self, raw: bytes, now: float) -> Snapshot | None:
        """The snapshot in ``raw`` if it can be trusted at wall-clock ``now``, else None."""
        if self._key is not None:
            signature, _, raw = raw.partition(b".")
            if not hmac.compare_digest(signature, self._sign(raw)):
                self._refuse("missing or invalid signature (redis.signing_key)")
                return None
        try:
            snap = Snapshot.from_json(raw)
        except (ValueError, TypeError, KeyError, AttributeError):
            self._refuse("unreadable (written by another version?)")
            return None
        if snap.collected_at > now + self.max_skew:
            self._refuse(f"stamped {snap.collected_at - now:.1f}s in the future (clock skew "
                         "between replicas, or a forged entry)")
            return None
        return snap

    def encode(self, snapshot: Snapshot) -> bytes:
        payload = snapshot.to_json().encode()
        return self._sign(payload) + b"." + payload if self._key is not None else payload

    def get(self) -> Snapshot | None:
        try:
            raw = self.client.get(self.snapshot_key)
            if raw is None:
                return None
            return self.decode(raw if isinstance(raw, bytes) else str(raw).encode(), time.time())
        except Exception as exc:
            self._failed(exc)
            return None

    def put(self, snapshot: Snapshot, ttl: float) -> None:
        if ttl <= 0:
            return
        try:
            self.client.set(self.snapshot_key, self.encode(snapshot), px=_px(ttl))
        except Exception as exc:
            self._failed(exc)

    def try_lock(self, ttl: float) -> tuple[Holder, Lock | None]:
        """Take the collection lock (redis-py's own: a token, SET NX PX, compare-and-delete)
        without waiting; the lock expires by itself if its holder dies."""
        lock = self.client.lock(self.lock_key, timeout=_px(ttl) / 1000, blocking=False)
        try:
            return (Holder.US, lock) if lock.acquire() else (Holder.PEER, None)
        except Exception as exc:
            self._failed(exc)
            return Holder.NOBODY, None

    def unlock(self, lock: Lock) -> None:
        from redis.exceptions import LockError

        try:
            lock.release()
        except LockError:
            pass  # expired before the collection ended: a peer may hold it now, leave theirs
        except Exception as exc:
            self._failed(exc)

    def lock_held(self) -> bool:
        try:
            return bool(self.client.lock(self.lock_key).locked())
        except Exception as exc:
            self._failed(exc)
            return False


@dataclass
class CacheStats:
    hits: dict[str, int] = field(default_factory=lambda: {"l1": 0, "l2": 0, "shared": 0})
    misses: int = 0
    collections: int = 0
    stale_served: int = 0


@dataclass
class _Flight:
    done: threading.Event = field(default_factory=threading.Event)
    result: Snapshot | None = None


class SnapshotCache:
    def __init__(self, settings: CacheSettings, scraper: Scraper, redis_tier: RedisTier | None,
                 on_collected: Callable[[Snapshot], None] | None = None):
        self.settings = settings
        self.scraper = scraper
        self.redis = redis_tier
        self.on_collected = on_collected
        self.stats = CacheStats()
        self._l1: Snapshot | None = None
        self._lock = threading.Lock()
        self._flight: _Flight | None = None

    @property
    def last(self) -> Snapshot | None:
        return self._l1

    def _fresh(self, snap: Snapshot, ttl: float) -> bool:
        if snap.status != "healthy":
            ttl = min(ttl, self.settings.error_ttl_seconds)
        return snap.age() <= ttl

    def _l2_ttl(self, snap: Snapshot | None) -> float:
        return self.settings.shared_ttl(snap.wedding_day if snap is not None else None)

    def _l1_ttl(self, snap: Snapshot) -> float:
        return self.settings.local_ttl(snap.wedding_day)

    def get(self, deadline: float) -> tuple[Snapshot, str]:
        """The snapshot to serve and where it came from (l1, l2, shared, collected, stale)."""
        with self._lock:
            snap = self._l1
            if snap is not None and self._fresh(snap, self._l1_ttl(snap)):
                self.stats.hits["l1"] += 1
                return snap, "l1"
            flight = self._flight
            leader = flight is None
            if flight is None:
                flight = self._flight = _Flight()
        if not leader:
            flight.done.wait(timeout=max(0.0, deadline - time.monotonic()))
            if flight.result is not None:
                self.stats.hits["shared"] += 1
                return flight.result, "shared"
            return self._stale(), "stale"
        try:
            snap, source = self._fill(deadline)
            flight.result = snap
            self._l1 = snap
            return snap, source
        finally:
            with self._lock:
                self._flight = None
            flight.done.set()

    def _fill(self, deadline: float) -> tuple[Snapshot, str]:
        tier = self.redis if self.redis is not None and self.redis.available else None
        if tier is None:
            return self._collect(deadline), "collected"
        shared = tier.get()
        if shared is not None and self._fresh(shared, self._l2_ttl(shared)):
            self.stats.hits["l2"] += 1
            return shared, "l2"
        holder, lock = tier.try_lock(max(0.5, deadline - time.monotonic()))
        if holder is Holder.PEER:
            waited = self._wait_for_peer(tier, shared.collected_at if shared else 0.0, deadline)
            if waited is not None:
                self.stats.hits["l2"] += 1
                return waited, "l2"
            # the peer did not deliver in time: collect ourselves
        try:
            snap = self._collect(deadline)
            if tier.available:
                tier.put(snap, max(self.settings.l2_ttl_seconds,
                                   self.settings.l2_wedding_day_ttl_seconds))
            return snap, "collected"
        finally:
            if lock is not None:
                tier.unlock(lock)

    def _wait_for_peer(self, tier: RedisTier, seen: float, deadline: float) -> Snapshot | None:
        # Leave ourselves enough time to collect if the peer dies mid-collection.
        give_up = deadline - min(2.0, max(0.0, deadline - time.monotonic()) / 2)
        pause = 0.002
        while time.monotonic() < give_up and tier.available:
            time.sleep(pause)
            pause = min(pause * 2, 0.05)
            snap = tier.get()
            if snap is not None and snap.collected_at > seen:
                return snap
            if not tier.lock_held():
                snap = tier.get()
                return snap if snap is not None and snap.collected_at > seen else None
        return None

    def _collect(self, deadline: float) -> Snapshot:
        self.stats.misses += 1
        self.stats.collections += 1
        snap = self.scraper.collect(deadline)
        if self.on_collected is not None:
            try:
                self.on_collected(snap)
            except Exception:  # history is best effort; serving metrics is not
                log.exception("post-collection hook failed")
        return snap

    def _stale(self) -> Snapshot:
        self.stats.stale_served += 1
        if self._l1 is not None:
            return self._l1
        return Snapshot(collected_at=time.time(), up=False,
                        exposition=render([]), checks={"collection": CheckResult(
                            False, 0.0, "collection still running at the scrape deadline")})


def namespace_for(database_url: str, collectors: list[str]) -> str:
    """Replicas watching the same database with the same collectors share one L2 entry."""
    digest = hashlib.sha256((mask_url(database_url) + "|" + ",".join(sorted(collectors))).encode())
    return digest.hexdigest()[:16]
