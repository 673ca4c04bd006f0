"""The JSON API: POST /api/predict, GET /api/model, GET /healthz. Errors are JSON with a 4xx status."""
from __future__ import annotations

from typing import Any, Dict, List

import numpy as np
from flask import Blueprint, current_app, jsonify, request

from .explain import reason_json
from .forms import check_row
from .model import service, verdict_words

bp = Blueprint("api", __name__)


def _error(status: int, message: str, **extra: Any):
    return jsonify(error=message, status=status, **extra), status


@bp.route("/healthz")
def healthz():
    svc = service()
    return jsonify(status="ok", model=bool(svc.fields), features=len(svc.fields))


@bp.route("/api/model")
def model_info():
    return jsonify(service().summary())


@bp.route("/api/predict", methods=["POST"])
def predict():
    svc = service()
    if not request.is_json:
        return _error(415, "send the customer as JSON with Content-Type: application/json")
    body = request.get_json(silent=True)  # None for bad JSON, however deeply nested (SafeJSONProvider)
    if body is None:
        return _error(400, "the request body is not valid JSON")
    single = isinstance(body, dict)
    rows = [body] if single else body
    if not isinstance(rows, list) or not rows:
        return _error(400, "send a JSON object of feature values keyed by field name, or a non-empty list of them")
    limit = int(current_app.config["MAX_API_ROWS"])
    if len(rows) > limit:
        return _error(413, f"{len(rows)} rows in one request; at most {limit} (MAX_API_ROWS)")
    explain_top = request.args.get("explain", "3")
    try:
        top = max(0, min(int(explain_top), len(svc.fields)))
    except ValueError:
        return _error(400, f"query parameter explain: {explain_top!r} is not a whole number", field="explain")

    X = np.empty((len(rows), len(svc.fields)), dtype=np.float64)
    all_warnings: List[Dict[str, str]] = []
    defaulted: List[List[str]] = []
    for i, raw in enumerate(rows):
        where = "" if single else f"row {i}: "
        if not isinstance(raw, dict):
            return _error(400, f"{where}expected an object of feature values, got {type(raw).__name__}", index=i)
        checked = check_row(svc.fields, raw, strict_type=True, reject_unknown=True, recency=svc.recency)
        if not checked.ok:
            name, message = next(iter(checked.errors.items()))
            extra = {} if single else {"index": i}
            return _error(400, f"{where}{name}: {message}", field=name, errors=checked.errors, **extra)
        X[i] = checked.values
        all_warnings.append(checked.warnings)
        defaulted.append(checked.defaulted)

    preds = svc.predict(X, explain=top, assumed=defaulted)
    out = []
    for i, p in enumerate(preds):
        item: Dict[str, Any] = {
            "probability": p.probability, "churn": p.churn, "verdict": verdict_words(p.churn),
            "threshold": svc.threshold, "calibrated": svc.calibrated,
        }
        if svc.calibrated:  # the forest's own score and threshold, which the reasons add up to
            item["raw_probability"], item["raw_threshold"] = p.raw_probability, svc.raw_threshold
        if p.explanation is not None:
            item["expected_value"] = p.explanation.expected_value
            item["reasons_up"] = [reason_json(r) for r in p.explanation.up]
            item["reasons_down"] = [reason_json(r) for r in p.explanation.down]
        elif top > 0 and svc.explain_error:
            item["reasons_error"] = svc.explain_error
        if all_warnings[i]:
            item["warnings"] = all_warnings[i]
        if defaulted[i]:
            item["defaulted"] = defaulted[i]
        out.append(item)
    return jsonify(out[0] if single else out)
