"""Experiment 5: beyond CA-PG (issue 9). (a) On-policy distillation of the LSR into the ESR
vs CA-PG vs V-PG at K = 100 (synthetic N = 10000) and on the MSLR sample; (b) fixed vs
learned LSR (lsr-only, joint, alternating) with an aligned and a reward-blind fixed LSR;
(c) the gradient variance and the cosine to the reference gradient of ∇V of the three
(`capg variance`, N = 1000): distillation does not estimate ∇V, so its cosine says how far
its direction is from the policy gradient. Training runs: `mpirun -np 2 capg train`.

Steps to 90%: first evaluation at which the seed-mean curve reaches 90% of the best final
seed-mean among the compared arms of that setting (on the normalized value for (a); on the
raw value for (b), because a reward-blind fixed LSR makes the oracle ≈ the random ESR and
the normalized value meaningless there).
"""
from common import ROOT, commands_block, eval_rows, fmt, md_table, mean, std, write_csv

NAME = "beyond"

ESTIMATORS = [
    ("vpg-mean", ["--estimator", "vpg", "--baseline", "mean"]),
    ("capg-threshold", ["--estimator", "capg", "--inclusion", "threshold"]),
    ("topk", ["--estimator", "topk"]),
    ("distill", ["--estimator", "distill"]),
]

MODES = ["fixed", "lsr-only", "joint", "alternating"]


def plan(full, data_dir):
    seeds = [0, 1, 2, 3, 4] if full else [0, 1, 2]
    syn = ["--items", 10000, "--k", 100, "--batch-size", 64 if full else 32, "--steps", 400 if full else 150,
           "--eval-every", 15, "--set", "eval_queries=128"]
    mslr = data_dir / "mslr"
    letor = ["--data", "letor", "--train", mslr / "msn1.fold1.train.5k.txt", "--test", mslr / "msn1.fold1.test.5k.txt",
             "--k", 10, "--batch-size", 16, "--steps", 300, "--lr", 0.02, "--eval-every", 10]
    settings = []
    for label, args in ESTIMATORS:
        settings.append(dict(part="estimators", data="synthetic", arm=label, setting="synthetic N=10000 K=100",
                             args=syn + args))
        settings.append(dict(part="estimators", data="mslr", arm=label, setting="MSLR sample K=10, lsr_noise 0.5",
                             args=letor + ["--lsr-noise", 0.5] + args, required=mslr / "msn1.fold1.train.5k.txt"))
    lsr = ["--estimator", "capg", "--inclusion", "threshold", "--lsr-lr", 0.01, "--lsr-temperature", 0.02]
    for alignment, tag in ((1, "aligned"), (0, "reward-blind")):
        for mode in MODES:
            settings.append(dict(part="lsr", data="synthetic", arm=mode,
                                 setting=f"synthetic N=10000 K=100, {tag} fixed LSR (α={alignment})",
                                 args=syn + lsr + ["--lsr-alignment", alignment, "--lsr-mode", mode]))
    for alignment, tag in ((1, "aligned"), (0, "label-blind")):
        for mode in ("fixed", "joint"):
            settings.append(dict(part="lsr", data="mslr", arm=mode,
                                 setting=f"MSLR sample K=10, {tag} fixed LSR (α={alignment}, σ=0.5)",
                                 args=letor + lsr[:6] + ["--lsr-temperature", 0.5, "--lsr-noise", 0.5,
                                                         "--lsr-alignment", alignment, "--lsr-mode", mode],
                                 required=mslr / "msn1.fold1.train.5k.txt"))
    return seeds, settings


def rel(p):
    try:
        return str(p.relative_to(ROOT))
    except (ValueError, AttributeError):
        return str(p)


def run(runner, full, out, entry, data_dir):
    seeds, settings = plan(full, data_dir)
    curves, finals, skipped = [], [], []
    for st in settings:
        if st.get("required") is not None and not st["required"].exists():
            skipped.append((st["setting"], f"missing {rel(st['required'])} (run bash scripts/fetch-data.sh)"))
            continue
        args = [rel(a) if hasattr(a, "relative_to") else a for a in st["args"]]
        for seed in seeds:
            name = f"beyond-{st['part']}-{st['setting']}-{st['arm']}-s{seed}"
            name = "".join(c if c.isalnum() or c in "-." else "_" for c in name)
            summary, metrics = runner.train(NAME, name, args + ["--seed", seed])
            for m in eval_rows(metrics):
                curves.append(dict(part=st["part"], setting=st["setting"], arm=st["arm"], seed=seed, step=m["step"],
                                   value=m["value"], normalized_value=m["normalized_value"]))
            finals.append(dict(part=st["part"], setting=st["setting"], arm=st["arm"], seed=seed,
                               final_value=summary["final_value"],
                               final_normalized_value=summary["final_normalized_value"],
                               random_value=summary["random_value"], oracle_value=summary["oracle_value"],
                               wall_seconds=summary["wall_seconds"]))
    variance = []
    for r in runner.variance(NAME, ["--items", 1000, "--set", "init_scale=1", "--contexts", 4,
                                    "--reference-samples", 2000, "--k", "10,20,50,100,200",
                                    "--estimators", "vpg,capg,distill", "--samples", 400]):
        variance.append(dict(k=r["k"], estimator=r["estimator"], variance_scores=r["variance_scores"],
                             variance_params=r["variance_params"], cosine_to_reference=r["cosine_to_reference"],
                             snr=r["snr"]))
    write_csv(out / "beyond_variance.csv", variance)
    write_csv(out / "beyond.csv", curves)
    summ = summarize(curves, finals)
    write_csv(out / "beyond_summary.csv", summ)
    plot(curves, summ, out)
    (out / "beyond.md").write_text(markdown(summ, seeds, skipped, runner, entry, variance))
    return dict(summary=summ, skipped=skipped)


def summarize(curves, finals):
    out = []
    keys = []
    for f in finals:
        if (f["part"], f["setting"]) not in keys:
            keys.append((f["part"], f["setting"]))
    for part, setting in keys:
        metric = "normalized_value" if part == "estimators" else "value"
        arms = []
        for f in finals:
            if f["part"] == part and f["setting"] == setting and f["arm"] not in arms:
                arms.append(f["arm"])
        fm = {a: mean([f["final_" + metric] for f in finals if f["setting"] == setting and f["arm"] == a]) for a in arms}
        best = max(fm.values())
        target = 0.9 * best if best > 0 else None
        for a in arms:
            cs = [c for c in curves if c["setting"] == setting and c["arm"] == a]
            steps = sorted({c["step"] for c in cs})
            mc = [(s, mean([c[metric] for c in cs if c["step"] == s])) for s in steps]
            hit = next((s for s, v in mc if target is not None and v >= target), None)
            fs = [f for f in finals if f["setting"] == setting and f["arm"] == a]
            out.append(dict(part=part, setting=setting, arm=a, seeds=len(fs), metric=metric,
                            final_value_mean=mean([f["final_value"] for f in fs]),
                            final_value_sd=std([f["final_value"] for f in fs]),
                            final_normalized_mean=mean([f["final_normalized_value"] for f in fs]),
                            final_normalized_sd=std([f["final_normalized_value"] for f in fs]),
                            random_value=fs[0]["random_value"], oracle_value=fs[0]["oracle_value"],
                            target_90=target, steps_to_90=hit,
                            wall_seconds_mean=mean([f["wall_seconds"] for f in fs])))
    return out


def plot(curves, summ, out):
    from common import ensure_matplotlib
    plt = ensure_matplotlib()
    settings = []
    for s in summ:
        if s["setting"] not in settings:
            settings.append(s["setting"])
    if not settings:
        return
    cols = 3
    rows = (len(settings) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5.5 * cols, 4.2 * rows), squeeze=False)
    for i, setting in enumerate(settings):
        ax = axes[i // cols][i % cols]
        metric = next(s["metric"] for s in summ if s["setting"] == setting)
        for j, arm in enumerate([s["arm"] for s in summ if s["setting"] == setting]):
            cs = [c for c in curves if c["setting"] == setting and c["arm"] == arm]
            steps = sorted({c["step"] for c in cs})
            ys = [mean([c[metric] for c in cs if c["step"] == s]) for s in steps]
            lo = [min(c[metric] for c in cs if c["step"] == s) for s in steps]
            hi = [max(c[metric] for c in cs if c["step"] == s) for s in steps]
            ax.plot(steps, ys, color=f"C{j}", label=arm)
            ax.fill_between(steps, lo, hi, color=f"C{j}", alpha=0.12)
        ax.set_title(setting, fontsize=9)
        ax.set_xlabel("step")
        ax.set_ylabel(metric.replace("_", " "))
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    for i in range(len(settings), rows * cols):
        axes[i // cols][i % cols].axis("off")
    fig.tight_layout()
    fig.savefig(out / "beyond.png", dpi=90)
    plt.close(fig)


def normalized(s):
    """The normalized value, or n/a when the fixed LSR's oracle ESR is no better than random."""
    if abs(s["oracle_value"] - s["random_value"]) < 0.01:
        return "n/a (oracle ≈ random)"
    return f"{fmt(s['final_normalized_mean'], 3)} ± {fmt(s['final_normalized_sd'], 2)}"


def markdown(summ, seeds, skipped, runner, entry, variance=()):
    lines = ["# Experiment 5: distillation, and a learned LSR", ""]
    lines.append(__doc__.strip())
    lines.append("")
    lines.append(f"Seeds {', '.join(map(str, seeds))}; `mpirun -np {runner.np}`; Adam. Learned-LSR runs use CA-PG "
                 "(threshold inclusion) for the ESR, a softmax LSR (τ₂ = 0.02 synthetic, 0.5 MSLR) in every arm, "
                 "and the LSR's own Adam (lr 0.01, the default). Normalized value uses the *fixed* LSR's random and oracle ESR "
                 "values in every arm, so a learned LSR can exceed 1.")
    lines.append("")
    for part, title in (("estimators", "(a) distill vs CA-PG vs V-PG"), ("lsr", "(b) fixed vs learned LSR")):
        rs = [s for s in summ if s["part"] == part]
        if not rs:
            continue
        lines.append(f"## {title}")
        lines.append("")
        lines.append(md_table(["setting", "arm", "final value (mean ± sd)", "final normalized (mean ± sd)",
                               "steps to 90%", "random ESR", "oracle ESR", "wall s/run"],
                              [[s["setting"], s["arm"], f"{fmt(s['final_value_mean'], 4)} ± {fmt(s['final_value_sd'], 2)}",
                                normalized(s),
                                "–" if s["steps_to_90"] is None else s["steps_to_90"], s["random_value"],
                                s["oracle_value"], s["wall_seconds_mean"]] for s in rs]))
        lines.append("")
    if variance:
        lines.append("## (c) gradient variance and direction (synthetic N = 1000, 4 contexts, 400 draws each)")
        lines.append("")
        lines.append("tr Cov of one draw of ∂J/∂s (`variance_scores`), cosine of the mean draw to the reference "
                     "gradient of V (V-PG with 2000 rollouts), and the SNR as `capg variance` prints it (V-PG: plain, "
                     "no baseline; CA-PG: threshold inclusion; argmax LSR). For distill the reference is still ∇V.")
        lines.append("")
        lines.append(md_table(["K", "estimator", "variance (scores)", "cosine to ∇V", "SNR"],
                              [[v["k"], v["estimator"], v["variance_scores"], v["cosine_to_reference"], v["snr"]]
                               for v in sorted(variance, key=lambda v: (v["k"], v["estimator"]))]))
        lines.append("")
    if skipped:
        lines.append("Skipped: " + "; ".join(f"{a}: {b}" for a, b in skipped))
        lines.append("")
    lines.append("![beyond](beyond.png)")
    lines.append("")
    lines.append(commands_block(runner, NAME, entry))
    lines.append("")
    return "\n".join(lines)
