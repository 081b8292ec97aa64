#!/bin/sh
# archive_command of the compose `postgres`: pgbackrest archive-push, once the stanza exists.
#
# WAL archiving is on in every compose stack (archive_mode needs a restart to change), but
# the repository exists only when the `backup` profile has run `pgbackrest-init`, which
# writes $DBHEALTH_ARCHIVE_MARKER after stanza-create. Until then each segment is logged as
# skipped and reported archived (exit 0), so that PostgreSQL recycles it instead of keeping
# every segment in pg_wal and retrying a store that is not there. Nothing is lost by that:
# a segment from before the first backup cannot be replayed anyway; the recovery window
# starts with the first full backup, whose own WAL arrives after the marker.
#
# After the marker, pgBackRest's exit status is ours: a failure is non-zero, PostgreSQL
# keeps the segment and retries it, pg_stat_archiver counts the failure and the
# DBHealthWalArchiving* alerts fire. A segment is never dropped once archiving is armed.
# (To leave the backup profile for good, remove the marker's volume: docs/deploy.md.)
set -u
segment=${1:?usage: archive-push.sh <path of the WAL segment (%p)>}
marker=${DBHEALTH_ARCHIVE_MARKER:-/var/lib/dbhealth/pgbackrest/stanza-ready}
if [ ! -e "$marker" ]; then
  echo "dbhealth-archive-push: no pgBackRest stanza yet ($marker absent: the backup profile" \
       "has not run); skipping $(basename "$segment"), not archived" >&2
  exit 0
fi
# The secret from its file (compose secret), never from the environment of the compose file;
# the _FILE variable is dropped because pgBackRest warns about PGBACKREST_* it does not know.
if [ -n "${PGBACKREST_REPO1_S3_KEY_SECRET_FILE:-}" ]; then
  if ! PGBACKREST_REPO1_S3_KEY_SECRET=$(cat "$PGBACKREST_REPO1_S3_KEY_SECRET_FILE"); then
    echo "dbhealth-archive-push: cannot read $PGBACKREST_REPO1_S3_KEY_SECRET_FILE" >&2
    exit 1
  fi
  export PGBACKREST_REPO1_S3_KEY_SECRET
  unset PGBACKREST_REPO1_S3_KEY_SECRET_FILE
fi
exec pgbackrest archive-push "$segment"
