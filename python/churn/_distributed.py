"""What churn.dask and churn.spark share: cutting event logs into pieces that any machine can
aggregate, aggregating one piece (with errors that name the file and the line in it), merging the
partial aggregates, and turning the merged aggregate into the same FeatureTable as the one-machine path.

Neither Dask nor Spark is imported here: the functions are plain and picklable, so both engines ship
them to their workers as they are.
"""
from __future__ import annotations

import os
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from . import _churn
from .features import FeatureAccumulator, FeatureTable, _cutoff_ms, _snapshot_args
from ._errors import parameter_error

#: Plain files are cut into pieces of about this many bytes (gzip files are one piece each).
DEFAULT_BLOCKSIZE = 64 << 20

#: A part of a log one task reads: churn._churn.FilePiece (path, begin, end, whole), picklable.
Piece = _churn.FilePiece


def plan_pieces(paths: Sequence[str], blocksize: int = DEFAULT_BLOCKSIZE) -> List[Piece]:
    """The pieces of the files (and directories) `paths`: plain files cut at line boundaries into
    pieces of about `blocksize` bytes, gzip files whole (churn::expand_paths and churn::plan_pieces)."""
    return _churn._plan_pieces([os.fspath(p) for p in paths], int(blocksize))


# A partial result travels as (accumulator bytes, [(key, ReadReport)]): both pickle small and fast. The
# key orders the pieces of a source (source, position) for combine_reports.
Partial = Tuple[bytes, List[Tuple[Tuple[Any, ...], Any]]]


def accumulate_piece(piece: Piece, session_gap_minutes: float = 30.0, strict: bool = True) -> Partial:
    """Aggregates one piece of a file; ParseError names the file and the line within the whole file."""
    acc = FeatureAccumulator(session_gap_minutes)
    report = acc._acc.add_piece(piece, strict)
    return acc.to_bytes(), [((piece.path, piece.begin), report)]


def accumulate_lines(lines: Iterable[Any], source: str, session_gap_minutes: float = 30.0,
                     strict: bool = True, key: Tuple[Any, ...] = ()) -> Partial:
    """Aggregates JSON lines given as str or bytes (with or without their newline) or as dicts (one
    event each, serialised back to JSON). ParseError names `source` and the line within it."""
    import json

    parts: List[bytes] = []
    for line in lines:
        if isinstance(line, dict):
            parts.append(json.dumps(line, separators=(",", ":")).encode())
        elif isinstance(line, str):
            parts.append(line.rstrip("\r\n").encode())
        elif isinstance(line, (bytes, bytearray, memoryview)):
            parts.append(bytes(line).rstrip(b"\r\n"))
        elif line is None:
            parts.append(b"")
        else:
            raise _churn.DataError(
                f"{source}: expected JSON lines (str or bytes) or events (dict), got {type(line).__name__}")
    return accumulate_jsonl(b"\n".join(parts), source, session_gap_minutes, strict, key)


def accumulate_jsonl(data: bytes, source: str, session_gap_minutes: float = 30.0, strict: bool = True,
                     key: Tuple[Any, ...] = ()) -> Partial:
    """Aggregates JSON lines held in memory; ParseError names `source`."""
    acc = FeatureAccumulator(session_gap_minutes)
    report = acc._acc.add_jsonl(data, strict, source)
    return acc.to_bytes(), [(key or (source, 0), report)]


def merge_partials(partials: Sequence[Partial]) -> Partial:
    """Merges partial results into one (associative and commutative: any tree of merges gives the
    same aggregate)."""
    partials = list(partials)
    if not partials:
        raise parameter_error("partials", "empty", "at least one")
    if len(partials) == 1:
        return partials[0]
    acc = FeatureAccumulator.from_bytes(partials[0][0])
    reports = list(partials[0][1])
    for data, more in partials[1:]:
        acc.merge(FeatureAccumulator.from_bytes(data))
        reports.extend(more)
    return acc.to_bytes(), reports


def combine_reports(reports: Sequence[Tuple[Tuple[Any, ...], Any]]) -> _churn.ReadReport:
    """One read report for all pieces, as churn.user_features gives it (churn::join_piece_reports, the
    pieces put in (source, position) order): example line numbers are those of each file."""
    ordered = sorted(reports, key=lambda kr: tuple(str(k) for k in kr[0][:1]) + tuple(kr[0][1:]))
    sources = {r.source for _, r in ordered}
    noun = "files" if all(os.path.exists(name) for name in sources) else "sources"
    return _churn._join_piece_reports([r for _, r in ordered], 5, noun)


def finalize(partial: Partial, label: str = "window", cutoff: Any = None, horizon_days: float = 30.0, *,
             cutoffs: Any = None, every_days: Optional[int] = None, min_history_days: float = 14.0) -> FeatureTable:
    """The FeatureTable of a merged partial result, as churn.user_features would give it (a snapshot
    table with cutoffs or every_days: all cutoffs from the one merged aggregate)."""
    data, reports = partial
    acc = FeatureAccumulator.from_bytes(data)
    return acc.finalize(label=label, cutoff=cutoff, horizon_days=horizon_days, cutoffs=cutoffs,
                        every_days=every_days, min_history_days=min_history_days, read=combine_reports(reports))


def check_options(options: Dict[str, Any]) -> Dict[str, Any]:
    """The keyword options of churn.user_features, checked early (before a cluster is busy)."""
    allowed = {"label", "cutoff", "horizon_days", "session_gap_minutes", "strict", "threads", "progress",
               "cutoffs", "every_days", "min_history_days"}
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise TypeError(f"unexpected option(s) {', '.join(unknown)}; churn.user_features accepts "
                        f"{', '.join(sorted(allowed))}")
    out = {
        "label": options.get("label", "window"),
        "cutoff": _cutoff_ms(options.get("cutoff")),
        "horizon_days": float(options.get("horizon_days", 30.0)),
        "session_gap_minutes": float(options.get("session_gap_minutes", 30.0)),
        "strict": bool(options.get("strict", True)),
    }
    # Checked here, before the cluster is busy; passed on as given.
    _snapshot_args(options.get("cutoffs"), options.get("every_days"), float(options.get("min_history_days", 14.0)))
    out["snapshots"] = {"cutoffs": options.get("cutoffs"), "every_days": options.get("every_days"),
                        "min_history_days": float(options.get("min_history_days", 14.0))}
    if out["label"] not in ("window", "history"):
        raise parameter_error("label", repr(out["label"]), "'window', 'history'")
    FeatureAccumulator(out["session_gap_minutes"])  # validates the gap
    return out


def tree_levels(n: int, split_every: int) -> List[List[range]]:
    """The groups of a merge tree over n leaves with fan-in split_every, level by level."""
    if split_every < 2:
        raise parameter_error("split_every", str(split_every), "2 or more")
    levels = []
    while n > 1:
        groups = [range(i, min(i + split_every, n)) for i in range(0, n, split_every)]
        levels.append(groups)
        n = len(groups)
    return levels


# --- cross-validation with the fits as cluster tasks ---------------------------------------------
#
# churn.evaluation.plan_cross_validate gives every fit of churn.cross_validate as data (the training and
# test samples of the outer folds and of the inner folds that tune the thresholds); the cluster runs
# them all at once (fit_predict) and plan.assemble computes the result from their predictions: the
# same C++ code as the local run, so the same result.


def fit_clone(estimator: Any, X, y) -> Any:
    """A fresh copy of `estimator` fitted on (X, y), as cross_validate fits it."""
    from .evaluation import _clone

    model = _clone(estimator)
    fitted = model.fit(X, y)
    return model if fitted is None else fitted


def fanout_cross_validate(estimator: Any, X, y, run_tasks, **options) -> Dict[str, Any]:
    """churn.cross_validate(estimator, X, y, **options) with the fits of its plan run by
    ``run_tasks(estimator, X, y, [(train, test), ...]) -> [predict_proba on test, ...]`` (on a cluster)."""
    import numpy as np

    from .evaluation import LogisticRegression, cross_validate, plan_cross_validate

    if isinstance(estimator, (str, LogisticRegression)):
        return cross_validate(estimator, X, y, **options)  # all C++, in threads: nothing to fan out
    options.pop("n_jobs", None)  # the cluster supplies the parallelism
    plan = plan_cross_validate(X, y, **options)
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y).astype(np.int64, copy=False)
    return plan.assemble(run_tasks(estimator, X, y, [(t.train, t.test) for t in plan.tasks]))


# --- one forest with its trees as cluster tasks --------------------------------------------------
#
# Tree t of a churn forest is grown from its own generator, seeded with (random_state, t): trees
# first .. first + count - 1 come out the same on any machine and with any number of threads. The
# client checks the data and fixes the seed once (RandomForestClassifier._fit_inputs), each task grows
# one range of trees (fit_tree_range), and the client joins the ranges with combine_forests, which
# sums the importances in tree order and recomputes the out-of-bag estimates from X and y exactly as
# a local fit does: the model is the one estimator.fit(X, y) gives, bit for bit.


def tree_ranges(n_estimators: int, n_tasks: int) -> List[Tuple[int, int]]:
    """(first_tree, n_trees) of `n_tasks` contiguous ranges of near-equal size that cover the
    `n_estimators` trees (fewer ranges when there are fewer trees than tasks)."""
    if isinstance(n_tasks, bool) or not isinstance(n_tasks, int) or n_tasks < 1:
        raise parameter_error("n_tasks", repr(n_tasks), "an int >= 1, or None for one per worker thread")
    n_tasks = min(n_tasks, n_estimators)
    size, extra = divmod(n_estimators, n_tasks)
    ranges, first = [], 0
    for k in range(n_tasks):
        count = size + (1 if k < extra else 0)
        ranges.append((first, count))
        first += count
    return ranges


class ForestFit:
    """One forest fit prepared on the client: a fresh copy of the estimator, the checked training
    arrays (``data``, shipped once to the workers) and the native parameters with the seed fixed."""

    def __init__(self, estimator: Any, X, y, sample_weight=None):
        from .evaluation import _clone
        from .forest import RandomForestClassifier

        if not isinstance(estimator, RandomForestClassifier):
            raise TypeError(f"growing the trees as tasks needs a churn.RandomForestClassifier, got "
                            f"{type(estimator).__name__}; fit() fits any estimator as one task")
        self.model = _clone(estimator)
        self.inputs = self.model._fit_inputs(X, y, sample_weight)

    @property
    def data(self) -> Tuple[Any, Any, Any]:
        """(X, class codes, sample weights): the arrays every task needs."""
        return self.inputs.X, self.inputs.codes, self.inputs.sample_weight

    @property
    def spec(self) -> Tuple[Dict[str, Any], List[str]]:
        """(the forest's parameters, feature names): small, sent with every task."""
        return self.inputs.params, self.inputs.feature_names

    def ranges(self, n_tasks: int) -> List[Tuple[int, int]]:
        return tree_ranges(int(self.inputs.params["n_estimators"]), n_tasks)

    def combine(self, parts: Sequence[Any]) -> Any:
        """The fitted estimator whose forest joins `parts` (churn._churn.ForestPart, any order)."""
        f = self.inputs
        native = _churn.combine_forests(list(parts), f.X, f.codes, f.sample_weight)
        self.model._set_fitted(self.model._labelled(native, f), f.names)
        return self.model


def fit_tree_range(data: Tuple[Any, Any, Any], spec: Tuple[Dict[str, Any], List[str]], first_tree: int,
                   n_trees: int) -> Any:
    """Task body: trees first_tree .. first_tree + n_trees - 1 of the forest (a churn._churn.ForestPart,
    which pickles as JSON)."""
    X, codes, sample_weight = data
    params, feature_names = spec
    return _churn.fit_forest_trees(X, codes, sample_weight, first_tree=int(first_tree), n_trees=int(n_trees),
                                   params=params, feature_names=feature_names)
