"""An honest verdict on a cross-validated comparison, and what a retention budget buys.

``verdict(comparison)`` says in one plain sentence whether the forest beats each baseline: it does
when the mean of the paired per-fold differences in ROC AUC is more than two standard errors above
zero (the folds are the same for every model, so the differences are paired; the standard error is
the sample standard deviation of the differences over the square root of the number of folds).
``gains(y, proba)`` gives, for calling the top 5 %, 10 % and 20 % of customers by risk, the share of
the churners reached. Both return plain dicts (stored in the model metadata for the model page and
the report) with a ``sentence`` ready to print.
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

#: Fewer positive rows than this and a forest has too little to learn from: say so.
MIN_POSITIVES = 50

_BASELINE_NAMES = {"logistic_regression": "logistic regression", "majority": "the majority baseline"}


def paired_difference(a: Sequence[float], b: Sequence[float]) -> Dict[str, Any]:
    """Mean and standard error of the per-fold differences a - b (paired by fold).

    Folds with an undefined value on either side (NaN) are left out. The standard error is
    std(differences, ddof=1) / sqrt(folds); with fewer than two folds it is NaN and nothing is claimed.
    """
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    d = d[np.isfinite(d)]
    n = int(d.size)
    mean = float(d.mean()) if n else math.nan
    se = float(d.std(ddof=1) / math.sqrt(n)) if n >= 2 else math.nan
    return {"mean": mean, "se": se, "folds": n, "differences": d.tolist()}


def verdict(models: Dict[str, Any], *, forest: str = "random_forest", metric: str = "roc_auc",
            validation: Optional[str] = None) -> Dict[str, Any]:
    """Whether the forest beats each baseline in ``models`` (compare_models' ``models`` dict).

    Returns ``{"metric", "rule", "validation", "forest_beats_all", "prefer", "baselines": {name: {"beats",
    "forest", "baseline", "difference", "se", "folds"}}, "sentence", "warning"}``; ``prefer`` is the model
    to use (the forest, or the baseline with the best mean ROC AUC among those it does not beat) and
    ``warning`` is None when the forest beats every baseline.
    """
    if forest not in models:
        raise KeyError(f"no model {forest!r} in the comparison")
    f_folds = models[forest]["metrics"][metric]["folds"]
    f_mean = float(models[forest]["metrics"][metric]["mean"])
    out: Dict[str, Any] = {"metric": metric, "validation": validation,
                           "rule": "the forest beats a baseline when the mean paired per-fold difference in ROC AUC "
                                   "is more than two standard errors above zero",
                           "baselines": {}}
    not_beaten: List[str] = []
    parts: List[str] = []
    for name in models:
        if name == forest or name not in _BASELINE_NAMES:
            continue
        b = models[name]["metrics"][metric]
        diff = paired_difference(f_folds, b["folds"])
        beats = bool(diff["folds"] >= 2 and diff["mean"] - 2 * diff["se"] > 0)
        out["baselines"][name] = {"beats": beats, "forest": f_mean, "baseline": float(b["mean"]),
                                  "difference": diff["mean"], "se": diff["se"], "folds": diff["folds"]}
        parts.append(f"{float(b['mean']):.3f} for {_BASELINE_NAMES[name]} (difference {diff['mean']:+.3f} ± "
                     f"{diff['se']:.3f} s.e.)")
        if not beats:
            not_beaten.append(name)
    out["forest_beats_all"] = not not_beaten
    against = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    folds = len(f_folds)
    if not not_beaten:
        out["prefer"] = forest
        out["sentence"] = (f"The forest beats every baseline in ROC AUC over {folds} folds: {f_mean:.3f} against "
                           f"{against}.")
        out["warning"] = None
        return out
    # Not better than always saying "the base rate": no ranking can be trusted. Otherwise the baseline
    # it does not beat with the best mean.
    best = "majority" if "majority" in not_beaten else max(
        not_beaten, key=lambda n: float(models[n]["metrics"][metric]["mean"]))
    out["prefer"] = best
    names = " or ".join(_BASELINE_NAMES[n] for n in not_beaten)
    if "majority" in not_beaten:
        advice = ("it has learned nothing the data can confirm: do not use it to rank customers; get more churners "
                  "(a longer log, more cutoffs with --every-days, a longer horizon)")
    else:
        advice = f"prefer {_BASELINE_NAMES[best]}, which is simpler and at least as good"
    out["sentence"] = (f"Warning: the forest does not beat {names} in ROC AUC over {folds} folds ({f_mean:.3f} against "
                       f"{against}; a win needs a mean paired difference above two standard errors): {advice}.")
    out["warning"] = out["sentence"]
    return out


def gains(y: Sequence[int], proba: Sequence[float], shares: Sequence[float] = (0.05, 0.10, 0.20),
          source: str = "") -> Dict[str, Any]:
    """What calling the top ``shares`` of customers by risk reaches: per share, the rows called, the
    churners among them, their share of all churners (recall) and the lift over calling at random.
    Ties in risk at the cut are split by row order (stable). Also ``curve``: the share of churners
    reached at every whole percent of customers called (0..100), for a gains chart.
    """
    y = np.asarray(y, dtype=np.int64)
    p = np.asarray(proba, dtype=float)
    if y.shape != p.shape or y.ndim != 1:
        raise ValueError(f"y and proba must be 1-D of one length; got {y.shape} and {p.shape}")
    n, positives = int(y.size), int(y.sum())
    order = np.argsort(-p, kind="stable")
    reached = np.concatenate([[0], np.cumsum(y[order])])
    rows = []
    for s in shares:
        k = int(math.ceil(s * n - 1e-9))
        hit = int(reached[k])
        recall = hit / positives if positives else math.nan
        rows.append({"share": float(s), "rows": k, "churners": hit, "churner_share": recall,
                     "lift": recall / s if positives and s > 0 else math.nan})
    curve = [float(reached[int(math.ceil(q / 100 * n - 1e-9))] / positives) if positives else math.nan
             for q in range(101)]
    text = ", ".join(f"top {r['share']:.0%} reaches {r['churner_share']:.0%}" for r in rows)
    return {"source": source, "rows": n, "churners": positives, "top": rows,
            "curve": {"customers_share": [q / 100 for q in range(101)], "churners_share": curve},
            "sentence": f"Calling customers by risk ({source or 'these rows'}, {positives} churners among {n}): {text} "
                        "of those who leave."}


def positives_warning(n_positive: int, n_rows: int, snapshots: bool) -> Optional[str]:
    """A plain warning when fewer than MIN_POSITIVES rows are churners, saying what to do; else None."""
    if n_positive >= MIN_POSITIVES:
        return None
    more = "more cutoffs (a smaller --every-days)" if snapshots else "snapshots at many cutoffs (--every-days 7)"
    return (f"warning: only {n_positive} of {n_rows} rows are churners; a model needs at least {MIN_POSITIVES} to "
            f"learn from and to be judged reliably. Use a longer log, {more}, or a longer horizon (--horizon-days).")


__all__ = ["MIN_POSITIVES", "gains", "paired_difference", "positives_warning", "verdict"]
