"""A throwaway PostgreSQL cluster for one test session or one test (free port, temp dir)."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg

from demo.cluster import LocalCluster

from .ports import free_port

# Durability off: these clusters live for minutes and are thrown away.
FAST = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


class PostgresServer(LocalCluster):
    def __init__(self, *, max_connections: int = 200, extra_conf: dict[str, str] | None = None,
                 initdb: bool = True):
        super().__init__(Path(tempfile.mkdtemp(prefix="dbhealth-pg-")), free_port(),
                         max_connections=max_connections, extra_conf={**FAST, **(extra_conf or {})})
        if initdb:
            self.initdb()

    @classmethod
    def standby_of(cls, primary: LocalCluster, application_name: str = "standby1") -> PostgresServer:
        """A streaming standby cloned from ``primary`` with pg_basebackup."""
        standby = cls(initdb=False, extra_conf={
            "primary_conninfo": f"'host=127.0.0.1 port={primary.port} user=postgres "
                                f"application_name={application_name}'",
        })
        standby.basebackup_from(primary)
        return standby

    def create_database(self, name: str, template: str | None = None) -> str:
        with self.connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            tmpl = f' TEMPLATE "{template}"' if template else ""
            conn.execute(f'CREATE DATABASE "{name}"{tmpl}')
        return self.dsn(name)

    def destroy(self) -> None:
        if self.is_running():
            with contextlib.suppress(subprocess.SubprocessError, RuntimeError):
                self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)



MALLORY = "mallory"


@contextlib.contextmanager
def mallory_session(dsn: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """An autocommit session as the login role ``mallory``, after giving it CREATE on
    ``public`` of ``dsn``: a role that can write where our components look, but cannot act
    as them."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [MALLORY]).fetchone() is None:
            conn.execute(f"CREATE ROLE {MALLORY} LOGIN")
        conn.execute(f"GRANT CREATE ON SCHEMA public TO {MALLORY}")
        conn.execute(f"SET ROLE {MALLORY}")
        yield conn


def plant_as_mallory(dsn: str, ddl: str = "") -> None:
    """Run ``ddl`` (nothing: only the grant) as ``mallory``."""
    with mallory_session(dsn) as conn:
        if ddl:
            conn.execute(ddl.encode())
