"""Sanitization and classification of statement texts (pglast), no database needed."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exporter.statements.classify import Classifier
from exporter.statements.sanitize import UNPARSABLE, sanitize
from exporter.statements.settings import StatementsSettings

EMAIL = "alice.secret@example.com"
PHONE = "+447700900123"

# Statements pg_stat_statements (PostgreSQL 15) keeps verbatim, or that carry literals in
# places a naive "replace A_Const" pass misses.
LEAKY = [
    f"COMMENT ON TABLE guests IS '{EMAIL} {PHONE}'",
    f"DO $$BEGIN PERFORM '{EMAIL}', '{PHONE}'; END$$",
    f"DO $body$ BEGIN RAISE NOTICE '{EMAIL}'; END $body$",
    f"CREATE ROLE alice PASSWORD '{EMAIL}'",
    f"NOTIFY guests_changed, '{EMAIL} {PHONE}'",
    f"SET application_name = '{EMAIL}'",
    f"SELECT * FROM guests WHERE email = '{EMAIL}' AND phone = '{PHONE}'",
    f"SELECT * FROM guests /* {EMAIL} */ WHERE phone = $1 -- {PHONE}",
    f"INSERT INTO guests (email, phone) VALUES ($1, '{PHONE}'), ('{EMAIL}', $2)",
    f"SELECT E'{EMAIL}', U&'{PHONE}', 7700900123, 447700900123.5, X'0A'",
    f"UPDATE guests SET dietary = $${EMAIL}$$ WHERE phone LIKE '%{PHONE}%'",
    f"COPY (SELECT '{EMAIL}') TO STDOUT",
    f"PREPARE p AS SELECT * FROM guests WHERE email = '{EMAIL}'",
]


# Identifiers survive normalization: personal data written as one must be masked too.
LEAKY_IDENTIFIERS = [
    f'SELECT email AS "{EMAIL}" FROM guests',
    f'SAVEPOINT "{PHONE}"',
    'SELECT 1 AS "Alice Smith"',
    "SELECT * FROM guest_447700900123",
    f'SELECT "{EMAIL}".email FROM guests AS "{EMAIL}"',
]


@pytest.mark.parametrize("text", LEAKY_IDENTIFIERS)
def test_identifiers_that_look_personal_are_masked(text: str) -> None:
    clean = sanitize(text)
    assert clean != UNPARSABLE and '"<masked>"' in clean
    for secret in (EMAIL, PHONE, "Alice Smith", "447700900123", "example.com"):
        assert secret not in clean, clean


def test_ordinary_identifiers_stay() -> None:
    assert sanitize('SELECT "Order".id, guests_2024 FROM "Order", guests_2024') == \
        'SELECT "Order".id, guests_2024 FROM "Order", guests_2024'


@pytest.mark.parametrize("text", LEAKY)
def test_no_literal_survives(text: str) -> None:
    clean = sanitize(text)
    assert clean != UNPARSABLE, "these are valid statements and must stay readable"
    for secret in (EMAIL, PHONE, "alice.secret", "7700900123", "example.com"):
        assert secret not in clean, clean
    assert "$1" in clean


def test_readable_shapes() -> None:
    assert sanitize("SELECT * FROM guests WHERE email = 'x@y.z'") == \
        "SELECT * FROM guests WHERE email = $1"
    # existing parameters keep their numbers; new ones never collide with them
    assert sanitize("INSERT INTO guests VALUES ($1, 'z', 3)") == \
        "INSERT INTO guests VALUES ($1, $2, $3)"
    assert sanitize("COMMENT ON TABLE guests IS 'secret'") == "COMMENT ON TABLE guests IS $1"
    assert sanitize(f"SELECT count(*) FROM guests WHERE phone = '{PHONE}'") == \
        "SELECT count(*) FROM guests WHERE phone = $1"


@pytest.mark.parametrize("text", [f"SELEC * FROM guests WHERE email = '{EMAIL}'",
                                  f"SELECT '{EMAIL}", "<insufficient privilege>", ""])
def test_unparsable_text_shows_nothing(text: str) -> None:
    assert sanitize(text) == UNPARSABLE


def test_long_text_is_cut() -> None:
    text = "SELECT " + ", ".join(f"c{i}" for i in range(2000)) + " FROM guests"
    assert len(sanitize(text, max_chars=200)) == 200


_literal_chars = st.text(alphabet=st.characters(blacklist_categories=["Cs"],
                                                blacklist_characters="\x00$"),
                         max_size=40)


@settings(max_examples=200, deadline=None)
@given(secret=_literal_chars, template=st.sampled_from([
    "SELECT * FROM guests WHERE email = {lit}",
    "COMMENT ON TABLE guests IS {lit}",
    "NOTIFY c, {lit}",
    "DO $$BEGIN PERFORM {lit}; END$$",
    "SELECT {lit}::text /* note */",
]))
def test_property_any_string_literal_is_removed(secret: str, template: str) -> None:
    marked = f"PIIMARK{secret}"  # the templates never contain the marker themselves
    text = template.format(lit="'" + marked.replace("'", "''") + "'")
    clean = sanitize(text)
    assert clean != UNPARSABLE
    assert "PIIMARK" not in clean and "piimark" not in clean.lower()


def _classifier() -> Classifier:
    cfg = StatementsSettings()
    return Classifier(cfg.table_domains, cfg.domain_priority)


@pytest.mark.parametrize(("text", "domain"), [
    ("SELECT * FROM guests WHERE email = $1", "guest_list"),
    ("SELECT * FROM bookings WHERE vendor_id = $1", "vendor_schedule"),
    ("SELECT * FROM vendors v WHERE v.city = $1", "vendor_schedule"),
    ("SELECT * FROM venues WHERE capacity > $1", "venue_availability"),
    ("UPDATE payments SET status = $1 FROM bookings b WHERE b.id = payments.booking_id",
     "payment"),
    ("SELECT * FROM weddings w JOIN couples c ON c.id = w.couple_id", "wedding"),
    ("SELECT * FROM weddings w WHERE w.id IN (SELECT wedding_id FROM guests)", "guest_list"),
    ("INSERT INTO public.guests (email) VALUES ($1)", "guest_list"),
    ("WITH guests AS (SELECT 1 AS x) SELECT * FROM guests", "other"),
    ("SELECT * FROM archive.guests", "other"),
    ("SELECT * FROM user_profiles WHERE email = $1", "other"),
    ("SELECT pg_sleep($1)", "other"),
    ("SELEC nonsense", "other"),
])
def test_domain_from_tables(text: str, domain: str) -> None:
    assert _classifier().classify(text)[0] == domain


def test_domain_map_is_configurable() -> None:
    classifier = Classifier({"user_profiles": "booking", "crm.leads": "wedding"},
                            ["booking", "wedding"])
    assert classifier.classify("SELECT * FROM user_profiles")[0] == "booking"
    assert classifier.classify("SELECT * FROM crm.leads")[0] == "wedding"
    assert classifier.classify("SELECT * FROM leads")[0] == "other"
