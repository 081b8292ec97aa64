#!/bin/sh
# The `replica` profile's standby: clone the primary once with pg_basebackup (-R writes
# primary_conninfo and standby.signal), then run as a hot standby.
set -eu
export PGPASSWORD="$(cat /run/secrets/replication_password)"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  until pg_basebackup -h postgres -U replicator -D "$PGDATA" -R -X stream -C -S standby1 \
        --checkpoint=fast; do
    echo "replica: waiting for the primary"
    rm -rf "${PGDATA:?}"/*
    sleep 2
  done
  chmod 700 "$PGDATA"
fi
exec postgres -c hot_standby=on -c shared_preload_libraries=pg_stat_statements
