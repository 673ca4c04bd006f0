"""Type stubs for churn's compiled core, churn._churn. Each area adds its own section."""
from typing import Any, Callable, ClassVar, Dict, List, Optional, Sequence, Union

# --- errors and limits (python/src/bind_errors.cpp) ---------------------------------------------------

#: The version of the compiled core (the package's version).
__version__: str

#: The most threads any churn function starts for one call (n_jobs, threads); more is a ParameterError.
max_threads: int

class ChurnError(Exception):
    """Base class of every error raised by churn."""

class ParseError(ChurnError, ValueError):
    """A line of an event log could not be read; has .file, .line, .field and .reason."""
    file: str
    line: int
    field: str
    reason: str

class ModelFormatError(ChurnError, ValueError):
    """A saved model is corrupt, truncated or of an unsupported version; has .path and .reason."""
    path: str
    reason: str

class DataError(ChurnError, ValueError):
    """Input data (matrix, labels, feature values) that churn cannot accept. Raised at a line of a log (an
    absurd timestamp, the user beyond max_users), it also has .file, .line and .reason."""
    file: Optional[str]
    line: Optional[int]
    reason: str

class LimitError(DataError):
    """A resource limit the caller set was reached (a DataError): .limit names it ('max_users', 'stop'),
    .value is its value; raised while a log was read, also .file and .line (else None)."""
    limit: str
    value: int
    reason: str
    file: Optional[str]
    line: Optional[int]

class ParameterError(ChurnError, ValueError):
    """A parameter outside its allowed values; has .name."""
    name: str

class ModelCapabilityError(ChurnError, ValueError):
    """The model lacks what an operation needs (SHAP values from a model loaded from a format version 1
    file, which keeps no training cover): refit it with this version and save it again."""

class ChurnIOError(ChurnError, OSError):
    """A file could not be opened, read or written."""

# --- simulate (python/src/bind_simulate.cpp) --------------------------------------------------------

class EngagementParams:
    """Parameters of the engagement behaviour (docs/data.md); the defaults are the frozen calibration."""

    baseline_sd: float
    wander_sd: float
    memory_days: float
    trend_days: float
    thumbs_up: float
    add_to_playlist: float
    add_friend: float
    thumbs_down: float
    roll_advert: float
    error: float
    help: float
    visit_elasticity: float
    visit_scale: float
    cancel_per_day: float
    cancel_elasticity: float
    def __init__(self) -> None: ...
    def validate(self) -> None:
        """Raises ParameterError naming the first invalid field."""

def simulate_config_names() -> List[str]:
    """Names of eventsim's 26 configs, in the order of config_mix (Accordion first)."""

def default_config_mix() -> List[float]:
    """The calibrated config weights used when config_mix is None."""

class _SimulationSummary:
    """What a simulation wrote (churn::simulate_summary), read-only. churn.SimulationSummary derives from it."""
    def __init__(self, summary: _SimulationSummary) -> None: ...
    @property
    def events(self) -> int: ...
    @property
    def users(self) -> int: ...
    @property
    def churned(self) -> int: ...
    @property
    def sessions(self) -> int: ...
    @property
    def anonymous_events(self) -> int: ...
    @property
    def registrations(self) -> int: ...
    @property
    def bytes(self) -> int: ...
    @property
    def text_bytes(self) -> int: ...
    @property
    def first_ts(self) -> int: ...
    @property
    def last_ts(self) -> int: ...
    def to_dict(self) -> Dict[str, int]:
        """The summary as a dict."""

def _simulate_file(
    path: str,
    users: int = 225,
    days: int = 60,
    seed: int = 0,
    start: str = "2018-10-01",
    threads: int = 0,
    config_mix: Optional[Sequence[float]] = None,
    cancel_multiplier: float = 1.0,
    new_users_per_day: float = -1.0,
    gzip_level: int = 6,
    beta_sigma: float = 1.15,
    beta_scale: float = 1.0,
    progress: Optional[Callable[[int, float], None]] = None,
    behaviour: str = "engagement",
    engagement: Optional[EngagementParams] = None,
) -> _SimulationSummary:
    """Writes a simulated event log (gzip if path ends in .gz); returns its _SimulationSummary.
    progress(events, fraction) is called every 6 simulated hours."""

def _simulate_counts(
    users: int = 225,
    days: int = 60,
    seed: int = 0,
    start: str = "2018-10-01",
    threads: int = 0,
    config_mix: Optional[Sequence[float]] = None,
    cancel_multiplier: float = 1.0,
    new_users_per_day: float = -1.0,
    beta_sigma: float = 1.15,
    beta_scale: float = 1.0,
    behaviour: str = "engagement",
    engagement: Optional[EngagementParams] = None,
) -> Dict[str, Union[int, Dict[str, int]]]:
    """Simulates without writing and returns the summary plus page counts and paid NextSong count."""

def _simulate_oracle(
    users: int,
    days: int,
    seed: int,
    start: str,
    threads: int,
    config_mix: Optional[Sequence[float]],
    cancel_multiplier: float,
    new_users_per_day: float,
    beta_sigma: float,
    beta_scale: float,
    behaviour: str,
    engagement: Optional[EngagementParams],
    cutoff_ms: Optional[int],
    horizon_days: float,
    draws: int,
    oracle_seed: int,
) -> Dict[str, object]:
    """The ceiling: P(cancel within the horizon | hidden state at the cutoff) per user, from `draws`
    re-simulated futures (see churn.simulation.oracle)."""

# --- metrics, cv (python/src/bind_metrics.cpp, python/src/bind_cv.cpp) ---------------------------------
# Labels: 1-D array-likes of 0/1 (bool and integral floats accepted); scores/probabilities: 1-D floats.
from typing import Tuple  # noqa: E402

import numpy as np  # noqa: E402

_Labels = Union[np.ndarray, Sequence[int], Sequence[float]]
_Scores = Union[np.ndarray, Sequence[float]]
_ZeroDivision = Union[str, float]

binary_metric_names: List[str]

def confusion_matrix(y_true: _Labels, y_pred: _Labels) -> np.ndarray:
    """Binary confusion matrix [[tn, fp], [fn, tp]] of 0/1 labels (scikit-learn's confusion_matrix with labels=[0, 1])."""
def accuracy_score(y_true: _Labels, y_pred: _Labels) -> float:
    """Fraction of correct 0/1 predictions."""
def balanced_accuracy_score(y_true: _Labels, y_pred: _Labels) -> float:
    """Mean recall over the classes present in y_true."""
def precision_score(y_true: _Labels, y_pred: _Labels, *, zero_division: _ZeroDivision = "warn") -> float:
    """TP / (TP + FP); zero_division ('warn' = 0, 0, 1 or nan) when nothing is predicted positive."""
def recall_score(y_true: _Labels, y_pred: _Labels, *, zero_division: _ZeroDivision = "warn") -> float:
    """TP / (TP + FN); zero_division ('warn' = 0, 0, 1 or nan) when y_true has no positives."""
def f1_score(y_true: _Labels, y_pred: _Labels, *, zero_division: _ZeroDivision = "warn") -> float:
    """2TP / (2TP + FP + FN); zero_division ('warn' = 0, 0, 1 or nan) when that denominator is 0."""
def roc_auc_score(y_true: _Labels, y_score: _Scores) -> float:
    """Area under the ROC curve (trapezoid over distinct thresholds, ties count one half). Raises DataError when y_true has a single class (scikit-learn warns and returns nan)."""
def average_precision_score(y_true: _Labels, y_score: _Scores) -> float:
    """Average precision without interpolation, ties grouped. Raises DataError when y_true has no positives (scikit-learn warns and returns 0)."""
def log_loss(y_true: _Labels, y_proba: _Scores) -> float:
    """Mean negative log-likelihood of positive-class probabilities clipped to [eps, 1 - eps] (scikit-learn's log_loss with labels=[0, 1])."""
def brier_score_loss(y_true: _Labels, y_proba: _Scores) -> float:
    """Mean squared difference between the 0/1 label and the positive-class probability."""
def roc_curve(y_true: _Labels, y_score: _Scores, *, drop_intermediate: bool = True) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fpr, tpr, thresholds) as scikit-learn's roc_curve: starts at (0, 0) with threshold inf. drop_intermediate drops points collinear with their neighbours (plot and area unchanged)."""
def precision_recall_curve(y_true: _Labels, y_score: _Scores, *, drop_intermediate: bool = False) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(precision, recall, thresholds) as scikit-learn's precision_recall_curve, thresholds increasing, ending at (recall 0, precision 1). drop_intermediate keeps only the ends of each run of equal recall."""
def confusion_matrix_at_thresholds(y_true: _Labels, y_score: _Scores) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(tns, fps, fns, tps, thresholds) at every distinct score, highest first (a sample is positive when score >= threshold), as scikit-learn's confusion_matrix_at_thresholds."""
def best_f1_threshold(y_true: _Labels, y_score: _Scores) -> Dict[str, float]:
    """The threshold t maximising F1 of `score > t` (the rule of predict), strictly between two adjacent scores (the lowest such t on ties), as a dict with threshold, f1, precision and recall (of that rule)."""
def evaluate_binary(y_true: _Labels, proba: _Scores, threshold: float = 0.5) -> Dict[str, Any]:
    """Every metric of positive-class probabilities at `proba > threshold` (the rule of predict), as a dict (nan where a ranking metric is undefined), with the confusion matrix."""
def stratified_kfold(y: _Labels, n_splits: int = 5, shuffle: bool = True, seed: int = 0) -> List[Tuple[np.ndarray, np.ndarray]]:
    """List of (train_indices, test_indices) identical to scikit-learn's StratifiedKFold(n_splits, shuffle=shuffle, random_state=seed).split(X, y). y holds integer labels; raises ParameterError when n_splits exceeds the smallest class."""
def _stratified_group_kfold(y: _Labels, groups: Optional[np.ndarray], n_splits: int = 5, shuffle: bool = True, seed: int = 0) -> List[Tuple[np.ndarray, np.ndarray]]:
    """List of (train_indices, test_indices) identical to scikit-learn's StratifiedGroupKFold(n_splits, shuffle=shuffle, random_state=seed).split(X, y, groups), for integer group codes. Use churn.stratified_group_kfold."""
def out_of_time_split(cutoffs_ms: Any, horizon_days: float, split_ms: int) -> Tuple[np.ndarray, np.ndarray]:
    """(train_indices, test_indices) of a snapshot table's out-of-time split at T = split_ms: test on the rows with cutoff >= T, train on the rows with cutoff + horizon <= T (no training label sees the test period). Raises DataError when either part is empty."""
def repeated_stratified_kfold(y: _Labels, n_splits: int = 5, n_repeats: int = 5, seed: int = 0) -> List[Tuple[np.ndarray, np.ndarray]]:
    """List of n_splits * n_repeats (train_indices, test_indices) identical to scikit-learn's RepeatedStratifiedKFold(n_splits=n_splits, n_repeats=n_repeats, random_state=seed).split(X, y)."""
def stratified_train_test_split(y: _Labels, test_size: Union[float, int] = 0.25, seed: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    """(train_indices, test_indices) identical to scikit-learn's train_test_split(..., test_size=test_size, stratify=y, random_state=seed) (indices in scikit-learn's shuffled order). test_size: a fraction in (0, 1) or an int number of samples."""

class _LogisticModel:
    """A fitted logistic regression (see LogisticRegression)."""
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    n_iter: int
    converged: bool
    raw_coef: np.ndarray
    raw_intercept: float
    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """P(class 1) for each row of X."""

def _fit_logistic(X: np.ndarray, y: _Labels, C: float = 1.0, max_iter: int = 100, tol: float = 1e-10, standardize: bool = True) -> _LogisticModel: ...
def _cross_validate_builtin(model: str, X: np.ndarray, y: _Labels, folds: Sequence[Tuple[Any, Any]], model_params: Dict[str, Any], inner_splits: int, default_threshold: float, seed: int, threads: int, n_repeats: int = 1, groups: Optional[np.ndarray] = None) -> Dict[str, Any]: ...
def _cross_validate_callable(fit: Callable[[np.ndarray, np.ndarray], Any], X: np.ndarray, y: _Labels, folds: Sequence[Tuple[Any, Any]], inner_splits: int, default_threshold: float, seed: int, n_repeats: int = 1, groups: Optional[np.ndarray] = None) -> Dict[str, Any]: ...
class CVResult:
    """A cross-validation result (churn::cv_result), read-only; to_dict() is the dict churn.cross_validate returns (its one builder), and result[key] reads it."""
    @property
    def threshold_mean(self) -> float: ...
    @property
    def threshold_std(self) -> float: ...
    @property
    def default_threshold(self) -> float: ...
    @property
    def n_repeats(self) -> int: ...
    @property
    def folds(self) -> List[Dict[str, Any]]: ...
    @property
    def tuned(self) -> Dict[str, Dict[str, float]]: ...
    @property
    def at_default(self) -> Dict[str, Dict[str, float]]: ...
    @property
    def oof_proba(self) -> np.ndarray: ...
    @property
    def oof_fold(self) -> np.ndarray: ...
    @property
    def oof_pred(self) -> np.ndarray: ...
    def to_dict(self) -> Dict[str, Any]: ...
    def __getitem__(self, key: str) -> Any: ...
    def get(self, key: str, default: Any = None) -> Any: ...
    def keys(self) -> Any: ...
    def __contains__(self, key: object) -> bool: ...

class CVTask:
    """One fit of a cross-validation plan: a model trained on samples `train` predicts samples `test` (outer fold `fold` itself when inner is -1, else its inner fold `inner`)."""
    @property
    def fold(self) -> int: ...
    @property
    def inner(self) -> int: ...
    @property
    def train(self) -> np.ndarray: ...
    @property
    def test(self) -> np.ndarray: ...

class CVPlan:
    """The fits of a cross-validation as data (churn::plan_cross_validate): run each task's fit and predict anywhere, then assemble() the predictions into the result. Use churn.evaluation.plan_cross_validate."""
    @property
    def tasks(self) -> List[CVTask]: ...
    @property
    def n_samples(self) -> int: ...
    @property
    def n_folds(self) -> int: ...
    @property
    def inner_splits(self) -> int: ...
    def __len__(self) -> int: ...
    def assemble(self, predictions: Sequence[Any]) -> Dict[str, Any]:
        """The cross-validation result (the dict churn.cross_validate returns) from predictions[t], the predict_proba of task t's model on its test samples (P(class 1), or the two columns)."""

def _plan_cross_validate(y: _Labels, folds: Sequence[Tuple[Any, Any]], inner_splits: int, default_threshold: float, seed: int, n_repeats: int = 1, groups: Optional[np.ndarray] = None) -> CVPlan: ...
def _tune_threshold_builtin(model: str, X: np.ndarray, y: _Labels, model_params: Dict[str, Any], inner_splits: int, seed: int, groups: Optional[np.ndarray] = None) -> Dict[str, float]: ...
def _tune_threshold_callable(fit: Callable[[np.ndarray, np.ndarray], Any], X: np.ndarray, y: _Labels, inner_splits: int, seed: int, groups: Optional[np.ndarray] = None) -> Dict[str, float]: ...

# --- features (python/src/bind_features.cpp; use churn.user_features / churn.FeatureAccumulator) ---------
class _FeatureProgress:
    """Counters polled by progress bars while files are aggregated."""
    def __init__(self) -> None: ...
    @property
    def events(self) -> int: ...
    @property
    def bytes(self) -> int: ...
    @property
    def bytes_total(self) -> int: ...
    def stop(self) -> None:
        """Stops the reading that polls these counters at its next block (LimitError with limit 'stop')."""

class _FeatureAccumulator:
    """Mergeable per-user aggregate of an event log (see churn.FeatureAccumulator)."""
    def __init__(self, session_gap_minutes: float = 30.0, max_users: Optional[int] = None) -> None: ...
    def add_files(self, paths: List[str], strict: bool = True, threads: int = 0, progress: Optional[_FeatureProgress] = None) -> ReadReport: ...
    def add_jsonl(self, data: bytes, strict: bool = True, name: str = "<buffer>", lines_before: int = 0) -> ReadReport:
        """Aggregates JSON lines held in memory (bytes) that follow `lines_before` lines of the source `name` (errors name the line within the whole source)."""
    def add_piece(self, piece: FilePiece, strict: bool = True) -> ReadReport:
        """Aggregates one FilePiece (errors name the line within the whole file)."""
    def merge(self, other: "_FeatureAccumulator") -> None: ...
    def finalize(self, label: str = "window", cutoff_ms: Optional[int] = None, horizon_days: float = 30.0, cutoffs: Optional[List[int]] = None, every_days: int = 0, min_history_days: float = 14.0, read: Optional[ReadReport] = None) -> _FeatureTable: ...
    def to_bytes(self) -> bytes: ...
    @staticmethod
    def from_bytes(data: bytes) -> "_FeatureAccumulator": ...
    @property
    def events(self) -> int: ...
    @property
    def users(self) -> int: ...
    @property
    def session_gap_minutes(self) -> float: ...
    @property
    def max_users(self) -> Optional[int]: ...
    @property
    def first_ts(self) -> Optional[int]: ...
    @property
    def last_ts(self) -> Optional[int]: ...

def _user_features(paths: List[str], label: str = "window", cutoff_ms: Optional[int] = None, horizon_days: float = 30.0, session_gap_minutes: float = 30.0, threads: int = 0, strict: bool = True, progress: Optional[_FeatureProgress] = None, max_users: Optional[int] = None, cutoffs: Optional[List[int]] = None, every_days: int = 0, min_history_days: float = 14.0) -> _FeatureTable: ...
def _parse_cutoff(text: str) -> int: ...
class _ScanSummary:
    """A summary of event logs (churn::scan_summary), read-only: events, users, sessions, pages, time range and the ReadReport. churn.ScanSummary derives from it."""
    def __init__(self, summary: _ScanSummary) -> None: ...
    @property
    def events(self) -> int: ...
    @property
    def anonymous_events(self) -> int: ...
    @property
    def users(self) -> int: ...
    @property
    def churned_users(self) -> int: ...
    @property
    def sessions(self) -> int: ...
    @property
    def first_ts(self) -> Optional[int]: ...
    @property
    def last_ts(self) -> Optional[int]: ...
    @property
    def pages(self) -> Dict[str, int]: ...
    @property
    def auths(self) -> Dict[str, int]: ...
    @property
    def levels(self) -> Dict[str, int]: ...
    @property
    def report(self) -> ReadReport: ...
    def to_dict(self) -> Dict[str, Any]:
        """The summary as a dict (the report as a dict too)."""

def _scan(paths: List[str], strict: bool = True, threads: int = 0, max_line_bytes: int = 67108864) -> Tuple[_ScanSummary, List[_ScanSummary]]:
    """Summarises event logs, files and folders: (summary of all, [summary of each file] when there are several)."""
def _expand_paths(paths: List[str]) -> List[str]:
    """The event files that files and folders stand for (churn::expand_paths)."""
def _format_utc(ts: int) -> str: ...

# --- the event table (python/src/bind_event_table.cpp) ------------------------------------------------
class _EventColumns:
    """The columns of an event table (churn::event_table). Use churn.EventTable."""
    def __len__(self) -> int: ...
    def values(self, name: str) -> Any:
        """A column's values as a read-only numpy view of the C++ buffer: int64 (missing_int where null), float64 (NaN where null) or, for a string column, int32 codes (-1 where null)."""
    def categories(self, name: str) -> List[str]:
        """The dictionary of a string column, by code."""
    def memory_bytes(self) -> int:
        """Bytes held by the columns (capacity, dictionaries and their hash indexes included)."""
    def arrow_c_stream(self) -> object:
        """A PyCapsule 'arrow_array_stream' of the table (one record batch), sharing its buffers."""
    def arrow_c_schema(self) -> object:
        """A PyCapsule 'arrow_schema' of the table's schema."""

def _read_events(files: List[str], strict: bool = True, threads: int = 0, max_line_bytes: int = 67108864) -> Tuple[_EventColumns, ReadReport]:
    """Reads event logs into columns on `threads` threads (0: all cores): (_EventColumns, read report). Use churn.read_events."""

# --- reader (python/src/bind_reader.cpp) ------------------------------------------------------------
class ReadReport:
    """What a read of event logs saw (churn::read_report): every line is an event, blank, or bad (counted under its reason, with example line numbers). Read-only and picklable; to_dict() gives the dict churn has always returned, and report[key] reads it."""
    @property
    def source(self) -> str: ...
    @property
    def bytes(self) -> int: ...
    @property
    def lines(self) -> int: ...
    @property
    def events(self) -> int: ...
    @property
    def blank_lines(self) -> int: ...
    @property
    def bad_lines(self) -> int: ...
    @property
    def bad_by_reason(self) -> Dict[str, int]: ...
    @property
    def examples(self) -> List[Tuple[int, str]]: ...
    @property
    def files(self) -> List["ReadReport"]: ...
    @property
    def summary(self) -> str: ...
    def to_dict(self) -> Dict[str, Any]: ...
    def __getitem__(self, key: str) -> Any: ...
    def get(self, key: str, default: Any = None) -> Any: ...
    def keys(self) -> Any: ...
    def __contains__(self, key: object) -> bool: ...
    def __eq__(self, other: object) -> bool: ...

class FeatureInfo:
    """One column of a feature table (churn::feature_info), read-only."""
    @property
    def name(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def unit(self) -> str: ...
    @property
    def kind(self) -> str:
        """'numeric' or 'categorical'"""
    @property
    def categories(self) -> List[str]: ...
    def to_dict(self) -> Dict[str, Any]: ...

class FeatureReport:
    """What went into a feature table and what was left out (churn::feature_report), read-only."""
    @property
    def events(self) -> int: ...
    @property
    def anonymous_events(self) -> int: ...
    @property
    def guest_events(self) -> int: ...
    @property
    def logged_out_events(self) -> int: ...
    @property
    def cancellation_events(self) -> int: ...
    @property
    def users_seen(self) -> int: ...
    @property
    def users_in_table(self) -> int: ...
    @property
    def users_churned(self) -> int: ...
    @property
    def users_cancelled_ever(self) -> int: ...
    @property
    def users_cancelled_before_cutoff(self) -> int: ...
    @property
    def users_without_events_before_cutoff(self) -> int: ...
    @property
    def users_active_after_cancellation(self) -> int: ...
    @property
    def first_ts(self) -> Optional[int]: ...
    @property
    def last_ts(self) -> Optional[int]: ...
    @property
    def cutoff_ms(self) -> Optional[int]: ...
    @property
    def label_end_ms(self) -> Optional[int]: ...
    @property
    def label_window_complete(self) -> bool: ...
    @property
    def read(self) -> Optional[ReadReport]: ...
    @property
    def snapshot_cutoffs(self) -> List[int]: ...
    @property
    def snapshot_rows(self) -> List[int]: ...
    @property
    def snapshot_churned(self) -> List[int]: ...
    @property
    def summary(self) -> str: ...

class _FeatureTable:
    """A feature table (churn::feature_table), read-only; X, y and cutoffs are numpy views of its memory. churn.FeatureTable derives from it."""
    def __init__(self, table: _FeatureTable) -> None: ...
    @property
    def X(self) -> np.ndarray: ...
    @property
    def y(self) -> np.ndarray: ...
    @property
    def cutoffs(self) -> Optional[np.ndarray]: ...
    @property
    def user_ids(self) -> List[str]: ...
    @property
    def features(self) -> List[FeatureInfo]: ...
    @property
    def feature_names(self) -> List[str]: ...
    @property
    def descriptions(self) -> List[str]: ...
    @property
    def units(self) -> List[str]: ...
    @property
    def kinds(self) -> List[str]: ...
    @property
    def categories(self) -> Dict[str, List[str]]: ...
    @property
    def label(self) -> str: ...
    @property
    def cutoff_ms(self) -> Optional[int]: ...
    @property
    def horizon_days(self) -> float: ...
    @property
    def session_gap_minutes(self) -> float: ...
    @property
    def report(self) -> FeatureReport: ...

class FilePiece:
    """A part of an event log read by one task (churn::file_piece): bytes [begin, end) of a plain file, cut at line starts, or a whole gzip file or stream (whole). Picklable."""
    def __init__(self, path: str, begin: int = 0, end: int = 0, whole: bool = False) -> None: ...
    @property
    def path(self) -> str: ...
    @property
    def begin(self) -> int: ...
    @property
    def end(self) -> int: ...
    @property
    def whole(self) -> bool: ...
    def describe(self) -> str: ...

def _plan_pieces(paths: List[str], piece_bytes: int) -> List[FilePiece]:
    """The pieces of the files and folders `paths` (churn::expand_paths then churn::plan_pieces): plain files cut at line starts into pieces of about piece_bytes, gzip files whole."""
def _join_piece_reports(reports: List[ReadReport], max_examples: int = 5, noun: str = "files") -> ReadReport:
    """One read report for the reports of pieces, in order, the pieces of a source adjacent (churn::join_piece_reports)."""
def _throw_parse_error(file: str, line: int, field: str, reason: str) -> None:
    """Raises the ParseError churn's reader raises for that file, line, field and reason."""

# --- forest (python/src/bind_forest.cpp; use churn.RandomForestClassifier / churn.load_model) ---------
#: Forest parameters as a dict with scikit-learn's names (the C++ codec's keys, docs/model-format.md).
_ForestParams = Dict[str, Any]

class ImportanceScoring:
    """The score whose drop permutation importance measures."""
    roc_auc: ClassVar["ImportanceScoring"]
    accuracy: ClassVar["ImportanceScoring"]
    __members__: ClassVar[Dict[str, "ImportanceScoring"]]
    def __init__(self, value: int) -> None: ...
    @property
    def name(self) -> str: ...
    @property
    def value(self) -> int: ...
    def __int__(self) -> int: ...
    def __index__(self) -> int: ...

class ForestModel:
    """A trained random forest (binary). Immutable apart from threshold and metadata; predictions are
    thread-safe and release the GIL."""
    @property
    def n_features(self) -> int: ...
    @property
    def n_trees(self) -> int: ...
    @property
    def n_nodes(self) -> int: ...
    @property
    def n_leaves(self) -> int: ...
    @property
    def memory_bytes(self) -> int:
        """Bytes of the node arrays (16 per node) and their training cover (8 per node)."""
    feature_names: List[str]
    classes_json: str
    """The two class labels as JSON text."""
    metadata_json: str
    """Free-form metadata as JSON text."""
    threshold: float
    @property
    def params(self) -> _ForestParams:
        """The parameters the model was grown with, as its file holds them (scikit-learn's names; no n_jobs)."""
    @property
    def feature_importances(self) -> np.ndarray: ...
    @property
    def oob_score(self) -> Optional[float]: ...
    @property
    def oob_probability(self) -> np.ndarray:
        """P(class 1) from the trees that did not see each training row (NaN: never out of bag)."""
    def predict_proba(self, X: np.ndarray, n_jobs: int = 1, columns: int = 1) -> np.ndarray:
        """P(class 1) per row (columns=1, a 1-D array), or both classes' probabilities (columns=2: rows x 2, P(class 0) = 1 - P(class 1) first, as scikit-learn's predict_proba)."""
    def contributions(self, X: np.ndarray, n_jobs: int = 1) -> np.ndarray:
        """Decision-path contributions: rows x (features + 1); the last column is the bias. Each row sums to P(class 1)."""
    def permutation_importance(self, X: np.ndarray, y: np.ndarray, scoring: ImportanceScoring = ..., n_repeats: int = 5, seed: int = 0, n_jobs: int = 1) -> Dict[str, Any]: ...
    def tree_arrays(self, tree: int) -> Dict[str, np.ndarray]:
        """The nodes of one tree (pre-order; left child of i is i + 1; feature -1 marks a leaf); 'cover' (the nodes' weighted training sample counts) unless the model was read from a format version 1 file."""
    @property
    def has_cover(self) -> bool:
        """Whether the trees keep their training cover (False for a model read from a format version 1 file: no SHAP values)."""
    def dumps(self) -> str:
        """The model as JSON text."""
    def save(self, path: str) -> None: ...
    @staticmethod
    def loads(text: str) -> "ForestModel": ...
    @staticmethod
    def load(path: str) -> "ForestModel": ...

def fit_forest(X: np.ndarray, y: np.ndarray, sample_weight: Optional[np.ndarray] = None, *, params: _ForestParams = ..., feature_names: List[str] = ...) -> ForestModel:
    """Trains a forest on X (float64 rows x features, NaN = missing) and y (0/1) with `params`, a dict with scikit-learn's names (see validate_forest_params). Releases the GIL. Low level: churn.RandomForestClassifier is the scikit-learn-style estimator."""
def validate_forest_params(params: _ForestParams) -> _ForestParams:
    """Checks forest parameters without data; returns every parameter, defaults filled in; raises ParameterError naming the first bad one (an unknown key, a wrong type, a value out of range)."""
def load_forest_model(path: str) -> ForestModel:
    """Loads a ForestModel saved with ForestModel.save (see docs/model-format.md)."""

class ForestPart:
    """Trees first_tree .. first_tree + n_trees - 1 of a forest, grown by fit_forest_trees; combine_forests joins the parts into the forest fit_forest grows. Pickles as JSON."""
    @property
    def first_tree(self) -> int: ...
    @property
    def n_trees(self) -> int: ...
    @property
    def n_estimators(self) -> int:
        """Trees in the whole forest."""
    @property
    def n_rows(self) -> int:
        """Rows of the training data."""
    def dumps(self) -> str:
        """The part as JSON text."""
    @staticmethod
    def loads(text: str) -> "ForestPart": ...

def fit_forest_trees(X: np.ndarray, y: np.ndarray, sample_weight: Optional[np.ndarray] = None, *, first_tree: int, n_trees: int, params: _ForestParams = ..., feature_names: List[str] = ...) -> ForestPart:
    """Grows only trees first_tree .. first_tree + n_trees - 1 of the forest fit_forest grows with the same arguments (e.g. on one worker of a cluster). Releases the GIL."""
def combine_forests(parts: List[ForestPart], X: np.ndarray, y: np.ndarray, sample_weight: Optional[np.ndarray] = None) -> ForestModel:
    """Joins the parts grown by fit_forest_trees (in any order) into the forest fit_forest grows from the same data and parameters, bit for bit; X, y, sample_weight: the parts' training data (checked; the OOB estimates are recomputed from it). Releases the GIL."""

# --- SHAP (python/src/bind_shap.cpp; use churn.RandomForestClassifier.shap_values) -------------------
class TreeExplainer:
    """Exact path-dependent TreeSHAP values of a ForestModel's P(class 1). Immutable and thread-safe; shap_values releases the GIL."""
    @property
    def expected_value(self) -> float:
        """E[P(class 1)] under the trees' training cover; plus a row's SHAP values, P(class 1)."""
    @property
    def n_features(self) -> int: ...
    @property
    def n_trees(self) -> int: ...
    @property
    def max_depth(self) -> int:
        """Edges on the longest root-to-leaf path."""
    @property
    def max_distinct_features(self) -> int:
        """Most distinct features on one root-to-leaf path."""
    def __init__(self, model: ForestModel) -> None:
        """Plans every tree of `model` (O(nodes)). Raises ModelCapabilityError for a model without training cover (loaded from a format version 1 file)."""
    def shap_values(self, X: np.ndarray, n_jobs: int = 1) -> np.ndarray:
        """SHAP values, rows x features: each row plus expected_value sums to P(class 1). The same whatever n_jobs."""

# --- build (python/src/bind_build.cpp) --------------------------------------------------------------

def build_info() -> Dict[str, Union[str, bool]]:
    """How the compiled core was built: 'version', 'simd' (the kernel of simdjson's inline on-demand code,
    chosen at compile time: 'fallback' is portable, 'haswell' needs AVX2), 'simd_runtime' (the kernel
    libsimdjson chose at run time for this CPU: stage 1), 'avx2', 'simdjson', 'compiler', 'debug'."""

# --- dates (python/src/bind_dates.cpp) --------------------------------------------------------------

#: Milliseconds in a day: the one constant for epoch-millisecond arithmetic on UTC days.
MS_PER_DAY: int

def _parse_date(text: str, parameter: str = "date") -> int: ...
def _format_utc(ts_ms: int) -> str: ...
