-- The roster of vendors per local wedding date, snapshotted from the monitored
-- (WedSync) database ahead of time: when that database is down - the worst
-- incident - the vendors are read from here instead.

-- One row per vendor and date, in the vendor query's order (soonest ceremony first).
CREATE TABLE receiver_vendor_roster (
    local_date     date    NOT NULL,
    position       integer NOT NULL,
    vendor_id      text    NOT NULL,
    business_name  text    NOT NULL DEFAULT '',
    phone          text,
    email          text,
    ceremony_time  time,
    PRIMARY KEY (local_date, position),
    CHECK (phone IS NOT NULL OR email IS NOT NULL)
);

-- One row per date: when the snapshot was last taken (NULL: never successfully), how
-- many vendors it holds, and the last failure as an error class name only (an error
-- message could quote vendor data).
CREATE TABLE receiver_vendor_roster_status (
    local_date       date        PRIMARY KEY,
    refreshed_at     timestamptz,
    vendor_count     integer     NOT NULL DEFAULT 0,
    skipped_rows     integer     NOT NULL DEFAULT 0,
    last_attempt_at  timestamptz NOT NULL,
    last_error       text,
    last_error_at    timestamptz
);
