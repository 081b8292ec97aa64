"""Statement text without literals: what /queries may show.

pg_stat_statements already replaces constants with ``$n`` in plannable
statements, but (before PostgreSQL 16) keeps utility statements verbatim and can
keep literals when entries are deallocated under pressure. So every text is
re-normalized here:

1. it must parse (libpg_query via pglast), else it is shown as ``<unparsable>``;
2. libpg_query's normalizer replaces every constant with ``$n``, including the
   ones inside utility statements (passwords, DO bodies, NOTIFY payloads);
3. a lexer pass then drops comments and replaces any literal token the
   normalizer left (``COMMENT ... IS '...'``) with ``$n`` too.

Step 3 works on tokens, not patterns, so a quote inside an identifier or a
dollar-quoted body cannot fool it. The same pass masks identifiers that look
like personal data — an application that names a column alias, a savepoint or
a temporary table after a guest (``AS "alice@example.com"``) leaks it through
the identifier, which normalization keeps: any identifier holding an ``@``, a
run of 7 or more digits (a phone number), or — quoted — a space (a name).
"""

from __future__ import annotations

import re

from pglast import parser as pg

UNPARSABLE = "<unparsable>"
UNAVAILABLE = "<unavailable>"

LITERAL_TOKENS = frozenset({"SCONST", "USCONST", "ICONST", "FCONST", "BCONST", "XCONST"})
COMMENT_TOKENS = frozenset({"SQL_COMMENT", "C_COMMENT"})
MASKED_IDENTIFIER = '"<masked>"'
_PHONE_LIKE = re.compile(r"\d{7,}")


def looks_personal(identifier: str) -> bool:
    """An identifier (as written, quotes included) that may carry an email, phone or name."""
    quoted = identifier.startswith('"')
    return "@" in identifier or bool(_PHONE_LIKE.search(identifier)) or (
        quoted and any(c.isspace() for c in identifier))


def sanitize(text: str | None, max_chars: int = 2000) -> str:
    """The statement with no literal and no comment left, or ``<unparsable>``."""
    if text is None:
        return UNAVAILABLE
    if not text.strip():
        return UNPARSABLE
    try:
        pg.parse_sql_json(text)
        normalized = pg.normalize(text)
        scrubbed = _scrub_tokens(normalized)
    except Exception:  # any parser/lexer failure: show nothing rather than a literal
        return UNPARSABLE
    if len(scrubbed) > max_chars:
        scrubbed = scrubbed[: max_chars - 1] + "…"
    return scrubbed


def _scrub_tokens(text: str) -> str:
    tokens = pg.scan(text)
    params = [int(text[t.start + 1: t.end + 1]) for t in tokens
              if t.name == "PARAM" and text[t.start + 1: t.end + 1].isdigit()]
    next_param = max(params, default=0)
    out: list[str] = []
    for token in tokens:  # Token.end is inclusive
        if token.name in COMMENT_TOKENS:
            continue
        if token.name in LITERAL_TOKENS:
            next_param += 1
            out.append(f"${next_param}")
        elif token.name == "IDENT" and looks_personal(text[token.start: token.end + 1]):
            out.append(MASKED_IDENTIFIER)
        else:
            out.append(text[token.start: token.end + 1])
    return _join(out)


def _join(parts: list[str]) -> str:
    """Tokens back into readable SQL: spaces between words, none before , ) or after ( ."""
    result: list[str] = []
    for part in parts:
        if result and not (part in {",", ")", ";", ".", "::"} or result[-1] in {"(", ".", "::"}
                           or (part == "(" and _is_word(result[-1]))):
            result.append(" ")
        result.append(part)
    return "".join(result)


def _is_word(token: str) -> bool:
    # A function name directly before "(": count(…), not "IN (…)"; keywords are uppercase here.
    return token[:1].isalpha() and not token.isupper()
