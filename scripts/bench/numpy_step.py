#!/usr/bin/env python3
"""numpy peer of `capg bench`: the identical training step, timed per phase.

Same sizes (N items, d, dx, K, B), same synthetic environment shape
(q = sigmoid(beta <x, v_a> + c_a), argmax LSR over the candidates with noise,
Bernoulli reward), same sampling (Gumbel-top-K from 53-bit uniforms, exact PL order),
same estimator (CA-PG with the mean-field threshold inclusion model, Newton on log t
started at the K-th arrival time with the same regula-falsi fallback as capg, iterating
only the rows not yet converged; or V-PG), same FLOPs (two forward GEMMs, the
estimator's O(N) passes for rewarded rows only, three backward GEMMs), Adam.

--fair gives the peer the same legitimate shortcuts capg takes (and torch_step.py --fair):
every B×N array (scores, uniforms, perturbed scores, the rewarded rows' weights, the Newton
scratch, the score gradient) and every N×d one (the backward GEMM output, Adam's scratch) is
allocated once and reused across steps (ufuncs with out= and in-place operators, so a step
neither allocates nor page-faults them); the top-K survivors are found by an in-place
partition of a copy and a mask instead of argpartition's B×N index array; the estimator
widens and exponentiates only the rows with a reward; Newton iterates only the rows not yet
converged (both modes), with capg's tolerance |Δτ| ≤ max(1e-14, 4 ulp(τ)) (naive: 1e-14);
the score gradient is cleared only on the rows the previous step wrote. Without --fair
(naive) every step allocates its arrays afresh, as straightforward numpy code does. Both
modes compute the same values (scripts/bench/check_peers.py checks it).

Prints one JSON object: {"peer": "numpy", "mode": "naive"|"fair", "estimator", "step_seconds": [...],
"median_seconds", "queries_per_second", "phases": {...}}. BLAS threads are pinned
with threadpoolctl (--threads, default 1) so every contender gets the same.
"""
import argparse
import json
import time

import numpy as np

try:
    from threadpoolctl import threadpool_limits
except ImportError:  # pinned by the environment variables of compare.sh then
    threadpool_limits = None


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
    ap.add_argument("--fair", action="store_true", help="preallocated, reused B×N buffers (see the docstring)")
    ap.add_argument("--dump", help="write the initial parameters, the first step's gradients and the final parameters to this .npz "
                                   "(check_peers.py)")
    a = ap.parse_args()
    step = run_fair if a.fair else run
    if threadpool_limits is not None:
        with threadpool_limits(limits=a.threads):
            times, phases_all, dump = step(a)
    else:
        times, phases_all, dump = step(a)
    if a.dump:
        np.savez(a.dump, **dump)
    med = float(np.median(times))
    print(json.dumps({"peer": "numpy", "mode": "fair" if a.fair else "naive", "numpy": np.__version__, "estimator": a.estimator, "step_seconds": times,
                      "median_seconds": med, "queries_per_second": a.batch_size / med,
                      "phases": {key: float(np.median([p[key] for p in phases_all])) for key in phases_all[0]}}))


def run(a):
    """Naive: fresh arrays every step."""
    n, d, dx, k, b = a.items, a.dim, a.context_dim, a.k, a.batch_size
    rng = np.random.default_rng(0)
    # Environment (as capg's SyntheticEnvironment: beta = 1.5, c ~ N(-3, 0.5^2), lsr noise 0.05).
    v = (rng.standard_normal((n, dx)) * (1.5 / np.sqrt(dx))).astype(np.float32)
    c = (-3 + 0.5 * rng.standard_normal(n)).astype(np.float32)
    # Parameters [W | E | b] and Adam state.
    W = (rng.standard_normal((d, dx)) / np.sqrt(dx)).astype(np.float32)
    E = (rng.standard_normal((n, d)) * (0.1 / np.sqrt(d))).astype(np.float32)
    bias = np.zeros(n, np.float32)
    params = [W, E, bias]
    m = [np.zeros_like(p) for p in params]
    vv = [np.zeros_like(p) for p in params]
    lr, b1, b2, eps = 0.05, 0.9, 0.999, 1e-8
    times, phases_all, dump = [], [], {}
    if a.dump:
        dump.update(W0=W.copy(), E0=E.copy(), bias0=bias.copy())
    for step in range(a.warmup + a.steps):
        ph = dict.fromkeys(["scoring", "sampling", "estimator", "backward", "optimizer"], 0.0)
        t0 = time.perf_counter()
        x = rng.standard_normal((b, dx)).astype(np.float32)
        u = x @ W.T                                   # B×d
        s = u @ E.T + bias                            # B×N (float32)
        t1 = time.perf_counter(); ph["scoring"] = t1 - t0
        # Gumbel-top-K: perturb every score, partial selection, sort the K survivors.
        uni = rng.random((b, n))
        pert = s - np.log(-np.log(uni))               # float64
        part = np.argpartition(-pert, k - 1, axis=1)[:, :k]
        pk = np.take_along_axis(pert, part, 1)
        order = np.argsort(-pk, axis=1)
        sigma = np.take_along_axis(part, order, 1)    # B×K, PL order
        v_k = np.take_along_axis(pk, order[:, -1:], 1)[:, 0]
        # LSR: argmax of q + noise over the candidates; Bernoulli reward.
        zq = np.einsum("bj,bkj->bk", x, v[sigma]) + c[sigma]
        q = 1 / (1 + np.exp(-zq))
        pos = np.argmax(q + 0.05 * rng.standard_normal(q.shape), axis=1)
        chosen = sigma[np.arange(b), pos]
        r = (rng.random(b) < q[np.arange(b), pos]).astype(np.float64)
        t2 = time.perf_counter(); ph["sampling"] = t2 - t1
        g = np.zeros((b, n), np.float32)
        rows = np.nonzero(r)[0]
        if rows.size:
            sr = s[rows].astype(np.float64)
            top = sr.max(axis=1, keepdims=True)
            w = np.exp(sr - top)
            scale = r[rows] / b
            if a.estimator == "capg-threshold":
                kd = float(k)
                tlow = kd / w.sum(axis=1)
                tau = np.log(np.maximum(tlow, np.exp(-(v_k[rows] - top[:, 0]))))
                lo = np.log(tlow); hi = np.full_like(lo, np.inf)
                hlo = np.full_like(lo, np.nan); hhi = np.full_like(lo, np.inf)
                act = np.arange(rows.size)                # rows still iterating
                for _ in range(100):
                    ta = tau[act]
                    xw = w[act] * np.exp(ta)[:, None]
                    e = np.exp(-xw)
                    h = (-np.expm1(-xw)).sum(axis=1) - kd
                    slope = (xw * e).sum(axis=1)
                    neg = h < 0
                    lo[act] = np.where(neg, np.maximum(lo[act], ta), lo[act])
                    hlo[act] = np.where(neg, h, hlo[act])
                    hi[act] = np.where(neg, hi[act], ta)
                    hhi[act] = np.where(neg, hhi[act], h)
                    la, ha, hla, hha = lo[act], hi[act], hlo[act], hhi[act]
                    nxt = ta - h / slope
                    bad = ~((nxt > la) & (nxt < ha))
                    with np.errstate(invalid="ignore", divide="ignore"):
                        falsi = la - hla * (ha - la) / (hha - hla)
                    fb = np.where(np.isfinite(ha), 0.5 * (la + ha), la + 1)
                    fb = np.where(np.isfinite(falsi) & (falsi > la) & (falsi < ha), falsi, fb)
                    nxt = np.where(bad, fb, nxt)
                    # A Newton step within the tolerance is convergence, even when rounding puts it on
                    # the bracket's end (h(τ) = ±1e-14 at the root): else the fallback bisects ~30 times.
                    small = np.abs(h / slope) <= 1e-14
                    done = small | (np.abs(nxt - ta) <= 1e-14) | (ha - la <= 1e-14) | (h == 0)
                    tau[act] = np.where(h == 0, ta, np.where(small, ta - h / slope, nxt))
                    act = act[~done]
                    if act.size == 0:
                        break
                t = np.exp(tau)[:, None]
                xw = w * t
                psi = xw * np.exp(-xw)
                xa = xw[np.arange(rows.size), chosen[rows]]
                phi = xa / np.expm1(xa)
                gr = -(scale * phi)[:, None] * psi / psi.sum(axis=1, keepdims=True)
                gr[np.arange(rows.size), chosen[rows]] += scale * phi
            else:  # V-PG: d log pi(sigma)/ds_j = 1[j in sigma] - w_j H_{min(K, pos(j))}
                sg = sigma[rows]
                wsig = np.take_along_axis(w, sg, 1)
                z = w.sum(axis=1, keepdims=True) - np.concatenate(
                    [np.zeros((rows.size, 1)), np.cumsum(wsig, axis=1)[:, :-1]], axis=1)
                hcum = np.cumsum(1 / z, axis=1)
                gr = -w * hcum[:, -1:]
                np.put_along_axis(gr, sg, 1 - wsig * hcum, 1)
                gr *= scale[:, None]
            g[rows] = gr
        t3 = time.perf_counter(); ph["estimator"] = t3 - t2
        db = g.sum(axis=0)
        dE = g.T @ u                                  # N×d
        dU = g @ E                                    # B×d
        dW = dU.T @ x                                 # d×dx
        t4 = time.perf_counter(); ph["backward"] = t4 - t3
        if step == 0 and a.dump:
            dump.update(dW=dW.copy(), dE=dE.copy(), db=db.copy(), rewarded=rows.size)
        tt = step + 1
        ss = lr * np.sqrt(1 - b2 ** tt) / (1 - b1 ** tt)
        for p, gp, mp, vp in zip(params, [dW, dE, db], m, vv):
            mp *= b1; mp += (1 - b1) * gp
            vp *= b2; vp += (1 - b2) * gp * gp
            p += ss * mp / (np.sqrt(vp) + eps)
        t5 = time.perf_counter(); ph["optimizer"] = t5 - t4
        if step >= a.warmup:
            times.append(t5 - t0)
            phases_all.append(ph)
    dump.update(W=W, E=E, bias=bias)
    return times, phases_all, dump


def spacing(t):
    """Spacing of float64 values at |t| (Swift's Double.ulp)."""
    return np.spacing(np.abs(t))


def run_fair(a):
    """Fair: every B×N and N×d array allocated once and reused; rewarded rows only."""
    n, d, dx, k, b = a.items, a.dim, a.context_dim, a.k, a.batch_size
    rng = np.random.default_rng(0)
    v = (rng.standard_normal((n, dx)) * (1.5 / np.sqrt(dx))).astype(np.float32)
    c = (-3 + 0.5 * rng.standard_normal(n)).astype(np.float32)
    W = (rng.standard_normal((d, dx)) / np.sqrt(dx)).astype(np.float32)
    E = (rng.standard_normal((n, d)) * (0.1 / np.sqrt(d))).astype(np.float32)
    bias = np.zeros(n, np.float32)
    params = [W, E, bias]
    m = [np.zeros_like(p) for p in params]
    vv = [np.zeros_like(p) for p in params]
    den = [np.empty_like(p) for p in params]             # Adam's sqrt(v) + eps
    tmp = [np.empty_like(p) for p in params]             # Adam's scratch
    lr, b1, b2, eps = 0.05, 0.9, 0.999, 1e-8
    times, phases_all, dump = [], [], {}
    if a.dump:
        dump.update(W0=W.copy(), E0=E.copy(), bias0=bias.copy())
    # Allocated once, reused by every step.
    s = np.empty((b, n), np.float32)                     # scores
    uni = np.empty((b, n))                               # uniforms; then the top-K partition scratch
    pert = np.empty((b, n))                              # perturbed scores
    above = np.empty((b, n), bool)                       # pert ≥ the row's K-th largest
    g = np.zeros((b, n), np.float32)                     # score gradient
    stage = np.empty((b, n), np.float32)                 # rewarded rows' scores (first R rows)
    w = np.empty((b, n))                                 # rewarded rows' weights, then x = w t*
    xwb = np.empty((b, n))                               # Newton: active rows' x = w t
    eb = np.empty((b, n))                                # Newton / gradient scratch
    db, dE = np.empty(n, np.float32), np.empty((n, d), np.float32)
    dU, dW = np.empty((b, d), np.float32), np.empty((d, dx), np.float32)
    ar = np.arange(b)
    prev_rows = np.arange(0)
    for step in range(a.warmup + a.steps):
        ph = dict.fromkeys(["scoring", "sampling", "estimator", "backward", "optimizer"], 0.0)
        t0 = time.perf_counter()
        x = rng.standard_normal((b, dx)).astype(np.float32)
        u = x @ W.T                                      # B×d
        np.matmul(u, E.T, out=s)
        s += bias                                        # B×N (float32)
        t1 = time.perf_counter(); ph["scoring"] = t1 - t0
        # Gumbel-top-K: the same K survivors as argpartition, found without its B×N index array:
        # the K-th largest value per row by an in-place partition of a copy, then the mask ≥ it.
        rng.random(out=uni)
        np.log(uni, out=pert)
        np.negative(pert, out=pert)
        np.log(pert, out=pert)
        np.subtract(s, pert, out=pert)                   # float64
        np.copyto(uni, pert)
        uni.partition(n - k, axis=1)
        np.greater_equal(pert, uni[:, n - k:n - k + 1], out=above)
        rr, part = np.nonzero(above)
        if part.size == b * k:
            part = part.reshape(b, k)
        else:                                            # ties at the K-th value (measure zero)
            part = np.argpartition(-pert, k - 1, axis=1)[:, :k]
        pk = np.take_along_axis(pert, part, 1)
        order = np.argsort(-pk, axis=1)
        sigma = np.take_along_axis(part, order, 1)       # B×K, PL order
        v_k = np.take_along_axis(pk, order[:, -1:], 1)[:, 0]
        # LSR: argmax of q + noise over the candidates; Bernoulli reward.
        zq = np.einsum("bj,bkj->bk", x, v[sigma]) + c[sigma]
        q = 1 / (1 + np.exp(-zq))
        pos = np.argmax(q + 0.05 * rng.standard_normal(q.shape), axis=1)
        chosen = sigma[ar, pos]
        r = (rng.random(b) < q[ar, pos]).astype(np.float64)
        t2 = time.perf_counter(); ph["sampling"] = t2 - t1
        g[prev_rows] = 0                                 # only the rows the last step wrote
        rows = np.nonzero(r)[0]
        nr = rows.size
        if nr:
            st, wr, er = stage[:nr], w[:nr], eb[:nr]
            np.take(s, rows, axis=0, out=st)
            np.copyto(wr, st)                            # float64
            top = wr.max(axis=1, keepdims=True)
            np.subtract(wr, top, out=wr)
            np.exp(wr, out=wr)
            scale = r[rows] / b
            ridx = np.arange(nr)
            if a.estimator == "capg-threshold":
                kd = float(k)
                tlow = kd / wr.sum(axis=1)
                tau = np.log(np.maximum(tlow, np.exp(-(v_k[rows] - top[:, 0]))))
                lo = np.log(tlow); hi = np.full_like(lo, np.inf)
                hlo = np.full_like(lo, np.nan); hhi = np.full_like(lo, np.inf)
                act = np.arange(nr)                      # rows still iterating
                for _ in range(100):
                    na = act.size
                    ta = tau[act]
                    xw, e = xwb[:na], eb[:na]
                    if na == nr:
                        np.multiply(wr, np.exp(ta)[:, None], out=xw)
                    else:
                        np.take(wr, act, axis=0, out=xw)
                        xw *= np.exp(ta)[:, None]
                    np.negative(xw, out=e)
                    np.expm1(e, out=e)
                    h = -e.sum(axis=1) - kd                # Σ -expm1(-x) - K
                    np.negative(xw, out=e)
                    np.exp(e, out=e)
                    e *= xw
                    slope = e.sum(axis=1)                  # Σ x e^{-x}
                    neg = h < 0
                    lo[act] = np.where(neg, np.maximum(lo[act], ta), lo[act])
                    hlo[act] = np.where(neg, h, hlo[act])
                    hi[act] = np.where(neg, hi[act], ta)
                    hhi[act] = np.where(neg, hhi[act], h)
                    la, ha, hla, hha = lo[act], hi[act], hlo[act], hhi[act]
                    nxt = ta - h / slope
                    bad = ~((nxt > la) & (nxt < ha))
                    with np.errstate(invalid="ignore", divide="ignore"):
                        falsi = la - hla * (ha - la) / (hha - hla)
                    fb = np.where(np.isfinite(ha), 0.5 * (la + ha), la + 1)
                    fb = np.where(np.isfinite(falsi) & (falsi > la) & (falsi < ha), falsi, fb)
                    nxt = np.where(bad, fb, nxt)
                    tol = np.maximum(1e-14, 4 * spacing(ta))  # capg: max(1e-14, 4 ulp(τ))
                    # A Newton step within the tolerance is convergence, even when rounding puts it on
                    # the bracket's end (h(τ) = ±1e-14 at the root): else the fallback bisects ~30 times.
                    small = np.abs(h / slope) <= tol
                    done = small | (np.abs(nxt - ta) <= tol) | (ha - la <= tol) | (h == 0)
                    tau[act] = np.where(h == 0, ta, np.where(small, ta - h / slope, nxt))
                    act = act[~done]
                    if act.size == 0:
                        break
                wr *= np.exp(tau)[:, None]                 # x = w t*
                np.negative(wr, out=er)
                np.exp(er, out=er)
                er *= wr                                   # psi = x e^{-x}
                xa = wr[ridx, chosen[rows]]
                phi = xa / np.expm1(xa)
                psum = er.sum(axis=1, keepdims=True)
                er *= -(scale * phi)[:, None]
                er /= psum
                er[ridx, chosen[rows]] += scale * phi
                gr = er
            else:  # V-PG: d log pi(sigma)/ds_j = 1[j in sigma] - w_j H_{min(K, pos(j))}
                sg = sigma[rows]
                wsig = np.take_along_axis(wr, sg, 1)
                z = wr.sum(axis=1, keepdims=True) - np.concatenate(
                    [np.zeros((nr, 1)), np.cumsum(wsig, axis=1)[:, :-1]], axis=1)
                hcum = np.cumsum(1 / z, axis=1)
                wr *= -hcum[:, -1:]
                np.put_along_axis(wr, sg, 1 - wsig * hcum, 1)
                wr *= scale[:, None]
                gr = wr
            g[rows] = gr                                   # float32
        prev_rows = rows
        t3 = time.perf_counter(); ph["estimator"] = t3 - t2
        g.sum(axis=0, out=db)
        np.matmul(g.T, u, out=dE)                          # N×d
        np.matmul(g, E, out=dU)                            # B×d
        np.matmul(dU.T, x, out=dW)                         # d×dx
        t4 = time.perf_counter(); ph["backward"] = t4 - t3
        if step == 0 and a.dump:
            dump.update(dW=dW.copy(), dE=dE.copy(), db=db.copy(), rewarded=nr)
        tt = step + 1
        ss = float(lr * np.sqrt(1 - b2 ** tt) / (1 - b1 ** tt))
        for p, gp, mp, vp, dp, tp in zip(params, [dW, dE, db], m, vv, den, tmp):
            mp *= b1
            np.multiply(gp, 1 - b1, out=tp); mp += tp
            vp *= b2
            np.multiply(gp, 1 - b2, out=tp); tp *= gp; vp += tp
            np.sqrt(vp, out=dp); dp += eps
            np.multiply(mp, ss, out=tp); tp /= dp; p += tp
        t5 = time.perf_counter(); ph["optimizer"] = t5 - t4
        if step >= a.warmup:
            times.append(t5 - t0)
            phases_all.append(ph)
    dump.update(W=W, E=E, bias=bias)
    return times, phases_all, dump


if __name__ == "__main__":
    main()
