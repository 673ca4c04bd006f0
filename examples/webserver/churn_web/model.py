"""The loaded model and what the pages need to know about it, read from its metadata.

No model code lives here: predictions and reasons come from the churn package (churn.score_features,
churn.reasons). This module only reads the metadata contract (docs/model-metadata.md) and copes with
models that lack parts of it (the forest's own feature names, its impurity importances, a 0.5
threshold). `service()` is the one accessor of the app's model.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence

import numpy as np

import churn
from churn.metadata import check_metadata
from churn.reasons import FEATURE_PAGES, Explanation, finite_number, format_number  # noqa: F401 (re-exported)
from churn.scoring import (decide, model_calibration, model_feature_names, model_threshold,  # noqa: F401 (re-exported)
                           score_features, verdict_words)
from flask import current_app

NUMERIC = "numeric"
CATEGORICAL = "categorical"


class ModelLoadError(RuntimeError):
    """The configured model file is missing or unreadable (raised at start-up)."""


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
    #: a categorical field's share of training customers in each category (metadata ``category_shares``)
    category_shares: Optional[List[float]] = None
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
        """The value a missing input takes: the training median, or for a categorical field its most common
        category (the median of category codes names an arbitrary category: codes are not ordered)."""
        if self.categorical:
            shares = self.category_shares
            if shares and len(shares) == len(self.categories) and max(shares) > 0:
                return float(max(range(len(shares)), key=lambda k: (shares[k], -k)))  # ties: the first
            if self.median is None:  # a model file from before category shares were stored
                return None
            code = int(round(self.median))
            return float(code) if 0 <= code < len(self.categories) else None
        if self.median is None:
            return None
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


@dataclass
class Prediction:
    probability: float  # shown: calibrated when the model stores a calibration
    churn: bool
    explanation: Optional[Explanation]  # reasons (churn.reasons); None when not asked for or not possible
    raw_probability: Optional[float] = None  # the forest's own score (what the reasons add up to)


@dataclass
class RecencyDefaults:
    """The defaults of inputs left out, by band of the given recency (days since the last event): the
    training medians of the customers in that band (``recency_defaults`` in the model's metadata,
    written by ``churn train``). A customer described as "unseen for 21 days" then gets the sessions,
    active days and gaps of customers who were unseen that long, not those of the median customer."""

    feature: str
    bands: List[Dict[str, Any]]  # {"from", "to" (None: open), "rows", "values": {field index: value}}

    @classmethod
    def from_metadata(cls, meta: Any, fields: Sequence[Field]) -> Optional["RecencyDefaults"]:
        if not isinstance(meta, Mapping) or meta.get("feature") not in {f.name for f in fields}:
            return None
        by_name = {f.name: f for f in fields}
        bands = []
        for b in meta.get("bands") or []:
            medians = b.get("medians")
            if not isinstance(medians, Mapping):
                continue  # too few training rows in the band: the overall medians apply
            values = {}
            for name, v in medians.items():
                f = by_name.get(name)
                if f is None or f.categorical or v is None:
                    continue
                values[f.index] = float(round(v)) if (f.integer or f.unit == "0/1") else float(v)
            bands.append({"from": float(b["from"]), "to": None if b.get("to") is None else float(b["to"]),
                          "rows": int(b.get("rows", 0)), "values": values})
        return cls(str(meta["feature"]), bands) if bands else None

    def band(self, recency: float) -> Optional[Dict[str, Any]]:
        for b in self.bands:
            if recency >= b["from"] and (b["to"] is None or recency < b["to"]):
                return b
        return None


def _shares(value: Any) -> Optional[List[float]]:
    """Category shares from the metadata: finite, non-negative numbers, else None."""
    if not isinstance(value, list):
        return None
    out = [finite_number(v) for v in value]
    return [float(v) for v in out] if all(v is not None and v >= 0 for v in out) else None


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
        # Probabilities shown are calibrated when the model stores a calibration (churn train does); the
        # threshold shown is then the calibrated threshold, and "about to churn" is exactly "shown
        # probability above the shown threshold" (churn.scoring.decide).
        self.raw_threshold = model_threshold(model, self.metadata)
        self.calibration = model_calibration(model)
        self.calibrated = self.calibration is not None and self.calibration.method != "none"
        self.threshold = decide(np.zeros(0), self.raw_threshold, self.calibration)[2]
        self.calibration_text = self.calibration.describe() if self.calibrated else None
        self.recency = RecencyDefaults.from_metadata(self.metadata.get("recency_defaults"), self.fields)
        # Reasons need SHAP values, which need the trees' node covers (model format 2 and later).
        try:
            model.expected_value_
            self.explain_error: Optional[str] = None
        except churn.ModelCapabilityError as e:
            self.explain_error = str(e)

    @property
    def has_explanations(self) -> bool:
        return self.explain_error is None

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
    def _fields(self) -> List[Field]:
        entries = self.metadata.get("features")
        entries = [e for e in entries if isinstance(e, Mapping)] if isinstance(entries, list) else []
        by_name: Dict[str, Mapping[str, Any]] = {str(e.get("name")): e for e in entries if isinstance(e.get("name"), str)}
        # The forest's own column names; for a forest fitted without names (x0, x1, ...), the metadata's.
        names = model_feature_names(self.model, self.metadata if len(by_name) == len(entries) else {})
        if not names:
            n = int(self.model.n_features)
            names = [f"x{i}" for i in range(n)]
        importances = self.model.feature_importances_
        fields = []
        for i, name in enumerate(names):
            e = by_name.get(name, {})
            kind = CATEGORICAL if e.get("kind") == CATEGORICAL and e.get("categories") else NUMERIC
            imp = finite_number(e.get("importance"))
            if imp is None and importances is not None and i < len(importances):
                imp = float(importances[i])
            fields.append(Field(
                name=name, index=i,
                description=str(e.get("description") or ""), unit=str(e.get("unit") or ""), kind=kind,
                categories=[str(c) for c in e.get("categories") or []] if kind == CATEGORICAL else [],
                integer=bool(e.get("integer", False)),
                min=finite_number(e.get("min")), max=finite_number(e.get("max")), median=finite_number(e.get("median")),
                q05=finite_number(e.get("q05")), q25=finite_number(e.get("q25")),
                q75=finite_number(e.get("q75")), q95=finite_number(e.get("q95")),
                category_shares=_shares(e.get("category_shares")) if kind == CATEGORICAL else None,
                importance=imp or 0.0, permutation_importance=finite_number(e.get("permutation_importance")),
            ))
        return fields

    def fields_by_importance(self) -> List[Field]:
        return list(self._by_importance)

    def defaults_row(self) -> np.ndarray:
        return np.array([np.nan if f.default is None else f.default for f in self.fields], dtype=np.float64)

    # ---- predictions --------------------------------------------------------------------------
    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """P(churn) for each row of X (rows x fields, float64)."""
        return churn.score_features(self.model, X, explain=0).probability

    def churns(self, probs) -> np.ndarray:
        """The verdicts for shown probabilities: P(churn) > threshold (both calibrated when the model has a
        calibration; the same rule as the model's own predict() on raw scores)."""
        return np.asarray(probs, dtype=np.float64) > self.threshold

    def predict(self, X: np.ndarray, explain: int = 3, absent_pages: Sequence[str] = (),
                assumed: Optional[Sequence[Sequence[str]]] = None) -> List[Prediction]:
        """Probability, verdict (the model's rule, P > threshold) and up to `explain` reasons each way;
        features counting `absent_pages` (pages the customer's log never records) are never reasons, nor
        are the fields of row i that took a default (`assumed[i]`: the form's or the request's blanks)."""
        absent = [f.name for f in self.fields if FEATURE_PAGES.get(f.name) in set(absent_pages)]
        result = score_features(self.model, X, explain=explain if self.has_explanations else 0, absent=absent,
                                assumed=assumed)
        ex = result.explanations
        return [Prediction(float(p), bool(c), None if ex is None else ex[i], float(r))
                for i, (p, c, r) in enumerate(zip(result.probability, result.churn, result.raw_probability))]

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
            "raw_threshold": self.raw_threshold,
            "calibrated": self.calibrated,
            "n_features": len(self.fields),
            "fields": [f.to_json() for f in self.fields],
            "n_estimators": int(self.model.n_estimators),
            "explanations": self.has_explanations,
            "metadata": meta,
        }


def service() -> ModelService:
    """The app's model (loaded once by create_app)."""
    return current_app.extensions["churn_model"]
