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

Issue 21's fit-time comparison (5-fold x 100 trees on every table, peers alternating, an earlier build of
churn beside the current one, whose model files must be byte-identical):

    PYTHONPATH=build-<you>/python:python .venv/bin/python bench/bench_forest.py --fit-ratios \
        --before build-<earlier>/python:python --save-models /tmp/forest-models
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


def noisy_churn(n: int = 7000, seed: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    """A table shaped like the public customer-churn tables (issue 21): one-hot categorical columns (38
    binary), four small counts, tenure in months (73 values), and three continuous columns with thousands
    of distinct values (a monthly charge in steps of 0.05, a total charge, a usage figure). The labels are
    drawn from a logistic model (Bernoulli noise), so fully grown trees keep splitting noise: about 2,000
    nodes per tree on 5,600 training rows, most of them small."""
    rng = np.random.RandomState(seed)
    cols: List[np.ndarray] = []

    def onehot(levels: int, probs: List[float]) -> np.ndarray:
        k = rng.choice(levels, size=n, p=probs)
        cols.extend((k == level).astype(float) for level in range(levels))
        return k

    tenure = np.minimum(72, rng.geometric(1 / 30.0, size=n) - 1).astype(float)
    contract = onehot(3, [.55, .21, .24])
    internet = onehot(3, [.34, .44, .22])
    payment = onehot(4, [.34, .23, .22, .21])
    services = [onehot(3, [.5, .3, .2]) for _ in range(6)]
    flags = [onehot(2, [.5, .5]) for _ in range(4)]
    onehot(3, [.48, .42, .10])
    monthly = np.round((18.25 + 20 * (internet == 1) + 10 * (internet == 0) + sum(5 * (v == 1) for v in services)
                        + rng.uniform(0, 40, n)) / 0.05) * 0.05
    total = np.round(monthly * np.maximum(tenure, 0.5) * rng.uniform(0.9, 1.1, n), 2)
    usage = np.round(rng.gamma(2.0, 150.0, n), 1)
    counts = [rng.poisson(lam, n).astype(float) for lam in (0.5, 1.5, 3.0, 6.0)]
    X = np.column_stack(cols + [tenure, monthly, total, usage] + counts)
    logit = (-1.6 + 1.3 * (contract == 0) - 0.9 * (contract == 2) + 0.9 * (internet == 1) - 0.6 * (internet == 2)
             + 0.5 * (payment == 0) - 0.035 * tenure + 0.012 * (monthly - 65) + 0.25 * (services[0] == 0)
             + 0.2 * (services[1] == 0) + 0.15 * flags[0] + 0.1 * counts[1])
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    return X, y


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


# ---- fit ratios on every table (issue 21, point 3) ------------------------------------------------
# 5-fold x 100 trees, 2 threads, max_features floor(sqrt(p)), fully grown, bootstrap: the total fit time
# of the 5 folds per peer, peers alternating in order from round to round (ABC, CBA, ...) so that a
# change of load on a shared machine falls on all of them. churn runs in a child process (one per
# round), so that an earlier build of churn (--before) can run beside the current one; each child also
# returns the SHA-256 of every fold's model file, and the current build's files must equal the earlier
# build's byte for byte (the same trees: the speed work must not change a single split).

RANGER_CV_SCRIPT = r"""
args <- commandArgs(trailingOnly = TRUE)
dir <- args[1]
suppressPackageStartupMessages(library(ranger))
cfg <- read.table(file.path(dir, "config.txt"), header = FALSE, stringsAsFactors = FALSE)
get <- function(k) as.integer(cfg$V2[cfg$V1 == k])
n <- get("n"); p <- get("p"); k <- get("folds")
con <- file(file.path(dir, "x.bin"), "rb")
X <- matrix(readBin(con, "double", n * p), nrow = n, ncol = p, byrow = TRUE); close(con)
colnames(X) <- paste0("f", seq_len(p))
y <- factor(readBin(file.path(dir, "y.bin"), "integer", n), levels = c(0L, 1L))
fold <- readBin(file.path(dir, "fold.bin"), "integer", n)
pred <- numeric(n); times <- c(); cpu <- c()
for (f in seq_len(k) - 1L) {
  tr <- fold != f
  t0 <- proc.time()
  rf <- ranger(x = X[tr, , drop = FALSE], y = y[tr], num.trees = get("trees"), mtry = get("mtry"),
               min.node.size = 1, replace = TRUE, sample.fraction = 1, probability = TRUE, oob.error = FALSE,
               importance = "none", num.threads = get("threads"), seed = get("seed"), write.forest = TRUE)
  t1 <- proc.time() - t0
  times <- c(times, t1[["elapsed"]]); cpu <- c(cpu, t1[["user.self"]] + t1[["sys.self"]])
  pred[!tr] <- predict(rf, data = X[!tr, , drop = FALSE], num.threads = get("threads"))$predictions[, "1"]
}
writeBin(as.double(pred), file.path(dir, "pred.bin"))
cat(paste(times, collapse = ","), "\n", file = file.path(dir, "times.txt"))
cat(paste(cpu, collapse = ","), "\n", file = file.path(dir, "cpu.txt"))
cat(as.character(packageVersion("ranger")), "\n", file = file.path(dir, "version.txt"))
"""


def fold_ids(y: np.ndarray, k: int = 5) -> np.ndarray:
    from sklearn.model_selection import StratifiedKFold

    fold = np.empty(len(y), dtype=np.int32)
    for i, (_, test) in enumerate(StratifiedKFold(k, shuffle=True, random_state=42).split(np.zeros(len(y)), y)):
        fold[test] = i
    return fold


def fit_worker(directory: str) -> int:
    """Child process of --fit-ratios: fits churn on every fold of the table in `directory`."""
    import hashlib

    import churn

    d = Path(directory)
    cfg = json.loads((d / "config.json").read_text())
    X, y, fold = np.load(d / "X.npy"), np.load(d / "y.npy"), np.load(d / "fold.npy")
    times, cpu, digests, pred = [], [], [], np.empty(len(y))
    # Untimed warm-up: the first fit of a process also imports what the estimator imports lazily.
    churn.RandomForestClassifier(2, n_jobs=cfg["threads"]).fit(X[:100], y[:100])
    for k in range(int(fold.max()) + 1):
        train = fold != k
        Xtr, ytr = np.ascontiguousarray(X[train]), np.ascontiguousarray(y[train])
        t0, c0 = time.perf_counter(), time.process_time()
        model = churn.RandomForestClassifier(cfg["trees"], max_features=cfg["mtry"], min_samples_leaf=1,
                                             n_jobs=cfg["threads"], random_state=cfg["seed"]).fit(Xtr, ytr)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        pred[~train] = model.predict_proba(X[~train])[:, 1]
        text = model.to_json().encode()
        digests.append(hashlib.sha256(text).hexdigest())
        if cfg.get("save"):
            (Path(cfg["save"]) / f"{cfg['table']}.fold{k}.json").write_bytes(text)
    np.save(d / "pred.npy", pred)
    (d / "result.json").write_text(json.dumps({"times": times, "cpu": cpu, "digests": digests, "version": churn.__version__,
                                               "nodes_per_tree": model.model_.n_nodes / cfg["trees"]}))
    return 0


class FoldRunner:
    """One peer of --fit-ratios: run(table) fits the 5 folds and returns (fit seconds per fold, test
    predictions of every row, extra)."""

    def __init__(self, name: str, kind: str, pythonpath: str = ""):
        self.name, self.kind, self.pythonpath, self.version = name, kind, pythonpath, "?"

    def run(self, name, X, y, fold, T, mtry, seed, save=None):
        if self.kind == "sklearn":
            import sklearn
            from sklearn.ensemble import RandomForestClassifier

            self.version = sklearn.__version__
            if not getattr(self, "warm", False):  # untimed: the first fit starts joblib's workers
                RandomForestClassifier(2, n_jobs=THREADS).fit(X[:100], y[:100])
                self.warm = True
            times, cpu, pred = [], [], np.empty(len(y))
            for k in range(int(fold.max()) + 1):
                train = fold != k
                t0, c0 = time.perf_counter(), time.process_time()
                m = RandomForestClassifier(T, max_features=mtry, min_samples_leaf=1, bootstrap=True, n_jobs=THREADS,
                                           random_state=seed).fit(X[train], y[train])
                times.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
                pred[~train] = m.predict_proba(X[~train])[:, 1]
            return times, pred, {"cpu": cpu}
        tmp = Path(tempfile.mkdtemp(prefix="churn_bench_ratio_"))
        try:
            if self.kind == "ranger":
                np.ascontiguousarray(X, dtype="<f8").tofile(tmp / "x.bin")
                np.ascontiguousarray(y, dtype="<i4").tofile(tmp / "y.bin")
                np.ascontiguousarray(fold, dtype="<i4").tofile(tmp / "fold.bin")
                cfg = dict(n=X.shape[0], p=X.shape[1], folds=int(fold.max()) + 1, trees=T, mtry=mtry,
                           threads=THREADS, seed=seed)
                (tmp / "config.txt").write_text("".join(f"{k} {v}\n" for k, v in cfg.items()))
                (tmp / "run.R").write_text(RANGER_CV_SCRIPT)
                proc = subprocess.run(["Rscript", str(tmp / "run.R"), str(tmp)], capture_output=True, text=True)
                if proc.returncode != 0:
                    raise RuntimeError(f"Rscript failed: {proc.stderr[-2000:]}")
                self.version = (tmp / "version.txt").read_text().strip()
                times = [float(v) for v in (tmp / "times.txt").read_text().split(",") if v.strip()]
                cpu = [float(v) for v in (tmp / "cpu.txt").read_text().split(",") if v.strip()]
                return times, np.fromfile(tmp / "pred.bin", dtype="<f8"), {"cpu": cpu}
            np.save(tmp / "X.npy", np.ascontiguousarray(X, dtype=np.float64))
            np.save(tmp / "y.npy", np.ascontiguousarray(y, dtype=np.int64))
            np.save(tmp / "fold.npy", fold)
            cfg = dict(trees=T, mtry=mtry, threads=THREADS, seed=seed, table=name, save=save)
            (tmp / "config.json").write_text(json.dumps(cfg))
            env = dict(os.environ)
            if self.pythonpath:
                env["PYTHONPATH"] = self.pythonpath
            proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker", str(tmp)], env=env,
                                  capture_output=True, text=True)
            if proc.returncode != 0:
                raise RuntimeError(f"churn worker failed: {proc.stderr[-2000:]}")
            res = json.loads((tmp / "result.json").read_text())
            self.version = res["version"]
            return res["times"], np.load(tmp / "pred.npy"), res
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def fit_ratio_tables(users: int, only: List[str]) -> List[Tuple[str, np.ndarray, np.ndarray]]:
    """The tables of --fit-ratios whose names contain one of `only` (all if empty), made on demand."""
    makers: List[Tuple[str, Callable[[], Tuple[np.ndarray, np.ndarray]]]] = [
        ("noisy churn-like 7k", noisy_churn),
        ("synthetic 20k", lambda: synthetic(20000, 40)),
        ("synthetic 5k", lambda: synthetic(5000, 40, seed=1)),
        ("breast cancer", breast_cancer)]
    if users:
        makers.append((f"simulated Sparkify, {users:,} users", lambda: sparkify_features(users, 60, 7)))
    return [(name, *make()) for name, make in makers if not only or any(o in name for o in only)]


def fit_ratios(args) -> int:
    """--fit-ratios: the issue 21 comparison; prints a Markdown section (and --json the raw numbers)."""
    from sklearn.metrics import roc_auc_score

    T, seed = 100, 1
    peers = [FoldRunner("churn", "churn")]
    if args.before:
        peers.append(FoldRunner("churn before", "churn", args.before))
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    if "sklearn" not in skip:
        peers.append(FoldRunner("scikit-learn", "sklearn"))
    if "ranger" not in skip and Ranger().available():
        peers.append(FoldRunner("ranger", "ranger"))
    users = args.sparkify_users if args.sparkify_users is not None else 2000
    only = [s.strip() for s in args.tables.split(",") if s.strip()] if args.tables else []
    tables = fit_ratio_tables(users, only)
    if args.save_models:
        Path(args.save_models).mkdir(parents=True, exist_ok=True)
    results: Dict[str, Any] = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="minutes"),
                               "machine": machine(), "rounds": args.rounds, "tables": []}
    print(f"# {results['machine']}", flush=True)
    for name, X, y in tables:
        fold = fold_ids(y)
        mtry = max(1, int(math.floor(math.sqrt(X.shape[1]))))
        per: Dict[str, Any] = {p.name: {"totals": [], "cpu": [], "auc": None, "digests": None} for p in peers}
        for r in range(args.rounds):
            order = peers if r % 2 == 0 else peers[::-1]
            for peer in order:
                save = args.save_models if (args.save_models and peer.name == "churn" and r == 0) else None
                times, pred, extra = peer.run(name.replace(" ", "_").replace(",", ""), X, y, fold, T, mtry, seed,
                                              save)
                entry = per[peer.name]
                entry["totals"].append(sum(times))
                entry["cpu"].append(sum(extra["cpu"]))
                entry["auc"] = float(np.mean([roc_auc_score(y[fold == k], pred[fold == k])
                                              for k in range(int(fold.max()) + 1)]))
                if "digests" in extra:
                    if entry["digests"] is not None and entry["digests"] != extra["digests"]:
                        raise RuntimeError(f"{peer.name}: models differ between rounds on {name}")
                    entry["digests"] = extra["digests"]
                    entry["nodes_per_tree"] = extra.get("nodes_per_tree")
                print(f"{name:>32} round {r + 1} {peer.name:>13}: 5 fits {sum(times):8.3f} s, CPU {entry['cpu'][-1]:8.3f} s"
                      f"  AUC {entry['auc']:.4f}", flush=True)
        base, base_cpu = per["churn"]["totals"], per["churn"]["cpu"]
        for peer in peers:
            e = per[peer.name]
            e["median"] = statistics.median(e["totals"])
            e["ratio"] = statistics.median([t / b for t, b in zip(e["totals"], base)])
            e["cpu_ratio"] = statistics.median([t / b for t, b in zip(e["cpu"], base_cpu)])
        if "churn before" in per:
            per["churn"]["identical"] = per["churn"]["digests"] == per["churn before"]["digests"]
        results["tables"].append({"name": name, "rows": len(y), "cols": X.shape[1], "mtry": mtry,
                                  "distinct": [int(len(np.unique(X[:, j]))) for j in range(X.shape[1])],
                                  "peers": per})
    results["versions"] = {p.name: p.version for p in peers}
    section = fit_ratio_report(results, peers, args)
    print()
    print(section)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


def fit_ratio_report(results, peers, args) -> str:
    names = [p.name for p in peers]
    lines = [f"Measured {results['date']} on {results['machine']}; {results['rounds']} alternating rounds; "
             "versions: " + ", ".join(f"{k} {v}" for k, v in results["versions"].items()) + ".", "",
             "| table | rows x cols | churn nodes/tree | " + " | ".join(f"{n}: 5 fits" for n in names) + " | " +
             " | ".join(f"{n} / churn" for n in names[1:]) + " | " +
             " | ".join(f"{n} / churn, CPU" for n in names[1:]) + " | AUC " + " / ".join(names) + " | same trees |",
             "|---|---|---:|" + "---:|" * (3 * len(names) - 2) + "---|---|"]
    for t in results["tables"]:
        per = t["peers"]
        same = per["churn"].get("identical")
        lines.append(f"| {t['name']} | {t['rows']:,} x {t['cols']} | {per['churn'].get('nodes_per_tree') or 0:,.0f} | " +
                     " | ".join(fmt_time(per[n]["median"]) for n in names) + " | " +
                     " | ".join(f"{per[n]['ratio']:.2f}x" for n in names[1:]) + " | " +
                     " | ".join(f"{per[n]['cpu_ratio']:.2f}x" for n in names[1:]) + " | " +
                     " / ".join(f"{per[n]['auc']:.4f}" for n in names) + " | " +
                     ("-" if same is None else ("yes (byte-identical model files)" if same else "**NO**")) + " |")
    return "\n".join(lines) + "\n"


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
    ap.add_argument("--fit-ratios", action="store_true",
                    help="issue 21: 5-fold x 100-tree fit times of churn, scikit-learn and ranger on every table, "
                         "peers alternating over --rounds rounds; prints a Markdown table")
    ap.add_argument("--before", default=None,
                    help="with --fit-ratios: a PYTHONPATH holding an earlier build of churn, run beside the current "
                         "one; its model files must be byte-identical to the current build's")
    ap.add_argument("--rounds", type=int, default=3, help="with --fit-ratios: alternating rounds (default 3)")
    ap.add_argument("--tables", default="", help="with --fit-ratios: comma-separated parts of table names to run")
    ap.add_argument("--save-models", default=None, help="with --fit-ratios: also write churn's fold models here")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--from-json", default=None,
                    help="measure nothing: rewrite the docs section from the raw results of an earlier --json run "
                         "(with --observations, after writing the reading of those numbers)")
    args = ap.parse_args()
    if args.worker:
        return fit_worker(args.worker)
    if args.fit_ratios:
        return fit_ratios(args)
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
                ("breast cancer", *breast_cancer(), [100, 500], 100),
                ("noisy churn-like 7k", *noisy_churn(), [100], 100)]
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
