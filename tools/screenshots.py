#!/usr/bin/env python3
"""Remakes the README's screenshots (docs/images/*.png) from the demo server in headless Chromium.

    .venv/bin/python tools/screenshots.py                      # the demo model, into docs/images
    .venv/bin/python tools/screenshots.py --model m.json --out /tmp/shots

It starts examples/webserver/run.py on a free localhost port with the demo model (bash scripts/demo.sh
builds it: examples/webserver/model/churn_model.json), opens every page in Debian's chromium
(chromium-driver, selenium; headless, --no-sandbox, a fresh profile) and saves a full-page PNG of each:
form, verdict (a customer the model flags), batch (a small simulated log uploaded), model, api, phone
(the form at 390 px). Look at them before committing.
"""
from __future__ import annotations

import argparse
import base64
import gzip
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WEB = ROOT / "examples" / "webserver"
DEMO_MODEL = WEB / "model" / "churn_model.json"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model: Path, work: Path):
    port = free_port()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(WEB), env.get("PYTHONPATH", "")]))
    log = open(work / "server.log", "w")
    proc = subprocess.Popen([sys.executable, str(WEB / "run.py"), "--host", "127.0.0.1", "--port", str(port),
                             "--model", str(model)], env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2):
                return proc, url
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise SystemExit("screenshots.py: the server did not start:\n" + (work / "server.log").read_text())
            time.sleep(0.3)


def start_browser(work: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    driver_bin = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    if not (os.path.exists(chromium) and os.path.exists(driver_bin)):
        raise SystemExit("screenshots.py: needs Debian's chromium and chromium-driver "
                         "(apt-get install chromium chromium-driver)")
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-sync", "--hide-scrollbars",
                 f"--user-data-dir={work / 'profile'}", "--window-size=1280,900"):
        opts.add_argument(flag)
    return webdriver.Chrome(options=opts, service=Service(driver_bin))


def wait_for(driver, css: str, timeout: float = 60):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(EC.visibility_of_element_located((By.CSS_SELECTOR, css)))


def shot(driver, out: Path, name: str, width: int = 1280, max_height: int = 2600) -> Path:
    """A PNG of the whole page (up to max_height) at `width` CSS pixels."""
    time.sleep(0.6)  # charts and collapses animate in
    height = driver.execute_script("return Math.min(document.documentElement.scrollHeight, arguments[0])", max_height)
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600})
    try:
        time.sleep(1.0)  # charts redraw at the new size
        png = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png"})
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    path = out / f"{name}.png"
    path.write_bytes(base64.b64decode(png["data"]))
    print(f"screenshots.py: {path} ({width} x {height})")
    return path


def flagged_customer(model: Path) -> dict:
    """A customer the model flags, for the verdict picture: the API page's example customer (found with
    the model itself, churn_web.api_page.example_customer)."""
    import warnings

    sys.path.insert(0, str(WEB))
    from churn_web.api_page import example_customer
    from churn_web.model import ModelService

    with warnings.catch_warnings():  # the app predicts from arrays in the model's column order
        warnings.filterwarnings("ignore", message="X does not have valid feature names")
        return example_customer(ModelService.load(str(model)))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=str(DEMO_MODEL), help="the model to serve (default: the demo model)")
    p.add_argument("--out", default=str(ROOT / "docs" / "images"), help="where the PNGs go (default docs/images)")
    args = p.parse_args(argv)
    model = Path(args.model)
    if not model.is_file():
        print(f"screenshots.py: no model at {model}: run `bash scripts/demo.sh` once (it builds the demo model), "
              "or pass --model", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    import churn

    with tempfile.TemporaryDirectory(prefix="churn-shots-") as tmp:
        work = Path(tmp)
        upload = work / "customers.json.gz"
        plain = work / "customers.json"
        churn.simulate(plain, users=40, days=30, seed=11, start="2018-11-01")
        with open(plain, "rb") as src, gzip.open(upload, "wb") as dst:
            shutil.copyfileobj(src, dst)
        proc, url = start_server(model, work)
        driver = start_browser(work)
        try:
            driver.get(url + "/")
            wait_for(driver, "#predict-button")
            shot(driver, out, "form")

            driver.get(url + "/go?" + urllib.parse.urlencode(flagged_customer(model)))
            wait_for(driver, "#verdict")
            shot(driver, out, "verdict")

            driver.get(url + "/batch")
            driver.find_element("css selector", "#batch-file").send_keys(str(upload))
            driver.find_element("css selector", "#batch-submit").click()
            wait_for(driver, "#result-title", timeout=120)
            shot(driver, out, "batch")

            driver.get(url + "/model")
            wait_for(driver, "#importance-chart")
            shot(driver, out, "model", max_height=4000)

            driver.get(url + "/api")
            wait_for(driver, "#endpoints")
            shot(driver, out, "api", max_height=4000)

            driver.set_window_size(390, 844)
            driver.get(url + "/")
            wait_for(driver, "#predict-button")
            shot(driver, out, "phone", width=390)
        finally:
            driver.quit()
            proc.terminate()
            proc.wait(timeout=20)
    return 0


if __name__ == "__main__":
    sys.exit(main())
