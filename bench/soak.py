#!/usr/bin/env python3
"""Soak test of the web demo: a bounded load for minutes, checking every answer and sampling memory.

Starts examples/webserver/run.py (waitress, as in production) on a free 127.0.0.1 port and sends a fixed
rate of requests (open loop) for --minutes: half POST /api/predict with one customer, half GET /go (the
form's verdict page). Before the load, each of --rows customers is scored once, sequentially; under
load every answer must be byte-for-byte that sequential answer (concurrent predictions equal
sequential ones) with status 200. The server's resident memory is sampled every --sample seconds;
growth is the difference between the median of the last and of the first minute after warm-up.
Loopback only. Exit status 1 on any error, mismatch or growth beyond --max-growth-mb.

    python bench/soak.py --model examples/webserver/model/churn_model.json --minutes 5 --rate 40
    python bench/soak.py --minutes 5 --json soak.json     # builds a small model from a simulated log

Results are recorded in docs/reliability.md.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_web import Memory, percentile, sample_rows, start_server  # noqa: E402


def build_model(workdir: Path) -> str:
    """A small model with full metadata, as the demo's build_model.py makes it, from a simulated log."""
    import churn

    log = workdir / "train.json"
    churn.simulate(log, users=200, days=60, seed=3, cancel_multiplier=2.0)
    model = workdir / "model.json"
    subprocess.run([sys.executable, str(ROOT / "examples" / "webserver" / "build_model.py"), str(log), str(model)],
                   check=True, stdout=subprocess.DEVNULL)
    return str(model)


def fetch(conn: http.client.HTTPConnection, method: str, path: str, body, headers):
    conn.request(method, path, body=body, headers=headers)
    r = conn.getresponse()
    return r.status, r.read()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", help="saved model (default: build a small one from a simulated log)")
    p.add_argument("--minutes", type=float, default=5.0, help="duration of the load (default 5, at most 60)")
    p.add_argument("--rate", type=float, default=40.0, help="requests per second (default 40)")
    p.add_argument("--workers", type=int, default=8, help="client threads")
    p.add_argument("--server-threads", type=int, default=8, help="waitress threads")
    p.add_argument("--rows", type=int, default=200, help="distinct customers (default 200)")
    p.add_argument("--sample", type=float, default=5.0, help="seconds between memory samples")
    p.add_argument("--warmup", type=float, default=30.0, help="seconds of load before memory counts")
    p.add_argument("--max-growth-mb", type=float, default=20.0, help="fail above this growth")
    p.add_argument("--json", help="also write the results to this file")
    args = p.parse_args(argv)
    seconds = min(args.minutes, 60.0) * 60

    with tempfile.TemporaryDirectory(prefix="churn-soak-") as tmp:
        model = args.model or build_model(Path(tmp))
        proc, port = start_server(model, args.server_threads)
        try:
            return run(args, proc, port, seconds)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def run(args, proc, port: int, seconds: float) -> int:
    rows = sample_rows(port, args.rows, seed=1)
    json_headers = {"Content-Type": "application/json"}
    requests = []
    for r in rows:
        requests.append(("POST", "/api/predict", json.dumps(r).encode(), json_headers))
        requests.append(("GET", "/go?" + urllib.parse.urlencode(r), None, {}))
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    expected = []
    for req in requests:
        status, body = fetch(conn, *req)
        if status != 200:
            raise SystemExit(f"soak: {req[0]} {req[1][:80]} gave {status} before the load: {body[:300]!r}")
        expected.append(body)
    conn.close()

    n = int(args.rate * seconds)
    slots: "queue.Queue" = queue.Queue()
    latencies = []
    errors = []
    mismatches = []
    lock = threading.Lock()
    t0 = time.perf_counter() + 0.2

    def worker():
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while True:
            i = slots.get()
            if i is None:
                break
            due = t0 + i / args.rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            k = i % len(requests)
            try:
                status, body = fetch(c, *requests[k])
            except (OSError, http.client.HTTPException) as e:
                c.close()
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                with lock:
                    errors.append(f"{requests[k][0]} {requests[k][1][:60]}: {e!r}")
                continue
            done = time.perf_counter()
            with lock:
                latencies.append(done - due)
                if status != 200:
                    errors.append(f"{requests[k][0]} {requests[k][1][:60]}: HTTP {status}")
                elif body != expected[k]:
                    mismatches.append(k)
        c.close()

    mem = Memory(proc.pid, every=args.sample)
    mem.start()
    started = time.time()
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(args.workers)]
    for t in threads:
        t.start()
    for i in range(n):
        slots.put(i)
    for _ in threads:
        slots.put(None)
    progress_every = 60.0
    next_report = time.perf_counter() + progress_every
    while any(t.is_alive() for t in threads):
        time.sleep(1)
        if time.perf_counter() >= next_report:
            next_report += progress_every
            with lock:
                done = len(latencies) + len(errors)
            rss = mem.samples[-1] / 2**20 if mem.samples else float("nan")
            print(f"soak: {time.perf_counter() - t0:5.0f} s, {done} requests, {len(errors)} errors, "
                  f"{len(mismatches)} mismatches, RSS {rss:.1f} MB", flush=True)
    wall = time.perf_counter() - t0
    mem.stop.set()
    mem.join()

    samples = [s / 2**20 for s in mem.samples]
    per_minute = max(1, int(round(60 / args.sample)))
    skip = int(args.warmup / args.sample)
    steady = samples[skip:] if len(samples) > skip + 2 * per_minute else samples
    first = statistics.median(steady[:per_minute])
    last = statistics.median(steady[-per_minute:])
    growth = last - first
    result = {
        "minutes": round(wall / 60, 2), "rate_target": args.rate, "requests": len(latencies) + len(errors),
        "rate_achieved": round((len(latencies) + len(errors)) / wall, 1), "errors": len(errors),
        "mismatches": len(mismatches), "distinct_requests": len(requests),
        "latency_ms": {"p50": round(1000 * percentile(latencies, 50), 1), "p99": round(1000 * percentile(latencies, 99), 1),
                       "max": round(1000 * max(latencies), 1) if latencies else None},
        "rss_mb": {"start": round(samples[0], 1), "after_warmup": round(first, 1), "end": round(last, 1),
                   "max": round(max(samples), 1), "growth": round(growth, 1), "samples": len(samples)},
        "rss_series_mb": [round(s, 1) for s in samples],
        "loadavg": os.getloadavg(), "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
    }
    print(json.dumps({k: v for k, v in result.items() if k != "rss_series_mb"}, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    ok = not errors and not mismatches and growth <= args.max_growth_mb
    for e in errors[:5]:
        print("soak: error:", e, file=sys.stderr)
    if mismatches:
        print(f"soak: {len(mismatches)} answers differ from the sequential ones (e.g. request {mismatches[0]})",
              file=sys.stderr)
    if growth > args.max_growth_mb:
        print(f"soak: memory grew by {growth:.1f} MB (limit {args.max_growth_mb})", file=sys.stderr)
    print("soak:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
