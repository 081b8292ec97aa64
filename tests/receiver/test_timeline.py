"""Timeline, report and status-page content from plain rows: no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from receiver.policy import StatusPage
from receiver.status import status_document
from receiver.timeline import AuditRow, IncidentView, PageRow, PendingStep, report, summary, timeline

T0 = datetime(2026, 6, 6, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def view(**changes: object) -> IncidentView:
    base = IncidentView(
        7, "resolved", "emergency", True, True, "WeddingTablesSlow", "Guest list writes slow", 3,
        T0, at(130), "alice (link)", at(900),
        events=[
            AuditRow(at(0), "incident.opened", {"alerts": 3, "alertname": "WeddingTablesSlow",
                                                 "level": "emergency", "wedding_day": True}),
            AuditRow(at(2), "notification.retry", {"kind": "page", "channel": "sms",
                                                   "recipient": "+44*****0001", "tier": 1,
                                                   "error": "HTTP 503"}),
            AuditRow(at(9), "notification.sent", {"kind": "page", "channel": "sms",
                                                  "recipient": "+44*****0001", "tier": 1}),
            AuditRow(at(60), "escalation.vendors", {"notified": 4, "vendors_found": 5,
                                                    "source": "live"}),
            AuditRow(at(130), "incident.acknowledged", {"by": "alice (link)"}),
            AuditRow(at(900), "incident.resolved", {}),
            AuditRow(at(901), "notification.sent", {"kind": "vendor_resolved", "channel": "sms",
                                                    "recipient": "+44*****0042"}),
            AuditRow(at(0), "webhook.received", {}),  # not an incident story line
        ],
        pages=[PageRow("page", 1, "sms", "alice", "sent", at(0), at(9)),
               PageRow("page", 1, "email", "alice", "dead", at(0), None),
               PageRow("vendor", 0, "sms", "vendor:42", "sent", at(60), at(61)),
               PageRow("vendor_resolved", 0, "sms", "vendor:42", "sent", at(900), at(901))],
        pending=[])
    return IncidentView(**{**base.__dict__, **changes})


def test_the_timeline_tells_received_paged_failed_delivered_vendors_acked_resolved() -> None:
    entries = timeline(view())
    assert [e["what"] for e in entries] == [
        "received", "paged", "failed", "delivered", "vendors_told", "acked", "resolved",
        "vendor_told_resolved"]
    assert entries[1]["text"] == "tier 1: alice (email), alice (sms)"
    assert entries[2]["text"] == "page sms to +44*****0001 retry: HTTP 503 (will retry)"
    assert entries[0]["at"] == T0.isoformat()


def test_the_report_gives_the_times_that_matter_and_who_was_told() -> None:
    text = report(view())
    assert text.startswith("# Incident 7: WeddingTablesSlow")
    assert "| time to page (first delivered) | 9 s |" in text
    assert "| time to acknowledge | 2 min 10 s by alice (link) |" in text
    assert "| time to resolve | 15 min 0 s |" in text
    assert "| staff told | alice |" in text
    assert "| vendors told / told it was fixed | 1 / 1 |" in text
    unfinished = report(view(state="open", acknowledged_at=None, acknowledged_by=None,
                             resolved_at=None, events=[], pages=[]))
    assert "| time to acknowledge | — |" in unfinished and "| staff told | nobody |" in unfinished


def test_summary_lists_what_happens_next_soonest_first() -> None:
    later = [PendingStep("tier", 3, at(1800)), PendingStep("tier", 2, at(300))]
    assert [s["tier"] for s in summary(view(pending=later))["next"]] == [2, 3]


def test_the_status_document_holds_customer_words_only() -> None:
    page = StatusPage(messages={"WeddingTablesSlow": "Guest lists may be slow to update."})
    rows = [(3, "acknowledged", "WeddingTablesSlow", "ignored: the policy wins", at(0), None),
            (2, "open", "PostgresDown", "Couples cannot log in.", at(5), None),
            (1, "resolved", "X", None, at(-900), at(-60))]
    doc = status_document(rows, page, at(100))
    assert doc["status"] == "disrupted"
    assert [(i["id"], i["state"], i["message"]) for i in doc["incidents"]] == [
        (3, "identified", "Guest lists may be slow to update."),
        (2, "investigating", "Couples cannot log in."),
        (1, "resolved", page.default_message)]
    assert "WeddingTablesSlow" not in str(doc) and "PostgresDown" not in str(doc)
    assert status_document([], page, at(0))["status"] == "operational"
