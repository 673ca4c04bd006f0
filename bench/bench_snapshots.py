#!/usr/bin/env python3
"""Snapshot tables (issue 19): the cost of many cutoffs in one pass, and what they do for the model.

    .venv/bin/python bench/bench_snapshots.py passes --events /tmp/sim.json [--horizon-days 14] [--every-days 7]
    .venv/bin/python bench/bench_snapshots.py models --events /tmp/sim.json [--horizon-days 14] [--trees 300]

passes: wall time and peak resident memory (each variant in its own process) of
  1. one cutoff (the default: the last whose label window lies in the log),
  2. every weekly cutoff in one pass (``every_days``),
  3. every weekly cutoff as separate ``user_features`` calls (one read each),
and the ratios 2/1 (the issue's goal: under 1.5x) and 3/2.

models: the forest and the baselines trained on snapshots against one cutoff, both tested out of time
on the rows at the last cutoff T (the one-cutoff table of T - horizon is what single-cutoff training
can use without seeing the test period), plus the grouped cross-validation of the snapshot table.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def _child(args: argparse.Namespace) -> None:
    import churn

    kw = {"horizon_days": args.horizon_days, "threads": args.threads}
    start = time.perf_counter()
    if args.variant == "one":
        t = churn.user_features(args.events, **kw)
        rows, cuts = len(t), 1
    elif args.variant == "snapshots":
        t = churn.user_features(args.events, every_days=args.every_days, **kw)
        rows, cuts = len(t), len(t.snapshot_cutoffs)
    else:
        cutoffs = churn.user_features(args.events, every_days=args.every_days, **kw).snapshot_cutoffs
        start = time.perf_counter()  # the schedule itself is not part of this variant's cost
        rows = sum(len(churn.user_features(args.events, cutoff=c, **kw)) for c in cutoffs)
        cuts = len(cutoffs)
    seconds = time.perf_counter() - start
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"variant": args.variant, "seconds": seconds, "peak_mb": peak_kb / 1024, "rows": rows,
                      "cutoffs": cuts}))


def passes(args: argparse.Namespace) -> None:
    results = {}
    for variant in ("one", "snapshots", "separate"):
        best = None
        for _ in range(args.repeats):
            out = subprocess.run([sys.executable, __file__, "_child", "--variant", variant, "--events", args.events,
                                  "--horizon-days", str(args.horizon_days), "--every-days", str(args.every_days),
                                  "--threads", str(args.threads)], check=True, capture_output=True, text=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            best = r if best is None or r["seconds"] < best["seconds"] else best
        results[variant] = best
    size = os.path.getsize(args.events) / 1e6
    print(f"{args.events}: {size:.0f} MB, horizon {args.horizon_days:g} days, every {args.every_days} days, "
          f"best of {args.repeats}, threads {args.threads or 'all'}")
    print("| variant | cutoffs | rows | seconds | peak MB |\n|---|---:|---:|---:|---:|")
    for v, r in results.items():
        print(f"| {v} | {r['cutoffs']} | {r['rows']:,} | {r['seconds']:.2f} | {r['peak_mb']:.0f} |")
    print(f"snapshots / one cutoff: {results['snapshots']['seconds'] / results['one']['seconds']:.2f}x time; "
          f"separate calls / snapshots: {results['separate']['seconds'] / results['snapshots']['seconds']:.2f}x")


def models(args: argparse.Namespace) -> None:
    import churn
    from churn.training import DEFAULT_FOREST_PARAMS, compare_models
    from churn.verdict import gains

    snap = churn.user_features(args.events, horizon_days=args.horizon_days, every_days=args.every_days)
    T = snap.snapshot_cutoffs[-1]
    train_idx, test_idx = churn.out_of_time_split(snap.cutoffs, args.horizon_days, T)
    X, y = np.ascontiguousarray(snap.X), snap.y.astype(np.int64)
    day = 86_400_000
    single = churn.user_features(args.events, horizon_days=args.horizon_days,
                                 cutoff=T - int(args.horizon_days) * day)  # its labels end at T
    params = {**DEFAULT_FOREST_PARAMS, "n_estimators": args.trees}
    print(f"{args.events}: {len(snap)} snapshot rows at {len(snap.snapshot_cutoffs)} cutoffs "
          f"({int(y.sum())} churned); test out of time at {churn._churn._format_utc(T)}: {len(test_idx)} rows, "
          f"{int(y[test_idx].sum())} churned")
    print("| trained on | rows (churned) | model | ROC AUC | PR AUC | top 10 % reaches |\n|---|---:|---|---:|---:|---:|")
    candidates = {"random_forest": lambda: churn.RandomForestClassifier(**params, random_state=0, n_jobs=-1),
                  "logistic_regression": lambda: churn.LogisticRegression()}
    for name, (Xtr, ytr) in {"snapshots (cutoff + horizon <= T)": (X[train_idx], y[train_idx]),
                             f"one cutoff ({churn._churn._format_utc(single.cutoff_ms)})":
                                 (np.ascontiguousarray(single.X), single.y.astype(np.int64))}.items():
        for model_name, make in candidates.items():
            model = make().fit(Xtr, ytr)
            p = model.predict_proba(X[test_idx])[:, 1]
            g = gains(y[test_idx], p)["top"][1]["churner_share"]
            print(f"| {name} | {len(ytr):,} ({int(ytr.sum())}) | {model_name} | "
                  f"{churn.metrics.roc_auc_score(y[test_idx], p):.3f} | "
                  f"{churn.metrics.average_precision_score(y[test_idx], p):.3f} | {g:.0%} |")
    report = compare_models(X, y, forest_params=params, n_splits=5, seed=0, groups=snap.user_ids)
    print("\ngrouped 5-fold CV of the snapshot table: " + ", ".join(
        f"{n} ROC AUC {m['metrics']['roc_auc']['mean']:.3f} ± {m['metrics']['roc_auc']['std']:.3f}"
        for n, m in report["models"].items()))
    print(report["verdict"]["sentence"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    for name in ("passes", "models", "_child"):
        p = sub.add_parser(name)
        p.add_argument("--events", required=True)
        p.add_argument("--horizon-days", type=float, default=14.0)
        p.add_argument("--every-days", type=int, default=7)
        p.add_argument("--threads", type=int, default=0)
        p.add_argument("--repeats", type=int, default=3)
        p.add_argument("--trees", type=int, default=300)
        p.add_argument("--variant", default="one")
    args = parser.parse_args()
    {"passes": passes, "models": models, "_child": _child}[args.cmd](args)


if __name__ == "__main__":
    main()
