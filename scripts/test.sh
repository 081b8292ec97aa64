#!/usr/bin/env bash
# The whole test suite: set-up, static checks, then pytest against real
# PostgreSQL, Redis, promtool and Alertmanager processes started by the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "== ruff"; .venv/bin/ruff check .
echo "== mypy"; .venv/bin/mypy
echo "== pytest"; exec .venv/bin/pytest "$@"
