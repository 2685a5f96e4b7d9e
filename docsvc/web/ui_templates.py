"""Drafting in the browser: the template gallery, the generate form built from a template's field
schema (preview, generate, revise) and, for template managers, versions and uploads.

The batch page (``/templates/<slug>/batch``) takes a spreadsheet of rows, checks them all and
queues one background job (docsvc.services.batch); its own page shows the progress and results.

The form's inputs are named by field path (see :mod:`docsvc.web.schema_form`), so every
validation error the schema reports (``payment_schedule[2].amount``) is shown beside its input.
Each POST does one thing through the Guard: preview (nothing archived), download the preview's
DOCX, or generate (archive, optionally with a PDF) — the role rules and the audit of refusals live
there.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from markupsafe import Markup

from docsvc.errors import Forbidden, InvalidInput, TemplateError, Unavailable
from docsvc.services.access import Guard
from docsvc.services.pages import Preview, Revision
from docsvc.services.templates import Template
from docsvc.web.auth import guard, login_required
from docsvc.web.downloads import send_attachment, send_batch_zip, send_preview
from docsvc.web.errors import status_for
from docsvc.web.i18n import is_en, pick
from docsvc.web.labels import facet_label
from docsvc.web.params import json_upload
from docsvc.web.schema_form import ROW_PLACEHOLDER, build_form, data_from_form, errors_of, initial_data

bp = Blueprint("ui_templates", __name__, template_folder="templates")
bp.before_request(login_required(lambda: None))


def _msg(zh: str, en: str) -> str:
    return pick(InvalidInput(zh, en))


@bp.get("/templates")
def gallery():
    by_section = sorted(
        guard().templates(), key=lambda t: [int(n) if n.isdigit() else 0 for n in t.schema.spec_ref.split(".")]
    )
    return render_template("templates.html", templates=by_section, label_of=facet_label)


@bp.route("/templates/<slug>/generate", methods=["GET", "POST"])
def generate(slug: str):
    gd = guard()
    template = gd.drafting_template(slug)
    if request.method == "POST":
        return _submit(gd, template)
    example = bool(request.args.get("example"))
    data = template.schema.sample() if example else initial_data(template.schema)
    return _page(template, data, example=example)


@bp.route("/documents/<int:doc_id>/revise", methods=["GET", "POST"])
def revise(doc_id: int):
    gd = guard()
    revision = gd.revision(doc_id)
    if request.method == "POST":
        return _submit(gd, revision.template, revision)
    return _page(revision.template, revision.data, revision=revision)


def _submit(gd: Guard, template: Template, revision: Revision | None = None):
    """One POST of the form: ``action`` is generate, preview_docx, or (anything else, e.g. the
    Enter key in a field, which submits with the first button) preview."""
    data = data_from_form(template.schema, request.form)
    action = request.form.get("action", "preview")
    reason = request.form.get("reason", "")
    try:
        if action != "generate":
            preview = gd.preview(template, data)
            if action == "preview_docx":
                return send_preview(preview.rendered.docx, str(preview.rendered.metadata.get("title") or template.slug))
            return _page(template, data, revision=revision, preview=preview, reason=reason)
        pdf_a = request.form.get("pdfa") == "1"
        generated = gd.generate(
            template,
            data,
            pdf=request.form.get("pdf") == "1" or pdf_a,
            pdf_a=pdf_a,
            document_id=revision.document.id if revision else None,
            reason=reason,
        )
    except InvalidInput as exc:  # the form's errors (TemplateError: the template failed to render)
        return _page(
            template,
            data,
            revision=revision,
            errors=errors_of(exc, en=is_en()),
            reason=reason,
            notice=pick(exc) if isinstance(exc, TemplateError) else "",
            status=status_for(exc),
        )
    except (Unavailable, Forbidden) as exc:  # PDF converter down; a project the drafter is not in
        return _page(template, data, revision=revision, reason=reason, notice=pick(exc), status=status_for(exc))
    result = generated.result
    extra = _msg("，含 PDF", " with a PDF") if generated.renditions else ""
    flash(
        _msg(
            f"已生成并归档第 {result.version.number} 版{extra}。",
            f"Version {result.version.number} generated and archived{extra}.",
        ),
        "ok",
    )
    # The business checks' warnings and the defaults used, as recorded in the provenance.
    for w in result.version.provenance.get("warnings", []):
        note = Markup(_msg("提示：{}", "Note: {}")).format(_msg(w["zh"], w["en"]))
        if w.get("link"):  # the document that has the number, the form that makes the missing one
            note += Markup('<a href="{}">{}</a>').format(request.script_root + w["link"], _msg("（打开）", " (open)"))
        flash(note, "info")
    return redirect(url_for("ui_docs.document", doc_id=result.document.id))


def _page(
    template: Template,
    data: Mapping[str, Any],
    *,
    revision: Revision | None = None,
    preview: Preview | None = None,
    errors: Mapping[str, str] | None = None,
    reason: str = "",
    notice: str = "",
    example: bool = False,
    status: int = 200,
):
    reason_error = (errors or {}).get("reason", "")
    widgets, form_errors = build_form(
        template.schema, data, {k: v for k, v in (errors or {}).items() if k != "reason"}, en=is_en()
    )
    if reason_error:
        form_errors.summary.insert(0, (reason_error, "f-reason"))
    return render_template(
        "generate.html",
        t=template,
        widgets=widgets,
        errors=form_errors,
        revision=revision,
        preview=preview,
        reason=reason,
        reason_error=reason_error,
        notice=notice,
        example=example,
        placeholder=ROW_PLACEHOLDER,
        pdf=request.form.get("pdf") == "1",
        pdfa=request.form.get("pdfa") == "1",
    ), status


# -- batch generation (docsvc.services.batch) ----------------------------------------------------
@bp.route("/templates/<slug>/batch", methods=["GET", "POST"])
def batch(slug: str):
    """The batch page: the spreadsheet to download, the upload, and on a POST every row checked
    (400 with each invalid row, nothing queued) before the job is queued (303 to its page)."""
    gd = guard()
    template = gd.batch_template(slug)
    if request.method == "GET":
        return _batch_page(template)
    upload = request.files.get("file")
    pdf, skip = request.form.get("pdf") == "1", request.form.get("skip_invalid") == "1"
    try:
        if upload is None or not upload.filename:
            raise InvalidInput(
                "请选择填好的表格文件（.xlsx 或 .csv）。",
                "Choose the filled-in spreadsheet (.xlsx or .csv).",
                field="file",
            )
        job, _created = gd.start_batch(slug, upload.read(), upload.filename, pdf=pdf, skip_invalid=skip)
    except InvalidInput as exc:
        return _batch_page(template, error=exc, pdf=pdf, skip=skip, status=status_for(exc))
    return redirect(url_for("ui_templates.batch_job", slug=slug, job_id=job.id), code=303)


def _batch_page(
    template: Template, *, error: InvalidInput | None = None, pdf: bool = False, skip: bool = False, status: int = 200
):
    rows = (error.details or {}).get("rows") if error is not None else None
    return render_template(
        "batch.html",
        t=template,
        error=error,
        rows=rows or [],
        pdf=pdf,
        skip=skip,
        max_rows=current_app.extensions["docsvc"].settings["BATCH_MAX_ROWS"],
        max_mb=round(current_app.extensions["docsvc"].settings["BATCH_MAX_BYTES"] / 1024 / 1024, 1),
    ), status


@bp.get("/templates/<slug>/batch/skeleton.<fmt>")
def batch_skeleton(slug: str, fmt: str):
    sk = guard().batch_skeleton(slug, fmt)
    return send_attachment(
        sk.data, sk.media_type, sk.filename, hashlib.sha256(sk.data).hexdigest(), f"{slug}-batch.{fmt}"
    )


@bp.get("/templates/<slug>/batch/<int:job_id>")
def batch_job(slug: str, job_id: int):
    """A batch's progress (the page reloads itself while it runs) and each row's result."""
    b = guard().batch(job_id)
    if b.template_slug != slug:
        return redirect(url_for("ui_templates.batch_job", slug=b.template_slug, job_id=job_id))
    return render_template("batch_job.html", t=guard().template(slug), b=b)


@bp.get("/templates/<slug>/batch/<int:job_id>/files.zip")
def batch_zip(slug: str, job_id: int):
    return send_batch_zip(guard(), job_id)


@bp.route("/templates/<slug>/versions", methods=["GET", "POST"])
def versions(slug: str):
    """Every version with its stored lint report; upload a new version (docx + optional schema)."""
    gd = guard()
    failed: dict[str, Any] | None = None
    error = None
    status = 200
    if request.method == "POST":
        try:
            upload = request.files.get("file")
            if upload is None or not upload.filename:
                raise InvalidInput("请选择模板文件（.docx）。", "Choose the template file (.docx).", field="file")
            added = gd.add_template(upload.read(), _schema_upload(), slug=slug)
        except InvalidInput as exc:
            error, status = exc, status_for(exc)
            failed = exc.details.get("lint") if exc.details else None
        else:
            t = added.template
            flash(
                _msg(
                    f"已登记第 {t.version} 版，检查通过（{len(t.record.lint.get('issues', []))} 条提示）。",
                    f"Version {t.version} registered; lint passed ({len(t.record.lint.get('issues', []))} note(s)).",
                )
                if added.created
                else _msg("与最新版本相同，未新增版本。", "Identical to the latest version; nothing added."),
                "ok" if added.created else "info",
            )
            return redirect(url_for("ui_templates.versions", slug=slug))
    return render_template(
        "template_versions.html", versions=list(reversed(gd.template_versions(slug))), error=error, failed=failed
    ), status


def _schema_upload() -> dict[str, Any] | None:
    f = request.files.get("schema")
    return json_upload(f.read()) if f is not None and f.filename else None
