"""A synthetic week through the shipped rules, judged by promtool itself.

Monday 00:00 to the next Monday 00:00, one sample a minute for every series the
shipped rules read, evaluated at the shipped group interval (10 s). The week is
written here as data: a load curve per day, the metrics it drives, and three
incidents. Everything else is healthy on purpose: busy weekday evenings close to
(but under) the normal thresholds, a quiet Saturday under the halved wedding-day
thresholds, nightly backups and verifications, counters rising with the load.

Wedding-day mode is on for Saturday only, so it flips twice at midnight
(Friday -> Saturday 0 -> 1, Saturday -> Sunday 1 -> 0), and an incident spans
each flip with a value above both thresholds: it must stay one alert.

The committed ``rules/tests/week/week.test.yml`` is generated from this module;
a test fails when it differs. Regenerate with ``.venv/bin/python -m tests.rules.week``
and run it without Python: ``promtool test rules rules/tests/week/week.test.yml``.

Time 0 is promtool's epoch (1970-01-01, a Thursday); the rules use no calendar
functions, so "Monday" is simply the first day of the scenario.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .alert_cases import CASES
from .alert_cases import series as series  # re-exported: the week's tests name series by it
from .promtool_suite import EVALUATION_INTERVAL as EVALUATION_INTERVAL  # re-exported
from .promtool_suite import REPO as REPO  # re-exported
from .promtool_suite import expected

COMMITTED = REPO / "rules" / "tests" / "week" / "week.test.yml"
RELATIVE_RULES = "../../dbhealth.rules.yml"  # as promtool resolves it from the test file
DAY = 1440  # minutes
WEEK = 7 * DAY
SAMPLES = WEEK + 1  # minute 0 .. minute 10080 (the next Monday 00:00) inclusive

Values = list[float | None]  # one per minute; None: the series is not exported


def at(day: str, hhmm: str) -> int:
    """Minutes since Monday 00:00 of ``day`` at ``hhmm``."""
    hours, minutes = hhmm.split(":")
    return DAY_NAMES.index(day) * DAY + int(hours) * 60 + int(minutes)


# --- the week: load per day --------------------------------------------------------------

@dataclass(frozen=True)
class Day:
    name: str
    wedding_day: bool
    load: tuple[tuple[float, float], ...]  # (hour, load 0..1), linear in between


WEEKDAY = ((0, 0.10), (6, 0.05), (8, 0.35), (12, 0.50), (14, 0.45), (17, 0.60),
           (19, 1.00), (21, 0.95), (22, 0.50), (23, 0.20), (24, 0.10))
# Saturday: the couples are at their weddings; vendors check timelines and guest lists.
SATURDAY = ((0, 0.10), (6, 0.04), (9, 0.20), (12, 0.35), (15, 0.45), (18, 0.40),
            (21, 0.30), (24, 0.10))
# Sunday evening: planning resumes, almost a weekday.
SUNDAY = ((0, 0.10), (7, 0.05), (10, 0.30), (15, 0.40), (19, 0.90), (21, 0.80),
          (23, 0.20), (24, 0.10))

DAYS = (
    Day("Monday", False, WEEKDAY), Day("Tuesday", False, WEEKDAY),
    Day("Wednesday", False, WEEKDAY), Day("Thursday", False, WEEKDAY),
    Day("Friday", False, WEEKDAY), Day("Saturday", True, SATURDAY),
    Day("Sunday", False, SUNDAY),
)
DAY_NAMES = tuple(d.name for d in DAYS)


def load_at(minute: int) -> float:
    day = DAYS[min(minute // DAY, 6)] if minute < WEEK else DAYS[0]
    hour = (minute - (minute // DAY) * DAY) / 60 if minute < WEEK else 0.0
    knots = day.load
    for (h0, l0), (h1, l1) in itertools.pairwise(knots):
        if h0 <= hour <= h1:
            return l0 + (l1 - l0) * (hour - h0) / (h1 - h0)
    raise ValueError(hour)


def hourly_load(minute: int) -> float:
    """The load in the middle of the minute's hour: counters grow at a rate set per hour."""
    return load_at(min(minute - minute % 60 + 30, WEEK))


# --- incidents ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Incident:
    name: str
    day: str
    start: str  # HH:MM
    minutes: int
    story: str

    @property
    def first(self) -> int:
        return at(self.day, self.start)

    @property
    def end(self) -> int:  # first minute after it
        return self.first + self.minutes

    def covers(self, minute: int) -> bool:
        return self.first <= minute < self.end


IDLE_OVER_MIDNIGHT = Incident(
    "idle session across Friday -> Saturday midnight", "Friday", "23:50", 30,
    "a support engineer's psql session is left idle inside a transaction at 23:50 and "
    "closed at 00:20; its age passes the normal 5 min at 23:56, long before the flip halves it")
OUTAGE = Incident(
    "Saturday database outage", "Saturday", "15:30", 8,
    "PostgreSQL is OOM-killed mid-afternoon on the wedding day and answers again after 8 "
    "minutes of crash recovery: dbhealth_up 0, every collector failing, the database's series "
    "gone; afterwards its statistics counters restart from 0, clients reconnect (connections "
    "0.55 for 3 min, inside the recovery grace), the standby catches up (25 s lag for 3 min) "
    "and the cache is cold")
EXPORT_OVER_MIDNIGHT = Incident(
    "stuck export across Saturday -> Sunday midnight", "Saturday", "23:40", 45,
    "a vendor's CSV export runs one transaction from 23:40 to 00:25; its age passes the "
    "wedding-day 5 min at 23:46 and is far above the normal 10 min when the mode flips back")
INCIDENTS = (IDLE_OVER_MIDNIGHT, OUTAGE, EXPORT_OVER_MIDNIGHT)


@dataclass(frozen=True)
class Page:
    """One expected alert onset over the week (critical pages, warnings make tickets)."""

    alertname: str
    severity: str
    active_at: int  # minute the alert becomes pending
    for_minutes: int  # its `for:`
    incident: Incident

    @property
    def onset(self) -> int:  # minute it becomes firing: the page (or ticket) is sent
        return self.active_at + self.for_minutes


EXPECTED_PAGES = (
    Page("DBHealthIdleInTransactionTooOld", "warning", at("Friday", "23:56"), 2,
         IDLE_OVER_MIDNIGHT),
    Page("DBHealthDatabaseDown", "critical", at("Saturday", "15:30"), 1, OUTAGE),
    Page("DBHealthLongRunningTransaction", "warning", at("Saturday", "23:46"), 2,
         EXPORT_OVER_MIDNIGHT),
)
PAGE_BUDGET_SECONDS = 90  # issue 12: the page within 90 s of the database going away

COLLECTORS = ("activity", "archiver", "backup", "database", "replication", "statements",
              "tables", "wedding")
DOMAINS = ("guest_list", "venue_availability", "other")
CHECKS = ("integrity", "restore", "cross_region")
REGION = "eu-west-2"


def down(minute: int) -> bool:
    return OUTAGE.covers(minute)


def after_outage(minute: int) -> int | None:
    """Minutes since the database answered again, None before."""
    return minute - OUTAGE.end if minute >= OUTAGE.end else None


# --- value builders (pure) ---------------------------------------------------------------

def from_db(fn: Callable[[int], float]) -> Values:
    """A series the exporter reads from the database: not exported while it is down."""
    return [None if down(m) else fn(m) for m in range(SAMPLES)]


def always(fn: Callable[[int], float]) -> Values:
    return [fn(m) for m in range(SAMPLES)]


def counter(per_minute: Callable[[int], float], *, resets: bool) -> Values:
    """A counter growing by ``per_minute(m)`` each minute; a database counter restarts at 0
    after the crash (PostgreSQL discards its statistics in crash recovery)."""
    out: Values = []
    total = 0.0
    for m in range(SAMPLES):
        if resets and down(m):
            out.append(None)
            total = 0.0
            continue
        out.append(total)
        total += per_minute(m)
    return out


def events(times: Iterable[int]) -> Callable[[int], float]:
    marks = set(times)
    return lambda m: 1.0 if m + 1 in marks else 0.0


def every_day(*hhmm: str, days: Iterable[str] = DAY_NAMES) -> list[int]:
    return [at(d, t) for d in days for t in hhmm]


def connections(m: int) -> float:
    since = after_outage(m)
    if since is not None and since < 3:
        return 0.55  # the pools reconnect at once: over both wedding-day limits (40%, 45%);
        # silent only thanks to the recovery grace (rules/thresholds.yml, recovery_grace)
    return 0.05 + 0.65 * load_at(m)


def idle_in_transaction_age(m: int) -> float:
    base = 5 + 55 * load_at(m)
    if IDLE_OVER_MIDNIGHT.covers(m):
        return max(base, 60.0 * (m - IDLE_OVER_MIDNIGHT.first))
    return base


def nightly_rollup(m: int) -> float:
    """The 03:00 statistics rollup runs one 4-minute transaction every night."""
    into = m % DAY - 180
    return 60.0 * into if 0 <= into <= 4 else 0.0


def active_transaction_age(m: int) -> float:
    base = max(2 + 8 * load_at(m), nightly_rollup(m))
    if EXPORT_OVER_MIDNIGHT.covers(m):
        return max(base, 60.0 * (m - EXPORT_OVER_MIDNIGHT.first))
    return base


def lock_waiters(m: int) -> float:
    return float(round(3 * hourly_load(m)))  # 3 on weekday evenings (limit 5, 2.5 Saturday)


def replication_lag(m: int) -> float:
    since = after_outage(m)
    if since is not None and since < 3:
        return 25.0  # the standby reconnects and replays the crash recovery's WAL
    return 0.2 + 2.8 * load_at(m)


def block_reads_share(m: int) -> float:
    """Share of block accesses read from disk: 1%, 1.5% during the rollup, cold after the crash."""
    since = after_outage(m)
    if since is not None and since < 5:
        return 0.10 - 0.018 * since  # 10% -> 2.8% over five minutes while the cache warms
    return 0.015 if 180 <= m % DAY < 240 else 0.01


def accesses(m: int) -> float:
    return float(round(100_000 + 900_000 * hourly_load(m)))


def transactions(m: int) -> float:
    return float(round(600 + 5400 * hourly_load(m)))


def calls(domain: str) -> Callable[[int], float]:
    scale = {"guest_list": 400, "venue_availability": 150, "other": 250}[domain]
    return lambda m: float(round(20 + scale * hourly_load(m)))


def exec_seconds(domain: str) -> Callable[[int], float]:
    """Mean time per call 20 ms at night, 200 ms at the busiest (limit 500 ms, 250 ms)."""
    per_call = calls(domain)
    return lambda m: per_call(m) * (0.02 + 0.18 * hourly_load(m))


def dead_tuples(m: int) -> float:
    """Dead rows of guests grow with the writes until autovacuum runs every 4 hours."""
    return float(round(1500 + 9000 * (m % 240) / 240 * (0.3 + hourly_load(m))))


def live_tuples(m: int) -> float:
    return 1_200_000 + 10.0 * m


def stamp(schedule: list[int], offset_s: float) -> Callable[[int], float]:
    """A timestamp gauge: the time (s) of the newest scheduled run that finished by minute m;
    the first run before the week is the day before the first scheduled one."""
    def fn(m: int) -> float:
        done = [t for t in schedule if t <= m]
        last = done[-1] if done else schedule[0] - DAY
        return last * 60 + offset_s
    return fn


def build_series() -> dict[str, Values]:
    s = series
    out: dict[str, Values] = {
        s("dbhealth_up"): always(lambda m: 0.0 if down(m) else 1.0),
        s("dbhealth_wedding_day_mode"): always(
            lambda m: 1.0 if DAYS[min(m // DAY, 6)].wedding_day and m < WEEK else 0.0),
        s("dbhealth_connection_utilization_ratio"): from_db(connections),
        s("dbhealth_oldest_transaction_age_seconds", state="active"):
            from_db(active_transaction_age),
        s("dbhealth_oldest_transaction_age_seconds", state="idle_in_transaction"):
            from_db(idle_in_transaction_age),
        s("dbhealth_lock_waiting_sessions"): from_db(lock_waiters),
        s("dbhealth_replication_lag_seconds", replica="standby-1"): from_db(replication_lag),
        s("dbhealth_deadlocks_total", datname="wedsync"): counter(
            events(every_day("19:12", "20:47", days=DAY_NAMES[:5]) + every_day("11:05")),
            resets=True),
        s("dbhealth_blocks_hit_total", datname="wedsync"): counter(
            lambda m: accesses(m) * (1 - block_reads_share(m)), resets=True),
        s("dbhealth_blocks_read_total", datname="wedsync"): counter(
            lambda m: accesses(m) * block_reads_share(m), resets=True),
        s("dbhealth_transactions_total", datname="wedsync", outcome="commit"): counter(
            lambda m: transactions(m) * 0.97, resets=True),
        s("dbhealth_transactions_total", datname="wedsync", outcome="rollback"): counter(
            lambda m: transactions(m) * 0.03, resets=True),
        s("dbhealth_table_dead_tuples", table="guests"): from_db(dead_tuples),
        s("dbhealth_table_live_tuples", table="guests"): from_db(live_tuples),
        s("dbhealth_wal_archive_enabled"): from_db(lambda m: 1.0),
        # archive_timeout 60 s: a segment is archived every minute, 5 s before the scrape.
        s("dbhealth_wal_archive_last_success_timestamp_seconds"): from_db(
            lambda m: m * 60.0 - 5),
        s("dbhealth_wal_archive_failures_total"): counter(
            events([at("Wednesday", "11:20")]), resets=True),  # one transient failure
        # Nightly base backup 02:00-02:35 and verification 04:00-04:10; the weekly restore
        # drill (Wednesday 05:00) took 21 min, then 22 min.
        s("dbhealth_backup_last_success_timestamp_seconds", region=REGION): from_db(
            stamp(every_day("02:35"), 0.0)),
        s("dbhealth_backup_last_verification_timestamp_seconds"): from_db(
            stamp(every_day("04:10"), 0.0)),
        s("dbhealth_backup_restore_duration_seconds"): from_db(
            lambda m: 1260.0 if m < at("Wednesday", "05:22") else 1320.0),
        # Bots knock on the receiver and the exporter a few times a day (limits 20, 10).
        s("dbhealth_receiver_auth_failures_total", route="/api/v1/alerts"): counter(
            events(every_day("03:17", "14:41")), resets=False),
        s("dbhealth_exporter_auth_failures_total", route="/queries"): counter(
            events(every_day("09:02", "21:33")), resets=False),
    }
    for check in CHECKS:
        out[s("dbhealth_backup_verification_success", check=check)] = from_db(lambda m: 1.0)
    for domain in DOMAINS:
        out[s("dbhealth_query_calls_total", domain=domain)] = counter(calls(domain),
                                                                        resets=True)
        out[s("dbhealth_query_exec_seconds_total", domain=domain)] = counter(
            exec_seconds(domain), resets=True)
    for name in COLLECTORS:
        out[s("dbhealth_collector_success", collector=name)] = always(
            lambda m: 0.0 if down(m) else 1.0)
        out[s("dbhealth_collector_privilege_missing", collector=name)] = always(lambda m: 0.0)
    return out


# --- promtool notation -------------------------------------------------------------------

def number(x: float) -> str:
    """Fixed point (promtool's notation has no exponents), at most 9 decimals."""
    text = f"{x:.9f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def notation(values: Values) -> str:
    """Minute values as promtool's expanding notation: ``a+bxN`` runs, ``_`` gaps and a
    ``stale`` marker where an exported series disappears (as a real scrape records it)."""
    terms: list[str] = []
    i = 0
    while i < len(values):
        v = values[i]
        if v is None:
            j = i
            while j + 1 < len(values) and values[j + 1] is None:
                j += 1
            terms.append("stale" if i > 0 else "_")
            if j > i:
                terms.append(f"_x{j - i}")
            i = j + 1
            continue
        j = i
        nxt = values[i + 1] if i + 1 < len(values) else None
        delta = (nxt - v) if nxt is not None else 0.0
        while j + 1 < len(values):
            a, b = values[j], values[j + 1]
            if a is None or b is None or not math.isclose(b - a, delta, rel_tol=0,
                                                          abs_tol=1e-6):
                break
            j += 1
        if j == i:
            terms.append(number(v))
        else:
            sign = "-" if delta < 0 else "+"
            step = "" if delta == 0 else f"{sign}{number(abs(delta))}"
            terms.append(f"{number(v)}{step}x{j - i}")
        i = j + 1
    return " ".join(terms)


# --- the promtool test -------------------------------------------------------------------

def minutes_text(minute: int, seconds: int = 0) -> str:
    return f"{minute * 60 + seconds}s"


ONSETS = ('sum by (alertname, severity) (sum_over_time((ALERTS{alertstate="firing"} '
          'unless ALERTS{alertstate="firing"} offset 1m)[%s:1m]))')


def week_doc(rules_file: str = RELATIVE_RULES) -> dict[str, Any]:
    counts: dict[tuple[str, str], int] = {}
    for page in EXPECTED_PAGES:
        counts[page.alertname, page.severity] = counts.get((page.alertname, page.severity),
                                                           0) + 1
    page_list = [{"labels": f'{{alertname="{a}",severity="{s}"}}', "value": n}
                 for (a, s), n in sorted(counts.items())]
    friday_evening = at("Friday", "23:50")
    expr_tests: list[dict[str, Any]] = [
        # The normal week: Monday 00:00 to Friday 23:50, no alert at all (page or ticket).
        {"expr": ONSETS % f"{friday_evening}m", "eval_time": minutes_text(friday_evening),
         "exp_samples": []},
        # The whole week: exactly the expected onsets, each once.
        {"expr": ONSETS % f"{WEEK}m", "eval_time": minutes_text(WEEK), "exp_samples": page_list},
    ]
    for page in EXPECTED_PAGES:
        state = (f'max by (alertname) (ALERTS_FOR_STATE{{alertname="{page.alertname}"}})')
        active_at = page.active_at * 60
        # Identity across the flip: the same alert (same activeAt) before and after midnight.
        checks = [page.onset, page.incident.end - 1]
        if page.incident is not OUTAGE:
            checks.insert(1, (page.incident.first // DAY + 1) * DAY + 1)
        for minute in checks:
            expr_tests.append({"expr": state, "eval_time": minutes_text(minute),
                               "exp_samples": [{"labels": f'{{alertname="{page.alertname}"}}',
                                                "value": active_at}]})
    down_case = next(c for c in CASES if c.alert == "DBHealthDatabaseDown")
    fire = next(f for sc in down_case.scenarios if sc.mode == 1 for f in sc.fires)
    budget = [
        # Pending only 45 s after the database went away; firing within the 90 s budget.
        {"eval_time": minutes_text(OUTAGE.first, 45), "alertname": "DBHealthDatabaseDown",
         "exp_alerts": []},
        {"eval_time": minutes_text(OUTAGE.first, PAGE_BUDGET_SECONDS),
         "alertname": "DBHealthDatabaseDown",
         "exp_alerts": [expected(down_case, fire, "0", wedding_day=True)]},
        {"eval_time": minutes_text(OUTAGE.end, 15), "alertname": "DBHealthDatabaseDown",
         "exp_alerts": []},
    ]
    values = build_series()
    return {
        "rule_files": [rules_file],
        "evaluation_interval": EVALUATION_INTERVAL,
        "tests": [{
            "name": "a synthetic week: " + "; ".join(i.name for i in INCIDENTS),
            "interval": "1m",
            "input_series": [{"series": name, "values": notation(v)}
                             for name, v in sorted(values.items())],
            "alert_rule_test": budget,
            "promql_expr_test": expr_tests,
        }],
    }


def render(doc: dict[str, Any]) -> str:
    header = ("# Generated from tests/rules/week.py: do not edit; regenerate with\n"
              "# .venv/bin/python -m tests.rules.week   "
              "(run: promtool test rules rules/tests/week/week.test.yml)\n")
    return header + yaml.safe_dump(doc, sort_keys=False, width=100000)


def committed_text() -> str:
    return render(week_doc())


def write(path: Path = COMMITTED) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(committed_text(), encoding="utf-8")


if __name__ == "__main__":
    write()
    print(f"wrote {COMMITTED.relative_to(REPO)}")
