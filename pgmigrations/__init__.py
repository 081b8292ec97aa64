"""Versioned schema migrations, shared by the exporter and the receiver.

Files ``NNNN_name.sql`` in a package are applied in order, each in its own transaction,
and recorded in a history table. An advisory lock keeps two processes starting together
from applying the same file twice. Before anything is applied, every table the files
create (and the history table) that already exists must be ours: ``CREATE TABLE IF NOT
EXISTS`` would otherwise keep a table another role created first, and we would then
write into it, running that role's triggers with our privileges.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any

import psycopg
from psycopg import sql as pgsql

_FILE_NAME = re.compile(r"^(\d{4})_\w+\.sql$")
_CREATES_TABLE = re.compile(
    r"\bCREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(?:\w+\.)?(\w+)", re.IGNORECASE)

# Our tables as they exist in the schema, with whether we may trust them: a plain table owned
# by the migrating role, by a superuser, or (for a non-superuser) by a role it belongs to.
OWNERSHIP_SQL = """
SELECT c.relname::text, c.relkind::text, r.rolname::text, n.nspname::text,
       c.relkind = 'r' AND (c.relowner = me.oid OR r.rolsuper
                            OR (NOT me.rolsuper AND pg_catalog.pg_has_role(me.oid, c.relowner,
                                                                           'MEMBER')))
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_roles r ON r.oid = c.relowner
CROSS JOIN (SELECT oid, rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) AS me
WHERE n.nspname = pg_catalog.current_schema() AND c.relname = ANY(%(tables)s::text[])
"""


# Roles that may create objects in a schema on the session's search_path and could not act
# as the session's role anyway (neither superusers nor members of it): they could plant a
# function or an operator with a closer argument type than pg_catalog's, which unqualified
# SQL would then run with the session's privileges.
OTHER_WRITERS_SQL = """
SELECT n.nspname::text, pg_catalog.array_agg(r.rolname::text ORDER BY r.rolname)
FROM pg_catalog.unnest(pg_catalog.current_schemas(false)) AS p(name)
JOIN pg_catalog.pg_namespace n ON n.nspname = p.name
JOIN pg_catalog.pg_roles r ON pg_catalog.has_schema_privilege(r.oid, n.oid, 'CREATE')
WHERE r.rolcanlogin AND NOT r.rolsuper  -- a group role acts through members, listed themselves
  AND NOT pg_catalog.pg_has_role(r.oid, current_user, 'MEMBER')
GROUP BY n.nspname ORDER BY n.nspname
"""


def other_writers(conn: psycopg.Connection[Any]) -> list[str]:
    """``schema (role, role)`` for every schema on the search_path that others can write."""
    found = []
    for schema, roles in conn.execute(OTHER_WRITERS_SQL):
        shown = ", ".join(roles[:5]) + (f" and {len(roles) - 5} more" if len(roles) > 5 else "")
        found.append(f"{schema} ({shown})")
    return found


class MigrationRefused(RuntimeError):
    """The schema holds a table of ours that someone else created (it could run their code)."""


@dataclass(frozen=True)
class Migrations:
    """One component's migrations."""

    package: str             # holds the NNNN_name.sql files, e.g. "receiver.migrations"
    history_table: str       # which files were applied, and when
    lock_key: int            # the advisory lock taken while applying
    application_name: str    # how the migrating session shows in pg_stat_activity
    # Tables a file may find already made by someone else, on purpose (a design table the
    # application may have created first); every other table it creates must be ours.
    adopted: frozenset[str] = frozenset()

    def files(self) -> list[tuple[int, str, str]]:
        """(version, file name, SQL), in order."""
        found = []
        for entry in resources.files(self.package).iterdir():
            match = _FILE_NAME.match(entry.name)
            if match:
                found.append((int(match.group(1)), entry.name, entry.read_text()))
        return sorted(found)

    def own_tables(self) -> list[str]:
        """The history table and every table the files create, less the adopted ones."""
        created = [name for _v, _n, sql in self.files() for name in _CREATES_TABLE.findall(sql)]
        return sorted({self.history_table, *created} - self.adopted)


def pending_in(conn: psycopg.Connection[Any], migrations: Migrations) -> list[str]:
    """Names of files not applied yet (raises ``UndefinedTable`` on a blank database)."""
    done = _done(conn, migrations)
    return [name for version, name, _sql in migrations.files() if version not in done]


def _done(conn: psycopg.Connection[Any], migrations: Migrations) -> set[int]:
    query = pgsql.SQL("SELECT version FROM {}").format(pgsql.Identifier(migrations.history_table))
    return {row[0] for row in conn.execute(query)}


def migrate(dsn: str, migrations: Migrations, progress: Callable[[str], None] = print,
            schema: str | None = None) -> list[str]:
    """Apply the pending files; the names applied.

    With ``schema``, the session's search_path is that schema alone (pg_catalog is still
    searched first), so files that name no schema create their tables exactly there;
    without, the role's own search_path decides, as it will for the component later.
    """
    options = f"-c search_path={schema}" if schema else ""
    applied: list[str] = []
    with psycopg.connect(dsn, autocommit=True, application_name=migrations.application_name,
                         options=options) as conn:
        conn.execute("SELECT pg_catalog.pg_advisory_lock(%s::bigint)", (migrations.lock_key,))
        try:
            _refuse_foreign_tables(conn, migrations)
            history = pgsql.Identifier(migrations.history_table)
            conn.execute(pgsql.SQL("""CREATE TABLE IF NOT EXISTS {} (
                                version integer PRIMARY KEY, name text NOT NULL,
                                applied_at timestamptz NOT NULL DEFAULT now())""").format(history))
            done = _done(conn, migrations)
            for version, name, sql in migrations.files():
                if version in done:
                    continue
                with conn.transaction():
                    conn.execute(sql.encode())  # as written: no placeholders in a file
                    conn.execute(pgsql.SQL("INSERT INTO {} (version, name) VALUES (%s, %s)")
                                 .format(history), (version, name))
                progress(f"migrate: applied {name}")
                applied.append(name)
        finally:
            conn.execute("SELECT pg_catalog.pg_advisory_unlock(%s::bigint)", (migrations.lock_key,))
    if not applied:
        progress("migrate: schema is up to date")
    return applied


def _refuse_foreign_tables(conn: psycopg.Connection[Any], migrations: Migrations) -> None:
    rows = conn.execute(OWNERSHIP_SQL, {"tables": migrations.own_tables()}).fetchall()
    foreign = [f"{schema}.{name} ({'owned by ' + str(owner) if kind == 'r' else 'not a table'})"
               for name, kind, owner, schema, trusted in rows if not trusted]
    if foreign:
        raise MigrationRefused(
            "refusing to migrate: " + ", ".join(foreign) + " already exists and was not created "
            "by this role or a superuser; drop it (after checking who created it and why), or "
            "migrate into a schema only this component's owner can write")
