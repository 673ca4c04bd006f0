"""Scoring event logs with a saved model: one function for the web app, the CLI and programs.

    result = churn.score("model.json", "events.json.gz")       # or a loaded model; several files, folders
    result.probability, result.churn, result.user_ids
    result.explanations[0].up                                   # reasons (churn.reasons)
    result.not_in_log, result.warnings                          # what the log lacks, what is unlike training
    result.write_csv("scores.csv")

A log becomes features with the model's own options (its metadata's session gap), seen as of the
cutoff: by default the UTC midnight after the log's last event, so every event counts and "now" is the
end of the log, which is what a model trained on window labels expects. Users who cancelled before the
cutoff are not scored (``result.report.users_cancelled_before_cutoff``).
"""
from __future__ import annotations

import csv
import os
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Union

import numpy as np

from . import _churn
from .dates import day_text
from .features import FeatureAccumulator, FeatureTable, _cutoff_ms
from .reasons import FEATURE_PAGES, PAGE_COUNTS, Explainer, Explanation, pages_in
from ._errors import parameter_error

# This module passes plain arrays already in the model's column order to a model fitted on named
# columns; the estimator's "X does not have valid feature names" warning says nothing to its users here.
warnings.filterwarnings("ignore", message="X does not have valid feature names", category=UserWarning,
                        module=__name__.replace(".", r"\."))

PathLike = Union[str, "os.PathLike[str]"]

_DAY_MS = _churn.MS_PER_DAY  # the library's one constant (churn/dates.hpp)
#: Rows scored (and explained) at a time: bounds the scratch arrays.
CHUNK_ROWS = 8192

try:  # issue 15 adds churn.csvsafe (CSV formula neutralising); until it is here, the same rule inline.
    from .csvsafe import neutralise as _neutralise  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - replaced by churn.csvsafe once merged
    import re as _re

    _NUMBER = _re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")

    def _neutralise(cell: Any) -> Any:
        if isinstance(cell, str) and cell.lstrip("'")[:1] in tuple("=+-@\t\r") and not _NUMBER.fullmatch(cell):
            return "'" + cell
        return cell


def utc_midnight_after(ts_ms: int) -> int:
    """The first UTC midnight strictly after `ts_ms` (epoch milliseconds)."""
    return (int(ts_ms) // _DAY_MS + 1) * _DAY_MS


def model_of(model: Any):
    """A loaded model from a model or a path (churn.load_model)."""
    if isinstance(model, (str, os.PathLike)):
        from .forest import load_model

        return load_model(model)
    return model


def model_feature_names(model: Any, metadata: Mapping[str, Any]) -> List[str]:
    """The model's column names: its own, or the metadata's when it was fitted without names."""
    names = [str(n) for n in (getattr(model, "feature_names", None) or [])]
    entries = [e for e in (metadata.get("features") or []) if isinstance(e, Mapping)]
    if (not names or all(n == f"x{i}" for i, n in enumerate(names))) and entries:
        names = [str(e.get("name")) for e in entries]
    return names


def model_threshold(model: Any, metadata: Mapping[str, Any]) -> float:
    t = metadata.get("threshold", getattr(model, "threshold", 0.5))
    return float(t) if isinstance(t, (int, float)) and not isinstance(t, bool) and 0 <= t <= 1 else 0.5


def model_calibration(model: Any):
    """The model's stored calibration (churn.calibration.Calibration), or None (an older model file, a
    model without metadata, an estimator that is not churn's)."""
    try:
        return getattr(model, "calibration", None)
    except AttributeError:  # pragma: no cover - a property failing inside an estimator
        return None


def decide(raw: np.ndarray, threshold: float, calibration: Any = None):
    """(probability to show, verdict, threshold to show) for raw forest probabilities.

    Without a calibration: the raw probability, ``raw > threshold`` (the rule of the model's predict())
    and the threshold. With one: the calibrated probability, the verdict ``calibrated > calibrated
    threshold`` and the calibrated threshold, so a verdict can never contradict the number shown beside
    it. It is decided on the raw score against ``calibration.decision_threshold(threshold)``, which is
    the same rule exactly (calibration keeps the order of scores) and equals the model's own threshold
    for every model ``churn train`` saves (it moves the threshold to an end of a calibration's flat step).
    """
    raw = np.asarray(raw, dtype=np.float64)
    if calibration is None or getattr(calibration, "method", "none") == "none":
        return raw, raw > threshold, float(threshold)
    shown = np.asarray(calibration.apply(raw), dtype=np.float64)
    decision = calibration.decision_threshold(threshold)
    return shown, raw > decision, float(calibration.apply(decision))


@dataclass
class ScoreResult:
    """Every scored user: probability, verdict and reasons, plus what the log lacks or has unlike the
    training data. Rows are in the feature table's order (by user id)."""

    user_ids: List[str]
    feature_names: List[str]
    X: np.ndarray  # users x the model's columns
    probability: np.ndarray  # P(churn) to show: calibrated when the model stores a calibration
    churn: np.ndarray  # bool: probability > threshold (see decide())
    threshold: float  # on the scale of `probability` (the model's threshold, calibrated)
    explanations: Optional[List[Explanation]]  # None when explain=0 or the model cannot be explained
    not_in_log: List[str] = field(default_factory=list)  # pages the training data has and the log lacks
    out_of_range: Dict[str, int] = field(default_factory=dict)  # feature -> users outside its training range
    warnings: List[str] = field(default_factory=list)  # where the log is unlike the training data
    notes: List[str] = field(default_factory=list)  # bad lines skipped, users not scored, ...
    cutoff_ms: Optional[int] = None
    table: Optional[FeatureTable] = field(default=None, repr=False)
    explain_error: Optional[str] = None  # why there are no explanations (an old model file, ...)
    raw_probability: Optional[np.ndarray] = None  # the forest's own P(churn) (what reasons explain)
    raw_threshold: Optional[float] = None  # the model's threshold on the raw probability
    calibration: Optional[str] = None  # how `probability` was calibrated, in words; None: not calibrated

    def __len__(self) -> int:
        return len(self.user_ids)

    def order(self) -> np.ndarray:
        """Row indices from the highest risk down (by the raw score, which a calibration's flat steps do
        not tie; ties in row order)."""
        key = self.raw_probability if self.raw_probability is not None else self.probability
        return np.argsort(-np.asarray(key), kind="stable")

    @property
    def absent_features(self) -> List[str]:
        pages = set(self.not_in_log)
        return [n for n in self.feature_names if FEATURE_PAGES.get(n) in pages]

    def not_in_log_text(self) -> Optional[str]:
        if not self.not_in_log:
            return None
        return ("not in this log: " + ", ".join(self.not_in_log) + " (no event of "
                + ("that page" if len(self.not_in_log) == 1 else "these pages")
                + " anywhere, so the features counting them read 0 for everyone; they are never given as reasons)")

    def rows(self, top: int = 3) -> List[Dict[str, Any]]:
        """One dict per user, highest risk first: rank, user_id, probability, churn, verdict, reasons."""
        out = []
        for rank, i in enumerate(self.order(), 1):
            e = self.explanations[i] if self.explanations is not None else None
            out.append({"rank": rank, "index": int(i), "user_id": self.user_ids[i],
                        "probability": float(self.probability[i]), "churn": bool(self.churn[i]),
                        "verdict": verdict_words(bool(self.churn[i])),
                        "reasons": [] if e is None else e.reasons[:top]})
        return out

    def write_csv(self, path: PathLike, top: int = 3, values: bool = False,
                  categories: Optional[Mapping[str, Sequence[str]]] = None) -> None:
        """``rank, user_id, churn_probability, verdict, about_to_churn, reason_1..reason_top``, highest
        risk first (and with values=True every feature value; categorical ones as labels where
        `categories` names them, else codes). Text cells are neutralised against formula injection
        (a spreadsheet runs none of them)."""
        cats = {j: list(categories[n]) for j, n in enumerate(self.feature_names) if categories and n in categories}
        with open(os.fspath(path), "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            header = ["rank", "user_id", "churn_probability", "verdict", "about_to_churn"]
            header += [f"reason_{k}" for k in range(1, top + 1)]
            if values:
                header += [_neutralise(n) for n in self.feature_names]
            w.writerow(header)
            for row in self.rows(top):
                i = row["index"]
                reasons = [r.short for r in row["reasons"]]
                reasons += [""] * (top - len(reasons))
                cells = [row["rank"], _neutralise(row["user_id"]), f"{row['probability']:.6f}", row["verdict"],
                         int(row["churn"])] + [_neutralise(r) for r in reasons]
                if values:
                    cells += [_neutralise(cats[j][int(v)]) if j in cats and 0 <= v < len(cats[j]) else repr(float(v))
                              for j, v in enumerate(self.X[i])]
                w.writerow(cells)


def verdict_words(churns: bool) -> str:
    return "about to churn" if churns else "likely to stay"


def _date(ms: Optional[int]) -> str:
    return day_text(ms, "?") or "?"


def compare_with_training(X: np.ndarray, names: Sequence[str], metadata: Mapping[str, Any], *,
                          first_ts: Optional[int] = None, last_ts: Optional[int] = None,
                          cutoff_ms: Optional[int] = None) -> Dict[str, Any]:
    """Where a scored table is unlike the model's training data: {'not_in_log': pages the training
    data has and X lacks, 'warnings': sentences about the period, new pages and values out of range,
    'out_of_range': {feature: users outside its training range}}."""
    warnings: List[str] = []
    data = metadata.get("data") or {}
    expl = metadata.get("explanations") or {}
    trained_pages = expl.get("pages") if isinstance(expl.get("pages"), list) else None
    scored_pages = pages_in(X, names)
    if trained_pages is None:  # a model without the list: every page the features count
        trained_pages = [p for p, c in PAGE_COUNTS.items() if c in names]
    not_in_log = sorted(set(trained_pages) - set(scored_pages)) if X.shape[0] else []
    new_pages = sorted(set(scored_pages) - set(trained_pages))
    if new_pages:
        warnings.append("the log has " + ", ".join(new_pages) + " events, which the training data had none of: "
                        "the model never learnt what they mean")

    t_first, t_last = data.get("first_ts"), data.get("last_ts")
    labels = metadata.get("labels") or {}
    t_cut = labels.get("cutoff_ms") if labels.get("mode", "window") == "window" else None
    if isinstance(t_first, (int, float)) and isinstance(t_last, (int, float)) and first_ts is not None:
        t_end = t_cut if isinstance(t_cut, (int, float)) else t_last
        trained_days = (t_end - t_first) / _DAY_MS
        end = cutoff_ms if cutoff_ms is not None else last_ts
        scored_days = ((end - first_ts) / _DAY_MS) if end is not None else None
        if last_ts is not None and (last_ts < t_first or first_ts > t_last):
            warnings.append(f"the log's events run from {_date(first_ts)} to {_date(last_ts)}, outside the period "
                            f"the model learnt from ({_date(t_first)} to {_date(t_last)})")
        if scored_days is not None and trained_days > 0 and not 0.75 <= scored_days / trained_days <= 1.33:
            warnings.append(f"the log covers {scored_days:.0f} days before its cutoff, the training features "
                            f"{trained_days:.0f} days: totals, tenure and observed days are not on the same scale")

    entries = {e.get("name"): e for e in (metadata.get("features") or []) if isinstance(e, Mapping)}
    outside = []
    for j, name in enumerate(names):
        e = entries.get(name) or {}
        lo, hi = e.get("min"), e.get("max")
        if e.get("kind") == "categorical" or not isinstance(lo, (int, float)) or not isinstance(hi, (int, float)):
            continue
        col = X[:, j]
        n = int(np.sum((col < lo) | (col > hi)))
        if n:
            outside.append((n, name))
    if outside:
        outside.sort(key=lambda t: (-t[0], t[1]))
        listed = ", ".join(f"{name} ({n} user{'s' if n != 1 else ''})" for n, name in outside[:6])
        more = f" and {len(outside) - 6} more" if len(outside) > 6 else ""
        warnings.append(f"values outside the training range: {listed}{more}; the forest treats them as the "
                        "nearest value it saw")
    return {"not_in_log": not_in_log, "warnings": warnings, "out_of_range": {name: n for n, name in outside}}


def score_features(model: Any, X: np.ndarray, user_ids: Optional[Sequence[str]] = None, *, explain: int = 3,
                   absent: Sequence[str] = (), threads: Optional[int] = None,
                   assumed: Optional[Sequence[Sequence[str]]] = None) -> ScoreResult:
    """Probabilities, verdicts and (explain > 0) reasons for a feature matrix already in the model's
    column order. `absent` names features whose page the data does not record (never reasons);
    `assumed[i]` the features of row i whose values are defaults nobody gave (never named as causes)."""
    model = model_of(model)
    meta = dict(getattr(model, "metadata", None) or {})
    names = model_feature_names(model, meta)
    X = np.ascontiguousarray(np.atleast_2d(np.asarray(X, dtype=np.float64)))
    if X.shape[1] != len(names):
        raise parameter_error("X", f"{X.shape[1]} columns", f"the model's {len(names)} features")
    ids = [str(u) for u in user_ids] if user_ids is not None else [str(i + 1) for i in range(X.shape[0])]
    threshold = model_threshold(model, meta)
    calibration = model_calibration(model)
    proba = np.empty(X.shape[0])
    explanations: Optional[List[Explanation]] = [] if explain > 0 else None
    explain_error = None
    explainer = None
    if explain > 0:
        try:
            explainer = Explainer(model, meta, names)
        except _churn.ModelCapabilityError as e:
            explanations, explain_error = None, str(e)
    for start in range(0, X.shape[0], CHUNK_ROWS):
        part = X[start:start + CHUNK_ROWS]
        proba[start:start + len(part)] = np.asarray(model.predict_proba(part))[:, 1]
        if explainer is not None and explanations is not None:
            explanations += explainer.explain(
                part, top=explain, absent=absent,
                assumed=None if assumed is None else list(assumed[start:start + len(part)]))
    shown, churns, shown_threshold = decide(proba, threshold, calibration)
    return ScoreResult(user_ids=ids, feature_names=names, X=X, probability=shown, churn=churns,
                       threshold=shown_threshold, explanations=explanations, explain_error=explain_error,
                       raw_probability=proba, raw_threshold=threshold,
                       calibration=None if calibration is None or calibration.method == "none"
                       else calibration.describe())


def score(model: Any, paths: Union[PathLike, Sequence[PathLike]], cutoff: Any = None, explain: int = 3, *,
          strict: bool = True, threads: Optional[int] = None, max_users: Optional[int] = None,
          progress: Any = None) -> ScoreResult:
    """Scores every user of event logs with a saved model (a path or a loaded model).

    The logs (files or folders, plain or .gz) become features with the model's own session gap, as
    of `cutoff` ('YYYY-MM-DD', a date, epoch ms; None: the UTC midnight after the last event). Users who
    cancelled before the cutoff are not scored. `explain` reasons each way per user (0: none, faster).
    `strict=False` skips bad lines and counts them (``notes``); `max_users` bounds memory (a DataError,
    or churn.LimitError where the library has it, at the first user beyond); `progress` is a
    churn._churn._FeatureProgress to poll. Raises ParseError, DataError (no events), ChurnIOError."""
    model = model_of(model)
    meta = dict(getattr(model, "metadata", None) or {})
    labels = meta.get("labels") or {}
    gap = labels.get("session_gap_minutes")
    gap = float(gap) if isinstance(gap, (int, float)) and not isinstance(gap, bool) else 30.0
    horizon = labels.get("horizon_days")
    horizon = float(horizon) if isinstance(horizon, (int, float)) and not isinstance(horizon, bool) and horizon > 0 else 30.0
    acc = FeatureAccumulator(session_gap_minutes=gap, max_users=max_users)
    report = acc.add_files(paths, threads=threads, strict=strict, progress=progress)
    notes: List[str] = []
    bad = int(report.bad_lines)
    if bad:
        examples = report.examples
        example = f" (e.g. line {examples[0][0]}: {examples[0][1]})" if examples else ""
        notes.append(f"{bad} malformed line{'s' if bad != 1 else ''} skipped{example}")
    if acc.events == 0 or acc.last_ts is None:
        raise _churn.DataError("the log has no events")
    cut = _cutoff_ms(cutoff)
    cut = utc_midnight_after(acc.last_ts) if cut is None else cut
    table = acc.finalize(label="window", cutoff=cut, horizon_days=horizon)
    names = model_feature_names(model, meta)
    index = {n: j for j, n in enumerate(table.feature_names)}
    missing = [n for n in names if n not in index]
    if missing:
        raise _churn.DataError("the model needs features that churn does not compute from event logs: "
                               + ", ".join(missing[:10]) + "; score a table of features instead (score_features)")
    X = np.ascontiguousarray(np.asarray(table.X, dtype=np.float64)[:, [index[n] for n in names]])
    left = int(table.report.users_cancelled_before_cutoff)
    if left:
        notes.append(f"{left} user{'s' if left != 1 else ''} who already cancelled {'are' if left != 1 else 'is'} not scored")
    found = compare_with_training(X, names, meta, first_ts=acc.first_ts, last_ts=acc.last_ts, cutoff_ms=cut)
    absent = [n for n in names if FEATURE_PAGES.get(n) in set(found["not_in_log"])]
    result = score_features(model, X, table.user_ids, explain=explain, absent=absent, threads=threads)
    result.not_in_log, result.warnings, result.notes = found["not_in_log"], found["warnings"], notes
    result.out_of_range = found["out_of_range"]
    result.cutoff_ms, result.table = cut, table
    return result


def _cli_predict(args) -> int:
    """``churn predict MODEL EVENTS... --out scores.csv``: see cli.py for the arguments."""
    import sys

    from .features import _run_with_progress

    model = model_of(args.model)
    progress = _churn._FeatureProgress()
    show = (not args.quiet and sys.stderr.isatty()) or args.progress
    result = _run_with_progress(
        lambda: score(model, args.events, cutoff=args.cutoff, explain=args.explain, strict=not args.lenient,
                      threads=args.threads, progress=progress), progress, show)
    result.write_csv(args.out, top=max(args.explain, 0), values=args.values)
    if not args.quiet:
        say: Callable[[str], None] = lambda s: print(s, file=sys.stderr)  # noqa: E731
        n = len(result)
        say(f"scored {n} user{'s' if n != 1 else ''} as of {_date(result.cutoff_ms)} (features from events before it): "
            f"{int(result.churn.sum())} about to churn (P(churn) > {result.threshold:.3f})")
        if result.calibration:
            say(f"probabilities {result.calibration} (the model's raw threshold {result.raw_threshold:.3f})")
        for note in result.notes:
            say(note)
        if result.not_in_log:
            say(result.not_in_log_text() or "")
        for w in result.warnings:
            say(f"warning: {w}")
        if result.explain_error:
            say(f"no reasons: {result.explain_error}")
        say(f"wrote {args.out}")
    return 0


__all__ = [
    "ScoreResult", "compare_with_training", "decide", "model_calibration", "score", "score_features",
    "utc_midnight_after", "verdict_words",
]
