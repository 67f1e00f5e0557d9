#!/usr/bin/env python3
"""Item-sharded vs data-parallel capg at one catalogue size: ms/step, peak RSS per rank and the
collective payload bytes per step, measured by capg itself (summary.json), next to the model.

    python3 scripts/bench/grid_bench.py --capg .build/release/capg --items 1000000 --steps 3

Runs (each under mpirun, 1 BLAS thread per rank, the reference batch B=256, d=64, K=100):
  np=1 (data-parallel, the whole table on one rank), np=2 data-parallel, np=2 item_shards=2.
Model (bytes a rank contributes to collectives per step, counted at the communicator):
  data-parallel:  4·(d·dx + N·(d+1)) (gradient allreduce) + 8·3 (metric sums)
  item-sharded:   8·(B/Q)·M·3K (candidate all-gather) + 8·2·(B/Q) (threshold max and sum)
                  + 8·5·(B/Q)·I (I Newton rounds; I≈4–7) + 4·d·dx (∂W) + 4·(N/S)·(d+1) if Q>1 + 8·4
A ring allreduce puts 2(P−1)/P of its payload on the wire per rank; an all-gather (P−1)/P·P×.
Peak RSS is the largest rank's (getrusage), including the MPI/BLAS runtime (~40–60 MB).
"""
import argparse, json, os, shutil, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from grid_scaling import comm_bytes_model  # noqa: E402  (one model for the bench and the projection)

def run(capg, np, args, env):
    d = tempfile.mkdtemp(prefix="capg-grid-")
    cmd = (["mpirun", "-np", str(np), "--oversubscribe"] if np > 1 else []) + [capg, "train"] + args + ["--run-dir", d, "--quiet"]
    t0 = time.time()
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.time() - t0
    if r.returncode != 0:
        shutil.rmtree(d, ignore_errors=True)
        return None, r.stderr.strip().splitlines()[-1] if r.stderr.strip() else f"exit {r.returncode}"
    s = json.load(open(os.path.join(d, "summary.json")))
    rows = [json.loads(l) for l in open(os.path.join(d, "metrics.jsonl"))]
    shutil.rmtree(d, ignore_errors=True)
    steps = [x["compute_s"] + x["allreduce_s"] + x["optimizer_s"] for x in rows]
    s["ms_per_step_min"] = 1000 * min(steps[1:] or steps)
    s["run_wall_s"] = wall
    return s, None

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--capg", default=".build/release/capg")
    ap.add_argument("--items", type=int, default=1_000_000)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--k", type=int, default=100)
    ap.add_argument("--modes", default="dp1,dp2,grid2", help="comma list of dp1, dp2, grid2, grid4 (np=4, Q=2, S=2)")
    a = ap.parse_args()
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OPENBLAS_NUM_THREADS="1")
    common = ["--items", str(a.items), "--dim", str(a.dim), "--k", str(a.k), "--batch-size", str(a.batch_size),
              "--steps", str(a.steps), "--eval-every", "1000000", "--check-every", "0", "--checkpoint-every", "0",
              "--set", "eval_queries=8", "--set", "eval_samples=1", "--blas-threads", "1"]
    specs = {"dp1": (1, 1), "dp2": (2, 1), "grid2": (2, 2), "grid4": (4, 2)}
    print(f"capg grid bench: N={a.items} d={a.dim} dx=16 K={a.k} B={a.batch_size}, {a.steps} steps, CA-PG threshold, 1 BLAS thread/rank")
    print(f"{'mode':<24} {'ms/step':>9} {'peak RSS/rank':>14} {'comm B/step':>14} {'model B/step':>14} {'meas/model':>10}")
    results = {}
    for name in a.modes.split(","):
        np_, s = specs[name]
        q = np_ // s
        r, err = run(a.capg, np_, common + (["--item-shards", str(s)] if s > 1 else []), env)
        label = f"{name} (P={np_}, Q={q}, S={s})"
        if r is None:
            print(f"{label:<24} failed: {err}")
            continue
        results[name] = r
        lo = comm_bytes_model(a.items, a.dim, a.batch_size, a.k, np_, s, rounds=4)
        hi = comm_bytes_model(a.items, a.dim, a.batch_size, a.k, np_, s, rounds=7)
        meas = r["comm_bytes_per_step"]
        pred = f"{lo:.3g}" if lo == hi else f"{lo:.3g}–{hi:.3g}"
        ratio = "" if np_ == 1 else f"{meas / lo:.2f}" if lo == hi else f"{meas / hi:.2f}–{meas / lo:.2f}"
        print(f"{label:<24} {r['ms_per_step_min']:9.0f} {r['peak_rss_bytes_max_rank'] / 1e6:11.0f} MB {meas:14.4g} {pred if np_ > 1 else '0':>14} {ratio:>10}")
    if "dp1" in results and "grid2" in results:
        print(f"peak RSS per rank, item_shards=2 / np=1: {results['grid2']['peak_rss_bytes_max_rank'] / results['dp1']['peak_rss_bytes_max_rank']:.2f}")
    if "dp2" in results and "grid2" in results and results["grid2"]["comm_bytes_per_step"]:
        print(f"comm bytes per step, data-parallel np=2 / item-sharded np=2: {results['dp2']['comm_bytes_per_step'] / results['grid2']['comm_bytes_per_step']:.0f}×")

if __name__ == "__main__":
    main()
