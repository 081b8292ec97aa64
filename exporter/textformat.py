"""The Prometheus text format (0.0.4) of metric families, rendered without per-sample checks.

prometheus_client's ``generate_latest`` is the reference and stays the fallback.
It re-validates and escapes the metric and every label *name* of every sample
(regular expressions, ~3 µs a sample): about 1 ms of a ~9 ms fresh collection with
~300 samples, a tenth of a scrape. The exporter's families are plain gauges and
counters with fixed, valid names, so here a name is checked once per family and
once per label name; a family with anything else (another type, timestamps, an
OpenMetrics-only sample such as ``_created``, a name that would need escaping)
is rendered by ``generate_latest`` itself. The output is byte-identical to
``generate_latest`` (tests/exporter/test_textformat.py holds it so).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from math import isfinite
from typing import cast

from prometheus_client import generate_latest
from prometheus_client.core import Metric
from prometheus_client.utils import floatToGoString

_go_float = cast(Callable[[float], str], floatToGoString)  # untyped upstream

# prometheus_client.validation's legacy character sets; ``__`` label names are reserved.
_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_NAME_SUFFIX = {"gauge": "", "counter": "_total"}  # what generate_latest appends per type
_label_name_ok: dict[str, bool] = {}


class _One:
    """The registry interface ``generate_latest`` needs, for the families it renders."""

    def __init__(self, families: Sequence[Metric]):
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return iter(self._families)


def reference(families: Sequence[Metric]) -> str:
    """``generate_latest`` for these families: the format's reference implementation."""
    return generate_latest(_One(families)).decode()


def _valid_label_name(name: str) -> bool:
    ok = _label_name_ok.get(name)
    if ok is None:
        ok = _label_name_ok[name] = bool(_LABEL_NAME.fullmatch(name)) and not name.startswith("__")
    return ok


def _family(metric: Metric) -> str | None:
    """One family's lines, or None when only ``generate_latest`` may render it."""
    suffix = _NAME_SUFFIX.get(metric.type)
    if suffix is None:
        return None
    name = metric.name + suffix
    if not _METRIC_NAME.fullmatch(name):
        return None
    doc = metric.documentation.replace("\\", r"\\").replace("\n", r"\n")
    lines = [f"# HELP {name} {doc}\n# TYPE {name} {metric.type}\n"]
    # floatToGoString's result for finite, short values is repr(): taken without the call.
    for sample in metric.samples:
        if sample.name != name or sample.timestamp is not None:
            return None
        value = float(sample.value)
        text = repr(value)
        if not isfinite(value) or (value > 0 and text.find(".") > 6):
            text = _go_float(value)
        labels = sample.labels
        if labels:
            pairs = []
            for key, val in sorted(labels.items()) if len(labels) > 1 else labels.items():
                if not (isinstance(val, str) and _valid_label_name(key)):
                    return None
                if "\\" in val or "\n" in val or '"' in val:
                    val = val.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
                pairs.append(f'{key}="{val}"')
            lines.append(f"{name}{{{','.join(pairs)}}} {text}\n")
        else:
            lines.append(f"{name} {text}\n")
    return "".join(lines)


def render(families: Iterable[Metric]) -> str:
    """The text exposition of ``families``, as ``generate_latest`` writes it."""
    out = []
    for metric in families:
        text = _family(metric)
        out.append(text if text is not None else reference([metric]))
    return "".join(out)
