"""Retention: is the policy being kept? The verifier reports; it never deletes anything.

Policy (per region): at least ``min_count`` backups; one backup on each of the last
``daily`` local days and in each of the last ``weekly`` ISO weeks, counted back from
the newest backup; nothing older than ``max_age_days`` (an expiry that stopped
running keeps data longer than promised).
"""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from ..model import CheckOutcome, Finding, Status
from ..settings import RetentionSettings
from .context import RunContext

CHECK = "retention"


def violations(times: list[datetime], policy: RetentionSettings, now: datetime, tz: ZoneInfo) -> list[str]:
    """Pure: every way the backups taken at ``times`` break ``policy``."""
    found: list[str] = []
    if len(times) < policy.min_count:
        found.append(f"{len(times)} backups, the policy keeps at least {policy.min_count}")
    if not times:
        return found
    days = {t.astimezone(tz).date() for t in times}
    newest_day = max(days)
    missing_days = [newest_day - timedelta(days=i) for i in range(policy.daily)
                    if newest_day - timedelta(days=i) not in days]
    if missing_days:
        found.append("no backup on " + ", ".join(d.isoformat() for d in sorted(missing_days)[:7])
                     + (f" (+{len(missing_days) - 7} more days)" if len(missing_days) > 7 else ""))
    weeks = {_week(d) for d in days}
    wanted_weeks = [_week(newest_day - timedelta(weeks=i)) for i in range(policy.weekly)]
    missing_weeks = [w for w in wanted_weeks if w not in weeks]
    if missing_weeks:
        found.append("no backup in ISO week " + ", ".join(f"{y}-W{n:02d}" for y, n in sorted(missing_weeks)))
    oldest = min(times)
    age_days = (now - oldest).total_seconds() / 86_400
    if age_days > policy.max_age_days:
        found.append(f"oldest backup is {age_days:.0f} days old, the policy keeps {policy.max_age_days:.0f} "
                     "(expiry is not running)")
    return found


def _week(day: date) -> tuple[int, int]:
    iso = day.isocalendar()
    return iso.year, iso.week


def run(ctx: RunContext) -> CheckOutcome:
    started = time.monotonic()
    tz = ZoneInfo(ctx.settings.timezone)
    policy = ctx.settings.retention
    findings: list[Finding] = []
    parts = []
    for role, source in ctx.sources.items():
        missing = ctx.unavailable(CHECK, role)
        if missing is not None:
            findings.append(missing)
            parts.append(f"{missing.region}: {missing.detail}")
            continue
        backups = ctx.inventory.backups.get(role, [])
        problems = violations([b.taken_at for b in backups], policy, ctx.now, tz)
        policy_data = policy.model_dump()
        if not problems:
            findings.append(Finding(check=CHECK, status=Status.PASSED, region=source.region,
                                    backup_id=backups[0].backup_id if backups else "-",
                                    data={"backups": len(backups), "policy": policy_data}))
            parts.append(f"{source.region}: {len(backups)} backups keep the policy")
        for problem in problems:
            findings.append(Finding(check=CHECK, status=Status.FAILED, region=source.region,
                                    detail=problem, data={"backups": len(backups), "policy": policy_data}))
        if problems:
            parts.append(f"{source.region}: " + "; ".join(problems))
    return CheckOutcome(CHECK, findings, "; ".join(parts), time.monotonic() - started)
