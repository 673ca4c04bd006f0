"""Exact SHAP values: churn's linear-time TreeSHAP against shap.TreeExplainer (tree_path_dependent) given
the same trees, additivity against predict_proba, determinism, the node cover in estimators_, and models
saved before cover existed (format version 1)."""
import json
import pickle

import numpy as np
import pytest

import churn
from churn.forest import NotFittedError, RandomForestClassifier

shap = pytest.importorskip("shap")  # the dev extra installs it (pyproject.toml)


def shap_tree_dicts(est: RandomForestClassifier):
    """The forest's trees in shap's dictionary form, each scaled by 1/n_trees (the forest averages)."""
    trees = est.estimators_
    scale = 1.0 / len(trees)
    out = []
    for t in trees:
        n = len(t["feature"])
        internal = t["feature"] >= 0
        idx = np.arange(n)
        left = np.where(internal, idx + 1, -1)
        right = np.where(internal, t["right"], -1)
        default = np.where(t["missing_left"] == 1, left, right)
        out.append({
            "children_left": left.astype(np.int32),
            "children_right": right.astype(np.int32),
            "children_default": default.astype(np.int32),
            "features": np.where(internal, t["feature"], -2).astype(np.int32),
            "thresholds": t["threshold"].astype(np.float64),
            "values": (t["value"] * scale).reshape(-1, 1),
            "node_sample_weight": t["cover"].astype(np.float64),
        })
    return out


def reference_shap(est, X):
    explainer = shap.TreeExplainer({"trees": shap_tree_dicts(est)}, feature_perturbation="tree_path_dependent")
    # The forest compares float32 values: give shap the same numbers (NaN stays NaN).
    X32 = np.asarray(X, dtype=np.float32).astype(np.float64)
    return np.asarray(explainer.shap_values(X32, check_additivity=False)), float(np.ravel(explainer.expected_value)[0])


def make_data(rows, cols, seed, nan_share=0.0, noise=0.5):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, cols))
    X[:, 0] = np.round(X[:, 0] * 2)  # ties
    y = ((X[:, 0] + X[:, 1] * X[:, 2] + noise * rng.normal(size=rows)) > 0.3).astype(int)
    if nan_share:
        X[rng.random(X.shape) < nan_share] = np.nan
    return X, y


@pytest.mark.parametrize("max_depth,max_features,nan_share,seed", [
    (2, "sqrt", 0.0, 0),
    (5, None, 0.1, 1),
    (12, "sqrt", 0.2, 2),
    (None, "sqrt", 0.0, 3),    # fully grown
    (None, 1, 0.15, 4),        # fully grown with random single-feature splits: deep paths
])
def test_equal_to_shap_tree_path_dependent(max_depth, max_features, nan_share, seed):
    X, y = make_data(400, 7, seed, nan_share, noise=1.0)
    est = RandomForestClassifier(n_estimators=12, max_depth=max_depth, max_features=max_features, random_state=seed)
    est.fit(X, y)
    Xt, _ = make_data(60, 7, seed + 100, nan_share)
    ours = est.shap_values(Xt)
    ref, ref_expected = reference_shap(est, Xt)
    assert ours.shape == (60, 7)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-6)
    assert est.expected_value_ == pytest.approx(ref_expected, abs=1e-9)
    proba = est.predict_proba(Xt)[:, 1]
    np.testing.assert_allclose(ours.sum(axis=1) + est.expected_value_, proba, rtol=0, atol=1e-9)


def test_deep_trees_stay_exact():
    # Fully grown on noisy labels with one candidate feature per split: paths of depth 30+ with many
    # distinct features, where the coefficient form of Linear TreeShap loses its digits.
    X, y = make_data(3000, 40, 7, 0.05, noise=3.0)
    est = RandomForestClassifier(n_estimators=4, max_features=1, random_state=7).fit(X, y)
    ex = churn._churn.TreeExplainer(est.model_)
    assert ex.max_depth >= 30
    Xt, _ = make_data(40, 40, 8, 0.05)
    ours = est.shap_values(Xt)
    ref, _ = reference_shap(est, Xt)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-6)
    np.testing.assert_allclose(ours.sum(axis=1) + est.expected_value_, est.predict_proba(Xt)[:, 1], rtol=0, atol=1e-9)


def test_sample_and_class_weights_enter_the_cover():
    X, y = make_data(300, 5, 11, 0.1)
    w = np.random.default_rng(0).uniform(0.2, 3.0, size=len(y))
    est = RandomForestClassifier(n_estimators=8, class_weight="balanced", random_state=1).fit(X, y, sample_weight=w)
    for t in est.estimators_:
        cover = t["cover"]
        internal = np.flatnonzero(t["feature"] >= 0)
        assert np.all(cover > 0)
        # children sum to their parent
        np.testing.assert_allclose(cover[internal + 1] + cover[t["right"][internal]], cover[internal], rtol=1e-9)
        # the root holds the tree's total weight; not integer counts here
        assert not np.allclose(cover, np.round(cover))
    ours = est.shap_values(X[:50])
    ref, _ = reference_shap(est, X[:50])
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-6)


def test_same_values_whatever_n_jobs_and_batch():
    X, y = make_data(500, 6, 5, 0.1)
    est = RandomForestClassifier(n_estimators=20, random_state=0).fit(X, y)
    a = est.set_params(n_jobs=1).shap_values(X[:30])
    b = est.set_params(n_jobs=2).shap_values(X[:30])
    c = est.set_params(n_jobs=3).shap_values(X[:30])
    assert np.array_equal(a, b) and np.array_equal(a, c)
    # one row at a time (the tree-parallel path) gives the same bits as the batch
    one = np.vstack([est.set_params(n_jobs=2).shap_values(X[i:i + 1]) for i in range(5)])
    assert np.array_equal(one, a[:5])


def test_any_memory_layout_gives_the_same_values():
    """A Fortran-ordered table (the feature table's layout) or a strided slice is read where it lies
    (no copy) and gives the values of its C-ordered copy; the kernel once read such a view as if its rows
    were adjacent."""
    X, y = make_data(300, 5, 9, 0.1)
    est = RandomForestClassifier(n_estimators=10, random_state=0).fit(X, y)
    explainer = churn._churn.TreeExplainer(est.model_)
    expected = explainer.shap_values(np.ascontiguousarray(X[:40]), 1)
    layouts = {"fortran": np.asfortranarray(X[:40]), "slice": np.asfortranarray(np.repeat(X[:40], 2, axis=1))[:, ::2],
               "reversed rows": np.ascontiguousarray(X[:40][::-1])[::-1]}
    for name, view in layouts.items():
        np.testing.assert_array_equal(explainer.shap_values(view, 1), expected, err_msg=name)
        np.testing.assert_array_equal(explainer.shap_values(view, 2), expected, err_msg=name)
    np.testing.assert_array_equal(est.shap_values(np.asfortranarray(X[:40])), expected)


def test_dataframe_names_and_bad_input():
    pd = pytest.importorskip("pandas")
    X, y = make_data(200, 4, 9)
    df = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    est = RandomForestClassifier(n_estimators=5, random_state=0).fit(df, y)
    assert est.shap_values(df.iloc[:3]).shape == (3, 4)
    with pytest.raises(ValueError, match="feature names should match"):
        est.shap_values(pd.DataFrame(X[:, :3], columns=["a", "b", "c"]))
    bad = X[:2].copy()
    bad[1, 2] = np.inf
    with pytest.raises(churn.DataError, match=r"X\[1, 2\] = inf"):
        est.shap_values(pd.DataFrame(bad, columns=df.columns))
    plain = RandomForestClassifier(n_estimators=3, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="expecting 4 features"):
        plain.shap_values(X[:, :3])
    with pytest.raises(NotFittedError):
        RandomForestClassifier().shap_values(X)


def test_cover_survives_save_load_and_pickle(tmp_path):
    X, y = make_data(300, 5, 3, 0.1)
    est = RandomForestClassifier(n_estimators=6, random_state=2).fit(X, y)
    path = tmp_path / "m.json"
    est.save(path)
    doc = json.loads(path.read_text())
    assert doc["format_version"] == 2
    assert all("cover" in t for t in doc["trees"])
    loaded = churn.load_model(path)
    assert np.array_equal(loaded.shap_values(X[:20]), est.shap_values(X[:20]))
    again = pickle.loads(pickle.dumps(est))
    assert np.array_equal(again.shap_values(X[:20]), est.shap_values(X[:20]))
    for a, b in zip(loaded.estimators_, est.estimators_):
        assert np.array_equal(a["cover"], b["cover"])


def test_version_1_model_loads_predicts_and_says_to_refit(tmp_path):
    X, y = make_data(300, 5, 3)
    est = RandomForestClassifier(n_estimators=4, random_state=2).fit(X, y)
    doc = json.loads(est.to_json())
    doc["format_version"] = 1
    for t in doc["trees"]:
        del t["cover"]
    path = tmp_path / "old.json"
    path.write_text(json.dumps(doc))
    old = churn.load_model(path)
    np.testing.assert_array_equal(old.predict_proba(X[:10]), est.predict_proba(X[:10]))
    assert "cover" not in old.estimators_[0]
    with pytest.raises(churn.ModelCapabilityError, match="refit"):
        old.shap_values(X[:2])
    with pytest.raises(churn.ChurnError):
        old.expected_value_
    # a version 2 file without cover is corrupt, not old
    doc["format_version"] = 2
    path.write_text(json.dumps(doc))
    with pytest.raises(churn.ModelFormatError, match="/trees/0"):
        churn.load_model(path)
