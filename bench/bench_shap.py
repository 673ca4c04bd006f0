#!/usr/bin/env python3
"""Exact SHAP values: churn's linear-time TreeSHAP beside shap's TreeExplainer (tree_path_dependent) on
the same 300-tree fully grown forest, in one run.

    .venv/bin/python bench/bench_shap.py [--table FILE.npz | --events LOG] [--users 22000] [--threads 2]
                                         [--shap-rows 40] [--json OUT.json]

1. The demo model (`build_model.py`'s forest on the demo's simulated log of 1,000 users: 300 trees,
   55 features): one row from Python (`RandomForestClassifier.shap_values(X[i:i+1])`), p50 and p90
   over distinct rows; shap's time for one row beside it.
2. The full-size user table (`--table` an .npz with X and y, `--events` a log, or else a simulated log
   of `--users` users over 60 days, as bench_fullscale.py makes it) and the forest `churn train`
   builds on it (300 trees, max_features "sqrt", fully grown). churn explains 1,000 rows and then
   every row on `--threads` threads; shap explains the first `--shap-rows` of the 1,000 (it takes
   about a second a row on this forest, so the whole table would take hours): the ratios are per row.
   The shap sample doubles as a correctness check (largest difference, additivity).
shap runs its C++ TreeSHAP on one thread (it has no threads option for this explainer).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

import churn
from churn.forest import RandomForestClassifier


def shap_explainer(est: RandomForestClassifier):
    import shap

    trees = est.estimators_
    scale = 1.0 / len(trees)
    dicts = []
    for t in trees:
        internal = t["feature"] >= 0
        idx = np.arange(len(internal))
        left = np.where(internal, idx + 1, -1).astype(np.int32)
        right = np.where(internal, t["right"], -1).astype(np.int32)
        dicts.append({
            "children_left": left, "children_right": right,
            "children_default": np.where(t["missing_left"] == 1, left, right).astype(np.int32),
            "features": np.where(internal, t["feature"], -2).astype(np.int32),
            "thresholds": t["threshold"].astype(np.float64),
            "values": (t["value"] * scale).reshape(-1, 1),
            "node_sample_weight": t["cover"].astype(np.float64),
        })
    return shap.TreeExplainer({"trees": dicts}, feature_perturbation="tree_path_dependent")


def forest_shape(est: RandomForestClassifier) -> dict:
    nodes = leaves = 0
    depth_max = 0
    leaf_depth_sum = 0
    for t in est.estimators_:
        feature, right = t["feature"], t["right"]
        n = len(feature)
        depth = np.zeros(n, dtype=np.int64)
        for i in range(n):  # pre-order: parents come first
            if feature[i] >= 0:
                depth[i + 1] = depth[i] + 1
                depth[right[i]] = depth[i] + 1
        leaf = feature < 0
        nodes += n
        leaves += int(leaf.sum())
        depth_max = max(depth_max, int(depth.max()))
        leaf_depth_sum += int(depth[leaf].sum())
    ex = churn._churn.TreeExplainer(est.model_)
    return {"trees": len(est.estimators_), "nodes": nodes, "leaves": leaves, "max_depth": depth_max,
            "mean_leaf_depth": leaf_depth_sum / leaves, "max_distinct_features_on_a_path": ex.max_distinct_features}


def fit(X, y, threads):
    # `churn train`'s final forest: 300 trees, max_features "sqrt", min_samples_leaf 1 (fully grown).
    return RandomForestClassifier(n_estimators=300, random_state=0, n_jobs=threads).fit(X, y)


def table_from_log(path):
    t = churn.user_features(path)
    return np.asarray(t.X, dtype=np.float64, order="C"), np.asarray(t.y)


def one_row(est, X, calls, shap_rows):
    Xc = np.ascontiguousarray(X)
    est.shap_values(Xc[:1])  # plans the trees once (cached by the estimator)
    times = []
    for i in range(calls):
        row = Xc[i % len(Xc): i % len(Xc) + 1]
        t = time.perf_counter()
        est.shap_values(row)
        times.append(time.perf_counter() - t)
    ex = shap_explainer(est)
    X32 = Xc.astype(np.float32).astype(np.float64)
    shap_times = []
    for i in range(shap_rows):
        t = time.perf_counter()
        ex.shap_values(X32[i:i + 1], check_additivity=False)
        shap_times.append(time.perf_counter() - t)
    q = statistics.quantiles(times, n=10)
    return {"calls": calls, "p50_ms": statistics.median(times) * 1e3, "p90_ms": q[8] * 1e3,
            "shap_one_row_median_ms": statistics.median(shap_times) * 1e3, "shap_rows": shap_rows}


def batch(est, X, threads, shap_rows):
    Xc = np.ascontiguousarray(X)
    est.set_params(n_jobs=threads)
    est.shap_values(Xc[:1])
    rows_1k = Xc[:1000]
    t, c = time.perf_counter(), time.process_time()
    ours_1k = est.shap_values(rows_1k)
    churn_1k, churn_1k_cpu = time.perf_counter() - t, time.process_time() - c
    t, c = time.perf_counter(), time.process_time()
    ours_all = est.shap_values(Xc)
    churn_all, churn_all_cpu = time.perf_counter() - t, time.process_time() - c
    assert np.array_equal(ours_all[:1000], ours_1k)
    ex = shap_explainer(est)
    X32 = rows_1k[:shap_rows].astype(np.float32).astype(np.float64)
    t, c = time.perf_counter(), time.process_time()
    ref = np.asarray(ex.shap_values(X32, check_additivity=False))
    shap_s, shap_cpu = time.perf_counter() - t, time.process_time() - c
    proba = est.predict_proba(Xc)[:, 1]
    return {
        "rows": len(Xc), "threads": threads,
        "churn_1000_rows_s": churn_1k, "churn_per_row_ms_1000": churn_1k / len(rows_1k) * 1e3,
        "churn_all_rows_s": churn_all, "churn_per_row_ms_all": churn_all / len(Xc) * 1e3,
        # CPU seconds (all threads): on a shared machine, wall time also counts other programs' turns.
        "churn_1000_rows_cpu_s": churn_1k_cpu, "churn_all_rows_cpu_s": churn_all_cpu, "shap_cpu_s": shap_cpu,
        "shap_rows": shap_rows, "shap_s": shap_s, "shap_per_row_ms": shap_s / shap_rows * 1e3,
        "ratio_1000": (shap_s / shap_rows) / (churn_1k / len(rows_1k)),
        "ratio_all": (shap_s / shap_rows) / (churn_all / len(Xc)),
        "max_abs_diff_vs_shap": float(np.max(np.abs(ours_1k[:shap_rows] - ref))),
        "max_additivity_error": float(np.max(np.abs(ours_all.sum(axis=1) + est.expected_value_ - proba))),
    }


def machine() -> str:
    load = os.getloadavg()
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, load average "
            f"{load[0]:.1f} at the start")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--table", help=".npz with X (users x features) and y: the full-size table")
    ap.add_argument("--events", help="an event log to build the full-size table from")
    ap.add_argument("--users", type=int, default=22000, help="users of the simulated log (default 22,000)")
    ap.add_argument("--demo-users", type=int, default=1000, help="users of the demo log (default 1,000)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--shap-rows", type=int, default=40, help="rows shap explains (default 40)")
    ap.add_argument("--one-row-calls", type=int, default=300)
    ap.add_argument("--json", help="write the raw results here")
    args = ap.parse_args()
    out = {"machine": machine(), "shap_version": __import__("shap").__version__, "churn_version": churn.__version__}
    print(out["machine"], flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "demo.json.gz"
        churn.simulate(log, users=args.demo_users, days=60, seed=0)
        X, y = table_from_log(log)
        demo = fit(X, y, args.threads)
        out["demo_model"] = forest_shape(demo) | {"users": len(X), "features": X.shape[1]}
        demo.set_params(n_jobs=args.threads)
        out["one_row"] = one_row(demo, X, args.one_row_calls, 20)
        print("demo", out["demo_model"], out["one_row"], flush=True)

        if args.table:
            d = np.load(args.table)
            X, y = d["X"], d["y"]
            out["table"] = f"{args.table}"
        else:
            path = args.events
            if path is None:
                path = str(Path(tmp) / "full.json.gz")
                t = time.perf_counter()
                churn.simulate(path, users=args.users, days=60, seed=0, gzip_level=1)
                print(f"simulated {args.users} users in {time.perf_counter() - t:.0f} s", flush=True)
            X, y = table_from_log(path)
            out["table"] = path if args.events else f"churn.simulate(users={args.users}, days=60, seed=0)"
        t = time.perf_counter()
        full = fit(X, y, args.threads)
        out["full_fit_s"] = time.perf_counter() - t
        out["full_model"] = forest_shape(full) | {"users": len(X), "features": X.shape[1]}
        print("full", out["full_model"], flush=True)
        out["full"] = batch(full, X, args.threads, args.shap_rows)
        print("full", out["full"], flush=True)

    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    f, m, o = out["full"], out["full_model"], out["one_row"]
    print()
    print(f"| forest | rows | churn, {f['threads']} threads | shap (1 thread) | per row: churn vs shap |")
    print("|---|---:|---:|---:|---:|")
    print(f"| full table: {m['trees']} trees, {m['nodes']:,} nodes, depth ≤ {m['max_depth']} | 1,000 | "
          f"{f['churn_1000_rows_s']:.2f} s ({f['churn_per_row_ms_1000']:.2f} ms/row) | "
          f"{f['shap_per_row_ms']:.0f} ms/row ({f['shap_rows']} rows) | **{f['ratio_1000']:.0f}x** |")
    print(f"| same | {f['rows']:,} (all users) | {f['churn_all_rows_s']:.1f} s ({f['churn_per_row_ms_all']:.2f} ms/row) | "
          f"{f['shap_per_row_ms']:.0f} ms/row | **{f['ratio_all']:.0f}x** |")
    print(f"| demo model, one row from Python | 1 | p50 {o['p50_ms']:.3f} ms, p90 {o['p90_ms']:.3f} ms | "
          f"{o['shap_one_row_median_ms']:.1f} ms | {o['shap_one_row_median_ms'] / o['p50_ms']:.0f}x |")
    print(f"\nlargest |churn - shap| {f['max_abs_diff_vs_shap']:.2e}; largest additivity error {f['max_additivity_error']:.2e}")


if __name__ == "__main__":
    main()
