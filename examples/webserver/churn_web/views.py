"""The form about one customer (master.html) and the verdict (go.html)."""
from __future__ import annotations

from typing import Dict, Mapping

import numpy as np
from flask import Blueprint, current_app, redirect, render_template, request, send_from_directory, url_for

from churn.reasons import FEATURE_PAGES

from .explain import suggestion
from .forms import check_row
from .model import service, verdict_words

bp = Blueprint("views", __name__)


def _form_context(values: Mapping[str, str], errors: Dict[str, str], warnings: Dict[str, str]):
    svc = service()
    ordered = svc.fields_by_importance()
    top = int(current_app.config["TOP_FIELDS"])
    main, rest = ordered[:top], ordered[top:]
    # Open the "all fields" section when one of its fields needs attention.
    open_rest = any(f.name in errors for f in rest)
    return dict(main_fields=main, rest_fields=rest, values=values, errors=errors, warnings=warnings,
                open_rest=open_rest)


def default_values() -> Dict[str, str]:
    out = {}
    for f in service().fields:
        d = f.default
        # Six significant digits: short to read, and the same leaf as the exact median in practice.
        out[f.name] = "" if d is None else (f.categories[int(d)] if f.categorical else format(d, ".6g"))
    return out


@bp.route("/favicon.ico")
def favicon():
    # Browsers ask for /favicon.ico on every site (also when showing the API's JSON): no 404 in the log.
    return send_from_directory(current_app.static_folder, "favicon.ico", mimetype="image/vnd.microsoft.icon",
                               max_age=86400)


@bp.route("/")
def index():
    # "Change these values" on the verdict page comes back here with the values in the query.
    values = default_values()
    values.update({f.name: request.args[f.name] for f in service().fields if f.name in request.args})
    return render_template("master.html", **_form_context(values, {}, {}))


@bp.route("/go")
def go():
    svc = service()
    if not request.args:
        return redirect(url_for("views.index"))
    raw = {f.name: request.args.get(f.name, "") for f in svc.fields}
    # The form starts at the median customer. When the days since the last event were changed, the
    # fields still at their starting value follow that recency (the medians of the training customers
    # with about that recency) instead of describing the median customer: a customer "unseen for 21
    # days" is not given the median customer's sessions and gaps.
    start, given = default_values(), raw
    if svc.recency is not None and raw.get(svc.recency.feature, "").strip() != start.get(svc.recency.feature):
        given = {k: ("" if v.strip() == start.get(k) and k != svc.recency.feature else v) for k, v in raw.items()}
    checked = check_row(svc.fields, given, recency=svc.recency)
    if not checked.ok:
        return render_template("master.html", **_form_context(raw, checked.errors, checked.warnings)), 400
    row = np.asarray(checked.values, dtype=np.float64)
    # A batch row links here with the pages its log lacks (absent=Thumbs Up,...): said once, never a reason.
    known = set(FEATURE_PAGES.values())
    absent = sorted({p for p in request.args.get("absent", "").split(",") if p in known})
    pred = svc.predict(row[None, :], explain=int(current_app.config["TOP_REASONS"]), absent_pages=absent,
                       assumed=[checked.defaulted])[0]
    ex = pred.explanation
    return render_template(
        "go.html", prediction=pred, verdict=verdict_words(pred.churn), threshold=svc.threshold,
        explanation=ex, up=ex.up if ex else [], down=ex.down if ex else [], suggestion=suggestion,
        explain_error=svc.explain_error, absent=absent,
        warnings=checked.warnings, defaulted=checked.defaulted, defaults_from=checked.default_source,
        values_table=[(f.label, f.format(row[f.index]), svc.default_text[f.name]) for f in svc.fields_by_importance()],
        query=request.query_string.decode(),
    )
