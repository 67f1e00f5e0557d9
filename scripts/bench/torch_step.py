#!/usr/bin/env python3
"""PyTorch CPU peer of `capg bench`: the same step as numpy_step.py with torch ops
(float32 scores and GEMMs, float64 Gumbel noise and estimator, torch.topk for the
Gumbel-top-K selection, the same threshold Newton solve (regula-falsi fallback, only
unconverged rows iterate) or V-PG gradient, Adam written
out as in capg). Threads pinned with torch.set_num_threads(--threads, default 1).
Prints one JSON object like numpy_step.py.
"""
import argparse
import json
import statistics
import time

import torch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--context-dim", type=int, default=16)
    ap.add_argument("--k", type=int, default=100)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--estimator", choices=["capg-threshold", "vpg"], default="capg-threshold")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(1)
    with torch.no_grad():
        run(a)


def run(a):
    n, d, dx, k, b = a.items, a.dim, a.context_dim, a.k, a.batch_size
    gen = torch.Generator().manual_seed(0)
    f32, f64 = torch.float32, torch.float64
    v = torch.randn(n, dx, generator=gen) * (1.5 / dx ** 0.5)
    c = -3 + 0.5 * torch.randn(n, generator=gen)
    W = torch.randn(d, dx, generator=gen) / dx ** 0.5
    E = torch.randn(n, d, generator=gen) * (0.1 / d ** 0.5)
    bias = torch.zeros(n)
    params = [W, E, bias]
    m = [torch.zeros_like(p) for p in params]
    vv = [torch.zeros_like(p) for p in params]
    lr, b1, b2, eps = 0.05, 0.9, 0.999, 1e-8
    times, phases_all = [], []
    ar = torch.arange(b)
    for step in range(a.warmup + a.steps):
        ph = dict.fromkeys(["scoring", "sampling", "estimator", "backward", "optimizer"], 0.0)
        t0 = time.perf_counter()
        x = torch.randn(b, dx, generator=gen)
        u = x @ W.T
        s = torch.addmm(bias, u, E.T)                       # B×N float32
        t1 = time.perf_counter(); ph["scoring"] = t1 - t0
        uni = torch.rand(b, n, generator=gen, dtype=f64)
        pert = s.to(f64) - torch.log(-torch.log(uni))
        pk, sigma = torch.topk(pert, k, dim=1)              # sorted: PL order
        v_k = pk[:, -1]
        zq = torch.einsum("bj,bkj->bk", x, v[sigma]) + c[sigma]
        q = torch.sigmoid(zq)
        pos = torch.argmax(q + 0.05 * torch.randn(q.shape, generator=gen), dim=1)
        chosen = sigma[ar, pos]
        r = (torch.rand(b, generator=gen) < q[ar, pos]).to(f64)
        t2 = time.perf_counter(); ph["sampling"] = t2 - t1
        g = torch.zeros(b, n)
        rows = torch.nonzero(r).flatten()
        if rows.numel():
            sr = s[rows].to(f64)
            top = sr.max(dim=1, keepdim=True).values
            w = torch.exp(sr - top)
            scale = r[rows] / b
            ridx = torch.arange(rows.numel())
            if a.estimator == "capg-threshold":
                kd = float(k)
                tlow = kd / w.sum(dim=1)
                tau = torch.log(torch.maximum(tlow, torch.exp(-(v_k[rows] - top[:, 0]))))
                lo = torch.log(tlow); hi = torch.full_like(lo, float("inf"))
                hlo = torch.full_like(lo, float("nan")); hhi = torch.full_like(lo, float("inf"))
                act = torch.arange(rows.numel())          # rows still iterating
                for _ in range(100):
                    ta = tau[act]
                    xw = w[act] * torch.exp(ta)[:, None]
                    e = torch.exp(-xw)
                    h = (-torch.expm1(-xw)).sum(dim=1) - kd
                    slope = (xw * e).sum(dim=1)
                    neg = h < 0
                    lo[act] = torch.where(neg, torch.maximum(lo[act], ta), lo[act])
                    hlo[act] = torch.where(neg, h, hlo[act])
                    hi[act] = torch.where(neg, hi[act], ta)
                    hhi[act] = torch.where(neg, hhi[act], h)
                    la, ha, hla, hha = lo[act], hi[act], hlo[act], hhi[act]
                    nxt = ta - h / slope
                    bad = ~((nxt > la) & (nxt < ha))
                    falsi = la - hla * (ha - la) / (hha - hla)
                    fb = torch.where(torch.isfinite(ha), 0.5 * (la + ha), la + 1)
                    fb = torch.where(torch.isfinite(falsi) & (falsi > la) & (falsi < ha), falsi, fb)
                    nxt = torch.where(bad, fb, nxt)
                    done = (torch.abs(nxt - ta) <= 1e-14) | (ha - la <= 1e-14) | (h == 0)
                    tau[act] = torch.where(h == 0, ta, nxt)
                    act = act[~done]
                    if act.numel() == 0:
                        break
                xw = w * torch.exp(tau)[:, None]
                psi = xw * torch.exp(-xw)
                xa = xw[ridx, chosen[rows]]
                phi = xa / torch.expm1(xa)
                gr = -(scale * phi)[:, None] * psi / psi.sum(dim=1, keepdim=True)
                gr[ridx, chosen[rows]] += scale * phi
            else:
                sg = sigma[rows]
                wsig = torch.gather(w, 1, sg)
                z = w.sum(dim=1, keepdim=True) - torch.cat(
                    [torch.zeros(rows.numel(), 1, dtype=f64), torch.cumsum(wsig, dim=1)[:, :-1]], dim=1)
                hcum = torch.cumsum(1 / z, dim=1)
                gr = -w * hcum[:, -1:]
                gr.scatter_(1, sg, 1 - wsig * hcum)
                gr *= scale[:, None]
            g[rows] = gr.to(f32)
        t3 = time.perf_counter(); ph["estimator"] = t3 - t2
        db = g.sum(dim=0)
        dE = g.T @ u
        dU = g @ E
        dW = dU.T @ x
        t4 = time.perf_counter(); ph["backward"] = t4 - t3
        tt = step + 1
        ss = lr * (1 - b2 ** tt) ** 0.5 / (1 - b1 ** tt)
        for p, gp, mp, vp in zip(params, [dW, dE, db], m, vv):
            mp.mul_(b1).add_(gp, alpha=1 - b1)
            vp.mul_(b2).addcmul_(gp, gp, value=1 - b2)
            p.addcdiv_(mp, vp.sqrt().add_(eps), value=ss)
        t5 = time.perf_counter(); ph["optimizer"] = t5 - t4
        if step >= a.warmup:
            times.append(t5 - t0)
            phases_all.append(ph)
    med = statistics.median(times)
    print(json.dumps({"peer": "torch", "torch": torch.__version__, "estimator": a.estimator, "step_seconds": times,
                      "median_seconds": med, "queries_per_second": b / med,
                      "phases": {key: statistics.median([p[key] for p in phases_all]) for key in phases_all[0]}}))


if __name__ == "__main__":
    main()
