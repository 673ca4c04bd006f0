"""Flask test-client tests of every route of the web demo, with good and bad input."""
from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest

import churn
from churn.reasons import Explainer, groups_for
from churn_web import create_app
from churn_web.assets import MissingAssetsError
from churn_web.model import ModelLoadError, ModelService

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


# ---- helpers --------------------------------------------------------------------------------------
def svc_of(app) -> ModelService:
    return app.extensions["churn_model"]


def form_defaults(app) -> dict:
    """What the form page pre-fills, read back from its HTML (so the test checks the page too)."""
    html = app.test_client().get("/").get_data(as_text=True)
    values = dict(re.findall(r'name="([a-z0-9_]+)" value="([^"]*)"', html))
    for name, body in re.findall(r'<select[^>]*name="([a-z0-9_]+)"[^>]*>(.*?)</select>', html, re.S):
        values[name] = re.search(r'<option value="([^"]*)" selected>', body).group(1)
    return values


def numeric_count_field(svc: ModelService):
    """A count-like numeric field (never negative in training, no upper bound)."""
    return next(f for f in svc.fields_by_importance()
                if not f.categorical and f.lower_bound == 0 and f.upper_bound is None)


def categorical_field(svc: ModelService):
    return next(f for f in svc.fields if f.categorical)


def direct_probability(model, svc: ModelService, values: dict) -> float:
    """The oracle: the loaded model itself on the same row, without the app."""
    row = svc.defaults_row()
    for f in svc.fields:
        if f.name in values:
            row[f.index] = values[f.name]
    return float(np.asarray(model.predict_proba(row[None, :]))[0, 1])


def csrf(client, path="/batch") -> str:
    html = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def upload(client, data: bytes, filename: str, token=None):
    token = csrf(client) if token is None else token
    return client.post("/batch", data={"csrf_token": token, "file": (io.BytesIO(data), filename)},
                       content_type="multipart/form-data")


# ---- start-up and configuration -------------------------------------------------------------------
def test_missing_model_is_a_clear_startup_error(tmp_path):
    with pytest.raises(ModelLoadError, match="build_model.py"):
        create_app({"MODEL_PATH": str(tmp_path / "nope.json")})


def test_corrupt_model_is_a_clear_startup_error(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "something else"}')
    with pytest.raises(ModelLoadError, match="cannot load the model"):
        create_app({"MODEL_PATH": str(bad)})


def test_missing_assets_name_the_debian_packages(model_path, tmp_path):
    with pytest.raises(MissingAssetsError, match="apt-get install libjs-bootstrap5 libjs-chart.js"):
        create_app({"MODEL_PATH": str(model_path), "BOOTSTRAP_DIR": str(tmp_path)})


def test_configuration_from_environment_and_file(model_path, tmp_path, monkeypatch):
    cfg = tmp_path / "web.toml"
    cfg.write_text('top_fields = 3\nbatch_table_rows = 7\n')
    monkeypatch.setenv("CHURN_WEB_CONFIG", str(cfg))
    monkeypatch.setenv("CHURN_WEB_BATCH_TABLE_ROWS", "9")
    app = create_app({"MODEL_PATH": str(model_path)})
    assert app.config["TOP_FIELDS"] == 3          # from the file
    assert app.config["BATCH_TABLE_ROWS"] == 9    # the environment beats the file
    html = app.test_client().get("/").get_data(as_text=True)
    main = html.split('id="all-fields"')[0]
    assert len(re.findall(r'<label for="f-', main)) == 3


def test_bad_configuration_values_are_rejected(model_path, tmp_path):
    with pytest.raises(ValueError, match="TOP_FIELDS"):
        create_app({"MODEL_PATH": str(model_path), "TOP_FIELDS": "many"})
    cfg = tmp_path / "web.json"
    cfg.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        create_app({"MODEL_PATH": str(model_path), "CONFIG_FILE": str(cfg)})


def test_secret_key_is_random_per_process_unless_configured(model_path):
    a = create_app({"MODEL_PATH": str(model_path)})
    b = create_app({"MODEL_PATH": str(model_path)})
    assert a.config["SECRET_KEY"] != b.config["SECRET_KEY"] and len(a.config["SECRET_KEY"]) >= 32
    c = create_app({"MODEL_PATH": str(model_path), "SECRET_KEY": "from-config"})
    assert c.config["SECRET_KEY"] == "from-config"


def test_run_py_defaults():
    import run

    args = run.parse_args([])
    assert (args.host, args.port, args.dev) == ("0.0.0.0", 3001, False)
    args = run.parse_args(["--host", "127.0.0.1", "--port", "8080", "--model", "m.json", "--dev"])
    assert (args.host, args.port, args.model, args.dev) == ("127.0.0.1", 8080, "m.json", True)


def test_run_py_reports_a_missing_model(tmp_path, capsys):
    import run

    assert run.main(["--model", str(tmp_path / "missing.json")]) == 2
    assert "no model at" in capsys.readouterr().err


# ---- headers and assets ---------------------------------------------------------------------------
def test_security_headers_on_every_response(client):
    for path in ("/", "/model", "/api/model", "/healthz", "/nope"):
        r = client.get(path)
        csp = r.headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["X-Frame-Options"] == "DENY"


def test_assets_are_the_local_debian_files(client, app):
    for name, rel in (("bootstrap.min.css", "css/bootstrap.min.css"), ("bootstrap.bundle.min.js", "js/bootstrap.bundle.min.js")):
        r = client.get(f"/assets/{name}")
        assert r.status_code == 200 and r.data == (Path(app.config["BOOTSTRAP_DIR"]) / rel).read_bytes()
    r = client.get("/assets/chart.min.js")
    assert r.status_code == 200 and r.data == (Path(app.config["CHARTJS_DIR"]) / "chart.min.js").read_bytes()
    assert client.get("/assets/..%2F..%2Fetc%2Fpasswd").status_code == 404
    assert client.get("/assets/bootstrap.js").status_code == 404


def test_pages_reference_no_other_origin(client):
    for path in ("/", "/model", "/batch"):
        html = client.get(path).get_data(as_text=True)
        assert not re.search(r'(src|href)="(https?:)?//', html), path
        assert "style=" not in html, f"{path}: inline styles break the CSP"
        assert not re.search(r"<script(?![^>]*(src=|application/json))", html), f"{path}: inline script"


# ---- the form and the verdict ---------------------------------------------------------------------
def test_form_has_a_label_for_every_field_and_important_ones_first(client, app):
    svc = svc_of(app)
    html = client.get("/").get_data(as_text=True)
    for f in svc.fields:
        assert f'<label for="f-{f.name}"' in html and f'id="f-{f.name}"' in html
    main = html.split('id="all-fields"')[0]
    top = [f.name for f in svc.fields_by_importance()[: app.config["TOP_FIELDS"]]]
    assert re.findall(r'<label for="f-([a-z0-9_]+)"', main) == top
    cat = categorical_field(svc)
    assert re.search(rf'<select[^>]*name="{cat.name}"', html)


def test_form_defaults_are_the_training_medians(app):
    svc = svc_of(app)
    values = form_defaults(app)
    for f in svc.fields:
        if f.categorical:  # codes are not ordered: the most common category, not the median code
            shares = svc.metadata["features"][f.index]["category_shares"]
            assert values[f.name] == f.categories[int(np.argmax(shares))]
        else:
            assert float(values[f.name]) == pytest.approx(f.median, rel=0.01, abs=0.5 if f.integer else 1e-3)


def test_verdict_matches_the_model(client, app, trained):
    svc, model = svc_of(app), trained[1]
    values = form_defaults(app)
    f = numeric_count_field(svc)
    values[f.name] = str(round(f.max * 0.9))
    r = client.get("/go", query_string=values)
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    numeric = {k: float(v) for k, v in values.items() if not svc.by_name[k].categorical}
    for k, v in values.items():
        if svc.by_name[k].categorical:
            numeric[k] = svc.by_name[k].categories.index(v)
    p = direct_probability(model, svc, numeric)
    assert f"<strong id=\"probability\">{p * 100:.0f}%</strong>" in html
    assert ("about to churn" if p > svc.threshold else "likely to stay") in html
    assert f"{svc.threshold * 100:.0f}%" in html


def test_verdict_gives_grouped_shap_reasons(client, app, trained):
    svc, model = svc_of(app), trained[1]
    f = numeric_count_field(svc)
    values = form_defaults(app)
    values[f.name] = str(round(f.max))  # far from typical: a value that can be a reason
    r = client.get("/go", query_string=values)
    html = r.get_data(as_text=True)
    row = np.asarray([svc.fields[i].default for i in range(len(svc.fields))], dtype=float)
    row[f.index] = round(f.max)
    ex = Explainer(model).explain(row[None, :], top=int(app.config["TOP_REASONS"]))[0]
    assert ex.up or ex.down
    for reason in ex.up + ex.down:
        assert f"<strong>{reason.label[:1].upper() + reason.label[1:]}</strong>" in html
        assert f"{reason.points} points" in html
        for d in reason.drivers:
            assert d.comparison in html
    assert "typical)" not in html, "a typical value is never given as a cause"
    assert f"({ex.expected_value * 100:.0f}%)" in html


def test_verdict_leaves_out_pages_the_log_lacks(client, app):
    svc = svc_of(app)
    values = form_defaults(app)
    thumbs = [f.name for f in svc.fields if f.name.startswith("thumbs_up")]
    for name in thumbs:
        values[name] = "0"
    with_page = client.get("/go", query_string=values).get_data(as_text=True)
    without = client.get("/go", query_string={**values, "absent": "Thumbs Up,Bogus"}).get_data(as_text=True)
    assert "Not in this customer's log: Thumbs Up (" in without  # unknown page names are ignored
    assert "Bogus" not in without.split('id="not-in-log"')[1].split("</p>")[0]
    assert "Not in this customer's log" not in with_page
    reasons = " ".join(re.findall(r'<ol class="list-group list-group-numbered" id="reasons-(?:up|down)">(.*?)</ol>',
                                  without, flags=re.S))
    assert "thumbs up" not in reasons.lower()


def test_missing_form_field_takes_the_median(client, app, trained):
    svc = svc_of(app)
    values = form_defaults(app)
    dropped = svc.fields_by_importance()[0]
    del values[dropped.name]
    r = client.get("/go", query_string=values)
    assert r.status_code == 200
    assert "took the training median" in r.get_data(as_text=True)


@pytest.mark.parametrize("bad, message", [
    ("abc", "is not a number"),
    ("-3", "must be 0 or more"),
    ("1e400", "must be a finite number"),
    ("nan", "must be a finite number"),
    ("5e20", "is too large"),
])
def test_bad_numeric_value_comes_back_on_the_form(client, app, bad, message):
    f = numeric_count_field(svc_of(app))
    values = form_defaults(app)
    values[f.name] = bad
    r = client.get("/go", query_string=values)
    assert r.status_code == 400
    html = r.get_data(as_text=True)
    feedback = re.search(rf'<div class="invalid-feedback" id="err-{f.name}">(.*?)</div>', html).group(1)
    assert message in feedback
    assert re.search(rf'id="f-{f.name}" name="{f.name}" value="{re.escape(bad)}"', html), "the typed value is kept"
    assert 'class="form-control is-invalid' in html


def test_fraction_and_integer_rules(client, app):
    svc = svc_of(app)
    values = form_defaults(app)
    share = next((f for f in svc.fields if f.unit == "fraction"), None)
    integer = next((f for f in svc.fields if f.integer and not f.categorical), None)
    if share is None or integer is None:
        pytest.skip("this model has no share or integer feature")
    values[share.name] = "1.5"
    values[integer.name] = "2.5"
    html = client.get("/go", query_string=values).get_data(as_text=True)
    assert "must be 1 or less" in html and "must be a whole number" in html


def test_unknown_category_comes_back_on_the_form(client, app):
    cat = categorical_field(svc_of(app))
    values = form_defaults(app)
    values[cat.name] = "Atlantis"
    r = client.get("/go", query_string=values)
    assert r.status_code == 400
    assert "unknown category &#39;Atlantis&#39;" in r.get_data(as_text=True)


def test_category_code_and_label_are_the_same_input(client, app):
    cat = categorical_field(svc_of(app))
    values = form_defaults(app)
    values[cat.name] = cat.categories[2]
    by_label = client.get("/go", query_string=values).get_data(as_text=True)
    values[cat.name] = "2"
    by_code = client.get("/go", query_string=values).get_data(as_text=True)
    prob = re.compile(r'id="probability">([^<]+)<')
    assert prob.search(by_label).group(1) == prob.search(by_code).group(1)


def test_value_outside_the_training_range_is_accepted_and_flagged(client, app):
    f = numeric_count_field(svc_of(app))
    values = form_defaults(app)
    values[f.name] = str(round(f.max * 10 + 100))
    r = client.get("/go", query_string=values)
    assert r.status_code == 200
    assert "outside the training range" in r.get_data(as_text=True)


def test_go_without_values_redirects_to_the_form(client):
    r = client.get("/go")
    assert r.status_code == 302 and r.headers["Location"].endswith("/")


def test_change_these_values_prefills_the_form(client, app):
    f = numeric_count_field(svc_of(app))
    values = form_defaults(app)
    values[f.name] = "12345"
    html = client.get("/go", query_string=values).get_data(as_text=True)
    link = re.search(r'href="([^"]+)" id="edit-link"', html).group(1).replace("&amp;", "&")
    back = client.get(link).get_data(as_text=True)
    assert re.search(rf'name="{f.name}" value="12345"', back)


# ---- JSON API -------------------------------------------------------------------------------------
def test_healthz(client, app):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json["status"] == "ok" and r.json["features"] == len(svc_of(app).fields)


def test_api_model_describes_fields_and_metrics(client, app):
    j = client.get("/api/model").get_json()
    svc = svc_of(app)
    assert [f["name"] for f in j["fields"]] == [f.name for f in svc.fields]
    assert j["threshold"] == pytest.approx(svc.threshold)
    assert "roc_auc" in j["metadata"]["test"]["metrics"]


def test_api_predict_one_and_many(client, app, trained):
    svc, model = svc_of(app), trained[1]
    f = numeric_count_field(svc)
    one = client.post("/api/predict", json={f.name: 0})
    assert one.status_code == 200
    assert one.json["probability"] == pytest.approx(direct_probability(model, svc, {f.name: 0}))
    assert f.name not in one.json["defaulted"] and len(one.json["defaulted"]) == len(svc.fields) - 1
    many = client.post("/api/predict", json=[{f.name: 0}, {f.name: round(f.max * 2)}, {}])
    assert many.status_code == 200 and len(many.json) == 3
    assert many.json[0]["probability"] == pytest.approx(one.json["probability"])
    assert many.json[1]["probability"] == pytest.approx(direct_probability(model, svc, {f.name: round(f.max * 2)}))
    assert "warnings" in many.json[1]
    for item in many.json:
        assert item["churn"] == (item["probability"] > svc.threshold)


def test_api_reasons_are_grouped_shap_values(client, app, trained):
    svc, model = svc_of(app), trained[1]
    j = client.post("/api/predict?explain=100", json={}).get_json()
    assert j["expected_value"] == pytest.approx(model.expected_value_)
    phi = model.shap_values(svc.defaults_row()[None, :])[0]
    names = [f.name for f in svc.fields]
    for r in j["reasons_up"] + j["reasons_down"]:
        members = [g for g in groups_for(names) if g[0] == r["group"]][0][2]
        assert r["push"] == pytest.approx(sum(phi[k] for k in members), abs=1e-9)
        assert r["direction"] == ("up" if r["push"] > 0 else "down")
        assert r["drivers"] and all(d["comparison"] != "typical" for d in r["drivers"])
    pushes = [abs(r["push"]) for r in j["reasons_up"]]
    assert pushes == sorted(pushes, reverse=True)
    none = client.post("/api/predict?explain=0", json={}).get_json()
    assert "reasons_up" not in none and none["probability"] == j["probability"]


def test_api_null_takes_the_median_and_categories_accept_labels(client, app):
    svc = svc_of(app)
    cat = categorical_field(svc)
    a = client.post("/api/predict", json={cat.name: None}).get_json()
    b = client.post("/api/predict", json={}).get_json()
    assert a["probability"] == b["probability"]
    c = client.post("/api/predict", json={cat.name: cat.categories[2].lower()}).get_json()
    d = client.post("/api/predict", json={cat.name: 2}).get_json()
    assert c["probability"] == d["probability"]


@pytest.mark.parametrize("body, status, field, message", [
    ({"no_such_feature": 1}, 400, "no_such_feature", "unknown field"),
    ("NUMERIC:text", 400, "NUMERIC", "expected a number, got text"),
    ("NUMERIC:true", 400, "NUMERIC", "expected a number, got true"),
    ("NUMERIC:-1", 400, "NUMERIC", "must be 0 or more"),
    ("NUMERIC:list", 400, "NUMERIC", "expected a number, got list"),
    ("CATEGORICAL:Atlantis", 400, "CATEGORICAL", "unknown category"),
    ("CATEGORICAL:99", 400, "CATEGORICAL", "out of range"),
])
def test_api_bad_values_are_4xx_naming_the_field(client, app, body, status, field, message):
    svc = svc_of(app)
    num, cat = numeric_count_field(svc), categorical_field(svc)
    if isinstance(body, str):
        kind, raw = body.split(":")
        name = num.name if kind == "NUMERIC" else cat.name
        value = {"text": "12", "true": True, "-1": -1, "list": [1], "Atlantis": "Atlantis", "99": 99}[raw]
        body, field = {name: value}, name
    r = client.post("/api/predict", json=body)
    assert r.status_code == status
    assert r.json["field"] == field and message in r.json["error"] and field in r.json["error"]


def test_api_list_error_names_the_row(client, app):
    f = numeric_count_field(svc_of(app))
    r = client.post("/api/predict", json=[{f.name: 1}, {f.name: "x"}])
    assert r.status_code == 400 and r.json["index"] == 1 and r.json["error"].startswith("row 1:")
    r = client.post("/api/predict", json=[{f.name: 1}, 7])
    assert r.status_code == 400 and r.json["index"] == 1


@pytest.mark.parametrize("data, content_type, status, message", [
    ("{not json", "application/json", 400, "not valid JSON"),
    ("[]", "application/json", 400, "non-empty list"),
    ("42", "application/json", 400, "JSON object"),
    ("songs=3", "application/x-www-form-urlencoded", 415, "application/json"),
])
def test_api_malformed_requests(client, data, content_type, status, message):
    r = client.post("/api/predict", data=data, content_type=content_type)
    assert r.status_code == status and message in r.json["error"]


def test_api_row_limit(model_path, tmp_path):
    app = create_app({"MODEL_PATH": str(model_path), "MAX_API_ROWS": 2, "UPLOAD_DIR": str(tmp_path)})
    r = app.test_client().post("/api/predict", json=[{}, {}, {}])
    assert r.status_code == 413 and "at most 2" in r.json["error"]


def test_api_errors_are_json(client):
    r = client.get("/api/predict")
    assert r.status_code == 405 and r.is_json
    r = client.get("/api/nothing")
    assert r.status_code == 404 and r.is_json
    r = client.post("/api/predict?explain=lots", json={})
    assert r.status_code == 400 and r.json["field"] == "explain"


# ---- model page -----------------------------------------------------------------------------------
def test_model_page_shows_metrics_and_chart_data(client, app):
    svc = svc_of(app)
    html = client.get("/model").get_data(as_text=True)
    meta = svc.metadata
    cm = meta["test"]["confusion_matrix"]
    table = re.search(r'id="confusion-matrix">(.*?)</table>', html, re.S).group(1)
    assert [int(v) for v in re.findall(r"<td>(\d+)</td>", table)] == [cm[0][0], cm[0][1], cm[1][0], cm[1][1]]
    assert f"{meta['test']['metrics']['roc_auc']:.3f}" in html
    assert "random forest" in html and "majority" in html  # the CV table
    for canvas in ("roc-chart", "pr-chart", "importance-chart", "histogram-chart"):
        assert f'id="{canvas}"' in html
    data = json.loads(re.search(r'<script type="application/json" id="chart-data">(.*?)</script>', html, re.S).group(1))
    assert data["roc"]["x"][0] == 0 and data["roc"]["y"][-1] == 1
    assert sum(data["histogram"]["churned"]) == len(meta["test"]["probabilities"]["churned"])
    assert data["importance"]["labels"][0] == svc.fields_by_importance()[0].name


def test_model_without_metadata_still_works(bare_model_path, tmp_path):
    app = create_app({"MODEL_PATH": str(bare_model_path), "UPLOAD_DIR": str(tmp_path)})
    svc = svc_of(app)
    assert svc.threshold == pytest.approx(0.5) and len(svc.fields) == 55
    c = app.test_client()
    assert c.get("/").status_code == 200
    assert c.get("/model").status_code == 200
    r = c.post("/api/predict", json={f.name: 1.0 for f in svc.fields})
    assert r.status_code == 200 and 0 <= r.json["probability"] <= 1
    # No medians: a missing field is an error, not a guess.
    assert c.post("/api/predict", json={}).status_code == 400


# ---- batch scoring --------------------------------------------------------------------------------
def read_download(client, html: str):
    link = re.search(r'id="download-csv" href="([^"]+)"', html).group(1)
    r = client.get(link)
    assert r.status_code == 200 and r.mimetype == "text/csv"
    assert "attachment" in r.headers["Content-Disposition"]
    return list(csv.DictReader(io.StringIO(r.get_data(as_text=True))))


def expected_scores(app, log: Path):
    """The oracle: churn.user_features at the midnight after the log's last event, then the model."""
    svc = svc_of(app)
    labels = svc.label_options
    last = churn.scan(log).last_ts
    cutoff = (last // 86_400_000 + 1) * 86_400_000
    t = churn.user_features(log, cutoff=cutoff, horizon_days=labels["horizon_days"],
                            session_gap_minutes=labels["session_gap_minutes"])
    cols = [t.feature_names.index(f.name) for f in svc.fields]
    X = np.ascontiguousarray(t.X[:, cols])
    return dict(zip(t.user_ids, svc.model.predict_proba(X)[:, 1]))


def test_batch_page(client):
    html = client.get("/batch").get_data(as_text=True)
    assert 'type="file"' in html and '<label for="batch-file"' in html


def test_batch_event_log_scores_every_user_sorted_by_risk(client, app, batch_log):
    r = upload(client, batch_log.read_bytes(), "batch.json")
    assert r.status_code == 200, r.get_data(as_text=True)[:2000]
    html = r.get_data(as_text=True)
    shown = [int(p) for p in re.findall(r'<td class="prob">([0-9]+)%</td>', html)]
    assert shown and shown == sorted(shown, reverse=True)
    rows = read_download(client, html)
    expected = expected_scores(app, batch_log)
    assert {row["user_id"] for row in rows} == set(expected)
    for row in rows:
        assert float(row["churn_probability"]) == pytest.approx(expected[row["user_id"]], abs=1e-6)
    probs = [float(row["churn_probability"]) for row in rows]
    assert probs == sorted(probs, reverse=True) and [int(r["rank"]) for r in rows] == list(range(1, len(rows) + 1))


def test_batch_table_rows_link_to_their_verdict_and_give_reasons(client, app, batch_log):
    svc_of(app)
    html = upload(client, batch_log.read_bytes(), "batch.json").get_data(as_text=True)
    links = re.findall(r'<a href="(/go\?[^"]+)" class="user-link"[^>]*>([^<]+)</a>', html)
    shown = re.findall(r'<td class="prob">([0-9]+%)</td>', html)
    assert links and len(links) == len(shown)
    rows = {r["user_id"]: r for r in read_download(client, html)}
    for (href, uid), prob in list(zip(links, shown))[:5]:
        verdict = client.get(href.replace("&amp;", "&")).get_data(as_text=True)
        assert f'<strong id="probability">{prob}</strong>' in verdict, uid
        assert float(rows[uid]["churn_probability"]) * 100 == pytest.approx(float(prob.rstrip("%")), abs=0.5)
    reasons = re.findall(r'<div class="batch-reason">(.*?)</div>', html, flags=re.S)
    assert reasons, "the table gives reasons"
    assert all(("▲ +" in r or "▼ -" in r) and " customer" in r for r in reasons)
    # The CSV's reasons are the same, in words with the push: "recent activity +12.3 pp (...)".
    assert any(r["reason_1"] and " pp (" in r["reason_1"] for r in rows.values())
    assert "This log is unlike the data the model learnt from" in html  # 20 days against a 31-day training window


def test_batch_log_without_a_page_says_not_in_this_log(client, app, batch_log, tmp_path):
    lines = [ln for ln in batch_log.read_text().splitlines() if json.loads(ln).get("page") != "Thumbs Up"]
    html = upload(client, ("\n".join(lines) + "\n").encode(), "no-thumbs.json").get_data(as_text=True)
    assert "<strong>Not in this log:</strong> Thumbs Up" in html
    reasons = " ".join(re.findall(r'<div class="batch-reason">(.*?)</div>', html, flags=re.S)).lower()
    assert "thumbs up" not in reasons
    assert "absent=Thumbs+Up" in html  # the verdict links carry it


def test_model_page_shows_shap_beside_the_importances(client, app, trained):
    html = client.get("/model").get_data(as_text=True)
    assert 'id="shap-section"' in html and 'id="shap-beeswarm-chart"' in html and "shap_charts.js" in html
    data = json.loads(re.search(r'<script type="application/json" id="shap-data">(.*?)</script>', html, re.S).group(1))
    meta = trained[1].metadata["explanations"]
    assert len(data["groups"]["labels"]) == len(meta["groups"])
    assert data["groups"]["values"] == sorted(data["groups"]["values"], reverse=True)
    top = max(meta["mean_abs_shap"], key=meta["mean_abs_shap"].get)
    assert data["features"]["labels"][0] == top
    assert data["beeswarm"] and len(data["beeswarm"][0]["points"]) == meta["rows"]
    assert "Mean |SHAP| (points)" in html


def test_batch_gzip_log_gives_the_same_result(client, batch_log, batch_log_gz):
    plain = read_download(client, upload(client, batch_log.read_bytes(), "a.json").get_data(as_text=True))
    gz = read_download(client, upload(client, batch_log_gz.read_bytes(), "a.json.gz").get_data(as_text=True))
    assert [(r["user_id"], r["churn_probability"]) for r in plain] == [(r["user_id"], r["churn_probability"]) for r in gz]


def test_batch_csv_of_features_round_trips(client, app, batch_log):
    first = read_download(client, upload(client, batch_log.read_bytes(), "a.json").get_data(as_text=True))
    svc = svc_of(app)
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["user_id"] + [f.name for f in svc.fields])
    for row in first:
        w.writerow([row["user_id"]] + [row[f.name] for f in svc.fields])
    r = upload(client, buf.getvalue().encode(), "features.csv")
    assert r.status_code == 200
    again = read_download(client, r.get_data(as_text=True))
    assert [(r["user_id"], r["churn_probability"]) for r in again] == [(r["user_id"], r["churn_probability"]) for r in first]


def test_batch_csv_with_some_columns_fills_medians(client, app):
    f = numeric_count_field(svc_of(app))
    r = upload(client, f"userId,{f.name},extra\nu1,0,x\nu2,{round(f.max * 3)},y\n".encode(), "few.csv")
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "took their training median" in html and "ignored columns: extra" in html
    assert len(read_download(client, html)) == 2


@pytest.mark.parametrize("content, message", [
    (b"", "the file is empty"),
    (b"\n\n  \n", "the file is empty"),
    (b"a,b,c\n1,2,3\n", "line 1: the header names none of the model"),
    (b"COL\nCOL_VALUE\n1\nx\n", "line 4, column COL: &#39;x&#39; is not a number"),
    (b"COL\n-2\n", "line 2, column COL: must be 0 or more"),
    (b"COL,COL2\n1\n", "line 2: 1 values, but the header has 2 columns"),
    (b"COL\n", "has a header but no rows"),
    (b"COL\n\xff\xfe\n", "not UTF-8"),
])
def test_batch_bad_csv_names_the_line(client, app, content, message):
    f = numeric_count_field(svc_of(app))
    other = next(g for g in svc_of(app).fields if g.name != f.name and not g.categorical)
    content = content.replace(b"COL_VALUE", b"3").replace(b"COL2", other.name.encode()).replace(b"COL", f.name.encode())
    message = message.replace("COL", f.name)
    r = upload(client, content, "x.csv")
    assert r.status_code == 400
    assert message in r.get_data(as_text=True)


def test_batch_malformed_log_names_the_line(client, batch_log):
    lines = batch_log.read_bytes().splitlines(keepends=True)[:50]
    lines[36] = b'{"ts": 1541030400000, "userId": "9", "page": \n'
    r = upload(client, b"".join(lines), "broken.json")
    assert r.status_code == 400
    assert "line 37" in r.get_data(as_text=True)


def test_batch_malformed_lines_can_be_skipped(client, app, batch_log):
    lines = batch_log.read_bytes().splitlines(keepends=True)
    clean = read_download(client, upload(client, b"".join(lines), "clean.json").get_data(as_text=True))
    broken = list(lines)
    broken.insert(10, b'{"ts": oops}\n')
    broken.insert(20, b"not json at all\n")
    r = client.post("/batch", data={"csrf_token": csrf(client), "skip_bad_lines": "1",
                                    "file": (io.BytesIO(b"".join(broken)), "broken.json")},
                    content_type="multipart/form-data")
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "2 malformed lines skipped (e.g. line 11" in html
    skipped = read_download(client, html)
    assert [(r["user_id"], r["churn_probability"]) for r in skipped] == [(r["user_id"], r["churn_probability"]) for r in clean]


def test_batch_truncated_gzip_is_a_clear_error(client, batch_log_gz):
    data = batch_log_gz.read_bytes()
    r = upload(client, data[: len(data) // 2], "cut.json.gz")
    assert r.status_code == 400 and "cut.json.gz" in r.get_data(as_text=True)


def test_batch_without_a_file_or_token(client):
    token = csrf(client)
    r = client.post("/batch", data={"csrf_token": token}, content_type="multipart/form-data")
    assert r.status_code == 400 and "Choose a file" in r.get_data(as_text=True)
    r = upload(client, b"{}", "x.json", token="forged")
    assert r.status_code == 400 and "expired" in r.get_data(as_text=True)


def test_batch_oversized_upload_is_413_with_a_message(model_path, tmp_path):
    app = create_app({"MODEL_PATH": str(model_path), "MAX_CONTENT_LENGTH": 4096, "UPLOAD_DIR": str(tmp_path)})
    c = app.test_client()
    r = upload(c, b"x" * 10_000, "big.csv")
    assert r.status_code == 413
    assert "larger than this server accepts" in r.get_data(as_text=True)
    assert c.post("/api/predict", data="[" + "{}," * 3000 + "{}]", content_type="application/json").status_code == 413


def test_batch_download_of_unknown_or_expired_result(model_path, tmp_path, batch_log):
    assert create_app({"MODEL_PATH": str(model_path)}).test_client().get("/batch/" + "0" * 32 + ".csv").status_code == 404
    app = create_app({"MODEL_PATH": str(model_path), "BATCH_KEEP": 1, "UPLOAD_DIR": str(tmp_path)})
    c = app.test_client()
    first = upload(c, batch_log.read_bytes(), "a.json").get_data(as_text=True)
    upload(c, batch_log.read_bytes(), "b.json")
    link = re.search(r'id="download-csv" href="([^"]+)"', first).group(1)
    assert c.get(link).status_code == 404  # only the newest result is kept
    assert c.get("/batch/not-a-token.csv").status_code == 404


def test_batch_uploads_leave_no_temporary_files(model_path, tmp_path, batch_log):
    app = create_app({"MODEL_PATH": str(model_path), "UPLOAD_DIR": str(tmp_path), "BATCH_KEEP": 2})
    c = app.test_client()
    for i in range(3):
        upload(c, batch_log.read_bytes(), f"{i}.json")
    upload(c, b"garbage\n", "bad.json")
    root = app.extensions["churn_batches"].root
    assert sorted(p.suffix for p in root.iterdir()) == [".csv", ".csv"]


def test_batch_csv_template_scores_as_the_median_customer(client, app):
    r = client.get("/batch/template.csv")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(r.get_data(as_text=True))))
    assert len(rows) == 1 and set(rows[0]) == {"user_id"} | {f.name for f in svc_of(app).fields}
    scored = read_download(client, upload(client, r.data, "template.csv").get_data(as_text=True))
    median = client.post("/api/predict", json={}).get_json()
    assert float(scored[0]["churn_probability"]) == pytest.approx(median["probability"], abs=1e-6)


def test_the_app_holds_no_scoring_logic():
    """Issue 16: one model accessor, and no feature computation or message-text matching in the app:
    logs are scored by churn.score, rows by churn.score_features."""
    web = Path(__file__).resolve().parents[2] / "examples" / "webserver" / "churn_web"
    sources = {p.name: p.read_text() for p in web.glob("*.py")}
    assert sum(src.count("def service(") for src in sources.values()) == 1
    for name, src in sources.items():
        assert "FeatureAccumulator" not in src and "finalize(" not in src, name
        assert "contributions" not in src, name
    assert "churn.score(" in sources["batch.py"] and "churn.score_features(" in sources["batch.py"]
