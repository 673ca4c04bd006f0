"""From an event log to a validated, saved model: the pipeline behind ``churn train``, ``churn
evaluate`` and ``examples/webserver/build_model.py``.

1. read and aggregate the events into per-user features and labels (``churn.user_features``; with
   ``every_days`` or ``cutoffs`` a snapshot table, one row per user and cutoff);
2. check that there is something to learn (a log without cancellations is an error that says so; fewer
   than 50 churned rows a warning that says what to do);
3. split off a withheld test set: stratified by label for a one-cutoff table; for a snapshot table
   out of time (test on the last cutoff T, train on rows whose label window ends by T), or, when the
   log has no room for that, by user (no user on both sides);
4. 5-fold cross-validation on the training part: first the forest's min_samples_leaf chosen on those
   folds (``FOREST_SEARCH``, the best mean out-of-fold ROC AUC; a value the user gives is kept), then
   the chosen random forest beside the baselines
   (always-majority, L2 logistic regression), in the same folds (stratified; grouped by user for a
   snapshot table), the F1 threshold tuned inside each training fold (grouped too), and a verdict:
   does the forest beat each baseline by more than two standard errors of the paired differences?
5. the final forest on the whole training part, its decision threshold the one maximising F1 on the
   cross-validated (out-of-fold) probabilities of the training part;
6. one evaluation on the withheld test set, with gains (the share of churners reached by calling the
   top 5/10/20 % by risk); everything the web app needs goes into the model's metadata
   (see docs/model-metadata.md), and the model is saved.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import os
import sys
import time
from dataclasses import dataclass, field
from itertools import product
from types import MappingProxyType
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from . import __version__, _churn
from ._errors import parameter_error
from ._deprecation import n_jobs_from_threads, renamed_keyword, threads_from_n_jobs
from .evaluation import LogisticRegression, cross_validate, group_codes, stratified_group_kfold
from .features import FeatureTable, require_rows, user_features
from .calibration import choose_calibration, reliability
from .verdict import gains, positives_warning, verdict
from .reasons import explanation_summary, pages_in, training_profile

PathLike = Union[str, "os.PathLike[str]"]

#: Forest settings used when none are given: good on Sparkify-like data without tuning.
DEFAULT_FOREST_PARAMS: Dict[str, Any] = {
    "n_estimators": 300,
    "max_features": "sqrt",
    "min_samples_leaf": 1,
    "class_weight": None,
    "bootstrap": True,
}

#: The forest settings ``train`` and ``evaluate`` choose by cross-validation when the user gives none:
#: each value is tried on the folds of the comparison and the one with the highest mean out-of-fold ROC
#: AUC is kept. A fully grown forest (min_samples_leaf=1, scikit-learn's default) fits the noise of churn
#: labels: on the simulated engagement logs it falls below logistic regression, and larger leaves lift it
#: above (docs/results.md). A value the user gives is kept and not searched.
FOREST_SEARCH: Mapping[str, Tuple[Any, ...]] = MappingProxyType({"min_samples_leaf": (1, 3, 10, 30, 100)})

#: How the search chooses, in words (stored in the model's metadata).
SEARCH_CRITERION = "the highest mean out-of-fold ROC AUC over the comparison's folds (the first on ties)"

#: The metrics reported for every model, in display order.
METRICS = ("f1", "precision", "recall", "accuracy", "balanced_accuracy", "roc_auc", "average_precision",
           "log_loss", "brier")


def _log_to_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class _Steps:
    """Prints each step with the elapsed time (or nothing, when quiet)."""

    def __init__(self, log: Optional[Callable[[str], None]]):
        self.log = log
        self.start = time.perf_counter()

    def __call__(self, message: str) -> None:
        if self.log is not None:
            self.log(f"[{time.perf_counter() - self.start:7.1f}s] {message}")


def _paths_of(events: Union[PathLike, Sequence[PathLike]]) -> List[str]:
    if isinstance(events, (str, bytes, os.PathLike)):
        return [os.fsdecode(events)]
    return [os.fsdecode(p) for p in events]


def data_fingerprint(paths: Sequence[str]) -> Dict[str, Any]:
    """Identity of the input: total bytes and a SHA-256 over each file's name, size, and first and
    last MiB. Hashing a 12 GB log whole would double the training time; this catches any change of
    file, size, or head or tail, which is what tells two data sets apart in practice."""
    digest = hashlib.sha256()
    total = 0
    for path in paths:
        files = [path]
        if os.path.isdir(path):
            files = sorted(os.path.join(root, f) for root, _, names in os.walk(path) for f in names)
        for name in files:
            size = os.path.getsize(name)
            total += size
            digest.update(f"{os.path.basename(name)}\0{size}\0".encode())
            with open(name, "rb") as f:
                digest.update(f.read(1 << 20))
                if size > 2 << 20:
                    f.seek(size - (1 << 20))
                    digest.update(f.read(1 << 20))
    return {"sha256": digest.hexdigest(), "bytes": total, "hash_rule": "name, size, first and last MiB of each file"}


def feature_distribution(column: np.ndarray) -> Dict[str, Any]:
    """Training distribution of one column: for form defaults and input checks."""
    values = column[~np.isnan(column)]
    if values.size == 0:
        return {"min": None, "max": None, "median": None, "q05": None, "q25": None, "q75": None, "q95": None,
                "integer": False, "missing_share": 1.0}
    q = np.quantile(values, [0.05, 0.25, 0.5, 0.75, 0.95])
    return {
        "min": float(values.min()), "max": float(values.max()), "median": float(q[2]),
        "q05": float(q[0]), "q25": float(q[1]), "q75": float(q[3]), "q95": float(q[4]),
        "integer": bool(np.all(values == np.round(values))),
        "missing_share": float(1 - values.size / column.size),
    }


#: The feature whose bands condition the defaults of missing inputs, the band edges (days) and the
#: fewest training rows a band needs (a band with fewer falls back to the overall medians).
RECENCY_FEATURE = "days_since_last_event"
RECENCY_BANDS = (0.0, 1.0, 3.0, 7.0, 14.0, 21.0)
RECENCY_MIN_ROWS = 20


def recency_defaults(X: np.ndarray, names: Sequence[str], kinds: Sequence[str]) -> Optional[Dict[str, Any]]:
    """Medians of every numeric feature among the training rows of each recency band (days since the
    last event: 0-1, 1-3, 3-7, 7-14, 14-21, 21 and more), for the inputs a user leaves out.

    A customer described only by their recent activity ("unseen for 21 days, nothing in the last 14
    days") is not the median customer in everything else: customers who stopped coming had few
    sessions and active days and long gaps between visits. Filling their other fields with the overall
    median makes a customer who never occurs (a heavy user who vanished) and the model answers for that
    one. None when the table has no recency feature."""
    if RECENCY_FEATURE not in names:
        return None
    r = np.asarray(X[:, list(names).index(RECENCY_FEATURE)], dtype=float)
    edges = list(RECENCY_BANDS) + [None]
    bands = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (r >= lo) & (r < hi) if hi is not None else (r >= lo)
        band: Dict[str, Any] = {"from": lo, "to": hi, "rows": int(sel.sum())}
        if band["rows"] >= RECENCY_MIN_ROWS:
            band["medians"] = {name: float(np.nanmedian(X[sel, j])) for j, name in enumerate(names)
                               if kinds[j] != "categorical" and name != RECENCY_FEATURE}
        bands.append(band)
    return {"feature": RECENCY_FEATURE, "min_rows": RECENCY_MIN_ROWS, "bands": bands,
            "rule": "an input left out takes the median of the training rows in the band of the given "
                    f"{RECENCY_FEATURE} (a band of at least min_rows rows), else the overall median; "
                    "categorical inputs take the overall most common code"}


def _summarise_cv(result: Dict[str, Any]) -> Dict[str, Any]:
    """The JSON-friendly part of a cross_validate result: metrics per fold, mean and std."""
    folds = result["folds"]
    metrics = {}
    for name in METRICS:
        per_fold = [float(f["tuned"][name]) for f in folds]
        metrics[name] = {"mean": float(np.mean(per_fold)), "std": float(np.std(per_fold)), "folds": per_fold}
    thresholds = [float(f["threshold"]) for f in folds]
    return {"metrics": metrics, "threshold": {"mean": float(np.mean(thresholds)), "folds": thresholds}}


def _forest(params: Dict[str, Any], seed: int, threads: Optional[int]):
    from .forest import RandomForestClassifier

    return RandomForestClassifier(**{**params, "random_state": seed, "n_jobs": n_jobs_from_threads(threads)})


def search_space(forest_params: Optional[Mapping[str, Any]],
                 forest_search: Optional[Mapping[str, Sequence[Any]]] = FOREST_SEARCH) -> Dict[str, List[Any]]:
    """The grid ``train`` searches: ``forest_search`` without the settings the user gave in
    ``forest_params`` (a given value wins over the search). Raises ParameterError for a grid that is not a
    mapping of setting names to non-empty lists of values; each value is checked like a forest parameter."""
    from .forest import validate_params

    if not forest_search:
        return {}
    if not isinstance(forest_search, Mapping):
        raise parameter_error("forest_search", repr(forest_search), "a mapping of forest settings to lists of values, "
                              "e.g. {'min_samples_leaf': [1, 10]}, or None for no search")
    grid: Dict[str, List[Any]] = {}
    for name, values in forest_search.items():
        values = [values] if isinstance(values, (str, bytes)) or not isinstance(values, (list, tuple)) else list(values)
        if not values:
            raise parameter_error("forest_search", f"{name!r} has no values", "at least one value for each setting")
        for v in values:
            validate_params({**DEFAULT_FOREST_PARAMS, name: v, "random_state": 0, "n_jobs": 1})
        if name not in (forest_params or {}):
            grid[name] = values
    return grid


def _no_split_possible(candidate: Mapping[str, Any], smallest_train: int) -> bool:
    """True when a leaf of min_samples_leaf rows leaves no split in the smallest training fold (the
    forest would predict one constant: pointless to cross-validate)."""
    leaf = candidate.get("min_samples_leaf", 1)
    if isinstance(leaf, float):
        return False  # a fraction of the rows: always proportionate
    return 2 * int(leaf) > smallest_train


def search_forest(X: np.ndarray, y: np.ndarray, folds: Sequence[Any], *, params: Mapping[str, Any],
                  grid: Mapping[str, Sequence[Any]], seed: int = 0, threads: Optional[int] = None, groups: Any = None,
                  given: Optional[Mapping[str, Any]] = None,
                  log: Optional[Callable[[str], None]] = None) -> Dict[str, Any]:
    """Chooses the forest's settings from ``grid`` (e.g. ``{"min_samples_leaf": [1, 3, 10]}``) on
    ``folds``: every combination is cross-validated (the forest ``params`` with the candidate's values,
    the same seed) and the one with the highest mean out-of-fold ROC AUC wins (the first on ties). A
    leaf size that leaves no split in the smallest training fold is skipped. ``given``: the settings the
    user fixed (recorded, never searched).

    Returns ``{"grid", "given", "criterion", "candidates": [{"params", "roc_auc": {mean, std, folds},
    "seconds"}], "skipped", "chosen", "sentence"}``: what the model's metadata holds as
    ``forest_search`` (docs/model-metadata.md)."""
    names = list(grid)
    smallest = min(len(train) for train, _ in folds)
    candidates, skipped = [], []
    for values in product(*(grid[n] for n in names)):
        candidate = dict(zip(names, values))
        if _no_split_possible(candidate, smallest):
            skipped.append(candidate)
            continue
        start = time.perf_counter()
        result = cross_validate(_forest({**params, **candidate}, seed, threads), X, y, folds=folds, seed=seed,
                                groups=groups, inner_splits=0)
        per_fold = [float(f["tuned"]["roc_auc"]) for f in result["folds"]]
        entry = {"params": candidate, "roc_auc": {"mean": float(np.mean(per_fold)), "std": float(np.std(per_fold)),
                                                  "folds": per_fold},
                 "seconds": time.perf_counter() - start}
        candidates.append(entry)
        if log:
            log("  forest " + ", ".join(f"{k}={v}" for k, v in candidate.items()) +
                f": ROC AUC {entry['roc_auc']['mean']:.3f} ± {entry['roc_auc']['std']:.3f}")
    given = dict(given or {})
    out: Dict[str, Any] = {"grid": {n: list(grid[n]) for n in names}, "given": given, "criterion": SEARCH_CRITERION,
                           "candidates": candidates, "skipped": skipped, "chosen": {}}
    if not candidates:
        out["sentence"] = ("forest settings: " + (", ".join(f"{k}={v} (given)" for k, v in given.items()) or
                                                  "the defaults") + "; nothing searched")
        return out
    best = max(range(len(candidates)), key=lambda i: (candidates[i]["roc_auc"]["mean"], -i))
    chosen = candidates[best]
    out["chosen"] = dict(chosen["params"])
    others = "; ".join(", ".join(f"{k}={v}" for k, v in c["params"].items()) + f" {c['roc_auc']['mean']:.3f}"
                       for c in candidates if c is not chosen)
    out["sentence"] = ("forest settings chosen by cross-validation: " +
                       ", ".join(f"{k}={v}" for k, v in chosen["params"].items()) +
                       f" (out-of-fold ROC AUC {chosen['roc_auc']['mean']:.3f}" + (f"; {others}" if others else "") + ")" +
                       "".join(f"; {k}={v} given" for k, v in given.items()))
    return out


@renamed_keyword("n_jobs", "threads", threads_from_n_jobs)
def compare_models(X: np.ndarray, y: np.ndarray, *, forest_params: Optional[Dict[str, Any]] = None,
                   n_splits: int = 5, seed: int = 0, threads: Optional[int] = None, sklearn_reference: bool = False,
                   log: Optional[Callable[[str], None]] = None, groups: Any = None,
                   forest_search: Optional[Mapping[str, Sequence[Any]]] = None,
                   given_params: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
    """Cross-validates the forest and the baselines on the same folds: stratified k-fold, or with
    ``groups`` (the user of each row of a snapshot table) stratified group k-fold, the inner threshold
    folds grouped too, so that no user is on both sides of any split.

    With ``forest_search`` (a grid, see :func:`search_space`), the forest's settings are first chosen on
    the same folds (:func:`search_forest`, recorded as ``"forest_search"``; ``given_params``: the
    settings the user fixed) and the chosen forest is the ``random_forest`` compared. Its
    cross-validated figures are then those of the best of several candidates on these folds (slightly
    optimistic); the withheld test set of ``train`` takes no part in the choice.

    Returns ``{"n_splits", "seed", "validation", "models": {name: {"metrics": {metric: {mean, std,
    folds}}, "threshold": {...}, "seconds": float}}, "oof_proba": {name: array}, "verdict": {...}}``
    (see :func:`churn.verdict.verdict`). With sklearn_reference, also scikit-learn's
    RandomForestClassifier with the same settings (when scikit-learn is installed).
    """
    params = {**DEFAULT_FOREST_PARAMS, **(forest_params or {})}
    codes = group_codes(groups)
    if codes is None:
        folds = _churn.stratified_kfold(y, n_splits=n_splits, shuffle=True, seed=seed)
        validation = {"scheme": "stratified_kfold",
                      "description": f"{n_splits}-fold stratified cross-validation (one row per user)"}
    else:
        folds = stratified_group_kfold(y, codes, n_splits=n_splits, shuffle=True, seed=seed)
        validation = {"scheme": "stratified_group_kfold",
                      "description": f"{n_splits}-fold stratified group cross-validation by user (no user in two "
                                     "folds; the threshold tuned on grouped inner folds)"}
    search = None
    if forest_search:
        if log:
            log(f"choosing the forest's {', '.join(forest_search)} on the {n_splits} folds")
        search = search_forest(X, y, folds, params=params, grid=forest_search, seed=seed, threads=threads,
                               groups=codes, given=given_params, log=log)
        params = {**params, **search["chosen"]}
        if log:
            log(search["sentence"])
    candidates: Dict[str, Any] = {
        "random_forest": _forest(params, seed, threads),
        "logistic_regression": LogisticRegression(),
        "majority": "majority",
    }
    if sklearn_reference:
        try:
            from sklearn.ensemble import RandomForestClassifier as SkForest

            sk_params = {k: v for k, v in params.items() if k in ("n_estimators", "max_features", "min_samples_leaf",
                                                                   "class_weight", "bootstrap", "max_depth")}
            candidates["sklearn_random_forest"] = SkForest(**sk_params, random_state=seed,
                                                           n_jobs=n_jobs_from_threads(threads))
        except ImportError:
            if log:
                log("scikit-learn is not installed: no reference model")
    report: Dict[str, Any] = {"n_splits": n_splits, "seed": seed, "validation": validation, "models": {},
                              "oof_proba": {}, "folds": folds, "forest_params": params, "forest_search": search}
    for name, estimator in candidates.items():
        if log:
            log(f"cross-validating {name} ({n_splits} folds)")
        start = time.perf_counter()
        result = cross_validate(estimator, X, y, folds=folds, seed=seed, groups=codes)
        summary = _summarise_cv(result)
        summary["seconds"] = time.perf_counter() - start
        report["models"][name] = summary
        report["oof_proba"][name] = np.asarray(result["oof_proba"], dtype=float)
    report["verdict"] = verdict(report["models"], validation=validation["scheme"])
    report["gains"] = gains(y, report["oof_proba"]["random_forest"], source="cross-validated, out of fold")
    return report


def check_learnable(table: FeatureTable, n_splits: int, sources: Sequence[str] = ()) -> List[str]:
    """Raises DataError when the table has nothing to learn from, saying exactly why (no rows at all;
    no cancellation in the log at all; none in the label windows; too few of a class for the folds).
    Returns the warnings (fewer than 50 churned rows), each a plain sentence saying how many and what to
    do."""
    r = table.report
    y = np.asarray(table.y)
    n, n_pos = int(y.size), int(y.sum())
    span = ""
    if r.first_ts is not None and r.last_ts is not None:
        span = f", {_churn._format_utc(r.first_ts)[:10]} to {_churn._format_utc(r.last_ts)[:10]}"
    if r.users_cancelled_ever == 0 and n_pos == 0:
        raise _churn.DataError(
            f"the log has no 'Cancellation Confirmation' event at all ({r.events} events of {r.users_seen} users"
            f"{span}): no user can be labelled as churned, so there is nothing to learn or evaluate. A churn model "
            "needs a log that records cancellations (a Sparkify churn data set, or `churn simulate`); the Udacity "
            "log_data sample, for one, has none")
    require_rows(table, sources)  # empty: why (the log's span, the cutoff, the horizon) and what to change
    if n_pos == 0:
        where = (f"the label windows of {len(table.snapshot_cutoffs)} cutoffs" if table.is_snapshots
                 else f"the label window from {_churn._format_utc(table.cutoff_ms)} ({table.horizon_days:g} days)"
                 if table.cutoff_ms is not None else "the table")
        raise _churn.DataError(
            f"no row is labelled churned: {r.users_cancelled_ever} users cancel in the log, but none in {where} "
            f"({r.users_cancelled_before_cutoff} cancelled before the cutoff and are left out); use an earlier "
            "cutoff, a longer horizon (--horizon-days) or snapshots at many cutoffs (--every-days 7)")
    if n_pos == n:
        raise _churn.DataError(f"every one of the {n} rows is labelled churned: there is no one who stayed to learn from")
    min_class = min(n_pos, n - n_pos)
    groups = len(set(table.user_ids)) if table.is_snapshots else None
    churners = len({u for u, v in zip(table.user_ids, y) if v}) if table.is_snapshots else n_pos
    needed = n_splits * 2
    if min_class < needed or churners < needed:
        what = (f"{n_pos} churned rows of {churners} users and {n - n_pos} rows that stayed ({groups} users)"
                if table.is_snapshots else f"{n_pos} churned and {n - n_pos} stayed")
        raise _churn.DataError(
            f"too few churners to evaluate: {what}; {n_splits}-fold cross-validation on the training part needs "
            f"at least {needed} of each (use a longer log, snapshots at many cutoffs (--every-days 7) or a longer "
            "horizon (--horizon-days))")
    warning = positives_warning(n_pos, n, table.is_snapshots)
    return [warning] if warning else []


@renamed_keyword("n_jobs", "threads", threads_from_n_jobs)
def out_of_time_evaluation(table: FeatureTable, *, forest_params: Optional[Dict[str, Any]] = None, seed: int = 0,
                           threads: Optional[int] = None, inner_splits: int = 3,
                           log: Optional[Callable[[str], None]] = None) -> Optional[Dict[str, Any]]:
    """Out-of-time validation of a snapshot table: test on the rows at the last cutoff T, train on the
    rows whose label window ends by T (cutoff + horizon <= T); each model's threshold tuned on grouped
    inner folds of the training part only. None when the table has no room for it (no training row,
    or too few churners in either part). Returns ``{"split_ms", "split", "n_train", "n_test",
    "models": {name: metrics}, "gains"}``."""
    if not table.is_snapshots:
        return None
    T = int(table.snapshot_cutoffs[-1])
    try:
        train_idx, test_idx = _churn.out_of_time_split(table.cutoffs, table.horizon_days, T)
    except _churn.DataError:
        return None
    X = np.ascontiguousarray(table.X, dtype=np.float64)
    y = np.asarray(table.y, dtype=np.int64)
    y_tr, y_te = y[train_idx], y[test_idx]
    codes = group_codes(np.asarray(table.user_ids, dtype=object)[train_idx].astype(str))
    churners_train = len(set(codes[y_tr == 1].tolist()))
    if churners_train < 2 * inner_splits or y_te.sum() == 0 or y_te.sum() == y_te.size:
        return None
    params = {**DEFAULT_FOREST_PARAMS, **(forest_params or {})}
    candidates = {"random_forest": _forest(params, seed, threads), "logistic_regression": LogisticRegression(),
                  "majority": "majority"}
    out: Dict[str, Any] = {"split_ms": T, "split": _churn._format_utc(T), "horizon_days": table.horizon_days,
                           "n_train": int(y_tr.size), "n_test": int(y_te.size), "churned_train": int(y_tr.sum()),
                           "churned_test": int(y_te.sum()), "models": {}}
    if log:
        log(f"out-of-time validation: train on {y_tr.size} rows with cutoff + {table.horizon_days:g} days <= "
            f"{out['split']}, test on the {y_te.size} rows at {out['split']}")
    for name, est in candidates.items():
        choice = _churn_tune(est, X[train_idx], y_tr, seed, codes, inner_splits)
        model = _fit(est, X[train_idx], y_tr)
        proba = _proba(model, X[test_idx])
        metrics = _churn.evaluate_binary(y_te, proba, float(choice))
        out["models"][name] = {k: float(v) for k, v in metrics.items() if k != "confusion_matrix"}
        out["models"][name]["threshold"] = float(choice)
        if name == "random_forest":
            out["gains"] = gains(y_te, proba, source=f"out of time, the rows at {out['split']}")
    return out


def _churn_tune(estimator, X, y, seed, groups, inner_splits) -> float:
    from .evaluation import tune_threshold

    return float(tune_threshold(estimator, X, y, inner_splits=inner_splits, seed=seed, groups=groups)["threshold"])


def _fit(estimator, X, y):
    if estimator == "majority":
        return float(np.mean(y))
    model = _clone_estimator(estimator)
    model.fit(X, y)
    return model


def _proba(model, X) -> np.ndarray:
    if isinstance(model, float):
        return np.full(X.shape[0], model)
    return np.asarray(model.predict_proba(X))[:, 1]


def _clone_estimator(estimator):
    from .evaluation import _clone

    return _clone(estimator)


def format_comparison(models: Dict[str, Any]) -> str:
    """A plain-text table: one row per model, mean ± std of each metric over folds."""
    shown = ("f1", "precision", "recall", "roc_auc", "average_precision", "accuracy")
    header = f"{'model':<24}" + "".join(f"{m:>19}" for m in shown) + f"{'seconds':>9}"
    lines = [header, "-" * len(header)]
    for name, summary in models.items():
        cells = "".join(
            f"{summary['metrics'][m]['mean']:>11.3f} ± {summary['metrics'][m]['std']:.3f}" for m in shown)
        lines.append(f"{name:<24}{cells}{summary.get('seconds', float('nan')):>9.1f}")
    return "\n".join(lines)


@dataclass
class TrainResult:
    """What ``train`` produced: the fitted model (with its metadata), the feature table, and the
    cross-validated comparison."""

    model: Any
    table: FeatureTable
    comparison: Dict[str, Any]
    test_metrics: Dict[str, Any]
    model_path: Optional[str] = None
    timings: Dict[str, float] = field(default_factory=dict)
    warnings: List[str] = field(default_factory=list)

    def summary(self) -> str:
        m = self.test_metrics
        meta = getattr(self.model, "metadata", None) or {}
        validation = meta.get("validation", {})
        search = meta.get("forest_search") or {}
        lines = [
            f"validation: {validation.get('description', self.comparison['validation']['description'])}",
            *([search["sentence"]] if search.get("sentence") else []),
            format_comparison(self.comparison["models"]),
            "",
            self.comparison["verdict"]["sentence"],
            "",
            f"withheld test set ({validation.get('test_description', str(m['n']) + ' rows')}, threshold "
            f"{self.model.threshold:.3f}): "
            f"F1 {m['f1']:.3f}  precision {m['precision']:.3f}  recall {m['recall']:.3f}  "
            f"ROC AUC {m['roc_auc']:.3f}  PR AUC {m['average_precision']:.3f}",
        ]
        if meta.get("gains", {}).get("test"):
            lines.append(meta["gains"]["test"]["sentence"])
        lines.extend(w for w in self.warnings if w != self.comparison["verdict"]["sentence"])
        if self.model_path:
            lines.append(f"model saved to {self.model_path}")
        return "\n".join(lines)


@renamed_keyword("n_jobs", "threads", threads_from_n_jobs)
def train(events: Union[PathLike, Sequence[PathLike]], model_path: Optional[PathLike] = None, *,
          label: str = "window", cutoff: Any = None, horizon_days: float = 30.0,
          session_gap_minutes: float = 30.0, test_size: float = 0.2, n_splits: int = 5, seed: int = 0,
          forest_params: Optional[Dict[str, Any]] = None, threads: Optional[int] = None, strict: bool = True,
          sklearn_reference: bool = False, threshold: Optional[float] = None,
          log: Optional[Callable[[str], None]] = _log_to_stderr,
          cutoffs: Optional[Sequence[Any]] = None, every_days: Optional[int] = None,
          min_history_days: float = 14.0,
          forest_search: Optional[Mapping[str, Sequence[Any]]] = FOREST_SEARCH) -> TrainResult:
    """Builds, validates and (when model_path is given) saves a churn model from event logs.

    The labelling options are those of :func:`churn.user_features` (``every_days`` or ``cutoffs`` make
    a snapshot table, validated without leaks: see the module docstring); forest_params override
    ``DEFAULT_FOREST_PARAMS`` (scikit-learn's names). The settings in ``forest_search`` (default
    ``FOREST_SEARCH``: min_samples_leaf from 1, 3, 10, 30, 100) that forest_params does not give are
    chosen by cross-validation on the training part's folds (:func:`search_forest`; None or {}: no
    search); the choice is in the metadata's ``params`` and ``forest_search``. The model's decision threshold (churn when
    P(churn) > threshold, the rule of its ``predict``) is the one maximising F1 on the training part's
    out-of-fold probabilities, or ``threshold`` when given (0.5: scikit-learn's ``predict``). Raises
    ChurnError subclasses on bad input, and DataError when the data cannot support the evaluation (no
    cancellations; too few churners).
    """
    steps = _Steps(log)
    timings: Dict[str, float] = {}
    if threshold is not None and not (isinstance(threshold, (int, float)) and 0 <= threshold <= 1):
        raise parameter_error("threshold", repr(threshold), "a float in [0, 1]")
    paths = _paths_of(events)
    params = {**DEFAULT_FOREST_PARAMS, **(forest_params or {})}
    # Estimators check their parameters when fitted (scikit-learn's convention); these are checked now,
    # before minutes of reading and aggregating, without data.
    from .forest import validate_params

    validate_params({**params, "random_state": seed, "n_jobs": 1})
    grid = search_space(forest_params, forest_search)
    given = _given(forest_params, forest_search)

    t0 = time.perf_counter()
    steps(f"reading and aggregating {', '.join(paths)}")
    table = user_features(paths, label=label, cutoff=cutoff, horizon_days=horizon_days,
                          session_gap_minutes=session_gap_minutes, strict=strict,
                          threads=threads, cutoffs=cutoffs, every_days=every_days,
                          min_history_days=min_history_days)
    timings["features"] = time.perf_counter() - t0
    X, y = np.asarray(table.X, dtype=np.float64), np.asarray(table.y, dtype=np.int64)  # a view: no copy
    n_pos = int(y.sum())
    n_users = len(set(table.user_ids))
    rows = (f"{len(y)} rows ({n_users} users x {len(table.snapshot_cutoffs)} cutoffs)" if table.is_snapshots
            else f"{len(y)} users")
    steps(f"{rows}, {n_pos} churned ({n_pos / max(len(y), 1):.1%}), {X.shape[1]} features; "
          f"{table.report.events} events")
    steps(who_is_in_the_table(table))
    warnings = check_learnable(table, n_splits, paths)
    for w in warnings:
        steps(w)

    train_idx, test_idx, validation = _withheld_split(table, y, test_size, seed, n_splits)
    steps(f"validation: {validation['description']}; withheld test: {validation['test_description']}")
    X_train, y_train, X_test, y_test = X[train_idx], y[train_idx], X[test_idx], y[test_idx]
    groups_train = None if not table.is_snapshots else np.asarray(table.user_ids, dtype=object)[train_idx].astype(str)

    t0 = time.perf_counter()
    comparison = compare_models(X_train, y_train, forest_params=params, n_splits=n_splits, seed=seed,
                                threads=threads, sklearn_reference=sklearn_reference, log=steps, groups=groups_train,
                                forest_search=grid, given_params=given)
    timings["cross_validation"] = time.perf_counter() - t0
    params = comparison["forest_params"]
    search = comparison["forest_search"] or {"grid": {}, "given": given, "criterion": SEARCH_CRITERION,
                                             "candidates": [], "skipped": [], "chosen": {},
                                             "sentence": _no_search_sentence(given)}
    steps(comparison["verdict"]["sentence"])
    if threshold is None:
        threshold_rule = "maximises F1 on the cross-validated (out-of-fold) probabilities of the training part"
        threshold = float(_churn.best_f1_threshold(y_train, comparison["oof_proba"]["random_forest"])["threshold"])
    else:
        threshold_rule = "given"
        threshold = float(threshold)
    # Calibration of the displayed probability, chosen on the same out-of-fold predictions and folds.
    calibration = choose_calibration(y_train, comparison["oof_proba"]["random_forest"], comparison["folds"])
    steps(f"calibration: {calibration.method} (cross-validated log loss " + ", ".join(
        f"{m} {v:.4f}" for m, v in calibration.cv_log_loss.items()) + ")")
    # The verdict is decided on the raw score; off a flat step of the calibration, "raw > threshold" and
    # "calibrated > calibrated threshold" are the same rule, so no shown probability contradicts a verdict.
    decision = calibration.decision_threshold(threshold, comparison["oof_proba"]["random_forest"])
    if decision != threshold:
        steps(f"threshold {threshold:.4f} moved to {decision:.4f}, an end of the calibration's flat step it fell "
              "in (the scores in that step show one calibrated probability: all flagged or none)")
        threshold_rule += (f"; moved from {threshold:.4f} to {decision:.4f}, an end of the calibration's flat step "
                           "it fell in (the end changing fewer out-of-fold verdicts), so that the calibrated probability shown "
                           "decides the same")
        threshold = decision

    t0 = time.perf_counter()
    steps(f"fitting the final forest on {len(y_train)} rows")
    model = _forest(params, seed, threads)
    # Fitted on named columns, the saved model carries the feature names (the app and `explain` use them).
    model.fit(_named(X_train, table.feature_names), y_train)
    timings["final_fit"] = time.perf_counter() - t0

    steps(f"evaluating once on the withheld test set ({len(y_test)} rows)")
    X_test = _named(X_test, table.feature_names)
    model.threshold = threshold
    proba = model.predict_proba(X_test)[:, 1]
    # The metrics at the threshold use the rule of the model's own predict (p > threshold).
    test = _churn.evaluate_binary(y_test, proba, threshold)
    fpr, tpr, roc_thr = _churn.roc_curve(y_test, proba)
    precision, recall, pr_thr = _churn.precision_recall_curve(y_test, proba, drop_intermediate=True)
    permutation = model.permutation_importance(X_test, y_test, n_repeats=5, random_state=seed)

    importances = np.asarray(model.feature_importances_, dtype=float)
    features = []
    for j, info in enumerate(table.feature_info()):
        entry = dict(info)
        entry.update(feature_distribution(X_train[:, j]))
        entry.update(training_profile(X_train[:, j], info["kind"] == "categorical", len(info["categories"])))
        entry["importance"] = float(importances[j])
        entry["permutation_importance"] = float(permutation["importances_mean"][j])
        features.append(entry)

    steps("explaining the forest (exact SHAP values per feature and group)")
    t0 = time.perf_counter()
    explanations = explanation_summary(model, X, table.feature_names, features, seed=seed)
    explanations["pages"] = pages_in(X_train, table.feature_names)
    timings["explanations"] = time.perf_counter() - t0

    test_metrics = {k: (float(v) if isinstance(v, (int, float, np.floating)) else v) for k, v in test.items()
                    if k != "confusion_matrix"}
    test_metrics["n"] = int(len(y_test))
    fingerprint = data_fingerprint(paths)
    labels = {"mode": table.label, "cutoff_ms": table.cutoff_ms, "horizon_days": table.horizon_days,
              "session_gap_minutes": table.session_gap_minutes}
    if table.is_snapshots:
        labels.update({"snapshot_cutoffs_ms": table.snapshot_cutoffs, "every_days": every_days,
                       "min_history_days": min_history_days if every_days else None})
    metadata = {
        "kind": "churn-model",
        "library_version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "threshold": threshold,
        "threshold_rule": threshold_rule,
        "features": features,
        "recency_defaults": recency_defaults(X_train, table.feature_names,
                                             [f["kind"] for f in features]),
        "labels": labels,
        "data": {
            "source": ", ".join(os.path.basename(p.rstrip("/")) for p in paths),
            **fingerprint,
            "events": int(table.report.events),
            "users": n_users, "rows": int(len(y)), "churned": n_pos,
            "rows_train": int(len(y_train)), "rows_test": int(len(y_test)),
            "positive_rate": float(n_pos / len(y)),
            "first_ts": table.report.first_ts, "last_ts": table.report.last_ts,
        },
        "params": {**params, "random_state": seed},
        "forest_search": search,
        "validation": validation,
        "cv": {"n_splits": n_splits, "seed": seed, "scheme": comparison["validation"]["scheme"],
               "models": comparison["models"]},
        "verdict": comparison["verdict"],
        "gains": {"test": gains(y_test, proba, source="the withheld test set"), "cv": comparison["gains"]},
        "warnings": warnings + ([comparison["verdict"]["warning"]] if comparison["verdict"]["warning"] else []),
        "calibration": {**calibration.to_json(),
                        "rule": "isotonic or Platt, whichever has the lower cross-validated log loss on the "
                                "out-of-fold probabilities of the training part; none when neither improves",
                        "applies_to": "the displayed P(churn); the verdict is raw P > threshold, the same as "
                                      "calibrated P > calibrated threshold",
                        "threshold": float(calibration.apply(threshold)),
                        "test": {"before": reliability(y_test, proba),
                                 "after": reliability(y_test, calibration.apply(proba))}},
        "test": {
            "metrics": test_metrics,
            "confusion_matrix": [[int(v) for v in row] for row in test["confusion_matrix"]],
            "roc_curve": {"fpr": fpr.tolist(), "tpr": tpr.tolist(), "thresholds": _finite(roc_thr)},
            "pr_curve": {"precision": precision.tolist(), "recall": recall.tolist(), "thresholds": _finite(pr_thr)},
            "probabilities": {"churned": proba[y_test == 1].tolist(), "stayed": proba[y_test == 0].tolist()},
        },
        "explanations": explanations,
        "timings_seconds": timings,
    }
    model.threshold = threshold
    model.metadata = _json_safe(metadata)
    saved = None
    if model_path is not None:
        saved = os.fspath(model_path)
        folder, name = os.path.split(os.path.abspath(saved))
        os.makedirs(folder, exist_ok=True)
        # Saved under a hidden name and renamed: a server reading the path never sees half a model.
        partial = os.path.join(folder, f".{name}.partial")
        try:
            model.save(partial)
            os.replace(partial, saved)
        finally:
            if os.path.exists(partial):
                os.remove(partial)
        steps(f"saved the model to {saved}")
    return TrainResult(model=model, table=table, comparison=comparison, test_metrics=test_metrics,
                       model_path=saved, timings=timings, warnings=metadata["warnings"])


def _given(forest_params: Optional[Mapping[str, Any]],
           forest_search: Optional[Mapping[str, Sequence[Any]]]) -> Dict[str, Any]:
    """The searchable settings the user gave (they win over the search)."""
    searchable = set(forest_search or ()) | set(FOREST_SEARCH)
    return {k: v for k, v in (forest_params or {}).items() if k in searchable}


def _no_search_sentence(given: Mapping[str, Any]) -> str:
    if given:
        return "forest settings given, not searched: " + ", ".join(f"{k}={v}" for k, v in given.items())
    return "forest settings: the defaults, not searched"


def _withheld_split(table: FeatureTable, y: np.ndarray, test_size: float, seed: int, n_splits: int):
    """(train rows, test rows, validation description) for train(): see the module docstring."""
    if not table.is_snapshots:
        train_idx, test_idx = _churn.stratified_train_test_split(y, test_size=test_size, seed=seed)
        return train_idx, test_idx, {
            "scheme": "stratified_kfold", "test": "stratified_holdout",
            "description": f"{n_splits}-fold stratified cross-validation on the training part (one row per user)",
            "test_description": f"a stratified {test_size:.0%} of the users ({len(test_idx)} rows)"}
    T = int(table.snapshot_cutoffs[-1])
    cv = (f"{n_splits}-fold stratified group cross-validation by user on the training part (no user in two folds; "
          "threshold tuned on grouped inner folds)")
    try:
        train_idx, test_idx = _churn.out_of_time_split(table.cutoffs, table.horizon_days, T)
        y_tr = y[train_idx]
        users = np.asarray(table.user_ids, dtype=object)[train_idx]
        if len(set(users[y_tr == 1].tolist())) >= 2 * n_splits and 0 < y[test_idx].sum() < test_idx.size:
            return train_idx, test_idx, {
                "scheme": "stratified_group_kfold", "test": "out_of_time", "split_ms": T,
                "split": _churn._format_utc(T),
                "description": cv,
                "test_description": (f"out of time: the {len(test_idx)} rows at the last cutoff {_churn._format_utc(T)}; "
                                     f"training only on the {len(train_idx)} rows whose {table.horizon_days:g}-day "
                                     f"label window ends by then (cutoff + horizon <= {_churn._format_utc(T)})")}
    except _churn.DataError:
        pass
    # No room for an out-of-time test (too few cutoffs a horizon before the last): hold out users.
    k = max(2, int(round(1 / test_size)))
    train_idx, test_idx = stratified_group_kfold(y, group_codes(table.user_ids), n_splits=k, shuffle=True, seed=seed)[0]
    return np.asarray(train_idx), np.asarray(test_idx), {
        "scheme": "stratified_group_kfold", "test": "group_holdout", "description": cv,
        "test_description": (f"the rows of a stratified 1/{k} of the users ({len(test_idx)} rows; no user on both "
                             "sides). The log has no room for an out-of-time test: it needs cutoffs one horizon "
                             "before the last (a shorter --horizon-days or a longer log)")}


def _json_safe(value):
    """NaN and infinities as None, numpy scalars as Python numbers (the model file is strict JSON)."""
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if np.isfinite(value) else None
    return value


def who_is_in_the_table(table: FeatureTable) -> str:
    """One line: which of the log's users are rows of the table, and what "churned" means there (the
    log's own user and cancellation counts are larger: they include users left out at the cutoff)."""
    r = table.report
    if table.is_snapshots:
        return (f"the table holds one row per user and cutoff ({len(table):,} rows of {len(set(table.user_ids)):,} "
                f"users at {len(table.snapshot_cutoffs)} cutoffs), each from the user's events before that cutoff; "
                f"churned = cancelled within {table.horizon_days:g} days after the row's cutoff")
    if table.cutoff is None:
        return (f"the table holds all {r.users_seen:,} users of the log; churned = cancelled at any time "
                "(history labels)")
    return (f"the table holds the users active before the cutoff {table.cutoff:%Y-%m-%d} who had not cancelled "
            f"by then ({len(table):,} of the log's {r.users_seen:,}: {r.users_cancelled_before_cutoff:,} had "
            f"cancelled, {r.users_without_events_before_cutoff:,} arrived later); churned = cancelled within "
            f"{table.horizon_days:g} days after it")


def _named(X: np.ndarray, names: List[str]):
    """X with its column names: a pandas DataFrame when pandas is installed."""
    try:
        import pandas as pd
    except ImportError:
        return X
    return pd.DataFrame(X, columns=names, copy=False)


def _finite(values: np.ndarray) -> List[Optional[float]]:
    """JSON has no infinity: scikit-learn's first ROC threshold is +inf; write it as null."""
    return [float(v) if np.isfinite(v) else None for v in np.asarray(values, dtype=float)]


@renamed_keyword("n_jobs", "threads", threads_from_n_jobs)
def evaluate(events: Union[PathLike, Sequence[PathLike]], *, label: str = "window", cutoff: Any = None,
             horizon_days: float = 30.0, session_gap_minutes: float = 30.0, n_splits: int = 5, seed: int = 0,
             forest_params: Optional[Dict[str, Any]] = None, threads: Optional[int] = None, strict: bool = True,
             sklearn_reference: bool = False, log: Optional[Callable[[str], None]] = _log_to_stderr,
             cutoffs: Optional[Sequence[Any]] = None, every_days: Optional[int] = None,
             min_history_days: float = 14.0,
             forest_search: Optional[Mapping[str, Sequence[Any]]] = FOREST_SEARCH) -> Dict[str, Any]:
    """The model comparison alone, cross-validated over all rows (no withheld test set): stratified
    k-fold for a one-cutoff table; for a snapshot table stratified group k-fold by user plus an
    out-of-time validation (``"out_of_time"``, None when the log has no room for it). Adds
    ``"verdict"``, ``"gains"`` and ``"warnings"`` (see :func:`compare_models`, :func:`check_learnable`).
    The forest's settings are chosen as :func:`train` chooses them (``forest_search``), on all rows'
    folds, and the out-of-time validation uses the chosen forest."""
    steps = _Steps(log)
    paths = _paths_of(events)
    grid = search_space(forest_params, forest_search)
    given = _given(forest_params, forest_search)
    steps(f"reading and aggregating {', '.join(paths)}")
    table = user_features(paths, label=label, cutoff=cutoff, horizon_days=horizon_days,
                          session_gap_minutes=session_gap_minutes, strict=strict,
                          threads=threads, cutoffs=cutoffs, every_days=every_days,
                          min_history_days=min_history_days)
    X, y = np.asarray(table.X, dtype=np.float64), np.asarray(table.y, dtype=np.int64)  # a view: no copy
    what = (f"{len(y)} rows ({len(set(table.user_ids))} users x {len(table.snapshot_cutoffs)} cutoffs)"
            if table.is_snapshots else f"{len(y)} users")
    steps(f"{what}, {int(y.sum())} churned, {X.shape[1]} features")
    steps(who_is_in_the_table(table))
    warnings = check_learnable(table, n_splits, paths)
    for w in warnings:
        steps(w)
    groups = np.asarray(table.user_ids, dtype=object).astype(str) if table.is_snapshots else None
    report = compare_models(X, y, forest_params=forest_params, n_splits=n_splits, seed=seed, threads=threads,
                            sklearn_reference=sklearn_reference, log=steps, groups=groups,
                            forest_search=grid, given_params=given)
    report["out_of_time"] = out_of_time_evaluation(table, forest_params=report["forest_params"], seed=seed,
                                                   threads=threads, log=steps) if table.is_snapshots else None
    if table.is_snapshots and report["out_of_time"] is None:
        warnings.append("note: no out-of-time validation: the log has no room for training rows whose label window "
                        "ends by the last cutoff (use a shorter --horizon-days or a longer log)")
    if report["verdict"]["warning"]:
        warnings.append(report["verdict"]["warning"])
    report["warnings"] = warnings
    return report


def format_evaluation(report: Dict[str, Any]) -> str:
    """What ``churn evaluate`` prints: the scheme, the table, the out-of-time results, the verdict, the
    gains and the warnings."""
    lines = [f"validation: {report['validation']['description']}"]
    if report.get("forest_search"):
        lines.append(report["forest_search"]["sentence"])
    lines += [format_comparison(report["models"]), ""]
    oot = report.get("out_of_time")
    if oot:
        lines.append(f"out of time: trained on {oot['n_train']} rows whose label window ends by {oot['split']}, "
                     f"tested on the {oot['n_test']} rows at {oot['split']} ({oot['churned_test']} churned)")
        for name, m in oot["models"].items():
            lines.append(f"  {name:<22} ROC AUC {m['roc_auc']:.3f}  PR AUC {m['average_precision']:.3f}  "
                         f"F1 {m['f1']:.3f}")
        lines.append("")
    lines.append(report["verdict"]["sentence"])
    lines.append(report["gains"]["sentence"])
    lines.extend(w for w in report.get("warnings", []) if w != report["verdict"]["sentence"])
    return "\n".join(lines)
