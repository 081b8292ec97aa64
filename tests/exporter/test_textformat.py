"""exporter.textformat renders exactly the bytes of prometheus_client's generate_latest."""

from __future__ import annotations

import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
    Sample,
    SummaryMetricFamily,
)

from exporter import scrape, textformat

from .conftest import ExporterFactory

NAMES = st.from_regex(r"[a-zA-Z_:][a-zA-Z0-9_:]{0,12}", fullmatch=True)
ODD_NAMES = st.sampled_from(["a.b", "caf\u00e9", "1up", "x-y", "__reserved"])
LABEL_NAMES = st.one_of(st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,8}", fullmatch=True), ODD_NAMES)
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)
VALUES = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.sampled_from([0.0, -0.0, 1e6, 1234567.0, 12345678.9, 1e16, 1.5e-7, 3.0e300]),
)


@st.composite
def families(draw: st.DrawFn) -> list[Metric]:
    out: list[Metric] = []
    for _ in range(draw(st.integers(0, 4))):
        name = draw(st.one_of(NAMES, ODD_NAMES))
        doc = draw(TEXT)
        labels = draw(st.lists(LABEL_NAMES, max_size=3, unique=True))
        kind = draw(st.sampled_from(["gauge", "counter", "counter_created", "info", "summary",
                                     "histogram", "timestamped"]))
        rows = draw(st.lists(st.tuples(st.lists(TEXT, min_size=len(labels), max_size=len(labels)),
                                       VALUES), max_size=4))
        family: Any
        if kind in ("gauge", "timestamped"):
            family = GaugeMetricFamily(name, doc, labels=labels)
            for values, value in rows:
                family.add_metric(values, value, timestamp=1.7e9 if kind == "timestamped" else None)
        elif kind.startswith("counter"):
            family = CounterMetricFamily(name, doc, labels=labels)
            for values, value in rows:
                family.add_metric(values, value, created=1.7e9 if kind == "counter_created" else None)
        elif kind == "info":
            family = InfoMetricFamily(name, doc, labels=labels)
            for values, _ in rows:
                family.add_metric(values, {"version": "1.0"})
        elif kind == "summary":
            family = SummaryMetricFamily(name, doc, labels=labels)
            for values, value in rows:
                family.add_metric(values, count_value=3, sum_value=value)
        else:
            family = HistogramMetricFamily(name, doc, labels=labels)
            for values, value in rows:
                family.add_metric(values, buckets=[("1.0", 1), ("+Inf", 2)], sum_value=value)
        out.append(family)
    return out


@settings(max_examples=400, deadline=None)
@given(families())
def test_the_same_bytes_as_generate_latest(fams: list[Metric]) -> None:
    try:
        expected = textformat.reference(fams)
    except Exception as exc:  # a family the reference cannot render either
        with pytest.raises(type(exc)):
            textformat.render(fams)
        return
    assert textformat.render(fams) == expected


def test_edge_values_labels_and_fallbacks() -> None:
    gauge = GaugeMetricFamily("g", 'back\\slash\nnew "line"', labels=["b", "a"])
    for value in (0, 1, -1, 0.5, 1e6, 1234567.0, 1e21, 1e-5, float("inf"), float("-inf"),
                  float("nan"), True, 2**70):
        gauge.add_metric(['q"uo\\te\n', "caf\u00e9"], value)
    odd = Metric("x", "a sample of another name", "gauge")
    odd.samples.append(Sample("y", {}, 1.0))
    families = [gauge, odd, GaugeMetricFamily("up", "plain", value=1)]
    assert textformat.render(families) == textformat.reference(families)


def test_process_metrics_render_identically() -> None:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ProcessCollector(registry=None))
    families = list(registry.collect())
    assert textformat.render(families) == textformat.reference(families)


def test_a_real_collection_renders_identically(make_exporter: ExporterFactory, demo_dsn: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Every family the default collectors produce on the demo database, as collected."""
    seen: list[list[Metric]] = []

    def capture(families: list[Metric]) -> str:
        seen.append(list(families))
        return textformat.render(families)

    monkeypatch.setattr(scrape, "render", capture)
    exporter = make_exporter(demo_dsn)
    seen.clear()
    exporter.cache.get(time.monotonic() + 30)
    assert sum(len(f.samples) for families in seen for f in families) > 100
    for families in seen:  # each collector's families, then the collection's own
        assert textformat.render(families) == textformat.reference(families)
