"""Pages about documents: dashboard, list, detail with timeline, upload, metadata, versions, diff."""

from __future__ import annotations

import tempfile
import urllib.parse
from dataclasses import dataclass

from flask import Blueprint, current_app, flash, make_response, redirect, render_template, request, send_file, url_for

from docsvc.core.audit import AuditEntry
from docsvc.core.content import DOCX, PDF
from docsvc.core.fields import FILTER_PREFIX
from docsvc.core.inputs import parse_int
from docsvc.core.model import AuditAction, DocClass, DocStatus, Metadata, PdcaPhase, ServiceCategory, ServiceScope
from docsvc.errors import DocsvcError, InvalidInput, Unavailable
from docsvc.services import selection
from docsvc.services.classify import REVIEW_PAGE
from docsvc.services.users import Permission
from docsvc.web import ui_fields
from docsvc.web.auth import guard, login_required
from docsvc.web.downloads import send_pdf_inline, send_rendition, send_thumbnail, send_version
from docsvc.web.errors import status_for
from docsvc.web.i18n import pick

bp = Blueprint("ui_docs", __name__, template_folder="templates")
bp.before_request(login_required(lambda: None))

PAGE = 25
PER_PAGE = ("25", "50", "100")  # the list's page sizes (?per_page=)
SIMILAR_SHOWN = 5  # similar documents listed on a document's page
FILTERS = (
    "title",
    "doc_type",
    "service_category",
    "doc_class",
    "status",
    "project",
    "counterparty",
    "tag",
    "review_due_before",
)
SORTS = (
    "updated_at",
    "title",
    "doc_type",
    "service_category",
    "project",
    "counterparty",
    "status",
    "created_at",
    "review_due",
    "effective_date",
    "id",
)
VIEWS = ("table", "cards")  # the list as a table or as cards with thumbnails (?view=, remembered)
VIEW_COOKIE = "docsvc_list_view"
VIEW_KEPT_S = 365 * 24 * 3600
ZIP_IN_MEMORY = 32 * 1024 * 1024  # a larger ZIP is written to a temporary file while it is made


# Reading events: a document read often would bury its changes under them, so a run of them
# is one timeline entry that opens to the list.
READS = frozenset({AuditAction.VERSION_VIEWED.value, AuditAction.VERSION_DOWNLOADED.value})


@dataclass(frozen=True)
class TimelineItem:
    """One entry of a document's timeline: an event, or a run of reads (views and downloads)."""

    event: AuditEntry | None = None
    reads: tuple[AuditEntry, ...] = ()

    @property
    def readers(self) -> list[str]:
        return list(dict.fromkeys(e.actor for e in self.reads))


def timeline(events: list[AuditEntry]) -> list[TimelineItem]:
    """Newest first; consecutive reads grouped."""
    items: list[TimelineItem] = []
    for e in reversed(events):
        if e.action in READS:
            if items and items[-1].reads:
                items[-1] = TimelineItem(reads=(*items[-1].reads, e))
            else:
                items.append(TimelineItem(reads=(e,)))
        else:
            items.append(TimelineItem(event=e))
    return items


def _choices() -> dict:
    """Everything a metadata form offers, for the templates."""
    return {
        "field_types": ui_fields.field_types(),
        "doc_types": current_app.extensions["docsvc"].vocab.doc_types,
        "categories": list(ServiceCategory),
        "classes": list(DocClass),
        "scopes": list(ServiceScope),
        "phases": list(PdcaPhase),
        "statuses": list(DocStatus),
    }


def _field_errors(exc: DocsvcError) -> dict[str, str]:
    """{field: message} in the page's language; '_' for an error that belongs to no field."""
    items = exc.details.get("errors") if exc.details else None
    if items:
        return {i["field"] or "_": pick(InvalidInput(i["zh"], i["en"])) for i in items}
    return {exc.field or "_": pick(exc)}


def _metadata_form() -> dict:
    form: dict = {k: request.form.get(k, "") for k in Metadata.field_names() if k in request.form and k != "fields"}
    if custom := ui_fields.form_values():
        form["fields"] = custom
    return form


@bp.get("/")
def dashboard():
    gd = guard()
    return render_template("dashboard.html", d=gd.dashboard(gd.today()))


@bp.get("/documents")
def documents():
    args = {
        k: v
        for k, v in request.args.items()
        if (k in (*FILTERS, "sort", "offset", "per_page") or k.startswith(FILTER_PREFIX)) and v
    }
    if args.get("per_page") not in PER_PAGE:
        args.pop("per_page", None)
    error = None
    try:
        page = guard().list_documents(
            {**{k: v for k, v in args.items() if k != "per_page"}, "limit": int(args.get("per_page", PAGE))}
        )
    except InvalidInput as exc:
        page, error = None, exc
    thumbs = guard().thumbnails(page.items) if page else {}
    asked = request.args.get("view")
    view = asked if asked in VIEWS else request.cookies.get(VIEW_COOKIE)
    view = view if view in VIEWS else VIEWS[0]
    resp = make_response(
        render_template(
            "documents.html",
            page=page,
            args=args,
            error=error,
            sorts=SORTS,
            thumbs=thumbs,
            view=view,
            views=VIEWS,
            **_choices(),
        ),
        (400 if error else 200),
    )
    if asked in VIEWS:  # remembered for this browser (each person's own)
        resp.set_cookie(
            VIEW_COOKIE, asked, max_age=VIEW_KEPT_S, httponly=True, samesite="Lax", secure=request.is_secure
        )
    return resp


def _back_args() -> dict[str, str]:
    """The list's filters, sort and page the bulk form came from (to link back to it)."""
    back = dict(urllib.parse.parse_qsl(request.form.get("back", "")))
    return {k: v for k, v in back.items() if k in (*FILTERS, "sort", "offset", "per_page") and v}


@bp.post("/documents/bulk")
def bulk():
    """The list's bulk-action bar: the ticked documents get the chosen labels (action=set), or
    come as one ZIP (action=zip). Each document goes through the single edit's or the single
    download's checks and is audited on its own; the result page lists what was refused."""
    gd = guard()
    settings = current_app.extensions["docsvc"].settings
    back = _back_args()
    action = request.form.get("action", "set")
    try:
        if action not in ("set", "zip"):
            raise InvalidInput("未知的批量操作。", "Unknown bulk action.", field="action")
        ids = selection.parse_ids(request.form.getlist("ids"), limit=settings["BULK_MAX_DOCUMENTS"])
        if action == "zip":
            out = tempfile.SpooledTemporaryFile(max_size=ZIP_IN_MEMORY)  # noqa: SIM115 - send_file closes it
            summary = gd.selection_zip(ids, out)
            out.seek(0)
            name = pick(
                InvalidInput(
                    f"文档-{len(summary.names)}份-{gd.today().isoformat()}.zip",
                    f"documents-{len(summary.names)}-{gd.today().isoformat()}.zip",
                )
            )
            return send_file(out, mimetype="application/zip", as_attachment=True, download_name=name)
        change = selection.BulkChange.parse(
            {
                "set": {k: v for k in selection.SETTABLE if (v := request.form.get(k, "").strip())},
                "add_tags": request.form.get("add_tags", ""),
                "remove_tags": request.form.get("remove_tags", ""),
                "reason": request.form.get("reason", ""),
            }
        )
        report = gd.bulk_set(ids, change)
    except InvalidInput as exc:
        return render_template("bulk_result.html", report=None, error=exc, back=back), status_for(exc)
    return render_template("bulk_result.html", report=report, error=None, back=back, results=selection.BulkStatus)


@bp.get("/documents/<int:doc_id>")
def document(doc_id: int):
    gd = guard()
    view = gd.document_view(doc_id)
    try:
        similar = gd.similar(doc_id, SIMILAR_SHOWN)
    except Unavailable:
        similar = []  # the index is being rebuilt: the page still shows the document itself
    return render_template(
        "document.html",
        h=view.history,
        timeline=timeline(view.history.events),
        renditions=view.renditions,
        revise_with=view.template,
        similar=similar,
        pdf_jobs=view.pdf_jobs,
        docx_type=DOCX,
        ocr=view.ocr,
        ocr_jobs=view.ocr_jobs,
        scan_status=view.text_status,
        viewing=_viewable(view, request.args.get("view", "")),
        custom=ui_fields.shown_fields(view.history.document),
    )


def _viewable(view, asked: str):
    """The version whose PDF the page shows in the viewer (``?view=N``): a PDF version, or one with
    a PDF rendition; None when not asked for or there is none."""
    version = next((v for v in view.history.versions if asked.isdigit() and v.number == int(asked)), None)
    if version is None or not (
        version.media_type == PDF or any(r.media_type == PDF for r in view.renditions.get(version.id, ()))
    ):
        return None
    return version


@bp.route("/documents/<int:doc_id>/edit", methods=["GET", "POST"])
def edit(doc_id: int):
    gd = guard()
    doc = gd.editable(doc_id)
    values, errors = doc.metadata.to_dict(), {}
    values["tags"] = "，".join(doc.metadata.tags)
    if request.method == "POST":
        values = _metadata_form()
        try:
            after = gd.set_metadata(doc_id, values, reason=request.form.get("reason", ""))
        except InvalidInput as exc:
            errors = _field_errors(exc)
        else:
            flash(pick(InvalidInput("元数据已保存。", "Metadata saved.")), "ok")
            if after.metadata.doc_type != doc.metadata.doc_type and (kept := ui_fields.kept_labels(after)):
                flash(
                    pick(
                        InvalidInput(
                            f"新文档类型没有这些字段，它们的值已保留（文档页面上标为保留）：{'、'.join(kept)}",
                            f"The new document type has none of these fields; their values are kept (marked on "
                            f"the document's page): {', '.join(kept)}",
                        )
                    ),
                    "info",
                )
            return redirect(url_for("ui_docs.document", doc_id=doc_id))
        values["reason"] = request.form.get("reason", "")
    return render_template("edit.html", doc=doc, values=values, errors=errors, **_choices()), (400 if errors else 200)


@bp.route("/documents/<int:doc_id>/versions/new", methods=["GET", "POST"])
def new_version(doc_id: int):
    gd = guard()
    doc = gd.editable(doc_id)
    errors: dict[str, str] = {}
    if request.method == "POST":
        f = request.files.get("file")
        try:
            if f is None or not f.filename:
                raise InvalidInput("请选择要上传的文件。", "Choose a file to upload.", field="file")
            result = gd.add_version(doc_id, f.read(), f.filename, reason=request.form.get("reason", ""))
        except InvalidInput as exc:
            errors = _field_errors(exc)
        else:
            if result.created:
                flash(
                    pick(
                        InvalidInput(
                            f"已新增第 {result.version.number} 版。", f"Version {result.version.number} added."
                        )
                    ),
                    "ok",
                )
            else:
                flash(
                    pick(
                        InvalidInput(
                            "内容与最新版本相同，未新增版本。",
                            "The content equals the latest version; nothing was added.",
                        )
                    ),
                    "info",
                )
            return redirect(url_for("ui_docs.document", doc_id=doc_id))
    return render_template("new_version.html", doc=doc, errors=errors, reason=request.form.get("reason", "")), (
        400 if errors else 200
    )


@bp.get("/documents/<int:doc_id>/versions/<int:number>/download")
def download(doc_id: int, number: int):
    return send_version(*guard().read_version(doc_id, number))


@bp.get("/documents/<int:doc_id>/versions/<int:number>/thumbnail")
def thumbnail(doc_id: int, number: int):
    return send_thumbnail(*guard().thumbnail(doc_id, number))


@bp.get("/documents/<int:doc_id>/versions/<int:number>/view.pdf")
def view_pdf(doc_id: int, number: int):
    """The PDF the document page's viewer frames (the version's own, or its rendition)."""
    return send_pdf_inline(*guard().pdf_to_view(doc_id, number))


@bp.get("/documents/<int:doc_id>/versions/<int:number>/renditions/<kind>")
def download_rendition(doc_id: int, number: int, kind: str):
    return send_rendition(*guard().read_rendition(doc_id, number, kind))


@bp.post("/documents/<int:doc_id>/versions/<int:number>/ocr")
def rerun_ocr(doc_id: int, number: int):
    """The 重新识别 button (managers): queue the scan's OCR again, back to the document."""
    _version, _job, created = guard().rerun_ocr(doc_id, number)
    if created:
        flash(
            pick(
                InvalidInput(
                    f"已排队重新识别第 {number} 版的文字，完成后即可检索。",
                    f"Version {number} is queued to be read again; it is searchable when done.",
                )
            ),
            "ok",
        )
    else:
        flash(
            pick(InvalidInput(f"第 {number} 版的文字已在识别中。", f"Version {number} is already being read.")), "info"
        )
    return redirect(url_for("ui_docs.document", doc_id=doc_id, _anchor="versions-h"))


@bp.post("/documents/<int:doc_id>/versions/<int:number>/renditions/<kind>")
def request_rendition(doc_id: int, number: int, kind: str):
    """The 生成 PDF button: queue the job (or find it, or the PDF), back to the document."""
    asked = guard().request_rendition(doc_id, number, kind)
    if asked.rendition is not None:
        flash(pick(InvalidInput(f"第 {number} 版的 PDF 已经有了。", f"Version {number} has its PDF already.")), "info")
    elif asked.queued:
        flash(
            pick(
                InvalidInput(
                    f"已排队生成第 {number} 版的 PDF，完成后会出现在该版本旁。",
                    f"The PDF of version {number} is queued; it appears beside the version when done.",
                )
            ),
            "ok",
        )
    else:
        flash(
            pick(
                InvalidInput(
                    f"第 {number} 版的 PDF 已在生成中。", f"The PDF of version {number} is already being made."
                )
            ),
            "info",
        )
    return redirect(url_for("ui_docs.document", doc_id=doc_id, _anchor="versions-h"))


@bp.get("/documents/<int:doc_id>/compare")
def compare(doc_id: int):
    a, b = (parse_int(request.args.get(n) or None, n) for n in ("a", "b"))
    return render_template("compare.html", c=guard().compare(doc_id, a, b))


@bp.route("/upload", methods=["GET", "POST"])
def upload():
    """The form's plain (no-JavaScript) path; with JavaScript, static/upload.js asks
    POST /api/v1/suggestions for each file's labels, sends each file to POST /api/v1/documents
    and shows per-file suggestions, progress and a retry."""
    gd = guard()
    gd.require(Permission.WRITE, "upload_form")  # not offered to a role that cannot upload
    results, errors = [], {}
    values = _metadata_form() if request.method == "POST" else {"doc_class": "user", "status": "draft"}
    if request.method == "POST":
        files = [f for f in request.files.getlist("file") if f.filename]
        if not files:
            errors = {"file": pick(InvalidInput("请选择至少一个文件。", "Choose at least one file."))}
        for f in files:
            meta = dict(values)
            meta["title"] = meta.get("title") or f.filename.rsplit(".", 1)[0]
            try:
                r = gd.add_document(f.read(), f.filename, meta, reason=request.form.get("reason", ""))
                results.append({"filename": f.filename, "document": r.document, "suggested": r.suggested})
            except DocsvcError as exc:
                results.append({"filename": f.filename, "error": pick(exc), "field": exc.field})
    status = 400 if errors or any("error" in r for r in results) else 200
    return render_template(
        "upload.html",
        values=values,
        errors=errors,
        results=results,
        max_bytes=current_app.extensions["docsvc"].settings["MAX_UPLOAD_BYTES"],
        **_choices(),
    ), status


@bp.route("/labels/review", methods=["GET", "POST"])
def review():
    """The review list of suggested labels: each accepted or corrected with one click, which
    teaches the classifier (the document joins its training set)."""
    gd = guard()
    all_pending = request.values.get("all") == "1"
    if request.method == "POST":
        doc_id = parse_int(request.form.get("document_id", ""), "document_id")
        changes = {}
        if request.form.get("action") == "correct":
            doc = gd.document(doc_id)
            current = doc.metadata.to_dict()
            changes = {
                k: request.form[k]
                for k in ("doc_type", "service_category", "project")
                if k in request.form and request.form[k] != (current.get(k) or "")
            }
        doc = gd.confirm_labels(doc_id, changes)
        title = doc.metadata.title
        flash(
            pick(
                InvalidInput(
                    f"已{'更正' if changes else '确认'}“{title}”的分类。",
                    f"Labels of “{title}” {'corrected' if changes else 'accepted'}.",
                )
            ),
            "ok",
        )
        return redirect(url_for("ui_docs.review", **({"all": "1"} if all_pending else {})))
    page = gd.review_page(all_pending=all_pending, limit=REVIEW_PAGE)
    return render_template(
        "review.html",
        items=page.items,
        total=page.total,
        all_pending=all_pending,
        can_write=gd.p.can(Permission.WRITE),
        **_choices(),
    )
