-- Run-time "treat as a wedding day" override, shared by every exporter replica.
-- One row at most (id = 1); set and cleared by `dbhealth-exporter wedding-override`.
-- An override always expires: rows whose `until` has passed are ignored.
CREATE TABLE IF NOT EXISTS dbhealth_wedding_day_override (
    id          smallint    PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    active      boolean     NOT NULL,
    until       timestamptz NOT NULL,
    reason      text        NOT NULL DEFAULT '' CHECK (length(reason) <= 200),
    set_by      text        NOT NULL DEFAULT current_user,
    set_at      timestamptz NOT NULL DEFAULT now()
);
