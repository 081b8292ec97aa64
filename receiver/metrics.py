"""Self-metrics read from the database at scrape time, so every gunicorn worker reports the same.

Counters are counts of audit/outbox rows (they only grow while rows are kept);
gauges (outbox depth, oldest pending age) are the live state. A scrape while the
database is down reports ``dbhealth_receiver_database_up 0`` and nothing else.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from . import db
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
}


class ReceiverCollector(Collector):
    """Builds fresh metric families from the database on every scrape."""

    def describe(self) -> Iterable[Metric]:
        return []  # never query the database just because the collector was registered

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily(PREFIX + "database_up", "1 if the receiver's database answered")
        try:
            with db.transaction() as conn:
                rows = {name: conn.execute(sql).fetchall() for name, sql in _QUERIES.items()}
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


def render_metrics() -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ReceiverCollector())
    return generate_latest(registry)
