"""Reading Sparkify event logs: columnar tables and quick summaries."""
from __future__ import annotations

import datetime as _dt
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from . import _churn

#: What ``sessions`` counts in scan summaries (and in ``churn simulate``'s summary).
SESSIONS_COUNTED = "distinct userId + sessionId of logged-in users"

#: Integer columns use this value where the log had null or no value.
MISSING_INT = np.iinfo(np.int64).min

_ENUM_COLUMNS = {
    "auth": list(_churn.auth_names),
    "method": list(_churn.method_names),
    "level": list(_churn.level_names),
}
COLUMNS = (
    "ts", "userId", "sessionId", "page", "auth", "method", "status", "level", "itemInSession",
    "location", "userAgent", "lastName", "firstName", "registration", "gender", "artist", "song",
    "length",
)


def _whole_number(name: str, value: Any, low: int, high: int, allowed: str) -> int:
    """`value` as an int in [low, high], else ParameterError: a caller's size or count must not reach the
    binding as an overflowing or negative number (a TypeError there; issue 15)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= int(value) <= high:
        raise _churn.ParameterError(f"invalid value for parameter '{name}': {value!r} (allowed: {allowed})")
    return int(value)


def _max_line_bytes(value: Any) -> int:
    return _whole_number("max_line_bytes", value, 0, 2**64 - 1, "a number of bytes from 0 to 2**64 - 1")


def _threads(value: Any) -> int:
    """Threads for reading: None or 0 = all cores, else 1 .. churn.max_threads."""
    if value is None:
        return 0
    return _whole_number("threads", value, 0, _churn.max_threads, f"None or 0 (all cores), or 1 to {_churn.max_threads}")


#: What a read saw: every line is an event, blank, or bad (counted by reason), with ``files`` when
#: several were read (churn::read_report, bound read-only; ``report["events"]`` and ``to_dict()`` too).
ReadReport = _churn.ReadReport


class EventTable:
    """Events by column. String columns are dictionary-encoded: ``codes(name)`` and ``categories(name)``;
    ``column(name)`` decodes them. ``auth``, ``method`` and ``level`` are small integer codes into
    ``churn.auth_names`` etc. (code len(names) where the log had no known value)."""

    def __init__(self, columns: Dict[str, Any], report: ReadReport):
        self._columns = columns
        self.report = report

    def __len__(self) -> int:
        return int(self._columns["ts"].shape[0])

    @property
    def columns(self) -> Tuple[str, ...]:
        return COLUMNS

    def codes(self, name: str) -> np.ndarray:
        value = self._columns[name]
        return value[0] if isinstance(value, tuple) else value

    def categories(self, name: str) -> List[str]:
        value = self._columns[name]
        if isinstance(value, tuple):
            return list(value[1])
        if name in _ENUM_COLUMNS:
            return _ENUM_COLUMNS[name]
        raise KeyError(f"column {name!r} is not categorical")

    def column(self, name: str) -> np.ndarray:
        """The column as a numpy array: integers (MISSING_INT where null), floats, or str objects."""
        if name not in COLUMNS:
            raise KeyError(f"unknown column {name!r}; columns are {', '.join(COLUMNS)}")
        value = self._columns[name]
        if isinstance(value, tuple):
            codes, categories = value
            return np.asarray(categories, dtype=object)[codes]
        if name in _ENUM_COLUMNS:
            names = np.asarray(_ENUM_COLUMNS[name] + [""], dtype=object)
            return names[np.minimum(value, len(names) - 1)]
        return value

    def __getitem__(self, name: str) -> np.ndarray:
        return self.column(name)

    def to_pandas(self):
        """A pandas DataFrame: string columns as Categorical, nullable integers as Int64."""
        import pandas as pd

        data = {}
        for name in COLUMNS:
            value = self._columns[name]
            if isinstance(value, tuple):
                codes, categories = value
                data[name] = pd.Categorical.from_codes(codes, categories=pd.Index(categories, dtype=object))
            elif name in _ENUM_COLUMNS:
                cats = _ENUM_COLUMNS[name]
                codes = np.where(value < len(cats), value, -1).astype(np.int8)
                data[name] = pd.Categorical.from_codes(codes, categories=cats)
            elif value.dtype == np.int64:
                data[name] = pd.array(np.where(value == MISSING_INT, 0, value), dtype="Int64")
                data[name][value == MISSING_INT] = pd.NA
            else:
                data[name] = value
        return pd.DataFrame(data)

    def __repr__(self) -> str:
        return f"<EventTable {len(self)} events from {self.report.source!r}>"


def read_events(path: "os.PathLike[str] | str", strict: bool = True, max_line_bytes: int = 64 << 20) -> EventTable:
    """Reads a JSON-lines event log (plain or .gz) into an :class:`EventTable`.

    strict=True raises :class:`churn.ParseError` (with .file, .line, .field, .reason) at the first bad
    line; strict=False skips bad lines and counts them in ``table.report``. ``path`` may be a FIFO or
    another stream, or ``"-"`` for standard input: read once, exactly as a file of the same bytes.
    """
    columns, report = _churn._read_events(os.fspath(path), strict, _max_line_bytes(max_line_bytes))
    return EventTable(columns, report)


class ScanSummary(_churn._ScanSummary):
    """A summary of event logs (see :func:`scan`): churn::scan_summary, bound read-only. ``events``,
    ``anonymous_events``, ``users``, ``churned_users``, ``sessions``, ``first_ts``, ``last_ts`` (epoch
    ms or None), ``pages``, ``auths``, ``levels`` and ``report`` (a :class:`ReadReport`) come from the
    binding; this class adds ``path``, ``files`` (one summary per file when several files or a folder
    were scanned; empty for one file), the times as datetimes and the printed form. ``to_dict()`` gives
    every field as a dict (the report and the per-file summaries as dicts too)."""

    def __init__(self, summary: _churn._ScanSummary, path: str, files: Sequence["ScanSummary"] = ()):
        super().__init__(summary)
        self._path = path
        self._files = list(files)

    @property
    def path(self) -> str:
        """The path or paths given to :func:`scan` (a file's own path in ``files``)."""
        return self._path

    @property
    def files(self) -> List["ScanSummary"]:
        """One summary per file when several files (or a folder) were scanned; empty for one file."""
        return list(self._files)

    def to_dict(self) -> Dict[str, Any]:
        d: Dict[str, Any] = super().to_dict()
        d["path"] = self._path
        d["files"] = [f.to_dict() for f in self._files]
        return d

    def __reduce__(self) -> Tuple[Any, ...]:
        return ScanSummary, (_churn._ScanSummary(self), self._path, self._files)

    def __repr__(self) -> str:
        return (f"ScanSummary(path={self._path!r}, events={self.events}, users={self.users}, "
                f"churned_users={self.churned_users}, sessions={self.sessions}, first_ts={self.first_ts}, "
                f"last_ts={self.last_ts})")

    @property
    def first_time(self) -> Optional[_dt.datetime]:
        return None if self.first_ts is None else _dt.datetime.fromtimestamp(self.first_ts / 1000, _dt.timezone.utc)

    @property
    def last_time(self) -> Optional[_dt.datetime]:
        return None if self.last_ts is None else _dt.datetime.fromtimestamp(self.last_ts / 1000, _dt.timezone.utc)

    def __str__(self) -> str:
        lines = []
        if self.files:
            lines.append(f"{'file':<40} {'events':>12} {'users':>8} {'sessions':>9} {'bad':>6}  dates (UTC)")
            for f in self.files:
                span = f"{f.first_time:%Y-%m-%d} .. {f.last_time:%Y-%m-%d}" if f.first_time is not None else "-"
                lines.append(f"{_short(f.path, 40):<40} {f.events:>12,} {f.users:>8,} {f.sessions:>9,} "
                             f"{f.report.bad_lines:>6,}  {span}")
            lines.append("")
            lines.append(f"total of {len(self.files)} files (users and sessions counted once across files)")
        lines += [
            f"{self.path}",
            f"  events            {self.events:>12,}",
            f"  users             {self.users:>12,}  ({self.churned_users:,} reached Cancellation Confirmation)",
            f"  sessions          {self.sessions:>12,}  ({SESSIONS_COUNTED})",
            f"  anonymous rows    {self.anonymous_events:>12,}  (empty userId: guests, logged out)",
            f"  bad lines         {self.report.bad_lines:>12,}",
        ]
        if self.first_time is not None:
            lines.append(f"  time range        {self.first_time:%Y-%m-%d %H:%M:%S} .. {self.last_time:%Y-%m-%d %H:%M:%S} UTC")
        lines.append("  pages:")
        for name, count in sorted(self.pages.items(), key=lambda kv: -kv[1]):
            lines.append(f"    {name:<26} {count:>12,}")
        if self.report.bad_lines:
            lines.append("  " + self.report.summary.replace("\n", "\n  "))
        return "\n".join(lines)


def _short(path: str, width: int) -> str:
    return path if len(path) <= width else "..." + path[-(width - 3):]


def scan(path_or_paths: "os.PathLike[str] | str | Sequence[os.PathLike[str] | str]", strict: bool = True,
         threads: int = 0, max_line_bytes: int = 64 << 20) -> ScanSummary:
    """Summarises event logs: events, users, churned users, sessions, pages, time range, bad lines.

    path_or_paths: a file, a folder (its *.json, *.jsonl, *.ndjson files, plain or .gz, recursively)
    or a list of them; with more than one file, the summary is their total (users and sessions counted
    once) and ``files`` holds one summary per file. Reads with ``threads`` threads (0: all cores).
    strict=False counts bad lines instead of raising.
    """
    if isinstance(path_or_paths, (str, bytes, os.PathLike)):
        paths = [os.fsdecode(path_or_paths)]
    else:
        paths = [os.fsdecode(p) for p in path_or_paths]
    if not paths:
        raise _churn.ParameterError(
            "invalid value for parameter 'path_or_paths': [] (allowed: a path or a non-empty list of paths)")
    total, files = _churn._scan(paths, strict, _threads(threads), _max_line_bytes(max_line_bytes))
    return ScanSummary(total, ", ".join(paths), [ScanSummary(f, f.report.source) for f in files])
