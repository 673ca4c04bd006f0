"""The forest's parameters in one place (issue 16): the C++ JSON codec with scikit-learn's names is the
one mapping; Python resolves only what exists in Python (fractions of the rows, class-weight dicts by
label, random_state objects); churn.validate_params checks without data or fitting."""
import json
from pathlib import Path

import numpy as np
import pytest

import churn
from churn import RandomForestClassifier, validate_params

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(5)
    X = rng.random((120, 6))
    y = (X[:, 0] + 0.3 * rng.random(120) > 0.6).astype(int)
    return X, y


def test_validate_returns_every_parameter_with_scikit_learns_names():
    params = validate_params({"n_estimators": 7, "max_depth": None, "random_state": 3})
    assert params == {
        "n_estimators": 7, "criterion": "gini", "splitter": "best", "max_depth": None, "min_samples_split": 2,
        "min_samples_leaf": 1, "min_weight_fraction_leaf": 0.0, "max_features": "sqrt", "max_leaf_nodes": None,
        "min_impurity_decrease": 0.0, "bootstrap": True, "max_samples": None, "class_weight": None,
        "oob_score": False, "n_jobs": 1, "random_state": 3}
    # Every parameter of the estimator but its own threshold is the codec's.
    names = set(RandomForestClassifier().get_params()) - {"threshold"}
    assert set(validate_params({})) == names


def test_round_trip_through_the_codec_and_the_model_file(data, tmp_path):
    X, y = data
    given = {"n_estimators": 25, "criterion": "entropy", "splitter": "random", "max_depth": 5,
             "min_samples_split": 4, "min_samples_leaf": 2, "min_weight_fraction_leaf": 0.01,
             "max_features": 0.5, "max_leaf_nodes": 20, "min_impurity_decrease": 0.0, "bootstrap": True,
             "max_samples": 0.75, "class_weight": "balanced_subsample", "oob_score": True, "random_state": 11}
    est = RandomForestClassifier(**given).fit(X, y)
    stored = est.model_.params
    assert stored == {k: v for k, v in validate_params(given).items() if k != "n_jobs"}
    # validate_params is idempotent on what it returns, and the codec reads back what it wrote.
    assert validate_params(validate_params(given)) == validate_params(given)
    est.save(tmp_path / "m.json")
    assert json.loads((tmp_path / "m.json").read_text())["params"] == stored
    again = churn.load_model(tmp_path / "m.json")
    assert {k: again.get_params()[k] for k in given} == given
    np.testing.assert_array_equal(again.predict_proba(X), est.predict_proba(X))


def test_integer_and_fraction_spellings_stay_apart(data):
    X, y = data
    for value, expected in ((3, 3), (1.0, 1.0), (0.5, 0.5), (None, None), ("log2", "log2")):
        est = RandomForestClassifier(3, max_features=value, random_state=0).fit(X, y)
        stored = est.model_.params["max_features"]
        assert stored == expected and type(stored) is type(expected)
    est = RandomForestClassifier(3, max_samples=50, random_state=0).fit(X, y)
    assert est.model_.params["max_samples"] == 50


def test_python_alone_resolves_fractions_class_weight_dicts_and_random_state(data):
    X, y = data
    est = RandomForestClassifier(3, min_samples_leaf=0.05, min_samples_split=0.1, class_weight={0: 1.0, 1: 3.0},
                                 random_state=np.random.RandomState(4)).fit(X, y)
    p = est.model_.params
    assert p["min_samples_leaf"] == 6 and p["min_samples_split"] == 12  # ceil(fraction * 120 rows)
    assert p["class_weight"] == [1.0, 3.0]
    assert isinstance(p["random_state"], int)
    # Labels other than 0/1: the weights follow the sorted classes.
    labels = np.where(y == 1, "churn", "stay")
    est = RandomForestClassifier(3, class_weight={"stay": 2.0, "churn": 0.5}, random_state=0).fit(X, labels)
    assert est.model_.params["class_weight"] == [0.5, 2.0]
    assert RandomForestClassifier._from_native(est.model_).class_weight == {"churn": 0.5, "stay": 2.0}
    with pytest.raises(ValueError, match="class_weight has label 'gone'"):
        RandomForestClassifier(3, class_weight={"gone": 2.0}).fit(X, labels)


def test_numpy_scalars_are_taken_by_value(data):
    X, y = data
    est = RandomForestClassifier(np.int64(4), max_depth=np.int32(3), bootstrap=np.bool_(True),
                                 min_impurity_decrease=np.float32(0.0), random_state=0).fit(X, y)
    assert est.model_.params["n_estimators"] == 4 and est.model_.params["max_depth"] == 3


@pytest.mark.parametrize("params, name, shown", [
    ({"max_dept": 3}, "max_dept", "no such parameter"),
    ({"n_estimators": "10"}, "n_estimators", '"10"'),
    ({"n_estimators": 2.5}, "n_estimators", "2.5"),
    ({"n_estimators": 0}, "n_estimators", "0"),
    ({"criterion": "mse"}, "criterion", "mse"),
    ({"max_depth": 0}, "max_depth", "0"),
    ({"max_depth": "deep"}, "max_depth", '"deep"'),
    ({"bootstrap": "yes"}, "bootstrap", '"yes"'),
    ({"bootstrap": False, "oob_score": True}, "oob_score", "true"),
    ({"bootstrap": False, "max_samples": 10}, "max_samples", "10"),
    ({"max_features": True}, "max_features", "true"),
    ({"max_features": [1, 2]}, "max_features", "[1,2]"),
    ({"class_weight": "heavy"}, "class_weight", '"heavy"'),
    ({"class_weight": {0: "a", 1: 1.0}}, "class_weight", '"a"'),
    ({"min_samples_leaf": 1.5}, "min_samples_leaf", "1.5"),
    ({"min_samples_split": -0.5}, "min_samples_split", "-0.5"),
    ({"n_jobs": 0}, "n_jobs", "0"),
    ({"n_jobs": 10**12}, "n_jobs", str(10**12)),
    ({"random_state": -1}, "random_state", "-1"),
    ({"random_state": "seed"}, "random_state", "seed"),
    ({"threshold": 2}, "threshold", "2"),
    ({"max_samples": object()}, "max_samples", "object"),
])
def test_a_bad_parameter_is_named_with_its_value_without_data(params, name, shown):
    with pytest.raises(churn.ParameterError, match=f"parameter '{name}'") as e:
        validate_params(params)
    assert e.value.name == name
    assert shown in str(e.value)
    assert "None" not in str(e.value).split("(allowed")[0]


def test_unknown_key_lists_the_known_ones():
    with pytest.raises(churn.ParameterError) as e:
        validate_params({"n_estimator": 5})
    assert "'n_estimator': no such parameter" in str(e.value)
    assert "n_estimators" in str(e.value)
    with pytest.raises(TypeError):
        validate_params([("n_estimators", 5)])  # type: ignore[arg-type]


def test_validate_does_not_fit(monkeypatch):
    def no_fit(*args, **kwargs):
        raise AssertionError("validate_params must not fit")

    monkeypatch.setattr(churn._churn, "fit_forest", no_fit)
    assert validate_params({"n_estimators": 300, "class_weight": {0: 1.0, 1: 2.0}})["class_weight"] == [1.0, 2.0]


def test_training_checks_parameters_without_fitting(monkeypatch, tmp_path):
    from churn.training import train

    def no_fit(*args, **kwargs):
        raise AssertionError("train must check the parameters without fitting")

    monkeypatch.setattr(churn._churn, "fit_forest", no_fit)
    with pytest.raises(churn.ParameterError, match="'max_dept': no such parameter"):
        train(tmp_path / "missing.json", None, forest_params={"max_dept": 4}, log=None)
    with pytest.raises(churn.ParameterError, match="parameter 'min_samples_leaf'"):
        train(tmp_path / "missing.json", None, forest_params={"min_samples_leaf": 0}, log=None)


def test_saved_models_keep_loading():
    model = churn.load_model(DATA / "model_v1.json")
    params = model.model_.params
    assert set(params) == set(validate_params({})) - {"n_jobs"}
    assert model.get_params()["n_estimators"] == params["n_estimators"]


def test_validate_orders_class_weights_as_a_fit_would(data):
    X, y = data
    given = {"class_weight": {1: 3.0, 0: 0.5}, "random_state": 0, "n_estimators": 3}
    assert validate_params(given)["class_weight"] == [0.5, 3.0]
    est = RandomForestClassifier(**given).fit(X, y)
    assert est.model_.params["class_weight"] == validate_params(given)["class_weight"]
