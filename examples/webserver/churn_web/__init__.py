"""The churn web demo: a Flask application that tells whether a customer is about to churn, and why.

``create_app(config)`` builds the application: configuration (defaults < file < CHURN_WEB_* environment <
``config``), the model loaded once, local Bootstrap and Chart.js, the blueprints, security headers and
error pages. See docs/web.md.
"""
from __future__ import annotations

import warnings
from typing import Any, Mapping, Optional

import churn
from flask import Flask, jsonify, render_template, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import HTTPException

from . import config as _config
from .assets import check_assets
from .model import ModelService

__all__ = ["create_app", "ModelService"]

# Everything is served by this app, so the policy can forbid every other origin and inline script.
# Bootstrap's CSS draws some icons (select arrows, validation marks) from data: URIs.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}


class JSONTooDeep(ValueError):
    """A JSON body nested deeper than Python's parser recurses."""


class SafeJSONProvider(DefaultJSONProvider):
    """Flask's JSON with a parser that fails like any other bad JSON, whatever the input: a body of
    1,000 or 100,000 "[" made json.loads raise RecursionError, which is not a ValueError, so
    request.get_json(silent=True) let it through as a 500 (issue 15). Every route that reads JSON goes
    through this provider."""

    def loads(self, s, **kwargs):
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            raise JSONTooDeep("the JSON is nested too deeply") from None


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.path == "/healthz"


def create_app(config: Optional[Mapping[str, Any]] = None) -> Flask:
    """Builds the app. ``config`` overrides every other source; a ``MODEL`` key may hold a loaded
    ModelService (tests), otherwise ``MODEL_PATH`` is loaded. Raises ModelLoadError or
    MissingAssetsError with the remedy when the model or the packaged assets are missing."""
    app = Flask(__name__)
    app.json = SafeJSONProvider(app)
    settings = _config.resolve(config)
    app.config.update(settings)
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax", JSON_SORT_KEYS=False)
    check_assets(app.config)

    # A forest fitted on a DataFrame warns (as scikit-learn does) when it predicts from a bare array,
    # which is what this app always passes, its columns already in the model's order. The filter only
    # matches warnings attributed to the app's model module.
    warnings.filterwarnings("ignore", message="X does not have valid feature names", category=UserWarning,
                            module=r"churn_web\.model")

    service = app.config.pop("MODEL", None)
    if service is None:
        service = ModelService.load(app.config["MODEL_PATH"])
    app.extensions["churn_model"] = service

    from . import api, api_page, assets, batch, model_page, views

    app.register_blueprint(assets.bp)
    app.register_blueprint(views.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(api_page.bp)
    app.register_blueprint(batch.bp)
    app.register_blueprint(model_page.bp)
    batch.init_store(app)

    @app.after_request
    def security_headers(response):
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    @app.errorhandler(HTTPException)
    def http_error(e: HTTPException):
        message = e.description or e.name
        if e.code == 413:
            limit = app.config["MAX_CONTENT_LENGTH"]
            message = (f"The upload is larger than this server accepts ({limit / 2**20:.0f} MB). "
                       "Split the file, or raise MAX_CONTENT_LENGTH.")
        if wants_json():
            return jsonify(error=message, status=e.code), e.code
        if e.code == 413 and request.path.startswith("/batch"):
            return batch.render_page(error=message), 413
        return render_template("error.html", code=e.code, title=e.name, message=message), e.code

    @app.errorhandler(UnicodeDecodeError)
    def not_utf8(e: UnicodeDecodeError):
        # Werkzeug decodes the query string and form fields as UTF-8 when first read, and raises this
        # for raw bytes that are not (a client's fault, not the server's).
        message = "The request is not valid UTF-8: percent-encode its parameters as UTF-8."
        if wants_json():
            return jsonify(error=message, status=400), 400
        return render_template("error.html", code=400, title="Bad Request", message=message), 400

    @app.errorhandler(Exception)
    def unexpected(e: Exception):
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        if wants_json():
            return jsonify(error="internal error: the server logged the details", status=500), 500
        return render_template("error.html", code=500, title="Internal error",
                               message="Something went wrong on our side; the server logged the details."), 500

    @app.context_processor
    def globals_for_templates():
        return {"model": service, "churn_version": getattr(churn, "__version__", "")}

    return app
