"""The demo's own model (scripts/demo.sh: `churn simulate --users 1000 --days 60 --seed 0`, then
examples/webserver/build_model.py with its defaults) against the two customers a retention team asks
about first: one who stopped coming, and the median active customer."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from churn.cli import main as churn_main

ROOT = Path(__file__).resolve().parents[2]

#: Unseen for 21 days, no songs (no events) in the last 14 days, a falling trend.
STOPPED_COMING = {"days_since_last_event": 21, "songs_last_7d": 0, "songs_last_14d": 0, "events_last_7d": 0,
                  "events_last_14d": 0, "trend_7d": 0, "trend_14d": 0}


@pytest.fixture(scope="module")
def demo_client(tmp_path_factory):
    d = tmp_path_factory.mktemp("demo")
    log, model = d / "events-1000.json.gz", d / "churn_model.json"
    # The demo's two commands, as scripts/demo.sh runs them.
    assert churn_main(["simulate", "--users", "1000", "--days", "60", "--seed", "0", "--out", str(log),
                       "--quiet"]) == 0
    subprocess.run([sys.executable, str(ROOT / "examples" / "webserver" / "build_model.py"), str(log), str(model)],
                   check=True, stdout=subprocess.DEVNULL)
    from churn_web import create_app

    app = create_app({"MODEL_PATH": str(model), "UPLOAD_DIR": str(d / "uploads"), "TESTING": True})
    return app.test_client()


def test_a_customer_who_stopped_coming_is_about_to_churn(demo_client):
    r = demo_client.post("/api/predict", json=STOPPED_COMING)
    assert r.status_code == 200, r.json
    assert r.json["verdict"] == "about to churn", r.json


def test_the_median_active_customer_is_likely_to_stay(demo_client):
    r = demo_client.post("/api/predict", json={})  # every field at the training median
    assert r.status_code == 200, r.json
    assert r.json["verdict"] == "likely to stay", r.json
    stopped = demo_client.post("/api/predict", json=STOPPED_COMING).json
    assert stopped["probability"] > 2 * r.json["probability"]


def test_the_demo_model_page_shows_the_forest_settings_chosen_by_cross_validation(demo_client):
    import re

    model = demo_client.application.config["MODEL_PATH"]
    import churn

    loaded = churn.load_model(model)
    search = loaded.metadata["forest_search"]
    html = demo_client.get("/model").get_data(as_text=True)
    section = re.search(r'<details class="mt-3" id="hyper-parameters">(.*?)</details>', html, re.S).group(1)
    assert 'id="forest-search"' in section and "chosen by cross-validation" in section
    rows = re.findall(r"<tr[^>]*><td>min_samples_leaf = (\d+)</td>", section)
    chosen = re.findall(r'<tr class="table-active fw-semibold"><td>min_samples_leaf = (\d+)</td>', section)
    assert rows == [str(c["params"]["min_samples_leaf"]) for c in search["candidates"]] and len(rows) >= 3, section
    assert chosen == [str(loaded.min_samples_leaf)] == [str(search["chosen"]["min_samples_leaf"])]
    assert re.search(rf"<dt[^>]*>min_samples_leaf</dt><dd[^>]*>{chosen[0]} <span", section)
