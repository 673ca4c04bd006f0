#!/usr/bin/env python3
"""Batch prediction throughput against batch size: churn's forest beside scikit-learn's, the same data,
trees, max_features and threads, in one run.

bench_forest.py measures one batch size (10,000 rows). Where a forest serves requests, batches are
often far smaller, and per-call overhead (argument checks, thread dispatch) then matters as much as the
tree walk. This sweep shows both regimes: rows/s of predict_proba for batches of 1 to 100,000 rows
(distinct rows, cycled from a withheld set), median of several calls.

    PYTHONPATH=build-x/python:python .venv/bin/python bench/bench_predict.py [--trees 100 500] [--threads 2]
"""
from __future__ import annotations

import argparse
import platform
import statistics
import time

import numpy as np
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier as SkForest

import churn


def rows_per_second(predict, X: np.ndarray, min_seconds: float = 0.3, max_calls: int = 2000) -> float:
    predict(X[: min(len(X), 16)])  # warm-up
    times = []
    start = time.perf_counter()
    while len(times) < 3 or (time.perf_counter() - start < min_seconds and len(times) < max_calls):
        t = time.perf_counter()
        predict(X)
        times.append(time.perf_counter() - t)
    return len(X) / statistics.median(times)


def mean_path_length(model, X: np.ndarray) -> float:
    """Splits on a row's path to its leaf, averaged over rows and trees: the levels a prediction walks."""
    X32 = X.astype(np.float32)
    rows = np.arange(len(X32))
    total = 0
    for t in range(model.n_trees):
        tree = model.tree_arrays(t)
        feature, right = tree["feature"], tree["right"]
        threshold = tree["threshold"].astype(np.float32)
        missing_left = tree["missing_left"].astype(bool)
        node = np.zeros(len(X32), dtype=np.int64)
        while True:
            inner = feature[node] >= 0
            if not inner.any():
                break
            total += int(inner.sum())
            n, r = node[inner], rows[inner]
            x = X32[r, feature[n]]
            left = (x <= threshold[n]) | (np.isnan(x) & missing_left[n])
            node[inner] = np.where(left, n + 1, right[n])
    return total / (len(X32) * model.n_trees)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=5000, help="training rows")
    ap.add_argument("--features", type=int, default=40)
    ap.add_argument("--trees", type=int, nargs="+", default=[100, 500])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 10, 100, 1000, 10000, 100000])
    args = ap.parse_args()

    # Distinct rows in every batch: the largest batch gets its own fresh rows.
    X, y = make_classification(n_samples=args.rows + max(args.batches), n_features=args.features, n_informative=10,
                               weights=[0.8], random_state=0)
    Xtr, ytr, Xte = X[: args.rows], y[: args.rows], X[args.rows:]
    print(f"# {platform.processor() or platform.machine()}, {args.threads} threads; training {args.rows} x "
          f"{args.features}, max_features sqrt, unlimited depth, min leaf 1, bootstrap")
    for trees in args.trees:
        common = dict(n_estimators=trees, max_features="sqrt", min_samples_leaf=1, bootstrap=True,
                      n_jobs=args.threads, random_state=0)
        ours = churn.RandomForestClassifier(**common).fit(Xtr, ytr)
        theirs = SkForest(**common).fit(Xtr, ytr)
        print(f"\n**{trees} trees** ({ours.model_.n_nodes if hasattr(ours.model_, 'n_nodes') else '?'} nodes)\n")
        print("| batch rows | churn rows/s | scikit-learn rows/s | churn / scikit-learn |")
        print("|---:|---:|---:|---:|")
        for b in args.batches:
            batch = np.ascontiguousarray(Xte[:b])
            a = rows_per_second(ours.predict_proba, batch)
            s = rows_per_second(theirs.predict_proba, batch)
            print(f"| {b:,} | {a:,.0f} | {s:,.0f} | {a / s:.1f}x |", flush=True)
        # The per-level budget that 10x scikit-learn's throughput at the largest batch leaves
        # (bench_predict_floor.cpp times what one level costs).
        levels = mean_path_length(ours.model_, Xte[:2000])
        ns_ours, ns_theirs = (args.threads * 1e9 / (rate * trees) for rate in (a, s))
        print(f"\nAt {args.batches[-1]:,} rows, per tree and row per core: churn {ns_ours:.1f} ns, scikit-learn "
              f"{ns_theirs:.1f} ns; paths average {levels:.1f} splits, so churn spends {ns_ours / levels:.2f} ns "
              f"a level and 10x scikit-learn would leave {ns_theirs / 10 / levels:.2f} ns a level.")
        np.testing.assert_allclose(ours.predict_proba(Xte)[:, 1].mean(), theirs.predict_proba(Xte)[:, 1].mean(), atol=0.05)


if __name__ == "__main__":
    main()
