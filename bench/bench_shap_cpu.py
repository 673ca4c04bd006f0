#!/usr/bin/env python3
"""CPU time of churn's SHAP kernel per node and row, on a fixed subset of rows, on one thread: the
measure to compare two builds on a shared machine (wall time there counts other programs' turns).

    .venv/bin/python bench/bench_shap_cpu.py --table FULL.npz [--model MODEL.json] [--rows 1000]
                                             [--offset 0] [--reps 3] [--save-model MODEL.json]

The forest is `churn train`'s (300 trees, max_features "sqrt", fully grown) fitted on the table's X and
y, or --model (a saved one: fit once with --save-model, then give the same file to every build).
Run two builds alternately (e.g. /work/main/.venv/bin/python and .venv/bin/python) in one session.
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np

import churn
from churn.forest import RandomForestClassifier


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--table", required=True, help=".npz with X (users x features) and y")
    ap.add_argument("--model", help="a saved model to explain (default: fit one on the table)")
    ap.add_argument("--save-model", help="save the fitted model here")
    ap.add_argument("--rows", type=int, default=1000)
    ap.add_argument("--offset", type=int, default=0)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    d = np.load(args.table)
    X = np.ascontiguousarray(d["X"], dtype=np.float64)
    if args.model:
        est = churn.load_model(args.model)
    else:
        est = RandomForestClassifier(n_estimators=300, random_state=0, n_jobs=2).fit(X, d["y"])
        if args.save_model:
            est.save(args.save_model)
    est.set_params(n_jobs=1)
    nodes = est.model_.n_nodes
    rows = X[args.offset:args.offset + args.rows]
    est.shap_values(rows[:1])  # plans the trees
    load = os.getloadavg()[0]
    for rep in range(args.reps):
        c = time.process_time()
        est.shap_values(rows)
        cpu = time.process_time() - c
        print(f"rep {rep}: {len(rows)} rows, {nodes:,} nodes, 1 thread: {cpu:.2f} CPU s, "
              f"{cpu / len(rows) / nodes * 1e9:.2f} ns per node-row (load average {load:.1f})", flush=True)


if __name__ == "__main__":
    main()
