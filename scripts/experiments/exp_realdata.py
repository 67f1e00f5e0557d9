"""Experiment 4: real data. The MSLR-WEB 5k sample (LETOR) and the Open Bandit Dataset sample
(semi-synthetic: real users, fitted click model): value / recall / NDCG vs steps per estimator,
under `mpirun -np 2 capg train`. Data from `bash scripts/fetch-data.sh` (data/, never committed).
"""
from common import ROOT, commands_block, eval_rows, fmt, md_table, mean, std, write_csv

NAME = "realdata"

ESTIMATORS = [
    ("vpg-none", ["--estimator", "vpg", "--baseline", "none"]),
    ("vpg-mean", ["--estimator", "vpg", "--baseline", "mean"]),
    ("vpg-loo(M=2)", ["--estimator", "vpg", "--baseline", "loo", "--samples", "2"]),
    ("capg-exact", ["--estimator", "capg", "--inclusion", "exact"]),
    ("capg-threshold", ["--estimator", "capg", "--inclusion", "threshold"]),
    ("capg-independent", ["--estimator", "capg", "--inclusion", "independent"]),
    ("topk", ["--estimator", "topk"]),
]

METRICS = ["value", "normalized_value", "recall", "ndcg"]


def datasets(data_dir, full):
    mslr = data_dir / "mslr"
    obd = data_dir / "obd" / "random" / "all"
    steps_m = 600 if full else 300
    steps_o = 400 if full else 200
    return [
        dict(name="mslr", title="MSLR-WEB 5k sample (LETOR)", required=[mslr / "msn1.fold1.train.5k.txt"],
             args=["--data", "letor", "--train", mslr / "msn1.fold1.train.5k.txt", "--test",
                   mslr / "msn1.fold1.test.5k.txt", "--k", 10, "--batch-size", 16, "--steps", steps_m, "--lr", 0.02,
                   "--lsr-noise", 0.5, "--eval-every", 10]),
        dict(name="obd", title="Open Bandit Dataset sample (semi-synthetic)", required=[obd / "all.csv"],
             args=["--data", "obd", "--obd-dir", obd, "--k", 5, "--batch-size", 32, "--steps", steps_o, "--lr", 0.05,
                   "--lsr-noise", 0.0005, "--eval-every", 10]),
    ]


def rel(p):
    try:
        return str(p.relative_to(ROOT))
    except (ValueError, AttributeError):
        return str(p)


def run(runner, full, out, entry, data_dir):
    seeds = list(range(10)) if full else list(range(5))
    curves, finals, skipped = [], [], []
    for ds in datasets(data_dir, full):
        missing = [r for r in ds["required"] if not r.exists()]
        if missing:
            skipped.append((ds["name"], f"missing {', '.join(rel(m) for m in missing)} (run bash scripts/fetch-data.sh)"))
            continue
        args = [rel(a) if hasattr(a, "relative_to") else a for a in ds["args"]]
        for label, eargs in ESTIMATORS:
            for seed in seeds:
                name = f"real-{ds['name']}-{label}-s{seed}".replace("(", "").replace(")", "").replace("=", "")
                try:
                    summary, metrics = runner.train(NAME, name, args + ["--seed", seed] + eargs)
                except RuntimeError as e:
                    skipped.append((f"{ds['name']} {label}", str(e).splitlines()[-1][:300]))
                    break
                for m in eval_rows(metrics):
                    curves.append(dict(dataset=ds["name"], label=label, seed=seed, step=m["step"],
                                       **{k: m.get(k) for k in METRICS}))
                finals.append(dict(dataset=ds["name"], label=label, seed=seed,
                                   final_value=summary["final_value"],
                                   final_normalized_value=summary["final_normalized_value"],
                                   recall=summary["recall"], ndcg=summary.get("ndcg"),
                                   random_value=summary["random_value"], oracle_value=summary["oracle_value"]))
    write_csv(out / "realdata.csv", curves)
    summ = summarize(finals)
    write_csv(out / "realdata_summary.csv", summ)
    plot(curves, out)
    (out / "realdata.md").write_text(markdown(summ, seeds, skipped, runner, entry, data_dir, full))
    return dict(summary=summ, skipped=skipped)


def summarize(finals):
    out = []
    for ds in sorted({f["dataset"] for f in finals}, reverse=True):
        for label, _ in ESTIMATORS:
            fs = [f for f in finals if f["dataset"] == ds and f["label"] == label]
            if not fs:
                continue
            row = dict(dataset=ds, label=label, seeds=len(fs), random_value=fs[0]["random_value"],
                       oracle_value=fs[0]["oracle_value"])
            for k in ("final_value", "final_normalized_value", "recall", "ndcg"):
                vs = [f[k] for f in fs if f[k] is not None]
                row[f"{k}_mean"] = mean(vs)
                row[f"{k}_sd"] = std(vs)
            out.append(row)
    return out


def plot(curves, out):
    from common import ensure_matplotlib
    plt = ensure_matplotlib()
    dss = sorted({c["dataset"] for c in curves}, reverse=True)
    if not dss:
        return
    colors = {"vpg-none": "C0", "vpg-mean": "C4", "vpg-loo(M=2)": "C9", "capg-exact": "C3", "capg-threshold": "C1",
              "capg-independent": "C5", "topk": "C2"}
    fig, axes = plt.subplots(len(dss), 3, figsize=(16, 4.3 * len(dss)), squeeze=False)
    for i, ds in enumerate(dss):
        for j, metric in enumerate(("normalized_value", "recall", "ndcg")):
            ax = axes[i][j]
            any_line = False
            for label in colors:
                cs = [c for c in curves if c["dataset"] == ds and c["label"] == label and c[metric] is not None]
                steps = sorted({c["step"] for c in cs})
                if not steps:
                    continue
                ys = [mean([c[metric] for c in cs if c["step"] == s]) for s in steps]
                lo = [min(c[metric] for c in cs if c["step"] == s) for s in steps]
                hi = [max(c[metric] for c in cs if c["step"] == s) for s in steps]
                ax.plot(steps, ys, color=colors[label], label=label)
                ax.fill_between(steps, lo, hi, color=colors[label], alpha=0.1)
                any_line = True
            ax.set_title(f"{ds}: {metric}" + ("" if any_line else " (not reported for this data)"))
            ax.set_xlabel("step")
            ax.grid(True, alpha=0.3)
            if any_line:
                ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "realdata.png", dpi=90)
    plt.close(fig)


def markdown(summ, seeds, skipped, runner, entry, data_dir, full):
    lines = ["# Experiment 4: real data", ""]
    lines.append("MSLR: `--data letor` on the MSLR-WEB 5k sample (train and test folds; each query's documents are its "
                 "universe; reward = graded gain; LSR = relevance + N(0, 0.5²) noise; linear ESR over standardized "
                 "features), K = 10, batch 16, lr 0.02. OBD: `--data obd` (real ZOZOTOWN users; click model "
                 "`item` fitted on the log, so the reward does not depend on the user; 80 items), K = 5, batch 32, lr "
                 "0.05, LSR noise 0.0005. Evaluation every 10 steps (MSLR: on the test fold). "
                 f"{len(seeds)} seeds each; mean ± sd of the final evaluation.")
    lines.append("")
    for ds in sorted({s["dataset"] for s in summ}, reverse=True):
        rs = [s for s in summ if s["dataset"] == ds]
        lines.append(f"**{ds}** (random ESR value {fmt(rs[0]['random_value'], 4)}, oracle ESR value "
                     f"{fmt(rs[0]['oracle_value'], 4)})")
        lines.append("")
        lines.append(md_table(["estimator", "final value", "normalized", "recall", "NDCG@K"],
                              [[s["label"]] + [f"{fmt(s[f'{k}_mean'], 4)} ± {fmt(s[f'{k}_sd'], 2)}"
                                               if s[f"{k}_mean"] is not None else "–"
                                               for k in ("final_value", "final_normalized_value", "recall", "ndcg")]
                               for s in rs]))
        lines.append("")
    if skipped:
        lines.append("Not run: " + "; ".join(f"{a}: {b}" for a, b in skipped))
        lines.append("")
    lines.append("![real data](realdata.png)")
    lines.append("")
    lines.append(commands_block(runner, NAME, entry))
    lines.append("")
    return "\n".join(lines)
