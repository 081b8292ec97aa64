"""The shipped scrape interval (docs/latency.md), read where it is defined."""

from __future__ import annotations

from demo.promconfig import shipped


def shipped_scrape_interval_seconds() -> float:
    raw = str(shipped()["global"]["scrape_interval"])
    assert raw.endswith("s"), raw
    return float(raw[:-1])
