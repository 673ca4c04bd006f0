#!/usr/bin/env python3
"""Load benchmark of the web demo on loopback: requests/s and latency at a fixed arrival rate.

Starts examples/webserver/run.py (waitress, as in production) on a free 127.0.0.1 port, then for each
scenario sends requests at a fixed rate (open loop: each request has a scheduled start time, and its
latency is counted from that time, so a stalled server cannot hide its queueing delay) for a bounded
duration, sampling the server's resident memory. Rows vary (drawn from the model's training
quantiles), so no cache flatters the numbers.

    python bench/bench_web.py --model examples/webserver/model/churn_model.json --rate 200 --seconds 20

Scenarios: POST /api/predict with one customer; GET /go (the form's verdict page, HTML); and a
closed-loop run of /api/predict with --connections clients to show the ceiling. Loopback only.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import queue
import random
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUN_PY = ROOT / "examples" / "webserver" / "run.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model: str, threads: int):
    port = free_port()
    env = dict(os.environ)
    proc = subprocess.Popen([sys.executable, str(RUN_PY), "--host", "127.0.0.1", "--port", str(port), "--model", model,
                             "--threads", str(threads)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("bench_web: the server did not start:\n" + proc.stderr.read().decode())
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/healthz")
            if c.getresponse().status == 200:
                c.close()
                return proc, port
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("bench_web: the server did not answer /healthz within 60 s")


def sample_rows(port: int, n: int, seed: int):
    """n customers drawn between the training 5% and 95% quantiles of every field."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", "/api/model")
    fields = json.loads(c.getresponse().read())["fields"]
    c.close()
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        row = {}
        for f in fields:
            if f["kind"] == "categorical":
                row[f["name"]] = rng.choice(f["categories"])
            elif f.get("min") is not None and f.get("max") is not None:
                lo, hi = f["min"], f["max"]
                v = rng.uniform(lo, lo + (hi - lo) * 0.5)
                row[f["name"]] = round(v) if f.get("integer") or f.get("unit") == "0/1" else round(v, 3)
        rows.append(row)
    return rows


class Memory(threading.Thread):
    def __init__(self, pid: int, every: float = 0.25):
        super().__init__(daemon=True)
        import psutil

        self.proc = psutil.Process(pid)
        self.every = every
        self.samples = []
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            try:
                self.samples.append(self.proc.memory_info().rss)
            except Exception:  # noqa: BLE001 - the server went away: stop sampling
                return
            self.stop.wait(self.every)


def percentile(values, q):
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, max(0, int(round(q / 100 * (len(s) - 1)))))]


def open_loop(port: int, make_request, rate: float, seconds: float, workers: int):
    """Requests at `rate` per second for `seconds`; latency from each request's scheduled start."""
    n = int(rate * seconds)
    slots: "queue.Queue" = queue.Queue()
    latencies, service, errors = [], [], []
    lock = threading.Lock()
    t0 = time.perf_counter() + 0.2

    def worker(k: int):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while True:
            i = slots.get()
            if i is None:
                break
            due = t0 + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            method, path, body, headers = make_request(i)
            start = time.perf_counter()
            try:
                conn.request(method, path, body=body, headers=headers)
                r = conn.getresponse()
                r.read()
                ok = r.status == 200
            except (OSError, http.client.HTTPException) as e:
                ok = False
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                r = e
            end = time.perf_counter()
            with lock:
                latencies.append(end - due)
                service.append(end - start)
                if not ok:
                    errors.append(getattr(r, "status", repr(r)))
        conn.close()

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(workers)]
    for t in threads:
        t.start()
    for i in range(n):
        slots.put(i)
    for _ in threads:
        slots.put(None)
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    return {"requests": n, "seconds": elapsed, "rps": n / elapsed, "errors": len(errors),
            "p50_ms": percentile(latencies, 50) * 1e3, "p90_ms": percentile(latencies, 90) * 1e3,
            "p99_ms": percentile(latencies, 99) * 1e3, "max_ms": max(latencies) * 1e3, "service_p50_ms": percentile(service, 50) * 1e3,
            "service_p99_ms": percentile(service, 99) * 1e3}


def closed_loop(port: int, make_request, seconds: float, connections: int):
    """As many requests as `connections` clients can send back to back: the ceiling."""
    stop = time.perf_counter() + seconds
    counts, latencies, errors = [0] * connections, [], []
    lock = threading.Lock()

    def client(k: int):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        i = k
        mine = []
        while time.perf_counter() < stop:
            method, path, body, headers = make_request(i)
            start = time.perf_counter()
            conn.request(method, path, body=body, headers=headers)
            r = conn.getresponse()
            r.read()
            mine.append(time.perf_counter() - start)
            if r.status != 200:
                errors.append(r.status)
            counts[k] += 1
            i += connections
        with lock:
            latencies.extend(mine)
        conn.close()

    t0 = time.perf_counter()
    threads = [threading.Thread(target=client, args=(k,)) for k in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    total = sum(counts)
    return {"requests": total, "seconds": elapsed, "rps": total / elapsed, "errors": len(errors),
            "p50_ms": percentile(latencies, 50) * 1e3, "p90_ms": percentile(latencies, 90) * 1e3,
            "p99_ms": percentile(latencies, 99) * 1e3, "max_ms": max(latencies) * 1e3}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=str(ROOT / "examples" / "webserver" / "model" / "churn_model.json"))
    p.add_argument("--rate", type=float, default=200.0, help="requests per second (default 200)")
    p.add_argument("--seconds", type=float, default=20.0, help="duration of each scenario (default 20, at most 120)")
    p.add_argument("--workers", type=int, default=16, help="client threads for the fixed-rate runs")
    p.add_argument("--server-threads", type=int, default=8, help="waitress threads")
    p.add_argument("--connections", type=int, default=4, help="clients for the closed-loop ceiling run (0: skip)")
    p.add_argument("--json", help="also write the results to this file")
    args = p.parse_args(argv)
    seconds = min(args.seconds, 120.0)
    if not Path(args.model).is_file():
        raise SystemExit(f"bench_web: no model at {args.model}; build one with examples/webserver/build_model.py")

    proc, port = start_server(args.model, args.server_threads)
    results = {}
    try:
        rows = sample_rows(port, 1000, seed=0)
        bodies = [json.dumps(r).encode() for r in rows]
        queries = ["/go?" + urllib.parse.urlencode(r) for r in rows]
        json_headers = {"Content-Type": "application/json"}

        def predict(i):
            return "POST", "/api/predict", bodies[i % len(bodies)], json_headers

        def form(i):
            return "GET", queries[i % len(queries)], None, {}

        # Warm up (imports, template compilation, first allocations) before memory is measured.
        open_loop(port, predict, 100, 2, 4)
        open_loop(port, form, 100, 2, 4)
        for name, make in (("POST /api/predict", predict), ("GET /go (verdict page)", form)):
            mem = Memory(proc.pid)
            mem.start()
            r = open_loop(port, make, args.rate, seconds, args.workers)
            mem.stop.set()
            mem.join()
            s = mem.samples
            r["rss_start_mb"], r["rss_end_mb"], r["rss_max_mb"] = s[0] / 2**20, s[-1] / 2**20, max(s) / 2**20
            results[f"{name} at {args.rate:g}/s"] = r
        if args.connections:
            results[f"POST /api/predict, {args.connections} clients back to back"] = closed_loop(
                port, predict, min(seconds, 10.0), args.connections)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"# {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, waitress {args.server_threads} threads, "
          f"loopback; load average {load} at the end")
    print("| scenario | requests | req/s | errors | p50 ms | p90 ms | p99 ms | max ms | RSS start → end (max) MB |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for name, r in results.items():
        rss = (f"{r['rss_start_mb']:.0f} → {r['rss_end_mb']:.0f} ({r['rss_max_mb']:.0f})" if "rss_start_mb" in r else "")
        print(f"| {name} | {r['requests']} | {r['rps']:.0f} | {r['errors']} | {r['p50_ms']:.2f} | {r['p90_ms']:.2f} | {r['p99_ms']:.2f} | "
              f"{r['max_ms']:.1f} | {rss} |")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 1 if any(r["errors"] for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
