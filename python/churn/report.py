"""``churn report MODEL``: a self-contained HTML or Markdown report of a trained model, from its
metadata alone (see docs/model-metadata.md).

It leads with plain words for a retention team (of 100 customers who will leave, how many the model
flags; of those it flags, how many leave), then the detailed tables and charts. The charts are inline
SVG drawn here (no plotting library, no script, no network): the file stands alone and reads on a phone.

The report is a list of sections (``SECTIONS``): each is a function of the metadata that returns a
:class:`Section` (its HTML and Markdown) or None when the metadata lacks what it shows. Add a section
by adding a function to the list (or pass ``sections=`` to :func:`render`).
"""
from __future__ import annotations

import base64
import html
import math
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from .dates import day_text
from .report_shap import section_shap

_METRIC_LABELS = {
    "f1": "F1", "precision": "Precision", "recall": "Recall", "accuracy": "Accuracy",
    "balanced_accuracy": "Balanced accuracy", "roc_auc": "ROC AUC", "average_precision": "PR AUC (AP)",
    "log_loss": "Log loss", "brier": "Brier score",
}
#: What each metric means, in one line each, for the detailed tables.
METRIC_MEANINGS = {
    "f1": "balance of precision and recall (1 is perfect)",
    "precision": "share of flagged customers who really left",
    "recall": "share of leaving customers the model flagged",
    "accuracy": "share of customers classified right (high even for a useless model when few leave)",
    "balanced_accuracy": "mean of the recall of leavers and of stayers (0.5 is chance)",
    "roc_auc": "chance that a random leaver scores above a random stayer (0.5 is chance)",
    "average_precision": "area under the precision-recall curve (the churn rate is chance)",
    "log_loss": "penalty for confident wrong probabilities (lower is better)",
    "brier": "mean squared error of the probabilities (lower is better)",
}
PERMUTATION_EXPLANATION = (
    "Permutation importance is how much the model's ROC AUC on the withheld test set drops when one "
    "feature's values are shuffled between customers. Near zero means the model does not need that "
    "feature (the others carry the same information); a small negative value means shuffling it made "
    "the score slightly better by chance, which is noise from a test set of {n} customers, not a sign "
    "that the feature misleads the model. Impurity importance is how much the forest's splits on a "
    "feature purify its training data (they sum to 1); it favours features with many distinct values.")

_COLORS = {"forest": "#0d6efd", "stayed": "#198754", "churned": "#dc3545", "grey": "#6c757d",
           "impurity": "#0d6efd", "permutation": "#fd7e14"}


_date = day_text  # epoch milliseconds as a UTC date (YYYY-MM-DD), or None


def _get(mapping: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(mapping, Mapping):
            return None
        mapping = mapping.get(key)
    return mapping


def _number(value: Any) -> Optional[float]:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


# ---------------------------------------------------------------------------------------------------
# Plain words


@dataclass
class PlainSummary:
    """What the model does for a retention team, from the withheld test set's confusion matrix."""

    customers: int              #: test customers (never seen in training)
    leavers: int                #: of them, those who left within the horizon
    flagged: int                #: those the model flagged
    caught: int                 #: flagged and left
    horizon_days: Optional[float]
    found_per_100_leavers: Optional[int]   #: recall, per 100 leavers
    leave_per_100_flagged: Optional[int]   #: precision, per 100 flagged
    leave_per_100_random: int              #: the churn rate, per 100 customers picked at random
    flagged_per_100: int                   #: share flagged, per 100 customers
    sentences: List[str] = field(default_factory=list)


def plain_summary(meta: Mapping[str, Any]) -> Optional[PlainSummary]:
    """The model's test result in words a retention team reads, or None without a confusion matrix."""
    cm = _get(meta, "test", "confusion_matrix")
    if not (isinstance(cm, list) and len(cm) == 2 and all(isinstance(r, list) and len(r) == 2 for r in cm)):
        return None
    try:
        (tn, fp), (fn, tp) = [[int(v) for v in row] for row in cm]
    except (TypeError, ValueError):
        return None
    n = tn + fp + fn + tp
    if n <= 0:
        return None
    leavers, flagged = tp + fn, tp + fp
    horizon = _number(_get(meta, "labels", "horizon_days"))
    within = f" within {horizon:g} days" if horizon else ""
    recall = round(100 * tp / leavers) if leavers else None
    precision = round(100 * tp / flagged) if flagged else None
    base = round(100 * leavers / n)
    flag_rate = round(100 * flagged / n)
    sentences = []
    if recall is not None:
        sentences.append(f"Of every 100 customers who will leave{within}, the model flags about {recall}.")
    if precision is not None:
        sentences.append(f"Of every 100 customers it flags, about {precision} do leave; picking 100 customers "
                         f"at random would find about {base}.")
    else:
        sentences.append("It flagged none of the test customers.")
    sentences.append(f"It flags about {flag_rate} of every 100 customers: the list a retention team would "
                     "contact.")
    sentences.append(f"Measured on {n:,} customers the model never saw while it was trained, {leavers:,} of "
                     f"whom left{within}.")
    return PlainSummary(customers=n, leavers=leavers, flagged=flagged, caught=tp, horizon_days=horizon,
                        found_per_100_leavers=recall, leave_per_100_flagged=precision,
                        leave_per_100_random=base, flagged_per_100=flag_rate, sentences=sentences)


def top_signals(meta: Mapping[str, Any], k: int = 5) -> List[Dict[str, Any]]:
    """The k features the model relies on most (by permutation importance on the test set when
    present, else impurity importance), with their descriptions."""
    features = [f for f in (meta.get("features") or []) if isinstance(f, Mapping)]
    key = "permutation_importance" if any(_number(f.get("permutation_importance")) is not None
                                          for f in features) else "importance"
    ranked = sorted(features, key=lambda f: _number(f.get(key)) or 0.0, reverse=True)
    return [{"name": f.get("name", "?"), "description": f.get("description") or f.get("name", "?"),
             "importance": _number(f.get(key)) or 0.0, "by": key} for f in ranked[:k]]


_BASELINE_WORDS = {"logistic_regression": "logistic regression (a simpler model)",
                   "majority": "guessing that nobody leaves (the majority baseline)"}


def verdict_view(meta: Mapping[str, Any]) -> Optional[Dict[str, Any]]:
    """The honest verdict (metadata ``verdict``) for a page: ``headline`` (plain words), ``sentence``
    (the numbers, as `churn train` printed them), ``good`` (the forest beats every baseline), ``prefer``
    and ``rows`` (one per baseline: name, forest, baseline, difference, se, beats). None without it."""
    v = meta.get("verdict")
    if not isinstance(v, Mapping) or not isinstance(v.get("baselines"), Mapping):
        return None
    rows = []
    for name, b in v["baselines"].items():
        if not isinstance(b, Mapping):
            continue
        rows.append({"name": _BASELINE_WORDS.get(name, str(name).replace("_", " ")), "key": str(name),
                     "forest": _number(b.get("forest")), "baseline": _number(b.get("baseline")),
                     "difference": _number(b.get("difference")), "se": _number(b.get("se")),
                     "folds": b.get("folds"), "beats": bool(b.get("beats"))})
    good = bool(v.get("forest_beats_all"))
    prefer = v.get("prefer")
    beaten_not = [r for r in rows if not r["beats"]]
    if good:
        headline = ("The forest ranks customers by risk better than the simpler alternatives: "
                    + " and ".join(r["name"].split(" (")[0] for r in rows) + ", by more than chance would explain.")
    elif any(r["key"] == "majority" for r in beaten_not):
        headline = ("The forest has not learned anything the data can confirm: it does not rank customers better "
                    "than guessing. Do not use it to choose whom to call; get more churners first (a longer log, "
                    "more cutoffs, a longer horizon).")
    else:
        best = _BASELINE_WORDS.get(str(prefer), str(prefer).replace("_", " ")).split(" (")[0]
        headline = (f"The forest is not better than {best}, which is simpler: prefer {best} "
                    f"(or use the forest knowing it is no better).")
    return {"headline": headline, "sentence": str(v.get("sentence") or ""), "good": good, "prefer": prefer,
            "rows": rows, "rule": str(v.get("rule") or ""), "validation": v.get("validation")}


def gains_view(meta: Mapping[str, Any]) -> Optional[Dict[str, Any]]:
    """What a retention budget buys (metadata ``gains``, the withheld test set, else out-of-fold):
    ``headline``, ``rows`` (share called, customers, leavers reached, share of leavers, lift), the curve
    and the source. None without it."""
    g = _get(meta, "gains", "test")
    if not isinstance(g, Mapping):
        g = _get(meta, "gains", "cv")
    if not isinstance(g, Mapping) or not isinstance(g.get("top"), list):
        return None
    rows = []
    for t in g["top"]:
        if not isinstance(t, Mapping) or _number(t.get("share")) is None:
            continue
        rows.append({"share": float(t["share"]), "rows": t.get("rows"), "churners": t.get("churners"),
                     "churner_share": _number(t.get("churner_share")), "lift": _number(t.get("lift"))})
    if not rows:
        return None
    churners = _number(g.get("churners"))
    mid = next((r for r in rows if abs(r["share"] - 0.10) < 1e-9), rows[len(rows) // 2])
    if churners and mid["churner_share"] is not None:
        lift = f" ({mid['lift']:.1f} times what calling at random would reach)" if mid["lift"] is not None else ""
        headline = (f"Calling the {mid['share']:.0%} of customers the model ranks riskiest reaches "
                    f"{mid['churner_share']:.0%} of those who will leave{lift}"
                    + (": hardly better than calling at random." if mid["lift"] is not None and mid["lift"] < 1.5
                       else "."))
    else:
        headline = "There were no leavers to reach in this set, so the gains cannot be measured."
    curve = g.get("curve") if isinstance(g.get("curve"), Mapping) else {}
    xs, ys = curve.get("customers_share"), curve.get("churners_share")
    ok = (isinstance(xs, list) and isinstance(ys, list) and len(xs) == len(ys) and len(xs) > 1
          and all(_number(v) is not None for v in xs + ys))
    base = (churners / _number(g.get("rows"))) if churners and _number(g.get("rows")) else None
    return {"headline": headline, "rows": rows, "source": str(g.get("source") or ""),
            "churners": churners, "customers": _number(g.get("rows")), "base_rate": base,
            "curve": {"x": [float(v) for v in xs], "y": [float(v) for v in ys]} if ok else None,
            "sentence": str(g.get("sentence") or "")}


_METHOD_WORDS = {"isotonic": "isotonic regression", "platt": "Platt scaling"}


def stored_calibration(meta: Mapping[str, Any]):
    """The metadata's calibration (churn.calibration.Calibration) when it is valid and not "none",
    else None: the probabilities the report and the web demo show go through it."""
    from ._churn import ChurnError
    from .calibration import Calibration

    data = meta.get("calibration")
    if not isinstance(data, Mapping):
        return None
    try:
        cal = Calibration.from_json(dict(data))
    except ChurnError:
        return None
    return None if cal.method == "none" else cal


def shown_threshold(meta: Mapping[str, Any]) -> Optional[float]:
    """The threshold on the scale of the probabilities shown: calibrated when the model has a calibration."""
    t = _number(meta.get("threshold"))
    cal = stored_calibration(meta)
    if t is None or cal is None:
        return t
    return float(cal.apply(t))


def calibration_view(meta: Mapping[str, Any]) -> Optional[Dict[str, Any]]:
    """Whether the shown probabilities mean what they say (metadata ``calibration``): ``headline``,
    ``method``, Brier score and log loss on the withheld test set before and after, the reliability
    bins of both (mean predicted, observed) and the cross-validated log loss per method. None without
    a calibration."""
    c = meta.get("calibration")
    if not isinstance(c, Mapping) or c.get("method") not in ("none", "platt", "isotonic"):
        return None
    method = c["method"]
    before, after = _get(c, "test", "before"), _get(c, "test", "after")

    def bins(r: Any) -> List[Dict[str, float]]:
        out = []
        for b in (r.get("bins") if isinstance(r, Mapping) and isinstance(r.get("bins"), list) else []):
            if isinstance(b, Mapping) and _number(b.get("mean_predicted")) is not None and \
                    _number(b.get("observed")) is not None:
                out.append({"predicted": float(b["mean_predicted"]), "observed": float(b["observed"]),
                            "rows": int(_number(b.get("rows")) or 0)})
        return out

    scores = {}
    for when, r in (("before", before), ("after", after)):
        if isinstance(r, Mapping):
            scores[when] = {"brier": _number(r.get("brier")), "log_loss": _number(r.get("log_loss"))}
    if method == "none":
        headline = ("The probabilities shown are the forest's own: calibrating them on out-of-fold predictions "
                    "(isotonic regression, Platt scaling) did not make them more accurate.")
    else:
        headline = (f"The probabilities shown are calibrated ({_METHOD_WORDS[method]}, chosen on out-of-fold "
                    "predictions): of 100 customers shown about 20 %, about 20 leave.")
    b, a = scores.get("before", {}), scores.get("after", {})
    numbers = None
    if b.get("brier") is not None and a.get("brier") is not None:
        better = a["brier"] <= b["brier"]
        numbers = (f"On the withheld test set the Brier score (mean squared error of the probabilities, lower is "
                   f"better) is {b['brier']:.4f} before and {a['brier']:.4f} after calibration"
                   + (f", the log loss {b['log_loss']:.4f} before and {a['log_loss']:.4f} after"
                      if b.get("log_loss") is not None and a.get("log_loss") is not None else "")
                   + ("." if better else "; on this test set calibration did not help."))
    threshold = _number(c.get("threshold"))
    if threshold is None:
        threshold = shown_threshold(meta) if method != "none" else None
    # Models trained before equal-count bins stored equal-width ones (no "strategy").
    quantile = isinstance(before, Mapping) and before.get("strategy") == "quantile"
    before_bins = bins(before)
    group_rows = sorted(b["rows"] for b in before_bins)[len(before_bins) // 2] if quantile and before_bins else None
    return {"method": method, "method_words": _METHOD_WORDS.get(method, "none"), "headline": headline,
            "numbers": numbers, "scores": scores, "before": before_bins, "after": bins(after),
            "equal_count_bins": quantile, "group_rows": group_rows,
            "threshold": threshold, "cv_log_loss": {k: _number(v) for k, v in (c.get("cv_log_loss") or {}).items()}
            if isinstance(c.get("cv_log_loss"), Mapping) else {}}


# ---------------------------------------------------------------------------------------------------
# Inline SVG charts (no library: a handful of shapes each)

def _fmt_tick(v: float) -> str:
    return f"{v:g}" if abs(v) >= 0.01 or v == 0 else f"{v:.0e}"


def svg_line_chart(series: Sequence[Tuple[str, Sequence[float], Sequence[float], str, bool]], *, title: str,
                   xlabel: str, ylabel: str, width: int = 360, height: int = 320) -> str:
    """Curves on [0, 1] x [0, 1]: series of (label, xs, ys, colour, dashed)."""
    esc = html.escape
    left, right, top, bottom = 48, 12, 28, 64
    pw, ph = width - left - right, height - top - bottom

    def px(x: float) -> float:
        return left + pw * min(max(x, 0.0), 1.0)

    def py(y: float) -> float:
        return top + ph * (1 - min(max(y, 0.0), 1.0))

    out = [f"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {width} {height}' role='img' "
           f"aria-label='{esc(title)}'><title>{esc(title)}</title>",
           f"<text x='{width / 2}' y='16' text-anchor='middle' font-size='13' font-weight='600'>{esc(title)}</text>",
           f"<rect x='{left}' y='{top}' width='{pw}' height='{ph}' fill='none' stroke='#adb5bd'/>"]
    for t in (0, 0.25, 0.5, 0.75, 1):
        out.append(f"<line x1='{px(t):.1f}' x2='{px(t):.1f}' y1='{top}' y2='{top + ph}' stroke='#e9ecef'/>"
                   f"<line x1='{left}' x2='{left + pw}' y1='{py(t):.1f}' y2='{py(t):.1f}' stroke='#e9ecef'/>"
                   f"<text x='{px(t):.1f}' y='{top + ph + 14}' text-anchor='middle' font-size='10'>{t:g}</text>"
                   f"<text x='{left - 4}' y='{py(t) + 3:.1f}' text-anchor='end' font-size='10'>{t:g}</text>")
    out.append(f"<text x='{left + pw / 2}' y='{top + ph + 30}' text-anchor='middle' font-size='11'>{esc(xlabel)}</text>"
               f"<text transform='translate(12 {top + ph / 2}) rotate(-90)' text-anchor='middle' "
               f"font-size='11'>{esc(ylabel)}</text>")
    for i, (label, xs, ys, colour, dashed) in enumerate(series):
        points = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in zip(xs, ys))
        dash = " stroke-dasharray='4 3'" if dashed else ""
        out.append(f"<polyline points='{points}' fill='none' stroke='{colour}' stroke-width='{1 if dashed else 2}'"
                   f"{dash}/>")
        ly = top + ph + 44 + 0 * i
        lx = left + i * (pw / max(len(series), 1))
        out.append(f"<line x1='{lx:.1f}' x2='{lx + 16:.1f}' y1='{ly - 4}' y2='{ly - 4}' stroke='{colour}' "
                   f"stroke-width='2'{dash}/><text x='{lx + 20:.1f}' y='{ly}' font-size='10'>{esc(label)}</text>")
    out.append("</svg>")
    return "".join(out)


def svg_bar_chart(labels: Sequence[str], groups: Sequence[Tuple[str, Sequence[float], str]], *, title: str,
                  xlabel: str, width: int = 560) -> str:
    """Horizontal bars, one row per label, one bar per group (name, values, colour); values may be
    negative (the zero line is drawn)."""
    esc = html.escape
    row_h = 8 + 10 * len(groups)
    left, right, top = 190, 16, 28
    height = top + row_h * len(labels) + 58
    pw = width - left - right
    values = [v for _, vs, _ in groups for v in vs if _number(v) is not None]
    lo, hi = min([0.0, *values]), max([0.0, *values])
    if hi == lo:
        hi = lo + 1.0

    def px(v: float) -> float:
        return left + pw * (v - lo) / (hi - lo)

    out = [f"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {width} {height}' role='img' "
           f"aria-label='{esc(title)}'><title>{esc(title)}</title>",
           f"<text x='{width / 2}' y='16' text-anchor='middle' font-size='13' font-weight='600'>{esc(title)}</text>"]
    for r, label in enumerate(labels):
        y0 = top + r * row_h
        out.append(f"<text x='{left - 6}' y='{y0 + row_h / 2 + 3:.1f}' text-anchor='end' font-size='10'>"
                   f"{esc(label)}</text>")
        for g, (_, vs, colour) in enumerate(groups):
            v = _number(vs[r]) if r < len(vs) else None
            if v is None:
                continue
            x0, x1 = sorted((px(0.0), px(v)))
            out.append(f"<rect x='{x0:.1f}' y='{y0 + 4 + 10 * g}' width='{max(x1 - x0, 0.5):.1f}' height='8' "
                       f"fill='{colour}'><title>{esc(label)}: {v:.4f}</title></rect>")
    base = top + row_h * len(labels)
    out.append(f"<line x1='{px(0):.1f}' x2='{px(0):.1f}' y1='{top}' y2='{base}' stroke='#495057'/>")
    for t in _ticks(lo, hi):
        out.append(f"<text x='{px(t):.1f}' y='{base + 14}' text-anchor='middle' font-size='10'>{_fmt_tick(t)}</text>")
    out.append(f"<text x='{left + pw / 2}' y='{base + 30}' text-anchor='middle' font-size='11'>{esc(xlabel)}</text>")
    for g, (name, _, colour) in enumerate(groups):
        lx = left + g * 160
        out.append(f"<rect x='{lx}' y='{base + 40}' width='10' height='10' fill='{colour}'/>"
                   f"<text x='{lx + 14}' y='{base + 49}' font-size='10'>{esc(name)}</text>")
    out.append("</svg>")
    return "".join(out)


def _ticks(lo: float, hi: float, n: int = 4) -> List[float]:
    span = hi - lo
    step = 10 ** math.floor(math.log10(span / n))
    for m in (1, 2, 5, 10):
        if span / (step * m) <= n:
            step *= m
            break
    start = math.ceil(lo / step) * step
    ticks, t = [], start
    while t <= hi + 1e-12:
        ticks.append(round(t, 10))
        t += step
    return ticks


def svg_histogram(groups: Sequence[Tuple[str, Sequence[float], str]], *, threshold: Optional[float], title: str,
                  xlabel: str, bins: int = 20, width: int = 560, height: int = 300) -> str:
    """Counts of values in [0, 1] by bin, one bar per group and bin, with the threshold marked."""
    esc = html.escape
    left, right, top, bottom = 44, 12, 28, 70
    pw, ph = width - left - right, height - top - bottom
    counts = []
    for _, values, _ in groups:
        c = [0] * bins
        for v in values:
            if _number(v) is not None:
                c[min(bins - 1, max(0, int(v * bins)))] += 1
        counts.append(c)
    peak = max([1, *[max(c) for c in counts]])
    out = [f"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {width} {height}' role='img' "
           f"aria-label='{esc(title)}'><title>{esc(title)}</title>",
           f"<text x='{width / 2}' y='16' text-anchor='middle' font-size='13' font-weight='600'>{esc(title)}</text>",
           f"<line x1='{left}' x2='{left + pw}' y1='{top + ph}' y2='{top + ph}' stroke='#495057'/>"]
    bw = pw / bins
    for b in range(bins):
        for g, (name, _, colour) in enumerate(groups):
            h = ph * counts[g][b] / peak
            x = left + b * bw + 1 + g * (bw - 2) / len(groups)
            out.append(f"<rect x='{x:.1f}' y='{top + ph - h:.1f}' width='{(bw - 2) / len(groups):.1f}' "
                       f"height='{h:.1f}' fill='{colour}'><title>{esc(name)} {b / bins:.2f}–{(b + 1) / bins:.2f}: "
                       f"{counts[g][b]}</title></rect>")
    for t in (0, 0.25, 0.5, 0.75, 1):
        out.append(f"<text x='{left + pw * t:.1f}' y='{top + ph + 14}' text-anchor='middle' font-size='10'>{t:g}</text>")
    for t in _ticks(0, peak, 3):
        y = top + ph * (1 - t / peak)
        out.append(f"<text x='{left - 4}' y='{y + 3:.1f}' text-anchor='end' font-size='10'>{_fmt_tick(t)}</text>")
    if threshold is not None:
        x = left + pw * min(max(threshold, 0.0), 1.0)
        out.append(f"<line x1='{x:.1f}' x2='{x:.1f}' y1='{top}' y2='{top + ph}' stroke='#212529' "
                   f"stroke-dasharray='4 3'/><text x='{x + 4:.1f}' y='{top + 10}' font-size='10'>threshold "
                   f"{threshold:.2f}</text>")
    out.append(f"<text x='{left + pw / 2}' y='{top + ph + 30}' text-anchor='middle' font-size='11'>{esc(xlabel)}</text>")
    for g, (name, _, colour) in enumerate(groups):
        lx = left + g * 140
        out.append(f"<rect x='{lx}' y='{top + ph + 42}' width='10' height='10' fill='{colour}'/>"
                   f"<text x='{lx + 14}' y='{top + ph + 51}' font-size='10'>{esc(name)}</text>")
    out.append("</svg>")
    return "".join(out)


# ---------------------------------------------------------------------------------------------------
# Sections


@dataclass
class Section:
    """One part of the report: a heading, then its body as HTML and as Markdown."""

    id: str
    title: str
    html: str
    markdown: str
    figures: List[Tuple[str, str]] = field(default_factory=list)  #: (caption, SVG) after the body


def _html_table(header: Sequence[str], rows: Sequence[Sequence[str]], caption: str = "",
                text_columns: Sequence[int] = ()) -> str:
    """A table; the first column heads the rows; `text_columns` are aligned left (numbers right)."""
    esc = html.escape

    def cls(i: int) -> str:
        return " class='text'" if i in text_columns else ""

    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    head = "".join(f"<th scope='col'{cls(i)}>{esc(h)}</th>" for i, h in enumerate(header))
    body = "".join("<tr>" + "".join((f"<th scope='row'>{esc(c)}</th>" if i == 0 else f"<td{cls(i)}>{esc(c)}</td>")
                                    for i, c in enumerate(r)) + "</tr>" for r in rows)
    return f"<div class='scroll'><table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    def cell(c: str) -> str:
        return str(c).replace("|", "\\|")

    lines = ["| " + " | ".join(map(cell, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(cell, r)) + " |" for r in rows]
    return "\n".join(lines)


def section_plain_words(meta: Mapping[str, Any]) -> Optional[Section]:
    """The lead: what the model does, in words a retention team reads."""
    summary = plain_summary(meta)
    if summary is None:
        return None
    esc = html.escape
    signals = top_signals(meta)
    items = "".join(f"<li>{esc(s)}</li>" for s in summary.sentences)
    body = f"<ul class='plain'>{items}</ul>"
    md = "\n".join(f"- {s}" for s in summary.sentences)
    if signals:
        body += ("<p>What the model looks at most: " +
                 "; ".join(esc(s["description"]) for s in signals) + ".</p>")
        md += "\n\nWhat the model looks at most: " + "; ".join(s["description"] for s in signals) + "."
    return Section("summary", "What the model does", body, md)


def section_data(meta: Mapping[str, Any]) -> Optional[Section]:
    """Where the model comes from: data, labelling, split, threshold, library."""
    data = meta.get("data") if isinstance(meta.get("data"), Mapping) else {}
    labels = meta.get("labels") if isinstance(meta.get("labels"), Mapping) else {}
    facts: List[Tuple[str, str]] = []
    span = (_date(data.get("first_ts")), _date(data.get("last_ts")))
    facts.append(("Data", f"{data.get('source', '?')}: {_count(data.get('events'))} events"
                          + (f" from {span[0]} to {span[1]}" if all(span) else "")
                          + (f"; {_count(data.get('rows'))} rows in the table (one per customer and cutoff) of "
                             f"{_count(data.get('users'))} customers at {len(labels['snapshot_cutoffs_ms'])} cutoffs, "
                             f"{_count(data.get('churned'))} rows labelled as leaving"
                             if isinstance(labels.get("snapshot_cutoffs_ms"), list) and labels["snapshot_cutoffs_ms"]
                             else f"; {_count(data.get('users'))} customers in the table, {_count(data.get('churned'))} "
                                  "of them left")))
    snapshots = labels.get("snapshot_cutoffs_ms")
    snapshot_dates = [d for d in (_date(c) for c in snapshots) if d] if isinstance(snapshots, list) else []
    if labels.get("mode") == "window" and len(snapshot_dates) > 1:
        # A snapshot model learnt from every cutoff: the question is asked at each, not only the last.
        every = labels.get("every_days")
        schedule = (f"every {every:g} days from {snapshot_dates[0]} to {snapshot_dates[-1]}"
                    if isinstance(every, (int, float)) and not isinstance(every, bool)
                    else f"{snapshot_dates[0]} to {snapshot_dates[-1]}")
        facts.append(("Question", f"will a customer leave within {labels.get('horizon_days', '?'):g} days after a "
                                  f"cutoff? Asked at {len(snapshot_dates)} cutoffs ({schedule}); each row's features "
                                  "come from the events before its cutoff; customers who had already cancelled by "
                                  "then have no row at it"
                      if isinstance(labels.get("horizon_days"), (int, float))
                      else f"window labels at {len(snapshot_dates)} cutoffs, {snapshot_dates[0]} to {snapshot_dates[-1]}"))
    elif labels.get("mode") == "window":
        cutoff = _date(labels.get("cutoff_ms")) or "the cutoff"
        facts.append(("Question", f"will a customer leave within {labels.get('horizon_days', '?'):g} days after "
                                  f"{cutoff}? Features come from the events before {cutoff}; customers who had "
                                  "already cancelled by then are not in the table"
                      if isinstance(labels.get("horizon_days"), (int, float)) else f"window labels, cutoff {cutoff}"))
    elif labels.get("mode"):
        facts.append(("Labels", f"{labels['mode']} mode (features from a customer's whole history: leaks; "
                                "for comparison only)"))
    if data.get("rows_train") is not None:
        unit = "rows" if isinstance(labels.get("snapshot_cutoffs_ms"), list) else "customers"
        test_words = _get(meta, "validation", "test_description")
        facts.append(("Split", f"{_count(data.get('rows_train'))} {unit} for training and cross-validation, "
                               f"{_count(data.get('rows_test'))} withheld for the test"
                               + (f" ({test_words})" if isinstance(test_words, str) and test_words else "")))
    threshold = _number(meta.get("threshold"))
    if threshold is not None:
        calibrated = stored_calibration(meta) is not None
        shown = shown_threshold(meta)
        notes = ([f"the forest's raw score above {threshold:.3f}"] if calibrated else []) + (
            [str(meta["threshold_rule"])] if meta.get("threshold_rule") else [])
        facts.append(("Threshold", f"flags a customer when the {'calibrated ' if calibrated else ''}predicted "
                                   f"probability is above {shown:.3f}" + (f" ({'; '.join(notes)})" if notes else "")))
    search = meta.get("forest_search")
    if isinstance(search, dict) and isinstance(search.get("sentence"), str):
        facts.append(("Forest settings", search["sentence"].rstrip(".")))
    created = meta.get("created")
    facts.append(("Made by", f"churn {meta.get('library_version', '?')}"
                             + (f" on {str(created).replace('T', ' ').replace('Z', ' UTC')}" if created else "")))
    esc = html.escape
    body = "<dl>" + "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in facts) + "</dl>"
    md = "\n".join(f"- **{k}**: {v}" for k, v in facts)
    return Section("data", "Data and labels", body, md)


def _count(value: Any) -> str:
    v = _number(value)
    return "?" if v is None else f"{int(v):,}"


def section_metrics(meta: Mapping[str, Any]) -> Optional[Section]:
    """Cross-validated and test metrics, with what each means; the confusion matrix."""
    cv_models = _get(meta, "cv", "models") or {}
    test = _get(meta, "test", "metrics") or {}
    if not cv_models and not test:
        return None
    names = [n for n in cv_models if isinstance(cv_models[n], Mapping)]
    header = ["Metric"] + [f"CV {n.replace('_', ' ')}" for n in names] + ["Test (forest)", "Meaning"]
    rows = []
    for key, label in _METRIC_LABELS.items():
        row = [label]
        for n in names:
            m = _get(cv_models[n], "metrics", key)
            mean, std = _number(_get(m, "mean")), _number(_get(m, "std"))
            row.append(f"{mean:.3f} ± {std:.3f}" if mean is not None and std is not None else "")
        value = _number(test.get(key)) if isinstance(test, Mapping) else None
        row.append(f"{value:.3f}" if value is not None else "")
        row.append(METRIC_MEANINGS.get(key, ""))
        rows.append(row)
    folds = _get(meta, "cv", "n_splits")
    caption = f"Cross-validation ({folds} folds, mean ± std) and the withheld test set" if folds else "Metrics"
    body = _html_table(header, rows, caption, text_columns=[len(header) - 1])
    md = f"{caption}\n\n" + _md_table(header, rows)
    cm = _get(meta, "test", "confusion_matrix")
    if isinstance(cm, list) and len(cm) == 2 and all(isinstance(r, list) and len(r) == 2 for r in cm):
        cm_header = ["Test customers", "not flagged", "flagged"]
        cm_rows = [["stayed", str(cm[0][0]), str(cm[0][1])], ["left", str(cm[1][0]), str(cm[1][1])]]
        body += _html_table(cm_header, cm_rows, "Confusion matrix at the threshold")
        md += "\n\nConfusion matrix at the threshold\n\n" + _md_table(cm_header, cm_rows)
    return Section("metrics", "Detailed metrics", body, md)


def section_curves(meta: Mapping[str, Any]) -> Optional[Section]:
    """ROC and precision-recall curves, and the test probabilities by class."""
    test = meta.get("test") if isinstance(meta.get("test"), Mapping) else {}
    figures = []
    roc = test.get("roc_curve") if isinstance(test.get("roc_curve"), Mapping) else None
    if roc and roc.get("fpr"):
        auc = _number(_get(test, "metrics", "roc_auc"))
        figures.append(("ROC curve", svg_line_chart(
            [(f"forest (AUC {auc:.3f})" if auc is not None else "forest", roc["fpr"], roc["tpr"],
              _COLORS["forest"], False), ("chance", [0, 1], [0, 1], _COLORS["grey"], True)],
            title="ROC curve (test set)", xlabel="share of stayers flagged (false positive rate)",
            ylabel="share of leavers flagged (recall)")))
    pr = test.get("pr_curve") if isinstance(test.get("pr_curve"), Mapping) else None
    if pr and pr.get("recall"):
        ap = _number(_get(test, "metrics", "average_precision"))
        series = [(f"forest (AP {ap:.3f})" if ap is not None else "forest", pr["recall"], pr["precision"],
                   _COLORS["forest"], False)]
        base = _number(_get(meta, "data", "positive_rate"))
        if base is not None:
            series.append(("churn rate", [0, 1], [base, base], _COLORS["grey"], True))
        figures.append(("Precision-recall curve", svg_line_chart(
            series, title="Precision-recall curve (test set)", xlabel="share of leavers flagged (recall)",
            ylabel="share of flagged who leave (precision)")))
    probabilities = test.get("probabilities") if isinstance(test.get("probabilities"), Mapping) else None
    if probabilities:
        cal = stored_calibration(meta)

        def shown(values: Any) -> List[float]:
            v = [x for x in (values or []) if _number(x) is not None]
            return [float(x) for x in cal.apply(v)] if cal is not None and v else v

        figures.append(("Probability histogram", svg_histogram(
            [("stayed", shown(probabilities.get("stayed")), _COLORS["stayed"]),
             ("left", shown(probabilities.get("churned")), _COLORS["churned"])],
            threshold=shown_threshold(meta), title="Predicted probabilities by what happened (test set)",
            xlabel="calibrated probability of leaving" if cal is not None else "predicted probability of leaving")))
    if not figures:
        return None
    return Section("curves", "Curves", "", "", figures)


def section_importance(meta: Mapping[str, Any]) -> Optional[Section]:
    """Feature importances (impurity and permutation), with why permutation ones can be negative."""
    features = [f for f in (meta.get("features") or []) if isinstance(f, Mapping)]
    if not features:
        return None
    has_perm = any(_number(f.get("permutation_importance")) is not None for f in features)
    ranked = sorted(features, key=lambda f: _number(f.get("importance")) or 0.0, reverse=True)
    top = ranked[:15]
    groups = [("impurity", [_number(f.get("importance")) or 0.0 for f in top], _COLORS["impurity"])]
    if has_perm:
        groups.append(("permutation (test ROC AUC drop)", [_number(f.get("permutation_importance")) or 0.0
                                                           for f in top], _COLORS["permutation"]))
    chart = svg_bar_chart([str(f.get("name", "?")) for f in top], groups, title="Feature importance (top 15)",
                          xlabel="importance")
    n_test = _get(meta, "data", "rows_test")
    explanation = PERMUTATION_EXPLANATION.format(n=_count(n_test) if n_test is not None else "few")
    header = ["Feature", "Meaning", "Impurity"] + (["Permutation"] if has_perm else [])
    rows = []
    for f in ranked:
        row = [str(f.get("name", "?")), str(f.get("description", "")), f"{_number(f.get('importance')) or 0.0:.3f}"]
        if has_perm:
            p = _number(f.get("permutation_importance"))
            row.append("" if p is None else f"{p:+.4f}")
        rows.append(row)
    body = f"<p>{html.escape(explanation)}</p>"
    md = explanation
    return Section("importance", "Feature importance", body + _html_table(header, rows, text_columns=[1]),
                   md + "\n\n" + _md_table(header, rows), [("Feature importance", chart)])


def section_verdict(meta: Mapping[str, Any]) -> Optional[Section]:
    """Does the forest beat the baselines? Plain words first, then the paired per-fold numbers."""
    v = verdict_view(meta)
    if v is None:
        return None
    esc = html.escape
    header = ["Against", "Forest ROC AUC", "Its ROC AUC", "Difference ± s.e.", "Forest better?"]
    rows = [[r["name"], _f3(r["forest"]), _f3(r["baseline"]),
             (f"{r['difference']:+.3f} ± {r['se']:.3f}" if r["difference"] is not None and r["se"] is not None else "?"),
             "yes" if r["beats"] else "no"] for r in v["rows"]]
    cls = "good" if v["good"] else "warn"
    body = (f"<p class='verdict {cls}' id='verdict-headline'><strong>{esc(v['headline'])}</strong></p>"
            f"<p>{esc(v['sentence'])}</p>" + _html_table(header, rows, "Cross-validated ROC AUC, paired by fold", [0])
            + f"<p class='note'>Rule: {esc(v['rule'])}.</p>")
    md = f"**{v['headline']}**\n\n{v['sentence']}\n\n" + _md_table(header, rows) + f"\n\nRule: {v['rule']}."
    return Section("verdict", "Is the forest worth using?", body, md)


def _f3(v: Optional[float]) -> str:
    return "?" if v is None else f"{v:.3f}"


def section_gains(meta: Mapping[str, Any]) -> Optional[Section]:
    """The gains chart: calling the top 5 %, 10 %, 20 % by risk reaches what share of leavers."""
    g = gains_view(meta)
    if g is None:
        return None
    header = ["Call the riskiest", "Customers called", "Leavers reached", "Share of all leavers", "Times random"]
    rows = [[f"{r['share']:.0%}", _count(r["rows"]), _count(r["churners"]),
             "?" if r["churner_share"] is None else f"{r['churner_share']:.0%}",
             "?" if r["lift"] is None else f"{r['lift']:.1f}x"] for r in g["rows"]]
    where = f"Measured on {g['source']}" + (f" ({_count(g['customers'])} customers, {_count(g['churners'])} of whom "
                                            "left)" if g["customers"] is not None else "") + "."
    body = (f"<p class='lead-line' id='gains-headline'><strong>{html.escape(g['headline'])}</strong></p>"
            + _html_table(header, rows, where, [0]))
    md = f"**{g['headline']}**\n\n{where}\n\n" + _md_table(header, rows)
    figures = []
    if g["curve"]:
        series = [("model", g["curve"]["x"], g["curve"]["y"], _COLORS["forest"], False),
                  ("at random", [0, 1], [0, 1], _COLORS["grey"], True)]
        if g["base_rate"]:
            series.append(("perfect", [0, min(g["base_rate"], 1.0), 1], [0, 1, 1], _COLORS["stayed"], True))
        figures.append(("Gains chart: share of leavers reached by calling the riskiest customers first", svg_line_chart(
            series, title="Gains (" + (g["source"] or "test set") + ")", xlabel="share of customers called, riskiest first",
            ylabel="share of leavers reached")))
    return Section("gains", "What a retention budget buys", body, md, figures)


def section_calibration(meta: Mapping[str, Any]) -> Optional[Section]:
    """Do the probabilities mean what they say? The calibration, its scores and a reliability diagram."""
    c = calibration_view(meta)
    if c is None:
        return None
    esc = html.escape
    body = f"<p class='lead-line' id='calibration-headline'><strong>{esc(c['headline'])}</strong></p>"
    md = f"**{c['headline']}**"
    if c["numbers"]:
        body += f"<p>{esc(c['numbers'])}</p>"
        md += f"\n\n{c['numbers']}"
    if c["threshold"] is not None and c["method"] != "none":
        t = (f"The model flags a customer when the calibrated probability is above {c['threshold']:.1%} (the same "
             "customers as the forest's raw score above its threshold).")
        body += f"<p>{esc(t)}</p>"
        md += f"\n\n{t}"
    header = ["Test set", "Brier score", "Log loss"]
    rows = [[when, _f4(sc.get("brier")), _f4(sc.get("log_loss"))]
            for when, sc in (("before calibration", c["scores"].get("before", {})),
                             ("after calibration", c["scores"].get("after", {}))) if sc]
    if rows:
        body += _html_table(header, rows, "Lower is better", [0])
        md += "\n\n" + _md_table(header, rows)
    figures = []
    if c["before"] or c["after"]:
        series = [("ideal", [0, 1], [0, 1], _COLORS["grey"], True)]
        if c["before"]:
            series.append(("before", [b["predicted"] for b in c["before"]], [b["observed"] for b in c["before"]],
                           _COLORS["permutation"], False))
        if c["after"] and c["method"] != "none":
            series.append(("after", [b["predicted"] for b in c["after"]],
                           [b["observed"] for b in c["after"]], _COLORS["forest"], False))
        groups = (f"customers in groups of about equal size (about {c['group_rows']} each) by predicted probability"
                  if c["group_rows"] else "in each band of predicted probability")
        figures.append((f"Reliability diagram: {groups}, how often customers really left",
                        svg_line_chart(series, title="Reliability (test set)", xlabel="predicted probability of leaving",
                                       ylabel="share who really left")))
    return Section("calibration", "Do the probabilities mean what they say?", body, md, figures)


def _f4(v: Optional[float]) -> str:
    return "?" if v is None else f"{v:.4f}"


#: The report's sections, in order. Each takes the metadata and returns a Section or None.
SECTIONS: List[Callable[[Mapping[str, Any]], Optional[Section]]] = [
    section_plain_words, section_verdict, section_gains, section_calibration, section_data, section_metrics,
    section_curves, section_importance, section_shap,
]

_CSS = (
    "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1100px;margin:0 auto;"
    "padding:1em;line-height:1.45;color:#212529}"
    "h1{font-size:1.7em}h2{font-size:1.3em;margin-top:1.6em;border-bottom:1px solid #dee2e6}"
    ".plain{font-size:1.15em}.plain li{margin:.3em 0}"
    ".verdict{font-size:1.1em;padding:.5em .8em;border-left:5px solid}.verdict.good{border-color:#198754;"
    "background:#e8f5ee}.verdict.warn{border-color:#dc3545;background:#fbeaec}.lead-line{font-size:1.1em}"
    ".note{color:#6c757d;font-size:.9em}"
    "dl{display:grid;grid-template-columns:max-content 1fr;gap:.25em 1em}dt{font-weight:600}dd{margin:0}"
    "@media (max-width:600px){dl{grid-template-columns:1fr}dd{margin-bottom:.5em}}"
    ".scroll{overflow-x:auto;margin:1em 0}table{border-collapse:collapse}"
    "caption{text-align:left;font-weight:600;padding:.3em 0}"
    "td,th{border:1px solid #ced4da;padding:.3em .6em;text-align:right;vertical-align:top}"
    "th[scope=row],.text{text-align:left}th[scope=col]{background:#f1f3f5}td.text{min-width:14em}"
    ".figures{display:flex;flex-wrap:wrap;gap:1em}figure{margin:0;flex:1 1 340px;max-width:100%}"
    "figure.wide{flex-basis:100%;max-width:760px}figure:only-child{max-width:520px}"
    "figure svg{width:100%;height:auto;font-family:inherit}figcaption{color:#6c757d;font-size:.9em}"
)


def _wide(svg: str) -> str:
    """Charts drawn wider than 400 units get a row of their own (their labels stay readable)."""
    head = svg[:200]
    try:
        width = float(head.split("viewBox='0 0 ", 1)[1].split(" ", 1)[0])
    except (IndexError, ValueError):
        return ""
    return " class='wide'" if width > 400 else ""


def render(meta: Mapping[str, Any], fmt: str = "html",
           sections: Optional[Sequence[Callable[[Mapping[str, Any]], Optional[Section]]]] = None) -> str:
    """The report as text, "html" (one self-contained page: inline CSS and SVG, no script) or "md"
    (Markdown with the charts as SVG data URIs)."""
    parts = [s for s in (make(meta) for make in (SECTIONS if sections is None else sections)) if s is not None]
    if fmt == "md":
        out = ["# churn model report", ""]
        for s in parts:
            out += [f"## {s.title}", ""]
            if s.markdown:
                out += [s.markdown, ""]
            for caption, svg in s.figures:
                uri = "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")
                out += [f"![{caption}]({uri})", ""]
        return "\n".join(out)
    esc = html.escape
    out = ["<!doctype html><html lang='en'><head><meta charset='utf-8'>",
           "<meta name='viewport' content='width=device-width, initial-scale=1'>",
           "<title>churn model report</title>", f"<style>{_CSS}</style></head><body>",
           "<h1>churn model report</h1>"]
    for s in parts:
        out.append(f"<section id='{esc(s.id)}'><h2>{esc(s.title)}</h2>{s.html}")
        if s.figures:
            out.append("<div class='figures'>" + "".join(
                f"<figure{_wide(svg)}>{svg}<figcaption>{esc(caption)}</figcaption></figure>"
                for caption, svg in s.figures) + "</div>")
        out.append("</section>")
    out.append("</body></html>")
    return "".join(out)


def write_report(model_or_path: Any, out_path: "os.PathLike[str] | str") -> str:
    """Writes the report of a model (a path or a loaded model); the format follows the extension
    (.md for Markdown, anything else HTML). Returns the path written."""
    from .forest import load_model

    model = load_model(model_or_path) if isinstance(model_or_path, (str, os.PathLike)) else model_or_path
    out = os.fspath(out_path)
    fmt = "md" if out.lower().endswith((".md", ".markdown")) else "html"
    from .metadata import check_metadata

    check_metadata(model.metadata or {})  # ModelFormatError with the JSON path, before anything is drawn
    text = render(dict(model.metadata or {}), fmt)
    try:
        with open(out, "w", encoding="utf-8") as f:
            f.write(text)
    except OSError as e:
        raise _churn_io_error(out, e) from None
    return out


def _churn_io_error(path: str, e: OSError) -> Exception:
    from ._churn import ChurnIOError

    return ChurnIOError(f"cannot write '{path}': {e.strerror or e}")


__all__ = ["PlainSummary", "Section", "SECTIONS", "calibration_view", "gains_view", "plain_summary", "render",
           "shown_threshold", "stored_calibration", "svg_bar_chart", "svg_histogram",
           "svg_line_chart", "top_signals", "verdict_view", "write_report"]
