"""The SQL catalog: documents, versions, the audit chain and the index outbox.

Works on SQLite (WAL, the embedded default) and PostgreSQL. Every write transaction starts by
locking the audit head row — ``BEGIN IMMEDIATE`` on SQLite, ``SELECT … FOR UPDATE`` on
PostgreSQL — so writes are serialised, version numbers cannot collide and the audit chain
cannot fork, across threads and processes alike.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from importlib import resources
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError, OperationalError

from docsvc.adapters.blobstore import storage_error
from docsvc.adapters.tables import (
    audit_head,
    audit_log,
    derived_models,
    documents,
    extractions,
    index_outbox,
    instance_secrets,
    meaning_vectors,
    ocr_pages,
    renditions,
    site_visible,
    suggestions,
    templates,
    versions,
)
from docsvc.core import audit
from docsvc.core.collation import sort_key
from docsvc.core.content import PDFA_PRODUCER
from docsvc.core.faults import fault_point
from docsvc.core.fields import FieldFilter, FieldKind, FilterOp
from docsvc.core.model import (
    DocClass,
    DocStatus,
    Document,
    Metadata,
    PdcaPhase,
    ServiceCategory,
    ServiceScope,
    Version,
    VersionSource,
    iso,
    utcnow,
)
from docsvc.core.ocr import OCR_PRODUCER
from docsvc.errors import Corrupted, InvalidInput, Unavailable


def _utc(ts: dt.datetime) -> dt.datetime:
    # SQLite hands back naive datetimes; everything docsvc stores is UTC.
    return ts if ts.tzinfo else ts.replace(tzinfo=dt.UTC)


def make_engine(url: str, *, durable: bool = True) -> sa.Engine:
    """An engine for ``url``. ``durable=False`` (the FSYNC setting off: tests only) lets commits
    return before they reach the disk."""
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @sa.event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn, _record):
            # Let the "begin" hook below issue BEGIN itself (pysqlite's implicit BEGIN is
            # deferred, which lets two writers deadlock on upgrade from read to write lock).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            # FULL: in WAL mode NORMAL may lose the last commits on power loss, and an
            # acknowledged version must survive that.
            cur.execute(f"PRAGMA synchronous={'FULL' if durable else 'OFF'}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @sa.event.listens_for(engine, "begin")
        def _on_begin(conn):
            conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("write") else "BEGIN")

        @sa.event.listens_for(engine, "handle_error")
        def _on_error(context):
            # SQLite stores any bytes as text and sqlite3 cannot fetch a row that is not UTF-8:
            # only someone writing the file behind docsvc's back puts one there. That is damage
            # to name, not "the database is away, retry later".
            if "Could not decode to UTF-8" in str(context.original_exception):
                raise Undecodable(str(context.original_exception)[:200]) from context.original_exception

    else:
        engine = sa.create_engine(
            url,
            pool_pre_ping=True,
            pool_size=10,
            max_overflow=10,
            connect_args={} if durable else {"options": "-c synchronous_commit=off"},
        )
    sa.event.listen(engine, "before_cursor_execute", _refuse_nul, retval=True)
    return engine


def _refuse_nul(conn, cursor, statement, parameters, context, executemany):
    """No text with a NUL reaches the database: PostgreSQL cannot store or even compare one (its
    error would come back as a 500, or as "unavailable, retry later"), and SQLite must answer the
    same. The faces refuse such input with a precise message first; this is the net under them."""
    rows = parameters if executemany else [parameters]
    for row in rows:
        values = row.values() if isinstance(row, Mapping) else row or ()
        if any(isinstance(v, str) and "\x00" in v for v in values):
            raise InvalidInput(
                "输入中含有 NUL 字符（U+0000），无法保存或查找，未做任何修改。请删除该字符后重试。",
                "The input contains a NUL character (U+0000), which cannot be stored or "
                "looked up; nothing was changed. Remove it and try again.",
            )
    return statement, parameters


def _alembic_config(conn: sa.Connection | None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("docsvc.adapters") / "migrations"))
    cfg.attributes["connection"] = conn
    return cfg


@functools.cache
def _head_revision() -> str:
    """The newest migration this docsvc ships. Alembic reads and compiles every migration script
    to find it, which is most of the time a start-up on a current catalog would take."""
    head = ScriptDirectory.from_config(_alembic_config(None)).get_current_head()
    assert head is not None, "docsvc ships its migrations"
    return head


@dataclass(frozen=True)
class DocumentPage:
    items: list[Document]
    total: int
    limit: int
    offset: int


@dataclass(frozen=True)
class TemplateRecord:
    id: int
    slug: str
    version: int
    sha256: str
    schema_json: str
    schema_sha256: str
    name_zh: str
    name_en: str
    doc_type: str
    lint: dict[str, Any]
    created_at: dt.datetime
    created_by: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "slug": self.slug,
            "version": self.version,
            "sha256": self.sha256,
            "schema_sha256": self.schema_sha256,
            "name_zh": self.name_zh,
            "name_en": self.name_en,
            "doc_type": self.doc_type,
            "lint": self.lint,
            "created_at": iso(self.created_at),
            "created_by": self.created_by,
        }


@dataclass(frozen=True)
class OutboxItem:
    id: int
    document_id: int
    version_id: int | None
    op: str  # "add" (a new version) or "metadata" (the document's metadata changed)
    attempts: int
    last_error: str | None
    created_at: dt.datetime | None = None  # when it was queued (the indexer logs its lag)


class OutboxClaim:
    """Outbox rows an indexer took (see SqlCatalog.claim_outbox): mark them :meth:`done` once
    applied, or :meth:`failed`."""

    def __init__(self, items: list[OutboxItem]) -> None:
        self.items = items
        self.done_ids: list[int] = []
        self.failed_ids: list[int] = []
        self.error = ""

    def done(self) -> None:
        self.done_ids = [i.id for i in self.items]

    def failed(self, error: str) -> None:
        self.failed_ids, self.error = [i.id for i in self.items], error


@dataclass(frozen=True)
class OutboxLease:
    """A claim on outbox rows: other indexers leave them to ``owner`` for ``seconds`` after the
    last :meth:`SqlCatalog.renew_outbox_lease`, so an owner that dies lets them go by itself."""

    owner: str
    seconds: float


def _outbox_item(r: Mapping[str, Any]) -> OutboxItem:
    return OutboxItem(
        r["id"], r["document_id"], r["version_id"], r["op"], r["attempts"], r["last_error"], _utc(r["created_at"])
    )


def _free(query: Any, claimed: bool) -> Any:
    """``query`` limited to the outbox rows an indexer may take now (unclaimed ones and those
    whose lease or delay has passed), or with ``claimed`` every row."""
    if claimed:
        return query
    return query.where(sa.or_(index_outbox.c.claimed_until.is_(None), index_outbox.c.claimed_until <= utcnow()))


# The advisory-lock namespace of indexers (the document id is the second key).
_INDEXER_LOCK = 0x646F63  # "doc"
# Servers that start together on PostgreSQL migrate one at a time; the others then find the
# schema current instead of failing on half-created tables.
_MIGRATE_LOCK = 0x646F636D  # "docm"


@dataclass(frozen=True)
class Rendition:
    version_id: int
    media_type: str
    sha256: str
    size: int
    created_at: dt.datetime
    producer: str

    @property
    def kind(self) -> str:
        """The short name URLs and the CLI use: "pdf" (LibreOffice's PDF of a DOCX) or
        "ocr-pdf" (the searchable PDF of a scan, docsvc.core.ocr)."""
        if self.producer.startswith(OCR_PRODUCER):
            return "ocr-pdf"
        return "pdf" if self.media_type == "application/pdf" else self.media_type

    @property
    def pdfa(self) -> bool | None:
        """Whether a Word version's PDF is its PDF/A-2b (the archival copy a signer keeps); None
        for a scan's searchable PDF, whose checked verdict is kept with its OCR record."""
        return self.producer == PDFA_PRODUCER if self.kind == "pdf" else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "media_type": self.media_type,
            "sha256": self.sha256,
            "size": self.size,
            "created_at": iso(self.created_at),
            "producer": self.producer,
            "pdfa": self.pdfa,
            "kind": self.kind,
        }


SORTABLE = {
    "id": documents.c.id,
    "title": documents.c.title_key,  # pinyin order (docsvc.core.collation)
    "doc_type": documents.c.doc_type,  # in the order the caller gives (list_documents' doc_type_order)
    "service_category": sa.case(
        {c.value: i for i, c in enumerate(ServiceCategory)},
        value=documents.c.service_category,
        else_=len(ServiceCategory),
    ),
    "project": documents.c.project_key,
    "counterparty": documents.c.counterparty_key,
    "status": sa.case(
        {s.value: i for i, s in enumerate(DocStatus)}, value=documents.c.status, else_=len(DocStatus)
    ),  # the life cycle's order: draft, effective, superseded, archived
    "created_at": documents.c.created_at,
    "updated_at": documents.c.updated_at,
    "review_due": documents.c.review_due,
    "effective_date": documents.c.effective_date,
}
# Sort keys compared byte by byte on every database: PostgreSQL's default collation (say
# en_US.UTF-8) would otherwise skip spaces and punctuation where SQLite does not.
_KEY_COLUMNS = frozenset({"title", "project", "counterparty"})

FILTERABLE = (
    "doc_type",
    "service_category",
    "doc_class",
    "service_scope",
    "pdca_phase",
    "project",
    "counterparty",
    "status",
    "owner",
)


# The statements of archiving a document, built once: SQLAlchemy builds and coerces a statement
# on every .values()/.where() call, a fifth of archiving a document; these take their values as
# execution parameters (the same SQL).
_LOCK_HEAD = sa.select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1).with_for_update()
# Read after the lock is held (a statement of its own: on PostgreSQL a subquery of the locking
# statement would see the snapshot from before the lock was granted).
_ENTRY_HASH = sa.select(audit_log.c.hash).where(audit_log.c.seq == sa.bindparam("b_seq"))
_SET_HEAD = audit_head.update().where(audit_head.c.id == 1)
_INSERT_AUDIT = audit_log.insert()
_INSERT_DOCUMENT = documents.insert()
_INSERT_VERSION = versions.insert()
_SET_LATEST_VERSION = documents.update().where(documents.c.id == sa.bindparam("b_document_id"))
_INSERT_SUGGESTION = suggestions.insert()
_INSERT_OUTBOX = index_outbox.insert()
_GET_DOCUMENT = sa.select(documents).where(documents.c.id == sa.bindparam("b_id"))
_GET_VERSION = sa.select(versions).where(
    versions.c.document_id == sa.bindparam("b_document_id"), versions.c.number == sa.bindparam("b_number")
)
_VERSIONS_WITH_SHA = sa.select(versions).where(versions.c.sha256 == sa.bindparam("b_sha256")).order_by(versions.c.id)


def _suggestion_reading(suggestion: Mapping[str, Any]) -> dict[str, Any]:
    """A suggestion's confidences and the terms behind them, as the suggestions table keeps them."""
    return {
        "doc_type_confidence": suggestion["doc_type"]["confidence"],
        "service_category_confidence": suggestion["service_category"]["confidence"],
        "terms": {
            "doc_type": suggestion["doc_type"]["terms"],
            "service_category": suggestion["service_category"]["terms"],
        },
    }


class Tx:
    """One write transaction, holding the audit head lock."""

    def __init__(self, conn: sa.Connection, head: tuple[int, str]) -> None:
        self.conn = conn
        self.head = head
        self.now = utcnow()
        self.appended: list[audit.AuditEntry] = []

    def append_audit(
        self,
        actor: str,
        action: str,
        *,
        document_id: int | None = None,
        version: int | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> audit.AuditEntry:
        fault_point("audit_append")
        entry = audit.chain(
            self.head[0],
            self.head[1],
            ts=iso(self.now),
            actor=actor,
            action=action,
            document_id=document_id,
            version=version,
            details=dict(details or {}),
        )
        try:
            self.conn.execute(
                _INSERT_AUDIT,
                {
                    "seq": entry.seq,
                    "ts": entry.ts,
                    "actor": entry.actor,
                    "action": entry.action,
                    "document_id": entry.document_id,
                    "version": entry.version,
                    "details": audit.canonical_json(entry.details),
                    "prev_hash": entry.prev_hash,
                    "hash": entry.hash,
                },
            )
        except sa.exc.IntegrityError:
            # Only an entry already stored past the head takes this seq: someone wrote the log
            # behind docsvc's back.
            raise _tampered(
                f"第 {entry.seq} 条审计记录已存在，但链头记录只到第 {entry.seq - 1} 条",
                f"audit entry {entry.seq} exists already while the head says {entry.seq - 1}",
            ) from None
        self.head = (entry.seq, entry.hash)
        self.appended.append(entry)
        return entry

    def insert_document(self, meta: Metadata, actor: str) -> int:
        row = _metadata_row(meta)
        result = self.conn.execute(
            _INSERT_DOCUMENT,
            {**row, "created_at": self.now, "created_by": actor, "updated_at": self.now, "latest_version": 0},
        )
        return int(result.inserted_primary_key[0])

    def lock_document(self, document_id: int) -> Document | None:
        """The document as it is now, read under the write lock (for read-modify-write)."""
        row = (
            self.conn.execute(sa.select(documents).where(documents.c.id == document_id).with_for_update())
            .mappings()
            .first()
        )
        return _document(row) if row else None

    def insert_version(
        self,
        document_id: int,
        number: int,
        *,
        sha256: str,
        size: int,
        media_type: str,
        original_filename: str,
        actor: str,
        reason: str,
        source: VersionSource,
        provenance: Mapping[str, Any],
    ) -> int:
        result = self.conn.execute(
            _INSERT_VERSION,
            {
                "document_id": document_id,
                "number": number,
                "sha256": sha256,
                "size": size,
                "media_type": media_type,
                "original_filename": original_filename,
                "created_at": self.now,
                "created_by": actor,
                "reason": reason,
                "source": source.value,
                "provenance": dict(provenance),
            },
        )
        self.conn.execute(
            _SET_LATEST_VERSION, {"b_document_id": document_id, "latest_version": number, "updated_at": self.now}
        )
        return int(result.inserted_primary_key[0])

    def update_metadata(self, document_id: int, meta: Metadata) -> None:
        self.conn.execute(
            documents.update().where(documents.c.id == document_id).values(**_metadata_row(meta), updated_at=self.now)
        )

    def insert_rendition(
        self, version_id: int, media_type: str, sha256: str, size: int, producer: str, *, replace: bool = False
    ) -> None:
        """``replace``: a rendition made again (OCR re-run) takes the place of the old one,
        whose blob `docsvc gc` then collects; renditions are derived, the version is untouched."""
        if replace:
            self.conn.execute(
                renditions.delete().where(renditions.c.version_id == version_id, renditions.c.media_type == media_type)
            )
        self.conn.execute(
            renditions.insert().values(
                version_id=version_id,
                media_type=media_type,
                sha256=sha256,
                size=size,
                created_at=self.now,
                producer=producer,
            )
        )

    def put_extraction(self, row: Mapping[str, Any]) -> None:
        """Cache one extraction, replacing the row of the same content and extractor (OCR run again)."""
        self.conn.execute(
            extractions.delete().where(
                extractions.c.sha256 == row["sha256"], extractions.c.extractor_version == row["extractor_version"]
            )
        )
        self.conn.execute(extractions.insert().values(**row, chars=len(row["text"]), created_at=self.now))

    def insert_template(
        self,
        *,
        slug: str,
        sha256: str,
        schema_json: str,
        schema_sha256: str,
        name_zh: str,
        name_en: str,
        doc_type: str,
        lint: Mapping[str, Any],
        actor: str,
    ) -> tuple[int, bool]:
        """The next version of template ``slug``: (its number, True), or (the latest's number,
        False) when the latest already holds this file and schema — another server starting at
        the same moment registered the same shipped template first (this transaction holds the
        audit head's lock, so the check and the insert cannot interleave with theirs)."""
        latest = self.conn.execute(
            sa.select(templates.c.version, templates.c.sha256, templates.c.schema_sha256)
            .where(templates.c.slug == slug)
            .order_by(templates.c.version.desc())
            .limit(1)
        ).first()
        if latest is not None and (latest.sha256, latest.schema_sha256) == (sha256, schema_sha256):
            return latest.version, False
        version = (latest.version if latest else 0) + 1
        self.conn.execute(
            templates.insert().values(
                slug=slug,
                version=version,
                sha256=sha256,
                schema=schema_json,
                schema_sha256=schema_sha256,
                name_zh=name_zh,
                name_en=name_en,
                doc_type=doc_type,
                lint=json.dumps(lint, ensure_ascii=False),
                created_at=self.now,
                created_by=actor,
            )
        )
        return version, True

    def insert_suggestion(
        self,
        document_id: int,
        version_id: int,
        suggestion: Mapping[str, Any],
        *,
        model_version: str,
        needs_review: bool,
    ) -> int:
        result = self.conn.execute(
            _INSERT_SUGGESTION,
            {
                "document_id": document_id,
                "version_id": version_id,
                "doc_type": suggestion["doc_type"]["value"],
                "service_category": suggestion["service_category"]["value"],
                "project": suggestion.get("project"),
                **_suggestion_reading(suggestion),
                "model_version": model_version,
                "needs_review": needs_review,
                "state": "pending",
                "created_at": self.now,
            },
        )
        return int(result.inserted_primary_key[0])

    def update_suggestion(self, suggestion_id: int, suggestion: Mapping[str, Any], *, model_version: str) -> None:
        """Record in place what another model made of the same labels (its confidences and
        terms): the suggestion keeps its place on the review list."""
        self.conn.execute(
            suggestions.update()
            .where(suggestions.c.id == suggestion_id)
            .values(**_suggestion_reading(suggestion), model_version=model_version)
        )

    def pending_suggestions(self, document_id: int) -> list[int]:
        """Ids of the document's pending suggestions, read under the caller's lock."""
        return [
            int(i)
            for (i,) in self.conn.execute(
                sa.select(suggestions.c.id).where(
                    suggestions.c.document_id == document_id, suggestions.c.state == "pending"
                )
            )
        ]

    def clear_ocr_pages(self, sha256: str, engine: str) -> None:
        """The pages kept while a document was being read: its text is cached now."""
        self.conn.execute(ocr_pages.delete().where(ocr_pages.c.sha256 == sha256, ocr_pages.c.engine == engine))

    def resolve_suggestions(self, document_id: int, state: str, actor: str) -> None:
        self.conn.execute(
            suggestions.update()
            .where(suggestions.c.document_id == document_id, suggestions.c.state == "pending")
            .values(state=state, resolved_at=self.now, resolved_by=actor)
        )

    def enqueue_index(
        self, document_id: int, version_id: int | None, op: str, *, lease: OutboxLease | None = None
    ) -> None:
        """Queue an index change; ``lease``: the caller indexes it itself and other indexers
        leave the row alone while the lease lasts (see SqlCatalog.outbox)."""
        claimed = self.now + dt.timedelta(seconds=lease.seconds) if lease else None
        self.conn.execute(
            _INSERT_OUTBOX,
            {
                "document_id": document_id,
                "version_id": version_id,
                "op": op,
                "created_at": self.now,
                "claimed_until": claimed,
                "claimed_by": lease.owner if lease else None,
            },
        )


def _review_queue(query: sa.Select, review_only: bool, site_projects: Collection[str] | None) -> sa.Select:
    """The pending suggestions ``query`` reads, joined to their documents for the access rule
    (the dashboard counts thousands after an import: no list of ids goes to the database)."""
    query = query.select_from(suggestions.join(documents, documents.c.id == suggestions.c.document_id)).where(
        suggestions.c.state == "pending", *site_visible(site_projects)
    )
    return query.where(suggestions.c.needs_review.is_(True)) if review_only else query


def _field_condition(f: FieldFilter) -> Any:
    """A custom field's condition: the JSON value as text (SQLite json_extract, PostgreSQL ->>);
    numbers and money cast to a float for ranges (canonical decimals: exact up to 15 digits),
    ISO dates compared as text."""
    text = documents.c.fields[f.key].as_string()
    if f.op is FilterOp.CONTAINS:
        return text.contains(f.value, autoescape=True)
    numeric = f.kind in (FieldKind.NUMBER, FieldKind.MONEY)
    column: Any = sa.cast(text, sa.Float) if numeric else text
    value: Any = float(f.value) if numeric else f.value
    if f.op is FilterOp.MIN:
        return sa.and_(text.is_not(None), column >= value)
    if f.op is FilterOp.MAX:
        return sa.and_(text.is_not(None), column <= value)
    return sa.and_(text.is_not(None), column == value)


def _metadata_row(meta: Metadata) -> dict[str, Any]:
    d = meta.to_dict()
    d["effective_date"] = meta.effective_date
    d["review_due"] = meta.review_due
    d["title_key"] = sort_key(meta.title)
    d["project_key"] = sort_key(meta.project)
    d["counterparty_key"] = sort_key(meta.counterparty)
    return d


def _document(row: Mapping[str, Any]) -> Document:
    meta = Metadata(
        title=row["title"],
        doc_type=row["doc_type"],
        service_category=ServiceCategory(row["service_category"]),
        doc_class=DocClass(row["doc_class"]),
        service_scope=ServiceScope(row["service_scope"]) if row["service_scope"] else None,
        pdca_phase=PdcaPhase(row["pdca_phase"]) if row["pdca_phase"] else None,
        project=row["project"],
        counterparty=row["counterparty"],
        tags=tuple(row["tags"] or ()),
        status=DocStatus(row["status"]),
        effective_date=row["effective_date"],
        review_due=row["review_due"],
        owner=row["owner"],
        fields=tuple(sorted((row.get("fields") or {}).items())),
    )
    return Document(
        row["id"], meta, _utc(row["created_at"]), row["created_by"], _utc(row["updated_at"]), row["latest_version"]
    )


def version_from_row(row: Mapping[str, Any]) -> Version:
    return Version(
        row["id"],
        row["document_id"],
        row["number"],
        row["sha256"],
        row["size"],
        row["media_type"],
        row["original_filename"],
        _utc(row["created_at"]),
        row["created_by"],
        row["reason"],
        VersionSource(row["source"]),
        dict(row["provenance"] or {}),
    )


def _template(row: Mapping[str, Any]) -> TemplateRecord:
    return TemplateRecord(
        row["id"],
        row["slug"],
        row["version"],
        row["sha256"],
        row["schema"],
        row["schema_sha256"],
        row["name_zh"],
        row["name_en"],
        row["doc_type"],
        json.loads(row["lint"]),
        _utc(row["created_at"]),
        row["created_by"],
    )


def entry_from_row(row: Mapping[str, Any], *, strict: bool = False) -> audit.AuditEntry:
    """An audit row as an entry. Details that are not a JSON object (a row someone edited by hand)
    are shown as what they are, so listing the log never fails on them (``strict``: raise
    ValueError instead; verification names such rows, see :func:`_entry_or_unreadable`)."""
    try:
        details = json.loads(row["details"])
        if not isinstance(details, dict):
            raise ValueError("details is not a JSON object")
    except (ValueError, TypeError):
        if strict:
            raise
        details = {"unreadable": str(row["details"])[:500]}
    return audit.AuditEntry(
        row["seq"],
        row["ts"],
        row["actor"],
        row["action"],
        row["document_id"],
        row["version"],
        details,
        row["prev_hash"],
        row["hash"],
    )


def _tampered(zh: str, en: str) -> Corrupted:
    return Corrupted(
        f"{zh}：审计日志已被篡改，为免掩盖，docsvc 拒绝写入，未做任何修改。请运行 docsvc audit verify 查看详情，并从备份恢复目录库。",
        f"{en}: the audit log was tampered with, so docsvc refuses to write on top of it; nothing was "
        "changed. Run docsvc audit verify for details and restore the catalog from a backup.",
    )


def _entry_or_unreadable(row: Mapping[str, Any]) -> audit.AuditEntry | audit.Unreadable:
    try:
        entry = entry_from_row(row, strict=True)
        if not isinstance(entry.ts, str):
            raise ValueError("ts is not text")
        return entry
    except (ValueError, TypeError) as exc:
        return audit.Unreadable(row["seq"], f"{type(exc).__name__}: {str(exc)[:200]}")


def _unavailable(exc: Exception) -> Unavailable:
    return Unavailable(
        f"目录数据库暂时不可用，未做任何修改，请稍后重试。（{type(exc).__name__}）",
        f"The catalog database is unavailable; nothing was changed. Retry later. ({type(exc).__name__})",
    )


def refused_value(exc: Exception) -> InvalidInput:
    """The database refused a value (out of range, malformed): the same request would fail
    again, so it is bad input, not "unavailable, retry later"."""
    return InvalidInput(
        f"数据库拒绝了请求中的某个值（超出范围或格式不对），未做任何修改。请检查输入。（{type(exc).__name__}）",
        f"The database refused a value of the request (out of range or malformed); nothing "
        f"was changed. Check the input. ({type(exc).__name__})",
    )


class Undecodable(Corrupted):
    """A row of the SQLite catalog holds text that is not UTF-8 (damaged, or written behind
    docsvc's back), so it cannot be read."""

    def __init__(self, detail: str) -> None:
        super().__init__(
            "目录库中有无法解码的文字（已损坏或被人绕过 docsvc 改写），无法读出。请运行 docsvc audit verify "
            "查明是哪些审计记录，并从备份恢复目录库。",
            "The catalog holds text that cannot be decoded (damaged, or rewritten behind docsvc's back), so "
            "this could not be read. Run docsvc audit verify to find which audit entries, and restore the "
            "catalog from a backup.",
            details={"error": detail},
        )


# What the use cases hold while a table gateway works: they pass it on, never query it themselves.
Connection = sa.Connection


class KeyTaken(Exception):
    """A write met a unique key that another write took at the same moment, and its transaction
    was rolled back. The use case says in its own words what was taken."""


@contextmanager
def write_connection(
    engine: sa.Engine, unavailable: Callable[[Exception], Unavailable] = _unavailable
) -> Iterator[sa.Connection]:
    """A connection in a write transaction; a database that is away is ``unavailable(exc)``, a
    unique key taken meanwhile is :class:`KeyTaken`."""
    try:
        with engine.connect().execution_options(write=True) as conn, conn.begin():
            yield conn
    except sa.exc.IntegrityError as exc:
        raise KeyTaken(str(exc.orig)) from exc
    except sa.exc.DataError as exc:
        raise refused_value(exc) from exc
    except (OperationalError, DBAPIError) as exc:
        raise unavailable(exc) from exc


class SqlCatalog:
    def __init__(self, url: str, *, durable: bool = True) -> None:
        self.url = url
        self.engine = make_engine(url, durable=durable)
        self.is_sqlite = self.engine.dialect.name == "sqlite"

    # -- schema -------------------------------------------------------------------------
    def migrate(self) -> list[str]:
        """Apply pending Alembic migrations; returns the revisions applied (empty if none)."""
        try:
            with self.engine.connect().execution_options(write=True) as conn:
                with conn.begin():
                    if not self.is_sqlite:
                        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_MIGRATE_LOCK)))
                    before = MigrationContext.configure(conn).get_current_revision()
                    if before == _head_revision():
                        return []
                    command.upgrade(_alembic_config(conn), "head")
                    after = MigrationContext.configure(conn).get_current_revision()
        except (OperationalError, DBAPIError) as exc:
            raise _unavailable(exc) from exc
        return [] if before == after else [after]

    def schema_revision(self) -> tuple[str | None, str]:
        with self.engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
        return current, _head_revision()

    def dispose(self) -> None:
        self.engine.dispose()

    # -- units of work ------------------------------------------------------------------
    # One persistence style: the catalog owns the engine and hands out units of work; the table
    # gateways (this class's methods and Tx's, adapters.accounts, .reports, .terms, …) run on the
    # unit's connection. Services never open a connection or import SQLAlchemy (a contract).
    @contextmanager
    def reading(self) -> Iterator[sa.Connection]:
        """A connection for a use case's reads; a database that is away is ``Unavailable``."""
        try:
            with self.engine.connect() as conn:
                yield conn
        except sa.exc.DataError as exc:
            raise refused_value(exc) from exc
        except OperationalError as exc:
            raise _unavailable(exc) from exc

    def writing(self) -> AbstractContextManager[sa.Connection]:
        """A write transaction outside the audit chain (sessions, saved views, derived data)."""
        return write_connection(self.engine)

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        try:
            with write_connection(self.engine) as conn:
                head = conn.execute(_LOCK_HEAD).first()
                if head is None:
                    raise _tampered("审计链头记录缺失", "The audit chain's head record is missing")
                # A write never continues a chain whose head was moved: new entries would paper
                # over the tampering.
                stored = conn.execute(_ENTRY_HASH, {"b_seq": head.seq}).scalar() if head.seq else head.hash
                if stored != head.hash:
                    raise _tampered(
                        f"链头记录指向的第 {head.seq} 条审计记录{'不存在' if stored is None else '与链头不符'}",
                        f"the head names audit entry {head.seq}, which "
                        f"{'does not exist' if stored is None else 'does not match it'}",
                    )
                tx = Tx(conn, (head.seq, head.hash))
                yield tx
                if tx.appended:
                    conn.execute(_SET_HEAD, {"seq": tx.head[0], "hash": tx.head[1]})
        except OSError as exc:
            raise storage_error(exc) from exc

    # -- reads --------------------------------------------------------------------------
    def _read(self):
        try:
            return self.engine.connect()
        except (OperationalError, DBAPIError) as exc:
            raise _unavailable(exc) from exc

    def get_document(self, document_id: int) -> Document | None:
        with self._read() as conn:
            row = conn.execute(_GET_DOCUMENT, {"b_id": document_id}).mappings().first()
        return _document(row) if row else None

    def list_documents(
        self,
        filters: Mapping[str, str],
        *,
        tag: str | None = None,
        title: str | None = None,
        review_due_before: dt.date | None = None,
        sort: str = "-updated_at",
        limit: int = 50,
        offset: int = 0,
        site_projects: Collection[str] | None = None,
        doc_type_order: Sequence[str] = (),
        field_filters: Sequence[FieldFilter] = (),
    ) -> DocumentPage:
        """``doc_type_order``: the type codes in the order a sort by doc_type lists them (the
        vocabulary's, by their names in pinyin order); a code not in it comes last."""
        cond = [documents.c[k] == v for k, v in filters.items()]
        cond += [_field_condition(f) for f in field_filters]
        cond += site_visible(site_projects)
        if title:
            cond.append(documents.c.title.contains(title, autoescape=True))
        if review_due_before:
            cond.append(documents.c.review_due <= review_due_before)
        name = sort.lstrip("-")
        column = SORTABLE[name]
        if name == "doc_type" and doc_type_order:
            column = sa.case(
                {code: i for i, code in enumerate(doc_type_order)},
                value=documents.c.doc_type,
                else_=len(doc_type_order),
            )
        if name in _KEY_COLUMNS and self.engine.dialect.name == "postgresql":
            column = column.collate("C")
        # Equal keys (the same title, type …) keep one order from page to page: the id's.
        orders = [column.desc() if sort.startswith("-") else column.asc()]
        if name == "title":
            orders.append(documents.c.title.desc() if sort.startswith("-") else documents.c.title.asc())
        orders.append(documents.c.id.desc())
        query = sa.select(documents).where(*cond)
        with self._read() as conn:
            rows = (
                conn.execute(query.order_by(*orders)).mappings().all()
                if tag
                else conn.execute(query.order_by(*orders).limit(limit).offset(offset)).mappings().all()
            )
            total = conn.execute(sa.select(sa.func.count()).select_from(documents).where(*cond)).scalar_one()
        items = [_document(r) for r in rows]
        if tag:
            # Tags are a JSON list; filtering them portably in SQL is awkward, and tag filters
            # are rare, so they are applied here.
            items = [d for d in items if tag in d.metadata.tags]
            total = len(items)
            items = items[offset : offset + limit]
        return DocumentPage(items, total, limit, offset)

    def versions(self, document_id: int) -> list[Version]:
        with self._read() as conn:
            rows = (
                conn.execute(
                    sa.select(versions).where(versions.c.document_id == document_id).order_by(versions.c.number)
                )
                .mappings()
                .all()
            )
        return [version_from_row(r) for r in rows]

    def get_version(self, document_id: int, number: int) -> Version | None:
        with self._read() as conn:
            row = conn.execute(_GET_VERSION, {"b_document_id": document_id, "b_number": number}).mappings().first()
        return version_from_row(row) if row else None

    def get_version_by_id(self, version_id: int) -> Version | None:
        with self._read() as conn:
            row = conn.execute(sa.select(versions).where(versions.c.id == version_id)).mappings().first()
        return version_from_row(row) if row else None

    def versions_with_sha(self, sha256: str) -> list[Version]:
        with self._read() as conn:
            rows = conn.execute(_VERSIONS_WITH_SHA, {"b_sha256": sha256}).mappings().all()
        return [version_from_row(r) for r in rows]

    def referenced_hashes(self) -> dict[str, int]:
        """sha256 → number of records (versions, template versions, renditions, current models)
        referencing it."""
        refs: dict[str, int] = {}
        with self._read() as conn:
            for table in (versions, templates, renditions, derived_models):
                for sha, n in conn.execute(sa.select(table.c.sha256, sa.func.count()).group_by(table.c.sha256)):
                    refs[sha] = refs.get(sha, 0) + n
        return refs

    def recorded_sizes(self) -> dict[str, int]:
        """sha256 → the size recorded when it was archived (versions and renditions)."""
        with self._read() as conn:
            return {
                sha: size
                for table in (versions, renditions, derived_models)
                for sha, size in conn.execute(sa.select(table.c.sha256, table.c.size).distinct())
            }

    def is_referenced(self, sha256: str) -> bool:
        with self._read() as conn:
            return any(
                conn.execute(sa.select(table.c.sha256).where(table.c.sha256 == sha256).limit(1)).first()
                for table in (versions, templates, renditions, derived_models)
            )

    def audit_entries(
        self,
        *,
        document_id: int | None = None,
        since: str | None = None,
        actions: Sequence[str] = (),
        limit: int | None = None,
    ) -> Iterator[audit.AuditEntry]:
        query = sa.select(audit_log).order_by(audit_log.c.seq)
        if document_id is not None:
            query = query.where(audit_log.c.document_id == document_id)
        if since:
            query = query.where(audit_log.c.ts >= since)
        if actions:
            query = query.where(audit_log.c.action.in_(list(actions)))
        if limit:
            query = query.limit(limit)
        with self._read() as conn:
            for row in conn.execution_options(yield_per=1000).execute(query).mappings():
                yield entry_from_row(row)

    def templates(self, slug: str | None = None) -> list[TemplateRecord]:
        """Every template version (of one slug), oldest first."""
        query = sa.select(templates).order_by(templates.c.slug, templates.c.version)
        if slug is not None:
            query = query.where(templates.c.slug == slug)
        with self._read() as conn:
            rows = conn.execute(query).mappings().all()
        return [_template(r) for r in rows]

    def renditions(self, version_id: int) -> list[Rendition]:
        with self._read() as conn:
            rows = (
                conn.execute(
                    sa.select(renditions).where(renditions.c.version_id == version_id).order_by(renditions.c.media_type)
                )
                .mappings()
                .all()
            )
        return [
            Rendition(r["version_id"], r["media_type"], r["sha256"], r["size"], _utc(r["created_at"]), r["producer"])
            for r in rows
        ]

    # -- index outbox and extracted text ------------------------------------------------
    def outbox(self, *, limit: int, after_id: int = 0, claimed: bool = False) -> list[OutboxItem]:
        """Queued index changes in order; rows claimed by a bulk import whose lease lasts, and
        rows put off until later, only with ``claimed``."""
        query = _free(sa.select(index_outbox).where(index_outbox.c.id > after_id), claimed)
        return [_outbox_item(r) for r in self._read_rows(query.order_by(index_outbox.c.id).limit(limit))]

    def renew_outbox_lease(self, lease: OutboxLease) -> int:
        """Extend the lease on ``lease.owner``'s rows; how many it holds."""
        with self.writing() as conn:
            return conn.execute(
                index_outbox.update()
                .where(index_outbox.c.claimed_by == lease.owner)
                .values(claimed_until=utcnow() + dt.timedelta(seconds=lease.seconds))
            ).rowcount

    def release_outbox(self, owner: str) -> None:
        """Let every indexer have ``owner``'s rows now (its import ended)."""
        with self.writing() as conn:
            conn.execute(
                index_outbox.update()
                .where(index_outbox.c.claimed_by == owner)
                .values(claimed_until=None, claimed_by=None)
            )

    def defer_outbox(self, version_ids: Sequence[int], *, delay_s: float) -> None:
        """Put the "add" rows of these versions off for ``delay_s`` (for every indexer, their
        claimant included): an extraction that timed out is tried again later."""
        if version_ids:
            with self.writing() as conn:
                conn.execute(
                    index_outbox.update()
                    .where(index_outbox.c.op == "add", index_outbox.c.version_id.in_(list(version_ids)))
                    .values(claimed_until=utcnow() + dt.timedelta(seconds=delay_s), claimed_by=None)
                )

    @contextmanager
    def claim_outbox(self, *, limit: int, claimed: bool = False) -> Iterator[OutboxClaim]:
        """The next queued index changes, taken for this indexer alone until the block ends.

        On PostgreSQL any number of indexers, in any process on any machine, drain the queue
        together: rows are locked with ``FOR UPDATE SKIP LOCKED`` (each is taken by one
        indexer), and a document's rows only by the indexer that holds the document's advisory
        lock, so one document's changes are never applied by two at once. Rows marked done are
        deleted when the block ends; the rest, and everything if the indexer dies, return to
        the queue. On SQLite (one index writer per machine) the rows are only read. Leased
        and deferred rows are skipped as by :meth:`outbox`."""
        query = _free(sa.select(index_outbox), claimed).order_by(index_outbox.c.id).limit(limit)
        if self.is_sqlite:
            claim = OutboxClaim([_outbox_item(r) for r in self._read_rows(query)])
            yield claim
            if claim.done_ids:
                self.outbox_done(claim.done_ids)
            if claim.error:
                self.outbox_failed(claim.failed_ids, claim.error)
            return
        try:
            with self.engine.connect() as conn, conn.begin():
                rows = conn.execute(query.with_for_update(skip_locked=True)).mappings().all()
                documents = sorted({r["document_id"] for r in rows})
                mine = {
                    d
                    for d in documents
                    if conn.execute(sa.select(sa.func.pg_try_advisory_xact_lock(_INDEXER_LOCK, d))).scalar()
                }
                claim = OutboxClaim([_outbox_item(r) for r in rows if r["document_id"] in mine])
                yield claim
                if claim.done_ids:
                    conn.execute(index_outbox.delete().where(index_outbox.c.id.in_(claim.done_ids)))
                if claim.error:
                    conn.execute(
                        index_outbox.update()
                        .where(index_outbox.c.id.in_(claim.failed_ids))
                        .values(attempts=index_outbox.c.attempts + 1, last_error=claim.error[:2000])
                    )
        except (OperationalError, DBAPIError) as exc:
            raise _unavailable(exc) from exc

    def _read_rows(self, query: Any) -> list[Any]:
        with self._read() as conn:
            return conn.execute(query).mappings().all()

    def outbox_max_id(self) -> int:
        with self._read() as conn:
            return conn.execute(sa.select(sa.func.max(index_outbox.c.id))).scalar() or 0

    def requeue_index(self, changes: Sequence[tuple[int, int | None, str]], *, delay_s: float = 0) -> None:
        """Queue index changes ``(document id, version id or None, op)`` that derived data
        needs again (not audited: nothing in the archive changed), for ``delay_s`` from now on."""
        if changes:
            now = utcnow()
            later = now + dt.timedelta(seconds=delay_s) if delay_s else None
            with self.writing() as conn:
                conn.execute(
                    _INSERT_OUTBOX,
                    [
                        {
                            "document_id": d,
                            "version_id": v,
                            "op": op,
                            "created_at": now,
                            "claimed_until": later,
                            "claimed_by": None,
                        }
                        for d, v, op in changes
                    ],
                )

    def outbox_done(
        self, ids: Sequence[int] = (), *, up_to: int | None = None, added_versions: Sequence[int] = ()
    ) -> None:
        """Remove applied outbox rows: by id, every row up to an id (after a rebuild), or the
        "add" rows of versions that were indexed another way (a bulk import's stream)."""
        with self.writing() as conn:
            if ids:
                conn.execute(index_outbox.delete().where(index_outbox.c.id.in_(list(ids))))
            if up_to is not None:
                conn.execute(index_outbox.delete().where(index_outbox.c.id <= up_to))
            for lo in range(0, len(added_versions), 500):
                conn.execute(
                    index_outbox.delete().where(
                        index_outbox.c.op == "add", index_outbox.c.version_id.in_(list(added_versions[lo : lo + 500]))
                    )
                )

    def outbox_failed(self, ids: Sequence[int], error: str) -> None:
        with self.writing() as conn:
            conn.execute(
                index_outbox.update()
                .where(index_outbox.c.id.in_(list(ids)))
                .values(attempts=index_outbox.c.attempts + 1, last_error=error[:2000])
            )

    def get_extraction(self, sha256: str, extractor_version: str) -> dict[str, Any] | None:
        with self._read() as conn:
            row = (
                conn.execute(
                    sa.select(extractions).where(
                        extractions.c.sha256 == sha256, extractions.c.extractor_version == extractor_version
                    )
                )
                .mappings()
                .first()
            )
        return dict(row) if row else None

    def extraction_statuses(self, hashes: Sequence[str], extractor_version: str) -> dict[str, str]:
        with self._read() as conn:
            rows = conn.execute(
                sa.select(extractions.c.sha256, extractions.c.status).where(
                    extractions.c.sha256.in_(list(hashes)), extractions.c.extractor_version == extractor_version
                )
            ).all()
        return {sha: status for sha, status in rows}

    def put_extractions(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Cache extractions (``sha256``, ``extractor_version``, ``status``, ``text``, ``pages``,
        ``detail``), in one transaction. Derived data: a row already there is replaced (a
        concurrent identical insert is harmless; an extraction that timed out is tried again)."""
        if not rows:
            return
        now = utcnow()
        # One row per key: PostgreSQL refuses to update a row twice in one statement.
        values = list(
            {
                (row["sha256"], row["extractor_version"]): {**row, "chars": len(row["text"]), "created_at": now}
                for row in rows
            }.values()
        )
        insert = (sqlite_insert if self.engine.dialect.name == "sqlite" else postgresql_insert)(extractions)
        replaced = {c: insert.excluded[c] for c in ("status", "text", "pages", "detail", "chars", "created_at")}
        with self.writing() as conn:
            conn.execute(
                insert.on_conflict_do_update(index_elements=["sha256", "extractor_version"], set_=replaced), values
            )

    def ocr_pages(self, sha256: str, engine: str) -> dict[int, str]:
        """page number → the OCR result kept for it (JSON) while its document is being read."""
        with self._read() as conn:
            rows = conn.execute(
                sa.select(ocr_pages.c.page, ocr_pages.c.data).where(
                    ocr_pages.c.sha256 == sha256, ocr_pages.c.engine == engine
                )
            ).all()
        return {int(page): data for page, data in rows}

    def put_ocr_page(self, sha256: str, engine: str, page: int, data: str) -> None:
        """Keep one recognised page (derived data, outside the audit chain): a job interrupted
        later goes on from the next page. A row already there (a second reader whose lease
        overlapped) is replaced: both read the same content with the same engine."""
        insert = (sqlite_insert if self.engine.dialect.name == "sqlite" else postgresql_insert)(ocr_pages)
        with self.writing() as conn:
            conn.execute(
                insert.on_conflict_do_update(
                    index_elements=["sha256", "engine", "page"],
                    set_={"data": insert.excluded.data, "created_at": insert.excluded.created_at},
                ),
                {"sha256": sha256, "engine": engine, "page": page, "data": data, "created_at": utcnow()},
            )

    def versions_after(self, after_id: int, *, limit: int, up_to: int | None = None) -> list[Version]:
        """Versions in id order, for chunked, resumable index rebuilds."""
        query = sa.select(versions).where(versions.c.id > after_id)
        if up_to is not None:
            query = query.where(versions.c.id <= up_to)
        with self._read() as conn:
            rows = conn.execute(query.order_by(versions.c.id).limit(limit)).mappings().all()
        return [version_from_row(r) for r in rows]

    def version_hashes(self) -> dict[int, str]:
        with self._read() as conn:
            return {vid: sha for vid, sha in conn.execute(sa.select(versions.c.id, versions.c.sha256))}

    def max_version_id(self) -> int:
        with self._read() as conn:
            return conn.execute(sa.select(sa.func.max(versions.c.id))).scalar() or 0

    def documents_by_id(self, ids: Sequence[int]) -> dict[int, Document]:
        with self._read() as conn:
            rows = conn.execute(sa.select(documents).where(documents.c.id.in_(list(ids)))).mappings().all()
        return {r["id"]: _document(r) for r in rows}

    def generated_with_value(self, template: str, field: str, value: str) -> list[tuple[int, str]]:
        """(document id, title) of documents whose latest version was generated from
        ``template`` with the form field ``field`` equal to ``value`` (the business checks'
        view of the archive: numbers unique, references present)."""
        # The provenance is JSON text written by one serializer on both databases, so the value
        # as that serializer spells it narrows the rows in SQL; the exact test is done here.
        spelled = json.dumps(value)[1:-1]
        query = (
            sa.select(documents.c.id, documents.c.title, versions.c.provenance)
            .join(versions, versions.c.document_id == documents.c.id)
            .where(
                versions.c.number == documents.c.latest_version,
                versions.c.source == VersionSource.GENERATED.value,
                sa.cast(versions.c.provenance, sa.Text).contains(spelled, autoescape=True),
            )
            .order_by(documents.c.id)
        )
        with self._read() as conn:
            rows = conn.execute(query).all()
        out = []
        for doc_id, title, provenance in rows:
            prov = provenance or {}
            data = prov.get("data") or {}
            if (
                prov.get("template") == template
                and isinstance(data, dict)
                and str(data.get(field, "")).strip() == value
            ):
                out.append((doc_id, title))
        return out

    def latest_version_ids(self, document_ids: Sequence[int]) -> dict[int, int]:
        """document id → id of its latest version."""
        with self._read() as conn:
            rows = conn.execute(
                sa.select(versions.c.document_id, versions.c.id)
                .join(documents, documents.c.id == versions.c.document_id)
                .where(versions.c.document_id.in_(list(document_ids)), versions.c.number == documents.c.latest_version)
            ).all()
        return {d: v for d, v in rows}

    # -- classification suggestions -----------------------------------------------------
    def suggestions(self, document_id: int, *, state: str | None = "pending") -> list[dict[str, Any]]:
        """A document's suggestions, oldest first: those in ``state`` (None: all)."""
        query = sa.select(suggestions).where(suggestions.c.document_id == document_id).order_by(suggestions.c.id)
        if state is not None:
            query = query.where(suggestions.c.state == state)
        with self._read() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def versions_suggested_by(self, tag_endings: Collection[str], *, meaning_model: str | None = None) -> list[int]:
        """Ids of the versions whose pending suggestion's model tag ends in one of these; with
        ``meaning_model``, only those whose content's meaning vector by it is kept."""
        query = sa.select(suggestions.c.version_id).where(
            suggestions.c.state == "pending",
            sa.or_(*(suggestions.c.model_version.endswith(end, autoescape=True) for end in tag_endings)),
        )
        if meaning_model is not None:
            query = query.join(versions, versions.c.id == suggestions.c.version_id).join(
                meaning_vectors,
                sa.and_(meaning_vectors.c.sha256 == versions.c.sha256, meaning_vectors.c.model == meaning_model),
            )
        with self._read() as conn:
            return sorted({int(v) for (v,) in conn.execute(query)})

    def review_queue(
        self, *, review_only: bool, site_projects: Collection[str] | None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """Pending suggestions, oldest first, of the documents a reader of ``site_projects``
        may read (None: every document); only those needing review with ``review_only``."""
        query = _review_queue(sa.select(suggestions), review_only, site_projects).order_by(suggestions.c.id)
        with self._read() as conn:
            return [dict(r) for r in conn.execute(query.limit(limit)).mappings()]

    def count_review_queue(self, *, review_only: bool, site_projects: Collection[str] | None) -> int:
        query = _review_queue(sa.select(sa.func.count()), review_only, site_projects)
        with self._read() as conn:
            return int(conn.execute(query).scalar_one())

    def confirmed_labels(self) -> list[tuple[int, str, str, str]]:
        """(document id, latest version sha256, doc_type, service_category) of every document
        whose labels a person set or confirmed (no pending suggestion)."""
        pending = sa.select(suggestions.c.document_id).where(suggestions.c.state == "pending")
        query = (
            sa.select(documents.c.id, versions.c.sha256, documents.c.doc_type, documents.c.service_category)
            .join(
                versions,
                sa.and_(versions.c.document_id == documents.c.id, versions.c.number == documents.c.latest_version),
            )
            .where(documents.c.id.not_in(pending))
            .order_by(documents.c.id)
        )
        with self._read() as conn:
            return [tuple(r) for r in conn.execute(query)]

    def project_names(self) -> list[str]:
        with self._read() as conn:
            return [
                p
                for (p,) in conn.execute(sa.select(documents.c.project).distinct().where(documents.c.project != ""))
                if p
            ]

    def current_model(self, name: str) -> dict[str, Any] | None:
        """The model every server uses now under ``name`` (its blob's hash and what made it)."""
        with self._read() as conn:
            row = conn.execute(sa.select(derived_models).where(derived_models.c.name == name)).mappings().first()
        return dict(row) if row else None

    def record_model(
        self,
        name: str,
        *,
        sha256: str,
        size: int,
        model_version: str,
        labels_fingerprint: str,
        n_samples: int,
        trained_by: str,
    ) -> None:
        """Make the stored blob ``sha256`` the current model ``name`` (derived data: not audited)."""
        values = {
            "sha256": sha256,
            "size": size,
            "model_version": model_version,
            "labels_fingerprint": labels_fingerprint,
            "n_samples": n_samples,
            "trained_at": dt.datetime.now(dt.UTC),
            "trained_by": trained_by,
        }
        insert = (sqlite_insert if self.is_sqlite else postgresql_insert)(derived_models)
        with self.writing() as conn:
            conn.execute(insert.values(name=name, **values).on_conflict_do_update(index_elements=["name"], set_=values))

    def shared_secret(self, name: str, make: Callable[[], str]) -> str:
        """The installation's secret ``name``; the first server to ask stores ``make()``, every
        other server (and every later start) reads that same value."""
        insert = (sqlite_insert if self.is_sqlite else postgresql_insert)(instance_secrets)
        with self.writing() as conn:
            conn.execute(
                insert.values(name=name, value=make(), created_at=dt.datetime.now(dt.UTC)).on_conflict_do_nothing(
                    index_elements=["name"]
                )
            )
            return conn.execute(sa.select(instance_secrets.c.value).where(instance_secrets.c.name == name)).scalar_one()

    def audit_head(self) -> tuple[int, str] | None:
        """The head record's (seq, hash); None when it was deleted."""
        with self._read() as conn:
            row = conn.execute(sa.select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1)).first()
        return (row.seq, row.hash) if row else None

    def audit_rows(
        self, *, after: int = 0, up_to: int | None = None, chunk: int = 2000
    ) -> Iterator[audit.AuditEntry | audit.Unreadable]:
        """Every entry after seq ``after`` (to ``up_to``) in seq order, for verification: a row that
        cannot be decoded — even one the driver cannot read — is an :class:`audit.Unreadable`
        naming its seq, never an exception that stops the walk."""
        last = after
        while True:
            cond = [audit_log.c.seq > last] + ([audit_log.c.seq <= up_to] if up_to is not None else [])
            try:
                with self._read() as conn:
                    rows = (
                        conn.execute(sa.select(audit_log).where(*cond).order_by(audit_log.c.seq).limit(chunk))
                        .mappings()
                        .all()
                    )
                batch = [_entry_or_unreadable(r) for r in rows]
            except (OperationalError, DBAPIError, Undecodable) as exc:
                batch = self._audit_rows_one_by_one(cond, chunk, exc)
            if not batch:
                return
            yield from batch
            last = batch[-1].seq

    def _audit_rows_one_by_one(
        self, cond: list[Any], chunk: int, failure: Exception
    ) -> list[audit.AuditEntry | audit.Unreadable]:
        """A chunk the driver could not read (SQLite cannot decode invalid UTF-8): read its seq
        numbers, then each row alone, to name the ones that fail."""
        with self._read() as conn:
            try:
                seqs = (
                    conn.execute(sa.select(audit_log.c.seq).where(*cond).order_by(audit_log.c.seq).limit(chunk))
                    .scalars()
                    .all()
                )
            except (OperationalError, DBAPIError):
                raise _unavailable(failure) from failure
            out: list[audit.AuditEntry | audit.Unreadable] = []
            for seq in seqs:
                try:
                    row = conn.execute(sa.select(audit_log).where(audit_log.c.seq == seq)).mappings().one()
                    out.append(_entry_or_unreadable(row))
                except (OperationalError, DBAPIError, Undecodable) as exc:
                    conn.rollback()  # PostgreSQL: the failed statement aborted the transaction
                    detail = exc.details["error"] if isinstance(exc, Undecodable) else str(getattr(exc, "orig", exc))
                    out.append(audit.Unreadable(seq, detail[:200]))
        return out

    def audit_hash_at(self, seq: int) -> str | None:
        """The stored hash of entry ``seq`` (None: there is no such entry)."""
        with self._read() as conn:
            return conn.execute(sa.select(audit_log.c.hash).where(audit_log.c.seq == seq)).scalar()

    def counts(self) -> dict[str, int]:
        with self._read() as conn:
            return {
                "documents": conn.execute(sa.select(sa.func.count()).select_from(documents)).scalar_one(),
                "versions": conn.execute(sa.select(sa.func.count()).select_from(versions)).scalar_one(),
                "audit_entries": conn.execute(sa.select(sa.func.count()).select_from(audit_log)).scalar_one(),
                "outbox_pending": conn.execute(sa.select(sa.func.count()).select_from(index_outbox)).scalar_one(),
            }
