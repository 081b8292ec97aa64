"""No data in error text, and business SQL checked before it ever runs."""

from __future__ import annotations

import logging
import subprocess
import sys

import psycopg
import pytest

from exporter.errors import ConfigError, strip_quoted
from exporter.settings import load_settings

from ..support.polling import wait_until
from ..support.scrape import get_json, scrape
from .conftest import ExporterFactory, base_url

# Casts the first guest's email to an integer: the server's message quotes the email.
LEAKY_GUESTS_SQL = ("SELECT min(g.email::int) FROM public.guests g "
                    "WHERE %(today)s::date IS NOT NULL")


@pytest.mark.parametrize("message, clean", [
    ('invalid input syntax for type integer: "alice@example.com"',
     'invalid input syntax for type integer: "?"'),
    ("value 'o''brien' is wrong", 'value "?" is wrong'),
    ('cut off: "alice@exam', 'cut off: "?"'),
    ("division by zero", "division by zero"),
])
def test_quoted_values_are_stripped(message: str, clean: str) -> None:
    assert strip_quoted(message) == clean


def test_a_cast_error_never_quotes_a_guest_into_json_logs_or_audit_rows(
        make_exporter: ExporterFactory, demo_dsn: str,
        caplog: pytest.LogCaptureFixture) -> None:
    with psycopg.connect(demo_dsn) as conn:
        row = conn.execute("SELECT email FROM guests ORDER BY email LIMIT 1").fetchone()
    assert row is not None
    email = row[0]
    caplog.set_level(logging.DEBUG)
    exporter = make_exporter(demo_dsn, wedding={"guests_sql": LEAKY_GUESTS_SQL},
                             audit={"enabled": True, "interval_seconds": 10})
    url = base_url(exporter)
    samples = scrape(url)
    assert samples.value("dbhealth_collector_success", collector="wedding") == 0
    status, full = get_json(url + "/health/full")
    assert status == 200
    error = full["checks"]["wedding"]["error"]
    assert "22P02" in error and '"?"' in error
    with psycopg.connect(demo_dsn) as conn:
        audit = wait_until(lambda: conn.execute(
            "SELECT metrics::text || alerts::text FROM health_monitoring_audit").fetchone(),
            what="the audit row")[0]
    assert "22P02" in audit
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "22P02" in logged
    for text in (str(full), audit, logged, samples.text):
        assert email not in text and "@example" not in text


@pytest.mark.parametrize("sql, problem", [
    # breaks out of the subquery it is embedded in
    ("SELECT count(*) FROM public.guests WHERE %(today)s IS NOT NULL) UNION (SELECT 1",
     "not valid SQL"),
    ("SELECT count(*) FROM public.guests WHERE %(today)s IS NOT NULL; DROP TABLE public.guests",
     "exactly one SELECT"),
    ("SELECT count(*) FROM guests WHERE %(today)s IS NOT NULL", "unqualified: guests"),
    ("SELECT public.planted(%(today)s)", "found: public.planted"),
    ("SELECT count(*) FROM public.guests WHERE %(today)s IS NOT NULL FOR UPDATE", "lock rows"),
    ("WITH d AS (DELETE FROM public.guests RETURNING 1) SELECT count(*) FROM d "
     "WHERE %(today)s IS NOT NULL", "must not write"),
    ("SELECT count(*) FROM public.guests WHERE %(tomorrow)s IS NOT NULL", "unknown placeholder"),
])
def test_business_sql_is_parsed_and_checked_at_start(sql: str, problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(environ={}, overrides={"wedding": {"guests_sql": sql}})
    text = str(info.value)
    assert "wedding.guests_sql" in text and problem in text, text


def test_check_config_reports_every_business_sql_problem_at_once() -> None:
    env = {"PATH": "/usr/bin:/bin",
           "DBHEALTH_WEDDING__GUESTS_SQL": "SELECT count(*) FROM guests WHERE %(today)s > 0",
           "DBHEALTH_STATEMENTS__UPCOMING_WEDDINGS_SQL": "SELECT 1) --",
           "DBHEALTH_WEDDING__VENDORS_BOOKED_SQL": "SELECT x.f(%(today)s)"}
    done = subprocess.run([sys.executable, "-m", "exporter", "check-config"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    for key in ("wedding.guests_sql", "statements.upcoming_weddings_sql",
                "wedding.vendors_booked_sql"):
        assert key in done.stderr, done.stderr


def test_a_trailing_comment_in_business_sql_cannot_swallow_the_statement(
        make_exporter: ExporterFactory, demo_dsn: str) -> None:
    sql = ("SELECT count(*) FROM public.guests g JOIN public.weddings w ON w.id = g.wedding_id "
           "WHERE w.wedding_date = %(today)s -- today's guests")
    exporter = make_exporter(demo_dsn, wedding={"guests_sql": sql})
    samples = scrape(base_url(exporter))
    assert samples.value("dbhealth_collector_success", collector="wedding") == 1
    assert samples.value("dbhealth_guests_today") is not None


def test_the_default_business_sql_passes_its_own_checks() -> None:
    from exporter.sqlcheck import check_business_sql
    from exporter.statements.settings import DEFAULT_UPCOMING_WEDDINGS_SQL
    from exporter.wedding import settings as wedding

    for sql in (wedding.DEFAULT_WEDDINGS_BY_DAY_SQL, wedding.DEFAULT_VENDORS_BOOKED_SQL,
                wedding.DEFAULT_GUESTS_SQL):
        check_business_sql(sql, ("today", "horizon"))
    check_business_sql(DEFAULT_UPCOMING_WEDDINGS_SQL, ("tz",))
