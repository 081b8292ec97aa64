"""What a piece of SQL names and may run, read from its parse tree (libpg_query via pglast).

Used three ways, always on the tree, never on the text:

- the business SQL of the settings (``wedding.*_sql``, ``statements.upcoming_weddings_sql``)
  is checked at start: one SELECT, no row locks, every table named with its schema
  (monitoring sessions run with ``search_path = pg_catalog``), no function, operator
  or type from outside ``pg_catalog``;
- the index advisor plans a statement only when it calls nothing outside ``pg_catalog``;
- a test holds the exporter's own SQL to the same rules.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pglast import ast, parse_sql
from pglast.parser import ParseError

CATALOG = "pg_catalog"
Name = tuple[str | None, str]  # (schema or None, name)
# psycopg placeholders: %(name)s, and %% for a literal percent sign.
_PLACEHOLDER = re.compile(r"%(?:\(([^)]*)\))?(.?)", re.DOTALL)
_WRITES = (ast.InsertStmt, ast.UpdateStmt, ast.DeleteStmt, ast.MergeStmt)


@dataclass
class Names:
    relations: set[Name] = field(default_factory=set)  # CTE names excluded
    functions: set[Name] = field(default_factory=set)
    operators: set[Name] = field(default_factory=set)
    types: set[Name] = field(default_factory=set)

    def foreign_code(self) -> list[str]:
        """Functions, operators and types named with a schema other than pg_catalog."""
        return sorted(f"{schema}.{name}" for kind in (self.functions, self.operators, self.types)
                      for schema, name in kind if schema not in (None, CATALOG))

    def unqualified_relations(self) -> list[str]:
        return sorted(name for schema, name in self.relations if schema is None)


def quote_ident(name: str) -> str:
    """A name as a quoted SQL identifier (schema names from the catalog or the settings)."""
    return '"' + name.replace('"', '""') + '"'


def parseable(sql: str, params: tuple[str, ...]) -> str:
    """``sql`` with psycopg's ``%(name)s`` placeholders as ``$n``, as the server will see it.

    Raises ValueError for an unknown placeholder or a lone ``%`` (psycopg would fail on
    it at run time, which for wedding-day SQL means on a Saturday).
    """
    def replace(match: re.Match[str]) -> str:
        name, kind = match.group(1), match.group(2)
        if name is None and kind == "%":
            return "%"
        if name in params and kind == "s":
            return f"${params.index(name) + 1}"
        allowed = ", ".join(f"%({p})s" for p in params)
        if name is not None:
            raise ValueError(f"unknown placeholder %({name}){kind}: only {allowed} may be used")
        raise ValueError(f"only the {allowed} placeholders are allowed; write a literal % as %%")
    return _PLACEHOLDER.sub(replace, sql)


def walk(node: Any) -> Iterator[ast.Node]:
    """Every parse node below ``node``, depth first."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, tuple | list):
            stack.extend(item)
        elif isinstance(item, ast.Node):
            yield item
            stack.extend(getattr(item, member) for member in item)


def _name(parts: Any) -> Name:
    words = [str(p.sval) for p in parts or () if isinstance(p, ast.String)]
    if not words:
        return None, ""
    return (words[-2] if len(words) > 1 else None), words[-1]


def names_in(tree: Any) -> Names:
    found = Names()
    ctes = {n.ctename for n in walk(tree) if isinstance(n, ast.CommonTableExpr)}
    for node in walk(tree):
        if isinstance(node, ast.RangeVar):
            if node.schemaname is not None or node.relname not in ctes:
                found.relations.add((node.schemaname, str(node.relname)))
        elif isinstance(node, ast.FuncCall):
            found.functions.add(_name(node.funcname))
        elif isinstance(node, ast.A_Expr):
            found.operators.add(_name(node.name))
        elif isinstance(node, ast.SubLink) and node.operName:
            found.operators.add(_name(node.operName))
        elif isinstance(node, ast.TypeName):
            found.types.add(_name(node.names))
        elif isinstance(node, ast.CollateClause):
            found.types.add(_name(node.collname))
    return found


def single_select(sql: str) -> ast.SelectStmt:
    """The one plain SELECT in ``sql``; ValueError saying what else it is."""
    try:
        statements = parse_sql(sql)
    except ParseError as exc:
        raise ValueError(f"is not valid SQL: {exc}") from None
    if len(statements) != 1 or not isinstance(statements[0].stmt, ast.SelectStmt):
        raise ValueError("must be exactly one SELECT statement")
    select = statements[0].stmt
    if any(isinstance(n, _WRITES) for n in walk(select)):
        raise ValueError("must not write (no INSERT, UPDATE, DELETE or MERGE, even in a WITH)")
    if any(isinstance(n, ast.SelectStmt) and (n.lockingClause or n.intoClause)
           for n in walk(select)):
        raise ValueError("must not lock rows or create tables (no FOR UPDATE/SHARE, no INTO)")
    return select


def check_business_sql(sql: str, params: tuple[str, ...]) -> None:
    """Raise ValueError naming every problem of one configured business query."""
    select = single_select(parseable(sql, params))
    names = names_in(select)
    problems = []
    if names.unqualified_relations():
        problems.append("name every table with its schema (monitoring sessions run with "
                        "search_path = pg_catalog), e.g. public.weddings; unqualified: "
                        + ", ".join(names.unqualified_relations()))
    if names.foreign_code():
        problems.append("may call only PostgreSQL's own functions and operators (pg_catalog); "
                        "found: " + ", ".join(names.foreign_code()))
    if problems:
        raise ValueError("; ".join(problems))
