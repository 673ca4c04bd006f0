"""Reading Sparkify event logs: columnar tables and quick summaries."""
from __future__ import annotations

import datetime as _dt
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from . import _churn
from ._checks import threads as _threads, whole_number as _whole_number
from ._errors import parameter_error

#: What ``sessions`` counts in scan summaries (and in ``churn simulate``'s summary).
SESSIONS_COUNTED = "distinct userId + sessionId of logged-in users"

#: Integer columns use this value where the log had null or no value.
MISSING_INT = np.iinfo(np.int64).min

COLUMNS = (
    "ts", "userId", "sessionId", "page", "auth", "method", "status", "level", "itemInSession",
    "location", "userAgent", "lastName", "firstName", "registration", "gender", "artist", "song",
    "length",
)


def _max_line_bytes(value: Any) -> int:
    return _whole_number("max_line_bytes", value, 0, 2**64 - 1, "a number of bytes from 0 to 2**64 - 1")


#: What a read saw: every line is an event, blank, or bad (counted by reason), with ``files`` when
#: several were read (churn::read_report, bound read-only; ``report["events"]`` and ``to_dict()`` too).
ReadReport = _churn.ReadReport

#: The columns that hold text, dictionary-encoded (every string field of the log).
STRING_COLUMNS = (
    "userId", "page", "auth", "method", "level", "location", "userAgent", "lastName", "firstName", "gender",
    "artist", "song",
)
#: The columns that are epoch milliseconds (timestamp[ms, UTC] in Arrow).
TIMESTAMP_COLUMNS = ("ts", "registration")


class EventTable:
    """Events by column, held in C++ buffers that numpy and Arrow consumers share without a copy.

    Every string column is dictionary-encoded: ``codes(name)`` (int32, -1 where the log had null or no
    value) and ``categories(name)``; ``column(name)`` decodes them (None where null). Integer columns
    are int64 with ``MISSING_INT`` where null, ``length`` float64 with NaN where null. ``page``,
    ``auth``, ``method`` and ``level`` codes of the known names are their positions in
    ``churn.page_names`` etc. (each dictionary starts with them).

    The table is an Arrow stream (``__arrow_c_stream__``): ``pyarrow.table(t)``, ``polars.DataFrame(t)``,
    DuckDB and ``to_arrow()`` take it as it is: ``ts`` and ``registration`` timestamp[ms, UTC], the
    other numbers int64 / float64 with nulls as nulls, strings dictionary<int32, utf8>.
    """

    def __init__(self, columns: "_churn._EventColumns", report: ReadReport):
        self._table = columns
        self.report = report

    def __len__(self) -> int:
        return len(self._table)

    @property
    def columns(self) -> Tuple[str, ...]:
        return COLUMNS

    def _check(self, name: str) -> None:
        if name not in COLUMNS:
            raise KeyError(f"unknown column {name!r}; columns are {', '.join(COLUMNS)}")

    def codes(self, name: str) -> np.ndarray:
        """A string column's int32 codes (-1 where null), or a number column's values: a read-only view."""
        self._check(name)
        return self._table.values(name)

    def categories(self, name: str) -> List[str]:
        """A string column's dictionary, by code."""
        self._check(name)
        if name not in STRING_COLUMNS:
            raise KeyError(f"column {name!r} is not categorical")
        return list(self._table.categories(name))

    def column(self, name: str) -> np.ndarray:
        """The column as a numpy array: integers (MISSING_INT where null), floats (NaN where null), or
        str objects (None where null). Numbers are read-only views of the table's buffers."""
        self._check(name)
        values = self._table.values(name)
        if name in STRING_COLUMNS:
            decode = np.asarray(self._table.categories(name) + [None], dtype=object)
            return decode[values]  # code -1 takes the last entry, None
        return values

    def __getitem__(self, name: str) -> np.ndarray:
        return self.column(name)

    def __arrow_c_stream__(self, requested_schema: Optional[object] = None) -> object:
        """The Arrow PyCapsule stream protocol: one record batch sharing the table's buffers. A
        requested schema is not applied (the protocol lets the consumer cast)."""
        return self._table.arrow_c_stream()

    def __arrow_c_schema__(self) -> object:
        """The Arrow PyCapsule schema protocol: the table's schema."""
        return self._table.arrow_c_schema()

    def to_arrow(self) -> Any:
        """A pyarrow.Table sharing the table's buffers (pyarrow is imported here; ``pip install churn[arrow]``)."""
        import pyarrow as pa

        return pa.RecordBatchReader.from_stream(self).read_all()

    def to_pandas(self) -> Any:
        """A pandas DataFrame: string columns as Categorical, nullable integers as Int64."""
        import pandas as pd

        data = {}
        for name in COLUMNS:
            values = self._table.values(name)
            if name in STRING_COLUMNS:
                categories = pd.Index(self._table.categories(name), dtype=object)
                data[name] = pd.Categorical.from_codes(values, categories=categories)
            elif values.dtype == np.int64:
                data[name] = pd.array(np.where(values == MISSING_INT, 0, values), dtype="Int64")
                data[name][values == MISSING_INT] = pd.NA
            else:
                data[name] = values.copy()
        return pd.DataFrame(data)

    def memory_bytes(self) -> int:
        """Bytes held by the columns (dictionaries and their hash indexes included)."""
        return int(self._table.memory_bytes())

    def __repr__(self) -> str:
        return f"<EventTable {len(self)} events from {self.report.source!r}>"


def _path_list(value: Any, name: str) -> List[str]:
    """A path or a list of paths as a non-empty list of str (ParameterError naming `name` when empty)."""
    paths = [os.fsdecode(value)] if isinstance(value, (str, bytes, os.PathLike)) else [os.fsdecode(p) for p in value]
    if not paths:
        raise parameter_error(name, "[]", "a path or a non-empty list of paths")
    return paths


def read_events(path: "os.PathLike[str] | str | Sequence[os.PathLike[str] | str]", strict: bool = True,
                max_line_bytes: int = 64 << 20, threads: Optional[int] = 0) -> EventTable:
    """Reads a JSON-lines event log (plain or .gz), or several one after the other, into an
    :class:`EventTable`, on ``threads`` threads (0 or None: all cores; a plain file is cut into pieces
    at line boundaries, read in parallel and joined in order: the table is that of a serial read).

    strict=True raises :class:`churn.ParseError` (with .file, .line, .field, .reason) at the first bad
    line; strict=False skips bad lines and counts them in ``table.report``. ``path`` may be a FIFO or
    another stream, or ``"-"`` for standard input: read once, by one thread, exactly as a file of the
    same bytes. A folder stands for its event files (*.json, *.jsonl, *.ndjson, plain or .gz,
    recursively, in name order), as for ``churn.scan`` and ``churn.user_features``.
    """
    files = _churn._expand_paths(_path_list(path, "path"))
    table, report = _churn._read_events(files, strict, _threads(threads), _max_line_bytes(max_line_bytes))
    return EventTable(table, report)


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
    paths = _path_list(path_or_paths, "path_or_paths")
    total, files = _churn._scan(paths, strict, _threads(threads), _max_line_bytes(max_line_bytes))
    return ScanSummary(total, ", ".join(paths), [ScanSummary(f, f.report.source) for f in files])
