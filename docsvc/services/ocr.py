"""OCR of scans and photos, in the background (issue 16).

The index writer meets a version whose text needs OCR (a PDF without a text layer, an image)
when it indexes it: it indexes the version at once, metadata only, with the status
"ocr_pending", and queues one ``ocr`` job per content hash (:meth:`OcrQueue.request`). The job
runs on whichever server's job runner is free (``docsvc index sync`` runs them too), never in
an upload request. It recognises the pages in limited child processes
(:func:`docsvc.core.ocr.run_ocr`), then in one catalog transaction caches the text per content
hash and engine version (like extraction), records the searchable PDF as a rendition of every
version with that content, audits it, and queues those versions for the index again, which now
finds their text. A server that dies mid-document leaves the job to another once its lease has
run out; a failed attempt is retried (docsvc.services.jobs). Content that cannot be read is a
cached status, not a failure, so it is not tried again until someone asks
(``docsvc ocr ID``, the manager's button) or the engine's version changes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import metadata
from typing import TYPE_CHECKING, Any, Callable, Mapping

from docsvc.adapters.ocr_rapid import ENGINE
from docsvc.core.content import PDF, is_image
from docsvc.core.extract import EXTRACTOR_VERSION, Extraction, ExtractionStatus
from docsvc.core.model import AuditAction, Version
from docsvc.core.ocr import OCR_PRODUCER, OcrLimits, OcrResult, cache_key, make_searchable_pdf, run_ocr
from docsvc.errors import NotFound

if TYPE_CHECKING:
    from docsvc.adapters.catalog import SqlCatalog
    from docsvc.app import Docsvc
    from docsvc.services.jobs import JobContext

OCR_JOB = "ocr"
# What the extractor says of a file whose text only OCR can read: a scan or an image has no
# text layer; a PDF whose fonts map no characters has garbage instead of one.
NEEDS_OCR = frozenset({ExtractionStatus.NO_TEXT_LAYER.value, ExtractionStatus.UNREADABLE.value})


def engine_version() -> str:
    """The engine's version without loading its models (what its adapter reports)."""
    return f"rapidocr/{metadata.version('rapidocr-onnxruntime')}"


def job_key(sha256: str) -> str:
    return f"{OCR_JOB}:{sha256}"


@dataclass(frozen=True)
class OcrInfo:
    """Where a version's text came from, for the document page and the API."""

    status: str
    engine: str
    engine_version: str
    confidence: float | None
    pages: list[dict[str, Any]]
    detail_zh: str = ""
    detail_en: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "engine": self.engine, "engine_version": self.engine_version,
                "confidence": self.confidence, "pages": self.pages, "detail_zh": self.detail_zh,
                "detail_en": self.detail_en}


class OcrQueue:
    """What the index writer asks of OCR: the cached text, or a job queued to make it."""

    def __init__(self, catalog: SqlCatalog, enqueue: Callable[[Version], object], *, enabled: bool = True) -> None:
        self.catalog = catalog
        self.key = cache_key(engine_version())
        self._enqueue = enqueue
        self.enabled = enabled

    def text(self, version: Version, base: Extraction) -> Extraction:
        """``base`` (the extractor's result) when it needs no OCR; else the OCR text when it is
        cached, else "ocr_pending" (and the job that reads it is queued)."""
        if not self.wants(base.status.value):
            return base
        cached = self.catalog.get_extraction(version.sha256, self.key)
        if cached is not None:
            detail = json.loads(cached["detail"] or "{}")
            return Extraction(ExtractionStatus(cached["status"]), cached["text"], cached["pages"],
                              detail.get("zh", ""), detail.get("en", ""), detail.get("truncated", False),
                              extractor_version=self.key)
        self._enqueue(version)
        return Extraction(ExtractionStatus.OCR_PENDING, pages=base.pages,
                          detail_zh="等待 OCR：文字识别在后台进行，完成后即可检索。",
                          detail_en="OCR pending: the text is being recognised in the background and "
                                    "will be searchable when it is done.")

    def wants(self, status: str | None) -> bool:
        """Whether text of this extraction status is OCR's to read."""
        return self.enabled and status in NEEDS_OCR

    def needs_ocr(self, version: Version) -> bool:
        """An image, or a PDF the extractor found no (readable) text layer in."""
        if is_image(version.media_type):
            return self.enabled
        base = self.catalog.extraction_statuses([version.sha256], EXTRACTOR_VERSION).get(version.sha256)
        return version.media_type == PDF and self.wants(base)

    def statuses(self, hashes: list[str]) -> dict[str, str]:
        return self.catalog.extraction_statuses(hashes, self.key)

    def info(self, sha256: str) -> OcrInfo | None:
        cached = self.catalog.get_extraction(sha256, self.key)
        if cached is None:
            return None
        detail = json.loads(cached["detail"] or "{}")
        ocr = detail.get("ocr", {})
        return OcrInfo(cached["status"], ocr.get("engine", ""), ocr.get("engine_version", ""),
                       ocr.get("confidence"), ocr.get("pages", []), detail.get("zh", ""), detail.get("en", ""))


def may_need_ocr(version: Version) -> bool:
    """A PDF (whether it has a text layer the extraction status tells) or an image."""
    return version.media_type == PDF or is_image(version.media_type)


def latest_jobs(svc: Docsvc, versions: list[Version]) -> dict[int, Any]:
    """version id → the newest OCR job of its content (queued, running, done or failed)."""
    if not versions:
        return {}
    found = svc.jobs.store.latest_by_key({job_key(v.sha256): v.id for v in versions})
    return {v.id: found[job_key(v.sha256)] for v in versions if job_key(v.sha256) in found}


def limits_from(settings: Mapping[str, Any]) -> OcrLimits:
    return OcrLimits(max_pages=settings["OCR_MAX_PAGES"], max_pixels=settings["OCR_MAX_PIXELS"],
                     dpi=settings["OCR_DPI"], page_timeout_s=settings["OCR_PAGE_TIMEOUT_S"],
                     page_cpu_s=int(settings["OCR_PAGE_TIMEOUT_S"]),
                     memory_bytes=settings["OCR_MEMORY_MB"] * 1024 * 1024, threads=settings["OCR_THREADS"])


def request(svc: Docsvc, version: Version, *, actor: str = "docsvc", force: bool = False) -> tuple[Any, bool]:
    """Queue the OCR of ``version``'s content (one job per content hash at a time)."""
    return svc.jobs.enqueue(OCR_JOB, {"document_id": version.document_id, "version": version.number,
                                      "version_id": version.id, "force": force},
                            actor=actor, key=job_key(version.sha256))


def run_job(svc: Docsvc, ctx: JobContext) -> dict[str, Any]:
    """The ``ocr`` job: read the pages, cache the text, record the searchable PDF, re-index."""
    job = ctx.job
    version = svc.catalog.get_version_by_id(int(job.payload["version_id"]))
    if version is None:
        raise NotFound(f"版本 {job.payload['version_id']} 不存在。", f"Version {job.payload['version_id']} does not exist.")
    queue = svc.index.ocr
    assert queue is not None
    if not job.payload.get("force") and queue.info(version.sha256) is not None:
        return {"document_id": version.document_id, "version": version.number, "skipped": "already read"}
    data = svc.blobs.read(version.sha256)  # re-hashed by the store
    limits = limits_from(svc.settings)
    result = run_ocr(data, version.media_type, engine=ENGINE, limits=limits)
    doc = svc.catalog.get_document(version.document_id)
    pdf = None
    if any(p.lines for p in result.pages):
        pdf = make_searchable_pdf(data, version.media_type, result,
                                  title=doc.metadata.title if doc else version.original_filename, limits=limits)
    blob = svc.blobs.put(pdf) if pdf is not None else None
    producer = f"{OCR_PRODUCER} {result.engine_version} ({result.engine})"
    siblings = svc.catalog.versions_with_sha(version.sha256)
    with svc.catalog.transaction() as tx:
        ctx.fence(tx.conn)
        tx.put_extraction(_row(version.sha256, queue.key, result))
        for v in siblings:
            if blob is not None:
                tx.insert_rendition(v.id, PDF, blob.sha256, blob.size, producer, replace=True)
                tx.append_audit(job.created_by, AuditAction.RENDITION_ADDED, document_id=v.document_id,
                                version=v.number, details={
                                    "kind": "ocr-pdf", "media_type": PDF, "sha256": blob.sha256, "size": blob.size,
                                    "producer": producer, "job": job.id, "node": ctx.node,
                                    "ocr_status": result.status.value, "confidence": _round(result.confidence),
                                    "pages": len(result.pages)})
            tx.enqueue_index(v.document_id, v.id, "add")
    if svc.indexer is not None:
        svc.indexer.wake()
    return {"document_id": version.document_id, "version": version.number, "status": result.status.value,
            "pages": len(result.pages), "confidence": _round(result.confidence),
            "rendition": blob.sha256 if blob is not None else None}


def _round(x: float | None) -> float | None:
    return round(x, 4) if x is not None else None


def _row(sha256: str, key: str, result: OcrResult) -> dict[str, Any]:
    ex = result.to_extraction(key)
    return {"sha256": sha256, "extractor_version": key, "status": ex.status.value, "text": ex.text,
            "pages": ex.pages,
            "detail": json.dumps({"zh": ex.detail_zh, "en": ex.detail_en, "truncated": ex.truncated,
                                  "ocr": result.summary()}, ensure_ascii=False)}


__all__ = ["OCR_JOB", "OcrInfo", "OcrQueue", "engine_version", "latest_jobs", "limits_from", "may_need_ocr",
           "request", "run_job"]
