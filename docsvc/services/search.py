"""The search index as a projection of the catalog (design guarantee 4).

Changes reach the index through the outbox written in the same transaction as the change.
``sync`` applies it in order; a failed write leaves the rows queued (attempts counted) and is
retried next time, so nothing is lost. ``rebuild`` recreates the index from the catalog and the
archive in chunks, resumably, recording its cursor beside the index. ``bulk`` indexes a bulk
import's new documents while they are archived and removes the outbox rows of what it
committed; the rest stays queued for ``sync``. Extracted text is cached in the catalog per
content hash and extractor version, so a rebuild does not re-parse every file and identical
content is parsed once.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from docsvc.adapters import fields as field_store
from docsvc.adapters.catalog import OutboxItem, OutboxLease, SqlCatalog
from docsvc.core import workers
from docsvc.core.blobs import BlobStore
from docsvc.core.extract import EXTRACTOR_VERSION, Extraction, ExtractionStatus, ExtractLimits, extract_text
from docsvc.core.fields import FieldDefinition, search_text
from docsvc.core.model import Document, Version, utcnow
from docsvc.core.search import IndexEntry, IndexStream, SearchIndex, SearchRequest, SearchResult
from docsvc.core.synonyms import SynonymTable
from docsvc.errors import Corrupted, DocsvcError, NotFound, Unavailable

log = logging.getLogger(__name__)

STATUS_FILE = "docsvc_indexer.json"  # the running index writer's status (see BackgroundIndexer)
# Below this many versions a missing or outdated index is rebuilt inline (about a second per
# hundred documents); above it the rebuild is an operator's or the server's background job.
INLINE_REBUILD_LIMIT = 200
# Batches this large are worth forking writer processes for (each writes its own segment).
PARALLEL_MIN = 200
# Versions per rebuild commit. With one writer process per core, each writes a segment of
# chunk/procs documents that the merge policy then leaves alone (see MAX_MERGED_DOCS): merging
# 500-document segments rewrote every posting again in the main process and halved the rate.
# A crash loses at most one chunk of work.
REBUILD_CHUNK = 4000
# Versions per segment of each writer process of a bulk import's stream: as big as a rebuild's,
# for the same reason.
BULK_SEGMENT_DOCS = 2000
REOPEN_AFTER_S = 5.0  # see IndexService.index
# How long a bulk import's new versions are left to it by other indexers (a running server's)
# after it last renewed its lease (every third of it, while it runs): it commits them within a
# segment's filling, a minute or two; if it dies, any indexer takes them once the lease is out.
BULK_LEASE_S = 30.0
# A PDF stopped by the wall clock (a busy machine) is tried again this many times, each later
# and with twice the time, before its failure is recorded for good.
TIMEOUT_RETRIES = 2
RETRY_AFTER_S = 300.0
SEMANTIC_BATCH = 16  # versions the index writer embeds between two looks at the outbox
# With nothing written or indexed here, the embedder looks for versions still lacking vectors
# (another server's writes, a batch that failed) this often: each look reads every version, a
# quarter of a second at 100,000, which after every sync kept an idle server a tenth busy.
EMBED_RECHECK_S = 60.0
EMBEDDER_NICENESS = 10  # the embedding thread's nice value above the server's (os.nice)


@dataclass(frozen=True)
class SyncReport:
    applied: int = 0
    failed: int = 0
    pending: int = 0
    error: str = ""


@dataclass(frozen=True)
class DriftReport:
    needs_rebuild: bool
    reason: str
    catalog_versions: int
    indexed_versions: int
    missing: list[int] = field(default_factory=list)  # in the catalog, not in the index
    extra: list[int] = field(default_factory=list)  # in the index, not in the catalog
    mismatched: list[int] = field(default_factory=list)  # indexed with another content hash
    outbox_pending: int = 0

    @property
    def ok(self) -> bool:
        return not (self.needs_rebuild or self.missing or self.extra or self.mismatched)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "needs_rebuild": self.needs_rebuild,
            "reason": self.reason,
            "catalog_versions": self.catalog_versions,
            "indexed_versions": self.indexed_versions,
            "missing": self.missing[:100],
            "extra": self.extra[:100],
            "mismatched": self.mismatched[:100],
            "outbox_pending": self.outbox_pending,
        }


class IndexService:
    """The index as the rest of docsvc uses it, over whichever engine ``open_index`` opens
    (the wiring chooses it from the settings). ``state_dir`` is this machine's folder for the
    indexer's status file."""

    def __init__(
        self,
        catalog: SqlCatalog,
        blobs: BlobStore,
        open_index: Callable[[], SearchIndex],
        state_dir: Path,
        *,
        extract_limits: ExtractLimits,
        synonyms: SynonymTable | None = None,
        lease_s: float = BULK_LEASE_S,
        retry_after_s: float = RETRY_AFTER_S,
    ) -> None:
        self.catalog = catalog
        self.lease_s = lease_s
        self.retry_after_s = retry_after_s
        self.synonyms = synonyms if synonyms is not None else SynonymTable()
        self.blobs = blobs
        self.state_dir = Path(state_dir)
        self.extract_limits = extract_limits
        self._open_index = open_index
        self._index: SearchIndex | None = None
        self._opened_at = 0.0
        self._lock = threading.Lock()
        self._rebuilding = threading.Lock()  # one rebuild at a time in this process
        # Custom field kinds by key, read when a key is first met (a key's kind never changes).
        self._field_kinds: dict[str, FieldDefinition] = {}
        # Scans and images: their text comes from OCR, queued in the background (set by the
        # wiring; docsvc.services.ocr.OcrQueue). None: they stay "no text layer".
        self.ocr: Any = None
        # Questions ranked by meaning too (set by the wiring; docsvc.services.semantic). None:
        # by their words alone.
        self.semantic: Any = None

    @property
    def index(self) -> SearchIndex:
        """The index; one that needed a rebuild is opened again every REOPEN_AFTER_S (unless
        this process is rebuilding it): a rebuild run by another process, or a read error that
        passed, then heals a running server without a restart."""
        with self._lock:
            now = time.monotonic()
            if (
                self._index is not None
                and self._index.needs_rebuild
                and not self._rebuilding.locked()
                and now - self._opened_at >= REOPEN_AFTER_S
            ):
                self._index.close()
                self._index = None
            if self._index is None:
                self._index = self._open_index()
                self._opened_at = now
            return self._index

    def close(self) -> None:
        if self._index is not None:
            self._index.close()

    # -- text ---------------------------------------------------------------------------
    def extraction(self, version: Version) -> Extraction:
        """The version's text, from the cache or extracted now (under the extractor's limits);
        one that timed out is extracted again, with a longer limit, until its retries are used."""
        return self._with_ocr(version, self.base_extraction(version))

    def base_extraction(self, version: Version) -> Extraction:
        """:meth:`extraction` as the extractor gave it, before OCR (its text layer only)."""
        cached = self.catalog.get_extraction(version.sha256, EXTRACTOR_VERSION)
        timeouts = 0
        if cached is not None:
            detail = json.loads(cached["detail"] or "{}")
            timeouts = detail.get("timeouts", 0)
            if not _retry_due(timeouts):
                return Extraction(
                    ExtractionStatus(cached["status"]),
                    cached["text"],
                    cached["pages"],
                    detail.get("zh", ""),
                    detail.get("en", ""),
                    detail.get("truncated", False),
                    producer=detail.get("producer", ""),
                    ocr_pages=tuple(detail.get("ocr_pages", ())),
                    garbage_pages=tuple(detail.get("garbage_pages", ())),
                    runs=tuple((int(a), int(b), str(t)) for a, b, t in detail.get("runs", ())),
                )
        try:
            data = self.blobs.read(version.sha256)
        except (NotFound, Corrupted) as exc:
            # Not cached: once the blob is restored from backup the next sync extracts it.
            return Extraction(ExtractionStatus.FAILED, detail_zh=exc.zh, detail_en=exc.en)
        return self.extract(version.sha256, data, version.media_type, timeouts=timeouts)

    def _with_ocr(self, version: Version, text: Extraction) -> Extraction:
        """A scan's or an image's OCR text when it has been read, else "ocr_pending" (queued)."""
        return text if self.ocr is None else self.ocr.text(version, text)

    def extract(self, sha256: str, data: bytes, media_type: str, *, timeouts: int = 0) -> Extraction:
        """Extract ``data`` (content hash ``sha256``) under the limits and cache the result.
        ``timeouts``: how often it timed out before (each retry has twice the time)."""
        result, row = self._extract(sha256, data, media_type, timeouts)
        self.catalog.put_extractions([row])
        return result

    def _extract(self, sha256: str, data: bytes, media_type: str, timeouts: int) -> tuple[Extraction, dict[str, Any]]:
        limits = replace(self.extract_limits, pdf_timeout_seconds=self.extract_limits.pdf_timeout_seconds * 2**timeouts)
        result = extract_text(data, media_type, limits=limits)
        timed_out = result.timed_out
        if timed_out:
            timeouts += 1
            result = _timed_out(result, timeouts)
        return result, _extraction_row(sha256, result, timeouts if timed_out else 0)

    def extraction_statuses(self, versions: list[Version]) -> dict[int, str]:
        """version id → extraction status ("pending" until the indexer has read it)."""
        known = self.catalog.extraction_statuses([v.sha256 for v in versions], EXTRACTOR_VERSION)
        scans = [v.sha256 for v in versions if self.ocr is not None and self.ocr.wants(known.get(v.sha256))]
        if scans:
            read = self.ocr.statuses(scans)
            known.update({sha: read.get(sha, ExtractionStatus.OCR_PENDING.value) for sha in scans})
        return {v.id: known.get(v.sha256, "pending") for v in versions}

    def _entry(
        self, version: Version, doc: Document, latest_version_id: int | None, text: Extraction | None = None
    ) -> IndexEntry:
        text = self._with_ocr(version, text) if text is not None else self.extraction(version)
        if text.timed_out:  # indexed as failed for now, and tried again later
            self.catalog.requeue_index([(doc.id, version.id, "add")], delay_s=self.retry_after_s)
        year = (doc.metadata.effective_date or version.created_at).year
        return IndexEntry(
            version_id=version.id,
            document_id=doc.id,
            number=version.number,
            content=text.text + self._field_text(doc),
            is_latest=version.id == latest_version_id,
            sha256=version.sha256,
            original_filename=version.original_filename,
            **_metadata_fields(doc),
            year=year,
            created_at=version.created_at,
            extraction_status=text.status.value,
        )

    def _field_text(self, doc: Document) -> str:
        """The document's custom field values as indexed words (docsvc.core.fields.search_text),
        after its text: every engine finds a document by them (48.6万, 金, 2026年3月1日) as by
        its content. Changed values index every version again (docsvc.services.archive)."""
        values = doc.metadata.fields
        if not values:
            return ""
        if any(k not in self._field_kinds for k, _ in values):
            with self.catalog.reading() as conn:
                self._field_kinds = {d.key: d for d in field_store.definitions(conn)}
        return "\n\n" + "\n".join(search_text(self._field_kinds.get(k), v) for k, v in values)

    def ensure(self, *, inline_limit: int = INLINE_REBUILD_LIMIT) -> bool:
        """Rebuild a missing or outdated index on the spot when the archive is small (a fresh
        install, a test); a large one waits for ``docsvc index rebuild`` or the server's
        background rebuild. Returns whether the index is usable."""
        index = self.index
        if index.needs_rebuild and not self._rebuilding.locked() and self.catalog.counts()["versions"] <= inline_limit:
            self.rebuild(resume=True)
        return not index.needs_rebuild

    # -- outbox -------------------------------------------------------------------------
    def sync(
        self,
        *,
        batch: int = 200,
        procs: int = 1,
        limit: int | None = None,
        claimed: bool = False,
        progress: Callable[[int], None] | None = None,
    ) -> SyncReport:
        """Apply the outbox in order until it is empty (or ``limit`` items are applied) or a
        write fails. ``procs`` > 1 writes each batch in that many forked processes (not in
        the server). Rows a running bulk import holds, and rows put off until later (a timed
        out extraction), are left unless ``claimed``."""
        index = self.index
        if not self.ensure():
            return SyncReport(pending=self.catalog.counts()["outbox_pending"], error=index.rebuild_reason)
        applied = 0
        while True:
            size = batch if limit is None else min(batch, limit - applied)
            if size <= 0:
                return SyncReport(applied=applied)
            with self.catalog.claim_outbox(limit=size, claimed=claimed) as claim:
                if not claim.items:  # the queue is empty, or other indexers hold what is left
                    return SyncReport(applied=applied)
                try:
                    self._apply(claim.items, procs=procs)
                except DocsvcError as exc:
                    claim.failed(exc.en)
                    failed, error = len(claim.items), exc.en
                    log.warning(
                        "index batch of %d change(s) failed, left queued: %s",
                        failed,
                        error,
                        extra={"failed": failed, "attempts": max(i.attempts for i in claim.items) + 1},
                    )
                else:
                    claim.done()
                    failed = 0
                    log.info(
                        "index batch applied: %d change(s)",
                        len(claim.items),
                        extra={"applied": len(claim.items), "lag_s": _lag_s(claim.items)},
                    )
            if failed:
                return SyncReport(applied, failed, self.catalog.counts()["outbox_pending"], error)
            applied += len(claim.items)
            if progress:
                progress(len(claim.items))

    def _apply(self, items: list[OutboxItem], *, procs: int = 1) -> None:
        doc_ids = sorted({i.document_id for i in items})
        docs = self.catalog.documents_by_id(doc_ids)
        latest = self.catalog.latest_version_ids(doc_ids)
        entries = []
        for item in items:
            if item.op == "add" and item.version_id is not None:
                version = self.catalog.get_version_by_id(item.version_id)
                if version is not None and item.document_id in docs:
                    entries.append(self._entry(version, docs[item.document_id], latest.get(item.document_id)))
        self.index.upsert(entries, procs=procs)
        # Each of these rewrites one document's versions in its own commit, so only documents
        # that need it: a first version is already the latest and has no siblings to flip.
        revised = {e.document_id for e in entries if e.number > 1}
        changed = {i.document_id for i in items if i.op == "metadata"}
        for doc_id in sorted((revised | changed) & set(docs)):
            if doc_id in changed:
                self.index.update_metadata(doc_id, _metadata_fields(docs[doc_id]))
            if doc_id in revised and doc_id in latest:
                self.index.set_latest(doc_id, latest[doc_id])

    @contextlib.contextmanager
    def bulk(self, *, procs: int) -> Iterator[BulkIndexing]:
        """Index new documents while they are being archived (a bulk import), through
        ``procs`` writer processes (it forks). The outbox rows of what it indexed are removed;
        anything it did not get to (a writer failed, the index was locked to the end) stays
        queued for :meth:`sync`, which the caller runs afterwards."""
        if not self.ensure():
            indexing = BulkIndexing(self, None)
            try:
                yield indexing
            finally:
                indexing.flush()
            return
        lease = OutboxLease(f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(4)}", self.lease_s)
        done = threading.Event()
        keeper = threading.Thread(target=self._keep_lease, args=(lease, done), daemon=True, name="docsvc-outbox-lease")
        keeper.start()
        try:
            with self.index.stream(procs=procs, segment_docs=BULK_SEGMENT_DOCS) as stream:
                indexing = BulkIndexing(self, stream, lease)
                try:
                    yield indexing
                    indexing.finish()
                finally:
                    indexing.flush()
        finally:
            done.set()
            keeper.join()
            # What the stream did not commit is anyone's now; with the database away, it is
            # once the lease runs out (and the error that ended the import is the one to report).
            with contextlib.suppress(DocsvcError):
                self.catalog.release_outbox(lease.owner)

    def _keep_lease(self, lease: OutboxLease, done: threading.Event) -> None:
        """Renew the import's lease on its outbox rows every third of it until ``done``. If this
        process dies, nobody renews it, and the rows go to any indexer when it runs out."""
        while not done.wait(lease.seconds / 3):
            try:
                self.catalog.renew_outbox_lease(lease)
            except DocsvcError:
                pass  # the database is away: try again; if the lease runs out meanwhile, others index them

    # -- rebuild ------------------------------------------------------------------------
    def rebuild(
        self,
        *,
        chunk: int = REBUILD_CHUNK,
        procs: int = 1,
        resume: bool = True,
        progress: Callable[[int], None] | None = None,
    ) -> int:
        """Recreate the index from the catalog; after a crash it resumes from its cursor."""
        if not self._rebuilding.acquire(blocking=False):
            raise Unavailable("索引正在重建中，请稍后再试。", "The index is being rebuilt; try again shortly.")
        try:
            with self.index.rebuilding():  # and in no other process, on any machine
                return self._rebuild(chunk, procs, resume, progress)
        finally:
            self._rebuilding.release()

    def _rebuild(self, chunk: int, procs: int, resume: bool, progress: Callable[[int], None] | None) -> int:
        index = self.index
        cursor = index.rebuild_cursor() if resume else None
        if cursor is None:
            cursor = {"after": 0, "up_to": self.catalog.max_version_id(), "outbox_up_to": self.catalog.outbox_max_id()}
            index.clear()  # marks the index incomplete until mark_complete()
            index.save_rebuild_cursor(cursor)
            log.info("index rebuild started", extra={"up_to": cursor["up_to"]})
        else:
            log.info("index rebuild resumed after version id %d", cursor["after"], extra=dict(cursor))
            if progress:
                progress(self._count_up_to(cursor["after"]))
        done = 0
        # The next chunk's text is read (and extracted where not cached) in a thread while the
        # writer processes index this one.
        with ThreadPoolExecutor(1, thread_name_prefix="docsvc-rebuild-read") as reader:
            upcoming = reader.submit(self._chunk_entries, cursor["after"], chunk, cursor["up_to"])
            while True:
                entries = upcoming.result()
                if not entries:
                    break
                upcoming = reader.submit(self._chunk_entries, entries[-1].version_id, chunk, cursor["up_to"])
                index.upsert(entries, procs=procs if len(entries) >= PARALLEL_MIN else 1)
                cursor["after"] = entries[-1].version_id
                index.save_rebuild_cursor(cursor)
                done += len(entries)
                log.info(
                    "index rebuild: %d version(s) indexed, up to version id %d of %d",
                    done,
                    cursor["after"],
                    cursor["up_to"],
                    extra={"indexed": done, "after": cursor["after"], "up_to": cursor["up_to"]},
                )
                if progress:
                    progress(len(entries))
        # Everything queued before the rebuild started is covered by it.
        self.catalog.outbox_done(up_to=cursor["outbox_up_to"])
        index.mark_complete()
        index.save_rebuild_cursor(None)
        log.info("index rebuild finished: %d version(s) indexed", done, extra={"indexed": done})
        self.sync()
        return done

    def _chunk_entries(self, after: int, chunk: int, up_to: int) -> list[IndexEntry]:
        """Index entries of the next ``chunk`` versions after version id ``after``, in id order."""
        versions = self.catalog.versions_after(after, limit=chunk, up_to=up_to)
        doc_ids = sorted({v.document_id for v in versions})
        docs = self.catalog.documents_by_id(doc_ids)
        latest = self.catalog.latest_version_ids(doc_ids)
        return [self._entry(v, docs[v.document_id], latest.get(v.document_id)) for v in versions]

    def _count_up_to(self, version_id: int) -> int:
        return sum(1 for v in self.catalog.version_hashes() if v <= version_id)

    def rebuild_pending(self) -> bool:
        return self.index.rebuild_cursor() is not None

    # -- check and search ---------------------------------------------------------------
    def check(self) -> DriftReport:
        self.ensure()
        index = self.index
        catalog = self.catalog.version_hashes()
        pending = self.catalog.counts()["outbox_pending"]
        if index.needs_rebuild:
            return DriftReport(True, index.rebuild_reason, len(catalog), 0, outbox_pending=pending)
        indexed = index.indexed_versions()
        return DriftReport(
            False,
            "",
            len(catalog),
            len(indexed),
            missing=sorted(set(catalog) - set(indexed)),
            extra=sorted(set(indexed) - set(catalog)),
            mismatched=sorted(v for v in set(catalog) & set(indexed) if catalog[v] != indexed[v]),
            outbox_pending=pending,
        )

    def status(self) -> dict[str, Any]:
        """A cheap summary for the health page (the full drift check reads every entry)."""
        index = self.index
        counts = self.catalog.counts()
        indexed = None
        if not index.needs_rebuild:
            try:
                indexed = index.doc_count()
            except DocsvcError:
                indexed = None
        return {
            "ok": not index.needs_rebuild and indexed == counts["versions"] and not counts["outbox_pending"],
            "needs_rebuild": index.needs_rebuild,
            "reason": index.rebuild_reason,
            "indexed_versions": indexed,
            "catalog_versions": counts["versions"],
            "outbox_pending": counts["outbox_pending"],
            "rebuild_in_progress": self._rebuilding.locked() or self.rebuild_pending(),
            "semantic": self.semantic.status() if self.semantic is not None else None,
        }

    def _searchable(self) -> SearchIndex:
        index = self.index
        if not self.ensure():
            raise Unavailable(
                f"搜索索引正在重建或需要重建，请稍后再试（{index.rebuild_reason}）。",
                f"The search index is being rebuilt or needs a rebuild; try again shortly ({index.rebuild_reason}).",
            )
        return index

    def search(self, request: SearchRequest) -> SearchResult:
        if request.synonyms is None:
            request = replace(request, synonyms=self.synonyms)
        index = self._searchable()
        return index.search(request) if self.semantic is None else self.semantic.search(request, index.search)

    def doc_frequencies(self, words: list[str]) -> tuple[int, dict[str, int]]:
        """How many versions are indexed, and how many of them have each word (for an idf)."""
        index = self._searchable()
        return index.doc_count(), index.doc_frequencies(words)

    def cached_text(self, version: Version) -> str:
        """The version's extracted text if the indexer has read it, else "": unlike
        :meth:`extraction` this never parses a file, so a page can afford to ask."""
        cached = self.catalog.get_extraction(version.sha256, EXTRACTOR_VERSION)
        if cached is not None and self.ocr is not None and self.ocr.wants(cached["status"]):
            # Until OCR has read the rest, a partly scanned PDF has its text pages' text.
            base = cached if cached["status"] == ExtractionStatus.PARTIAL.value else None
            cached = self.catalog.get_extraction(version.sha256, self.ocr.key) or base
        return (cached["text"] or "") if cached is not None else ""


def writer_status(index_dir: Path) -> dict[str, Any] | None:
    """The index writer's last published status, if its process is still running."""
    try:
        status: dict[str, Any] = json.loads((index_dir / STATUS_FILE).read_text("utf-8"))
        os.kill(int(status.pop("pid")), 0)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return status


class BackgroundIndexer:
    """The server's single index writer: rebuilds a missing or outdated index at start (search
    answers 503 meanwhile), then applies the outbox whenever a write wakes it, and every few
    seconds for writes made by other processes (the CLI, another worker)."""

    def __init__(self, index: IndexService, *, interval_s: float = 2.0) -> None:
        self.index = index
        self.interval_s = interval_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # Semantic ranking's vectors are made on a thread of their own: embedding a long document
        # takes seconds of CPU, and the next upload must not wait for it to become searchable.
        self._embed_wake = threading.Event()
        self._embedder: threading.Thread | None = None
        self._written = True  # something may lack vectors: look at the first round
        self._embed_due = 0.0  # time.monotonic() of the next look with nothing written
        self._embedding = False
        self._publishing = threading.Lock()
        self.state = "stopped"
        self.last_error = ""
        self.last_sync: SyncReport | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="docsvc-indexer", daemon=True)
            self._thread.start()
            if self.index.semantic is not None:
                self._embedder = threading.Thread(target=self._embed_loop, name="docsvc-embedder", daemon=True)
                self._embedder.start()

    def wake(self) -> None:
        self._written = True
        self._wake.set()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        self._embed_wake.set()
        for thread in (self._thread, self._embedder):
            if thread is not None:
                thread.join(timeout_s)
        self._thread = self._embedder = None

    def status(self) -> dict[str, Any]:
        return {
            "state": "embedding" if self.state == "idle" and self._embedding else self.state,
            "last_error": self.last_error,
            "last_sync": self.last_sync.__dict__ if self.last_sync else None,
        }

    def _run(self) -> None:
        log.info("index writer started")
        try:
            if self.index.index.needs_rebuild:
                self.state = "rebuilding"
                log.info("index needs a rebuild (%s); rebuilding in the background", self.index.index.rebuild_reason)
                self.index.rebuild(resume=True)
        except Exception as exc:  # keep serving; the operator sees it in health
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.exception("index rebuild failed; searches answer 503 until it succeeds")
        while not self._stop.is_set():
            self.state = "syncing"
            before = self.last_error
            try:
                self.last_sync = self.index.sync()
                self.last_error = self.last_sync.error
            except Exception as exc:  # noqa: BLE001 - a database hiccup must not kill the thread
                self.last_error = f"{type(exc).__name__}: {exc}"
            if self.last_error != before:  # once per change, not every few seconds while it lasts
                if self.last_error:
                    log.warning("index sync failing, retried every %g s: %s", self.interval_s, self.last_error)
                else:
                    log.info("index sync works again")
            if not self.last_error and self._embed_wanted():
                self._embed_wake.set()
            self.state = "idle"
            self._publish()
            self._wake.wait(self.interval_s)
            self._wake.clear()
        self.state = "stopped"
        self._publish()

    def _embed_wanted(self) -> bool:
        """Whether the embedder should look for versions lacking vectors after this sync: a
        write woke the writer, the sync indexed something, or the periodic look is due."""
        now = time.monotonic()
        if self._written or (self.last_sync is not None and self.last_sync.applied) or now >= self._embed_due:
            self._written = False
            self._embed_due = now + EMBED_RECHECK_S
            return True
        return False

    def _embed_loop(self) -> None:
        # A document's vectors take seconds of CPU; on a two-core server they kept the next
        # upload waiting for a core before it became searchable.
        workers.give_way(EMBEDDER_NICENESS)
        while not self._stop.is_set():
            self._embed_wake.wait()
            self._embed_wake.clear()
            while not self._stop.is_set() and self._embed():
                pass

    def _embed(self) -> bool:
        """Embed a batch of versions for semantic ranking, once the outbox is empty: a new
        document is searchable by its words first. True when more are waiting."""
        semantic = self.index.semantic
        if semantic is None or (self.last_sync is not None and self.last_sync.pending):
            return False
        self._embedding = True
        self._publish()
        try:
            return bool(semantic.embed_pending(limit=SEMANTIC_BATCH) == SEMANTIC_BATCH)
        except Exception as exc:  # noqa: BLE001 - derived data: tried again on the next round
            log.warning("embedding passages for semantic ranking failed: %s: %s", type(exc).__name__, exc)
            return False
        finally:
            self._embedding = False
            self._publish()

    def _publish(self) -> None:
        """The status, for the health page of worker processes (``docsvc serve --workers``)."""
        path = self.index.state_dir / STATUS_FILE
        with self._publishing:  # the writer and the embedder both publish
            try:
                tmp = path.with_name(path.name + ".part")
                tmp.write_text(json.dumps({**self.status(), "pid": os.getpid()}, default=str), "utf-8")
                tmp.replace(path)
            except OSError:
                pass  # the health page then shows no status; the index itself is unaffected


def _lag_s(items: list[Any]) -> float | None:
    """How long the oldest of ``items`` waited in the outbox, in seconds (the index's queue lag)."""
    queued = [i.created_at for i in items if i.created_at is not None]
    return round((utcnow() - min(queued)).total_seconds(), 3) if queued else None


class BulkIndexing:
    """What :meth:`IndexService.bulk` yields: :meth:`extract` each new file's text, then
    :meth:`add` the document after archiving it."""

    CACHE_BATCH = 100  # extractions cached per transaction

    def __init__(self, service: IndexService, stream: IndexStream | None, lease: OutboxLease | None = None) -> None:
        self._service = service
        self._stream = stream
        self._lease = lease
        self._cache: list[dict[str, Any]] = []
        self._streamed: dict[int, tuple[int, dict[str, Any]]] = {}  # version id → document id, metadata

    def extract(self, sha256: str, data: bytes, media_type: str) -> Extraction:
        """:meth:`IndexService.extract`, cached with the next hundred: a commit per file was a
        fifth of archiving it. A row lost to a crash is only extracted again."""
        result, row = self._service._extract(sha256, data, media_type, 0)
        self._cache.append(row)
        if len(self._cache) >= self.CACHE_BATCH:
            self.flush()
        return result

    def flush(self) -> None:
        """Write the extractions not cached yet."""
        rows, self._cache = self._cache, []
        self._service.catalog.put_extractions(rows)

    @property
    def lease(self) -> OutboxLease | None:
        """The lease under which the outbox rows of the documents this streams are left to it
        (pass to ArchiveService.add_document); None when it indexes nothing itself."""
        return self._lease if self._stream is not None and not self._stream.failed else None

    def add(self, version: Version, doc: Document, text: Extraction) -> None:
        """Stream a new document's first version (a later version also flips its siblings'
        latest flag, which :meth:`IndexService.sync` does). One whose extraction timed out
        is left queued, put off until it is tried again."""
        if text.timed_out:
            self.flush()  # its extraction's retry count first
            self._service.catalog.defer_outbox([version.id], delay_s=self._service.retry_after_s)
            return
        if self._stream is not None and version.number == 1 and not self._stream.failed:
            entry = self._service._entry(version, doc, version.id, text)
            self._streamed[version.id] = (doc.id, _metadata_fields(doc))
            self._done(self._stream.add(entry))

    def finish(self) -> None:
        if self._stream is not None and not self._stream.failed:
            self._done(self._stream.finish())

    def _done(self, version_ids: list[int]) -> None:
        """The stream committed these versions: remove their outbox rows, and queue again what
        changed meanwhile (the entry was made when the file was archived; someone may have
        edited the document or added a version since, and the server's indexer then had
        nothing of it to change yet)."""
        if not version_ids:
            return
        streamed = {v: self._streamed.pop(v) for v in version_ids}
        doc_ids = sorted({d for d, _ in streamed.values()})
        docs = self._service.catalog.documents_by_id(doc_ids)
        latest = self._service.catalog.latest_version_ids(doc_ids)
        again: list[tuple[int, int | None, str]] = []
        for version_id, (doc_id, fields) in streamed.items():
            if doc_id in docs and _metadata_fields(docs[doc_id]) != fields:
                again.append((doc_id, None, "metadata"))
            if latest.get(doc_id, version_id) != version_id:
                again.append((doc_id, latest[doc_id], "add"))
        self._service.catalog.requeue_index(again)
        self._service.catalog.outbox_done(added_versions=version_ids)


def _retry_due(timeouts: int) -> bool:
    """Whether an extraction that timed out this often is to be tried again."""
    return 0 < timeouts <= TIMEOUT_RETRIES


def _timed_out(result: Extraction, timeouts: int) -> Extraction:
    """A timed-out extraction, saying whether it will be tried again (and then still
    ``timed_out``) or has failed for good."""
    if _retry_due(timeouts):
        return replace(
            result,
            detail_zh=f"{result.detail_zh}稍后会以更长的时限重试（第 {timeouts} 次超时，最多重试 {TIMEOUT_RETRIES} 次）。",
            detail_en=f"{result.detail_en} It will be tried again later with a longer limit "
            f"(timeout {timeouts}; at most {TIMEOUT_RETRIES} retries).",
        )
    return replace(
        result,
        timed_out=False,
        detail_zh=f"{result.detail_zh}已重试 {TIMEOUT_RETRIES} 次（每次时限加倍）仍超时，记为失败。",
        detail_en=f"{result.detail_en} It timed out again after {TIMEOUT_RETRIES} retries, each with "
        "twice the time, and is recorded as a failure.",
    )


def _extraction_row(sha256: str, result: Extraction, timeouts: int = 0) -> dict[str, Any]:
    """An extraction as the catalog caches it (``timeouts``: how often it timed out)."""
    detail: dict[str, Any] = {"zh": result.detail_zh, "en": result.detail_en, "truncated": result.truncated}
    if timeouts:
        detail["timeouts"] = timeouts
    if result.producer:
        detail["producer"] = result.producer
    # What OCR needs of a PDF whose text layer is missing or garbage on some pages.
    if result.ocr_pages:
        detail["ocr_pages"] = list(result.ocr_pages)
        detail["runs"] = [list(r) for r in result.runs]
    if result.garbage_pages:
        detail["garbage_pages"] = list(result.garbage_pages)
    return {
        "sha256": sha256,
        "extractor_version": EXTRACTOR_VERSION,
        "status": result.status.value,
        "text": result.text,
        "pages": result.pages,
        "detail": json.dumps(detail, ensure_ascii=False),
    }


def _metadata_fields(doc: Document) -> dict[str, Any]:
    m = doc.metadata
    return {
        "title": m.title,
        "doc_type": m.doc_type,
        "service_category": m.service_category.value,
        "doc_class": m.doc_class.value,
        "service_scope": m.service_scope.value if m.service_scope else "",
        "project": m.project,
        "counterparty": m.counterparty,
        "tags": m.tags,
        "status": m.status.value,
        "effective_date": m.effective_date,
        "review_due": m.review_due,
    }
