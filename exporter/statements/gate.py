"""Which statements the index advisor may plan, so that planning never runs another role's code.

Planning folds IMMUTABLE functions with constant arguments, expands views, and
reads (and folds) the expressions of index predicates, CHECK constraints,
statistics objects, partition keys and policies of every table it touches. Any
of them may call a function another role planted. So a statement text from
pg_stat_statements (written by anyone) is planned only when:

1. it parses as one plain SELECT and names no function, operator or type by a
   schema other than pg_catalog (``plannable``); unqualified names resolve in
   pg_catalog alone, since the session has ``search_path = pg_catalog``;
2. each table it reads is found in ``statements.schemas`` (pg_catalog first, as
   PostgreSQL itself searches) and is rewritten with its schema (``qualified``);
3. each of those tables — a plain or partitioned table or a materialized view,
   never a view — and everything hanging off it that planning reads (indexes,
   constraints, statistics, policies, inheritance children) is owned by a
   trusted role, and depends on no function, operator, type, operator class or
   collation owned by anyone else (``TRUST_SQL``). Trusted roles are superusers
   and ``statements.advisor.trusted_owners``.

What fails a gate is skipped and counted (``/queries``: ``index_advisor.skipped``).
"""

from __future__ import annotations

from dataclasses import dataclass

from pglast import ast, parse_sql
from pglast.parser import ParseError
from pglast.stream import RawStream
from pglast.visitors import Visitor

from ..sqlcheck import Name, names_in, walk

PLANNABLE_KINDS = ("r", "p", "m")

TRUST_SQL = """
WITH RECURSIVE trusted AS (
    SELECT oid FROM pg_catalog.pg_roles
    WHERE rolsuper OR rolname = ANY(%(trusted)s::text[])
), wanted AS (
    SELECT c.oid, n.nspname::text AS nspname, c.relname::text AS relname, c.relkind
    FROM ROWS FROM (pg_catalog.unnest(%(schemas)s::text[]),
               pg_catalog.unnest(%(names)s::text[])) AS w(nspname, relname)
    JOIN pg_catalog.pg_namespace n ON n.nspname = w.nspname
    JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = w.relname
), tree(root, oid) AS (
    SELECT oid, oid FROM wanted
    UNION
    SELECT t.root, i.inhrelid FROM pg_catalog.pg_inherits i JOIN tree t ON i.inhparent = t.oid
), parts(root, classid, objid) AS (
    SELECT root, 'pg_catalog.pg_class'::pg_catalog.regclass, oid FROM tree
    UNION ALL
    SELECT t.root, 'pg_catalog.pg_class'::pg_catalog.regclass, x.indexrelid
    FROM tree t JOIN pg_catalog.pg_index x ON x.indrelid = t.oid
    UNION ALL
    SELECT t.root, 'pg_catalog.pg_constraint'::pg_catalog.regclass, k.oid
    FROM tree t JOIN pg_catalog.pg_constraint k ON k.conrelid = t.oid
    UNION ALL
    SELECT t.root, 'pg_catalog.pg_statistic_ext'::pg_catalog.regclass, e.oid
    FROM tree t JOIN pg_catalog.pg_statistic_ext e ON e.stxrelid = t.oid
    UNION ALL
    SELECT t.root, 'pg_catalog.pg_policy'::pg_catalog.regclass, p.oid
    FROM tree t JOIN pg_catalog.pg_policy p ON p.polrelid = t.oid
    UNION ALL
    SELECT t.root, 'pg_catalog.pg_rewrite'::pg_catalog.regclass, r.oid
    FROM tree t JOIN pg_catalog.pg_rewrite r ON r.ev_class = t.oid
), owners(root, owner) AS (
    SELECT t.root, c.relowner FROM tree t JOIN pg_catalog.pg_class c ON c.oid = t.oid
    UNION ALL
    SELECT p.root, CASE d.refclassid
        WHEN 'pg_catalog.pg_proc'::pg_catalog.regclass
            THEN (SELECT proowner FROM pg_catalog.pg_proc WHERE oid = d.refobjid)
        WHEN 'pg_catalog.pg_operator'::pg_catalog.regclass
            THEN (SELECT oprowner FROM pg_catalog.pg_operator WHERE oid = d.refobjid)
        WHEN 'pg_catalog.pg_type'::pg_catalog.regclass
            THEN (SELECT typowner FROM pg_catalog.pg_type WHERE oid = d.refobjid)
        WHEN 'pg_catalog.pg_opclass'::pg_catalog.regclass
            THEN (SELECT opcowner FROM pg_catalog.pg_opclass WHERE oid = d.refobjid)
        WHEN 'pg_catalog.pg_collation'::pg_catalog.regclass
            THEN (SELECT collowner FROM pg_catalog.pg_collation WHERE oid = d.refobjid)
        END
    FROM parts p JOIN pg_catalog.pg_depend d ON d.classid = p.classid AND d.objid = p.objid
    WHERE d.refclassid IN ('pg_catalog.pg_proc'::pg_catalog.regclass,
                           'pg_catalog.pg_operator'::pg_catalog.regclass,
                           'pg_catalog.pg_type'::pg_catalog.regclass,
                           'pg_catalog.pg_opclass'::pg_catalog.regclass,
                           'pg_catalog.pg_collation'::pg_catalog.regclass)
)
SELECT w.nspname, w.relname, w.relkind::text,
       NOT EXISTS (SELECT 1 FROM owners o WHERE o.root = w.oid
                   AND (o.owner IS NULL OR o.owner NOT IN (SELECT oid FROM trusted)))
FROM wanted w
"""


@dataclass(frozen=True)
class Plannable:
    """A statement that passed gate 1: its tree and the table names it reads."""

    tree: ast.RawStmt
    relations: frozenset[Name]


def plannable(text: str) -> tuple[Plannable | None, str | None]:
    """(the statement, None) when it may be planned, else (None, the reason it is skipped)."""
    try:
        statements = parse_sql(text)
    except ParseError:
        return None, "unparsable"
    if len(statements) != 1 or not isinstance(statements[0].stmt, ast.SelectStmt):
        return None, "not_a_select"
    names = names_in(statements[0].stmt)
    if names.foreign_code():
        return None, "non_catalog_code"
    if any(isinstance(n, ast.SelectStmt) and (n.lockingClause or n.intoClause)
           for n in walk(statements[0].stmt)):
        return None, "not_a_select"
    return Plannable(statements[0], frozenset(names.relations)), None


def resolve(relations: frozenset[Name], schemas: list[str],
            found: set[tuple[str, str]]) -> dict[Name, str] | None:
    """The schema of each table, searched as PostgreSQL would (pg_catalog first);
    None when one is not found."""
    resolved: dict[Name, str] = {}
    for schema, name in relations:
        path = [schema] if schema is not None else ["pg_catalog", *schemas]
        hit = next((s for s in path if (s, name) in found), None)
        if hit is None:
            return None
        resolved[(schema, name)] = hit
    return resolved


class _Qualify(Visitor):
    def __init__(self, resolved: dict[Name, str]):
        self.resolved = resolved

    def visit_RangeVar(self, ancestors: object, node: ast.RangeVar) -> None:
        schema = self.resolved.get((node.schemaname, str(node.relname)))
        if node.schemaname is None and schema is not None:
            node.schemaname = schema


def qualified(statement: Plannable, resolved: dict[Name, str]) -> str:
    """The statement's text with every table named with its schema."""
    tree = parse_sql(RawStream()(statement.tree))[0]  # a copy: the original stays as parsed
    _Qualify(resolved)(tree)
    return str(RawStream()(tree))
