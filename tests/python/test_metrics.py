"""churn.metrics against scikit-learn on hundreds of random cases: equal to 1e-12, ties, zero divisions and
single-class inputs included."""
import math
import warnings

import numpy as np
import pytest

sklearn_metrics = pytest.importorskip("sklearn.metrics")

import churn  # noqa: E402
from churn import metrics as cm  # noqa: E402

ATOL = 1e-12


def random_cases(seed, count):
    """(y_true, y_pred, scores, probabilities) with frequent ties, tiny sizes and skewed classes."""
    rng = np.random.default_rng(seed)
    for i in range(count):
        n = int(rng.integers(1, 8)) if i % 10 == 0 else int(rng.integers(2, 300))
        p_pos = [0.0, 1.0, 0.02, 0.2, 0.5, 0.9][i % 6] if i % 7 == 0 else rng.uniform(0.05, 0.95)
        y = (rng.random(n) < p_pos).astype(np.int64)
        kind = i % 4
        if kind == 0:  # coarse grid: many ties
            s = rng.integers(0, int(rng.integers(2, 12)), n) / 10.0
        elif kind == 1:  # continuous
            s = rng.random(n)
        elif kind == 2:  # informative with ties, including exact 0 and 1
            s = np.clip(np.round(0.5 * y + rng.normal(0.25, 0.3, n), 2), 0.0, 1.0)
        else:  # forest-like vote fractions
            s = rng.integers(0, 11, n) / 10.0
        y_pred = (rng.random(n) < rng.uniform(0, 1)).astype(np.int64)
        if i % 9 == 0:
            y_pred[:] = 0
        yield y, y_pred, s.astype(np.float64)


def both_classes(y):
    return 0 < y.sum() < len(y)


def sk(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def test_label_metrics_equal_sklearn_with_every_zero_division():
    checked = 0
    zero_divisions = ["warn", 0.0, 1.0, np.nan]
    for i, (y, y_pred, _) in enumerate(random_cases(1, 240)):
        np.testing.assert_array_equal(cm.confusion_matrix(y, y_pred), sk(sklearn_metrics.confusion_matrix, y, y_pred, labels=[0, 1]))
        assert cm.accuracy_score(y, y_pred) == pytest.approx(sklearn_metrics.accuracy_score(y, y_pred), abs=ATOL)
        assert cm.balanced_accuracy_score(y, y_pred) == pytest.approx(
            sk(sklearn_metrics.balanced_accuracy_score, y, y_pred), abs=ATOL
        )
        # One zero_division setting per case keeps the run short; every setting meets every case shape.
        for zd in [zero_divisions[i % 4], zero_divisions[(i // 4) % 4]]:
            for ours, theirs in [
                (cm.precision_score, sklearn_metrics.precision_score),
                (cm.recall_score, sklearn_metrics.recall_score),
                (cm.f1_score, sklearn_metrics.f1_score),
            ]:
                a = ours(y, y_pred, zero_division=zd)
                b = sk(theirs, y, y_pred, zero_division=zd, labels=[0, 1], pos_label=1, average="binary")
                if math.isnan(b):
                    assert math.isnan(a), (ours.__name__, zd, y, y_pred)
                else:
                    assert a == pytest.approx(b, abs=ATOL), (ours.__name__, zd, y, y_pred)
        checked += 1
    assert checked == 240


def test_ranking_and_probability_metrics_equal_sklearn():
    ranked = 0
    for y, _, s in random_cases(2, 300):
        assert cm.log_loss(y, s) == pytest.approx(sk(sklearn_metrics.log_loss, y, s, labels=[0, 1]), abs=ATOL)
        assert cm.brier_score_loss(y, s) == pytest.approx(sk(sklearn_metrics.brier_score_loss, y, s), abs=ATOL)
        if y.sum() > 0:
            assert cm.average_precision_score(y, s) == pytest.approx(
                sklearn_metrics.average_precision_score(y, s), abs=ATOL
            )
        if both_classes(y):
            assert cm.roc_auc_score(y, s) == pytest.approx(sklearn_metrics.roc_auc_score(y, s), abs=ATOL)
            ranked += 1
    assert ranked > 220


def test_curves_equal_sklearn_with_and_without_drop_intermediate():
    compared = 0
    for y, _, s in random_cases(3, 300):
        if not both_classes(y):
            continue
        for drop in (True, False):
            ours = cm.roc_curve(y, s, drop_intermediate=drop)
            theirs = sklearn_metrics.roc_curve(y, s, drop_intermediate=drop)
            for a, b in zip(ours, theirs):
                np.testing.assert_allclose(a, b, rtol=0, atol=ATOL)
            ours = cm.precision_recall_curve(y, s, drop_intermediate=drop)
            theirs = sklearn_metrics.precision_recall_curve(y, s, drop_intermediate=drop)
            for a, b in zip(ours, theirs):
                np.testing.assert_allclose(a, b, rtol=0, atol=ATOL)
        for a, b in zip(cm.confusion_matrix_at_thresholds(y, s), sklearn_metrics.confusion_matrix_at_thresholds(y, s)):
            np.testing.assert_array_equal(a, b)
        compared += 1
    assert compared > 200


def test_best_f1_threshold_is_the_first_maximum_along_sklearns_counts():
    for y, _, s in random_cases(4, 300):
        if y.sum() == 0:
            with pytest.raises(churn.DataError):
                cm.best_f1_threshold(y, s)
            continue
        tns, fps, fns, tps, thresholds = sklearn_metrics.confusion_matrix_at_thresholds(y, s)
        f1 = 2 * tps / (2 * tps + fps + fns)
        if thresholds[-1] == 0:  # no threshold in [0, 1] flags a score of 0: that cut is not offered
            f1 = f1[:-1]
        best = cm.best_f1_threshold(y, s)
        if len(f1) == 0:
            assert best["f1"] == 0 and best["threshold"] == 0
            continue
        # Increasing thresholds (precision_recall_curve's order): argmax takes the lowest among equals.
        k = len(f1) - 1 - np.argmax(f1[::-1])
        assert best["f1"] == pytest.approx(f1.max(), abs=ATOL)
        # The threshold lies strictly between the chosen score and the next lower one (0 below the lowest),
        # so that `s > threshold` flags exactly the scores >= the chosen one.
        below = thresholds[k + 1] if k + 1 < len(thresholds) else 0.0
        assert below < best["threshold"] < thresholds[k]
        assert best["threshold"] == below + (thresholds[k] - below) / 2
        y_hat = (s > best["threshold"]).astype(int)
        assert best["f1"] == pytest.approx(sklearn_metrics.f1_score(y, y_hat), abs=ATOL)
        assert best["precision"] == pytest.approx(sklearn_metrics.precision_score(y, y_hat), abs=ATOL)
        assert best["recall"] == pytest.approx(sklearn_metrics.recall_score(y, y_hat), abs=ATOL)


def test_evaluate_binary_bundles_the_same_numbers():
    for y, _, s in random_cases(5, 60):
        if not both_classes(y):
            continue
        for t in (0.3, 0.5):
            d = cm.evaluate_binary(y, s, t)
            y_hat = (s > t).astype(int)  # the rule of predict()
            assert d["f1"] == pytest.approx(sk(sklearn_metrics.f1_score, y, y_hat), abs=ATOL)
            assert d["balanced_accuracy"] == pytest.approx(sklearn_metrics.balanced_accuracy_score(y, y_hat), abs=ATOL)
            assert d["roc_auc"] == pytest.approx(sklearn_metrics.roc_auc_score(y, s), abs=ATOL)
            assert d["brier"] == pytest.approx(sklearn_metrics.brier_score_loss(y, s), abs=ATOL)
            assert d["confusion_matrix"] == sklearn_metrics.confusion_matrix(y, y_hat, labels=[0, 1]).tolist()
            assert set(cm.binary_metric_names) <= set(d)


def test_worked_examples_with_ties():
    assert cm.roc_auc_score([1, 0, 1, 0, 1], [0.9, 0.9, 0.3, 0.3, 0.1]) == pytest.approx(1 / 3, abs=ATOL)
    assert cm.average_precision_score([1, 0, 1, 0], [0.5, 0.5, 0.2, 0.1]) == pytest.approx(7 / 12, abs=ATOL)


def test_single_class_inputs():
    # scikit-learn warns and returns nan (ROC AUC) or 0 (AP); churn raises a DataError naming the problem.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert math.isnan(sklearn_metrics.roc_auc_score([1, 1, 1], [0.1, 0.2, 0.3]))
    with pytest.raises(churn.DataError, match="only one class is present in y_true"):
        cm.roc_auc_score([1, 1, 1], [0.1, 0.2, 0.3])
    with pytest.raises(churn.DataError, match="no positive samples"):
        cm.average_precision_score([0, 0], [0.1, 0.2])
    with pytest.raises(churn.DataError, match="needs both classes"):
        cm.roc_curve([0, 0], [0.1, 0.2])
    # Defined for one class, and equal to scikit-learn's.
    assert cm.log_loss([1, 1], [0.2, 0.9]) == pytest.approx(sklearn_metrics.log_loss([1, 1], [0.2, 0.9], labels=[0, 1]), abs=ATOL)
    assert cm.brier_score_loss([0, 0], [0.1, 0.3]) == pytest.approx(0.05, abs=ATOL)
    d = cm.evaluate_binary([0, 0, 0], [0.1, 0.6, 0.2])
    assert math.isnan(d["roc_auc"]) and math.isnan(d["average_precision"])


def test_bad_input_is_named():
    with pytest.raises(churn.DataError, match=r"y_true\[1\] = 2 is not a binary label"):
        cm.f1_score([0, 2], [0, 1])
    with pytest.raises(churn.DataError, match=r"y_true\[0\] = 0.5 is not a binary label"):
        cm.accuracy_score([0.5, 1.0], [0, 1])
    with pytest.raises(churn.DataError, match=r"y_score\[1\] = nan is not finite"):
        cm.roc_auc_score([0, 1], [0.2, float("nan")])
    with pytest.raises(churn.DataError, match=r"different lengths \(3 vs 2\)"):
        cm.roc_auc_score([0, 1, 1], [0.2, 0.3])
    with pytest.raises(churn.DataError, match="must be 1-D"):
        cm.roc_auc_score([[0, 1]], [0.2, 0.3])
    with pytest.raises(churn.DataError, match=r"y_proba\[0\] = 1.5 is not a probability"):
        cm.log_loss([0, 1], [1.5, 0.3])
    with pytest.raises(churn.ParameterError, match="zero_division"):
        cm.f1_score([0, 1], [0, 1], zero_division=2)
    # Booleans and integral floats are labels too.
    assert cm.accuracy_score(np.array([True, False]), np.array([1.0, 0.0])) == 1.0


def test_stub_docstrings_match_the_binding():
    import ast
    from pathlib import Path

    from churn import _churn

    stub = ast.parse((Path(churn.__file__).parent / "_churn.pyi").read_text())
    documented = {node.name: ast.get_docstring(node) for node in stub.body if isinstance(node, ast.FunctionDef)}
    ours = [
        "confusion_matrix", "accuracy_score", "balanced_accuracy_score", "precision_score", "recall_score",
        "f1_score", "roc_auc_score", "average_precision_score", "log_loss", "brier_score_loss", "roc_curve",
        "precision_recall_curve", "confusion_matrix_at_thresholds", "best_f1_threshold", "evaluate_binary",
        "stratified_kfold", "repeated_stratified_kfold", "stratified_train_test_split",
    ]
    for name in ours:
        assert documented.get(name), f"{name} has no docstring in _churn.pyi"
        assert documented[name] in getattr(_churn, name).__doc__, name
    for name in cm.__all__:
        assert getattr(cm, name) is getattr(_churn, name)
