"""Validation of a model's metadata (docs/model-metadata.md) at load time.

The tree structure of a model file is checked by the C++ loader; the metadata object beside it is
free-form JSON. The web demo and ``churn report`` read parts of it, and a value of the wrong type or
size there (``labels.cutoff_ms = 1e300``, a probability of ``1e308``, ``categories: 5``...) loaded fine
and then broke a page later with a 500 (issue 15). :func:`check_metadata` checks every key those
readers use, when present, and raises :class:`churn.ModelFormatError` with the JSON path of the first
problem (``/metadata/labels/cutoff_ms``), so a bad file is refused when it is loaded. Keys it does not
know are left alone; any documented key may be absent.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

from . import _churn

__all__ = ["check_metadata", "MAX_ABS_VALUE"]

#: The largest magnitude of a feature statistic: the forest compares float32 values, and a default
#: beyond float32's range cannot be predicted from.
MAX_ABS_VALUE = 3.4028234663852886e38
#: Event times churn accepts: the years 1 to 9999, in epoch milliseconds.
_MIN_MS, _MAX_MS = -62135596800000, 253402300799999


def _error(path: str, message: str) -> Exception:
    e = _churn.ModelFormatError(f"model format error at {path}: {message}")
    e.path = path
    return e


def _type(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number" if isinstance(value, (int, float)) else type(value).__name__)


def _object(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _error(path, f"expected an object, got {_type(value)}")
    return value


def _list(value: Any, path: str) -> list:
    if not isinstance(value, list):
        raise _error(path, f"expected an array, got {_type(value)}")
    return value


def _string(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise _error(path, f"expected a string, got {_type(value)}")
    return value


def _number(value: Any, path: str, low: float = -MAX_ABS_VALUE, high: float = MAX_ABS_VALUE,
            nullable: bool = False) -> None:
    if value is None and nullable:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _error(path, f"expected a number, got {_type(value)}")
    if not (math.isfinite(value) and low <= value <= high):
        raise _error(path, f"{value!r} is outside [{low:g}, {high:g}]")


def _integer(value: Any, path: str, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or isinstance(value, float):
        raise _error(path, f"expected an integer, got {_type(value)}")
    if not low <= value <= high:
        raise _error(path, f"{value} is outside [{low}, {high}]")


def _numbers(value: Any, path: str, low: float = -MAX_ABS_VALUE, high: float = MAX_ABS_VALUE,
             nullable: bool = False) -> None:
    for i, v in enumerate(_list(value, path)):
        _number(v, f"{path}/{i}", low, high, nullable)


def _metric(value: Any, path: str) -> None:
    """A metric: a number, or {"mean", "std", "folds"} of numbers."""
    if isinstance(value, Mapping):
        for key in ("mean", "std"):
            if key in value:
                _number(value[key], f"{path}/{key}", nullable=True)
        if "folds" in value:
            _numbers(value["folds"], f"{path}/folds", nullable=True)
    else:
        _number(value, path, nullable=True)


def _check_feature(e: Any, path: str) -> None:
    e = _object(e, path)
    if "name" in e:
        _string(e["name"], f"{path}/name")
    for key in ("description", "unit"):
        if key in e and e[key] is not None:
            _string(e[key], f"{path}/{key}")
    if "kind" in e and e["kind"] not in ("numeric", "categorical"):
        raise _error(f"{path}/kind", f"expected \"numeric\" or \"categorical\", got {e['kind']!r}")
    if "categories" in e and e["categories"] is not None:
        for i, c in enumerate(_list(e["categories"], f"{path}/categories")):
            _string(c, f"{path}/categories/{i}")
    if "integer" in e and not isinstance(e["integer"], bool):
        raise _error(f"{path}/integer", f"expected true or false, got {_type(e['integer'])}")
    for key in ("min", "max", "median", "q05", "q25", "q75", "q95", "importance", "permutation_importance"):
        if key in e:
            _number(e[key], f"{path}/{key}", nullable=True)
    if e.get("percentiles") is not None:
        _numbers(e["percentiles"], f"{path}/percentiles")
    if e.get("category_shares") is not None:  # the share of training customers in each category
        _numbers(e["category_shares"], f"{path}/category_shares", 0.0, 1.0)
        categories = e.get("categories")
        if isinstance(categories, list) and len(e["category_shares"]) != len(categories):
            raise _error(f"{path}/category_shares", f"expected {len(categories)} shares (one per category), got "
                                                    f"{len(e['category_shares'])}")


def _check_forest_settings(settings: Mapping[str, Any], path: str) -> None:
    """The forest settings the model page and the report show: min_samples_leaf (an int >= 1 or a
    fraction in (0, 1]), max_features (a name, an int >= 1, a fraction in (0, 1] or null)."""
    for name in ("min_samples_leaf", "max_features"):
        if name in settings:
            _check_setting(name, settings[name], f"{path}/{name}")


def _check_setting(name: str, value: Any, path: str) -> None:
    if name == "min_samples_leaf":
        if isinstance(value, float):
            _number(value, path, 1e-12, 1.0)
        else:
            _integer(value, path, 1, 2**53)
    elif name == "max_features" and value is not None:
        if isinstance(value, str):
            if value not in ("sqrt", "log2", "auto"):
                raise _error(path, f"expected \"sqrt\", \"log2\", a number or null, got {value!r}")
        elif isinstance(value, float):
            _number(value, path, 1e-12, 1.0)
        else:
            _integer(value, path, 1, 2**53)


def _check_forest_search(value: Any, path: str) -> None:
    """``forest_search``: the grid, the settings given, every candidate's settings and cross-validated
    ROC AUC, the choice and its sentence (written by churn.training.search_forest)."""
    search = _object(value, path)
    for key in ("criterion", "sentence"):
        if key in search and search[key] is not None:
            _string(search[key], f"{path}/{key}")
    if "grid" in search:
        for name, values in _object(search["grid"], f"{path}/grid").items():
            for i, v in enumerate(_list(values, f"{path}/grid/{name}")):
                _check_setting(name, v, f"{path}/grid/{name}/{i}")
    for key in ("given", "chosen"):
        if key in search and search[key] is not None:
            _check_forest_settings(_object(search[key], f"{path}/{key}"), f"{path}/{key}")
    for i, c in enumerate(_list(search.get("candidates", []), f"{path}/candidates")):
        cp = f"{path}/candidates/{i}"
        c = _object(c, cp)
        if "params" in c:
            _check_forest_settings(_object(c["params"], f"{cp}/params"), f"{cp}/params")
        if "roc_auc" in c:
            _object(c["roc_auc"], f"{cp}/roc_auc")
            for k in ("mean", "std"):
                if k in c["roc_auc"]:
                    _number(c["roc_auc"][k], f"{cp}/roc_auc/{k}", 0.0, 1.0, nullable=True)
            if "folds" in c["roc_auc"]:
                _numbers(c["roc_auc"]["folds"], f"{cp}/roc_auc/folds", 0.0, 1.0, nullable=True)
        if "seconds" in c:
            _number(c["seconds"], f"{cp}/seconds", 0.0, nullable=True)


def check_metadata(metadata: Any, path: str = "/metadata") -> None:
    """Raises ModelFormatError (``.path`` = the JSON path) for the first documented key of
    ``metadata`` (docs/model-metadata.md) that has the wrong type or an out-of-range value."""
    meta = _object(metadata, path)
    for key in ("kind", "library_version", "created", "threshold_rule"):
        if key in meta and meta[key] is not None:
            _string(meta[key], f"{path}/{key}")
    if "threshold" in meta:
        _number(meta["threshold"], f"{path}/threshold", 0.0, 1.0, nullable=True)
    if "features" in meta:
        for i, e in enumerate(_list(meta["features"], f"{path}/features")):
            _check_feature(e, f"{path}/features/{i}")
    if "recency_defaults" in meta and meta["recency_defaults"] is not None:
        rd = _object(meta["recency_defaults"], f"{path}/recency_defaults")
        rp = f"{path}/recency_defaults"
        if "feature" in rd:
            _string(rd["feature"], f"{rp}/feature")
        for i, band in enumerate(_list(rd.get("bands", []), f"{rp}/bands")):
            band = _object(band, f"{rp}/bands/{i}")
            _number(band.get("from"), f"{rp}/bands/{i}/from")
            _number(band.get("to"), f"{rp}/bands/{i}/to", nullable=True)
            if "medians" in band:
                for k, v in _object(band["medians"], f"{rp}/bands/{i}/medians").items():
                    _number(v, f"{rp}/bands/{i}/medians/{k}", nullable=True)
    if "labels" in meta:
        labels = _object(meta["labels"], f"{path}/labels")
        p = f"{path}/labels"
        if "mode" in labels and labels["mode"] not in ("window", "history"):
            raise _error(f"{p}/mode", f"expected \"window\" or \"history\", got {labels['mode']!r}")
        if "cutoff_ms" in labels and labels["cutoff_ms"] is not None:
            _integer(labels["cutoff_ms"], f"{p}/cutoff_ms", _MIN_MS, _MAX_MS)
        if "horizon_days" in labels:
            _number(labels["horizon_days"], f"{p}/horizon_days", 1e-9, 36500, nullable=True)
        if "session_gap_minutes" in labels:
            _number(labels["session_gap_minutes"], f"{p}/session_gap_minutes", 0, 1e7, nullable=True)
    if "data" in meta:
        data = _object(meta["data"], f"{path}/data")
        for key, value in data.items():
            if key in ("source", "sha256"):
                if value is not None:
                    _string(value, f"{path}/data/{key}")
            elif value is not None and not isinstance(value, str):
                _number(value, f"{path}/data/{key}")
    if "params" in meta:
        params = _object(meta["params"], f"{path}/params")
        _check_forest_settings(params, f"{path}/params")
    if "forest_search" in meta and meta["forest_search"] is not None:
        _check_forest_search(meta["forest_search"], f"{path}/forest_search")
    if "cv" in meta:
        cv = _object(meta["cv"], f"{path}/cv")
        if "models" in cv:
            for name, m in _object(cv["models"], f"{path}/cv/models").items():
                mp = f"{path}/cv/models/{name}"
                m = _object(m, mp)
                if "metrics" in m:
                    for k, v in _object(m["metrics"], f"{mp}/metrics").items():
                        _metric(v, f"{mp}/metrics/{k}")
                if "threshold" in m and m["threshold"] is not None:
                    _metric(m["threshold"], f"{mp}/threshold")
    if "test" in meta:
        test = _object(meta["test"], f"{path}/test")
        tp = f"{path}/test"
        if "metrics" in test:
            for k, v in _object(test["metrics"], f"{tp}/metrics").items():
                _number(v, f"{tp}/metrics/{k}", nullable=True)
        if "confusion_matrix" in test and test["confusion_matrix"] is not None:
            cm = _list(test["confusion_matrix"], f"{tp}/confusion_matrix")
            if len(cm) != 2:
                raise _error(f"{tp}/confusion_matrix", f"expected 2 rows, got {len(cm)}")
            for r, row in enumerate(cm):
                if len(_list(row, f"{tp}/confusion_matrix/{r}")) != 2:
                    raise _error(f"{tp}/confusion_matrix/{r}", f"expected 2 counts, got {len(row)}")
                for c, v in enumerate(row):
                    _integer(v, f"{tp}/confusion_matrix/{r}/{c}", 0, 2**53)
        for curve, keys in (("roc_curve", ("fpr", "tpr", "thresholds")), ("pr_curve", ("precision", "recall", "thresholds"))):
            if curve in test and test[curve] is not None:
                c = _object(test[curve], f"{tp}/{curve}")
                for k in keys:
                    if k in c:
                        low, high = (-MAX_ABS_VALUE, MAX_ABS_VALUE) if k == "thresholds" else (0.0, 1.0)
                        _numbers(c[k], f"{tp}/{curve}/{k}", low, high, nullable=k == "thresholds")
        if "probabilities" in test and test["probabilities"] is not None:
            probs = _object(test["probabilities"], f"{tp}/probabilities")
            for k in ("churned", "stayed"):
                if k in probs:
                    _numbers(probs[k], f"{tp}/probabilities/{k}", 0.0, 1.0)
