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


THIS_WEBHOOK = -1  # inbox_id of a row that belongs to the webhook being recorded
_ROWS = ("jsonb_to_recordset(%s) AS r(event text, incident_id bigint, alert_id bigint,"
         " inbox_id bigint, detail jsonb)")


class Trail:
    """Audit rows gathered during one webhook and written with one statement at the end.

    The webhook path is the receiver's hot path: one round trip for all its rows
    instead of one per row keeps the acknowledgement fast at 200 webhooks/s.
    """

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def add(self, event: str, *, incident_id: int | None = None, alert_id: int | None = None,
            inbox_id: int | None = None, **detail: Any) -> None:
        self.rows.append({"event": event, "incident_id": incident_id, "alert_id": alert_id,
                          "inbox_id": inbox_id, "detail": detail})

    def flush(self, conn: Connection) -> None:
        if not self.rows:
            return
        # One JSON document (encoded by the C json module) rather than five typed arrays:
        # psycopg dumps arrays element by element in Python, a tenth of a webhook's CPU.
        conn.execute(
            "INSERT INTO receiver_audit_events (event, incident_id, alert_id, inbox_id, detail)"
            " SELECT event, incident_id, alert_id, inbox_id, detail FROM " + _ROWS,
            [Jsonb(self.rows)])  # a function scan inserts in array order: ids follow it
        self.rows.clear()

    def flush_with_inbox(self, conn: Connection, inbox_insert: str,
                         params: dict[str, Any]) -> int:
        """Insert the webhook's inbox row (``inbox_insert``: an INSERT … RETURNING id with
        named parameters) and these rows in one statement; rows added with
        ``inbox_id=THIS_WEBHOOK`` get its id. Returns the inbox id."""
        row = conn.execute(
            f"WITH inbox AS ({inbox_insert}), audit AS ("
            "INSERT INTO receiver_audit_events (event, incident_id, alert_id, inbox_id, detail)"
            " SELECT r.event, r.incident_id, r.alert_id, CASE WHEN r.inbox_id = "
            f"{THIS_WEBHOOK} THEN inbox.id ELSE r.inbox_id END, r.detail"
            " FROM inbox, " + _ROWS.replace("%s", "%(audit_rows)s") + ") SELECT id FROM inbox",
            {**params, "audit_rows": Jsonb(self.rows)}).fetchone()
        assert row is not None
        self.rows.clear()
        return int(row[0])
