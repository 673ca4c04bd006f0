"""Issue 19 on the web demo: the model page's honest verdict, gains chart and reliability diagram, and
calibrated probabilities (with the threshold on the same scale) on the verdict page and in the API."""
import html
import json

import numpy as np
import pytest

import churn
from churn.calibration import fit_calibration, reliability
from churn.dates import day_text
from churn.verdict import gains, verdict


@pytest.fixture(scope="module")
def calibrated_path(trained, tmp_path_factory):
    """The test model with the metadata churn train writes for issue 19: verdict, gains, calibration."""
    path, model, table = trained
    doc = json.loads(open(path).read())
    meta = doc["metadata"]
    probs = meta["test"]["probabilities"]
    p = np.array(probs["churned"] + probs["stayed"])
    y = np.array([1] * len(probs["churned"]) + [0] * len(probs["stayed"]))
    cal = fit_calibration("platt", y, p)  # strictly increasing: any threshold keeps its verdicts
    meta["verdict"] = verdict(meta["cv"]["models"], validation="stratified_kfold")
    meta["gains"] = {"test": gains(y, p, source="the withheld test set")}
    meta["calibration"] = {**cal.to_json(), "test": {"before": reliability(y, p), "after": reliability(y, cal.apply(p))}}
    # As a snapshot model records it (churn train --every-days): one row per user and cutoff.
    meta["labels"]["snapshot_cutoffs_ms"] = [meta["labels"]["cutoff_ms"] - 7 * 86_400_000, meta["labels"]["cutoff_ms"]]
    meta["data"]["rows"] = 2 * meta["data"]["users"]
    out = tmp_path_factory.mktemp("cal") / "calibrated.json"
    out.write_text(json.dumps(doc))
    return out


@pytest.fixture
def cal_client(calibrated_path, tmp_path):
    from churn_web import create_app

    app = create_app({"MODEL_PATH": str(calibrated_path), "UPLOAD_DIR": str(tmp_path / "u"), "TESTING": True})
    return app.test_client()


def test_model_page_leads_with_the_verdict_gains_and_calibration(cal_client, calibrated_path):
    meta = churn.load_model(calibrated_path).metadata
    page = cal_client.get("/model").get_data(as_text=True)
    assert 'id="verdict-headline"' in page and "ranks customers by risk better" in page
    assert page.index('id="verdict-headline"') < page.index('id="verdict-sentence"')  # words, then numbers
    top10 = meta["gains"]["test"]["top"][1]
    assert f"reaches {top10['churner_share']:.0%} of those who will leave" in page
    assert 'id="gains-chart"' in page and 'id="reliability-chart"' in page
    before, after = meta["calibration"]["test"]["before"], meta["calibration"]["test"]["after"]
    assert f"{before['brier']:.4f}" in page and f"{after['log_loss']:.4f}" in page
    # The test metrics' Brier score is of the raw scores: the table says so and gives the calibrated one.
    assert f"raw scores (of the calibrated probabilities shown: {after['brier']:.3f})" in html.unescape(page)
    data = json.loads(page.split('id="chart-data">', 1)[1].split("</script>", 1)[0])
    assert data["gains"]["model"]["y"][-1] == pytest.approx(1.0)
    assert len(data["reliability"]["after"]["x"]) == len(after["bins"])
    # Equal-count groups, each with its size (a group of one or two customers would read as a failure).
    assert data["reliability"]["before"]["rows"] == [b["rows"] for b in before["bins"]]
    sizes = sorted(b["rows"] for b in before["bins"])
    assert f"groups of about equal size by predicted probability (about {sizes[len(sizes) // 2]} each)" in page
    assert data["calibrated"] is True
    rows = meta["data"]["rows"]
    assert f"{rows:,}: one per user and cutoff ({meta['data']['users']:,} users at 2 cutoffs)" in page
    first, last = (day_text(c) for c in meta["labels"]["snapshot_cutoffs_ms"])
    assert f"days after each cutoff ({first} to {last})" in page


def test_model_page_without_issue_19_metadata_has_no_such_sections(client):
    page = client.get("/model").get_data(as_text=True)
    assert 'id="verdict-headline"' not in page and 'id="gains-chart"' not in page
    assert 'id="reliability-chart"' not in page and "calibrated predicted probability" not in page


def test_the_verdict_page_shows_the_calibrated_probability_against_the_calibrated_threshold(cal_client,
                                                                                             calibrated_path):
    model = churn.load_model(calibrated_path)
    cal, t = model.calibration, model.metadata["threshold"]  # the app's threshold: the metadata's
    page = cal_client.get("/model").get_data(as_text=True)
    assert f"{cal.apply(t) * 100:.1f}%" in page
    r = cal_client.post("/api/predict", json={"events": 100}).get_json()
    assert r["calibrated"] is True
    assert r["probability"] == pytest.approx(float(cal.apply(r["raw_probability"])))
    assert r["threshold"] == pytest.approx(float(cal.apply(t))) and r["raw_threshold"] == t
    assert r["churn"] == (r["probability"] > r["threshold"]) == (r["raw_probability"] > t)
    go = cal_client.get("/go?events=100").get_data(as_text=True)
    assert 'id="calibration-note"' in go and "out-of-fold predictions" in go
    shown = go.split('id="probability">', 1)[1].split("%", 1)[0]
    assert float(shown) == pytest.approx(r["probability"] * 100, abs=0.51)


def test_api_and_verdicts_agree_across_many_rows(cal_client, trained):
    """Many customers: every verdict follows the shown probability against the shown threshold."""
    _, model, table = trained
    names = list(table.feature_names)
    X = np.asarray(table.X)
    rows = [{n: float(X[i, j]) for j, n in enumerate(names) if not np.isnan(X[i, j])} for i in range(0, len(X), 3)]
    cats = {f["name"]: f.get("categories") for f in model.metadata["features"] if f.get("kind") == "categorical"}
    for row in rows:
        for n, c in cats.items():
            if n in row and c:
                row[n] = c[int(row[n])] if 0 <= int(row[n]) < len(c) else c[0]
    out = cal_client.post("/api/predict", json=rows).get_json()
    assert isinstance(out, list) and len(out) == len(rows)
    for r in out:
        assert r["churn"] == (r["probability"] > r["threshold"])


def test_an_uncalibrated_model_shows_raw_probabilities(client, trained):
    _, model, _ = trained
    r = client.post("/api/predict", json={}).get_json()
    assert r["calibrated"] is False and "raw_probability" not in r and r["threshold"] == model.metadata["threshold"]
    assert 'id="calibration-note"' not in client.get("/go?events=100").get_data(as_text=True)
