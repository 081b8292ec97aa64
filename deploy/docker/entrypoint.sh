#!/bin/sh
# Secrets from files: for every NAME_FILE in the environment, export NAME with the
# file's content and drop NAME_FILE (the services reject unknown variables of their
# prefix), then run the command. PGPASSWORD_FILE gives libpq its password, so no
# password is ever written into a DSN, a compose file or an image.
set -eu
for name in $(env | sed -n 's/^\([A-Za-z0-9_]*\)_FILE=.*$/\1/p'); do
  file=$(printenv "${name}_FILE")
  if [ ! -r "$file" ]; then
    echo "dbhealth-entrypoint: ${name}_FILE=$file is not a readable file" >&2
    exit 2
  fi
  value=$(cat "$file")
  export "$name=$value"
  unset "${name}_FILE"
done
exec "$@"
