#!/usr/bin/env python3
"""Runs `capg bench` and its peers alternately and prints capg's speed-up pair by pair.

For each round and each estimator (capg-threshold, vpg) it runs, one after the other,
capg (release build, `capg bench --json --no-phases --no-ceilings`), the numpy peer and,
if `torch` imports, the PyTorch peer, each with the same sizes and the same number of
BLAS/intra-op threads (--threads, default 1: OPENBLAS_NUM_THREADS, OMP_NUM_THREADS,
MKL_NUM_THREADS and threadpoolctl / torch.set_num_threads). Every run reports the median
of its timed steps; the ratio of a pair is peer seconds / capg seconds (= capg's
queries/s over the peer's), summarized over rounds as min / median / max. Every peer runs
twice per round: naive (fresh arrays each step) and --fair (preallocated, reused buffers;
see numpy_step.py), so the ratios are reported against both.

The process environment is the same for every contender. OPENBLAS_CORETYPE and
OPENBLAS_L2_SIZE, if set on the machine, are kept unless --unset-openblas-hints is given,
which removes them for all contenders alike (benchmarks only; never in tests or CI).

Usage: scripts/bench/compare.py [--rounds 5] [--steps 3] [--capg .build/release/capg]
       [--python python3] [--items 100000 --dim 64 --k 100 --batch-size 256]
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
    have_torch = not a.no_torch and subprocess.run(
        [a.python, "-c", "import torch"], env=env, capture_output=True).returncode == 0
    # (script, mode) pairs; "numpy-fair" is numpy_step.py --fair. The torch peer has no fair
    # mode yet, so it runs naive only.
    peers = ["numpy", "numpy-fair"] + (["torch"] if have_torch else [])
    if not have_torch:
        print("torch: not importable with %s; PyTorch peer skipped" % a.python, file=sys.stderr)
    estimators = a.estimators.split(",")
    seconds = {(e, c): [] for e in estimators for c in ["capg"] + peers}
    for rnd in range(a.rounds):
        for e in estimators:
            r = run_json([a.capg, "bench", "--json", "--no-phases", "--no-ceilings", "--no-paper", "--variants", e,
                          "--steps", str(a.steps), "--blas-threads", str(a.threads)] + sizes, env)
            seconds[(e, "capg")].append(r["variants"][0]["median_seconds"])
            for p in peers:
                script, _, mode = p.partition("-")
                r = run_json([a.python, os.path.join(HERE, script + "_step.py"), "--estimator", e, "--steps", str(a.steps),
                              "--threads", str(a.threads)] + (["--fair"] if mode == "fair" else []) + sizes, env)
                seconds[(e, p)].append(r["median_seconds"])
            print("round %d %s: " % (rnd + 1, e) + ", ".join(
                "%s %.1f ms" % (c, 1e3 * seconds[(e, c)][-1]) for c in ["capg"] + peers), file=sys.stderr, flush=True)
    print("N=%d d=%d K=%d B=%d, %d thread(s) per contender, %d rounds x %d timed steps (alternating)"
          % (a.items, a.dim, a.k, a.batch_size, a.threads, a.rounds, a.steps))
    print("%-16s %-10s %12s %12s   %s" % ("estimator", "peer", "capg ms", "peer ms", "speed-up capg/peer min / median / max"))
    for e in estimators:
        for p in peers:
            ratios = [ps / cs for ps, cs in zip(seconds[(e, p)], seconds[(e, "capg")])]
            print("%-16s %-10s %12.1f %12.1f   %.2f / %.2f / %.2f" % (
                e, p, 1e3 * statistics.median(seconds[(e, "capg")]), 1e3 * statistics.median(seconds[(e, p)]),
                min(ratios), statistics.median(ratios), max(ratios)))


if __name__ == "__main__":
    main()
