"""From an event log to a validated, saved model: the pipeline behind ``churn train``, ``churn
evaluate`` and ``examples/webserver/build_model.py``.

1. read and aggregate the events into per-user features and labels (``churn.user_features``);
2. split off a stratified, withheld test set;
3. 5-fold stratified cross-validation on the training part: the random forest beside the baselines
   (always-majority, L2 logistic regression), in the same folds, the F1 threshold tuned inside each
   training fold;
4. the final forest on the whole training part, its decision threshold the one maximising F1 on the
   cross-validated (out-of-fold) probabilities of the training part;
5. one evaluation on the withheld test set; everything the web app needs goes into the model's metadata
   (see docs/model-metadata.md), and the model is saved.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

import numpy as np

from . import __version__, _churn
from .evaluation import LogisticRegression, cross_validate
from .features import FeatureTable, user_features

PathLike = Union[str, "os.PathLike[str]"]

#: Forest settings used when none are given: good on Sparkify-like data without tuning.
DEFAULT_FOREST_PARAMS: Dict[str, Any] = {
    "n_estimators": 300,
    "max_features": "sqrt",
    "min_samples_leaf": 1,
    "class_weight": None,
    "bootstrap": True,
}

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


def _summarise_cv(result: Dict[str, Any]) -> Dict[str, Any]:
    """The JSON-friendly part of a cross_validate result: metrics per fold, mean and std."""
    folds = result["folds"]
    metrics = {}
    for name in METRICS:
        per_fold = [float(f["tuned"][name]) for f in folds]
        metrics[name] = {"mean": float(np.mean(per_fold)), "std": float(np.std(per_fold)), "folds": per_fold}
    thresholds = [float(f["threshold"]) for f in folds]
    return {"metrics": metrics, "threshold": {"mean": float(np.mean(thresholds)), "folds": thresholds}}


def _forest(params: Dict[str, Any], seed: int, n_jobs: int):
    from .forest import RandomForestClassifier

    return RandomForestClassifier(**{**params, "random_state": seed, "n_jobs": n_jobs})


def compare_models(X: np.ndarray, y: np.ndarray, *, forest_params: Optional[Dict[str, Any]] = None,
                   n_splits: int = 5, seed: int = 0, n_jobs: int = -1, sklearn_reference: bool = False,
                   log: Optional[Callable[[str], None]] = None) -> Dict[str, Any]:
    """Cross-validates the forest and the baselines on the same stratified folds.

    Returns ``{"n_splits", "seed", "models": {name: {"metrics": {metric: {mean, std, folds}},
    "threshold": {...}, "seconds": float}}, "oof_proba": {name: array}}``. With sklearn_reference, also
    scikit-learn's RandomForestClassifier with the same settings (when scikit-learn is installed).
    """
    params = {**DEFAULT_FOREST_PARAMS, **(forest_params or {})}
    folds = _churn.stratified_kfold(y, n_splits=n_splits, shuffle=True, seed=seed)
    candidates: Dict[str, Any] = {
        "random_forest": _forest(params, seed, n_jobs),
        "logistic_regression": LogisticRegression(),
        "majority": "majority",
    }
    if sklearn_reference:
        try:
            from sklearn.ensemble import RandomForestClassifier as SkForest

            sk_params = {k: v for k, v in params.items() if k in ("n_estimators", "max_features", "min_samples_leaf",
                                                                   "class_weight", "bootstrap", "max_depth")}
            candidates["sklearn_random_forest"] = SkForest(**sk_params, random_state=seed,
                                                           n_jobs=n_jobs if n_jobs > 0 else -1)
        except ImportError:
            if log:
                log("scikit-learn is not installed: no reference model")
    report: Dict[str, Any] = {"n_splits": n_splits, "seed": seed, "models": {}, "oof_proba": {}}
    for name, estimator in candidates.items():
        if log:
            log(f"cross-validating {name} ({n_splits} folds)")
        start = time.perf_counter()
        result = cross_validate(estimator, X, y, folds=folds, seed=seed)
        summary = _summarise_cv(result)
        summary["seconds"] = time.perf_counter() - start
        report["models"][name] = summary
        report["oof_proba"][name] = np.asarray(result["oof_proba"], dtype=float)
    return report


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

    def summary(self) -> str:
        m = self.test_metrics
        lines = [
            format_comparison(self.comparison["models"]),
            "",
            f"withheld test set ({m['n']} users, threshold {self.model.threshold:.3f}): "
            f"F1 {m['f1']:.3f}  precision {m['precision']:.3f}  recall {m['recall']:.3f}  "
            f"ROC AUC {m['roc_auc']:.3f}  PR AUC {m['average_precision']:.3f}",
        ]
        if self.model_path:
            lines.append(f"model saved to {self.model_path}")
        return "\n".join(lines)


def train(events: Union[PathLike, Sequence[PathLike]], model_path: Optional[PathLike] = None, *,
          label: str = "window", cutoff: Any = None, horizon_days: float = 30.0,
          session_gap_minutes: float = 30.0, test_size: float = 0.2, n_splits: int = 5, seed: int = 0,
          forest_params: Optional[Dict[str, Any]] = None, n_jobs: int = -1, strict: bool = True,
          sklearn_reference: bool = False, threshold: Optional[float] = None,
          log: Optional[Callable[[str], None]] = _log_to_stderr) -> TrainResult:
    """Builds, validates and (when model_path is given) saves a churn model from event logs.

    The labelling options are those of :func:`churn.user_features`; forest_params override
    ``DEFAULT_FOREST_PARAMS`` (scikit-learn's names). The model's decision threshold (churn when
    P(churn) > threshold, the rule of its ``predict``) is the one maximising F1 on the training part's
    out-of-fold probabilities, or ``threshold`` when given (0.5: scikit-learn's ``predict``). Raises ChurnError subclasses on bad input, and
    DataError when the data cannot support the evaluation (too few users of a class for the folds).
    """
    steps = _Steps(log)
    timings: Dict[str, float] = {}
    if threshold is not None and not (isinstance(threshold, (int, float)) and 0 <= threshold <= 1):
        raise _churn.ParameterError(f"invalid value for parameter 'threshold': {threshold!r}; allowed: a float in [0, 1]")
    paths = _paths_of(events)
    params = {**DEFAULT_FOREST_PARAMS, **(forest_params or {})}
    # Estimators validate parameters when fitted (scikit-learn's convention): a fit on two rows checks
    # them before minutes of reading and aggregating.
    _forest(params, seed, 1).fit(np.array([[0.0], [1.0]]), np.array([0, 1]))

    t0 = time.perf_counter()
    steps(f"reading and aggregating {', '.join(paths)}")
    table = user_features(paths, label=label, cutoff=cutoff, horizon_days=horizon_days,
                          session_gap_minutes=session_gap_minutes, strict=strict,
                          threads=None if n_jobs < 1 else n_jobs)
    timings["features"] = time.perf_counter() - t0
    X, y = np.asarray(table.X, dtype=np.float64), np.asarray(table.y, dtype=np.int64)  # a view: no copy
    n_pos = int(y.sum())
    steps(f"{len(y)} users, {n_pos} churned ({n_pos / max(len(y), 1):.1%}), {X.shape[1]} features; "
          f"{table.report.events} events")
    min_class = min(n_pos, len(y) - n_pos)
    needed = n_splits * 2
    if min_class < needed:
        raise _churn.DataError(
            f"too few users of one class to evaluate: {n_pos} churned and {len(y) - n_pos} stayed; "
            f"{n_splits}-fold cross-validation on a {1 - test_size:.0%} training part needs at least "
            f"{needed} of each (use a longer log, a later cutoff or a longer horizon)")

    train_idx, test_idx = _churn.train_test_split_stratified(y, test_size=test_size, seed=seed)
    X_train, y_train, X_test, y_test = X[train_idx], y[train_idx], X[test_idx], y[test_idx]

    t0 = time.perf_counter()
    comparison = compare_models(X_train, y_train, forest_params=params, n_splits=n_splits, seed=seed,
                                n_jobs=n_jobs, sklearn_reference=sklearn_reference, log=steps)
    timings["cross_validation"] = time.perf_counter() - t0
    if threshold is None:
        threshold_rule = "maximises F1 on the cross-validated (out-of-fold) probabilities of the training part"
        threshold = float(_churn.best_f1_threshold(y_train, comparison["oof_proba"]["random_forest"])["threshold"])
    else:
        threshold_rule = "given"
        threshold = float(threshold)

    t0 = time.perf_counter()
    steps(f"fitting the final forest on {len(y_train)} users")
    model = _forest(params, seed, n_jobs)
    # Fitted on named columns, the saved model carries the feature names (the app and `explain` use them).
    model.fit(_named(X_train, table.feature_names), y_train)
    timings["final_fit"] = time.perf_counter() - t0

    steps(f"evaluating once on the withheld test set ({len(y_test)} users)")
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
        entry["importance"] = float(importances[j])
        entry["permutation_importance"] = float(permutation["importances_mean"][j])
        features.append(entry)

    test_metrics = {k: (float(v) if isinstance(v, (int, float, np.floating)) else v) for k, v in test.items()
                    if k != "confusion_matrix"}
    test_metrics["n"] = int(len(y_test))
    fingerprint = data_fingerprint(paths)
    metadata = {
        "kind": "churn-model",
        "library_version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "threshold": threshold,
        "threshold_rule": threshold_rule,
        "features": features,
        "labels": {"mode": table.label, "cutoff_ms": table.cutoff_ms, "horizon_days": table.horizon_days,
                   "session_gap_minutes": table.session_gap_minutes},
        "data": {
            "source": ", ".join(os.path.basename(p.rstrip("/")) for p in paths),
            **fingerprint,
            "events": int(table.report.events),
            "users": int(len(y)), "churned": n_pos,
            "rows_train": int(len(y_train)), "rows_test": int(len(y_test)),
            "positive_rate": float(n_pos / len(y)),
            "first_ts": table.report.first_ts, "last_ts": table.report.last_ts,
        },
        "params": {**params, "random_state": seed},
        "cv": {"n_splits": n_splits, "seed": seed, "models": comparison["models"]},
        "test": {
            "metrics": test_metrics,
            "confusion_matrix": [[int(v) for v in row] for row in test["confusion_matrix"]],
            "roc_curve": {"fpr": fpr.tolist(), "tpr": tpr.tolist(), "thresholds": _finite(roc_thr)},
            "pr_curve": {"precision": precision.tolist(), "recall": recall.tolist(), "thresholds": _finite(pr_thr)},
            "probabilities": {"churned": proba[y_test == 1].tolist(), "stayed": proba[y_test == 0].tolist()},
        },
        "timings_seconds": timings,
    }
    model.threshold = threshold
    model.metadata = metadata
    saved = None
    if model_path is not None:
        saved = os.fspath(model_path)
        os.makedirs(os.path.dirname(os.path.abspath(saved)), exist_ok=True)
        model.save(saved)
        steps(f"saved the model to {saved}")
    return TrainResult(model=model, table=table, comparison=comparison, test_metrics=test_metrics,
                       model_path=saved, timings=timings)


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


def evaluate(events: Union[PathLike, Sequence[PathLike]], *, label: str = "window", cutoff: Any = None,
             horizon_days: float = 30.0, session_gap_minutes: float = 30.0, n_splits: int = 5, seed: int = 0,
             forest_params: Optional[Dict[str, Any]] = None, n_jobs: int = -1, strict: bool = True,
             sklearn_reference: bool = False,
             log: Optional[Callable[[str], None]] = _log_to_stderr) -> Dict[str, Any]:
    """The model comparison alone, cross-validated over all users (no withheld test set)."""
    steps = _Steps(log)
    paths = _paths_of(events)
    steps(f"reading and aggregating {', '.join(paths)}")
    table = user_features(paths, label=label, cutoff=cutoff, horizon_days=horizon_days,
                          session_gap_minutes=session_gap_minutes, strict=strict,
                          threads=None if n_jobs < 1 else n_jobs)
    X, y = np.asarray(table.X, dtype=np.float64), np.asarray(table.y, dtype=np.int64)  # a view: no copy
    steps(f"{len(y)} users, {int(y.sum())} churned, {X.shape[1]} features")
    return compare_models(X, y, forest_params=forest_params, n_splits=n_splits, seed=seed, n_jobs=n_jobs,
                          sklearn_reference=sklearn_reference, log=steps)
