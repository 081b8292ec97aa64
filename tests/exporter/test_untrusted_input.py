"""Nothing shared or sent is trusted: header values, Redis contents, slow clients, secrets."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from exporter.cache import RedisTier, namespace_for
from exporter.errors import ConfigError
from exporter.http import scrape_budget
from exporter.settings import load_settings
from exporter.snapshot import CheckResult, Snapshot

from ..support.polling import wait_until
from ..support.postgres import PostgresServer
from ..support.redis_server import RedisServer
from ..support.scrape import get_json, http_get, scrape
from .conftest import ExporterFactory, base_url


@pytest.mark.parametrize("header, budget", [
    ("inf", 299.5), ("1e20", 299.5), ("1e300", 299.5), ("-inf", 0.1), ("nan", 9.5),
    ("-5", 0.1), ("0", 0.1), ("abc", 9.5), ("", 9.5), (None, 9.5), ("4", 3.5),
])
def test_scrape_timeout_header_is_clamped_to_finite_bounds(header: str | None,
                                                           budget: float) -> None:
    assert scrape_budget(header, 10.0, 0.5) == pytest.approx(budget)


def test_absurd_scrape_timeouts_neither_fail_nor_switch_redis_off(
        make_exporter: ExporterFactory, demo_dsn: str, redis_server: RedisServer) -> None:
    exporter = make_exporter(demo_dsn, cache={"l1_ttl_seconds": 0},
                             redis={"url": redis_server.url, "key_prefix": f"h{time.time_ns()}"})
    url = base_url(exporter)
    for value in ("inf", "1e20", "1e300", "nan", "-1"):
        status, _, body = http_get(url + "/metrics", {"X-Prometheus-Scrape-Timeout-Seconds": value})
        assert status == 200, (value, body[:300])
    samples = scrape(url)
    assert samples.value("dbhealth_redis_up") == 1
    assert samples.value("dbhealth_cache_hits_total", tier="l2") >= 1  # type: ignore[operator]


@pytest.fixture
def stopped_postgres() -> Iterator[PostgresServer]:
    server = PostgresServer()
    server.start()
    server.stop()
    yield server
    server.destroy()


def healthy_snapshot(collected_at: float) -> Snapshot:
    return Snapshot(collected_at=collected_at, up=True, exposition="dbhealth_up 1.0\n",
                    checks={"activity": CheckResult(True, 0.001)})


def poison(exporter_settings_redis_url: str, prefix: str, dsn: str, collectors: list[str],
           snapshot: Snapshot, signing_key: str | None = None) -> None:
    settings = load_settings(environ={}, overrides={"redis": {
        "url": exporter_settings_redis_url, "key_prefix": prefix, "signing_key": signing_key}})
    RedisTier(settings.redis, namespace_for(dsn, collectors)).put(snapshot, ttl=300)


def test_a_snapshot_from_the_future_is_refused(
        make_exporter: ExporterFactory, stopped_postgres: PostgresServer,
        redis_server: RedisServer) -> None:
    prefix = f"f{time.time_ns()}"
    exporter = make_exporter(stopped_postgres.dsn(), cache={"l1_ttl_seconds": 0},
                             database={"pool_wait_seconds": 0.2},
                             redis={"url": redis_server.url, "key_prefix": prefix})
    dsn, collectors = exporter.settings.database.url, exporter.settings.enabled_collectors
    # A replica whose clock runs an hour ahead (or anyone who can write to Redis).
    poison(redis_server.url, prefix, dsn, collectors, healthy_snapshot(time.time() + 3600))
    status, body = get_json(base_url(exporter) + "/health")
    assert status == 503 and body["status"] == "down", body
    # Within the allowed skew, a peer's snapshot is still used (the check is not a blanket no).
    poison(redis_server.url, prefix, dsn, collectors, healthy_snapshot(time.time() + 1))
    status, body = get_json(base_url(exporter) + "/health")
    assert status == 200 and body["source"] == "l2", body


def test_with_a_signing_key_unsigned_snapshots_are_ignored(
        make_exporter: ExporterFactory, stopped_postgres: PostgresServer,
        redis_server: RedisServer) -> None:
    prefix, key = f"s{time.time_ns()}", "k" * 32
    exporter = make_exporter(stopped_postgres.dsn(), cache={"l1_ttl_seconds": 0},
                             database={"pool_wait_seconds": 0.2},
                             redis={"url": redis_server.url, "key_prefix": prefix,
                                    "signing_key": key})
    dsn, collectors = exporter.settings.database.url, exporter.settings.enabled_collectors
    poison(redis_server.url, prefix, dsn, collectors, healthy_snapshot(time.time()))
    assert get_json(base_url(exporter) + "/health")[0] == 503
    poison(redis_server.url, prefix, dsn, collectors, healthy_snapshot(time.time()), "x" * 32)
    assert get_json(base_url(exporter) + "/health")[0] == 503       # another key
    poison(redis_server.url, prefix, dsn, collectors, healthy_snapshot(time.time()), key)
    status, body = get_json(base_url(exporter) + "/health")
    assert status == 200 and body["source"] == "l2"


def test_a_redis_that_answers_garbage_degrades_to_l1(
        make_exporter: ExporterFactory, demo_dsn: str) -> None:
    """Something that is not Redis on the Redis port: every request is still served."""
    liar = socket.socket()
    liar.bind(("127.0.0.1", 0))
    liar.listen(16)
    port = liar.getsockname()[1]
    try:
        exporter = make_exporter(demo_dsn, cache={"l1_ttl_seconds": 0},
                                 redis={"url": f"redis://127.0.0.1:{port}/0",
                                        "socket_timeout_seconds": 0.2})
        url = base_url(exporter)
        for _ in range(3):
            samples = scrape(url)
            assert samples.value("dbhealth_up") == 1
        assert samples.value("dbhealth_redis_up") == 0
        assert get_json(url + "/health")[0] == 200
    finally:
        liar.close()


def test_300_slow_connections_do_not_stall_metrics(make_exporter: ExporterFactory,
                                                   demo_dsn: str) -> None:
    exporter = make_exporter(demo_dsn, web={"read_timeout_seconds": 2})
    url = base_url(exporter)
    assert scrape(url).value("dbhealth_up") == 1
    slow: list[socket.socket] = []
    try:
        for _ in range(300):  # each sends half a request head, then nothing
            sock = socket.create_connection(("127.0.0.1", exporter.port), timeout=5)
            sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
            slow.append(sock)
        started = time.monotonic()
        status, _, _ = http_get(url + "/metrics", timeout=10)
        assert status == 200 and time.monotonic() - started < 2.0
        # ...and the server drops them after the read timeout instead of holding them.
        slow[0].settimeout(10)
        assert wait_until(lambda: slow[0].recv(1) == b"", timeout=15,
                          what="the idle connection to be closed")
    finally:
        for sock in slow:
            sock.close()


@pytest.mark.parametrize("overrides, key", [
    ({"web": {"auth_token": ""}}, "web.auth_token"),
    ({"web": {"auth_token": "   "}}, "web.auth_token"),
    ({"redis": {"signing_key": ""}}, "redis.signing_key"),
    ({"redis": {"signing_key": "short"}}, "redis.signing_key"),
])
def test_empty_secrets_are_configuration_errors(overrides: dict[str, dict[str, str]],
                                                key: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(environ={}, overrides=overrides)
    assert any(p.startswith(key) for p in info.value.problems), info.value.problems


def test_health_is_never_starved_by_the_token_endpoints(make_exporter: ExporterFactory,
                                                        demo_dsn: str) -> None:
    exporter = make_exporter(demo_dsn, web={"rate_limit_per_minute": 2})
    url = base_url(exporter)
    statuses = [get_json(url + "/health/full")[0] for _ in range(4)]
    assert statuses[-1] == 429
    assert [get_json(url + "/health")[0] for _ in range(10)] == [200] * 10


