#!/usr/bin/env python3
"""Runs `capg bench` and its peers alternately and prints capg's speed-up pair by pair.

For each round and each estimator (capg-threshold, vpg) it runs, one after the other,
capg (release build, `capg bench --json --no-phases --no-ceilings`), the numpy peer naive
and --fair and, if `torch` imports, the PyTorch peer naive and --fair, each with the same
sizes and the same number of BLAS/intra-op threads (--threads, default 1:
OPENBLAS_NUM_THREADS, OMP_NUM_THREADS, MKL_NUM_THREADS and threadpoolctl /
torch.set_num_threads). Naive is straightforward code that allocates its arrays every step;
fair takes capg's legitimate shortcuts (preallocated, reused buffers, rewarded rows only,
per-row Newton exit; see numpy_step.py and torch_step.py; check_peers.py checks the modes
compute the same step). Every run reports the median of its timed steps; the ratio of a pair
is peer seconds / capg seconds (= capg's queries/s over the peer's), summarized over rounds
as min / median / max, against all four peers (numpy naive, numpy fair, torch naive, torch
fair). If torch does not import (or --no-torch), the output says so and lists numpy only.

The process environment is the same for every contender. OPENBLAS_CORETYPE and
OPENBLAS_L2_SIZE, if set on the machine, are kept unless --unset-openblas-hints is given,
which removes them for all contenders alike (benchmarks only; never in tests or CI).

Usage: scripts/bench/compare.py [--rounds 5] [--steps 3] [--capg .build/release/capg]
       [--python /tmp/bench-venv/bin/python] [--items 100000 --dim 64 --k 100 --batch-size 256]
       [--no-torch]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def run_json(cmd, env):
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    line = [l for l in out.splitlines() if l.startswith("{")][-1]
    return json.loads(line)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--capg", default=os.path.join(HERE, "..", "..", ".build", "release", "capg"))
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--k", type=int, default=100)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--estimators", default="capg-threshold,vpg")
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--unset-openblas-hints", action="store_true")
    a = ap.parse_args()

    env = dict(os.environ)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(a.threads)
    if a.unset_openblas_hints:
        env.pop("OPENBLAS_CORETYPE", None)
        env.pop("OPENBLAS_L2_SIZE", None)
    sizes = ["--items", str(a.items), "--dim", str(a.dim), "--k", str(a.k), "--batch-size", str(a.batch_size)]
    # (script, mode) per peer; every peer runs naive and --fair.
    peers = [("numpy", "naive"), ("numpy", "fair")]
    if a.no_torch:
        torch_note = "torch: skipped (--no-torch)"
    else:
        probe = subprocess.run([a.python, "-c", "import torch; print(torch.__version__)"],
                               env=env, capture_output=True, text=True)
        if probe.returncode == 0:
            torch_note = "torch %s (%s)" % (probe.stdout.strip(), a.python)
            peers += [("torch", "naive"), ("torch", "fair")]
        else:
            err = (probe.stderr.strip().splitlines() or ["exit %d" % probe.returncode])[-1]
            torch_note = "torch: NOT importable with %s (%s); the torch peers were not run" % (a.python, err)
    print(torch_note, file=sys.stderr, flush=True)
    names = ["%s %s" % p for p in peers]
    estimators = a.estimators.split(",")
    seconds = {(e, c): [] for e in estimators for c in ["capg"] + names}
    for rnd in range(a.rounds):
        for e in estimators:
            r = run_json([a.capg, "bench", "--json", "--no-phases", "--no-ceilings", "--no-paper", "--variants", e,
                          "--steps", str(a.steps), "--blas-threads", str(a.threads)] + sizes, env)
            seconds[(e, "capg")].append(r["variants"][0]["median_seconds"])
            for (script, mode), name in zip(peers, names):
                r = run_json([a.python, os.path.join(HERE, script + "_step.py"), "--estimator", e, "--steps", str(a.steps),
                              "--threads", str(a.threads)] + (["--fair"] if mode == "fair" else []) + sizes, env)
                if r.get("mode") != mode:
                    sys.exit("%s printed mode %r, expected %r" % (name, r.get("mode"), mode))
                seconds[(e, name)].append(r["median_seconds"])
            print("round %d %s: " % (rnd + 1, e) + ", ".join(
                "%s %.1f ms" % (c, 1e3 * seconds[(e, c)][-1]) for c in ["capg"] + names), file=sys.stderr, flush=True)
    print("N=%d d=%d K=%d B=%d, %d thread(s) per contender, %d rounds x %d timed steps (alternating)"
          % (a.items, a.dim, a.k, a.batch_size, a.threads, a.rounds, a.steps))
    print(torch_note)
    print("%-16s %-12s %12s %12s   %s" % ("estimator", "peer", "capg ms", "peer ms", "speed-up capg/peer min / median / max"))
    for e in estimators:
        for p in names:
            ratios = [ps / cs for ps, cs in zip(seconds[(e, p)], seconds[(e, "capg")])]
            print("%-16s %-12s %12.1f %12.1f   %.2f / %.2f / %.2f" % (
                e, p, 1e3 * statistics.median(seconds[(e, "capg")]), 1e3 * statistics.median(seconds[(e, p)]),
                min(ratios), statistics.median(ratios), max(ratios)))


if __name__ == "__main__":
    main()
