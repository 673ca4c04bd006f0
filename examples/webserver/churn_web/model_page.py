"""The model page: what the model is, its data, cross-validated and test metrics, and charts."""
from __future__ import annotations

import math
from typing import Any, Dict, List, Mapping, Optional, Tuple

from flask import Blueprint, render_template

from churn.dates import day_text
from churn.report import (METRIC_MEANINGS, PERMUTATION_EXPLANATION, calibration_view, gains_view, plain_summary,
                          stored_calibration, top_signals, verdict_view)

from .explain import shap_summary
from .model import ModelService, format_number, service

bp = Blueprint("model_page", __name__)

METRIC_NAMES = {
    "roc_auc": "ROC AUC", "average_precision": "Average precision", "f1": "F1", "precision": "Precision",
    "recall": "Recall", "accuracy": "Accuracy", "balanced_accuracy": "Balanced accuracy",
    "log_loss": "Log loss", "brier": "Brier score",
}
MAX_CURVE_POINTS = 400


def _numbers(value: Any) -> List[float]:
    if not isinstance(value, list):
        return []
    return [float(v) for v in value if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)]


def _thin(xs: List[float], ys: List[float]) -> Dict[str, List[float]]:
    """At most MAX_CURVE_POINTS points, keeping both ends: enough for a 600-pixel chart."""
    n = min(len(xs), len(ys))
    step = max(1, math.ceil(n / MAX_CURVE_POINTS))
    idx = list(range(0, n, step))
    if n and idx[-1] != n - 1:
        idx.append(n - 1)
    return {"x": [xs[i] for i in idx], "y": [ys[i] for i in idx]}


def _histogram(values: List[float], bins: int = 20) -> List[int]:
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, max(0, int(v * bins)))] += 1
    return counts


def _snapshot_span(labels: Mapping[str, Any]) -> Optional[Tuple[str, str]]:
    """(first, last) cutoff date of a snapshot model (one row per user and cutoff), else None."""
    cutoffs = labels.get("snapshot_cutoffs_ms")
    dates = [d for d in (_date(c) for c in cutoffs) if d] if isinstance(cutoffs, list) else []
    return (dates[0], dates[-1]) if len(dates) > 1 else None


def _metric_rows(metrics: Mapping[str, Any], calibration: Optional[Mapping[str, Any]] = None) -> List[Dict[str, str]]:
    """The test metrics in a fixed order. Brier score and log loss score probabilities: the stored ones are
    the forest's raw vote shares, so beside a calibration they say so and give the calibrated value."""
    after = (calibration or {}).get("scores", {}).get("after", {}) if calibration and \
        calibration.get("method") != "none" else {}
    rows = []
    for key, name in METRIC_NAMES.items():  # a fixed order, and only metrics (not counts or thresholds)
        value = metrics.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            meaning = METRIC_MEANINGS.get(key, "")
            if key in ("brier", "log_loss") and isinstance(after.get(key), (int, float)):
                meaning += f"; of the forest's raw scores (of the calibrated probabilities shown: {after[key]:.3f})"
            rows.append({"name": name, "value": f"{value:.3f}", "meaning": meaning.strip()})
    return rows


def _cv_table(cv: Mapping[str, Any]):
    models = cv.get("models") if isinstance(cv.get("models"), Mapping) else {}
    metric_keys: List[str] = []
    for m in models.values():
        for k in (m.get("metrics") or {}) if isinstance(m, Mapping) else {}:
            if k not in metric_keys:
                metric_keys.append(k)
    rows = []
    for name, m in models.items():
        metrics = m.get("metrics") if isinstance(m, Mapping) else {}
        cells = []
        for k in metric_keys:
            v = metrics.get(k) if isinstance(metrics, Mapping) else None
            mean = v.get("mean") if isinstance(v, Mapping) else v
            std = v.get("std") if isinstance(v, Mapping) else None
            if isinstance(mean, (int, float)) and not isinstance(mean, bool):
                cells.append(f"{mean:.3f}" + (f" ± {std:.3f}" if isinstance(std, (int, float)) else ""))
            else:
                cells.append("—")
        rows.append({"name": name.replace("_", " "), "cells": cells})
    return [METRIC_NAMES.get(k, k) for k in metric_keys], rows


_date = day_text  # epoch milliseconds as a UTC date (YYYY-MM-DD), or None


def chart_data(svc: ModelService) -> Dict[str, Any]:
    meta = svc.metadata
    test = meta.get("test") if isinstance(meta.get("test"), Mapping) else {}
    roc = test.get("roc_curve") if isinstance(test.get("roc_curve"), Mapping) else {}
    pr = test.get("pr_curve") if isinstance(test.get("pr_curve"), Mapping) else {}
    probs = test.get("probabilities") if isinstance(test.get("probabilities"), Mapping) else {}
    ranked = svc.fields_by_importance()[:20]
    data: Dict[str, Any] = {
        "threshold": svc.threshold,
        "calibrated": svc.calibrated,
        "importance": {
            "labels": [f.name for f in ranked],
            "impurity": [f.importance for f in ranked],
            "permutation": [f.permutation_importance for f in ranked] if any(
                f.permutation_importance is not None for f in ranked) else None,
        },
    }
    if roc:
        data["roc"] = _thin(_numbers(roc.get("fpr")), _numbers(roc.get("tpr")))
    if pr:
        data["pr"] = _thin(_numbers(pr.get("recall")), _numbers(pr.get("precision")))
    churned, stayed = _numbers(probs.get("churned")), _numbers(probs.get("stayed"))
    cal = stored_calibration(meta)
    if cal is not None:  # probabilities shown are calibrated, here as everywhere
        churned = [float(v) for v in cal.apply(churned)] if churned else churned
        stayed = [float(v) for v in cal.apply(stayed)] if stayed else stayed
    gains = gains_view(meta)
    if gains and gains["curve"]:
        data["gains"] = {"model": _thin(gains["curve"]["x"], gains["curve"]["y"]), "base_rate": gains["base_rate"]}
    calibration = calibration_view(meta)
    if calibration and (calibration["before"] or calibration["after"]):
        def points(bins):
            return {"x": [b["predicted"] for b in bins], "y": [b["observed"] for b in bins],
                    "rows": [b["rows"] for b in bins]}

        data["reliability"] = {
            "before": points(calibration["before"]),
            "after": points(calibration["after"]) if calibration["method"] != "none" else None}
    if churned or stayed:
        data["histogram"] = {"bins": [f"{i / 20:.2f}" for i in range(20)], "churned": _histogram(churned),
                             "stayed": _histogram(stayed)}
    return data


def _search_view(search: Any) -> Optional[Dict[str, Any]]:
    """The forest_search metadata (validated at load) for the template; None when the model has none."""
    if not isinstance(search, Mapping) or not isinstance(search.get("sentence"), str):
        return None
    return {"sentence": search["sentence"].rstrip("."), "criterion": search.get("criterion") or "cross-validation",
            "chosen": dict(search.get("chosen") or {}), "given": dict(search.get("given") or {}),
            "candidates": [c for c in search.get("candidates") or [] if isinstance(c, Mapping)
                           and isinstance(c.get("roc_auc"), Mapping) and isinstance(c["roc_auc"].get("mean"), (int, float))
                           and isinstance(c["roc_auc"].get("std"), (int, float))]}


@bp.route("/model")
def model_page():
    svc = service()
    meta = svc.metadata
    test = meta.get("test") if isinstance(meta.get("test"), Mapping) else {}
    cm = test.get("confusion_matrix")
    if not (isinstance(cm, list) and len(cm) == 2 and all(isinstance(r, list) and len(r) == 2 for r in cm)):
        cm = None
    cv = meta.get("cv") if isinstance(meta.get("cv"), Mapping) else {}
    cv_metrics, cv_rows = _cv_table(cv)
    labels = svc.label_options
    params = meta.get("params") if isinstance(meta.get("params"), Mapping) else {}
    search = _search_view(meta.get("forest_search"))
    rows_test = (meta.get("data") or {}).get("rows_test") if isinstance(meta.get("data"), Mapping) else None
    return render_template(
        "model.html", meta=meta, plain=plain_summary(meta), signals=top_signals(meta),
        permutation_text=PERMUTATION_EXPLANATION.format(n=format_number(rows_test) if rows_test else "few"),
        has_permutation=any(f.permutation_importance is not None for f in svc.fields),
        data=meta.get("data") if isinstance(meta.get("data"), Mapping) else {},
        labels=labels, cutoff=_date(labels.get("cutoff_ms")), snapshot_span=_snapshot_span(labels),
        test_metrics=_metric_rows(test.get("metrics") or {}, calibration_view(meta))
        if isinstance(test.get("metrics"), Mapping) else [],
        confusion=cm, cv=cv, cv_metrics=cv_metrics, cv_rows=cv_rows, params=params, search=search,
        charts=chart_data(svc), fields=svc.fields_by_importance(), fmt=format_number, shap=shap_summary(meta),
        n_trees=svc.model.n_estimators, verdict=verdict_view(meta), gains=gains_view(meta),
        calibration=calibration_view(meta),
    )
