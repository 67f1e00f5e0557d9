"""Experiment 2: convergence (normalized value vs steps) per estimator and K, several seeds,
each run under `mpirun -np 2 capg train` on the synthetic environment (N = 10000)."""

from common import commands_block, eval_rows, fmt, md_table, mean, std, write_csv

NAME = "convergence"

# (label, train args)
ESTIMATORS = [
    ("vpg-none", ["--estimator", "vpg", "--baseline", "none"]),
    ("vpg-mean", ["--estimator", "vpg", "--baseline", "mean"]),
    ("vpg-loo(M=2)", ["--estimator", "vpg", "--baseline", "loo", "--samples", "2"]),
    ("capg-threshold", ["--estimator", "capg", "--inclusion", "threshold"]),
    ("capg-independent", ["--estimator", "capg", "--inclusion", "independent"]),
    ("topk", ["--estimator", "topk"]),
]


def plan(full):
    if full:
        return dict(items=10000, ks=[10, 100, 1000], seeds=[0, 1, 2, 3, 4], steps=500, batch=64, eval_every=20,
                    eval_queries=256, estimators=[e[0] for e in ESTIMATORS])
    return dict(items=10000, ks=[10, 100, 1000], seeds=[0, 1, 2], steps=150, batch=32, eval_every=15,
                eval_queries=128, estimators=[e[0] for e in ESTIMATORS if e[0] != "capg-independent"])


def run(runner, full, out, entry):
    p = plan(full)
    curves = []   # long format
    finals = []
    for k in p["ks"]:
        for label, args in ESTIMATORS:
            if label not in p["estimators"]:
                continue
            for seed in p["seeds"]:
                name = f"conv-n{p['items']}-k{k}-{label}-s{seed}".replace("(", "").replace(")", "").replace("=", "")
                summary, metrics = runner.train(NAME, name, [
                    "--items", p["items"], "--k", k, "--steps", p["steps"], "--batch-size", p["batch"],
                    "--eval-every", p["eval_every"], "--set", f"eval_queries={p['eval_queries']}",
                    "--seed", seed] + args)
                for m in eval_rows(metrics):
                    curves.append(dict(k=k, label=label, seed=seed, step=m["step"], value=m["value"],
                                       normalized_value=m["normalized_value"], recall=m["recall"]))
                finals.append(dict(k=k, label=label, seed=seed, final_value=summary["final_value"],
                                   final_normalized_value=summary["final_normalized_value"],
                                   recall=summary["recall"], wall_seconds=summary["wall_seconds"]))
    write_csv(out / "convergence.csv", curves)
    summ = summarize(curves, finals, p)
    write_csv(out / "convergence_summary.csv", summ)
    plot(curves, summ, p, out)
    (out / "convergence.md").write_text(markdown(summ, p, runner, entry))
    return dict(summary=summ, plan=p)


def mean_curve(curves, k, label):
    steps = sorted({c["step"] for c in curves if c["k"] == k and c["label"] == label})
    res = []
    for s in steps:
        vs = [c["normalized_value"] for c in curves if c["k"] == k and c["label"] == label and c["step"] == s]
        res.append((s, mean(vs), min(vs), max(vs), std(vs)))
    return res


def summarize(curves, finals, p):
    out = []
    for k in p["ks"]:
        labels = [l for l, _ in ESTIMATORS if l in p["estimators"]]
        fm = {l: mean([f["final_normalized_value"] for f in finals if f["k"] == k and f["label"] == l]) for l in labels}
        best = max(v for v in fm.values() if v is not None)
        target = 0.9 * best
        for l in labels:
            mc = mean_curve(curves, k, l)
            hit = next((s for s, m, *_ in mc if m is not None and m >= target), None)
            # per-seed steps to target
            per_seed = []
            for seed in p["seeds"]:
                cs = sorted([c for c in curves if c["k"] == k and c["label"] == l and c["seed"] == seed],
                            key=lambda c: c["step"])
                per_seed.append(next((c["step"] for c in cs if c["normalized_value"] >= target), None))
            fs = [f["final_normalized_value"] for f in finals if f["k"] == k and f["label"] == l]
            out.append(dict(k=k, label=l, seeds=len(fs), final_normalized_mean=mean(fs), final_normalized_std=std(fs),
                            final_normalized_min=min(fs), final_normalized_max=max(fs),
                            final_value_mean=mean([f["final_value"] for f in finals if f["k"] == k and f["label"] == l]),
                            best_final_normalized=best, target_90=target, steps_to_90_mean_curve=hit,
                            seeds_reaching_90=sum(1 for s in per_seed if s is not None),
                            steps_to_90_per_seed=" ".join("–" if s is None else str(s) for s in per_seed),
                            wall_seconds_mean=mean([f["wall_seconds"] for f in finals if f["k"] == k and f["label"] == l])))
    return out


def plot(curves, summ, p, out):
    from common import ensure_matplotlib
    plt = ensure_matplotlib()
    fig, axes = plt.subplots(1, len(p["ks"]), figsize=(5.5 * len(p["ks"]), 4.5), squeeze=False)
    colors = {"vpg-none": "C0", "vpg-mean": "C4", "vpg-loo(M=2)": "C9", "capg-threshold": "C1",
              "capg-independent": "C5", "topk": "C2"}
    for j, k in enumerate(p["ks"]):
        ax = axes[0][j]
        for l, _ in ESTIMATORS:
            if l not in p["estimators"]:
                continue
            mc = mean_curve(curves, k, l)
            if not mc:
                continue
            xs = [0] + [m[0] for m in mc]
            # step 0 = random ESR start is not evaluated; start the curve at the first eval.
            xs = [m[0] for m in mc]
            ax.plot(xs, [m[1] for m in mc], color=colors[l], label=l)
            ax.fill_between(xs, [m[2] for m in mc], [m[3] for m in mc], color=colors[l], alpha=0.15)
        t = next(s["target_90"] for s in summ if s["k"] == k)
        ax.axhline(t, color="gray", ls=":", lw=1, label="90% of best final")
        ax.set_title(f"N = {p['items']}, K = {k} ({len(p['seeds'])} seeds: mean, min–max)")
        ax.set_xlabel("step")
        ax.set_ylabel("normalized value")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "convergence.png", dpi=90)
    plt.close(fig)


def markdown(summ, p, runner, entry):
    lines = ["# Experiment 2: convergence vs K", ""]
    lines.append(f"Synthetic environment, N = {p['items']}, `mpirun -np {runner.np}`, Adam lr 0.05, global batch "
                 f"{p['batch']}, {p['steps']} steps, evaluation every {p['eval_every']} steps on "
                 f"{p['eval_queries']} fixed contexts, seeds {', '.join(map(str, p['seeds']))}, "
                 "LSR noise 0.05, argmax LSR, Bernoulli reward, default init (init_scale 0.1). "
                 "Normalized value: 0 = random ESR, 1 = the oracle ESR (top-K by LSR score). "
                 "Steps to 90%: first evaluation step at which the seed-mean curve reaches 90% of the best "
                 "final seed-mean normalized value among estimators at that K ('–': never within the run). "
                 "`vpg-loo(M=2)` uses 2 rollouts per context per step (twice the samples of the others).")
    lines.append("")
    lines.append(md_table(["K", "estimator", "final normalized (mean ± sd)", "min", "max", "steps to 90% (mean curve)",
                           "per seed", "wall s/run"],
                          [[s["k"], s["label"], f"{fmt(s['final_normalized_mean'], 3)} ± {fmt(s['final_normalized_std'], 2)}",
                            s["final_normalized_min"], s["final_normalized_max"],
                            "–" if s["steps_to_90_mean_curve"] is None else s["steps_to_90_mean_curve"],
                            s["steps_to_90_per_seed"], s["wall_seconds_mean"]] for s in summ]))
    lines.append("")
    lines.append("![convergence](convergence.png)")
    lines.append("")
    lines.append(commands_block(runner, NAME, entry))
    lines.append("")
    return "\n".join(lines)
