#!/bin/sh
# pgbackrest-init: one-shot of the compose `backup` profile, in the postgres image as the
# postgres user, beside the running `postgres` (its data directory read-only, its socket
# directory shared). Idempotent, so every `docker compose --profile backup up` may rerun it:
#   1. stanza-create (a valid existing stanza is left as it is);
#   2. the archive marker, which arms deploy/postgres/archive-push.sh: from here on a
#      failed archive-push is a failure that PostgreSQL retries, never a skipped segment;
#   3. check: a WAL switch pushed through archive_command and found in the repository;
#   4. backup: incremental, which pgBackRest turns into a full one when there is none
#      (the first full backup is where the recovery window starts); full on Sundays (UTC,
#      $PGBACKREST_FULL_WEEKDAY, 1-7), so that a restore replays at most a week of
#      incrementals and repo1-retention-full expires the older fulls with their chains.
# The `pgbackrest-backup` service reruns it nightly (deploy/compose/every.sh).
set -eu
full_weekday=${PGBACKREST_FULL_WEEKDAY:-7}
case "$full_weekday" in  # checked before any work: a typo must not mean "never a full"
  [1-7]) ;;
  *) echo "pgbackrest-init: PGBACKREST_FULL_WEEKDAY must be 1-7 (Monday-Sunday), not '$full_weekday'" >&2
     exit 2;;
esac
marker=${DBHEALTH_ARCHIVE_MARKER:-/var/lib/dbhealth/pgbackrest/stanza-ready}
if [ -n "${PGBACKREST_REPO1_S3_KEY_SECRET_FILE:-}" ]; then  # as in archive-push.sh
  PGBACKREST_REPO1_S3_KEY_SECRET=$(cat "$PGBACKREST_REPO1_S3_KEY_SECRET_FILE")
  export PGBACKREST_REPO1_S3_KEY_SECRET
  unset PGBACKREST_REPO1_S3_KEY_SECRET_FILE
fi
pgbackrest stanza-create
if [ ! -e "$marker" ]; then
  # Written whole then renamed: archive-push.sh never sees a half-made marker.
  printf 'stanza %s created %s\n' "${PGBACKREST_STANZA:-?}" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    > "$marker.tmp"
  mv "$marker.tmp" "$marker"
  echo "pgbackrest-init: WAL archiving armed ($marker)"
fi
pgbackrest check
type=incr
[ "$(date -u +%u)" = "$full_weekday" ] && type=full
pgbackrest backup --type="$type"
echo "pgbackrest-init: done"
