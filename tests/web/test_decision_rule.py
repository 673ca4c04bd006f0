"""One decision rule everywhere (issue 16): churn when P(churn) > threshold. A probability exactly at the
threshold is "stays" in the model's predict(), in the test metrics `churn train` writes into the model
file, and in the web app's verdicts (a tie goes to the first class, as scikit-learn's argmax)."""
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
    """`churn train` with 4 fully grown trees (probabilities are multiples of 1/4, many exactly 0.5) and
    the threshold fixed at 0.5, so that many withheld users sit exactly on it."""
    tmp = tmp_path_factory.mktemp("rule")
    log = tmp / "events.json.gz"
    churn.simulate(log, users=300, days=60, seed=5, cancel_multiplier=3.0)
    model_path = tmp / "model.json"
    run = subprocess.run([sys.executable, "-m", "churn", "train", str(log), "--model", str(model_path),
                          "--trees", "4", "--threshold", "0.5", "--folds", "3", "--threads", "1", "--seed", "1"],
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


def test_the_model_file_metrics_are_those_of_predict(tied_model):
    _, model, X_test, y_test, _ = tied_model
    assert model.threshold == 0.5 and model.metadata["threshold"] == 0.5
    p = model.predict_proba(X_test)[:, 1]
    assert (p == 0.5).sum() > 0, "the test needs probabilities exactly at the threshold"
    pred = model.predict(X_test)
    np.testing.assert_array_equal(pred, (p > 0.5).astype(int))
    assert not pred[p == 0.5].any()
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
    assert f"threshold 0.500): F1 {f1:.3f}  precision {precision:.3f}  recall {recall:.3f}" in stdout


def test_the_web_verdict_is_predict(tied_model, tmp_path):
    from churn_web import create_app

    model_path, model, X_test, _, _ = tied_model
    app = create_app({"MODEL_PATH": str(model_path), "UPLOAD_DIR": str(tmp_path / "uploads"), "TESTING": True})
    svc = app.extensions["churn_model"]
    p = model.predict_proba(X_test)[:, 1]
    rows = list(np.flatnonzero(p == 0.5)[:10]) + list(np.flatnonzero(p != 0.5)[:10])
    payload = [{f.name: (f.format(X_test[i, f.index]) if f.categorical else float(X_test[i, f.index]))
                for f in svc.fields} for i in rows]
    answers = app.test_client().post("/api/predict?explain=0", json=payload).get_json()
    assert [a["probability"] for a in answers] == [float(p[i]) for i in rows]
    assert [a["churn"] for a in answers] == [bool(v) for v in model.predict(X_test[rows])]
    assert svc.churns(p[rows]).tolist() == [bool(v) for v in model.predict(X_test[rows])]
