#!/usr/bin/env python3
"""capg experiments (issue 8): do the paper's claims hold on capg's own numbers?

  1. variance    gradient variance and SNR vs K (capg variance), N = 1000 and N = 100000
  2. convergence normalized value vs steps per estimator at K = 10, 100, 1000 (mpirun -np 2 capg train)
  3. bias        cosine to the exact / a high-sample unbiased gradient and final value vs LSR misalignment
  4. realdata    MSLR-WEB sample and Open Bandit Dataset sample: value / recall / NDCG vs steps
  6. paper       the paper's world (--data paper): varying K and LSR alignment, the paper's methods and
                 learning rates; --budget STEPSxSEEDS (default 2000x3; the paper: 500000 steps, --full)
  7. diagnostics gradient variance, cosine to the exact gradient and vanishing-credit fraction of every
                 estimator at checkpoints along each paper method's trajectory (small paper world, N = 16,
                 K = 4; capg diagnose); --diag-steps (default 2000)
  8. lrsweep     per-method learning-rate sweep on the paper world (K = 10, optimal LSR); --lr-budget
                 STEPSxSEEDS (default 1000x2)
  5. README.md   summary of what holds and what does not, with the figures

Usage:
  python3 scripts/experiments/run.py [--full] [--out docs/results] [--capg .build-exp/release/capg]
                                     [--only variance,convergence,bias,realdata] [--fresh]

The default is small (≤ 15 minutes on 2 cores); --full is the cluster-size version (more K,
contexts, draws, seeds and steps). Each experiment writes <name>.csv, <name>.png and <name>.md
into --out, with the exact commands it ran; README.md collects the headline numbers. Runs are
cached under --runs-dir by exact command line (--fresh ignores the cache). Every process runs
under `nice -n 10` (--nice). Needs: a release build of capg, mpirun, python3, matplotlib==3.9.2
(installed with pip when missing), and for experiment 4 the data of `bash scripts/fetch-data.sh`.
"""
import argparse
import hashlib
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, Runner, ensure_matplotlib  # noqa: E402
import exp_variance  # noqa: E402
import exp_convergence  # noqa: E402
import exp_beyond  # noqa: E402
import exp_bias  # noqa: E402
import exp_realdata  # noqa: E402
import exp_paper  # noqa: E402
import exp_diagnostics  # noqa: E402
import exp_lrsweep  # noqa: E402
import report  # noqa: E402

EXPERIMENTS = ["variance", "convergence", "bias", "realdata", "beyond", "paper", "diagnostics", "lrsweep"]
STANDALONE = ("paper", "diagnostics", "lrsweep")  # pages that stand alone (not summarized in README.md)


def default_capg():
    for c in (ROOT / ".build-exp/release/capg", ROOT / ".build/release/capg"):
        if c.exists():
            return c
    return ROOT / ".build-exp/release/capg"


def git(*args):
    try:
        return subprocess.run(["git", "-C", str(ROOT)] + list(args), capture_output=True, text=True).stdout.strip()
    except OSError:
        return ""


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--full", action="store_true", help="cluster-size runs (hours on 2 cores)")
    p.add_argument("--out", default="docs/results", help="results folder (default docs/results)")
    p.add_argument("--capg", default=None, help="capg binary (default .build-exp/release/capg or .build/release/capg)")
    p.add_argument("--runs-dir", default=None, help="run directories and cache (default runs/experiments[-full])")
    p.add_argument("--data-dir", default="data", help="real data folder from scripts/fetch-data.sh (default data)")
    p.add_argument("--only", default=",".join(EXPERIMENTS), help="comma-separated subset of " + ",".join(EXPERIMENTS))
    p.add_argument("--np", type=int, default=2, help="MPI ranks for training runs (default 2)")
    p.add_argument("--nice", type=int, default=10, help="niceness of every process (default 10; 0 = no nice)")
    p.add_argument("--fresh", action="store_true", help="ignore cached runs")
    p.add_argument("--budget", default="2000x3",
                   help="experiment 6 (paper): STEPSxSEEDS per cell (default 2000x3; --full: 500000x10, the paper's steps with issue 15's >= 10 seeds)")
    p.add_argument("--diag-steps", type=int, default=exp_diagnostics.STEPS,
                   help="experiment 7 (diagnostics): training steps per trajectory (default 2000; --full 20000)")
    p.add_argument("--lr-budget", default="1000x2",
                   help="experiment 8 (lrsweep): STEPSxSEEDS per (method, learning rate) (default 1000x2)")
    p.add_argument("--capg-commit", default=None,
                   help="commit the capg binary was built from, for the record (default: git HEAD at run time, "
                        "which is right only if you built from a clean HEAD)")
    a = p.parse_args()

    capg = Path(a.capg) if a.capg else default_capg()
    if not capg.exists():
        sys.exit(f"run.py: capg binary {capg} not found; build it: swift build -c release --scratch-path .build-exp")
    capg = capg.resolve()
    out = (ROOT / a.out) if not Path(a.out).is_absolute() else Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    runs_dir = Path(a.runs_dir) if a.runs_dir else ROOT / ("runs/experiments-full" if a.full else "runs/experiments")
    data_dir = (ROOT / a.data_dir) if not Path(a.data_dir).is_absolute() else Path(a.data_dir)
    only = [e.strip() for e in a.only.split(",") if e.strip()]
    bad = [e for e in only if e not in EXPERIMENTS]
    if bad:
        sys.exit(f"run.py: unknown experiment(s) {bad}; choose from {EXPERIMENTS}")
    exp_paper.BUDGET = exp_paper.parse_budget(a.budget)
    exp_diagnostics.STEPS = a.diag_steps
    exp_lrsweep.STEPS, exp_lrsweep.SEEDS = exp_paper.parse_budget(a.lr_budget)
    ensure_matplotlib()
    os.chdir(ROOT)  # relative data paths in the recorded commands resolve from the package root

    entry = "python3 scripts/experiments/run.py" + (" --full" if a.full else "")
    if a.out != "docs/results":
        entry += f" --out {shlex.quote(a.out)}"
    runner = Runner(capg, runs_dir, np_=a.np, nice=a.nice, fresh=a.fresh)
    meta_path = out / ("meta-full.json" if a.full else "meta.json")
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    meta.update(mode="full" if a.full else "default", entry=entry, git_head=git("rev-parse", "HEAD"),
                capg_commit=a.capg_commit or git("rev-parse", "HEAD"),
                capg=str(capg), capg_sha256=hashlib.sha256(capg.read_bytes()).hexdigest(),
                host_cores=os.cpu_count(), np=a.np, nice=a.nice, date=time.strftime("%Y-%m-%d %H:%M:%S %Z"))
    meta.setdefault("seconds", {})
    results = {}
    t_all = time.time()
    for name in EXPERIMENTS:
        if name not in only:
            continue
        print(f"== {name}", flush=True)
        t = time.time()
        mod = {"variance": exp_variance, "convergence": exp_convergence, "bias": exp_bias,
               "realdata": exp_realdata, "beyond": exp_beyond, "paper": exp_paper,
               "diagnostics": exp_diagnostics, "lrsweep": exp_lrsweep}[name]
        if name in ("realdata", "beyond"):
            results[name] = mod.run(runner, a.full, out, entry, data_dir)
        else:
            results[name] = mod.run(runner, a.full, out, entry)
        meta["seconds"][name] = round(time.time() - t, 1)
        # Provenance per experiment: an invocation with --only leaves the other pages as they
        # were, so the header must not claim the whole set came from this binary.
        meta.setdefault("runs", {})[name] = {"capg_commit": meta["capg_commit"], "capg_sha256": meta["capg_sha256"],
                                             "date": meta["date"], "seconds": meta["seconds"][name]}
        print(f"== {name} done in {time.time() - t:.0f}s", flush=True)
        meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    meta["seconds_this_invocation"] = round(time.time() - t_all, 1)
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    if any(e not in STANDALONE for e in only):
        report.write(out, a.full)  # the paper and diagnostics pages stand alone (docs/results/*.md)
    print(f"done in {time.time() - t_all:.0f}s; results in {out}")


if __name__ == "__main__":
    main()
