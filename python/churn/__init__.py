"""churn: predict which customers of a subscription service are about to leave, from raw event logs.

The compiled core is ``churn._churn`` (pybind11); this package re-exports it and adds what is more
natural in Python: the command line (``churn ...``), a scikit-learn-style estimator, and helpers.
"""
try:
    from . import _churn  # noqa: F401
except ImportError:  # Lets a CMake build tree (<build>/python/churn/_churn*.so) serve this source package.
    from pkgutil import extend_path as _extend_path

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
# typing.TYPE_CHECKING without importing typing (several ms of `churn features`' start-up); mypy knows the name.
_TYPE_CHECKING = False
if _TYPE_CHECKING:
    from . import metrics
    from .evaluation import (
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
    from .events import EventTable, ReadReport, ScanSummary, read_events, scan
    from .features import FeatureAccumulator, FeatureReport, FeatureTable, merge_accumulators, user_features
    from .forest import RandomForestClassifier, load_model, validate_params
    from .scoring import ScoreResult, score, score_features
    from .simulation import SimulationSummary, simulate, simulation_statistics

# The Python modules are imported on first use (PEP 562): `import churn` loads the compiled core alone,
# so `churn features` (files in, CSV out) starts without numpy, 0.12 s of a half-second run, and the
# estimator does not import scikit-learn (about a second) for users who only read logs. Each public
# name -> the module that defines it.
_LAZY = {
    **dict.fromkeys(("EventTable", "ReadReport", "ScanSummary", "read_events", "scan"), "events"),
    **dict.fromkeys(("FeatureAccumulator", "FeatureReport", "FeatureTable", "merge_accumulators", "user_features"),
                    "features"),
    **dict.fromkeys(("SimulationSummary", "simulate", "simulation_statistics"), "simulation"),
    **dict.fromkeys(("ScoreResult", "score", "score_features"), "scoring"),
    **dict.fromkeys(("LogisticRegression", "cross_validate", "out_of_time_split", "repeated_stratified_kfold",
                     "stratified_group_kfold", "stratified_kfold", "stratified_train_test_split",
                     "train_test_split_stratified", "tune_threshold"), "evaluation"),
    **dict.fromkeys(("RandomForestClassifier", "load_model", "validate_params"), "forest"),
}
#: Submodules that `import churn` used to import, still reachable as attributes (churn.features.write_csv).
_SUBMODULES = ("metrics", "events", "features", "simulation", "scoring", "evaluation", "reasons", "dates",
               "csvsafe", "forest")


def __getattr__(name: str):
    import importlib

    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'churn' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later lookups do not come back here
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY) | set(_SUBMODULES))


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
