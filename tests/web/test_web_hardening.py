"""Hardening of the web demo, round two (issue 15, docs/reliability.md): nested JSON, any text in form
fields and headers, file names in headers, CSV formula injection with its round trip, metadata and
counts checked at start, the limits of one upload, and a server that answers /healthz while idle and
slow clients hold connections. Each case was a 500, a hang or a silent fault before the fix."""
from __future__ import annotations

import csv
import io
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from churn.csvsafe import TRIGGERS
from churn_web import create_app

from test_app import csrf, numeric_count_field, svc_of, upload

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

WEB = Path(__file__).resolve().parents[2] / "examples" / "webserver"


def assert_alive(client):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json["status"] == "ok"


# ---- JSON however deep -------------------------------------------------------------------------------
@pytest.mark.parametrize("depth", [1000, 5000, 100_000])
def test_deeply_nested_json_is_a_400_on_every_json_route(client, depth):
    name = svc_of(client.application).fields[0].name
    for body in ("[" * depth, "[" * depth + "]" * depth, '{"a":' * depth + "1" + "}" * depth,
                 '{"x": ' + "[" * depth + "]" * depth + "}",
                 '{"%s": ' % name + "[" * min(depth, 900) + "]" * min(depth, 900) + "}"):  # parses: a list value
        r = client.post("/api/predict", data=body, content_type="application/json")
        assert r.status_code == 400, (depth, r.status_code)
        assert r.json["status"] == 400
    assert_alive(client)


def test_a_deeply_nested_log_line_is_never_a_500(client):
    line = b'{"ts":1538352117000,"userId":"1","sessionId":1,"page":"Home","x":' + b"[" * 100_000 + b"]" * 100_000 + b"}\n"
    r = upload(client, line, "deep.json")
    # The reader skips the unknown field (simdjson's on-demand API does not descend into it): scored.
    assert r.status_code == 200, r.get_data(as_text=True)[:300]
    line = b'{"ts":1538352117000,"userId":"1","sessionId":' + b"[" * 100_000 + b"]" * 100_000 + b',"page":"Home"}\n'
    r = upload(client, line, "deep.json")
    assert r.status_code == 400 and "line 1, field &#39;sessionId&#39;" in r.get_data(as_text=True)


# ---- any text in form fields, query parameters and headers -------------------------------------
@pytest.mark.parametrize("token", ["é", "ünïcödé-tökén", "\u2028", "\ud800".encode("utf-8", "surrogatepass").decode("utf-8", "replace"),
                                   "x" * 100_000, "\x00"])
def test_a_non_ascii_csrf_token_is_a_400_not_a_500(client, token):
    csrf(client)  # a session exists
    r = upload(client, b"user_id\n1\n", "a.csv", token=token)
    assert r.status_code == 400 and "The form has expired" in r.get_data(as_text=True)
    fresh = create_app({"MODEL_PATH": client.application.config["MODEL_PATH"], "TESTING": True}).test_client()
    r = fresh.post("/batch", data={"csrf_token": token}, content_type="multipart/form-data")  # no cookie at all
    assert r.status_code == 400


@given(field=st.sampled_from(["csrf_token", "skip_bad_lines", "file"]), value=st.text(max_size=200),
       header=st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=0x10FFFF, blacklist_categories=("Cs",)),
                      max_size=100))
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_text_in_a_form_field_query_or_header_is_never_a_500(client, field, value, header):
    r = client.post("/batch", data={field: value}, content_type="multipart/form-data",
                    headers={"X-Anything": header.encode("utf-8").decode("latin-1"),
                             "Accept-Language": header.encode("utf-8").decode("latin-1")})
    assert r.status_code < 500
    r = client.get("/api/model", query_string={"explain": value})
    assert r.status_code < 500
    r = client.post("/api/predict", query_string={"explain": value}, json={})
    assert r.status_code < 500
    r = client.get("/go", query_string={"x": value})
    assert r.status_code < 500


# ---- file names that reach headers ---------------------------------------------------------------
def upload_named(client, data: bytes, name: str):
    """A multipart upload whose file name is sent as RFC 2231 filename*=UTF-8''..., which Werkzeug
    decodes: the way a client gets CR, LF or NUL into the name the app sees."""
    from urllib.parse import quote

    boundary = "----churn-test-boundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{csrf(client)}\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename*=UTF-8''{quote(name, safe='')}\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return client.post("/batch", data=body, content_type=f"multipart/form-data; boundary={boundary}")



@pytest.mark.parametrize("name", ["evil\r\nSet-Cookie: x=1.json", "a\nb.json", "tab\there.json", 'quo"te.json',
                                  "ünïcödé – naïve.json", "\x00nul.json", "../../etc/passwd.json", "a" * 400 + ".json"])
def test_an_upload_name_with_any_characters_can_be_downloaded(client, batch_log, name):
    r = upload_named(client, batch_log.read_bytes(), name)
    assert r.status_code == 200, r.get_data(as_text=True)[:300]
    token = re.search(r"/batch/([0-9a-f]{32})\.csv", r.get_data(as_text=True)).group(1)
    d = client.get(f"/batch/{token}.csv")
    assert d.status_code == 200  # a CR/LF in the name was a 500 here
    disposition = d.headers["Content-Disposition"]
    assert "\r" not in disposition and "\n" not in disposition and "\x00" not in disposition
    assert disposition.startswith("attachment;") and "-scored.csv" in disposition
    if any(ord(c) > 127 for c in name):
        assert "filename*=UTF-8''" in disposition  # RFC 6266 / 5987
    assert "Set-Cookie" not in d.headers


# ---- CSV formula injection and its round trip -------------------------------------------------
HOSTILE_IDS = ['=HYPERLINK("http://evil.example","x")', "+SUM(1,2)", "-2+3", "@cmd", "\tlead", "\rlead",
               "'=quoted", "plain"]


def hostile_log() -> bytes:
    lines = []
    for i, uid in enumerate(HOSTILE_IDS):
        for k in range(3):
            lines.append(json.dumps({"ts": 1541030400000 + 3600_000 * (i * 5 + k), "userId": uid, "sessionId": 10 * i + k,
                                     "page": "NextSong", "registration": 1538000000000, "level": "paid",
                                     "auth": "Logged In", "method": "PUT", "status": 200}))
    return ("\n".join(lines) + "\n").encode()


def test_the_scored_csv_neutralises_formulas_keeps_numbers_and_round_trips(client):
    r = upload(client, hostile_log(), "hostile.json")
    html = r.get_data(as_text=True)
    assert r.status_code == 200, html[:500]
    token = re.search(r"/batch/([0-9a-f]{32})\.csv", html).group(1)
    text = client.get(f"/batch/{token}.csv").get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(text)))
    header, body = rows[0], rows[1:]
    assert len(body) == len(HOSTILE_IDS)
    ids = [r[1] for r in body]
    for cell in (c for row in rows for c in row):
        if cell[:1] in TRIGGERS:  # only numbers may start with - or +
            float(cell)
    assert any(c.startswith("'=HYPERLINK") for c in ids) and "''=quoted" in ids and "plain" in ids
    svc = svc_of(client.application)
    assert sum(name in svc.by_name for name in header) == len(svc.fields), "every feature is a column"
    for row in body:
        for name, cell in zip(header, row):
            if name in svc.by_name and not svc.by_name[name].categorical:
                float(cell)  # numbers stay numbers, negative ones too
    probs = {r[1]: r[2] for r in body}

    # Uploaded again as a CSV of features: each neutralised id is its customer again, same score.
    again = upload(client, text.encode(), "hostile-scored.csv")
    assert again.status_code == 200, again.get_data(as_text=True)[:500]
    token2 = re.search(r"/batch/([0-9a-f]{32})\.csv", again.get_data(as_text=True)).group(1)
    rows2 = list(csv.reader(io.StringIO(client.get(f"/batch/{token2}.csv").get_data(as_text=True))))
    assert {r[1]: r[2] for r in rows2[1:]} == probs
    shown = again.get_data(as_text=True)
    assert "=HYPERLINK(&#34;http://evil.example&#34;,&#34;x&#34;)" in shown or \
        "=HYPERLINK(&quot;http://evil.example&quot;,&quot;x&quot;)" in shown


def test_the_template_csv_is_neutralised(client):
    text = client.get("/batch/template.csv").get_data(as_text=True)
    for cell in (c for row in csv.reader(io.StringIO(text)) for c in row):
        if cell[:1] in TRIGGERS:
            float(cell)


# ---- metadata and counts checked at start ------------------------------------------------------
def _with_metadata(model_path: Path, tmp_path: Path, edit) -> Path:
    doc = json.loads(model_path.read_text())
    edit(doc)
    out = tmp_path / "edited.json"
    out.write_text(json.dumps(doc))
    return out


BAD = {
    "cutoff": (lambda d: d["metadata"]["labels"].update(cutoff_ms=1e300), "/metadata/labels/cutoff_ms"),
    "probability": (lambda d: d["metadata"]["test"]["probabilities"]["churned"].append(1e308),
                    "/metadata/test/probabilities/churned/"),
    "cv": (lambda d: d["metadata"]["cv"]["models"]["random_forest"].update(metrics=[1, 2]),
           "/metadata/cv/models/random_forest/metrics"),
    "gap": (lambda d: d["metadata"]["labels"].update(session_gap_minutes="abc"), "/metadata/labels/session_gap_minutes"),
    "horizon": (lambda d: d["metadata"]["labels"].update(horizon_days="abc"), "/metadata/labels/horizon_days"),
    "median": (lambda d: d["metadata"]["features"][0].update(median=1e308), "/metadata/features/0/median"),
    "categories": (lambda d: d["metadata"]["features"][0].update(categories=5), "/metadata/features/0/categories"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_metadata_that_would_break_a_page_is_refused_at_start(model_path, tmp_path, case):
    edit, path = BAD[case]
    bad = _with_metadata(model_path, tmp_path, edit)
    from churn_web.model import ModelLoadError

    with pytest.raises(ModelLoadError, match=re.escape(path)):
        create_app({"MODEL_PATH": str(bad), "UPLOAD_DIR": str(tmp_path)})


def test_run_py_exits_2_for_bad_metadata_and_a_billion_features(model_path, tmp_path):
    bad = _with_metadata(model_path, tmp_path, BAD["horizon"][0])

    def billion(d):
        d["feature_names"], d["feature_importances"], d["metadata"] = [], [], {}
        d["n_features"] = 2**30 - 1
    huge = tmp_path / "huge.json"
    huge.write_text(json.dumps(_apply(billion, model_path)))
    env = {**os.environ, "PYTHONPATH": f"{WEB}:{':'.join(sys.path)}"}
    for path, expected in ((bad, "/metadata/labels/horizon_days"), (huge, "/n_features")):
        done = subprocess.run([sys.executable, str(WEB / "run.py"), "--host", "127.0.0.1", "--port", "1",
                               "--model", str(path)], capture_output=True, text=True, timeout=120, env=env)
        assert done.returncode == 2 and expected in done.stderr, done.stderr[-1500:]


def _apply(edit, model_path: Path) -> dict:
    doc = json.loads(model_path.read_text())
    edit(doc)
    return doc


# ---- the limits of one upload ---------------------------------------------------------------------
def test_an_upload_past_batch_seconds_is_a_413_naming_the_limit(model_path, tmp_path, batch_log, batch_log_gz):
    app = create_app({"MODEL_PATH": str(model_path), "UPLOAD_DIR": str(tmp_path)})
    app.config["BATCH_SECONDS"] = 0  # spent before it starts (the configuration allows 1 s at least)
    c = app.test_client()
    svc = svc_of(app)
    num = numeric_count_field(svc)
    for name, data in (("batch.json", batch_log.read_bytes()), ("batch.json.gz", batch_log_gz.read_bytes()),
                       ("rows.csv", f"user_id,{num.name}\n".encode() + b"".join(b"u%d,1\n" % i for i in range(5000)))):
        r = upload(c, data, name)
        html = r.get_data(as_text=True)
        assert r.status_code == 413, (name, html[:300])
        assert f"{name}: scoring this upload took longer than 0 s" in html and "(BATCH_SECONDS)" in html
    assert_alive(c)
    app.config["BATCH_SECONDS"] = 60
    assert upload(c, batch_log.read_bytes(), "batch.json").status_code == 200


def test_uploads_beyond_batch_concurrent_get_a_503_and_the_server_stays_free(model_path, tmp_path, batch_log):
    app = create_app({"MODEL_PATH": str(model_path), "UPLOAD_DIR": str(tmp_path), "BATCH_CONCURRENT": 2})
    c = app.test_client()
    slots = app.extensions["churn_batch_slots"]
    assert slots.acquire(blocking=False) and slots.acquire(blocking=False)  # two uploads being scored
    try:
        r = upload(c, batch_log.read_bytes(), "batch.json")
        assert r.status_code == 503 and r.headers["Retry-After"] == "30"
        assert "the most it scores at once (BATCH_CONCURRENT)" in r.get_data(as_text=True)
        assert_alive(c)
        assert c.post("/api/predict", json={}).status_code == 200
    finally:
        slots.release()
        slots.release()
    assert upload(c, batch_log.read_bytes(), "batch.json").status_code == 200


def test_result_csvs_on_disk_are_bounded_in_bytes(model_path, tmp_path, batch_log):
    app = create_app({"MODEL_PATH": str(model_path), "UPLOAD_DIR": str(tmp_path)})
    c = app.test_client()
    r = upload(c, batch_log.read_bytes(), "batch.json")
    size = sum(p.stat().st_size for p in tmp_path.rglob("*.csv"))
    assert size > 0
    store = app.extensions["churn_batches"]
    store.keep_bytes = int(size * 1.5)  # room for one result, not two
    for _ in range(4):
        assert upload(c, batch_log.read_bytes(), "batch.json").status_code == 200
        assert sum(p.stat().st_size for p in tmp_path.rglob("*.csv")) <= store.keep_bytes
    store.keep_bytes = 10  # smaller than any result: shown, not kept, and the page says why
    r = upload(c, batch_log.read_bytes(), "batch.json")
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "BATCH_KEEP_BYTES" in html and "download-csv" not in html
    assert list(tmp_path.rglob("*.csv")) == []


def test_the_new_limits_have_documented_defaults_and_come_from_the_environment():
    from churn_web.config import resolve

    conf = resolve({"SECRET_KEY": "x"}, environ={})
    assert (conf["MAX_BATCH_USERS"], conf["BATCH_SECONDS"], conf["BATCH_CONCURRENT"], conf["BATCH_KEEP_BYTES"],
            conf["CONNECTION_LIMIT"], conf["CHANNEL_TIMEOUT"]) == (200_000, 60, 2, 256 << 20, 1000, 30)
    assert resolve({"SECRET_KEY": "x"}, environ={"CHURN_WEB_BATCH_SECONDS": "5"})["BATCH_SECONDS"] == 5
    docs = (Path(__file__).resolve().parents[2] / "docs" / "web.md").read_text()
    for key in ("BATCH_SECONDS", "BATCH_CONCURRENT", "BATCH_KEEP_BYTES", "CONNECTION_LIMIT", "CHANNEL_TIMEOUT"):
        assert key in docs
        with pytest.raises(ValueError, match=key):
            resolve({"SECRET_KEY": "x", key: 0}, environ={})


# ---- idle and slow clients -------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_healthz_answers_within_a_second_while_200_idle_and_50_slow_clients_hold_connections(trained, tmp_path):
    port = free_port()
    env = {**os.environ, "PYTHONPATH": f"{WEB}:{':'.join(sys.path)}"}
    log = open(tmp_path / "server.log", "w")
    proc = subprocess.Popen([sys.executable, str(WEB / "run.py"), "--host", "127.0.0.1", "--port", str(port),
                             "--model", str(trained[0]), "--threads", "4"], env=env, stdout=log, stderr=subprocess.STDOUT)
    socks = []
    stop = threading.Event()
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                    break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "server did not start"
                time.sleep(0.2)
        for _ in range(200):  # idle: connected, nothing sent
            socks.append(socket.create_connection(("127.0.0.1", port)))
        slow = [socket.create_connection(("127.0.0.1", port)) for _ in range(50)]
        socks.extend(slow)
        request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 64

        def trickle():  # one byte a second on each slow connection, never finishing the request
            i = 0
            while not stop.is_set() and i < len(request):
                for s in slow:
                    try:
                        s.send(request[i:i + 1])
                    except OSError:
                        pass
                i += 1
                stop.wait(1.0)
        t = threading.Thread(target=trickle, daemon=True)
        t.start()
        time.sleep(1.5)  # all connections accepted and trickling
        for _ in range(5):
            start = time.monotonic()
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
                assert r.status == 200
            elapsed = time.monotonic() - start
            assert elapsed < 1.0, f"/healthz took {elapsed:.2f} s with 250 connections held"
    finally:
        stop.set()
        for s in socks:
            s.close()
        proc.terminate()
        proc.wait(timeout=10)
        log.close()
