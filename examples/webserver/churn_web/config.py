"""Configuration: defaults, then a file, then CHURN_WEB_* environment variables, then explicit values.

Every key can be set in any of the three places; the environment names are the keys prefixed with
``CHURN_WEB_`` (``CHURN_WEB_MODEL_PATH``, ``CHURN_WEB_MAX_CONTENT_LENGTH``, ...).
"""
from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any, Dict, Mapping, Optional

ENV_PREFIX = "CHURN_WEB_"
HERE = Path(__file__).resolve().parent

DEFAULTS: Dict[str, Any] = {
    # The saved model (churn's JSON model format, metadata as in docs/model-metadata.md).
    "MODEL_PATH": str(HERE.parent / "model" / "churn_model.json"),
    # Where the Debian packages libjs-bootstrap5 and libjs-chart.js put their files.
    "BOOTSTRAP_DIR": "/usr/share/javascript/bootstrap5",
    "CHARTJS_DIR": "/usr/share/javascript/chart.js",
    # Largest request body (batch uploads) in bytes; larger requests get 413.
    "MAX_CONTENT_LENGTH": 256 * 1024 * 1024,
    # Largest event log after gzip decompression, in bytes: deflate shrinks blank lines ~1000:1, so
    # without a cap a small upload could keep a worker reading for hours (docs/reliability.md).
    "MAX_LOG_BYTES": 1024 * 1024 * 1024,
    # Most users in one batch upload (event log or CSV of features); more get 413. Memory grows with
    # users, not bytes: a 1 GB log of minimal lines holds ~15 million users, many GB of per-user
    # state; a log refused at 500 000 peaks at ~0.3 GB, finalising 500 000 takes ~0.7 GB
    # (docs/reliability.md).
    "MAX_BATCH_USERS": 200_000,
    # Most seconds one batch upload may take (inflating, reading, scoring); past it the reading stops at
    # its next block and the user gets a 413 naming the limit. A worker thread is never held longer.
    "BATCH_SECONDS": 60,
    # Most uploads scored at once (memory adds up: ~2.4 KB a user at the peak, so 2 x 200 000 users
    # ~1 GB); one more gets a 503 with Retry-After, and the other server threads stay free.
    "BATCH_CONCURRENT": 2,
    # Form: how many of the most important features are shown before the "all fields" toggle.
    "TOP_FIELDS": 8,
    # Verdict page: how many features that pushed the prediction up (and down) are explained.
    "TOP_REASONS": 4,
    # JSON API: most rows in one POST /api/predict.
    "MAX_API_ROWS": 10_000,
    # Batch page: rows shown in the table (the CSV has every user); results kept for download.
    "BATCH_TABLE_ROWS": 500,
    "BATCH_KEEP": 20,
    # ... and at most this many bytes of them on disk together (the oldest go first; a result larger
    # than this alone is shown but not kept).
    "BATCH_KEEP_BYTES": 256 * 1024 * 1024,
    "BATCH_TTL_SECONDS": 3600,
    # Temporary directory for uploads and batch results (None: the system's).
    "UPLOAD_DIR": None,
    # Threads for feature aggregation of an uploaded log (0: all cores).
    "FEATURE_THREADS": 1,
    "SECRET_KEY": None,
    # waitress (run.py): connections held at once (idle and slow clients included: each costs a file
    # descriptor, not a thread), and seconds of inactivity after which a connection is closed.
    "CONNECTION_LIMIT": 1000,
    "CHANNEL_TIMEOUT": 30,
}

_INT_KEYS = {k for k, v in DEFAULTS.items() if isinstance(v, int)}


def _coerce(key: str, value: Any) -> Any:
    if key in _INT_KEYS and isinstance(value, str):
        try:
            return int(value.replace("_", ""))
        except ValueError:
            raise ValueError(f"configuration {key}: {value!r} is not an integer") from None
    return value


def read_config_file(path: "str | os.PathLike[str]") -> Dict[str, Any]:
    """Reads a JSON or TOML configuration file (by extension) of KEY = value pairs."""
    p = Path(path)
    try:
        text = p.read_bytes()
    except OSError as e:
        raise ValueError(f"cannot read configuration file {p}: {e.strerror}") from None
    if p.suffix == ".toml":
        try:
            import tomllib  # Python 3.11+
        except ImportError:  # pragma: no cover - older Pythons
            raise ValueError(f"configuration file {p}: TOML needs Python 3.11 or later; use JSON") from None
    try:
        data = tomllib.loads(text.decode()) if p.suffix == ".toml" else json.loads(text)
    except (ValueError, UnicodeDecodeError) as e:
        raise ValueError(f"configuration file {p} is not valid {'TOML' if p.suffix == '.toml' else 'JSON'}: {e}") from None
    if not isinstance(data, dict):
        raise ValueError(f"configuration file {p} must hold an object of settings")
    return {k.upper(): v for k, v in data.items()}


def from_environment(environ: Optional[Mapping[str, str]] = None) -> Dict[str, Any]:
    env = os.environ if environ is None else environ
    out: Dict[str, Any] = {}
    for name, value in env.items():
        if name.startswith(ENV_PREFIX) and name != ENV_PREFIX + "CONFIG":
            out[name[len(ENV_PREFIX):]] = value
    return out


def resolve(config: Optional[Mapping[str, Any]] = None, environ: Optional[Mapping[str, str]] = None) -> Dict[str, Any]:
    """The effective configuration. ``CHURN_WEB_CONFIG`` (or a ``CONFIG_FILE`` key) names a file."""
    env = os.environ if environ is None else environ
    explicit = {k.upper(): v for k, v in (config or {}).items()}
    merged = dict(DEFAULTS)
    config_file = explicit.get("CONFIG_FILE") or env.get(ENV_PREFIX + "CONFIG")
    if config_file:
        merged.update(read_config_file(config_file))
    merged.update(from_environment(env))
    merged.update(explicit)
    merged = {k: _coerce(k, v) for k, v in merged.items()}
    if not merged.get("SECRET_KEY"):
        # Per process: sessions (only the upload form's CSRF token) do not survive a restart, which is fine.
        merged["SECRET_KEY"] = secrets.token_hex(32)
    for key in ("MAX_CONTENT_LENGTH", "MAX_LOG_BYTES", "MAX_BATCH_USERS", "TOP_FIELDS", "MAX_API_ROWS", "BATCH_TABLE_ROWS",
                "BATCH_KEEP", "BATCH_KEEP_BYTES", "BATCH_SECONDS", "BATCH_CONCURRENT", "CONNECTION_LIMIT", "CHANNEL_TIMEOUT"):
        if int(merged[key]) < 1:
            raise ValueError(f"configuration {key}: {merged[key]} must be at least 1")
    return merged
