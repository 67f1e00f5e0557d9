#!/usr/bin/env python3
"""Checks that the peers of `capg bench` compute the same step in every mode, in seconds.

At a tiny size with a fixed seed it runs numpy_step.py and torch_step.py naive and --fair
(--dump: the first step's gradients dW, dE, db, and the parameters before and after all
steps) and compares, per estimator:

  numpy naive vs numpy fair      (same numpy random stream)
  torch naive vs torch fair      (same torch random stream)
  numpy naive vs torch naive     (torch --numpy-rng: the same numpy random numbers)
  numpy fair  vs torch fair      (likewise)

The error of a gradient is max|a − b| / max|b| (relative to the array's scale); the error of
an update (ΔW, ΔE, Δb: parameters after all steps minus before) is ‖a − b‖₂ / ‖b‖₂, because
Adam divides every entry by its own RMS: a float32 GEMM rounding of 1e-7 · max|g| on an entry
with g ≈ 1e-7 · max|g| changes that entry's update by percents, not the update. Every pair must
stay within --rtol (default 1e-5) and agree on the number of rewarded rows (so the estimator
ran, and on the same rows). Exit status 0 when all pairs pass. If torch does not import, the
torch pairs are reported as skipped (exit status 2 if nothing failed).

    python3 scripts/bench/check_peers.py [--python /tmp/bench-venv/bin/python]
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
GRADS = ["dW", "dE", "db"]
PARAMS = ["W", "E", "bias"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--rtol", type=float, default=1e-5)
    ap.add_argument("--items", type=int, default=3000)
    ap.add_argument("--dim", type=int, default=16)
    ap.add_argument("--context-dim", type=int, default=8)
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--steps", type=int, default=2, help="timed steps after one warm-up step")
    a = ap.parse_args()
    sizes = ["--items", str(a.items), "--dim", str(a.dim), "--context-dim", str(a.context_dim), "--k", str(a.k),
             "--batch-size", str(a.batch_size), "--steps", str(a.steps), "--warmup", "1", "--threads", "1"]
    have_torch = subprocess.run([a.python, "-c", "import torch"], capture_output=True).returncode == 0
    print("N=%d d=%d dx=%d K=%d B=%d, %d steps, rtol %g; gradient error max|a-b| / max|b|, update error |a-b|_2 / |b|_2"
          % (a.items, a.dim, a.context_dim, a.k, a.batch_size, a.steps + 1, a.rtol))
    if not have_torch:
        print("torch: not importable with %s; the torch pairs are skipped" % a.python)
    failed = skipped = 0
    with tempfile.TemporaryDirectory(prefix="capg-peers-") as tmp:
        def run(name, script, extra, est):
            path = os.path.join(tmp, "%s-%s.npz" % (name, est))
            subprocess.run([a.python, os.path.join(HERE, script), "--estimator", est, "--dump", path] + extra + sizes,
                           check=True, capture_output=True)
            return dict(np.load(path))

        for est in ["capg-threshold", "vpg"]:
            out = {"numpy naive": run("np", "numpy_step.py", [], est),
                   "numpy fair": run("npf", "numpy_step.py", ["--fair"], est)}
            pairs = [("numpy naive", "numpy fair")]
            if have_torch:
                out["torch naive"] = run("t", "torch_step.py", [], est)
                out["torch fair"] = run("tf", "torch_step.py", ["--fair"], est)
                out["torch naive (numpy rng)"] = run("tn", "torch_step.py", ["--numpy-rng"], est)
                out["torch fair (numpy rng)"] = run("tnf", "torch_step.py", ["--fair", "--numpy-rng"], est)
                pairs += [("torch naive", "torch fair"), ("numpy naive", "torch naive (numpy rng)"),
                          ("numpy fair", "torch fair (numpy rng)")]
            else:
                skipped += 3
            for x, y in pairs:
                p, q = out[x], out[y]
                errs = {key: float(np.abs(p[key] - q[key]).max() / max(np.abs(q[key]).max(), 1e-300)) for key in GRADS}
                for key in PARAMS:
                    dp, dq = p[key] - p[key + "0"], q[key] - q[key + "0"]
                    errs["Δ" + key[0]] = float(
                        np.linalg.norm(dp - dq) / max(np.linalg.norm(dq), 1e-300))
                rewarded = (int(p["rewarded"]), int(q["rewarded"]))
                ok = rewarded[0] == rewarded[1] and rewarded[0] > 0 and max(errs.values()) <= a.rtol
                failed += not ok
                print("%-15s %-24s vs %-24s %s  rewarded rows %d/%d  %s" % (
                    est, x, y, "ok  " if ok else "FAIL", rewarded[0], rewarded[1],
                    " ".join("%s %.1e" % (key, e) for key, e in errs.items())))
    print("%s: %d pair(s) failed%s" % ("FAIL" if failed else "ok", failed,
                                       ", %d skipped (no torch)" % skipped if skipped else ""))
    sys.exit(1 if failed else 2 if skipped else 0)


if __name__ == "__main__":
    main()
