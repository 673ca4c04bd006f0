"""Headless Chromium against the real server (run.py, waitress) on a free localhost port.

Set CHURN_WEB_SCREENSHOTS=DIR to save a PNG of each page (docs/images holds the README's).
"""
from __future__ import annotations

import csv
import json
import os
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

SHOTS = os.environ.get("CHURN_WEB_SCREENSHOTS")


def shot(driver, name: str) -> None:
    """A PNG of the whole page (not just the window) when CHURN_WEB_SCREENSHOTS names a directory."""
    if not SHOTS:
        return
    import base64

    Path(SHOTS).mkdir(parents=True, exist_ok=True)
    time.sleep(0.5)  # let animations (charts, collapses) finish
    width, height = driver.execute_script(
        "return [window.innerWidth, Math.min(document.documentElement.scrollHeight, 3000)]")
    # Make the viewport as tall as the page (charts redraw at the new size), then capture it.
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
    try:
        time.sleep(1.0)
        png = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png"})
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    (Path(SHOTS) / f"{name}.png").write_bytes(base64.b64decode(png["data"]))


def wait_for(driver, css: str, timeout: float = 20):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(EC.visibility_of_element_located((By.CSS_SELECTOR, css)))


def by_css(driver, css: str):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, css)


def form_values(driver) -> dict:
    return driver.execute_script(
        "var out = {}; new FormData(document.getElementById('customer-form')).forEach(function (v, k) { out[k] = v; });"
        "return out;")


def api_probability(url: str, values: dict, fields: list) -> float:
    body = {}
    for f in fields:
        v = values[f["name"]]
        body[f["name"]] = v if f["kind"] == "categorical" else float(v)
    req = urllib.request.Request(url + "/api/predict", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)["probability"]


def api_predict(url: str, values: dict, fields: list) -> dict:
    body = {f["name"]: values[f["name"]] if f["kind"] == "categorical" else float(values[f["name"]]) for f in fields}
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)


def api_model(url: str) -> dict:
    with urllib.request.urlopen(url + "/api/model", timeout=10) as r:
        return json.load(r)


def csp_violations(driver) -> list:
    return [e["message"] for e in driver.get_log("browser") if "Content Security Policy" in e["message"]]


def count_field(model: dict) -> dict:
    fields = sorted(model["fields"], key=lambda f: -f["importance"])
    return next(f for f in fields if f["kind"] == "numeric" and f["unit"] not in ("fraction", "0/1")
                and f["min"] is not None and f["min"] >= 0)


def test_fill_the_form_and_read_the_verdict(driver, live_server):
    driver.get(live_server + "/")
    shot(driver, "form")
    model = api_model(live_server)
    f = count_field(model)
    box = by_css(driver, f"#f-{f['name']}")
    box.clear()
    box.send_keys(str(round(f["max"] * 0.8)))
    values = form_values(driver)
    by_css(driver, "#predict-button").click()
    verdict = wait_for(driver, "#verdict").text
    assert "about to churn" in verdict or "likely to stay" in verdict
    expected = api_probability(live_server, values, model["fields"])
    assert by_css(driver, "#probability").text == f"{expected * 100:.0f}%"
    assert ("about to churn" in verdict) == (expected > model["threshold"])
    # The page's reasons are the API's (the same library call), groups and pushes in the same order.
    explained = api_predict(live_server + "/api/predict?explain=4", values, model["fields"])
    shown = [e.text for e in driver.find_elements("css selector", ".reason")]
    expected = explained["reasons_up"] + explained["reasons_down"]
    assert len(shown) == len(expected)
    for text, r in zip(shown, expected):
        assert text.lower().startswith(r["label"]) and f"{r['push'] * 100:+.1f} points" in text
    if not expected:
        assert "Nothing unusual in this customer's profile pushes the risk up" in by_css(driver, "body").text
    for item in driver.find_elements("css selector", ".reason-item"):
        text = item.text
        assert " points" in text and "of customers" in text, text  # group, push, values against the population
        assert "typical" not in item.find_element("css selector", ".drivers").text
    shot(driver, "verdict-form")
    assert csp_violations(driver) == []


def test_keyboard_only(driver, live_server):
    from selenium.webdriver.common.keys import Keys

    driver.get(live_server + "/")
    body = by_css(driver, "body")
    body.send_keys(Keys.TAB)
    active = driver.switch_to.active_element
    assert active.get_attribute("class").startswith("visually-hidden-focusable") and active.text == "Skip to content"
    model = api_model(live_server)
    box = by_css(driver, f"#f-{count_field(model)['name']}")
    box.clear()
    box.send_keys("3" + Keys.ENTER)
    wait_for(driver, "#verdict")


def test_client_side_validation_message(driver, live_server):
    driver.get(live_server + "/")
    f = count_field(api_model(live_server))
    box = by_css(driver, f"#f-{f['name']}")
    box.clear()
    box.send_keys("-5")
    by_css(driver, "#predict-button").click()
    feedback = wait_for(driver, f"#err-{f['name']}")
    assert "0 or more" in feedback.text
    assert driver.current_url.rstrip("/") == live_server, "the invalid form was not sent"
    assert "is-invalid" in box.get_attribute("class")
    assert driver.switch_to.active_element == box
    shot(driver, "form-invalid")


def test_invalid_hidden_field_opens_all_fields(driver, live_server):
    driver.get(live_server + "/")
    model = api_model(live_server)
    top = int(driver.execute_script(
        "return document.querySelectorAll('#customer-form > fieldset input, #customer-form > fieldset select').length"))
    hidden = [f for f in sorted(model["fields"], key=lambda f: -f["importance"])[top:]
              if f["kind"] == "numeric" and f["min"] is not None and f["min"] >= 0]
    assert not by_css(driver, "#all-fields").is_displayed()
    driver.execute_script(f"document.getElementById('f-{hidden[0]['name']}').value = '-1'")
    by_css(driver, "#predict-button").click()
    wait_for(driver, f"#err-{hidden[0]['name']}")
    assert by_css(driver, "#all-fields").is_displayed()


def test_server_side_validation_message(driver, live_server):
    driver.get(live_server + "/")
    f = count_field(api_model(live_server))
    box = by_css(driver, f"#f-{f['name']}")
    box.clear()
    box.send_keys("5e20")  # a valid HTML number, too large for the server
    by_css(driver, "#predict-button").click()
    assert "too large" in wait_for(driver, f"#err-{f['name']}").text
    assert "to fix" in by_css(driver, "#form-errors").text


def test_upload_a_log_and_download_the_csv(driver, live_server, batch_log_gz, browser_download_dir):
    driver.get(live_server + "/batch")
    by_css(driver, "#batch-file").send_keys(str(batch_log_gz))
    by_css(driver, "#batch-submit").click()
    title = wait_for(driver, "#result-title", timeout=60).text
    rows = driver.find_elements("css selector", "#batch-table tbody tr")
    probs = [int(r.find_element("css selector", ".prob").text.rstrip("%")) for r in rows]
    assert probs and probs == sorted(probs, reverse=True)
    assert driver.find_elements("css selector", "#batch-table .batch-reason"), "the table gives reasons"
    shot(driver, "batch")
    by_css(driver, "#download-csv").click()
    deadline = time.monotonic() + 30
    done = []
    while time.monotonic() < deadline:
        done = [p for p in browser_download_dir.glob("*.csv")]
        if done and not list(browser_download_dir.glob("*.crdownload")):
            break
        time.sleep(0.2)
    assert done, "the CSV was downloaded"
    with open(done[0], newline="") as fh:
        table = list(csv.DictReader(fh))
    assert f"{len(table)} users" in title
    assert [round(float(r["churn_probability"]) * 100) for r in table[: len(probs)]] == probs


def test_model_page_draws_its_charts(driver, live_server):
    driver.get(live_server + "/model")
    wait_for(driver, "#importance-chart")
    time.sleep(0.8)  # the charts animate in
    n = driver.execute_script("return window.Chart ? Object.keys(Chart.instances).length : -1")
    assert n == 7
    for canvas in ("roc-chart", "pr-chart", "importance-chart", "histogram-chart", "shap-groups-chart",
                   "shap-features-chart", "shap-beeswarm-chart"):
        painted = driver.execute_script(
            "var c = document.getElementById(arguments[0]); var d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
            "var n = 0; for (var i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n;", canvas)
        assert painted > 500, f"{canvas} is blank"
    shot(driver, "model")
    assert csp_violations(driver) == []


def test_phone_width(driver, live_server):
    size = driver.get_window_size()
    driver.set_window_size(390, 844)
    try:
        for path in ("/", "/batch", "/model", "/api"):
            driver.get(live_server + path)
            time.sleep(0.3)
            overflow = driver.execute_script(
                "return document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert overflow <= 1, f"{path} scrolls sideways at phone width"
            assert by_css(driver, ".navbar-toggler").is_displayed()
        driver.get(live_server + "/")
        shot(driver, "phone")
    finally:
        driver.set_window_size(size["width"], size["height"])


def test_threshold_label_sits_under_its_marker(driver, live_server):
    """The verdict gauge's 'threshold N%' label is centred under the threshold line (issue 20: it sat
    ~250 px away on a desktop), at desktop and at phone width."""
    size = driver.get_window_size()
    try:
        for width in (1280, 390):
            driver.set_window_size(width, 900)
            # The median customer (an empty value takes the training median).
            driver.get(live_server + f"/go?{api_model(live_server)['fields'][0]['name']}=")
            wait_for(driver, "#verdict")
            marker, label, gauge = driver.execute_script(
                "var m = document.querySelector('.gauge-threshold').getBoundingClientRect();"
                "var l = document.getElementById('threshold-label').getBoundingClientRect();"
                "var g = document.querySelector('.gauge').getBoundingClientRect();"
                "return [m.left + m.width / 2, [l.left, l.right], [g.left, g.right]];")
            # Under the marker (centred on it unless that would push it out of the gauge), inside the gauge.
            assert label[0] <= marker <= label[1], f"at {width}px the label {label} is not under the marker {marker}"
            assert gauge[0] - 1 <= label[0] and label[1] <= gauge[1] + 1
            if width == 1280:
                shot(driver, "verdict-gauge")
    finally:
        driver.set_window_size(size["width"], size["height"])
    assert csp_violations(driver) == []


def test_api_page_from_the_navigation(driver, live_server):
    driver.get(live_server + "/")
    driver.find_element("link text", "API").click()
    wait_for(driver, "#endpoints")
    assert driver.current_url == live_server + "/api"
    curls = [e.text for e in driver.find_elements("css selector", "code.curl")]
    assert len(curls) == 5 and all(live_server in c for c in curls), "examples name this server"
    # The first example, sent as shown, gets the answer shown.
    first = curls[0]
    body = first.split("-d '", 1)[1].rstrip("'")
    req = urllib.request.Request(first.split("'")[1], data=body.encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        answer = json.load(r)
    from churn_web.api_page import shown_answer

    shown = json.loads(driver.find_elements("css selector", ".api-answer code")[0].text)
    assert shown == shown_answer(answer)
    raw = by_css(driver, "#raw-json-link").get_attribute("href")
    assert raw == live_server + "/api/model"
    shot(driver, "api")
    assert csp_violations(driver) == []


def test_model_page_leads_with_plain_words(driver, live_server):
    driver.get(live_server + "/model")
    plain = wait_for(driver, "#plain-words")
    meta = api_model(live_server)["metadata"]
    (tn, fp), (fn, tp) = meta["test"]["confusion_matrix"]
    text = plain.text
    assert f"the model flags about {round(100 * tp / (tp + fn))}." in text
    if tp + fp:
        assert f"Of every 100 customers it flags, about {round(100 * tp / (tp + fp))} do leave" in text
    # It is the first thing under the title, above the detailed tables and charts.
    tops = driver.execute_script(
        "return ['plain-words', 'test-metrics', 'cv-table', 'importance-chart', 'feature-table'].map(function (id) {"
        " var e = document.getElementById(id); return e ? e.getBoundingClientRect().top : null; });")
    present = [t for t in tops if t is not None]
    assert present == sorted(present) and tops[0] == present[0]
    assert tops[0] < driver.execute_script("return window.innerHeight"), "visible without scrolling"


def test_batch_row_opens_that_customers_verdict(driver, live_server, batch_log):
    driver.get(live_server + "/batch")
    by_css(driver, "#batch-file").send_keys(str(batch_log))
    by_css(driver, "#batch-submit").click()
    wait_for(driver, "#result-title", timeout=60)
    first = driver.find_elements("css selector", "#batch-table tbody tr")[0]
    shown = first.find_element("css selector", ".prob").text
    first.find_element("css selector", "a.user-link").click()
    wait_for(driver, "#verdict")
    assert by_css(driver, "#probability").text == shown, "the verdict page scores the same values"
    shot(driver, "verdict")  # the README picture: a customer with reasons
    assert csp_violations(driver) == []
