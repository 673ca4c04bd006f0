#!/usr/bin/env python3
"""Two revisions of churn side by side in one run: the reader, the features pass and the forest.

    .venv/bin/python bench/compare_revisions.py BEFORE AFTER [--rounds 5] [--users 4000] [--json OUT.json]

Each revision (any git revision: a commit, a branch, HEAD) is exported with `git archive` into
/tmp/churn-revisions/<commit> and built there in Release with the benchmarks and the Python module
(the default flags of that revision's CMakeLists.txt, which is what a user of that revision gets).
The log is simulated once, by AFTER, and read by both. Then, round by round, with the order of the
two revisions swapped every round (ABBA) so that drift on a shared machine falls on both alike:

- reader: `bench_features reader LOG --threads 1` and `--threads 2` (events parsed into a counting sink);
- features: `bench_features features LOG --threads 2` (events to the user table);
- forest: 100 trees on a synthetic 20,000 x 40 table (make_classification, seed 0), n_jobs=2: fit time,
  predict_proba on 5,000 rows (median of 100 calls on 2 threads, of 50 on 1), and one-row
  predict_proba p50 over 200 distinct rows from Python.

It prints the median of each measurement for both revisions and the ratio AFTER / BEFORE in time
(above 1.05 is a regression of more than 5 %), as a Markdown table for docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tarfile
import io
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = Path("/tmp/churn-revisions")

FOREST_SCRIPT = r"""
import json, sys, time
import numpy as np
from sklearn.datasets import make_classification
from churn.forest import RandomForestClassifier
X, y = make_classification(n_samples=25000, n_features=40, n_informative=12, weights=[0.79], random_state=0)
Xtr, ytr, Xte = X[:20000], y[:20000], X[20000:]
m = RandomForestClassifier(n_estimators=100, n_jobs=2, random_state=1)
t = time.perf_counter(); m.fit(Xtr, ytr); fit = time.perf_counter() - t
m.predict_proba(Xte[:10])
# A 5,000-row batch takes about 10 ms, where one scheduling hiccup on a 2-core machine costs as much:
# the median of 100 calls, on 2 threads and on 1 (the 1-thread figure isolates the kernel itself).
def batch_median(calls):
    ts = []
    for _ in range(calls):
        t = time.perf_counter(); m.predict_proba(Xte); ts.append(time.perf_counter() - t)
    return float(np.median(ts))
batch = batch_median(100)
m.n_jobs = 1
batch_1t = batch_median(50)
one = []
for i in range(200):
    row = Xte[i:i + 1]
    t = time.perf_counter(); m.predict_proba(row); one.append(time.perf_counter() - t)
print(json.dumps({"fit_s": fit, "predict_5000_s": batch, "predict_5000_1t_s": batch_1t, "one_row_p50_us": 1e6 * float(np.median(one))}))
"""


def run(cmd, **kw) -> str:
    return subprocess.run(cmd, check=True, text=True, stdout=subprocess.PIPE, **kw).stdout


def build(rev: str) -> Path:
    commit = run(["git", "-C", str(ROOT), "rev-parse", rev]).strip()
    src = WORK / commit[:12]
    if not (src / "CMakeLists.txt").exists():
        src.mkdir(parents=True, exist_ok=True)
        data = subprocess.run(["git", "-C", str(ROOT), "archive", commit], check=True,
                              stdout=subprocess.PIPE).stdout
        tarfile.open(fileobj=io.BytesIO(data)).extractall(src)
    b = src / "build"
    if not (b / "build.ninja").exists():
        run(["cmake", "-S", str(src), "-B", str(b), "-G", "Ninja", "-DCMAKE_BUILD_TYPE=Release",
             "-DCHURN_BUILD_BENCH=ON", "-DCHURN_BUILD_PYTHON=ON", "-DCHURN_BUILD_TESTS=OFF",
             f"-DPython_EXECUTABLE={sys.executable}"])
    run(["cmake", "--build", str(b), "-j2", "--target", "bench_features", "_churn"])
    return src


def bench_features(src: Path, *args) -> dict:
    out = run([str(src / "build" / "bench" / "bench_features"), *args])
    return json.loads(out.strip().splitlines()[-1])


def forest(src: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=f"{src / 'build' / 'python'}:{src / 'python'}")
    out = run([sys.executable, "-c", FOREST_SCRIPT], env=env, cwd="/tmp")
    return json.loads(out.strip().splitlines()[-1])


def measure(src: Path, log: Path) -> dict:
    r1 = bench_features(src, "reader", str(log), "--threads", "1")
    r2 = bench_features(src, "reader", str(log), "--threads", "2")
    f2 = bench_features(src, "features", str(log), "--threads", "2")
    fo = forest(src)
    return {"reader_1t_s": r1["seconds"], "reader_2t_s": r2["seconds"], "features_2t_s": f2["seconds"],
            "features_peak_mb": f2["peak_rss_mb"], **fo}


LABELS = {
    "reader_1t_s": "reader, 1 thread (s)",
    "reader_2t_s": "reader, 2 threads (s)",
    "features_2t_s": "events to user table, 2 threads (s)",
    "features_peak_mb": "events to user table, peak memory (MB)",
    "fit_s": "forest fit, 100 trees, 20k x 40 (s)",
    "predict_5000_s": "forest predict_proba, 5,000 rows, 2 threads, median of 100 (s)",
    "predict_5000_1t_s": "forest predict_proba, 5,000 rows, 1 thread, median of 50 (s)",
    "one_row_p50_us": "forest one-row predict_proba p50 (µs)",
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("before")
    ap.add_argument("after")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--users", type=int, default=4000, help="simulated users in the log (default 4000)")
    ap.add_argument("--json", default=None)
    a = ap.parse_args()

    srcs = {"before": build(a.before), "after": build(a.after)}
    log = WORK / f"log-{a.users}.json"
    if not log.exists():
        bench_features(srcs["after"], "simulate", str(log), "--users", str(a.users), "--seed", "1")
    results = {"before": [], "after": []}
    for r in range(a.rounds):
        order = ["before", "after"] if r % 2 == 0 else ["after", "before"]
        for name in order:
            results[name].append(measure(srcs[name], log))
            print(f"round {r + 1} {name}: {results[name][-1]}", file=sys.stderr, flush=True)
    med = {n: {k: statistics.median(m[k] for m in results[n]) for k in LABELS} for n in results}
    load = os.getloadavg()[0]
    print(f"before = {a.before} ({srcs['before'].name}), after = {a.after} ({srcs['after'].name}); "
          f"{a.rounds} rounds, ABBA order, medians; log of {a.users} simulated users "
          f"({log.stat().st_size / 1e6:.0f} MB); {platform.machine()}, {os.cpu_count()} cores, "
          f"load average {load:.1f} at the end\n")
    print("| measurement | before | after | after / before |")
    print("|---|---:|---:|---:|")
    for k, label in LABELS.items():
        ratio = med["after"][k] / med["before"][k]
        flag = " (slower by more than 5 %)" if ratio > 1.05 else ""
        print(f"| {label} | {med['before'][k]:.3g} | {med['after'][k]:.3g} | {ratio:.3f}{flag} |")
    if a.json:
        Path(a.json).write_text(json.dumps({"args": vars(a), "runs": results, "medians": med}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
