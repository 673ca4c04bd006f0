"""A value nobody gave (a blank of the form, a key missing from an API request or a CSV row) takes a
default, and a default says nothing about this customer: it is never named as a reason. It still counts
in its group's push, so the reasons and the probability stay additive."""
from __future__ import annotations

import numpy as np

from churn.reasons import Explainer


def _drivers(answer):
    return [d["feature"] for r in answer.get("reasons_up", []) + answer.get("reasons_down", []) for d in r["drivers"]]


def test_api_never_names_a_defaulted_field_as_a_reason(client, app):
    svc = app.extensions["churn_model"]
    # Only one field given: every other field is a default; with every reason asked for, none may name
    # a defaulted field (before the fix, a defaulted state or browser was offered as a cause).
    f = svc.fields_by_importance()[0]
    given = {f.name: round(float(f.default or 1.0) * 4 + 5, 2)}
    j = client.post("/api/predict?explain=100", json=given).get_json()
    assert len(j["defaulted"]) == len(svc.fields) - 1
    drivers = _drivers(j)
    assert set(drivers) <= set(given), drivers
    # Each row of a list has its own blanks.
    many = client.post("/api/predict?explain=100", json=[given, {}]).get_json()
    assert set(_drivers(many[0])) <= set(given)
    assert _drivers(many[1]) == []


def test_explainer_keeps_assumed_values_in_the_push_but_not_as_drivers(app):
    svc = app.extensions["churn_model"]
    model = svc.model
    ex = Explainer(model, svc.metadata, [f.name for f in svc.fields])
    rng = np.random.default_rng(3)
    base = np.array([float(f.default or 0.0) for f in svc.fields])
    numeric = np.array([not f.categorical for f in svc.fields])
    X = np.array([np.where(numeric, base * rng.uniform(0, 4, len(base)) + rng.uniform(0, 3, len(base)), base)
                  for _ in range(5)])
    everyone = [f.name for f in svc.fields]
    free = ex.explain(X, top=100)
    none = ex.explain(X, top=100, assumed=[everyone] * len(X))
    for a, b in zip(free, none):
        assert a.up or a.down  # the values themselves do drive reasons
        assert b.up == [] and b.down == []  # every value assumed: nothing to name
        total_a = sum(r.push for r in a.up + a.down) + a.typical_push
        assert abs(total_a - b.typical_push) < 1e-9  # the same total push, all of it unnamed


def test_only_the_assumed_fields_leave_the_reasons(app):
    svc = app.extensions["churn_model"]
    ex = Explainer(svc.model, svc.metadata, [f.name for f in svc.fields])
    rng = np.random.default_rng(5)
    base = np.array([float(f.default or 0.0) for f in svc.fields])
    numeric = np.array([not f.categorical for f in svc.fields])
    X = np.where(numeric, base * rng.uniform(0, 4, len(base)) + rng.uniform(0, 3, len(base)), base)[None, :]
    before = ex.explain(X, top=100)[0]
    named = [d.feature for r in before.up + before.down for d in r.drivers]
    assert len(named) >= 2
    gone = named[:1]
    after = ex.explain(X, top=100, assumed=[gone])[0]
    left = [d.feature for r in after.up + after.down for d in r.drivers]
    # The others stay (a group names its top three drivers, so one more may move up in its place).
    assert gone[0] not in left and set(named) - set(gone) <= set(left)
