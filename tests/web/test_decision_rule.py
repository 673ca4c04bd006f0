"""One decision rule everywhere (issue 16): churn when P(churn) > threshold. A probability exactly at the
threshold is "stays" in the model's predict(), in the test metrics `churn train` writes into the model
file, and in the web app's verdicts (a tie goes to the first class, as scikit-learn's argmax).

Issue 19: the web app shows calibrated probabilities; `churn train` moves a threshold that falls inside
a flat step of the calibration to that step's end (and says so), so the rule stays one rule: the model
file's threshold is the one predict() uses, and the shown probability is above the shown threshold
exactly when predict() says churn."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import churn
from churn.metrics import confusion_matrix

pytestmark = pytest.mark.filterwarnings("ignore:X does not have valid feature names")


@pytest.fixture(scope="module")
def tied_model(tmp_path_factory):
    """`churn train` with 4 fully grown trees (leaf 1 given, so not searched: probabilities are multiples
    of 1/4, many exactly 0.5) and the threshold fixed at 0.5, so that many withheld users sit exactly on it."""
    tmp = tmp_path_factory.mktemp("rule")
    log = tmp / "events.json.gz"
    churn.simulate(log, users=300, days=60, seed=5, cancel_multiplier=3.0)
    model_path = tmp / "model.json"
    run = subprocess.run([sys.executable, "-m", "churn", "train", str(log), "--model", str(model_path),
                          "--trees", "4", "--min-samples-leaf", "1", "--threshold", "0.5", "--folds", "3", "--threads", "1",
                          "--seed", "1"],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    model = churn.load_model(model_path)
    labels = model.metadata["labels"]
    table = churn.user_features(str(log), label=labels["mode"], cutoff=labels["cutoff_ms"],
                                horizon_days=labels["horizon_days"],
                                session_gap_minutes=labels["session_gap_minutes"])
    y = np.asarray(table.y, dtype=np.int64)
    _, test_idx = churn.stratified_train_test_split(y, test_size=0.2, seed=1)
    return model_path, model, np.asarray(table.X, dtype=np.float64)[test_idx], y[test_idx], run.stdout


def _threshold(model, stdout):
    """The model's threshold: the given 0.5, or the end of the calibration's flat step it fell in."""
    t = model.threshold
    assert t == model.metadata["threshold"]
    assert t == 0.5 or f"moved from 0.5000 to {t:.4f}" in model.metadata["threshold_rule"]
    assert t == model.calibration.decision_threshold(t)  # never inside a flat step
    return t


def test_the_model_file_metrics_are_those_of_predict(tied_model):
    _, model, X_test, y_test, stdout = tied_model
    t = _threshold(model, stdout)
    p = model.predict_proba(X_test)[:, 1]
    assert (p == t).sum() > 0, "the test needs probabilities exactly at the threshold"
    pred = model.predict(X_test)
    np.testing.assert_array_equal(pred, (p > t).astype(int))
    assert not pred[p == t].any()
    test = model.metadata["test"]
    assert len(y_test) == test["metrics"]["n"]
    assert test["confusion_matrix"] == np.asarray(confusion_matrix(y_test, pred)).tolist()
    f1 = churn.metrics.f1_score(y_test, pred)
    assert test["metrics"]["f1"] == pytest.approx(f1, abs=1e-12)


def test_the_cli_reports_the_f1_of_predict(tied_model):
    _, model, X_test, y_test, stdout = tied_model
    pred = model.predict(X_test)
    precision = churn.metrics.precision_score(y_test, pred)
    recall = churn.metrics.recall_score(y_test, pred)
    f1 = churn.metrics.f1_score(y_test, pred)
    assert f"threshold {_threshold(model, stdout):.3f}): F1 {f1:.3f}  precision {precision:.3f}  recall {recall:.3f}" in stdout


def test_the_web_verdict_is_predict(tied_model, tmp_path):
    from churn_web import create_app

    model_path, model, X_test, _, _ = tied_model
    app = create_app({"MODEL_PATH": str(model_path), "UPLOAD_DIR": str(tmp_path / "uploads"), "TESTING": True})
    svc = app.extensions["churn_model"]
    t = model.threshold
    p = model.predict_proba(X_test)[:, 1]
    rows = list(np.flatnonzero(p == t)[:10]) + list(np.flatnonzero(p != t)[:10])
    payload = [{f.name: (f.format(X_test[i, f.index]) if f.categorical else float(X_test[i, f.index]))
                for f in svc.fields} for i in rows]
    answers = app.test_client().post("/api/predict?explain=0", json=payload).get_json()
    shown = model.predict_calibrated_proba(X_test)
    assert [a["probability"] for a in answers] == [float(shown[i]) for i in rows]
    assert [a["raw_probability"] if a["calibrated"] else a["probability"] for a in answers] == [float(p[i]) for i in rows]
    assert [a["churn"] for a in answers] == [bool(v) for v in model.predict(X_test[rows])]
    assert svc.churns(shown[rows]).tolist() == [bool(v) for v in model.predict(X_test[rows])]
