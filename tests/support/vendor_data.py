"""A small demo-schema database with known vendors booked today and tomorrow."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg

from demo.seed import apply_schema

# (vendor id, business, phone, email, wedding day offset, ceremony time)
VENDORS = [
    (1, "Bloom Florists", "+447700900101", "bloom@vendors.example", 0, "14:30"),
    (2, "Snap Photography", "+447700900102", "snap@vendors.example", 0, "11:00"),
    (3, "Harp & Strings", "+447700900103", "harp@vendors.example", 0, "14:30"),
    (4, "Tomorrow Cakes", "+447700900104", "cakes@vendors.example", 1, "12:00"),
]
TODAY_IN_ORDER = ["+447700900102", "+447700900101", "+447700900103"]  # soonest ceremony first


def create_vendor_database(dsn: str) -> None:
    """Fill the (empty) database at ``dsn``; "today" is the UTC date, as in the test policy."""
    today = datetime.now(UTC).date()
    with psycopg.connect(dsn, autocommit=True) as conn:
        apply_schema(conn)
        conn.execute("INSERT INTO venues (id, name, city, capacity) VALUES (1, 'Hall', 'York', 90)")
        conn.execute("INSERT INTO couples (id, partner1_name, partner2_name, email, phone)"
                     " VALUES (1, 'A', 'B', 'ab@couples.example', '+447700900999')")
        for vendor_id, name, phone, email, offset, ceremony in VENDORS:
            conn.execute("INSERT INTO vendors (id, business_name, category, email, phone, city)"
                         " VALUES (%s, %s, 'other', %s, %s, 'York')",
                         (vendor_id, name, email, phone))
            wedding = conn.execute(
                "INSERT INTO weddings (couple_id, venue_id, wedding_date, ceremony_time)"
                " VALUES (1, 1, %s, %s) RETURNING id",
                (today + timedelta(days=offset), ceremony)).fetchone()
            assert wedding is not None
            conn.execute("INSERT INTO bookings (wedding_id, vendor_id, service_start, amount_pence)"
                         " VALUES (%s, %s, now(), 1000)", (wedding[0], vendor_id))


# Rows a real vendors table holds sooner or later, all booked today (UTC) at 16:00 and
# later: (vendor id, business, phone, email, ceremony time). Only 8 is usable (email only).
PROBLEM_VENDORS = [
    (5, "Local Number DJs", "07700 900205", "dj@vendors.example", "16:00"),
    (6, "Typo Catering", "+447700900206", "catering-at-vendors.example", "16:10"),
    (7, "Nobody Home", "", "", "16:20"),
    (8, "Email Only Cars", "", "cars@vendors.example", "16:30"),
]
PROBLEM_SKIPPED = 3
PROBLEM_KEPT_EMAIL = "cars@vendors.example"


def add_problem_vendors(dsn: str) -> None:
    """Add ``PROBLEM_VENDORS`` to a database built by ``create_vendor_database``."""
    today = datetime.now(UTC).date()
    with psycopg.connect(dsn, autocommit=True) as conn:
        for vendor_id, name, phone, email, ceremony in PROBLEM_VENDORS:
            conn.execute("INSERT INTO vendors (id, business_name, category, email, phone, city)"
                         " VALUES (%s, %s, 'other', %s, %s, 'York')",
                         (vendor_id, name, email, phone))
            wedding = conn.execute(
                "INSERT INTO weddings (couple_id, venue_id, wedding_date, ceremony_time)"
                " VALUES (1, 1, %s, %s) RETURNING id", (today, ceremony)).fetchone()
            assert wedding is not None
            conn.execute("INSERT INTO bookings (wedding_id, vendor_id, service_start, amount_pence)"
                         " VALUES (%s, %s, now(), 1000)", (wedding[0], vendor_id))
