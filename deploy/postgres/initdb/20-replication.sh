#!/bin/sh
# Runs once, on an empty data directory: a replication role for the `replica` profile,
# its password from the secret file, and the pg_hba line standbys connect with.
set -eu
password=$(cat /run/secrets/replication_password)
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v password="$password" <<'SQL'
SELECT format('CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD %L', :'password')
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'replicator') \gexec
SQL
echo "host replication replicator all scram-sha-256" >> "$PGDATA/pg_hba.conf"
