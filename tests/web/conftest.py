"""Fixtures for the web demo's tests: a small simulated log, a small forest trained on it with the
metadata of docs/model-metadata.md, the Flask app and its test client, and (for browser tests) the
real server started by run.py on a free localhost port."""
from __future__ import annotations

import datetime as dt
import gzip
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import warnings
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "examples" / "webserver"
sys.path.insert(0, str(WEB))

import churn  # noqa: E402
from churn.reasons import explanation_summary, pages_in, training_profile  # noqa: E402

HORIZON_DAYS = 14.0
SESSION_GAP = 30.0


def _require_forest():
    if not (hasattr(churn, "RandomForestClassifier") and hasattr(churn, "load_model")):
        pytest.skip("churn.RandomForestClassifier / churn.load_model are not in this build of churn yet")


def _distribution(col: np.ndarray) -> dict:
    q = np.quantile(col, [0.05, 0.25, 0.5, 0.75, 0.95])
    return {"min": float(col.min()), "max": float(col.max()), "median": float(q[2]), "q05": float(q[0]),
            "q25": float(q[1]), "q75": float(q[3]), "q95": float(q[4]),
            "integer": bool(np.all(col == np.round(col)))}


def make_metadata(model, table, X_tr, y_tr, X_te, y_te, threshold: float) -> dict:
    """Metadata as docs/model-metadata.md describes it, computed from this small training run."""
    from sklearn import metrics as skm

    proba = model.predict_proba(X_te)[:, 1]
    pred = (proba > threshold).astype(int)  # the rule of predict()
    fpr, tpr, thr = skm.roc_curve(y_te, proba)
    precision, recall, pr_thr = skm.precision_recall_curve(y_te, proba)
    importances = np.asarray(model.feature_importances_, dtype=float)
    features = []
    for j, info in enumerate(table.feature_info()):
        entry = dict(info)
        entry.update(_distribution(X_tr[:, j]))
        # What reasons need, as churn train stores it (churn.reasons).
        entry.update(training_profile(X_tr[:, j], info["kind"] == "categorical", len(info["categories"])))
        entry["importance"] = float(importances[j])
        entry["permutation_importance"] = None
        features.append(entry)
    explanations = explanation_summary(model, np.vstack([X_tr, X_te]), table.feature_names, features)
    explanations["pages"] = pages_in(X_tr, table.feature_names)
    test_metrics = {
        "accuracy": skm.accuracy_score(y_te, pred), "precision": skm.precision_score(y_te, pred, zero_division=0),
        "recall": skm.recall_score(y_te, pred), "f1": skm.f1_score(y_te, pred),
        "roc_auc": skm.roc_auc_score(y_te, proba), "average_precision": skm.average_precision_score(y_te, proba),
        "brier": skm.brier_score_loss(y_te, proba),
    }
    return {
        "kind": "churn-model", "library_version": churn.__version__,
        "created": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "threshold": threshold, "threshold_rule": "fixed for the test fixture",
        "features": features,
        "labels": {"mode": table.label, "cutoff_ms": table.cutoff_ms, "horizon_days": table.horizon_days,
                   "session_gap_minutes": table.session_gap_minutes},
        "data": {"source": "simulated.json", "events": int(table.report.events), "users": len(table),
                 "first_ts": table.report.first_ts, "last_ts": table.report.last_ts,
                 "churned": int(table.y.sum()), "rows_train": len(y_tr), "rows_test": len(y_te),
                 "positive_rate": float(table.y.mean())},
        "params": {"n_estimators": 40, "max_features": "sqrt"},
        "explanations": explanations,
        "cv": {"n_splits": 3, "seed": 0, "models": {
            "random_forest": {"metrics": {"f1": {"mean": 0.5, "std": 0.1, "folds": [0.4, 0.5, 0.6]},
                                          "roc_auc": {"mean": 0.8, "std": 0.05, "folds": [0.75, 0.8, 0.85]}}},
            "majority": {"metrics": {"f1": {"mean": 0.0, "std": 0.0, "folds": [0, 0, 0]},
                                     "roc_auc": {"mean": 0.5, "std": 0.0, "folds": [0.5, 0.5, 0.5]}}}}},
        "test": {
            "metrics": {k: float(v) for k, v in test_metrics.items()},
            "confusion_matrix": skm.confusion_matrix(y_te, pred, labels=[0, 1]).tolist(),
            "roc_curve": {"fpr": fpr.tolist(), "tpr": tpr.tolist(), "thresholds": [None] + thr[1:].tolist()},
            "pr_curve": {"precision": precision.tolist(), "recall": recall.tolist(), "thresholds": pr_thr.tolist()},
            "probabilities": {"churned": proba[y_te == 1].tolist(), "stayed": proba[y_te == 0].tolist()},
        },
    }


@pytest.fixture(scope="session")
def web_data(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("web")


@pytest.fixture(scope="session")
def training_log(web_data) -> Path:
    path = web_data / "train.json"
    churn.simulate(path, users=160, days=45, seed=7, cancel_multiplier=2.0)
    return path


@pytest.fixture(scope="session")
def batch_log(web_data) -> Path:
    """A second, smaller log: the users a retention team would upload for scoring."""
    path = web_data / "batch.json"
    churn.simulate(path, users=25, days=20, seed=11, start="2018-11-01")
    return path


@pytest.fixture(scope="session")
def batch_log_gz(web_data, batch_log) -> Path:
    path = web_data / "batch.json.gz"
    with open(batch_log, "rb") as src, gzip.open(path, "wb") as dst:
        shutil.copyfileobj(src, dst)
    return path


@pytest.fixture(scope="session")
def trained(training_log, web_data):
    """(model path, model, feature table) of a small forest with full metadata."""
    _require_forest()
    table = churn.user_features(training_log, horizon_days=HORIZON_DAYS, session_gap_minutes=SESSION_GAP)
    X = np.ascontiguousarray(table.X, dtype=np.float64)
    y = np.asarray(table.y, dtype=np.int64)
    assert 3 <= y.sum() <= len(y) - 3, "the simulated log must have both classes"
    rng = np.random.default_rng(0)
    test = np.zeros(len(y), dtype=bool)
    for cls in (0, 1):  # a stratified quarter for the test part
        idx = np.flatnonzero(y == cls)
        test[rng.choice(idx, size=max(1, len(idx) // 4), replace=False)] = True
    model = churn.RandomForestClassifier(n_estimators=40, random_state=0)
    fit_with_names(model, X[~test], y[~test], table.feature_names)
    threshold = 0.3
    with warnings.catch_warnings():  # fitted on a DataFrame, evaluated on arrays in the same column order
        warnings.filterwarnings("ignore", message="X does not have valid feature names")
        model.metadata = make_metadata(model, table, X[~test], y[~test], X[test], y[test], threshold)
    path = web_data / "model.json"
    model.save(path)
    return path, churn.load_model(path), table


def fit_with_names(model, X, y, names):
    """Fits with feature names when the estimator takes them (a DataFrame, as in scikit-learn)."""
    try:
        import pandas as pd

        model.fit(pd.DataFrame(X, columns=names), y)
    except Exception:  # noqa: BLE001 - estimators without DataFrame support: names come from metadata
        model.fit(X, y)


@pytest.fixture(scope="session")
def bare_model_path(training_log, web_data) -> Path:
    """A forest saved without any metadata: the app must fall back to the forest's own information."""
    _require_forest()
    table = churn.user_features(training_log, horizon_days=HORIZON_DAYS)
    model = churn.RandomForestClassifier(n_estimators=10, random_state=1)
    model.fit(np.ascontiguousarray(table.X), np.asarray(table.y, dtype=np.int64))
    path = web_data / "bare.json"
    model.save(path)
    return path


@pytest.fixture
def model_path(trained) -> Path:
    return trained[0]


@pytest.fixture
def app(model_path, tmp_path):
    from churn_web import create_app

    app = create_app({"MODEL_PATH": str(model_path), "UPLOAD_DIR": str(tmp_path / "uploads"), "TESTING": True})
    return app


@pytest.fixture
def client(app):
    return app.test_client()


# ---- the real server and a browser -----------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def live_server(trained, web_data):
    """run.py (waitress) on a free localhost port, as a user would start it. CHURN_WEB_TEST_MODEL
    serves another model (the browser tests take their expectations from the server's own API), e.g.
    the demo model when taking the README's screenshots."""
    model = os.environ.get("CHURN_WEB_TEST_MODEL") or str(trained[0])
    port = free_port()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(WEB), env.get("PYTHONPATH", "")]))
    log = open(web_data / "server.log", "w")
    proc = subprocess.Popen(
        [sys.executable, str(WEB / "run.py"), "--host", "127.0.0.1", "--port", str(port), "--model", model,
         "--threads", "4"], env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            log.close()
            raise RuntimeError("the web server did not start:\n" + (web_data / "server.log").read_text())
        time.sleep(0.2)
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


@pytest.fixture(scope="session")
def browser_download_dir(web_data) -> Path:
    d = web_data / "downloads"
    d.mkdir()
    return d


@pytest.fixture(scope="session")
def driver(browser_download_dir, web_data):
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.skip("browser tests need Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("browser tests need selenium (pip install selenium)")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
                 "--disable-dev-shm-usage", f"--user-data-dir={web_data / 'chromium-profile'}",
                 "--window-size=1280,1000"):
        opts.add_argument(flag)
    opts.add_experimental_option("prefs", {"download.default_directory": str(browser_download_dir),
                                           "download.prompt_for_download": False})
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    drv = webdriver.Chrome(options=opts, service=Service(CHROMEDRIVER))
    drv.set_page_load_timeout(30)
    yield drv
    drv.quit()
