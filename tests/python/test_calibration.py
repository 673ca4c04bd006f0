"""Calibration of P(churn): the methods against scikit-learn, the choice by cross-validated log loss,
Brier score on held-out folds, and the round trip through the model file."""
import json

import numpy as np
import pytest

import churn
from churn.calibration import Calibration, choose_calibration, fit_calibration, reliability


def distorted(n, seed):
    rng = np.random.default_rng(seed)
    true = rng.beta(1, 6, n)                      # a ~14 % base rate
    y = (rng.random(n) < true).astype(int)
    raw = true ** 0.45                            # vote-share-like: far too high, order kept
    return y, raw


def test_isotonic_and_platt_match_sklearn():
    from sklearn.isotonic import IsotonicRegression
    from sklearn.linear_model import LogisticRegression

    y, raw = distorted(2000, 0)
    raw = np.round(raw, 2)  # ties, as vote shares have
    iso = fit_calibration("isotonic", y, raw)
    grid = np.linspace(0, 1, 501)
    sk = IsotonicRegression(out_of_bounds="clip").fit(raw, y)
    np.testing.assert_allclose(iso.apply(grid), sk.predict(grid), atol=1e-12)
    platt = fit_calibration("platt", y, raw)
    s = np.log(np.clip(raw, 1e-6, 1 - 1e-6) / (1 - np.clip(raw, 1e-6, 1 - 1e-6)))
    lr = LogisticRegression(C=1e9, tol=1e-12, max_iter=10000).fit(s[:, None], y)
    np.testing.assert_allclose(platt.apply(raw), lr.predict_proba(s[:, None])[:, 1], atol=1e-5)


def test_choice_by_cross_validated_log_loss_never_worsens_brier_on_held_out_folds():
    y, raw = distorted(3000, 1)
    folds = churn.stratified_kfold(y, n_splits=5, seed=0)
    for train, test in folds:
        inner = churn.stratified_kfold(y[train], n_splits=5, seed=1)
        cal = choose_calibration(y[train], raw[train], inner)
        assert cal.method in ("platt", "isotonic")
        before = np.mean((raw[test] - y[test]) ** 2)
        after = np.mean((cal.apply(raw[test]) - y[test]) ** 2)
        assert after < before
    # Already calibrated: "none" is chosen unless a method is really better, and the Brier score holds.
    rng = np.random.default_rng(2)
    p = rng.beta(1, 6, 3000)
    y = (rng.random(3000) < p).astype(int)
    cal = choose_calibration(y, p, churn.stratified_kfold(y, n_splits=5, seed=0))
    assert cal.cv_log_loss[cal.method] == min(cal.cv_log_loss.values())
    assert cal.cv_brier[cal.method] <= cal.cv_brier["none"] + 1e-3


def test_calibration_round_trips_and_is_validated_at_load(tmp_path):
    y, raw = distorted(800, 3)
    for method in ("none", "platt", "isotonic"):
        cal = fit_calibration(method, y, raw)
        back = Calibration.from_json(json.loads(json.dumps(cal.to_json())))
        np.testing.assert_array_equal(back.apply(raw), cal.apply(raw))
    X = np.column_stack([raw, np.arange(raw.size) % 7])
    model = churn.RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y)
    cal = fit_calibration("isotonic", y, model.predict_proba(X)[:, 1])
    model.metadata = {"calibration": cal.to_json()}
    path = tmp_path / "m.json"
    model.save(path)
    loaded = churn.load_model(path)
    np.testing.assert_array_equal(loaded.predict_calibrated_proba(X), cal.apply(model.predict_proba(X)[:, 1]))
    doc = json.loads(path.read_text())
    for bad, where in (({"method": "magic"}, "calibration.method"),
                       ({"method": "platt", "a": "1", "b": 0}, "calibration.a"),
                       ({"method": "isotonic", "x": [0, 1], "y": [0.5, 0.2]}, "calibration.y"),
                       ({"method": "isotonic", "x": [0, 1], "y": [0.1]}, "calibration.y")):
        doc["metadata"]["calibration"] = bad
        path.write_text(json.dumps(doc))
        with pytest.raises(churn.ModelFormatError, match=where.replace(".", r"\.")):
            churn.load_model(path)


def test_reliability_bins():
    y = np.array([0, 0, 1, 1, 1])
    p = np.array([0.05, 0.15, 0.15, 0.95, 1.0])
    r = reliability(y, p, strategy="uniform")
    assert [b["rows"] for b in r["bins"]] == [1, 2, 2]
    assert r["bins"][1]["observed"] == 0.5 and r["bins"][2]["mean_predicted"] == pytest.approx(0.975)
    assert r["brier"] == pytest.approx(np.mean((p - y) ** 2))


def test_reliability_quantile_bins_hold_equal_counts_and_keep_ties_together():
    """Equal-width bins leave one or two customers above 0.5 at a 10 % base rate, whose observed
    rate jumps to 0 or 1; the default bins hold about equal counts, and tied scores share a bin."""
    rng = np.random.default_rng(3)
    p = rng.beta(1, 8, 1000)
    y = (rng.random(1000) < p).astype(int)
    uniform = reliability(y, p, strategy="uniform")
    assert min(b["rows"] for b in uniform["bins"]) <= 3          # the defect the default avoids
    r = reliability(y, p)
    assert r["strategy"] == "quantile" and len(r["bins"]) == 10
    assert all(95 <= b["rows"] <= 105 for b in r["bins"])
    assert sum(b["rows"] for b in r["bins"]) == 1000
    assert all(b["from"] <= b["mean_predicted"] <= b["to"] for b in r["bins"])
    votes = np.round(p * 20) / 20                                 # vote shares of a 20-tree forest: ties
    rv = reliability(y, votes)
    assert sum(b["rows"] for b in rv["bins"]) == 1000
    assert len({round(b["mean_predicted"], 12) for b in rv["bins"]}) == len(rv["bins"])
    with pytest.raises(ValueError, match="strategy"):
        reliability(y, p, strategy="kmeans")
    single = reliability([0, 1, 1], [0.3, 0.3, 0.3])
    assert [b["rows"] for b in single["bins"]] == [3]


def test_platt_stays_sane_on_vote_shares_with_many_zeros():
    """Forest vote shares are often exactly 0 or 1; a plain Newton step overshot there (log loss 8)."""
    rng = np.random.default_rng(0)
    p = np.round(rng.beta(0.3, 3, 900), 2)
    p[rng.random(900) < 0.4] = 0
    y = (rng.random(900) < 0.05).astype(int)
    cal = choose_calibration(y, p, churn.stratified_kfold(y, n_splits=5, seed=0))
    base = -np.mean(y * np.log(y.mean()) + (1 - y) * np.log(1 - y.mean()))  # the base rate's log loss
    assert cal.cv_log_loss["platt"] < base + 0.02
    assert cal.cv_log_loss[cal.method] < cal.cv_log_loss["none"]


def test_decision_threshold_makes_the_verdict_follow_the_shown_probability():
    """An isotonic step spanning the threshold: raw p > t would flag scores that show the same calibrated
    probability as scores it does not flag. decision_threshold moves t to the step's end, and then
    raw > decision is exactly calibrated > calibrated threshold (issue 19 part 4)."""
    from churn.scoring import decide

    cal = Calibration("isotonic", isotonic=([0.1, 0.2, 0.4, 0.6], [0.05, 0.1, 0.1, 0.5]))
    assert cal.decision_threshold(0.3) == 0.4          # inside the flat step 0.2..0.4: the nearer end (tie: top)
    assert cal.decision_threshold(0.22) == 0.1         # nearer the knot below the step: all of it flagged
    assert cal.decision_threshold(0.35) == 0.4
    # With scores: the end that changes fewer of their verdicts.
    assert cal.decision_threshold(0.35, scores=[0.36, 0.37, 0.38, 0.39, 0.3]) == 0.1   # changes 0.3, not 4
    assert cal.decision_threshold(0.25, scores=[0.12, 0.15, 0.18, 0.2, 0.3]) == 0.4    # changes 0.3, not 4
    assert cal.decision_threshold(0.4) == 0.4          # the right end of a step: unchanged
    assert cal.decision_threshold(0.5) == 0.5          # on a rising segment: unchanged
    assert cal.decision_threshold(0.05) == 0.1         # flat below the first knot: its top
    assert cal.decision_threshold(0.9) == 1.0          # flat above the last knot: nothing shows more
    raw = np.linspace(0, 1, 2001)
    for t in (0.05, 0.15, 0.2, 0.22, 0.25, 0.3, 0.35, 0.4, 0.5, 0.7, 0.9):
        shown, churns, shown_t = decide(raw, t, cal)
        np.testing.assert_array_equal(churns, shown > shown_t)
        np.testing.assert_array_equal(shown, cal.apply(raw))
    # The naive rule contradicts the shown number inside the step: that is what is fixed.
    shown = cal.apply(raw)
    naive = raw > 0.3
    assert (shown[naive] <= cal.apply(0.3)).any()
    platt = Calibration("platt", platt=(0.8, -1.0))
    assert platt.decision_threshold(0.3) == 0.3
    shown, churns, shown_t = decide(raw, 0.3, platt)
    np.testing.assert_array_equal(churns, raw > 0.3)
    np.testing.assert_array_equal(churns, shown > shown_t)
    # Without a calibration: raw probabilities and the model's own rule.
    shown, churns, shown_t = decide(raw, 0.3, None)
    np.testing.assert_array_equal(shown, raw) and np.testing.assert_array_equal(churns, raw > 0.3)
    assert shown_t == 0.3


def test_a_platt_slope_that_would_reverse_the_ranking_is_refused():
    with pytest.raises(churn.ModelFormatError, match=r"calibration\.a"):
        Calibration.from_json({"method": "platt", "a": -0.5, "b": 0.1})
    rng = np.random.default_rng(4)
    p = rng.random(600)
    y = (rng.random(600) < 1 - p).astype(int)  # anti-correlated scores
    platt = fit_calibration("platt", y, p)
    assert platt.platt[0] == 0 and platt.apply(p) == pytest.approx(np.full(600, y.mean()))
    assert platt.decision_threshold(0.3) == 1.0  # everyone shows the same: nobody shows more
