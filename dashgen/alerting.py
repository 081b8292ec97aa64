"""DBHealth / Alerting pipeline: what is firing, and did the receiver get it to a person."""

from __future__ import annotations

from .panels import Panel, Query, Row, Spec, Variable

# Receiver series: its own job and instance variables.
RSEL = 'job=~"$job", instance=~"$instance"'
RATE = "[$__rate_interval]"
P = "dbhealth_receiver_"

ALERTS = Row("Alerts", (
    Panel("Firing alerts", "Which dbhealth alerts fire now, with their severity?", "short",
          (Query('sum by (alertname, severity) (ALERTS{alertstate="firing", alertname=~"DBHealth.+"})',
                 may_be_empty="nothing fires (the healthy case)"),), kind="table"),
    Panel("Pending and firing alerts over time", "How many alerts were pending (inside their for:) "
          "or firing?", "short",
          (Query('count by (alertstate) (ALERTS{alertname=~"DBHealth.+"})', "{{alertstate}}",
                 may_be_empty="nothing is pending or firing"),)),
))

RECEIVER = Row("Receiver", (
    Panel("Receiver database up", "Can the receiver reach its database (its outbox and audit)?",
          "bool_yes_no", (Query(f"{P}database_up{{{RSEL}}}", "{{instance}}"),), kind="stat", width=4),
    Panel("Webhooks and alerts received", "How many webhooks and alerts arrive from Alertmanager, "
          "and how many alerts were duplicates (HA twins, retries, repeats)?", "ops",
          (Query(f"sum(rate({P}webhooks_received_total{{{RSEL}}}{RATE}))", "webhooks"),
           Query(f"sum(rate({P}alerts_received_total{{{RSEL}}}{RATE}))", "alerts"),
           Query(f"sum(rate({P}alerts_deduplicated_total{{{RSEL}}}{RATE}))", "deduplicated")), width=10),
    Panel("Notifications sent by channel", "How many SMS, emails and webhooks were delivered?", "short",
          (Query(f"sum by (channel) (increase({P}notifications_sent_total{{{RSEL}}}{RATE}))",
                 "{{channel}}"),), width=10),
    Panel("Failed, dead-lettered and misconfigured by channel", "Which channel fails, gives up, or is "
          "refused through our own configuration?", "short",
          (Query(f"sum by (channel) (increase({P}notification_failures_total{{{RSEL}}}{RATE}))",
                 "failed {{channel}}"),
           Query(f"sum by (channel) (increase({P}notifications_dead_lettered_total{{{RSEL}}}{RATE}))",
                 "dead-lettered {{channel}}"),
           Query(f"sum by (channel) (increase({P}notification_config_faults_total{{{RSEL}}}{RATE}))",
                 "config fault {{channel}}"),
           Query(f"sum by (channel) (increase({P}notification_ambiguous_total{{{RSEL}}}{RATE}))",
                 "unanswered {{channel}}"))),
    Panel("Outbox depth by channel", "How many messages wait to be sent, and how many of them are "
          "stuck on our configuration?", "short",
          (Query(f"sum by (channel) ({P}outbox_depth{{{RSEL}}})", "waiting {{channel}}"),
           Query(f"sum by (channel) ({P}outbox_config_fault_messages{{{RSEL}}})",
                 "config fault {{channel}}"))),
    Panel("Oldest pending message age", "How long has the oldest waiting message waited (a page "
          "stuck in the outbox)?", "s",
          (Query(f"max({P}outbox_oldest_pending_age_seconds{{{RSEL}}})", "oldest pending"),), width=8),
    Panel("Escalations by tier", "How often did incidents page each tier: is tier 1 acking, or "
          "do pages keep reaching the secondary and the manager?", "short",
          (Query(f"sum by (tier) (increase({P}escalations_total{{{RSEL}}}{RATE}))",
                 "tier {{tier}}"),), width=8),
    Panel("Escalation trouble", "Did escalation have to skip a tier (nobody reachable), bring a "
          "tier forward, or back off a failed step?", "short",
          (Query(f"sum(increase({P}escalations_nobody_reached_total{{{RSEL}}}{RATE}))", "nobody reached"),
           Query(f"sum(increase({P}escalations_brought_forward_total{{{RSEL}}}{RATE}))",
                 "tier brought forward"),
           Query(f"sum(increase({P}escalation_step_failures_total{{{RSEL}}}{RATE}))", "step failed")),
          width=8),
    Panel("Incidents by state", "How many incidents are open, acknowledged or resolved?", "short",
          (Query(f"sum by (state) ({P}incidents{{{RSEL}}})", "{{state}}",
                 may_be_empty="the receiver has never opened an incident"),), width=8),
    Panel("Refused requests", "Is someone calling the receiver with missing or wrong "
          "credentials? (The alert compares the 5-minute sum with "
          "dbhealth:threshold:receiver_auth_failures.)", "short",
          (Query(f"sum by (route) (increase({P}auth_failures_total{{{RSEL}}}{RATE}))", "{{route}}",
                 may_be_empty="no request was ever refused"),), width=12),
    Panel("Vendor roster size", "How many vendors does today's roster hold (who is told on a "
          "wedding day)?", "short", (Query(f"{P}vendor_roster_vendors{{{RSEL}}}", "vendors"),),
          kind="stat", width=4),
    Panel("Vendor roster age", "Is today's vendor roster snapshot fresh?", "s",
          (Query(f"{P}vendor_roster_age_seconds{{{RSEL}}}", "age",
                 may_be_empty="no roster snapshot was taken yet"),), width=8),
))

SPEC = Spec(
    uid="dbhealth-alerting", title="DBHealth / Alerting pipeline", slug="alerting-pipeline",
    summary="Firing alerts, and the receiver's side: received, deduplicated, delivered or failed by "
            "channel, the outbox, and escalations by tier.",
    variables=(Variable("job", "Receiver job", f"{P}database_up"),
               Variable("instance", "Receiver instance", f'{P}database_up{{job=~"$job"}}')),
    rows=(ALERTS, RECEIVER),
)
