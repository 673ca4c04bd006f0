"""Probabilities that mean what they say: calibration of a model's out-of-fold probabilities.

A forest's vote shares are not probabilities at a 12 % base rate, and snapshot tables shift the base
rate. ``choose_calibration(y, proba, folds)`` fits isotonic regression (pool-adjacent-violators,
interpolated linearly between blocks as scikit-learn's IsotonicRegression does) and Platt scaling (a
logistic regression on the log-odds of the probability) on out-of-fold predictions, and keeps the one
with the lowest cross-validated log loss — or none, when neither improves on the raw probabilities.
A :class:`Calibration` is plain data (``to_json`` / ``from_json``, validated on load) so that it can
travel in the model file's metadata.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from . import _churn
from ._errors import parameter_error

_EPS = 1e-15
METHODS = ("none", "platt", "isotonic")


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def _log_loss(y: np.ndarray, p: np.ndarray) -> float:
    p = np.clip(p, _EPS, 1 - _EPS)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def _fit_platt(y: np.ndarray, p: np.ndarray) -> Tuple[float, float]:
    """(a, b) minimising the log loss of sigmoid(a * logit(p) + b) plus a tiny L2 term on a (finite on
    separable data), by Newton's method with a backtracking line search (a plain Newton step can
    overshoot when many raw probabilities are 0 or 1, as a forest's vote shares are)."""
    s = _logit(p)

    def objective(a: float, b: float) -> float:
        z = a * s + b
        # log(1 + e^z) - y z, computed stably
        return float(np.sum(np.logaddexp(0, z) - y * z) + 0.5e-6 * a * a)

    a, b = 1.0, 0.0
    f = objective(a, b)
    for _ in range(100):
        q = 1 / (1 + np.exp(-np.clip(a * s + b, -35, 35)))
        w = q * (1 - q)
        g = np.array([np.sum((q - y) * s) + 1e-6 * a, np.sum(q - y)])
        h = np.array([[np.sum(w * s * s) + 1e-6, np.sum(w * s)], [np.sum(w * s), np.sum(w) + 1e-12]])
        step = np.linalg.solve(h, g)
        t = 1.0
        while t > 1e-10:
            na, nb = a - t * step[0], b - t * step[1]
            nf = objective(na, nb)
            if nf <= f:
                break
            t /= 2
        else:
            break
        converged = abs(f - nf) <= 1e-12 * max(1.0, abs(f))
        a, b, f = na, nb, nf
        if converged:
            break
    return float(a), float(b)


def _fit_isotonic(y: np.ndarray, p: np.ndarray) -> Tuple[List[float], List[float]]:
    """Pool-adjacent-violators on (p, y) sorted by p (equal p pooled first): the increasing step
    function's block means, as (x, y) knots for linear interpolation."""
    order = np.argsort(p, kind="stable")
    xs, ys = np.asarray(p, dtype=float)[order], np.asarray(y, dtype=float)[order]
    ux, start = np.unique(xs, return_index=True)
    sums = np.add.reduceat(ys, start)
    counts = np.diff(np.append(start, xs.size)).astype(float)
    # Blocks: [value, weight, first x, last x]
    val: List[float] = []
    wt: List[float] = []
    lo: List[float] = []
    hi: List[float] = []
    for x, s_, c in zip(ux, sums, counts):
        val.append(s_ / c), wt.append(c), lo.append(x), hi.append(x)
        while len(val) > 1 and val[-2] >= val[-1]:
            v = (val[-2] * wt[-2] + val[-1] * wt[-1]) / (wt[-2] + wt[-1])
            w = wt[-2] + wt[-1]
            h = hi[-1]
            del val[-1], wt[-1], lo[-1], hi[-1]
            val[-1], wt[-1], hi[-1] = v, w, h
    knots_x: List[float] = []
    knots_y: List[float] = []
    for v, a, b in zip(val, lo, hi):
        knots_x.append(float(a)), knots_y.append(float(v))
        if b != a:
            knots_x.append(float(b)), knots_y.append(float(v))
    return knots_x, knots_y


@dataclass
class Calibration:
    """A fitted calibration map from raw P(churn) to calibrated P(churn)."""

    method: str = "none"
    platt: Optional[Tuple[float, float]] = None                     # (a, b)
    isotonic: Optional[Tuple[List[float], List[float]]] = None     # knots (x, y), x increasing
    cv_log_loss: Dict[str, float] = field(default_factory=dict)     # per method, on held-out folds
    cv_brier: Dict[str, float] = field(default_factory=dict)

    def apply(self, proba) -> np.ndarray:
        """Calibrated probabilities of raw ones (any shape)."""
        p = np.asarray(proba, dtype=float)
        if self.method == "none":
            return p.copy()
        if self.method == "platt":
            a, b = self.platt
            return 1 / (1 + np.exp(-np.clip(a * _logit(p) + b, -35, 35)))
        x, y = self.isotonic
        return np.interp(p, x, y)

    def decision_threshold(self, threshold: float, scores=None) -> float:
        """A raw threshold that decides exactly as the calibrated numbers read: with it, raw
        ``p > decision`` is the same as calibrated ``p > calibrated(decision)``.

        A calibration never reverses the order of scores, but isotonic regression is flat over each
        pooled block: when the model's threshold lies inside one, scores just above it would be flagged
        (raw ``p > threshold``) while showing the same calibrated number as scores just below it that
        are not. The threshold then moves to an end of that flat step: its top (nobody in the step is
        flagged) or the knot below it (everybody in it is). With ``scores`` (the out-of-fold raw
        probabilities ``churn train`` tunes on) the end that changes fewer of their verdicts is taken,
        else the nearer one (ties: the top). Outside a flat step (Platt, isotonic between blocks, the
        right end of a step) it is ``threshold`` itself.
        """
        t = float(threshold)
        if self.method == "platt" and self.platt[0] == 0:
            return max(t, 1.0)  # one probability for everyone: nobody shows more than the threshold
        if self.method != "isotonic":
            return t
        x, y = np.asarray(self.isotonic[0]), np.asarray(self.isotonic[1])
        v = float(np.interp(t, x, y))
        same = np.flatnonzero(y == v)
        if not same.size:
            return t  # on a rising segment
        first, last = int(same[0]), int(same[-1])
        if last == x.size - 1:
            up = max(t, 1.0)  # flat from the last knot on
        elif t >= x[last]:
            return t  # at the right end of a step: everything above shows more
        else:
            up = float(x[last])
        down = float(x[first - 1]) if first > 0 and x[first - 1] < t else None
        if down is None:
            return up
        if scores is not None:
            s = np.asarray(scores, dtype=float)
            changed_up = int(np.sum((s > t) & (s <= up)))
            changed_down = int(np.sum((s > down) & (s <= t)))
            if changed_up != changed_down:
                return up if changed_up < changed_down else down
        return up if up - t <= t - down else down

    def describe(self) -> str:
        """What the shown probabilities are, in a few plain words (for pages and the CLI)."""
        if self.method == "none":
            return ("the forest's own probabilities (calibration was tried on out-of-fold predictions and did "
                    "not improve them)")
        name = {"platt": "Platt scaling", "isotonic": "isotonic regression"}[self.method]
        return f"calibrated by {name} on out-of-fold predictions, so that they match how often customers leave"

    def to_json(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {"method": self.method, "cv_log_loss": self.cv_log_loss, "cv_brier": self.cv_brier}
        if self.method == "platt":
            out["a"], out["b"] = self.platt
        if self.method == "isotonic":
            out["x"], out["y"] = list(self.isotonic[0]), list(self.isotonic[1])
        return out

    @classmethod
    def from_json(cls, data: Any, where: str = "metadata.calibration") -> "Calibration":
        """The calibration saved by to_json. Raises ModelFormatError naming the path of anything wrong."""
        def bad(path: str, what: str):
            return _churn.ModelFormatError(f"model format error at {where}{path}: {what}")

        if not isinstance(data, dict):
            raise bad("", f"expected an object, found {type(data).__name__}")
        method = data.get("method")
        if method not in METHODS:
            raise bad(".method", f"{method!r} is not one of {', '.join(METHODS)}")
        cal = cls(method=method, cv_log_loss=dict(data.get("cv_log_loss") or {}),
                  cv_brier=dict(data.get("cv_brier") or {}))
        if method == "platt":
            for k in ("a", "b"):
                v = data.get(k)
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                    raise bad(f".{k}", f"expected a finite number, found {v!r}")
            if data["a"] < 0:
                # A negative slope would reverse the order of the risks: not a calibration.
                raise bad(".a", f"expected a slope of 0 or more, found {data['a']!r}")
            cal.platt = (float(data["a"]), float(data["b"]))
        if method == "isotonic":
            x, y = data.get("x"), data.get("y")
            for k, v in (("x", x), ("y", y)):
                if not isinstance(v, list) or not v or not all(
                        isinstance(t, (int, float)) and not isinstance(t, bool) and math.isfinite(t) for t in v):
                    raise bad(f".{k}", "expected a non-empty list of finite numbers")
            if len(x) != len(y):
                raise bad(".y", f"{len(y)} values for {len(x)} knots")
            if any(b < a for a, b in zip(x, x[1:])) or any(b < a for a, b in zip(y, y[1:])):
                raise bad(".x" if any(b < a for a, b in zip(x, x[1:])) else ".y", "the knots must not decrease")
            if y[0] < 0 or y[-1] > 1:
                raise bad(".y", "calibrated probabilities must lie in [0, 1]")
            cal.isotonic = ([float(t) for t in x], [float(t) for t in y])
        return cal


def fit_calibration(method: str, y, proba) -> Calibration:
    """A calibration of one method fitted on (y, proba)."""
    y = np.asarray(y, dtype=float)
    p = np.asarray(proba, dtype=float)
    if method == "platt":
        a, b = _fit_platt(y, p)
        if a < 0:
            # A negative slope would reverse the ranking. The log loss is convex in (a, b), so the best
            # fit with a >= 0 is then at a = 0: the base rate for everyone (the scores say nothing).
            rate = float(np.clip(np.mean(y), 1e-6, 1 - 1e-6)) if y.size else 0.5
            a, b = 0.0, float(np.log(rate / (1 - rate)))
        return Calibration("platt", platt=(a, b))
    if method == "isotonic":
        return Calibration("isotonic", isotonic=_fit_isotonic(y, p))
    if method == "none":
        return Calibration("none")
    raise parameter_error("method", repr(method), ", ".join(METHODS))


def choose_calibration(y, proba, folds: Sequence[Tuple[Sequence[int], Sequence[int]]]) -> Calibration:
    """Fits each method on the out-of-fold probabilities of all folds but one and scores it on that one
    (log loss and Brier, averaged over folds); keeps the method with the lowest log loss ("none" wins
    ties), refitted on all of them. ``proba`` must be out-of-fold (from cross-validation), ``folds`` the
    (train, test) index pairs to rotate over (the same folds, grouped for a snapshot table)."""
    y = np.asarray(y, dtype=float)
    p = np.asarray(proba, dtype=float)
    if y.shape != p.shape or not np.all(np.isfinite(p)):
        raise _churn.DataError("choose_calibration: proba must be finite, one value per label")
    loss = {m: [] for m in METHODS}
    brier = {m: [] for m in METHODS}
    for train, test in folds:
        train, test = np.asarray(train), np.asarray(test)
        for m in METHODS:
            q = fit_calibration(m, y[train], p[train]).apply(p[test])
            loss[m].append(_log_loss(y[test], q))
            brier[m].append(float(np.mean((q - y[test]) ** 2)))
    mean_loss = {m: float(np.mean(v)) for m, v in loss.items()}
    best = min(METHODS, key=lambda m: (mean_loss[m], METHODS.index(m)))
    cal = fit_calibration(best, y, p)
    cal.cv_log_loss = mean_loss
    cal.cv_brier = {m: float(np.mean(v)) for m, v in brier.items()}
    return cal


def reliability(y, proba, bins: int = 10, strategy: str = "quantile") -> Dict[str, Any]:
    """A reliability diagram's data: per bin of predicted probability, the rows, the mean prediction and
    the observed churn rate (empty bins left out); with the Brier score and log loss.

    ``strategy="quantile"`` (the default) makes bins of about equal row counts, as scikit-learn's
    ``calibration_curve(strategy="quantile")`` does: with a 10 % base rate, equal-width bins above 0.5
    hold one or two customers each, whose observed rate jumps between 0 and 1 and reads as a
    calibration failure. Rows with the same probability stay in one bin (forest vote shares tie often),
    so there can be fewer bins. ``"uniform"`` gives equal-width bins."""
    if strategy not in ("quantile", "uniform"):
        raise ValueError(f"reliability: strategy must be 'quantile' or 'uniform', got {strategy!r}")
    y = np.asarray(y, dtype=float)
    p = np.asarray(proba, dtype=float)
    if strategy == "quantile" and p.size:
        edges = np.unique(np.quantile(p, np.linspace(0.0, 1.0, bins + 1)))
        if edges.size < 2:
            edges = np.array([edges[0], edges[0]])
    else:
        edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.searchsorted(edges[1:-1], p, side="right")
    out = {"strategy": strategy, "bins": [], "brier": float(np.mean((p - y) ** 2)), "log_loss": _log_loss(y, p)}
    for b in range(edges.size - 1):
        m = which == b
        if m.any():
            out["bins"].append({"from": float(edges[b]), "to": float(edges[b + 1]), "rows": int(m.sum()),
                                "mean_predicted": float(p[m].mean()), "observed": float(y[m].mean())})
    return out


__all__ = ["Calibration", "METHODS", "choose_calibration", "fit_calibration", "reliability"]
