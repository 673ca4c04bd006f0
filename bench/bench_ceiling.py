#!/usr/bin/env python3
"""How close to the ceiling: the oracle beside churn's forest, scikit-learn's forest, logistic
regression and the majority floor, on simulated logs of both behaviours and several sizes.

For each behaviour ("engagement", "eventsim") and each size (users at the start; 60 days from
2018-10-01, seed 0) the script simulates a log, computes churn's per-user features with window labels
(churn's default cutoff, 30-day horizon), asks ``churn.simulation.oracle`` for P(cancel within the
horizon | exact hidden state at the cutoff) of every row (200 futures per user by default), and scores
every model on the same 5 stratified folds (``stratified_kfold(y, 5, shuffle=True, seed=0)``): ROC AUC,
PR AUC (average precision) and F1 at the threshold tuned on each training part (3 inner folds; the
oracle's threshold is tuned the same way on its probabilities). Figures are mean ± std over the folds.
"closed" is (model AUC - 0.5) / (oracle AUC - 0.5): the share of the distance from the floor to the
ceiling that the model covers; the goal of issue 17 is 90 % for churn's forest.

"random_forest" is churn's forest with its fixed defaults (300 trees, min_samples_leaf=1, sqrt);
"random_forest_tuned" is the forest ``churn train`` builds: min_samples_leaf chosen from
``churn.training.FOREST_SEARCH`` by the mean out-of-fold ROC AUC on the same 5 folds (a selection among
five candidates on these folds: slightly optimistic, by as much as a training run's own CV figure is).
"boosting" is a stronger model of the same features, scikit-learn's HistGradientBoostingClassifier
(shrinkage 0.05, up to 500 rounds stopped early on an inner 20 % of each training part, 15 leaves, at
least 20 rows a leaf, L2 1.0): with the feature ceiling it says whether ANY model of these features
closes the 90 %.

Two more diagnostic rows: churn's forest with min_samples_leaf=10, and the "feature
ceiling", a regression forest trained on each training part to predict the oracle's probability from the
features (OracleRegression): an estimate of how much of the hidden state the log's features show at
this many rows. A forest close to the feature ceiling but far from the oracle lacks information, not fit.

    .venv/bin/python bench/bench_ceiling.py --sizes 225,2250 --json /tmp/ceiling.json --markdown /tmp/ceiling.md
    .venv/bin/python bench/bench_ceiling.py --sizes 22278 --draws 200     # the full size (long)
    .venv/bin/python bench/bench_ceiling.py --sizes 22278 --log engagement:22278=/tmp/full/full.json  # reuse a log
    .venv/bin/python bench/bench_ceiling.py --from-json /tmp/ceiling.json --markdown -   # tables again
    # the full size without recomputing the oracle (40 min): its rows (oracle, feature ceiling) from an
    # earlier run of this script on the same log (same rows, churners and cutoff, checked), the rest anew
    nice -n 5 .venv/bin/python bench/bench_ceiling.py --sizes 22278 --behaviours engagement \
        --log engagement:22278=/tmp/full/full.json --oracle-from /tmp/h19/ceiling-full.json --json /tmp/ceiling-full.json

The simulator's parameters were frozen (tests/cpp/test_simulate.cpp pins them) before this script
was first run: nothing here is tuned on its output.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

import churn
from churn import _churn
from churn.evaluation import cross_validate
from churn.training import DEFAULT_FOREST_PARAMS, _forest, compare_models, search_forest, search_space

METRICS = ("roc_auc", "average_precision", "f1")
MODELS = ("oracle", "feature_ceiling", "boosting", "random_forest_tuned", "random_forest", "random_forest_leaf10",
          "sklearn_random_forest", "logistic_regression", "majority")
#: Rows that need the oracle's per-user probabilities: copied from --oracle-from instead of recomputed.
ORACLE_ROWS = ("oracle", "feature_ceiling")


def boosting(seed: int = 0):
    """The stronger reference model of the features (see the module docstring)."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(learning_rate=0.05, max_iter=500, max_leaf_nodes=15, min_samples_leaf=20,
                                          l2_regularization=1.0, early_stopping=True, validation_fraction=0.2,
                                          n_iter_no_change=20, random_state=seed)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class ProbabilityColumn:
    """A "model" whose prediction is column 0 of X: lets the oracle's probabilities run through
    churn.cross_validate, so that its threshold is tuned exactly as the learned models' are."""

    def get_params(self, deep: bool = True) -> Dict[str, Any]:
        return {}

    def set_params(self, **params: Any) -> "ProbabilityColumn":
        return self

    def fit(self, X, y) -> "ProbabilityColumn":
        return self

    def predict_proba(self, X) -> np.ndarray:
        p = np.asarray(X, dtype=float)[:, 0]
        return np.column_stack([1.0 - p, p])


class OracleRegression:
    """The feature ceiling: a regression forest that learns the oracle's probability (the last column of
    X, training rows only) from the features (the other columns), and predicts it for the test rows.
    Its target is the noise-free P(cancel | hidden state) instead of the 0/1 label, so it estimates the
    best any model of these features can do with this many rows: what the log shows of the hidden state.
    It is not a strict bound (finite rows), but a model of the features far below it lacks data or fit,
    and a model near it lacks information the log does not hold."""

    def __init__(self, seed: int = 0):
        self.seed = seed

    def get_params(self, deep: bool = True) -> Dict[str, Any]:
        return {"seed": self.seed}

    def set_params(self, **params: Any) -> "OracleRegression":
        self.seed = params.get("seed", self.seed)
        return self

    def fit(self, X, y) -> "OracleRegression":
        from sklearn.ensemble import RandomForestRegressor

        X = np.asarray(X, dtype=float)
        self.model_ = RandomForestRegressor(n_estimators=300, min_samples_leaf=5, max_features=0.33, n_jobs=-1,
                                            random_state=self.seed).fit(X[:, :-1], X[:, -1])
        return self

    def predict_proba(self, X) -> np.ndarray:
        p = np.clip(self.model_.predict(np.asarray(X, dtype=float)[:, :-1]), 0.0, 1.0)
        return np.column_stack([1.0 - p, p])


def summarise(result: Dict[str, Any]) -> Dict[str, Any]:
    out = {}
    for name in METRICS:
        per_fold = [float(f["tuned"][name]) for f in result["folds"]]
        out[name] = {"mean": float(np.mean(per_fold)), "std": float(np.std(per_fold)), "folds": per_fold}
    return out


def run_one(behaviour: str, users: int, args) -> Dict[str, Any]:
    path = os.path.join(args.workdir, f"{behaviour}-{users}.json.gz")
    sim_args = dict(users=users, days=60, seed=args.seed, behaviour=behaviour)
    given = dict(args.log or []).get((behaviour, users))
    t0 = time.perf_counter()
    if given:
        path = given
        log(f"{behaviour} {users}: the given log {path} (not simulated again; it must be "
            f"churn simulate --users {users} --days 60 --seed {args.seed} --behaviour {behaviour})")
    elif not os.path.exists(path):
        log(f"{behaviour} {users}: simulating {path}")
        churn.simulate(path + ".tmp.gz", gzip_level=1, **sim_args)
        os.replace(path + ".tmp.gz", path)
    t_sim = time.perf_counter() - t0
    table = churn.user_features(path, label="window", horizon_days=30.0)
    X, y = np.ascontiguousarray(table.X, dtype=np.float64), np.asarray(table.y, dtype=np.int64)
    cutoff = table.cutoff.strftime("%Y-%m-%d")
    folds = _churn.stratified_kfold(y, n_splits=5, shuffle=True, seed=0)
    models: Dict[str, Any] = {}
    earlier = _earlier_run(args.oracle_from, behaviour, users, len(y), int(y.sum()), cutoff) if args.oracle_from else None
    t1 = time.perf_counter()
    p_oracle = None
    if earlier is not None:
        log(f"{behaviour} {users}: the oracle's rows from {args.oracle_from} ({earlier['draws']} draws)")
        models.update({name: earlier["models"][name] for name in ORACLE_ROWS if name in earlier["models"]})
        t_oracle, draws = float(earlier["seconds"]["oracle"]), int(earlier["draws"])
        oracle_mean = earlier.get("oracle_mean_probability")
    else:
        log(f"{behaviour} {users}: {len(y)} rows, {int(y.sum())} churn in the window; oracle, {args.draws} draws")
        orc = churn.simulation.oracle(cutoff=table.cutoff_ms, horizon_days=30.0, draws=args.draws, **sim_args)
        t_oracle, draws = time.perf_counter() - t1, args.draws
        by_id = orc.as_dict()
        missing = [u for u in table.user_ids if u not in by_id]
        if missing or len(by_id) != len(table.user_ids):
            raise SystemExit(f"oracle rows differ from the feature table's: {len(missing)} table users without "
                             f"an oracle row, {len(by_id)} oracle rows, {len(table.user_ids)} table rows")
        p_oracle = np.array([by_id[u] for u in table.user_ids])
        oracle_mean = float(p_oracle.mean())
        log(f"{behaviour} {users}: oracle took {t_oracle:.0f} s")
        models["oracle"] = summarise(cross_validate(ProbabilityColumn(), p_oracle[:, None], y, folds=folds, seed=0))
    log(f"{behaviour} {users}: 5-fold comparison (churn's forest with its fixed defaults, no search)")
    report = compare_models(X, y, n_splits=5, seed=0, threads=None, sklearn_reference=True,
                            log=lambda m: log("  " + m))
    for name, summary in report["models"].items():
        models[name] = summary["metrics"]
    log(f"{behaviour} {users}: the forest as churn train builds it (min_samples_leaf searched on the same folds)")
    search = search_forest(X, y, folds, params=DEFAULT_FOREST_PARAMS, grid=search_space(None), seed=0,
                           threads=None, log=lambda m: log("  " + m))
    log("  " + search["sentence"])
    tuned = _forest({**DEFAULT_FOREST_PARAMS, **search["chosen"]}, 0, None)
    models["random_forest_tuned"] = summarise(cross_validate(tuned, X, y, folds=folds, seed=0))
    log(f"{behaviour} {users}: boosting (HistGradientBoostingClassifier); forest with min_samples_leaf=10")
    # One OpenMP thread: on a shared, loaded machine scikit-learn's OpenMP barriers spin for minutes per
    # fit at these sizes; the scores do not depend on the thread count.
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="openmp"):
        models["boosting"] = summarise(cross_validate(boosting(0), X, y, folds=folds, seed=0))
    leaf10 = churn.RandomForestClassifier(n_estimators=300, min_samples_leaf=10, n_jobs=-1, random_state=0)
    models["random_forest_leaf10"] = summarise(cross_validate(leaf10, X, y, folds=folds, seed=0))
    if p_oracle is not None:
        log(f"{behaviour} {users}: feature ceiling (regression on the oracle)")
        models["feature_ceiling"] = summarise(cross_validate(OracleRegression(0), np.column_stack([X, p_oracle]), y,
                                                             folds=folds, seed=0))
    return {"behaviour": behaviour, "users_option": users, "log": path, "rows": int(len(y)), "churned": int(y.sum()),
            "events": int(table.report.events), "cutoff": cutoff,
            "draws": draws, "oracle_mean_probability": oracle_mean,
            "oracle_from": args.oracle_from if earlier is not None else None,
            "forest_search": {k: search[k] for k in ("chosen", "candidates", "sentence")},
            "seconds": {"simulate": t_sim, "oracle": t_oracle}, "models": models}


def _earlier_run(path: str, behaviour: str, users: int, rows: int, churned: int, cutoff: str) -> Optional[Dict[str, Any]]:
    """The run of an earlier JSON (--json) for the same log: same behaviour, users, rows, churners and
    cutoff (then the same labels and the same folds); None when it has none."""
    with open(path) as f:
        for run in json.load(f)["runs"]:
            if (run["behaviour"], run["users_option"]) != (behaviour, users):
                continue
            if (run["rows"], run["churned"], run["cutoff"]) != (rows, churned, cutoff):
                raise SystemExit(f"--oracle-from {path}: its {behaviour} {users} run has {run['rows']} rows, "
                                 f"{run['churned']} churned, cutoff {run['cutoff']}; this log has {rows}, {churned}, "
                                 f"{cutoff}: not the same log")
            return run
    log(f"--oracle-from {path}: no {behaviour} {users} run there; computing the oracle")
    return None


def cell(m: Dict[str, Any]) -> str:
    return f"{m['mean']:.3f} ± {m['std']:.3f}"


def closed(run: Dict[str, Any], name: str) -> float:
    ceiling = run["models"]["oracle"]["roc_auc"]["mean"] - 0.5
    return (run["models"][name]["roc_auc"]["mean"] - 0.5) / ceiling if ceiling > 0 else float("nan")


def markdown(results: Dict[str, Any]) -> str:
    runs: List[Dict[str, Any]] = results["runs"]
    lines = ["| log | rows (churn) | oracle | feature ceiling | boosting | forest as churn train (leaf) | "
             "forest, leaf 1 | logistic | closed: feature ceiling / boosting / churn train's forest / forest leaf 1 / "
             "logistic | churn train's forest >= logistic | churn train's forest: 90 % goal |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        m = r["models"]

        def auc(name: str) -> str:
            return cell(m[name]["roc_auc"]) if name in m else "–"

        def shut(name: str) -> str:
            return f"{100 * closed(r, name):.0f} %" if name in m else "–"

        best = "random_forest_tuned" if "random_forest_tuned" in m else "random_forest"
        gap = 0.9 * (m["oracle"]["roc_auc"]["mean"] - 0.5) - (m[best]["roc_auc"]["mean"] - 0.5)
        goal = "met" if gap <= 0 else f"missed by {gap:.3f} AUC"
        leaf = (r.get("forest_search") or {}).get("chosen", {}).get("min_samples_leaf", "–")
        diff = m[best]["roc_auc"]["mean"] - m["logistic_regression"]["roc_auc"]["mean"]
        lines.append(f"| {r['behaviour']}, {r['users_option']:,} users | {r['rows']:,} ({r['churned']:,}) | "
                     f"{auc('oracle')} | {auc('feature_ceiling')} | {auc('boosting')} | {auc(best)} ({leaf}) | "
                     f"{auc('random_forest')} | {auc('logistic_regression')} | "
                     f"{shut('feature_ceiling')} / {shut('boosting')} / {shut(best)} / {shut('random_forest')} / "
                     f"{shut('logistic_regression')} | {'yes' if diff >= 0 else 'no'} ({diff:+.3f}) | {goal} |")
    lines.append("")
    for r in runs:
        lines.append(f"**{r['behaviour']}, {r['users_option']:,} users** ({r['events']:,} events, cutoff {r['cutoff']}, "
                     f"{r['rows']:,} rows, {r['churned']:,} churn in 30 days; oracle {r['draws']} draws, "
                     f"{r['seconds']['oracle']:.0f} s" +
                     (f", its rows from {r['oracle_from']}" if r.get("oracle_from") else "") + "):")
        if r.get("forest_search"):
            lines.append("")
            lines.append(r["forest_search"]["sentence"] + ".")
        lines.append("")
        lines.append("| model | ROC AUC | PR AUC | F1 (tuned threshold) |")
        lines.append("|---|---|---|---|")
        for name in MODELS:
            if name not in r["models"]:
                continue
            m = r["models"][name]
            lines.append(f"| {name} | {cell(m['roc_auc'])} | {cell(m['average_precision'])} | {cell(m['f1'])} |")
        lines.append("")
    return "\n".join(lines)


def given_log(text: str):
    """``BEHAVIOUR:USERS=PATH`` -> ((behaviour, users), path), for --log."""
    try:
        key, path = text.split("=", 1)
        behaviour, users = key.split(":", 1)
        if behaviour not in ("engagement", "eventsim") or not path:
            raise ValueError
        return (behaviour, int(users)), path
    except ValueError:
        raise argparse.ArgumentTypeError(f"--log {text!r}: expected BEHAVIOUR:USERS=PATH, "
                                         "e.g. engagement:22278=/tmp/full/full.json") from None


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="225,2250,22278", help="users at the start, comma-separated")
    ap.add_argument("--behaviours", default="engagement,eventsim")
    ap.add_argument("--draws", type=int, default=200, help="oracle futures per user (default 200)")
    ap.add_argument("--seed", type=int, default=0, help="simulation seed (default 0)")
    ap.add_argument("--workdir", default="/tmp/churn_ceiling", help="where the simulated logs go")
    ap.add_argument("--log", action="append", type=given_log, metavar="BEHAVIOUR:USERS=PATH",
                    help="use this existing log (simulated with these arguments, 60 days, --seed) instead of "
                         "simulating it, e.g. engagement:22278=/tmp/full/full.json; repeatable")
    ap.add_argument("--oracle-from", metavar="JSON",
                    help="take the oracle and feature-ceiling rows from this earlier --json of the same log (same "
                         "behaviour, users, rows, churners and cutoff, else an error) instead of running the oracle")
    ap.add_argument("--json", help="write every figure (per fold) here")
    ap.add_argument("--markdown", help="write the tables here ('-': stdout)")
    ap.add_argument("--from-json", help="print the tables of an earlier run")
    args = ap.parse_args(argv)
    if args.from_json:
        with open(args.from_json) as f:
            results = json.load(f)
    else:
        os.makedirs(args.workdir, exist_ok=True)
        results = {"started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), "churn": churn.__version__,
                   "machine": {"cores": os.cpu_count(), "python": platform.python_version(),
                               "load_average_at_start": os.getloadavg()},
                   "runs": []}
        for size in [int(s) for s in args.sizes.split(",")]:
            for behaviour in args.behaviours.split(","):
                results["runs"].append(run_one(behaviour, size, args))
                if args.json:
                    with open(args.json, "w") as f:
                        json.dump(results, f, indent=1)
        results["machine"]["load_average_at_end"] = os.getloadavg()
        if args.json:
            with open(args.json, "w") as f:
                json.dump(results, f, indent=1)
    text = markdown(results)
    if args.markdown == "-" or not args.markdown:
        print(text)
    else:
        with open(args.markdown, "w") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
