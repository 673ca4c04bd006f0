"""The loaded model and what the pages need to know about it, read from its metadata.

No model code lives here: predictions and contributions come from the churn package. This module
only reads the metadata contract (docs/model-metadata.md) and copes with models that lack parts of
it (the forest's own feature names, its impurity importances, a 0.5 threshold).
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional

import numpy as np

import churn
from churn.metadata import check_metadata

NUMERIC = "numeric"
CATEGORICAL = "categorical"


class ModelLoadError(RuntimeError):
    """The configured model file is missing or unreadable (raised at start-up)."""


def _number(value: Any) -> Optional[float]:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


@dataclass
class Field:
    """One model column as the form and the API see it."""

    name: str
    index: int
    description: str = ""
    unit: str = ""
    kind: str = NUMERIC
    categories: List[str] = field(default_factory=list)
    integer: bool = False
    min: Optional[float] = None
    max: Optional[float] = None
    median: Optional[float] = None
    q05: Optional[float] = None
    q25: Optional[float] = None
    q75: Optional[float] = None
    q95: Optional[float] = None
    importance: float = 0.0
    permutation_importance: Optional[float] = None

    @property
    def categorical(self) -> bool:
        return self.kind == CATEGORICAL

    @property
    def label(self) -> str:
        """A short human name: 'thumbs_down_per_song' -> 'Thumbs down per song'."""
        text = self.name.replace("_", " ").strip()
        return text[:1].upper() + text[1:]

    @property
    def default(self) -> Optional[float]:
        """The value a missing input takes: the training median (a category code for categorical)."""
        if self.median is None:
            return None
        if self.categorical:
            code = int(round(self.median))
            return float(code) if 0 <= code < len(self.categories) else None
        if self.integer or self.unit == "0/1":
            return float(round(self.median))  # a form default must pass the field's own step check
        return self.median

    @property
    def lower_bound(self) -> Optional[float]:
        """The smallest value accepted: 0 for features that were never negative in training."""
        if self.unit in ("0/1", "fraction"):
            return 0.0
        if self.min is not None and self.min >= 0:
            return 0.0
        return None

    @property
    def upper_bound(self) -> Optional[float]:
        """The largest value accepted: 1 for shares and flags; other features are unbounded."""
        return 1.0 if self.unit in ("0/1", "fraction") else None

    @property
    def constraint_text(self) -> str:
        """What the client-side check asks for, in words."""
        if self.categorical:
            return "Choose one of the listed values."
        parts = ["Enter a number"]
        lo, hi = self.lower_bound, self.upper_bound
        if lo is not None and hi is not None:
            parts.append(f"from {format_number(lo)} to {format_number(hi)}")
        elif lo is not None:
            parts.append(f"of {format_number(lo)} or more")
        text = " ".join(parts)
        if self.step == "1":
            text += ", a whole number"
        return text + "."

    @property
    def step(self) -> str:
        return "1" if (self.integer or self.unit == "0/1") else "any"

    def format(self, value: float) -> str:
        """A value as a person reads it: the category label, or a number with sensible digits."""
        if self.categorical:
            code = int(value)
            return self.categories[code] if 0 <= code < len(self.categories) else str(code)
        return format_number(value, self.integer)

    def to_json(self) -> Dict[str, Any]:
        return {
            "name": self.name, "description": self.description, "unit": self.unit, "kind": self.kind,
            "categories": list(self.categories), "integer": self.integer, "min": self.min, "max": self.max,
            "median": self.median, "default": (self.categories[int(self.default)] if self.categorical and self.default is not None
                                               else self.default),
            "importance": self.importance,
        }


def format_number(value: float, integer: bool = False) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    if integer or float(value).is_integer():
        return f"{int(round(value)):,}"
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:,.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


@dataclass
class Prediction:
    probability: float
    churn: bool
    bias: Optional[float]
    contributions: Optional[np.ndarray]  # per field, in column order


class ModelService:
    """The model, loaded once, with its fields and metadata. Thread-safe: the model is immutable."""

    def __init__(self, model: Any, source: str = ""):
        self.model = model
        self.source = source
        meta = getattr(model, "metadata", None)
        # Every metadata key the pages read, checked now with its JSON path (ModelFormatError), so that
        # a bad file stops the server at start (run.py exits 2) instead of giving 500s later (issue 15).
        check_metadata(meta if meta is not None else {})
        self.metadata: Dict[str, Any] = dict(meta) if isinstance(meta, Mapping) else {}
        self.fields = self._fields()
        self.by_name = {f.name: f for f in self.fields}
        self._by_importance = sorted(self.fields, key=lambda f: (-f.importance, f.index))
        self.default_text = {f.name: "—" if f.default is None else f.format(f.default) for f in self.fields}
        t = _number(self.metadata.get("threshold"))
        if t is None or not 0 <= t <= 1:
            t = _number(getattr(model, "threshold", None))
        self.threshold = t if t is not None and 0 <= t <= 1 else 0.5
        self.has_contributions = callable(getattr(model, "feature_contributions", None)) or callable(
            getattr(model, "contributions", None))

    @classmethod
    def load(cls, path: "str | os.PathLike[str]") -> "ModelService":
        p = os.fspath(path)
        if not os.path.isfile(p):
            raise ModelLoadError(
                f"no model at {p}. Build one with `python examples/webserver/build_model.py`, or pass "
                "--model PATH (env CHURN_WEB_MODEL_PATH).")
        try:
            model = churn.load_model(p)
            return cls(model, p)  # checks the metadata the pages read (check_metadata)
        except (churn.ChurnError, OSError) as e:
            raise ModelLoadError(f"cannot load the model {p}: {e}") from e

    # ---- fields -------------------------------------------------------------------------------
    def _model_feature_names(self) -> List[str]:
        for attr in ("feature_names_in_", "feature_names"):
            names = getattr(self.model, attr, None)
            if names is not None and len(names):
                return [str(n) for n in names]
        return []

    def _fields(self) -> List[Field]:
        names = self._model_feature_names()
        entries = self.metadata.get("features")
        entries = [e for e in entries if isinstance(e, Mapping)] if isinstance(entries, list) else []
        by_name: Dict[str, Mapping[str, Any]] = {str(e.get("name")): e for e in entries if isinstance(e.get("name"), str)}
        placeholder = all(n == f"x{i}" for i, n in enumerate(names))
        if (not names or placeholder) and len(by_name) == len(entries) and (not names or len(entries) == len(names)):
            # A forest fitted without column names (x0, x1, ...): the metadata names its columns, in order.
            names = [str(e.get("name")) for e in entries] or names
        if not names:
            n = _safe_int(getattr(self.model, "n_features_in_", None) or getattr(self.model, "n_features", None)) or 0
            names = [f"x{i}" for i in range(n)]
        importances = getattr(self.model, "feature_importances_", None)
        fields = []
        for i, name in enumerate(names):
            e = by_name.get(name, {})
            kind = CATEGORICAL if e.get("kind") == CATEGORICAL and e.get("categories") else NUMERIC
            imp = _number(e.get("importance"))
            if imp is None and importances is not None and i < len(importances):
                imp = float(importances[i])
            fields.append(Field(
                name=name, index=i,
                description=str(e.get("description") or ""), unit=str(e.get("unit") or ""), kind=kind,
                categories=[str(c) for c in e.get("categories") or []] if kind == CATEGORICAL else [],
                integer=bool(e.get("integer", False)),
                min=_number(e.get("min")), max=_number(e.get("max")), median=_number(e.get("median")),
                q05=_number(e.get("q05")), q25=_number(e.get("q25")), q75=_number(e.get("q75")), q95=_number(e.get("q95")),
                importance=imp or 0.0, permutation_importance=_number(e.get("permutation_importance")),
            ))
        return fields

    def fields_by_importance(self) -> List[Field]:
        return list(self._by_importance)

    def defaults_row(self) -> np.ndarray:
        return np.array([np.nan if f.default is None else f.default for f in self.fields], dtype=np.float64)

    # ---- predictions --------------------------------------------------------------------------
    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """P(churn) for each row of X (rows x fields, float64)."""
        p = np.asarray(self.model.predict_proba(np.ascontiguousarray(X, dtype=np.float64)))
        return p[:, 1] if p.ndim == 2 else p

    def contributions(self, X: np.ndarray):
        """(bias per row, contributions rows x fields), or (None, None) when the model has none."""
        X = np.ascontiguousarray(X, dtype=np.float64)
        fn = getattr(self.model, "feature_contributions", None) or getattr(self.model, "contributions", None)
        if fn is None:
            return None, None
        out = fn(X)
        if isinstance(out, tuple):  # (contributions, bias)
            values, bias = out
            return np.asarray(bias, dtype=np.float64).reshape(-1), np.asarray(values, dtype=np.float64)
        out = np.asarray(out, dtype=np.float64)
        p = len(self.fields)
        if out.ndim == 2 and out.shape[1] == p + 1:  # the bias in the last column
            return out[:, p], out[:, :p]
        return None, out

    def churns(self, probs) -> np.ndarray:
        """The verdicts for probabilities: P(churn) > threshold, the rule of the model's own predict()."""
        return np.asarray(probs, dtype=np.float64) > self.threshold

    def predict(self, X: np.ndarray, explain: bool = True) -> List[Prediction]:
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        probs = self.predict_proba(X)
        verdicts = self.churns(probs)
        bias, contrib = self.contributions(X) if explain else (None, None)
        return [
            Prediction(float(p), bool(verdicts[i]),
                       None if bias is None else float(bias[i]),
                       None if contrib is None else contrib[i])
            for i, p in enumerate(probs)
        ]

    # ---- metadata helpers ---------------------------------------------------------------------
    @property
    def label_options(self) -> Dict[str, Any]:
        labels = self.metadata.get("labels")
        return dict(labels) if isinstance(labels, Mapping) else {}

    def summary(self) -> Dict[str, Any]:
        """What GET /api/model returns: the fields and the metadata (minus bulky curves)."""
        meta = {k: v for k, v in self.metadata.items() if k not in ("features",)}
        return {
            "threshold": self.threshold,
            "n_features": len(self.fields),
            "fields": [f.to_json() for f in self.fields],
            "n_estimators": _safe_int(getattr(self.model, "n_estimators", None)),
            "explanations": self.has_contributions,
            "metadata": meta,
        }


def _safe_int(v: Any) -> Optional[int]:
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def verdict_words(churns: bool) -> str:
    return "about to churn" if churns else "likely to stay"

