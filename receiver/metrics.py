"""Self-metrics read from the database at scrape time, so every gunicorn worker reports the same.

Counters are counts of audit/outbox rows (they only grow while rows are kept);
gauges (outbox depth, oldest pending age) are the live state. A scrape while the
database is down reports ``dbhealth_receiver_database_up 0`` and nothing else.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from . import roster
from .db import ReceiverDB
from .errors import DatabaseUnavailable

log = logging.getLogger(__name__)
PREFIX = "dbhealth_receiver_"
CHANNELS = ("sms", "email", "webhook")

_QUERIES = {
    "inbox": "SELECT count(*), coalesce(sum(alert_count), 0), coalesce(sum(duplicate_alerts), 0)"
             " FROM receiver_webhook_inbox",
    "attempts": "SELECT channel, outcome, count(*) FROM receiver_notification_attempts"
                " GROUP BY channel, outcome",
    "outbox": "SELECT channel, status, count(*),"
              " coalesce(extract(epoch FROM now() - min(created_at)), 0)"
              " FROM receiver_outbox GROUP BY channel, status",
    "incidents": "SELECT state, count(*) FROM receiver_incidents GROUP BY state",
    "faults": "SELECT channel, count(*) FILTER (WHERE config_fault),"
              " count(*) FILTER (WHERE outcome = 'ambiguous')"
              " FROM receiver_notification_attempts GROUP BY channel",
    "faulty": "SELECT channel, count(*) FROM receiver_outbox"
              " WHERE status IN ('pending', 'sending') AND config_fault GROUP BY channel",
    "auth_failures": "SELECT route, total FROM receiver_auth_failures ORDER BY route",
    "escalation": "SELECT count(*) FILTER (WHERE event = 'escalation.nobody_reached'),"
                  " count(*) FILTER (WHERE event = 'escalation.brought_forward'),"
                  " count(*) FILTER (WHERE event = 'escalation.step_failed')"
                  " FROM receiver_audit_events WHERE event LIKE 'escalation.%'",
    # A tier counts once per incident that paged it, however many people and channels it holds
    # and whether or not an ack cancelled its messages before they went out.
    "tiers": "SELECT tier, count(DISTINCT incident_id) FROM receiver_outbox"
             " WHERE kind = 'page' GROUP BY tier ORDER BY tier",
}


class ReceiverCollector(Collector):
    """Builds fresh metric families from the database on every scrape."""

    def __init__(self, database: ReceiverDB):
        self.db = database

    def describe(self) -> Iterable[Metric]:
        return []  # never query the database just because the collector was registered

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily(PREFIX + "database_up", "1 if the receiver's database answered")
        try:
            with self.db.transaction() as conn:
                rows = {name: conn.execute(sql).fetchall() for name, sql in _QUERIES.items()}
                today = conn.execute("SELECT now()").fetchone()
                assert today is not None
                snapshot = roster.roster_status(conn, today[0].astimezone(
                    self.db.settings.policy.zone).date())
        except DatabaseUnavailable as exc:
            log.warning("metrics: %s", exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        webhooks, alerts, duplicates = rows["inbox"][0]
        yield CounterMetricFamily(PREFIX + "webhooks_received", "Webhooks recorded",
                                  value=webhooks)
        yield CounterMetricFamily(PREFIX + "alerts_received", "Alerts in recorded webhooks",
                                  value=alerts)
        yield CounterMetricFamily(PREFIX + "alerts_deduplicated",
                                  "Alerts already known (HA twins, retries, repeats)",
                                  value=duplicates)
        sent = CounterMetricFamily(PREFIX + "notifications_sent", "Messages delivered",
                                   labels=["channel"])
        failed = CounterMetricFamily(PREFIX + "notification_failures",
                                     "Delivery attempts that failed (retried, dead or expired)",
                                     labels=["channel"])
        sent_by = dict.fromkeys(CHANNELS, 0)
        failed_by = dict.fromkeys(CHANNELS, 0)
        for channel, outcome, count in rows["attempts"]:
            target = sent_by if outcome == "sent" else failed_by
            target[channel] = target.get(channel, 0) + count
        for channel in sent_by:
            sent.add_metric([channel], sent_by[channel])
            failed.add_metric([channel], failed_by.get(channel, 0))
        dead = CounterMetricFamily(PREFIX + "notifications_dead_lettered",
                                   "Messages given up on", labels=["channel"])
        depth = GaugeMetricFamily(PREFIX + "outbox_depth", "Messages waiting to be sent",
                                  labels=["channel"])
        oldest = 0.0
        dead_by = dict.fromkeys(CHANNELS, 0)
        depth_by = dict.fromkeys(CHANNELS, 0)
        for channel, status, count, age in rows["outbox"]:
            if status == "dead":
                dead_by[channel] = count
            elif status == "pending":
                depth_by[channel] = count
                oldest = max(oldest, float(age))
        for channel in CHANNELS:
            dead.add_metric([channel], dead_by[channel])
            depth.add_metric([channel], depth_by[channel])
        yield from (sent, failed, dead, depth)
        yield GaugeMetricFamily(PREFIX + "outbox_oldest_pending_age_seconds",
                                "Age of the oldest message still waiting", value=oldest)
        incidents = GaugeMetricFamily(PREFIX + "incidents", "Incidents by state", labels=["state"])
        for incident_state, count in rows["incidents"]:
            incidents.add_metric([incident_state], count)
        yield incidents
        refused = CounterMetricFamily(PREFIX + "auth_failures",
                                      "Requests refused for missing or wrong credentials (401/403)",
                                      labels=["route"])
        for route, total in rows["auth_failures"]:
            refused.add_metric([route], total)
        yield refused
        yield from self._faults(rows)
        yield self._tiers(rows["tiers"], len(self.db.settings.policy.tiers))
        yield from self._roster(snapshot)

    @staticmethod
    def _faults(rows: dict[str, list[tuple[Any, ...]]]) -> Iterable[Metric]:
        config = CounterMetricFamily(
            PREFIX + "notification_config_faults",
            "Attempts refused through our own configuration (401/403, redirects, no STARTTLS)",
            labels=["channel"])
        ambiguous = CounterMetricFamily(
            PREFIX + "notification_ambiguous",
            "Sends that went out with no answer (accepted but unanswered)", labels=["channel"])
        faulty = GaugeMetricFamily(
            PREFIX + "outbox_config_fault_messages",
            "Messages waiting whose last attempt was our configuration's fault: fix it now",
            labels=["channel"])
        by_channel = {c: (0, 0) for c in CHANNELS}
        by_channel.update({c: (f, a) for c, f, a in rows["faults"]})
        waiting = dict.fromkeys(CHANNELS, 0) | {c: n for c, n in rows["faulty"]}
        for channel in CHANNELS:
            config.add_metric([channel], by_channel[channel][0])
            ambiguous.add_metric([channel], by_channel[channel][1])
            faulty.add_metric([channel], waiting[channel])
        yield from (config, ambiguous, faulty)
        nobody, forward, failed = rows["escalation"][0]
        yield CounterMetricFamily(PREFIX + "escalations_nobody_reached",
                                  "Incidents whose last tier could not be reached", value=nobody)
        yield CounterMetricFamily(PREFIX + "escalations_brought_forward",
                                  "Tiers paged early because nobody in the previous one could be"
                                  " reached", value=forward)
        yield CounterMetricFamily(PREFIX + "escalation_step_failures",
                                  "Escalation steps that failed and were backed off", value=failed)

    @staticmethod
    def _tiers(rows: list[tuple[Any, ...]], policy_tiers: int) -> Metric:
        # Every tier of the policy is present from the start (0), so a panel or an alert on
        # tier 2 never mistakes "never escalated" for "no data"; tiers a previous policy had
        # stay visible while their rows exist.
        counts = dict.fromkeys(range(1, policy_tiers + 1), 0) | {int(t): n for t, n in rows}
        family = CounterMetricFamily(PREFIX + "escalations",
                                     "Incidents that paged each escalation tier", labels=["tier"])
        for tier in sorted(counts):
            family.add_metric([str(tier)], counts[tier])
        return family

    @staticmethod
    def _roster(status: roster.RosterStatus) -> Iterable[Metric]:
        age = GaugeMetricFamily(PREFIX + "vendor_roster_age_seconds",
                                "Age of today's vendor roster snapshot (absent: never taken)")
        if status.age_seconds is not None:
            age.add_metric([], status.age_seconds)
        yield age
        yield GaugeMetricFamily(PREFIX + "vendor_roster_vendors",
                                "Vendors in today's roster snapshot", value=status.vendor_count)


def render_metrics(database: ReceiverDB) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ReceiverCollector(database))
    return generate_latest(registry)
