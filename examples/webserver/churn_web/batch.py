"""Batch scoring: upload an event log (JSON lines, plain or gzip) or a CSV of features, get every user
scored, a table sorted by risk and a CSV download.

Uploads are streamed to a temporary file (Werkzeug spools bodies over 500 kB to disk, and we copy
the part in chunks), never held whole in memory; the event log is aggregated by churn's reader.
Memory grows with the number of users, which MAX_BATCH_USERS bounds for logs and CSVs alike.
"""
from __future__ import annotations

import csv
import ctypes
import gzip
import io
import os
import re
import secrets
import shutil
import tempfile
import threading
import time
import zlib
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple
from urllib.parse import urlencode

import numpy as np
from flask import Blueprint, Response, abort, current_app, render_template, request, send_file, session

import churn
from churn.csvsafe import neutralise, neutralise_row, restore

from .forms import check_row
from .model import ModelService, service

bp = Blueprint("batch", __name__, url_prefix="/batch")

ID_COLUMNS = ("user_id", "userId", "userid", "id")
ALLOWED_NAME = re.compile(r"^[0-9a-f]{32}$")


class BatchInputError(ValueError):
    """An upload that cannot be scored; the message is shown to the user as is, with `status`."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


class BatchLimitError(BatchInputError):
    """An upload that asks for more work than this server gives one upload: `limit` names the setting
    (MAX_BATCH_USERS, BATCH_SECONDS, BATCH_CONCURRENT); the message names it and what to do."""

    def __init__(self, message: str, limit: str, status: int = 413):
        super().__init__(message, status)
        self.limit = limit


def too_many_users(limit: int, line: Optional[int], remedy: str) -> BatchLimitError:
    """The 413 for an upload with more users than MAX_BATCH_USERS (as the API's 413 for MAX_API_ROWS)."""
    where = f"line {line}: " if line else ""
    return BatchLimitError(f"{where}more than {limit} users, the most this server scores in one upload "
                           f"(MAX_BATCH_USERS); {remedy}", "MAX_BATCH_USERS")


def too_slow(seconds: float) -> BatchLimitError:
    """The 413 for an upload whose scoring passed BATCH_SECONDS."""
    return BatchLimitError(f"scoring this upload took longer than {seconds:g} s, the most this server spends on "
                           "one upload (BATCH_SECONDS); split it into smaller uploads (fewer users or days each)",
                           "BATCH_SECONDS")


class Deadline:
    """The time budget of one upload: `check()` raises too_slow once it is spent, and a churn read given
    `progress` is stopped at its next block (churn.LimitError 'stop') by a timer."""

    def __init__(self, seconds: float):
        self.seconds = float(seconds)
        self.end = time.monotonic() + self.seconds

    def check(self) -> None:
        if time.monotonic() > self.end:
            raise too_slow(self.seconds)

    def watch(self, progress) -> threading.Timer:
        timer = threading.Timer(max(0.0, self.end - time.monotonic()), progress.stop)
        timer.daemon = True
        timer.start()
        return timer


try:  # glibc: hands freed heap pages back to the system
    _malloc_trim = ctypes.CDLL(None).malloc_trim
    _malloc_trim.argtypes, _malloc_trim.restype = [ctypes.c_size_t], ctypes.c_int
except (OSError, AttributeError):  # another C library: nothing to do
    _malloc_trim = None


def give_back_memory() -> None:
    """Returns what a batch job freed to the system. Without it each server thread's malloc arena kept
    its largest job's pages: ~135 MB a thread after a log refused at 500 000 users, and the server grew
    from 190 MB to 1.3 GB over 13 such uploads on waitress's 8 threads; with it, it stays at 190 MB
    (measured, docs/reliability.md). Costs ~10 ms after such a job, 0.05 ms otherwise."""
    if _malloc_trim is not None:
        _malloc_trim(0)


# ---- result store ---------------------------------------------------------------------------------
@dataclass
class BatchResult:
    token: str
    path: Path
    filename: str
    created: float
    summary: Dict[str, object] = field(default_factory=dict)


class BatchStore:
    """Scored CSVs on disk for download, the newest `keep` for `ttl` seconds. One per app."""

    def __init__(self, root: Path, keep: int, ttl: float, keep_bytes: int = 256 << 20):
        self.root = root
        self.keep = keep
        self.ttl = ttl
        self.keep_bytes = keep_bytes  # the scored CSVs on disk together, newest first
        self._lock = threading.Lock()
        self._results: Dict[str, BatchResult] = {}

    def new_upload_path(self, suffix: str = "") -> Path:
        fd, name = tempfile.mkstemp(prefix="upload-", suffix=suffix, dir=self.root)
        os.close(fd)
        return Path(name)

    def add(self, path: Path, filename: str, summary: Dict[str, object]) -> Optional[BatchResult]:
        """Keeps the CSV at `path` for download; None (and the file removed) when it alone is larger
        than keep_bytes."""
        token = secrets.token_hex(16)
        result = BatchResult(token, path, filename, time.time(), summary)
        with self._lock:
            self._results[token] = result
            self._expire_locked()
            return result if token in self._results else None

    def get(self, token: str) -> Optional[BatchResult]:
        with self._lock:
            self._expire_locked()
            return self._results.get(token)

    def _expire_locked(self) -> None:
        now = time.time()
        items = sorted(self._results.values(), key=lambda r: r.created, reverse=True)
        total = 0
        for i, r in enumerate(items):
            try:
                size = r.path.stat().st_size
            except OSError:
                size = 0
            total += size
            if i >= self.keep or now - r.created > self.ttl or total > self.keep_bytes:
                total -= size
                self._results.pop(r.token, None)
                r.path.unlink(missing_ok=True)


def init_store(app) -> None:
    base = app.config.get("UPLOAD_DIR") or None
    if base:
        Path(base).mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="churn-web-", dir=base))
    app.extensions["churn_batches"] = BatchStore(root, int(app.config["BATCH_KEEP"]), float(app.config["BATCH_TTL_SECONDS"]),
                                                 int(app.config["BATCH_KEEP_BYTES"]))
    # At most BATCH_CONCURRENT uploads are scored at once: their memory adds up, and the other server
    # threads stay free for the form, the API and /healthz.
    app.extensions["churn_batch_slots"] = threading.BoundedSemaphore(int(app.config["BATCH_CONCURRENT"]))
    import atexit
    atexit.register(shutil.rmtree, root, ignore_errors=True)


def store() -> BatchStore:
    return current_app.extensions["churn_batches"]


# ---- CSRF: the upload is the one state-changing form --------------------------------------------
def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def csrf_ok() -> bool:
    # compare_digest takes ASCII str or bytes only: any other text a client sends (or a tampered
    # session value) must be a mismatch, not a TypeError and a 500 (issue 15). Compared as UTF-8 bytes.
    sent = request.form.get("csrf_token", "")
    expected = session.get("csrf", "")
    if not sent or not isinstance(sent, str) or not isinstance(expected, str) or not expected:
        return False
    return secrets.compare_digest(sent.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass"))


def download_name(filename: str) -> str:
    """A result's file name, safe in a Content-Disposition header and on any file system: control
    characters (CR/LF broke the header; issue 15), path separators and quotes become "_", at most 100
    characters. Non-ASCII stays (Werkzeug sends it as RFC 6266 filename*=UTF-8'' with an ASCII
    fallback)."""
    stem = Path(filename).stem if filename else ""
    safe = "".join("_" if (ord(c) < 32 or ord(c) == 127 or c in '/\\"\'' or 0xD800 <= ord(c) <= 0xDFFF) else c
                   for c in stem).strip(" .")[:100] or "upload"
    return safe + "-scored.csv"


def render_page(**context):
    context.setdefault("error", None)
    context.setdefault("result", None)
    return render_template("batch.html", csrf_token=csrf_token(),
                           max_mb=current_app.config["MAX_CONTENT_LENGTH"] / 2**20,
                           max_bytes=int(current_app.config["MAX_CONTENT_LENGTH"]), **context)


# ---- reading uploads -----------------------------------------------------------------------------
def sniff(path: Path) -> str:
    """'gzip', 'jsonl' or 'csv' from the first bytes; 'empty' for a file with nothing but blanks."""
    with open(path, "rb") as f:
        head = f.read(4096)
    if head[:2] == b"\x1f\x8b":
        return "gzip"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not text:
        return "empty"
    return "jsonl" if text[:1] in (b"{", b"[") else "csv"


def inflate(path: Path, limit: int, deadline: Optional[Deadline] = None) -> Path:
    """The gzip upload `path` decompressed into a plain file beside it (and `path` removed), in chunks,
    refusing more than `limit` bytes: a gzip bomb costs at most `limit` bytes of disk and reading."""
    out = path.with_suffix(".json")
    written = 0
    try:
        with gzip.open(path, "rb") as src, open(out, "wb") as dst:
            while True:
                chunk = src.read(1 << 20)
                if not chunk:
                    break
                written += len(chunk)
                if deadline is not None:
                    deadline.check()
                if written > limit:
                    raise BatchInputError(f"the log decompresses to more than {limit / 2**20:.0f} MB, the most this "
                                          "server reads (MAX_LOG_BYTES); split it into several uploads")
                dst.write(chunk)
    except (OSError, EOFError, zlib.error) as e:
        out.unlink(missing_ok=True)
        raise BatchInputError(f"the gzip file is truncated or corrupt ({e})") from None
    except BatchInputError:
        out.unlink(missing_ok=True)
        raise
    finally:
        path.unlink(missing_ok=True)
    return out


def score_log(path: Path, svc: ModelService, threads: int, strict: bool = True,
              max_users: Optional[int] = None, deadline: Optional[Deadline] = None,
              explain: int = 3) -> "churn.ScoreResult":
    """Every user of an event log scored by churn.score (features with the model's own options, as of
    the UTC midnight after the last event; probabilities, verdicts, reasons, what the log lacks).
    More than `max_users` users is a BatchLimitError (413) as soon as the reader meets the first user
    beyond it: memory stays bounded (docs/reliability.md). Past `deadline` the reading stops at its
    next block and a BatchLimitError (BATCH_SECONDS) is raised."""
    progress = churn._churn._FeatureProgress()
    timer = deadline.watch(progress) if deadline is not None else None
    try:
        return churn.score(svc.model, [str(path)], explain=explain if svc.has_explanations else 0,
                           strict=strict, threads=threads, max_users=max_users, progress=progress)
    except churn.LimitError as e:  # told apart by type and name, never by the message
        if e.limit == "max_users":
            raise too_many_users(max_users or int(e.value), e.line, "split the log by user into several uploads") from None
        if e.limit == "stop" and deadline is not None:
            raise too_slow(deadline.seconds) from None
        raise
    except churn.ParseError:
        raise
    except churn.DataError as e:
        line = getattr(e, "line", None)
        if line is not None:  # e.g. an absurd timestamp; the message without the server's temporary path
            raise BatchInputError(f"line {line}: {e.reason}") from None
        raise
    finally:
        if timer is not None:
            timer.cancel()


def align_columns(table_names: List[str], svc: ModelService) -> List[int]:
    index = {n: i for i, n in enumerate(table_names)}
    missing = [f.name for f in svc.fields if f.name not in index]
    if missing:
        raise BatchInputError(
            "the model needs features that churn does not compute from event logs: " + ", ".join(missing[:10])
            + ". Upload a CSV of features instead.")
    return [index[f.name] for f in svc.fields]


def read_features_csv(path: Path, svc: ModelService, max_rows: Optional[int] = None,
                      deadline: Optional[Deadline] = None) -> Tuple[List[str], np.ndarray, List[str], List[List[str]]]:
    """(user ids, rows x fields, notes, the fields each row left blank) from a CSV with a header of field
    names. Streams the file, and stops at the first row beyond `max_rows` (a BatchInputError, 413) so
    that memory stays bounded. A blank field takes a default, which is never named as a reason."""
    notes: List[str] = []
    ids: List[str] = []
    assumed: List[List[str]] = []
    values = array("d")  # the rows, flat: 8 bytes a value where a list of lists of floats takes 32
    with open(path, newline="", encoding="utf-8-sig", errors="strict") as f:
        reader = csv.reader(f)
        try:
            header = next(reader)
        except StopIteration:
            raise BatchInputError("the file is empty") from None
        header = [h.strip() for h in header]
        known = {fl.name for fl in svc.fields}
        id_col = next((i for i, h in enumerate(header) if h in ID_COLUMNS), None)
        used = [h for h in header if h in known]
        if not used:
            raise BatchInputError(
                "line 1: the header names none of the model's fields (for example "
                + ", ".join(fl.name for fl in svc.fields_by_importance()[:4])
                + "); upload an event log (JSON lines) or a CSV whose first line names the features")
        ignored = [h for i, h in enumerate(header) if h not in known and i != id_col]
        if ignored:
            notes.append("ignored columns: " + ", ".join(ignored[:10]) + (" …" if len(ignored) > 10 else ""))
        absent = [fl.name for fl in svc.fields if fl.name not in used]
        if absent:
            notes.append(f"{len(absent)} model fields not in the file took their training median (the median of "
                         "the customers with the row's recency when the file gives days_since_last_event): "
                         + ", ".join(absent[:8]) + (" …" if len(absent) > 8 else ""))
        for record in reader:
            if not record or all(not c.strip() for c in record):
                continue
            line = reader.line_num
            if deadline is not None and line % 4096 == 0:
                deadline.check()
            if max_rows and len(ids) >= max_rows:
                raise too_many_users(max_rows, line, "split the file into several uploads")
            if len(record) != len(header):
                raise BatchInputError(f"line {line}: {len(record)} values, but the header has {len(header)} columns")
            raw = dict(zip(header, record))
            checked = check_row(svc.fields, raw, recency=svc.recency)
            if not checked.ok:
                name, message = next(iter(checked.errors.items()))
                raise BatchInputError(f"line {line}, column {name}: {message}")
            # restore(): a user id that churn's CSVs neutralised ('=...) is the customer's own id again.
            ids.append(restore(record[id_col].strip()) if id_col is not None else str(len(ids) + 1))
            values.extend(checked.values)
            assumed.append(checked.defaulted)
    if not ids:
        raise BatchInputError("the file has a header but no rows")
    return ids, np.frombuffer(values, dtype=np.float64).reshape(len(ids), len(svc.fields)), notes, assumed


def verdict_link(svc: ModelService, x: np.ndarray, absent: List[str]) -> str:
    """The query string of this customer's verdict page (/go) with their values filled in."""
    params = {}
    for f in svc.fields:
        v = float(x[f.index])
        params[f.name] = f.format(v) if f.categorical else (str(int(v)) if v.is_integer() else repr(v))
    if absent:
        params["absent"] = ",".join(absent)
    return urlencode(params)


def table_rows(svc: ModelService, result: "churn.ScoreResult", limit: int) -> List[Dict[str, object]]:
    """The highest risks for the page: probability as on the verdict page, reasons, verdict link."""
    rows = []
    for row in result.rows(top=3)[:limit]:
        i = row["index"]
        row["link"] = verdict_link(svc, result.X[i], result.not_in_log)
        rows.append(row)
    return rows


# ---- routes ---------------------------------------------------------------------------------------
@bp.route("", methods=["GET"])
def page():
    return render_page()


@bp.route("", methods=["POST"])
def upload():
    svc = service()
    if not csrf_ok():
        return render_page(error="The form has expired (or cookies are off): reload the page and upload again."), 400
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return render_page(error="Choose a file to upload: an event log (.json, .jsonl, .gz) or a CSV of features."), 400
    filename = os.path.basename(upload.filename)
    slots = current_app.extensions["churn_batch_slots"]
    if not slots.acquire(blocking=False):
        limit = int(current_app.config["BATCH_CONCURRENT"])
        page = render_page(error=f"{filename}: the server is scoring {limit} other upload{'s' if limit != 1 else ''}, "
                                 "the most it scores at once (BATCH_CONCURRENT); try again in a minute.")
        return page, 503, {"Retry-After": "30"}
    try:
        return _score_upload(svc, upload, filename)
    finally:
        slots.release()


def _score_upload(svc: ModelService, upload, filename: str):
    """Scores one upload within the limits of docs/web.md: MAX_LOG_BYTES, MAX_BATCH_USERS (memory),
    BATCH_SECONDS (time); a limit reached is a page that names it and says what to do."""
    config = current_app.config
    deadline = Deadline(float(config["BATCH_SECONDS"]))
    raw_path = store().new_upload_path()
    try:
        upload.save(raw_path)  # copies in chunks from Werkzeug's spooled file
        kind = sniff(raw_path)
        if kind == "empty":
            raise BatchInputError("the file is empty")
        notes: List[str] = []
        if kind in ("gzip", "jsonl"):
            if kind == "gzip":
                raw_path = inflate(raw_path, int(config["MAX_LOG_BYTES"]), deadline)
            try:
                result = score_log(raw_path, svc, int(config["FEATURE_THREADS"]),
                                   strict=not request.form.get("skip_bad_lines"),
                                   max_users=int(config["MAX_BATCH_USERS"]), deadline=deadline)
            except churn.ParseError as e:
                where = f"line {e.line}" + (f", field '{e.field}'" if getattr(e, "field", "") else "")
                raise BatchInputError(f"{where}: {e.reason}. Fix the line, or tick “skip malformed lines”.") from None
            except (churn.DataError, churn.ParameterError) as e:
                raise BatchInputError(str(e)) from None
            except churn.ChurnIOError as e:
                raise BatchInputError(f"cannot read the upload: {e}") from None
            deadline.check()
            if not len(result):
                raise BatchInputError("no users to score: the log has no user who has not already cancelled")
            notes = result.notes
            source = "event log"
        else:
            try:
                ids, X, notes, assumed = read_features_csv(raw_path, svc, int(config["MAX_BATCH_USERS"]), deadline)
            except UnicodeDecodeError as e:
                raise BatchInputError(f"the file is not UTF-8 text (byte {e.start}); upload a CSV or a JSON-lines log") from None
            except csv.Error as e:
                raise BatchInputError(f"not a readable CSV: {e}") from None
            deadline.check()
            result = churn.score_features(svc.model, X, ids, explain=3 if svc.has_explanations else 0,
                                          assumed=assumed)
            result.notes = notes
            source = "CSV of features"
    except BatchInputError as e:
        return render_page(error=f"{filename}: {e}"), e.status
    finally:
        raw_path.unlink(missing_ok=True)
        give_back_memory()  # the accumulator (or the CSV's Python objects) are gone by now

    out = store().new_upload_path(".csv")
    result.write_csv(out, top=3, values=True, categories={f.name: f.categories for f in svc.fields if f.categorical})
    summary = {"users": len(result), "churners": int(result.churn.sum()), "source": source, "notes": notes,
               "not_in_log": result.not_in_log, "warnings": result.warnings,
               "explain_error": result.explain_error}
    stored = store().add(out, download_name(filename), summary)
    if stored is None:  # shown, but not kept: no download link
        keep = int(config["BATCH_KEEP_BYTES"])
        shown = f"{keep / 2**20:.0f} MB" if keep >= 2**20 else f"{keep} bytes"
        notes.append(f"The CSV of this result is larger than the {shown} this server keeps for download "
                     "(BATCH_KEEP_BYTES): split the upload to download its results.")
        stored = BatchResult("", out, download_name(filename), time.time(), summary)
    rows = table_rows(svc, result, int(config["BATCH_TABLE_ROWS"]))
    return render_page(result=stored, rows=rows, filename=filename, shown=len(rows))


@bp.route("/template.csv")
def template():
    """A CSV to fill in: the id column and every field, with one row of training medians."""
    svc = service()
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["user_id"] + neutralise_row(f.name for f in svc.fields))
    w.writerow(["median-customer"] + ["" if f.default is None else neutralise(f.format(f.default)) if f.categorical
                                      else repr(f.default) for f in svc.fields])
    return Response(buf.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": "attachment; filename=churn-features-template.csv"})


@bp.route("/<token>.csv")
def download(token: str):
    if not ALLOWED_NAME.match(token):
        abort(404)
    result = store().get(token)
    if result is None or not result.path.is_file():
        abort(404, description="This result has expired; upload the file again.")
    return send_file(result.path, mimetype="text/csv", as_attachment=True, download_name=result.filename)
