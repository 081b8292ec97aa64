-- The receiver's own tables: inbox (every webhook), alerts, incidents, escalation
-- steps, the delivery outbox, delivery attempts, vendor rate limits and audit events.

CREATE TABLE receiver_webhook_inbox (
    id                bigserial PRIMARY KEY,
    received_at       timestamptz NOT NULL DEFAULT now(),
    group_key         text        NOT NULL,
    receiver          text        NOT NULL,
    status            text        NOT NULL,
    payload_sha256    text        NOT NULL,
    alert_count       integer     NOT NULL,
    new_alerts        integer     NOT NULL DEFAULT 0,
    duplicate_alerts  integer     NOT NULL DEFAULT 0,
    payload           jsonb       NOT NULL
);
CREATE INDEX receiver_webhook_inbox_sha_idx ON receiver_webhook_inbox (payload_sha256);

-- Alert identity is fingerprint + startsAt: a re-fire keeps the fingerprint but
-- gets a new startsAt, so it is a new alert (and a new incident).
CREATE TABLE receiver_alerts (
    id             bigserial PRIMARY KEY,
    fingerprint    text        NOT NULL,
    starts_at      timestamptz NOT NULL,
    ends_at        timestamptz,
    status         text        NOT NULL CHECK (status IN ('firing', 'resolved')),
    alertname      text        NOT NULL,
    severity       text        NOT NULL,
    labels         jsonb       NOT NULL,
    annotations    jsonb       NOT NULL,
    first_seen_at  timestamptz NOT NULL DEFAULT now(),
    last_seen_at   timestamptz NOT NULL DEFAULT now(),
    receive_count  integer     NOT NULL DEFAULT 1,
    UNIQUE (fingerprint, starts_at)
);

CREATE TABLE receiver_incidents (
    id               bigserial PRIMARY KEY,
    alert_id         bigint      NOT NULL UNIQUE REFERENCES receiver_alerts (id),
    level            text        NOT NULL,
    wedding_day      boolean     NOT NULL,
    customer_impact  boolean     NOT NULL,
    state            text        NOT NULL DEFAULT 'open'
                                 CHECK (state IN ('open', 'acknowledged', 'resolved')),
    opened_at        timestamptz NOT NULL DEFAULT now(),
    acknowledged_at  timestamptz,
    acknowledged_by  text,
    resolved_at      timestamptz
);

-- Delayed work for the worker: tier N of an incident, or the vendor notification.
CREATE TABLE receiver_escalation_steps (
    id            bigserial PRIMARY KEY,
    incident_id   bigint      NOT NULL REFERENCES receiver_incidents (id),
    kind          text        NOT NULL CHECK (kind IN ('tier', 'vendors')),
    tier          integer     NOT NULL,
    due_at        timestamptz NOT NULL,
    status        text        NOT NULL DEFAULT 'pending'
                              CHECK (status IN ('pending', 'done', 'cancelled')),
    attempts      integer     NOT NULL DEFAULT 0,
    last_error    text,
    done_at       timestamptz,
    UNIQUE (incident_id, kind, tier)
);
CREATE INDEX receiver_escalation_steps_due_idx
    ON receiver_escalation_steps (due_at) WHERE status = 'pending';

-- The durable outbox. dedup_key (incident:kind:tier:who:channel) makes "one alert
-- at one step pages each person once" a constraint, not a hope.
CREATE TABLE receiver_outbox (
    id               bigserial PRIMARY KEY,
    dedup_key        text        NOT NULL UNIQUE,
    incident_id      bigint      REFERENCES receiver_incidents (id),
    kind             text        NOT NULL CHECK (kind IN ('page', 'resolved', 'vendor')),
    tier             integer     NOT NULL DEFAULT 0,
    channel          text        NOT NULL CHECK (channel IN ('sms', 'email', 'webhook')),
    recipient_key    text        NOT NULL,
    recipient        text        NOT NULL,
    subject          text,
    body             text        NOT NULL,
    priority         integer     NOT NULL DEFAULT 0,
    status           text        NOT NULL DEFAULT 'pending'
                                 CHECK (status IN ('pending', 'sent', 'dead', 'cancelled')),
    attempts         integer     NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL DEFAULT now(),
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    sent_at          timestamptz,
    provider_id      text,
    last_error       text
);
CREATE INDEX receiver_outbox_pending_idx
    ON receiver_outbox (priority, next_attempt_at, id) WHERE status = 'pending';
CREATE INDEX receiver_outbox_incident_idx ON receiver_outbox (incident_id);

CREATE TABLE receiver_notification_attempts (
    id                 bigserial PRIMARY KEY,
    outbox_id          bigint      NOT NULL REFERENCES receiver_outbox (id),
    attempted_at       timestamptz NOT NULL DEFAULT now(),
    channel            text        NOT NULL,
    recipient_masked   text        NOT NULL,
    outcome            text        NOT NULL CHECK (outcome IN ('sent', 'retry', 'dead', 'expired')),
    error              text
);
CREATE INDEX receiver_notification_attempts_outbox_idx
    ON receiver_notification_attempts (outbox_id);

CREATE TABLE receiver_vendor_rate_limit (
    vendor_key        text PRIMARY KEY,
    last_notified_at  timestamptz NOT NULL
);

CREATE TABLE receiver_audit_events (
    id           bigserial PRIMARY KEY,
    at           timestamptz NOT NULL DEFAULT now(),
    event        text        NOT NULL,
    incident_id  bigint,
    alert_id     bigint,
    inbox_id     bigint,
    detail       jsonb       NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX receiver_audit_events_incident_idx ON receiver_audit_events (incident_id);
