#!/usr/bin/env python3
"""Starts the churn web demo: waitress on 0.0.0.0:3001 by default, Flask's dev server with --dev.

    python examples/webserver/run.py --model examples/webserver/model/churn_model.json
    CHURN_WEB_PORT=8080 python examples/webserver/run.py --config web.toml

Settings come from (later wins) defaults, --config FILE (JSON or TOML), CHURN_WEB_* environment
variables, then the options below. See docs/web.md.
"""
from __future__ import annotations

import argparse
import errno
import logging
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))


def parse_args(argv=None) -> argparse.Namespace:
    env = os.environ.get
    p = argparse.ArgumentParser(description="The churn web demo (Flask + Bootstrap, served by waitress).")
    p.add_argument("--host", default=env("CHURN_WEB_HOST", "0.0.0.0"), help="address to listen on (default 0.0.0.0)")
    p.add_argument("--port", type=int, default=int(env("CHURN_WEB_PORT", "3001")), help="port (default 3001)")
    p.add_argument("--model", default=None,
                   help="saved model (default: env CHURN_WEB_MODEL_PATH or examples/webserver/model/churn_model.json)")
    p.add_argument("--config", default=env("CHURN_WEB_CONFIG"), help="configuration file, JSON or TOML (keys as in docs/web.md)")
    p.add_argument("--threads", type=int, default=int(env("CHURN_WEB_THREADS", "8")), help="waitress worker threads (default 8)")
    p.add_argument("--max-upload-mb", type=float, default=None, help="largest upload in MB (default 256)")
    p.add_argument("--dev", action="store_true", help="Flask's development server with the debugger off and reloading on")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from churn_web import create_app
    from churn_web.assets import MissingAssetsError
    from churn_web.model import ModelLoadError

    overrides = {}
    if args.config:
        overrides["CONFIG_FILE"] = args.config
    if args.model:
        overrides["MODEL_PATH"] = args.model
    if args.max_upload_mb is not None:
        overrides["MAX_CONTENT_LENGTH"] = int(args.max_upload_mb * 2**20)
    try:
        app = create_app(overrides)
    except (ModelLoadError, MissingAssetsError, ValueError) as e:
        print(f"run.py: {e}", file=sys.stderr)
        return 2
    svc = app.extensions["churn_model"]
    shown_host = "localhost" if args.host in ("0.0.0.0", "::") else args.host
    print(f"churn web demo: model {svc.source} ({len(svc.fields)} features, threshold {svc.threshold:.3f}); "
          f"http://{shown_host}:{args.port}/", flush=True)
    try:
        if args.dev:
            app.run(host=args.host, port=args.port, debug=False, use_reloader=True)
            return 0
        import waitress

        # waitress buffers request bodies to disk past a few hundred kB; keep its own cap just above ours.
        # Idle and slow clients hold a connection (a file descriptor), never a worker thread: waitress's
        # default of 100 connections let 100 idle sockets shut everyone else out, /healthz included
        # (issue 15). CONNECTION_LIMIT and CHANNEL_TIMEOUT are in docs/web.md; poll() because select()
        # cannot watch descriptors beyond 1024.
        connection_limit = int(app.config["CONNECTION_LIMIT"])
        ensure_file_descriptors(connection_limit + 64)
        waitress.serve(app, host=args.host, port=args.port, threads=args.threads,
                       max_request_body_size=int(app.config["MAX_CONTENT_LENGTH"]) + (1 << 20), ident="churn-web",
                       connection_limit=connection_limit, channel_timeout=int(app.config["CHANNEL_TIMEOUT"]),
                       cleanup_interval=max(1, min(30, int(app.config["CHANNEL_TIMEOUT"]) // 2)), asyncore_use_poll=True,
                       backlog=1024)
    except OSError as e:
        if e.errno in (errno.EADDRINUSE, errno.EACCES, errno.EADDRNOTAVAIL):
            reason = {errno.EADDRINUSE: f"port {args.port} is already in use (another server, or an earlier "
                                        "demo still running?). Stop it, or choose another port",
                      errno.EACCES: f"port {args.port} needs privileges this user lacks. Choose a port above 1023",
                      errno.EADDRNOTAVAIL: f"{args.host} is not an address of this machine. Use --host 0.0.0.0 "
                                           "or 127.0.0.1"}[e.errno]
            print(f"run.py: cannot listen on {args.host}:{args.port}: {reason}: --port N, or "
                  "PORT=N bash scripts/demo.sh.", file=sys.stderr)
            return 2
        raise
    return 0


def ensure_file_descriptors(wanted: int) -> None:
    """Raises the soft limit on open files towards `wanted` (up to the hard limit): each connection
    waitress holds is one descriptor, and the common soft limit of 1024 would cap CONNECTION_LIMIT."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not POSIX
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            pass
        if target < wanted:
            logging.getLogger("churn_web").warning(
                "only %d open files allowed (ulimit -n): CONNECTION_LIMIT is effectively about %d", target, target - 64)


if __name__ == "__main__":
    sys.exit(main())
