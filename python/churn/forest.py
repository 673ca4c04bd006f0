"""A scikit-learn-style random forest classifier backed by churn's C++ forest.

``RandomForestClassifier`` takes scikit-learn's parameter names and meanings and follows its estimator
conventions (``fit``/``predict``/``predict_proba``/``score``, ``get_params``/``set_params``, fitted
attributes ending in ``_``), so it works in ``cross_val_score``, ``GridSearchCV`` and ``Pipeline``.
scikit-learn is optional: when it is installed the estimator derives from its ``BaseEstimator`` and
``ClassifierMixin`` (for ``clone``, tags and HTML repr); otherwise small stand-ins provide the same API.

Binary classification only; labels may be any two values (0/1, bools, strings). Missing values (NaN)
are accepted in ``X``; infinities are rejected. Models save to the JSON format of
``docs/model-format.md`` (``save``/``load_model``), and pickling goes through the same format.
"""
from __future__ import annotations

import inspect
import json
import math
import numbers
import os
import warnings
from typing import Any, Dict, List, NamedTuple, Optional

import numpy as np

from . import _churn
from ._errors import parameter_error

try:  # scikit-learn is optional
    from sklearn.base import BaseEstimator as _BaseEstimator
    from sklearn.base import ClassifierMixin as _ClassifierMixin
    from sklearn.exceptions import DataConversionWarning as _DataConversionWarning
    from sklearn.exceptions import NotFittedError

    _HAVE_SKLEARN = True
except ImportError:  # pragma: no cover - exercised only without scikit-learn
    _HAVE_SKLEARN = False

    class NotFittedError(ValueError, AttributeError):
        """Raised when a model is used before fit."""

    class _DataConversionWarning(UserWarning):
        pass

    class _BaseEstimator:
        """get_params/set_params as scikit-learn defines them (parameters = __init__ arguments)."""

        @classmethod
        def _get_param_names(cls) -> List[str]:
            sig = inspect.signature(cls.__init__)
            return sorted(p.name for p in sig.parameters.values() if p.name != "self" and p.kind != p.VAR_KEYWORD)

        def get_params(self, deep: bool = True) -> Dict[str, Any]:
            return {name: getattr(self, name) for name in self._get_param_names()}

        def set_params(self, **params: Any) -> "_BaseEstimator":
            valid = self._get_param_names()
            for key, value in params.items():
                if key not in valid:
                    raise ValueError(f"Invalid parameter {key!r} for estimator {type(self).__name__}. "
                                     f"Valid parameters are: {valid!r}.")
                setattr(self, key, value)
            return self

        def __repr__(self) -> str:
            defaults = {p.name: p.default for p in inspect.signature(type(self).__init__).parameters.values()}
            changed = [f"{k}={v!r}" for k, v in self.get_params().items() if defaults.get(k) is not v and defaults.get(k) != v]
            return f"{type(self).__name__}({', '.join(changed)})"

    class _ClassifierMixin:
        _estimator_type = "classifier"

        def score(self, X, y, sample_weight=None) -> float:
            pred = self.predict(X)
            ok = (np.asarray(pred) == np.asarray(y)).astype(np.float64)
            return float(np.average(ok, weights=sample_weight))


__all__ = ["RandomForestClassifier", "load_model", "validate_params", "NotFittedError"]

_MAX_SEED = 2**63 - 1


def _param_error(name: str, value: Any, allowed: str) -> Exception:
    """A ParameterError as the C++ core raises it: the message, and .name."""
    return parameter_error(name, repr(value), allowed)


def _is_int(v: Any) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _is_real(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _feature_names_of(X: Any) -> Optional[np.ndarray]:
    """Column names of a DataFrame-like X when they are all strings (scikit-learn's rule)."""
    columns = getattr(X, "columns", None)
    if columns is None or not hasattr(X, "dtypes"):
        return None
    names = np.asarray(list(columns), dtype=object)
    if len(names) and all(isinstance(n, str) for n in names):
        return names
    if any(isinstance(n, str) for n in names):
        raise TypeError("Feature names are only supported if all input features have string names, but your "
                        "input has mixed types; convert all feature names to strings.")
    return None


def _unpack_table(X: Any, y: Any):
    """(X, y, names): a churn.FeatureTable gives its matrix, its labels (when y is None) and its
    feature names; anything else passes through with names None."""
    from .features import FeatureTable

    if isinstance(X, FeatureTable):
        return X.X, (X.y if y is None else y), np.asarray(list(X.feature_names), dtype=object)
    return X, y, None


def _as_matrix(X: Any) -> np.ndarray:
    """X as a float64 2-D array (any order and strides: the native code reads a strided view, so a
    float64 array, e.g. the column-major feature table, is not copied), with scikit-learn's messages for
    the usual mistakes."""
    if X is None:
        raise ValueError("Expected 2D array, got None instead.")
    if hasattr(X, "toarray") and hasattr(X, "nnz"):
        raise TypeError("Sparse data was passed, but churn's RandomForestClassifier needs dense data; "
                        "use X.toarray() to convert to a dense numpy array.")
    if isinstance(X, np.ndarray) and X.dtype == np.float64 and X.ndim == 2:
        arr = X
    else:
        if hasattr(X, "dtypes") and hasattr(X, "to_numpy"):
            X = X.to_numpy(dtype=np.float64, na_value=np.nan)
        arr = np.asarray(X)
        if np.iscomplexobj(arr):
            raise ValueError("Complex data not supported")
        if arr.dtype.kind in "USV":
            raise ValueError(f"could not convert string to float: X has dtype {arr.dtype}; numeric features are needed")
        if arr.ndim == 0 or arr.ndim == 1:
            raise ValueError(f"Expected 2D array, got {'scalar' if arr.ndim == 0 else '1D'} array instead:\narray={arr!r}.\n"
                             "Reshape your data either using array.reshape(-1, 1) if your data has a single feature or "
                             "array.reshape(1, -1) if it contains a single sample.")
        if arr.ndim > 2:
            raise ValueError(f"Found array with dim {arr.ndim}. RandomForestClassifier expected <= 2.")
        arr = np.asarray(arr, dtype=np.float64)
    if arr.shape[0] < 1:
        raise ValueError(f"Found array with 0 sample(s) (shape={arr.shape}) while a minimum of 1 is required.")
    if arr.shape[1] < 1:
        raise ValueError(f"Found array with 0 feature(s) (shape={arr.shape}) while a minimum of 1 is required.")
    return arr


def _as_labels(y: Any, n_rows: int) -> np.ndarray:
    if y is None:
        raise ValueError("RandomForestClassifier requires y to be passed, but the target y is None.")
    if hasattr(y, "to_numpy"):
        y = y.to_numpy()
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        warnings.warn("A column-vector y was passed when a 1d array was expected. Please change the shape of y "
                      "to (n_samples,), for example using ravel().", _DataConversionWarning, stacklevel=3)
        y = y.ravel()
    if y.ndim != 1:
        raise ValueError(f"y should be a 1d array, got an array of shape {y.shape} instead.")
    if len(y) != n_rows:
        raise ValueError(f"Found input variables with inconsistent numbers of samples: [{n_rows}, {len(y)}]")
    if y.dtype.kind == "f":
        if np.isnan(y).any():
            raise ValueError("Input y contains NaN.")
        if not np.all(y == np.round(y)):
            raise ValueError("Unknown label type: continuous. Maybe you are trying to fit a classifier, which expects "
                             "discrete classes on a regression target with continuous values.")
    if y.dtype == object:
        kinds = {type(v) for v in y}
        if any(v is None or (isinstance(v, float) and math.isnan(v)) for v in y):
            raise ValueError("Input y contains NaN or None.")
        if len(kinds) > 1 and not all(issubclass(k, numbers.Number) for k in kinds):
            raise TypeError(f"y has labels of mixed types {sorted(k.__name__ for k in kinds)}; use one type")
    return y


# The estimator's parameters that are not the forest's (forest_params): Python's alone.
_ESTIMATOR_ONLY = ("threshold",)


def _fraction_of_rows(name: str, value: Any, minimum: int, n_rows: Optional[int]) -> Any:
    """A float min_samples_split/min_samples_leaf is a fraction of the rows (scikit-learn): the count
    for ``n_rows`` (the least allowed count when the rows are not known yet). Anything else goes to the
    codec as it is, which checks it."""
    if not _is_real(value) or _is_int(value):
        return value
    if not 0.0 < float(value) <= 1.0:
        raise _param_error(name, value, f"an int >= {minimum} or a float in (0.0, 1.0]")
    return minimum if n_rows is None else max(minimum, int(math.ceil(float(value) * n_rows)))


def _resolve_params(params: Dict[str, Any], n_rows: Optional[int] = None,
                    classes: Optional[np.ndarray] = None) -> Dict[str, Any]:
    """The forest's parameters as the C++ codec reads them (docs/model-format.md#parameters): scikit-learn's
    names and values, with only what exists in Python resolved here: fractions of the rows (for
    ``n_rows``), a class-weight dict keyed by labels (for ``classes``), and ``random_state`` (None: a
    fresh seed; a numpy RandomState or Generator: a seed drawn from it). Without data (validate_params),
    fractions and labels are checked for their form only. The C++ codec checks everything else."""
    p = {k: v for k, v in params.items() if k not in _ESTIMATOR_ONLY}
    if "min_samples_split" in p:
        p["min_samples_split"] = _fraction_of_rows("min_samples_split", p["min_samples_split"], 2, n_rows)
    if "min_samples_leaf" in p:
        p["min_samples_leaf"] = _fraction_of_rows("min_samples_leaf", p["min_samples_leaf"], 1, n_rows)
    cw = p.get("class_weight")
    if isinstance(cw, dict):
        if classes is None:
            if len(cw) > 2:
                raise _param_error("class_weight", cw, "a dict with at most two labels (binary classification)")
            try:  # in the order of the classes a fit would find (sorted labels)
                items = sorted(cw.items())
            except TypeError:
                items = list(cw.items())
            p["class_weight"] = ([w for _, w in items] + [1.0, 1.0])[:2]
        else:
            weights: List[Any] = [1.0, 1.0]
            for label, w in cw.items():
                where = np.flatnonzero(classes == label)
                if len(where) == 0:
                    raise ValueError(f"The classes, {sorted(cw)!r}, are not in class_weight: class_weight has label "
                                     f"{label!r}, but the classes are {classes.tolist()!r}")
                weights[int(where[0])] = w
            p["class_weight"] = weights
    if "random_state" in p:
        p["random_state"] = _seed_of(p["random_state"])
    return p


def _seed_of(rs: Any) -> Any:
    if rs is None:
        return int(np.random.randint(0, 2**31 - 1))
    if isinstance(rs, np.random.RandomState):
        return int(rs.randint(0, 2**31 - 1))
    if isinstance(rs, np.random.Generator):
        return int(rs.integers(0, 2**31 - 1))
    if _is_int(rs):
        return int(rs) & _MAX_SEED if rs >= 0 else int(rs)  # a negative seed: the codec names it
    raise _param_error("random_state", rs, "None, an int >= 0, a numpy RandomState or Generator")


def validate_params(params: Dict[str, Any]) -> Dict[str, Any]:
    """Checks the parameters of a :class:`RandomForestClassifier` (scikit-learn's names, as
    ``get_params`` gives them; missing ones keep their defaults) without data or fitting, and returns the
    forest's parameters as its model file will hold them (``random_state`` resolved, class weights
    [w0, w1]). Raises ParameterError naming the first bad parameter: an unknown name, a wrong type or a
    value out of range. What needs the data (``max_features`` or ``max_samples`` beyond the columns or
    rows; ``class_weight`` labels that are not classes) is checked by ``fit``."""
    if not isinstance(params, dict):
        raise TypeError(f"params must be a dict of parameters by name, got {type(params).__name__}")
    if "threshold" in params:
        _check_threshold(params["threshold"])
    return _churn.validate_forest_params(_resolve_params(params))


def _check_threshold(threshold: Any) -> None:
    if not _is_real(threshold) or not 0 <= threshold <= 1:
        raise _param_error("threshold", threshold, "a float in [0, 1]")


class RandomForestClassifier(_ClassifierMixin, _BaseEstimator):
    """A random forest classifier (binary), scikit-learn's RandomForestClassifier in C++.

    Parameters have scikit-learn's names and meanings; the extras are ``splitter`` ("best", or
    "random" for extremely randomized trees) and ``threshold`` (``predict`` says the second class when
    P(second class) > threshold; 0.5 gives scikit-learn's argmax).

    Trees use exact splits (every threshold scikit-learn could choose); feature values are compared as
    float32, as in scikit-learn. A NaN follows the direction learned for it at each split (or the
    majority when no training row was missing there). The model is identical for a given
    ``random_state`` whatever ``n_jobs`` is. ``fit`` and the batch predictions release the GIL.
    """

    def __init__(self, n_estimators: int = 100, *, criterion: str = "gini", splitter: str = "best",
                 max_depth: Optional[int] = None, min_samples_split: Any = 2, min_samples_leaf: Any = 1,
                 min_weight_fraction_leaf: float = 0.0, max_features: Any = "sqrt",
                 max_leaf_nodes: Optional[int] = None, min_impurity_decrease: float = 0.0, bootstrap: bool = True,
                 oob_score: bool = False, n_jobs: Optional[int] = None, random_state: Any = None,
                 class_weight: Any = None, max_samples: Any = None, threshold: float = 0.5):
        self.n_estimators = n_estimators
        self.criterion = criterion
        self.splitter = splitter
        self.max_depth = max_depth
        self.min_samples_split = min_samples_split
        self.min_samples_leaf = min_samples_leaf
        self.min_weight_fraction_leaf = min_weight_fraction_leaf
        self.max_features = max_features
        self.max_leaf_nodes = max_leaf_nodes
        self.min_impurity_decrease = min_impurity_decrease
        self.bootstrap = bootstrap
        self.oob_score = oob_score
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.class_weight = class_weight
        self.max_samples = max_samples
        self.threshold = threshold

    # ---- scikit-learn protocol -------------------------------------------------------------------
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.classifier_tags.multi_class = False
        tags.non_deterministic = False
        return tags

    @classmethod
    def _get_param_names(cls) -> List[str]:
        # scikit-learn reads the signature of __init__ on every get_params, which every fit calls (about
        # half of fit's own Python time on a small table): read once per class here.
        names = cls.__dict__.get("_churn_param_names")
        if names is None:
            names = tuple(super()._get_param_names())
            setattr(cls, "_churn_param_names", names)
        return list(names)

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "model_")

    def _n_threads(self) -> int:
        n = self.n_jobs
        if n is None:
            return 1
        if not _is_int(n) or n == 0 or n > _churn.max_threads or n < -(2**31):
            raise _param_error("n_jobs", n, f"None, a positive int up to {_churn.max_threads}, or -1 for all cores")
        return int(n)

    def _native_params(self, n_rows: int, classes: np.ndarray) -> Dict[str, Any]:
        """The parameters of one fit, checked, as the C++ codec writes them (the seed drawn here, once):
        every parameter is checked before the data goes anywhere (a cluster's workers)."""
        _check_threshold(self.threshold)
        return _churn.validate_forest_params(_resolve_params(self.get_params(deep=False), n_rows, classes))

    # ---- fitting -----------------------------------------------------------------------------------
    def fit(self, X, y=None, sample_weight=None, feature_names=None) -> "RandomForestClassifier":
        """Trains the forest. X: (n_samples, n_features) numbers (NaN = missing), a DataFrame, or a
        :class:`churn.FeatureTable` (its ``X``, and its ``y`` when y is not given); y: two classes.
        sample_weight: optional non-negative weights. feature_names: the columns' names for a bare
        array (a DataFrame's or a FeatureTable's names are taken from it); they become
        ``feature_names_in_`` and name the features in ``explain`` and the saved model.
        Releases the GIL while training."""
        f = self._fit_inputs(X, y, sample_weight, feature_names)
        model = _churn.fit_forest(f.X, f.codes, f.sample_weight, params=f.params, feature_names=f.feature_names)
        self._set_fitted(self._labelled(model, f), f.names)
        return self

    def _fit_inputs(self, X, y, sample_weight=None, feature_names=None) -> "_FitInputs":
        """The checked arrays and the native parameters of a fit (the seed drawn once, here): what
        ``fit`` passes to C++, and what churn.dask / churn.spark ship to the workers that grow tree
        ranges (churn._distributed.fit_tree_range)."""
        X, y, names = _unpack_table(X, y)
        if names is None:
            names = _feature_names_of(X)
        if feature_names is not None:
            given = np.asarray([str(n) for n in feature_names], dtype=object)
            if names is not None and (len(given) != len(names) or np.any(given != names)):
                raise ValueError("feature_names differ from the names X carries; pass one or the other")
            names = given
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None "
                             "(only a churn.FeatureTable carries its own labels)")
        Xa = _as_matrix(X)
        if names is not None and len(names) != Xa.shape[1]:
            raise ValueError(f"{len(names)} feature names for X with {Xa.shape[1]} columns")
        ya = _as_labels(y, Xa.shape[0])
        classes, codes = np.unique(ya, return_inverse=True)
        if len(classes) > 2:
            raise ValueError(f"Only binary classification is supported. The type of the target is multiclass "
                             f"({len(classes)} classes: {classes[:10].tolist()!r}).")
        if len(classes) < 2:
            raise ValueError(f"y has only one class ({classes.tolist()!r}); a classifier needs samples of 2 classes.")
        sw = None
        if sample_weight is not None:
            sw = np.asarray(sample_weight, dtype=np.float64)
            if sw.ndim == 0:
                sw = np.full(Xa.shape[0], float(sw))
            if sw.shape != (Xa.shape[0],):
                raise ValueError(f"sample_weight.shape == {sw.shape}, expected {(Xa.shape[0],)}!")
            sw = np.ascontiguousarray(sw)
        params = self._native_params(Xa.shape[0], classes)
        return _FitInputs(Xa, codes.astype(np.int32), sw, classes, names,
                          [] if names is None else [str(n) for n in names], params)

    def _labelled(self, model, f: "_FitInputs"):
        """The native model with the class labels and the threshold of this fit."""
        model.classes_json = json.dumps(f.classes.tolist())
        model.threshold = float(self.threshold)
        return model

    def _set_fitted(self, model, names: Optional[np.ndarray]) -> None:
        self.model_ = model
        self.classes_ = np.asarray(json.loads(model.classes_json))
        self.n_classes_ = 2
        self.n_outputs_ = 1
        self.n_features_in_ = model.n_features
        if names is not None:
            self.feature_names_in_ = np.asarray(names, dtype=object)
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        self.metadata_ = json.loads(model.metadata_json)
        oob = model.oob_score
        if oob is not None:
            self.oob_score_ = float(oob)
            p1 = np.asarray(model.oob_probability)
            never = np.isnan(p1)
            if never.any():
                warnings.warn("Some inputs do not have OOB scores. This probably means too few trees were used to "
                              "compute any reliable OOB estimates.", UserWarning, stacklevel=3)
            dec = np.column_stack([1.0 - p1, p1])
            dec[never] = 0.0
            self.oob_decision_function_ = dec
        else:
            for attr in ("oob_score_", "oob_decision_function_"):
                if hasattr(self, attr):
                    delattr(self, attr)

    # ---- prediction --------------------------------------------------------------------------------
    def _model(self):
        model = getattr(self, "model_", None)
        if model is None:
            raise NotFittedError(f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with appropriate "
                                 "arguments before using this estimator.")
        return model

    def _check_X(self, X) -> np.ndarray:
        model = self._model()
        fitted_names = getattr(self, "feature_names_in_", None)
        # The common case first (a one-row call is ~12 us of tree walks; the checks below cost ~2 more):
        # a plain float64 matrix has no names to compare and no table to unpack.
        if type(X) is np.ndarray and X.dtype == np.float64 and X.ndim == 2 and fitted_names is None \
                and X.shape[0] >= 1 and X.shape[1] == model.n_features:
            return X
        X, _, names = _unpack_table(X, None)
        if names is None:
            names = _feature_names_of(X)
        if fitted_names is not None and names is None:
            warnings.warn(f"X does not have valid feature names, but {type(self).__name__} was fitted with feature "
                          "names", UserWarning, stacklevel=3)
        elif fitted_names is None and names is not None:
            warnings.warn(f"X has feature names, but {type(self).__name__} was fitted without feature names",
                          UserWarning, stacklevel=3)
        elif fitted_names is not None and names is not None:
            if len(names) != len(fitted_names) or np.any(names != fitted_names):
                unexpected = [n for n in names if n not in set(fitted_names)]
                missing = [n for n in fitted_names if n not in set(names)]
                msg = "The feature names should match those that were passed during fit.\n"
                if unexpected:
                    msg += "Feature names unseen at fit time:\n" + "".join(f"- {n}\n" for n in unexpected[:5])
                if missing:
                    msg += "Feature names seen at fit time, yet now missing:\n" + "".join(f"- {n}\n" for n in missing[:5])
                if not unexpected and not missing:
                    msg += "Feature names must be in the same order as they were in fit.\n"
                raise ValueError(msg)
        Xa = _as_matrix(X)
        if Xa.shape[1] != model.n_features:
            raise ValueError(f"X has {Xa.shape[1]} features, but {type(self).__name__} is expecting "
                             f"{model.n_features} features as input.")
        return Xa

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, shape (n_samples, 2), columns in the order of ``classes_``: the mean over
        trees of the leaf's class fractions."""
        Xa = self._check_X(X)
        return self.model_.predict_proba(Xa, self._n_threads() if Xa.shape[0] > 256 else 1, columns=2)

    def predict_log_proba(self, X) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X) -> np.ndarray:
        """The second class where P(second class) > ``threshold``, else the first."""
        Xa = self._check_X(X)
        p1 = self.model_.predict_proba(Xa, self._n_threads() if Xa.shape[0] > 256 else 1)
        return self.classes_[(p1 > self.threshold).astype(np.intp)]

    def contributions(self, X) -> np.ndarray:
        """Decision-path (Saabas) contributions, shape (n_samples, n_features + 1): for each feature, the
        change in P(second class) credited to it along the decision paths (averaged over trees); the last
        column is the bias (the mean of the roots' probabilities). Each row sums to P(second class)."""
        Xa = self._check_X(X)
        return self.model_.contributions(Xa, self._n_threads() if Xa.shape[0] > 256 else 1)

    def _explainer(self):
        # Planning the trees costs O(nodes): done once per fitted model and kept (not pickled).
        model = self._model()
        cached = self.__dict__.get("_shap_explainer")
        if cached is None or cached[0] is not model:
            cached = (model, _churn.TreeExplainer(model))
            self._shap_explainer = cached
        return cached[1]

    @property
    def expected_value_(self) -> float:
        """The expected value of P(second class) under the trees' training cover (shap's
        ``expected_value`` for the second class): each row's ``shap_values`` sum to ``predict_proba``
        minus it. Raises ModelCapabilityError for a model loaded from a format version 1 file."""
        return float(self._explainer().expected_value)

    def shap_values(self, X) -> np.ndarray:
        """Exact SHAP values of P(second class), shape (n_samples, n_features): path-dependent TreeSHAP,
        equal to ``shap.TreeExplainer(model, feature_perturbation="tree_path_dependent")`` on the same
        trees, in time linear in depth. ``expected_value_ + shap_values(X).sum(axis=1)`` equals
        ``predict_proba(X)[:, 1]``. Values are compared as float32 and NaN follows each node's missing
        direction, as in prediction; the result does not depend on ``n_jobs``. Releases the GIL.
        Raises ModelCapabilityError for a model loaded from a format version 1 file (refit it)."""
        Xa = self._check_X(X)
        return self._explainer().shap_values(Xa, self._n_threads())

    def explain(self, x) -> Dict[str, Any]:
        """Contributions for one row as a dict: probability, bias and {feature name: contribution}."""
        row = x if hasattr(x, "columns") else np.asarray(x, dtype=np.float64).reshape(1, -1)
        with warnings.catch_warnings():
            # A bare row is fine here: the answer names every value by the fitted feature names.
            warnings.filterwarnings("ignore", message="X does not have valid feature names", category=UserWarning)
            c = self.contributions(row)[0]
        names = self._names()
        return {"probability": float(c.sum()), "bias": float(c[-1]),
                "contributions": {n: float(v) for n, v in zip(names, c[:-1])}}

    def _names(self) -> List[str]:
        names = getattr(self, "feature_names_in_", None)
        if names is not None:
            return [str(n) for n in names]
        return [f"x{i}" for i in range(self._model().n_features)]

    @property
    def feature_importances_(self) -> np.ndarray:
        """Impurity-based (mean decrease in impurity) importances, summing to 1, as scikit-learn's."""
        return np.asarray(self._model().feature_importances)

    @property
    def metadata(self) -> Dict[str, Any]:
        """Free-form metadata saved with the model (docs/model-metadata.md); a dict you may edit."""
        self._model()
        return self.metadata_

    @metadata.setter
    def metadata(self, value: Dict[str, Any]) -> None:
        if not isinstance(value, dict):
            raise TypeError("metadata must be a dict")
        self._model()
        self.metadata_ = value

    @property
    def calibration(self):
        """The calibration of P(churn) stored in the metadata by ``churn train`` (a
        :class:`churn.calibration.Calibration`), or None. Raises ModelFormatError when it is malformed."""
        meta = self.metadata
        data = meta.get("calibration") if isinstance(meta, dict) else None
        if data is None:
            return None
        from .calibration import Calibration

        return Calibration.from_json(data)

    def predict_calibrated_proba(self, X) -> np.ndarray:
        """Calibrated P(churn) of each row (the raw ``predict_proba[:, 1]`` when there is no calibration).
        The decision rule (``threshold``) applies to the raw probabilities."""
        p = self.predict_proba(X)[:, 1]
        cal = self.calibration
        return p if cal is None else cal.apply(p)

    @property
    def feature_names(self) -> List[str]:
        return self._names()

    @property
    def n_features(self) -> int:
        return int(self._model().n_features)

    @property
    def estimators_(self) -> List[Dict[str, np.ndarray]]:
        """The trees as node arrays (pre-order; see docs/model-format.md): feature, threshold, value,
        right, missing_left and cover (each node's weighted training sample count, as scikit-learn's
        ``weighted_n_node_samples``; absent for a model read from a format version 1 file)."""
        model = self._model()
        return [model.tree_arrays(t) for t in range(model.n_trees)]

    def permutation_importance(self, X, y, *, scoring: str = "roc_auc", n_repeats: int = 5,
                               random_state: Optional[int] = None, n_jobs: Optional[int] = None) -> Dict[str, Any]:
        """Permutation importance: for each feature, the drop of ``scoring`` ("roc_auc" or "accuracy")
        when that column is shuffled, over ``n_repeats`` shuffles (in parallel, in C++).
        Returns importances_mean, importances_std, importances (n_features x n_repeats) and baseline."""
        Xa = self._check_X(X)
        ya = _as_labels(y, Xa.shape[0])
        codes = np.searchsorted(self.classes_, ya)
        if np.any(codes >= len(self.classes_)) or np.any(self.classes_[np.minimum(codes, 1)] != ya):
            raise ValueError(f"y has labels that are not among the classes {self.classes_.tolist()!r}")
        if not _is_int(n_repeats) or n_repeats < 1:
            raise _param_error("n_repeats", n_repeats, "an int >= 1")
        seed = 0 if random_state is None else int(random_state)
        jobs = self._n_threads() if n_jobs is None else int(n_jobs)
        kinds = _churn.ImportanceScoring.__members__
        if not isinstance(scoring, str) or scoring not in kinds:
            raise _param_error("scoring", scoring, ", ".join(repr(k) for k in kinds))
        return self.model_.permutation_importance(Xa, codes.astype(np.int32), kinds[scoring], int(n_repeats), seed, jobs)

    # ---- persistence -------------------------------------------------------------------------------
    def _synced_model(self):
        model = self._model()
        model.threshold = float(self.threshold)
        model.metadata_json = json.dumps(self.metadata_, default=_json_default)
        return model

    def to_json(self) -> str:
        """The model as JSON text (docs/model-format.md)."""
        return self._synced_model().dumps()

    def save(self, path: "str | os.PathLike[str]") -> None:
        """Writes the model as JSON (docs/model-format.md). Raises ChurnIOError if the file cannot be written."""
        self._synced_model().save(os.fspath(path))

    @classmethod
    def _from_native(cls, model) -> "RandomForestClassifier":
        params = model.params  # the codec's names: the estimator's, but n_jobs and threshold
        classes = np.asarray(json.loads(model.classes_json))
        cw = params["class_weight"]
        if isinstance(cw, list):
            params["class_weight"] = {c.item() if hasattr(c, "item") else c: w for c, w in zip(classes, cw)}
        est = cls(**params, threshold=model.threshold)
        names = model.feature_names
        est._set_fitted(model, np.asarray(names, dtype=object) if names else None)
        return est

    def __getstate__(self) -> Dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_shap_explainer", None)
        if "model_" in state:
            state["model_"] = self.to_json()
            state.pop("metadata_", None)
            state.pop("oob_score_", None)  # restored from the JSON
        return state

    def __setstate__(self, state: Dict[str, Any]) -> None:
        text = state.pop("model_", None)
        oob_dec = state.pop("oob_decision_function_", None)
        self.__dict__.update(state)
        if text is not None:
            model = _churn.ForestModel.loads(text)
            names = model.feature_names
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self._set_fitted(model, np.asarray(names, dtype=object) if names else None)
            if oob_dec is not None:
                self.oob_decision_function_ = oob_dec


class _FitInputs(NamedTuple):
    """What RandomForestClassifier._fit_inputs checked and resolved for one fit."""

    X: np.ndarray  # float64, C-contiguous
    codes: np.ndarray  # int32 class codes (0, 1)
    sample_weight: Optional[np.ndarray]
    classes: np.ndarray
    names: Optional[np.ndarray]  # the DataFrame's column names, if any
    feature_names: List[str]
    params: Dict[str, Any]  # the params of churn._churn.fit_forest (scikit-learn's names), random_state fixed


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"metadata value of type {type(o).__name__} is not JSON serialisable")


def load_model(path: "str | os.PathLike[str]") -> RandomForestClassifier:
    """Loads a model saved by ``RandomForestClassifier.save`` (or by C++ ``churn::save_model``), validating
    it; raises ModelFormatError (with the JSON path of the problem) for corrupt files and ChurnIOError
    when the file cannot be read."""
    model = RandomForestClassifier._from_native(_churn.ForestModel.load(os.fspath(path)))
    model.calibration  # a stored calibration is validated now, not at the first prediction
    return model
