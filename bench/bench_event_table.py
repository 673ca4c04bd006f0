#!/usr/bin/env python3
"""A log into a table (issue 21, point 1), written up in docs/benchmarks.md ("Reading a log into a table").

    .venv/bin/python bench/bench_event_table.py --events /tmp/h21a/log.json --threads 2 --rounds 5 \
        [--tools churn,churn-arrow,polars,duckdb,pyarrow] [--json out.json]

Each measurement is its own process (`_run TOOL FILE THREADS`): it imports its library, notes its
resident memory, reads the whole file into the tool's table, and prints the read's wall time, the
process's peak resident memory (ru_maxrss) and the increase over the memory before the read, and the
CPU time (user + system) the read took: on a shared machine the wall time depends on the neighbours. The tools
run in rotating order, one round after another, so that a shared machine's load falls on all of them.

- churn: ``churn.read_events(file, threads=T)``, the EventTable (C++ columns, strings dictionary-encoded)
- churn-arrow: the same, then ``.to_arrow()``: a pyarrow.Table over the same buffers
- polars: ``polars.read_ndjson(file)`` with POLARS_MAX_THREADS=T
- duckdb: ``CREATE TABLE t AS SELECT * FROM read_json(file, format='newline_delimited')``, threads=T
- pyarrow: ``pyarrow.json.read_json(file)`` with its CPU pool at T threads
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

TOOLS = ("churn", "churn-arrow", "polars", "duckdb", "pyarrow")


def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def run_one(tool: str, path: str, threads: int) -> dict:
    """In the child: import, read, report."""
    if tool in ("churn", "churn-arrow"):
        import churn

        if tool == "churn-arrow":
            import pyarrow  # noqa: F401 (imported before the clock, as for the other tools)
        before = _rss_mb()
        cpu = _cpu_s()
        start = time.perf_counter()
        table = churn.read_events(path, threads=threads)
        rows = len(table)
        extra = {"table_bytes": table.memory_bytes()}
        if tool == "churn-arrow":
            table = table.to_arrow()
            rows = table.num_rows
        seconds = time.perf_counter() - start
    elif tool == "polars":
        os.environ["POLARS_MAX_THREADS"] = str(threads)
        import polars as pl

        before = _rss_mb()
        cpu = _cpu_s()
        start = time.perf_counter()
        table = pl.read_ndjson(path)
        seconds = time.perf_counter() - start
        rows, extra = table.height, {"threads_seen": pl.thread_pool_size()}
    elif tool == "duckdb":
        import duckdb

        con = duckdb.connect()
        con.execute(f"SET threads = {threads}")
        before = _rss_mb()
        cpu = _cpu_s()
        start = time.perf_counter()
        con.execute(f"CREATE TABLE t AS SELECT * FROM read_json('{path}', format = 'newline_delimited')")
        seconds = time.perf_counter() - start
        rows, extra = con.execute("SELECT count(*) FROM t").fetchone()[0], {}
    elif tool == "pyarrow":
        import pyarrow as pa
        import pyarrow.json as pj

        pa.set_cpu_count(threads)
        pa.set_io_thread_count(threads)
        before = _rss_mb()
        cpu = _cpu_s()
        start = time.perf_counter()
        table = pj.read_json(path)
        seconds = time.perf_counter() - start
        rows, extra = table.num_rows, {}
    else:
        raise SystemExit(f"unknown tool {tool}")
    cpu = _cpu_s() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"tool": tool, "seconds": seconds, "cpu_seconds": cpu, "rows": rows, "peak_mb": peak, "before_mb": before,
            "added_mb": peak - before, **extra}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd")
    run = sub.add_parser("_run")
    run.add_argument("tool")
    run.add_argument("events")
    run.add_argument("threads", type=int)
    p.add_argument("--events")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--tools", default=",".join(TOOLS))
    p.add_argument("--json")
    args = p.parse_args()
    if args.cmd == "_run":
        print(json.dumps(run_one(args.tool, os.path.abspath(args.events), args.threads)))
        return
    if not args.events:
        p.error("--events is required")
    tools = args.tools.split(",")
    size = os.path.getsize(args.events)
    results: dict = {t: [] for t in tools}
    for r in range(args.rounds):
        order = tools[r % len(tools):] + tools[:r % len(tools)]  # rotate who goes first
        for tool in order:
            done = subprocess.run([sys.executable, __file__, "_run", tool, args.events, str(args.threads)],
                                  capture_output=True, text=True)
            if done.returncode != 0:
                raise SystemExit(f"{tool} failed:\n{done.stderr[-3000:]}")
            row = json.loads(done.stdout.strip().splitlines()[-1])
            results[tool].append(row)
            print(json.dumps({"round": r, **row}), flush=True)
    rows_seen = {t: {x["rows"] for x in results[t]} for t in tools}
    print(f"\n{args.events}: {size / 1e6:,.0f} MB, {args.threads} threads, {args.rounds} rounds (median; "
          f"rows {rows_seen})\n")
    ref = statistics.median(x["seconds"] for x in results["polars"]) if "polars" in results else None
    ref_cpu = statistics.median(x["cpu_seconds"] for x in results["polars"]) if "polars" in results else None
    print("| tool | seconds (median) | fastest | MB/s | CPU seconds (median) | peak RSS (MB) | added by the read (MB) | "
          "bytes / event | polars.read_ndjson / tool: time | : CPU |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    summary = []
    for t in tools:
        xs = results[t]
        med = statistics.median(x["seconds"] for x in xs)
        rows = xs[0]["rows"]
        added = statistics.median(x["added_mb"] for x in xs)
        peak = statistics.median(x["peak_mb"] for x in xs)
        per_event = added * 2**20 / rows
        cpu = statistics.median(x["cpu_seconds"] for x in xs)
        ratio = f"{ref / med:.2f}x" if ref else ""
        cpu_ratio = f"{ref_cpu / cpu:.2f}x" if ref_cpu else ""
        summary.append({"tool": t, "seconds": med, "fastest": min(x["seconds"] for x in xs), "cpu_seconds": cpu,
                        "peak_mb": peak,
                        "added_mb": added, "bytes_per_event": per_event, "rows": rows,
                        "table_bytes": xs[0].get("table_bytes")})
        print(f"| {t} | {med:.3f} | {min(x['seconds'] for x in xs):.3f} | {size / 1e6 / med:,.0f} | {cpu:.2f} | "
              f"{peak:,.0f} | {added:,.0f} | {per_event:,.0f} | {ratio} | {cpu_ratio} |")
    if "churn" in results and results["churn"][0].get("table_bytes"):
        x = results["churn"][0]
        print(f"\nchurn's table holds {x['table_bytes'] / 2**20:,.1f} MB: {x['table_bytes'] / x['rows']:.1f} bytes "
              "per event (columns, dictionaries and their hash indexes)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"file": args.events, "bytes": size, "threads": args.threads, "rounds": args.rounds,
                       "runs": results, "summary": summary}, f, indent=1)


if __name__ == "__main__":
    main()
