#!/usr/bin/env bash
# The main job: installs, builds in release mode and runs a short CA-PG training on the
# embedded synthetic environment, with progress and a result line.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh release
# mpirun refuses to run as root unless told; --oversubscribe lets 2 ranks run on 1 core.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
exec mpirun -np 2 --oversubscribe .build/release/capg train --estimator capg --items 10000 --k 50 \
  --steps 200 --lr 0.01 --run-dir runs/quickstart --overwrite "$@"
