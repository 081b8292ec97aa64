#!/bin/sh
# One-shot, in the dbhealth image, as the database administrator (PGPASSWORD from the
# postgres_password secret): the demo's WedSync data (skipped when already seeded; point
# the stack at your own database instead in production), the exporter's tables, the
# monitoring role (a pg_monitor member, never a superuser) and the receiver's database.
set -eu
ADMIN="postgresql://postgres@postgres:5432"
if [ "${DEMO_SEED:-1}" = 1 ]; then  # DEMO_SEED=0: your own database, no demo data
  dbhealth-demo --dsn "$ADMIN/wedsync" seed --weddings "${DEMO_WEDDINGS:-2000}"
fi
dbhealth-exporter migrate --database.url "$ADMIN/wedsync"
python - <<'PY'
import psycopg
from psycopg import sql

from demo.roles import create_monitoring_role

def secret(name: str) -> str:
    with open(f"/run/secrets/{name}", encoding="utf-8") as handle:
        return handle.read().strip()

with psycopg.connect("postgresql://postgres@postgres:5432/wedsync", autocommit=True) as conn:
    create_monitoring_role(conn, "dbhealth", secret("monitor_password"))
with psycopg.connect("postgresql://postgres@postgres:5432/postgres", autocommit=True) as conn:
    if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'receiver'").fetchone():
        conn.execute("CREATE ROLE receiver LOGIN")
    conn.execute(sql.SQL("ALTER ROLE receiver PASSWORD {}").format(sql.Literal(secret("receiver_password"))))
    if not conn.execute("SELECT 1 FROM pg_database WHERE datname = 'receiver'").fetchone():
        conn.execute("CREATE DATABASE receiver OWNER receiver")
print("db-init: done")
PY
