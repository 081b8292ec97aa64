-- Couples with a wedding today (policy couples.enabled): their roster is snapshotted
-- like the vendors' (vendor_id holds the couple's id, business_name their names), a
-- 'couples' step tells them once a customer-impacting incident has lasted long enough.
CREATE TABLE receiver_couple_roster (LIKE receiver_vendor_roster INCLUDING ALL);
CREATE TABLE receiver_couple_roster_status (LIKE receiver_vendor_roster_status INCLUDING ALL);

ALTER TABLE receiver_escalation_steps DROP CONSTRAINT receiver_escalation_steps_kind_check;
ALTER TABLE receiver_escalation_steps ADD CONSTRAINT receiver_escalation_steps_kind_check
    CHECK (kind IN ('tier', 'vendors', 'couples'));

ALTER TABLE receiver_outbox DROP CONSTRAINT receiver_outbox_kind_check;
ALTER TABLE receiver_outbox ADD CONSTRAINT receiver_outbox_kind_check
    CHECK (kind IN ('page', 'resolved', 'vendor', 'vendor_resolved', 'status', 'couple',
                    'couple_resolved'));
