"""HTTP helpers for tests: fetch, parse exposition text, run promtool."""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
from typing import Any

from prometheus_client.parser import text_string_to_metric_families


def http_get(url: str, headers: dict[str, str] | None = None,
             timeout: float = 15.0) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def get_json(url: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    status, _, body = http_get(url, headers)
    return status, json.loads(body)


class Samples:
    """Parsed exposition text with ``registry.get_sample_value``-style lookups."""

    def __init__(self, text: str):
        self.text = text
        self.families = {f.name: f for f in text_string_to_metric_families(text)}
        self.samples = [s for f in self.families.values() for s in f.samples]

    def value(self, name: str, **labels: str) -> float | None:
        for sample in self.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
        return None

    def names(self) -> set[str]:
        return {s.name for s in self.samples}

    def labelsets(self, name: str) -> list[dict[str, str]]:
        return [dict(s.labels) for s in self.samples if s.name == name]


def scrape(base_url: str, headers: dict[str, str] | None = None) -> Samples:
    status, _, body = http_get(base_url + "/metrics", headers)
    assert status == 200, body[:500]
    return Samples(body.decode())


def promtool_problems(text: str) -> list[str]:
    """Every ``promtool check metrics`` finding (none is excused), plus a bad exit code."""
    result = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                            text=True, timeout=60)
    problems = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    if result.returncode != 0 and not problems:
        problems.append(f"promtool exited {result.returncode}")
    return problems
