"""The train / evaluate / report pipeline on small simulated data."""
import datetime
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import churn
from churn.training import (FOREST_SEARCH, compare_models, data_fingerprint, feature_distribution, search_space,
                            train)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def events(tmp_path_factory):
    path = tmp_path_factory.mktemp("train") / "events.json.gz"
    # A raised cancel rate gives enough churners in a small, fast log.
    churn.simulate(path, users=300, days=60, seed=5, cancel_multiplier=3.0)
    return path


@pytest.fixture(scope="module")
def trained(events, tmp_path_factory):
    model_path = tmp_path_factory.mktemp("model") / "model.json"
    result = train(events, model_path, forest_params={"n_estimators": 40}, seed=1, log=None)
    return result, model_path


def test_train_saves_a_model_that_loads_and_predicts(trained):
    result, model_path = trained
    loaded = churn.load_model(model_path)
    X = result.table.X
    np.testing.assert_array_equal(loaded.predict_proba(X), result.model.predict_proba(X))
    assert loaded.threshold == pytest.approx(result.model.threshold)
    assert list(loaded.feature_names) == result.table.feature_names


def test_metadata_has_what_the_web_app_needs(trained):
    result, model_path = trained
    meta = churn.load_model(model_path).metadata
    assert meta["kind"] == "churn-model" and meta["library_version"] == churn.__version__
    assert len(meta["features"]) == result.table.X.shape[1]
    for f in meta["features"]:
        for key in ("name", "description", "unit", "kind", "categories", "median", "q05", "q95", "min", "max",
                    "importance", "permutation_importance", "integer"):
            assert key in f, (f["name"], key)
        assert f["min"] <= f["median"] <= f["max"]
    assert sum(f["importance"] for f in meta["features"]) == pytest.approx(1.0)
    assert set(meta["cv"]["models"]) == {"random_forest", "logistic_regression", "majority"}
    assert len(meta["cv"]["models"]["random_forest"]["metrics"]["f1"]["folds"]) == 5
    cm = meta["test"]["confusion_matrix"]
    assert sum(map(sum, cm)) == meta["data"]["rows_test"]
    assert meta["data"]["rows_train"] + meta["data"]["rows_test"] == meta["data"]["users"]
    assert meta["labels"]["mode"] == "window" and meta["labels"]["cutoff_ms"] is not None
    assert len(meta["test"]["roc_curve"]["fpr"]) == len(meta["test"]["roc_curve"]["tpr"])
    assert 0 < meta["threshold"] < 1
    json.dumps(meta)  # everything is plain JSON (no NaN)


def test_threshold_comes_from_training_part_only(events, trained):
    """The decision threshold depends on the training part's out-of-fold probabilities, so the withheld
    test users' labels cannot move it."""
    result, _ = trained
    oof = result.comparison["oof_proba"]["random_forest"]
    y = result.table.y
    train_idx, _ = churn.stratified_train_test_split(y, test_size=0.2, seed=1)
    best = churn.metrics.best_f1_threshold(y[train_idx], oof)
    assert result.model.threshold == pytest.approx(best["threshold"])


def test_forest_beats_majority_baseline(trained):
    result, _ = trained
    models = result.comparison["models"]
    assert models["random_forest"]["metrics"]["roc_auc"]["mean"] > models["majority"]["metrics"]["roc_auc"]["mean"]


def test_report_html_and_markdown_need_no_plotting_library(trained, tmp_path):
    from churn.report import write_report

    _, model_path = trained
    # Drawn without matplotlib: a run where importing it fails still writes every chart.
    code = ("import sys; sys.modules['matplotlib'] = None; from churn.report import write_report; "
            f"print(write_report({str(model_path)!r}, {str(tmp_path / 'r.html')!r}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    html = (tmp_path / "r.html").read_text()
    from churn.report_shap import section_shap

    shap_figures = len(section_shap(churn.load_model(model_path).metadata).figures)
    assert shap_figures == 3  # mean |SHAP| per group and per feature, and the beeswarm
    assert html.count("<svg") == 6 + shap_figures and "ROC curve" in html and "Precision-recall curve" in html
    assert "Gains (" in html and "Reliability (test set)" in html  # issue 19: gains and calibration
    assert html.index("Is the forest worth using?") < html.index("Detailed metrics")  # the verdict leads
    assert "<script" not in html and not re.search(r"(src|href)=['\"]?https?:", html), "self-contained"
    assert "<meta name='viewport' content='width=device-width, initial-scale=1'>" in html
    meta = churn.load_model(model_path).metadata
    cutoff = datetime.datetime.fromtimestamp(meta["labels"]["cutoff_ms"] / 1000, datetime.timezone.utc)
    assert f"{cutoff:%Y-%m-%d}" in html and str(meta["labels"]["cutoff_ms"]) not in html, "dates as dates"
    (tn, fp), (fn, tp) = meta["test"]["confusion_matrix"]
    lead = html.index("What the model does")
    assert lead < html.index("Detailed metrics") < html.index("Feature importance")
    assert f"the model flags about {round(100 * tp / (tp + fn))}." in html
    if tp + fp:
        assert f"Of every 100 customers it flags, about {round(100 * tp / (tp + fp))} do leave" in html
    assert "a small negative value means shuffling it made" in html
    md = Path(write_report(model_path, tmp_path / "r.md")).read_text()
    assert md.count("data:image/svg+xml;base64,") == 6 + shap_figures and "| F1 |" in md and "What the model does" in md


def test_report_svg_charts_are_well_formed_xml(trained):
    import xml.etree.ElementTree as ET

    from churn.report import SECTIONS, render

    _, model_path = trained
    meta = churn.load_model(model_path).metadata
    svgs = [svg for make in SECTIONS for s in [make(meta)] if s for _, svg in s.figures]
    assert len(svgs) == 6 + 3  # the six charts (gains and reliability too) and the SHAP section's three
    for svg in svgs:
        root = ET.fromstring(svg)
        assert root.tag.endswith("svg") and root.find("{http://www.w3.org/2000/svg}title") is not None
    # A metadata without curves or features still renders (each section is optional).
    assert "What the model does" not in render({}) and "<h1>" in render({})


def test_too_few_churners_is_a_clear_error(tmp_path, hand_log):
    path = hand_log(tmp_path / "few.json", users=30, churners=3)
    with pytest.raises(churn.DataError, match="too few churners to evaluate: 3 churned and 27 stayed"):
        train(path, None, horizon_days=7, forest_params={"n_estimators": 5}, log=None)
    # Cancellations in the log, none in the label window (the cutoff after them).
    with pytest.raises(churn.DataError, match="no row is labelled churned: 3 users cancel in the log, but none"):
        train(path, None, horizon_days=2, forest_params={"n_estimators": 5}, log=None)
    # No cancellation at all.
    quiet = hand_log(tmp_path / "quiet.json", users=30, churners=0)
    with pytest.raises(churn.DataError, match="no 'Cancellation Confirmation' event at all"):
        train(quiet, None, horizon_days=7, forest_params={"n_estimators": 5}, log=None)


def test_an_empty_table_says_the_span_and_what_to_change(tmp_path, hand_log):
    # A 40-day log with cancellations and a 45-day horizon: the default cutoff falls before the first event.
    path = hand_log(tmp_path / "short.json", users=30, churners=3)
    with pytest.raises(churn.DataError, match="no users: the log runs from") as e:
        train(path, None, forest_params={"n_estimators": 5}, horizon_days=45, log=None)
    assert "--horizon-days" in str(e.value)


def test_bad_forest_parameter_fails_before_reading(tmp_path):
    with pytest.raises(churn.ParameterError, match="n_estimators"):
        train(tmp_path / "missing.json", None, forest_params={"n_estimators": 0}, log=None)


def test_build_model_script_and_cli(events, tmp_path):
    model = tmp_path / "m.json"
    script = ROOT / "examples" / "webserver" / "build_model.py"
    done = subprocess.run([sys.executable, str(script), str(events), str(model), "--trees", "20", "--seed", "2"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "withheld test set" in done.stdout and "cross-validating random_forest" in done.stderr
    assert churn.load_model(model).metadata["params"]["n_estimators"] == 20
    done = subprocess.run([sys.executable, "-m", "churn", "evaluate", str(events), "--trees", "20"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "random_forest" in done.stdout and "logistic_regression" in done.stdout
    done = subprocess.run([sys.executable, "-m", "churn", "train", str(tmp_path / "nope.json"), "--model",
                           str(model)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "nope.json" in done.stderr


def test_feature_distribution_and_fingerprint(tmp_path):
    d = feature_distribution(np.array([1.0, 2.0, 3.0, np.nan]))
    assert (d["min"], d["median"], d["max"], d["integer"]) == (1.0, 2.0, 3.0, True)
    assert d["missing_share"] == pytest.approx(0.25)
    a = tmp_path / "a.json"
    a.write_text("x" * 100)
    first = data_fingerprint([str(a)])
    a.write_text("x" * 99 + "y")
    assert data_fingerprint([str(a)])["sha256"] != first["sha256"] and first["bytes"] == 100


# ---- the forest's min_samples_leaf chosen by cross-validation (issue 17) ------------------------
def _noisy_table(n=400, seed=3):
    """A small table whose labels are mostly noise around a smooth signal in two of eight columns: a
    fully grown forest (leaf 1) fits the noise."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 8))
    p = 1 / (1 + np.exp(-(0.8 * X[:, 0] + 0.5 * X[:, 1] - 1.5)))
    return X, (rng.random(n) < p).astype(np.int64)


def test_the_search_picks_a_larger_leaf_on_noisy_labels_and_beats_leaf_1_out_of_fold():
    X, y = _noisy_table()
    report = compare_models(X, y, forest_params={"n_estimators": 60}, n_splits=5, seed=0,
                            forest_search=search_space(None), log=None)
    search = report["forest_search"]
    auc = {c["params"]["min_samples_leaf"]: c["roc_auc"]["mean"] for c in search["candidates"]}
    chosen = search["chosen"]["min_samples_leaf"]
    assert chosen > 1 and auc[chosen] > auc[1] + 0.02, auc
    assert report["forest_params"]["min_samples_leaf"] == chosen
    # the forest compared is the chosen one: its out-of-fold ROC AUC is the search's for that leaf
    assert report["models"]["random_forest"]["metrics"]["roc_auc"]["mean"] == pytest.approx(auc[chosen])
    # 320 training rows a fold: two leaves of 100 fit, so no candidate is skipped
    assert 100 in auc and search["skipped"] == []
    without = compare_models(X, y, forest_params={"n_estimators": 60}, n_splits=5, seed=0, log=None)
    assert without["forest_search"] is None and without["forest_params"]["min_samples_leaf"] == 1
    assert without["models"]["random_forest"]["metrics"]["roc_auc"]["mean"] == pytest.approx(auc[1])


def test_a_leaf_too_large_for_the_folds_is_skipped():
    X, y = _noisy_table(n=150)
    report = compare_models(X, y, forest_params={"n_estimators": 10}, n_splits=5, seed=0,
                            forest_search={"min_samples_leaf": [1, 30, 100]}, log=None)
    assert report["forest_search"]["skipped"] == [{"min_samples_leaf": 100}]  # 2 * 100 > 120 training rows
    assert [c["params"]["min_samples_leaf"] for c in report["forest_search"]["candidates"]] == [1, 30]


def test_search_space_keeps_what_the_user_gave_and_checks_the_grid():
    assert search_space(None) == {"min_samples_leaf": list(FOREST_SEARCH["min_samples_leaf"])}
    assert search_space({"min_samples_leaf": 5}) == {}
    assert search_space({"n_estimators": 50}, None) == {}
    with pytest.raises(churn.ParameterError, match="min_samples_leaf"):
        search_space(None, {"min_samples_leaf": [1, 0]})
    with pytest.raises(churn.ParameterError, match="has no values"):
        search_space(None, {"min_samples_leaf": []})
    with pytest.raises(churn.ParameterError, match="forest_search"):
        search_space(None, [1, 3])


def test_the_chosen_leaf_is_in_the_model_and_its_metadata_round_trips(trained):
    result, model_path = trained
    meta = result.model.metadata
    search = meta["forest_search"]
    chosen = search["chosen"]["min_samples_leaf"]
    assert chosen in FOREST_SEARCH["min_samples_leaf"]
    assert meta["params"]["min_samples_leaf"] == chosen == result.model.min_samples_leaf
    best = max(c["roc_auc"]["mean"] for c in search["candidates"])
    assert [c["roc_auc"]["mean"] for c in search["candidates"] if c["params"] == search["chosen"]] == [best]
    assert f"min_samples_leaf={chosen}" in search["sentence"] and search["sentence"] in result.summary()
    loaded = churn.load_model(model_path)
    assert loaded.metadata["forest_search"] == search and loaded.min_samples_leaf == chosen


def test_a_given_min_samples_leaf_wins_over_the_search(events, tmp_path):
    result = train(events, tmp_path / "m.json", forest_params={"n_estimators": 20, "min_samples_leaf": 7}, seed=1,
                   log=None)
    meta = churn.load_model(tmp_path / "m.json").metadata
    assert result.model.min_samples_leaf == 7 and meta["params"]["min_samples_leaf"] == 7
    assert meta["forest_search"]["given"] == {"min_samples_leaf": 7} and meta["forest_search"]["candidates"] == []
    assert "min_samples_leaf=7" in meta["forest_search"]["sentence"]
    off = train(events, None, forest_params={"n_estimators": 20}, seed=1, log=None, forest_search=None)
    assert off.model.min_samples_leaf == 1 and off.model.metadata["forest_search"]["candidates"] == []


def test_a_bad_search_value_in_a_model_file_is_refused_with_its_path(trained, tmp_path):
    from churn.metadata import check_metadata
    from churn.report import write_report

    _, model_path = trained
    doc = json.loads(Path(model_path).read_text())
    check_metadata(doc["metadata"])  # what train writes passes
    doc["metadata"]["forest_search"]["chosen"]["min_samples_leaf"] = -2
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    with pytest.raises(churn.ModelFormatError) as e:
        write_report(bad, tmp_path / "r.html")  # `churn report` and the web app check the metadata when loading
    assert e.value.path == "/metadata/forest_search/chosen/min_samples_leaf"
