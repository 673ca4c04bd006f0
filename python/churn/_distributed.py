"""What churn.dask and churn.spark share: cutting event logs into pieces that any machine can
aggregate, aggregating one piece (with errors that name the file and the line in it), merging the
partial aggregates, and turning the merged aggregate into the same FeatureTable as the one-machine path.

Neither Dask nor Spark is imported here: the functions are plain and picklable, so both engines ship
them to their workers as they are.
"""
from __future__ import annotations

import io
import os
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from . import _churn
from .features import FeatureAccumulator, FeatureTable, _cutoff_ms, _snapshot_args

#: Plain files are cut into pieces of about this many bytes (gzip files are one piece each).
DEFAULT_BLOCKSIZE = 64 << 20

_EVENT_EXTENSIONS = (".json", ".jsonl", ".ndjson")


@dataclass(frozen=True)
class Piece:
    """Bytes [begin, end) of a file, cut at line boundaries (end None: to the end, for gzip files)."""

    path: str
    begin: int = 0
    end: Optional[int] = None
    gzip: bool = False

    def describe(self) -> str:
        if self.gzip or (self.begin == 0 and self.end is None):
            return self.path
        return f"{self.path} [bytes {self.begin}-{self.end})"


def _is_event_file(name: str) -> bool:
    if not name or name[0] in "._":
        return False
    if name.endswith(".gz"):
        name = name[:-3]
    return any(name.endswith(ext) and len(name) > len(ext) for ext in _EVENT_EXTENSIONS)


def expand_paths(paths: Sequence[str]) -> List[str]:
    """Files as given, directories expanded recursively (sorted) to their *.json, *.jsonl, *.ndjson
    files, optionally .gz; hidden names and names starting with '_' (Spark's _SUCCESS) are skipped.
    The same rule as churn::expand_paths in C++."""
    files: List[str] = []
    for path in paths:
        path = os.fspath(path)
        try:
            os.stat(path)
        except FileNotFoundError:
            raise _churn.ChurnIOError(f"cannot open '{path}': no such file or directory") from None
        except OSError as e:  # a symbolic link loop, a permission: the system's reason (issue 15)
            raise _churn.ChurnIOError(f"cannot open '{path}': {e.strerror}") from None
        if not os.path.isdir(path):
            files.append(path)
            continue
        found = []
        for root, dirs, names in os.walk(path):
            dirs[:] = [d for d in dirs if d and d[0] not in "._"]
            found.extend(os.path.join(root, n) for n in names if _is_event_file(n))
        if not found:
            raise _churn.ChurnIOError(
                f"directory '{path}' holds no event files (*.json, *.jsonl, *.ndjson, optionally .gz)")
        files.extend(sorted(found))
    return files


def _is_gzip(path: str) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == b"\x1f\x8b"


def _next_line_start(f: io.BufferedReader, offset: int, size: int) -> int:
    """The offset of the first line that starts at or after `offset` (size when there is none)."""
    if offset <= 0:
        return 0
    f.seek(offset - 1)
    while True:
        chunk = f.read(1 << 16)
        if not chunk:
            return size
        i = chunk.find(b"\n")
        if i >= 0:
            return f.tell() - len(chunk) + i + 1
        # a very long line: keep looking


def plan_pieces(paths: Sequence[str], blocksize: int = DEFAULT_BLOCKSIZE) -> List[Piece]:
    """The pieces of the files (and directories) `paths`: plain files cut at line boundaries into
    pieces of about `blocksize` bytes, gzip files whole. Reads only a few bytes around each cut."""
    if blocksize <= 0:
        raise _churn.ParameterError(
            f"invalid value for parameter 'blocksize': {blocksize} (allowed: a positive number of bytes)")
    pieces: List[Piece] = []
    for path in expand_paths(paths):
        if _is_gzip(path):
            pieces.append(Piece(path, gzip=True))
            continue
        size = os.path.getsize(path)
        if size <= blocksize:
            pieces.append(Piece(path, 0, size))
            continue
        with open(path, "rb") as f:
            cuts = [0]
            for k in range(1, -(-size // blocksize)):
                cut = _next_line_start(f, k * blocksize, size)
                if cut > cuts[-1] and cut < size:
                    cuts.append(cut)
            cuts.append(size)
        pieces.extend(Piece(path, b, e) for b, e in zip(cuts, cuts[1:]))
    return pieces


def _count_lines_before(path: str, offset: int) -> int:
    """Lines that end before byte `offset` of a plain file (only used to place an error)."""
    count = 0
    with open(path, "rb") as f:
        remaining = offset
        while remaining > 0:
            chunk = f.read(min(remaining, 1 << 24))
            if not chunk:
                break
            count += chunk.count(b"\n")
            remaining -= len(chunk)
    return count


def _parse_error(file: str, line: int, field: str, reason: str) -> Exception:
    """A churn ParseError with the attributes and the message of the C++ one."""
    message = f"parse error in {file or '<buffer>'} at line {line}"
    if field:
        message += f", field '{field}'"
    e = _churn.ParseError(f"{message}: {reason}")
    e.file, e.line, e.field, e.reason = file, line, field, reason
    return e


def shift_parse_error(e: Exception, lines_before: int, file: Optional[str] = None) -> Exception:
    """The ParseError `e` of a piece, its line number made that of the whole file (or source)."""
    return _parse_error(file if file is not None else e.file, int(e.line) + lines_before, e.field, e.reason)


# A partial result travels as (accumulator bytes, [piece reports]): both pickle small and fast.
Partial = Tuple[bytes, List[Dict[str, Any]]]


def _piece_report(report: Dict[str, Any], source: str, key: Tuple[Any, ...]) -> Dict[str, Any]:
    keep = ("bytes", "lines", "events", "blank_lines", "bad_lines", "bad_by_reason", "examples")
    out = {k: report[k] for k in keep}
    out["source"], out["key"] = source, key
    return out


def accumulate_piece(piece: Piece, session_gap_minutes: float = 30.0, strict: bool = True) -> Partial:
    """Aggregates one piece of a file; ParseError names the file and the line within the whole file."""
    acc = FeatureAccumulator(session_gap_minutes)
    if piece.gzip:
        report = acc.add_files(piece.path, threads=1, strict=strict)
    else:
        with open(piece.path, "rb") as f:
            f.seek(piece.begin)
            data = f.read((piece.end if piece.end is not None else os.path.getsize(piece.path)) - piece.begin)
        try:
            report = acc.add_jsonl(data, strict=strict, name=piece.path)
        except _churn.ParseError as e:
            if piece.begin == 0:
                raise
            raise shift_parse_error(e, _count_lines_before(piece.path, piece.begin)) from None
    return acc.to_bytes(), [_piece_report(report, piece.path, (piece.path, piece.begin))]


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
    report = acc.add_jsonl(data, strict=strict, name=source)
    return acc.to_bytes(), [_piece_report(report, source, key or (source, 0))]


def merge_partials(partials: Sequence[Partial]) -> Partial:
    """Merges partial results into one (associative and commutative: any tree of merges gives the
    same aggregate)."""
    partials = list(partials)
    if not partials:
        raise _churn.ParameterError("invalid value for parameter 'partials': empty (allowed: at least one)")
    if len(partials) == 1:
        return partials[0]
    acc = FeatureAccumulator.from_bytes(partials[0][0])
    reports = list(partials[0][1])
    for data, more in partials[1:]:
        acc.merge(FeatureAccumulator.from_bytes(data))
        reports.extend(more)
    return acc.to_bytes(), reports


def combine_reports(reports: List[Dict[str, Any]], max_examples: int = 5) -> Dict[str, Any]:
    """One read report for all pieces, as churn.user_features gives: example line numbers are made
    those of each file (a piece's lines follow those of the pieces before it in the same file)."""
    reports = sorted(reports, key=lambda r: tuple(str(k) for k in r["key"][:1]) + tuple(r["key"][1:]))
    total: Dict[str, Any] = {"bytes": 0, "lines": 0, "events": 0, "blank_lines": 0, "bad_lines": 0,
                             "bad_by_reason": {}, "examples": [], "files": []}
    per_source: Dict[str, Dict[str, Any]] = {}
    for r in reports:
        f = per_source.setdefault(r["source"], {"source": r["source"], "bytes": 0, "lines": 0, "events": 0,
                                                "blank_lines": 0, "bad_lines": 0, "bad_by_reason": {},
                                                "examples": []})
        kept: Dict[str, int] = {}
        for _, reason in f["examples"]:
            kept[reason] = kept.get(reason, 0) + 1
        for line, reason in r["examples"]:
            if kept.get(reason, 0) < max_examples:
                f["examples"].append((int(line) + f["lines"], reason))
                kept[reason] = kept.get(reason, 0) + 1
        for k in ("bytes", "lines", "events", "blank_lines", "bad_lines"):
            f[k] += int(r[k])
        for reason, n in r["bad_by_reason"].items():
            f["bad_by_reason"][reason] = f["bad_by_reason"].get(reason, 0) + int(n)
    for f in per_source.values():
        for k in ("bytes", "lines", "events", "blank_lines", "bad_lines"):
            total[k] += f[k]
        for reason, n in f["bad_by_reason"].items():
            total["bad_by_reason"][reason] = total["bad_by_reason"].get(reason, 0) + n
        total["files"].append(f)
    kind = "files" if all(os.path.exists(name) for name in per_source) else "sources"
    total["source"] = next(iter(per_source)) if len(per_source) == 1 else f"{len(per_source)} {kind}"
    lines = [f"{total['source']}: {total['lines']} lines, {total['events']} events, "
             f"{total['blank_lines']} blank, {total['bad_lines']} bad"]
    for f in total["files"]:
        for reason, n in sorted(f["bad_by_reason"].items()):
            where = ", ".join(str(line) for line, r in f["examples"] if r == reason)
            lines.append(f"  {f['source']}: {n} x {reason} (e.g. line {where})")
    total["summary"] = "\n".join(lines)
    if len(per_source) == 1:
        total["examples"] = total["files"][0]["examples"]
    return total


def finalize(partial: Partial, label: str = "window", cutoff: Any = None, horizon_days: float = 30.0, *,
             cutoffs: Any = None, every_days: Optional[int] = None, min_history_days: float = 14.0) -> FeatureTable:
    """The FeatureTable of a merged partial result, as churn.user_features would give it (a snapshot
    table with cutoffs or every_days: all cutoffs from the one merged aggregate)."""
    data, reports = partial
    acc = FeatureAccumulator.from_bytes(data)
    table = acc.finalize(label=label, cutoff=cutoff, horizon_days=horizon_days, cutoffs=cutoffs,
                         every_days=every_days, min_history_days=min_history_days)
    table.report.read = combine_reports(reports)
    return table


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
        raise _churn.ParameterError(
            f"invalid value for parameter 'label': {out['label']!r} (allowed: 'window', 'history')")
    FeatureAccumulator(out["session_gap_minutes"])  # validates the gap
    return out


def tree_levels(n: int, split_every: int) -> List[List[range]]:
    """The groups of a merge tree over n leaves with fan-in split_every, level by level."""
    if split_every < 2:
        raise _churn.ParameterError(
            f"invalid value for parameter 'split_every': {split_every} (allowed: 2 or more)")
    levels = []
    while n > 1:
        groups = [range(i, min(i + split_every, n)) for i in range(0, n, split_every)]
        levels.append(groups)
        n = len(groups)
    return levels


# --- cross-validation with the fits as cluster tasks ---------------------------------------------
#
# churn.cross_validate calls fit() one training set after the other (the outer folds and, inside each,
# the inner folds that tune the threshold). Which rows each fit gets depends only on y, the folds and
# the seed, never on a model's predictions. So a first pass with a stand-in estimator records every
# training set, the cluster fits them all at once, and a second pass replays cross_validate with the
# fitted models: the same code computes the same result as the local run.


def _key(X, y) -> bytes:
    import hashlib

    import numpy as np

    h = hashlib.blake2b(digest_size=20)
    for a in (np.ascontiguousarray(X), np.ascontiguousarray(y)):
        h.update(str(a.shape).encode())
        h.update(str(a.dtype).encode())
        h.update(a.tobytes())
    return h.digest()


class _Recorder:
    """Stand-in estimator: remembers each training set and predicts 0.5."""

    def __init__(self):
        self.jobs: Dict[bytes, Tuple[Any, Any]] = {}

    def __deepcopy__(self, memo):  # cross_validate clones the estimator for every fit: share the record
        return self

    def fit(self, X, y):
        self.jobs.setdefault(_key(X, y), (X.copy(), y.copy()))
        return self

    def predict_proba(self, X):
        import numpy as np

        return np.full((len(X), 2), 0.5)


class _Replay:
    """Stand-in estimator: returns the model fitted on the cluster for each training set."""

    def __init__(self, models: Dict[bytes, Any], estimator: Any):
        self.models, self.estimator = models, estimator

    def __deepcopy__(self, memo):
        return self

    def fit(self, X, y):
        model = self.models.get(_key(X, y))
        return model if model is not None else fit_clone(self.estimator, X, y)

    def predict_proba(self, X):  # never called: fit returns the real models
        raise NotImplementedError


def fit_clone(estimator: Any, X, y) -> Any:
    """A fresh copy of `estimator` fitted on (X, y), as cross_validate fits it."""
    from .evaluation import _clone

    model = _clone(estimator)
    fitted = model.fit(X, y)
    return model if fitted is None else fitted


def fanout_cross_validate(estimator: Any, X, y, run_fits, **options) -> Dict[str, Any]:
    """churn.cross_validate(estimator, X, y, **options) with every fit run by
    ``run_fits(estimator, [(X_train, y_train), ...]) -> [model, ...]`` (on a cluster)."""
    from .evaluation import LogisticRegression, cross_validate

    if isinstance(estimator, (str, LogisticRegression)):
        return cross_validate(estimator, X, y, **options)  # all C++, in threads: nothing to fan out
    recorder = _Recorder()
    cross_validate(recorder, X, y, **options)
    keys = list(recorder.jobs)
    models = run_fits(estimator, [recorder.jobs[k] for k in keys])
    return cross_validate(_Replay(dict(zip(keys, models)), estimator), X, y, **options)


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
        raise _churn.ParameterError(
            f"invalid value for parameter 'n_tasks': {n_tasks!r} (allowed: an int >= 1, or None for one per worker thread)")
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
