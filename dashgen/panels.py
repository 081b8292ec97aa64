"""The small vocabulary the dashboard modules are written in, and its translation to the SDK.

A dashboard module lists rows of :class:`Panel` specs; :func:`build` turns them into
grafana-foundation-sdk builders. Every panel reads the ``datasource`` variable (no
uid is ever written down), carries a unit and a description saying what it answers,
and names the queries that may legitimately return nothing (``Query.may_be_empty``),
which the tests and the per-dashboard docs read back.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, Literal

from grafana_foundation_sdk.builders import common as gc
from grafana_foundation_sdk.builders import dashboard as gd
from grafana_foundation_sdk.builders import prometheus, stat, statetimeline, table, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import VisibilityMode
from grafana_foundation_sdk.models.dashboard import (
    DashboardCursorSync,
    DataSourceRef,
    VariableRefresh,
    VariableSort,
)
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
# Exporter series: every selector narrows to the chosen job and instance.
SEL = 'job=~"$job", instance=~"$instance"'
Kind = Literal["timeseries", "stat", "table", "state"]
GRID_WIDTH = 24


@dataclass(frozen=True)
class Query:
    """One PromQL target. ``may_be_empty`` says when no series is a correct answer."""

    expr: str
    legend: str = ""
    may_be_empty: str | None = None


@dataclass(frozen=True)
class Panel:
    title: str
    answers: str  # the question the panel answers: its description, and the docs
    unit: str
    queries: tuple[Query, ...]
    kind: Kind = "timeseries"
    width: int = 12
    height: int = 8


@dataclass(frozen=True)
class Row:
    title: str
    panels: tuple[Panel, ...]


@dataclass(frozen=True)
class Variable:
    """A query variable: ``label_values(<source>, <label>)``, multi-valued with All."""

    name: str
    label: str
    source: str


@dataclass(frozen=True)
class Spec:
    uid: str
    title: str
    slug: str  # file name under dashboards/ and docs/dashboards/
    summary: str
    variables: tuple[Variable, ...]
    rows: tuple[Row, ...]
    tags: tuple[str, ...] = field(default=("dbhealth",))

    def panels(self) -> list[Panel]:
        return [panel for row in self.rows for panel in row.panels]


def exporter_variables(*extra: Variable) -> tuple[Variable, ...]:
    """``job`` then ``instance`` from ``dbhealth_up``, then the dashboard's own."""
    return (Variable("job", "Job", "dbhealth_up"),
            Variable("instance", "Instance", 'dbhealth_up{job=~"$job"}'), *extra)


def _variable(var: Variable) -> gd.QueryVariable:
    return (gd.QueryVariable(var.name).label(var.label).datasource(DATASOURCE)
            .query(f"label_values({var.source}, {var.name})")
            .definition(f"label_values({var.source}, {var.name})")
            .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED).sort(VariableSort.ALPHABETICAL_ASC)
            .multi(True).include_all(True))


def _description(panel: Panel) -> str:
    empty = [q.may_be_empty for q in panel.queries if q.may_be_empty]
    return panel.answers + "".join(f" Empty when {reason}." for reason in empty)


def _targets(panel: Panel) -> list[prometheus.Dataquery]:
    targets = []
    for ref, query in zip("ABCDEFGHIJ", panel.queries, strict=False):
        target = (prometheus.Dataquery().expr(query.expr).legend_format(query.legend or "__auto")
                  .ref_id(ref).datasource(DATASOURCE))
        target = target.instant().format(PromQueryFormat.TABLE) if panel.kind == "table" else target.range()
        targets.append(target)
    return targets


def _panel(panel: Panel, panel_id: int) -> Any:
    builder: Any
    if panel.kind == "timeseries":
        builder = timeseries.Panel().fill_opacity(10).show_points(VisibilityMode.NEVER)
    elif panel.kind == "stat":
        builder = stat.Panel().reduce_options(gc.ReduceDataOptions().calcs(["lastNotNull"]))
    elif panel.kind == "state":
        builder = statetimeline.Panel()
    else:
        builder = table.Panel()
    builder = (builder.id(panel_id).title(panel.title).description(_description(panel))
               .unit(panel.unit).datasource(DATASOURCE).span(panel.width).height(panel.height))
    for target in _targets(panel):
        builder = builder.with_target(target)
    return builder


def build(spec: Spec) -> gd.Dashboard:
    """The SDK dashboard for ``spec``: variables first, then each row and its panels."""
    board = (gd.Dashboard(spec.title).uid(spec.uid).description(spec.summary).tags(list(spec.tags))
             .refresh("1m").time("now-6h", "now").timezone("browser").readonly()
             .tooltip(DashboardCursorSync.CROSSHAIR)
             .with_variable(gd.DatasourceVariable("datasource").label("Data source").type("prometheus")))
    for var in spec.variables:
        board = board.with_variable(_variable(var))
    ids = itertools.count(1)
    for row in spec.rows:
        board = board.with_row(gd.Row(row.title).id(next(ids)))
        for panel in row.panels:
            board = board.with_panel(_panel(panel, next(ids)))
    return board


def render(spec: Spec) -> str:
    """The committed JSON text: sorted keys, two-space indent, a final newline."""
    return JSONEncoder(sort_keys=True, indent=2).encode(build(spec).build()) + "\n"


def threshold(name: str, legend: str | None = None) -> Query:
    """The recorded threshold in force (halves on wedding days where the rule says so)."""
    return Query(f"dbhealth:threshold:{name}", legend or "threshold in force")
