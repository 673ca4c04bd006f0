"""Folds and splits against scikit-learn index for index, the logistic baseline against scikit-learn's, and
cross_validate against a hand-made scikit-learn protocol (including the threshold tuned without the test fold)."""
import numpy as np
import pytest

pytest.importorskip("sklearn")
from sklearn.dummy import DummyClassifier  # noqa: E402
from sklearn.linear_model import LogisticRegression as SkLogisticRegression  # noqa: E402
from sklearn.metrics import confusion_matrix_at_thresholds, f1_score, roc_auc_score  # noqa: E402
from sklearn.model_selection import RepeatedStratifiedKFold, StratifiedKFold, train_test_split  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

import churn  # noqa: E402


def random_labels(rng, i):
    n_classes = 2 if i % 5 else 3
    n = int(rng.integers(10, 3000)) if i % 10 else int(rng.integers(4, 40))
    shares = rng.dirichlet(np.ones(n_classes) * 2)
    values = rng.choice(np.array([0, 1, 7, -3, 42]), size=n_classes, replace=False)
    return values[rng.choice(n_classes, size=n, p=shares)]


def test_stratified_kfold_equals_sklearn_fold_for_fold():
    rng = np.random.default_rng(0)
    compared = rejected = 0
    for i in range(400):
        y = random_labels(rng, i)
        n_splits = int(rng.integers(2, 11))
        shuffle = bool(i % 3)
        seed = int(rng.integers(0, 2**32)) if i % 4 else int(rng.integers(0, 100))
        smallest = np.unique(y, return_counts=True)[1].min()
        if n_splits > smallest or smallest < 2:
            # scikit-learn only warns here; churn refuses: a test fold would lack a class.
            with pytest.raises((churn.ParameterError, churn.DataError)):
                churn.stratified_kfold(y, n_splits=n_splits, shuffle=shuffle, seed=seed)
            rejected += 1
            continue
        ours = churn.stratified_kfold(y, n_splits=n_splits, shuffle=shuffle, seed=seed)
        sk = StratifiedKFold(n_splits, shuffle=shuffle, random_state=seed if shuffle else None)
        theirs = list(sk.split(np.zeros(len(y)), y))
        assert len(ours) == len(theirs)
        for (a_train, a_test), (b_train, b_test) in zip(ours, theirs):
            np.testing.assert_array_equal(a_test, b_test)
            np.testing.assert_array_equal(a_train, b_train)
        compared += 1
    assert compared > 300 and rejected > 0


def test_repeated_stratified_kfold_equals_sklearn():
    rng = np.random.default_rng(2)
    for i in range(60):
        y = random_labels(rng, i)
        n_splits, n_repeats = int(rng.integers(2, 6)), int(rng.integers(1, 5))
        if np.unique(y, return_counts=True)[1].min() < n_splits:
            continue
        seed = int(rng.integers(0, 2**32))
        ours = churn.repeated_stratified_kfold(y, n_splits=n_splits, n_repeats=n_repeats, seed=seed)
        sk = RepeatedStratifiedKFold(n_splits=n_splits, n_repeats=n_repeats, random_state=seed)
        theirs = list(sk.split(np.zeros(len(y)), y))
        assert len(ours) == len(theirs) == n_splits * n_repeats
        for (a_train, a_test), (b_train, b_test) in zip(ours, theirs):
            np.testing.assert_array_equal(a_test, b_test)
            np.testing.assert_array_equal(a_train, b_train)


def test_cross_validate_over_repeated_folds():
    X, y = make_problem(12, n=150)
    splitter = RepeatedStratifiedKFold(n_splits=3, n_repeats=2, random_state=5)
    r = churn.cross_validate("logistic", X, y, splitter, seed=1)
    assert r["n_repeats"] == 2 and len(r["folds"]) == 6 and r["oof_proba"].shape == (2 * len(y),)
    same = churn.cross_validate("logistic", X, y, n_splits=3, n_repeats=2, seed=5)
    np.testing.assert_array_equal(r["oof_proba"], same["oof_proba"])
    with pytest.raises(churn.DataError, match="disjoint within a repetition"):
        churn.cross_validate("logistic", X, y, list(splitter.split(X, y)))


def test_stratified_train_test_split_equals_sklearn():
    rng = np.random.default_rng(1)
    compared = 0
    for i in range(300):
        y = random_labels(rng, i)
        seed = int(rng.integers(0, 2**32))
        test_size = float(rng.uniform(0.05, 0.6)) if i % 3 else int(rng.integers(1, len(y)))
        try:
            b_train, b_test = train_test_split(np.arange(len(y)), test_size=test_size, stratify=y, random_state=seed)
        except ValueError:
            with pytest.raises(ValueError):
                churn.stratified_train_test_split(y, test_size=test_size, seed=seed)
            continue
        a_train, a_test = churn.stratified_train_test_split(y, test_size=test_size, seed=seed)
        np.testing.assert_array_equal(a_train, b_train)
        np.testing.assert_array_equal(a_test, b_test)
        compared += 1
    assert compared > 200


def make_problem(seed, n=300, p=5):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p)) * (1 + np.arange(p))
    z = X @ (np.where(np.arange(p) % 2 == 0, 1.0, -0.5) / (1 + np.arange(p))) + rng.normal(size=n)
    y = (z > 0.8).astype(np.int64)
    return X, y


@pytest.mark.parametrize("C", [0.01, 1.0, 100.0])
def test_logistic_regression_equals_sklearn_on_standardised_features(C):
    X, y = make_problem(3)
    ours = churn.LogisticRegression(C=C).fit(X, y)
    theirs = make_pipeline(StandardScaler(), SkLogisticRegression(C=C, tol=1e-12, max_iter=10000)).fit(X, y)
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), atol=1e-7)
    np.testing.assert_allclose(ours.model_.coef, theirs[-1].coef_[0], atol=1e-6)
    assert ours.model_.converged
    np.testing.assert_array_equal(ours.predict(X), (ours.predict_proba(X)[:, 1] > 0.5).astype(int))


def sklearn_threshold(Xt, yt, make_model, inner_seed, inner_splits=3):
    """The F1 threshold from inner out-of-fold predictions, by hand with scikit-learn."""
    oof = np.zeros(len(yt))
    for itr, ite in StratifiedKFold(inner_splits, shuffle=True, random_state=inner_seed).split(Xt, yt):
        oof[ite] = make_model().fit(Xt[itr], yt[itr]).predict_proba(Xt[ite])[:, 1]
    _, fps, fns, tps, thr = confusion_matrix_at_thresholds(yt, oof)
    f1 = 2 * tps / (2 * tps + fps + fns)
    k = len(thr) - 1 - np.argmax(f1[::-1])  # the lowest threshold among equal F1
    # Stored strictly between that score and the next lower one, for the rule p > t.
    return (thr[k + 1] + (thr[k] - thr[k + 1]) / 2) if k + 1 < len(thr) else thr[k] / 2


def sklearn_reference(X, y, folds, make_model, inner_seeds):
    """The protocol done by hand with scikit-learn: per fold, the F1 threshold from inner out-of-fold
    predictions on the training part, then test-fold ROC AUC and F1 at that threshold."""
    out = []
    for (train, test), inner_seed in zip(folds, inner_seeds):
        Xt, yt = X[train], y[train]
        threshold = sklearn_threshold(Xt, yt, make_model, inner_seed)
        p = make_model().fit(Xt, yt).predict_proba(X[test])[:, 1]
        out.append((threshold, roc_auc_score(y[test], p), f1_score(y[test], (p > threshold).astype(int)), p))
    return out


def test_cross_validate_follows_the_protocol_for_any_estimator():
    X, y = make_problem(5, n=240)
    folds = churn.stratified_kfold(y, n_splits=4, seed=3)
    make = lambda: make_pipeline(StandardScaler(), SkLogisticRegression(C=0.5))  # noqa: E731
    result = churn.cross_validate(make(), X, y, folds, seed=8)
    ref = sklearn_reference(X, y, folds, make, [f["inner_seed"] for f in result["folds"]])
    for fold, (train, test), (threshold, auc, f1, p) in zip(result["folds"], folds, ref):
        assert fold["threshold"] == threshold
        assert fold["tuned"]["roc_auc"] == pytest.approx(auc, abs=1e-12)
        assert fold["tuned"]["f1"] == pytest.approx(f1, abs=1e-12)
        np.testing.assert_array_equal(result["oof_proba"][test], p)
        assert fold["n_train"] == len(train) and fold["n_test"] == len(test)
    aucs = [f["tuned"]["roc_auc"] for f in result["folds"]]
    assert result["tuned"]["mean"]["roc_auc"] == pytest.approx(np.mean(aucs), abs=1e-12)
    assert result["tuned"]["std"]["roc_auc"] == pytest.approx(np.std(aucs), abs=1e-12)


def test_builtin_logistic_and_majority_match_the_python_path():
    X, y = make_problem(6, n=200)
    folds = churn.stratified_kfold(y, n_splits=5, seed=1)
    fast = churn.cross_validate(churn.LogisticRegression(C=2.0), X, y, folds, seed=4, threads=2)

    class Wrapped:  # not recognised as churn's own model: goes through Python callbacks
        def fit(self, X, y):
            self.m = churn.LogisticRegression(C=2.0).fit(X, y)
            return self

        def predict_proba(self, X):
            return self.m.predict_proba(X)

    slow = churn.cross_validate(Wrapped(), X, y, folds, seed=4)
    np.testing.assert_array_equal(fast["oof_proba"], slow["oof_proba"])
    assert [f["threshold"] for f in fast["folds"]] == [f["threshold"] for f in slow["folds"]]

    majority = churn.cross_validate("majority", X, y, folds, seed=4)
    dummy = churn.cross_validate(DummyClassifier(strategy="prior"), X, y, folds, seed=4)
    np.testing.assert_allclose(majority["oof_proba"], dummy["oof_proba"], rtol=0, atol=1e-15)
    assert majority["tuned"]["mean"]["roc_auc"] == 0.5
    assert majority["at_default"]["mean"]["f1"] == 0.0
    assert fast["tuned"]["mean"]["f1"] > majority["tuned"]["mean"]["f1"]


def test_tune_threshold_is_the_cross_validation_choice_on_a_training_set():
    X, y = make_problem(10, n=200)
    folds = churn.stratified_kfold(y, n_splits=4, seed=1)
    r = churn.cross_validate("logistic", X, y, folds, seed=6)
    make = lambda: make_pipeline(StandardScaler(), SkLogisticRegression())  # noqa: E731
    for fold, (train, _) in zip(r["folds"], folds):
        ours = churn.tune_threshold("logistic", X[train], y[train], seed=fold["inner_seed"])
        assert ours["threshold"] == fold["threshold"]
        assert ours["f1"] == fold["inner_f1"]
        # Through Python callbacks with scikit-learn's model: the protocol by hand gives the same choice.
        theirs = churn.tune_threshold(make(), X[train], y[train], seed=fold["inner_seed"])
        assert theirs["threshold"] == sklearn_threshold(X[train], y[train], make, fold["inner_seed"])


def test_threshold_never_sees_the_test_fold():
    X, y = make_problem(7, n=200)
    folds = churn.stratified_kfold(y, n_splits=4, seed=2)
    base = churn.cross_validate("logistic", X, y, folds, seed=5)
    for f, (_, test) in enumerate(folds):
        y2 = y.copy()
        y2[test] = 1 - y2[test]
        X2 = X.copy()
        X2[test] = np.random.default_rng(f).normal(scale=5, size=X2[test].shape)
        changed = churn.cross_validate("logistic", X2, y2, folds, seed=5)
        assert changed["folds"][f]["threshold"] == base["folds"][f]["threshold"]
        assert changed["folds"][f]["inner_f1"] == base["folds"][f]["inner_f1"]
        assert changed["folds"][f]["tuned"]["f1"] != base["folds"][f]["tuned"]["f1"]
        others = [g for g in range(len(folds)) if g != f]
        assert any(changed["folds"][g]["threshold"] != base["folds"][g]["threshold"] for g in others)


def test_results_do_not_depend_on_n_jobs():
    X, y = make_problem(8, n=250)
    one = churn.cross_validate("logistic", X, y, threads=1, seed=3)
    two = churn.cross_validate("logistic", X, y, threads=2, seed=3)
    np.testing.assert_array_equal(one["oof_proba"], two["oof_proba"])
    assert one["tuned"] == two["tuned"]


def test_accepts_sklearn_splitters_and_reports_errors():
    X, y = make_problem(9, n=120)
    r = churn.cross_validate("logistic", X, y, StratifiedKFold(3), inner_splits=0, default_threshold=0.4)
    assert all(f["threshold"] == 0.4 for f in r["folds"])
    assert (r["oof_fold"] >= 0).all()
    with pytest.raises(churn.ParameterError, match="inner_splits"):
        churn.cross_validate("logistic", X, y, inner_splits=1)
    with pytest.raises(churn.ParameterError, match="model"):
        churn.cross_validate("svm", X, y)
    with pytest.raises(churn.DataError, match="rows but y has"):
        churn.cross_validate("logistic", X[:-1], y)
    with pytest.raises(churn.ParameterError, match="seed"):
        churn.stratified_kfold(y, seed=-1)
    with pytest.raises(churn.ParameterError, match="n_splits"):
        churn.stratified_kfold(np.array([0, 0, 0, 1, 1]), n_splits=3)


def test_cross_validate_takes_churns_random_forest():
    forest = pytest.importorskip("churn.forest")
    X, y = make_problem(11, n=200)
    folds = churn.stratified_kfold(y, n_splits=3, seed=4)
    make = lambda: forest.RandomForestClassifier(n_estimators=25, random_state=0)  # noqa: E731
    r = churn.cross_validate(make(), X, y, folds, seed=2)
    for fold, (train, test) in zip(r["folds"], folds):
        by_hand = make().fit(X[train], y[train]).predict_proba(X[test])[:, 1]
        np.testing.assert_array_equal(r["oof_proba"][test], by_hand)
        assert fold["threshold"] == sklearn_threshold(X[train], y[train], make, fold["inner_seed"])
    assert r["tuned"]["mean"]["roc_auc"] > 0.75


def test_cv_result_dict_is_built_from_the_bound_struct():
    X, y = make_problem(3, n=120)
    r = churn.cross_validate("logistic", X, y, n_splits=3)
    assert type(r) is dict
    owner = r["oof_proba"].base  # the out-of-fold arrays are views of the bound churn::cv_result
    assert type(owner) is churn._churn.CVResult
    for key in ("oof_proba", "oof_fold", "oof_pred"):
        assert r[key].base is owner and np.shares_memory(r[key], getattr(owner, key))
    assert owner.n_repeats == r["n_repeats"] == 1 and owner.threshold_mean == r["threshold_mean"]
    assert owner["folds"] == owner.folds == r["folds"] and owner.get("missing", 7) == 7
    assert set(owner.keys()) == set(r) and "tuned" in owner
    with pytest.raises(AttributeError):
        owner.n_repeats = 2
