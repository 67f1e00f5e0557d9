"""Experiment 7: gradient diagnostics along training trajectories (issue 15, item 4).

One trajectory per paper method (`capg train --data paper` on a world small enough for exact
enumeration: N = 16 items, 64 users, K = 4; Adagrad, batch 128, the paper's learning rates),
checkpointed every STEPS/10 steps. At the initialization and at every checkpoint, `capg
diagnose` measures *every* estimator (V-PG, V-PG-SwR, CA-PG with the prefix heuristic and with
exact inclusion, TOP1-PG) on 16 evaluation users × 200 keyed draws (the same draws at every
checkpoint): the variance of one draw's gradient in parameter space (and of a 16-user batch
mean), the cosine of its mean to the exact gradient (enumeration of all 43,680 ordered
prefixes), and the vanishing-credit fraction (rewarded draws with ‖ĝ‖ ≤ 1e-3·|r|).

Outputs: diagnostics.jsonl (one row per trajectory × step × estimator), diagnostics.csv,
diagnostics.png, diagnostics.md.
"""
import json

from common import commands_block, fmt, kept_notes, md_table, write_csv

NAME = "diagnostics"

ITEMS, USERS, K, BATCH = 16, 64, 4, 128
TRAJECTORIES = [
    ("V-PG", ["--estimator", "vpg"], 0.1),
    ("V-PG-SwR", ["--estimator", "vpg-swr"], 0.1),
    ("CA-PG", ["--estimator", "capg", "--inclusion", "prefix"], 0.01),
    ("TOP1-PG", ["--estimator", "top1"], 0.01),
]
MEASURED = "vpg,vpg-swr,capg:prefix,capg:exact,top1"
LABELS = {("vpg", None): "V-PG", ("vpg-swr", None): "V-PG-SwR", ("capg", "prefix"): "CA-PG (prefix)",
          ("capg", "exact"): "CA-PG (exact incl.)", ("top1", None): "TOP1-PG"}
DRAWS, CONTEXTS, THRESHOLD = 200, 16, 1e-3
STEPS = 2000               # run.py --budget's step count when given


def label(row):
    return LABELS.get((row["estimator"], row.get("inclusion")), row["estimator"])


def run(runner, full, out, entry, steps=None, seed=0):
    steps = 20_000 if full else (steps or STEPS)
    every = max(1, steps // 10)
    rows = []
    for name, args, lr in TRAJECTORIES:
        run_name = f"diag-{name}-n{ITEMS}-k{K}-s{seed}-t{steps}"
        cmd = ["--data", "paper", "--items", ITEMS, "--users", USERS, "--k", K, "--lsr-optimality", "optimal",
               "--optimizer", "adagrad", "--lr", lr, "--batch-size", BATCH, "--steps", steps,
               "--eval-every", every, "--seed", seed, "--blas-threads", 1,
               "--set", f"eval_queries={USERS}", "--set", f"queries={USERS}"] + args
        summary, metrics = runner.train(NAME, run_name, cmd, mpi=False, checkpoint_every=every)
        diag = runner.diagnose(NAME, [runner.last_run_dir],
                               ["--estimators", MEASURED, "--draws", DRAWS, "--contexts", CONTEXTS,
                                "--threshold", THRESHOLD])
        values = {m["step"]: m["value"] for m in metrics if m.get("value") is not None}
        for r in diag:
            r["trajectory"] = name
            r["measured"] = label(r)
            r["policy_value"] = values.get(r["step"])
            rows.append(r)
    (out / "diagnostics.jsonl").write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))
    fields = ["trajectory", "step", "measured", "estimator", "inclusion", "k", "variance_params",
              "variance_batch_params", "variance_scores", "cosine_to_exact", "cosine_pooled", "snr",
              "vanishing_fraction", "vanishing_fraction_1e-2", "vanishing_fraction_1e-1", "relative_norm_p10",
              "relative_norm_median", "rewarded_draws", "vanished_draws", "exact_value", "deterministic_value",
              "exact_gradient_norm",
              "policy_value"]
    write_csv(out / "diagnostics.csv", rows, fields)
    plot(rows, out)
    (out / "diagnostics.md").write_text(markdown(rows, runner, entry, steps, every, seed, kept_notes(out / "diagnostics.md")))
    return rows


def plot(rows, out):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    names = [t[0] for t in TRAJECTORIES]
    measured = list(dict.fromkeys(r["measured"] for r in rows))
    metrics = [("variance_params", "tr Cov (params), one draw", True),
               ("cosine_to_exact", "cos(mean, exact ∇V)", False),
               ("vanishing_fraction_1e-2", "vanishing fraction (τ = 1e-2)", False),
               ("relative_norm_median", "median ‖ĝ‖/|r| (rewarded draws)", True),
               ("exact_value", "V (16 users): sampled ESR —, top-K ESR - -", False)]
    fig, axes = plt.subplots(len(metrics), len(names), figsize=(4 * len(names), 3 * len(metrics)), sharex=True)
    for j, t in enumerate(names):
        for i, (key, title, logy) in enumerate(metrics):
            ax = axes[i][j]
            for m in measured if key != "exact_value" else measured[:1]:
                pts = sorted((r["step"], r[key]) for r in rows if r["trajectory"] == t and r["measured"] == m
                             and r.get(key) is not None)
                if pts:
                    ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", ms=3,
                            label=m if key != "exact_value" else None)
            if key == "exact_value":
                pts = sorted((r["step"], r["deterministic_value"]) for r in rows
                             if r["trajectory"] == t and r["measured"] == measured[0] and "deterministic_value" in r)
                if pts:
                    ax.plot([p[0] for p in pts], [p[1] for p in pts], ls="--", color="gray")
            if logy:
                ax.set_yscale("log")
            if i == 0:
                ax.set_title(f"trajectory: {t}")
            if j == 0:
                ax.set_ylabel(title)
            if i == len(metrics) - 1:
                ax.set_xlabel("training step")
            ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.suptitle(f"Estimator diagnostics along paper-world trajectories (N={ITEMS}, K={K}, {USERS} users)")
    fig.tight_layout()
    fig.savefig(out / "diagnostics.png", dpi=100)
    plt.close(fig)


def markdown(rows, runner, entry, steps, every, seed, notes="NOTES_PLACEHOLDER"):
    lines = ["# Experiment 7: estimator diagnostics along training trajectories", "",
             f"Issue 15, item 4. Paper world (`--data paper`, optimal LSR) shrunk to N = {ITEMS} items, "
             f"{USERS} users, K = {K} so that the exact gradient is computable (all {ITEMS}·{ITEMS - 1}·"
             f"{ITEMS - 2}·{ITEMS - 3} ordered prefixes); Adagrad, batch {BATCH}, the paper's learning rates "
             f"(V-PG, V-PG-SwR 0.1; CA-PG, TOP1-PG 0.01), {steps} steps, seed {seed}, a checkpoint every "
             f"{every} steps. At step 0 and every checkpoint `capg diagnose` measures every estimator on the "
             f"first {CONTEXTS} users with {DRAWS} keyed draws each (the same keys at every checkpoint):", "",
             "- `variance_params`: tr Cov of one draw's gradient w.r.t. the two-tower parameters, mean over users "
             "(`variance_batch_params` = that / 16: the batch mean over the 16 users);",
             "- `cosine_to_exact`: cos(mean of the draws, exact ∇V), mean over users (with 200 draws the mean's "
             "own noise lowers the cosine of a high-variance estimator: read it with `snr`);",
             f"- `vanishing_fraction`: rewarded draws whose estimate has ‖ĝ‖₂ ≤ {THRESHOLD:g}·|r| (credit vanished: "
             "for CA-PG the chosen item was surely in S);",
             "  `vanishing_fraction_1e-2` / `_1e-1` the same at looser τ; `relative_norm_p10` / `_median` the 10% "
             "and 50% quantiles of ‖ĝ‖/|r| over the rewarded draws;",
             "- `exact_value`: the exact policy value on those users (enumeration); `deterministic_value`: the value "
             "of the deterministic ESR (its top-K scores, no sampling), as the authors' code evaluates.", "",
             "Rows: `diagnostics.jsonl` / `diagnostics.csv`. Figure: columns = the trajectory trained, lines = the "
             "estimator measured at its checkpoints.", "", "![diagnostics](diagnostics.png)", ""]
    final = max(r["step"] for r in rows)
    for step, title in ((0, "At the initialization (step 0)"), (final, f"At the last checkpoint (step {final})")):
        table = []
        for r in rows:
            if r["step"] != step or (step == 0 and r["trajectory"] != TRAJECTORIES[0][0]):
                continue
            table.append([r["trajectory"] if step else "(all: same init)", r["measured"], fmt(r["variance_params"]),
                          fmt(r["cosine_to_exact"], 3), fmt(r["snr"], 3) if r.get("snr") is not None else "-",
                          fmt(r["vanishing_fraction"], 3), fmt(r["vanishing_fraction_1e-2"], 3),
                          fmt(r["relative_norm_p10"], 3), fmt(r["relative_norm_median"], 3), fmt(r["exact_value"], 4),
                          fmt(r.get("deterministic_value"), 4)])
        lines += [f"### {title}", "",
                  md_table(["trajectory", "estimator", "var (params)", "cos to exact", "snr", "vanishing τ=1e-3",
                            "τ=1e-2", "‖ĝ‖/|r| p10", "median", "exact V", "top-K V"],
                           table), ""]
    lines += ["## Notes", "", notes, "",
              commands_block(runner, NAME, entry)]
    return "\n".join(lines) + "\n"
