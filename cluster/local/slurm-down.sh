#!/usr/bin/env bash
# Stops the single-node Slurm started by slurm-up.sh (slurmd, slurmctld, munged).
set -uo pipefail
DIR="${CAPG_SLURM_DIR:-/tmp/capg-slurm}"
for d in slurmd slurmctld munged; do
  pidfile="$DIR/run/$d.pid"
  if [ -f "$pidfile" ]; then
    pid="$(cat "$pidfile")"
    kill "$pid" 2>/dev/null && for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -9 "$pid" 2>/dev/null
    rm -f "$pidfile"
  fi
done
echo "slurm-down: stopped"
