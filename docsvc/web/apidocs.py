"""The REST API for people: Swagger UI over /api/v1/openapi.json at /api/docs.

Swagger UI's files come from the flask-swagger-ui package (its ``dist`` folder, Swagger UI 5,
which reads OpenAPI 3.1) and are served from here, so nothing is fetched from elsewhere. Its
blueprint is not used: its page starts Swagger UI with an inline script, which the site's CSP
forbids; static/apidocs.js does that instead.
"""

from __future__ import annotations

from pathlib import Path

import flask_swagger_ui
from flask import Blueprint, abort, render_template, send_from_directory

bp = Blueprint("apidocs", __name__, template_folder="templates")

DIST = Path(flask_swagger_ui.__file__).parent / "dist"
ASSETS = {"swagger-ui-bundle.js", "swagger-ui.css"}  # what the page loads, nothing else is served


@bp.get("/api/docs")
def page():
    return render_template("apidocs.html", version=(DIST / "VERSION").read_text().strip())


@bp.get("/api/docs/assets/<name>")
def asset(name: str):
    if name not in ASSETS:
        abort(404)
    return send_from_directory(DIST, name, max_age=24 * 3600)
