"""Inputs left out take the medians of the training customers with the given recency (the model's
recency_defaults), else the overall medians; a malformed recency_defaults is a ModelFormatError."""
from __future__ import annotations

import numpy as np
import pytest

import churn
from churn.metadata import check_metadata
from churn.training import recency_defaults
from churn_web.forms import check_row
from churn_web.model import Field, RecencyDefaults

NAMES = ["days_since_last_event", "sessions", "mean_session_gap_hours", "gender"]
KINDS = ["numeric", "numeric", "numeric", "categorical"]


def fields():
    return [Field("days_since_last_event", 0, median=2.0), Field("sessions", 1, median=6.0, integer=True),
            Field("mean_session_gap_hours", 2, median=40.0),
            Field("gender", 3, kind="categorical", categories=["unknown", "other", "F", "M"], median=2.0)]


def training():
    # 60 recent customers with many sessions and short gaps; 30 unseen for 3 weeks or more with one session.
    rng = np.random.default_rng(0)
    recent = np.column_stack([rng.uniform(0, 1, 60), rng.integers(5, 12, 60), rng.uniform(10, 30, 60),
                              np.full(60, 2.0)])
    gone = np.column_stack([rng.uniform(21, 29, 30), np.ones(30), rng.uniform(400, 600, 30), np.full(30, 3.0)])
    return np.vstack([recent, gone])


def test_bands_hold_the_medians_of_their_rows_and_skip_thin_bands():
    X = training()
    rd = recency_defaults(X, NAMES, KINDS)
    check_metadata({"recency_defaults": rd})
    by_from = {b["from"]: b for b in rd["bands"]}
    assert by_from[0.0]["rows"] == 60 and by_from[21.0]["rows"] == 30
    assert by_from[21.0]["medians"]["sessions"] == 1.0
    assert by_from[21.0]["medians"]["mean_session_gap_hours"] == pytest.approx(np.median(X[60:, 2]))
    assert "gender" not in by_from[21.0]["medians"]  # categorical: the overall default
    assert "medians" not in by_from[7.0]  # no rows: the overall medians apply
    assert recency_defaults(X[:, 1:], NAMES[1:], KINDS[1:]) is None


def test_a_customer_unseen_for_weeks_takes_the_medians_of_such_customers():
    fs = fields()
    rec = RecencyDefaults.from_metadata(recency_defaults(training(), NAMES, KINDS), fs)
    gone = check_row(fs, {"days_since_last_event": 25}, recency=rec)
    assert gone.values[1] == 1.0 and gone.values[2] > 400 and gone.values[3] == 2.0
    assert "30 training customers" in gone.default_source and "21 days or more" in gone.default_source
    # Given values are never replaced; without the recency, or without the metadata, the overall median.
    assert check_row(fs, {"days_since_last_event": 25, "sessions": 4}, recency=rec).values[1] == 4.0
    assert check_row(fs, {"sessions": 4}, recency=rec).values[2] == 40.0
    assert check_row(fs, {"days_since_last_event": 25}, recency=None).values[1] == 6.0
    # A recency in a band with too few rows: the overall medians.
    mid = check_row(fs, {"days_since_last_event": 10}, recency=rec)
    assert mid.values[1] == 6.0 and mid.default_source == ""


@pytest.mark.parametrize("bad, where", [
    ({"bands": "x"}, "/metadata/recency_defaults/bands"),
    ({"bands": [{"from": "a", "to": 1}]}, "/metadata/recency_defaults/bands/0/from"),
    ({"bands": [{"from": 0, "to": 1, "medians": {"sessions": "many"}}]},
     "/metadata/recency_defaults/bands/0/medians/sessions"),
])
def test_a_malformed_recency_defaults_names_its_path(bad, where):
    with pytest.raises(churn.ModelFormatError) as e:
        check_metadata({"recency_defaults": {"feature": "days_since_last_event", **bad}})
    assert e.value.path == where


@pytest.fixture
def recency_client(trained, tmp_path):
    """The web fixture's model with recency_defaults computed from its own table."""
    from churn_web import create_app

    path, model, table = trained
    X = np.asarray(table.X)
    model = churn.load_model(path)
    meta = dict(model.metadata)
    meta["recency_defaults"] = recency_defaults(X, table.feature_names, [f["kind"] for f in table.feature_info()])
    model.metadata = meta
    model.save(tmp_path / "model.json")
    app = create_app({"MODEL_PATH": str(tmp_path / "model.json"), "UPLOAD_DIR": str(tmp_path / "up"), "TESTING": True})
    return app.test_client(), app.extensions["churn_model"], X, table.feature_names


def test_the_form_and_the_api_fill_a_changed_recency_with_its_band(recency_client):
    from churn_web.views import default_values

    client, svc, X, names = recency_client
    assert svc.recency is not None
    recency = X[:, names.index("days_since_last_event")]
    band = next(b for b in svc.recency.bands if b["rows"] >= 20 and
                np.median(X[(recency >= b["from"]) & ((recency < b["to"]) if b["to"] is not None else True),
                            names.index("sessions")]) != svc.by_name["sessions"].default)
    given = band["from"] + 0.5
    expected_sessions = band["values"][names.index("sessions")]
    with client.application.test_request_context():
        form = default_values()
    form["days_since_last_event"] = str(given)
    page = client.get("/go", query_string=form).get_data(as_text=True)
    shown = svc.by_name["sessions"].format(expected_sessions)
    assert f"<td>{shown}</td>" in page.replace("\n", "") or shown in page
    assert "took the median of the" in page and "training customers whose last event was" in page
    # The API: the same customer, the same probability as the row with the band's medians filled in.
    api = client.post("/api/predict?explain=0", json={"days_since_last_event": given}).get_json()
    row = svc.defaults_row()
    row[names.index("days_since_last_event")] = given
    for j, v in band["values"].items():
        row[j] = v
    assert api["probability"] == pytest.approx(svc.predict_proba(row[None, :])[0])
    # A form whose recency is left at its start is the median customer, fields as shown.
    same = client.post("/api/predict?explain=0", json={}).get_json()
    assert same["probability"] == pytest.approx(svc.predict_proba(svc.defaults_row()[None, :])[0])


def test_a_form_with_an_error_comes_back_with_the_values_as_they_were(recency_client):
    from churn_web.views import default_values

    client, svc, X, names = recency_client
    with client.application.test_request_context():
        form = default_values()
    form["days_since_last_event"] = "25"
    form["songs"] = "-3"  # rejected: never negative in training
    r = client.get("/go", query_string=form)
    assert r.status_code == 400
    page = r.get_data(as_text=True)
    assert f'name="sessions" value="{form["sessions"]}"' in page  # not blanked by the recency rule


def test_a_categorical_default_is_the_most_common_category_not_the_median_code():
    """Category codes are not ordered: the median code (1, "other" here) can name a rare category; the
    default is the category most training customers have."""
    f = Field("gender", 0, kind="categorical", categories=["unknown", "other", "F", "M"], median=1.0,
              category_shares=[0.05, 0.05, 0.2, 0.7])
    assert f.default == 3.0
    tie = Field("level", 0, kind="categorical", categories=["free", "paid"], median=1.0, category_shares=[0.5, 0.5])
    assert tie.default == 0.0                                     # a tie: the first category
    old = Field("level", 0, kind="categorical", categories=["free", "paid"], median=1.0)
    assert old.default == 1.0                                     # files without shares: as before
    bad = Field("level", 0, kind="categorical", categories=["free", "paid"], median=1.0, category_shares=[1.0])
    assert bad.default == 1.0                                     # shares that do not fit the categories
