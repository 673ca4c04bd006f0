"""churn's evaluation core beside scikit-learn on the same inputs, through Python (median of repeats).

    PYTHONPATH=build-<you>/python:python .venv/bin/python bench/bench_eval.py [--repeats 5]

Prints a Markdown table for docs/benchmarks.md. Every pair is also checked to give the same result.
"""
import argparse
import os
import statistics
import time

import numpy as np
from sklearn import metrics as skm
from sklearn.linear_model import LogisticRegression as SkLogisticRegression
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import churn
from churn import metrics as cm


def timed(fn, repeats):
    times = []
    result = None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def sklearn_protocol(X, y, folds, inner_seeds):
    """The cross_validate protocol written with scikit-learn: inner-fold F1 threshold, then test metrics."""
    out = []
    for (train, test), seed in zip(folds, inner_seeds):
        make = lambda: make_pipeline(StandardScaler(), SkLogisticRegression())  # noqa: E731
        oof = np.zeros(len(train))
        for itr, ite in StratifiedKFold(3, shuffle=True, random_state=seed).split(X[train], y[train]):
            oof[ite] = make().fit(X[train][itr], y[train][itr]).predict_proba(X[train][ite])[:, 1]
        _, fps, fns, tps, thr = skm.confusion_matrix_at_thresholds(y[train], oof)
        f1 = 2 * tps / (2 * tps + fps + fns)
        t = thr[::-1][np.argmax(f1[::-1])]
        p = make().fit(X[train], y[train]).predict_proba(X[test])[:, 1]
        out.append(skm.f1_score(y[test], (p >= t).astype(int)))
    return float(np.mean(out))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    r = args.repeats
    rng = np.random.default_rng(0)
    n = 25000
    y = (rng.random(n) < 0.2).astype(np.int64)
    s = np.round(np.clip(0.3 + 0.3 * y + rng.normal(0, 0.25, n), 0, 1), 2)

    rows = []

    def compare(name, ours, theirs, same):
        t_ours, a = timed(ours, r)
        t_theirs, b = timed(theirs, r)
        assert same(a, b), name
        rows.append((name, t_ours * 1e3, t_theirs * 1e3))

    compare("roc_auc_score, 25k", lambda: cm.roc_auc_score(y, s), lambda: skm.roc_auc_score(y, s),
            lambda a, b: abs(a - b) < 1e-12)
    compare("average_precision_score, 25k", lambda: cm.average_precision_score(y, s),
            lambda: skm.average_precision_score(y, s), lambda a, b: abs(a - b) < 1e-12)
    compare("roc_curve, 25k", lambda: cm.roc_curve(y, s), lambda: skm.roc_curve(y, s),
            lambda a, b: all(np.allclose(u, v, rtol=0, atol=1e-12) for u, v in zip(a, b)))
    compare("f1_score, 25k", lambda: cm.f1_score(y, (s >= 0.5).astype(int)),
            lambda: skm.f1_score(y, (s >= 0.5).astype(int)), lambda a, b: abs(a - b) < 1e-12)
    compare("stratified 5-fold, 25k", lambda: churn.stratified_kfold(y, 5, True, 0),
            lambda: list(StratifiedKFold(5, shuffle=True, random_state=0).split(y, y)),
            lambda a, b: all((u[1] == v[1]).all() for u, v in zip(a, b)))
    compare("stratified train/test split, 25k", lambda: churn.stratified_train_test_split(y, 0.2, 0),
            lambda: train_test_split(np.arange(n), test_size=0.2, stratify=y, random_state=0),
            lambda a, b: (a[1] == b[1]).all())

    X = rng.normal(size=(5000, 20))
    yx = (X[:, :5].sum(1) + rng.normal(size=5000) > 2).astype(np.int64)
    compare("logistic regression fit, 5000 x 20", lambda: churn.LogisticRegression().fit(X, yx),
            lambda: make_pipeline(StandardScaler(), SkLogisticRegression()).fit(X, yx),
            lambda a, b: np.allclose(a.predict_proba(X), b.predict_proba(X), atol=1e-3))  # lbfgs default tol
    folds = churn.stratified_kfold(yx, 5, True, 0)
    res = churn.cross_validate("logistic", X, yx, folds, threads=2)
    seeds = [f["inner_seed"] for f in res["folds"]]
    compare("cross-validation protocol, logistic, 5 x (3+1) fits, 5000 x 20",
            lambda: churn.cross_validate("logistic", X, yx, folds, threads=2)["tuned"]["mean"]["f1"],
            lambda: sklearn_protocol(X, yx, folds, seeds), lambda a, b: abs(a - b) < 1e-3)

    print(f"load average before: {os.getloadavg()[0]:.2f}; median of {r} runs; milliseconds")
    print()
    print("| task | churn (ms) | scikit-learn (ms) | speed-up |")
    print("|---|---:|---:|---:|")
    for name, a, b in rows:
        print(f"| {name} | {a:.2f} | {b:.2f} | {b / a:.1f}x |")


if __name__ == "__main__":
    main()
