"""OCR of scans and photos, in the background.

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

A PDF whose text layer covers some pages only ("partial_text_layer": scanned pages in a
report, a page of unmapped glyphs) is indexed at once with the text of its text pages; OCR reads
just the other pages, and the text then cached is every page in order (text pages as extracted,
the others as recognised). Each page is kept as it is recognised (table ``ocr_pages``), so a
job that dies on page 7 of 10 goes on at page 7 when it is tried again; the kept pages are
removed with the transaction that caches the text. When the text came in and the document's
labels are still docsvc's suggestion (not confirmed by a person), the suggestion is made again
from the recognised text (:func:`resuggest`) and put on the review list.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import metadata
from typing import TYPE_CHECKING, Any

from docsvc.adapters.ocr_rapid import ENGINE
from docsvc.core.content import PDF, is_image
from docsvc.core.extract import EXTRACTOR_VERSION, Extraction, ExtractionStatus
from docsvc.core.model import AuditAction, Version
from docsvc.core.ocr import OCR_PRODUCER, OcrLimits, OcrPage, OcrResult, cache_key, make_searchable_pdf, run_ocr
from docsvc.errors import NotFound
from docsvc.services.classify import Again

if TYPE_CHECKING:
    from docsvc.adapters.catalog import SqlCatalog
    from docsvc.services.container import Services
    from docsvc.services.jobs import JobContext

OCR_JOB = "ocr"
# What the extractor says of a file whose text only OCR can read: a scan or an image has no
# text layer; a PDF whose fonts map no characters has garbage instead of one; a mixed PDF has
# a usable text layer on some pages only.
NEEDS_OCR = frozenset(
    {ExtractionStatus.NO_TEXT_LAYER.value, ExtractionStatus.UNREADABLE.value, ExtractionStatus.PARTIAL.value}
)


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
    pdfa: str | None = None  # "PDF/A-2b" when its searchable PDF passed the check (None before it was recorded)

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "engine": self.engine,
            "engine_version": self.engine_version,
            "confidence": self.confidence,
            "pages": self.pages,
            "detail_zh": self.detail_zh,
            "detail_en": self.detail_en,
            "pdfa": self.pdfa,
        }


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
            return Extraction(
                ExtractionStatus(cached["status"]),
                cached["text"],
                cached["pages"],
                detail.get("zh", ""),
                detail.get("en", ""),
                detail.get("truncated", False),
                extractor_version=self.key,
            )
        self._enqueue(version)
        # A mixed PDF's text pages are searchable meanwhile.
        return Extraction(
            ExtractionStatus.OCR_PENDING,
            base.text if base.status is ExtractionStatus.PARTIAL else "",
            pages=base.pages,
            detail_zh="等待 OCR：文字识别在后台进行，完成后即可检索。",
            detail_en="OCR pending: the text is being recognised in the background and "
            "will be searchable when it is done.",
        )

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
        return OcrInfo(
            cached["status"],
            ocr.get("engine", ""),
            ocr.get("engine_version", ""),
            ocr.get("confidence"),
            ocr.get("pages", []),
            detail.get("zh", ""),
            detail.get("en", ""),
            ocr.get("pdfa"),
        )


def may_need_ocr(version: Version) -> bool:
    """A PDF (whether it has a text layer the extraction status tells) or an image."""
    return version.media_type == PDF or is_image(version.media_type)


def latest_jobs(svc: Services, versions: list[Version]) -> dict[int, Any]:
    """version id → the newest OCR job of its content (queued, running, done or failed)."""
    if not versions:
        return {}
    found = svc.jobs.store.latest_by_key({job_key(v.sha256): v.id for v in versions})
    return {v.id: found[job_key(v.sha256)] for v in versions if job_key(v.sha256) in found}


def limits_from(settings: Mapping[str, Any]) -> OcrLimits:
    return OcrLimits(
        max_pages=settings["OCR_MAX_PAGES"],
        max_pixels=settings["OCR_MAX_PIXELS"],
        dpi=settings["OCR_DPI"],
        page_timeout_s=settings["OCR_PAGE_TIMEOUT_S"],
        page_cpu_s=int(settings["OCR_PAGE_TIMEOUT_S"]),
        memory_bytes=settings["OCR_MEMORY_MB"] * 1024 * 1024,
        threads=settings["OCR_THREADS"],
    )


def request(svc: Services, version: Version, *, actor: str = "docsvc", force: bool = False) -> tuple[Any, bool]:
    """Queue the OCR of ``version``'s content (one job per content hash at a time)."""
    return svc.jobs.enqueue(
        OCR_JOB,
        {"document_id": version.document_id, "version": version.number, "version_id": version.id, "force": force},
        actor=actor,
        key=job_key(version.sha256),
    )


def run_job(svc: Services, ctx: JobContext) -> dict[str, Any]:
    """The ``ocr`` job: read the pages, cache the text, record the searchable PDF, re-index,
    suggest the labels again."""
    job = ctx.job
    version = svc.catalog.get_version_by_id(int(job.payload["version_id"]))
    if version is None:
        raise NotFound(
            f"版本 {job.payload['version_id']} 不存在。", f"Version {job.payload['version_id']} does not exist."
        )
    queue = svc.index.ocr
    assert queue is not None
    if not job.payload.get("force") and queue.info(version.sha256) is not None:
        # (An attempt that died after caching the text may not have suggested the labels yet.)
        known = svc.index.extraction(version).text
        suggested = [
            v.document_id
            for v in svc.catalog.versions_with_sha(version.sha256)
            if known.strip() and resuggest(svc, v, known)
        ]
        return {
            "document_id": version.document_id,
            "version": version.number,
            "skipped": "already read",
            "resuggested": suggested,
        }
    base = svc.index.base_extraction(version) if version.media_type == PDF else None
    # A mixed PDF: only its pages without a usable text layer. Else every page.
    wanted = list(base.ocr_pages) if base is not None and base.status is ExtractionStatus.PARTIAL else None
    kept = _kept_pages(svc, version.sha256, queue.key, wanted)
    data = svc.blobs.read(version.sha256)  # re-hashed by the store
    limits = limits_from(svc.settings)
    read: list[int] = []

    def keep(page: OcrPage) -> None:
        svc.catalog.put_ocr_page(version.sha256, queue.key, page.number, json.dumps(page.to_dict(), ensure_ascii=False))
        read.append(page.number)

    result = run_ocr(data, version.media_type, engine=ENGINE, limits=limits, pages=wanted, done=kept, on_page=keep)
    text = _document_text(result, base, queue.key)
    doc = svc.catalog.get_document(version.document_id)
    pdf = None
    if any(p.lines for p in result.pages):
        pdf = make_searchable_pdf(
            data,
            version.media_type,
            result,
            title=doc.metadata.title if doc else version.original_filename,
            limits=limits,
            pictures=base.garbage_pages if base is not None else (),
        )
    blob = svc.blobs.put(pdf.data) if pdf is not None else None
    # PDF/A-2b only when the written file passed the check; else why not (in the audit entry).
    pdfa = f"PDF/A-{pdf.pdfa}" if pdf is not None and pdf.pdfa else None
    producer = f"{OCR_PRODUCER} {result.engine_version} ({result.engine})"
    siblings = svc.catalog.versions_with_sha(version.sha256)
    with svc.catalog.transaction() as tx:
        ctx.fence(tx.conn)
        tx.put_extraction(_row(version.sha256, queue.key, text, result, pdfa=pdfa))
        tx.clear_ocr_pages(version.sha256, queue.key)
        for v in siblings:
            if blob is not None:
                tx.insert_rendition(v.id, PDF, blob.sha256, blob.size, producer, replace=True)
                tx.append_audit(
                    job.created_by,
                    AuditAction.RENDITION_ADDED,
                    document_id=v.document_id,
                    version=v.number,
                    details={
                        "kind": "ocr-pdf",
                        "media_type": PDF,
                        "sha256": blob.sha256,
                        "size": blob.size,
                        "producer": producer,
                        "job": job.id,
                        "node": ctx.node,
                        "ocr_status": result.status.value,
                        "confidence": _round(result.confidence),
                        "pages": len(result.pages),
                        "pdfa": pdfa,
                        "pdfa_checked_by": pdf.checked_by if pdf is not None else None,
                        "pdfa_findings": list(pdf.findings) if pdf is not None else [],
                    },
                )
            tx.enqueue_index(v.document_id, v.id, "add")
    if svc.index.semantic is not None:  # its vectors were made from the text before OCR
        svc.index.semantic.forget(version.sha256)
    if svc.indexer is not None:
        svc.indexer.wake()
    suggested = [
        v.document_id
        for v in siblings
        if text.text.strip() and resuggest(svc, v, text.text, again=bool(job.payload.get("force")))
    ]
    return {
        "document_id": version.document_id,
        "version": version.number,
        "status": text.status.value,
        "pages": len(result.pages),
        "confidence": _round(result.confidence),
        "rendition": blob.sha256 if blob is not None else None,
        "read": sorted(read),
        "resumed": sorted(kept),
        "resuggested": suggested,
    }


def _kept_pages(svc: Services, sha256: str, key: str, wanted: list[int] | None) -> dict[int, OcrPage]:
    """The pages an interrupted run of this content and engine recognised already."""
    kept = {}
    for number, data in svc.catalog.ocr_pages(sha256, key).items():
        if wanted is None or number in wanted:
            try:
                kept[number] = OcrPage.from_dict(json.loads(data))
            except (ValueError, KeyError, TypeError):
                continue  # unreadable: read the page again
    return kept


def _document_text(result: OcrResult, base: Extraction | None, key: str) -> Extraction:
    """The version's text: OCR's, or for a mixed PDF every page in order — the text pages as
    extracted, the others as recognised. The text pages' text stands when OCR read nothing."""
    ocr = result.to_extraction(key)
    if base is None or base.status is not ExtractionStatus.PARTIAL:
        return ocr
    parts = [(first, t) for first, _last, t in base.runs] + [(p.number, p.text) for p in result.pages]
    text = "\n\n".join(t for _, t in sorted(parts, key=lambda part: part[0]) if t.strip())
    if not text.strip():
        return ocr
    # What OCR could not read is said (page 3 timed out); that it found nothing on a page is not news.
    said = result.status is not ExtractionStatus.EMPTY
    return Extraction(
        ExtractionStatus.OK,
        text,
        base.pages,
        ocr.detail_zh if said else "",
        ocr.detail_en if said else "",
        base.truncated or result.truncated,
        extractor_version=key,
    )


def resuggest(svc: Services, version: Version, text: str, *, again: bool = False) -> bool:
    """Suggest the labels of ``version``'s document again from its recognised ``text``
    (docsvc.services.classify.ClassifyService.suggest_again): made from the title alone, as a
    scan had no text yet. Whether it did."""
    return svc.classifier.suggest_again(version, text, why=Again.OCR, again=again)


def _round(x: float | None) -> float | None:
    return round(x, 4) if x is not None else None


def _row(sha256: str, key: str, ex: Extraction, result: OcrResult, *, pdfa: str | None) -> dict[str, Any]:
    return {
        "sha256": sha256,
        "extractor_version": key,
        "status": ex.status.value,
        "text": ex.text,
        "pages": ex.pages,
        "detail": json.dumps(
            {
                "zh": ex.detail_zh,
                "en": ex.detail_en,
                "truncated": ex.truncated,
                "ocr": {**result.summary(), "pdfa": pdfa},
            },
            ensure_ascii=False,
        ),
    }


__all__ = [
    "OCR_JOB",
    "OcrInfo",
    "OcrQueue",
    "engine_version",
    "latest_jobs",
    "limits_from",
    "may_need_ocr",
    "request",
    "resuggest",
    "run_job",
]
