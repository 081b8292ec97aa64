"""Settings: precedence, validation with every error at once, secrets masked."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from exporter.cli import build_parser, flag_overrides
from exporter.errors import ConfigError
from exporter.redact import mask_url
from exporter.settings import load_settings


def test_defaults_are_valid_and_safe() -> None:
    settings = load_settings(environ={})
    assert settings.database.pool_size == 5
    assert settings.timezone == "Europe/London"
    assert settings.redis.url is None
    assert {"activity", "database", "replication", "archiver", "tables"} <= set(
        settings.enabled_collectors)


def test_precedence_defaults_yaml_env_flags(tmp_path: Path) -> None:
    config = tmp_path / "dbhealth.yml"
    config.write_text(
        "database:\n  url: postgresql://yaml@db/wedsync\n  pool_size: 3\n"
        "cache:\n  l1_ttl_seconds: 11\n"
        "web:\n  listen_address: 127.0.0.1:9000\n")
    environ = {"DBHEALTH_DATABASE_URL": "postgresql://env@db/wedsync",
               "DBHEALTH_CACHE__L1_TTL_SECONDS": "12",
               "DBHEALTH_TIMEZONE": "America/New_York"}
    args = build_parser().parse_args(["--web.listen-address", "127.0.0.1:9999",
                                      "--no-collector.replication"])
    settings = load_settings(config, environ=environ, overrides=flag_overrides(args))
    assert settings.database.pool_size == 3                          # YAML over default
    assert settings.database.url == "postgresql://env@db/wedsync"    # env over YAML
    assert settings.cache.l1_ttl_seconds == 12                       # env over YAML
    assert settings.timezone == "America/New_York"
    assert settings.web.listen_address == "127.0.0.1:9999"           # flag over YAML
    assert "replication" not in settings.enabled_collectors          # flag over default


def test_config_file_from_environment(tmp_path: Path) -> None:
    config = tmp_path / "c.yml"
    config.write_text("database:\n  pool_size: 2\n")
    assert load_settings(environ={"DBHEALTH_CONFIG": str(config)}).database.pool_size == 2


def test_every_error_reported_at_once_naming_the_key(tmp_path: Path) -> None:
    config = tmp_path / "bad.yml"
    config.write_text(
        "database:\n  pool_size: 500\n  url: mysql://nope\n"
        "cache:\n  l1_ttl_seconds: -1\n"
        "web:\n  listen_address: nonsense\n"
        "collectors:\n  not_a_collector: true\n"
        "timezone: Mars/Olympus\n"
        "typo_section: 1\n")
    with pytest.raises(ConfigError) as info:
        load_settings(config, environ={"DBHEALTH_REDIS_URL": "http://wrong"})
    keys = {problem.split(":")[0] for problem in info.value.problems}
    assert {"database.pool_size", "database.url", "cache.l1_ttl_seconds", "web.listen_address",
            "collectors", "timezone", "typo_section", "redis.url"} <= keys


def test_unreadable_yaml_and_unknown_env_are_errors(tmp_path: Path) -> None:
    config = tmp_path / "broken.yml"
    config.write_text("database: [unclosed\n")
    with pytest.raises(ConfigError) as info:
        load_settings(config, environ={"DBHEALTH_POOLSIZE": "3"})
    text = str(info.value)
    assert "config.file" in text and "DBHEALTH_POOLSIZE" in text


@pytest.mark.parametrize("url, masked", [
    ("postgresql://monitor:s3cret@db:5432/wedsync", "postgresql://monitor:***@db:5432/wedsync"),
    ("host=db user=monitor password=s3cret dbname=x", "host=db user=monitor password=*** dbname=x"),
    ("redis://:hunter2@cache:6379/0", "redis://:***@cache:6379/0"),
    ("postgresql://monitor@db/wedsync", "postgresql://monitor@db/wedsync"),
])
def test_mask_url(url: str, masked: str) -> None:
    assert mask_url(url) == masked


def test_cli_reports_all_errors_and_masks_secrets() -> None:
    env = {"PATH": "/usr/bin:/bin", "DBHEALTH_DATABASE__POOL_SIZE": "0",
           "DBHEALTH_CACHE__ERROR_TTL_SECONDS": "banana",
           "DBHEALTH_DATABASE_URL": "postgresql://monitor:s3cret@db/wedsync"}
    bad = subprocess.run([sys.executable, "-m", "exporter", "check-config"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2
    assert "database.pool_size" in bad.stderr and "cache.error_ttl_seconds" in bad.stderr
    assert "s3cret" not in bad.stderr + bad.stdout

    env.pop("DBHEALTH_DATABASE__POOL_SIZE")
    env.pop("DBHEALTH_CACHE__ERROR_TTL_SECONDS")
    env["DBHEALTH_WEB__AUTH_TOKEN"] = "tok-123"
    good = subprocess.run([sys.executable, "-m", "exporter", "check-config"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert good.returncode == 0, good.stderr
    assert "monitor:***@db" in good.stdout
    assert "s3cret" not in good.stdout and "tok-123" not in good.stdout


def test_serve_logs_never_show_the_password() -> None:
    """The running exporter's own log, database unreachable: the DSN appears masked only."""
    import signal

    env = {"PATH": "/usr/bin:/bin",
           "DBHEALTH_DATABASE_URL": "postgresql://monitor:s3cret@127.0.0.1:1/wedsync",
           "DBHEALTH_REDIS_URL": "redis://:hunter2@127.0.0.1:1/0",
           "DBHEALTH_WEB__LISTEN_ADDRESS": "127.0.0.1:0"}
    proc = subprocess.Popen([sys.executable, "-m", "exporter"], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:       # read until the server is up (or the process dies)
        lines.append(line)
        if "listening on" in line:
            break
    proc.send_signal(signal.SIGTERM)
    rest, _ = proc.communicate(timeout=30)
    log = "".join(lines) + rest
    assert "listening on" in log and proc.returncode == 0
    assert "monitor:***@127.0.0.1" in log and ":***@127.0.0.1:1/0" in log
    assert "s3cret" not in log and "hunter2" not in log
