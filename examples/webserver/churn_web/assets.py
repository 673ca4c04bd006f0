"""Bootstrap and Chart.js, served from the Debian packages' directories: the app needs no internet."""
from __future__ import annotations

from pathlib import Path
from typing import Dict

from flask import Blueprint, abort, current_app, send_from_directory

bp = Blueprint("assets", __name__, url_prefix="/assets")

#: url name -> (config key of the directory, file inside it). Only these files are served.
ASSETS: Dict[str, tuple] = {
    "bootstrap.min.css": ("BOOTSTRAP_DIR", "css/bootstrap.min.css"),
    "bootstrap.bundle.min.js": ("BOOTSTRAP_DIR", "js/bootstrap.bundle.min.js"),
    "chart.min.js": ("CHARTJS_DIR", "chart.min.js"),
}

INSTALL_HINT = "apt-get install libjs-bootstrap5 libjs-chart.js"


class MissingAssetsError(RuntimeError):
    """Bootstrap or Chart.js is not where the configuration says."""


def check_assets(config) -> None:
    """Fails at start-up, not at the first page view, when a packaged asset is missing."""
    missing = [str(Path(config[key]) / rel) for key, rel in ASSETS.values() if not (Path(config[key]) / rel).is_file()]
    if missing:
        raise MissingAssetsError(
            "the web demo serves Bootstrap 5 and Chart.js from local files, and these are missing: "
            + ", ".join(missing) + f". Install them with `{INSTALL_HINT}`, or point BOOTSTRAP_DIR / "
            "CHARTJS_DIR (env CHURN_WEB_BOOTSTRAP_DIR / CHURN_WEB_CHARTJS_DIR) at copies."
        )


@bp.route("/<name>")
def asset(name: str):
    if name not in ASSETS:
        abort(404)
    key, rel = ASSETS[name]
    path = Path(current_app.config[key]) / rel
    # The packaged files change only with a package upgrade: let browsers cache them for a day.
    return send_from_directory(path.parent, path.name, max_age=86400)
