-- Backup verification history (SPEC section 7), written by dbhealth-backup-verify and read
-- back by the exporter's `backup` collector as the dbhealth_backup_* metrics.
-- The design's table may already exist in a WedSync database: create it as designed if it
-- does not, then add the verifier's columns (SPEC 7: columns may be added, none removed).
CREATE TABLE IF NOT EXISTS public.backup_verification_audit (
    id                  BIGSERIAL PRIMARY KEY,
    backup_id           VARCHAR(255) NOT NULL,
    verification_status VARCHAR(20) NOT NULL,
    verification_time   TIMESTAMPTZ DEFAULT NOW(),
    file_size           BIGINT,
    checksum_valid      BOOLEAN
);
ALTER TABLE public.backup_verification_audit
    ADD COLUMN IF NOT EXISTS run_id             uuid,          -- one verification run
    ADD COLUMN IF NOT EXISTS check_type         VARCHAR(50),   -- inventory, integrity, restore, …
    ADD COLUMN IF NOT EXISTS region             VARCHAR(64),   -- the metrics' region label
    ADD COLUMN IF NOT EXISTS backup_kind        VARCHAR(20),   -- logical, physical
    ADD COLUMN IF NOT EXISTS object_key         TEXT,
    ADD COLUMN IF NOT EXISTS backup_time        TIMESTAMPTZ,   -- the backup's consistent point
    ADD COLUMN IF NOT EXISTS checksum_algorithm VARCHAR(20),   -- sha256 (ours), sha1 (pgBackRest)
    ADD COLUMN IF NOT EXISTS expected_checksum  TEXT,
    ADD COLUMN IF NOT EXISTS observed_checksum  TEXT,
    ADD COLUMN IF NOT EXISTS duration_seconds   DOUBLE PRECISION,
    ADD COLUMN IF NOT EXISTS error_detail       TEXT,          -- sanitized: never a data value
    ADD COLUMN IF NOT EXISTS details            JSONB NOT NULL DEFAULT '{}'::jsonb,
    ADD COLUMN IF NOT EXISTS verified_by        TEXT;
-- The collector's "latest run of each check" and the verifier's purge.
CREATE INDEX IF NOT EXISTS backup_verification_audit_check_time_idx
    ON public.backup_verification_audit (check_type, verification_time DESC);
CREATE INDEX IF NOT EXISTS backup_verification_audit_time_idx
    ON public.backup_verification_audit (verification_time);
