"""churn on Spark: per-user features computed inside the executors, and a trained model scoring a
Spark DataFrame of users. Imported on demand (``import churn.spark``); ``import churn`` never imports
pyspark.

    import churn, churn.spark
    table = churn.spark.user_features("s3a://bucket/sparkify/", spark=spark)       # a churn.FeatureTable
    model = churn.RandomForestClassifier(random_state=0).fit(table.X, table.y)
    model = churn.spark.fit_forest(churn.RandomForestClassifier(random_state=0), table.X, table.y,
                                   spark=spark)         # the same model, its trees grown by executors
    users = churn.spark.to_spark(table, spark)                                      # one row per user
    scored = churn.spark.predict(model, users)          # + churn_probability, churn_prediction

How it works: each executor task aggregates its share of the events into a
:class:`churn.FeatureAccumulator` (the mergeable per-user partial aggregate), which leaves the task as
its ``to_bytes()``; Spark merges them with ``treeReduce`` (on the executors, ``depth`` levels) and
the driver finalises the merged aggregate. Merging is exact, so the table is the one
:func:`churn.user_features` gives on one machine. See docs/distributed.md.
"""
from __future__ import annotations

import os
import pickle
from typing import Any, Dict, Iterator, List, Optional, Sequence

from . import _distributed as _d
from .features import FeatureAccumulator, FeatureTable
from ._errors import parameter_error

__all__ = ["accumulate", "cross_validate", "fit", "fit_forest", "predict", "to_spark", "user_features"]


def _session(spark: Any):
    if spark is not None:
        return spark
    from pyspark.sql import SparkSession

    return SparkSession.getActiveSession() or SparkSession.builder.getOrCreate()


def _is_dataframe(data: Any) -> bool:
    from pyspark.sql import DataFrame

    if isinstance(data, DataFrame):
        return True
    try:  # Spark Connect's DataFrame is another class
        from pyspark.sql.connect.dataframe import DataFrame as ConnectFrame
    except ImportError:
        return False
    return isinstance(data, ConnectFrame)


def _local_paths(paths: Sequence[str]) -> bool:
    """Paths the driver can open itself (then the driver plans pieces; executors must see the same
    files, e.g. on a shared file system). URIs such as hdfs:// or s3a:// are read by Spark."""
    return all(("://" not in p or p.startswith("file://")) and os.path.exists(p.replace("file://", "", 1))
               for p in paths)


def _merge2(a: _d.Partial, b: _d.Partial) -> _d.Partial:
    return _d.merge_partials([a, b])


def _lines_partition(batches: Iterator[Any], column: str, file_column: Optional[str], session_gap_minutes: float,
                     strict: bool) -> Iterator[Any]:
    """mapInPandas body: the JSON lines of one Spark partition -> one row holding its partial aggregate."""
    import pandas as pd
    from pyspark import TaskContext

    context = TaskContext.get()
    partition = context.partitionId() if context is not None else 0
    acc = FeatureAccumulator(session_gap_minutes)
    reports: List[Dict[str, Any]] = []
    lines_before: Dict[str, int] = {}  # per source: Spark may pack several small files in one partition
    default = f"<spark partition {partition}>"
    step = 0
    for pdf in batches:
        if pdf.empty:
            continue
        if file_column is None:
            runs = [(default, pdf[column])]
        else:
            files = pdf[file_column]
            starts = [0] + [i for i in range(1, len(files)) if files.iloc[i] != files.iloc[i - 1]] + [len(files)]
            runs = [(f"{files.iloc[a]} (spark partition {partition})", pdf[column].iloc[a:b])
                    for a, b in zip(starts, starts[1:])]
        for source, lines in runs:
            data = "\n".join(lines.fillna("").tolist()).encode()
            report = acc._acc.add_jsonl(data, strict, source, lines_before.get(source, 0))
            reports.append(((source, step), report))
            lines_before[source] = lines_before.get(source, 0) + len(lines)
            step += 1
    yield pd.DataFrame({"partial": [pickle.dumps((acc.to_bytes(), reports), protocol=pickle.HIGHEST_PROTOCOL)]})


def _partials_rdd(data: Any, spark: Any, session_gap_minutes: float, strict: bool, blocksize: int):
    """An RDD of partial aggregates, one per piece of `data`."""
    from pyspark.sql import functions as F

    if not _is_dataframe(data):
        paths = [os.fsdecode(p) for p in ([data] if isinstance(data, (str, bytes, os.PathLike)) else data)]
        if not paths:
            raise parameter_error("data", "[]", "paths or a Spark DataFrame")
        if _local_paths(paths):
            pieces = _d.plan_pieces([p.replace("file://", "", 1) for p in paths], blocksize)
            sc = spark.sparkContext
            return sc.parallelize(pieces, len(pieces)).map(
                lambda piece: _d.accumulate_piece(piece, session_gap_minutes, strict))
        data = spark.read.text(paths).select("value", F.input_file_name().alias("_churn_file"))
        column, file_column = "value", "_churn_file"
    else:
        string_columns = [f.name for f in data.schema.fields if f.dataType.typeName() == "string"]
        if len(data.columns) == 1 and string_columns:
            column, file_column = data.columns[0], None  # JSON lines, e.g. spark.read.text(...)
        else:
            # Events, e.g. spark.read.json(...): Spark writes each row back as a JSON line (types kept,
            # nulls left out, which the reader takes as missing).
            data = data.select(F.to_json(F.struct(*[F.col(c) for c in data.columns])).alias("value"))
            column, file_column = "value", None

    def run(batches):
        return _lines_partition(batches, column, file_column, session_gap_minutes, strict)

    return data.mapInPandas(run, schema="partial binary").rdd.map(lambda row: pickle.loads(row[0]))


def _merged(data: Any, spark: Any, session_gap_minutes: float, strict: bool, blocksize: int, depth: int) -> _d.Partial:
    spark = _session(spark)
    rdd = _partials_rdd(data, spark, session_gap_minutes, strict, blocksize)
    try:
        return rdd.treeReduce(_merge2, depth=depth)
    except ValueError as e:
        if "empty" in str(e).lower():
            raise _d._churn.DataError("no input partitions: nothing to aggregate") from None
        raise
    except Exception as e:  # a task's churn error arrives wrapped in a Py4J/Spark exception
        raise _unwrap(e) from None


def _unwrap(e: Exception) -> Exception:
    """The churn error a Spark task raised, rebuilt from the Python traceback Spark passes on."""
    import re

    text = str(e)
    m = re.search(r"churn\._churn\.ParseError: parse error in (.+?) at line (\d+)(?:, field '([^']*)')?: ([^\n]*)", text)
    if m:
        try:  # the C++ error, with its message and attributes
            _d._churn._throw_parse_error(m.group(1), int(m.group(2)), m.group(3) or "", m.group(4))
        except _d._churn.ParseError as parsed:
            return parsed
    for name in ("ChurnIOError", "DataError", "ParameterError", "ChurnError"):
        m = re.search(rf"churn\._churn\.{name}: ([^\n]*)", text)
        if m:
            return getattr(_d._churn, name)(m.group(1))
    return e


def accumulate(data: Any, spark: Any = None, *, session_gap_minutes: float = 30.0, strict: bool = True,
               blocksize: int = _d.DEFAULT_BLOCKSIZE, depth: int = 2) -> FeatureAccumulator:
    """The merged :class:`churn.FeatureAccumulator` of `data` (see :func:`user_features`)."""
    partial = _merged(data, spark, float(session_gap_minutes), bool(strict), int(blocksize), int(depth))
    return FeatureAccumulator.from_bytes(partial[0])


def user_features(data: Any, spark: Any = None, *, blocksize: int = _d.DEFAULT_BLOCKSIZE, depth: int = 2,
                  **options: Any) -> FeatureTable:
    """Per-user features of event logs, aggregated in Spark executors: the table churn.user_features
    gives on one machine.

    data: a path or list of paths (files or directories of *.json[l][.gz]; local paths are planned
        by the driver into pieces of `blocksize` bytes and must be visible to every executor at the
        same path; URIs such as hdfs://... or s3a://... are read with ``spark.read.text``); or a Spark
        DataFrame of events (``spark.read.json(...)``, one column per field) or of JSON lines (one
        string column, e.g. ``spark.read.text(...)``).
    spark: the SparkSession (None: the active one, or a new local one).
    depth: depth of the treeReduce that merges the partial aggregates.
    options: those of :func:`churn.user_features` (label, cutoff, horizon_days, session_gap_minutes,
        strict, and for a snapshot table cutoffs or every_days with min_history_days; ``threads`` and
        ``progress`` are ignored: Spark schedules the tasks and shows them in its UI).

    Raises ParseError naming the file (for paths; a Spark partition otherwise) and the line.
    """
    o = _d.check_options(options)
    partial = _merged(data, spark, o["session_gap_minutes"], o["strict"], int(blocksize), int(depth))
    return _d.finalize(partial, o["label"], o["cutoff"], o["horizon_days"], **o["snapshots"])


def to_spark(table: FeatureTable, spark: Any = None, decode: bool = False):
    """The feature table as a Spark DataFrame: ``user_id``, one column per feature, ``churned``."""
    return _session(spark).createDataFrame(table.to_pandas(decode=decode).reset_index())


def _model_payload(model: Any) -> bytes:
    from . import _churn

    forest = getattr(_churn, "ForestModel", None)
    if forest is not None and isinstance(model, forest):
        return pickle.dumps(("forest-json", model.dumps()))
    return pickle.dumps(("pickle", pickle.dumps(model)))


def _load_payload(payload: bytes) -> Any:
    kind, data = pickle.loads(payload)
    if kind == "forest-json":
        from ._churn import ForestModel

        return ForestModel.loads(data)
    return pickle.loads(data)


def _feature_names(model: Any, features: Optional[Sequence[str]]) -> List[str]:
    if features is not None:
        return list(features)
    for attr in ("feature_names", "feature_names_in_", "feature_names_"):
        names = getattr(model, attr, None)
        if names is not None and len(names):
            return [str(n) for n in names]
    raise parameter_error("features", "None", "the model's feature columns, in training order; "
                          "this model does not record its feature names")


def predict(model: Any, df: Any, features: Optional[Sequence[str]] = None, *,
            probability_col: str = "churn_probability", prediction_col: str = "churn_prediction",
            threshold: Optional[float] = None):
    """Scores a Spark DataFrame of users (one column per feature, e.g. :func:`to_spark`'s) with a
    trained model, in the executors: the DataFrame plus P(churn) and the 0/1 prediction
    (P > threshold; default: the model's ``threshold``, else 0.5). The model travels once per
    executor (a broadcast); any model with ``predict_proba`` works (a churn forest, scikit-learn's).
    The probabilities are those ``model.predict_proba`` gives locally for the same rows."""
    from pyspark.sql.types import DoubleType, IntegerType, StructField, StructType

    names = _feature_names(model, features)
    missing = [n for n in names if n not in df.columns]
    if missing:
        raise _d._churn.DataError(f"the DataFrame lacks the model's feature column(s) {', '.join(missing)}")
    cut = float(threshold if threshold is not None else getattr(model, "threshold", 0.5) or 0.5)
    payload = df.sparkSession.sparkContext.broadcast(_model_payload(model))

    def score(batches):
        import numpy as np

        m = _load_payload(payload.value)
        for pdf in batches:
            X = np.ascontiguousarray(pdf[names].to_numpy(dtype=np.float64))
            p = np.asarray(m.predict_proba(X), dtype=np.float64) if len(pdf) else np.zeros(0)
            if p.ndim == 2:
                p = p[:, 1]
            pdf[probability_col] = p
            pdf[prediction_col] = (p > cut).astype(np.int32)
            yield pdf

    schema = StructType(df.schema.fields + [StructField(probability_col, DoubleType(), False),
                                            StructField(prediction_col, IntegerType(), False)])
    return df.mapInPandas(score, schema=schema)


def _run_fits(spark: Any):
    def run(estimator: Any, jobs: Sequence[Any]) -> List[Any]:
        sc = _session(spark).sparkContext
        shared = sc.broadcast((estimator, list(jobs)))
        try:
            return sc.parallelize(range(len(jobs)), len(jobs)).map(
                lambda i: _d.fit_clone(shared.value[0], *shared.value[1][i])).collect()
        finally:
            shared.unpersist()

    return run


def _run_cv_tasks(spark: Any):
    def run(estimator: Any, X, y, tasks: Sequence[Any]) -> List[Any]:
        sc = _session(spark).sparkContext
        shared = sc.broadcast((estimator, X, y, list(tasks)))  # X and y once per executor

        def fit_predict(i: int) -> Any:
            from .evaluation import fit_predict as one

            est, X_, y_, all_tasks = shared.value
            return one(est, X_, y_, all_tasks[i])

        try:
            return sc.parallelize(range(len(tasks)), len(tasks)).map(fit_predict).collect()
        finally:
            shared.unpersist()

    return run


def cross_validate(estimator: Any, X, y, spark: Any = None, **options: Any) -> Dict[str, Any]:
    """:func:`churn.cross_validate` with every model fit (outer and inner folds) run as a Spark task,
    all at once; identical to the local result for the same arguments (see churn.dask.cross_validate)."""
    return _d.fanout_cross_validate(estimator, X, y, _run_cv_tasks(spark), **options)


def fit(estimator: Any, X, y, spark: Any = None) -> Any:
    """A copy of `estimator` fitted on (X, y) by one Spark task: the model a local ``fit`` gives."""
    return _run_fits(spark)(estimator, [(X, y)])[0]


def fit_forest(estimator: Any, X, y, spark: Any = None, n_tasks: Optional[int] = None, sample_weight=None) -> Any:
    """A copy of the churn.RandomForestClassifier `estimator` fitted on (X, y) with its trees grown by
    `n_tasks` Spark tasks (default: ``defaultParallelism``), each a contiguous range of trees; the
    driver joins the ranges. X, y (and sample_weight) travel to the executors once, as a broadcast.
    The model equals ``estimator.fit(X, y)`` on one machine bit for bit (see churn.dask.fit_forest).
    Raises TypeError for other estimators (use :func:`fit`)."""
    job = _d.ForestFit(estimator, X, y, sample_weight)
    sc = _session(spark).sparkContext
    ranges = job.ranges(n_tasks if n_tasks is not None else sc.defaultParallelism)
    shared = sc.broadcast((job.data, job.spec))
    try:
        parts = sc.parallelize(ranges, len(ranges)).map(
            lambda r: _d.fit_tree_range(shared.value[0], shared.value[1], r[0], r[1])).collect()
    except Exception as e:  # a task's churn error arrives wrapped in a Py4J/Spark exception
        error = _unwrap(e)
        if error is e:
            raise
        raise error from None
    finally:
        shared.unpersist()
    return job.combine(parts)
