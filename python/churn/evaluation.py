"""Model evaluation: stratified folds and splits identical to scikit-learn's, the logistic-regression
baseline, and cross-validation with the decision threshold tuned inside each training fold.

The algorithms are C++ (churn/split.hpp, churn/cv.hpp, churn/logistic.hpp); this module only chooses the path:
churn's own models (``"logistic"``, ``"majority"``, :class:`LogisticRegression`) are cross-validated
entirely in C++ with the GIL released, any other scikit-learn-style estimator through Python callbacks.
"""
from __future__ import annotations

import copy
from typing import Any, Dict, Iterable, Optional, Sequence, Tuple, Union

import numpy as np

from ._churn import (
    CVPlan,
    _cross_validate_builtin,
    _cross_validate_callable,
    _fit_logistic,
    _plan_cross_validate,
    _stratified_group_kfold,
    _tune_threshold_builtin,
    _tune_threshold_callable,
    out_of_time_split,
    repeated_stratified_kfold,
    stratified_kfold,
    stratified_train_test_split,
)
from ._deprecation import deprecated_alias, renamed_keyword, threads_from_n_jobs
from .events import _threads

__all__ = [
    "LogisticRegression",
    "cross_validate",
    "fit_predict",
    "group_codes",
    "out_of_time_split",
    "plan_cross_validate",
    "repeated_stratified_kfold",
    "stratified_group_kfold",
    "stratified_kfold",
    "stratified_train_test_split",
    "train_test_split_stratified",
    "tune_threshold",
]

#: Deprecated: the old name of :func:`stratified_train_test_split` (removed in the next release).
train_test_split_stratified = deprecated_alias(stratified_train_test_split, "train_test_split_stratified")


class LogisticRegression:
    """L2-regularised logistic regression on standardised features, fitted by Newton's method.

    Minimises ``0.5 * ||w||^2 + C * sum(log-loss)`` on features centred and scaled by their training
    mean and standard deviation (scikit-learn's ``LogisticRegression(C=C)`` after ``StandardScaler``).
    ``coef_`` and ``intercept_`` are expressed on the original features.
    """

    def __init__(self, C: float = 1.0, *, max_iter: int = 100, tol: float = 1e-10, standardize: bool = True):
        self.C = C
        self.max_iter = max_iter
        self.tol = tol
        self.standardize = standardize

    def get_params(self, deep: bool = True) -> Dict[str, Any]:
        return {"C": self.C, "max_iter": self.max_iter, "tol": self.tol, "standardize": self.standardize}

    def set_params(self, **params: Any) -> "LogisticRegression":
        for key, value in params.items():
            if key not in self.get_params():
                raise ValueError(f"invalid parameter {key!r} for LogisticRegression (allowed: C, max_iter, tol, standardize)")
            setattr(self, key, value)
        return self

    def fit(self, X, y) -> "LogisticRegression":
        model = _fit_logistic(X, y, float(self.C), int(self.max_iter), float(self.tol), bool(self.standardize))
        self.model_ = model
        self.classes_ = np.array([0, 1])
        self.coef_ = model.raw_coef[np.newaxis, :]
        self.intercept_ = np.array([model.raw_intercept])
        self.n_iter_ = np.array([model.n_iter])
        self.n_features_in_ = self.coef_.shape[1]
        return self

    def _model(self):
        if not hasattr(self, "model_"):
            raise AttributeError("this LogisticRegression is not fitted yet; call fit(X, y) first")
        return self.model_

    def predict_proba(self, X) -> np.ndarray:
        """Columns [P(class 0), P(class 1)], as scikit-learn's predict_proba."""
        p1 = self._model().predict_proba(X)
        return np.column_stack([1.0 - p1, p1])

    def predict(self, X, threshold: float = 0.5) -> np.ndarray:
        """1 where P(class 1) > threshold, else 0 (the rule of every churn model's predict)."""
        return (self._model().predict_proba(X) > threshold).astype(np.int64)

    def __repr__(self) -> str:
        return f"LogisticRegression(C={self.C!r}, max_iter={self.max_iter!r}, tol={self.tol!r}, standardize={self.standardize!r})"


def group_codes(groups) -> Optional[np.ndarray]:
    """Integer codes of any group labels (user ids as strings or numbers), in the order of their sorted
    distinct values (np.unique), so that grouped splits are those scikit-learn makes for the labels
    themselves. None stays None."""
    if groups is None:
        return None
    values = np.asarray(groups)
    if values.ndim != 1:
        raise ValueError(f"groups must be 1-D; got shape {values.shape}")
    return np.unique(values, return_inverse=True)[1].astype(np.int64).reshape(-1)


def stratified_group_kfold(y, groups, n_splits: int = 5, shuffle: bool = True, seed: int = 0):
    """(train_indices, test_indices) pairs identical to scikit-learn's ``StratifiedGroupKFold(n_splits,
    shuffle=shuffle, random_state=seed).split(X, y, groups)``: no group (user) in two test folds, the
    classes spread over the folds as evenly as the groups allow. Raises DataError when a class occurs in
    fewer groups than folds (scikit-learn warns and makes test folds without it)."""
    return _stratified_group_kfold(y, group_codes(groups), n_splits, shuffle, seed)


def _clone(estimator):
    try:
        from sklearn.base import clone
    except ImportError:  # scikit-learn is optional
        return copy.deepcopy(estimator)
    try:
        return clone(estimator)
    except TypeError:  # not a scikit-learn estimator (no get_params)
        return copy.deepcopy(estimator)


def _resolve_folds(folds, X, y, n_splits: int, shuffle: bool, seed: int, n_repeats: int):
    if folds is None:
        if n_repeats > 1:
            return repeated_stratified_kfold(y, n_splits=n_splits, n_repeats=n_repeats, seed=seed)
        return stratified_kfold(y, n_splits=n_splits, shuffle=shuffle, seed=seed)
    if hasattr(folds, "split"):  # a scikit-learn splitter
        return list(folds.split(X, y))
    return list(folds)


@renamed_keyword("n_jobs", "threads", threads_from_n_jobs)
def cross_validate(
    estimator: Union[str, LogisticRegression, Any],
    X,
    y,
    folds: Optional[Union[Iterable[Tuple[Sequence[int], Sequence[int]]], Any]] = None,
    *,
    n_splits: int = 5,
    shuffle: bool = True,
    seed: int = 0,
    inner_splits: int = 3,
    default_threshold: float = 0.5,
    threads: Optional[int] = 1,
    n_repeats: Optional[int] = None,
    groups=None,
) -> Dict[str, Any]:
    """Cross-validates a binary classifier and reports every metric per fold and as mean/std.

    estimator: ``"logistic"``, ``"majority"`` (scikit-learn's DummyClassifier(strategy="prior")), a
    :class:`LogisticRegression`, or any object with ``fit(X, y)`` and ``predict_proba(X)`` (cloned for
    every fit; run on the calling thread).
    folds: (train_indices, test_indices) pairs or a scikit-learn splitter; by default
    ``stratified_kfold(y, n_splits, shuffle, seed)``, or ``repeated_stratified_kfold(y, n_splits,
    n_repeats, seed)`` when n_repeats > 1.
    n_repeats: how many consecutive partitions ``folds`` holds (default: the splitter's ``n_repeats``,
    e.g. scikit-learn's RepeatedStratifiedKFold, else 1). Test parts may then overlap across
    repetitions; the out-of-fold arrays hold ``n_repeats * len(y)`` values, ``[r * len(y) + i]`` for
    sample i in repetition r.
    inner_splits: stratified folds inside each training part whose out-of-fold predictions choose the
    F1-maximising threshold (0: use default_threshold); the test fold is never used to choose it.
    groups: the group of each row (e.g. table.user_ids of a snapshot table). The default folds are then
    ``stratified_group_kfold(y, groups, n_splits, shuffle, seed)`` and the inner folds that tune the
    threshold are grouped too: no user on both sides of any split.
    threads: threads for the fits of churn's own models (None or 0: all cores). Estimators called through
    Python are fitted one at a time (a forest's fit still uses its own n_jobs). Results never depend on
    it. (``n_jobs``, -1 for all cores, is its deprecated name.)

    Returns a dict: ``folds`` (per fold: n_train, n_test, threshold, inner_seed, inner_f1, ``tuned`` and
    ``at_default`` metric dicts, confusion matrices), ``tuned`` and ``at_default`` (``mean`` and ``std``
    dicts over folds, std with ddof=0), ``threshold_mean``, ``threshold_std``, ``default_threshold``,
    ``n_repeats``, and the out-of-fold arrays ``oof_proba``, ``oof_fold``, ``oof_pred``.
    """
    fold_list, n_repeats, codes = _cv_folds(X, y, folds, n_splits, shuffle, seed, n_repeats, groups)
    builtin = _builtin(estimator)
    if builtin is not None:
        return _cross_validate_builtin(
            builtin[0], X, y, fold_list, builtin[1], inner_splits, default_threshold, seed,
            _threads(threads), n_repeats, codes
        )
    return _cross_validate_callable(
        _fit_function(estimator), X, y, fold_list, inner_splits, default_threshold, seed, n_repeats, codes
    )


def _cv_folds(X, y, folds, n_splits: int, shuffle: bool, seed: int, n_repeats: Optional[int], groups):
    """(folds as index pairs, n_repeats, group codes) of cross_validate's arguments."""
    if n_repeats is None:
        n_repeats = int(getattr(folds, "n_repeats", 1))
    codes = group_codes(groups)
    if folds is None and codes is not None:
        if n_repeats > 1:
            raise ValueError("n_repeats > 1 with groups: pass the folds (repeated grouped folds are not built in)")
        fold_list = _stratified_group_kfold(y, codes, n_splits, shuffle, seed)
    elif hasattr(folds, "split") and codes is not None:
        fold_list = list(folds.split(X, y, groups))
    else:
        fold_list = _resolve_folds(folds, X, y, n_splits, shuffle, seed, n_repeats)
    return fold_list, n_repeats, codes


def plan_cross_validate(
    X,
    y,
    folds=None,
    *,
    n_splits: int = 5,
    shuffle: bool = True,
    seed: int = 0,
    inner_splits: int = 3,
    default_threshold: float = 0.5,
    n_repeats: Optional[int] = None,
    groups=None,
) -> CVPlan:
    """The fits :func:`cross_validate` makes with these arguments, as data, for running them elsewhere
    (churn.dask and churn.spark run them as cluster tasks).

    ``plan.tasks[t]`` has ``train`` and ``test`` sample indices (and ``fold``, ``inner``: -1 for the outer
    fold itself, else the inner fold whose predictions tune the fold's threshold). Fit a fresh copy of
    the estimator on ``X[train], y[train]`` and take ``predict_proba(X[test])`` (see :func:`fit_predict`);
    ``plan.assemble(predictions)`` then returns the dict cross_validate returns, identical for the same
    fits. The tasks depend on y, the folds, the groups and the seed, never on a model.
    """
    fold_list, n_repeats, codes = _cv_folds(X, y, folds, n_splits, shuffle, seed, n_repeats, groups)
    return _plan_cross_validate(y, fold_list, inner_splits, default_threshold, seed, n_repeats, codes)


def fit_predict(estimator, X, y, task) -> np.ndarray:
    """predict_proba of a fresh copy of ``estimator`` fitted on the training samples of ``task`` (a
    :class:`CVTask` or a ``(train, test)`` pair), on its test samples: one fit of a cross-validation
    plan, with the arrays cross_validate gives the estimator (float64 rows of X, int64 labels)."""
    train, test = (task.train, task.test) if hasattr(task, "train") else task
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y).astype(np.int64, copy=False)
    model = _clone(estimator)
    fitted = model.fit(X[train], y[train])
    model = model if fitted is None else fitted
    return np.asarray(model.predict_proba(X[test]))


def tune_threshold(estimator, X, y, *, inner_splits: int = 3, seed: int = 0, groups=None) -> Dict[str, float]:
    """The F1-maximising decision threshold for a model trained on (X, y), chosen exactly as
    cross_validate chooses it inside each training fold: out-of-fold probabilities from
    ``stratified_kfold(y, inner_splits, True, seed)``, then the threshold t maximising F1 of ``p > t``
    (the rule of ``predict``), strictly between two adjacent out-of-fold probabilities (the lowest on
    ties; see ``churn.metrics.best_f1_threshold``). Use it on the whole training set for the final
    model's threshold. With groups (one per row), the inner folds are ``stratified_group_kfold(y,
    groups, inner_splits, True, seed)``.

    Returns ``{"threshold", "f1", "precision", "recall"}`` (the last three on those out-of-fold predictions).
    """
    builtin = _builtin(estimator)
    if builtin is not None:
        return _tune_threshold_builtin(builtin[0], X, y, builtin[1], inner_splits, seed, group_codes(groups))
    return _tune_threshold_callable(_fit_function(estimator), X, y, inner_splits, seed, group_codes(groups))


def _builtin(estimator):
    """(name, params) when churn can run the estimator in C++, else None."""
    if isinstance(estimator, str):
        return estimator, {}
    if isinstance(estimator, LogisticRegression):
        return "logistic", estimator.get_params()
    return None


def _fit_function(estimator):
    if not (hasattr(estimator, "fit") and hasattr(estimator, "predict_proba")):
        raise TypeError(
            f"estimator must be 'logistic', 'majority' or have fit and predict_proba; got {type(estimator).__name__}"
        )

    def fit(X_train, y_train):
        model = _clone(estimator)
        fitted = model.fit(X_train, y_train)
        return model if fitted is None else fitted

    return fit
