"""The shipped scrape and evaluation interval (docs/latency.md), read where it is defined."""

from __future__ import annotations

from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def shipped_scrape_interval_seconds() -> float:
    raw = str(yaml.safe_load((REPO / "rules" / "thresholds.yml").read_text())["interval"])
    assert raw.endswith("s"), raw
    return float(raw[:-1])
