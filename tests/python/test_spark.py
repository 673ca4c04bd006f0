"""churn.spark in Spark local mode (local[2]): the same features and model as one machine, scoring a
Spark DataFrame, and errors that name the file and the line."""
import json
import os
import sys

import numpy as np
import pytest

import churn

pytestmark = [
    pytest.mark.spark,
    # pyspark 4.x warns about pandas 3 on every conversion; the tests check the results instead.
    pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]
pyspark = pytest.importorskip("pyspark")
pytest.importorskip("pyarrow")

import churn.spark as cspark  # noqa: E402

BLOCK = 1 << 20


@pytest.fixture(scope="session")
def spark():
    import shutil

    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("Spark needs Java (none on PATH, no JAVA_HOME)")
    from pyspark.sql import SparkSession

    # The Python workers must be this interpreter (the one that imports this churn).
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    session = (SparkSession.builder.master("local[2]").appName("churn-tests")
               .config("spark.sql.shuffle.partitions", "2")
               .config("spark.default.parallelism", "2")
               .config("spark.ui.enabled", "false")
               .config("spark.sql.execution.arrow.maxRecordsPerBatch", "2000")  # several batches per task
               .config("spark.driver.memory", "1g")
               .getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    root = tmp_path_factory.mktemp("spark_logs")
    churn.simulate(str(root / "a.json"), users=20, days=45, seed=21)
    churn.simulate(str(root / "b.json.gz"), users=10, days=45, seed=22)
    return root


def assert_same_table(a, b):
    assert a.user_ids == b.user_ids
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.y, b.y)
    assert a.cutoff_ms == b.cutoff_ms
    for k in ("events", "users_seen", "users_in_table", "users_churned", "first_ts", "last_ts"):
        assert getattr(a.report, k) == getattr(b.report, k), k


def estimator():
    if hasattr(churn, "RandomForestClassifier"):
        return churn.RandomForestClassifier(n_estimators=25, random_state=3, n_jobs=1)
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(n_estimators=25, random_state=3, n_jobs=1)


@pytest.mark.parametrize("label", ["window", "history"])
def test_paths_give_the_local_table(spark, logs, label):
    local = churn.user_features(str(logs), label=label)
    remote = cspark.user_features(str(logs), spark=spark, blocksize=BLOCK, label=label)
    assert_same_table(remote, local)
    assert remote.report.read == local.report.read  # the one report, counts, files and summary
    # file:// URIs and lists of files are the same input
    files = [f"file://{logs / 'a.json'}", str(logs / "b.json.gz")]
    assert_same_table(cspark.user_features(files, spark=spark, label=label), local)
    # "file:/..." is not a path the driver opens: Spark reads the lines (as it would hdfs:// or s3a://)
    uris = [f"file:{logs / 'a.json'}", f"file:{logs / 'b.json.gz'}"]
    assert_same_table(cspark.user_features(uris, spark=spark, label=label), local)


def test_snapshots_give_the_local_snapshot_table(spark, logs):
    local = churn.user_features(str(logs), horizon_days=14, every_days=7)
    assert len(local.snapshot_cutoffs) >= 2
    remote = cspark.user_features(str(logs), spark=spark, blocksize=BLOCK, horizon_days=14, every_days=7)
    assert_same_table(remote, local)
    np.testing.assert_array_equal(remote.cutoffs, local.cutoffs)
    assert remote.snapshot_cutoffs == local.snapshot_cutoffs
    assert remote.report.snapshot_rows == local.report.snapshot_rows
    with pytest.raises(churn.ParameterError, match="every_days"):
        cspark.user_features(str(logs), spark=spark, blocksize=BLOCK, horizon_days=14, every_days=-1)


def test_dataframes_of_events_and_of_lines_give_the_local_table(spark, logs):
    path = str(logs / "a.json")
    local = churn.user_features(path, cutoff="2018-10-25")
    events = spark.read.json(path).repartition(3)  # the seed's way of loading the log
    assert_same_table(cspark.user_features(events, spark=spark, cutoff="2018-10-25"), local)
    lines = spark.read.text(path).repartition(3)
    table = cspark.user_features(lines, spark=spark, cutoff="2018-10-25")
    assert_same_table(table, local)
    assert table.report.read["events"] == local.report.events


def test_the_model_scores_a_spark_dataframe_as_it_does_locally(spark, logs):
    table = cspark.user_features(str(logs), spark=spark, blocksize=BLOCK)
    X, y = np.ascontiguousarray(table.X), table.y.astype(np.int64)
    model = estimator().fit(X, y)
    remote_model = cspark.fit(estimator(), X, y, spark=spark)
    np.testing.assert_array_equal(remote_model.predict_proba(X), model.predict_proba(X))

    users = cspark.to_spark(table, spark).repartition(2)
    scored = cspark.predict(model, users, features=table.feature_names).toPandas().set_index("user_id")
    expected = model.predict_proba(X)[:, 1]
    got = scored.loc[table.user_ids, "churn_probability"].to_numpy()
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(scored.loc[table.user_ids, "churn_prediction"].to_numpy(), (expected > 0.5))
    assert scored.loc[table.user_ids, "churned"].tolist() == table.y.tolist()


def test_cross_validation_fits_as_tasks_match_the_local_run(spark, logs):
    table = churn.user_features(str(logs))
    X, y = np.ascontiguousarray(table.X), table.y.astype(np.int64)
    options = dict(n_splits=3, seed=2, inner_splits=2)
    local = churn.cross_validate(estimator(), X, y, **options)
    remote = cspark.cross_validate(estimator(), X, y, spark=spark, **options)
    for key in ("oof_proba", "oof_fold", "oof_pred"):
        np.testing.assert_array_equal(remote.pop(key), local.pop(key))
    # The same folds (sizes, inner seeds, thresholds), metrics and summaries (JSON: NaN equals NaN).
    assert json.dumps(remote, sort_keys=True) == json.dumps(local, sort_keys=True)


def test_a_malformed_line_names_the_file_and_the_line(spark, tmp_path, logs):
    lines = (logs / "a.json").read_bytes().splitlines(keepends=True)
    bad_line = len(lines) - 25
    lines[bad_line - 1] = b'{"ts": "yesterday", "userId": "7", "page": "Home"}\n'
    bad = tmp_path / "bad.json"
    bad.write_bytes(b"".join(lines))
    with pytest.raises(churn.ParseError) as info:
        cspark.user_features(str(bad), spark=spark, blocksize=BLOCK)
    assert info.value.file == str(bad) and info.value.line == bad_line and info.value.field == "ts"

    # Lines read by Spark: each file in the partition is named, lines are counted within the partition
    # (Spark may split the file; the partition's part of the file starts at or before the bad line).
    with pytest.raises(churn.ParseError, match=r"bad\.json \(spark partition \d+\) at line \d+, field 'ts'") as info:
        cspark.user_features(f"file:{bad}", spark=spark)
    assert 1 <= info.value.line <= bad_line
    # A DataFrame of lines without file names: the partition is named.
    one = spark.read.text(str(bad)).coalesce(1)
    with pytest.raises(churn.ParseError, match=rf"at line {bad_line}, field 'ts'"):
        cspark.user_features(one.select("value"), spark=spark)


def test_forest_trees_grown_as_tasks_give_the_local_model(spark):
    rng = np.random.default_rng(8)
    X = rng.normal(size=(300, 6))
    X[rng.random(X.shape) < 0.05] = np.nan
    y = (np.nan_to_num(X[:, 0]) - 0.5 * np.nan_to_num(X[:, 2]) + rng.normal(scale=0.5, size=300) > 0).astype(np.int64)

    def forest():
        return churn.RandomForestClassifier(n_estimators=25, random_state=6, oob_score=True, n_jobs=1)

    local = forest().fit(X, y)
    remote = cspark.fit_forest(forest(), X, y, spark=spark, n_tasks=3)
    assert isinstance(remote, churn.RandomForestClassifier) and remote is not local
    np.testing.assert_array_equal(remote.predict_proba(X), local.predict_proba(X))
    assert remote.to_json() == local.to_json()  # trees, importances, OOB score, classes, params
    np.testing.assert_array_equal(remote.oob_decision_function_, local.oob_decision_function_)
    assert cspark.fit_forest(forest(), X, y, spark=spark).to_json() == local.to_json()  # defaultParallelism tasks

    # A task's churn error comes back as that error.
    with pytest.raises(churn.DataError, match="too large for float32"):
        cspark.fit_forest(forest(), np.where(np.arange(X.size).reshape(X.shape) == 7, 1e300, X), y, spark=spark)
