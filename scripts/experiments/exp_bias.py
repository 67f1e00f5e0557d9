"""Experiment 3: bias under LSR misalignment.

(a) cosine of each estimator's mean to the exact gradient (tiny N: `capg variance` enumerates
    exactly when N!/(N−K)! ≤ 200000) and (b) to a high-sample leave-one-out V-PG reference
    (N = 1000), as the LSR noise σ (argmax LSR) and the LSR temperature τ₂ (σ = 0) move away
    from a perfectly aligned argmax LSR; (c) the final value reached by training each
    estimator at each level (`mpirun -np 2 capg train`, N = 1000).
"""
import math

import json

from common import commands_block, eval_rows, fmt, md_table, mean, std, write_csv

NAME = "bias"

NOISE = [0.0, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0]          # argmax LSR (τ₂ = 0)
TEMPS = [0.0, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0]           # noiseless LSR (σ = 0)

TRAIN_EST = [
    ("capg-threshold", ["--estimator", "capg", "--inclusion", "threshold"]),
    ("vpg-mean", ["--estimator", "vpg", "--baseline", "mean"]),
    ("vpg-loo(M=2)", ["--estimator", "vpg", "--baseline", "loo", "--samples", "2"]),
    ("topk", ["--estimator", "topk"]),
]


def levels(full):
    noise = NOISE if full else [0.0, 0.05, 0.2, 1.0]
    temps = TEMPS if full else [0.0, 0.03, 0.3, 3.0]
    lv = [("noise", s, 0.0) for s in NOISE] + [("temperature", 0.0, t) for t in TEMPS if t > 0]
    tr = [("noise", s, 0.0) for s in noise] + [("temperature", 0.0, t) for t in temps if t > 0]
    return lv, tr


def plan(full):
    if full:
        return dict(tiny=dict(items=10, k=3, contexts=32, draws=20000, exact_draws=5000),
                    mid=dict(items=1000, k=10, contexts=8, draws=10000, ref=400000, exact_draws=1000),
                    train=dict(items=1000, k=10, steps=600, batch=32, eval_every=50, seeds=[0, 1, 2]),
                    exact_check=dict(seeds=[0, 1, 2], steps=600))
    return dict(tiny=dict(items=10, k=3, contexts=8, draws=4000, exact_draws=1500),
                mid=dict(items=1000, k=10, contexts=2, draws=3000, ref=100000, exact_draws=0),
                train=dict(items=1000, k=10, steps=400, batch=32, eval_every=50, seeds=[0, 1]),
                exact_check=dict(seeds=[0], steps=200))


def ceiling(snr1, draws):
    """Expected |cos| between a noisy mean of `draws` draws and its own expectation, from the
    per-draw SNR: 1/√(1 + 1/(SNR²·draws))."""
    if not snr1 or snr1 <= 0:
        return None
    return 1 / math.sqrt(1 + 1 / (snr1 * snr1 * draws))


def deb(snr, draws):
    return math.sqrt(max(0.0, snr * snr - 1.0 / draws)) if snr is not None else None


def run(runner, full, out, entry):
    p = plan(full)
    lv, trl = levels(full)
    cos_rows = []
    for sweep, sigma, tau in lv:
        lsr = ["--lsr-noise", sigma, "--lsr-temperature", tau]
        # (a) tiny N, exact reference
        t = p["tiny"]
        base = ["--items", t["items"], "--k", t["k"], "--contexts", t["contexts"], "--samples", t["draws"],
                "--reward", "expected", "--set", "init_scale=1"] + lsr
        for est, extra, label in (("vpg,capg,topk", [], None), ("capg", ["--inclusion", "exact"], "capg-exact"),
                                  ("capg", ["--inclusion", "independent"], "capg-independent")):
            d = t["exact_draws"] if label == "capg-exact" else t["draws"]
            args = base + ["--estimators", est] + extra
            args[args.index("--samples") + 1] = d
            for r in runner.variance(NAME, args):
                lab = label or {"vpg": "vpg-none", "capg": "capg-threshold", "topk": "topk"}[r["estimator"]]
                sd = deb(r["snr"], d)
                c_est = ceiling(sd, d)
                cos_rows.append(dict(reference="exact", items=t["items"], k=t["k"], sweep=sweep, lsr_noise=sigma,
                                     lsr_temperature=tau, label=lab, draws=d, contexts=t["contexts"],
                                     cosine=r["cosine_to_reference"], noise_ceiling=c_est,
                                     cosine_corrected=r["cosine_to_reference"] / c_est if c_est else None,
                                     variance_scores=r["variance_scores"], snr_debiased=sd))
        # (b) N = 1000, LOO V-PG reference
        m = p["mid"]
        base = ["--items", m["items"], "--k", m["k"], "--contexts", m["contexts"], "--samples", m["draws"],
                "--reference-samples", m["ref"], "--reward", "expected", "--set", "init_scale=1"] + lsr
        invs = [("vpg,capg,topk", ["--set", "baseline=loo", "--set", "samples=2"], None)]
        if m["exact_draws"]:
            invs.append(("capg", ["--inclusion", "exact"], "capg-exact"))
        res = {}
        for est, extra, label in invs:
            args = base + ["--estimators", est] + extra
            if label == "capg-exact":
                args[args.index("--samples") + 1] = m["exact_draws"]
            for r in runner.variance(NAME, args):
                lab = label or {"vpg": "vpg-loo(M=2)", "capg": "capg-threshold", "topk": "topk"}[r["estimator"]]
                res[lab] = (r, m["exact_draws"] if label == "capg-exact" else m["draws"])
        # the reference is LOO V-PG with `ref` rollouts; its per-rollout SNR ≈ (per-draw SNR of
        # vpg-loo(M=2)) / √2, so its ceiling is ceiling(that, ref).
        vr, vd = res["vpg-loo(M=2)"]
        c_ref = ceiling((deb(vr["snr"], vd) or 0) / math.sqrt(2), m["ref"])
        for lab, (r, d) in res.items():
            sd = deb(r["snr"], d)
            c_est = ceiling(sd, d)
            c = (c_est or 0) * (c_ref or 0)
            cos_rows.append(dict(reference=f"loo-vpg({m['ref']})", items=m["items"], k=m["k"], sweep=sweep,
                                 lsr_noise=sigma, lsr_temperature=tau, label=lab, draws=d, contexts=m["contexts"],
                                 cosine=r["cosine_to_reference"], noise_ceiling=c or None,
                                 cosine_corrected=r["cosine_to_reference"] / c if c else None,
                                 variance_scores=r["variance_scores"], snr_debiased=sd))
    write_csv(out / "bias_cosine.csv", cos_rows)

    # (c) training at each level
    tp = p["train"]
    train_rows = []
    for sweep, sigma, tau in trl:
        for label, args in TRAIN_EST:
            for seed in tp["seeds"]:
                name = (f"bias-n{tp['items']}-k{tp['k']}-s{sigma}-t{tau}-{label}-seed{seed}"
                        .replace("(", "").replace(")", "").replace("=", ""))
                summary, _ = runner.train(NAME, name, [
                    "--items", tp["items"], "--k", tp["k"], "--steps", tp["steps"], "--batch-size", tp["batch"],
                    "--eval-every", tp["eval_every"], "--seed", seed, "--lsr-noise", sigma,
                    "--lsr-temperature", tau] + args)
                train_rows.append(dict(sweep=sweep, lsr_noise=sigma, lsr_temperature=tau, label=label, seed=seed,
                                       final_value=summary["final_value"],
                                       final_normalized_value=summary["final_normalized_value"],
                                       random_value=summary["random_value"], oracle_value=summary["oracle_value"],
                                       recall=summary["recall"]))
    write_csv(out / "bias_training.csv", train_rows)

    # (d) is the threshold approximation to blame? CA-PG with exact inclusion (O(N·K) per
    # sample) trained at the aligned level, compared at the same step with the runs above.
    ec = p["exact_check"]
    check_rows = []
    for seed in ec["seeds"]:
        name = f"bias-n{tp['items']}-k{tp['k']}-s0.0-t0.0-capg-exact-seed{seed}-steps{ec['steps']}"
        _, metrics = runner.train(NAME, name, [
            "--items", tp["items"], "--k", tp["k"], "--steps", ec["steps"], "--batch-size", tp["batch"],
            "--eval-every", tp["eval_every"], "--seed", seed, "--lsr-noise", 0.0, "--lsr-temperature", 0.0,
            "--estimator", "capg", "--inclusion", "exact"])
        for m in eval_rows(metrics):
            check_rows.append(dict(label="capg-exact", seed=seed, step=m["step"], value=m["value"]))
        for label, _ in TRAIN_EST:
            name = (f"bias-n{tp['items']}-k{tp['k']}-s0.0-t0.0-{label}-seed{seed}"
                    .replace("(", "").replace(")", "").replace("=", ""))
            mpath = runner.runs_dir / "train" / name / "metrics.jsonl"
            if mpath.exists():
                for m in eval_rows([json.loads(l) for l in mpath.read_text().splitlines() if l.strip()]):
                    if m["step"] <= ec["steps"]:
                        check_rows.append(dict(label=label, seed=seed, step=m["step"], value=m["value"]))
    write_csv(out / "bias_exact_check.csv", check_rows)
    tsum = summarize_training(train_rows, trl, tp)
    write_csv(out / "bias_training_summary.csv", tsum)
    plot(cos_rows, tsum, trl, out)
    (out / "bias.md").write_text(markdown(cos_rows, tsum, trl, p, runner, entry, check_rows))
    return dict(cos=cos_rows, train=tsum, plan=p)


def level_name(sweep, sigma, tau):
    return f"σ={sigma:g}" if sweep == "noise" else f"τ₂={tau:g}"


def summarize_training(rows, trl, tp):
    out = []
    for sweep, sigma, tau in trl:
        rs = [r for r in rows if r["sweep"] == sweep and r["lsr_noise"] == sigma and r["lsr_temperature"] == tau]
        means = {}
        for label, _ in TRAIN_EST:
            v = [r["final_value"] for r in rs if r["label"] == label]
            means[label] = (mean(v), std(v))
        best_other = max((m[0], l) for l, m in means.items() if l != "capg-threshold")
        c = means["capg-threshold"]
        rnd = rs[0]["random_value"]
        orc = rs[0]["oracle_value"]
        n = len(tp["seeds"])

        def versus(other):
            d = c[0] - means[other][0]
            e = math.sqrt((c[1] ** 2 + means[other][1] ** 2) / n) if n > 1 else 0.0
            return d, e, ("tie" if abs(d) <= 2 * e else ("wins" if d > 0 else "loses"))

        diff, se, verdict = versus(best_other[1])
        best_vpg = max((means[l][0], l) for l, _ in TRAIN_EST if l.startswith("vpg"))[1]
        dv, ev, vv = versus(best_vpg)
        dt, et, vt = versus("topk")
        extra = dict(best_vpg=best_vpg, capg_minus_best_vpg=dv, vpg_se=ev, verdict_vs_vpg=vv,
                     capg_minus_topk=dt, topk_se=et, verdict_vs_topk=vt)
        out.append(dict(sweep=sweep, level=level_name(sweep, sigma, tau), lsr_noise=sigma, lsr_temperature=tau,
                        random_value=rnd, oracle_value=orc,
                        **{f"{l}_mean": means[l][0] for l, _ in TRAIN_EST},
                        **{f"{l}_sd": means[l][1] for l, _ in TRAIN_EST},
                        best_other=best_other[1], capg_minus_best_other=diff, diff_se=se,
                        capg_wins=diff > 0, verdict=verdict, **extra))
    return out


def plot(cos_rows, tsum, trl, out):
    from common import ensure_matplotlib
    plt = ensure_matplotlib()
    colors = {"vpg-none": "C0", "vpg-loo(M=2)": "C9", "vpg-mean": "C4", "capg-threshold": "C1", "capg-exact": "C3",
              "capg-independent": "C5", "topk": "C2"}
    fig, axes = plt.subplots(3, 2, figsize=(12, 12))
    for j, sweep in enumerate(("noise", "temperature")):
        xkey = "lsr_noise" if sweep == "noise" else "lsr_temperature"
        for i, ref in enumerate(("exact", "loo")):
            ax = axes[i][j]
            rs = [r for r in cos_rows if r["sweep"] == sweep and r["reference"].startswith(ref)]
            for lab in colors:
                pts = sorted([(r[xkey], r["cosine_corrected"] if r["cosine_corrected"] is not None else r["cosine"])
                              for r in rs if r["label"] == lab])
                if not pts:
                    continue
                xs = [max(x, 1e-3) for x, _ in pts]
                ax.plot(xs, [y for _, y in pts], marker="o", color=colors[lab], label=lab)
            n = rs[0]["items"] if rs else "?"
            kk = rs[0]["k"] if rs else "?"
            ax.set_xscale("log")
            ax.set_title(f"cos(mean estimate, {'exact gradient' if ref == 'exact' else 'LOO V-PG reference'}), "
                         f"N={n}, K={kk}", fontsize=9)
            ax.set_xlabel(("LSR noise σ (argmax LSR)" if sweep == "noise" else "LSR temperature τ₂ (σ = 0)")
                          + "; 0 plotted at 1e-3")
            ax.set_ylabel("cosine (noise-corrected)")
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize=7)
        ax = axes[2][j]
        ts = [t for t in tsum if t["sweep"] == sweep]
        xs = [max(t[xkey], 1e-3) for t in ts]
        for label, _ in TRAIN_EST:
            ax.errorbar(xs, [t[f"{label}_mean"] for t in ts], yerr=[t[f"{label}_sd"] for t in ts], marker="o",
                        color=colors[label], label=label, capsize=3)
        ax.plot(xs, [t["oracle_value"] for t in ts], "k--", lw=1, label="oracle ESR")
        ax.plot(xs, [t["random_value"] for t in ts], "k:", lw=1, label="random ESR")
        ax.set_xscale("log")
        ax.set_title("final value after training (true expected reward), N=1000, K=10", fontsize=9)
        ax.set_xlabel("LSR noise σ" if sweep == "noise" else "LSR temperature τ₂")
        ax.set_ylabel("final value")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "bias.png", dpi=90)
    plt.close(fig)


def markdown(cos_rows, tsum, trl, p, runner, entry, check_rows):
    t, m, tp = p["tiny"], p["mid"], p["train"]
    lines = ["# Experiment 3: bias under LSR misalignment", ""]
    lines.append("Alignment knobs: LSR noise σ (LSR score ℓ = q + σ·ε, fixed per context and item; argmax LSR) and "
                 "LSR temperature τ₂ (softmax over the candidate set, σ = 0). σ = 0, τ₂ = 0 is a perfectly aligned "
                 "argmax LSR. Large σ makes the LSR's choice unrelated to the reward (the reward spread of q across "
                 "items is ≈ 0.1); large τ₂ makes it uniform over S, where CA-PG is exactly unbiased. The CLI rejects "
                 "negative σ and τ₂, so a truly adversarial (anti-aligned) LSR cannot be expressed: the most misaligned "
                 "level here is an uninformative LSR.")
    lines.append("")
    lines.append(f"Cosines: `capg variance --reward expected --set init_scale=1`. Tiny: N = {t['items']}, K = {t['k']}, "
                 f"{t['contexts']} contexts × {t['draws']} draws, reference = exact gradient (enumeration). "
                 f"Mid: N = {m['items']}, K = {m['k']}, {m['contexts']} contexts × {m['draws']} draws, reference = "
                 f"leave-one-out V-PG with {m['ref']} rollouts per context (unbiased but noisy). "
                 "A finite-sample mean has cosine < 1 to its own expectation; `corrected` divides by the expected "
                 "noise ceiling 1/√(1 + 1/(SNR²·D)) of the estimate (and of the reference, for the mid case), so an "
                 "unbiased estimator reads ≈ 1 (V-PG is the unbiased control). Values > 1 are noise.")
    lines.append("")
    for ref, title in (("exact", f"Tiny N = {t['items']}, K = {t['k']}: cosine to the exact gradient"),
                       ("loo", f"N = {m['items']}, K = {m['k']}: cosine to the LOO V-PG reference")):
        rs = [r for r in cos_rows if r["reference"].startswith(ref)]
        labels = []
        for r in rs:
            if r["label"] not in labels:
                labels.append(r["label"])
        lvls = []
        for r in rs:
            key = (r["sweep"], r["lsr_noise"], r["lsr_temperature"])
            if key not in lvls:
                lvls.append(key)
        lines.append(f"**{title}** (raw / corrected)")
        lines.append("")
        body = []
        for key in lvls:
            row = [level_name(*key)]
            for lab in labels:
                r = next((r for r in rs if (r["sweep"], r["lsr_noise"], r["lsr_temperature"]) == key
                          and r["label"] == lab), None)
                row.append(f"{fmt(r['cosine'], 3)} / {fmt(r['cosine_corrected'], 3)}" if r else "–")
            body.append(row)
        lines.append(md_table(["LSR level"] + labels, body))
        lines.append("")
    lines.append(f"**Final value after training** (`mpirun -np {runner.np} capg train`, N = {tp['items']}, K = {tp['k']}, "
                 f"{tp['steps']} steps, batch {tp['batch']}, lr 0.05, seeds {', '.join(map(str, tp['seeds']))}; mean ± sd "
                 "of the true expected reward of the trained ESR + LSR; random and oracle ESR for scale)")
    lines.append("")
    body = []
    for s in tsum:
        body.append([s["level"], s["random_value"], s["oracle_value"]]
                    + [f"{fmt(s[f'{l}_mean'], 4)} ± {fmt(s[f'{l}_sd'], 2)}" for l, _ in TRAIN_EST]
                    + [f"{fmt(s['capg_minus_best_vpg'], 3)} ± {fmt(s['vpg_se'], 2)} ({s['verdict_vs_vpg']})",
                       f"{fmt(s['capg_minus_topk'], 3)} ± {fmt(s['topk_se'], 2)} ({s['verdict_vs_topk']})"])
    lines.append(md_table(["LSR level", "random", "oracle"] + [l for l, _ in TRAIN_EST]
                          + ["CA-PG − best V-PG (± se)", "CA-PG − top-K (± se)"], body))
    lines.append("")
    lines.append("Verdict: `wins`/`loses` when |difference| > 2 standard errors of the difference over seeds, "
                 "else `tie`.")
    lines.append("")
    ec = p["exact_check"]
    steps = sorted({r["step"] for r in check_rows})
    labels = []
    for r in check_rows:
        if r["label"] not in labels:
            labels.append(r["label"])
    lines.append(f"**Exact-inclusion check** (σ = 0, τ₂ = 0, seed(s) {', '.join(map(str, ec['seeds']))}): value at each "
                 "evaluation step of CA-PG with exact inclusion (its own run) next to the runs above, to see whether the "
                 "threshold approximation explains CA-PG's gap to top-K")
    lines.append("")
    lines.append(md_table(["estimator"] + [f"step {s}" for s in steps],
                          [[l] + [mean([r["value"] for r in check_rows if r["label"] == l and r["step"] == s])
                                  for s in steps] for l in labels]))
    lines.append("")
    lines.append("![bias](bias.png)")
    lines.append("")
    lines.append(commands_block(runner, NAME, entry))
    lines.append("")
    return "\n".join(lines)
