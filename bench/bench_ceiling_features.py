#!/usr/bin/env python3
"""What the forest lacks against the oracle: candidate features, forest settings and snapshot training,
each scored against the oracle's ceiling on one simulated log (docs/results.md, "How close to the
ceiling", "What the gap is made of").

    .venv/bin/python bench/bench_ceiling_features.py --users 1000 --workdir /tmp/churn_ceiling

For the log ``churn.simulate(users=N, days=60, seed=0, behaviour=...)`` it computes churn's 55 features
at the default cutoff (window labels, 30 days), the oracle's P(cancel | hidden state), and candidate
recent-window features from the events (pandas): sessions and active days in the last 7/14 days; Thumbs
Down, Thumbs Up, Roll Advert, Error, Help, Add to Playlist, Add Friend counts and per-song shares in the
last 7/14 days; the last gap between sessions and its ratio to the mean gap. A diagnostic that is not a
legitimate feature (it uses the simulator's own experience weights): the exponentially weighted (7-day
half-life) net experience per song. Every variant is scored by the out-of-fold ROC AUC of churn's forest
(300 trees) over 3 repetitions of 5 stratified folds (seeds 0, 1, 2). It also reports how much of the
oracle's probability the features explain (R^2 of a cross-validated regression forest) and snapshot
training (weekly cutoffs; the forest fitted on every snapshot row of the training users and scored on the
last cutoff's rows of the test users).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import pandas as pd

import churn

PAGES = [("Thumbs Down", "thumbs_down"), ("Thumbs Up", "thumbs_up"), ("Roll Advert", "roll_adverts"),
         ("Error", "errors"), ("Help", "help"), ("Add to Playlist", "add_to_playlist"), ("Add Friend", "add_friend")]
WEIGHTS = {"Thumbs Up": 0.015, "Add to Playlist": 0.015, "Add Friend": 0.02, "Thumbs Down": -0.1,
           "Roll Advert": -0.02, "Error": -0.08, "Help": -0.02}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def candidate_features(path: str, cutoff_ms: int, user_ids) -> pd.DataFrame:
    ev = churn.read_events(path).to_pandas()
    ev = ev[(ev.userId != "") & (ev.ts < cutoff_ms)][["userId", "ts", "sessionId", "page"]].copy()
    ev["age_days"] = (cutoff_ms - ev.ts) / 86_400_000.0
    rows = {}
    for user, d in ev.groupby("userId"):
        out = {}
        for w in (7, 14):
            r = d[d.age_days <= w]
            counts = r.page.value_counts()
            songs = counts.get("NextSong", 0)
            out[f"sessions_last_{w}d"] = r.sessionId.nunique()
            out[f"active_days_last_{w}d"] = np.floor(r.age_days).nunique()
            for page, name in PAGES:
                out[f"{name}_last_{w}d"] = counts.get(page, 0)
                out[f"{name}_per_song_last_{w}d"] = counts.get(page, 0) / songs if songs else 0.0
        s = d.groupby("sessionId").ts.agg(["min", "max"]).sort_values("min")
        gaps = (s["min"].values[1:] - s["max"].values[:-1]) / 3.6e6
        out["last_gap_hours"] = gaps[-1] if len(gaps) else 0.0
        out["gap_trend"] = gaps[-3:].mean() / gaps.mean() if len(gaps) >= 2 and gaps.mean() > 0 else 1.0
        weight = np.exp(-d.age_days.values * np.log(2) / 7)
        total = {p: float((weight * (d.page.values == p)).sum()) for p in list(WEIGHTS) + ["NextSong"]}
        net = sum(WEIGHTS[p] * total[p] for p in WEIGHTS)
        out["diagnostic_net_experience_per_song"] = net / total["NextSong"] if total["NextSong"] else 0.0
        rows[user] = out
    return pd.DataFrame(rows).T.reindex(list(user_ids)).fillna(0.0)


def oof_auc(X, y, reps=(0, 1, 2), **params) -> float:
    from sklearn.metrics import roc_auc_score

    aucs = []
    for r in reps:
        oof = np.zeros(len(y))
        for tr, te in churn.stratified_kfold(y, 5, True, r):
            m = churn.RandomForestClassifier(n_estimators=300, random_state=r, n_jobs=-1, **params).fit(X[tr], y[tr])
            oof[te] = m.predict_proba(X[te])[:, 1]
        aucs.append(roc_auc_score(y, oof))
    return float(np.mean(aucs))


def main(argv=None) -> int:
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import cross_val_predict

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=1000)
    ap.add_argument("--behaviour", default="engagement")
    ap.add_argument("--workdir", default="/tmp/churn_ceiling")
    args = ap.parse_args(argv)
    os.makedirs(args.workdir, exist_ok=True)
    sim = dict(users=args.users, days=60, seed=0, behaviour=args.behaviour)
    path = os.path.join(args.workdir, f"{args.behaviour}-{args.users}.json.gz")
    if not os.path.exists(path):
        log(f"simulating {path}")
        churn.simulate(path + ".tmp.gz", gzip_level=1, **sim)
        os.replace(path + ".tmp.gz", path)
    acc = churn.FeatureAccumulator()
    acc.add_files([path])
    t = acc.finalize(horizon_days=30)
    X, y, ids = np.asarray(t.X, dtype=float), np.asarray(t.y), np.asarray(t.user_ids)
    log(f"{len(y)} rows, {int(y.sum())} churn; oracle")
    orc = churn.simulation.oracle(cutoff=t.cutoff_ms, horizon_days=30.0, draws=200, **sim).as_dict()
    po = np.array([orc[u] for u in ids])
    log("candidate features from the events")
    F = candidate_features(path, t.cutoff_ms, ids)
    general = [c for c in F.columns if not c.startswith("diagnostic")]
    groups = {
        "+ sessions and active days, last 7/14 days": [c for c in general
                                                       if c.startswith(("sessions_", "active_days_"))],
        "+ page counts and per-song shares, last 7/14 days": [c for c in general if "_last_" in c and
                                                              not c.startswith(("sessions_", "active_days_"))],
        "+ last gap and gap trend": ["last_gap_hours", "gap_trend"],
        "+ all of the above": general,
        "+ diagnostic: net experience per song with the simulator's weights": ["diagnostic_net_experience_per_song"],
    }
    print(f"log: {args.behaviour}, {args.users} users; {len(y)} rows, {int(y.sum())} churn; "
          f"oracle ROC AUC {roc_auc_score(y, po):.3f}\n")
    print("| features | forest (defaults) | forest (min_samples_leaf=10) |\n|---|---|---|")
    print(f"| churn's 55 | {oof_auc(X, y):.3f} | {oof_auc(X, y, min_samples_leaf=10):.3f} |")
    for name, cols in groups.items():
        Xg = np.hstack([X, F[cols].to_numpy(dtype=float)])
        print(f"| {name} ({len(cols)}) | {oof_auc(Xg, y):.3f} | {oof_auc(Xg, y, min_samples_leaf=10):.3f} |",
              flush=True)
    print()
    every = np.hstack([X, F.to_numpy(dtype=float)])
    for name, Xm in (("churn's 55 features", X), ("with every candidate", every)):
        regressor = RandomForestRegressor(300, min_samples_leaf=5, n_jobs=-1, random_state=0)
        pred = cross_val_predict(regressor, Xm, po, cv=5)
        r2 = 1 - ((pred - po) ** 2).sum() / ((po - po.mean()) ** 2).sum()
        print(f"- the oracle's probability from {name}: R^2 {r2:.3f}; that prediction's ROC AUC on the labels "
              f"{roc_auc_score(y, pred):.3f}")
    S = acc.finalize(horizon_days=30, every_days=7)
    XS, yS, idS = np.asarray(S.X, dtype=float), np.asarray(S.y), np.asarray(S.user_ids)
    for leaf in (1, 10):
        one, snap = [], []
        for r in (0, 1, 2):
            o1, oS = np.zeros(len(y)), np.zeros(len(y))
            for tr, te in churn.stratified_kfold(y, 5, True, r):
                m = churn.RandomForestClassifier(n_estimators=300, random_state=r, n_jobs=-1, min_samples_leaf=leaf)
                o1[te] = m.fit(X[tr], y[tr]).predict_proba(X[te])[:, 1]
                keep = np.isin(idS, ids[tr])
                oS[te] = m.fit(XS[keep], yS[keep]).predict_proba(X[te])[:, 1]
            one.append(roc_auc_score(y, o1))
            snap.append(roc_auc_score(y, oS))
        print(f"- snapshots (min_samples_leaf={leaf}): {len(yS)} rows, {int(yS.sum())} churn at "
              f"{len(S.snapshot_cutoffs)} weekly cutoffs; ROC AUC on the last cutoff's test users "
              f"{np.mean(snap):.3f} against {np.mean(one):.3f} trained on that cutoff alone")
    return 0


if __name__ == "__main__":
    sys.exit(main())
