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
dollar-quoted body cannot fool it.
"""

from __future__ import annotations

from pglast import parser as pg

UNPARSABLE = "<unparsable>"
UNAVAILABLE = "<unavailable>"

LITERAL_TOKENS = frozenset({"SCONST", "USCONST", "ICONST", "FCONST", "BCONST", "XCONST"})
COMMENT_TOKENS = frozenset({"SQL_COMMENT", "C_COMMENT"})


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
