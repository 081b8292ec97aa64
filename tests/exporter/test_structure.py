"""The exporter's shape: no import cycle, settings import only data, no module over 300 lines,
and every statement of its own names catalog objects with their schema."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import pytest
from pglast import parse_sql

from exporter import audit
from exporter.collectors import activity, archiver, backup, database, replication, tables
from exporter.sqlcheck import names_in
from exporter.statements import advisor_sql, catalog, collector, findings, gate, report, texts
from exporter.wedding import collector as wedding_collector
from exporter.wedding import override
from exporter.wedding.settings import WeddingSettings

from ..support.imports import cycles, import_graph, module_name, reachable

PACKAGE = Path(__file__).resolve().parents[2] / "exporter"
MAX_LINES = 300


def test_no_import_cycle() -> None:
    assert cycles(import_graph(PACKAGE)) == []


def test_the_cycle_finder_finds_cycles() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_settings_import_only_data() -> None:
    allowed = {"exporter", "exporter.errors", "exporter.redact", "exporter.sqlcheck",
               "exporter.collectors", "exporter.wedding", "exporter.wedding.settings",
               "exporter.wedding.calendar", "exporter.statements", "exporter.statements.settings"}
    assert reachable(import_graph(PACKAGE), "exporter.settings") <= allowed


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: module_name(p, PACKAGE.parent))
def test_no_module_over_300_lines(path: Path) -> None:
    assert len(path.read_text().splitlines()) <= MAX_LINES


def _statements() -> Iterable[tuple[str, str]]:
    yield "activity", activity.SQL
    yield "archiver", archiver.SQL
    yield "database", database.SQL
    yield "replication", replication.SQL
    yield "tables", tables.SQL
    yield "catalog", catalog.EXTENSION_SCHEMA_SQL
    yield "findings", findings.LARGE_SEQ_SCANNED_SQL
    yield "gate", gate.TRUST_SQL
    for flag in (True, False):
        yield f"statements nested={flag}", collector.build_sql("ext", include_nested=flag,
                                                               all_databases=not flag)
    yield "statement texts", texts.TEXTS_SQL.format(ext='"ext"')
    yield "report top", report.TOP_SQL.format(ext='"ext"')
    yield "report text", report.TEXT_SQL.format(ext='"ext"')
    yield "advisor candidates", advisor_sql.CANDIDATES_SQL.format(ext='"ext"')
    yield "advisor texts", advisor_sql.TEXTS_SQL.format(ext='"ext"')
    yield "advisor reset", advisor_sql.RESET_SQL.format(ext='"ext"')
    yield "advisor tables", advisor_sql.TABLES_SQL
    yield "advisor extensions", advisor_sql.EXTENSIONS_SQL
    yield "audit insert", audit.INSERT.format(table='"public".t')
    yield "audit purge", audit.PURGE.format(table='"public".t')
    yield "override set", override.SET.format(table='"public".t')
    yield "override clear", override.CLEAR.format(table='"public".t')
    yield "backup probe", backup.PROBE
    yield "backup", backup.BackupCollector("public").sql
    # The collector's own frame around the business SQL (which is checked at start).
    stub = "SELECT pg_catalog.now()::date, 1 WHERE %(today)s < %(horizon)s"
    business = WeddingSettings(weddings_by_day_sql=stub.replace("1 WHERE", "1 FROM public.w WHERE"),
                               vendors_booked_sql="SELECT 1 FROM public.w WHERE %(today)s IS NULL",
                               guests_sql="SELECT 1 FROM public.w WHERE %(today)s IS NULL")
    for flag in (True, False):
        yield f"wedding override={flag}", wedding_collector.build_statement(
            business, "public", override_table=flag)


@pytest.mark.parametrize(("name", "sql"), list(_statements()), ids=lambda v: str(v)[:30])
def test_own_sql_names_every_function_and_table_with_its_schema(name: str, sql: str) -> None:
    parseable = re.sub(r"%\((\w+)\)s", "$1", sql)
    names = names_in(parse_sql(parseable))
    assert names.unqualified_relations() == []
    # pg_catalog's, or an extension's in the schema pg_extension names ("ext" here)
    assert {schema for schema, _ in names.functions} <= {"pg_catalog", "ext"}
