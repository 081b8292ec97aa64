-- Delivery redesign: incidents follow Alertmanager's groups, outbox rows are leased
-- (claimed and counted before the send), vendors hear "resolved" too.

-- An incident is one Alertmanager group (groupKey) from its first firing alert until
-- every member alert has resolved; one page per person per webhook, not per alert.
ALTER TABLE receiver_incidents ADD COLUMN group_key text;
UPDATE receiver_incidents SET group_key = 'alert:' || alert_id WHERE group_key IS NULL;
ALTER TABLE receiver_incidents ALTER COLUMN group_key SET NOT NULL;
ALTER TABLE receiver_incidents ADD COLUMN alert_count integer NOT NULL DEFAULT 1;
-- At most one live incident per group: HA twins racing to open it meet this index.
CREATE UNIQUE INDEX receiver_incidents_live_group_idx
    ON receiver_incidents (group_key) WHERE state <> 'resolved';

CREATE TABLE receiver_incident_alerts (
    incident_id  bigint NOT NULL REFERENCES receiver_incidents (id),
    alert_id     bigint NOT NULL UNIQUE REFERENCES receiver_alerts (id),
    PRIMARY KEY (incident_id, alert_id)
);
INSERT INTO receiver_incident_alerts (incident_id, alert_id)
    SELECT id, alert_id FROM receiver_incidents;

-- 'sending' = claimed: attempts was counted and committed before the network call,
-- lease_until says when a silent claimer is presumed dead. blind_retries counts
-- re-sends after an outcome we could not know (accepted but unanswered, or a
-- worker that died mid-send): at most one.
ALTER TABLE receiver_outbox DROP CONSTRAINT receiver_outbox_status_check;
ALTER TABLE receiver_outbox ADD CONSTRAINT receiver_outbox_status_check
    CHECK (status IN ('pending', 'sending', 'sent', 'dead', 'cancelled'));
ALTER TABLE receiver_outbox DROP CONSTRAINT receiver_outbox_kind_check;
ALTER TABLE receiver_outbox ADD CONSTRAINT receiver_outbox_kind_check
    CHECK (kind IN ('page', 'resolved', 'vendor', 'vendor_resolved'));
ALTER TABLE receiver_outbox ADD COLUMN lease_until timestamptz;
ALTER TABLE receiver_outbox ADD COLUMN blind_retries integer NOT NULL DEFAULT 0;
ALTER TABLE receiver_outbox ADD COLUMN expires_at timestamptz;
ALTER TABLE receiver_outbox ADD COLUMN config_fault boolean NOT NULL DEFAULT false;
UPDATE receiver_outbox SET expires_at = created_at + interval '15 minutes' WHERE expires_at IS NULL;
ALTER TABLE receiver_outbox ALTER COLUMN expires_at SET NOT NULL;
DROP INDEX receiver_outbox_pending_idx;
CREATE INDEX receiver_outbox_due_idx
    ON receiver_outbox (channel, priority, next_attempt_at, id) WHERE status = 'pending';
CREATE INDEX receiver_outbox_leased_idx
    ON receiver_outbox (channel, lease_until) WHERE status = 'sending';
CREATE INDEX receiver_outbox_recipient_sent_idx
    ON receiver_outbox (recipient_key, channel, sent_at) WHERE status = 'sent';

ALTER TABLE receiver_notification_attempts DROP CONSTRAINT receiver_notification_attempts_outcome_check;
ALTER TABLE receiver_notification_attempts ADD CONSTRAINT receiver_notification_attempts_outcome_check
    CHECK (outcome IN ('sent', 'retry', 'dead', 'expired', 'ambiguous', 'postponed'));
ALTER TABLE receiver_notification_attempts ADD COLUMN config_fault boolean NOT NULL DEFAULT false;

-- Steps that fail (a template, a vendor source) back off instead of blocking the queue.
ALTER TABLE receiver_escalation_steps ADD COLUMN last_failed_at timestamptz;
