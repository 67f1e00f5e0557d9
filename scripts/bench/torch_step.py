#!/usr/bin/env python3
"""PyTorch CPU peer of `capg bench`: the same step as numpy_step.py with torch ops
(float32 scores and GEMMs, float64 Gumbel noise and estimator, torch.topk for the
Gumbel-top-K selection, the same threshold Newton solve (regula-falsi fallback, only
unconverged rows iterate) or V-PG gradient, Adam written
out as in capg). Threads pinned with torch.set_num_threads(--threads, default 1).

Naive (default) is straightforward torch code under torch.no_grad(): every step allocates
its B×N tensors afresh. --fair gives the peer the same legitimate shortcuts capg takes (and
numpy_step.py --fair): under torch.inference_mode(), every B×N tensor (scores, uniforms ->
perturbed scores in place, the rewarded rows' weights, the Newton scratch, the score
gradient) and every N×d one (the backward GEMM output, Adam's denominator) is allocated once
and reused (out= and in-place ops); the estimator widens and exponentiates only the rows
with a reward; Newton iterates only the rows not yet converged (vectorized over them, leaving
the loop once all have), with capg's tolerance |Δτ| ≤ max(1e-14, 4 ulp(τ)); the score
gradient is cleared only on the rows the previous step wrote. Both modes compute the same
values (scripts/bench/check_peers.py checks it).

Prints one JSON object like numpy_step.py: {"peer": "torch", "mode": "naive"|"fair", ...}.
--numpy-rng and --dump are for check_peers.py only.
"""
import argparse
import json
import statistics
import time

import torch

f32, f64 = torch.float32, torch.float64
PHASES = ["scoring", "sampling", "estimator", "backward", "optimizer"]


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
    ap.add_argument("--fair", action="store_true", help="preallocated, reused tensors (see the docstring)")
    ap.add_argument("--numpy-rng", action="store_true",
                    help="draw every random number from numpy's default_rng(0) in numpy_step.py's order "
                         "(check_peers.py: the two peers then see the same data)")
    ap.add_argument("--dump", help="write the initial parameters, the first step's gradients and the final parameters to this .npz")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(1)
    draws = NumpyDraws() if a.numpy_rng else TorchDraws()
    if a.fair:
        with torch.inference_mode():
            times, phases_all, dump = run_fair(a, draws)
    else:
        with torch.no_grad():
            times, phases_all, dump = run(a, draws)
    if a.dump:
        import numpy as np
        np.savez(a.dump, **{key: t.numpy() for key, t in dump.items()})
    med = statistics.median(times)
    print(json.dumps({"peer": "torch", "mode": "fair" if a.fair else "naive", "torch": torch.__version__,
                      "estimator": a.estimator, "step_seconds": times,
                      "median_seconds": med, "queries_per_second": a.batch_size / med,
                      "phases": {key: statistics.median([p[key] for p in phases_all]) for key in phases_all[0]}}))


class TorchDraws:
    """torch's own generator (seed 0): the peer's normal random numbers."""

    def __init__(self):
        self.gen = torch.Generator().manual_seed(0)

    def init(self, n, d, dx):
        gen = self.gen
        v = torch.randn(n, dx, generator=gen) * (1.5 / dx ** 0.5)
        c = -3 + 0.5 * torch.randn(n, generator=gen)
        W = torch.randn(d, dx, generator=gen) / dx ** 0.5
        E = torch.randn(n, d, generator=gen) * (0.1 / d ** 0.5)
        return v, c, W, E

    def contexts(self, b, dx, out=None):
        return torch.randn(b, dx, generator=self.gen, out=out)

    def uniforms(self, b, n, out=None):          # float64 in [0, 1)
        if out is None:
            return torch.rand(b, n, generator=self.gen, dtype=f64)
        return out.uniform_(0, 1, generator=self.gen)  # the same stream as torch.rand

    def noise(self, shape):
        return torch.randn(shape, generator=self.gen)

    def coins(self, b):
        return torch.rand(b, generator=self.gen)


class NumpyDraws:
    """numpy's default_rng(0) in numpy_step.py's order and precision (for check_peers.py)."""

    def __init__(self):
        import numpy as np
        self.np = np
        self.rng = np.random.default_rng(0)

    def init(self, n, d, dx):
        np, rng = self.np, self.rng
        v = (rng.standard_normal((n, dx)) * (1.5 / np.sqrt(dx))).astype(np.float32)
        c = (-3 + 0.5 * rng.standard_normal(n)).astype(np.float32)
        W = (rng.standard_normal((d, dx)) / np.sqrt(dx)).astype(np.float32)
        E = (rng.standard_normal((n, d)) * (0.1 / np.sqrt(d))).astype(np.float32)
        return tuple(torch.from_numpy(t) for t in (v, c, W, E))

    def contexts(self, b, dx, out=None):
        x = torch.from_numpy(self.rng.standard_normal((b, dx)).astype(self.np.float32))
        return x if out is None else out.copy_(x)

    def uniforms(self, b, n, out=None):
        if out is None:
            return torch.from_numpy(self.rng.random((b, n)))
        self.rng.random(out=out.numpy())            # fills the tensor's storage in place
        return out

    def noise(self, shape):
        return torch.from_numpy(self.rng.standard_normal(tuple(shape)))

    def coins(self, b):
        return torch.from_numpy(self.rng.random(b))


def run(a, draws):
    """Naive: fresh tensors every step."""
    n, d, dx, k, b = a.items, a.dim, a.context_dim, a.k, a.batch_size
    v, c, W, E = draws.init(n, d, dx)
    bias = torch.zeros(n)
    params = [W, E, bias]
    m = [torch.zeros_like(p) for p in params]
    vv = [torch.zeros_like(p) for p in params]
    lr, b1, b2, eps = 0.05, 0.9, 0.999, 1e-8
    times, phases_all, dump = [], [], {}
    if a.dump:
        dump.update(W0=W.clone(), E0=E.clone(), bias0=bias.clone())
    ar = torch.arange(b)
    for step in range(a.warmup + a.steps):
        ph = dict.fromkeys(PHASES, 0.0)
        t0 = time.perf_counter()
        x = draws.contexts(b, dx)
        u = x @ W.T
        s = torch.addmm(bias, u, E.T)                       # B×N float32
        t1 = time.perf_counter(); ph["scoring"] = t1 - t0
        uni = draws.uniforms(b, n)
        pert = s.to(f64) - torch.log(-torch.log(uni))
        pk, sigma = torch.topk(pert, k, dim=1)              # sorted: PL order
        v_k = pk[:, -1]
        zq = torch.einsum("bj,bkj->bk", x, v[sigma]) + c[sigma]
        q = torch.sigmoid(zq)
        pos = torch.argmax(q + 0.05 * draws.noise(q.shape), dim=1)
        chosen = sigma[ar, pos]
        r = (draws.coins(b) < q[ar, pos]).to(f64)
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
                    # A Newton step within the tolerance is convergence, even when rounding puts it on
                    # the bracket's end (h(τ) = ±1e-14 at the root): else the fallback bisects ~30 times.
                    small = torch.abs(h / slope) <= 1e-14
                    done = small | (torch.abs(nxt - ta) <= 1e-14) | (ha - la <= 1e-14) | (h == 0)
                    tau[act] = torch.where(h == 0, ta, torch.where(small, ta - h / slope, nxt))
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
        if step == 0 and a.dump:
            dump.update(dW=dW.clone(), dE=dE.clone(), db=db.clone(), rewarded=torch.tensor(rows.numel()))
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
    dump.update(W=W, E=E, bias=bias)
    return times, phases_all, dump


def ulp(t):
    """Spacing of float64 values at |t| (Swift's Double.ulp)."""
    at = t.abs()
    return torch.nextafter(at, torch.full_like(at, float("inf"))) - at


def run_fair(a, draws):
    """Fair: every B×N and N×d tensor allocated once and reused; rewarded rows only."""
    n, d, dx, k, b = a.items, a.dim, a.context_dim, a.k, a.batch_size
    v, c, W, E = draws.init(n, d, dx)
    bias = torch.zeros(n)
    params = [W, E, bias]
    m = [torch.zeros_like(p) for p in params]
    vv = [torch.zeros_like(p) for p in params]
    den = [torch.empty_like(p) for p in params]              # Adam's sqrt(v) + eps
    lr, b1, b2, eps = 0.05, 0.9, 0.999, 1e-8
    times, phases_all, dump = [], [], {}
    if a.dump:
        dump.update(W0=W.clone(), E0=E.clone(), bias0=bias.clone())
    ar = torch.arange(b)
    # Preallocated, reused by every step.
    x = torch.empty(b, dx)
    u = torch.empty(b, d)
    s = torch.empty(b, n)                                    # scores, float32
    pert = torch.empty(b, n, dtype=f64)                      # uniforms, then perturbed scores in place
    pk = torch.empty(b, k, dtype=f64)
    sigma = torch.empty(b, k, dtype=torch.long)
    g = torch.zeros(b, n)                                    # score gradient, float32
    stage = torch.empty(b, n)                                # float32 rows in and out of the estimator
    w = torch.empty(b, n, dtype=f64)                         # rewarded rows' weights (first R rows)
    xwb = torch.empty(b, n, dtype=f64)                       # Newton: active rows' x = w t
    eb = torch.empty(b, n, dtype=f64)                        # Newton / gradient scratch
    db, dE, dU, dW = torch.empty(n), torch.empty(n, d), torch.empty(b, d), torch.empty(d, dx)
    prev_rows = None
    for step in range(a.warmup + a.steps):
        ph = dict.fromkeys(PHASES, 0.0)
        t0 = time.perf_counter()
        draws.contexts(b, dx, out=x)
        torch.mm(x, W.T, out=u)
        torch.addmm(bias, u, E.T, out=s)                     # B×N float32
        t1 = time.perf_counter(); ph["scoring"] = t1 - t0
        draws.uniforms(b, n, out=pert)
        pert.log_().neg_().log_().neg_().add_(s)             # s - log(-log U), float64
        torch.topk(pert, k, dim=1, out=(pk, sigma))          # sorted: PL order
        v_k = pk[:, -1]
        zq = torch.einsum("bj,bkj->bk", x, v[sigma]) + c[sigma]
        q = torch.sigmoid(zq)
        pos = torch.argmax(q + 0.05 * draws.noise(q.shape), dim=1)
        chosen = sigma[ar, pos]
        r = (draws.coins(b) < q[ar, pos]).to(f64)
        t2 = time.perf_counter(); ph["sampling"] = t2 - t1
        if prev_rows is not None and prev_rows.numel():
            g.index_fill_(0, prev_rows, 0)                   # only the rows the last step wrote
        rows = torch.nonzero(r).flatten()
        nr = rows.numel()
        if nr:
            st, wr, er = stage[:nr], w[:nr], eb[:nr]
            torch.index_select(s, 0, rows, out=st)
            wr.copy_(st)                                     # float64
            top = wr.max(dim=1, keepdim=True).values
            wr.sub_(top).exp_()
            scale = r[rows] / b
            ridx = torch.arange(nr)
            if a.estimator == "capg-threshold":
                kd = float(k)
                tlow = kd / wr.sum(dim=1)
                tau = torch.log(torch.maximum(tlow, torch.exp(-(v_k[rows] - top[:, 0]))))
                lo = torch.log(tlow); hi = torch.full_like(lo, float("inf"))
                hlo = torch.full_like(lo, float("nan")); hhi = torch.full_like(lo, float("inf"))
                act = torch.arange(nr)                        # rows still iterating
                for _ in range(100):
                    na = act.numel()
                    ta = tau[act]
                    xw, e = xwb[:na], eb[:na]
                    if na == nr:
                        torch.mul(wr, torch.exp(ta)[:, None], out=xw)
                    else:
                        torch.index_select(wr, 0, act, out=xw)
                        xw.mul_(torch.exp(ta)[:, None])
                    torch.neg(xw, out=e).expm1_()
                    h = e.sum(dim=1).neg_() - kd              # Σ -expm1(-x) - K
                    torch.neg(xw, out=e).exp_().mul_(xw)
                    slope = e.sum(dim=1)                      # Σ x e^{-x}
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
                    tol = torch.clamp(4 * ulp(ta), min=1e-14)  # capg: max(1e-14, 4 ulp(τ))
                    # A Newton step within the tolerance is convergence, even when rounding puts it on
                    # the bracket's end (h(τ) = ±1e-14 at the root): else the fallback bisects ~30 times.
                    small = torch.abs(h / slope) <= tol
                    done = small | (torch.abs(nxt - ta) <= tol) | (ha - la <= tol) | (h == 0)
                    tau[act] = torch.where(h == 0, ta, torch.where(small, ta - h / slope, nxt))
                    act = act[~done]
                    if act.numel() == 0:
                        break
                wr.mul_(torch.exp(tau)[:, None])              # x = w t*
                torch.neg(wr, out=er).exp_().mul_(wr)         # psi = x e^{-x}
                xa = wr[ridx, chosen[rows]]
                phi = xa / torch.expm1(xa)
                psum = er.sum(dim=1, keepdim=True)
                er.mul_(-(scale * phi)[:, None]).div_(psum)
                er.index_put_((ridx, chosen[rows]), scale * phi, accumulate=True)
                gr = er
            else:
                sg = sigma[rows]
                wsig = torch.gather(wr, 1, sg)
                z = wr.sum(dim=1, keepdim=True) - torch.cat(
                    [torch.zeros(nr, 1, dtype=f64), torch.cumsum(wsig, dim=1)[:, :-1]], dim=1)
                hcum = torch.cumsum(1 / z, dim=1)
                wr.mul_(hcum[:, -1:].neg())
                wr.scatter_(1, sg, 1 - wsig * hcum)
                wr.mul_(scale[:, None])
                gr = wr
            st.copy_(gr)                                      # float32
            g.index_copy_(0, rows, st)
        prev_rows = rows
        t3 = time.perf_counter(); ph["estimator"] = t3 - t2
        torch.sum(g, dim=0, out=db)
        torch.mm(g.T, u, out=dE)
        torch.mm(g, E, out=dU)
        torch.mm(dU.T, x, out=dW)
        t4 = time.perf_counter(); ph["backward"] = t4 - t3
        if step == 0 and a.dump:
            dump.update(dW=dW.clone(), dE=dE.clone(), db=db.clone(), rewarded=torch.tensor(nr))
        tt = step + 1
        ss = lr * (1 - b2 ** tt) ** 0.5 / (1 - b1 ** tt)
        for p, gp, mp, vp, dp in zip(params, [dW, dE, db], m, vv, den):
            mp.mul_(b1).add_(gp, alpha=1 - b1)
            vp.mul_(b2).addcmul_(gp, gp, value=1 - b2)
            torch.sqrt(vp, out=dp).add_(eps)
            p.addcdiv_(mp, dp, value=ss)
        t5 = time.perf_counter(); ph["optimizer"] = t5 - t4
        if step >= a.warmup:
            times.append(t5 - t0)
            phases_all.append(ph)
    dump.update(W=W, E=E, bias=bias)
    return times, phases_all, dump


if __name__ == "__main__":
    main()
