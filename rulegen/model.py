"""The schema of ``rules/thresholds.yml``, validated with every error named by its key."""

from __future__ import annotations

import re
from collections import Counter
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

# Prometheus durations: one or more <number><unit>, e.g. "5m", "1h30m".
Duration = Annotated[str, Field(pattern=r"^([0-9]+(ms|s|m|h|d|w|y))+$")]
AlertName = Annotated[str, Field(pattern=r"^DBHealth[A-Z][A-Za-z0-9]*$")]
Slug = Annotated[str, Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")]
Identifier = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
RecordName = Annotated[str, Field(pattern=r"^dbhealth:[a-z0-9_:]+$")]
Team = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]*$")]
LabelName = Annotated[str, Field(pattern=r"^[a-zA-Z_][a-zA-Z0-9_]*$")]
Text = Annotated[str, Field(min_length=1)]


_TEMPLATE_VAR = re.compile(r"\$(threshold|wedding_day)\b")


def template_vars(text: str) -> set[str]:
    """The generator-provided template variables a summary/description uses."""
    return set(_TEMPLATE_VAR.findall(text))


class Direction(StrEnum):
    HIGHER_IS_WORSE = "higher_is_worse"
    LOWER_IS_WORSE = "lower_is_worse"


class Scaling(StrEnum):
    """``stricter``: 50% stricter on wedding days; ``fixed``: the same every day (say why)."""

    STRICTER = "stricter"
    FIXED = "fixed"


class Severity(StrEnum):
    CRITICAL = "critical"
    WARNING = "warning"
    INFO = "info"


class Impact(StrEnum):
    CUSTOMER = "customer"
    NONE = "none"


class Unit(StrEnum):
    """How values and thresholds are shown in annotations."""

    RATIO = "ratio"
    SECONDS = "seconds"
    COUNT = "count"
    BOOLEAN = "boolean"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class AlertText(_Strict):
    """What every alert carries besides its condition."""

    alert: AlertName
    for_: Duration = Field(alias="for")
    severity: Severity
    team: Team
    impact: Impact
    summary: Text
    description: Text
    runbook: Slug
    source: Text


class MissingSignalAlert(AlertText):
    """The alert raised while the wedding-day mode gauge is absent."""

    @model_validator(mode="after")
    def _no_threshold(self) -> Self:
        if "threshold" in template_vars(self.summary + self.description):
            raise ValueError("$threshold is not available here: this alert has no threshold")
        return self


class WeddingDay(_Strict):
    metric: Annotated[str, Field(pattern=r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")]
    record: RecordName
    strictness: float = Field(gt=0, lt=1)
    missing: MissingSignalAlert


class Recording(_Strict):
    """A recording rule for a ratio or rate the thresholds compare against."""

    record: RecordName
    expr: Text
    why: Text


class RecoveryGrace(_Strict):
    """After ``alert`` (the database-down alert) stops firing, the thresholds marked
    ``recovery_grace: true`` stay silent for ``window`` on the same target (``join_labels``): the
    reconnect storm that follows an outage is part of that incident, already paged."""

    record: RecordName = "dbhealth:database_recovering"
    alert: AlertName = "DBHealthDatabaseDown"
    window: Duration = "5m"
    join_labels: list[LabelName] = Field(default=["job", "instance"], min_length=1)
    why: Text


class Threshold(AlertText):
    """One threshold: ``expr`` compared with the threshold in force, then ``guard`` (if any:
    judged only where it selects a series) and ``unless`` (if any: silenced only where it
    selects one). Prefer ``unless``: an absent signal then fails strict, not silent."""

    id: Identifier
    expr: Text
    guard: Text | None = None
    unless: Text | None = None
    direction: Direction
    normal: float
    unit: Unit
    wedding_day: Scaling
    fixed_reason: Text | None = None
    keep_firing_for: Duration | None = None
    recovery_grace: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.wedding_day is Scaling.FIXED and self.fixed_reason is None:
            raise ValueError("wedding_day: fixed needs a fixed_reason (why the day does not "
                             "matter)")
        if self.wedding_day is Scaling.STRICTER and self.fixed_reason is not None:
            raise ValueError("fixed_reason is only allowed with wedding_day: fixed")
        if (self.direction is Direction.LOWER_IS_WORSE and self.wedding_day is Scaling.STRICTER
                and not 0 <= self.normal <= 1):
            raise ValueError("a stricter lower_is_worse threshold must be a ratio in [0, 1] "
                             f"(its allowed shortfall halves), got normal={self.normal}")
        return self


class ThresholdFile(_Strict):
    version: int = Field(ge=1, le=1)
    group: Identifier
    interval: Duration
    runbook_base_url: Text
    wedding_day: WeddingDay
    recordings: list[Recording]
    recovery_grace: RecoveryGrace | None = None
    thresholds: list[Threshold] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> Self:
        _no_duplicates("thresholds[].id", [t.id for t in self.thresholds])
        _no_duplicates("thresholds[].alert+severity",
                       [f"{t.alert}/{t.severity.value}" for t in self.thresholds])
        _no_duplicates("recordings[].record", [r.record for r in self.recordings])
        names = {t.alert for t in self.thresholds}
        if self.wedding_day.missing.alert in names:
            raise ValueError(f"wedding_day.missing.alert {self.wedding_day.missing.alert} "
                             "is also used by a threshold")
        self._grace_consistent(names)
        return self

    def _grace_consistent(self, names: set[str]) -> None:
        graced = [t.id for t in self.thresholds if t.recovery_grace]
        grace = self.recovery_grace
        if grace is None:
            if graced:
                raise ValueError(f"recovery_grace: true needs a recovery_grace block "
                                 f"(thresholds: {', '.join(graced)})")
            return
        if grace.alert not in names:
            raise ValueError(f"recovery_grace.alert {grace.alert} is not a threshold's alert")
        if grace.record in {self.wedding_day.record, *(r.record for r in self.recordings)}:
            raise ValueError(f"recovery_grace.record {grace.record} is recorded already")
        own = [t.id for t in self.thresholds if t.recovery_grace and t.alert == grace.alert]
        if own:
            raise ValueError(f"{grace.alert} cannot wait for its own recovery "
                             f"(thresholds: {', '.join(own)})")
        _no_duplicates("recovery_grace.join_labels", grace.join_labels)

    def alert_names(self) -> list[str]:
        """Every alert name, in file order, without repeats."""
        names = [self.wedding_day.missing.alert, *(t.alert for t in self.thresholds)]
        return list(dict.fromkeys(names))

    def runbooks(self) -> dict[str, str]:
        """Runbook slug → alert name (one page per alert)."""
        pages = {self.wedding_day.missing.runbook: self.wedding_day.missing.alert}
        pages.update({t.runbook: t.alert for t in self.thresholds})
        return pages


def _no_duplicates(key: str, values: list[str]) -> None:
    repeated = sorted(value for value, count in Counter(values).items() if count > 1)
    if repeated:
        raise ValueError(f"{key} must be unique, repeated: {', '.join(repeated)}")


class ThresholdFileError(Exception):
    """thresholds.yml could not be read or is invalid; the message lists every problem."""


def load(path: Path) -> ThresholdFile:
    """Read and validate thresholds.yml; every error names its key."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ThresholdFileError(f"{path}: cannot read: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ThresholdFileError(f"{path}: not valid YAML: {exc}") from exc
    return parse(raw, source=str(path))


def parse(raw: Any, source: str = "thresholds.yml") -> ThresholdFile:
    """Validate already-loaded YAML data."""
    if not isinstance(raw, dict):
        raise ThresholdFileError(f"{source}: the top level must be a mapping")
    try:
        return ThresholdFile.model_validate(raw)
    except ValidationError as exc:
        problems = [f"  {_key(err['loc'], raw)}: {err['msg']}" for err in exc.errors()]
        raise ThresholdFileError(f"{source}: {len(problems)} problem(s):\n" + "\n".join(problems)
                                 ) from None


def _key(loc: tuple[int | str, ...], raw: Any) -> str:
    """``('thresholds', 2, 'normal')`` → ``thresholds[2](connection_x).normal``."""
    out = ""
    node = raw
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            node = node[part] if isinstance(node, list) and part < len(node) else None
            if isinstance(node, dict) and isinstance(node.get("id"), str):
                out += f"({node['id']})"
        else:
            out += f".{part}" if out else part
            node = node.get(part) if isinstance(node, dict) else None
    return out or "(top level)"

