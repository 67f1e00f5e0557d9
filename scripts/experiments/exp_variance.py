"""Experiment 1: gradient variance vs candidate-set size K (`capg variance`).

For each N and K: tr Cov of one draw of each estimator w.r.t. the N scores and w.r.t. the
two-tower parameters, and its SNR, at fixed parameters (init_scale=1 so scores are not
uniform), averaged over evaluation contexts. Log-log slopes of variance against K.
"""
import math

from common import fmt, loglog_slope, md_table, write_csv, commands_block

NAME = "variance"

# Labels, in table order, and how each is requested: (label, --estimators value, extra args, rollouts per draw)
CONFIGS = [
    ("vpg-none", "vpg", [], 1),
    ("vpg-loo(M=2)", "vpg", ["--set", "baseline=loo", "--set", "samples=2"], 2),
    ("capg-exact", "capg", ["--inclusion", "exact"], 1),
    ("capg-threshold", "capg", ["--inclusion", "threshold"], 1),
    ("capg-independent", "capg", ["--inclusion", "independent"], 1),
    ("topk", "topk", [], 1),
]
DEFAULT_LABEL = {"vpg": "vpg-none", "capg": "capg-threshold", "topk": "topk"}

KS = [10, 20, 50, 100, 200, 500]


def plan(full):
    """Per N: contexts, reference rollouts, and the invocations (estimators, extra args, K list,
    draws per context, label or None for the default labels of a combined invocation)."""
    if full:
        return [
            dict(items=1000, contexts=8, ref=20000, inv=[
                ("vpg", [], KS, 4000, "vpg-none"),
                ("vpg", CONFIGS[1][2], KS, 4000, "vpg-loo(M=2)"),
                ("capg", ["--inclusion", "exact"], KS, 200, "capg-exact"),
                ("capg", ["--inclusion", "threshold"], KS, 1000, "capg-threshold"),
                ("capg", ["--inclusion", "independent"], KS, 1000, "capg-independent"),
                ("topk", [], KS, 1000, "topk")]),
            dict(items=100000, contexts=8, ref=5000, inv=[
                ("vpg,capg,topk", [], KS, 1000, None),
                ("vpg", CONFIGS[1][2], KS, 1000, "vpg-loo(M=2)"),
                ("capg", ["--inclusion", "independent"], KS, 1000, "capg-independent")]),
        ]
    return [
        dict(items=1000, contexts=4, ref=2000, inv=[
            ("vpg", [], KS, 1000, "vpg-none"),
            ("vpg", CONFIGS[1][2], KS, 1000, "vpg-loo(M=2)"),
            ("capg", ["--inclusion", "exact"], [10, 20, 50], 100, "capg-exact"),
            ("capg,topk", ["--inclusion", "threshold"], KS, 200, None),
            ("capg", ["--inclusion", "independent"], KS, 200, "capg-independent")]),
        dict(items=100000, contexts=2, ref=500, inv=[
            ("vpg,capg,topk", [], KS, 100, None),
            ("vpg", CONFIGS[1][2], KS, 100, "vpg-loo(M=2)"),
            ("capg", ["--inclusion", "independent"], KS, 100, "capg-independent")]),
    ]


def run(runner, full, out, entry):
    rows = []
    for p in plan(full):
        base = ["--items", p["items"], "--set", "init_scale=1", "--contexts", p["contexts"],
                "--reference-samples", p["ref"]]
        for est, extra, ks, draws, label in p["inv"]:
            res = runner.variance(NAME, base + ["--k", ",".join(str(k) for k in ks), "--estimators", est,
                                                "--samples", draws] + extra)
            for r in res:
                lab = label or DEFAULT_LABEL[r["estimator"]]
                m = next(c[3] for c in CONFIGS if c[0] == lab)
                snr = r["snr"]
                floor = 1 / math.sqrt(draws)
                # Resolved only if the measured SNR clearly exceeds the noise floor (signal² > 0.25/D).
                resolved = snr is not None and snr * snr > 1.25 / draws
                deb = math.sqrt(snr * snr - 1.0 / draws) if resolved else None
                rows.append(dict(items=p["items"], k=r["k"], label=lab, estimator=r["estimator"],
                                 inclusion=r["inclusion"] or "", rollouts_per_draw=m, draws=draws,
                                 contexts=p["contexts"], variance_scores=r["variance_scores"],
                                 variance_params=r["variance_params"],
                                 cosine_to_reference=r["cosine_to_reference"], snr=snr,
                                 snr_noise_floor=floor, snr_debiased=deb,
                                 snr_upper_bound=None if resolved else math.sqrt(0.25 / draws)))
    write_csv(out / "variance.csv", rows)
    slopes = fit_slopes(rows)
    write_csv(out / "variance_slopes.csv", slopes)
    plot(rows, slopes, out)
    md = markdown(rows, slopes, runner, entry, full)
    (out / "variance.md").write_text(md)
    return dict(rows=rows, slopes=slopes)


def fit_slopes(rows):
    out = []
    for n in sorted({r["items"] for r in rows}):
        for label, *_ in CONFIGS:
            rs = sorted([r for r in rows if r["items"] == n and r["label"] == label], key=lambda r: r["k"])
            if len(rs) < 2:
                continue
            ks = [r["k"] for r in rs]
            out.append(dict(items=n, label=label, ks=" ".join(map(str, ks)),
                            slope_variance_scores=loglog_slope(ks, [r["variance_scores"] for r in rs]),
                            slope_variance_params=loglog_slope(ks, [r["variance_params"] for r in rs]),
                            slope_snr_debiased=loglog_slope(ks, [r["snr_debiased"] for r in rs], min_points=3)))
    return out


def get(rows, n, label, k, key):
    for r in rows:
        if r["items"] == n and r["label"] == label and r["k"] == k:
            return r[key]
    return None


def ratios(rows, n, num, den="capg-threshold", key="variance_scores"):
    res = {}
    for k in sorted({r["k"] for r in rows if r["items"] == n}):
        a, b = get(rows, n, num, k, key), get(rows, n, den, k, key)
        res[k] = a / b if a is not None and b else None
    return res


def plot(rows, slopes, out):
    from common import ensure_matplotlib
    plt = ensure_matplotlib()
    ns = sorted({r["items"] for r in rows})
    fig, axes = plt.subplots(2, len(ns), figsize=(6.2 * len(ns), 9), squeeze=False)
    styles = {"vpg-none": ("C0", "o", "-"), "vpg-loo(M=2)": ("C9", "s", "--"),
              "capg-exact": ("C3", "D", "-"), "capg-threshold": ("C1", "o", "-"),
              "capg-independent": ("C5", "^", "--"), "topk": ("C2", "v", "-")}
    for j, n in enumerate(ns):
        for label, *_ in CONFIGS:
            rs = sorted([r for r in rows if r["items"] == n and r["label"] == label], key=lambda r: r["k"])
            if not rs:
                continue
            c, mk, ls = styles[label]
            sl = next((s for s in slopes if s["items"] == n and s["label"] == label), None)
            ks = [r["k"] for r in rs]
            s1 = sl["slope_variance_scores"] if sl else None
            axes[0][j].loglog(ks, [r["variance_scores"] for r in rs], color=c, marker=mk, ls=ls,
                              label=f"{label} (slope {fmt(s1, 2)})" if s1 is not None else label)
            s2 = sl["slope_snr_debiased"] if sl else None
            ys = [r["snr_debiased"] if r["snr_debiased"] and r["snr_debiased"] > 0 else float("nan") for r in rs]
            axes[1][j].loglog(ks, ys, color=c, marker=mk, ls=ls,
                              label=f"{label} (slope {fmt(s2, 2)})" if s2 is not None else label)
            ub = [(r["k"], r["snr_upper_bound"]) for r in rs if r["snr_debiased"] is None and r["snr_upper_bound"]]
            if ub:
                axes[1][j].loglog([u[0] for u in ub], [u[1] for u in ub], color=c, marker="v", ls="none",
                                  mfc="none", alpha=0.6, label=f"{label}: not resolved, SNR below")
        axes[0][j].set_title(f"tr Cov of one draw (score space), N = {n}")
        axes[0][j].set_xlabel("K")
        axes[0][j].set_ylabel("tr Cov[ĝ]")
        axes[1][j].set_title(f"SNR ‖E ĝ‖/√tr Cov of one draw (noise floor removed), N = {n}")
        axes[1][j].set_xlabel("K")
        axes[1][j].set_ylabel("SNR")
        for a in (axes[0][j], axes[1][j]):
            a.grid(True, which="both", alpha=0.3)
            a.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "variance_vs_k.png", dpi=90)
    plt.close(fig)


def markdown(rows, slopes, runner, entry, full):
    lines = ["# Experiment 1: gradient variance vs K", ""]
    lines.append("`capg variance` at fixed initial parameters (`init_scale=1`, seed 0, env seed 1, LSR noise "
                 "0.05, argmax LSR, Bernoulli reward), averaged over evaluation contexts. `tr Cov` is the "
                 "trace of the covariance of ONE draw of the estimator (w.r.t. the N scores; `params`: w.r.t. "
                 "the two-tower parameters). `vpg-loo(M=2)` draws 2 rollouts per draw (twice the cost). "
                 "`snr` as printed by the CLI is ‖mean of D draws‖/√tr Cov, which cannot fall below the "
                 "noise floor 1/√D; `snr_debiased` = √max(0, snr² − 1/D) removes it (approximate: the CLI "
                 "averages snr over contexts); it is shown only where the measured snr exceeds the floor "
                 "clearly (signal² > 0.25/D), else as an upper bound '<√(0.25/D)'.")
    lines.append("")
    for p in sorted({r["items"] for r in rows}):
        sub = [r for r in rows if r["items"] == p]
        ks = sorted({r["k"] for r in sub})
        d = sorted({(r["label"], r["draws"]) for r in sub})
        ctx = sub[0]["contexts"]
        lines.append(f"## N = {p}  ({ctx} contexts; draws per context: "
                     + ", ".join(f"{l} {dd}" for l, dd in d) + ")")
        lines.append("")
        for key, title in (("variance_scores", "tr Cov (scores)"), ("variance_params", "tr Cov (parameters)"),
                           ("snr_debiased", "SNR (noise floor removed; '<x': not resolved with these draws, SNR below about x)"),
                           ("cosine_to_reference", "cosine of the mean to the reference gradient")):
            lines.append(f"**{title}**")
            lines.append("")
            body = []
            for label, *_ in CONFIGS:
                vals = [get(rows, p, label, k, key) for k in ks]
                if key == "snr_debiased":
                    ub = [get(rows, p, label, k, "snr_upper_bound") for k in ks]
                    vals = [f"<{fmt(u, 2)}" if v is None and u is not None else v for v, u in zip(vals, ub)]
                if any(v is not None for v in vals):
                    body.append([label] + vals)
            lines.append(md_table(["estimator"] + [f"K={k}" for k in ks], body))
            lines.append("")
        lines.append("**Variance ratio to CA-PG (threshold), score space**")
        lines.append("")
        body = []
        for num in ("vpg-none", "vpg-loo(M=2)", "topk", "capg-exact", "capg-independent"):
            rr = ratios(rows, p, num)
            if any(v is not None for v in rr.values()):
                body.append([f"{num} / capg-threshold"] + [rr.get(k) for k in ks])
        lines.append(md_table(["ratio"] + [f"K={k}" for k in ks], body))
        lines.append("")
    lines.append("## Fitted log-log slopes (variance ∝ K^slope)")
    lines.append("")
    lines.append(md_table(["N", "estimator", "K used", "slope tr Cov (scores)", "slope tr Cov (params)",
                           "slope SNR (≥ 3 resolved K)"],
                          [[s["items"], s["label"], s["ks"], s["slope_variance_scores"], s["slope_variance_params"],
                            s["slope_snr_debiased"]] for s in slopes]))
    lines.append("")
    lines.append("Notes: the cosine column uses the CLI's reference: exact enumeration only when "
                 "N!/(N−K)! ≤ 200000 (never here), otherwise a leave-one-out V-PG average with "
                 "`--reference-samples` rollouts, so it is limited by the reference's own noise (see "
                 "experiment 3 for the bias measurement). V-PG with the running-mean baseline is absent: "
                 "`capg variance --baseline mean` passes no running mean to the estimator (it uses b = 0), so "
                 "it prints exactly the `vpg-none` numbers (see README, CLI issues); the mean baseline is "
                 "compared in training (experiment 2). Exact inclusion costs O(N·K) per draw, so it is run "
                 "only at N = 1000 (the default mode: K ≤ 50). The top-K correction's gradient is about K times larger than "
                 "CA-PG's (λ_K ≈ K for small π_a), so its raw variance is not comparable; compare SNR.")
    lines.append("")
    lines.append("![variance vs K](variance_vs_k.png)")
    lines.append("")
    lines.append(commands_block(runner, NAME, entry))
    lines.append("")
    return "\n".join(lines)
