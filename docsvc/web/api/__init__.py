"""The REST API under ``/api/v1``: thin views that parse input, call one Guard method, shape JSON.
One blueprint, its routes in a module per subject (documents, search, templates, audit, users,
views, terms, fields, system).

Authentication: ``Authorization: Bearer <token>`` (``docsvc user token NAME``); see
``auth.api_principal``. The OpenAPI document at ``/api/v1/openapi.json`` describes every route
here, and a test keeps the two in step.
"""

from __future__ import annotations

from flask import Blueprint, request

from docsvc.services.access import Guard
from docsvc.web.auth import api_principal, svc

bp = Blueprint("api", __name__)

PUBLIC = {"api.health", "api.openapi_json"}


def guard() -> Guard:
    return svc().guard(api_principal())


@bp.before_request
def _authenticate() -> None:
    if request.endpoint not in PUBLIC:
        api_principal()


# The routes, one module per subject, register on ``bp`` when imported.
from docsvc.web.api import audit, documents, fields, search, system, templates, terms, users, views  # noqa: E402, F401
