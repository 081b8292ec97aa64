"""Wedding domain of a statement, from the tables it touches (parsed, never pattern-matched)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from pglast import parser as pg

Table = tuple[str | None, str]  # (schema or None, relation), lower-case as PostgreSQL folds them


def parse_tree(text: str) -> list[dict[str, Any]] | None:
    """The raw parse tree of every statement in ``text`` as plain dicts; None if unparsable."""
    try:
        tree = json.loads(pg.parse_sql_json(text))
    except Exception:  # parse errors and any pglast internal failure alike
        return None
    return [entry["stmt"] for entry in tree.get("stmts", []) if "stmt" in entry]


def walk(node: Any) -> Iterator[dict[str, Any]]:
    """Every dict below ``node`` (parse nodes and their typed fields), depth first."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def tables_in(statements: Sequence[dict[str, Any]]) -> set[Table]:
    """Relations referenced anywhere (FROM, JOIN, subqueries, DML targets), minus CTE names."""
    ctes: set[str] = set()
    found: set[Table] = set()
    for fields in walk(list(statements)):
        if "ctename" in fields:
            ctes.add(fields["ctename"])
        # A RangeVar, wrapped ({"RangeVar": {...}}) or as a typed field (InsertStmt.relation).
        elif "relname" in fields and "relpersistence" in fields:
            found.add((fields.get("schemaname"), fields["relname"]))
    return {(schema, rel) for schema, rel in found if schema is not None or rel not in ctes}


class Classifier:
    """table → domain, with a priority when a statement touches several domains."""

    def __init__(self, table_domains: Mapping[str, str], priority: Sequence[str]):
        self.table_domains = {k.lower(): v for k, v in table_domains.items()}
        self.rank = {domain: i for i, domain in enumerate(priority)}

    def domain_of_tables(self, tables: set[Table]) -> str:
        domains = set()
        for schema, rel in tables:
            qualified = f"{schema}.{rel}" if schema else None
            domain = (self.table_domains.get(qualified) if qualified else None) \
                or self.table_domains.get(rel)
            if domain is not None and (schema in (None, "public") or qualified in self.table_domains):
                domains.add(domain)
        domains.discard("other")
        if not domains:
            return "other"
        return min(domains, key=lambda d: (self.rank.get(d, len(self.rank)), d))

    def classify(self, text: str | None) -> tuple[str, set[Table]]:
        """(domain, tables) of a statement text; ``other`` when unparsable or unmapped."""
        if not text:
            return "other", set()
        tree = parse_tree(text)
        if tree is None:
            return "other", set()
        tables = tables_in(tree)
        return self.domain_of_tables(tables), tables
