"""churn: predict which customers of a subscription service are about to leave, from raw event logs.

The compiled core is ``churn._churn`` (pybind11); this package re-exports it and adds what is more
natural in Python: the command line (``churn ...``), a scikit-learn-style estimator, and helpers.
"""
from pkgutil import extend_path as _extend_path

# Lets a CMake build tree (<build>/python/churn/_churn*.so) serve this source package during development.
__path__ = _extend_path(__path__, __name__)

from ._churn import (  # noqa: E402
    ChurnError,
    ChurnIOError,
    DataError,
    LimitError,
    ModelCapabilityError,
    ModelFormatError,
    ParameterError,
    ParseError,
    __version__,
    build_info,
)
from .events import EventTable, ReadReport, ScanSummary, read_events, scan  # noqa: E402
from .features import FeatureAccumulator, FeatureReport, FeatureTable, merge_accumulators, user_features  # noqa: E402,E501
from .simulation import SimulationSummary, simulate, simulation_statistics  # noqa: E402
from . import metrics  # noqa: E402
from .scoring import ScoreResult, score, score_features  # noqa: E402
from .evaluation import (  # noqa: E402
    LogisticRegression,
    cross_validate,
    out_of_time_split,
    repeated_stratified_kfold,
    stratified_group_kfold,
    stratified_kfold,
    stratified_train_test_split,
    train_test_split_stratified,
    tune_threshold,
)
from typing import TYPE_CHECKING as _TYPE_CHECKING  # noqa: E402

if _TYPE_CHECKING:
    from .forest import RandomForestClassifier, load_model, validate_params

_LAZY = ("RandomForestClassifier", "load_model", "validate_params")


def __getattr__(name: str):
    # The estimator subclasses scikit-learn's base classes when scikit-learn is installed, and importing
    # scikit-learn costs about a second that reading logs and computing features never need: the
    # forest module is imported on first use.
    if name in _LAZY:
        from . import forest

        return getattr(forest, name)
    raise AttributeError(f"module 'churn' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "__version__",
    "build_info",
    "ChurnError",
    "ChurnIOError",
    "DataError",
    "LimitError",
    "ModelCapabilityError",
    "ModelFormatError",
    "ParameterError",
    "ParseError",
    "EventTable",
    "ReadReport",
    "ScanSummary",
    "read_events",
    "scan",
    "FeatureAccumulator",
    "FeatureReport",
    "FeatureTable",
    "merge_accumulators",
    "user_features",
    "SimulationSummary",
    "simulate",
    "simulation_statistics",
    "metrics",
    "ScoreResult",
    "score",
    "score_features",
    "LogisticRegression",
    "cross_validate",
    "out_of_time_split",
    "repeated_stratified_kfold",
    "stratified_group_kfold",
    "stratified_kfold",
    "stratified_train_test_split",
    "train_test_split_stratified",
    "tune_threshold",
    "RandomForestClassifier",
    "load_model",
    "validate_params",
]
