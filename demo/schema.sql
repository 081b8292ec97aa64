-- WedSync-like demo schema. Two lookups are deliberately left without an
-- index (guests.email, bookings.vendor_id) so the query tracker and the index
-- advisor have something real to find.
CREATE TABLE IF NOT EXISTS venues (
    id          bigserial PRIMARY KEY,
    name        text        NOT NULL,
    city        text        NOT NULL,
    capacity    integer     NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS vendors (
    id             bigserial PRIMARY KEY,
    business_name  text        NOT NULL,
    category       text        NOT NULL,
    email          text        NOT NULL,
    phone          text        NOT NULL,
    city           text        NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS couples (
    id             bigserial PRIMARY KEY,
    partner1_name  text        NOT NULL,
    partner2_name  text        NOT NULL,
    email          text        NOT NULL,
    phone          text        NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS weddings (
    id             bigserial PRIMARY KEY,
    couple_id      bigint      NOT NULL REFERENCES couples (id),
    venue_id       bigint      NOT NULL REFERENCES venues (id),
    wedding_date   date        NOT NULL,
    ceremony_time  time        NOT NULL,
    status         text        NOT NULL DEFAULT 'confirmed',
    guest_count    integer     NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS weddings_wedding_date_idx ON weddings (wedding_date);

CREATE TABLE IF NOT EXISTS bookings (
    id             bigserial PRIMARY KEY,
    wedding_id     bigint      NOT NULL REFERENCES weddings (id),
    vendor_id      bigint      NOT NULL REFERENCES vendors (id),
    service_start  timestamptz NOT NULL,
    status         text        NOT NULL DEFAULT 'confirmed',
    amount_pence   bigint      NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS bookings_wedding_id_idx ON bookings (wedding_id);
-- no index on bookings (vendor_id): deliberately missing

CREATE TABLE IF NOT EXISTS guests (
    id            bigserial PRIMARY KEY,
    wedding_id    bigint      NOT NULL REFERENCES weddings (id),
    full_name     text        NOT NULL,
    email         text        NOT NULL,
    phone         text        NOT NULL,
    rsvp_status   text        NOT NULL DEFAULT 'pending',
    dietary       text,
    table_number  integer,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS guests_wedding_id_idx ON guests (wedding_id);
-- no index on guests (email): deliberately missing

CREATE TABLE IF NOT EXISTS payments (
    id            bigserial PRIMARY KEY,
    booking_id    bigint      NOT NULL REFERENCES bookings (id),
    amount_pence  bigint      NOT NULL,
    status        text        NOT NULL,
    paid_at       timestamptz
);
CREATE INDEX IF NOT EXISTS payments_booking_id_idx ON payments (booking_id);

CREATE TABLE IF NOT EXISTS user_profiles (
    id             bigserial PRIMARY KEY,
    email          text        NOT NULL UNIQUE,
    role           text        NOT NULL,
    last_login_at  timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now()
);
