"""A throwaway PostgreSQL cluster (initdb on a free port, pg_stat_statements preloaded).

Runs as the ``postgres`` OS user when the tests run as root, because the server
refuses to run as root.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg

from .ports import free_port


def _bindir() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
    if not candidates:
        raise RuntimeError("no PostgreSQL server binaries under /usr/lib/postgresql (run scripts/setup.sh)")
    return Path(candidates[-1])


class PostgresServer:
    """One cluster; ``start``/``stop`` may be called repeatedly (fault tests)."""

    def __init__(self, *, max_connections: int = 200, extra_conf: dict[str, str] | None = None,
                 initdb: bool = True):
        self.port = free_port()
        self.bindir = _bindir()
        self.root = Path(tempfile.mkdtemp(prefix="dbhealth-pg-"))
        self.datadir = self.root / "data"
        self.logfile = self.root / "server.log"
        self.conf = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.root}'",
            "shared_preload_libraries": "'pg_stat_statements'",
            "pg_stat_statements.track": "all",
            "max_connections": str(max_connections),
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "track_io_timing": "on",
            "log_min_messages": "warning",
            **(extra_conf or {}),
        }
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            shutil.chown(self.root, "postgres", "postgres")
        if initdb:
            self._run(
                [str(self.bindir / "initdb"), "-D", str(self.datadir), "-U", "postgres",
                 "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"]
            )
            self._write_conf()

    def _write_conf(self) -> None:
        # Appended last, so these win over anything copied from a primary.
        with open(self.datadir / "postgresql.auto.conf", "a") as fh:
            fh.writelines(f"{key} = {value}\n" for key, value in self.conf.items())

    @classmethod
    def standby_of(cls, primary: PostgresServer, application_name: str = "standby1") -> PostgresServer:
        """A streaming standby cloned from ``primary`` with pg_basebackup."""
        standby = cls(initdb=False, extra_conf={
            "primary_conninfo": f"'host=127.0.0.1 port={primary.port} user=postgres "
                                f"application_name={application_name}'",
        })
        standby._run([str(standby.bindir / "pg_basebackup"), "-D", str(standby.datadir), "-R",
                      "-X", "stream", "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres",
                      "--no-sync"])
        standby._write_conf()
        return standby

    def _run(self, argv: list[str]) -> None:
        if self._as_postgres:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120)

    def start(self) -> None:
        self._run([str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-l", str(self.logfile),
                   "-w", "-t", "60", "start"])

    def stop(self, mode: str = "fast") -> None:
        self._run([str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", mode, "-w", "stop"])

    def is_running(self) -> bool:
        return (self.datadir / "postmaster.pid").exists()

    def dsn(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def connect(self, dbname: str = "postgres", **kwargs: object) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(self.dsn(dbname), autocommit=True, **kwargs)  # type: ignore[arg-type]

    def create_database(self, name: str, template: str | None = None) -> str:
        with self.connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            tmpl = f' TEMPLATE "{template}"' if template else ""
            conn.execute(f'CREATE DATABASE "{name}"{tmpl}')
        return self.dsn(name)

    def destroy(self) -> None:
        if self.is_running():
            try:
                self.stop("immediate")
            except subprocess.SubprocessError:
                pass
        shutil.rmtree(self.root, ignore_errors=True)
