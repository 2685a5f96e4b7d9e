"""Wiring, done once: the central :class:`Docsvc` object, built by :func:`open_docsvc`.

No web framework here: the Flask application is built around this object by
``docsvc.web.factory.create_app``, and the CLI opens it directly. Both faces then reach the use
cases through the same :class:`~docsvc.services.access.Guard` (``svc.guard(principal)``), so every
role rule applies the same whichever door a user comes in by.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from docsvc import settings as settings_mod
from docsvc.adapters.blobstore import LocalBlobStore
from docsvc.adapters.catalog import SqlCatalog
from docsvc.adapters.embed_e5 import E5Embedder
from docsvc.core.audit import VerifyResult
from docsvc.core.blobs import BlobStore
from docsvc.core.checkpoints import Checkpoint
from docsvc.core.content import PackageLimits
from docsvc.core.extract import ExtractLimits
from docsvc.core.model import Vocabulary, utcnow
from docsvc.core.synonyms import load as load_synonyms
from docsvc.errors import InvalidInput
from docsvc.services import background, integrity, ocr, thumbnails
from docsvc.services.access import Guard
from docsvc.services.anchoring import Anchor
from docsvc.services.archive import ArchiveService
from docsvc.services.bulk import Importer
from docsvc.services.classify import ClassifyService
from docsvc.services.intake import IntakeFolder, IntakeWatcher
from docsvc.services.jobs import JobRunner, JobService, default_node_name
from docsvc.services.reports import ReportService
from docsvc.services.search import BackgroundIndexer, IndexService
from docsvc.services.semantic import SemanticRanking
from docsvc.services.templates import RenderLimits, TemplateService
from docsvc.services.users import Principal, SessionPolicy, UserService


@dataclass
class Docsvc:
    settings: dict[str, Any]
    catalog: SqlCatalog
    blobs: BlobStore
    vocab: Vocabulary
    archive: ArchiveService
    templates: TemplateService
    index: IndexService
    classifier: ClassifyService
    importer: Importer
    converter: LazyConverter
    # Signed audit checkpoints outside the catalog (DOCSVC_AUDIT_KEY_FILE, …_CHECKPOINT_URL); None: off.
    anchor: Anchor | None = None
    indexer: BackgroundIndexer | None = None
    job_runner: JobRunner | None = None
    intake: IntakeWatcher | None = None
    # What "now" is for sign-in delays and lockouts; tests replace it instead of sleeping.
    clock: Callable[[], dt.datetime] = utcnow

    @functools.cached_property
    def jobs(self) -> JobService:
        """The job queue shared by every server of the installation (docsvc.services.background)."""
        return background.job_service(self)

    def start_jobs(self) -> JobRunner:
        """Start the server's job runner (``docsvc serve`` does, beside the index writer; a CLI
        runs a job itself only when told to wait for it)."""
        if self.job_runner is None:
            # Thumbnails take a fraction of a second each: in a lane of their own, a new upload's
            # is there in seconds even while the main thread spends minutes on OCR or PDFs.
            self.job_runner = JobRunner(
                self.jobs, lanes=[thumbnails.LANE, background.CLASSIFIER_LANE], apart=background.CLASSIFIER_LANE
            )
            self.job_runner.start()
        return self.job_runner

    def start_indexer(self) -> BackgroundIndexer:
        """Start the server's index writer (``docsvc serve`` does; the CLI syncs inline)."""
        if self.indexer is None:
            self.indexer = BackgroundIndexer(self.index)
            self.archive.on_commit.append(self.indexer.wake)
            self.indexer.start()
        return self.indexer

    def start_intake(self) -> IntakeWatcher | None:
        """Watch ``DOCSVC_INTAKE_DIR`` when it is set (``docsvc serve`` does, in the process that
        also runs the index writer; every server may, the folder's lock lets one scan at a time)."""
        folder = str(self.settings.get("INTAKE_DIR") or "")
        if folder and self.intake is None:
            self.intake = IntakeWatcher(IntakeFolder(Path(folder), self.importer))
            self.intake.start()
        return self.intake

    def check(self, *, progress: Callable[[int], None] | None = None) -> integrity.CheckReport:
        return integrity.check(
            self.catalog, self.blobs, orphan_grace_s=0, progress=progress, index=self.index, anchor=self.anchor
        )

    def schema_revision(self) -> tuple[str | None, str]:
        """The catalog's schema revision and the newest this code knows (equal once migrated)."""
        return self.catalog.schema_revision()

    def referenced_blobs(self) -> int:
        """How many distinct blobs the catalog references: what :meth:`migrate_blobs` walks."""
        return len(self.catalog.referenced_hashes())

    def migrate_blobs(self, to_url: str, *, progress: Callable[[int], None] | None = None) -> integrity.MigrateReport:
        """Copy the archive's blobs into the store ``to_url`` names (then point DOCSVC_BLOB_URL at it)."""
        target = open_blob_store(self.settings, to_url)
        if target.location == self.blobs.location:
            raise InvalidInput(
                "目标存储与当前存储相同，无需迁移。", "The target is the store in use; nothing to migrate.", field="to"
            )
        target.init()
        return integrity.migrate_blobs(self.catalog, self.blobs, target, progress=progress)

    def verify_audit(self) -> VerifyResult:
        return integrity.verify_audit(self.catalog, self.anchor)

    def write_checkpoint(self) -> Checkpoint | None:
        """Sign and store a checkpoint of the audit chain's head now (None: nothing new since the
        latest); InvalidInput when checkpoints are not configured."""
        if self.anchor is None:
            raise InvalidInput(
                "未配置审计检查点：请设置 DOCSVC_AUDIT_KEY_FILE（docsvc audit keygen 生成）和 "
                "DOCSVC_AUDIT_CHECKPOINT_URL。",
                "Audit checkpoints are not configured: set DOCSVC_AUDIT_KEY_FILE (made by docsvc "
                "audit keygen) and DOCSVC_AUDIT_CHECKPOINT_URL.",
                field="DOCSVC_AUDIT_KEY_FILE",
            )
        return self.anchor.write(self.catalog)

    def gc(self, *, grace_s: float | None = None) -> list[str]:
        grace = self.settings["ORPHAN_GRACE_S"] if grace_s is None else grace_s
        return integrity.collect_garbage(self.catalog, self.blobs, grace_s=grace)

    @functools.cached_property
    def reports(self) -> ReportService:
        """Management reports, filled from the archive's data and archived like any document."""
        return ReportService(
            self.catalog,
            self.templates,
            self.vocab,
            organization=self.settings["ORGANIZATION"],
            tz=_zone(self.settings["TIMEZONE"]),
            verify=self.verify_audit,
        )

    @property
    def users(self) -> UserService:
        # Stateless: the catalog holds the state.
        return UserService(self.catalog, clock=self.clock, sessions=SessionPolicy.from_settings(self.settings))

    def guard(self, principal: Principal) -> Guard:
        """The archive as ``principal`` may use it: every role rule is applied there."""
        return Guard(self, principal)

    def close(self) -> None:
        if self.intake is not None:
            self.intake.stop()  # before the catalog it archives into is gone
        if self.job_runner is not None:
            self.job_runner.stop()  # before the converter closes under a job
        if self.indexer is not None:
            self.indexer.stop()
        self.converter.close()
        self.index.close()
        self.catalog.dispose()


def open_docsvc(config: Mapping[str, Any] | None = None, *, migrate: bool = True) -> Docsvc:
    """Resolve settings, create the data folders and bring the catalog schema up to date."""
    conf = settings_mod.load(config)
    catalog = SqlCatalog(conf["DATABASE_URL"], durable=conf["FSYNC"])  # no connection yet
    try:
        # A search engine the catalog cannot carry is refused before anything is created.
        open_index = _index_opener(conf, catalog)
    except InvalidInput:
        catalog.dispose()
        raise
    anchor = Anchor.from_settings(conf, node=conf["NODE_NAME"] or default_node_name())
    if anchor is not None:
        anchor.store.init()
    blobs = open_blob_store(conf)
    blobs.init()
    # The archive folder holds the default SQLite catalog even when the blobs are elsewhere.
    Path(conf["ARCHIVE_DIR"]).mkdir(parents=True, exist_ok=True)
    Path(conf["INDEX_DIR"]).mkdir(parents=True, exist_ok=True)
    if migrate:
        catalog.migrate()
    vocab = Vocabulary.with_extra(conf["EXTRA_DOC_TYPES"])
    package_limits = PackageLimits(conf["MAX_ZIP_MEMBERS"], conf["MAX_EXPANDED_BYTES"], conf["MAX_ZIP_RATIO"])
    archive = ArchiveService(
        catalog, blobs, vocab, max_upload_bytes=conf["MAX_UPLOAD_BYTES"], package_limits=package_limits
    )
    index = IndexService(
        catalog,
        blobs,
        open_index,
        Path(conf["INDEX_DIR"]),
        synonyms=load_synonyms(conf["SYNONYMS_FILE"]),
        extract_limits=ExtractLimits(
            max_input_bytes=conf["MAX_UPLOAD_BYTES"],
            pdf_memory_bytes=conf["PARSE_MEMORY_MB"] * 1024 * 1024,
            pdf_cpu_seconds=int(conf["PARSE_TIMEOUT_S"]),
            pdf_timeout_seconds=conf["PARSE_TIMEOUT_S"],
            package=package_limits,
        ),
        lease_s=conf["INDEX_LEASE_S"],
        retry_after_s=conf["PARSE_RETRY_AFTER_S"],
    )
    converter = LazyConverter(conf)
    templates = TemplateService(
        catalog,
        blobs,
        archive,
        vocab,
        shipped_dir=conf["TEMPLATES_DIR"],
        package_limits=package_limits,
        limits=RenderLimits(conf["RENDER_TIMEOUT_S"], conf["RENDER_MEMORY_MB"], conf["MAX_UPLOAD_BYTES"]),
        converter=converter,
        author=conf["ORGANIZATION"],
    )
    classifier = ClassifyService(catalog, index, archive, blobs, Path(conf["INDEX_DIR"]))
    if migrate:
        templates.sync_shipped()
    svc = Docsvc(
        conf,
        catalog,
        blobs,
        vocab,
        archive,
        templates,
        index,
        classifier,
        Importer(archive, index, classifier),
        converter,
        anchor,
    )
    if conf["SEMANTIC"]:
        index.semantic = SemanticRanking(catalog, E5Embedder(), index.cached_text)
        index.semantic.on_embedded.append(classifier.read_meanings)
    # The index writer queues the OCR of each scan it meets; the job runner reads it.
    index.ocr = ocr.OcrQueue(catalog, lambda version: ocr.request(svc, version), enabled=conf["OCR"])
    archive.on_commit.append(thumbnails.SweepOnCommit(svc))  # new versions' thumbnails, in the background
    return svc


def open_blob_store(conf: Mapping[str, Any], url: str | None = None) -> BlobStore:
    """The blob store ``url`` names (default: the settings' DOCSVC_BLOB_URL; empty is the
    archive folder)."""
    url = conf["BLOB_URL"] if url is None else url
    if not url:
        return LocalBlobStore(Path(conf["ARCHIVE_DIR"]), fsync=conf["FSYNC"], sweep_after_s=conf["ORPHAN_GRACE_S"])
    if url.startswith("s3:"):
        from docsvc.adapters.s3_blobstore import S3BlobStore

        return S3BlobStore(
            url,
            endpoint_url=conf["S3_ENDPOINT_URL"],
            region=conf["S3_REGION"] or os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
            timeout_s=conf["BLOB_TIMEOUT_S"],
            max_connections=max(10, conf["THREADS"] * 2),
        )
    if url.startswith("file:"):
        return LocalBlobStore(
            Path(url.removeprefix("file://").removeprefix("file:")),
            fsync=conf["FSYNC"],
            sweep_after_s=conf["ORPHAN_GRACE_S"],
        )
    raise InvalidInput(
        f"无法识别的归档文件存放处“{url}”：应为空、file:///目录 或 s3://存储桶/前缀。",
        f"Unknown blob store {url!r}: expected empty, file:///FOLDER or s3://BUCKET/PREFIX.",
        field="DOCSVC_BLOB_URL",
    )


def _index_opener(conf: Mapping[str, Any], catalog: SqlCatalog) -> Callable[[], Any]:
    """How to open the search engine the settings name (see docsvc.core.search.SearchIndex)."""
    tz = _zone(conf["TIMEZONE"])
    if conf["SEARCH_BACKEND"] == "postgres":
        from docsvc.adapters.pg_search import PostgresIndex, WordIndex

        if catalog.engine.dialect.name != "postgresql":
            raise InvalidInput(
                "DOCSVC_SEARCH_BACKEND=postgres 需要 PostgreSQL 目录库：请同时设置 DOCSVC_DATABASE_URL=postgresql+psycopg://…。",
                "DOCSVC_SEARCH_BACKEND=postgres needs the catalog on PostgreSQL: set "
                "DOCSVC_DATABASE_URL=postgresql+psycopg://… too.",
                field="DOCSVC_SEARCH_BACKEND",
            )
        return lambda: PostgresIndex.open(
            catalog.engine,
            search_timeout=conf["SEARCH_TIMEOUT_S"],
            tz=tz,
            word_index=WordIndex(conf["SEARCH_PG_INDEX"]),
        )
    from docsvc.adapters.whoosh import WhooshIndex

    return lambda: WhooshIndex.open(
        Path(conf["INDEX_DIR"]),
        lock_timeout=conf["INDEX_LOCK_TIMEOUT_S"],
        search_timeout=conf["SEARCH_TIMEOUT_S"],
        tz=tz,
    )


class LazyConverter:
    """The PDF converter, started on first use: LibreOffice takes seconds to start and many
    processes (a CLI call, a test) never need it."""

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self.settings = settings
        self._converter: Any = None
        self._lock = threading.Lock()

    def __call__(self) -> Any:
        with self._lock:
            if self._converter is None:
                from docsvc.adapters.pdf import LibreOfficeConverter

                self._converter = LibreOfficeConverter.from_settings(self.settings)
            return self._converter

    def health(self) -> dict[str, Any]:
        return self._converter.health() if self._converter is not None else {"state": "not started"}

    def close(self) -> None:
        if self._converter is not None:
            self._converter.close()


def _zone(name: str) -> dt.tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(
            f"未知时区“{name}”，例如 Asia/Shanghai。",
            f"Unknown time zone '{name}', e.g. Asia/Shanghai.",
            field="DOCSVC_TIMEZONE",
        ) from None
