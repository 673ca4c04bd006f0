"""What a new user meets in the first hour (issue 20): empty results that say why, scan of folders and
several files with a total, one definition of sessions, non-JSON lines named as such, a forest fitted on
a feature table keeping the names, atomic outputs."""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

import churn
from churn.cli import main


@pytest.fixture(scope="module")
def short_log(tmp_path_factory) -> Path:
    """20 days: shorter than the default 30-day horizon, as the real Sparkify month is for some uses."""
    path = tmp_path_factory.mktemp("short") / "short.json"
    churn.simulate(path, users=60, days=20, seed=3)
    return path


@pytest.fixture(scope="module")
def month_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("folder")
    churn.simulate(folder / "a.json", users=30, days=10, seed=1)
    (folder / "more").mkdir()
    churn.simulate(folder / "more" / "b.json.gz", users=20, days=10, seed=2, start="2018-10-11")
    (folder / "notes.txt").write_text("not events\n")
    return folder


def test_features_on_a_log_shorter_than_the_horizon_says_why_and_fails(short_log, tmp_path, capsys):
    out = tmp_path / "f.csv"
    assert main(["features", str(short_log), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "no users" in err and "the log runs from 2018-10-01 to 2018-10-2" in err
    assert "is at or before the first event" in err and "--horizon-days" in err and "--cutoff" in err
    assert not out.exists(), "no empty CSV left behind"
    # The remedy it names works.
    assert main(["features", str(short_log), "--out", str(out), "--quiet", "--horizon-days", "7"]) == 0
    assert len(out.read_text().splitlines()) > 10


@pytest.mark.parametrize("command", ["evaluate", "train"])
def test_evaluate_and_train_on_an_empty_table_say_why(short_log, tmp_path, capsys, command):
    extra = ["--model", str(tmp_path / "m.json")] if command == "train" else []
    assert main([command, str(short_log), "--trees", "5", *extra]) == 2
    err = capsys.readouterr().err
    assert f"churn {command}: error: no users" in err and "--horizon-days" in err
    assert not (tmp_path / "m.json").exists()


def test_a_cutoff_after_every_user_cancelled_or_before_any_user_is_explained(short_log):
    table = churn.user_features(short_log, cutoff="2018-10-01")
    assert len(table) == 0
    assert "at or before the first event" in churn.features.why_empty(table)
    empty = short_log.parent / "empty.json"
    empty.write_text("\n")
    with pytest.raises(churn.DataError, match="no events"):
        churn.user_features(empty)


def test_scan_takes_folders_and_several_files_with_a_total(month_folder, capsys):
    a, b = month_folder / "a.json", month_folder / "more" / "b.json.gz"
    total = churn.scan(month_folder)
    one, two = churn.scan(a), churn.scan(b)
    assert [Path(f.path).name for f in total.files] == ["a.json", "b.json.gz"]
    assert total.events == one.events + two.events
    # Users and sessions are counted once across files (two simulations reuse ids).
    pairs = set()
    for path in (a, b):
        t = churn.read_events(path)
        pairs |= {(u, s) for u, s in zip(t["userId"], t["sessionId"]) if u}
    assert total.sessions == len(pairs) <= one.sessions + two.sessions
    assert total.first_ts == one.first_ts and total.last_ts == two.last_ts
    assert churn.scan([a, b]).events == total.events and churn.scan(a).files == []
    assert main(["scan", str(month_folder)]) == 0
    out = capsys.readouterr().out
    assert "total of 2 files" in out and "a.json" in out and "b.json.gz" in out
    assert f"{total.events:,}" in out
    assert main(["scan", str(a), str(b)]) == 0
    assert "total of 2 files" in capsys.readouterr().out


def test_simulate_and_scan_count_the_same_sessions(tmp_path, capsys):
    path = tmp_path / "s.json.gz"
    assert main(["simulate", "--users", "80", "--days", "15", "--out", str(path)]) == 0
    printed = capsys.readouterr().out
    scanned = churn.scan(path)
    assert f"{scanned.sessions:,} sessions of logged-in users" in printed
    assert f"{scanned.users:,} users" in printed
    assert main(["scan", str(path)]) == 0
    assert "distinct userId + sessionId of logged-in users" in capsys.readouterr().out
    assert [p.name for p in tmp_path.iterdir()] == ["s.json.gz"], "no temporary file left"


@pytest.mark.parametrize("line,reason", [
    ("not json at all", "not JSON (expected a JSON object)"),
    ("nothing", "not JSON (expected a JSON object)"),
    ("true story", "not JSON (expected a JSON object)"),
    ("null", "expected a JSON object, got null"),
    ("[1, 2]", "expected a JSON object, got an array"),
])
def test_a_line_that_is_not_json_is_reported_as_such(tmp_path, line, reason):
    path = tmp_path / "e.json"
    path.write_text('{"ts": 1, "page": "Home"}\n' + line + "\n")
    with pytest.raises(churn.ParseError) as e:
        churn.read_events(path)
    assert e.value.line == 2 and reason in str(e.value)


def test_a_forest_fitted_on_a_feature_table_keeps_the_names(tmp_path):
    path = tmp_path / "e.json"
    churn.simulate(path, users=120, days=40, seed=5, cancel_multiplier=3.0)
    table = churn.user_features(path, horizon_days=15)
    assert 0 < table.y.sum() < len(table)
    model = churn.RandomForestClassifier(n_estimators=10, random_state=0).fit(table)
    assert list(model.feature_names_in_) == table.feature_names
    assert set(model.explain(table.X[0])["contributions"]) == set(table.feature_names)
    with pytest.warns(UserWarning, match="X does not have valid feature names"):  # scikit-learn's rule
        bare = model.predict_proba(table.X)
    np.testing.assert_array_equal(model.predict_proba(table), bare)
    by_names = churn.RandomForestClassifier(n_estimators=10, random_state=0).fit(
        table.X, table.y, feature_names=table.feature_names)
    assert list(by_names.feature_names_in_) == table.feature_names
    assert "x0" not in by_names.explain(table.X[0])["contributions"]
    with pytest.raises(ValueError, match="feature names"):
        churn.RandomForestClassifier(n_estimators=5).fit(table.X, table.y, feature_names=["a", "b"])


def test_train_explains_who_is_in_the_table(tmp_path):
    from churn.training import who_is_in_the_table

    path = tmp_path / "e.json.gz"
    churn.simulate(path, users=150, days=60, seed=4)
    table = churn.user_features(path)
    line = who_is_in_the_table(table)
    r = table.report
    assert f"{len(table):,} of the log's {r.users_seen:,}" in line
    assert f"{r.users_cancelled_before_cutoff:,} had cancelled" in line
    assert len(table) + r.users_cancelled_before_cutoff + r.users_without_events_before_cutoff == r.users_seen


def test_progress_on_a_gz_log_counts_compressed_bytes(tmp_path):
    """The bar's total is the size on disk; for .gz the reader reported decompressed bytes, so the bar
    reached 100 % after an eighth of the work (issue 20)."""
    path = tmp_path / "e.json.gz"
    churn.simulate(path, users=60, days=20, seed=1)
    progress = churn._churn._FeatureProgress()
    churn.user_features(path, progress=progress, horizon_days=5)
    size = path.stat().st_size
    assert progress.bytes_total == size
    assert progress.bytes == size, "progress ends exactly at the compressed size"
    with gzip.open(path, "rb") as f:
        assert len(f.read()) > 4 * size  # so the old count would have overshot the total fourfold


def test_features_on_the_real_sparkify_month_says_why_it_is_empty(sparkify_sample, tmp_path, capsys):
    """The issue's case: the real one-month sample with the default 30-day horizon."""
    out = tmp_path / "f.csv"
    assert main(["features", str(sparkify_sample), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "no users: the log runs from 2018-11-01 to 2018-11-30" in err and "--horizon-days" in err
    assert not out.exists()
