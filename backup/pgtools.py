"""Finding the PostgreSQL client tools, and handing them a DSN without putting its password in argv."""

from __future__ import annotations

import glob
import shutil
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict

from .errors import CouldNotRun

# libpq keyword -> environment variable (the ones a verifier's DSN plausibly carries).
_ENV = {"host": "PGHOST", "hostaddr": "PGHOSTADDR", "port": "PGPORT", "user": "PGUSER",
        "password": "PGPASSWORD", "dbname": "PGDATABASE", "sslmode": "PGSSLMODE",
        "sslrootcert": "PGSSLROOTCERT", "sslcert": "PGSSLCERT", "sslkey": "PGSSLKEY",
        "connect_timeout": "PGCONNECT_TIMEOUT", "options": "PGOPTIONS",
        "application_name": "PGAPPNAME", "passfile": "PGPASSFILE", "service": "PGSERVICE"}


def tool(name: str, bindir: str | None = None) -> str:
    """The newest server-version build of ``name`` (pg_dump/pg_restore must not be older than the server)."""
    if bindir:
        path = Path(bindir) / name
        if not path.exists():
            raise CouldNotRun(f"drill.pg_bindir: {path} does not exist")
        return str(path)
    builds = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                    key=lambda p: int(p.split("/")[-3]) if p.split("/")[-3].isdigit() else 0)
    if builds:
        return builds[-1]
    found = shutil.which(name)
    if not found:
        raise CouldNotRun(f"{name} not found (install postgresql-client or set drill.pg_bindir)")
    return found


def libpq_env(dsn: str) -> dict[str, str]:
    """The DSN as PG* variables: ``ps`` shows argv to every local user, the environment it does not."""
    env = {"PGCONNECT_TIMEOUT": "10"}
    for key, value in conninfo_to_dict(dsn).items():
        if key in _ENV and value is not None:
            env[_ENV[key]] = str(value)
    return env
