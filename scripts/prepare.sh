# Sourced by the commands in scripts/: installs dependencies, builds into
# build/ (everything, or the targets in LIFELINE_TARGETS) and starts the
# private PostgreSQL (stopped when the shell exits).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/deps.sh
bash scripts/build.sh ${LIFELINE_TARGETS:-}
source scripts/pg.sh
pg_start
