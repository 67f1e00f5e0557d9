"""Shared helpers for the capg experiments: running the CLI (cached, niced, under mpirun),
writing CSV / markdown, fitting log-log slopes and setting up matplotlib.

Every command that is run is recorded verbatim (``Runner.commands[experiment]``) so each
result file can print the exact commands that produced it.
"""
import csv
import hashlib
import json
import math
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def ensure_matplotlib():
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", "matplotlib==3.9.2"])
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def fmt(x, digits=4):
    """Compact number formatting for markdown tables."""
    if x is None:
        return "–"
    if isinstance(x, str):
        return x
    if isinstance(x, float) and (math.isnan(x) or math.isinf(x)):
        return "–"
    if isinstance(x, int):
        return str(x)
    a = abs(x)
    if a != 0 and (a >= 1e5 or a < 1e-3):
        return f"{x:.{digits - 1}e}"
    return f"{x:.{digits}g}"


def md_table(header, rows):
    out = ["| " + " | ".join(str(h) for h in header) + " |",
           "|" + "|".join("---" for _ in header) + "|"]
    for r in rows:
        out.append("| " + " | ".join(fmt(v) for v in r) + " |")
    return "\n".join(out)


def write_csv(path, rows, fields=None):
    if not rows:
        Path(path).write_text("")
        return
    fields = fields or list(rows[0].keys())
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in fields})


def loglog_slope(xs, ys, min_points=2):
    """Least-squares slope of log y against log x (points with y > 0 only; None if fewer than
    min_points such points)."""
    pts = [(math.log(x), math.log(y)) for x, y in zip(xs, ys) if x and y and x > 0 and y > 0]
    if len(pts) < max(2, min_points):
        return None
    mx = sum(p[0] for p in pts) / len(pts)
    my = sum(p[1] for p in pts) / len(pts)
    sxx = sum((p[0] - mx) ** 2 for p in pts)
    if sxx == 0:
        return None
    return sum((p[0] - mx) * (p[1] - my) for p in pts) / sxx


def mean(xs):
    xs = [x for x in xs if x is not None]
    return sum(xs) / len(xs) if xs else None


def std(xs):
    xs = [x for x in xs if x is not None]
    if len(xs) < 2:
        return 0.0 if xs else None
    m = sum(xs) / len(xs)
    return math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1))


class Runner:
    """Runs capg commands (niced; training under mpirun), caching results by command line.

    A cached result is reused only when the exact same command line (binary path included)
    produced it and ``fresh`` is false; the run directories and cached JSON live under
    ``runs_dir`` (git-ignored ``runs/`` by default).
    """

    def __init__(self, capg, runs_dir, np_=2, nice=10, fresh=False, verbose=True):
        self.capg = str(capg)
        self.runs_dir = Path(runs_dir)
        self.np = np_
        self.nice = nice
        self.fresh = fresh
        self.verbose = verbose
        self.commands = {}
        self.env = dict(os.environ)
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            self.env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
        self.t0 = time.time()

    def _prefix(self):
        return ["nice", "-n", str(self.nice)] if self.nice else []

    def _record(self, experiment, cmd):
        self.commands.setdefault(experiment, []).append(" ".join(shlex.quote(c) for c in cmd))

    def _log(self, msg):
        if self.verbose:
            print(f"[{time.time() - self.t0:7.1f}s] {msg}", flush=True)

    def _run(self, cmd):
        r = subprocess.run(cmd, env=self.env, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"command failed ({r.returncode}): {' '.join(cmd)}\n{r.stderr[-3000:]}")
        return r.stdout

    def variance(self, experiment, args):
        """`capg variance ... --json`; returns the parsed rows."""
        cmd = self._prefix() + [self.capg, "variance"] + [str(a) for a in args] + ["--json"]
        self._record(experiment, cmd)
        key = hashlib.sha256(" ".join(cmd).encode()).hexdigest()[:20]
        cache = self.runs_dir / "variance" / f"{key}.json"
        if cache.exists() and not self.fresh:
            data = json.loads(cache.read_text())
            if data.get("cmd") == cmd:
                return data["rows"]
        t = time.time()
        rows = json.loads(self._run(cmd))
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps({"cmd": cmd, "rows": rows, "seconds": time.time() - t}))
        self._log(f"variance {' '.join(str(a) for a in args)}  ({time.time() - t:.1f}s)")
        return rows

    def train(self, experiment, name, args, mpi=True, checkpoint_every=0):
        """`[mpirun -np P] capg train ... --run-dir RUNS/name`; returns (summary, metrics rows).

        ``checkpoint_every`` > 0 keeps every checkpoint (a trajectory for `capg diagnose`);
        the run directory is left in ``self.last_run_dir``."""
        run_dir = self.runs_dir / "train" / name
        try:  # commands run from the package root: show (and use) a relative run directory there
            run_dir = run_dir.resolve().relative_to(ROOT)
        except ValueError:
            pass
        launch = ["mpirun", "--oversubscribe", "--bind-to", "none", "-np", str(self.np)] if mpi else []
        cmd = (self._prefix() + launch + [self.capg, "train"] + [str(a) for a in args]
               + ["--run-dir", str(run_dir), "--checkpoint-every", str(checkpoint_every)]
               + (["--keep-checkpoints", "100000"] if checkpoint_every else []) + ["--quiet"])
        self.last_run_dir = run_dir
        self._record(experiment, cmd)
        stamp = run_dir / "command.json"
        if (not self.fresh and stamp.exists() and (run_dir / "summary.json").exists()
                and json.loads(stamp.read_text()) == cmd):
            pass
        else:
            if run_dir.exists():
                for p in sorted(run_dir.rglob("*"), reverse=True):
                    p.unlink() if p.is_file() or p.is_symlink() else p.rmdir()
            t = time.time()
            self._run(cmd)
            stamp.write_text(json.dumps(cmd))
            self._log(f"train {name}  ({time.time() - t:.1f}s)")
        summary = json.loads((run_dir / "summary.json").read_text())
        metrics = [json.loads(l) for l in (run_dir / "metrics.jsonl").read_text().splitlines() if l.strip()]
        return summary, metrics


    def diagnose(self, experiment, paths, args):
        """`capg diagnose PATHS ...` (JSON lines); returns the parsed rows, cached by command
        line and by the checkpoint files' names and sizes."""
        cmd = self._prefix() + [self.capg, "diagnose"] + [str(p) for p in paths] + [str(a) for a in args]
        self._record(experiment, cmd)
        files = sorted(str(f) + ":" + str(f.stat().st_size) for p in paths for f in Path(p).rglob("ckpt-*.capgckpt"))
        key = hashlib.sha256((" ".join(cmd) + "|" + "|".join(files)).encode()).hexdigest()[:20]
        cache = self.runs_dir / "diagnose" / f"{key}.json"
        if cache.exists() and not self.fresh:
            return json.loads(cache.read_text())["rows"]
        t = time.time()
        rows = [json.loads(l) for l in self._run(cmd).splitlines() if l.strip()]
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps({"cmd": cmd, "rows": rows, "seconds": time.time() - t}))
        self._log(f"diagnose {' '.join(str(p) for p in paths)}  ({time.time() - t:.1f}s)")
        return rows


def kept_notes(page):
    """The hand-written text of the `## Notes` section of an existing results page (up to the
    generated "Produced by" paragraph), so that regenerating the page keeps it; a placeholder
    when there is none."""
    try:
        text = Path(page).read_text()
    except OSError:
        return "NOTES_PLACEHOLDER"
    start = text.find("## Notes\n\n")
    if start < 0:
        return "NOTES_PLACEHOLDER"
    body = text[start + len("## Notes\n\n"):]
    end = body.find("\n\nProduced by ")
    return (body[:end] if end >= 0 else body).strip() or "NOTES_PLACEHOLDER"


def eval_rows(metrics):
    """The evaluation rows of a metrics.jsonl (those with a value)."""
    return [m for m in metrics if m.get("value") is not None]


def commands_block(runner, experiment, entry):
    cmds = runner.commands.get(experiment, [])
    lines = [f"Produced by `{entry}`, which ran these {len(cmds)} commands (binary: a release build of the "
             "commit named in README.md):", "", "<details><summary>commands</summary>", "", "```"]
    lines += cmds
    lines += ["```", "", "</details>"]
    return "\n".join(lines)
