"""Reading panel queries with a real PromQL parser (promql-parser, the Rust one).

Grafana's macros are not PromQL: ``$__rate_interval`` is replaced by a sentinel
duration before parsing, so a matrix range equal to it means "the macro was used".
Template variables only appear inside label matchers, where any string is valid.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import promql_parser

REPO = Path(__file__).resolve().parents[2]
RATE_INTERVAL_SENTINEL = timedelta(seconds=4321)
RANGE_FUNCTIONS = {"rate", "irate", "increase"}


@dataclass(frozen=True)
class Selector:
    name: str
    in_range_function: bool  # inside rate/irate/increase
    range: timedelta | None  # the matrix range, when it is one


def parse(expr: str) -> promql_parser.Expr:
    return promql_parser.parse(expr.replace("$__rate_interval", f"{RATE_INTERVAL_SENTINEL.seconds}s"))


def selectors(node: Any, in_range: bool = False, window: timedelta | None = None) -> Iterator[Selector]:
    """Every vector selector in ``node``, with whether a range function encloses it."""
    if isinstance(node, promql_parser.VectorSelector):
        if node.name:
            yield Selector(node.name, in_range, window)
        return
    if isinstance(node, promql_parser.MatrixSelector):
        yield from selectors(node.vector_selector, in_range, node.range)
        return
    if isinstance(node, promql_parser.Call):
        inner = in_range or node.func.name in RANGE_FUNCTIONS
        for arg in node.args:
            yield from selectors(arg, inner, window)
        return
    if isinstance(node, promql_parser.BinaryExpr):
        yield from selectors(node.lhs, in_range, window)
        yield from selectors(node.rhs, in_range, window)
        return
    for attr in ("expr", "param"):
        child = getattr(node, attr, None)
        if isinstance(child, promql_parser.Expr):
            yield from selectors(child, in_range, window)


def range_calls(node: Any) -> Iterator[tuple[str, timedelta | None]]:
    """(function, range) for every rate/irate/increase call in ``node``."""
    if isinstance(node, promql_parser.Call):
        if node.func.name in RANGE_FUNCTIONS:
            arg = node.args[0]
            yield node.func.name, arg.range if isinstance(arg, promql_parser.MatrixSelector) else None
        for arg in node.args:
            yield from range_calls(arg)
        return
    for attr in ("expr", "param", "lhs", "rhs", "vector_selector"):
        child = getattr(node, attr, None)
        if isinstance(child, promql_parser.Expr):
            yield from range_calls(child)


def dashboards() -> dict[str, dict[str, Any]]:
    """The committed dashboards, by file name."""
    return {p.name: json.loads(p.read_text(encoding="utf-8"))
            for p in sorted((REPO / "dashboards").glob("*.json"))}


def panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in board["panels"] if p["type"] != "row"]
