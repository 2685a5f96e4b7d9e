"""Word templates: register, preview, generate one document or a batch; management reports."""

from __future__ import annotations

import hashlib

from flask import jsonify, request, url_for

from docsvc.errors import InvalidInput
from docsvc.services.reports import ReportRequest
from docsvc.web.api import bp, guard
from docsvc.web.downloads import send_attachment, send_batch_zip, send_preview
from docsvc.web.params import (
    arg,
    arg_flag,
    body_flag,
    form_data,
    int_value,
    json_object,
    json_upload,
    string_value,
    upload,
)
from docsvc.web.shapes import batch_json, generated_json, template_json


@bp.get("/api/v1/templates")
def list_templates():
    return jsonify({"items": [template_json(t) for t in guard().templates()]})


@bp.post("/api/v1/templates")
def add_template():
    """multipart: ``file`` (the .docx), optional ``schema`` (schema.json) and ``slug``."""
    data, _ = upload()
    schema_file = request.files.get("schema")
    schema = json_upload(schema_file.read()) if schema_file and schema_file.filename else None
    added = guard().add_template(data, schema, slug=request.form.get("slug") or None)
    resp = jsonify({"created": added.created, "template": template_json(added.template, fields=True)})
    resp.status_code = 201 if added.created else 200
    resp.headers["Location"] = url_for("api.show_template", slug=added.template.slug)
    return resp


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
    body = json_object()
    preview = guard().preview(slug, form_data(body))
    return send_preview(preview.rendered.docx, str(preview.rendered.metadata.get("title") or slug))


@bp.post("/api/v1/templates/<slug>/generate")
def generate(slug: str):
    body = json_object()
    InvalidInput.check_known(body, {"data", "pdf", "pdfa", "document_id", "reason"})
    pdf, pdfa = body_flag(body, "pdf"), body_flag(body, "pdfa")
    generated = guard().generate(
        slug,
        form_data(body),
        pdf=pdf or pdfa,
        pdf_a=pdfa,
        document_id=int_value(body.get("document_id"), "document_id"),
        reason=string_value(body, "reason"),
    )
    resp = jsonify(generated_json(generated))
    resp.status_code = 201 if generated.result.created else 200
    resp.headers["Location"] = url_for("api.show_document", doc_id=generated.result.document.id)
    return resp


@bp.get("/api/v1/templates/<slug>/batch/skeleton")
def batch_skeleton(slug: str):
    """The spreadsheet to fill in for a batch: ``format`` xlsx (default) or csv (UTF-8 with BOM)."""
    fmt = arg(request.args, "format")  # absent: xlsx; given, it must be one of the formats (not empty)
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
    data, filename = upload()
    job, created = guard().start_batch(
        slug, data, filename, pdf=arg_flag(request.form, "pdf"), skip_invalid=arg_flag(request.form, "skip_invalid")
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
    return send_batch_zip(guard(), job_id)


@bp.post("/api/v1/reports/<kind>")
def generate_report(kind: str):
    """A management report (inventory | audit | reviews), filled from the archive and archived."""
    body = json_object() if request.get_data() else {}
    InvalidInput.check_known(body, {"since", "until", "service_category", "pdf", "pdfa"})
    pdf, pdfa = body_flag(body, "pdf"), body_flag(body, "pdfa")
    gd = guard()
    report = ReportRequest.parse(
        kind,
        today=gd.today(),
        since=string_value(body, "since") or None,
        until=string_value(body, "until") or None,
        service_category=string_value(body, "service_category") or None,
    )
    generated = gd.report(report, pdf=pdf or pdfa, pdf_a=pdfa)
    resp = jsonify({**generated_json(generated), "report": report.to_dict()})
    resp.status_code = 201
    resp.headers["Location"] = url_for("api.show_document", doc_id=generated.result.document.id)
    return resp
