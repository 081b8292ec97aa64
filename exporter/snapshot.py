"""What a collection produced, as the caches hold it (in-process and in Redis).

The rendered exposition text of everything collected, per-check results, the
headline numbers collectors vouched for, and the typed wedding-day state: the one
answer every reader (cache TTLs, the advisor, ``/queries``, ``/health/wedding-day``)
takes, with one fallback — unknown counts as a wedding day (fail strict, SPEC 4).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from prometheus_client.core import Metric

from . import textformat
from .wedding.calendar import WeddingDayState


@dataclass
class CheckResult:
    success: bool
    duration_seconds: float
    error: str | None = None
    privilege_missing: bool = False


@dataclass
class Snapshot:
    collected_at: float
    up: bool
    exposition: str
    checks: dict[str, CheckResult]
    headline: dict[str, float] = field(default_factory=dict)
    statements: int = 0
    duration_seconds: float = 0.0
    collected_by: str = ""
    wedding: WeddingDayState | None = None

    @property
    def status(self) -> str:
        if not self.up:
            return "down"
        return "healthy" if all(c.success for c in self.checks.values()) else "degraded"

    @property
    def wedding_day(self) -> bool:
        return wedding_day_in_force(self)

    def age(self, now: float | None = None) -> float:
        return max(0.0, (time.time() if now is None else now) - self.collected_at)

    def to_json(self) -> str:
        data = asdict(self)
        data["wedding"] = self.wedding.to_dict() if self.wedding is not None else None
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str | bytes) -> Snapshot:
        data = json.loads(raw)
        data["checks"] = {k: CheckResult(**v) for k, v in data["checks"].items()}
        wedding = data.get("wedding")
        data["wedding"] = WeddingDayState.from_dict(wedding) if wedding else None
        return cls(**data)


def wedding_day_in_force(snapshot: Snapshot | None) -> bool:
    """Whether wedding-day strictness applies: unknown (no snapshot, no state) counts as yes."""
    if snapshot is None or snapshot.wedding is None:
        return True
    return snapshot.wedding.mode


def summary(snapshot: Snapshot) -> dict[str, Any]:
    """The JSON shape of a snapshot for /health/full and the audit rows."""
    return {
        "status": snapshot.status,
        "up": snapshot.up,
        "collected_at": snapshot.collected_at,
        "collected_by": snapshot.collected_by,
        "collection_seconds": round(snapshot.duration_seconds, 6),
        "statements": snapshot.statements,
        "checks": {name: asdict(check) for name, check in snapshot.checks.items()},
        "metrics": snapshot.headline,
    }


def render(families: Sequence[Metric]) -> str:
    """The exposition text of a collection (generate_latest's bytes, rendered faster)."""
    return textformat.render(families)
