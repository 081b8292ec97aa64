"""A PostgreSQL cluster of our own (initdb, pg_ctl), for the demo and the tests.

pg_stat_statements is preloaded so the query tracker has data. When run as root
the server binaries run as the ``postgres`` OS user, because PostgreSQL refuses
to run as root.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from pathlib import Path

import psycopg


def server_bindir() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
    if not candidates:
        raise RuntimeError("no PostgreSQL server binaries under /usr/lib/postgresql "
                           "(run scripts/setup.sh)")
    return Path(candidates[-1])


class LocalCluster:
    """One cluster in ``root``; ``start``/``stop`` may be called repeatedly."""

    def __init__(self, root: Path, port: int, *, max_connections: int = 200,
                 extra_conf: dict[str, str] | None = None):
        self.root = Path(root)
        self.port = port
        self.bindir = server_bindir()
        self.datadir = self.root / "data"
        self.logfile = self.root / "server.log"
        self.conf = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(port),
            "unix_socket_directories": f"'{self.root}'",
            "shared_preload_libraries": "'pg_stat_statements'",
            "pg_stat_statements.track": "all",
            "max_connections": str(max_connections),
            "track_io_timing": "on",
            "log_min_messages": "warning",
            **(extra_conf or {}),
        }
        self._as_postgres = os.geteuid() == 0

    @property
    def initialized(self) -> bool:
        return (self.datadir / "PG_VERSION").exists()

    def _run(self, argv: list[str]) -> None:
        if self._as_postgres:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                              timeout=300, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{Path(argv[4] if argv[0] == 'runuser' else argv[0]).name} failed "
                               f"({done.returncode}): {done.stderr.strip()[-500:]}")

    def _prepare_root(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if self._as_postgres:
            shutil.chown(self.root, "postgres", "postgres")

    def initdb(self) -> None:
        self._prepare_root()
        self._run([str(self.bindir / "initdb"), "-D", str(self.datadir), "-U", "postgres",
                   "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"])
        self.write_conf()

    def write_conf(self) -> None:
        # Appended last, so these win over anything copied from a primary.
        with open(self.datadir / "postgresql.auto.conf", "a") as fh:
            fh.writelines(f"{key} = {value}\n" for key, value in self.conf.items())

    def basebackup_from(self, primary: LocalCluster) -> None:
        """Make this cluster a streaming standby of ``primary``."""
        self._prepare_root()
        self._run([str(self.bindir / "pg_basebackup"), "-D", str(self.datadir), "-R",
                   "-X", "stream", "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres",
                   "--no-sync"])
        self.write_conf()

    def start(self) -> None:
        self._run([str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-l", str(self.logfile),
                   "-w", "-t", "60", "start"])

    def stop(self, mode: str = "fast") -> None:
        self._run([str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", mode, "-w", "stop"])

    def is_running(self) -> bool:
        return (self.datadir / "postmaster.pid").exists()

    def dsn(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def connect(self, dbname: str = "postgres",
                **kwargs: object) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(self.dsn(dbname), autocommit=True, **kwargs)  # type: ignore[arg-type]
