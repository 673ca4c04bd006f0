"""churn on a Dask cluster: per-user features from logs too big for one machine, and cross-validation
with the model fits as tasks. Imported on demand (``import churn.dask``); ``import churn`` never
imports Dask.

    from dask.distributed import Client
    import churn.dask
    client = Client("scheduler:8786")
    table = churn.dask.user_features("/shared/sparkify/", client=client)       # a churn.FeatureTable
    cv = churn.dask.cross_validate(churn.RandomForestClassifier(random_state=0), table.X, table.y,
                                   client=client)
    model = churn.dask.fit_forest(churn.RandomForestClassifier(n_estimators=500, random_state=0),
                                  table.X, table.y, client=client)          # trees grown as tasks

How it works: every piece of the input (a slice of a plain file cut at line boundaries, a whole gzip
file, a partition of a Dask bag or dataframe) is aggregated by one task into a
:class:`churn.FeatureAccumulator` (the mergeable per-user partial aggregate; it travels as its
``to_bytes()``), the partial aggregates are merged by a tree of tasks (``split_every`` at a time),
and the client finalises the merged one. Merging is exact, so the table is the one
:func:`churn.user_features` gives on one machine. See docs/distributed.md.
"""
from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Sequence

import dask
import dask.bag as _db

from . import _distributed as _d
from .features import FeatureAccumulator, FeatureTable
from ._errors import parameter_error

__all__ = ["accumulate", "cross_validate", "fit", "fit_forest", "user_features"]


def _is_dataframe(data: Any) -> bool:
    try:
        import dask.dataframe as dd
    except ImportError:  # dask[dataframe] not installed
        return False
    return isinstance(data, dd.DataFrame)


def _frame_partition(pdf, source: str, session_gap_minutes: float, strict: bool, index: int) -> _d.Partial:
    """A pandas partition of events (one column per field, as pandas.read_json gives), or of JSON
    lines (a single column of strings), aggregated."""
    if len(pdf.columns) == 1 and pdf.dtypes.iloc[0] == object:  # noqa: E721 (a numpy dtype equals object)
        return _d.accumulate_lines(pdf.iloc[:, 0].tolist(), source, session_gap_minutes, strict, (source, index))
    # 15 significant digits keep millisecond timestamps exact where a column became float (nulls).
    text = pdf.to_json(orient="records", lines=True, double_precision=15, date_unit="ms")
    return _d.accumulate_jsonl(text.encode(), source, session_gap_minutes, strict, (source, index))


def _bag_partition(items: List[Any], source: str, session_gap_minutes: float, strict: bool,
                   index: int) -> _d.Partial:
    """A bag partition: JSON lines (str/bytes), events (dicts), or (line, path) pairs from
    ``dask.bag.read_text(..., include_path=True)``, which name the file in errors."""
    if items and isinstance(items[0], tuple) and len(items[0]) == 2:
        source = str(items[0][1])
        items = [line for line, _ in items]
    return _d.accumulate_lines(items, source, session_gap_minutes, strict, (source, index))


def _partials(data: Any, session_gap_minutes: float, strict: bool, blocksize: int) -> List[Any]:
    """One delayed partial aggregate per piece of `data`."""
    if isinstance(data, _db.Bag):
        return [dask.delayed(_bag_partition, pure=True)(part, f"<bag partition {i}>", session_gap_minutes, strict, i)
                for i, part in enumerate(data.to_delayed())]
    if _is_dataframe(data):
        return [dask.delayed(_frame_partition, pure=True)(part, f"<dataframe partition {i}>", session_gap_minutes,
                                                          strict, i)
                for i, part in enumerate(data.to_delayed())]
    if isinstance(data, (str, bytes, os.PathLike)):
        data = [data]
    paths = [os.fsdecode(p) for p in data]
    if not paths:
        raise parameter_error("data", "[]", "paths, a dask bag or a dask dataframe")
    pieces = _d.plan_pieces(paths, blocksize)
    return [dask.delayed(_d.accumulate_piece, pure=True)(p, session_gap_minutes, strict) for p in pieces]


def _merged(data: Any, session_gap_minutes: float, strict: bool, blocksize: int, split_every: int):
    parts = _partials(data, session_gap_minutes, strict, blocksize)
    if not parts:
        raise _d._churn.DataError("no input partitions: nothing to aggregate")
    for level in _d.tree_levels(len(parts), split_every):
        parts = [dask.delayed(_d.merge_partials, pure=True)([parts[i] for i in group]) for group in level]
    return parts[0]


def _compute(obj: Any, client: Any, progress: bool):
    if client is None:
        return dask.compute(obj)[0]
    future = client.compute(obj)
    if progress:
        from distributed import progress as show

        show(future)
    return future.result()


def accumulate(data: Any, client: Any = None, *, session_gap_minutes: float = 30.0, strict: bool = True,
               blocksize: int = _d.DEFAULT_BLOCKSIZE, split_every: int = 8,
               progress: bool = False) -> FeatureAccumulator:
    """The merged :class:`churn.FeatureAccumulator` of `data` (see :func:`user_features`), to finalise
    under several labellings or to merge with more data later."""
    partial = _compute(_merged(data, float(session_gap_minutes), bool(strict), int(blocksize), int(split_every)),
                       client, progress)
    return FeatureAccumulator.from_bytes(partial[0])


def user_features(data: Any, client: Any = None, *, blocksize: int = _d.DEFAULT_BLOCKSIZE, split_every: int = 8,
                  **options: Any) -> FeatureTable:
    """Per-user features of event logs, aggregated on a Dask cluster: the table churn.user_features
    gives on one machine.

    data: a path or list of paths (files or directories of *.json[l][.gz], plain or gzip; every
        worker must see them at the same path, e.g. a shared file system); or a ``dask.bag.Bag`` of
        JSON lines, of event dicts, or of (line, path) pairs (``dask.bag.read_text(paths,
        include_path=True)``); or a ``dask.dataframe.DataFrame`` of events (one column per field,
        e.g. from ``dask.dataframe.read_json(paths, lines=True, dtype=False)``) or of JSON lines (one
        string column).
    client: a ``distributed.Client``; None uses the current Dask scheduler (a default client if one
        exists, else local threads).
    blocksize: plain files are cut into pieces of about this many bytes, one task each.
    split_every: fan-in of the merge tree.
    options: those of :func:`churn.user_features` (label, cutoff, horizon_days, session_gap_minutes,
        strict, and for a snapshot table cutoffs or every_days with min_history_days; ``progress=True``
        shows Dask's progress bar; ``threads`` is ignored: a task is one thread, the cluster supplies the
        parallelism).

    Raises ParseError naming the file (or partition) and the line, as churn.user_features does.
    """
    o = _d.check_options(options)
    partial = _compute(_merged(data, o["session_gap_minutes"], o["strict"], int(blocksize), int(split_every)),
                       client, bool(options.get("progress", False)))
    return _d.finalize(partial, o["label"], o["cutoff"], o["horizon_days"], **o["snapshots"])


def _run_fits(client: Any):
    def run(estimator: Any, jobs: Sequence[Any]) -> List[Any]:
        tasks = [dask.delayed(_d.fit_clone, pure=True)(estimator, X, y) for X, y in jobs]
        if client is None:
            return list(dask.compute(*tasks))
        return client.gather(client.compute(tasks))

    return run


def _run_cv_tasks(client: Any):
    def run(estimator: Any, X, y, tasks: Sequence[Any]) -> List[Any]:
        if client is None:
            data = dask.delayed((X, y), traverse=False)
            return list(dask.compute(*[dask.delayed(_fit_predict, pure=True)(estimator, data, train, test)
                                       for train, test in tasks]))
        # X and y once per worker (not once per task); a key of its own, as in fit_forest.
        [data] = client.scatter([(X, y)], broadcast=True, hash=False)
        futures = [client.submit(_fit_predict, estimator, data, train, test, pure=False) for train, test in tasks]
        return client.gather(futures)

    return run


def _fit_predict(estimator: Any, data: Any, train: Any, test: Any) -> Any:
    from .evaluation import fit_predict

    X, y = data
    return fit_predict(estimator, X, y, (train, test))


def cross_validate(estimator: Any, X, y, client: Any = None, **options: Any) -> Dict[str, Any]:
    """:func:`churn.cross_validate` with every model fit (outer folds and the inner folds that tune the
    threshold) run as a task on the cluster, all at once: the fits of
    :func:`churn.evaluation.plan_cross_validate`, assembled locally by the same code as the local call,
    so the result is identical for the same arguments. The estimator must be picklable and
    deterministic for its random_state. churn's built-in "logistic" and "majority" run locally (all
    C++, already fast)."""
    return _d.fanout_cross_validate(estimator, X, y, _run_cv_tasks(client), **options)


def fit(estimator: Any, X, y, client: Any = None) -> Any:
    """A copy of `estimator` fitted on (X, y) by one task on the cluster (where the memory or the
    cores are), returned to the caller: the model a local ``fit`` gives."""
    return _run_fits(client)(estimator, [(X, y)])[0]


def fit_forest(estimator: Any, X, y, client: Any = None, n_tasks: Optional[int] = None, sample_weight=None) -> Any:
    """A copy of the churn.RandomForestClassifier `estimator` fitted on (X, y) with its trees grown by
    `n_tasks` tasks (default: one per worker thread), each a contiguous range of trees; the client
    joins the ranges. X, y (and sample_weight) are scattered once to every worker. The model equals
    ``estimator.fit(X, y)`` on one machine bit for bit — trees, predictions, importances, OOB
    estimates, saved JSON — because tree t's randomness depends only on (random_state, t); with
    ``random_state=None`` the seed is drawn once, on the client. Each task uses the estimator's
    n_jobs threads. Raises TypeError for other estimators (use :func:`fit`)."""
    job = _d.ForestFit(estimator, X, y, sample_weight)
    if n_tasks is None:
        n_tasks = sum(client.nthreads().values()) if client is not None else (os.cpu_count() or 1)
    ranges = job.ranges(n_tasks)
    if client is None:
        data = dask.delayed(job.data, traverse=False)
        tasks = [dask.delayed(_d.fit_tree_range, pure=True)(data, job.spec, first, count) for first, count in ranges]
        return job.combine(dask.compute(*tasks))
    # Every task needs all of X: one copy per worker (not one per task), so that any worker can take any
    # range. A key of its own (hash=False): a content key could be the one an earlier call is releasing.
    [data] = client.scatter([job.data], broadcast=True, hash=False)
    futures = [client.submit(_d.fit_tree_range, data, job.spec, first, count) for first, count in ranges]
    return job.combine(client.gather(futures))  # the futures (and the scattered data) are released on return
