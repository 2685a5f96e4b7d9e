"""The kinds of background job docsvc runs, and how a server's :class:`JobService` is wired.

- ``rendition.pdf``: the PDF of an archived DOCX version, asked for by a person (the document
  page, ``POST …/renditions/pdf``, ``docsvc doc pdf``). LibreOffice takes seconds per document
  and one conversion at a time, so the request only queues it; whichever server is free
  converts it and records the rendition, with its audit entry, in one catalog transaction.
- ``ocr``: the text of a scan or photo and its searchable PDF (docsvc.services.ocr), queued by the
  index writer when it meets one; minutes for a long scan, so never in a request.
- ``review.reminders`` (daily): every open document whose review date (spec 8.1.3) has come is
  recorded once per due date (``review_reminders`` and a ``review.reminded`` audit entry); the
  dashboard and the health page count the ones still open.
- ``orphans.sweep`` (hourly): ``Docsvc.gc()``, unreferenced blobs past ORPHAN_GRACE_S.
- ``audit.checkpoint`` (every DOCSVC_AUDIT_CHECKPOINT_MINUTES, when checkpoints are configured): a
  signed checkpoint of the audit chain's head, kept outside the catalog (docsvc.services.anchoring).
- ``thumbnails.sweep`` (after each archive commit on a server, and every 5 minutes) and
  ``thumbnail`` (one per content hash): first-page thumbnails (docsvc.services.thumbnails).
- ``template.batch``: one document per row of an uploaded spreadsheet (docsvc.services.batch),
  its progress recorded as it goes; run once.
- ``classifier.train`` (hourly): the label classifier retrained when it is stale (labels
  confirmed or corrected since, a new version of docsvc's model, the meaning not read yet;
  docsvc.services.classify), for archives past the size a suggestion retrains on the spot.
- ``jobs.prune`` (daily): finished jobs, and nodes not seen, older than JOB_RETENTION_DAYS, so the
  queue table holds what is current, not every job ever run; and sign-in sessions ended or unused
  for a day.

The periodic ones run once per period across all servers (see JobService.tick).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from docsvc.adapters import reviews
from docsvc.adapters.catalog import KeyTaken, Rendition
from docsvc.adapters.jobs import Job, JobStore
from docsvc.core.content import DOCX, PDF, PDF_PRODUCER
from docsvc.core.model import AuditAction, Version, iso
from docsvc.errors import InvalidContent, InvalidInput, NotFound, Unavailable
from docsvc.services import batch, ocr, thumbnails
from docsvc.services.anchoring import CHECKPOINT_JOB
from docsvc.services.jobs import JobContext, JobService

if TYPE_CHECKING:
    from docsvc.services.container import Services, Workers

log = logging.getLogger(__name__)

RENDITION_PDF = "rendition.pdf"
REVIEW_REMINDERS = "review.reminders"
ORPHANS_SWEEP = "orphans.sweep"
JOBS_PRUNE = "jobs.prune"
CLASSIFIER_TRAIN = "classifier.train"
# A lane of its own, which the main job thread leaves to it (Docsvc.start_jobs): a training takes
# a minute or more on a large archive, and a PDF or an OCR asked for meanwhile must not wait.
CLASSIFIER_LANE = (CLASSIFIER_TRAIN,)
# Renditions a job can make, by the short name URLs use (…/renditions/pdf): kind → (media type, job).
RENDITION_JOBS = {"pdf": (PDF, RENDITION_PDF)}


def job_service(svc: Workers) -> JobService:
    """The server's JobService with docsvc's job kinds and periodic jobs registered."""
    jobs = JobService(
        JobStore.of(svc.catalog), node=svc.settings.get("NODE_NAME") or None, tz=ZoneInfo(svc.settings["TIMEZONE"])
    )
    jobs.register(RENDITION_PDF, lambda ctx: make_pdf(svc, ctx))
    jobs.register(ocr.OCR_JOB, lambda ctx: ocr.run_job(svc, ctx))
    # Run once: its rows are archived one by one, and a repeat would archive the first ones twice.
    jobs.register(batch.BATCH_JOB, lambda ctx: batch.run_job(svc, ctx), max_attempts=1)
    jobs.register(REVIEW_REMINDERS, lambda ctx: remind_reviews(svc, ctx))
    jobs.register(ORPHANS_SWEEP, lambda ctx: {"removed": len(svc.gc())})
    jobs.register(
        JOBS_PRUNE,
        lambda ctx: {
            **jobs.store.prune(before=jobs.clock() - dt.timedelta(days=svc.settings["JOB_RETENTION_DAYS"])),
            "sessions": svc.users.forget_sessions(older_than=dt.timedelta(days=1)),
        },
    )
    jobs.every(REVIEW_REMINDERS, REVIEW_REMINDERS, dt.timedelta(days=1))
    jobs.every(ORPHANS_SWEEP, ORPHANS_SWEEP, dt.timedelta(hours=1))
    jobs.every(JOBS_PRUNE, JOBS_PRUNE, dt.timedelta(days=1))
    jobs.register(
        CLASSIFIER_TRAIN,
        # Progress while the missing meaning vectors are made, the long part of a first training.
        lambda ctx: {
            "trained": svc.classifier.retrain_if_stale(
                progress=lambda done, of: ctx.progress(jobs.store, {"meanings_made": done, "meanings_missing": of})
            ),
            "suggested_again": svc.classifier.read_missed_meanings(),
        },
    )
    jobs.every(CLASSIFIER_TRAIN, CLASSIFIER_TRAIN, dt.timedelta(hours=1))
    thumbnails.register(svc, jobs)
    if svc.anchor is not None:
        jobs.register(CHECKPOINT_JOB, lambda ctx: checkpoint(svc))
        jobs.every(CHECKPOINT_JOB, CHECKPOINT_JOB, dt.timedelta(minutes=svc.settings["AUDIT_CHECKPOINT_MINUTES"]))
    return jobs


def checkpoint(svc: Workers) -> dict[str, Any]:
    cp = svc.write_checkpoint()
    return {"written": cp is not None, **({"seq": cp.seq, "hash": cp.hash, "name": cp.name} if cp else {})}


# -- rendition.pdf ------------------------------------------------------------------------------
@dataclass(frozen=True)
class RenditionRequest:
    """The answer to "make a PDF of this version": the rendition when it exists already, else
    the job that makes it (``queued`` False when that job was already queued or running)."""

    version: Version
    rendition: Rendition | None
    job: Job | None
    queued: bool = False


def rendition_key(version_id: int, kind: str = "pdf") -> str:
    return f"{RENDITION_JOBS[kind][1]}:{version_id}"


def request_rendition(
    svc: Services, document_id: int, number: int | None, kind: str, *, actor: str
) -> RenditionRequest:
    """Queue the making of a rendition of a DOCX version (the caller has checked access)."""
    if kind not in RENDITION_JOBS:
        raise NotFound(
            f"不支持生成 {kind} 格式；可生成：{', '.join(RENDITION_JOBS)}。",
            f"Cannot make a '{kind}' rendition; available: {', '.join(RENDITION_JOBS)}.",
            field="kind",
        )
    media_type, job_kind = RENDITION_JOBS[kind]
    version = svc.archive.version(document_id, number)
    if version.media_type != DOCX:
        raise InvalidInput(
            f"只能为 Word（DOCX）版本生成 PDF；文档 {document_id} 第 {version.number} 版是 {version.media_type}。",
            f"Only a Word (DOCX) version can be made into a PDF; document {document_id} version "
            f"{version.number} is {version.media_type}.",
            field="version",
        )
    existing = _rendition(svc, version, media_type)
    if existing is not None:
        return RenditionRequest(version, existing, None)
    job, created = svc.jobs.enqueue(
        job_kind,
        {"document_id": document_id, "version": version.number, "version_id": version.id},
        actor=actor,
        key=rendition_key(version.id, kind),
    )
    return RenditionRequest(version, None, job, queued=created)


def rendition_jobs(svc: Services, versions: Collection[Version], kind: str = "pdf") -> dict[int, Job]:
    """version id → the newest job that made (or is making, or failed to make) its rendition."""
    keys = {rendition_key(v.id, kind): v.id for v in versions}
    return {keys[k]: job for k, job in svc.jobs.store.latest_by_key(keys).items()}


def _rendition(svc: Services, version: Version, media_type: str) -> Rendition | None:
    return next((r for r in svc.catalog.renditions(version.id) if r.media_type == media_type), None)


def make_pdf(svc: Services, ctx: JobContext) -> dict[str, Any]:
    job = ctx.job
    version = svc.catalog.get_version_by_id(int(job.payload["version_id"]))
    if version is None:
        raise NotFound(
            f"版本 {job.payload['version_id']} 不存在。", f"Version {job.payload['version_id']} does not exist."
        )
    existing = ensure_pdf(svc, ctx, version)
    return {
        "document_id": version.document_id,
        "version": version.number,
        "media_type": PDF,
        "sha256": existing.sha256,
        "size": existing.size,
    }


def ensure_pdf(svc: Services, ctx: JobContext, version: Version) -> Rendition:
    """The PDF rendition of a DOCX version: the stored one, else made now with LibreOffice and
    recorded (with its audit entry) in the job's fenced transaction."""
    job = ctx.job
    existing = _rendition(svc, version, PDF)
    if existing is None:
        # Read through the archive: the bytes are verified against their hash, and the read is
        # audited as one made for the person who asked.
        _, docx = svc.archive.read_version(
            version.document_id, version.number, actor=job.created_by, action=AuditAction.VERSION_VIEWED, purpose="pdf"
        )
        try:
            pdf = svc.templates.to_pdf(docx)
        except Unavailable as exc:
            if exc.details.get("reason") != "conversion_failed":
                raise  # a timeout, a crash, no LibreOffice on this server: another attempt may do
            raise InvalidContent(  # LibreOffice read it and could not convert it: retrying will not help
                f"LibreOffice 无法把文档 {version.document_id} 第 {version.number} 版转换为 PDF（文件可能已损坏或包含不支持的内容）。",
                f"LibreOffice could not convert document {version.document_id} version {version.number} to PDF "
                "(the file may be damaged or hold content it does not support).",
                details={"converter": exc.details.get("error", "")},
            ) from None
        blob = svc.blobs.put(pdf)
        try:
            with svc.catalog.transaction() as tx:
                ctx.fence(tx.conn)
                tx.insert_rendition(version.id, PDF, blob.sha256, blob.size, PDF_PRODUCER)
                tx.append_audit(
                    job.created_by,
                    AuditAction.RENDITION_ADDED,
                    document_id=version.document_id,
                    version=version.number,
                    details={
                        "media_type": PDF,
                        "sha256": blob.sha256,
                        "size": blob.size,
                        "producer": PDF_PRODUCER,
                        "job": job.id,
                        "node": ctx.node,
                    },
                )
        except KeyTaken:
            # Another job made it meanwhile (the thumbnail of the same version, or a rendition.pdf
            # job): theirs stands, nothing of this run is recorded (its blob is an orphan for gc).
            existing = _rendition(svc, version, PDF)
            if existing is None:
                raise
            return existing
        existing = _rendition(svc, version, PDF)
        assert existing is not None  # recorded just now
        log.info(
            "PDF of document %d version %d made: %d bytes",
            version.document_id,
            version.number,
            blob.size,
            extra={"job_id": job.id, "document_id": version.document_id, "version": version.number},
        )
    return existing


# -- review.reminders ---------------------------------------------------------------------------
def remind_reviews(svc: Services, ctx: JobContext) -> dict[str, Any]:
    """Record each open document whose review date has come, once per due date."""
    now = svc.jobs.clock()
    today = now.astimezone(ZoneInfo(svc.settings["TIMEZONE"])).date()
    due = svc.archive.due_for_review(today, within_days=0)
    reminded = []
    with svc.catalog.transaction() as tx:
        ctx.fence(tx.conn)
        for doc in due:
            m = doc.metadata
            assert m.review_due is not None  # due_for_review finds documents by that date
            if reviews.remember(tx.conn, doc.id, m.review_due, job_id=ctx.job.id, now=now):
                tx.append_audit(
                    "docsvc",
                    AuditAction.REVIEW_REMINDED,
                    document_id=doc.id,
                    details={
                        "review_due": m.review_due.isoformat(),
                        "overdue_days": (today - m.review_due).days,
                        "title": m.title,
                        "owner": m.owner,
                        "doc_type": m.doc_type,
                        "job": ctx.job.id,
                    },
                )
                reminded.append(doc.id)
    log.info("review reminders: %d document(s) due, %d newly reminded", len(due), len(reminded))
    return {"day": today.isoformat(), "due": len(due), "reminded": reminded}


def open_reminders(svc: Services, *, site_projects: Collection[str] | None = None) -> list[int]:
    """Documents reminded of and not reviewed since (their review date unchanged), open ones."""
    with svc.catalog.reading() as conn:
        return reviews.open_reminders(conn, site_projects=site_projects)


def reminders_summary(svc: Services) -> dict[str, Any]:
    schedule = next((s for s in svc.jobs.store.schedules() if s.name == REVIEW_REMINDERS), None)
    return {
        "open": len(open_reminders(svc)),
        "last_run_at": iso(schedule.last_run_at) if schedule and schedule.last_run_at else None,
    }


def job_result_rendition(svc: Services, job: Job) -> tuple[Version, Rendition] | None:
    """The rendition a finished rendition job made, for linking to it."""
    if job.kind != RENDITION_PDF or job.state.value != "done":
        return None
    version = svc.catalog.get_version_by_id(int(job.payload["version_id"]))
    rendition = _rendition(svc, version, PDF) if version else None
    return (version, rendition) if version and rendition else None


__all__ = [
    "ORPHANS_SWEEP",
    "RENDITION_JOBS",
    "RENDITION_PDF",
    "REVIEW_REMINDERS",
    "RenditionRequest",
    "job_service",
    "open_reminders",
    "rendition_jobs",
    "request_rendition",
]
