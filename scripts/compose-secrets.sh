#!/usr/bin/env bash
# Random secrets for docker-compose.yml, one file each in ./secrets/ (git-ignored).
# Existing files are kept, so re-running is safe. The directory is private (0700); the
# files are 0644 because compose bind-mounts them into containers whose services run as
# non-root users (dbhealth 10001, grafana 472, postgres 999) and keep the host's mode.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p secrets
chmod 700 secrets
for name in postgres_password monitor_password receiver_password replication_password \
            receiver_token receiver_link_secret sms_auth_token grafana_admin_password s3_secret_key; do
  if [ ! -s "secrets/$name" ]; then
    (umask 022; python3 -c 'import secrets; print(secrets.token_urlsafe(32))' > "secrets/$name")
    echo "compose-secrets: wrote secrets/$name"
  fi
done
