"""Documents and their versions: list, upload, labels, metadata, selections, downloads, renditions,
OCR, jobs and comparisons."""

from __future__ import annotations

import tempfile
from typing import Any

from flask import jsonify, request, send_file, url_for

from docsvc.errors import InvalidInput
from docsvc.services import selection
from docsvc.services.classify import MAX_REVIEW_PAGE, REVIEW_PAGE
from docsvc.web.api import bp, guard
from docsvc.web.auth import svc
from docsvc.web.downloads import send_rendition, send_version
from docsvc.web.params import (
    arg,
    arg_flag,
    arg_int,
    form_metadata,
    json_object,
    metadata_value,
    string_value,
    upload,
)
from docsvc.web.shapes import job_json, rendition_json, suggestion_json, version_json

LABEL_FIELDS = ("doc_type", "service_category", "project")  # what a review may correct


@bp.get("/api/v1/documents")
def list_documents():
    page = guard().list_documents({k: arg(request.args, k) for k in request.args})
    return jsonify(
        {"items": [d.to_dict() for d in page.items], "total": page.total, "limit": page.limit, "offset": page.offset}
    )


@bp.post("/api/v1/documents")
def create_document():
    data, filename = upload()
    meta = form_metadata()
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


@bp.post("/api/v1/suggestions")
def suggest_labels():
    """The labels an upload of this file would get, without archiving it (the upload form)."""
    data, filename = upload()
    title = request.form.get("title") or filename.rsplit("/", 1)[-1].rsplit(".", 1)[0] or filename
    return jsonify(suggestion_json(guard().suggest_labels(data, filename, title).to_dict()))


@bp.get("/api/v1/labels/review")
def review_labels():
    all_pending = arg_flag(request.args, "all")
    limit = arg_int(request.args, "limit", high=MAX_REVIEW_PAGE, default=REVIEW_PAGE)
    page = guard().review_page(all_pending=all_pending, limit=limit)
    return jsonify({"items": [i.to_dict() for i in page.items], "total": page.total})


@bp.post("/api/v1/documents/<int:doc_id>/labels")
def confirm_labels(doc_id: int):
    """Accept the suggested labels (an empty body or {}) or correct them ({"doc_type": …})."""
    body = request.get_json(silent=True) or {}
    if not isinstance(body, dict):
        raise InvalidInput("请求体必须是 JSON 对象。", "The request body must be a JSON object.")
    changes = {k: v for k, v in metadata_value(body).items() if v}
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
    body = json_object()
    doc = guard().set_metadata(doc_id, metadata_value(body.get("metadata")), reason=string_value(body, "reason"))
    return jsonify(doc.to_dict())


BULK_KEYS = ("ids", "set", "add_tags", "remove_tags", "reason")


def _selection(body: dict[str, Any], allowed: tuple[str, ...]) -> tuple[int, ...]:
    InvalidInput.check_known(body, set(allowed))
    if not isinstance(body.get("ids"), list):
        raise InvalidInput(
            "ids 必须是文档编号的数组，如 [3, 5]。", "ids must be an array of document ids, e.g. [3, 5].", field="ids"
        )
    return selection.parse_ids(body["ids"], limit=svc().settings["BULK_MAX_DOCUMENTS"], from_text=False)


@bp.post("/api/v1/documents/bulk")
def bulk_documents():
    """One change for each listed document (docsvc.services.selection): per document changed,
    unchanged or refused with the reason; bad ids or values refuse the whole request (400)."""
    body = json_object()
    ids = _selection(body, BULK_KEYS)
    change = selection.BulkChange.parse({k: body[k] for k in BULK_KEYS[1:] if k in body})
    return jsonify(guard().bulk_set(ids, change).to_dict())


@bp.post("/api/v1/documents/zip")
def zip_documents():
    """The latest version of each listed document in one ZIP, each read audited as a download."""
    ids = _selection(json_object(), ("ids",))
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
    data, filename = upload()
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
    job = asked.job
    assert job is not None  # no rendition yet: the job that makes it
    status_url = url_for("api.show_job", job_id=job.id)
    resp = jsonify({"state": job.state.value, "job": job_json(job), "status_url": status_url})
    resp.status_code = 202
    resp.headers["Location"] = status_url
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


@bp.get("/api/v1/documents/<int:doc_id>/compare")
def compare(doc_id: int):
    c = guard().compare(doc_id, arg_int(request.args, "a"), arg_int(request.args, "b"))
    return jsonify({"document_id": doc_id, "a": c.a.number, "b": c.b.number, **c.result.to_dict()})
