#!/usr/bin/env python3
"""The quality bar of issue 6, written up in docs/results.md: how good churn's models are, beside
scikit-learn's forest and the seed's own PySpark pipeline, on simulated logs of the mini and full size.

    PYTHONPATH=$PWD/build-x/python:$PWD/python .venv/bin/python bench/bench_results.py \
        [--full /tmp/full.json.gz] [--quick] [--json /tmp/churn_results/results.json]

For each log (a) the mini size (225 users, 60 days, seed 0) and (b) the full size (22,000 users at the
start, 60 days; --full PATH reuses a log, else one is simulated into --workdir, gzipped, and kept there
for reruns; --quick uses 2,000 users instead so that the whole script runs in minutes):

1. churn's features, one streaming pass, finalised under window labels (the default: events before
   the cutoff, label = cancels within the horizon) and history labels (the leaky Sparkify-notebook set-up).
2. For each labelling, the 5-fold stratified comparison of `churn.training.compare_models`: churn's
   forest, logistic regression, always-majority and scikit-learn's RandomForestClassifier with the same
   settings, on identical folds, the F1 threshold tuned inside each training fold. F1, precision,
   recall, ROC AUC, PR AUC (average precision): mean and std over folds; wall time per model. F1 at
   the fixed threshold 0.5 is computed too, from the out-of-fold probabilities.
3. The seed's pipeline on the window labels: per-user features computed with PySpark DataFrames
   (groupBy session, then user: counts per page, songs, sessions, active days, tenure, level, rates)
   with the cutoff and horizon churn resolved, labels checked user for user against churn's, then
   Spark ML's RandomForestClassifier (local[2], numTrees as ours, featureSubsetStrategy sqrt,
   maxDepth 30 = Spark's maximum, minInstancesPerNode 1) on the same 5 folds (Spark's rows are joined to
   churn's fold assignment by userId), its threshold tuned by the same rule through churn.cross_validate.
   churn's forest on Spark's features, same folds, separates the effect of the features from the model.
4. `python -m churn train LOG --model MODEL` on each log, and its withheld-test metrics.

Everything lands in one JSON file (--json) and a Markdown summary on stdout (and --markdown FILE).
The two logs run one after the other, never at the same time (the machine has two shared cores).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
import warnings
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

import churn
from churn import _churn
from churn.training import DEFAULT_FOREST_PARAMS, compare_models

DAY = 86_400_000
SHOWN = ("f1", "precision", "recall", "roc_auc", "average_precision")

# Pages the seed counted per user (Cancel and Cancellation Confirmation never feed a feature: they are the label).
SPARK_PAGES = {
    "thumbs_up": "Thumbs Up", "thumbs_down": "Thumbs Down", "add_to_playlist": "Add to Playlist",
    "add_friend": "Add Friend", "roll_adverts": "Roll Advert", "errors": "Error", "help": "Help",
    "settings": "Settings", "save_settings": "Save Settings", "downgrade_visits": "Downgrade",
    "upgrade_visits": "Upgrade", "upgrades": "Submit Upgrade", "downgrades": "Submit Downgrade",
    "home": "Home", "logout": "Logout", "about": "About",
}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---- logs ------------------------------------------------------------------------------------------

def ensure_log(path: str, users: int, days: int, seed: int, gzip_level: int) -> Dict[str, Any]:
    """Simulates the log unless it exists already (the simulator is deterministic: same arguments, same bytes)."""
    if os.path.exists(path):
        log(f"reusing {path} ({os.path.getsize(path) / 1e9:.2f} GB)")
        return {"path": path, "simulated_now": False, "bytes": os.path.getsize(path)}
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    log(f"simulating {users} users, {days} days, seed {seed} into {path}")
    t0 = time.perf_counter()
    partial = path + ".partial" + os.path.splitext(path)[1]
    summary = churn.simulate(partial, users=users, days=days, seed=seed, gzip_level=gzip_level,
                             behaviour="eventsim")  # the figures in docs/results.md were measured on it
    os.replace(partial, path)
    seconds = time.perf_counter() - t0
    log(str(summary).replace(partial, path) + f" in {seconds:.0f} s")
    return {"path": path, "simulated_now": True, "seconds": seconds, "bytes": summary.bytes,
            "text_bytes": summary.text_bytes, "events": summary.events, "users": summary.users,
            "churned": summary.churned, "args": {"users": users, "days": days, "seed": seed}}


# ---- churn's comparison ----------------------------------------------------------------------------

def f1_at(y: np.ndarray, proba: np.ndarray, folds, threshold: float = 0.5) -> Dict[str, Any]:
    """Per-fold F1 of p >= threshold on the test folds: the fixed-threshold figure Spark users quote."""
    per_fold = [float(churn.metrics.f1_score(y[test], (proba[test] >= threshold).astype(np.int64), zero_division=0))
                for _, test in folds]
    return {"mean": float(np.mean(per_fold)), "std": float(np.std(per_fold)), "folds": per_fold}


def comparison(table, seed: int, params: Dict[str, Any]) -> Dict[str, Any]:
    X, y = np.ascontiguousarray(table.X, dtype=np.float64), np.asarray(table.y, dtype=np.int64)
    log(f"{table.label} labels: {len(y)} users, {int(y.sum())} churned; 5-fold comparison")
    report = compare_models(X, y, forest_params=params, n_splits=5, seed=seed, threads=None,
                            sklearn_reference=True, log=lambda m: log("  " + m))
    folds = _churn.stratified_kfold(y, n_splits=5, shuffle=True, seed=seed)
    for name, summary in report["models"].items():
        summary["f1_at_0.5"] = f1_at(y, report["oof_proba"][name], folds)
    del report["oof_proba"]
    report.update(users=int(len(y)), churned=int(y.sum()), features=int(X.shape[1]), label=table.label,
                  cutoff=None if table.cutoff_ms is None else table.cutoff.strftime("%Y-%m-%d"),
                  horizon_days=table.horizon_days)
    return report


# ---- the seed's pipeline: PySpark features, Spark ML forest ---------------------------------------

def spark_session(driver_memory: str):
    from pyspark.sql import SparkSession

    # pyspark warns at every pandas conversion that pandas 3 is not fully supported; the conversions used
    # here (numeric columns) are checked: the labels are compared user for user with churn's.
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)

    spark = (SparkSession.builder.master("local[2]").appName("churn-results")
             .config("spark.driver.memory", driver_memory).config("spark.ui.enabled", "false")
             .config("spark.sql.shuffle.partitions", "8")
             .config("spark.sql.execution.arrow.pyspark.enabled", "true")
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def spark_features(spark, path: str, cutoff_ms: int, horizon_days: float):
    """Per-user features and window labels with PySpark DataFrames, the seed's way (groupBy and agg).

    One read of the log: aggregated per (user, session) first, then per user, so that per-session
    figures (session length) and per-user ones come from the same pass. Features use events before the
    cutoff only; the label is 1 when the first Cancellation Confirmation falls in [cutoff, cutoff +
    horizon); users who cancelled before the cutoff, or have no event before it, are left out (churn's
    window rules, docs/features.md)."""
    import pyspark.sql.functions as F
    import pyspark.sql.types as T

    schema = T.StructType([T.StructField(n, t) for n, t in (
        ("ts", T.LongType()), ("userId", T.StringType()), ("sessionId", T.LongType()), ("page", T.StringType()),
        ("auth", T.StringType()), ("level", T.StringType()), ("registration", T.DoubleType()),
        ("gender", T.StringType()), ("artist", T.StringType()), ("length", T.DoubleType()))])
    horizon_end = cutoff_ms + int(round(horizon_days * DAY))
    ev = spark.read.schema(schema).json(path).where(F.col("userId").isNotNull() & (F.col("userId") != ""))
    pre = ((F.col("ts") < cutoff_ms) & ~F.col("page").isin("Cancel", "Cancellation Confirmation")
           & (F.col("auth").isNull() | (F.col("auth") != "Cancelled")))
    song = pre & (F.col("page") == "NextSong")

    def count(cond):
        return F.sum(F.when(cond, 1).otherwise(0))

    per_session = ev.groupBy("userId", "sessionId").agg(
        count(pre).alias("events"), count(song).alias("songs"),
        *[count(pre & (F.col("page") == p)).alias(k) for k, p in SPARK_PAGES.items()],
        count(pre & (F.col("level") == "paid")).alias("paid_events"),
        F.sum(F.when(song, F.col("length"))).alias("listen_s"),
        F.min(F.when(pre, F.col("ts"))).alias("first_ts"), F.max(F.when(pre, F.col("ts"))).alias("last_ts"),
        F.collect_set(F.when(pre, F.floor(F.col("ts") / DAY))).alias("days"),
        F.collect_set(F.when(song, F.col("artist"))).alias("artists"),
        F.max(F.when(pre, F.struct("ts", "level"))).alias("last_level"),
        F.min(F.when(pre, F.col("registration"))).alias("registration"),
        F.min(F.when(pre, F.col("gender"))).alias("gender"),
        F.min(F.when(F.col("page") == "Cancellation Confirmation", F.col("ts"))).alias("cancel_ts"),
    )
    sums = ["events", "songs", *SPARK_PAGES, "paid_events"]
    users = per_session.groupBy("userId").agg(
        *[F.sum(c).alias(c) for c in sums],
        F.sum(F.coalesce(F.col("listen_s"), F.lit(0.0))).alias("listen_s"),
        F.sum(F.when(F.col("events") > 0, 1).otherwise(0)).alias("sessions"),
        F.avg(F.when(F.col("events") > 0, (F.col("last_ts") - F.col("first_ts")) / 60000.0)).alias("mean_session_minutes"),
        F.min("first_ts").alias("first_ts"), F.max("last_ts").alias("last_ts"),
        F.size(F.array_distinct(F.flatten(F.collect_list("days")))).alias("active_days"),
        F.size(F.array_distinct(F.flatten(F.collect_list("artists")))).alias("distinct_artists"),
        F.max("last_level").alias("last_level"), F.min("registration").alias("registration"),
        F.min("gender").alias("gender"), F.min("cancel_ts").alias("cancel_ts"),
    ).where((F.col("events") > 0) & (F.col("cancel_ts").isNull() | (F.col("cancel_ts") >= cutoff_ms)))

    def rate(a, b):
        return F.when(F.col(b) > 0, F.col(a) / F.col(b)).otherwise(0.0)

    start = F.coalesce(F.col("registration"), F.col("first_ts").cast("double"))
    features = users.select(
        "userId",
        *[F.col(c).cast("double").alias(c) for c in ("events", "songs", "sessions", "active_days", "distinct_artists",
                                                      *SPARK_PAGES)],
        (F.col("listen_s") / 3600.0).alias("listening_hours"),
        F.coalesce(F.col("mean_session_minutes"), F.lit(0.0)).alias("mean_session_minutes"),
        rate("songs", "sessions").alias("songs_per_session"),
        rate("events", "sessions").alias("events_per_session"),
        rate("songs", "active_days").alias("songs_per_active_day"),
        *[rate(k, "songs").alias(f"{k}_per_song") for k in ("thumbs_up", "thumbs_down", "add_to_playlist",
                                                          "add_friend", "roll_adverts")],
        rate("paid_events", "events").alias("paid_share"),
        (F.col("last_level.level") == "paid").cast("double").alias("level_paid"),
        (F.col("gender") == "F").cast("double").alias("gender_female"),
        (F.greatest(F.lit(0.0), cutoff_ms - start) / DAY).alias("tenure_days"),
        ((cutoff_ms - F.col("last_ts")) / DAY).alias("days_since_last_event"),
        ((F.col("cancel_ts").isNotNull() & (F.col("cancel_ts") < horizon_end)).cast("int")).alias("churned"),
    )
    return features


class SparkForest:
    """Spark ML's RandomForestClassifier behind fit/predict_proba, so that churn.cross_validate runs it
    on churn's folds with churn's threshold rule. Rows go to Spark as a DataFrame and the trees are
    grown by Spark (local[2]); the session is the active one (not a parameter: clones must not copy it)."""

    def __init__(self, num_trees: int = 300, max_depth: int = 30, feature_subset_strategy: str = "sqrt",
                 min_instances_per_node: int = 1, seed: int = 0):
        self.num_trees = num_trees
        self.max_depth = max_depth
        self.feature_subset_strategy = feature_subset_strategy
        self.min_instances_per_node = min_instances_per_node
        self.seed = seed

    def get_params(self, deep: bool = True) -> Dict[str, Any]:
        return {"num_trees": self.num_trees, "max_depth": self.max_depth,
                "feature_subset_strategy": self.feature_subset_strategy,
                "min_instances_per_node": self.min_instances_per_node, "seed": self.seed}

    def set_params(self, **params: Any) -> "SparkForest":
        for k, v in params.items():
            setattr(self, k, v)
        return self

    @staticmethod
    def _frame(X: np.ndarray, y: Optional[np.ndarray] = None):
        import pandas as pd
        from pyspark.ml.feature import VectorAssembler
        from pyspark.sql import SparkSession

        spark = SparkSession.getActiveSession()
        names = [f"f{j}" for j in range(X.shape[1])]
        pdf = pd.DataFrame(np.asarray(X, dtype=np.float64), columns=names)
        pdf["row"] = np.arange(len(pdf))
        if y is not None:
            pdf["label"] = np.asarray(y, dtype=np.float64)
        return VectorAssembler(inputCols=names, outputCol="features").transform(spark.createDataFrame(pdf))

    def fit(self, X, y) -> "SparkForest":
        from pyspark.ml.classification import RandomForestClassifier

        rf = RandomForestClassifier(numTrees=self.num_trees, maxDepth=self.max_depth,
                                    featureSubsetStrategy=self.feature_subset_strategy,
                                    minInstancesPerNode=self.min_instances_per_node, seed=self.seed,
                                    cacheNodeIds=True, labelCol="label", featuresCol="features")
        self.model_ = rf.fit(self._frame(X, y))
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X) -> np.ndarray:
        from pyspark.ml.functions import vector_to_array

        out = (self.model_.transform(self._frame(X))
               .select("row", vector_to_array("probability")[1].alias("p")).toPandas().sort_values("row"))
        p = out["p"].to_numpy(dtype=np.float64)
        return np.column_stack([1.0 - p, p])


def summarise_cv(result: Dict[str, Any]) -> Dict[str, Any]:
    metrics = {}
    for name in ("f1", "precision", "recall", "accuracy", "roc_auc", "average_precision"):
        per_fold = [float(f["tuned"][name]) for f in result["folds"]]
        metrics[name] = {"mean": float(np.mean(per_fold)), "std": float(np.std(per_fold)), "folds": per_fold}
    at_half = [float(f["at_default"]["f1"]) for f in result["folds"]]
    thresholds = [float(f["threshold"]) for f in result["folds"]]
    return {"metrics": metrics, "f1_at_0.5": {"mean": float(np.mean(at_half)), "std": float(np.std(at_half)),
                                               "folds": at_half},
            "threshold": {"mean": float(np.mean(thresholds)), "folds": thresholds}}


def spark_pipeline(path: str, window, seed: int, params: Dict[str, Any], driver_memory: str,
                   inner_splits: int) -> Dict[str, Any]:
    """Features with PySpark on churn's cutoff/horizon, labels checked against churn's, Spark ML's
    forest and churn's forest on those features, both on churn's folds (joined by userId)."""
    import pandas as pd

    out: Dict[str, Any] = {}
    t0 = time.perf_counter()
    spark = spark_session(driver_memory)
    out["startup_seconds"] = time.perf_counter() - t0
    try:
        t0 = time.perf_counter()
        pdf = spark_features(spark, path, window.cutoff_ms, window.horizon_days).toPandas().set_index("userId")
        out["features_seconds"] = time.perf_counter() - t0
        feature_names = [c for c in pdf.columns if c != "churned"]
        log(f"Spark features: {len(pdf)} users x {len(feature_names)} features in {out['features_seconds']:.0f} s")

        # Join on userId: Spark's rows in churn's row order, so that churn's folds index both.
        ids = pd.Index(window.user_ids, name="userId")
        missing, extra = ids.difference(pdf.index), pdf.index.difference(ids)
        aligned = pdf.reindex(ids)
        y = np.asarray(window.y, dtype=np.int64)
        common = ~aligned["churned"].isna().to_numpy()
        label_mismatch = int((aligned["churned"].to_numpy()[common] != y[common]).sum())
        out.update(users=int(len(pdf)), features=feature_names, users_only_in_churn=int(len(missing)),
                   users_only_in_spark=int(len(extra)), label_mismatches=label_mismatch,
                   churned=int(pdf["churned"].sum()))
        if len(missing) or len(extra) or label_mismatch:
            log(f"WARNING: Spark and churn disagree: {len(missing)} users only in churn, {len(extra)} only in "
                f"Spark, {label_mismatch} labels differ; evaluating on churn's users (missing rows as zeros)")
        Xs = np.ascontiguousarray(aligned[feature_names].fillna(0.0).to_numpy(dtype=np.float64))
        folds = _churn.stratified_kfold(y, n_splits=5, shuffle=True, seed=seed)

        log(f"Spark ML forest ({params['n_estimators']} trees, maxDepth 30, sqrt), 5 folds, "
            f"{inner_splits}-fold threshold tuning inside each")
        t0 = time.perf_counter()
        sf = SparkForest(num_trees=int(params["n_estimators"]), seed=seed)
        res = churn.cross_validate(sf, Xs, y, folds=folds, seed=seed, inner_splits=inner_splits)
        out["spark_random_forest"] = {**summarise_cv(res), "seconds": time.perf_counter() - t0,
                                      "fits": 5 * (inner_splits + 1), "threshold_rule":
                                      "tuned inside each training fold" if inner_splits else "0.5"}
        log(f"  done in {out['spark_random_forest']['seconds']:.0f} s")
    finally:
        spark.stop()

    log("churn's forest on Spark's features, same folds")
    t0 = time.perf_counter()
    forest = churn.RandomForestClassifier(**{**params, "random_state": seed, "n_jobs": -1})
    res = churn.cross_validate(forest, Xs, y, folds=folds, seed=seed)
    out["churn_forest_on_spark_features"] = {**summarise_cv(res), "seconds": time.perf_counter() - t0}
    return out


# ---- churn train -----------------------------------------------------------------------------------

def churn_train(path: str, model_path: str) -> Dict[str, Any]:
    cmd = [sys.executable, "-m", "churn", "train", path, "--model", model_path]
    log("running " + " ".join(cmd))
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"churn train failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    with open(model_path) as f:
        meta = json.load(f)["metadata"]
    test = meta["test"]
    return {"command": "python -m churn train LOG --model MODEL", "seconds": seconds, "stdout": proc.stdout,
            "threshold": meta["threshold"], "test_metrics": test["metrics"],
            "confusion_matrix": test["confusion_matrix"], "data": {k: v for k, v in meta["data"].items()
                                                                   if k != "sha256"},
            "labels": meta["labels"], "params": meta["params"], "timings": meta.get("timings_seconds"),
            "cv_forest": {m: v["mean"] for m, v in meta["cv"]["models"]["random_forest"]["metrics"].items()}}


# ---- one log ---------------------------------------------------------------------------------------

def run_log(name: str, path: str, args, params: Dict[str, Any], out: Dict[str, Any], save) -> None:
    """Fills ``out`` stage by stage, calling ``save()`` after each (a late failure keeps the earlier stages)."""
    out.update(name=name, path=path, bytes=os.path.getsize(path))
    t0 = time.perf_counter()
    acc = churn.FeatureAccumulator()
    acc.add_files(path)
    out["features_seconds"] = time.perf_counter() - t0
    tables = {"window": acc.finalize("window"), "history": acc.finalize("history")}
    del acc
    out["events"] = int(tables["window"].report.events)
    out["users_seen"] = int(tables["window"].report.users_seen)
    log(f"{name}: {out['events']:,} events, {out['users_seen']:,} users; features in {out['features_seconds']:.0f} s")
    out["comparison"] = {}
    for label, t in tables.items():
        out["comparison"][label] = comparison(t, args.seed, params)
        save()
    if not args.skip_spark:
        inner = args.spark_inner_splits
        if inner is None:
            inner = 3 if len(tables["window"]) < 5000 else 0
        out["spark"] = spark_pipeline(path, tables["window"], args.seed, params, args.spark_memory, inner)
        save()
    if not args.skip_train:
        out["train"] = churn_train(path, os.path.join(args.workdir, f"model-{name}.json"))
        save()


# ---- report ----------------------------------------------------------------------------------------

def cell(m: Dict[str, Any]) -> str:
    return f"{m['mean']:.3f} ± {m['std']:.3f}"


def markdown(results: Dict[str, Any]) -> str:
    lines: List[str] = []
    for run in results["logs"]:
        lines.append(f"### {run['name']}: {run['users_seen']:,} users, {run['events']:,} events, "
                     f"{run['bytes'] / 1e9:.2f} GB ({os.path.basename(run['path'])})\n")
        lines.append(f"churn features (one pass, both labellings): {run['features_seconds']:.1f} s\n")
        for label, comp in run.get("comparison", {}).items():
            where = f"cutoff {comp['cutoff']}, horizon {comp['horizon_days']:g} days" if comp["cutoff"] else "all events"
            lines.append(f"**{label} labels** ({where}): {comp['users']:,} users, {comp['churned']:,} churned "
                         f"({comp['churned'] / comp['users']:.1%}), {comp['features']} features\n")
            lines.append("| model | F1 | precision | recall | ROC AUC | PR AUC | F1 at 0.5 | seconds |")
            lines.append("|---|---|---|---|---|---|---|---:|")
            for model, s in comp["models"].items():
                lines.append(f"| {model} | " + " | ".join(cell(s["metrics"][m]) for m in SHOWN)
                             + f" | {cell(s['f1_at_0.5'])} | {s['seconds']:.1f} |")
            lines.append("")
        sp = run.get("spark")
        if sp:
            lines.append(f"**Seed pipeline (PySpark features, window labels)**: {sp['users']:,} users, "
                         f"{len(sp['features'])} features, label mismatches with churn {sp['label_mismatches']}, "
                         f"users only in churn {sp['users_only_in_churn']}, only in Spark {sp['users_only_in_spark']}; "
                         f"Spark start {sp['startup_seconds']:.0f} s, features {sp['features_seconds']:.0f} s; Spark's "
                f"threshold: {sp['spark_random_forest']['threshold_rule']} ({sp['spark_random_forest']['fits']} fits)\n")
            lines.append("| model | F1 | precision | recall | ROC AUC | PR AUC | F1 at 0.5 | seconds |")
            lines.append("|---|---|---|---|---|---|---|---:|")
            for model in ("spark_random_forest", "churn_forest_on_spark_features"):
                s = sp[model]
                lines.append(f"| {model} | " + " | ".join(cell(s["metrics"][m]) for m in SHOWN)
                             + f" | {cell(s['f1_at_0.5'])} | {s['seconds']:.1f} |")
            lines.append("")
        tr = run.get("train")
        if tr:
            m = tr["test_metrics"]
            lines.append(f"**churn train** ({tr['seconds']:.0f} s; {tr['data']['rows_train']:,} training and "
                         f"{tr['data']['rows_test']:,} withheld users; threshold {tr['threshold']:.3f}): withheld test "
                         f"F1 {m['f1']:.3f}, precision {m['precision']:.3f}, recall {m['recall']:.3f}, "
                         f"ROC AUC {m['roc_auc']:.3f}, PR AUC {m['average_precision']:.3f}; "
                         f"confusion matrix {tr['confusion_matrix']}\n")
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--full", help="an existing full-size log (default: simulate one into --workdir)")
    ap.add_argument("--quick", action="store_true", help="2,000 users instead of the full size (a smoke test)")
    ap.add_argument("--full-users", type=int, default=22000, help="users at the start of the full log (22,000)")
    ap.add_argument("--only", choices=("mini", "full"), help="run one log only")
    ap.add_argument("--workdir", default="/tmp/churn_results", help="logs, models (never inside the repository)")
    ap.add_argument("--seed", type=int, default=0, help="folds and models (the logs use seed 0)")
    ap.add_argument("--gzip-level", type=int, default=1, help="gzip level of simulated logs (1: fast)")
    ap.add_argument("--skip-spark", action="store_true")
    ap.add_argument("--skip-train", action="store_true")
    ap.add_argument("--spark-inner-splits", type=int, default=None,
                    help="inner folds for Spark's F1 threshold, as churn's (0: F1 at 0.5 only, 4x fewer fits); "
                         "default 3 below 5,000 users, 0 above (Spark's deep forests take minutes per fit there)")
    ap.add_argument("--spark-memory", default="4g", help="Spark driver memory")
    ap.add_argument("--json", default=None, help="results file (default: WORKDIR/results[-quick].json)")
    ap.add_argument("--markdown", default=None, help="also write the Markdown summary here")
    ap.add_argument("--from-json", metavar="JSON", help="only print the Markdown summary of an earlier results file")
    args = ap.parse_args(argv)
    if args.from_json:
        with open(args.from_json) as f:
            print(markdown(json.load(f)))
        return 0

    params = dict(DEFAULT_FOREST_PARAMS)
    started = dt.datetime.now(dt.timezone.utc)
    results: Dict[str, Any] = {
        "started": started.strftime("%Y-%m-%dT%H:%M:%SZ"), "command": " ".join([os.path.basename(sys.argv[0]), *sys.argv[1:]]),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version()},
        "churn_version": churn.__version__, "forest_params": params, "seed": args.seed, "logs": [],
    }
    try:
        import pyspark
        import sklearn
        results["versions"] = {"pyspark": pyspark.__version__, "scikit-learn": sklearn.__version__,
                               "numpy": np.__version__}
    except ImportError:
        pass
    logs = []
    if args.only in (None, "mini"):
        mini = os.path.join(args.workdir, "mini-225u-60d-s0.json.gz")
        results["mini_log"] = ensure_log(mini, 225, 60, 0, args.gzip_level)
        logs.append(("mini", mini))
    if args.only in (None, "full"):
        if args.full:
            full = args.full
        else:
            users = 2000 if args.quick else args.full_users
            full = os.path.join(args.workdir, f"{'quick' if args.quick else 'full'}-{users}u-60d-s0.json.gz")
            results["full_log"] = ensure_log(full, users, 60, 0, args.gzip_level)
        logs.append(("quick" if args.quick and not args.full else "full", full))
    json_path = args.json or os.path.join(args.workdir, f"results{'-quick' if args.quick else ''}.json")

    def save() -> None:
        with open(json_path + ".tmp", "w") as f:
            json.dump(results, f, indent=1)
        os.replace(json_path + ".tmp", json_path)

    for name, path in logs:
        t0 = time.perf_counter()
        results["logs"].append({})
        run_log(name, path, args, params, results["logs"][-1], save)
        results["logs"][-1]["total_seconds"] = time.perf_counter() - t0
        save()
    results["finished"] = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    save()
    text = markdown(results)
    print(text)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text + "\n")
    log(f"results in {json_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
