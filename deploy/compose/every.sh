#!/bin/sh
# every.sh SECONDS HEARTBEAT COMMAND [ARG...]: the nightly backups of the compose `backup`
# profile. Runs COMMAND every SECONDS, the first time SECONDS after start (the profile's
# one-shot jobs take the first backups; this keeps them fresh, so the verifier's freshness
# check does not fail a long-running stack after a day). HEARTBEAT is touched at start
# and after every success: the healthcheck reads its age, so a schedule whose runs keep
# failing turns the container unhealthy as well as the verifier's checks red. A failed run
# is logged and retried after RETRY_SECONDS (default 300), never skipped until the next day.
# FIRST_SECONDS (default SECONDS) sets the wait before the first run.
# A shell loop rather than cron: neither image has a cron daemon, and one job a day needs none.
set -u
every=${1:?usage: every.sh SECONDS HEARTBEAT COMMAND [ARG...]}
heartbeat=${2:?usage: every.sh SECONDS HEARTBEAT COMMAND [ARG...]}
shift 2
[ "$#" -gt 0 ] || { echo "every.sh: no command given" >&2; exit 2; }
retry=${RETRY_SECONDS:-300}
wait=${FIRST_SECONDS:-$every}
case "$every$retry$wait" in
  ''|*[!0-9]*) echo "every.sh: SECONDS, RETRY_SECONDS and FIRST_SECONDS are whole seconds" >&2; exit 2;;
esac
sleeper=""
# As PID 1 a signal is ignored unless trapped; the pending sleep goes with us.
trap '[ -z "$sleeper" ] || kill "$sleeper" 2>/dev/null; echo "every.sh: stopped"; exit 0' TERM INT
touch "$heartbeat"
while :; do
  sleep "$wait" &   # in the background, so that SIGTERM (docker stop) ends the wait at once
  sleeper=$!
  wait "$sleeper"
  sleeper=""
  started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  if "$@"; then
    touch "$heartbeat"
    echo "every.sh: $1 succeeded (started $started); next in ${every}s"
    wait=$every
  else
    echo "every.sh: $1 failed with exit $? (started $started); retrying in ${retry}s" >&2
    wait=$retry
  fi
done
