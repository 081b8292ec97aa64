"""Index candidates from a statement's parse tree: the columns its WHERE and JOIN clauses filter on.

Each SELECT (including subqueries) is its own scope: its FROM list gives the
aliases, its WHERE clause and JOIN ... ON conditions give the predicates. A
predicate ``column <op> something`` (``=``, ``IN``, ranges, ``BETWEEN``) makes
the column a candidate; equality columns come first because they make the best
leading index columns.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from .classify import Table

EQUALITY_OPS = {"="}
RANGE_OPS = {"<", ">", "<=", ">="}


def _name(node: dict[str, Any]) -> str | None:
    string = node.get("String")
    return string.get("sval") if isinstance(string, dict) else None


def _children(node: Any) -> Iterator[Any]:
    if isinstance(node, dict):
        yield from node.values()
    elif isinstance(node, list):
        yield from node


def _selects(node: Any) -> Iterator[dict[str, Any]]:
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict) and isinstance(item.get("SelectStmt"), dict):
            yield item["SelectStmt"]
        stack.extend(_children(item))


def _scope(from_clause: list[Any]) -> tuple[dict[str, Table], list[Any]]:
    """Aliases → tables of one FROM list, and the JOIN ... ON conditions in it."""
    aliases: dict[str, Table] = {}
    quals: list[Any] = []
    stack = list(from_clause)
    while stack:
        item = stack.pop()
        if not isinstance(item, dict) or "RangeSubselect" in item or "SelectStmt" in item:
            continue  # a subquery is its own scope
        if "RangeVar" in item:
            rv = item["RangeVar"]
            table: Table = (rv.get("schemaname"), rv["relname"])
            alias = (rv.get("alias") or {}).get("aliasname") or rv["relname"]
            aliases[alias] = table
            continue
        if "JoinExpr" in item:
            join = item["JoinExpr"]
            if "quals" in join:
                quals.append(join["quals"])
            stack.extend([join.get("larg"), join.get("rarg")])
            continue
        stack.extend(_children(item))
    return aliases, quals


def _predicates(node: Any) -> Iterator[tuple[dict[str, Any], bool]]:
    """(ColumnRef, is_equality) for every simple comparison in an expression tree."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if "SelectStmt" in item:
                continue
            expr = item.get("A_Expr")
            if isinstance(expr, dict):
                kind = expr.get("kind", "")
                ops = {_name(n) for n in expr.get("name", []) if isinstance(n, dict)}
                equality = kind == "AEXPR_IN" or (kind == "AEXPR_OP" and bool(ops & EQUALITY_OPS))
                usable = equality or kind.startswith("AEXPR_BETWEEN") or (
                    kind == "AEXPR_OP" and bool(ops & RANGE_OPS))
                if usable:
                    for side in (expr.get("lexpr"), expr.get("rexpr")):
                        if isinstance(side, dict) and "ColumnRef" in side:
                            yield side["ColumnRef"], equality
        stack.extend(_children(item))


def predicate_columns(statements: Sequence[dict[str, Any]],
                      columns_of: Callable[[Table], set[str]]) -> dict[Table, list[str]]:
    """Candidate columns per table, equality columns first, in order of appearance."""
    found: dict[Table, list[tuple[str, bool]]] = {}
    for select in _selects(list(statements)):
        aliases, quals = _scope(select.get("fromClause", []))
        if not aliases:
            continue
        for expr in [select.get("whereClause"), *quals]:
            if expr is None:
                continue
            for ref, equality in _predicates(expr):
                names = [_name(f) for f in ref.get("fields", []) if isinstance(f, dict)]
                if not names or None in names:
                    continue  # t.* or something exotic
                table = _resolve([n for n in names if n is not None], aliases, columns_of)
                if table is not None:
                    found.setdefault(table, []).append((names[-1] or "", equality))
    result: dict[Table, list[str]] = {}
    for table, cols in found.items():
        ordered = [c for c, eq in cols if eq] + [c for c, eq in cols if not eq]
        result[table] = list(dict.fromkeys(ordered))
    return result


def _resolve(names: list[str], aliases: dict[str, Table],
             columns_of: Callable[[Table], set[str]]) -> Table | None:
    if len(names) >= 2:
        return aliases.get(names[-2])
    owners = [t for t in dict.fromkeys(aliases.values()) if names[0] in columns_of(t)]
    return owners[0] if len(owners) == 1 else None


def index_candidates(columns: list[str], max_columns: int = 2) -> list[tuple[str, ...]]:
    """Single columns first, then ordered pairs (dexter tries 1-column, then 2-column)."""
    singles: list[tuple[str, ...]] = [(c,) for c in columns]
    if max_columns < 2:
        return singles
    pairs: list[tuple[str, ...]] = [(a, b) for a in columns for b in columns if a != b]
    return singles + pairs
