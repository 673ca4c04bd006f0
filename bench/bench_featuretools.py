#!/usr/bin/env python3
"""churn's snapshots against featuretools + composeml (issue 19, part 5): the same log, the same weekly
cutoffs, time and peak memory side by side in one run, and a handful of features and the labels
computed both ways must agree (asserted; printed).

featuretools does not install beside pandas 3 (the main venv), so it runs in a venv of its own and
this script starts it there; churn runs in the interpreter that starts the script:

    python3 -m venv /tmp/ftenv
    /tmp/ftenv/bin/pip install 'featuretools' 'composeml' 'pandas<3' pyarrow
    .venv/bin/python bench/bench_featuretools.py --events /tmp/ft.json --simulate 150,90,3 \
        --ft-python /tmp/ftenv/bin/python [--readers pandas,pyarrow]

Each side runs in its own process, timed two ways: *read -> table* (in the process, from reading the log
to a table of (user, cutoff) rows with features and the label) and *whole process* (interpreter start to
exit: start-up, imports, read -> table, writing the table as CSV; the dump of the columns compared below
is taken out), each as wall time and CPU time (user + system, all threads), with the process's peak
resident memory (``wait4``'s ``ru_maxrss``):

- churn: ``churn.user_features(events, every_days=7, horizon_days=14)`` (all 55 features, labels), then
  ``churn.features.write_csv``; with all threads and with ``threads=1``.
- featuretools, once per reader in ``--readers``: ``pandas.read_json(lines=True)`` with its default
  engine ("pandas") or ``engine="pyarrow"`` (pyarrow's multi-threaded reader: what a user who knows
  pandas 2 writes for a large file), an EntitySet (events -> users), ``ft.dfs`` with the cutoff times of
  churn's rows (the same (user, cutoff) pairs), count / sum / num_unique aggregations with ``where`` on
  the pages (a few dozen features, fewer than churn's 55), and the labels from composeml's
  ``LabelMaker`` (Cancellation Confirmation within 14 days after each weekly cutoff, ``minimum_data`` =
  the first cutoff, ``gap`` = 7 days); the feature matrix and the labels written as CSV.

Agreement (asserted, for every reader): per (user, cutoff) row, churn's ``songs``, ``thumbs_up``, ``thumbs_down``,
``add_friend``, ``distinct_artists`` and ``listening_hours`` against the featuretools equivalents, and the
label against composeml's.
"""
from __future__ import annotations

import time

_T0 = time.perf_counter()  # the script's first line: what came before is the interpreter's start-up

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402

HERE = os.path.abspath(__file__)
DAY_MS = 86_400_000
#: churn feature -> the featuretools feature computing the same thing (None: derived below).
PAIRS = {
    "songs": "COUNT(events WHERE page = NextSong)",
    "thumbs_up": "COUNT(events WHERE page = Thumbs Up)",
    "thumbs_down": "COUNT(events WHERE page = Thumbs Down)",
    "add_friend": "COUNT(events WHERE page = Add Friend)",
    "distinct_artists": "NUM_UNIQUE(events.artist WHERE page = NextSong)",
    "listening_hours": "SUM(events.length WHERE page = NextSong)",  # seconds; / 3600 below
}
PAGES = ["NextSong", "Thumbs Up", "Thumbs Down", "Add Friend", "Add to Playlist", "Roll Advert", "Error", "Help"]


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def churn_child(args: argparse.Namespace) -> None:
    t_import = time.perf_counter()
    import numpy as np

    import churn
    from churn.features import write_csv

    start, cpu0 = time.perf_counter(), time.process_time()
    t = churn.user_features(args.events, every_days=args.every_days, horizon_days=args.horizon_days,
                            threads=args.threads)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu0
    write_csv(t, os.path.join(os.path.dirname(args.out), "churn-table.csv"))
    end, cpu_end = time.perf_counter(), time.process_time()
    X = np.asarray(t.X)
    cols = {n: X[:, t.feature_names.index(n)].tolist() for n in PAIRS}
    rows = {"user": [str(u) for u in t.user_ids], "cutoff_ms": [int(c) for c in t.cutoffs], "label": t.y.tolist(),
            **cols}
    with open(args.out, "w") as f:
        json.dump(rows, f)
    print(json.dumps({"side": "churn", "threads": args.threads, "seconds": seconds, "peak_mb": _peak_mb(), "rows": len(t),
                      "features": len(t.feature_names), "cutoffs": len(t.snapshot_cutoffs),
                      "import_seconds": start - t_import, "write_seconds": end - start - seconds,
                      "script_seconds": end - _T0, "dump_seconds": time.perf_counter() - end, "cpu_seconds": cpu,
                      "dump_cpu_seconds": time.process_time() - cpu_end}))


def read_events(path: str, reader: str):
    """The log as a pandas DataFrame: ``pandas.read_json(lines=True)`` (its default engine, "ujson"), or
    with ``engine="pyarrow"`` (pyarrow's multi-threaded JSON reader; what a user who knows pandas 2
    writes for a large file)."""
    import pandas as pd

    if reader == "pyarrow":
        return pd.read_json(path, lines=True, engine="pyarrow")
    return pd.read_json(path, lines=True, dtype={"userId": str}, convert_dates=False)


def ft_child(args: argparse.Namespace) -> None:
    t_import = time.perf_counter()
    import composeml as cp
    import featuretools as ft
    import pandas as pd

    with open(args.rows) as f:
        churn_rows = json.load(f)
    # featuretools uses the events at or before a cutoff time, churn those strictly before the cutoff:
    # one millisecond earlier is the same set (event times are whole milliseconds).
    cutoff_time = pd.DataFrame({"userId": churn_rows["user"],
                                "time": pd.to_datetime([c - 1 for c in churn_rows["cutoff_ms"]], unit="ms")})
    first_cutoff = pd.to_datetime(min(churn_rows["cutoff_ms"]), unit="ms")
    start, cpu0 = time.perf_counter(), time.process_time()
    import_seconds = start - t_import
    df = read_events(args.events, args.reader)
    df = df[df["userId"].astype(str) != ""].reset_index(drop=True)
    df["userId"] = df["userId"].astype(str)
    df["ts"] = pd.to_datetime(df["ts"], unit="ms")
    df["event_id"] = range(len(df))
    events = df[["event_id", "userId", "ts", "page", "artist", "length", "sessionId", "level"]].copy()
    t_read = time.perf_counter() - start
    es = ft.EntitySet("sparkify")
    es.add_dataframe(dataframe_name="events", dataframe=events, index="event_id", time_index="ts",
                     logical_types={"page": "Categorical", "artist": "Categorical", "level": "Categorical",
                                    "userId": "Categorical"})
    es.normalize_dataframe("events", "users", "userId")
    es.add_interesting_values(dataframe_name="events", values={"page": PAGES})
    fm, defs = ft.dfs(entityset=es, target_dataframe_name="users", cutoff_time=cutoff_time,
                      agg_primitives=["count", "sum", "num_unique", "mean", "max"],
                      where_primitives=["count", "sum", "num_unique"], trans_primitives=[], max_depth=1,
                      cutoff_time_in_index=True, verbose=False)

    t_dfs = time.perf_counter() - start - t_read

    def churned(window: "pd.DataFrame") -> bool:
        return bool((window["page"] == "Cancellation Confirmation").any())

    lm = cp.LabelMaker(target_dataframe_index="userId", time_index="ts", labeling_function=churned,
                       window_size=f"{args.horizon_days:g}d")
    labels = lm.search(df[["userId", "ts", "page"]].sort_values("ts"), num_examples_per_instance=-1,
                       minimum_data=first_cutoff, gap=f"{args.every_days}d", drop_empty=False, verbose=False)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu0
    fm.to_csv(os.path.join(os.path.dirname(args.out), f"ft-{args.reader}-features.csv"))
    pd.DataFrame(labels).to_csv(os.path.join(os.path.dirname(args.out), f"ft-{args.reader}-labels.csv"), index=False)
    end, cpu_end = time.perf_counter(), time.process_time()
    fm = fm.reset_index()
    out = {"user": fm["userId"].astype(str).tolist(),
           "cutoff_ms": (fm["time"].astype("int64") // 1_000_000 + 1).astype(int).tolist()}
    for name, ft_name in PAIRS.items():
        out[name] = pd.to_numeric(fm[ft_name], errors="coerce").fillna(0).astype(float).tolist()
    lab = labels.reset_index(drop=True)
    out["label_user"] = lab["userId"].astype(str).tolist()
    out["label_cutoff_ms"] = (pd.to_datetime(lab["time"]).astype("int64") // 1_000_000).astype(int).tolist()
    out["label"] = lab["churned"].astype(int).tolist()
    with open(args.out, "w") as f:
        json.dump(out, f)
    print(json.dumps({"side": "featuretools", "reader": args.reader, "seconds": seconds, "read_seconds": t_read,
                      "dfs_seconds": t_dfs, "labels_seconds": seconds - t_read - t_dfs, "peak_mb": _peak_mb(),
                      "rows": len(fm), "features": len(defs), "label_rows": len(lab), "import_seconds": import_seconds,
                      "write_seconds": end - start - seconds, "script_seconds": end - _T0,
                      "dump_seconds": time.perf_counter() - end, "cpu_seconds": cpu,
                      "dump_cpu_seconds": time.process_time() - cpu_end}))


def run(cmd) -> dict:
    """Runs one side in a process of its own; adds its whole-process wall time ("wall": interpreter start to
    exit, less the time it spent dumping the columns this script compares, "dump_seconds") and its peak
    resident memory as the kernel counts it (os.wait4)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if p.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed:\n{stdout}\n{stderr}")
    r = json.loads(stdout.strip().splitlines()[-1])
    r["wall"] = wall - r["dump_seconds"]
    r["startup_seconds"] = r["wall"] - r["script_seconds"]  # interpreter start and exit, outside the script
    r["process_peak_mb"] = usage.ru_maxrss / 1024
    r["process_cpu"] = usage.ru_utime + usage.ru_stime - r["dump_cpu_seconds"]
    return r


def main_run(args: argparse.Namespace) -> None:

    if args.simulate and not os.path.exists(args.events):
        import churn

        users, days, seed = (int(v) for v in args.simulate.split(","))
        churn.simulate(args.events, users=users, days=days, seed=seed)
    work = tempfile.mkdtemp(prefix="bench_ft_")
    churn_out = os.path.join(work, "churn.json")
    common = ["--events", args.events, "--horizon-days", str(args.horizon_days), "--every-days", str(args.every_days)]
    load = os.getloadavg()
    c = run([sys.executable, HERE, "_churn", *common, "--out", churn_out])
    c1 = run([sys.executable, HERE, "_churn", *common, "--threads", "1", "--out", churn_out])
    fts = {}
    for reader in args.readers.split(","):
        fts[reader] = run([args.ft_python, HERE, "_ft", *common, "--reader", reader, "--rows", churn_out,
                           "--out", os.path.join(work, f"ft-{reader}.json")])
    load_end = os.getloadavg()
    size = os.path.getsize(args.events) / 1e6
    print(f"{args.events}: {size:.0f} MB; {c['cutoffs']} weekly cutoffs (every {args.every_days} days, "
          f"{args.horizon_days:g}-day horizon); {c['rows']:,} (user, cutoff) rows; load average "
          f"{load[0]:.1f} at the start, {load_end[0]:.1f} at the end ({os.cpu_count()} cores)")
    print("\n| tool | features | read → table s | CPU s | whole process s | CPU s | of which start-up + imports s | "
          "write CSV s | peak MB |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|")

    def line(name: str, r: dict) -> None:
        print(f"| {name} | {r['features']} | {r['seconds']:.2f} | {r['cpu_seconds']:.2f} | {r['wall']:.2f} | "
              f"{r['process_cpu']:.2f} | {r['startup_seconds'] + r['import_seconds']:.2f} | {r['write_seconds']:.2f} | "
              f"{r['process_peak_mb']:.0f} |")

    line(f"churn `user_features(every_days={args.every_days})`, all threads", c)
    line("churn, the same with `threads=1`", c1)
    for reader, f in fts.items():
        engine = "default engine" if reader == "pandas" else f'engine="{reader}"'
        line(f"featuretools `dfs` + composeml `LabelMaker`, `read_json` {engine}", f)
    for reader, f in fts.items():
        print(f"\nfeaturetools ({reader} reader): imports {f['import_seconds']:.1f} s, reading the JSON lines "
              f"{f['read_seconds']:.1f} s, EntitySet + dfs {f['dfs_seconds']:.1f} s, composeml labels "
              f"{f['labels_seconds']:.1f} s, writing {f['write_seconds']:.1f} s")
    for name, r in (("all threads", c), ("threads=1", c1)):
        print(f"churn ({name}): interpreter start-up and exit {r['startup_seconds']:.2f} s, `import churn` "
              f"{r['import_seconds']:.2f} s, read + features at every cutoff {r['seconds']:.2f} s, writing the CSV "
              f"{r['write_seconds']:.2f} s")
    print()
    for reader, f in fts.items():
        ratio, ratio1 = f["seconds"] / c["seconds"], f["seconds"] / c1["seconds"]
        whole, whole1 = f["wall"] / c["wall"], f["wall"] / c1["wall"]
        cpu, cpu_whole = f["cpu_seconds"] / c1["cpu_seconds"], f["process_cpu"] / c1["process_cpu"]
        print(f"against featuretools with the {reader} reader: churn is {ratio:.0f}x faster read → table with all "
              f"threads, {ratio1:.0f}x on one thread; {whole:.0f}x and {whole1:.0f}x as whole processes; "
              f"{cpu:.0f}x less CPU time read → table (one thread), {cpu_whole:.0f}x as whole processes "
              f"({'meets' if ratio >= 100 else 'does not meet'} the goal of >= 100x read → table); "
              f"{f['process_peak_mb'] / c['process_peak_mb']:.1f}x less peak memory")

    for reader in fts:
        check(churn_out, os.path.join(work, f"ft-{reader}.json"), reader)
    shutil.rmtree(work)


def check(churn_out: str, ft_out: str, reader: str) -> None:
    """Asserts that six features agree row for row and the labels wherever composeml makes one."""
    import numpy as np

    with open(churn_out) as fh:
        a = json.load(fh)
    with open(ft_out) as fh:
        b = json.load(fh)
    key_b = {(u, t): i for i, (u, t) in enumerate(zip(b["user"], b["cutoff_ms"]))}
    idx = [key_b[(u, t)] for u, t in zip(a["user"], a["cutoff_ms"])]  # KeyError: a row featuretools lacks
    print(f"\nAgreement, featuretools with the {reader} reader:")
    print("\n| feature | rows | equal | max abs difference | example (user, cutoff): churn / featuretools |\n"
          "|---|---:|---:|---:|---|")
    for name in PAIRS:
        x = np.asarray(a[name], dtype=float)
        y = np.asarray(b[name], dtype=float)[idx]
        if name == "listening_hours":
            y = y / 3600
        diff = np.abs(x - y)
        equal = diff <= 1e-6 * np.maximum(1, np.abs(x))
        j = int(np.argmax(x))
        day = time.strftime("%Y-%m-%d", time.gmtime(a["cutoff_ms"][j] // 1000))
        print(f"| {name} | {len(x):,} | {int(equal.sum()):,} | {diff.max():.2e} | ({a['user'][j]}, {day}) "
              f"{x[j]:g} / {y[j]:g} |")
        assert equal.all(), f"{name}: {int((~equal).sum())} rows differ"
    lab = {(u, t): v for u, t, v in zip(b["label_user"], b["label_cutoff_ms"], b["label"])}
    pairs = [(v, lab[(u, t)]) for u, t, v in zip(a["user"], a["cutoff_ms"], a["label"]) if (u, t) in lab]
    agree = sum(1 for x, y in pairs if int(x) == int(y))
    print(f"| label (composeml) | {len(pairs):,} | {agree:,} | — | {sum(int(x) for x, _ in pairs)} churned rows "
          f"(composeml labels {len(pairs):,} of churn's {len(a['user']):,} rows: it makes no label for a user "
          "whose events end before a cutoff) |")
    assert pairs and agree == len(pairs), f"labels: {len(pairs) - agree} of {len(pairs)} rows differ"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", nargs="?", default="run", choices=("run", "_churn", "_ft"))
    parser.add_argument("--events", required=True)
    parser.add_argument("--simulate", metavar="USERS,DAYS,SEED", help="simulate the log first when it is missing")
    parser.add_argument("--ft-python", default="/tmp/ftenv/bin/python", help="python of the featuretools venv")
    parser.add_argument("--horizon-days", type=float, default=14.0)
    parser.add_argument("--every-days", type=int, default=7)
    parser.add_argument("--threads", type=int, default=0, help="churn's threads (0: all)")
    parser.add_argument("--readers", default="pandas,pyarrow",
                        help="featuretools runs, one per JSON reader: pandas (read_json's default engine), pyarrow")
    parser.add_argument("--reader", default="pandas", help=argparse.SUPPRESS)
    parser.add_argument("--rows")
    parser.add_argument("--out")
    args = parser.parse_args()
    {"run": main_run, "_churn": churn_child, "_ft": ft_child}[args.mode](args)


if __name__ == "__main__":
    main()
