"""Archive use cases: add documents and versions, read them back, change metadata, history.

Order of a write (guarantee 1, "durable before acknowledged"): validate everything first, then
store the blob durably, then record the version, its audit entry and its index outbox row in one
catalog transaction. A failure before the commit leaves at most an unreferenced blob, which
``docsvc check`` reports and ``docsvc gc`` removes after a grace period.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import unicodedata
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from docsvc.adapters import fields as field_store
from docsvc.adapters.catalog import FILTERABLE, SORTABLE, DocumentPage, OutboxLease, SqlCatalog, Tx
from docsvc.core.audit import AuditEntry, canonical_json
from docsvc.core.blobs import BlobStore, StoredBlob
from docsvc.core.collation import sort_key
from docsvc.core.content import PackageLimits, detect_media_type
from docsvc.core.faults import fault_point
from docsvc.core.fields import FILTER_PREFIX, FieldDefinition, apply_values, parse_filter
from docsvc.core.inputs import MAX_OFFSET, parse_int, refuse_controls
from docsvc.core.model import (
    AuditAction,
    DocClass,
    DocStatus,
    Document,
    Metadata,
    PdcaPhase,
    ServiceCategory,
    ServiceScope,
    Version,
    VersionSource,
    Vocabulary,
    parse_date,
    parse_enum,
)
from docsvc.errors import Conflict, InvalidInput, NotFound, TooLarge

MAX_FILENAME = 255
MAX_REASON = 2000
MAX_PAGE = 1000  # documents in one list page
SORT_KEYS: tuple[str, ...] = tuple(SORTABLE)  # what a document list sorts by (the API document names them)


@dataclass(frozen=True)
class RenditionInput:
    """A derived file stored with a version, e.g. the PDF of a generated DOCX."""

    media_type: str
    data: bytes
    producer: str


@dataclass(frozen=True)
class SuggestionRecord:
    """Labels docsvc suggested (not a person): recorded with the document for later review."""

    suggestion: Mapping[str, Any]  # docsvc.core.classify.Suggestion.to_dict()
    model_version: str
    needs_review: bool


@dataclass(frozen=True)
class AddResult:
    document: Document
    version: Version
    created: bool  # False when the content equals the latest version: nothing was added
    suggested: SuggestionRecord | None = None  # the labels docsvc suggested for it, if any


@dataclass(frozen=True)
class History:
    document: Document
    versions: list[Version]
    events: list[AuditEntry]


def clean_filename(name: str) -> str:
    """The original filename is metadata only. Keep what a person would recognise, drop what
    could mislead a terminal or a browser (control and bidi-override characters)."""
    name = unicodedata.normalize("NFC", name or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch) not in ("Cc", "Cf"))
    name = name.strip().strip(".")
    if len(name) > MAX_FILENAME:
        stem, dot, ext = name.rpartition(".")
        keep = ext if dot and len(ext) <= 16 else ""
        name = (stem if dot else name)[: MAX_FILENAME - len(keep) - 1] + (f".{keep}" if keep else "")
    return name or "unnamed"


def _clean_reason(reason: str) -> str:
    # Checked before anything is stored: a reason the catalog cannot hold (PostgreSQL refuses
    # NUL) must not leave a blob behind or come back as "retry later". Lines and tabs are fine
    # (the form's box is multi-line; browsers send its line breaks as CR LF).
    reason = (reason or "").replace("\r\n", "\n").replace("\r", "\n").strip()
    refuse_controls(reason, "reason", "变更原因", allowed="\t\n")
    if len(reason) > MAX_REASON:
        raise InvalidInput(
            f"变更原因过长（最多 {MAX_REASON} 个字符）。",
            f"The change reason is too long (at most {MAX_REASON} characters).",
            field="reason",
        )
    return reason


def change_reason_problem(reason: str) -> InvalidInput | None:
    """Spec 8.4.2 (change management): every new version says why it was made. The one place
    this rule and its message live; a form collects the problem with its other errors."""
    try:
        cleaned = _clean_reason(reason)
    except InvalidInput as exc:
        return exc
    if not cleaned:
        return InvalidInput(
            "新版本必须填写变更原因（规范 8.4.2 变更管理）。",
            "A new version needs a change reason (spec 8.4.2, change management).",
            field="reason",
        )
    return None


class ArchiveService:
    def __init__(
        self,
        catalog: SqlCatalog,
        blobs: BlobStore,
        vocab: Vocabulary,
        *,
        max_upload_bytes: int,
        package_limits: PackageLimits,
    ) -> None:
        self.catalog = catalog
        self.blobs = blobs
        self.vocab = vocab
        self.max_upload_bytes = max_upload_bytes
        self.package_limits = package_limits
        # Called after every committed write (the server's indexer listens here).
        self.on_commit: list[Callable[[], None]] = []

    def _committed(self) -> None:
        for hook in self.on_commit:
            hook()

    # -- checks shared by every write ---------------------------------------------------
    def inspect(self, data: bytes, filename: str) -> str:
        """Validate an upload's bytes and return its media type (decided from the content)."""
        if len(data) > self.max_upload_bytes:
            raise TooLarge(
                f"文件过大（{len(data)} 字节），上限为 {self.max_upload_bytes} 字节。",
                f"The file is too large ({len(data)} bytes); the limit is {self.max_upload_bytes} bytes.",
                field="file",
            )
        return detect_media_type(data, filename, limits=self.package_limits)

    def document(self, document_id: int) -> Document:
        doc = self.catalog.get_document(document_id)
        if doc is None:
            raise NotFound(
                f"文档 {document_id} 不存在。请用 docsvc doc list 查看现有文档。",
                f"Document {document_id} does not exist. List documents with `docsvc doc list`.",
            )
        return doc

    def version(self, document_id: int, number: int | None = None) -> Version:
        doc = self.document(document_id)
        number = doc.latest_version if number is None else number
        v = self.catalog.get_version(document_id, number)
        if v is None:
            raise NotFound(
                f"文档 {document_id} 没有第 {number} 版（共 {doc.latest_version} 版）。",
                f"Document {document_id} has no version {number} (it has {doc.latest_version}).",
            )
        return v

    @staticmethod
    def _lock(tx: Tx, document_id: int) -> Document:
        """The document under the write lock; the caller read it before (documents are never removed)."""
        doc = tx.lock_document(document_id)
        assert doc is not None, document_id
        return doc

    def _added(self, document_id: int, number: int, suggested: SuggestionRecord | None = None) -> AddResult:
        """The document and version just committed, as recorded (one read each)."""
        doc = self.document(document_id)
        version = self.catalog.get_version(document_id, number)
        assert version is not None  # committed before this read, and versions are never removed
        return AddResult(doc, version, created=True, suggested=suggested)

    def _store_renditions(self, renditions: Sequence[RenditionInput]) -> list[tuple[RenditionInput, StoredBlob]]:
        return [(r, self.blobs.put(r.data)) for r in renditions]

    # -- custom fields (docsvc.core.fields) ---------------------------------------------
    def field_definitions(self) -> list[FieldDefinition]:
        """Every custom field definition, retired ones too (read per use: an administrator may
        change them from another process at any time)."""
        with self.catalog.reading() as conn:
            return field_store.definitions(conn)

    def _with_fields(
        self, meta: Metadata, before: Metadata | None, changes: Mapping[str, Any], *, check_required: bool = True
    ) -> Metadata:
        """``meta`` with its custom field values checked and in canonical form. Required fields
        are enforced on a new document, and on an edit that changes fields or the type (so that
        a field made required later does not block, say, a status change of an older document);
        not when a suggested type is confirmed or corrected (the review list has no field inputs:
        the next edit of the fields asks for them)."""
        raw = changes.get("fields") or {}
        type_changed = before is not None and before.doc_type != meta.doc_type
        if before is not None and not raw and not type_changed:
            return replace(meta, fields=before.fields)
        definitions = self.field_definitions()
        if not definitions and not raw and (before is None or not before.fields):
            return replace(meta, fields=())
        values = apply_values(
            definitions,
            meta.doc_type,
            before.field_values if before is not None else {},
            raw if isinstance(raw, Mapping) else {},
            check_required=check_required,
            type_labels={c.code: (c.zh, c.en) for c in self.vocab.doc_types},
        )
        return replace(meta, fields=tuple(sorted(values.items())))

    def _updated(self, meta: Metadata, changes: Mapping[str, Any], *, check_required: bool = True) -> Metadata:
        """``meta`` with ``changes`` made, custom fields included (see :meth:`_with_fields`)."""
        plain = {k: v for k, v in changes.items() if k != "fields"}
        return self._with_fields(meta.update(plain, self.vocab), meta, changes, check_required=check_required)

    def _field_labels(self, values: Mapping[str, str]) -> dict[str, Any]:
        """The labels of the custom fields named, for an audit entry (the log stays readable
        after a field is relabelled or retired)."""
        if not values:
            return {}
        by_key = {d.key: d for d in self.field_definitions()}
        return {
            "field_labels": {
                k: {"zh": by_key[k].label_zh, "en": by_key[k].label_en or by_key[k].label_zh}
                for k in values
                if k in by_key
            }
        }

    def _labelled_diff(self, old: Metadata, new: Metadata) -> dict[str, dict[str, Any]]:
        """The metadata diff; each custom field's entry carries its label (zh, en)."""
        diff = old.diff(new)
        keys = [k for k in diff if k.startswith(FILTER_PREFIX)]
        if keys:
            by_key = {d.key: d for d in self.field_definitions()}
            for k in keys:
                d = by_key.get(k[len(FILTER_PREFIX) :])
                if d is not None:
                    diff[k] = {**diff[k], "label": d.label_zh, "label_en": d.label_en or d.label_zh}
        return diff

    @staticmethod
    def _reindex(tx: Tx, old: Metadata, new: Metadata, document_id: int) -> None:
        """Index a metadata change; changed field values are part of every version's indexed
        text, so then each version is indexed again (its extracted text is cached)."""
        tx.enqueue_index(document_id, None, "metadata")
        if old.fields != new.fields:
            for version_id in field_store.version_ids(tx.conn, document_id):
                tx.enqueue_index(document_id, version_id, "add")

    # -- writes -------------------------------------------------------------------------
    def add_document(
        self,
        data: bytes,
        filename: str,
        metadata: Mapping[str, Any] | Metadata,
        *,
        actor: str,
        reason: str = "",
        source: VersionSource = VersionSource.UPLOAD,
        provenance: Mapping[str, Any] | None = None,
        renditions: Sequence[RenditionInput] = (),
        suggested: SuggestionRecord | None = None,
        index_lease: OutboxLease | None = None,
    ) -> AddResult:
        """A new document and its first version. ``metadata``: raw input, or a Metadata already
        parsed (a draft's), whose owner, when it names none, is ``actor``. ``index_lease``: the
        caller indexes the version itself (a bulk import) and other indexers leave it alone
        while the lease lasts."""
        if isinstance(metadata, Metadata):
            meta = metadata if metadata.owner else replace(metadata, owner=actor)
            meta = self._with_fields(meta, None, {"fields": dict(metadata.fields)})
        else:
            meta = self._with_fields(Metadata.parse({"owner": actor, **metadata}, self.vocab), None, metadata)
        media_type = self.inspect(data, filename)
        filename = clean_filename(filename)
        reason = _clean_reason(reason) or "初始版本 / initial version"
        blob = self.blobs.put(data)
        stored = self._store_renditions(renditions)
        with self.catalog.transaction() as tx:
            doc_id = tx.insert_document(meta, actor)
            tx.append_audit(
                actor,
                AuditAction.DOCUMENT_CREATED,
                document_id=doc_id,
                details={"metadata": meta.to_dict(), **self._field_labels(meta.field_values)},
            )
            version_id = _record_version(
                tx, doc_id, 1, blob, stored, media_type, filename, actor, reason, source, provenance
            )
            if suggested is not None:
                tx.insert_suggestion(
                    doc_id,
                    version_id,
                    suggested.suggestion,
                    model_version=suggested.model_version,
                    needs_review=suggested.needs_review,
                )
                tx.append_audit(
                    "docsvc",
                    AuditAction.LABELS_SUGGESTED,
                    document_id=doc_id,
                    version=1,
                    details={"suggestion": dict(suggested.suggestion), "model": suggested.model_version},
                )
            tx.enqueue_index(doc_id, version_id, "add", lease=index_lease)
            fault_point("before_commit")
        fault_point("after_commit")
        self._committed()
        return self._added(doc_id, 1, suggested)

    def add_version(
        self,
        document_id: int,
        data: bytes,
        filename: str,
        *,
        actor: str,
        reason: str,
        source: VersionSource = VersionSource.UPLOAD,
        provenance: Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
        renditions: Sequence[RenditionInput] = (),
    ) -> AddResult:
        """A new version; ``metadata`` (optional) changes the document's metadata with it."""
        if problem := change_reason_problem(reason):
            raise problem
        reason = _clean_reason(reason)
        doc = self.document(document_id)
        new_meta = self._updated(doc.metadata, metadata) if metadata else doc.metadata
        media_type = self.inspect(data, filename)
        filename = clean_filename(filename)
        latest = self.catalog.get_version(document_id, doc.latest_version)
        if latest is not None and latest.sha256 == hashlib.sha256(data).hexdigest() and new_meta == doc.metadata:
            return AddResult(doc, latest, created=False)
        blob = self.blobs.put(data)
        stored = self._store_renditions(renditions)
        with self.catalog.transaction() as tx:
            # Re-read under the write lock: concurrent adds get n+1 and n+2, and a metadata
            # change made meanwhile is kept, not overwritten.
            current = self._lock(tx, document_id)
            number = current.latest_version + 1
            if metadata:
                doc, new_meta = current, self._updated(current.metadata, metadata)
            version_id = _record_version(
                tx, document_id, number, blob, stored, media_type, filename, actor, reason, source, provenance
            )
            if new_meta != doc.metadata:
                tx.update_metadata(document_id, new_meta)
                tx.append_audit(
                    actor,
                    AuditAction.METADATA_CHANGED,
                    document_id=document_id,
                    details={"changes": self._labelled_diff(doc.metadata, new_meta), "reason": reason},
                )
                self._reindex(tx, doc.metadata, new_meta, document_id)  # the earlier versions are relabelled too
            tx.enqueue_index(document_id, version_id, "add")
            fault_point("before_commit")
        fault_point("after_commit")
        self._committed()
        return self._added(document_id, number)

    def set_metadata(self, document_id: int, changes: Mapping[str, Any], *, actor: str, reason: str = "") -> Document:
        if not changes:
            raise InvalidInput(
                "没有要修改的字段。请使用 key=value 形式，例如 status=effective。",
                "Nothing to change. Give key=value pairs, e.g. status=effective.",
            )
        reason = _clean_reason(reason)
        self._updated(self.document(document_id).metadata, changes)  # validate before locking
        with self.catalog.transaction() as tx:
            doc = self._lock(tx, document_id)
            new_meta = self._updated(doc.metadata, changes)
            diff = self._labelled_diff(doc.metadata, new_meta)
            if not diff:
                return doc
            tx.update_metadata(document_id, new_meta)
            tx.append_audit(
                actor,
                AuditAction.METADATA_CHANGED,
                document_id=document_id,
                details={"changes": diff, "reason": reason},
            )
            self._reindex(tx, doc.metadata, new_meta, document_id)
        self._committed()
        return self.document(document_id)

    def confirm_labels(self, document_id: int, changes: Mapping[str, Any], *, actor: str) -> Document:
        """A person accepts (no changes) or corrects the suggested labels; both confirm them,
        which takes the document off the review list and into the classifier's training set."""
        doc = self.document(document_id)
        pending = self.catalog.suggestions(document_id=document_id)
        if not pending:
            raise Conflict(
                f"文档 {document_id} 没有待确认的分类建议。",
                f"Document {document_id} has no pending classification suggestion.",
            )
        self._updated(doc.metadata, changes, check_required=False)  # validate before locking
        with self.catalog.transaction() as tx:
            doc = self._lock(tx, document_id)
            new_meta = self._updated(doc.metadata, changes, check_required=False) if changes else doc.metadata
            diff = self._labelled_diff(doc.metadata, new_meta)
            state = "corrected" if diff else "accepted"
            if diff:
                tx.update_metadata(document_id, new_meta)
                tx.append_audit(
                    actor,
                    AuditAction.METADATA_CHANGED,
                    document_id=document_id,
                    details={"changes": diff, "reason": "更正分类建议 / corrected suggestion"},
                )
                self._reindex(tx, doc.metadata, new_meta, document_id)
            tx.resolve_suggestions(document_id, state, actor)
            tx.append_audit(
                actor,
                AuditAction.LABELS_CONFIRMED,
                document_id=document_id,
                details={
                    "state": state,
                    "doc_type": new_meta.doc_type,
                    "service_category": new_meta.service_category.value,
                },
            )
        self._committed()
        return self.document(document_id)

    def read_version(
        self,
        document_id: int,
        number: int | None = None,
        *,
        actor: str,
        action: AuditAction = AuditAction.VERSION_DOWNLOADED,
        purpose: str | None = None,
    ) -> tuple[Version, bytes]:
        """The exact stored bytes, verified against their hash, and an audit entry for the read
        (``purpose``: why docsvc read it for the actor — ``compare``, ``pdf`` — for the timeline)."""
        v = self.version(document_id, number)
        data = self.blobs.read(v.sha256)  # re-hashed by the store: damage is refused, never served
        with self.catalog.transaction() as tx:
            tx.append_audit(
                actor,
                action,
                document_id=document_id,
                version=v.number,
                details={"sha256": v.sha256, **({"purpose": purpose} if purpose else {})},
            )
        return v, data

    def request_deletion(self, document_id: int, *, actor: str, reason: str) -> None:
        """Versions are immutable records: a deletion request is logged and refused."""
        doc = self.document(document_id)
        with self.catalog.transaction() as tx:
            tx.append_audit(
                actor, AuditAction.DELETION_REQUESTED, document_id=doc.id, details={"reason": _clean_reason(reason)}
            )
            tx.append_audit(
                actor, AuditAction.DELETION_REFUSED, document_id=doc.id, details={"rule": "immutable_history"}
            )
        raise Conflict(
            "归档记录不可删除：版本历史是不可变的。如文档不再使用，请将状态改为 archived（已归档）。",
            "Archived records cannot be deleted: version history is immutable. "
            "Set status=archived for a document no longer in use.",
        )

    # -- reads --------------------------------------------------------------------------
    def list_documents(
        self, params: Mapping[str, Any], *, site_projects: Collection[str] | None = None
    ) -> DocumentPage:
        """``site_projects``: when given, on-site (9.2) documents only of these projects (access rules)."""
        # An empty filter is no filter; an empty number is not a number.
        params = {k: v for k, v in params.items() if v is not None and (v != "" or k in ("limit", "offset"))}
        field_params = {k: v for k, v in params.items() if k.startswith(FILTER_PREFIX)}
        params = {k: v for k, v in params.items() if k not in field_params}
        definitions = self.field_definitions() if field_params else []
        field_filters = [parse_filter(definitions, k, v) for k, v in sorted(field_params.items())]
        known = set(FILTERABLE) | {"tag", "title", "review_due_before", "sort", "limit", "offset"}
        unknown = set(params) - known
        if unknown:
            raise InvalidInput(
                f"未知的筛选条件：{', '.join(sorted(unknown))}。可用：{', '.join(sorted(known))}",
                f"Unknown filter(s): {', '.join(sorted(unknown))}. Known: {', '.join(sorted(known))}",
                field=sorted(unknown)[0],
            )
        filters = {k: str(params[k]) for k in FILTERABLE if k in params}
        for name in (*filters, "tag", "title"):
            if name in params:  # matched against metadata, which holds no control characters
                refuse_controls(str(params[name]), name, f"筛选条件 {name} ")
        # A value no document can have is a mistake, not an empty result: say what is valid.
        if "doc_type" in filters:
            self.vocab.doc_type(filters["doc_type"])
        for name, (enum, zh) in _ENUM_FILTERS.items():
            if name in filters:
                parse_enum(enum, name, zh, filters[name])
        sort = str(params.get("sort", "-updated_at"))
        if sort.lstrip("-") not in SORTABLE:
            raise InvalidInput(
                f"无法按“{sort}”排序。可用：{', '.join(SORTABLE)}（前加 - 表示倒序）。",
                f"Cannot sort by '{sort}'. Use one of {', '.join(SORTABLE)} (prefix - for descending).",
                field="sort",
            )
        limit = parse_int(params.get("limit"), "limit", high=MAX_PAGE, default=50)
        offset = parse_int(params.get("offset"), "offset", low=0, high=MAX_OFFSET, default=0)
        due = parse_date("review_due_before", "复审到期日", params.get("review_due_before"))
        return self.catalog.list_documents(
            filters,
            tag=params.get("tag"),
            title=params.get("title"),
            review_due_before=due,
            sort=sort,
            limit=limit,
            offset=offset,
            site_projects=site_projects,
            # Only a sort by type reads the types' pinyin order, whose tables take 0.3 s to load.
            doc_type_order=self.doc_type_order() if sort.lstrip("-") == "doc_type" else (),
            field_filters=field_filters,
        )

    def doc_type_order(self) -> list[str]:
        """The document type codes by their Chinese names in pinyin order (a sort by type)."""
        return [c.code for c in sorted(self.vocab.doc_types, key=lambda c: (sort_key(c.zh), c.code))]

    def history(self, document_id: int) -> History:
        doc = self.document(document_id)
        return History(
            doc, self.catalog.versions(document_id), list(self.catalog.audit_entries(document_id=document_id))
        )

    def due_for_review(self, on: dt.date, *, within_days: int = 30) -> list[Document]:
        """Spec 8.1.3: documents (SLAs above all) whose review date falls within the window."""
        page = self.catalog.list_documents(
            {}, review_due_before=on + dt.timedelta(days=within_days), sort="review_due", limit=10000
        )
        return [d for d in page.items if d.metadata.status not in (DocStatus.SUPERSEDED, DocStatus.ARCHIVED)]


_ENUM_FILTERS = {
    "service_category": (ServiceCategory, "服务类别"),
    "doc_class": (DocClass, "文档类别"),
    "service_scope": (ServiceScope, "服务范畴"),
    "pdca_phase": (PdcaPhase, "PDCA 阶段"),
    "status": (DocStatus, "状态"),
}


def _record_version(
    tx: Tx,
    document_id: int,
    number: int,
    blob: StoredBlob,
    renditions: Sequence[tuple[RenditionInput, StoredBlob]],
    media_type: str,
    filename: str,
    actor: str,
    reason: str,
    source: VersionSource,
    provenance: Mapping[str, Any] | None,
) -> int:
    """Version ``number`` of the document, its audit entry and its renditions, in ``tx``: the
    new version's row id."""
    version_id = tx.insert_version(
        document_id,
        number,
        sha256=blob.sha256,
        size=blob.size,
        media_type=media_type,
        original_filename=filename,
        actor=actor,
        reason=reason,
        source=source,
        provenance=provenance or {},
    )
    details: dict[str, Any] = {
        "sha256": blob.sha256,
        "size": blob.size,
        "media_type": media_type,
        "filename": filename,
        "reason": reason,
        "source": source.value,
    }
    if provenance:
        # The form data can be long: the audit entry carries its hash, the version row the data.
        prov = {k: v for k, v in provenance.items() if k != "data"}
        if "data" in provenance:
            prov["data_sha256"] = hashlib.sha256(canonical_json(provenance["data"]).encode()).hexdigest()
        details["provenance"] = prov
    if renditions:
        details["renditions"] = [
            {"media_type": r.media_type, "sha256": b.sha256, "size": b.size} for r, b in renditions
        ]
    tx.append_audit(actor, AuditAction.VERSION_ADDED, document_id=document_id, version=number, details=details)
    for r, b in renditions:
        tx.insert_rendition(version_id, r.media_type, b.sha256, b.size, r.producer)
    return version_id
