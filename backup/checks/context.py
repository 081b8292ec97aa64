"""What every check gets: settings, the sources per region role, this run's inventory and clock."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from ..model import Finding, Inventory, Progress, Status
from ..settings import Settings
from ..sources.base import BackupSource


@dataclass
class RunContext:
    settings: Settings
    sources: dict[str, BackupSource]      # "primary", "replica"
    run_id: str
    now: datetime
    progress: Progress
    inventory: Inventory = field(default_factory=Inventory)
    # (region, relative key) -> observed hex digest, from this run's integrity check
    observed: dict[tuple[str, str], str] = field(default_factory=dict)
    # (backup_id, region) -> verdict of this run's integrity / restore / completeness checks
    verdicts: dict[tuple[str, str], Status] = field(default_factory=dict)

    def record(self, findings: list[Finding]) -> None:
        """Remember per-backup verdicts for freshness ("newest *verified* backup")."""
        for f in findings:
            if f.region is None or f.backup_id == "-":
                continue
            key = (f.backup_id, f.region)
            previous = self.verdicts.get(key, Status.PASSED)
            self.verdicts[key] = Status.FAILED if Status.FAILED in (previous, f.status) else (
                Status.ERROR if Status.ERROR in (previous, f.status) else Status.PASSED)

    def unavailable(self, check: str, role: str) -> Finding | None:
        """An ERROR finding when ``role``'s region is not configured or could not be listed."""
        region = self.inventory.regions.get(role, role)
        if role in self.inventory.errors:
            return Finding(check=check, status=Status.ERROR, region=region,
                           detail=self.inventory.errors[role])
        if role not in self.sources:
            return Finding(check=check, status=Status.ERROR, region=None,
                           detail=f"no {role} region configured (s3.{role})")
        return None
