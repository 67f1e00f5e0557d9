"""Experiment 8: per-estimator learning-rate sweep on the paper world (issue 15).

The paper fixes one learning rate per method (V-PG, V-PG-SwR 0.1; CA-PG, TOP1-PG 0.01; the
authors' experiments/synthetic/conf/model/default.yaml). This sweep asks how much each method's
early-training result depends on that choice: K = 10, optimal LSR, Adagrad, batch 128, the same
world and evaluation as experiment 6 (`exp_paper`), learning rates LRS × SEEDS seeds × STEPS
steps per method. Sensitivity per method: the best learning rate, the final normalized value at
the paper's rate and at the best one, and the spread (best − worst mean) over the grid.

Outputs: lrsweep.csv (every run), lrsweep_summary.csv, lrsweep.png, lrsweep.md.
"""
from common import commands_block, fmt, kept_notes, md_table, write_csv
from exp_paper import METHODS, NOISY_SIGMA, interval

NAME = "lrsweep"
LRS = [0.003, 0.01, 0.03, 0.1, 0.3]
K = 10
STEPS, SEEDS = 1000, 2        # run.py --lr-budget


def run(runner, full, out, entry):
    steps, seeds = (20_000, 3) if full else (STEPS, SEEDS)
    runs = []
    for label, args, paper_lr in METHODS:
        for lr in LRS:
            for seed in range(seeds):
                name = f"lrsweep-k{K}-{label}-lr{lr:g}-s{seed}-t{steps}"
                cmd = ["--data", "paper", "--k", K, "--lsr-optimality", "optimal", "--lsr-noise", NOISY_SIGMA,
                       "--optimizer", "adagrad", "--lr", lr, "--batch-size", 128, "--steps", steps,
                       "--eval-every", steps, "--seed", seed, "--blas-threads", 1,
                       "--set", "eval_queries=1000", "--set", "eval_samples=4", "--set", "queries=1000"] + args
                row = dict(label=label, lr=lr, paper_lr=paper_lr, seed=seed, steps=steps)
                try:
                    summary, _ = runner.train(NAME, name, cmd, mpi=False)
                    row.update(final_value=summary["final_value"],
                               final_normalized=summary["final_normalized_value"], stopped="")
                except RuntimeError as e:
                    if "non-finite" in str(e) or "nonFinite" in str(e) or "NaN" in str(e):
                        row.update(final_value=None, final_normalized=None, stopped="non-finite gradient")
                    else:
                        raise
                runs.append(row)
    write_csv(out / "lrsweep.csv", runs)
    summ, sens = summarize(runs)
    write_csv(out / "lrsweep_summary.csv", summ)
    plot(summ, out, steps, seeds)
    (out / "lrsweep.md").write_text(markdown(summ, sens, runner, entry, steps, seeds, kept_notes(out / "lrsweep.md")))
    return dict(summary=summ, sensitivity=sens)


def summarize(runs):
    summ, sens = [], []
    for label, _, paper_lr in METHODS:
        cells = []
        for lr in LRS:
            rs = [r for r in runs if r["label"] == label and r["lr"] == lr]
            ok = [r for r in rs if r["final_normalized"] is not None]
            m, h = interval([r["final_normalized"] for r in ok])
            v, hv = interval([r["final_value"] for r in ok])
            cell = dict(label=label, lr=lr, paper_lr=paper_lr, seeds=len(rs), stopped=len(rs) - len(ok),
                        final_normalized=m, ci95_normalized=h, final_value=v, ci95_value=hv)
            summ.append(cell)
            cells.append(cell)
        good = [c for c in cells if c["final_normalized"] is not None]
        if not good:
            continue
        best = max(good, key=lambda c: c["final_normalized"])
        worst = min(good, key=lambda c: c["final_normalized"])
        at_paper = next((c for c in good if c["lr"] == paper_lr), None)
        sens.append(dict(label=label, paper_lr=paper_lr, best_lr=best["lr"], best=best["final_normalized"],
                         at_paper_lr=at_paper["final_normalized"] if at_paper else None,
                         spread=best["final_normalized"] - worst["final_normalized"]))
    return summ, sens


def plot(summ, out, steps, seeds):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for label, _, paper_lr in METHODS:
        cs = [c for c in summ if c["label"] == label and c["final_normalized"] is not None]
        xs = [c["lr"] for c in cs]
        ys = [c["final_normalized"] for c in cs]
        es = [c["ci95_normalized"] or 0 for c in cs]
        line = ax.errorbar(xs, ys, yerr=es, marker="o", capsize=3, label=label)
        p = [c for c in cs if c["lr"] == paper_lr]
        if p:
            ax.plot([paper_lr], [p[0]["final_normalized"]], marker="*", ms=14, color=line[0].get_color())
    ax.set_xscale("log")
    ax.set_xlabel("learning rate (Adagrad)")
    ax.set_ylabel(f"normalized value after {steps} steps")
    ax.set_title(f"Paper world, K = {K}, optimal LSR: mean ± 95% t-interval over {seeds} seeds (★ = paper's rate)",
                 fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "lrsweep.png", dpi=110)
    plt.close(fig)


def markdown(summ, sens, runner, entry, steps, seeds, notes="NOTES_PLACEHOLDER"):
    lines = ["# Experiment 8: learning-rate sweep per estimator on the paper world", "",
             f"**Budget: {steps} steps × {seeds} seeds per cell** (reduced; the paper trains 500k steps with one "
             "rate per method). K = 10, optimal LSR, Adagrad, batch 128, the world and evaluation of experiment 6 "
             "(`paper.md`; V-PG-SwR and TOP1-PG with Plackett-Luce candidates as in the authors' code, "
             "docs/paper-code-check.md). Learning rates: " + ", ".join(f"{x:g}" for x in LRS) + ".", "",
             "Final normalized value (0 = random ESR, 1 = oracle top-K), mean ± 95% t-interval over seeds:", ""]
    header = ["method"] + [f"lr {x:g}" for x in LRS]
    rows = []
    for label, _, paper_lr in METHODS:
        row = [label]
        for lr in LRS:
            c = next(c for c in summ if c["label"] == label and c["lr"] == lr)
            txt = "–" if c["final_normalized"] is None else (
                fmt(c["final_normalized"], 3) + (f" ± {fmt(c['ci95_normalized'], 2)}" if c["ci95_normalized"] else ""))
            if c["stopped"]:
                txt += f" ({c['stopped']} stopped)"
            if lr == paper_lr:
                txt = f"**{txt}**"
            row.append(txt)
        rows.append(row)
    lines += [md_table(header, rows), "", "(bold: the paper's rate for that method)", "",
              "Sensitivity:", "",
              md_table(["method", "paper's lr", "best lr", "normalized at best", "at paper's lr",
                        "spread (best − worst)"],
                       [[s["label"], f"{s['paper_lr']:g}", f"{s['best_lr']:g}", fmt(s["best"], 3),
                         fmt(s["at_paper_lr"], 3), fmt(s["spread"], 3)] for s in sens]), "",
             "![lrsweep](lrsweep.png)", "", "## Notes", "", notes, "",
             commands_block(runner, NAME, entry)]
    return "\n".join(lines) + "\n"
