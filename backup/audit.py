"""``backup_verification_audit`` rows (SPEC section 7), and one run at a time.

The table and its added columns come from the exporter's migrations
(``exporter/migrations/0003_backup_verification_audit.sql``): the exporter reads
these rows back as metrics. Each check's findings are written in one transaction as
soon as the check is done, so a run that dies midway still leaves what it learned.
The run lock is a session advisory lock on the audit database, held by the run's
own connection: it goes away with the process, whatever happens to it.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import psycopg

from . import __version__
from .db import Conn, admin_connection, connect, describe_error
from .errors import CouldNotRun
from .model import Finding, Status

TABLE = "public.backup_verification_audit"
LOCK_SQL = "SELECT pg_catalog.pg_try_advisory_lock(pg_catalog.hashtext('dbhealth-backup-verify'))"
COLUMNS = ("run_id", "check_type", "backup_id", "verification_status", "verification_time",
           "region", "backup_kind", "object_key", "backup_time", "file_size", "checksum_valid",
           "checksum_algorithm", "expected_checksum", "observed_checksum", "duration_seconds",
           "error_detail", "details", "verified_by")
PURGE_SQL = f"""
DELETE FROM {TABLE} WHERE id IN (
    SELECT id FROM {TABLE} WHERE verification_time < now() - make_interval(days => %s) LIMIT 10000)
"""
LATEST_VERDICTS_SQL = f"""
SELECT DISTINCT ON (backup_id) backup_id, verification_status
FROM {TABLE}
WHERE check_type = %s AND region = %s
ORDER BY backup_id, verification_time DESC, id DESC
"""


class AuditLog:
    """The run's own connection: holds the run lock and writes every check's rows."""

    def __init__(self, conn: Conn, run_id: str):
        self.conn = conn
        self.run_id = run_id
        self.verified_by = f"{socket.gethostname()} dbhealth-backup-verify {__version__}"
        self.rows_written = 0

    def write(self, findings: list[Finding], at: datetime, kind: str = "logical") -> None:
        statement = f"COPY {TABLE} ({', '.join(COLUMNS)}) FROM STDIN"
        with self.conn.transaction(), self.conn.cursor() as cur, cur.copy(statement) as copy:
            for f in findings:
                copy.write_row(self._row(f, at, kind))
        self.rows_written += len(findings)

    def _row(self, f: Finding, at: datetime, kind: str) -> tuple[object, ...]:
        return (self.run_id, f.check, f.backup_id[:255], f.status.value, at, f.region, f.backup_kind or kind,
                f.object_key, f.backup_time, f.file_size, f.checksum_valid, f.algorithm, f.expected,
                f.observed, f.duration_seconds, f.detail, json.dumps(dict(f.data), default=str),
                self.verified_by)

    def purge(self, retention_days: int) -> int:
        with self.conn.transaction():
            return self.conn.execute(PURGE_SQL, (retention_days,)).rowcount


@contextmanager
def run_lock(dsn: str, run_id: str, connect_timeout: float) -> Iterator[AuditLog]:
    """The audit log of one run; CouldNotRun when the database is down or another run holds the lock."""
    try:
        conn = connect(dsn, connect_timeout, read_only=False)
    except psycopg.Error as exc:
        raise CouldNotRun(f"audit database unreachable: {describe_error(exc)}") from exc
    with conn:
        try:
            row = conn.execute(LOCK_SQL).fetchone()
            if not (row and row[0]):
                raise CouldNotRun("another verification run holds the lock (one run at a time)")
            if conn.execute("SELECT pg_catalog.to_regclass(%s)", (TABLE,)).fetchone() == (None,):
                raise CouldNotRun(f"{TABLE} does not exist: run `dbhealth-exporter migrate` first")
        except psycopg.Error as exc:
            raise CouldNotRun(f"audit database: {describe_error(exc)}") from exc
        yield AuditLog(conn, run_id)


def latest_verdicts(dsn: str, check: str, region: str) -> dict[str, Status]:
    """The latest verdict per backup of one check in one region, from earlier runs."""
    with admin_connection(dsn, 5.0) as conn:
        rows = conn.execute(LATEST_VERDICTS_SQL, (check, region)).fetchall()
    return {backup_id: Status(status) for backup_id, status in rows
            if status in {s.value for s in Status}}
