"""Tool error text without data values: what may go into logs, audit rows and metrics.

pg_restore and the server quote row data in their errors (``invalid input syntax for
type integer: "alice@example.com"``, ``Key (email)=(…) already exists``, ``CONTEXT:
COPY guests, line 1, column …: "…"``). Lines that exist to show data (DETAIL,
CONTEXT, the failed command) are dropped, and every quoted string is replaced unless
it is a name from the archive's own catalog (a table, index or constraint name).
"""

from __future__ import annotations

import re
from collections.abc import Collection

_DATA_LINES = re.compile(r"^\s*(DETAIL|CONTEXT|HINT|LINE \d+|QUERY|Command was|STATEMENT):", re.I)
_QUOTED = re.compile(r'"((?:[^"]|"")*)"|\'((?:[^\']|\'\')*)\'')
_KEY_VALUES = re.compile(r"=\([^)]*\)")
PLACEHOLDER = "…"
MAX_LENGTH = 600


def sanitize(text: str, identifiers: Collection[str] = ()) -> str:
    """Keep the errors, drop the data; ``identifiers`` may stay quoted."""
    kept = [line.strip() for line in text.splitlines()
            if line.strip() and not _DATA_LINES.match(line)]

    def quoted(match: re.Match[str]) -> str:
        inner = match.group(1) if match.group(1) is not None else match.group(2)
        parts = inner.split(".") if inner else [inner]
        if inner and all(p in identifiers for p in parts):
            return match.group(0)
        return f'"{PLACEHOLDER}"'

    cleaned = [_KEY_VALUES.sub(f"=({PLACEHOLDER})", _QUOTED.sub(quoted, line)) for line in kept]
    result = " | ".join(cleaned)
    return result if len(result) <= MAX_LENGTH else result[:MAX_LENGTH - 1] + PLACEHOLDER
