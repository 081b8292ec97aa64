-- L3 of the scrape cache: aggregated health history (SPEC section 7), plus who
-- collected and how long it took.
CREATE TABLE IF NOT EXISTS health_monitoring_audit (
    id            BIGSERIAL PRIMARY KEY,
    timestamp     TIMESTAMPTZ DEFAULT NOW(),
    status        VARCHAR(20) NOT NULL,
    metrics       JSONB NOT NULL,
    alerts        JSONB DEFAULT '[]'::jsonb,
    check_type    VARCHAR(50) DEFAULT 'standard',
    collected_by  TEXT,
    duration_seconds DOUBLE PRECISION
);
CREATE INDEX IF NOT EXISTS health_monitoring_audit_timestamp_idx
    ON health_monitoring_audit (timestamp);
