"""Audit rows: every webhook, alert state change, notification attempt and ack is one row."""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb

from .db import Connection


def record(conn: Connection, event: str, *, incident_id: int | None = None,
           alert_id: int | None = None, inbox_id: int | None = None, **detail: Any) -> None:
    """Insert one ``receiver_audit_events`` row; ``detail`` must already be free of PII."""
    conn.execute(
        "INSERT INTO receiver_audit_events (event, incident_id, alert_id, inbox_id, detail) "
        "VALUES (%s, %s, %s, %s, %s)",
        (event, incident_id, alert_id, inbox_id, Jsonb(detail)),
    )


class Trail:
    """Audit rows gathered during one webhook and written with one statement at the end.

    The webhook path is the receiver's hot path: one round trip for all its rows
    instead of one per row keeps the acknowledgement fast at 200 webhooks/s.
    """

    def __init__(self) -> None:
        self.rows: list[tuple[str, int | None, int | None, int | None, Jsonb]] = []

    def add(self, event: str, *, incident_id: int | None = None, alert_id: int | None = None,
            inbox_id: int | None = None, **detail: Any) -> None:
        self.rows.append((event, incident_id, alert_id, inbox_id, Jsonb(detail)))

    def flush(self, conn: Connection) -> None:
        if not self.rows:
            return
        columns = list(zip(*self.rows, strict=True))
        conn.execute(
            "INSERT INTO receiver_audit_events (event, incident_id, alert_id, inbox_id, detail)"
            " SELECT * FROM unnest(%s::text[], %s::bigint[], %s::bigint[], %s::bigint[],"
            " %s::jsonb[])", [list(c) for c in columns])
        self.rows.clear()
