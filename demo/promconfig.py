"""The shipped Prometheus configuration, pointed at local processes.

``deploy/prometheus/prometheus.yml`` is the one place where the scrape and
evaluation intervals and the scrape jobs are written down. docker-compose mounts
it as it is; the demo and the tests read it here and change only what differs
outside containers: each job's target address, the Alertmanager address and the
rule files' paths.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

SHIPPED = Path(__file__).resolve().parents[1] / "deploy" / "prometheus" / "prometheus.yml"
EXPORTER_JOB = "dbhealth"
RECEIVER_JOB = "dbhealth-receiver"


def shipped(path: Path = SHIPPED) -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return config


def local_config(targets: Mapping[str, str], alertmanager: str, rule_files: Iterable[Path],
                 path: Path = SHIPPED) -> dict[str, Any]:
    """The shipped config with ``targets`` (job name → host:port) and local rule files.

    :raises ValueError: when ``targets`` does not name exactly the shipped jobs.
    """
    config = shipped(path)
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    if jobs != set(targets):
        raise ValueError(f"targets for {sorted(targets)} but the shipped jobs are {sorted(jobs)}")
    for job in config["scrape_configs"]:
        job["static_configs"] = [{"targets": [targets[job["job_name"]]]}]
    config["alerting"]["alertmanagers"] = [{"static_configs": [{"targets": [alertmanager]}]}]
    config["rule_files"] = [str(p.resolve()) for p in rule_files]
    return config
