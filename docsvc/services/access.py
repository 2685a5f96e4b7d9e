"""The one gate between a person and the archive: every use case, checked against the role rules.

The web UI, the REST API and the CLI call a :class:`Guard` made for the principal of the request
(``svc.guard(principal)``), so all three doors apply the same rules (declared in
:mod:`docsvc.services.users`). A refusal is always written to the audit log first
(``access.denied``, ISO 27001 A.12.4.1), then raised:

- a document the principal may not read answers exactly like a document that does not exist
  (404, same message), so ids cannot be probed (IDOR);
- an action the role may not take at all answers 403 (an auditor writing, a member opening the
  audit log).

The Guard is policy: each method checks, then delegates to the service that does the work. The
records the pages show (a document page, a comparison, a preview, the audit log's page, the
health page …) are gathered in :mod:`docsvc.services.pages`, called only from here after the check.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import IO, TYPE_CHECKING, Any, NoReturn

from docsvc.adapters import reports
from docsvc.adapters.catalog import Rendition
from docsvc.adapters.jobs import Job, JobState
from docsvc.adapters.reports import AuditFilter
from docsvc.adapters.thumbnails import ThumbnailRecord
from docsvc.core.audit import AuditEntry, VerifyResult
from docsvc.core.classify import Suggestion
from docsvc.core.content import PDF
from docsvc.core.inputs import MAX_OFFSET, parse_int
from docsvc.core.model import AuditAction, Document, Metadata, Version, VersionSource, Vocabulary
from docsvc.core.schema import load_schema
from docsvc.core.search import Hit, SearchRequest, SearchResult
from docsvc.core.synonyms import SynonymTable
from docsvc.core.tabular import Row
from docsvc.core.templating import LintReport
from docsvc.errors import Forbidden, InvalidInput, NotFound
from docsvc.services import background, batch, dashboard, export, ocr, pages, selection, similar, thumbnails
from docsvc.services.archive import AddResult, History
from docsvc.services.background import RenditionRequest
from docsvc.services.classify import ReviewItem, ReviewPage
from docsvc.services.dashboard import Dashboard
from docsvc.services.fields import Fields
from docsvc.services.integrity import CheckReport
from docsvc.services.pages import AuditPage, Comparison, DocumentView, Health, Preview, Revision
from docsvc.services.reports import ReportRequest
from docsvc.services.templates import REPORT_TEMPLATES, BatchItem, BatchResult, Draft, Template
from docsvc.services.terms import TermKind, Terms
from docsvc.services.users import (
    ApiToken,
    IssuedToken,
    Permission,
    Principal,
    Role,
    User,
    can_read,
)
from docsvc.services.views import Views

if TYPE_CHECKING:
    from docsvc.adapters.catalog import DocumentPage
    from docsvc.services.container import Services

log = logging.getLogger(__name__)

MAX_AUDIT_PAGE = 500
# Renditions a caller may ask for by a short name (URLs say .../renditions/pdf), with the file
# name extension each is handed out under: 合同.pdf, and 扫描件.ocr.pdf for a scan's searchable PDF.
RENDITION_KINDS = {"pdf": "pdf", "ocr-pdf": "ocr.pdf"}

# What each refused operation is called in a message (the audit log keeps the code).
OPERATIONS: dict[str, tuple[str, str]] = {
    "add_template": ("新增模板版本", "add a template version"),
    "add_version": ("上传新版本", "add a version"),
    "change_view": ("修改他人保存的视图", "change another user's saved view"),
    "compare": ("比较版本", "compare versions"),
    "confirm_labels": ("确认分类", "confirm labels"),
    "dashboard": ("查看仪表板", "see the dashboard"),
    "delete_view": ("删除他人保存的视图", "delete another user's saved view"),
    "create_user": ("创建用户", "create users"),
    "download": ("下载", "download"),
    "edit_form": ("编辑元数据", "edit metadata"),
    "export_bundle": ("导出审计包", "export an audit bundle"),
    "gc": ("清理孤立文件", "remove orphan files"),
    "generate": ("按模板生成文档", "generate documents"),
    "generate_form": ("填写模板表单", "fill in a template"),
    "generate_batch": ("批量生成文档", "generate documents in a batch"),
    "import": ("批量导入", "bulk-import documents"),
    "index_check": ("检查搜索索引", "check the search index"),
    "index_rebuild": ("重建搜索索引", "rebuild the search index"),
    "index_sync": ("同步搜索索引", "sync the search index"),
    "init": ("初始化归档", "initialise the archive"),
    "integrity_check": ("完整性检查", "run the integrity check"),
    "issue_token": ("签发令牌", "issue tokens"),
    "lint_template": ("检查模板", "lint templates"),
    "list_documents": ("查看文档列表", "list documents"),
    "list_jobs": ("查看任务队列", "list jobs"),
    "list_template_versions": ("查看模板版本", "list template versions"),
    "list_templates": ("查看模板", "list templates"),
    "list_users": ("查看用户", "list users"),
    "list_views": ("查看保存的视图", "list saved views"),
    "migrate_blobs": ("迁移归档文件", "migrate the archive's files"),
    "preview_template": ("预览模板", "preview a template"),
    "read_audit_log": ("查看审计日志", "read the audit log"),
    "read_document": ("查看文档", "read documents"),
    "read_health": ("查看系统状态", "read the system health"),
    "read_history": ("查看历史", "read the history"),
    "read_job": ("查看任务", "read jobs"),
    "read_template": ("查看模板", "read templates"),
    "read_user": ("查看用户", "read users"),
    "read_view": ("查看保存的视图", "read saved views"),
    "request_deletion": ("申请删除", "request a deletion"),
    "request_rendition": ("生成 PDF", "request a PDF"),
    "reset_password": ("重置密码", "reset passwords"),
    "review_labels": ("复核分类", "review labels"),
    "revise": ("生成修订版", "revise from a template"),
    "revoke_token": ("吊销令牌", "revoke tokens"),
    "save_view": ("保存视图", "save views"),
    "search": ("搜索", "search"),
    "see_synonyms": ("查看检索同义词", "see the search synonyms"),
    "serve": ("启动 Web 服务", "run the web service"),
    "set_metadata": ("修改元数据", "change metadata"),
    "similar_documents": ("查看相似文档", "see similar documents"),
    "suggest_labels": ("建议分类", "suggest labels"),
    "train_classifier": ("训练分类模型", "train the classifier"),
    "unlock_user": ("解除锁定", "unlock accounts"),
    "update_user": ("修改用户", "change users"),
    "upload": ("上传文档", "upload documents"),
    "upload_form": ("上传文档", "upload documents"),
    "verify_audit_chain": ("校验审计链", "verify the audit chain"),
    "watch": ("监视收件文件夹", "watch the intake folder"),
    "write_checkpoint": ("签署审计检查点", "sign audit checkpoints"),
    **{
        f"{op}_{kind}": (f"{zh}{kind_zh}", f"{en} {kind_en}")
        for kind, kind_zh, kind_en in (("tag", "标签", "tags"), ("counterparty", "相对方", "counterparties"))
        for op, zh, en in (
            ("list", "管理", "manage"),
            ("create", "新建", "create"),
            ("rename", "重命名", "rename"),
            ("merge", "合并", "merge"),
            ("recolour", "修改颜色：", "recolour"),
            ("remove", "删除", "remove"),
            ("suggest", "查询", "look up"),
        )
    },
    "list_fields": ("查看自定义字段", "list custom fields"),
    "create_field": ("新建自定义字段", "define custom fields"),
    "edit_field": ("修改自定义字段", "change custom fields"),
    "retire_field": ("停用自定义字段", "retire custom fields"),
    "restore_field": ("恢复自定义字段", "restore custom fields"),
}


def operation_label(code: str) -> tuple[str, str]:
    """(Chinese, English) name of an operation code; an unknown code names itself."""
    return OPERATIONS.get(code, (code, code))


def _page_bounds(limit: int, offset: int) -> None:
    """A page of the audit log or the job queue: at most MAX_AUDIT_PAGE entries, from offset."""
    parse_int(limit, "limit", high=MAX_AUDIT_PAGE, from_text=False)
    parse_int(offset, "offset", low=0, high=MAX_OFFSET, from_text=False)


# A valid value for every required field, so each submitted field can be checked on its own.
_NEUTRAL = {"title": "-", "doc_type": "other", "service_category": "4.1", "doc_class": "user"}


def check_metadata(data: Mapping[str, Any], vocab: Vocabulary, base: Mapping[str, Any] | None = None) -> Metadata:
    """Parse ``base`` updated with ``data``; on failure raise one InvalidInput whose
    ``details["errors"]`` lists every bad field (so a form can mark each one)."""
    problems: dict[str, InvalidInput] = {}
    for name, value in data.items():
        try:
            Metadata.parse({**_NEUTRAL, name: value}, vocab)
        except InvalidInput as exc:
            problems.setdefault(exc.field or name, exc)
    if not problems:
        try:
            return Metadata.parse({**(base or {}), **data}, vocab)
        except InvalidInput as exc:
            problems[exc.field or ""] = exc
    first = next(iter(problems.values()))
    raise InvalidInput(
        first.zh,
        first.en,
        field=first.field,
        details={**first.details, "errors": [{"field": f, "zh": e.zh, "en": e.en} for f, e in problems.items()]},
    )


@dataclass(frozen=True)
class Generated:
    """A generated document version and the renditions archived with it (the PDF)."""

    result: AddResult
    renditions: list[Rendition]


@dataclass(frozen=True)
class TemplateAdded:
    template: Template
    created: bool  # False when docx and schema equal the latest version: nothing was added


class Guard:
    """The archive as one principal may use it."""

    def __init__(self, svc: Services, principal: Principal) -> None:
        self.svc = svc
        self.p = principal

    # -- refusals ---------------------------------------------------------------------------
    def _deny(
        self,
        operation: str,
        *,
        permission: Permission | None = None,
        document_id: int | None = None,
        hide: bool = False,
    ) -> NoReturn:
        with self.svc.catalog.transaction() as tx:
            tx.append_audit(
                self.p.username,
                AuditAction.ACCESS_DENIED,
                document_id=document_id,
                details={
                    "operation": operation,
                    "permission": permission.value if permission else None,
                    "role": self.p.role.value,
                    "via": self.p.via,
                },
            )
        self._log_denied(operation, permission, document_id)
        if hide:
            raise self._missing(document_id)
        zh, en = operation_label(operation)
        raise Forbidden(
            f"您的角色（{self.p.role.zh}）无权{zh}。此次尝试已记入审计日志。",
            f"Your role ({self.p.role.en}) may not {en}. The attempt has been logged.",
            details={"operation": operation, "permission": permission.value if permission else None},
        )

    def _log_denied(self, operation: str, permission: Permission | None, document_id: int | None) -> None:
        log.warning(
            "access denied: %s may not %s",
            self.p.username,
            operation,
            extra={
                "user": self.p.username,
                "user_id": self.p.user_id,
                "role": self.p.role.value,
                "via": self.p.via,
                "operation": operation,
                "permission": permission.value if permission else None,
                "document_id": document_id,
            },
        )

    @staticmethod
    def _missing(document_id: int | None) -> NotFound:
        return NotFound(f"文档 {document_id} 不存在。", f"Document {document_id} does not exist.")

    def require(self, permission: Permission, operation: str, *, document_id: int | None = None) -> None:
        if not self.p.can(permission):
            self._deny(operation, permission=permission, document_id=document_id)

    def _readable(self, document_id: int, operation: str) -> Document:
        doc = self.svc.catalog.get_document(document_id)
        if doc is None:
            raise self._missing(document_id)
        if not can_read(self.p, doc):
            self._deny(operation, permission=Permission.READ, document_id=document_id, hide=True)
        return doc

    def _writable(self, document_id: int, operation: str) -> Document:
        self.require(Permission.WRITE, operation, document_id=document_id)
        return self._readable(document_id, operation)

    def _keeps_access(self, doc: Document, operation: str) -> None:
        """A writer may not file a document where they could no longer read it (an on-site
        document into a project they are not a member of)."""
        if not can_read(self.p, doc):
            with self.svc.catalog.transaction() as tx:
                tx.append_audit(
                    self.p.username,
                    AuditAction.ACCESS_DENIED,
                    document_id=doc.id or None,
                    details={
                        "operation": operation,
                        "permission": Permission.READ_ALL_SITES.value,
                        "role": self.p.role.value,
                        "via": self.p.via,
                        "project": doc.metadata.project,
                    },
                )
            self._log_denied(operation, Permission.READ_ALL_SITES, doc.id or None)
            project = doc.metadata.project or "（无 / none）"
            raise Forbidden(
                f"您不是项目“{project}”的成员，不能在该项目中存放现场文档（9.2）。此次尝试已记入审计日志。",
                f"You are not a member of project '{project}', so you cannot file on-site (9.2) "
                "documents there. The attempt has been logged.",
                field="project",
            )

    # -- documents: reads -------------------------------------------------------------------
    def list_documents(self, params: Mapping[str, Any]) -> DocumentPage:
        self.require(Permission.READ, "list_documents")
        return self.svc.archive.list_documents(params, site_projects=self.p.site_projects)

    def dashboard(self, today: dt.date) -> Dashboard:
        """The home page's read model (docsvc.services.dashboard), all of it what this principal may read."""
        self.require(Permission.READ, "dashboard")
        return dashboard.build(self, today)

    @property
    def views(self) -> Views:
        """Saved views (docsvc.services.views): this principal's and the shared ones."""
        return Views(self)

    @property
    def fields(self) -> Fields:
        """Custom field definitions per document type (docsvc.services.fields)."""
        return Fields(self)

    def terms(self, kind: TermKind | str) -> Terms:
        """The tag or counterparty catalog (docsvc.services.terms)."""
        return Terms(self, TermKind(kind))

    def document(self, document_id: int) -> Document:
        return self._readable(document_id, "read_document")

    def show(self, document_id: int) -> tuple[Document, list[Version]]:
        doc = self._readable(document_id, "read_document")
        return doc, self.svc.catalog.versions(document_id)

    def history(self, document_id: int) -> History:
        self._readable(document_id, "read_history")
        return self.svc.archive.history(document_id)

    def read_version(self, document_id: int, number: int | None = None) -> tuple[Version, bytes]:
        self._readable(document_id, "download")
        return self.svc.archive.read_version(document_id, number, actor=self.p.username)

    def compare(self, document_id: int, a: int | None, b: int | None) -> Comparison:
        return pages.comparison(self, self._readable(document_id, "compare"), a, b)

    def document_view(self, document_id: int) -> DocumentView:
        self._readable(document_id, "read_document")
        return pages.document_view(self, document_id)

    def read_rendition(self, document_id: int, number: int, kind: str) -> tuple[Version, Rendition, bytes]:
        """A stored rendition (the PDF made with a generated version), verified like a version
        download and audited as one."""
        self._readable(document_id, "download")
        version = self.svc.archive.version(document_id, number)
        number = version.number
        rendition = next((r for r in self.svc.catalog.renditions(version.id) if r.kind == kind), None)
        if rendition is None:
            raise NotFound(
                f"文档 {document_id} 第 {number} 版没有 {kind.upper()} 格式的文件。",
                f"Document {document_id} version {number} has no {kind.upper()} rendition.",
                field="kind",
            )
        data = self._rendition_bytes(document_id, number, rendition, AuditAction.VERSION_DOWNLOADED)
        return version, rendition, data

    def _rendition_bytes(self, document_id: int, number: int, rendition: Rendition, action: AuditAction) -> bytes:
        """A rendition's bytes, re-hashed by the store, and the read audited as ``action``."""
        data = self.svc.blobs.read(rendition.sha256)
        with self.svc.catalog.transaction() as tx:
            tx.append_audit(
                self.p.username,
                action,
                document_id=document_id,
                version=number,
                details={"sha256": rendition.sha256, "rendition": rendition.media_type},
            )
        return data

    def thumbnail(self, document_id: int, number: int) -> tuple[Version, ThumbnailRecord]:
        """The first-page thumbnail of a version, for whoever may read the document (an on-site
        document's only for its project's members: NotFound to anyone else, as the document
        itself). Not audited: it is derived data shown in lists, not a read of the file."""
        self._readable(document_id, "thumbnail")
        version = self.svc.archive.version(document_id, number)
        kept = thumbnails.stored(self.svc, version.sha256)
        if kept is None or kept.data is None:
            raise NotFound(
                f"文档 {document_id} 第 {number} 版的缩略图尚未生成或无法生成。",
                f"Document {document_id} version {number} has no thumbnail (not made yet, or it cannot be made).",
                field="number",
            )
        return version, kept

    def thumbnails(self, docs: Sequence[Document]) -> dict[int, thumbnails.DocThumb]:
        """The thumbnails of the latest versions of documents this principal was shown."""
        return thumbnails.for_documents(self.svc, [d for d in docs if can_read(self.p, d)])

    def thumbnail_states(self, hits: Sequence[Hit]) -> dict[str, str]:
        """sha256 → thumbnail state, for search hits (already filtered for this principal)."""
        return thumbnails.states(self.svc, [h.sha256 for h in hits])

    def pdf_to_view(self, document_id: int, number: int) -> tuple[Version, str, bytes]:
        """The PDF of a version for the in-browser viewer: the version itself when it is a PDF,
        else its PDF rendition; (version, sha256, bytes), verified by the store and audited as a
        view of the version."""
        self._readable(document_id, "view_pdf")
        version = self.svc.archive.version(document_id, number)
        if version.media_type == PDF:
            _, data = self.svc.archive.read_version(
                document_id, number, actor=self.p.username, action=AuditAction.VERSION_VIEWED
            )
            return version, version.sha256, data
        rendition = next((r for r in self.svc.catalog.renditions(version.id) if r.media_type == PDF), None)
        if rendition is None:
            raise NotFound(
                f"文档 {document_id} 第 {number} 版没有 PDF 格式的文件。",
                f"Document {document_id} version {number} has no PDF rendition.",
                field="number",
            )
        return (
            version,
            rendition.sha256,
            self._rendition_bytes(document_id, number, rendition, AuditAction.VERSION_VIEWED),
        )

    def request_rendition(self, document_id: int, number: int | None, kind: str = "pdf") -> RenditionRequest:
        """Ask for a rendition (the PDF) of a DOCX version: the stored one if it exists, else the
        job that makes it (the same job when asked again meanwhile). Whoever may download the
        version may ask: the PDF is the same content, and the version itself is not changed."""
        self._readable(document_id, "request_rendition")
        return background.request_rendition(self.svc, document_id, number, kind, actor=self.p.username)

    def ocr_status(self, document_id: int, number: int | None = None) -> tuple[Version, str, Any, Job | None]:
        """How a version's text was read: its status ("ocr_pending", "ok" …), the OCR record
        (engine, version, confidence per page) when OCR read it, and the newest OCR job."""
        self._readable(document_id, "read_document")
        version = self.svc.archive.version(document_id, number)
        status = self.svc.index.extraction_statuses([version])[version.id]
        queue = self.svc.index.ocr
        info = queue.info(version.sha256) if queue is not None and ocr.may_need_ocr(version) else None
        return version, status, info, ocr.latest_jobs(self.svc, [version]).get(version.id)

    def rerun_ocr(self, document_id: int, number: int | None = None) -> tuple[Version, Job, bool]:
        """Read a scan's text again (managers: after the engine improved, or a page was
        skipped): the OCR job of its content, queued now, or the one already queued."""
        self.require(Permission.RERUN_OCR, "rerun_ocr", document_id=document_id)
        self._readable(document_id, "rerun_ocr")
        version = self.svc.archive.version(document_id, number)
        if self.svc.index.ocr is None or not self.svc.index.ocr.needs_ocr(version):
            raise InvalidInput(
                f"文档 {document_id} 第 {version.number} 版有文本层，不需要 OCR；只有扫描件（无文本层的 PDF）和图片可以识别。",
                f"Document {document_id} version {version.number} has a text layer and needs no OCR; only scans "
                "(PDFs without a text layer) and images are read by OCR.",
                field="version",
            )
        job, created = ocr.request(self.svc, version, actor=self.p.username, force=True)
        return version, job, created

    def job(self, job_id: int) -> Job:
        """A job's state: a rendition job for whoever may read its document, any other job for
        those who may see the system's health. A job of a document the principal may not read
        answers like a job that does not exist."""
        job = self.svc.jobs.get(job_id)
        if job.kind == batch.BATCH_JOB and job.created_by == self.p.username:
            return job  # one's own batch
        document_id = job.payload.get("document_id") if job.kind in (background.RENDITION_PDF, ocr.OCR_JOB) else None
        if document_id is None:
            self.require(Permission.AUDIT, "read_job")
            return job
        try:
            self._readable(int(document_id), "read_job")
        except NotFound:
            raise NotFound(f"任务 {job_id} 不存在。", f"Job {job_id} does not exist.", field="job_id") from None
        return job

    def jobs(
        self, *, state: str | None = None, kind: str | None = None, limit: int = 50, offset: int = 0
    ) -> tuple[list[Job], int]:
        """The job queue, newest first (those who may see the system's health)."""
        self.require(Permission.AUDIT, "list_jobs")
        states = {s.value for s in JobState}
        if state and state not in states:
            raise InvalidInput(
                f"未知任务状态“{state}”，可选：{', '.join(sorted(states))}。",
                f"Unknown job state '{state}'; use one of {', '.join(sorted(states))}.",
                field="state",
            )
        _page_bounds(limit, offset)
        return self.svc.jobs.store.list_jobs(state=state, kind=kind, limit=limit, offset=offset)

    def wait_job(self, job_id: int) -> Job:
        """Wait for a job this principal may see (:meth:`job`) to finish; with no server to
        take it, it runs in this process (a CLI's ``--wait``)."""
        self.job(job_id)
        return self.svc.jobs.wait(job_id)

    def today(self) -> dt.date:
        """Today in the archive's time zone (DOCSVC_TIMEZONE), as report periods and deadlines
        count days; the same for every face, whatever the server's own clock zone."""
        return dt.datetime.now(self.svc.reports.tz).date()

    # -- search -----------------------------------------------------------------------------
    def synonyms(self) -> SynonymTable:
        """The synonyms table searches expand with (DOCSVC_SYNONYMS_FILE): whoever may search may
        see what their words are expanded to."""
        self.require(Permission.READ, "see_synonyms")
        return self.svc.index.synonyms

    def search(self, request: SearchRequest) -> SearchResult:
        """Full-text search over what this principal may read: on-site documents (9.2) of other
        projects are filtered inside the index, so they are absent from hits, totals and facets."""
        self.require(Permission.READ, "search")
        return self.svc.index.search(replace(request, site_projects=self.p.site_projects))

    def similar(self, document_id: int, limit: Any = similar.DEFAULT_LIMIT) -> list[Hit]:
        """Documents like this one (docsvc.services.similar), found by :meth:`search` as this
        principal, so they are exactly what a search would show them; never the document
        itself. A document they may not read answers like a missing one."""
        limit = similar.check_limit(limit)
        doc = self._readable(document_id, "similar_documents")
        latest = self.svc.catalog.get_version(document_id, doc.latest_version)
        content = self.svc.index.cached_text(latest) if latest is not None else ""
        query = similar.similar_query(doc.metadata.title, content, self.svc.index)
        if not query:
            return []
        return similar.others(self.search(similar.similar_request(query, limit)).hits, document_id, limit)

    # -- documents: writes ------------------------------------------------------------------
    def editable(self, document_id: int) -> Document:
        """The document, if this principal may change it (for showing an edit form)."""
        return self._writable(document_id, "edit_form")

    def add_document(
        self,
        data: bytes,
        filename: str,
        metadata: Mapping[str, Any],
        *,
        reason: str = "",
        source: VersionSource = VersionSource.UPLOAD,
        provenance: Mapping[str, Any] | None = None,
    ) -> AddResult:
        """Archive a new document; the type, category and project left out are suggested from
        its content (``AddResult.suggested``), and a low-confidence suggestion goes on the
        review list."""
        self.require(Permission.WRITE, "upload")
        metadata, suggested = self.svc.classifier.label_upload(
            data, filename, metadata, known_projects=self._suggestable_projects()
        )
        meta = check_metadata(metadata, self.svc.vocab, {"owner": self.p.username})
        self._keeps_access(
            Document(0, meta, dt.datetime.now(dt.UTC), self.p.username, dt.datetime.now(dt.UTC), 0), "upload"
        )
        return self.svc.archive.add_document(
            data,
            filename,
            metadata,
            actor=self.p.username,
            reason=reason,
            source=source,
            provenance=provenance,
            suggested=suggested,
        )

    def _suggestable_projects(self) -> list[str] | None:
        """Projects a suggestion may name: one's own, for those who may file on-site documents
        only there (None: every project of the archive)."""
        return None if self.p.site_projects is None else sorted(self.p.site_projects)

    def suggest_labels(self, data: bytes, filename: str, title: str) -> Suggestion:
        """What an upload of this file would be labelled, before it is archived (nothing is
        stored but its extracted text, which the archiving reuses)."""
        self.require(Permission.WRITE, "suggest_labels")
        return self.svc.classifier.suggest_upload(data, filename, title, known_projects=self._suggestable_projects())

    def suggest_document(self, document_id: int) -> Suggestion:
        """What the classifier would label an archived document now (nothing is changed)."""
        self._readable(document_id, "suggest_labels")
        return self.svc.classifier.suggest_document(document_id)

    def review_list(self, *, all_pending: bool = False, limit: int | None = None) -> list[ReviewItem]:
        """Suggested labels waiting for a person, of the documents this principal may read."""
        self.require(Permission.READ, "review_labels")
        return self.svc.classifier.review_list(all_pending=all_pending, site_projects=self.p.site_projects, limit=limit)

    def review_count(self, *, all_pending: bool = False) -> int:
        """How many suggested labels wait for a person, of the documents this principal may read."""
        self.require(Permission.READ, "review_labels")
        return self.svc.classifier.review_count(all_pending=all_pending, site_projects=self.p.site_projects)

    def review_page(self, *, all_pending: bool = False, limit: int) -> ReviewPage:
        """The oldest ``limit`` suggested labels waiting, of the documents this principal may
        read, and how many wait in all: what the dashboard, the review page, the API and
        ``docsvc labels review`` show."""
        self.require(Permission.READ, "review_labels")
        return self.svc.classifier.review_page(all_pending=all_pending, site_projects=self.p.site_projects, limit=limit)

    def confirm_labels(self, document_id: int, changes: Mapping[str, Any]) -> Document:
        """Accept (no changes) or correct a document's suggested labels; either teaches the
        classifier (the document joins its training set)."""
        doc = self._writable(document_id, "confirm_labels")
        if changes:
            new = check_metadata(changes, self.svc.vocab, doc.metadata.to_dict())
            self._keeps_access(replace(doc, metadata=new), "confirm_labels")
        return self.svc.archive.confirm_labels(document_id, changes, actor=self.p.username)

    def add_version(
        self, document_id: int, data: bytes, filename: str, *, reason: str, metadata: Mapping[str, Any] | None = None
    ) -> AddResult:
        doc = self._writable(document_id, "add_version")
        if metadata:
            new = check_metadata(metadata, self.svc.vocab, doc.metadata.to_dict())
            self._keeps_access(replace(doc, metadata=new), "add_version")
        return self.svc.archive.add_version(
            document_id, data, filename, actor=self.p.username, reason=reason, metadata=metadata
        )

    def set_metadata(self, document_id: int, changes: Mapping[str, Any], *, reason: str = "") -> Document:
        doc = self._writable(document_id, "set_metadata")
        if changes:
            new = check_metadata(changes, self.svc.vocab, doc.metadata.to_dict())
            self._keeps_access(replace(doc, metadata=new), "set_metadata")
        return self.svc.archive.set_metadata(document_id, changes, actor=self.p.username, reason=reason)

    def bulk_set(self, ids: Sequence[int], change: selection.BulkChange) -> selection.BulkReport:
        """One change made to each selected document by :meth:`set_metadata` (its checks, its
        audit entry): per document changed, unchanged or refused with the reason. The ids and the
        values are checked first (400, nothing changed)."""
        self._selection_size(ids)
        check_metadata(change.fields, self.svc.vocab, _NEUTRAL)
        for tags in (change.add_tags, change.remove_tags):
            if tags:
                check_metadata({"tags": list(tags)}, self.svc.vocab, _NEUTRAL)
        return selection.apply(self, selection.selected(self, ids), change)

    def selection_zip(self, ids: Sequence[int], out: IO[bytes]) -> selection.ZipSummary:
        """The latest version of each selected document in one ZIP, each read audited as a
        download; too many or too large is refused before anything is read."""
        self._selection_size(ids)
        self.require(Permission.READ, "download")
        chosen = selection.latest_versions(
            self, selection.selected(self, ids), max_bytes=self.svc.settings["BULK_ZIP_MAX_BYTES"]
        )
        return selection.write_zip(self, chosen, out)

    def _selection_size(self, ids: Sequence[int]) -> None:
        # Callers parse with selection.parse_ids; this holds for any other caller too.
        selection.parse_ids(list(ids), limit=self.svc.settings["BULK_MAX_DOCUMENTS"], from_text=False)

    def request_deletion(self, document_id: int, *, reason: str) -> NoReturn:
        self._writable(document_id, "request_deletion")
        self.svc.archive.request_deletion(document_id, actor=self.p.username, reason=reason)
        raise AssertionError("request_deletion always refuses")  # pragma: no cover

    # -- Word templates ---------------------------------------------------------------------
    def templates(self) -> list[Template]:
        """The templates one drafts from (the management reports' own are filled by the report
        service and listed on the reports page)."""
        self.require(Permission.READ, "list_templates")
        return [t for t in self.svc.templates.list() if t.slug not in REPORT_TEMPLATES]

    def template(self, slug: str, *, version: int | None = None) -> Template:
        self.require(Permission.READ, "read_template")
        return self.svc.templates.get(slug, version)

    def drafting_template(self, slug: str, *, version: int | None = None) -> Template:
        """The template, for someone about to fill it in (drafters, managers, administrators)."""
        self.require(Permission.GENERATE, "generate_form")
        return self.svc.templates.get(slug, version)

    def template_versions(self, slug: str) -> list[Template]:
        """Every version of a template with its stored lint report (template managers)."""
        self.require(Permission.MANAGE_TEMPLATES, "list_template_versions")
        return self.svc.templates.versions(slug)

    def lint_template(self, docx: bytes, schema_source: Mapping[str, Any] | None) -> LintReport:
        """Check a Word template (and its field schema) without registering it."""
        self.require(Permission.READ, "lint_template")
        schema = load_schema(schema_source, doc_types=self.svc.vocab.doc_types) if schema_source is not None else None
        return self.svc.templates.lint(docx, schema)

    def draft_template_schema(self, docx: bytes, *, slug: str, name_zh: str) -> dict[str, Any]:
        """A first field schema for a new template, drafted from its tags (nothing registered)."""
        self.require(Permission.MANAGE_TEMPLATES, "add_template")
        return self.svc.templates.draft_schema(docx, slug=slug, name_zh=name_zh)

    def add_template(
        self, docx: bytes, schema_source: Mapping[str, Any] | None, *, slug: str | None = None
    ) -> TemplateAdded:
        """Lint and register a template version; refused (TemplateError with the lint report)
        when lint fails."""
        self.require(Permission.MANAGE_TEMPLATES, "add_template")
        before = {r.id for r in self.svc.catalog.templates()}
        tpl = self.svc.templates.add(docx, schema_source, actor=self.p.username, slug=slug or None)
        return TemplateAdded(tpl, tpl.record.id not in before)

    def preview(self, template: Template | str, data: Mapping[str, Any]) -> Preview:
        """Render without archiving (nothing is stored or logged): the DOCX and its text."""
        self.require(Permission.GENERATE, "preview_template")
        return pages.preview(self.svc, template, data)

    def generate(
        self,
        template: Template | str,
        data: Mapping[str, Any],
        *,
        pdf: bool = False,
        pdf_a: bool = False,
        document_id: int | None = None,
        reason: str = "",
    ) -> Generated:
        """Fill a template (a Template already loaded, or its slug) into a new document, or
        (``document_id``) into a new version of a document made from it: one
        :meth:`TemplateService.prepare` (every form error at once), then the archive. The
        resulting metadata must leave the document readable by the drafter (an on-site document
        only in their own projects)."""
        draft = self.prepare(template, data, document_id=document_id, reason=reason)
        return self.generate_draft(draft, pdf=pdf, pdf_a=pdf_a)

    def prepare(
        self,
        template: Template | str,
        data: Mapping[str, Any],
        *,
        version: int | None = None,
        document_id: int | None = None,
        reason: str = "",
    ) -> Draft:
        """:meth:`generate`'s first half, for a caller that needs the draft before anything is
        archived (the CLI names its output files after the title): the form checked, nothing stored."""
        self.require(Permission.GENERATE, "generate", document_id=document_id)
        if document_id is not None:
            self._readable(document_id, "generate")
        return self.svc.templates.prepare(template, data, version=version, document_id=document_id, reason=reason)

    def generate_draft(self, draft: Draft, *, pdf: bool = False, pdf_a: bool = False) -> Generated:
        """:meth:`generate`'s second half: archive a prepared draft as this principal."""
        self.require(Permission.GENERATE, "generate", document_id=draft.document_id)
        if draft.document_id is None:
            self._may_file(draft, "generate")
        else:
            doc = self._readable(draft.document_id, "generate")
            self._keeps_access(replace(doc, metadata=doc.metadata.update(draft.metadata, self.svc.vocab)), "generate")
        result = self.svc.templates.generate_draft(draft, actor=self.p.username, pdf=pdf, pdf_a=pdf_a)
        return Generated(result, self.svc.catalog.renditions(result.version.id))

    def _may_file(self, draft: Draft, operation: str, *, record: bool = True) -> None:
        """A new document from ``draft`` must stay readable by its drafter (an on-site document
        only in their own projects). ``record`` False: a check ahead of time (a batch's rows
        before its job is queued) refuses without an audit entry; the generation itself records."""
        meta = replace(draft.parsed, owner=self.p.username)  # a template never names the owner: the drafter is
        now = dt.datetime.now(dt.UTC)
        doc = Document(0, meta, now, self.p.username, now, 0)
        if record:
            self._keeps_access(doc, operation)
        elif not can_read(self.p, doc):
            project = meta.project or "（无 / none）"
            raise Forbidden(
                f"您不是项目“{project}”的成员，不能在该项目中存放现场文档（9.2）。",
                f"You are not a member of project '{project}', so you cannot file on-site (9.2) documents there.",
                field="project",
            )

    # -- batch generation (docsvc.services.batch) ----------------------------------------------
    def batch_template(self, slug: str) -> Template:
        """A template one may generate a batch from (drafters, managers, administrators)."""
        self.require(Permission.GENERATE, "generate_batch")
        template = self.svc.templates.get(slug)
        if template.slug in REPORT_TEMPLATES:
            raise InvalidInput(
                f"模板“{slug}”是管理报告模板，不能批量填写。",
                f"'{slug}' is a management report template; it cannot be filled in a batch.",
                field="template",
            )
        return template

    def batch_skeleton(self, slug: str, fmt: str) -> batch.Skeleton:
        return batch.skeleton(self.batch_template(slug), fmt)

    def start_batch(
        self, slug: str, data: bytes, filename: str, *, pdf: bool = False, skip_invalid: bool = False
    ) -> tuple[Job, bool]:
        """Check every row of an uploaded sheet (InvalidInput listing each invalid row, nothing
        queued), then queue the job that generates them."""
        template = self.batch_template(slug)
        return batch.start(
            self.svc,
            self,
            template,
            data,
            filename,
            pdf=pdf,
            skip_invalid=skip_invalid,
            check=lambda d: self._may_file(d, "generate_batch", record=False),
        )

    def check_batch(self, template: Template, rows: Sequence[Row]) -> list[BatchItem]:
        """Every row that cannot be generated, with all its problems, before anything is (the
        CLI's batch, which generates in its own process instead of queueing a job)."""
        self.require(Permission.GENERATE, "generate_batch")
        return self.svc.templates.check_batch(
            template, rows, check=lambda d: self._may_file(d, "generate_batch", record=False)
        )

    def generate_batch(
        self,
        template: Template,
        rows: Sequence[Row],
        *,
        pdf: bool = False,
        pdf_a: bool = False,
        on_item: Callable[[BatchItem], None] | None = None,
        stop: threading.Event | None = None,
    ) -> BatchResult:
        """The batch job's generation, as its drafter: each row as :meth:`generate` would do it."""
        self.require(Permission.GENERATE, "generate_batch")
        return self.svc.templates.generate_batch(
            template,
            rows,
            actor=self.p.username,
            pdf=pdf,
            pdf_a=pdf_a,
            on_item=on_item,
            stop=stop,
            check=lambda d: self._may_file(d, "generate_batch"),
        )

    def batch(self, job_id: int) -> batch.Batch:
        """A batch's progress and results: for the drafter who started it (and those who may
        see the system's jobs); anyone else is answered as if it did not exist."""
        job = self.svc.jobs.store.get(job_id)
        if (
            job is None
            or job.kind != batch.BATCH_JOB
            or (job.created_by != self.p.username and not self.p.can(Permission.AUDIT))
        ):
            raise NotFound(f"批量生成任务 {job_id} 不存在。", f"Batch {job_id} does not exist.", field="job_id")
        return batch.view(job)

    def batch_zip(self, job_id: int, out: IO[bytes]) -> int:
        """The batch's generated files in one ZIP (each read verified and audited)."""
        return batch.write_zip(self, self.batch(job_id), out)

    def report(self, request: ReportRequest, *, pdf: bool = False, pdf_a: bool = False) -> Generated:
        """A management report over the whole archive (every project, the audit log), archived as
        a new document: for those who may read the audit log and generate documents."""
        self.require(Permission.AUDIT, f"report_{request.kind.value}")
        self.require(Permission.GENERATE, f"report_{request.kind.value}")
        result = self.svc.reports.generate(request, actor=self.p.username, pdf=pdf, pdf_a=pdf_a)
        return Generated(result, self.svc.catalog.renditions(result.version.id))

    def revision(self, document_id: int) -> Revision:
        """The form data of the document's latest generated version, to edit into a new version."""
        self.require(Permission.GENERATE, "revise", document_id=document_id)
        return pages.revision(self.svc, self._readable(document_id, "revise"))

    # -- the audit log ----------------------------------------------------------------------
    def audit_page(self, f: reports.AuditFilter, *, limit: int = 50, offset: int = 0) -> AuditPage:
        self.require(Permission.AUDIT, "read_audit_log")
        _page_bounds(limit, offset)
        return pages.audit_page(self.svc, f, limit=limit, offset=offset)

    def audit_entries(
        self, *, document_id: int | None = None, since: str | None = None, actions: Sequence[str] = ()
    ) -> Iterator[AuditEntry]:
        """The whole audit log (or one document's, since a time, of some actions), oldest first,
        streamed for an export."""
        self.require(Permission.AUDIT, "read_audit_log")
        return self.svc.catalog.audit_entries(document_id=document_id, since=since, actions=actions)

    def verify_audit(self) -> VerifyResult:
        self.require(Permission.AUDIT, "verify_audit_chain")
        return self.svc.verify_audit()

    def export_bundle(self, scope: export.BundleScope, out: IO[bytes]) -> export.BundleSummary:
        self.require(Permission.AUDIT, "export_bundle", document_id=scope.document_id)
        docs = export.documents_in_scope(self.svc.catalog, scope)
        if scope.document_id is not None:
            self._readable(scope.document_id, "export_bundle")
        readable = {d.id: d for d in docs if can_read(self.p, d)}
        return export.write_bundle(
            self.svc.catalog,
            self.svc.blobs,
            scope,
            out,
            actor=self.p.username,
            documents=readable,
            anchor=self.svc.anchor,
        )

    # -- system -----------------------------------------------------------------------------
    def health(self) -> Health:
        self.require(Permission.AUDIT, "read_health")
        return pages.health(self.svc)

    def counts(self, operation: str = "read_health") -> dict[str, int]:
        """How many documents, versions … the archive holds (the health page's figures; a
        progress bar's length, for ``operation``)."""
        self.require(Permission.AUDIT, operation)
        return self.svc.catalog.counts()

    def integrity_check(self, *, progress: Callable[[int], None] | None = None) -> CheckReport:
        self.require(Permission.AUDIT, "integrity_check")
        return self.svc.check(progress=progress)

    # -- people -----------------------------------------------------------------------------
    def users(self) -> list[User]:
        self.require(Permission.MANAGE_USERS, "list_users")
        return self.svc.users.list_users()

    def user(self, username: str) -> tuple[User, list[ApiToken]]:
        self.require(Permission.MANAGE_USERS, "read_user")
        return self.svc.users.get(username), self.svc.users.tokens(username)

    def create_user(
        self, username: str, role: str, *, password: str | None = None, display_name: str = "", projects: Any = ()
    ) -> tuple[User, str | None]:
        self.require(Permission.MANAGE_USERS, "create_user")
        return self.svc.users.create_user(
            username, role, actor=self.p.username, password=password, display_name=display_name, projects=projects
        )

    def update_user(self, username: str, **changes: Any) -> User:
        self.require(Permission.MANAGE_USERS, "update_user")
        return self.svc.users.update(username, actor=self.p.username, **changes)

    def reset_password(self, username: str, password: str) -> None:
        self.require(Permission.MANAGE_USERS, "reset_password")
        self.svc.users.set_password(username, password, actor=self.p.username)

    def login_lock(self, username: str) -> dt.datetime | None:
        """Until when ``username`` may not sign in after failed attempts (None: not locked)."""
        self.require(Permission.MANAGE_USERS, "read_user")
        return self.svc.users.lock_of(username)

    def unlock_user(self, username: str | None, *, address: str | None = None) -> bool:
        """Lift the sign-in lock of an account (or, ``address``, of a client address)."""
        self.require(Permission.MANAGE_USERS, "unlock_user")
        return self.svc.users.unlock(actor=self.p.username, username=username, address=address)

    def open_sessions(self, username: str) -> int:
        self.require(Permission.MANAGE_USERS, "read_user")
        return self.svc.users.open_sessions(username)

    def end_sessions(self, username: str) -> int:
        """End every sign-in session of ``username`` (an administrator's, or one's own)."""
        if username != self.p.username:
            self.require(Permission.MANAGE_USERS, "end_sessions")
        return self.svc.users.end_sessions(username, actor=self.p.username)

    def issue_token(self, username: str, name: str) -> IssuedToken:
        if username != self.p.username:
            self.require(Permission.MANAGE_USERS, "issue_token")
        return self.svc.users.issue_token(username, actor=self.p.username, name=name)

    def revoke_token(self, username: str, token_id: int) -> None:
        if username != self.p.username:
            self.require(Permission.MANAGE_USERS, "revoke_token")
        self.svc.users.revoke_token(username, token_id, actor=self.p.username)

    def my_account(self) -> tuple[User, list[ApiToken]]:
        return self.svc.users.get(self.p.username), self.svc.users.tokens(self.p.username)

    def change_my_password(self, current: str, new: str) -> None:
        self.svc.users.set_password(self.p.username, new, actor=self.p.username, current_password=current)


__all__ = [
    "Dashboard",
    "Generated",
    "Guard",
    "Role",
    "TemplateAdded",
    "check_metadata",
    # The records the Guard takes and returns: the faces name them from here, not from the adapters.
    "AuditFilter",
    "Job",
    "JobState",
    "Rendition",
    "ThumbnailRecord",
]
