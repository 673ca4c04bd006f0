"""Bad input never makes a server error: arbitrary JSON bodies and query strings get 200 or a 4xx."""
from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3),
    max_leaves=8,
)


@pytest.fixture
def field_names(app):
    return [f.name for f in app.extensions["churn_model"].fields]


@settings(max_examples=100, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_api_predict_never_500(client, field_names, data):
    keys = st.sampled_from(field_names) | st.text(max_size=12)
    row = st.dictionaries(keys, json_values, max_size=6)
    body = data.draw(row | st.lists(row, max_size=3) | json_values)
    r = client.post("/api/predict", data=json.dumps(body), content_type="application/json")
    assert r.status_code in (200, 400), r.get_data(as_text=True)
    assert r.is_json
    if r.status_code == 400:
        assert r.json["error"]


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_form_never_500(client, field_names, data):
    keys = st.sampled_from(field_names) | st.text(min_size=1, max_size=12)
    query = data.draw(st.dictionaries(keys, st.text(max_size=15) | st.floats().map(str), min_size=1, max_size=6))
    r = client.get("/go", query_string=query)
    assert r.status_code in (200, 400)


def test_huge_json_integer_is_a_400(client, field_names):
    body = '{"%s": %s}' % (field_names[0], "9" * 400)
    r = client.post("/api/predict", data=body, content_type="application/json")
    assert r.status_code == 400 and "too large" in r.json["error"]
