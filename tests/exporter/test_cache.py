"""The cache tiers with a real Redis and a real database: TTLs, wedding days, single-flight."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from datetime import time as dtime
from zoneinfo import ZoneInfo

import pytest

from exporter.cache import RedisTier, SnapshotCache, namespace_for
from exporter.db import Database
from exporter.scrape import Scraper
from exporter.server import build_collectors
from exporter.settings import CacheSettings, Settings
from exporter.snapshot import CheckResult, Snapshot
from exporter.statements.settings import StatementsSettings
from exporter.wedding.calendar import Override, WeddingDayState, decide

from ..support.intervals import shipped_scrape_interval_seconds
from ..support.redis_server import RedisServer
from .conftest import exporter_settings

LONDON = ZoneInfo("Europe/London")


@pytest.fixture
def settings(demo_dsn: str, redis_server: RedisServer) -> Settings:
    return exporter_settings(demo_dsn, redis={"url": redis_server.url,
                                              "key_prefix": f"t{time.monotonic_ns()}"},
                             collectors={"statements": False})


@pytest.fixture
def database(settings: Settings) -> Iterator[Database]:
    db = Database(settings.database)
    db.open()
    yield db
    db.close()


def make_cache(settings: Settings, database: Database) -> SnapshotCache:
    tier = RedisTier(settings.redis, namespace_for(settings.database.url,
                                                   settings.enabled_collectors))
    scraper = Scraper(database, build_collectors(settings, database=database))
    return SnapshotCache(settings.cache, scraper, tier)


def wedding_state(mode: bool) -> WeddingDayState:
    """A Wednesday, or a Wednesday made a wedding day by an override."""
    now = datetime(2026, 12, 2, 12, 0, tzinfo=LONDON)
    overrides = [Override(now + timedelta(hours=1), "test", "settings")] if mode else []
    return decide(now, LONDON, weddings_today=0, min_weddings=10, overrides=overrides,
                  peak_start=dtime(11), peak_end=dtime(18))


def aged(seconds: float, wedding_day: float) -> Snapshot:
    return Snapshot(collected_at=time.time() - seconds, up=True, exposition="",
                    checks={"activity": CheckResult(True, 0.001)},
                    wedding=wedding_state(wedding_day >= 1.0))


@pytest.mark.parametrize("wedding_day, shared, local", [
    (False, 60.0, 30.0),   # ordinary day: the configured TTLs
    (True, 9.0, 9.0),    # wedding day: no tier keeps a snapshot past the wedding-day TTL
    (None, 9.0, 9.0),    # unknown counts as a wedding day
])
def test_ttl_in_force(wedding_day: bool | None, shared: float, local: float) -> None:
    settings = CacheSettings()
    assert (settings.shared_ttl(wedding_day), settings.local_ttl(wedding_day)) == (shared, local)


def test_wedding_day_ttl_is_under_the_shipped_scrape_interval() -> None:
    """A single Prometheus scraping at the shipped interval gets a fresh collection at every
    scrape on a wedding day; an HA pair shares one (docs/latency.md)."""
    assert CacheSettings().l2_wedding_day_ttl_seconds < shipped_scrape_interval_seconds()


def test_statements_read_ahead_are_younger_than_the_shipped_scrape_interval() -> None:
    """pg_stat_statements read ahead of a collection (exporter.prefetch) is never served
    older than prefetch_max_age_seconds: well inside one scrape interval."""
    statements = StatementsSettings()
    assert 0 < statements.prefetch_seconds <= statements.prefetch_max_age_seconds
    assert statements.prefetch_max_age_seconds < shipped_scrape_interval_seconds()


@pytest.mark.parametrize("wedding_day, expected", [(0.0, "l2"), (1.0, "collected")])
def test_l2_ttl_is_shorter_on_wedding_days(settings: Settings, database: Database,
                                           wedding_day: float, expected: str) -> None:
    cache = make_cache(settings, database)
    assert cache.redis is not None
    cache.redis.put(aged(45, wedding_day), ttl=120)   # 45 s old: fresh at 60 s, stale at 9 s
    _, source = cache.get(time.monotonic() + 10)
    assert source == expected


def test_missing_wedding_signal_counts_as_a_wedding_day(settings: Settings,
                                                        database: Database) -> None:
    cache = make_cache(settings, database)
    assert cache.redis is not None
    cache.redis.put(replace(aged(45, 0.0), wedding=None), ttl=120)
    assert cache.get(time.monotonic() + 10)[1] == "collected"


def test_degraded_snapshots_expire_after_the_error_ttl(settings: Settings,
                                                       database: Database) -> None:
    cache = make_cache(settings, database)
    assert cache.redis is not None
    cache.redis.put(replace(aged(6, 0.0), up=False), ttl=120)   # error TTL is 5 s
    assert cache.get(time.monotonic() + 10)[1] == "collected"


def test_replicas_single_flight_through_redis(settings: Settings, database: Database) -> None:
    """Four replicas asked at once: one collects, the others wait for its snapshot."""
    caches = [make_cache(settings, database) for _ in range(4)]
    barrier = threading.Barrier(len(caches))
    sources: list[str] = []

    def scrape(cache: SnapshotCache) -> None:
        barrier.wait()
        sources.append(cache.get(time.monotonic() + 10)[1])

    threads = [threading.Thread(target=scrape, args=(c,)) for c in caches]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(sources) == ["collected", "l2", "l2", "l2"]
    assert sum(c.stats.collections for c in caches) == 1
