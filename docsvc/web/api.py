"""The REST API under ``/api/v1``: thin views that parse input, call one Guard method, shape JSON.

Authentication: ``Authorization: Bearer <token>`` (``docsvc user token NAME``); see
``auth.api_principal``. The OpenAPI document at ``/api/v1/openapi.json`` describes every route
here, and a test keeps the two in step.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import math
import tempfile
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from flask import Blueprint, Response, current_app, jsonify, request, send_file, url_for
from markupsafe import Markup, escape

from docsvc.app import Docsvc
from docsvc.core.content import DOCX, PDF
from docsvc.core.fields import FILTER_PREFIX
from docsvc.core.inputs import MAX_OFFSET, parse_int
from docsvc.core.model import AuditAction, ServiceCategory, Version, iso, parse_date
from docsvc.core.schema import Field
from docsvc.core.search import Hit, SearchRequest, SearchResult, Snippet, request_from_params
from docsvc.errors import InvalidInput
from docsvc.services import background, selection
from docsvc.services.access import RENDITION_KINDS, AuditFilter, Generated, Guard, Job, Rendition, ThumbnailRecord
from docsvc.services.export import BundleScope
from docsvc.services.reports import ReportRequest
from docsvc.services.similar import DEFAULT_LIMIT as SIMILAR_DEFAULT
from docsvc.services.similar import MAX_LIMIT as SIMILAR_MAX
from docsvc.services.templates import Template
from docsvc.services.terms import MAX_SUGGESTIONS, TermKind
from docsvc.services.users import AccountAction, Permission
from docsvc.services.views import MAX_RESULTS as MAX_VIEW_RESULTS
from docsvc.services.views import WIDGET_ROWS
from docsvc.web import openapi
from docsvc.web.auth import api_principal

bp = Blueprint("api", __name__)

PUBLIC = {"api.health", "api.openapi_json"}
LABEL_FIELDS = ("doc_type", "service_category", "project")  # what a review may correct
THUMBNAIL_MAX_AGE_S = 300  # how stale a revoked reader's cached thumbnail may be
FLAGS = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}
AUDIT_ACTIONS = {a.value for a in AuditAction} | {a.value for a in AccountAction}


def svc() -> Docsvc:
    return current_app.extensions["docsvc"]


def guard() -> Guard:
    return svc().guard(api_principal())


@bp.before_request
def _authenticate() -> None:
    if request.endpoint not in PUBLIC:
        api_principal()


# -- input parsing ----------------------------------------------------------------------------
def _arg(args, name: str) -> str | None:
    """One query parameter; given twice it is refused rather than one copy silently winning."""
    values = args.getlist(name)
    if len(values) > 1:
        raise InvalidInput(f"参数 {name} 只能给出一次。", f"The parameter {name} may be given only once.", field=name)
    return values[0] if values else None


def _arg_int(args, name: str, **bounds: Any) -> int | None:
    return parse_int(_arg(args, name), name, **bounds)


def _arg_date(args, name: str, zh_name: str) -> dt.date | None:
    value = _arg(args, name)
    return None if value is None else _date(value, name, zh_name)


def _arg_flag(args, name: str) -> bool:
    value = _arg(args, name)
    value = "false" if value is None else value.strip().lower()
    if value not in FLAGS:
        raise InvalidInput(f"参数 {name} 应为 true 或 false。", f"{name} must be true or false.", field=name)
    return FLAGS[value]


def _date(value: Any, name: str, zh_name: str) -> dt.date | None:
    """A date from a JSON body or query string: YYYY-MM-DD, or absent (None); never empty."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{zh_name}应为 YYYY-MM-DD 格式的日期。", f"{name} must be a date, YYYY-MM-DD.", field=name)
    return parse_date(name, zh_name, value)


def _int(value: Any, name: str) -> int | None:
    """An integer from a JSON body (null: absent)."""
    return parse_int(value, name, from_text=False)


def _json_object() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InvalidInput(
            "请求体必须是 JSON 对象（Content-Type: application/json）。",
            "The request body must be a JSON object (Content-Type: application/json).",
        )
    return body


def _string(body: dict[str, Any], name: str, default: str = "") -> str:
    value = body.get(name, default)
    if value is None:
        return default
    if not isinstance(value, str):
        raise InvalidInput(f"字段 {name} 必须是字符串。", f"{name} must be a string.", field=name)
    return value


def _metadata(raw: Any) -> dict[str, Any]:
    """Metadata from JSON: an object of strings (or null); tags may be a list of strings; fields
    (custom fields) an object of key → string (null or "": clear it)."""
    if not isinstance(raw, dict):
        raise InvalidInput("metadata 必须是 JSON 对象。", "metadata must be a JSON object.", field="metadata")
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "tags" and isinstance(value, list) and all(isinstance(t, str) for t in value):
            out[key] = value
        elif key == "fields" and isinstance(value, dict):
            for k, v in value.items():
                if v is not None and not isinstance(v, str):
                    raise InvalidInput(
                        f"自定义字段 {k} 的值必须是字符串。",
                        f"The custom field {k} must be a string.",
                        field=f"field.{k}",
                    )
            out[key] = {k: v or "" for k, v in value.items()}
        elif value is None or isinstance(value, str):
            out[key] = value or ""
        else:
            raise InvalidInput(f"元数据字段 {key} 必须是字符串。", f"Metadata field {key} must be a string.", field=key)
    return out


def _form_metadata() -> dict[str, Any]:
    """Metadata from a multipart form: every field except file and reason; repeated tags allowed."""
    meta: dict[str, Any] = {}
    for key in request.form:
        if key in ("reason", "csrf_token"):
            continue
        values = request.form.getlist(key)
        if key.startswith(FILTER_PREFIX):  # a custom field: field.KEY
            meta.setdefault("fields", {})[key[len(FILTER_PREFIX) :]] = values[-1]
            continue
        meta[key] = values if key == "tags" and len(values) > 1 else values[-1]
    return meta


def _upload() -> tuple[bytes, str]:
    f = request.files.get("file")
    if f is None:
        raise InvalidInput(
            "缺少文件：请在 multipart 字段 file 中上传。",
            "No file: upload it in the multipart field 'file'.",
            field="file",
        )
    return f.read(), f.filename or ""


def _audit_filter(args) -> AuditFilter:
    actions = tuple(a for a in args.getlist("action") if a)
    for a in actions:
        if a not in AUDIT_ACTIONS:
            raise InvalidInput(
                f"未知事件类型“{a}”。",
                f"Unknown action '{a}'.",
                field="action",
                details={"valid": sorted(AUDIT_ACTIONS)},
            )
    return AuditFilter(
        actor=_arg(args, "actor") or None,
        actions=actions,
        document_id=_arg_int(args, "document_id"),
        since=_arg_date(args, "since", "开始日期"),
        until=_arg_date(args, "until", "结束日期"),
    )


def version_json(v: Version, doc_id: int) -> dict[str, Any]:
    return {**v.to_dict(), "content_url": url_for("api.download", doc_id=doc_id, number=v.number)}


def rendition_json(r: Rendition, v: Version) -> dict[str, Any]:
    return {
        **r.to_dict(),
        "content_url": url_for("api.download_rendition", doc_id=v.document_id, number=v.number, kind=r.kind),
    }


def send_attachment(data: bytes, media_type: str, filename: str, sha256: str, fallback: str) -> Response:
    """Stored bytes as a download: attachment, nosniff, a sandboxing CSP, ETag = SHA-256."""
    resp = Response(data, mimetype=media_type)
    # RFC 6266/5987: an ASCII fallback plus the UTF-8 name, so Chinese names survive.
    ascii_name = "".join(ch for ch in filename.encode("ascii", "ignore").decode() if ch not in '"\\;')
    if not any(ch.isalnum() for ch in ascii_name.rsplit(".", 1)[0]):
        ascii_name = fallback  # a Chinese name leaves only ".docx": name it by docsvc instead
    resp.headers["Content-Disposition"] = f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    resp.headers["ETag"] = f'"{sha256}"'
    resp.headers["Digest"] = f"sha-256={sha256}"
    return resp


def send_version(version: Version, data: bytes) -> Response:
    ext = version.original_filename.rsplit(".", 1)[-1] if "." in version.original_filename else ""
    fallback = f"document-{version.document_id}-v{version.number}"
    if ext.isascii() and ext.isalnum():
        fallback += f".{ext}"
    return send_attachment(data, version.media_type, version.original_filename, version.sha256, fallback)


def send_rendition(version: Version, rendition: Rendition, data: bytes) -> Response:
    ext = RENDITION_KINDS.get(rendition.kind, rendition.kind)
    stem = version.original_filename.rsplit(".", 1)[0] or f"document-{version.document_id}"
    return send_attachment(
        data,
        rendition.media_type,
        f"{stem}.{ext}",
        rendition.sha256,
        f"document-{version.document_id}-v{version.number}.{ext}",
    )


def send_thumbnail(version: Version, kept: ThumbnailRecord) -> Response:
    """A version's thumbnail: the URL names one version and the picture never changes for it, so
    a browser keeps it, privately (it shows a document only some may read), for a while before
    it asks again; asking again with its ETag costs the access check and a 304."""
    resp = Response(kept.data, mimetype=kept.media_type)
    resp.headers["Cache-Control"] = f"private, max-age={THUMBNAIL_MAX_AGE_S}"
    resp.headers["Vary"] = "Cookie, Authorization"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.set_etag(hashlib.sha256(kept.data or b"").hexdigest()[:32])
    return resp.make_conditional(request)


def send_pdf_inline(version: Version, sha256: str, data: bytes) -> Response:
    """A PDF shown in the browser's own viewer inside the document page (same origin only): inline,
    framable by docsvc's pages and nobody else's, no scripts or other content of its own."""
    resp = Response(data, mimetype=PDF)
    stem = version.original_filename.rsplit(".", 1)[0] or f"document-{version.document_id}"
    resp.headers["Content-Disposition"] = f"inline; filename*=UTF-8''{quote(stem + '.pdf')}"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["X-Frame-Options"] = "SAMEORIGIN"
    # No 'sandbox' here: Chromium refuses to show a PDF in a sandboxed document.
    resp.headers["Content-Security-Policy"] = "default-src 'none'; frame-ancestors 'self'"
    resp.headers["Cache-Control"] = "private, no-store"
    resp.headers["ETag"] = f'"{sha256}"'
    return resp


def send_preview(data: bytes, title: str) -> Response:
    """A rendered but unarchived DOCX (a preview)."""
    return send_attachment(data, DOCX, f"预览-{title}.docx", hashlib.sha256(data).hexdigest(), "preview.docx")


# -- search and templates: input and output shapes (shared with the pages) ----------------------
def search_request(args, *, per_page: int = 20) -> SearchRequest:
    """``q``, ``filter=key:value`` (repeatable: OR within a key, AND across keys), ``page``,
    ``per_page``, ``sort`` (relevance | date), ``all_versions`` (docsvc.core.search.request_from_params)."""
    return request_from_params(args, per_page=per_page)


def snippet_html(s: Snippet) -> Markup:
    """The excerpt as HTML: its text escaped, the matches in ``<mark>``."""
    return Markup("").join(Markup("<mark>%s</mark>") % part if marked else escape(part) for part, marked in s.parts())


def hit_json(h: Hit) -> dict[str, Any]:
    return {
        "document_id": h.document_id,
        "version": h.number,
        "version_id": h.version_id,
        "title": h.title,
        "original_filename": h.original_filename,
        "score": round(h.score, 4) if math.isfinite(h.score) else None,  # JSON has no NaN
        "snippet": str(snippet_html(h.snippet)),
        "snippet_text": h.snippet.text,
        "highlights": [list(m) for m in h.snippet.marks],
        "is_latest": h.is_latest,
        "doc_type": h.doc_type,
        "service_category": h.service_category,
        "doc_class": h.doc_class,
        "service_scope": h.service_scope,
        "project": h.project,
        "counterparty": h.counterparty,
        "tags": list(h.tags),
        "status": h.status,
        "year": h.year,
        "created_at": iso(h.created_at) if h.created_at else None,
        "effective_date": h.effective_date.isoformat() if h.effective_date else None,
        "review_due": h.review_due.isoformat() if h.review_due else None,
        "extraction_status": h.extraction_status,
        "url": url_for("api.show_document", doc_id=h.document_id),
        "content_url": url_for("api.download", doc_id=h.document_id, number=h.number),
    }


def search_json(r: SearchResult, q: str) -> dict[str, Any]:
    return {
        "query": q,
        "total": r.total,
        "page": r.page,
        "per_page": r.per_page,
        "partial": r.partial,
        "took_ms": round(r.took_ms, 1),
        "hits": [hit_json(h) for h in r.hits],
        "facets": r.facets,
        "expansions": [{"typed": typed, "also": list(others)} for typed, others in r.expansions],
        "synonyms_version": r.synonyms_version,
    }


def field_json(f: Field) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": f.name,
        "path": f.path,
        "type": f.type,
        "label_zh": f.label_zh,
        "label_en": f.label_en,
        "required": f.required,
    }
    optional = {
        "default": f.default,
        "example": f.example,
        "help_zh": f.help_zh,
        "help_en": f.help_en,
        "max_length": f.max_length,
        "min": _plain(f.min),
        "max": _plain(f.max),
        "not_before": f.not_before,
        "currencies": list(f.currencies) or None,
        "choices": [{"value": c.code, "zh": c.zh, "en": c.en} for c in f.choices] or None,
        "pattern": {"regex": f.pattern.regex.pattern, "zh": f.pattern.zh, "en": f.pattern.en} if f.pattern else None,
    }
    out.update({k: v for k, v in optional.items() if v not in (None, "")})
    if f.type == "list":
        out.update(
            min_items=f.min_items,
            max_items=f.max_items,
            sums=[{"field": x.field, "equals": _plain(x.equals), "equals_field": x.equals_field} for x in f.sums],
        )
    if f.fields:
        out["fields"] = [field_json(c) for c in f.fields]
    return out


def _plain(value: Any) -> str | None:
    return None if value is None else f"{value:f}"


def template_json(t: Template, *, fields: bool = False) -> dict[str, Any]:
    out = {
        **t.to_dict(),
        "doc_class": t.schema.doc_class,
        "url": url_for("api.show_template", slug=t.slug),
        "sample_url": url_for("api.template_sample", slug=t.slug),
    }
    if fields:
        out["fields"] = [field_json(f) for f in t.schema.fields]
    return out


def generated_json(g: Generated) -> dict[str, Any]:
    doc_id = g.result.document.id
    return {
        "created": g.result.created,
        "document": g.result.document.to_dict(),
        "version": version_json(g.result.version, doc_id),
        "renditions": [rendition_json(r, g.result.version) for r in g.renditions],
    }


def send_bundle(gd: Guard, scope: BundleScope) -> Response:
    # Spooled: small bundles stay in memory, large ones go to a temporary file.
    out = tempfile.SpooledTemporaryFile(max_size=32 * 1024 * 1024)  # noqa: SIM115 - send_file closes it
    summary = gd.export_bundle(scope, out)
    out.seek(0)
    resp = send_file(out, mimetype="application/zip", as_attachment=True, download_name=summary.filename)
    resp.headers["X-Manifest-SHA256"] = summary.manifest_sha256
    resp.headers["X-Content-Type-Options"] = "nosniff"
    return resp


# -- health and the description ---------------------------------------------------------------
@bp.get("/health")
def health():
    """Public liveness: only whether the service and its schema are in order."""
    current, head = svc().catalog.schema_revision()
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


# -- documents --------------------------------------------------------------------------------
@bp.get("/api/v1/documents")
def list_documents():
    page = guard().list_documents({k: _arg(request.args, k) for k in request.args})
    return jsonify(
        {"items": [d.to_dict() for d in page.items], "total": page.total, "limit": page.limit, "offset": page.offset}
    )


@bp.post("/api/v1/documents")
def create_document():
    data, filename = _upload()
    meta = _form_metadata()
    if not meta.get("title"):
        meta["title"] = filename.rsplit("/", 1)[-1].rsplit(".", 1)[0] or filename
    result = guard().add_document(data, filename, meta, reason=request.form.get("reason", ""))
    doc_id = result.document.id
    resp = jsonify(
        {
            "document": result.document.to_dict(),
            "version": version_json(result.version, doc_id),
            "suggestion": suggestion_json(result.suggested.suggestion) if result.suggested else None,
        }
    )
    resp.status_code = 201
    resp.headers["Location"] = url_for("api.show_document", doc_id=doc_id)
    return resp


def suggestion_json(s: Mapping[str, Any]) -> dict[str, Any]:
    """A suggestion (Suggestion.to_dict()) with each value's Chinese and English label."""
    vocab = svc().vocab

    def labelled(key: str, label: Mapping[str, Any]) -> dict[str, Any]:
        choice = vocab.doc_type(label["value"]) if key == "doc_type" else ServiceCategory(label["value"])
        return {**label, "label": choice.zh, "label_en": choice.en}

    return {
        "doc_type": labelled("doc_type", s["doc_type"]),
        "service_category": labelled("service_category", s["service_category"]),
        "project": s.get("project"),
        "needs_review": s["needs_review"],
    }


@bp.post("/api/v1/suggestions")
def suggest_labels():
    """The labels an upload of this file would get, without archiving it (the upload form)."""
    data, filename = _upload()
    title = request.form.get("title") or filename.rsplit("/", 1)[-1].rsplit(".", 1)[0] or filename
    return jsonify(suggestion_json(guard().suggest_labels(data, filename, title).to_dict()))


@bp.get("/api/v1/labels/review")
def review_labels():
    items = guard().review_list(all_pending=_arg_flag(request.args, "all"))
    return jsonify({"items": [i.to_dict() for i in items]})


@bp.post("/api/v1/documents/<int:doc_id>/labels")
def confirm_labels(doc_id: int):
    """Accept the suggested labels (an empty body or {}) or correct them ({"doc_type": …})."""
    body = request.get_json(silent=True) or {}
    if not isinstance(body, dict):
        raise InvalidInput("请求体必须是 JSON 对象。", "The request body must be a JSON object.")
    changes = {k: v for k, v in _metadata(body).items() if v}
    for key in changes:
        if key not in LABEL_FIELDS:
            raise InvalidInput(
                f"只能更正 {', '.join(LABEL_FIELDS)}，不能更正“{key}”。",
                f"Only {', '.join(LABEL_FIELDS)} can be corrected here, not '{key}'.",
                field=key,
                details={"valid": list(LABEL_FIELDS)},
            )
    return jsonify(guard().confirm_labels(doc_id, changes).to_dict())


@bp.get("/api/v1/documents/<int:doc_id>")
def show_document(doc_id: int):
    doc, versions = guard().show(doc_id)
    return jsonify({**doc.to_dict(), "versions": [version_json(v, doc_id) for v in versions]})


@bp.patch("/api/v1/documents/<int:doc_id>")
def update_document(doc_id: int):
    body = _json_object()
    doc = guard().set_metadata(doc_id, _metadata(body.get("metadata")), reason=_string(body, "reason"))
    return jsonify(doc.to_dict())


BULK_KEYS = ("ids", "set", "add_tags", "remove_tags", "reason")


def _selection(body: dict[str, Any], allowed: tuple[str, ...]) -> tuple[int, ...]:
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise InvalidInput(
            f"未知字段：{', '.join(unknown)}。可用：{', '.join(allowed)}。",
            f"Unknown field(s): {', '.join(unknown)}. Known: {', '.join(allowed)}.",
            field=unknown[0],
        )
    if not isinstance(body.get("ids"), list):
        raise InvalidInput(
            "ids 必须是文档编号的数组，如 [3, 5]。", "ids must be an array of document ids, e.g. [3, 5].", field="ids"
        )
    return selection.parse_ids(body["ids"], limit=svc().settings["BULK_MAX_DOCUMENTS"], from_text=False)


@bp.post("/api/v1/documents/bulk")
def bulk_documents():
    """One change for each listed document (docsvc.services.selection): per document changed,
    unchanged or refused with the reason; bad ids or values refuse the whole request (400)."""
    body = _json_object()
    ids = _selection(body, BULK_KEYS)
    change = selection.BulkChange.parse({k: body[k] for k in BULK_KEYS[1:] if k in body})
    return jsonify(guard().bulk_set(ids, change).to_dict())


@bp.post("/api/v1/documents/zip")
def zip_documents():
    """The latest version of each listed document in one ZIP, each read audited as a download."""
    ids = _selection(_json_object(), ("ids",))
    out = tempfile.SpooledTemporaryFile(max_size=32 * 1024 * 1024)  # noqa: SIM115 - send_file closes it
    summary = guard().selection_zip(ids, out)
    out.seek(0)
    resp = send_file(
        out, mimetype="application/zip", as_attachment=True, download_name=f"documents-{len(summary.names)}.zip"
    )
    resp.headers["X-Content-Type-Options"] = "nosniff"
    return resp


@bp.delete("/api/v1/documents/<int:doc_id>")
def delete_document(doc_id: int):
    body = request.get_json(silent=True) or {}
    reason = body.get("reason") if isinstance(body, dict) else None
    guard().request_deletion(doc_id, reason=str(reason or request.args.get("reason", "")))


@bp.get("/api/v1/documents/<int:doc_id>/history")
def history(doc_id: int):
    h = guard().history(doc_id)
    return jsonify(
        {
            "document": h.document.to_dict(),
            "versions": [version_json(v, doc_id) for v in h.versions],
            "events": [e.to_dict() for e in h.events],
        }
    )


@bp.post("/api/v1/documents/<int:doc_id>/versions")
def add_version(doc_id: int):
    data, filename = _upload()
    result = guard().add_version(doc_id, data, filename, reason=request.form.get("reason", ""))
    resp = jsonify({"created": result.created, "version": version_json(result.version, doc_id)})
    resp.status_code = 201 if result.created else 200
    return resp


@bp.get("/api/v1/documents/<int:doc_id>/content")
@bp.get("/api/v1/documents/<int:doc_id>/versions/<int:number>/content")
def download(doc_id: int, number: int | None = None):
    return send_version(*guard().read_version(doc_id, number))


@bp.get("/api/v1/documents/<int:doc_id>/versions/<int:number>/renditions/<kind>")
def download_rendition(doc_id: int, number: int, kind: str):
    return send_rendition(*guard().read_rendition(doc_id, number, kind))


@bp.post("/api/v1/documents/<int:doc_id>/versions/<int:number>/renditions/<kind>")
def request_rendition(doc_id: int, number: int, kind: str):
    """Ask for a version's PDF: 200 with it when it exists, else 202 with the job making it."""
    asked = guard().request_rendition(doc_id, number, kind)
    if asked.rendition is not None:
        return jsonify({"state": "done", "rendition": rendition_json(asked.rendition, asked.version)})
    resp = jsonify(
        {
            "state": asked.job.state.value,
            "job": job_json(asked.job),
            "status_url": url_for("api.show_job", job_id=asked.job.id),
        }
    )
    resp.status_code = 202
    resp.headers["Location"] = url_for("api.show_job", job_id=asked.job.id)
    return resp


@bp.get("/api/v1/documents/<int:doc_id>/versions/<int:number>/ocr")
def ocr_status(doc_id: int, number: int):
    """How the version's text was read: OCR's engine, version and confidence (per page)."""
    version, status, info, job = guard().ocr_status(doc_id, number)
    return jsonify(
        {
            "document_id": doc_id,
            "version": version.number,
            "text_status": status,
            "ocr": info.to_dict() if info else None,
            "job": job_json(job) if job else None,
        }
    )


@bp.post("/api/v1/documents/<int:doc_id>/versions/<int:number>/ocr")
def rerun_ocr(doc_id: int, number: int):
    """Read a scan's text again (managers): 202 with the OCR job."""
    _version, job, _created = guard().rerun_ocr(doc_id, number)
    resp = jsonify(
        {"state": job.state.value, "job": job_json(job), "status_url": url_for("api.show_job", job_id=job.id)}
    )
    resp.status_code = 202
    resp.headers["Location"] = url_for("api.show_job", job_id=job.id)
    return resp


@bp.get("/api/v1/jobs/<int:job_id>")
def show_job(job_id: int):
    return jsonify(job_json(guard().job(job_id)))


def job_json(job: Job) -> dict[str, Any]:
    """A job as the API shows it; a finished rendition job links to the rendition it made."""
    out = {**job.to_dict(), "status_url": url_for("api.show_job", job_id=job.id)}
    made = background.job_result_rendition(svc(), job)
    if made is not None:
        out["rendition"] = rendition_json(made[1], made[0])
    return out


@bp.get("/api/v1/documents/<int:doc_id>/compare")
def compare(doc_id: int):
    c = guard().compare(doc_id, _arg_int(request.args, "a"), _arg_int(request.args, "b"))
    return jsonify({"document_id": doc_id, "a": c.a.number, "b": c.b.number, **c.result.to_dict()})


# -- search -----------------------------------------------------------------------------------
@bp.get("/api/v1/search")
def search():
    request_ = search_request(request.args)
    return jsonify(search_json(guard().search(request_), request_.query))


@bp.get("/api/v1/documents/<int:doc_id>/similar")
def similar(doc_id: int):
    """Documents like this one, found by a search as the caller (latest versions, best first)."""
    hits = guard().similar(doc_id, _arg_int(request.args, "limit", high=SIMILAR_MAX, default=SIMILAR_DEFAULT))
    return jsonify({"document_id": doc_id, "items": [similar_json(h) for h in hits]})


def similar_json(h: Hit) -> dict[str, Any]:
    """A similar document: a hit without the excerpt (there is no question to explain)."""
    return {k: v for k, v in hit_json(h).items() if k not in ("snippet", "snippet_text", "highlights")}


# -- Word templates ---------------------------------------------------------------------------
@bp.get("/api/v1/templates")
def list_templates():
    return jsonify({"items": [template_json(t) for t in guard().templates()]})


@bp.post("/api/v1/templates")
def add_template():
    """multipart: ``file`` (the .docx), optional ``schema`` (schema.json) and ``slug``."""
    data, _ = _upload()
    schema_file = request.files.get("schema")
    schema = json_upload(schema_file.read()) if schema_file and schema_file.filename else None
    added = guard().add_template(data, schema, slug=request.form.get("slug") or None)
    resp = jsonify({"created": added.created, "template": template_json(added.template, fields=True)})
    resp.status_code = 201 if added.created else 200
    resp.headers["Location"] = url_for("api.show_template", slug=added.template.slug)
    return resp


def json_upload(raw: bytes) -> dict[str, Any]:
    """An uploaded schema.json."""
    try:
        value = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput(
            f"字段定义文件不是有效的 UTF-8 JSON：{exc}。",
            f"The schema file is not valid UTF-8 JSON: {exc}.",
            field="schema",
        ) from None
    if not isinstance(value, dict):
        raise InvalidInput("字段定义文件必须是 JSON 对象。", "The schema file must be a JSON object.", field="schema")
    return value


@bp.get("/api/v1/templates/<slug>")
def show_template(slug: str):
    return jsonify(template_json(guard().template(slug), fields=True))


@bp.get("/api/v1/templates/<slug>/versions")
def template_versions(slug: str):
    return jsonify({"items": [template_json(t) for t in guard().template_versions(slug)]})


@bp.get("/api/v1/templates/<slug>/sample")
def template_sample(slug: str):
    t = guard().template(slug)
    return jsonify({"template": t.slug, "version": t.version, "data": t.schema.sample()})


@bp.post("/api/v1/templates/<slug>/preview")
def preview_template(slug: str):
    body = _json_object()
    preview = guard().preview(slug, _form_data(body))
    return send_preview(preview.rendered.docx, str(preview.rendered.metadata.get("title") or slug))


@bp.post("/api/v1/templates/<slug>/generate")
def generate(slug: str):
    body = _json_object()
    _known_fields(body, {"data", "pdf", "pdfa", "document_id", "reason"})
    pdf, pdfa = _body_flag(body, "pdf"), _body_flag(body, "pdfa")
    generated = guard().generate(
        slug,
        _form_data(body),
        pdf=pdf or pdfa,
        pdf_a=pdfa,
        document_id=_int(body.get("document_id"), "document_id"),
        reason=_string(body, "reason"),
    )
    resp = jsonify(generated_json(generated))
    resp.status_code = 201 if generated.result.created else 200
    resp.headers["Location"] = url_for("api.show_document", doc_id=generated.result.document.id)
    return resp


@bp.get("/api/v1/templates/<slug>/batch/skeleton")
def batch_skeleton(slug: str):
    """The spreadsheet to fill in for a batch: ``format`` xlsx (default) or csv (UTF-8 with BOM)."""
    fmt = _arg(request.args, "format")  # absent: xlsx; given, it must be one of the formats (not empty)
    sk = guard().batch_skeleton(slug, "xlsx" if fmt is None else fmt)
    return send_attachment(
        sk.data,
        sk.media_type,
        sk.filename,
        hashlib.sha256(sk.data).hexdigest(),
        f"{slug}-batch.{sk.filename.rsplit('.', 1)[-1]}",
    )


@bp.post("/api/v1/templates/<slug>/batch")
def start_batch(slug: str):
    """multipart: ``file`` (CSV or XLSX), optional ``pdf`` and ``skip_invalid`` flags. Every row
    is checked first (400 with ``details.rows``); then 202 with the job generating them."""
    data, filename = _upload()
    job, created = guard().start_batch(
        slug, data, filename, pdf=_arg_flag(request.form, "pdf"), skip_invalid=_arg_flag(request.form, "skip_invalid")
    )
    status_url = url_for("api.show_batch", slug=slug, job_id=job.id)
    resp = jsonify({**batch_json(guard().batch(job.id), slug), "created": created})
    resp.status_code = 202
    resp.headers["Location"] = status_url
    return resp


@bp.get("/api/v1/templates/<slug>/batch/<int:job_id>")
def show_batch(slug: str, job_id: int):
    return jsonify(batch_json(guard().batch(job_id), slug))


@bp.get("/api/v1/templates/<slug>/batch/<int:job_id>/files.zip")
def batch_zip(slug: str, job_id: int):
    buf = io.BytesIO()
    guard().batch_zip(job_id, buf)
    data = buf.getvalue()
    return send_attachment(
        data, "application/zip", f"批量生成-{job_id}.zip", hashlib.sha256(data).hexdigest(), f"batch-{job_id}.zip"
    )


def batch_json(b, slug: str) -> dict[str, Any]:
    return {
        **b.to_dict(),
        "status_url": url_for("api.show_batch", slug=slug, job_id=b.job.id),
        "files_url": url_for("api.batch_zip", slug=slug, job_id=b.job.id),
    }


@bp.post("/api/v1/reports/<kind>")
def generate_report(kind: str):
    """A management report (inventory | audit | reviews), filled from the archive and archived."""
    body = _json_object() if request.get_data() else {}
    _known_fields(body, {"since", "until", "service_category", "pdf", "pdfa"})
    pdf, pdfa = _body_flag(body, "pdf"), _body_flag(body, "pdfa")
    gd = guard()
    report = ReportRequest.parse(
        kind,
        today=gd.today(),
        since=_string(body, "since") or None,
        until=_string(body, "until") or None,
        service_category=_string(body, "service_category") or None,
    )
    generated = gd.report(report, pdf=pdf or pdfa, pdf_a=pdfa)
    resp = jsonify({**generated_json(generated), "report": report.to_dict()})
    resp.status_code = 201
    resp.headers["Location"] = url_for("api.show_document", doc_id=generated.result.document.id)
    return resp


def _known_fields(body: dict[str, Any], known: set[str]) -> None:
    unknown = set(body) - known
    if unknown:
        raise InvalidInput(
            f"未知字段：{', '.join(sorted(unknown))}。",
            f"Unknown field(s): {', '.join(sorted(unknown))}.",
            field=sorted(unknown)[0],
        )


def _body_flag(body: dict[str, Any], name: str) -> bool:
    value = body.get(name, False)
    if not isinstance(value, bool):
        raise InvalidInput(f"{name} 必须是 true 或 false。", f"{name} must be true or false.", field=name)
    return value


def _form_data(body: dict[str, Any]) -> dict[str, Any]:
    data = body.get("data")
    if not isinstance(data, dict):
        raise InvalidInput(
            "data 必须是 JSON 对象（字段名到值），可从 …/sample 取得示例。",
            "data must be a JSON object (field name to value); …/sample gives an example.",
            field="data",
        )
    return data


# -- the audit log ----------------------------------------------------------------------------
@bp.get("/api/v1/audit")
def audit_log():
    args = request.args
    page = guard().audit_page(
        _audit_filter(args),
        limit=_arg_int(args, "limit", default=50),
        offset=_arg_int(args, "offset", low=0, high=MAX_OFFSET, default=0),
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
        document_id=_int(body.get("document_id"), "document_id"),
        since=_date(body.get("since"), "since", "开始日期"),
        until=_date(body.get("until"), "until", "结束日期"),
    )
    return send_bundle(guard(), scope)


# -- users ------------------------------------------------------------------------------------
@bp.get("/api/v1/users")
def list_users():
    return jsonify({"items": [u.to_dict() for u in guard().users()]})


@bp.post("/api/v1/users")
def create_user():
    body = _json_object()
    projects = body.get("projects", [])
    if not isinstance(projects, list) or not all(isinstance(p, str) for p in projects):
        raise InvalidInput("projects 必须是字符串数组。", "projects must be an array of strings.", field="projects")
    password = body.get("password")
    if password is not None and not isinstance(password, str):
        raise InvalidInput("password 必须是字符串。", "password must be a string.", field="password")
    user, generated = guard().create_user(
        _string(body, "username"),
        _string(body, "role"),
        password=password,
        display_name=_string(body, "display_name"),
        projects=projects,
    )
    resp = jsonify({"user": user.to_dict(), **({"password": generated} if generated else {})})
    resp.status_code = 201
    return resp


@bp.patch("/api/v1/users/<username>")
def update_user(username: str):
    body = _json_object()
    unknown = set(body) - {"role", "active", "display_name", "projects"}
    if unknown:
        raise InvalidInput(
            f"未知字段：{', '.join(sorted(unknown))}。",
            f"Unknown field(s): {', '.join(sorted(unknown))}.",
            field=sorted(unknown)[0],
        )
    if "active" in body and not isinstance(body["active"], bool):
        raise InvalidInput("active 必须是 true 或 false。", "active must be true or false.", field="active")
    if "projects" in body and (
        not isinstance(body["projects"], list) or not all(isinstance(p, str) for p in body["projects"])
    ):
        raise InvalidInput("projects 必须是字符串数组。", "projects must be an array of strings.", field="projects")
    for name in ("role", "display_name"):
        if name in body:
            _string(body, name)
    user = guard().update_user(username, **body)
    return jsonify(user.to_dict())


# -- the dashboard and saved views ------------------------------------------------------------
@bp.get("/api/v1/dashboard")
def dashboard():
    """The home page's read model as JSON: everything the caller may read, nothing else."""
    gd = guard()
    return jsonify(gd.dashboard(gd.today()).to_dict())


@bp.get("/api/v1/views")
def list_views():
    return jsonify({"items": [v.to_dict() for v in guard().views.list()]})


def _view_params(body: dict[str, Any]) -> Any:
    """A view's parameters from JSON: a query string, or an array of [name, value] pairs."""
    params = body.get("params")
    if isinstance(params, str) or (
        isinstance(params, list)
        and all(isinstance(p, list) and len(p) == 2 and all(isinstance(x, str) for x in p) for p in params)
    ):
        return params
    raise InvalidInput(
        "params 必须是查询字符串（如 q=合同）或 [名称, 值] 对的数组。",
        "params must be a query string (e.g. q=contract) or an array of [name, value] pairs.",
        field="params",
    )


@bp.post("/api/v1/views")
def create_view():
    body = _json_object()
    _known_fields(body, {"name", "kind", "params", "shared", "pinned"})
    view = guard().views.create(
        _string(body, "name"),
        _string(body, "kind"),
        _view_params(body),
        shared=_body_flag(body, "shared"),
        pinned=_body_flag(body, "pinned"),
    )
    resp = jsonify(view.to_dict())
    resp.status_code = 201
    resp.headers["Location"] = url_for("api.show_view", view_id=view.id)
    return resp


@bp.get("/api/v1/views/<int:view_id>")
def show_view(view_id: int):
    return jsonify(guard().views.get(view_id).to_dict())


@bp.get("/api/v1/views/<int:view_id>/results")
def view_results(view_id: int):
    """The view evaluated with the caller's rights: the total and the first ``limit`` documents."""
    limit = _arg_int(request.args, "limit", high=MAX_VIEW_RESULTS, default=WIDGET_ROWS)
    views = guard().views
    return jsonify(views.results(views.get(view_id), limit=limit).to_dict())


@bp.patch("/api/v1/views/<int:view_id>")
def update_view(view_id: int):
    body = _json_object()
    _known_fields(body, {"name", "params", "shared", "pinned"})
    view = guard().views.update(
        view_id,
        name=_string(body, "name") if "name" in body else None,
        params=_view_params(body) if "params" in body else None,
        shared=_body_flag(body, "shared") if "shared" in body else None,
        pinned=_body_flag(body, "pinned") if "pinned" in body else None,
    )
    return jsonify(view.to_dict())


@bp.delete("/api/v1/views/<int:view_id>")
def delete_view(view_id: int):
    guard().views.delete(view_id)
    return "", 204


# -- managed tags and counterparties (docsvc.services.terms) ----------------------------------
def _terms_routes(plural: str, kind: TermKind) -> None:
    """The same routes for tags and counterparties: names travel in JSON bodies, not in paths
    (a name may hold any character but a control character, a slash too)."""
    base = f"/api/v1/{plural}"

    def suggest():
        """Names for an autocomplete: only those the caller may see (docsvc.services.terms)."""
        prefix = _arg(request.args, "prefix") or ""
        limit = _arg_int(request.args, "limit", low=1, high=MAX_SUGGESTIONS, default=MAX_SUGGESTIONS)
        return jsonify({"items": guard().terms(kind).suggest(prefix, limit=limit)})

    def catalog():
        return jsonify({"items": [t.to_dict() for t in guard().terms(kind).list()]})

    def create():
        body = _json_object()
        _known_fields(body, {"name", "colour"} if kind is TermKind.TAG else {"name"})
        term = guard().terms(kind).create(_string(body, "name"), _string(body, "colour") if "colour" in body else None)
        resp = jsonify(term.to_dict())
        resp.status_code = 201
        return resp

    def rename():
        body = _json_object()
        _known_fields(body, {"name", "new_name"})
        return jsonify(guard().terms(kind).rename(_string(body, "name"), _string(body, "new_name")).to_dict())

    def merge():
        body = _json_object()
        _known_fields(body, {"name", "into"})
        return jsonify(guard().terms(kind).merge(_string(body, "name"), _string(body, "into")).to_dict())

    def colour():
        body = _json_object()
        _known_fields(body, {"name", "colour"})
        return jsonify(guard().terms(kind).recolour(_string(body, "name"), _string(body, "colour")).to_dict())

    def remove():
        body = _json_object()
        _known_fields(body, {"name"})
        return jsonify(guard().terms(kind).remove(_string(body, "name")).to_dict())

    views: list[tuple[str, str, Any]] = [
        ("", "GET", suggest),
        ("/catalog", "GET", catalog),
        ("", "POST", create),
        ("/rename", "POST", rename),
        ("/merge", "POST", merge),
        ("/remove", "POST", remove),
    ]
    if kind is TermKind.TAG:
        views.append(("/colour", "POST", colour))
    for suffix, method, view in views:
        bp.add_url_rule(base + suffix, f"{plural}_{view.__name__}", view, methods=[method])


_terms_routes("tags", TermKind.TAG)
_terms_routes("counterparties", TermKind.COUNTERPARTY)


# -- custom fields per document type (docsvc.services.fields) -----------------------------------
@bp.get("/api/v1/fields")
def list_fields():
    doc_type = _arg(request.args, "doc_type") or None
    retired = _arg_flag(request.args, "retired") if _arg(request.args, "retired") is not None else True
    return jsonify({"items": [d.to_dict() for d in guard().fields.list(doc_type, retired=retired)]})


@bp.post("/api/v1/fields")
def create_field():
    resp = jsonify(guard().fields.create(_json_object()).to_dict())
    resp.status_code = 201
    return resp


@bp.get("/api/v1/fields/<key>")
def show_field(key: str):
    return jsonify(guard().fields.get(key).to_dict())


@bp.patch("/api/v1/fields/<key>")
def update_field(key: str):
    return jsonify(guard().fields.update(key, _json_object()).to_dict())


@bp.post("/api/v1/fields/<key>/retire")
def retire_field(key: str):
    return jsonify(guard().fields.retire(key).to_dict())


@bp.post("/api/v1/fields/<key>/restore")
def restore_field(key: str):
    return jsonify(guard().fields.restore(key).to_dict())
