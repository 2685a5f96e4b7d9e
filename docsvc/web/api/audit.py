"""The audit log: read, verify, export a bundle."""

from __future__ import annotations

from flask import jsonify, request

from docsvc.core.inputs import MAX_OFFSET
from docsvc.errors import InvalidInput
from docsvc.services.export import BundleScope
from docsvc.web.api import bp, guard
from docsvc.web.downloads import send_bundle
from docsvc.web.params import arg_int, audit_filter, date_value, int_value


@bp.get("/api/v1/audit")
def audit_log():
    args = request.args
    page = guard().audit_page(
        audit_filter(args),
        limit=arg_int(args, "limit", default=50),
        offset=arg_int(args, "offset", low=0, high=MAX_OFFSET, default=0),
    )
    return jsonify(
        {"items": [e.to_dict() for e in page.entries], "total": page.total, "limit": page.limit, "offset": page.offset}
    )


@bp.get("/api/v1/audit/verify")
def audit_verify():
    return jsonify(guard().verify_audit().to_dict())


@bp.post("/api/v1/audit/export")
def audit_export():
    body = request.get_json(silent=True)
    if body is None and request.content_length:
        raise InvalidInput("请求体必须是 JSON 对象。", "The request body must be a JSON object.")
    body = body if body is not None else {}
    if not isinstance(body, dict):
        raise InvalidInput("请求体必须是 JSON 对象。", "The request body must be a JSON object.")
    scope = BundleScope(
        document_id=int_value(body.get("document_id"), "document_id"),
        since=date_value(body.get("since"), "since", "开始日期"),
        until=date_value(body.get("until"), "until", "结束日期"),
    )
    return send_bundle(guard(), scope)
