#!/usr/bin/env python
"""Random forest benchmark: churn against scikit-learn, xgboost, LightGBM, ranger (R) and Spark ML.

Same data, same folds, same number of trees, max_features = floor(sqrt(p)), minimum leaf 1, bootstrap,
unlimited depth where the peer allows it, 2 threads for everyone. Measured per data set and forest size:
training time (median of --repeats runs), batch prediction throughput, single-row predict latency from
Python over distinct rows (p50/p99), model size and node count; and 5-fold stratified ROC AUC, average
precision and F1 at 0.5 (mean +- std over the same folds).

    PYTHONPATH=build-<you>/python:python .venv/bin/python bench/bench_forest.py \
        --observations bench/bench_forest_observations.md                                 # full (30-40 min)
    PYTHONPATH=build-<you>/python:python .venv/bin/python bench/bench_forest.py --quick    # smoke run (~2 min)

The full run rewrites the "## Random forest" section of docs/benchmarks.md (--no-docs to skip).
Peer settings follow docs/benchmarks.md and /work/shared/notes/random-forest-peers.md (section 10).
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import pickle
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable, Dict, List, Tuple

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
THREADS = 2
# The benchmark machine is shared: OpenMP's default spin-waiting (xgboost, LightGBM) collapses when the
# cores are oversubscribed (LightGBM measured 10-25x slower), so threads sleep while they wait.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


# ---- data ----------------------------------------------------------------------------------------
def synthetic(n: int, p: int, seed: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    """make_classification, 80/20 classes, 3% label noise; a quarter of the columns rounded to small
    counts (ties, as churn's count features have)."""
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=n, n_features=p, n_informative=max(4, p // 3), n_redundant=p // 10,
                               weights=[0.8, 0.2], flip_y=0.03, random_state=seed)
    k = p // 4
    X[:, :k] = np.round(np.abs(X[:, :k]) * 3)
    return X, y.astype(np.int64)


def breast_cancer() -> Tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True)
    return X, y.astype(np.int64)


def sparkify_features(users: int, days: int, seed: int) -> Tuple[np.ndarray, np.ndarray]:
    """Per-user features of a simulated Sparkify log (churn.simulate + churn.user_features)."""
    import churn

    tmp = Path(tempfile.mkdtemp(prefix="churn_bench_forest_"))
    try:
        log = tmp / "events.json"
        churn.simulate(str(log), users=users, days=days, seed=seed, behaviour="eventsim")
        table = churn.user_features(str(log))
        X = np.ascontiguousarray(table.X, dtype=np.float64)
        y = np.asarray(table.y).astype(np.int64)
        return X, y
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ---- peers ---------------------------------------------------------------------------------------
class Peer:
    name = "?"
    version = "?"
    note = ""
    single_rows = 1000

    def available(self) -> bool:
        return True

    def fit(self, X, y, T: int, mtry: int, seed: int):
        raise NotImplementedError

    def predict(self, model, X) -> np.ndarray:
        raise NotImplementedError

    def predict_one(self, model, row: np.ndarray) -> float:
        return float(self.predict(model, row.reshape(1, -1))[0])

    def size(self, model) -> Tuple[int, int]:
        """(bytes of the saved model, number of nodes)."""
        return 0, 0

    def close(self) -> None:
        pass


class Churn(Peer):
    name = "churn"

    def __init__(self, threads: int = THREADS):
        import churn

        self.churn = churn
        self.threads = threads
        self.version = churn.__version__
        if threads != THREADS:
            self.name = f"churn ({threads} thread)"

    def fit(self, X, y, T, mtry, seed):
        return self.churn.RandomForestClassifier(T, max_features=mtry, min_samples_leaf=1, n_jobs=self.threads,
                                                 random_state=seed).fit(X, y)

    def predict(self, model, X):
        return model.predict_proba(X)[:, 1]

    def size(self, model):
        return len(model.to_json().encode()), model.model_.n_nodes

    def memory(self, model) -> int:
        return model.model_.memory_bytes


class Sklearn(Peer):
    name = "scikit-learn"
    single_rows = 500  # about 10 ms each

    def __init__(self):
        import sklearn

        self.version = sklearn.__version__
        self.note = "single-row latency with n_jobs=1, over 500 rows"

    def fit(self, X, y, T, mtry, seed):
        from sklearn.ensemble import RandomForestClassifier

        return RandomForestClassifier(T, max_features=mtry, min_samples_leaf=1, bootstrap=True, n_jobs=THREADS,
                                      random_state=seed).fit(X, y)

    def predict(self, model, X):
        return model.predict_proba(X)[:, 1]

    def predict_one(self, model, row):
        return float(model.predict_proba(row.reshape(1, -1))[0, 1])

    def prepare_single(self, model):
        model.set_params(n_jobs=1)

    def size(self, model):
        return len(pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)), sum(e.tree_.node_count for e in model.estimators_)


class XGBoost(Peer):
    name = "xgboost"

    def __init__(self, depth: int):
        import xgboost

        self.xgb = xgboost
        self.version = xgboost.__version__
        self.depth = depth
        self.note = (f"XGBClassifier(n_estimators=1, num_parallel_tree=T, learning_rate=1), tree_method=hist, "
                     f"max_depth={depth} (unlimited depth is pathologically slow), subsample=0.632 without "
                     "replacement; single row via inplace_predict")

    def fit(self, X, y, T, mtry, seed):
        m = self.xgb.XGBClassifier(n_estimators=1, num_parallel_tree=T, learning_rate=1.0, max_depth=self.depth,
                                   colsample_bynode=mtry / X.shape[1], subsample=0.632, min_child_weight=1e-6,
                                   reg_lambda=1e-5, tree_method="hist", n_jobs=THREADS, random_state=seed)
        return m.fit(X, y)

    def predict(self, model, X):
        return model.predict_proba(X)[:, 1]

    def predict_one(self, model, row):
        return float(model.get_booster().inplace_predict(row.reshape(1, -1))[0])

    def size(self, model):
        booster = model.get_booster()
        raw = booster.save_raw("ubj")
        doc = json.loads(bytes(booster.save_raw("json")))
        nodes = sum(int(t["tree_param"]["num_nodes"]) for t in doc["learner"]["gradient_booster"]["model"]["trees"])
        return len(raw), nodes


class LightGBM(Peer):
    name = "lightgbm"

    def __init__(self):
        import lightgbm

        self.lgb = lightgbm
        self.version = lightgbm.__version__
        self.note = ("boosting_type=rf, bagging 0.632 without replacement (rf mode requires it), num_leaves=1024, "
                     "min_child_samples=1, 255 bins, deterministic=True")

    def fit(self, X, y, T, mtry, seed):
        m = self.lgb.LGBMClassifier(boosting_type="rf", n_estimators=T, num_leaves=1024, max_depth=-1,
                                    feature_fraction_bynode=mtry / X.shape[1], subsample=0.632, subsample_freq=1,
                                    min_child_samples=1, min_child_weight=1e-5, reg_lambda=0.0, n_jobs=THREADS,
                                    random_state=seed, deterministic=True, force_row_wise=True, verbose=-1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return m.fit(X, y)

    def predict(self, model, X):
        return model.predict_proba(X)[:, 1]

    def predict_one(self, model, row):
        return float(model.booster_.predict(row.reshape(1, -1), num_threads=1)[0])

    def size(self, model):
        text = model.booster_.model_to_string()
        dump = model.booster_.dump_model()
        nodes = sum(2 * t["num_leaves"] - 1 for t in dump["tree_info"])
        return len(text.encode()), nodes


RANGER_SCRIPT = r"""
args <- commandArgs(trailingOnly = TRUE)
dir <- args[1]
suppressPackageStartupMessages(library(ranger))
cfg <- read.table(file.path(dir, "config.txt"), header = FALSE, stringsAsFactors = FALSE)
get <- function(k) cfg$V2[cfg$V1 == k]
n <- as.integer(get("n")); p <- as.integer(get("p")); m <- as.integer(get("m"))
trees <- as.integer(get("trees")); mtry <- as.integer(get("mtry")); threads <- as.integer(get("threads"))
seed <- as.integer(get("seed")); repeats <- as.integer(get("repeats")); single <- as.integer(get("single"))
readm <- function(f, rows, cols) { con <- file(file.path(dir, f), "rb"); on.exit(close(con));
  matrix(readBin(con, "double", rows * cols), nrow = rows, ncol = cols, byrow = TRUE) }
X <- readm("x_train.bin", n, p); colnames(X) <- paste0("f", seq_len(p))
y <- factor(readBin(file.path(dir, "y_train.bin"), "integer", n), levels = c(0L, 1L))
Xt <- readm("x_test.bin", m, p); colnames(Xt) <- colnames(X)
out <- c()
fit_times <- c()
for (r in seq_len(repeats)) {
  t0 <- proc.time()[["elapsed"]]
  rf <- ranger(x = X, y = y, num.trees = trees, mtry = mtry, min.node.size = 1, replace = TRUE,
               sample.fraction = 1, probability = TRUE, oob.error = FALSE, importance = "none",
               num.threads = threads, seed = seed + r - 1, write.forest = TRUE)
  fit_times <- c(fit_times, proc.time()[["elapsed"]] - t0)
}
t0 <- proc.time()[["elapsed"]]
pr <- predict(rf, data = Xt, num.threads = threads)$predictions[, "1"]
pred_time <- proc.time()[["elapsed"]] - t0
writeBin(as.double(pr), file.path(dir, "pred.bin"))
lat <- c()
if (single > 0) {
  for (i in seq_len(single)) {
    row <- Xt[((i - 1) %% m) + 1, , drop = FALSE]
    t0 <- proc.time()[["elapsed"]]
    invisible(predict(rf, data = row, num.threads = 1))
    lat <- c(lat, proc.time()[["elapsed"]] - t0)
  }
}
f <- file.path(dir, "model.rds"); saveRDS(rf, f, compress = FALSE)
nodes <- sum(sapply(rf$forest$child.nodeIDs, function(t) length(t[[1]])))
cat("fit_times", paste(fit_times, collapse = ","), "\n", file = file.path(dir, "result.txt"))
cat("pred_time", pred_time, "\n", file = file.path(dir, "result.txt"), append = TRUE)
cat("latency", paste(lat, collapse = ","), "\n", file = file.path(dir, "result.txt"), append = TRUE)
cat("size", file.info(f)$size, "\n", file = file.path(dir, "result.txt"), append = TRUE)
cat("nodes", nodes, "\n", file = file.path(dir, "result.txt"), append = TRUE)
cat("version", as.character(packageVersion("ranger")), "\n", file = file.path(dir, "result.txt"), append = TRUE)
"""


class Ranger(Peer):
    """ranger runs in R: one Rscript call fits (timed inside R, without the data transfer), predicts and
    measures single-row latency; data cross as raw float64 files (exact)."""

    name = "ranger"
    single_rows = 100

    def __init__(self):
        self.version = "?"
        self.note = ("R x/y interface, min.node.size=1, probability=TRUE, oob.error=FALSE, importance='none'; "
                     "times measured inside R; single row via R predict() over 100 rows")

    def available(self) -> bool:
        return shutil.which("Rscript") is not None and subprocess.run(
            ["Rscript", "-e", "library(ranger)"], capture_output=True).returncode == 0

    def run(self, X, y, Xt, T, mtry, seed, repeats, single) -> Dict[str, Any]:
        tmp = Path(tempfile.mkdtemp(prefix="churn_bench_ranger_"))
        try:
            np.ascontiguousarray(X, dtype="<f8").tofile(tmp / "x_train.bin")
            np.ascontiguousarray(y, dtype="<i4").tofile(tmp / "y_train.bin")
            np.ascontiguousarray(Xt, dtype="<f8").tofile(tmp / "x_test.bin")
            cfg = dict(n=X.shape[0], p=X.shape[1], m=Xt.shape[0], trees=T, mtry=mtry, threads=THREADS, seed=seed,
                       repeats=repeats, single=single)
            (tmp / "config.txt").write_text("".join(f"{k} {v}\n" for k, v in cfg.items()))
            (tmp / "run.R").write_text(RANGER_SCRIPT)
            proc = subprocess.run(["Rscript", str(tmp / "run.R"), str(tmp)], capture_output=True, text=True)
            if proc.returncode != 0:
                raise RuntimeError(f"Rscript failed: {proc.stderr[-2000:]}")
            res: Dict[str, Any] = {}
            for line in (tmp / "result.txt").read_text().splitlines():
                key, _, value = line.strip().partition(" ")
                res[key] = value.strip()
            self.version = res.get("version", "?")
            out = {
                "fit_times": [float(v) for v in res["fit_times"].split(",") if v],
                "pred_time": float(res["pred_time"]),
                "latency": [float(v) for v in res.get("latency", "").split(",") if v],
                "size": int(float(res["size"])),
                "nodes": int(float(res["nodes"])),
                "pred": np.fromfile(tmp / "pred.bin", dtype="<f8"),
            }
            return out
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


class Spark(Peer):
    name = "spark"
    single_rows = 200
    max_trees = 100      # Spark's deep trees are slow: larger forests would dominate the run
    max_rows = 6000
    max_cv_rows = 1000

    def __init__(self):
        import pyspark

        self.version = pyspark.__version__
        self.spark = None
        self.note = ("RandomForestClassifier on local[2]: maxDepth=30 (its maximum), maxBins=32 (default), "
                     "minInstancesPerNode=1, bootstrap=True, subsamplingRate=1; single row via "
                     "model.predictProbability (one JVM call per row, 200 rows); run at <= 100 trees, "
                     "only on data sets <= 6,000 rows, cross-validated only on breast cancer (its deep trees are slow)")

    def available(self) -> bool:
        return shutil.which("java") is not None

    def session(self):
        if self.spark is None:
            from pyspark.sql import SparkSession

            self.spark = (SparkSession.builder.master(f"local[{THREADS}]").appName("churn-bench-forest")
                          .config("spark.driver.memory", "4g").config("spark.ui.enabled", "false")
                          .config("spark.sql.shuffle.partitions", str(THREADS))
                          .config("spark.ui.showConsoleProgress", "false").getOrCreate())
            self.spark.sparkContext.setLogLevel("ERROR")
        return self.spark

    def frame(self, X, y=None):
        from pyspark.ml.linalg import Vectors

        rows = [(i, Vectors.dense(r.tolist()), float(0 if y is None else y[i])) for i, r in enumerate(X)]
        return self.session().createDataFrame(rows, ["id", "features", "label"]).repartition(THREADS).cache()

    def fit(self, X, y, T, mtry, seed):
        from pyspark.ml.classification import RandomForestClassifier

        df = self.frame(X, y)
        df.count()
        rf = RandomForestClassifier(numTrees=T, featureSubsetStrategy=str(mtry), maxDepth=30, maxBins=32,
                                    minInstancesPerNode=1, bootstrap=True, subsamplingRate=1.0, seed=seed)
        t0 = time.perf_counter()
        model = rf.fit(df)
        self.last_fit_time = time.perf_counter() - t0
        df.unpersist()
        return model

    def predict(self, model, X):
        df = self.frame(X)
        # repartition shuffled the rows: put the predictions back in X's order by id.
        out = model.transform(df).select("id", "probability").collect()
        df.unpersist()
        p = np.empty(len(X))
        for r in out:
            p[r[0]] = r[1][1]
        return p

    def predict_one(self, model, row):
        from pyspark.ml.linalg import Vectors

        return float(model.predictProbability(Vectors.dense(row.tolist()))[1])

    def size(self, model):
        tmp = Path(tempfile.mkdtemp(prefix="churn_bench_spark_"))
        try:
            model.write().overwrite().save(str(tmp / "m"))
            size = sum(f.stat().st_size for f in (tmp / "m").rglob("*") if f.is_file() and not f.name.startswith("."))
            return size, int(model.totalNumNodes)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def close(self):
        """Stops the session and ends the JVM, so that its background threads (garbage collection, JIT,
        cleaners) do not run beside the next peer's measurements; the next use starts a new one."""
        if self.spark is None:
            return
        from pyspark import SparkContext

        self.spark.stop()
        self.spark = None
        gateway = SparkContext._gateway
        if gateway is not None:
            proc = getattr(gateway, "proc", None)
            gateway.shutdown()
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=60)
            SparkContext._gateway = None
            SparkContext._jvm = None


# ---- measurements --------------------------------------------------------------------------------
def latencies(fn: Callable[[np.ndarray], Any], rows: np.ndarray, n: int) -> List[float]:
    for i in range(min(50, n)):
        fn(rows[i % len(rows)])
    out = []
    for i in range(n):
        r = rows[(i * 7919) % len(rows)]
        t0 = time.perf_counter_ns()
        fn(r)
        out.append((time.perf_counter_ns() - t0) * 1e-9)
    return out


def pct(v: List[float], q: float) -> float:
    return float(np.percentile(np.asarray(v), q)) if v else float("nan")


def run_size(peer: Peer, X, y, Xt, yt, T, mtry, seed, repeats) -> Dict[str, Any]:
    """Fit time (median), batch throughput, single-row latency, size for one peer and forest size."""
    batch = Xt[np.arange(10000) % len(Xt)]
    if isinstance(peer, Ranger):
        r = peer.run(X, y, batch, T, mtry, seed, repeats, peer.single_rows)
        return {"fit": statistics.median(r["fit_times"]), "fits": r["fit_times"], "rows_per_s": len(batch) / r["pred_time"],
                "p50": pct(r["latency"], 50), "p99": pct(r["latency"], 99), "size": r["size"], "nodes": r["nodes"],
                "auc": _auc(yt, r["pred"][:len(Xt)]) if len(Xt) <= len(batch) else float("nan")}
    times, model = [], None
    for r in range(repeats):
        t0 = time.perf_counter()
        model = peer.fit(X, y, T, mtry, seed + r)
        times.append(getattr(peer, "last_fit_time", None) or (time.perf_counter() - t0))
        peer.last_fit_time = None
    pred_times = []
    for _ in range(1 if isinstance(peer, Spark) else 3):
        t0 = time.perf_counter()
        p = peer.predict(model, batch)
        pred_times.append(time.perf_counter() - t0)
    if hasattr(peer, "prepare_single"):
        peer.prepare_single(model)
    lat = latencies(lambda row: peer.predict_one(model, row), Xt, peer.single_rows)
    size, nodes = peer.size(model)
    res = {"fit": statistics.median(times), "fits": times, "rows_per_s": len(batch) / statistics.median(pred_times),
           "p50": pct(lat, 50), "p99": pct(lat, 99), "size": size, "nodes": nodes, "auc": _auc(yt, p[:len(Xt)])}
    if isinstance(peer, Churn):
        res["memory"] = peer.memory(model)
    return res


def _auc(y, p) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, p)) if len(np.unique(y)) == 2 else float("nan")


def run_cv(peer: Peer, X, y, folds, T, mtry, seed) -> Dict[str, Any]:
    from sklearn.metrics import average_precision_score, f1_score, roc_auc_score

    aucs, aps, f1s = [], [], []
    t0 = time.perf_counter()
    for train, test in folds:
        if isinstance(peer, Ranger):
            p = peer.run(X[train], y[train], X[test], T, mtry, seed, 1, 0)["pred"]
        else:
            p = peer.predict(peer.fit(X[train], y[train], T, mtry, seed), X[test])
        aucs.append(roc_auc_score(y[test], p))
        aps.append(average_precision_score(y[test], p))
        f1s.append(f1_score(y[test], (p > 0.5).astype(int)))
    return {"auc": (np.mean(aucs), np.std(aucs)), "ap": (np.mean(aps), np.std(aps)), "f1": (np.mean(f1s), np.std(f1s)),
            "time": time.perf_counter() - t0}


# ---- report --------------------------------------------------------------------------------------
def fmt_time(s: float) -> str:
    if not math.isfinite(s):
        return "-"
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.1f} ms"
    return f"{s * 1e6:.0f} µs"


def fmt_bytes(b: float) -> str:
    return f"{b / 1e6:.1f} MB" if b >= 1e5 else f"{b / 1e3:.0f} kB"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start"


def report(results: Dict[str, Any], peers: List[Peer], args) -> str:
    lines: List[str] = []
    w = lines.append
    w("## Random forest")
    w("")
    w("`bench/bench_forest.py` trains churn's forest and its peers on the same data with the same settings: "
      f"max_features = floor(sqrt(p)), minimum leaf 1, bootstrap, unlimited depth where the peer allows it, "
      f"{THREADS} threads for all. Fit time is the median of {args.repeats} runs (15 where training rows x trees "
      "is under a million: those fits take milliseconds) for every peer but Spark ML (one run); ranger is timed "
      "inside R; batch throughput predicts 10,000 rows; single-row latency is the p50/p99 of calls on distinct "
      "rows from Python after warm-up (churn through `RandomForestClassifier.predict_proba`, scikit-learn with "
      "n_jobs=1). xgboost and LightGBM run with OMP_WAIT_POLICY=PASSIVE (the machine is shared; spinning "
      "OpenMP threads collapse under oversubscription). Size is the saved model (churn: the JSON file; "
      "in memory churn uses 16 bytes per node). "
      "Cross-validation: 5-fold `StratifiedKFold(shuffle=True, random_state=42)`, the same folds for every peer.")
    w("")
    w("```")
    w("PYTHONPATH=build-<you>/python:python .venv/bin/python bench/bench_forest.py" + (" --quick" if args.quick else ""))
    w("```")
    w("")
    w(f"Measured {results['date']} on {results['machine']}. Versions: " +
      ", ".join(f"{p.name} {p.version}" for p in peers) + ".")
    w("")
    notes = [f"- **{p.name}**: {p.note}" for p in peers if p.note]
    if notes:
        w("Peer settings:")
        w("")
        lines.extend(notes)
        w("")
    for ds in results["datasets"]:
        w(f"### {ds['name']} ({ds['rows']:,} rows x {ds['cols']} features, {ds['positive']:.0%} positive; "
          f"train/test {ds['train']:,}/{ds['test']:,})")
        w("")
        for T, per in ds["sizes"].items():
            w(f"**{T} trees** (mtry {ds['mtry']})")
            w("")
            w("| peer | fit | fit vs churn | batch rows/s | 1-row p50 | 1-row p99 | size | nodes | bytes/node | test AUC |")
            w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
            base = per.get("churn", {}).get("fit", float("nan"))
            for name, r in per.items():
                if "error" in r:
                    w(f"| {name} | failed: {r['error'][:80]} | | | | | | | | |")
                    continue
                ratio = r["fit"] / base if base and math.isfinite(base) else float("nan")
                bpn = r["size"] / r["nodes"] if r["nodes"] else float("nan")
                w(f"| {name} | {fmt_time(r['fit'])} | {ratio:.1f}x | {r['rows_per_s']:,.0f} | {fmt_time(r['p50'])} | "
                  f"{fmt_time(r['p99'])} | {fmt_bytes(r['size'])} | {r['nodes']:,} | {bpn:.0f} | {r['auc']:.4f} |")
            churn_r = per.get("churn")
            if churn_r and "memory" in churn_r:
                w("")
                w(f"churn in memory: {fmt_bytes(churn_r['memory'])} ({churn_r['memory'] / churn_r['nodes']:.1f} bytes/node).")
            w("")
        if ds.get("cv"):
            w(f"**5-fold cross-validation, {ds['cv_trees']} trees** (mean ± std over folds)")
            w("")
            w("| peer | ROC AUC | average precision | F1 at 0.5 | CV time |")
            w("|---|---:|---:|---:|---:|")
            for name, r in ds["cv"].items():
                if "error" in r:
                    w(f"| {name} | failed: {r['error'][:80]} | | | |")
                    continue
                w(f"| {name} | {r['auc'][0]:.4f} ± {r['auc'][1]:.4f} | {r['ap'][0]:.4f} ± {r['ap'][1]:.4f} | "
                  f"{r['f1'][0]:.3f} ± {r['f1'][1]:.3f} | {fmt_time(r['time'])} |")
            w("")
    w("### Goals of issue 5")
    w("")
    lines.extend(goal_lines(results))
    w("")
    if args.observations and Path(args.observations).exists():
        w(Path(args.observations).read_text().rstrip("\n"))
        w("")
    return "\n".join(lines) + "\n"


def goal_lines(results) -> List[str]:
    out = []
    for ds in results["datasets"]:
        for T, per in ds["sizes"].items():
            c = per.get("churn")
            if not c or "error" in c:
                continue
            parts = []
            for peer, goal in (("scikit-learn", 5.0), ("ranger", 2.5)):
                r = per.get(peer)
                if r and "error" not in r:
                    x = r["fit"] / c["fit"]
                    parts.append(f"fit {x:.1f}x faster than {peer} (goal {goal}x: {'met' if x >= goal else 'NOT met'})")
            sk = per.get("scikit-learn")
            if sk and "error" not in sk:
                x = c["rows_per_s"] / sk["rows_per_s"]
                parts.append(f"batch {x:.1f}x scikit-learn's throughput (goal 10x: {'met' if x >= 10 else 'NOT met'})")
            parts.append(f"1-row p50 {fmt_time(c['p50'])}")
            parts.append(f"{c['memory'] / c['nodes']:.0f} bytes/node in memory")
            out.append(f"- {ds['name']}, {T} trees: " + "; ".join(parts) + ".")
        if ds.get("cv") and "churn" in ds["cv"]:
            c = ds["cv"]["churn"]
            diffs = []
            for peer in ("scikit-learn", "ranger"):
                r = ds["cv"].get(peer)
                if r and "error" not in r:
                    diffs.append(f"AUC {c['auc'][0] - r['auc'][0]:+.4f} / AP {c['ap'][0] - r['ap'][0]:+.4f} vs {peer}")
            if diffs:
                out.append(f"- {ds['name']}, CV (goal: within 0.005): " + "; ".join(diffs) + ".")
    return out


def write_docs(section: str) -> None:
    path = ROOT / "docs" / "benchmarks.md"
    if path.exists():
        text = path.read_text()
    else:
        text = "# Benchmarks\n\nMachine: 2 cores, Debian 12.\n\n"
    m = re.search(r"^## Random forest\n.*?(?=^## |\Z)", text, flags=re.S | re.M)
    if m:
        text = text[:m.start()] + section + ("\n" if m.end() < len(text) else "") + text[m.end():]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)


# ---- main ----------------------------------------------------------------------------------------
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small data, few trees, one repeat: a smoke run")
    ap.add_argument("--repeats", type=int, default=None, help="fit repeats per measurement (default 3, quick 1)")
    ap.add_argument("--skip", default="", help="comma-separated peers to skip (sklearn,xgboost,lightgbm,ranger,spark)")
    ap.add_argument("--sparkify-users", type=int, default=None,
                    help="also benchmark on the per-user features of a simulated log with this many users "
                         "(default: 0 in --quick, 2000 otherwise)")
    ap.add_argument("--no-docs", action="store_true", help="do not rewrite docs/benchmarks.md")
    ap.add_argument("--json", default=None, help="also write the raw results to this JSON file")
    ap.add_argument("--observations", default=None,
                    help="a Markdown file appended to the section (the hand-written reading of the numbers)")
    ap.add_argument("--from-json", default=None,
                    help="measure nothing: rewrite the docs section from the raw results of an earlier --json run "
                         "(with --observations, after writing the reading of those numbers)")
    args = ap.parse_args()
    if args.repeats is None:
        args.repeats = 1 if args.quick else 3
    if args.from_json:
        results = json.loads(Path(args.from_json).read_text())
        args.repeats = results.get("repeats", args.repeats)
        args.quick = results.get("quick", args.quick)
        section = report(results, [SimpleNamespace(**p) for p in results["peers"]], args)
        print(section)
        if not args.no_docs:
            write_docs(section)
            print("wrote docs/benchmarks.md", file=sys.stderr)
        return 0
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    seed = 1

    peers: List[Peer] = [Churn()]
    for key, make in (("sklearn", Sklearn), ("xgboost", lambda: XGBoost(12)), ("lightgbm", LightGBM),
                      ("ranger", Ranger), ("spark", Spark)):
        if key in skip:
            continue
        try:
            peer = make()
            if peer.available():
                peers.append(peer)
            else:
                print(f"skipping {key}: not available", file=sys.stderr)
        except Exception as e:  # a missing optional package
            print(f"skipping {key}: {e}", file=sys.stderr)

    if args.quick:
        plan = [("synthetic", *synthetic(3000, 20), [50], 30)]
    else:
        plan = [("synthetic 20k", *synthetic(20000, 40), [100], 100),
                ("synthetic 5k", *synthetic(5000, 40, seed=1), [100, 500], 0),
                ("breast cancer", *breast_cancer(), [100, 500], 100)]
    users = args.sparkify_users if args.sparkify_users is not None else (0 if args.quick else 2000)
    if users:
        try:
            Xs, ys = sparkify_features(users, 60, 7)
            plan.append((f"simulated Sparkify, {users:,} users", Xs, ys, [100, 500], 100))
        except Exception as e:
            print(f"skipping the Sparkify data set: {e}", file=sys.stderr)

    from sklearn.model_selection import StratifiedKFold, train_test_split

    results: Dict[str, Any] = {"date": datetime.date.today().isoformat(), "machine": machine(), "datasets": [],
                               "repeats": args.repeats, "quick": args.quick,
                               "peers": [{"name": p.name, "version": p.version, "note": p.note} for p in peers]}
    print(f"# {results['machine']}", flush=True)
    for name, X, y, tree_counts, cv_trees in plan:
        p = X.shape[1]
        mtry = max(1, int(math.floor(math.sqrt(p))))
        Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)
        ds = {"name": name, "rows": len(y), "cols": p, "positive": float(np.mean(y)), "train": len(ytr),
              "test": len(yte), "mtry": mtry, "sizes": {}, "cv": {}, "cv_trees": cv_trees}
        for T in tree_counts:
            per: Dict[str, Any] = {}
            for peer in peers:
                if T > getattr(peer, "max_trees", T) or len(y) > getattr(peer, "max_rows", len(y)):
                    continue
                # Every peer but Spark (minutes per fit) gets the same number of fits: one run of a peer
                # is noisier than the gap being measured on the small sets, where fits take milliseconds
                # and get 15 repeats.
                small = len(ytr) * T < 1_000_000
                reps = 1 if isinstance(peer, Spark) else (max(args.repeats, 15) if small else args.repeats)
                try:
                    r = run_size(peer, Xtr, ytr, Xte, yte, T, mtry, seed, reps)
                    if isinstance(peer, Spark):
                        peer.close()
                    per[peer.name] = r
                    print(f"{name:>24} T={T:<4} {peer.name:>13}: fit {fmt_time(r['fit']):>9}  "
                          f"{r['rows_per_s']:>12,.0f} rows/s  p50 {fmt_time(r['p50']):>8}  p99 {fmt_time(r['p99']):>8}  "
                          f"{fmt_bytes(r['size']):>9}  {r['nodes']:>9,} nodes  AUC {r['auc']:.4f}", flush=True)
                except Exception as e:
                    per[peer.name] = {"error": f"{type(e).__name__}: {e}"}
                    print(f"{name} T={T} {peer.name}: FAILED {e}", file=sys.stderr, flush=True)
            ds["sizes"][T] = per
        if cv_trees:
            folds = list(StratifiedKFold(5, shuffle=True, random_state=42).split(X, y))
            for peer in peers:
                if len(y) > getattr(peer, "max_cv_rows", len(y)) or cv_trees > getattr(peer, "max_trees", cv_trees):
                    continue
                try:
                    r = run_cv(peer, X, y, folds, cv_trees, mtry, seed)
                    if isinstance(peer, Spark):
                        peer.close()
                    ds["cv"][peer.name] = r
                    print(f"{name:>24} CV T={cv_trees:<4} {peer.name:>13}: AUC {r['auc'][0]:.4f} ± {r['auc'][1]:.4f}  "
                          f"AP {r['ap'][0]:.4f}  F1 {r['f1'][0]:.3f}  ({fmt_time(r['time'])})", flush=True)
                except Exception as e:
                    ds["cv"][peer.name] = {"error": f"{type(e).__name__}: {e}"}
                    print(f"{name} CV {peer.name}: FAILED {e}", file=sys.stderr, flush=True)
        results["datasets"].append(ds)
        if not args.quick and not args.no_docs:
            write_docs(report(results, peers, args))  # after each data set, so a cut-short run still reports
    for peer in peers:
        peer.close()

    section = report(results, peers, args)
    print()
    print(section)
    if args.json:
        # Peers learn some versions while running (ranger's comes from R), so they are recorded last.
        results["peers"] = [{"name": p.name, "version": p.version, "note": p.note} for p in peers]
        Path(args.json).write_text(json.dumps(results, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o),
                                              indent=1))
    if not args.quick and not args.no_docs:
        write_docs(section)
        print("wrote docs/benchmarks.md", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
