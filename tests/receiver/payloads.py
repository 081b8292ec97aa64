"""Alertmanager webhook payloads shaped exactly like Alertmanager 0.25 sends them."""

from __future__ import annotations

import copy
import json
from typing import Any

FIRING: dict[str, Any] = {
    "receiver": "dbhealth",
    "status": "firing",
    "alerts": [{
        "status": "firing",
        "labels": {"alertname": "PostgresReplicationLagHigh", "severity": "critical",
                   "impact": "internal", "instance": "db-1:9188"},
        "annotations": {"summary": "Replica is 42s behind", "description": "Lag above 15s",
                        "wedding_day": "true",
                        "runbook_url": "https://runbooks.example/replication-lag"},
        "startsAt": "2026-06-06T12:00:00.123456789Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph?g0.expr=pg",
        "fingerprint": "a1b2c3d4e5f60718",
    }],
    "groupLabels": {"alertname": "PostgresReplicationLagHigh"},
    "commonLabels": {"alertname": "PostgresReplicationLagHigh", "severity": "critical"},
    "commonAnnotations": {"summary": "Replica is 42s behind"},
    "externalURL": "http://alertmanager:9093",
    "version": "4",
    "groupKey": '{}:{alertname="PostgresReplicationLagHigh"}',
    "truncatedAlerts": 0,
}


def firing(fingerprint: str = "a1b2c3d4e5f60718", **labels: str) -> dict[str, Any]:
    """One alert in a group of its own (as with ``group_by`` naming the instance)."""
    payload = copy.deepcopy(FIRING)
    payload["alerts"][0]["fingerprint"] = fingerprint
    payload["groupKey"] = '{}:{alertname="PostgresReplicationLagHigh", fp="' + fingerprint + '"}'
    payload["alerts"][0]["labels"].update(labels)
    return payload


def resolved(payload: dict[str, Any]) -> dict[str, Any]:
    done = copy.deepcopy(payload)
    done["status"] = "resolved"
    for alert in done["alerts"]:
        alert["status"] = "resolved"
        alert["endsAt"] = "2026-06-06T12:30:00Z"
    return done


def body(payload: Any) -> bytes:
    return json.dumps(payload).encode()
