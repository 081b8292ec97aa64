-- The external status page hears of customer-impacting incidents through the outbox
-- (webhook channel): a 'status' message when one begins and when it ends.
ALTER TABLE receiver_outbox DROP CONSTRAINT receiver_outbox_kind_check;
ALTER TABLE receiver_outbox ADD CONSTRAINT receiver_outbox_kind_check
    CHECK (kind IN ('page', 'resolved', 'vendor', 'vendor_resolved', 'status'));

-- The phone page and the SMS-reply path look up a contact's pages.
CREATE INDEX receiver_outbox_recipient_page_idx
    ON receiver_outbox (recipient_key, created_at) WHERE kind = 'page';

-- Refused requests (401/403) per route, for dbhealth_receiver_auth_failures_total and
-- its spike alert; counted in memory and added here every few seconds.
CREATE TABLE receiver_auth_failures (
    route    text        PRIMARY KEY,
    total    bigint      NOT NULL,
    last_at  timestamptz NOT NULL
);
