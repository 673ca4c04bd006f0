"""Snapshot tables (one row per user and cutoff, from one pass), leak-free validation of them, and the
verdict and gains that train and evaluate report."""
import csv
import json
import subprocess
import sys

import numpy as np
import pytest

import churn
from churn.verdict import gains, paired_difference, positives_warning, verdict

DAY = 86_400_000


@pytest.fixture(scope="module")
def log(tmp_path_factory):
    path = tmp_path_factory.mktemp("snapshots") / "events.json"
    churn.simulate(path, users=150, days=60, seed=3, cancel_multiplier=3.0)
    return path


def test_snapshots_equal_one_call_per_cutoff_row_for_row(log):
    t = churn.user_features(log, horizon_days=14, every_days=7)
    assert t.is_snapshots and len(t.snapshot_cutoffs) >= 4
    cuts = t.snapshot_cutoffs
    assert np.all(np.diff(cuts) == 7 * DAY)
    assert cuts[-1] == churn.user_features(log, horizon_days=14).cutoff_ms  # the default cutoff is the last
    assert cuts[0] - t.report.first_ts >= 14 * DAY > cuts[0] - 7 * DAY - t.report.first_ts
    at = 0
    for k, c in enumerate(cuts):
        one = churn.user_features(log, horizon_days=14, cutoff=c)
        n = len(one)
        assert t.user_ids[at:at + n] == one.user_ids
        np.testing.assert_array_equal(t.X[at:at + n], one.X)
        np.testing.assert_array_equal(t.y[at:at + n], one.y)
        assert np.all(t.cutoffs[at:at + n] == c)
        assert t.report.snapshot_rows[k] == n and t.report.snapshot_churned[k] == one.report.users_churned
        at += n
    assert at == len(t) == t.report.users_in_table
    assert int(t.y.sum()) == t.report.users_churned
    # Explicit cutoffs in any form and order; the accumulator finalises the same table.
    dates = [churn._churn._format_utc(c) for c in reversed(cuts)]
    again = churn.user_features(log, horizon_days=14, cutoffs=dates)
    np.testing.assert_array_equal(again.X, t.X)
    acc = churn.FeatureAccumulator()
    acc.add_files(log)
    fin = acc.finalize(horizon_days=14, every_days=7)
    np.testing.assert_array_equal(fin.X, t.X)
    assert fin.user_ids == t.user_ids
    assert "snapshots" in str(t.report) and "rows" in repr(t)


def test_snapshot_table_to_pandas_csv_and_cli(log, tmp_path):
    pd = pytest.importorskip("pandas")
    t = churn.user_features(log, horizon_days=14, every_days=7)
    df = t.to_pandas()
    assert list(df.index.names) == ["user_id", "cutoff"]
    assert df.index.is_unique
    assert df.index.get_level_values("cutoff")[0] == pd.Timestamp(t.snapshot_cutoffs[0], unit="ms", tz="UTC")
    out = tmp_path / "snap.csv"
    subprocess.run([sys.executable, "-m", "churn", "features", str(log), "--out", str(out), "--horizon-days", "14",
                    "--every-days", "7", "--quiet"], check=True)
    rows = list(csv.reader(open(out)))
    assert rows[0][:2] == ["user_id", "cutoff"] and rows[0][-1] == "churned"
    assert len(rows) - 1 == len(t)
    assert rows[1][1] == churn._churn._format_utc(t.snapshot_cutoffs[0])
    assert rows[-1][0] == t.user_ids[-1] and int(rows[-1][-1]) == t.y[-1]


def test_snapshot_options_are_checked(log):
    with pytest.raises(churn.ParameterError, match="every_days"):
        churn.user_features(log, every_days=0)
    with pytest.raises(churn.ParameterError, match="every_days"):
        churn.user_features(log, cutoffs=["2018-10-20"], every_days=7)
    with pytest.raises(churn.ParameterError, match="twice"):
        churn.user_features(log, cutoffs=["2018-10-20", "2018-10-20"])
    with pytest.raises(churn.ParameterError, match="cutoffs"):
        churn.user_features(log, cutoffs="2018-10-20")
    with pytest.raises(churn.ParameterError, match="snapshots"):
        churn.user_features(log, label="history", every_days=7)
    with pytest.raises(churn.DataError, match="too short for snapshots"):
        churn.user_features(log, horizon_days=50, every_days=7)


def test_stratified_group_kfold_equals_sklearn_fold_for_fold():
    from sklearn.model_selection import StratifiedGroupKFold

    rng = np.random.default_rng(0)
    cases = 0
    for trial in range(150):
        n_groups = int(rng.integers(6, 120))
        sizes = rng.integers(1, 8, n_groups)
        groups = np.repeat(rng.permutation(n_groups * 3)[:n_groups], sizes)
        rng.shuffle(groups)
        p = rng.uniform(0.05, 0.6)
        y = (rng.random(groups.size) < p).astype(int)
        if trial % 3 == 0:  # snapshot-like: a churner's last row is the churned one
            y = np.zeros(groups.size, dtype=int)
            for g in np.unique(groups)[rng.random(n_groups) < p]:
                y[np.flatnonzero(groups == g)[-1]] = 1
        k = int(rng.integers(2, 6))
        shuffle = bool(trial % 2)
        seed = int(rng.integers(0, 2**32 - 1))
        try:
            ours = churn.stratified_group_kfold(y, groups, n_splits=k, shuffle=shuffle, seed=seed)
        except (churn.DataError, churn.ParameterError):
            continue  # a class in fewer groups than folds: scikit-learn would make folds without it
        sk = StratifiedGroupKFold(n_splits=k, shuffle=shuffle, random_state=seed if shuffle else None)
        theirs = list(sk.split(np.zeros((y.size, 1)), y, groups))
        assert len(ours) == len(theirs)
        for (tr, te), (str_, ste) in zip(ours, theirs):
            np.testing.assert_array_equal(te, ste)
            np.testing.assert_array_equal(tr, str_)
            assert not set(groups[tr]) & set(groups[te])
        cases += 1
    assert cases > 80
    # String user ids give the folds of their sorted order, as scikit-learn does.
    ids = np.array([f"u{i % 17}" for i in range(100)])
    y = (np.arange(100) % 5 == 0).astype(int)
    ours = churn.stratified_group_kfold(y, ids, n_splits=3, seed=4)
    theirs = list(StratifiedGroupKFold(3, shuffle=True, random_state=4).split(ids, y, ids))
    for (tr, te), (str_, ste) in zip(ours, theirs):
        np.testing.assert_array_equal(te, ste)


def test_grouped_cross_validation_never_puts_a_user_on_both_sides():
    rng = np.random.default_rng(1)
    groups = np.repeat(np.arange(60), 4)
    y = np.zeros(groups.size, dtype=int)
    y[np.flatnonzero(np.isin(groups, np.arange(0, 60, 3)) & (np.arange(groups.size) % 4 == 3))] = 1
    X = rng.normal(size=(groups.size, 3)) + y[:, None]
    res = churn.cross_validate("logistic", X, y, groups=groups, n_splits=4, seed=2)
    folds = churn.stratified_group_kfold(y, groups, n_splits=4, seed=2)
    for f, ((tr, te), rep) in enumerate(zip(folds, res["folds"])):
        assert not set(groups[tr]) & set(groups[te])
        inner = churn.stratified_group_kfold(y[tr], groups[tr], n_splits=3, seed=rep["inner_seed"])
        for itr, ite in inner:
            assert not set(groups[tr][itr]) & set(groups[tr][ite])
        # The tuned threshold is the one the grouped inner folds give (tune_threshold with groups).
        t = churn.tune_threshold("logistic", X[tr], y[tr], seed=rep["inner_seed"], groups=groups[tr])
        assert rep["threshold"] == t["threshold"]
    ungrouped = churn.cross_validate("logistic", X, y, folds=folds, seed=2)
    assert [f["threshold"] for f in ungrouped["folds"]] != [f["threshold"] for f in res["folds"]]


def test_out_of_time_split_keeps_training_labels_out_of_the_test_period():
    cutoffs = np.repeat(np.arange(5) * 7 * DAY, 10)
    T = 4 * 7 * DAY
    train, test = churn.out_of_time_split(cutoffs, 14, T)
    assert np.all(cutoffs[test] >= T)
    assert np.all(cutoffs[train] + 14 * DAY <= T)
    assert set(cutoffs[train]) == {0, 7 * DAY, 14 * DAY} and set(cutoffs[test]) == {T}
    with pytest.raises(churn.DataError, match="no rows to train on"):
        churn.out_of_time_split(cutoffs, 60, T)


def test_verdict_needs_two_standard_errors():
    def models(forest, logistic):
        m = lambda v: {"metrics": {"roc_auc": {"mean": float(np.mean(v)), "folds": list(v)}}}  # noqa: E731
        return {"random_forest": m(forest), "logistic_regression": m(logistic), "majority": m([0.5] * len(forest))}

    clear = verdict(models([0.80, 0.82, 0.81, 0.79, 0.83], [0.70, 0.71, 0.72, 0.69, 0.70]))
    assert clear["forest_beats_all"] and clear["prefer"] == "random_forest" and clear["warning"] is None
    assert clear["sentence"].startswith("The forest beats every baseline")
    # Ahead on average but within the noise of the paired differences: no claim.
    noisy = verdict(models([0.80, 0.70, 0.82, 0.69, 0.81], [0.75, 0.74, 0.76, 0.73, 0.74]))
    d = paired_difference([0.80, 0.70, 0.82, 0.69, 0.81], [0.75, 0.74, 0.76, 0.73, 0.74])
    assert d["mean"] > 0 and d["mean"] < 2 * d["se"]
    assert not noisy["baselines"]["logistic_regression"]["beats"] and noisy["baselines"]["majority"]["beats"]
    assert noisy["prefer"] == "logistic_regression" and "prefer logistic regression" in noisy["warning"]
    worse = verdict(models([0.49, 0.51, 0.48, 0.50, 0.47], [0.52, 0.50, 0.49, 0.51, 0.50]))
    assert worse["prefer"] == "majority" and "learned nothing" in worse["sentence"]


def test_gains_and_the_positives_warning():
    y = np.array([1, 0, 1, 0, 0, 0, 0, 0, 0, 1] * 10)
    p = np.linspace(1, 0, y.size)
    g = gains(y, p)
    top10 = next(r for r in g["top"] if r["share"] == 0.10)
    assert top10["rows"] == 10 and top10["churners"] == 3 + 0  # rows 0..9 hold three churners
    assert top10["churner_share"] == pytest.approx(3 / 30)
    assert g["curve"]["churners_share"][0] == 0 and g["curve"]["churners_share"][100] == 1
    perfect = gains(y, y.astype(float))
    assert perfect["top"][2]["churner_share"] == 2 / 3  # 20 rows called, 30 churners
    assert positives_warning(49, 500, False).startswith("warning: only 49 of 500 rows are churners")
    assert "--every-days" in positives_warning(10, 100, False)
    assert positives_warning(50, 500, False) is None


def test_a_log_without_cancellations_is_named_as_such(sparkify_sample):
    from churn.training import evaluate, train

    for run in (lambda: train(sparkify_sample, None, log=None), lambda: evaluate(sparkify_sample, log=None)):
        with pytest.raises(churn.DataError, match="no 'Cancellation Confirmation' event at all"):
            run()
    r = subprocess.run([sys.executable, "-m", "churn", "evaluate", str(sparkify_sample)], capture_output=True,
                       text=True)
    assert r.returncode == 2 and "no 'Cancellation Confirmation' event at all" in r.stderr
    assert "y is empty" not in r.stderr


def test_train_on_snapshots_validates_out_of_time_and_by_user(log, tmp_path):
    from churn.training import evaluate, train

    result = train(log, tmp_path / "m.json", horizon_days=14, every_days=7, forest_params={"n_estimators": 30},
                   seed=1, log=None)
    meta = churn.load_model(tmp_path / "m.json").metadata
    v = meta["validation"]
    assert v["scheme"] == "stratified_group_kfold" and v["test"] == "out_of_time"
    T = v["split_ms"]
    assert T == result.table.snapshot_cutoffs[-1]
    assert meta["cv"]["scheme"] == "stratified_group_kfold"
    assert meta["labels"]["snapshot_cutoffs_ms"] == result.table.snapshot_cutoffs
    assert meta["data"]["rows_test"] == int(np.sum(result.table.cutoffs == T))
    assert meta["data"]["rows_train"] == int(np.sum(result.table.cutoffs + 14 * DAY <= T))
    assert set(meta["verdict"]["baselines"]) == {"logistic_regression", "majority"}
    assert isinstance(meta["verdict"]["sentence"], str) and meta["verdict"]["sentence"]
    assert [r["share"] for r in meta["gains"]["test"]["top"]] == [0.05, 0.10, 0.20]
    assert "out of time" in result.summary() and meta["verdict"]["sentence"] in result.summary()
    json.dumps(meta)
    report = evaluate(log, horizon_days=14, every_days=7, forest_params={"n_estimators": 30}, seed=1, log=None)
    assert report["validation"]["scheme"] == "stratified_group_kfold"
    assert report["out_of_time"]["split_ms"] == T
    assert set(report["out_of_time"]["models"]) == {"random_forest", "logistic_regression", "majority"}


def test_one_cutoff_tables_keep_stratified_folds_and_warn_on_few_churners(tmp_path, hand_log):
    from churn.training import evaluate

    path = hand_log(tmp_path / "few.json", users=60, churners=12)
    report = evaluate(path, horizon_days=7, forest_params={"n_estimators": 10}, log=None)
    assert report["validation"]["scheme"] == "stratified_kfold" and report["out_of_time"] is None
    assert "warning: only 12 of 60 rows are churners" in report["warnings"][0]
    assert "--every-days 7" in report["warnings"][0]
    # Nothing tells these churners apart before they leave: the verdict must not claim a win.
    assert not report["verdict"]["forest_beats_all"] and report["verdict"]["warning"] in report["warnings"]
