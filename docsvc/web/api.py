"""JSON endpoints: health, and reading the archive (list, show, history, download)."""

from __future__ import annotations

from urllib.parse import quote

from flask import Blueprint, Response, current_app, jsonify, request

from docsvc.app import Docsvc
from docsvc.errors import InvalidInput

bp = Blueprint("api", __name__)


def svc() -> Docsvc:
    return current_app.extensions["docsvc"]


def actor() -> str:
    return f"web:{request.remote_addr or 'unknown'}"


def _int(value: str | None, name: str) -> int | None:
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError:
        raise InvalidInput(f"参数 {name} 必须是整数。", f"{name} must be an integer.", field=name) from None


@bp.get("/health")
def health():
    s = svc()
    current, head = s.catalog.schema_revision()
    counts = s.catalog.counts()
    ok = current == head
    return jsonify({"status": "ok" if ok else "degraded", "schema": {"current": current, "head": head},
                    **counts}), (200 if ok else 503)


@bp.get("/api/v1/documents")
def list_documents():
    page = svc().archive.list_documents(request.args.to_dict())
    return jsonify({"items": [d.to_dict() for d in page.items], "total": page.total,
                    "limit": page.limit, "offset": page.offset})


@bp.get("/api/v1/documents/<int:doc_id>")
def show_document(doc_id: int):
    s = svc()
    doc = s.archive.document(doc_id)
    return jsonify({**doc.to_dict(), "versions": [v.to_dict() for v in s.catalog.versions(doc_id)]})


@bp.get("/api/v1/documents/<int:doc_id>/history")
def history(doc_id: int):
    h = svc().archive.history(doc_id)
    return jsonify({"document": h.document.to_dict(), "versions": [v.to_dict() for v in h.versions],
                    "events": [e.to_dict() for e in h.events]})


@bp.get("/api/v1/documents/<int:doc_id>/content")
@bp.get("/api/v1/documents/<int:doc_id>/versions/<int:number>/content")
def download(doc_id: int, number: int | None = None):
    version, data = svc().archive.read_version(doc_id, number, actor=actor())
    resp = Response(data, mimetype=version.media_type)
    # RFC 6266/5987: an ASCII fallback plus the UTF-8 name, so Chinese names survive.
    ascii_name = version.original_filename.encode("ascii", "ignore").decode() or f"document-{doc_id}"
    ascii_name = ascii_name.replace('"', "")
    resp.headers["Content-Disposition"] = (
        f'attachment; filename="{ascii_name}"; filename*=UTF-8\'\'{quote(version.original_filename)}')
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    resp.headers["ETag"] = f'"{version.sha256}"'
    resp.headers["Digest"] = f"sha-256={version.sha256}"
    return resp
