"""The service's health, its OpenAPI description and the caller's own account."""

from __future__ import annotations

from flask import jsonify

from docsvc.services.users import Permission
from docsvc.web import openapi
from docsvc.web.api import bp, guard
from docsvc.web.auth import api_principal, svc


@bp.get("/health")
def health():
    """Public liveness: only whether the service and its schema are in order."""
    current, head = svc().schema_revision()
    ok = current == head
    return jsonify({"status": "ok" if ok else "degraded", "schema": {"current": current, "head": head}}), (
        200 if ok else 503
    )


@bp.get("/api/v1/openapi.json")
def openapi_json():
    return jsonify(openapi.spec(tuple(c.code for c in svc().vocab.doc_types)))


@bp.get("/api/v1/health")
def health_details():
    h = guard().health()
    return jsonify(h.to_dict()), (200 if h.ok else 503)


@bp.post("/api/v1/health/check")
def integrity_check():
    return jsonify(guard().integrity_check().to_dict())


@bp.get("/api/v1/me")
def me():
    p = api_principal()
    return jsonify(
        {
            "username": p.username,
            "display_name": p.display_name,
            "role": p.role.value,
            "projects": sorted(p.projects),
            "via": p.via,
            "permissions": sorted(x.value for x in Permission if p.can(x)),
        }
    )
