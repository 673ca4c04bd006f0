#!/usr/bin/env python3
"""The full-size benchmark: a simulated log the size of the full Sparkify data set (about 22,000 users,
60 days, ~14 GB of JSON lines), generated on the fly into /tmp, then wall time and peak memory of:

  cat FILE > /dev/null            the bytes from the page cache: nothing reads faster
  bare simdjson loop (1, 2 thr.)  every field of every line parsed, nothing built: churn's limit
  churn features (1, 2 threads)   events -> the 55 per-user features (churn.user_features)
  churn train                     features, 5-fold CV, final forest (the `churn train` command when it
                                  exists, else the same steps through the Python API)
  churn.dask, churn.spark         the same features on a local 2-process Dask cluster / Spark local[2]
  Spark local[2]                  spark.read.json + groupBy aggregations of comparable features
  pandas, polars, DuckDB          the same aggregations, each within a memory and a time budget

Each measurement is a child process; its peak memory is the largest sum of RSS over its process tree
(sampled every 0.1 s; a JVM and its Python workers count together). A child that goes over the
memory budget or the time budget is killed and reported as "did not fit" / "did not finish".

    PYTHONPATH=$PWD/build-x/python:$PWD/python .venv/bin/python bench/bench_fullscale.py \
        --build build-x [--users 22000] [--keep] [--only churn,spark] [--json results.json]

The C++ loop is build/bench/bench_simdjson_loop (configure with -DCHURN_BUILD_BENCH=ON and build the
target bench_simdjson_loop in the --build directory). The log is deleted at the end unless --keep;
--events FILE reuses an existing log instead of generating one.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from typing import Any, Dict, List, Optional

import psutil

GB = 1 << 30

# Comparable per-user features for the other engines: the aggregations the seed computed with Spark
# (counts per page, songs, listening time, sessions, active days, span, level, churn flag). churn
# computes more (55 features, sessions by the gap rule, recency windows, trends, a leak-free cutoff).
PAGES = ["Thumbs Up", "Thumbs Down", "Add to Playlist", "Add Friend", "Roll Advert", "Error", "Help",
         "Downgrade", "Upgrade", "Settings", "Home", "Logout", "About", "Save Settings", "Submit Downgrade",
         "Submit Upgrade"]


def _sql(table: str) -> str:
    pages = ",\n  ".join(
        f"SUM(CASE WHEN page = '{p}' THEN 1 ELSE 0 END) AS page_{p.lower().replace(' ', '_')}" for p in PAGES)
    return f"""SELECT userId,
  COUNT(*) AS events,
  COUNT(DISTINCT sessionId) AS sessions,
  SUM(CASE WHEN page = 'NextSong' THEN 1 ELSE 0 END) AS songs,
  SUM(CASE WHEN page = 'NextSong' THEN length ELSE 0 END) AS listen_seconds,
  COUNT(DISTINCT artist) AS artists,
  COUNT(DISTINCT CAST(FLOOR(ts / 86400000) AS BIGINT)) AS active_days,
  MIN(ts) AS first_ts, MAX(ts) AS last_ts,
  SUM(CASE WHEN level = 'paid' THEN 1 ELSE 0 END) AS paid_events,
  MAX(CASE WHEN page = 'Cancellation Confirmation' THEN 1 ELSE 0 END) AS churned,
  {pages}
FROM {table} WHERE userId IS NOT NULL AND userId <> '' GROUP BY userId"""


CHILD_CHURN_FEATURES = """
import sys, time, churn
t = time.perf_counter()
table = churn.user_features(sys.argv[1], threads=int(sys.argv[2]))
print(f"users={len(table)} events={table.report.events} features={len(table.feature_names)} "
      f"seconds={time.perf_counter() - t:.2f}")
"""

CHILD_CHURN_TRAIN_API = """
import sys, time, numpy as np, churn
t0 = time.perf_counter()
table = churn.user_features(sys.argv[1])
t1 = time.perf_counter()
X, y = np.ascontiguousarray(table.X), table.y.astype(np.int64)
if hasattr(churn, "RandomForestClassifier"):
    make = lambda: churn.RandomForestClassifier(n_estimators=300, random_state=0, n_jobs=-1)
    kind = "churn forest"
else:
    from sklearn.ensemble import RandomForestClassifier
    make = lambda: RandomForestClassifier(n_estimators=300, random_state=0, n_jobs=-1)
    kind = "scikit-learn forest (churn's not available)"
cv = churn.cross_validate(make(), X, y, n_splits=5, seed=0)
t2 = time.perf_counter()
model = make().fit(X, y)
t3 = time.perf_counter()
print(f"model={kind!r} users={len(y)} features={t1 - t0:.1f}s cv={t2 - t1:.1f}s fit={t3 - t2:.1f}s "
      f"f1={cv['tuned']['mean']['f1']:.3f}")
"""

CHILD_CHURN_DASK = """
import sys, time
import churn, churn.dask
from dask.distributed import Client, LocalCluster


def main():  # the guard matters: Dask's worker processes re-import this script
    t0 = time.perf_counter()
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \\
            Client(cluster) as client:
        t1 = time.perf_counter()
        acc = churn.dask.accumulate(sys.argv[1], client=client)
        table = acc.finalize()
        t2 = time.perf_counter()
    print(f"users={len(table)} events={table.report.events} startup={t1 - t0:.1f}s features={t2 - t1:.1f}s "
          f"accumulator_bytes={len(acc.to_bytes())}", flush=True)


if __name__ == "__main__":
    main()
"""

CHILD_CHURN_SPARK = """
import os, sys, time
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
import churn, churn.spark
from pyspark.sql import SparkSession
t0 = time.perf_counter()
spark = (SparkSession.builder.master("local[2]").appName("churn-fullscale")
         .config("spark.driver.memory", sys.argv[2]).config("spark.ui.enabled", "false").getOrCreate())
spark.sparkContext.setLogLevel("ERROR")
t1 = time.perf_counter()
table = churn.spark.user_features(sys.argv[1], spark=spark)
t2 = time.perf_counter()
print(f"users={len(table)} events={table.report.events} startup={t1 - t0:.1f}s features={t2 - t1:.1f}s",
      flush=True)  # PySpark's exit can skip flushing stdout
spark.stop()
"""

CHILD_SPARK = """
import os, sys, time
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
from pyspark.sql import SparkSession
from pyspark.sql.types import StructType, StructField, StringType, LongType, DoubleType
t0 = time.perf_counter()
spark = (SparkSession.builder.master("local[2]").appName("churn-fullscale")
         .config("spark.driver.memory", sys.argv[2]).config("spark.sql.shuffle.partitions", "8")
         .config("spark.ui.enabled", "false").getOrCreate())
spark.sparkContext.setLogLevel("ERROR")
# An explicit schema spares Spark the extra pass that inferring it takes (the seed let Spark infer).
schema = StructType([StructField(n, t) for n, t in [
    ("ts", LongType()), ("userId", StringType()), ("sessionId", LongType()), ("page", StringType()),
    ("auth", StringType()), ("method", StringType()), ("status", LongType()), ("level", StringType()),
    ("itemInSession", LongType()), ("location", StringType()), ("userAgent", StringType()),
    ("lastName", StringType()), ("firstName", StringType()), ("registration", LongType()),
    ("gender", StringType()), ("artist", StringType()), ("song", StringType()), ("length", DoubleType())]])
t1 = time.perf_counter()
spark.read.json(sys.argv[1], schema=schema).createOrReplaceTempView("events")
rows = spark.sql(sys.argv[3]).toPandas()
t2 = time.perf_counter()
print(f"users={len(rows)} startup={t1 - t0:.1f}s query={t2 - t1:.1f}s", flush=True)
spark.stop()
"""

CHILD_DUCKDB = """
import sys, time, duckdb
t = time.perf_counter()
con = duckdb.connect()
con.execute(f"SET threads TO 2; SET memory_limit = '{sys.argv[2]}'; SET preserve_insertion_order = false")
cols = ("{ts: 'BIGINT', userId: 'VARCHAR', sessionId: 'BIGINT', page: 'VARCHAR', level: 'VARCHAR', "
        "artist: 'VARCHAR', length: 'DOUBLE'}")
con.execute(f"CREATE VIEW events AS SELECT * FROM read_json('{sys.argv[1]}', format='newline_delimited', "
            f"columns={cols})")
rows = con.execute(sys.argv[3]).df()
print(f"users={len(rows)} seconds={time.perf_counter() - t:.1f}")
"""

CHILD_POLARS = """
import os, sys, time
import polars as pl
t = time.perf_counter()
pages = %s
schema = {"ts": pl.Int64, "userId": pl.Utf8, "sessionId": pl.Int64, "page": pl.Utf8, "level": pl.Utf8,
          "artist": pl.Utf8, "length": pl.Float64}
lf = pl.scan_ndjson(sys.argv[1], schema=schema).filter(pl.col("userId").is_not_null() & (pl.col("userId") != ""))
song = pl.col("page") == "NextSong"
aggs = [pl.len().alias("events"), pl.col("sessionId").n_unique().alias("sessions"),
        song.sum().alias("songs"), pl.when(song).then(pl.col("length")).otherwise(0.0).sum().alias("listen_seconds"),
        pl.col("artist").drop_nulls().n_unique().alias("artists"),
        (pl.col("ts") // 86400000).n_unique().alias("active_days"),
        pl.col("ts").min().alias("first_ts"), pl.col("ts").max().alias("last_ts"),
        (pl.col("level") == "paid").sum().alias("paid_events"),
        (pl.col("page") == "Cancellation Confirmation").any().alias("churned")]
aggs += [(pl.col("page") == p).sum().alias("page_" + p.lower().replace(" ", "_")) for p in pages]
try:
    rows = lf.group_by("userId").agg(aggs).collect(engine="streaming")
except TypeError:  # older polars
    rows = lf.group_by("userId").agg(aggs).collect(streaming=True)
print(f"users={rows.height} seconds={time.perf_counter() - t:.1f}")
"""

CHILD_PANDAS = """
import sys, time
import pandas as pd
t = time.perf_counter()
df = pd.read_json(sys.argv[1], lines=True, dtype={"userId": str})
df = df[df["userId"].notna() & (df["userId"] != "")]
song = df["page"] == "NextSong"
df["listen"] = df["length"].where(song, 0.0)
df["song"] = song
df["day"] = df["ts"] // 86400000
g = df.groupby("userId")
rows = pd.DataFrame({"events": g.size(), "sessions": g["sessionId"].nunique(), "songs": g["song"].sum(),
                     "listen_seconds": g["listen"].sum(), "artists": g["artist"].nunique(),
                     "active_days": g["day"].nunique(), "first_ts": g["ts"].min(), "last_ts": g["ts"].max()})
print(f"users={len(rows)} seconds={time.perf_counter() - t:.1f}")
"""


def tree_rss(proc: psutil.Process, cpu: Optional[Dict[int, float]] = None) -> int:
    """The sum of RSS over the process tree; records each process's CPU time so far in `cpu`."""
    total = 0
    try:
        procs = [proc] + proc.children(recursive=True)
    except psutil.NoSuchProcess:
        return 0
    for p in procs:
        try:
            with p.oneshot():
                total += p.memory_info().rss
                if cpu is not None:
                    t = p.cpu_times()
                    cpu[p.pid] = t.user + t.system  # children_* would count reaped workers twice
        except psutil.NoSuchProcess:
            pass
    return total


def kill_tree(proc: psutil.Process) -> None:
    try:
        procs = proc.children(recursive=True) + [proc]
    except psutil.NoSuchProcess:
        return
    for p in procs:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(procs[:-1], timeout=10)  # the caller reaps the child itself (for its rusage)


def measure(name: str, argv: List[str], mem_budget: float, time_budget: float,
            env: Optional[Dict[str, str]] = None, expect_output: bool = True) -> Dict[str, Any]:
    """Runs argv as a child; wall time, CPU time (user + system, the child and the descendants it
    waited for), peak RSS of its process tree, the load average around it, and the outcome."""
    import tempfile

    print(f"-- {name}: {' '.join(a if len(a) < 80 else a[:60] + '...' for a in argv)}", file=sys.stderr, flush=True)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, env=env, text=True, start_new_session=True)
        ps = psutil.Process(proc.pid)
        peak, status, usage, code = 0, "ok", None, None
        sampled_cpu: Dict[int, float] = {}
        while True:
            pid, wstatus, ru = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                usage, code = ru, os.waitstatus_to_exitcode(wstatus)
                proc.returncode = code  # reaped here: keep Popen from waiting again
                break
            peak = max(peak, tree_rss(ps, sampled_cpu))
            elapsed = time.perf_counter() - start
            if peak > mem_budget or elapsed > time_budget:
                status = (f"did not fit: over the {mem_budget / GB:.0f} GB budget after {elapsed:.0f} s"
                          if peak > mem_budget else f"did not finish within the {time_budget:.0f} s budget")
                kill_tree(ps)
                _, wstatus, usage = os.wait4(proc.pid, 0)
                proc.returncode = code = os.waitstatus_to_exitcode(wstatus)
                break
            time.sleep(0.1)
        seconds = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    # (ru_maxrss is no help: after fork it starts from the parent's RSS, this script's.)
    if status == "ok" and code == 0 and expect_output and not stdout.strip():
        status = "failed: exit 0 but no result line (see stderr_tail in --json)"
    if status == "ok" and code != 0:
        last = (stderr.strip().splitlines() or ["?"])[-1]
        status = f"failed (exit {code}): {last[:200]}"
    # rusage counts the child and the descendants it waited for; a JVM that PySpark never reaps is
    # only in the samples (up to 0.1 s of its last CPU time can be missed).
    cpu = usage.ru_utime + usage.ru_stime if usage is not None else 0.0
    cpu = max(cpu, sum(sampled_cpu.values()))
    result = {"name": name, "seconds": round(seconds, 2), "cpu_seconds": round(cpu, 2),
              "peak_rss_mb": round(peak / 1e6, 1), "status": status, "output": stdout.strip()[-400:],
              "stderr_tail": stderr.strip()[-400:],
              "load_before": round(load_before, 1), "load_after": round(os.getloadavg()[0], 1)}
    print(f"   {status}; {seconds:.1f} s wall, {cpu:.1f} s CPU, peak {peak / 1e6:.0f} MB, load "
          f"{load_before:.1f}->{result['load_after']}; {stdout.strip()[-200:]}", file=sys.stderr, flush=True)
    return result


def child(code: str, directory: str, name: str) -> str:
    """Writes a child program to a file: PySpark's Python workers misbehave when the driver runs as
    ``python -c`` (it exits 0 without a result), so every child runs as a script."""
    path = os.path.join(directory, f"child_{name}.py")
    with open(path, "w") as f:
        f.write(code)
    return path


def machine() -> str:
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (f"{cpu}, {psutil.cpu_count()} cores, {psutil.virtual_memory().total / GB:.0f} GB RAM, "
            f"{platform.system()} {platform.release()}, Python {platform.python_version()}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=22000)
    ap.add_argument("--days", type=int, default=60)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dir", default="/tmp/churn_fullscale")
    ap.add_argument("--events", help="use this log instead of generating one (never deleted)")
    ap.add_argument("--keep", action="store_true", help="keep the generated log")
    ap.add_argument("--build", default="build", help="build directory with bench/bench_simdjson_loop")
    ap.add_argument("--only", default="", help="comma-separated subset: cat,simdjson,churn,train,churn-dask,"
                                               "churn-spark,spark,duckdb,polars,pandas")
    ap.add_argument("--mem-budget-gb", type=float, default=8.0, help="per engine (churn's goal is 1 GB)")
    ap.add_argument("--time-budget", type=float, default=900.0, help="seconds per engine")
    ap.add_argument("--spark-driver-memory", default="4g")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()
    only = set(filter(None, args.only.split(",")))
    want = lambda k: not only or k in only  # noqa: E731

    import churn

    os.makedirs(args.dir, exist_ok=True)
    results: Dict[str, Any] = {"machine": machine(), "churn": churn.__version__, "runs": []}
    generated = None
    path = args.events
    if path is None:
        estimate = args.users * args.days * 10_700  # bytes per user-day of the simulator's log
        free = shutil.disk_usage(args.dir).free
        print(f"disk: {free / GB:.0f} GB free in {args.dir}, the log needs about {estimate / GB:.0f} GB",
              file=sys.stderr)
        if free < 1.3 * estimate:
            print("not enough disk space: use --dir elsewhere or fewer --users", file=sys.stderr)
            return 1
        path = generated = os.path.join(args.dir, "events.json")
        t = time.perf_counter()
        summary = churn.simulate(path, users=args.users, days=args.days, seed=args.seed, behaviour="eventsim")
        results["generate_seconds"] = round(time.perf_counter() - t, 1)
        results["log"] = {"events": summary.events, "users": summary.users, "churned": summary.churned,
                          "bytes": summary.bytes}
        print(f"generated {summary} in {results['generate_seconds']} s", file=sys.stderr)
    else:
        results["log"] = {"bytes": os.path.getsize(path)}
    budget, limit = args.mem_budget_gb * GB, args.time_budget
    runs = results["runs"]
    py = sys.executable
    try:
        if want("cat"):
            subprocess.run(["sh", "-c", f"cat '{path}' > /dev/null"], check=True)  # into the page cache
            runs.append(measure("cat FILE > /dev/null (page cache)", ["sh", "-c", f"cat '{path}' > /dev/null"],
                                budget, limit, expect_output=False))
        loop = os.path.join(args.build, "bench", "bench_simdjson_loop")
        if want("simdjson"):
            if os.path.exists(loop):
                for t in (1, 2):
                    runs.append(measure(f"bare simdjson loop, {t} thread{'s' * (t > 1)}", [loop, path, str(t)],
                                        budget, limit))
            else:
                print(f"skipping the simdjson loop: build {loop} first", file=sys.stderr)
        if want("churn"):
            for t in (1, 2):
                runs.append(measure(f"churn features, {t} thread{'s' * (t > 1)}",
                                    [py, child(CHILD_CHURN_FEATURES, args.dir, "churn_features"), path, str(t)], budget, limit))
        if want("train"):
            cli_has_train = subprocess.run([py, "-m", "churn", "train", "--help"], capture_output=True).returncode == 0
            if cli_has_train:
                model = os.path.join(args.dir, "model.json")
                runs.append(measure("churn train (CLI: features, 5-fold CV, final model)",
                                    [py, "-m", "churn", "train", path, "--model", model], budget, 3 * limit))
            else:
                runs.append(measure("churn features + 5-fold CV + final forest (Python API)",
                                    [py, child(CHILD_CHURN_TRAIN_API, args.dir, "churn_train"), path], budget, 3 * limit))
        if want("churn-dask"):
            runs.append(measure("churn.dask, LocalCluster of 2 worker processes",
                                [py, child(CHILD_CHURN_DASK, args.dir, "churn_dask"), path], budget, limit))
        if want("churn-spark"):
            runs.append(measure(f"churn.spark, Spark local[2] (driver memory {args.spark_driver_memory})",
                                [py, child(CHILD_CHURN_SPARK, args.dir, "churn_spark"), path, args.spark_driver_memory], budget, limit))
        sql = _sql("events")
        if want("spark"):
            runs.append(measure(f"Spark local[2] (driver memory {args.spark_driver_memory}), comparable features",
                                [py, child(CHILD_SPARK, args.dir, "spark"), path, args.spark_driver_memory, sql], budget, limit))
        if want("duckdb"):
            runs.append(measure("DuckDB (2 threads), comparable features",
                                [py, child(CHILD_DUCKDB, args.dir, "duckdb"), path,
                                 f"{int(args.mem_budget_gb * 0.75)}GB", sql], budget, limit))
        if want("polars"):
            runs.append(measure("polars streaming, comparable features",
                                [py, child(CHILD_POLARS % json.dumps(PAGES), args.dir, "polars"), path], budget, limit))
        if want("pandas"):
            runs.append(measure("pandas read_json + groupby, comparable features",
                                [py, child(CHILD_PANDAS, args.dir, "pandas"), path], budget, limit))
    finally:
        for name in os.listdir(args.dir):
            if name.startswith("child_") and name.endswith(".py"):
                os.remove(os.path.join(args.dir, name))
        if generated and not args.keep:
            os.remove(generated)
            print(f"deleted {generated}", file=sys.stderr)
    print(f"\nmachine: {results['machine']}\nlog: {results['log']}\n")
    base = next((r for r in runs if r["name"].startswith("churn features, 2") and r["status"] == "ok"), None)
    print(f"| {'what':<62} | {'wall s':>8} | {'CPU s':>8} | {'peak MB':>8} | {'wall vs churn 2 thr.':>20} | load | status")
    for r in runs:
        ratio = f"{r['seconds'] / base['seconds']:.2f}x" if base and r["status"] == "ok" else ""
        print(f"| {r['name']:<62} | {r['seconds']:>8.1f} | {r['cpu_seconds']:>8.1f} | {r['peak_rss_mb']:>8.0f} | "
              f"{ratio:>20} | {r['load_before']:.1f} | {r['status']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
