#!/usr/bin/env bash
# The main job: set up, then bring the whole dbhealth system up locally against a
# demo database of its own (created and seeded on first run), and print where to look.
# Stop it with: .venv/bin/dbhealth-demo down
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/dbhealth-demo "${@:-up}"
