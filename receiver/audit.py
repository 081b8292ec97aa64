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
