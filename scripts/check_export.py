#!/usr/bin/env python3
"""Checks a `capg export` file with numpy alone (no capg import):

- loads the safetensors (parsed by hand: u64le header length, JSON header, raw bytes) or
  npz (np.load; metadata from the member metadata.json);
- SHA-256 of the param.* tensors' float32 little-endian bytes, in the order of the
  metadata's param_tensors, must equal --fingerprint (the run's param_fingerprint);
- recomputes the ESR's scores for the queries of a `capg retrieve` JSON-lines file and
  checks the reported top-K items and scores to 1e-5 (synthetic: from each line's
  "context"; LETOR: from the raw feature rows of --letor FILE, standardized with the
  exported moments).

Usage: check_export.py FILE --fingerprint HEX --retrieved R.jsonl [--letor FILE]
Exit 0 on success; prints what differs otherwise.
"""
import argparse, hashlib, json, struct, sys
import numpy as np


def load(path):
    if path.endswith(".npz"):
        z = np.load(path)
        meta = json.loads(bytes(z["metadata.json"]).decode())
        return {k: z[k] for k in z.files if k != "metadata.json"}, meta
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__")
    base = 8 + n
    tensors = {}
    for name, t in header.items():
        assert t["dtype"] == "F32", t
        a, b = t["data_offsets"]
        tensors[name] = np.frombuffer(raw[base + a:base + b], dtype="<f4").reshape(t["shape"])
    return tensors, meta


def letor_queries(path, features):
    """qid -> raw feature rows (float32, F columns; ids 1-based), in file order."""
    rows, order = {}, []
    with open(path) as f:
        for line in f:
            line = line.split("#", 1)[0].split()
            if not line:
                continue
            qid = line[1].split(":", 1)[1]
            x = np.zeros(features, dtype=np.float32)
            for tok in line[2:]:
                i, v = tok.split(":", 1)
                x[int(i) - 1] = np.float32(float(v))
            if qid not in rows:
                rows[qid] = []
                order.append(qid)
            rows[qid].append(x)
    return {q: np.stack(r) for q, r in rows.items()}


def scores(t, meta, line, letor):
    esr = meta["esr"]
    if esr == "two-tower":
        x = np.asarray(line["context"], dtype=np.float32).astype(np.float64)
        u = t["param.W"].astype(np.float64) @ x
        return t["param.E"].astype(np.float64) @ u + t["param.b"].astype(np.float64)
    z = (letor[line["qid"]] - t["data.feature_mean"]) * t["data.feature_inv_std"]
    z = z.astype(np.float64)
    if esr == "linear":
        return z @ t["param.w"].astype(np.float64) + float(t["param.b"][0])
    h = np.maximum(0, z @ t["param.W1"].astype(np.float64).T + t["param.c1"].astype(np.float64))
    return h @ t["param.v"].astype(np.float64) + float(t["param.b"][0])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--fingerprint", required=True)
    ap.add_argument("--retrieved", required=True)
    ap.add_argument("--letor")
    a = ap.parse_args()
    t, meta = load(a.file)
    names = json.loads(meta["param_tensors"])
    h = hashlib.sha256()
    for n in names:
        h.update(np.ascontiguousarray(t[n], dtype="<f4").tobytes())
    if h.hexdigest() != a.fingerprint:
        sys.exit(f"fingerprint {h.hexdigest()} != {a.fingerprint}")
    if meta["param_fingerprint"] != a.fingerprint:
        sys.exit("metadata param_fingerprint differs")
    config = json.loads(meta["config"])
    letor = letor_queries(a.letor, config["features"]) if a.letor else None
    checked = 0
    with open(a.retrieved) as f:
        for raw in f:
            line = json.loads(raw)
            s = scores(t, meta, line, letor)
            items, got = line["items"], np.asarray(line["scores"])
            k = min(len(s), len(items))
            if len(items) != k or len(set(items)) != k:
                sys.exit(f"query {line['query']}: {len(items)} items, expected {k} distinct")
            if np.any(np.diff(got) > 0):
                sys.exit(f"query {line['query']}: scores not in descending order")
            if not np.allclose(s[items], got, rtol=1e-5, atol=1e-5):
                sys.exit(f"query {line['query']}: scores differ by {np.max(np.abs(s[items] - got))}")
            rest = np.delete(s, items)
            if rest.size and rest.max() > got.min() + 1e-5:
                sys.exit(f"query {line['query']}: item with score {rest.max()} beats the K-th {got.min()}")
            checked += 1
    print(f"ok: {len(names)} param tensors, fingerprint matches, {checked} queries reproduced")


if __name__ == "__main__":
    main()
