"""``--schedule``: run at the cron times in the configured time zone (default 02:00 daily).

For deployments without cron or a Kubernetes CronJob. The next time is computed in
local time by croniter, so 02:00 stays 02:00 across daylight-saving changes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from croniter import croniter


def next_run(cron: str, after: datetime, tz: ZoneInfo) -> datetime:
    """Pure: the first fire time of ``cron`` strictly after ``after``, as an aware datetime."""
    return croniter(cron, after.astimezone(tz)).get_next(datetime)


def _utc_now() -> datetime:
    return datetime.now(ZoneInfo("UTC"))


def run_forever(cron: str, tz: ZoneInfo, job: Callable[[], object], stop: threading.Event,
                log: Callable[[str], None], now: Callable[[], datetime] = _utc_now) -> None:
    """Call ``job`` at every fire time until ``stop`` is set (SIGTERM/SIGINT)."""
    while not stop.is_set():
        due = next_run(cron, now(), tz)
        log(f"schedule: next run at {due.isoformat()}")
        if stop.wait(max(0.0, (due - now()).total_seconds())):
            return
        job()
