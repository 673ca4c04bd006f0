"""churn.dask on a LocalCluster of 2 worker processes: the same features and model as one machine,
recovery from a killed worker, and errors that name the file and the line."""
import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import churn

pytestmark = pytest.mark.dask
distributed = pytest.importorskip("distributed")
dask = pytest.importorskip("dask")
import dask.bag as db  # noqa: E402

import churn.dask as cdask  # noqa: E402

BLOCK = 1 << 20  # 1 MB pieces: a small log still makes many tasks


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    """A folder with a plain log cut into many pieces and a gzip log (one piece)."""
    root = tmp_path_factory.mktemp("dask_logs")
    churn.simulate(str(root / "a.json"), users=20, days=45, seed=11)
    churn.simulate(str(root / "b.json.gz"), users=10, days=45, seed=12)
    return root


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                           silence_logs=40)
    c = Client(cluster)
    yield c
    c.close()
    cluster.close()


def assert_same_table(a, b):
    assert a.user_ids == b.user_ids
    assert a.feature_names == b.feature_names
    np.testing.assert_array_equal(a.X, b.X)  # NaN == NaN here, and values must be bit-identical
    np.testing.assert_array_equal(a.y, b.y)
    assert a.cutoff_ms == b.cutoff_ms
    for k in ("events", "users_seen", "users_in_table", "users_churned", "anonymous_events", "first_ts", "last_ts"):
        assert getattr(a.report, k) == getattr(b.report, k), k


def estimator():
    if hasattr(churn, "RandomForestClassifier"):
        return churn.RandomForestClassifier(n_estimators=25, random_state=7, n_jobs=1)
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(n_estimators=25, random_state=7, n_jobs=1)


def test_import_churn_does_not_import_dask_or_spark():
    code = "import sys, churn; print(sorted(m for m in ('dask', 'distributed', 'pyspark') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_pieces_cover_every_line_once(logs):
    pieces = churn._distributed.plan_pieces([str(logs)], blocksize=BLOCK)
    plain = [p for p in pieces if not p.whole]
    assert len(plain) > 5 and sum(p.whole for p in pieces) == 1
    assert plain[0].begin == 0 and plain[-1].end == os.path.getsize(logs / "a.json")
    with open(logs / "a.json", "rb") as f:
        data = f.read()
    for p, q in zip(plain, plain[1:]):
        assert p.end == q.begin and data[q.begin - 1:q.begin] == b"\n"


@pytest.mark.parametrize("label", ["window", "history"])
def test_files_and_folders_give_the_local_table(client, logs, label):
    local = churn.user_features(str(logs), label=label)
    remote = cdask.user_features([str(logs)], client=client, blocksize=BLOCK, split_every=3, label=label)
    assert_same_table(remote, local)
    assert remote.report.read == local.report.read  # the one report, counts, files and summary


def test_snapshots_give_the_local_snapshot_table(client, logs):
    local = churn.user_features(str(logs), horizon_days=14, every_days=7)
    assert len(local.snapshot_cutoffs) >= 2
    remote = cdask.user_features([str(logs)], client=client, blocksize=BLOCK, horizon_days=14, every_days=7)
    assert_same_table(remote, local)
    np.testing.assert_array_equal(remote.cutoffs, local.cutoffs)
    assert remote.snapshot_cutoffs == local.snapshot_cutoffs
    assert remote.report.snapshot_rows == local.report.snapshot_rows
    with pytest.raises(churn.ParameterError, match="every_days"):
        cdask.user_features([str(logs)], client=client, blocksize=BLOCK, horizon_days=14, every_days=-1)


def test_bag_and_dataframe_partitions_give_the_local_table(client, logs):
    path = str(logs / "a.json")
    local = churn.user_features(path, cutoff="2018-10-20")
    bag = db.read_text(path, blocksize=2 * BLOCK)
    assert bag.npartitions > 1
    assert_same_table(cdask.user_features(bag, client=client, cutoff="2018-10-20"), local)
    events = db.read_text(path, blocksize=2 * BLOCK).map(json.loads)
    assert_same_table(cdask.user_features(events, client=client, cutoff="2018-10-20"), local)

    dd = pytest.importorskip("dask.dataframe")
    frame = dd.read_json(path, lines=True, dtype=False, blocksize=2 * BLOCK)
    assert frame.npartitions > 1
    assert_same_table(cdask.user_features(frame, client=client, cutoff="2018-10-20"), local)


def test_accumulator_merges_with_more_data_later(client, logs):
    acc = cdask.accumulate(str(logs / "a.json"), client=client, blocksize=BLOCK)
    acc.merge(_gz_acc(logs))
    assert_same_table(acc.finalize(label="history"), churn.user_features(str(logs), label="history"))


def _gz_acc(logs):
    a = churn.FeatureAccumulator()
    a.add_files(str(logs / "b.json.gz"))
    return a


def test_same_model_and_cross_validation_as_local(client, logs):
    table = cdask.user_features(str(logs), client=client, blocksize=BLOCK)
    X, y = np.ascontiguousarray(table.X), table.y.astype(np.int64)
    assert 0 < y.sum() < len(y)
    local_model = estimator().fit(X, y)
    remote_model = cdask.fit(estimator(), X, y, client=client)
    np.testing.assert_array_equal(remote_model.predict_proba(X), local_model.predict_proba(X))

    options = dict(n_splits=3, seed=5, inner_splits=2)
    local = churn.cross_validate(estimator(), X, y, **options)
    remote = cdask.cross_validate(estimator(), X, y, client=client, **options)
    for key in ("oof_proba", "oof_fold", "oof_pred"):
        np.testing.assert_array_equal(remote.pop(key), local.pop(key))
    # The same folds (sizes, inner seeds, thresholds), metrics and summaries (JSON: NaN equals NaN).
    assert json.dumps(remote, sort_keys=True) == json.dumps(local, sort_keys=True)


def _release_later(path, index, parts):
    """A bag partition that waits for the test's go-ahead (except the first), so that the test can
    kill a worker while tasks are running."""
    from distributed import Event

    if index > 0:
        Event("churn-test-release").wait(120)
    with open(path) as f:
        return [line for i, line in enumerate(f) if i % parts == index]


def test_a_killed_worker_is_recovered_without_a_wrong_result(client, logs):
    path = str(logs / "a.json")
    local = churn.user_features(path, label="history")
    parts = 4
    bag = db.from_delayed([dask.delayed(_release_later)(path, i, parts) for i in range(parts)])
    result = {}

    def run():
        try:
            result["table"] = cdask.user_features(bag, client=client, label="history", split_every=2)
        except BaseException as e:  # reported on the test's thread
            result["error"] = e

    worker = threading.Thread(target=run)
    worker.start()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # both workers busy: tasks are in flight
            if sum(1 for tasks in client.processing().values() if tasks) == 2:
                break
            time.sleep(0.1)
        pids = client.run(os.getpid)
        victim = sorted(pids)[0]
        os.kill(pids[victim], signal.SIGKILL)
        deadline = time.monotonic() + 60
        while victim in client.scheduler_info()["workers"] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert victim not in client.scheduler_info()["workers"], "the killed worker is still registered"
        assert "table" not in result  # nothing could finish before the release
    finally:
        distributed.Event("churn-test-release", client=client).set()
        worker.join(120)
    assert "error" not in result, result.get("error")
    assert_same_table(result["table"], local)
    client.wait_for_workers(2, timeout=60)


def test_a_malformed_line_names_the_file_and_the_line(client, tmp_path, logs):
    with open(logs / "a.json", "rb") as f:
        lines = f.read().splitlines(keepends=True)
    bad_line = len(lines) - 40  # deep in the file: in a late piece, not the first
    lines[bad_line - 1] = b'{"ts": 1538352037000, "userId": "7", "page": 12}\n'
    bad = tmp_path / "bad.json"
    bad.write_bytes(b"".join(lines))
    with pytest.raises(churn.ParseError) as info:
        cdask.user_features(str(bad), client=client, blocksize=BLOCK)
    e = info.value
    assert e.file == str(bad) and e.line == bad_line and e.field == "page"
    assert f"{bad} at line {bad_line}, field 'page'" in str(e)
    with pytest.raises(churn.ParseError, match=f"{bad} at line {bad_line}"):
        churn.user_features(str(bad))  # the one-machine path says the same

    # Lenient reading counts the line at the same place.
    table = cdask.user_features(str(bad), client=client, blocksize=BLOCK, strict=False)
    assert table.report.read["bad_lines"] == 1
    assert [line for line, _ in table.report.read["examples"]] == [bad_line]

    # A bag partition is named as such, with the line within it.
    bag = db.from_sequence(['{"ts": 1, "userId": "1", "page": "Home"}', "not json"], npartitions=1)
    with pytest.raises(churn.ParseError, match=r"<bag partition 0> at line 2"):
        cdask.user_features(bag, client=client)


def test_bad_arguments_fail_before_the_cluster_works(client, logs):
    with pytest.raises(TypeError, match="unexpected option"):
        cdask.user_features(str(logs), client=client, cutof="2018-10-01")
    with pytest.raises(churn.ParameterError, match="label"):
        cdask.user_features(str(logs), client=client, label="forever")
    with pytest.raises(churn.ChurnIOError, match="no such file"):
        cdask.user_features(str(logs / "missing.json"), client=client)


def forest_data(rows=300, cols=6, seed=3):
    """A small table with missing values and string labels."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, cols))
    X[rng.random(X.shape) < 0.05] = np.nan
    y = np.where(np.nan_to_num(X[:, 0]) + 0.5 * np.nan_to_num(X[:, 1]) + rng.normal(scale=0.5, size=rows) > 0,
                 "churned", "stayed")
    return X, y


def test_forest_trees_grown_as_tasks_give_the_local_model(client):
    from distributed import get_task_stream

    X, y = forest_data()

    def forest():
        return churn.RandomForestClassifier(n_estimators=30, random_state=11, oob_score=True, max_features=0.5)

    local = forest().fit(X, y)
    with get_task_stream(client) as stream:
        remote = cdask.fit_forest(forest(), X, y, client=client, n_tasks=4)
    ranges = [t for t in stream.data if "fit_tree_range" in str(t["key"])]
    assert len(ranges) == 4 and len({t["worker"] for t in ranges}) == 2  # both workers grew trees
    assert isinstance(remote, churn.RandomForestClassifier) and remote is not local
    np.testing.assert_array_equal(remote.predict_proba(X), local.predict_proba(X))
    assert remote.to_json() == local.to_json()  # trees, importances, OOB score, classes, params
    np.testing.assert_array_equal(remote.feature_importances_, local.feature_importances_)
    np.testing.assert_array_equal(remote.oob_decision_function_, local.oob_decision_function_)

    # Weights, and more tasks than trees (one tree each); the default: one task per worker thread.
    w = np.random.default_rng(5).uniform(0.5, 2.0, size=len(y))
    small = churn.RandomForestClassifier(n_estimators=5, random_state=2, class_weight="balanced_subsample")
    expected = small.fit(X, y, sample_weight=w).to_json()
    assert cdask.fit_forest(small, X, y, client=client, n_tasks=8, sample_weight=w).to_json() == expected
    assert cdask.fit_forest(small, X, y, client=client, sample_weight=w).to_json() == expected


def test_forest_trees_as_tasks_refuse_what_they_cannot_do(client):
    X, y = forest_data(rows=50)
    sklearn_ensemble = pytest.importorskip("sklearn.ensemble")
    with pytest.raises(TypeError, match="needs a churn.RandomForestClassifier, got RandomForestClassifier"):
        cdask.fit_forest(sklearn_ensemble.RandomForestClassifier(), X, y, client=client)
    with pytest.raises(churn.ParameterError, match="parameter 'n_tasks': 0"):
        cdask.fit_forest(churn.RandomForestClassifier(n_estimators=5), X, y, client=client, n_tasks=0)
    with pytest.raises(churn.ParameterError, match="parameter 'n_estimators'"):  # checked on the client
        cdask.fit_forest(churn.RandomForestClassifier(n_estimators=0), X, y, client=client)
