"""The API page (/api): every endpoint, with a curl example made from the live model and the answer
this server really gives to it, and the error format. The raw model description stays at /api/model.

``api_examples`` is also what tools/docs_examples.py runs to write docs/web.md's JSON API example, so
the page, the docs and the server cannot disagree.
"""
from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from flask import Blueprint, Flask, current_app, render_template, request

from .model import ModelService

bp = Blueprint("api_page", __name__)


@dataclass
class Example:
    """One request to the API and the answer this server gives to it."""

    id: str
    title: str
    what: str
    method: str
    path: str
    body: Optional[Any]
    status: int
    answer: Any
    shown_answer: str = ""  #: the answer as displayed (long lists shortened)

    def curl(self, base_url: str) -> str:
        url = base_url.rstrip("/") + self.path
        if self.body is None:
            return f"curl -s {shlex.quote(url)}"
        return (f"curl -s {shlex.quote(url)} -H 'Content-Type: application/json' \\\n"
                f"     -d {shlex.quote(json.dumps(self.body))}")


def example_customer(svc: ModelService, n: int = 8) -> Dict[str, Any]:
    """A customer worth showing, found with the live model: starting from the median customer, the most
    important numeric fields in turn (at most n) take their training 5th or 95th percentile, whichever
    gives the higher churn probability, until the model flags the customer (the warning signs this
    model knows). Every other field takes the training median."""
    import numpy as np

    row = svc.defaults_row()
    body: Dict[str, Any] = {}
    numeric = [f for f in svc.fields_by_importance() if not f.categorical and f.default is not None]
    for f in numeric[:n]:
        best = None
        for value in (f.q05, f.q95):
            if value is None:
                continue
            if f.upper_bound is not None:
                value = min(value, f.upper_bound)
            value = float(round(value)) if f.step == "1" else round(float(value), 3)
            trial = row.copy()
            trial[f.index] = value
            p = float(svc.predict_proba(trial[None, :])[0])
            if best is None or p > best[0]:
                best = (p, value)
        if best is not None:
            row[f.index] = best[1]
            body[f.name] = int(best[1]) if f.step == "1" else best[1]
            if best[0] > svc.threshold:
                break
    if not np.isfinite(row).all():  # a model without training ranges: the median customer
        return {}
    return body


def shown_answer(answer: Any) -> Any:
    """An answer as the page and the docs show it: the list of defaulted fields cut to three."""
    def cut(item: Any) -> Any:
        if isinstance(item, dict) and isinstance(item.get("defaulted"), list) and len(item["defaulted"]) > 3:
            rest = len(item["defaulted"]) - 3
            return {**item, "defaulted": item["defaulted"][:3] + [f"... {rest} more"]}
        return item

    return [cut(a) for a in answer] if isinstance(answer, list) else cut(answer)


def _shorten(value: Any, keep: int = 2) -> Any:
    """The answer with long lists cut to `keep` items and a note of how many more there are."""
    if isinstance(value, list):
        items = [_shorten(v, keep) for v in value[:keep]]
        if len(value) > keep:
            items.append(f"... {len(value) - keep} more")
        return items
    if isinstance(value, dict):
        return {k: _shorten(v, keep) for k, v in value.items()}
    return value


def api_examples(app: Flask) -> List[Example]:
    """Runs one request per endpoint against `app` (its test client, the live model) and returns the
    requests with their real answers."""
    svc: ModelService = app.extensions["churn_model"]
    customer = example_customer(svc)
    first_numeric = next((f for f in svc.fields_by_importance() if not f.categorical), svc.fields[0])
    specs = [
        ("predict", "Score one customer",
         "A JSON object of feature values keyed by field name. Fields left out take the training median "
         "(a categorical field its most common category; listed in <code>defaulted</code>); "
         "<code>?explain=N</code> sets how many reasons each way "
         "(default 3, 0 for none: faster).",
         "POST", "/api/predict?explain=2", customer),
        ("predict-many", "Score several customers",
         f"A list of such objects (at most {int(app.config['MAX_API_ROWS']):,}); the answer is a list in the "
         "same order. An empty object is the median customer.",
         "POST", "/api/predict?explain=0", [customer, {}]),
        ("model", "Describe the model",
         "The threshold, every field (name, description, unit, kind, categories, training range, median, "
         "importance) and the model's metadata. Shortened here; the link above shows it whole.",
         "GET", "/api/model", None),
        ("healthz", "Health check", "For load balancers and monitoring: 200 while the model is loaded.",
         "GET", "/healthz", None),
        ("error", "An error",
         "Every error is JSON with a 4xx status (never a 500 on bad input): <code>error</code> says what and "
         "where; <code>field</code>, <code>index</code> (the row, in a list) and <code>errors</code> (every "
         "bad field) when they apply.",
         "POST", "/api/predict", {first_numeric.name: "lots"}),
    ]
    client = app.test_client()
    out = []
    for id_, title, what, method, path, body in specs:
        if method == "GET":
            response = client.get(path)
        else:
            response = client.post(path, json=body)
        answer = response.get_json()
        shown = shown_answer(answer)
        if id_ == "model" and isinstance(answer, dict):
            shown = dict(answer)
            shown["fields"] = _shorten(answer.get("fields", []), 1)
            shown["metadata"] = {k: ("..." if isinstance(v, (dict, list)) else v)
                                 for k, v in (answer.get("metadata") or {}).items()}
        out.append(Example(id_, title, what, method, path, body, response.status_code, answer,
                           json.dumps(shown, indent=2, ensure_ascii=False)))
    return out


#: The statuses the API answers with, for the page's table.
STATUSES = [
    (200, "the prediction (an object, or a list for a list)"),
    (400, "a bad value, an unknown field, malformed JSON, or a body that is neither an object nor a list"),
    (404, "an unknown path"),
    (405, "a method the path does not take (GET on /api/predict)"),
    (413, "too many rows (MAX_API_ROWS) or too large a body"),
    (415, "a body not sent as application/json"),
]


@bp.route("/api")
def page():
    app = current_app._get_current_object()
    examples = api_examples(app)
    return render_template("api.html", examples=examples, base_url=request.host_url.rstrip("/"),
                           statuses=STATUSES)
