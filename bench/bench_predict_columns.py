#!/usr/bin/env python3
"""One-row prediction overhead of RandomForestClassifier.predict_proba: the two class columns filled in
C++ (ForestModel.predict_proba(X, columns=2), what predict_proba calls now) beside the former path (the
1-column native call, then np.column_stack in Python), in one run.

A forest of 100 trees on 40 features; 2,000 calls of one distinct row each per round, rounds in ABBA
order (before, after, after, before, ...) so that a change in the machine's load hits both sides alike.
Prints the p50 and p90 of each side in microseconds and the ratio after/before of the p50s.

    .venv/bin/python bench/bench_predict_columns.py [--trees 100] [--features 40] [--calls 2000] [--rounds 4]
"""
from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
from sklearn.datasets import make_classification

from churn.forest import RandomForestClassifier


def before(est: RandomForestClassifier, row: np.ndarray) -> np.ndarray:
    """predict_proba as it was: the 1-column native call, then the two columns stacked in Python."""
    Xa = est._check_X(row)
    p1 = est.model_.predict_proba(Xa, 1)
    return np.column_stack([1.0 - p1, p1])


def after(est: RandomForestClassifier, row: np.ndarray) -> np.ndarray:
    return est.predict_proba(row)


def timings(fn, est: RandomForestClassifier, rows: np.ndarray) -> list:
    out = []
    for i in range(len(rows)):
        row = rows[i : i + 1]
        t = time.perf_counter_ns()
        fn(est, row)
        out.append(time.perf_counter_ns() - t)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trees", type=int, default=100)
    ap.add_argument("--features", type=int, default=40)
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=4, help="ABBA rounds (each runs both sides twice)")
    args = ap.parse_args()

    X, y = make_classification(n_samples=5000 + args.calls, n_features=args.features, n_informative=12,
                               random_state=0)
    est = RandomForestClassifier(args.trees, random_state=0, n_jobs=1).fit(X[:5000], y[:5000])
    rows = np.ascontiguousarray(X[5000:])
    np.testing.assert_array_equal(before(est, rows[:50]), after(est, rows[:50]))  # the same numbers
    for fn in (before, after):  # warm-up
        timings(fn, est, rows[:200])

    samples = {"before": [], "after": []}
    for _ in range(args.rounds):
        for name in ("before", "after", "after", "before"):
            samples[name] += timings(before if name == "before" else after, est, rows)

    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; "
          f"{args.trees} trees, {args.features} features, {args.calls} one-row calls x {2 * args.rounds} per side")
    p50 = {}
    for name, ns in samples.items():
        a = np.asarray(ns) / 1000.0
        p50[name] = float(np.percentile(a, 50))
        print(f"{name:>7}: p50 {p50[name]:6.2f} us  p90 {np.percentile(a, 90):6.2f} us")
    print(f"after/before p50: {p50['after'] / p50['before']:.3f}")


if __name__ == "__main__":
    main()
