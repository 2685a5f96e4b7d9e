"""Page assembly: the read models the faces show, built for one principal.

A document page (:class:`DocumentView`), a comparison of two versions, a template preview, a
revision form's starting point, a page of the audit log and the health page each gather several
services' answers into one record. The :class:`~docsvc.services.access.Guard` decides who may see
them (its methods of the same names check first, then call these); the functions here only
gather, and read what they read as the Guard's principal, so a face never calls them directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from docsvc.adapters import reports
from docsvc.adapters.catalog import Rendition
from docsvc.adapters.jobs import Job
from docsvc.core.audit import AuditEntry
from docsvc.core.content import DOCX
from docsvc.core.docxview import Block, TooLargeToShow, docx_blocks
from docsvc.core.inputs import parse_int, refuse_controls
from docsvc.core.model import AuditAction, Document, Version
from docsvc.errors import Conflict, DocsvcError, InvalidInput, NotFound
from docsvc.services import background, compare, ocr
from docsvc.services.archive import History
from docsvc.services.search import writer_status
from docsvc.services.templates import Rendered, Template
from docsvc.services.users import Permission

if TYPE_CHECKING:
    from docsvc.services.access import Guard
    from docsvc.services.container import Services


@dataclass(frozen=True)
class AuditPage:
    entries: list[AuditEntry]
    total: int
    limit: int
    offset: int


@dataclass(frozen=True)
class Comparison:
    document: Document
    versions: list[Version]
    a: Version
    b: Version
    result: compare.DiffResult


@dataclass(frozen=True)
class DocumentView:
    """A document page: its history, the renditions of each version (version id → list) and
    the template its latest generated version came from (to offer a revision), if any."""

    history: History
    renditions: dict[int, list[Rendition]]
    template: Template | None
    pdf_jobs: dict[int, Job] = field(default_factory=dict)  # version id → newest job making its PDF
    ocr: dict[int, ocr.OcrInfo] = field(default_factory=dict)  # version id → how OCR read its text
    ocr_jobs: dict[int, Job] = field(default_factory=dict)  # version id → newest OCR job of its content
    # version id → how its text was read ("ok", "ocr_pending" …), for every version
    text_status: dict[int, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Preview:
    """A rendered template that was not archived, with its text for showing on a page."""

    rendered: Rendered
    blocks: tuple[Block, ...] | None  # paragraphs and tables; None when the body could not be read
    notice_zh: str = ""
    notice_en: str = ""


@dataclass(frozen=True)
class Revision:
    """What a revision form starts from: the document, the generated version whose form data
    it reuses, and that version's template (latest version of the same slug)."""

    document: Document
    version: Version
    template: Template
    data: dict[str, Any]


@dataclass(frozen=True)
class Health:
    ok: bool
    schema_current: str | None
    schema_head: str
    counts: dict[str, int]
    audit_head_seq: int
    users: int
    index: dict[str, Any] = field(default_factory=dict)  # IndexService.status()
    indexer: dict[str, Any] | None = None  # the server's background indexer, when running
    converter: dict[str, Any] = field(default_factory=dict)  # the PDF converter's health()
    jobs: dict[str, Any] = field(default_factory=dict)  # JobService.overview(): queue, nodes, recent jobs
    runner: dict[str, Any] | None = None  # this server's job runner, when running
    reviews: dict[str, Any] = field(default_factory=dict)  # open review reminders
    blobs: dict[str, Any] = field(default_factory=dict)  # BlobStore.status(): where the files are, reachable
    intake: dict[str, Any] | None = None  # the watched intake folder, when DOCSVC_INTAKE_DIR is set

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": "ok" if self.ok else "degraded",
            "schema": {"current": self.schema_current, "head": self.schema_head},
            **self.counts,
            "audit_head_seq": self.audit_head_seq,
            "users": self.users,
            "index": self.index,
            "indexer": self.indexer,
            "converter": self.converter,
            "jobs": self.jobs,
            "runner": self.runner,
            "reviews": self.reviews,
            "blobs": self.blobs,
            "intake": self.intake,
        }


def comparison(gd: Guard, doc: Document, a: int | None, b: int | None) -> Comparison:
    """Two versions of a document the Guard let ``gd``'s principal read, side by side (the
    newest two unless ``a`` and ``b`` name them); each read is audited as a view."""
    document_id = doc.id
    versions = gd.svc.catalog.versions(document_id)
    if len(versions) < 2:  # the document's state, not the request, is what stands in the way
        raise Conflict(
            "该文档只有一个版本，无可比较。", "This document has only one version; nothing to compare.", field="a"
        )
    a = versions[-2].number if a is None else parse_int(a, "a", from_text=False)
    b = versions[-1].number if b is None else parse_int(b, "b", from_text=False)
    sides = []
    chosen = []
    for n, name in ((a, "a"), (b, "b")):
        try:
            v, data = gd.svc.archive.read_version(
                document_id, n, actor=gd.p.username, action=AuditAction.VERSION_VIEWED, purpose="compare"
            )
        except NotFound as exc:
            raise NotFound(exc.zh, exc.en, field=name) from None
        chosen.append(v)
        # The indexer's limits, built once by the wiring from the settings.
        sides.append(compare.paragraphs_of(data, v.media_type, gd.svc.index.extract_limits))
    return Comparison(doc, versions, chosen[0], chosen[1], compare.compare_sides(*sides))


def document_view(gd: Guard, document_id: int) -> DocumentView:
    """A document page, for a document the Guard let ``gd``'s principal read."""
    history = gd.svc.archive.history(document_id)
    renditions = {v.id: gd.svc.catalog.renditions(v.id) for v in history.versions}
    scans = [v for v in history.versions if ocr.may_need_ocr(v)]
    queue = gd.svc.index.ocr
    read = {v.id: info for v in scans if queue is not None and (info := queue.info(v.sha256)) is not None}
    return DocumentView(
        history,
        renditions,
        _revisable_template(gd, history.versions),
        background.rendition_jobs(gd.svc, [v for v in history.versions if v.media_type == DOCX]),
        read,
        ocr.latest_jobs(gd.svc, scans),
        gd.svc.index.extraction_statuses(history.versions),
    )


def _revisable_template(gd: Guard, versions: list[Version]) -> Template | None:
    if not gd.p.can(Permission.GENERATE):
        return None
    made = _last_generated(versions)
    if made is None:
        return None
    try:
        return gd.svc.templates.get(made.provenance["template"])
    except NotFound:  # the template was registered under another archive's catalog
        return None


def preview(svc: Services, template: Template | str, data: Mapping[str, Any]) -> Preview:
    """Render without archiving (nothing is stored or logged): the DOCX and its text."""
    rendered = svc.templates.render_draft(svc.templates.prepare(template, data))
    try:
        return Preview(rendered, docx_blocks(rendered.docx, limits=svc.archive.package_limits))
    except TooLargeToShow:
        return Preview(
            rendered,
            None,
            "文档过大，无法在页面上预览，请下载预览 DOCX。",
            "The document is too large to preview on the page; download the preview DOCX.",
        )
    except DocsvcError as exc:
        return Preview(rendered, None, f"无法读取预览：{exc.zh}", f"The preview could not be read: {exc.en}")


def revision(svc: Services, doc: Document) -> Revision:
    """The form data of the document's latest generated version, to edit into a new version."""
    document_id = doc.id
    made = _last_generated(svc.catalog.versions(document_id))
    if made is None:
        raise InvalidInput(
            f"文档 {document_id} 不是由模板生成的，无法按模板修订。请上传新版本。",
            f"Document {document_id} was not generated from a template; upload a new version instead.",
            field="document_id",
        )
    template = svc.templates.get(made.provenance["template"])
    data = made.provenance.get("data")
    return Revision(doc, made, template, dict(data) if isinstance(data, Mapping) else {})


def audit_page(svc: Services, f: reports.AuditFilter, *, limit: int, offset: int) -> AuditPage:
    """A page of the audit log matching ``f`` (limit and offset already bounded by the Guard)."""
    if f.actor:
        refuse_controls(f.actor, "actor", "操作人")  # PostgreSQL cannot even compare a NUL
    if f.since and f.until and f.until < f.since:
        raise InvalidInput("结束日期不能早于开始日期。", "The end date cannot be before the start date.", field="until")
    with svc.catalog.reading() as conn:
        entries, total = reports.audit_page(conn, f, limit=limit, offset=offset)
    return AuditPage(entries, total, limit, offset)


def health(svc: Services) -> Health:
    """The health page: schema, counts, audit head, index, converter, jobs, blobs, intake."""
    current, head = svc.catalog.schema_revision()
    blobs = svc.blobs.status()
    audit_head = svc.catalog.audit_head()  # None: deleted, and writes are refused
    return Health(
        current == head and blobs["ok"] and audit_head is not None,
        current,
        head,
        svc.catalog.counts(),
        audit_head[0] if audit_head else -1,
        svc.users.count(),
        index=svc.index.status(),
        indexer=svc.indexer.status() if svc.indexer else writer_status(svc.index.state_dir),
        converter=svc.converter.health(),
        jobs=svc.jobs.overview(),
        runner=svc.job_runner.status() if svc.job_runner else None,
        reviews=background.reminders_summary(svc),
        blobs=blobs,
        intake=_intake_status(svc),
    )


def _intake_status(svc: Services) -> dict[str, Any] | None:
    if svc.intake is not None:
        return svc.intake.status()
    folder = str(svc.settings.get("INTAKE_DIR") or "")
    # Set, but watched by another process of this server (the parent of --workers) or not at all.
    return {"folder": folder, "running": None} if folder else None


def _last_generated(versions: list[Version]) -> Version | None:
    """The newest version made from a template (a later upload does not end the document's
    template history)."""
    return next((v for v in reversed(versions) if v.provenance.get("template")), None)
