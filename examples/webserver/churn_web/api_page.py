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


def example_customer(svc: ModelService, n: int = 3) -> Dict[str, Any]:
    """A customer for the examples: the n most important numeric fields at the training data's 95th
    percentile (a customer well above the median), and the most important categorical field at its
    median category (by label). Every other field takes the training median."""
    body: Dict[str, Any] = {}
    numeric = [f for f in svc.fields_by_importance() if not f.categorical]
    for f in numeric[:n]:
        value = f.q95 if f.q95 is not None else (f.default if f.default is not None else 0.0)
        if f.upper_bound is not None:
            value = min(value, f.upper_bound)
        body[f.name] = int(round(value)) if f.step == "1" else round(float(value), 3)
    categorical = [f for f in svc.fields_by_importance() if f.categorical and f.categories]
    if categorical:
        f = categorical[0]
        body[f.name] = f.categories[int(f.default or 0)]
    return body


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
         "(listed in <code>defaulted</code>); <code>?explain=N</code> sets how many reasons each way "
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
        shown = answer
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
