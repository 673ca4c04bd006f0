"""Hostile requests to the web demo (docs/reliability.md): script tags, non-UTF-8 bytes, oversized and
streamed uploads, a gzip bomb, a 100 MB JSON line, many users. Each gets a clear 4xx or a bounded,
correct answer, the page escapes what it echoes, and the server answers the next request.
test_app.py and test_fuzz.py cover the ordinary error paths; this file adds only what they do not."""
from __future__ import annotations

import csv
import io
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zlib
from pathlib import Path
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from churn_web import create_app

from test_app import categorical_field, csrf, numeric_count_field, svc_of, upload

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

WEB = Path(__file__).resolve().parents[2] / "examples" / "webserver"

SCRIPT = '<script>alert("x")</script>'


def gzip_stream(parts, level=9) -> bytes:
    """A gzip file of the concatenated parts (bytes or (bytes, repeat) pairs), compressed as it goes so
    that a bomb never exists uncompressed in memory."""
    c = zlib.compressobj(level, zlib.DEFLATED, 31)
    out = []
    for part in parts:
        chunk, repeat = part if isinstance(part, tuple) else (part, 1)
        for _ in range(repeat):
            out.append(c.compress(chunk))
    out.append(c.flush())
    return b"".join(out)


def assert_alive(client):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json["status"] == "ok"


# ---- echoing and escaping -------------------------------------------------------------------------
def test_script_tags_in_form_values_come_back_escaped(client, app):
    svc = svc_of(app)
    num, cat = numeric_count_field(svc), categorical_field(svc)
    r = client.get("/go", query_string={num.name: SCRIPT, cat.name: SCRIPT, SCRIPT: SCRIPT})
    assert r.status_code == 400
    html = r.get_data(as_text=True)
    assert "<script>alert" not in html and "&lt;script&gt;alert" in html
    r = client.get("/", query_string={num.name: SCRIPT})
    assert "<script>alert" not in r.get_data(as_text=True)
    assert_alive(client)


def test_script_tags_in_an_uploaded_file_name_and_user_ids_come_back_escaped(client, app):
    svc = svc_of(app)
    num = numeric_count_field(svc)
    body = f"user_id,{num.name}\n\"{SCRIPT}\",3\n".encode()
    r = upload(client, body, SCRIPT + ".csv")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert "<script>alert" not in html and "&lt;script&gt;alert" in html
    r = upload(client, b"user_id,nothing_known\n1,2\n", SCRIPT + ".csv")
    assert r.status_code == 400 and "<script>alert" not in r.get_data(as_text=True)


def test_api_echoes_no_html(client, app):
    r = client.post("/api/predict", json={SCRIPT: 1, numeric_count_field(svc_of(app)).name: SCRIPT})
    assert r.status_code == 400 and r.is_json and r.headers["Content-Type"].startswith("application/json")


# ---- bytes that are not UTF-8 ---------------------------------------------------------------------
# As WSGI passes them: percent-encoded bytes, and raw bytes decoded as latin-1.
@pytest.mark.parametrize("query", ["zz%FF%FE=1", "x\xff=1", "%C0%AF=%ED%A0%80", "a=1&\xff\xfe=\x80"])
def test_non_utf8_query_strings_are_not_server_errors(client, query):
    for path in ("/go", "/"):
        r = client.get(path, environ_overrides={"QUERY_STRING": query})
        assert r.status_code in (200, 302, 400), (path, query, r.status_code)
    assert_alive(client)


def test_non_utf8_uploads_are_clear_400s(client):
    r = upload(client, b"user_id,x\n\xff\xfe\x80,1\n", "latin.csv")
    assert r.status_code == 400 and "not UTF-8" in r.get_data(as_text=True)
    r = upload(client, b'{"ts": 1541105830796, "userId": "\xff\xfe", "page": "Home"}\n', "bad.json")
    assert r.status_code == 400 and "line 1" in r.get_data(as_text=True)
    r = upload(client, b"\xff\xfe" * 1000, "binary.bin")
    assert r.status_code == 400
    r = client.post("/api/predict", data=b'{"a": "\xff"}', content_type="application/json")
    assert r.status_code == 400 and r.is_json
    assert_alive(client)


# ---- size limits: refused before the body is read -------------------------------------------------
class _EndlessBody(io.RawIOBase):
    """A request body of 2 GB that is never materialised; counts what the server reads."""

    def __init__(self):
        self.read_bytes = 0

    def readable(self):
        return True

    def readinto(self, b):
        n = len(b)
        self.read_bytes += n
        b[:n] = b"a" * n
        return n


@pytest.mark.parametrize("path, content_type", [("/batch", "multipart/form-data; boundary=xyz"),
                                                ("/api/predict", "application/json")])
def test_a_2gb_body_is_413_before_it_is_read(client, path, content_type):
    body = _EndlessBody()
    r = client.post(path, content_type=content_type,
                    environ_overrides={"wsgi.input": body, "CONTENT_LENGTH": str(2 << 30)})
    assert r.status_code == 413
    assert body.read_bytes < (1 << 20)
    assert_alive(client)


@pytest.fixture(scope="module")
def small_limit_server(trained, tmp_path_factory):
    """run.py (waitress) with a 1 MB upload limit, for the tests that stream over a socket."""
    port = free_port()
    log = open(tmp_path_factory.mktemp("srv") / "server.log", "w")
    env = {"PYTHONPATH": f"{WEB}:{':'.join(sys.path)}"}
    import os

    proc = subprocess.Popen([sys.executable, str(WEB / "run.py"), "--host", "127.0.0.1", "--port", str(port),
                             "--model", str(trained[0]), "--threads", "4", "--max-upload-mb", "1"],
                            env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("server did not start")
            time.sleep(0.2)
    yield port
    proc.terminate()
    proc.wait(timeout=10)
    log.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _status_of(sock) -> int:
    sock.settimeout(20)
    data = b""
    while b"\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return int(data.split(b" ")[1])


def test_server_refuses_a_2gb_upload_from_its_headers(small_limit_server):
    with socket.create_connection(("127.0.0.1", small_limit_server)) as s:
        s.sendall(b"POST /batch HTTP/1.1\r\nHost: localhost\r\nContent-Type: multipart/form-data; boundary=x\r\n"
                  b"Content-Length: 2147483648\r\n\r\n" + b"a" * 65536)
        assert _status_of(s) == 413
    with urllib.request.urlopen(f"http://127.0.0.1:{small_limit_server}/healthz", timeout=10) as r:
        assert r.status == 200


def test_server_stops_a_chunked_upload_at_the_limit(small_limit_server):
    """No Content-Length: the limit is enforced on the bytes as they arrive."""
    with socket.create_connection(("127.0.0.1", small_limit_server)) as s:
        s.sendall(b"POST /batch HTTP/1.1\r\nHost: localhost\r\nContent-Type: multipart/form-data; boundary=x\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n")
        chunk = b"%x\r\n" % 65536 + b"a" * 65536 + b"\r\n"
        sent = 0
        try:
            for _ in range(64):  # 4 MB, four times the limit
                s.sendall(chunk)
                sent += 65536
        except OSError:  # the server may close the connection as soon as it has answered
            pass
        assert _status_of(s) == 413
    with urllib.request.urlopen(f"http://127.0.0.1:{small_limit_server}/healthz", timeout=10) as r:
        assert r.status == 200


# ---- bombs and giant lines -----------------------------------------------------------------------
def test_gzip_bomb_is_refused_at_the_decompressed_limit(model_path, tmp_path):
    app = create_app({"MODEL_PATH": str(model_path), "UPLOAD_DIR": str(tmp_path), "MAX_LOG_BYTES": 64 << 20})
    client = app.test_client()
    # 4 GB of blank lines in about 4 MB: decompressed in chunks, refused once past 64 MB.
    bomb = gzip_stream([(b"\n" * (1 << 20), 4096)])
    assert len(bomb) < (5 << 20)
    r = upload(client, bomb, "bomb.json.gz")
    html = r.get_data(as_text=True)
    assert r.status_code == 400 and "decompresses to more than 64 MB" in html
    # Below the limit, the blank lines are read: no events, a clear answer.
    r = upload(client, gzip_stream([(b"\n" * (1 << 20), 16)]), "blank.json.gz")
    assert r.status_code == 400 and "no events" in r.get_data(as_text=True)
    assert_alive(client)
    assert sorted(p.name for p in tmp_path.rglob("upload-*")) == []  # nothing left on disk


def test_a_100mb_json_line_is_a_bad_line_and_can_be_skipped(client, app, batch_log):
    start = b'{"ts": 1541105830796, "userId": "huge", "page": "Home", "song": "'
    rest = batch_log.read_bytes()
    blob = gzip_stream([start, (b"a" * (1 << 20), 100), b'"}\n', rest])
    r = upload(client, blob, "long.json.gz")
    html = r.get_data(as_text=True)
    assert r.status_code == 400 and "line 1" in html and "longer than" in html
    token = csrf(client)
    r = client.post("/batch", data={"csrf_token": token, "skip_bad_lines": "1", "file": (io.BytesIO(blob), "long.json.gz")},
                    content_type="multipart/form-data")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert "1 malformed line skipped" in html and "huge" not in html
    assert_alive(client)


def test_many_users_give_a_bounded_page_and_a_complete_download(model_path, tmp_path):
    app = create_app({"MODEL_PATH": str(model_path), "UPLOAD_DIR": str(tmp_path), "BATCH_TABLE_ROWS": 50})
    c = app.test_client()
    svc = svc_of(app)
    num = numeric_count_field(svc)
    n = 20_000
    body = f"user_id,{num.name}\n".encode() + b"".join(b"u%d,%d\n" % (i, i % 97) for i in range(n))
    r = upload(c, body, "many.csv")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert "The table shows the 50 highest risks" in html
    assert len(re.findall(r"<tr[ >]", html)) == 50 + 1  # the header row and 50 users
    token = re.search(r"/batch/([0-9a-f]{32})\.csv", html).group(1)
    rows = list(csv.reader(io.StringIO(c.get(f"/batch/{token}.csv").get_data(as_text=True))))
    assert len(rows) == n + 1 and {r[1] for r in rows[1:]} == {f"u{i}" for i in range(n)}
    # Equal inputs, equal scores: the 97 distinct rows give at most 97 distinct probabilities.
    assert len({r[2] for r in rows[1:]}) <= 97


def minimal_log(n_users: int) -> bytes:
    """One minimal event per user: the shape that packs the most users into an upload."""
    return b"".join(b'{"ts":1541030400000,"page":"Home","userId":"%d","sessionId":1}\n' % (100000 + i)
                    for i in range(n_users))


def no_uploads_left(tmp_path) -> bool:
    return [p.name for p in tmp_path.rglob("upload-*") if p.suffix != ".csv"] == []  # results are .csv


def test_a_log_with_more_users_than_max_batch_users_is_a_413_at_the_first_user_beyond(model_path, tmp_path, batch_log):
    app = create_app({"MODEL_PATH": str(model_path), "UPLOAD_DIR": str(tmp_path), "MAX_BATCH_USERS": 50})
    c = app.test_client()
    blob = minimal_log(60)
    for name, data in (("many.json", blob), ("many.json.gz", gzip_stream([blob]))):
        r = upload(c, data, name)
        html = r.get_data(as_text=True)
        assert r.status_code == 413, html[:500]
        assert (f"{name}: line 51: more than 50 users, the most this server scores in one upload (MAX_BATCH_USERS); "
                "split the log by user into several uploads") in html
        assert str(tmp_path) not in html  # the server's temporary file is not named
        assert_alive(c)
    # At the limit: scored. The next ordinary upload works, and no upload is left on disk.
    assert upload(c, minimal_log(50), "fifty.json").status_code == 200
    assert upload(c, batch_log.read_bytes(), "batch.json").status_code == 200
    assert no_uploads_left(tmp_path)
    # Threads that each stay under the limit: their merge refuses the sum, without a line.
    app2 = create_app({"MODEL_PATH": str(model_path), "UPLOAD_DIR": str(tmp_path / "two"), "MAX_BATCH_USERS": 50,
                       "FEATURE_THREADS": 2})
    r = upload(app2.test_client(), blob, "many.json")
    html = r.get_data(as_text=True)
    # (When one thread happens to take both pieces of the file, it crosses the limit itself, at line 51.)
    assert r.status_code == 413 and re.search(r"many.json: (line 51: )?more than 50 users, the most this server scores", html)
    assert str(tmp_path) not in html


def test_a_csv_with_more_rows_than_max_batch_users_is_a_413_at_the_first_row_beyond(model_path, tmp_path):
    app = create_app({"MODEL_PATH": str(model_path), "UPLOAD_DIR": str(tmp_path), "MAX_BATCH_USERS": 50})
    c = app.test_client()
    num = numeric_count_field(svc_of(app))
    head = f"user_id,{num.name}\n".encode()
    r = upload(c, head + b"".join(b"u%d,%d\n" % (i, i % 7) for i in range(60)), "many.csv")
    html = r.get_data(as_text=True)
    assert r.status_code == 413, html[:500]
    assert ("many.csv: line 52: more than 50 users, the most this server scores in one upload (MAX_BATCH_USERS); "
            "split the file into several uploads") in html  # the header is line 1
    assert_alive(c)
    r = upload(c, head + b"".join(b"u%d,%d\n" % (i, i % 7) for i in range(50)), "fifty.csv")
    assert r.status_code == 200
    token = re.search(r"/batch/([0-9a-f]{32})\.csv", r.get_data(as_text=True)).group(1)
    rows = list(csv.reader(io.StringIO(c.get(f"/batch/{token}.csv").get_data(as_text=True))))
    assert len(rows) == 51 and {r[1] for r in rows[1:]} == {f"u{i}" for i in range(50)}
    assert no_uploads_left(tmp_path)


def test_max_batch_users_defaults_to_200000_and_comes_from_the_environment():
    from churn_web.config import resolve

    assert resolve({"SECRET_KEY": "x"}, environ={})["MAX_BATCH_USERS"] == 200_000  # 500 000 before issue 15
    assert resolve({"SECRET_KEY": "x"}, environ={"CHURN_WEB_MAX_BATCH_USERS": "2_000"})["MAX_BATCH_USERS"] == 2000
    with pytest.raises(ValueError, match="MAX_BATCH_USERS"):
        resolve({"SECRET_KEY": "x"}, environ={"CHURN_WEB_MAX_BATCH_USERS": "0"})


# ---- concurrency ---------------------------------------------------------------------------------
def test_concurrent_api_predictions_equal_sequential_ones(app):
    svc = svc_of(app)
    rng = np.random.default_rng(3)
    num = [f for f in svc.fields if not f.categorical][:4]
    bodies = [{f.name: float(rng.integers(0, 50)) for f in num} for _ in range(40)]
    client = app.test_client()
    sequential = [client.post("/api/predict", json=b).json for b in bodies]

    def one(b):
        return app.test_client().post("/api/predict", json=b).json

    with ThreadPoolExecutor(8) as pool:
        concurrent = list(pool.map(one, bodies * 3))
    assert concurrent == sequential * 3


def test_production_server_runs_without_debug(app, small_limit_server):
    assert not app.debug
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(f"http://127.0.0.1:{small_limit_server}/nope/{SCRIPT}", timeout=10)
    body = info.value.read()
    assert info.value.code == 404 and b"Traceback" not in body and b"__debugger__" not in body
    assert b"<script>alert" not in body
    assert "default-src 'self'" in info.value.headers["Content-Security-Policy"]


# ---- the CSV reader (Python): property test in place of a libFuzzer target -------------------------
@settings(max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_csv_upload_is_scored_or_a_clear_400(client, app, data):
    names = [f.name for f in svc_of(app).fields]
    cell = st.sampled_from(["", "0", "1.5", "-3", "nan", "inf", "1e999", "x", '"', "\x00", "é", SCRIPT]) | st.text(max_size=8)
    header = data.draw(st.lists(st.sampled_from(names + ["user_id", "other"]) | st.text(max_size=6), min_size=1, max_size=5))
    rows = data.draw(st.lists(st.lists(cell, min_size=0, max_size=6), max_size=5))
    buf = io.StringIO()
    csv.writer(buf).writerows([header] + rows)
    raw = buf.getvalue().encode("utf-8", "surrogatepass")
    r = upload(client, raw, "fuzz.csv")
    assert r.status_code in (200, 400), r.get_data(as_text=True)[:500]
    assert "<script>alert" not in r.get_data(as_text=True)
