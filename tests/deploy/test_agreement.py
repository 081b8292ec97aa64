"""docker-compose.yml, the shipped prometheus.yml and the demo agree: rules, ports, intervals.

The intervals are written once, in deploy/prometheus/prometheus.yml: compose mounts that
file, the demo and the dashboard tests derive their configs from it (demo/promconfig.py),
and Grafana's data source states the same scrape interval for $__rate_interval.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from demo import promconfig, stack

from ..support.ports import free_port
from .test_compose import REPO, config

SHIPPED = promconfig.shipped()
RULE_FILES = sorted(p.name for p in (REPO / "rules").glob("*.rules.yml"))


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    parsed: dict[str, Any] = config("*")["services"]
    return parsed


def _mounts(service: dict[str, Any]) -> dict[str, str]:
    """Container path → repository-relative source of each bind mount."""
    return {v["target"]: Path(v["source"]).relative_to(REPO).as_posix()
            for v in service.get("volumes", []) if v["type"] == "bind"}


def _flag(argv: list[str], name: str) -> str:
    for i, arg in enumerate(argv):
        if arg == name:
            return argv[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    raise AssertionError(f"{name} not in {argv}")


def _port(address: str) -> int:
    return int(address.rsplit(":", 1)[1])


def test_compose_runs_the_shipped_prometheus_yml_with_every_rule_file(services: dict[str, Any]) -> None:
    prometheus = services["prometheus"]
    mounts = _mounts(prometheus)
    assert mounts[_flag(prometheus["command"], "--config.file")] == "deploy/prometheus/prometheus.yml"
    mounted_rules = {Path(target).name for target, source in mounts.items() if source.startswith("rules/")}
    assert sorted(mounted_rules) == RULE_FILES
    [pattern] = SHIPPED["rule_files"]
    assert all(Path(target).match(pattern) for target, source in mounts.items()
               if source.startswith("rules/"))


def test_the_demo_loads_the_same_rule_files_and_intervals_and_jobs() -> None:
    """(Its targets are the demo's addresses, whatever DBHEALTH_DEMO_*_PORT says.)"""
    demo = stack.prometheus_config(sorted(str(p) for p in Path(REPO / "rules").glob("*.rules.yml")))
    assert sorted(Path(p).name for p in demo["rule_files"]) == RULE_FILES
    assert demo["global"] == SHIPPED["global"]
    jobs = [j["job_name"] for j in SHIPPED["scrape_configs"]]
    assert [j["job_name"] for j in demo["scrape_configs"]] == jobs
    assert {k: v for k, v in demo.items() if k not in {"rule_files", "scrape_configs", "alerting"}} == \
        {k: v for k, v in SHIPPED.items() if k not in {"rule_files", "scrape_configs", "alerting"}}


def test_the_shipped_intervals_are_the_designed_ones_and_grafana_knows_them() -> None:
    """docs/latency.md: 10 s scrape and evaluation keep a wedding-day page under 90 s."""
    assert SHIPPED["global"]["scrape_interval"] == "10s"
    assert SHIPPED["global"]["evaluation_interval"] == "10s"
    rule_group = yaml.safe_load((REPO / "rules" / "thresholds.yml").read_text())["interval"]
    assert rule_group == SHIPPED["global"]["scrape_interval"], "rules/thresholds.yml interval"
    [source] = yaml.safe_load((REPO / "deploy/grafana/provisioning/datasources/prometheus.yml")
                              .read_text())["datasources"]
    assert source["jsonData"]["timeInterval"] == SHIPPED["global"]["scrape_interval"]


def test_compose_and_demo_ports_match_the_shipped_targets(services: dict[str, Any]) -> None:
    """Every shipped target is a compose service listening on that port, the demo's default too."""
    targets = {j["job_name"]: j["static_configs"][0]["targets"][0] for j in SHIPPED["scrape_configs"]}
    listen = {
        "exporter": _port(_flag(services["exporter"]["command"], "--web.listen-address")),
        "receiver": _port(_flag(services["receiver"]["command"], "--bind")),
        "alertmanager": _port(_flag(services["alertmanager"]["command"], "--web.listen-address")),
        "prometheus": _port(_flag(services["prometheus"]["command"], "--web.listen-address")),
    }
    assert targets == {promconfig.EXPORTER_JOB: f"exporter:{listen['exporter']}",
                       promconfig.RECEIVER_JOB: f"receiver:{listen['receiver']}"}
    [am] = SHIPPED["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert am == f"alertmanager:{listen['alertmanager']}"
    assert services["alertmanager"]["environment"]["RECEIVER"] == f"http://receiver:{listen['receiver']}"
    demo = {name: stack.DEFAULT_PORTS[name.upper()] for name in listen}
    assert demo == listen
    for name, port in listen.items():
        published = {int(p["published"]) for p in services[name].get("ports", [])}
        assert published == {port}, name


def test_promtool_accepts_the_config_the_demo_writes(tmp_path: Path) -> None:
    demo = stack.prometheus_config(sorted(str(p) for p in Path(REPO / "rules").glob("*.rules.yml")))
    path = tmp_path / "prometheus.yml"
    path.write_text(json.dumps(demo))
    done = subprocess.run(["promtool", "check", "config", str(path)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout + done.stderr


def test_local_config_refuses_targets_that_are_not_the_shipped_jobs() -> None:
    with pytest.raises(ValueError, match="shipped jobs"):
        promconfig.local_config({"dbhealth": "127.0.0.1:1"}, "127.0.0.1:2", [])


def _demo_env(tmp_path: Path, **ports: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DBHEALTH_DEMO_")}
    env["DBHEALTH_DEMO_DIR"] = str(tmp_path / "demo")
    for name in stack.PORTS.values():
        env[f"DBHEALTH_DEMO_{name[0]}_PORT"] = str(ports.get(name[0], free_port()))
    return env


def test_the_demo_names_a_taken_port_and_its_variable(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "demo.cli", "up"], cwd=REPO, capture_output=True,
                              text=True, timeout=60, env=_demo_env(tmp_path, PROMETHEUS=taken))
    assert done.returncode == 2, done.stdout + done.stderr
    assert (f"demo: port {taken} (prometheus) is taken by another program; "
            f"set DBHEALTH_DEMO_PROMETHEUS_PORT to a free port") in done.stdout
    assert "creating a PostgreSQL cluster" not in done.stdout  # refused before touching anything


def test_the_demo_rejects_a_port_that_is_not_a_number(tmp_path: Path) -> None:
    env = {**_demo_env(tmp_path), "DBHEALTH_DEMO_EXPORTER_PORT": "ninety"}
    done = subprocess.run([sys.executable, "-m", "demo.cli", "up"], cwd=REPO, capture_output=True,
                          text=True, timeout=60, env=env)
    assert done.returncode != 0 and "DBHEALTH_DEMO_EXPORTER_PORT='ninety' is not a port number" in done.stderr


def test_the_demo_keeps_its_own_settings_from_the_services(monkeypatch: pytest.MonkeyPatch) -> None:
    """The exporter refuses unknown DBHEALTH_* variables: DBHEALTH_DEMO_* must not reach it."""
    monkeypatch.setenv("DBHEALTH_DEMO_EXPORTER_PORT", "19188")
    monkeypatch.setenv("DBHEALTH_LOG__LEVEL", "info")
    env = stack.child_env(stack.Service("exporter", ["true"], env={"X": "1"}))
    assert "DBHEALTH_DEMO_EXPORTER_PORT" not in env
    assert env["DBHEALTH_LOG__LEVEL"] == "info" and env["X"] == "1"
