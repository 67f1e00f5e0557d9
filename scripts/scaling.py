#!/usr/bin/env python3
"""Scaling experiments for capg: strong and weak scaling over rank counts, an allreduce
microbenchmark fitted to T(m) = alpha + beta*m, and a projection to 8..1024 ranks.

Usage:
  scripts/scaling.py [--capg .build/release/capg] [--max-ranks 4] [--steps 10]
                     [--items 100000] [--dim 64] [--k 100] [--batch 256] [--out docs/scaling]

Writes <out>/strong.csv, weak.csv, allreduce.csv, projection.csv, speedup.png,
efficiency.png, breakdown.png, projection.png and <out>/scaling.json. All numbers come from
runs made by this script; the projection is a model (stated assumptions in projection.csv
and docs/scaling.md), not a measurement.
"""
import argparse, csv, json, os, subprocess, sys, tempfile

def ensure_matplotlib():
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", "matplotlib==3.9.2"])
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt

ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")

def mpirun(np_, args):
    cmd = ["mpirun", "-np", str(np_), "--oversubscribe", "--bind-to", "none"] + args
    r = subprocess.run(cmd, env=ENV, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"scaling: {' '.join(cmd)} failed ({r.returncode}):\n{r.stderr[-2000:]}")
    return r.stdout

def train(capg, np_, batch, a):
    with tempfile.TemporaryDirectory() as d:
        mpirun(np_, [capg, "train", "--items", str(a.items), "--dim", str(a.dim), "--k", str(a.k),
                     "--batch-size", str(batch), "--steps", str(a.steps), "--eval-every", "1000000",
                     "--set", "eval_queries=%d" % max(np_, 8), "--set", "eval_samples=1",
                     "--check-every", "0", "--checkpoint-every", "0", "--blas-threads", "1",
                     "--run-dir", d, "--quiet"])
        s = json.load(open(os.path.join(d, "summary.json")))
        rows = [json.loads(l) for l in open(os.path.join(d, "metrics.jsonl"))]
    # Drop the first step (page faults, connection set-up) from the per-step means.
    body = rows[1:] if len(rows) > 1 else rows
    n = len(body)
    mean = lambda key: sum(r[key] for r in body) / n
    step = mean("compute_s") + mean("allreduce_s") + mean("optimizer_s")
    return {"ranks": np_, "global_batch": batch, "step_s": step, "compute_s": mean("compute_s"),
            "allreduce_s": mean("allreduce_s"), "optimizer_s": mean("optimizer_s"),
            "queries_per_s": batch / step, "params": None, "fingerprint": s["param_fingerprint"][:16]}

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--capg", default=".build/release/capg")
    p.add_argument("--max-ranks", type=int, default=4)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--items", type=int, default=100000)
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--k", type=int, default=100)
    p.add_argument("--batch", type=int, default=256, help="global batch for strong scaling; per-rank batch for weak scaling is batch/max-ranks")
    p.add_argument("--out", default="docs/scaling")
    p.add_argument("--latency", type=float, default=2e-6, help="projection: link latency (s)")
    p.add_argument("--bandwidth", type=float, default=12.5e9, help="projection: link bandwidth (B/s)")
    a = p.parse_args()
    plt = ensure_matplotlib()
    os.makedirs(a.out, exist_ok=True)
    cores = os.cpu_count()
    ranks = [r for r in range(1, a.max_ranks + 1) if a.batch % r == 0]

    strong = [train(a.capg, r, a.batch, a) for r in ranks]
    per_rank = a.batch // a.max_ranks
    weak = [train(a.capg, r, per_rank * r, a) for r in ranks]
    for rows, name in ((strong, "strong"), (weak, "weak")):
        t1 = rows[0]["step_s"]
        for r in rows:
            if name == "strong":
                r["speedup"] = t1 / r["step_s"]; r["efficiency"] = r["speedup"] / r["ranks"]
            else:
                r["speedup"] = r["queries_per_s"] / rows[0]["queries_per_s"]; r["efficiency"] = t1 / r["step_s"]
            r["oversubscribed"] = r["ranks"] > cores
        with open(os.path.join(a.out, f"{name}.csv"), "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=[k for k in rows[0] if k != "params"])
            w.writeheader(); [w.writerow({k: v for k, v in r.items() if k != "params"}) for r in rows]

    bench = json.loads(mpirun(2, [a.capg, "allreduce-bench", "--json", "--repetitions", "20"]).strip().splitlines()[-1])
    with open(os.path.join(a.out, "allreduce.csv"), "w", newline="") as f:
        w = csv.writer(f); w.writerow(["bytes", "seconds"])
        for s in bench["samples"]: w.writerow([s["bytes"], s["seconds"]])

    # Projection: compute per query from the np=1 run, gradient bytes from the model size,
    # ring allreduce on the stated network; strong scaling at the same global batch.
    params = a.dim * 16 + a.items * a.dim + a.items  # W (d x dx=16) + E + b, the default two-tower shape
    grad_bytes = 4 * params
    t_query = strong[0]["compute_s"] / a.batch
    t_opt = strong[0]["optimizer_s"]
    proj = []
    for P in [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]:
        ring = 0.0
        if P > 1:
            ring = 2 * (P - 1) * a.latency + 2 * (P - 1) / P * grad_bytes / a.bandwidth
        for mode, batch in (("strong", a.batch), ("weak", per_rank * P)):
            if mode == "strong" and batch < P: continue
            comp = t_query * batch / P
            step = comp + ring + t_opt
            base = t_query * (a.batch if mode == "strong" else per_rank) + t_opt
            eff = base / (P * step) if mode == "strong" else base / step
            proj.append({"ranks": P, "mode": mode, "global_batch": batch, "compute_s": comp, "allreduce_s": ring,
                         "optimizer_s": t_opt, "step_s": step, "efficiency": eff,
                         "assumptions": f"ring allreduce, {a.latency*1e6:.1f} us latency, {a.bandwidth/1e9:.1f} GB/s per link, {grad_bytes/1e6:.1f} MB gradient"})
    with open(os.path.join(a.out, "projection.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(proj[0])); w.writeheader(); [w.writerow(r) for r in proj]

    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(ranks, [r["speedup"] for r in strong], "o-", label="strong (speedup)")
    ax.plot(ranks, [r["speedup"] for r in weak], "s-", label="weak (throughput ratio)")
    ax.plot(ranks, ranks, "k:", label="ideal")
    ax.axvline(cores + 0.5, color="grey", lw=0.5); ax.text(cores + 0.6, 1, "oversubscribed →", fontsize=7)
    ax.set_xlabel("ranks"); ax.set_ylabel("speedup"); ax.legend(); fig.tight_layout()
    fig.savefig(os.path.join(a.out, "speedup.png"), dpi=120); plt.close(fig)
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(ranks, [r["efficiency"] for r in strong], "o-", label="strong")
    ax.plot(ranks, [r["efficiency"] for r in weak], "s-", label="weak")
    ax.set_ylim(0, 1.1); ax.set_xlabel("ranks"); ax.set_ylabel("parallel efficiency"); ax.legend(); fig.tight_layout()
    fig.savefig(os.path.join(a.out, "efficiency.png"), dpi=120); plt.close(fig)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    labels = [f"S{r['ranks']}" for r in strong] + [f"W{r['ranks']}" for r in weak]
    rows = strong + weak
    bottom = [0.0] * len(rows)
    for key in ("compute_s", "allreduce_s", "optimizer_s"):
        vals = [r[key] for r in rows]
        ax.bar(labels, vals, bottom=bottom, label=key[:-2]); bottom = [b + v for b, v in zip(bottom, vals)]
    ax.set_ylabel("seconds per step"); ax.set_title("time per step (S = strong, W = weak)"); ax.legend(); fig.tight_layout()
    fig.savefig(os.path.join(a.out, "breakdown.png"), dpi=120); plt.close(fig)
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for mode in ("strong", "weak"):
        pts = [r for r in proj if r["mode"] == mode]
        ax.semilogx([r["ranks"] for r in pts], [r["efficiency"] for r in pts], "o-", base=2, label=mode)
    ax.set_ylim(0, 1.05); ax.set_xlabel("ranks (projected)"); ax.set_ylabel("efficiency"); ax.legend()
    ax.set_title("projection (model)", fontsize=9); fig.tight_layout()
    fig.savefig(os.path.join(a.out, "projection.png"), dpi=120); plt.close(fig)

    out = {"strong": strong, "weak": weak, "allreduce_fit": {"alpha": bench["alpha"], "beta": bench["beta"], "ranks": bench["ranks"]},
           "projection": proj, "cores": cores, "config": vars(a)}
    json.dump(out, open(os.path.join(a.out, "scaling.json"), "w"), indent=1)
    print("strong scaling (global batch %d):" % a.batch)
    for r in strong:
        print("  np=%d  step %.3f s  compute %.3f  allreduce %.4f (%.1f%%)  optimizer %.3f  speedup %.2f  efficiency %.2f%s" % (
            r["ranks"], r["step_s"], r["compute_s"], r["allreduce_s"], 100 * r["allreduce_s"] / r["step_s"], r["optimizer_s"],
            r["speedup"], r["efficiency"], "  (oversubscribed)" if r["oversubscribed"] else ""))
    print("weak scaling (%d queries per rank):" % per_rank)
    for r in weak:
        print("  np=%d  step %.3f s  allreduce %.4f  efficiency %.2f%s" % (r["ranks"], r["step_s"], r["allreduce_s"], r["efficiency"],
              "  (oversubscribed)" if r["oversubscribed"] else ""))
    print("allreduce fit on %d ranks: alpha %.3g s, beta %.3g s/B" % (bench["ranks"], bench["alpha"], bench["beta"]))
    for P in (64, 512):
        for r in proj:
            if r["ranks"] == P: print("  projected %s efficiency at %d ranks: %.2f" % (r["mode"], P, r["efficiency"]))
    write_page(a, out, strong, weak, bench, proj, cores, per_rank, grad_bytes)
    print("wrote", a.out)


def write_page(a, out, strong, weak, bench, proj, cores, per_rank, grad_bytes):
    """The docs page: every number in it comes from this run (or the stated model)."""
    import datetime, platform
    L = []
    L.append("# Scaling of capg\n")
    L.append(f"Generated by `scripts/scaling.py` on {datetime.date.today()} on `{platform.node()}` "
             f"({cores} cores; ranks beyond that are oversubscribed and say nothing about scaling). "
             f"Model: two-tower ESR, N = {a.items} items, d = {a.dim}, K = {a.k}, CA-PG (threshold), "
             f"{a.steps} steps per run (the first dropped), 1 OpenBLAS thread per rank, release build.\n")
    L.append(f"## Strong scaling (global batch {a.batch})\n")
    L.append("| ranks | step s | compute s | allreduce s | allreduce % | optimizer s | speedup | efficiency |")
    L.append("|---|---|---|---|---|---|---|---|")
    for r in strong:
        L.append(f"| {r['ranks']}{' (oversubscribed)' if r['oversubscribed'] else ''} | {r['step_s']:.3f} | {r['compute_s']:.3f} | "
                 f"{r['allreduce_s']:.4f} | {100*r['allreduce_s']/r['step_s']:.1f} | {r['optimizer_s']:.3f} | {r['speedup']:.2f} | {r['efficiency']:.2f} |")
    L.append(f"\n## Weak scaling ({per_rank} queries per rank)\n")
    L.append("| ranks | global batch | step s | allreduce s | queries/s | efficiency |")
    L.append("|---|---|---|---|---|---|")
    for r in weak:
        L.append(f"| {r['ranks']}{' (oversubscribed)' if r['oversubscribed'] else ''} | {r['global_batch']} | {r['step_s']:.3f} | "
                 f"{r['allreduce_s']:.4f} | {r['queries_per_s']:.0f} | {r['efficiency']:.2f} |")
    L.append("\n![speedup](speedup.png) ![efficiency](efficiency.png)\n\n![breakdown](breakdown.png)\n")
    L.append(f"## Allreduce (through the trainer's communicator, {bench['ranks']} ranks, shared memory)\n")
    L.append(f"Fit `T(m) = α + β·m`: α = {bench['alpha']:.3g} s, β = {bench['beta']:.3g} s/B "
             f"({(1e-9/bench['beta']) if bench['beta'] > 0 else float('inf'):.2f} GB/s effective). Raw samples in `allreduce.csv`.\n")
    L.append("## Projection to 8–1024 ranks (a model, not a measurement)\n")
    L.append(f"Per-query compute from the np = 1 run ({strong[0]['compute_s']/a.batch*1e3:.2f} ms/query), optimizer time from np = 1, "
             f"and a ring allreduce of the {grad_bytes/1e6:.1f} MB gradient: `2(P−1)·{a.latency*1e6:.0f} µs + 2(P−1)/P · m / {a.bandwidth/1e9:.1f} GB/s`. "
             "Strong scaling keeps the global batch (so it stops at P = batch); weak scaling keeps the per-rank batch. "
             "Not modelled: stragglers, network contention, non-ring algorithms, overlap of the allreduce with compute.\n")
    L.append("| ranks | mode | global batch | compute s | allreduce s | step s | efficiency |")
    L.append("|---|---|---|---|---|---|---|")
    for r in proj:
        L.append(f"| {r['ranks']} | {r['mode']} | {r['global_batch']} | {r['compute_s']:.4f} | {r['allreduce_s']:.4f} | {r['step_s']:.4f} | {r['efficiency']:.2f} |")
    L.append("\n![projection](projection.png)\n")
    open(os.path.join(a.out, "scaling.md"), "w").write("\n".join(L) + "\n")

if __name__ == "__main__":
    main()
