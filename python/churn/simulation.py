"""The event simulator: Sparkify-like event logs for demos, tests and benchmarks.

(This module is ``churn.simulation`` rather than ``churn.simulate`` so that the function
``churn.simulate`` does not shadow a submodule of the same name.)
"""
from __future__ import annotations

import datetime as _dt
import os
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from . import _churn
from .features import _cutoff_ms
from ._errors import parameter_error

ProgressArg = Union[bool, Callable[[int, float], None], None]
EngagementArg = Union["_churn.EngagementParams", Mapping[str, float], None]

#: eventsim's 26 configs, in the order of ``config_mix``.
CONFIG_NAMES = tuple(_churn.simulate_config_names())

#: The behaviour models: ``"engagement"`` (default: a hidden satisfaction per user drives how often they
#: come and whether a visit ends in a cancellation) and ``"eventsim"`` (the Sparkify generator as it is).
BEHAVIOURS = ("engagement", "eventsim")

EngagementParams = _churn.EngagementParams

#: The names of the engagement parameters (fields of :class:`EngagementParams`), docs/data.md.
ENGAGEMENT_FIELDS = (
    "baseline_sd", "wander_sd", "memory_days", "trend_days", "thumbs_up", "add_to_playlist", "add_friend",
    "thumbs_down", "roll_advert", "error", "help", "visit_elasticity", "visit_scale", "cancel_per_day",
    "cancel_elasticity",
)


def engagement_defaults() -> Dict[str, float]:
    """The frozen engagement parameters (C++ ``churn::engagement_params`` defaults) as a dict."""
    p = _churn.EngagementParams()
    return {name: getattr(p, name) for name in ENGAGEMENT_FIELDS}


def _engagement(engagement: EngagementArg) -> Optional["_churn.EngagementParams"]:
    """An EngagementParams from None (defaults), an EngagementParams, or a mapping of overrides."""
    if engagement is None or isinstance(engagement, _churn.EngagementParams):
        return engagement
    p = _churn.EngagementParams()
    for name, value in dict(engagement).items():
        if name not in ENGAGEMENT_FIELDS:
            raise parameter_error("engagement", f"unknown field {name!r}", ", ".join(ENGAGEMENT_FIELDS))
        setattr(p, name, float(value))
    return p


def _behaviour(behaviour: str) -> str:
    if behaviour not in BEHAVIOURS:
        raise parameter_error("behaviour", repr(behaviour), "'engagement' or 'eventsim'")
    return behaviour


class SimulationSummary(_churn._SimulationSummary):
    """What :func:`simulate` wrote: churn::simulate_summary, bound read-only. ``events``, ``users``
    (distinct non-empty userIds), ``churned`` (users with a Cancellation Confirmation), ``sessions``
    (of logged-in users: distinct userId + sessionId, as churn.scan counts them), ``anonymous_events``,
    ``registrations``, ``bytes`` (written; compressed size for .gz), ``text_bytes`` (JSON-lines text),
    ``first_ts`` and ``last_ts`` (epoch ms) come from the binding; this class adds ``path``, the churn
    rate and the printed form. ``to_dict()`` gives the fields as a dict; summaries are equal when their
    path and fields are."""

    def __init__(self, summary: _churn._SimulationSummary, path: str):
        super().__init__(summary)
        self._path = path

    @property
    def path(self) -> str:
        return self._path

    def to_dict(self) -> Dict[str, Any]:
        d: Dict[str, Any] = super().to_dict()
        d["path"] = self._path
        return d

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SimulationSummary):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self) -> Tuple[Any, ...]:
        return SimulationSummary, (_churn._SimulationSummary(self), self._path)

    def __repr__(self) -> str:
        return (f"SimulationSummary(path={self._path!r}, events={self.events}, users={self.users}, "
                f"churned={self.churned}, sessions={self.sessions})")

    @property
    def churn_rate(self) -> float:
        return self.churned / self.users if self.users else 0.0

    def __str__(self) -> str:
        def day(ms: int) -> str:
            return _dt.datetime.fromtimestamp(ms / 1000, _dt.timezone.utc).strftime("%Y-%m-%d %H:%M")

        span = f", {day(self.first_ts)} .. {day(self.last_ts)} UTC" if self.events else ""
        return (
            f"{self.path}: {self.events:,} events, {self.users:,} users, {self.churned:,} churned "
            f"({100 * self.churn_rate:.1f} %), {self.sessions:,} sessions of logged-in users, "
            f"{self.bytes / 1e6:,.1f} MB{span}"
        )


def _date_text(start: Union[str, _dt.date]) -> str:
    if isinstance(start, _dt.datetime):
        raise TypeError("start: pass a date (YYYY-MM-DD or datetime.date); the window starts at 00:00 UTC")
    return start.isoformat() if isinstance(start, _dt.date) else str(start)


class _ProgressDisplay:
    """A progress bar on stderr: rich's when installed, else a plain text line."""

    def __init__(self, label: str):
        self._label = label
        self._rich = None
        self._last_print = 0.0
        self._start = time.monotonic()
        try:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

            self._rich = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TextColumn("{task.percentage:>3.0f}%"),
                TextColumn("{task.fields[events]} events"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=False,
            )
            self._task = self._rich.add_task(label, total=1.0, events="0")
            self._rich.start()
        except ImportError:
            self._rich = None

    def __call__(self, events: int, fraction: float) -> None:
        if self._rich is not None:
            self._rich.update(self._task, completed=fraction, events=f"{events:,}")
            return
        now = time.monotonic()
        if now - self._last_print >= 1.0 or fraction >= 1.0:
            self._last_print = now
            end = "\r" if sys.stderr.isatty() and fraction < 1.0 else "\n"
            print(f"{self._label}: {100 * fraction:5.1f} %, {events:,} events, {now - self._start:.0f} s",
                  end=end, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._rich is not None:
            self._rich.stop()


def simulate(
    path: Union[str, "os.PathLike[str]"],
    users: int = 225,
    days: int = 60,
    seed: int = 0,
    start: Union[str, _dt.date] = "2018-10-01",
    threads: int = 0,
    *,
    config_mix: Optional[Sequence[float]] = None,
    cancel_multiplier: float = 1.0,
    new_users_per_day: Optional[float] = None,
    gzip_level: int = 6,
    beta_sigma: float = 1.15,
    beta_scale: float = 1.0,
    behaviour: str = "engagement",
    engagement: EngagementArg = None,
    progress: ProgressArg = False,
) -> SimulationSummary:
    """Write a simulated Sparkify event log (JSON lines; gzip when ``path`` ends in ``.gz``).

    The defaults reproduce the real mini data set's size and statistics (225 users, 60 days from
    2018-10-01, about 22 % churn). The same arguments give the same file whatever ``threads``.

    Args:
        users: users present at the start (new users also arrive as guests and register).
        days: length of the window; ``start``: its first day, ``YYYY-MM-DD`` or a ``datetime.date`` (UTC).
        threads: 0 for all cores.
        config_mix: 26 weights for eventsim's configs (``churn.simulation.CONFIG_NAMES`` order);
            None for the calibrated mix.
        cancel_multiplier: scales every transition into Cancel (eventsim) or the per-visit cancel
            probability (engagement); 1: as calibrated.
        new_users_per_day: guest arrivals per day; None: ``0.0008 * users``.
        beta_sigma, beta_scale: spread across users (lognormal sigma) and scale of the mean gap between
            sessions. ``beta_sigma=0.6, beta_scale=0.5`` makes churners' session counts fall below
            stayers' as in the real data, at the same churn rate (docs/data.md, "Known differences").
        behaviour: ``"engagement"`` (default): each user's hidden satisfaction moves with what they
            experience and sets how often they come and how likely a visit ends in a cancellation, so
            use declines before most cancellations; ``"eventsim"``: the Sparkify generator's own
            behaviour (a cancel is a fixed-probability step out of a page). docs/data.md.
        engagement: the engagement parameters, an :class:`EngagementParams` or a dict of overrides
            (``churn.simulation.ENGAGEMENT_FIELDS``); None: the frozen calibration.
        progress: True for a progress bar on stderr (rich if installed), or a callable
            ``progress(events, fraction)``.

    Raises:
        ParameterError: an argument out of range. ChurnIOError: the file cannot be written.
    """
    display = None
    callback = None
    if progress is True:
        display = _ProgressDisplay(f"simulate {os.fspath(path)}")
        callback = display
    elif callable(progress):
        callback = progress
    try:
        summary = _churn._simulate_file(
            os.fspath(path), users, days, seed, _date_text(start), threads,
            None if config_mix is None else [float(w) for w in config_mix],
            cancel_multiplier, -1.0 if new_users_per_day is None else float(new_users_per_day),
            gzip_level, float(beta_sigma), float(beta_scale), callback,
            behaviour=_behaviour(behaviour), engagement=_engagement(engagement),
        )
    finally:
        if display is not None:
            display.close()
    return SimulationSummary(summary, os.fspath(path))


def simulation_statistics(
    users: int = 225,
    days: int = 60,
    seed: int = 0,
    start: Union[str, _dt.date] = "2018-10-01",
    threads: int = 0,
    *,
    config_mix: Optional[Sequence[float]] = None,
    cancel_multiplier: float = 1.0,
    new_users_per_day: Optional[float] = None,
    beta_sigma: float = 1.15,
    beta_scale: float = 1.0,
    behaviour: str = "engagement",
    engagement: EngagementArg = None,
) -> Dict[str, Any]:
    """Simulate without writing a file and return the tallies: the summary fields plus ``pages``
    (count per page name) and ``paid_songs`` (NextSong events at level paid). Used for calibration."""
    return dict(
        _churn._simulate_counts(
            users, days, seed, _date_text(start), threads,
            None if config_mix is None else [float(w) for w in config_mix],
            cancel_multiplier, -1.0 if new_users_per_day is None else float(new_users_per_day),
            float(beta_sigma), float(beta_scale), _behaviour(behaviour), _engagement(engagement),
        )
    )


@dataclass(frozen=True)
class OracleResult:
    """What :func:`oracle` returns: one row per user of a window-label feature table at the cutoff."""

    cutoff_ms: int  #: the cutoff, epoch ms (a UTC midnight)
    horizon_days: float
    draws: int  #: futures simulated per user
    user_id: np.ndarray  #: the log's userIds as strings
    probability: np.ndarray  #: P(Cancellation Confirmation in [cutoff, cutoff + horizon) | hidden state)
    satisfaction: np.ndarray  #: hidden satisfaction at the user's last event before the cutoff (engagement)

    def __len__(self) -> int:
        return len(self.user_id)

    def as_dict(self) -> Dict[str, float]:
        """userId -> probability."""
        return dict(zip(self.user_id.tolist(), self.probability.tolist()))


def oracle(
    users: int = 225,
    days: int = 60,
    seed: int = 0,
    start: Union[str, _dt.date] = "2018-10-01",
    threads: int = 0,
    *,
    cutoff: Union[None, int, str, _dt.date] = None,
    horizon_days: float = 30.0,
    draws: int = 200,
    oracle_seed: int = 1,
    config_mix: Optional[Sequence[float]] = None,
    cancel_multiplier: float = 1.0,
    new_users_per_day: Optional[float] = None,
    beta_sigma: float = 1.15,
    beta_scale: float = 1.0,
    behaviour: str = "engagement",
    engagement: EngagementArg = None,
) -> OracleResult:
    """The ceiling of churn prediction on a simulated log: P(cancel within the horizon | hidden state).

    Give the same simulation arguments as :func:`simulate` (the log is simulated again, not read). For
    every user with a logged-in event before ``cutoff`` who has not cancelled by then (the rows of a
    window-label feature table, ``churn.user_features(..., label="window")``), the simulator takes the
    user's exact hidden state after their last event before the cutoff (chain state, config, timing,
    satisfaction, a decision to cancel) and simulates ``draws`` futures with fresh randomness
    (``oracle_seed``), each conditioned on the log showing nothing more before the cutoff; the share of
    futures with a Cancellation Confirmation in ``[cutoff, cutoff + horizon)`` is returned (standard
    error at most ``0.5 / sqrt(draws)``). It knows more than any log shows, so no model of the log beats
    its ROC AUC in expectation: a ceiling, not always a reachable one.

    Args:
        cutoff: a UTC midnight, as epoch ms, ``YYYY-MM-DD`` or a date; None: the window labels' default
            (the last midnight at or before the window's end minus the horizon). Pass a feature table's
            ``cutoff_ms`` to score the same rows.
        draws: futures per user (200 gives a standard error under 0.035 per user).

    Raises:
        ParameterError: an argument out of range, or a window that does not fit in the simulated days.
    """
    if isinstance(cutoff, _dt.datetime):
        _date_text(cutoff)  # a TypeError: the cutoff is a day
    cutoff_ms = _cutoff_ms(cutoff)  # the library's one date parser
    d = _churn._simulate_oracle(
        users, days, seed, _date_text(start), threads,
        None if config_mix is None else [float(w) for w in config_mix],
        cancel_multiplier, -1.0 if new_users_per_day is None else float(new_users_per_day),
        float(beta_sigma), float(beta_scale), _behaviour(behaviour), _engagement(engagement),
        cutoff_ms, float(horizon_days), int(draws), int(oracle_seed),
    )
    ids = np.asarray([str(u) for u in d["user_id"].tolist()], dtype=object)
    return OracleResult(cutoff_ms=int(d["cutoff_ms"]), horizon_days=float(d["horizon_days"]),
                        draws=int(d["draws"]), user_id=ids, probability=np.asarray(d["probability"]),
                        satisfaction=np.asarray(d["satisfaction"]))


def _cli_simulate(args: Any) -> int:
    """``churn simulate``: the progress bar appears for long runs on a terminal, or with --progress."""
    long_run = args.users * args.days >= 50_000  # about 1 M events and more
    show = not args.quiet and (args.progress or (long_run and sys.stderr.isatty()))
    # Written beside the target under a hidden name, then renamed: an interrupted run leaves no
    # half-written log under the real name, and the summary names the real file.
    out = os.fspath(args.out)
    folder, name = os.path.split(os.path.abspath(out))
    suffix = ".gz" if name.lower().endswith(".gz") else ""
    partial = os.path.join(folder, f".{name}.partial{suffix}")
    try:
        summary = simulate(partial, users=args.users, days=args.days, seed=args.seed, start=args.start,
                           threads=args.threads, gzip_level=args.gzip_level, behaviour=args.behaviour,
                           progress=show)
        os.replace(partial, out)
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    summary = SimulationSummary(summary, out)
    if not args.quiet:
        print(summary)
    return 0
