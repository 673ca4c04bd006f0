"""Per-user features and churn labels from event logs (see docs/features.md for every feature).

    t = churn.user_features("events.json")                 # window labels, default cutoff
    t.X, t.y, t.user_ids, t.feature_names, t.descriptions
    df = t.to_pandas()

The heavy lifting is C++ (churn/features.hpp): one streaming pass, parallel over threads, memory
bounded by the number of users. :class:`FeatureAccumulator` exposes the mergeable aggregate for
chunked or distributed use: aggregate pieces anywhere, pickle them, ``merge`` them, ``finalize``.
"""
from __future__ import annotations

import datetime as _dt
import numbers
import os
import sys

from . import _churn
from ._checks import threads as _threads
from ._churn import ReadReport
from ._errors import parameter_error
from .dates import day_text

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time (see churn/__init__.py)
if TYPE_CHECKING:
    from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union

    import numpy as np

    PathLike = Union[str, "os.PathLike[str]"]

# numpy is imported where an array is made, not here: `churn features` (files in, CSV out) runs without
# it. A value can only be a numpy scalar when numpy is loaded, so the checks ask sys.modules.

_DAY_MS = _churn.MS_PER_DAY  # the library's one constant (churn/dates.hpp)


def _paths(path_or_paths: Union[PathLike, Sequence[PathLike]]) -> List[str]:
    if isinstance(path_or_paths, (str, bytes, os.PathLike)):
        return [os.fsdecode(path_or_paths)]
    paths = [os.fsdecode(p) for p in path_or_paths]
    if not paths:
        raise parameter_error("path_or_paths", "[]", "a path or a non-empty list of paths")
    return paths


def _cutoff_ms(cutoff: Any) -> Optional[int]:
    """None, epoch milliseconds, 'YYYY-MM-DD', a date, or a UTC (or naive, taken as UTC) midnight
    datetime / numpy datetime64 / pandas Timestamp."""
    if cutoff is None:
        return None
    np = sys.modules.get("numpy")
    if np is not None and isinstance(cutoff, np.datetime64):
        return int(cutoff.astype("datetime64[ms]").astype(np.int64))
    if isinstance(cutoff, _dt.datetime):
        if cutoff.tzinfo is None:
            cutoff = cutoff.replace(tzinfo=_dt.timezone.utc)
        return int(round(cutoff.timestamp() * 1000))
    if isinstance(cutoff, _dt.date):
        return (cutoff - _dt.date(1970, 1, 1)).days * _DAY_MS
    if isinstance(cutoff, numbers.Integral) and not isinstance(cutoff, bool):
        return int(cutoff)
    if isinstance(cutoff, str):
        return int(_churn._parse_cutoff(cutoff))
    raise parameter_error("cutoff", repr(cutoff),
                          "None, 'YYYY-MM-DD', a date, a UTC midnight datetime, or epoch milliseconds")


def _max_users(max_users: Optional[int]) -> Optional[int]:
    if max_users is None:
        return None
    if isinstance(max_users, bool) or not isinstance(max_users, numbers.Integral):
        raise parameter_error("max_users", repr(max_users), "None (no limit) or a positive number of users")
    return int(max_users)  # the binding checks the range


def _utc(ms: Optional[int]) -> Optional[_dt.datetime]:
    return None if ms is None else _dt.datetime.fromtimestamp(ms / 1000, _dt.timezone.utc)


#: What went into a table and what was left out (churn::feature_report, bound read-only).
FeatureReport = _churn.FeatureReport
#: One column's name, description, unit, kind and categories (churn::feature_info, bound read-only).
FeatureInfo = _churn.FeatureInfo


class FeatureTable(_churn._FeatureTable):
    """One row per user (a snapshot table: one row per user and cutoff): churn::feature_table, bound
    read-only. ``X`` is float64 (rows x features, Fortran order); categorical columns hold codes into
    ``categories[name]`` (0 "unknown", 1 "other"); ``y`` is 1 for churn; ``cutoffs`` (window mode) the
    cutoff of each row in epoch ms. X, y and cutoffs are numpy views of the table's own memory (no copy).
    The fields (X, y, user_ids, features, feature_names, descriptions, units, kinds, categories, label,
    cutoff_ms, horizon_days, session_gap_minutes, report, cutoffs) come from the binding; this class adds
    what is easier said in Python."""

    @property
    def cutoff(self) -> Optional[_dt.datetime]:
        """The window-mode cutoff as a UTC datetime (None in history mode)."""
        return _utc(self.cutoff_ms)

    @property
    def is_snapshots(self) -> bool:
        """True for a snapshot table (rows at several cutoffs; one user may have several rows)."""
        return bool(self.report.snapshot_cutoffs)

    @property
    def snapshot_cutoffs(self) -> List[int]:
        """The cutoffs of a snapshot table (epoch ms, ascending); [] otherwise."""
        return list(self.report.snapshot_cutoffs)

    @property
    def groups(self) -> np.ndarray:
        """One group number per row, the same for all rows of one user (for grouped folds)."""
        import numpy as np

        _, inverse = np.unique(np.asarray(self.user_ids, dtype=object).astype(str), return_inverse=True)
        return inverse.astype(np.int64)

    def column(self, name: str) -> np.ndarray:
        try:
            return self.X[:, self.feature_names.index(name)]
        except ValueError:
            raise KeyError(f"no feature {name!r}; features are {', '.join(self.feature_names)}") from None

    def feature_info(self) -> List[Dict[str, Any]]:
        """Name, description, unit, kind and categories of every column (for model metadata)."""
        return [f.to_dict() for f in self.features]

    def to_pandas(self, decode: bool = False):
        """A DataFrame indexed by user_id (a snapshot table: by user_id and cutoff, a UTC timestamp) with
        one column per feature and ``churned``. With decode=True categorical columns become pandas
        Categoricals of their names."""
        import numpy as np
        import pandas as pd

        if self.is_snapshots:
            index = pd.MultiIndex.from_arrays(
                [self.user_ids, pd.to_datetime(np.asarray(self.cutoffs, dtype=np.int64), unit="ms", utc=True)],
                names=["user_id", "cutoff"])
        else:
            index = pd.Index(self.user_ids, name="user_id")
        df = pd.DataFrame(self.X, columns=self.feature_names, index=index)
        if decode:
            for name, cats in self.categories.items():
                df[name] = pd.Categorical.from_codes(df[name].to_numpy().astype(np.int64), categories=cats)
        df["churned"] = self.y
        return df

    def __repr__(self) -> str:
        where = f"cutoff {_churn._format_utc(self.cutoff_ms)}" if self.cutoff_ms is not None else "history"
        if self.is_snapshots:
            cuts = self.report.snapshot_cutoffs
            return (f"<FeatureTable {len(self)} rows (users x {len(cuts)} cutoffs {_churn._format_utc(cuts[0])}.."
                    f"{_churn._format_utc(cuts[-1])}) x {len(self.feature_names)} features, {int(self.y.sum())} "
                    f"churned, horizon {self.horizon_days:g} days>")
        return (f"<FeatureTable {len(self)} users x {len(self.feature_names)} features, "
                f"{int(self.y.sum())} churned, label={self.label!r}, {where}>")


def user_features(path_or_paths: Union[PathLike, Sequence[PathLike]], label: str = "window", cutoff: Any = None,
                  horizon_days: float = 30.0, session_gap_minutes: float = 30.0, threads: Optional[int] = None,
                  strict: bool = True, progress: Any = None, max_users: Optional[int] = None,
                  cutoffs: Optional[Sequence[Any]] = None, every_days: Optional[int] = None,
                  min_history_days: float = 14.0) -> FeatureTable:
    """Per-user features and churn labels of one or more event logs (JSON lines, plain or .gz).

    label: "window" (default): features from events before ``cutoff``, label 1 when the user cancels
        in [cutoff, cutoff + horizon_days); users who cancelled before the cutoff are left out.
        "history": features from all of a user's events, label 1 when they ever cancel (leaks; for
        comparison only, see docs/features.md).
    cutoff: a UTC midnight ('YYYY-MM-DD', date, datetime, epoch ms); None: the last midnight at or
        before (last event - horizon_days).
    session_gap_minutes: silence that ends a session within one sessionId (0: trust the ids).
    threads: reading threads (None: all cores); the result does not depend on it.
    strict: raise ParseError at the first bad line (False: skip and count bad lines).
    progress: a churn._churn._FeatureProgress to poll from another thread.
    max_users: the most distinct users to aggregate (None: no limit). Memory grows with users (about
        0.5 KB each while reading, 1.4 KB at the peak), so a service reading untrusted logs sets one:
        the first user beyond it raises DataError (with .file and .line when a reading thread crossed
        it) before more memory is taken; each thread holds at most max_users users.
    cutoffs: a snapshot table, one row per (user, cutoff) at each of these UTC midnights (any form
        ``cutoff`` takes), rows ordered by cutoff, then user; row for row what one call per cutoff
        gives, from one read of the log. Each row's cutoff is in ``table.cutoffs``.
    every_days: a snapshot table on a schedule: a cutoff every this many days, back from the default
        cutoff (the last whose whole label window lies in the log) while ``min_history_days`` of log
        lie before the cutoff (default 14: the longest look-back of any feature).
    """
    return FeatureTable(_churn._user_features(
        _paths(path_or_paths), label, _cutoff_ms(cutoff), float(horizon_days), float(session_gap_minutes),
        _threads(threads), bool(strict), progress, _max_users(max_users),
        *_snapshot_args(cutoffs, every_days, min_history_days)))


def _snapshot_args(cutoffs: Optional[Sequence[Any]], every_days: Optional[int],
                   min_history_days: float) -> Tuple[Optional[List[int]], int, float]:
    """(cutoffs in ms or None, every_days as int, min_history_days) for the binding."""
    if isinstance(cutoffs, (str, bytes)):
        raise parameter_error("cutoffs", repr(cutoffs), "a list of cutoffs; for one cutoff use cutoff=")
    ms: Optional[List[int]] = None
    if cutoffs is not None:
        parsed = [_cutoff_ms(c) for c in cutoffs]
        if any(c is None for c in parsed):
            raise parameter_error("cutoffs", "None in the list", "UTC midnights")
        ms = [c for c in parsed if c is not None]
    if every_days is None:
        every = 0
    elif isinstance(every_days, bool) or not isinstance(every_days, numbers.Integral) or every_days < 1:
        raise parameter_error("every_days", repr(every_days), "None or a whole number of days >= 1")
    else:
        every = int(every_days)
    return ms, every, float(min_history_days)


class FeatureAccumulator:
    """The mergeable per-user aggregate behind :func:`user_features`.

    Aggregate any pieces of a log (files, byte chunks of JSON lines, split anywhere and in any order),
    ``merge`` the accumulators, then ``finalize`` under any labelling: the result equals aggregating the
    whole log at once. Pickles compactly (``to_bytes``/``from_bytes``) for Dask or Spark.

    max_users: the most distinct users it takes (None: no limit). A new user beyond it raises
    DataError, from ``add_files``/``add_jsonl`` with .file and .line of the event that crossed it, or
    from ``merge``; the accumulator keeps what it had and stays usable. The limit is not part of the
    aggregate: ``from_bytes`` and unpickling give an accumulator without one.
    """

    def __init__(self, session_gap_minutes: float = 30.0, max_users: Optional[int] = None, _acc: Any = None):
        self._acc = _acc if _acc is not None else _churn._FeatureAccumulator(float(session_gap_minutes),
                                                                               _max_users(max_users))

    def add_files(self, path_or_paths: Union[PathLike, Sequence[PathLike]], threads: Optional[int] = None,
                  strict: bool = True, progress: Any = None) -> ReadReport:
        """Aggregates files; returns the ReadReport (``report["events"]`` and ``to_dict()`` work too)."""
        return self._acc.add_files(_paths(path_or_paths), strict, _threads(threads), progress)

    def add_jsonl(self, data: Union[bytes, str], strict: bool = True, name: str = "<buffer>") -> ReadReport:
        """Aggregates JSON lines held in memory; returns the ReadReport."""
        if isinstance(data, str):
            data = data.encode("utf-8")
        return self._acc.add_jsonl(bytes(data), strict, name)

    def merge(self, other: "FeatureAccumulator") -> "FeatureAccumulator":
        """Adds ``other``'s aggregate into this one; returns self."""
        self._acc.merge(other._acc)
        return self

    def finalize(self, label: str = "window", cutoff: Any = None, horizon_days: float = 30.0, *,
                 cutoffs: Optional[Sequence[Any]] = None, every_days: Optional[int] = None,
                 min_history_days: float = 14.0, read: Optional[ReadReport] = None) -> FeatureTable:
        """The feature table under the given labelling (see :func:`user_features`); with cutoffs or
        every_days a snapshot table. ``read``: the ReadReport of what was aggregated (the table's
        ``report.read``)."""
        return FeatureTable(self._acc.finalize(label, _cutoff_ms(cutoff), float(horizon_days),
                                               *_snapshot_args(cutoffs, every_days, min_history_days), read))

    def to_bytes(self) -> bytes:
        """Compact platform-independent bytes; equal aggregates give equal bytes."""
        return self._acc.to_bytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> "FeatureAccumulator":
        return cls(_acc=_churn._FeatureAccumulator.from_bytes(bytes(data)))

    def __reduce__(self):
        return (FeatureAccumulator.from_bytes, (self.to_bytes(),))

    @property
    def events(self) -> int:
        return self._acc.events

    @property
    def users(self) -> int:
        return self._acc.users

    @property
    def session_gap_minutes(self) -> float:
        return self._acc.session_gap_minutes

    @property
    def max_users(self) -> Optional[int]:
        """The most distinct users this accumulator takes (None: no limit)."""
        return self._acc.max_users

    @property
    def first_ts(self) -> Optional[int]:
        """The earliest event time seen (ms since 1970, UTC), or None before any event."""
        return self._acc.first_ts

    @property
    def last_ts(self) -> Optional[int]:
        """The latest event time seen (ms since 1970, UTC), or None before any event. A default window
        cutoff for a log is the UTC midnight after it."""
        return self._acc.last_ts

    def __repr__(self) -> str:
        return f"<FeatureAccumulator {self.events} events, {self.users} users>"


def merge_accumulators(accumulators: Iterable[FeatureAccumulator]) -> FeatureAccumulator:
    """Merges accumulators (e.g. one per Dask partition) into a new one."""
    it = iter(accumulators)
    try:
        first = next(it)
    except StopIteration:
        raise parameter_error("accumulators", "empty", "at least one accumulator") from None
    out = FeatureAccumulator.from_bytes(first.to_bytes())
    for acc in it:
        out.merge(acc)
    return out


def _day(ms: Optional[int]) -> str:
    return day_text(ms, "?") or "?"


def why_empty(table: FeatureTable, sources: Sequence[str] = ()) -> str:
    """Why a feature table has no rows, and what to change: the log's span against the cutoff and the
    horizon, or what the reader found instead of users' events."""
    r = table.report
    where = ", ".join(sources) if sources else "the input"
    if r.events == 0:
        lines, bad = (r.read.lines, r.read.bad_lines) if r.read is not None else (0, 0)
        return (f"no users: {where} holds no events ({lines:,} lines read, {bad:,} bad). "
                "Check the paths: a folder is searched for *.json, *.jsonl and their .gz files"
                + ("; --lenient skipped the bad lines, so look at them first" if bad else ""))
    if r.users_seen == 0:
        return (f"no users: all {r.events:,} events have an empty userId (guests and logged-out pages); "
                "a log needs events of logged-in users")
    span = f"the log runs from {_day(r.first_ts)} to {_day(r.last_ts)}"
    if table.label == "history":
        return (f"no users: {span} and every one of its {r.users_seen:,} users has only cancellation events; "
                "use a log with their activity")
    days = (r.last_ts - r.first_ts) / _DAY_MS if r.first_ts is not None and r.last_ts is not None else 0.0
    cutoff, horizon = r.cutoff_ms, table.horizon_days
    if cutoff is not None and r.first_ts is not None and cutoff <= r.first_ts:
        # The usual case: a log shorter than the horizon, where the default cutoff (log end - horizon)
        # falls before the first event.
        shorter = max(1, int(days // 2))
        new_cutoff = (r.last_ts - shorter * _DAY_MS) // _DAY_MS * _DAY_MS
        return (f"no users: {span} ({days:.0f} days), and the cutoff {_day(cutoff)} (features before it, label: "
                f"leaves within {horizon:g} days after it) is at or before the first event, so no user has "
                f"events before the cutoff. Use a shorter horizon: --horizon-days {shorter} puts the cutoff at "
                f"{_day(new_cutoff)}, with {shorter} days of the log to see who leaves; or give --cutoff "
                f"YYYY-MM-DD after {_day(r.first_ts)} with a horizon that ends by {_day(r.last_ts)}; or use a "
                "longer log")
    if r.users_cancelled_before_cutoff and r.users_cancelled_before_cutoff + r.users_without_events_before_cutoff \
            >= r.users_seen:
        return (f"no users: {span}; the cutoff is {_day(cutoff)} and all {r.users_seen:,} users had either "
                f"cancelled before it ({r.users_cancelled_before_cutoff:,}) or had no events before it "
                f"({r.users_without_events_before_cutoff:,}). Use an earlier --cutoff")
    return (f"no users: {span}; the cutoff is {_day(cutoff)} with a {horizon:g}-day horizon; of "
            f"{r.users_seen:,} users {r.users_cancelled_before_cutoff:,} cancelled before the cutoff and "
            f"{r.users_without_events_before_cutoff:,} had no events before it. Move --cutoff inside the log")


def require_rows(table: FeatureTable, sources: Sequence[str] = ()) -> FeatureTable:
    """The table, or DataError saying why it is empty and what to change."""
    if len(table) == 0:
        raise _churn.DataError(why_empty(table, sources))
    return table


def write_csv(table: FeatureTable, path: PathLike, decode: bool = False) -> None:
    """Writes ``user_id, <features>, churned`` as CSV (a snapshot table: ``user_id, cutoff,
    <features>, churned`` with the cutoff as YYYY-MM-DD; categorical columns as codes, or names with
    decode=True). Needs no pandas (nor numpy: C++, churn/feature_csv.hpp, writes it straight from the
    table). Text cells (user ids, category names) that a spreadsheet would run as a formula are
    neutralised with a leading quote, as churn.csvsafe.neutralise does; numbers are written as numbers
    ("%.10g"); cells are quoted as Python's csv.writer quotes them, lines end in CRLF."""
    _churn._write_csv(table, os.fsencode(path), bool(decode))


def _run_with_progress(run, progress, show: bool):
    """Runs ``run()`` (which releases the GIL) in a thread while drawing a progress bar from ``progress``."""
    import threading

    if not show:
        return run()
    result: Dict[str, Any] = {}

    def target():
        try:
            result["value"] = run()
        except BaseException as e:  # re-raised on the caller's thread
            result["error"] = e

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    try:
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, \
            TransferSpeedColumn
    except ImportError:  # rich is optional: a plain line on stderr instead
        import sys

        while worker.is_alive():
            worker.join(0.5)
            total = max(progress.bytes_total, 1)
            print(f"\r{progress.events:,} events, {100 * min(progress.bytes, total) / total:5.1f}%", end="",
                  file=sys.stderr, flush=True)
        print(file=sys.stderr)
    else:
        columns = (TextColumn("[bold]features"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                   TextColumn("{task.fields[events]:,} events"), TimeRemainingColumn())
        with Progress(*columns, transient=False) as bar:
            task = bar.add_task("read", total=None, events=0)
            while worker.is_alive():
                worker.join(0.2)
                total = progress.bytes_total or None
                done = progress.bytes if total is None else min(progress.bytes, total)
                bar.update(task, total=total, completed=done, events=progress.events)
            if "error" not in result:
                bar.update(task, total=progress.bytes_total, completed=progress.bytes_total, events=progress.events)
    worker.join()
    if "error" in result:
        raise result["error"]
    return result["value"]


def _cli_features(args) -> int:
    """``churn features EVENTS... --out features.csv``: see cli.py for the arguments."""
    import sys

    progress = _churn._FeatureProgress()
    show = not args.quiet and sys.stderr.isatty() or args.progress

    def run():
        return user_features(args.events, label=args.label, cutoff=args.cutoff, horizon_days=args.horizon_days,
                             session_gap_minutes=args.session_gap_minutes, threads=args.threads,
                             strict=not args.lenient, progress=progress, cutoffs=args.cutoffs,
                             every_days=args.every_days, min_history_days=args.min_history_days)

    table = _run_with_progress(run, progress, show)
    require_rows(table, args.events)
    write_csv(table, args.out, decode=args.decode)
    if not args.quiet:
        print(table.report.summary, file=sys.stderr)
        if table.report.read is not None and table.report.read.bad_lines:
            print(table.report.read.summary, file=sys.stderr)
        what = f"rows ({len(table.snapshot_cutoffs)} cutoffs)" if table.is_snapshots else "users"
        print(f"wrote {len(table)} {what} x {len(table.feature_names)} features to {args.out}", file=sys.stderr)
    return 0


__all__ = ["FeatureAccumulator", "FeatureInfo", "FeatureReport", "FeatureTable", "merge_accumulators", "require_rows",
           "user_features", "why_empty", "write_csv"]
