"""Roster queries checked without a database: the vendors' and the couples' SQL from the
policy must be exactly one read-only SELECT naming the columns its audience needs.

Checked when the policy loads, because a mistake in it would otherwise only be found on a
wedding day; ``vendors.describe_vendor_query`` checks it live for ``check-config``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from pglast import ast, parse_sql
from pglast.parser import ParseError

REQUIRED_COLUMNS = ("vendor_id", "phone", "email")
OPTIONAL_COLUMNS = ("business_name", "ceremony_time")
# psycopg's placeholder syntax: %(name)s / %s (also b, t) and %% for a literal percent.
_PLACEHOLDER = re.compile(r"%(?:\(([^)]*)\))?(.?)", re.DOTALL)
_WRITES = {"InsertStmt", "UpdateStmt", "DeleteStmt", "MergeStmt"}


@dataclass(frozen=True)
class Audience:
    """Who a roster is of: vendors, or (where the policy enables it) couples.

    Both are read the same way (one checked SELECT per local date, snapshotted into the
    receiver's own database); they differ in the names of two columns and the table.
    """

    kind: str  # "vendor" | "couple": also the outbox kind of their messages
    id_column: str
    name_column: str
    table: str  # its snapshot; ``<table>_status`` says when it was taken

    @property
    def required(self) -> tuple[str, ...]:
        return (self.id_column, "phone", "email")

    @property
    def optional(self) -> tuple[str, ...]:
        return (self.name_column, "ceremony_time")

    def key(self) -> str:
        return f"{self.kind}s.query"


VENDORS = Audience("vendor", "vendor_id", "business_name", "receiver_vendor_roster")
COUPLES = Audience("couple", "couple_id", "couple_names", "receiver_couple_roster")


def _parseable(query: str) -> str:
    """The query as PostgreSQL will see it once psycopg has bound ``%(local_date)s`` to $1.

    psycopg rejects any other placeholder and a lone ``%`` (even inside a string literal)
    at run time, so those are refused here rather than on the first wedding day.
    """
    def replace(match: re.Match[str]) -> str:
        name, kind = match.group(1), match.group(2)
        if name is None and kind == "%":
            return "%"
        if name == "local_date" and kind in ("s", "b", "t"):
            return "$1"
        if name is not None:
            raise ValueError(f"unknown placeholder %({name}){kind}: only %(local_date)s is available")
        if kind in ("s", "b", "t"):
            raise ValueError(f"positional placeholder %{kind}: use %(local_date)s")
        raise ValueError("write a literal % as %% (psycopg reads % as a placeholder), and the "
                         "date as %(local_date)s")
    return _PLACEHOLDER.sub(replace, query)


def _node_names(node: Any) -> Iterator[str]:
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, tuple):
            stack.extend(item)
        elif isinstance(item, ast.Node):
            yield type(item).__name__
            stack.extend(getattr(item, member) for member in item)


def _output_name(index: int, target: Any) -> str:
    if target.name:
        return str(target.name)
    value = target.val
    last = (value.fields or (None,))[-1] if isinstance(value, ast.ColumnRef) else None
    if isinstance(last, ast.A_Star):
        raise ValueError("SELECT * is not allowed: name the columns")
    if isinstance(last, ast.String):
        return str(last.sval)
    raise ValueError(f"output column {index + 1} is an expression without a name: add AS <name>")


def column_problem(names: Sequence[str], audience: Audience = VENDORS) -> str | None:
    """What is wrong with a roster query's output column names, or None."""
    allowed = audience.required + audience.optional
    duplicates = sorted({n for n in names if list(names).count(n) > 1})
    missing = [n for n in audience.required if n not in names]
    unknown = [n for n in names if n not in allowed]
    if duplicates:
        return f"duplicate output column(s) {', '.join(duplicates)}"
    if missing:
        return f"must return column(s) {', '.join(missing)} (it returns {', '.join(names)})"
    if unknown:
        return f"unknown output column(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}"
    return None


def check_vendor_query(query: str, audience: Audience = VENDORS) -> tuple[str, ...]:
    """Check policy vendor SQL without a database; returns its output column names.

    Raises ``ValueError`` (the message follows ``vendors.query:``) unless the query is
    exactly one read-only SELECT whose columns are all named: a missing ``vendor_id``
    would otherwise fail on every worker pass, and only on a wedding day.
    """
    try:
        statements = parse_sql(_parseable(query))
    except ParseError as exc:
        raise ValueError(f"is not valid SQL: {exc}") from None
    if len(statements) != 1:
        raise ValueError(f"must be exactly one statement (found {len(statements)})")
    select = statements[0].stmt
    if not isinstance(select, ast.SelectStmt):
        raise ValueError(f"must be a SELECT (found {type(select).__name__})")
    if _WRITES & set(_node_names(select)):
        raise ValueError("must not modify data")
    if select.intoClause is not None or select.lockingClause:
        raise ValueError("must be a plain SELECT (no INTO, no FOR UPDATE/SHARE)")
    while select.larg is not None:  # UNION / INTERSECT / EXCEPT: names come from the left
        select = select.larg
    if not select.targetList:
        raise ValueError("must name its columns with SELECT … AS (VALUES has no column names)")
    names = tuple(_output_name(i, target) for i, target in enumerate(select.targetList))
    problem = column_problem(names, audience)
    if problem:
        raise ValueError(problem)
    return names
