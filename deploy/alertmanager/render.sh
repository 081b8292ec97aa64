#!/bin/sh
# Alertmanager in compose runs the example config, rules/alertmanager.yml, unchanged but
# for two lines: the receiver's address inside the compose network, and the bearer token
# read from a file (credentials_file) instead of written in. Then it runs the command.
#   EXAMPLE     the example config           (default /etc/alertmanager/example.yml)
#   OUT         where the rendered config goes (default /tmp/alertmanager.yml)
#   RECEIVER    the receiver's base URL      (default http://receiver:9095)
#   TOKEN_FILE  the receiver token's file    (default /run/secrets/receiver_token)
set -eu
EXAMPLE=${EXAMPLE:-/etc/alertmanager/example.yml}
OUT=${OUT:-/tmp/alertmanager.yml}
RECEIVER=${RECEIVER:-http://receiver:9095}
TOKEN_FILE=${TOKEN_FILE:-/run/secrets/receiver_token}
grep -q 'credentials: change-me-to-RECEIVER_AUTH_TOKEN' "$EXAMPLE" \
  || { echo "render.sh: $EXAMPLE no longer has the token placeholder" >&2; exit 2; }
sed -e "s#http://127.0.0.1:9095/#$RECEIVER/#" \
    -e "s#credentials: change-me-to-RECEIVER_AUTH_TOKEN#credentials_file: $TOKEN_FILE#" \
    "$EXAMPLE" > "$OUT"
exec "$@"
