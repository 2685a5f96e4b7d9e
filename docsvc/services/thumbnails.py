"""First-page thumbnails of every version, made in the background job queue.

- ``thumbnails.sweep`` finds the content hashes of PDF, DOCX and image versions that have no
  thumbnail by the current renderer (:data:`docsvc.core.thumbnail.THUMBNAILER_VERSION`) and
  queues one ``thumbnail`` job for each (the job's key is the hash, so a hash is queued once).
  A server queues a sweep after each archive commit (``Docsvc.start_jobs``) and every
  :data:`SWEEP_EVERY`, which also catches versions added by a CLI without a server and, after
  an upgrade of the renderer, every older thumbnail.
- ``thumbnail`` draws the first page: of the PDF itself, of the image, or, for a DOCX, of its
  PDF rendition (made with LibreOffice first when the version has none, and kept as the
  version's rendition as the ``rendition.pdf`` job would). The drawing happens in the limited
  child of docsvc.core.extract (memory, CPU and wall-clock limits of DOCSVC_PARSE_*). A
  thumbnail that cannot be made (encrypted, damaged, too large) is recorded as such, with the
  reason, when the failure is permanent or on the job's last attempt, so it is not tried again.

Thumbnails are derived data: they are not audited (they are remade at will and show what a
reader of the list may read anyway); serving one applies the document's access rule
(docsvc.services.access.Guard.thumbnail).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from docsvc.adapters import thumbnails as rows
from docsvc.adapters.thumbnails import ThumbnailRecord
from docsvc.core.content import DOCX, PDF
from docsvc.core.model import Document
from docsvc.core.thumbnail import IMAGE_TYPES, THUMBNAILER_VERSION, ThumbnailLimits, ThumbnailStatus, render_thumbnail
from docsvc.errors import DocsvcError, InvalidContent, NotFound
from docsvc.services.jobs import PERMANENT, JobContext, JobService, JobState

if TYPE_CHECKING:
    from docsvc.services.container import Services

THUMBNAIL = "thumbnail"
# A Word version's thumbnail needs its PDF from LibreOffice: a kind of its own, left to the main
# runner thread, which also runs rendition.pdf jobs one at a time, so the two do not convert the
# same version side by side (nor does a LibreOffice run hold up the thumbnail lane).
THUMBNAIL_DOCX = "thumbnail.docx"
THUMBNAILS_SWEEP = "thumbnails.sweep"
LANE = (THUMBNAIL, THUMBNAILS_SWEEP)  # the kinds a server's preview runner takes (Docsvc.start_jobs)
SWEEP_EVERY = dt.timedelta(minutes=5)
SWEEP_KEYS = (THUMBNAILS_SWEEP, f"{THUMBNAILS_SWEEP}:again")
SWEEP_BATCH = 500
SYSTEM_ACTOR = "docsvc"
# What has a first page to draw (DOCX through its PDF rendition).
DRAWN_TYPES = frozenset({PDF, DOCX, *IMAGE_TYPES})


class ThumbState:
    """How a version's thumbnail stands, for a page: shown, pending, or none (and why)."""

    OK = "ok"
    PENDING = "pending"  # queued or being made
    NONE = "none"  # the type has no page (text, CSV), or it could not be made


@dataclass(frozen=True)
class DocThumb:
    """The thumbnail of a document's latest version, as a list or a search result shows it."""

    document_id: int
    number: int
    state: str
    media_type: str


def register(svc: Services, jobs: JobService) -> None:
    jobs.register(THUMBNAILS_SWEEP, lambda ctx: sweep(svc, jobs))
    jobs.register(THUMBNAIL, lambda ctx: make(svc, ctx))
    jobs.register(THUMBNAIL_DOCX, lambda ctx: make(svc, ctx))
    jobs.every(THUMBNAILS_SWEEP, THUMBNAILS_SWEEP, SWEEP_EVERY)


class SweepOnCommit:
    """An archive commit hook (any process: a server, a worker, a CLI) that queues a sweep so
    that a new version's thumbnail is made by whichever server is free. While the sweep this
    process queued is still waiting, a commit costs a read, not a write; a commit that lands
    while a sweep runs queues another under a second key (and should that one be running too,
    the periodic sweep finds the version)."""

    def __init__(self, svc: Services) -> None:
        self.svc = svc
        self.waiting: int | None = None  # the id of the queued sweep this process knows of

    def __call__(self) -> None:
        try:
            if self.waiting is not None:
                job = self.svc.jobs.store.get(self.waiting)
                if job is not None and job.state is JobState.QUEUED:
                    return
            self.waiting = None
            # A sweep already running may have looked before this commit: then a second key, so
            # that one sweep starts after it.
            for key in SWEEP_KEYS:
                job, _ = self.svc.jobs.enqueue(THUMBNAILS_SWEEP, {}, actor=SYSTEM_ACTOR, key=key)
                if job.state is JobState.QUEUED:
                    self.waiting = job.id
                    return
        except DocsvcError:
            self.waiting = None  # the catalog is away: the version is kept, the periodic sweep finds it


def sweep(svc: Services, jobs: JobService) -> dict[str, Any]:
    queued = seen = 0
    last: set[str] = set()
    while True:
        with svc.catalog.reading() as conn:
            batch = rows.missing(conn, THUMBNAILER_VERSION, DRAWN_TYPES, limit=SWEEP_BATCH)
        fresh = [m for m in batch if m.sha256 not in last]
        if not fresh:  # nothing new since the last batch: the rest is queued already
            break
        for m in fresh:
            _, created = jobs.enqueue(
                THUMBNAIL_DOCX if m.media_type == DOCX else THUMBNAIL,
                {"sha256": m.sha256, "version_id": m.version_id},
                actor=SYSTEM_ACTOR,
                key=f"{THUMBNAIL}:{m.sha256}",
            )
            queued += created
        seen += len(fresh)
        last |= {m.sha256 for m in batch}
        if len(batch) < SWEEP_BATCH:
            break
    return {"missing": seen, "queued": queued, "renderer": THUMBNAILER_VERSION}


def limits(settings: Mapping[str, Any]) -> ThumbnailLimits:
    return ThumbnailLimits(
        memory_bytes=settings["PARSE_MEMORY_MB"] * 1024 * 1024,
        cpu_seconds=int(settings["PARSE_TIMEOUT_S"]),
        timeout_seconds=settings["PARSE_TIMEOUT_S"],
    )


def make(svc: Services, ctx: JobContext) -> dict[str, Any]:
    from docsvc.services.background import ensure_pdf  # that module registers this one's jobs

    sha = str(ctx.job.payload["sha256"])
    with svc.catalog.reading() as conn:
        kept = rows.get(conn, sha, THUMBNAILER_VERSION)
    if kept is not None:
        return {"sha256": sha, "status": kept.status, "made": False}
    version = svc.catalog.get_version_by_id(int(ctx.job.payload["version_id"]))
    if version is None or version.sha256 != sha:
        raise NotFound(
            f"版本 {ctx.job.payload['version_id']} 不存在。", f"Version {ctx.job.payload['version_id']} does not exist."
        )
    started = time.perf_counter()
    try:
        if version.media_type == DOCX:
            pdf = ensure_pdf(svc, ctx, version)
            source_sha, source_type = pdf.sha256, PDF
        else:
            source_sha, source_type = sha, version.media_type
        thumb = render_thumbnail(svc.blobs.read(source_sha), source_type, limits=limits(svc.settings))
    except Exception as exc:
        last = ctx.job.attempts >= ctx.job.max_attempts
        if isinstance(exc, PERMANENT + (InvalidContent,)) or last:
            # Recorded as failed, so the sweep does not queue it again; the job keeps the error.
            zh, en = (exc.zh, exc.en) if isinstance(exc, DocsvcError) else (str(exc), str(exc))
            _record(
                svc,
                ctx,
                sha,
                status=ThumbnailStatus.FAILED.value,
                source_sha=sha,
                data=None,
                width=0,
                height=0,
                pages=None,
                detail={"zh": zh, "en": en},
            )
        raise
    if thumb.status is not ThumbnailStatus.OK and thumb.timed_out and ctx.job.attempts < ctx.job.max_attempts:
        # On a busy machine the wall clock may end it; another attempt later may not.
        raise TimeoutError(thumb.detail_en)
    elapsed = round(time.perf_counter() - started, 3)
    detail = (
        {"seconds": elapsed}
        if thumb.status is ThumbnailStatus.OK
        else {"zh": thumb.detail_zh, "en": thumb.detail_en, "seconds": elapsed}
    )
    _record(
        svc,
        ctx,
        sha,
        status=thumb.status.value,
        source_sha=source_sha,
        data=thumb.data or None,
        width=thumb.width,
        height=thumb.height,
        pages=thumb.pages,
        detail=detail,
    )
    return {
        "sha256": sha,
        "status": thumb.status.value,
        "made": True,
        "seconds": elapsed,
        "source_sha256": source_sha,
        "renderer": THUMBNAILER_VERSION,
    }


def _record(
    svc: Services,
    ctx: JobContext,
    sha: str,
    *,
    status: str,
    source_sha: str,
    data: bytes | None,
    width: int,
    height: int,
    pages: int | None,
    detail: dict[str, Any],
) -> None:
    # Not the catalog's audited transaction: a thumbnail is a cache, and this keeps the audit
    # head's lock free for writers.
    with svc.catalog.writing() as conn:
        ctx.fence(conn)
        rows.record(
            conn,
            sha256=sha,
            renderer=THUMBNAILER_VERSION,
            status=status,
            media_type="image/webp",
            data=data,
            width=width,
            height=height,
            pages=pages,
            source_sha256=source_sha,
            detail=detail,
            now=svc.jobs.clock(),
        )


def states(svc: Services, shas: Collection[str]) -> dict[str, str]:
    """sha256 → :class:`ThumbState` of the thumbnail of that content (two queries, for a page)."""
    with svc.catalog.reading() as conn:
        made = rows.states(conn, shas, THUMBNAILER_VERSION)
        types = rows.media_types(conn, [sha for sha in shas if sha not in made])
    return {sha: _state(made.get(sha), types.get(sha, "")) for sha in shas}


def for_documents(svc: Services, docs: Collection[Document]) -> dict[int, DocThumb]:
    """document id → the thumbnail of its latest version (two queries, for a page)."""
    with svc.catalog.reading() as conn:
        latest = rows.latest_versions(conn, [d.id for d in docs])
        made = rows.states(conn, [sha for _, sha, _ in latest.values()], THUMBNAILER_VERSION)
    return {
        doc_id: DocThumb(doc_id, number, _state(made.get(sha), media_type), media_type)
        for doc_id, (number, sha, media_type) in latest.items()
    }


def _state(status: str | None, media_type: str) -> str:
    if status is not None:
        return ThumbState.OK if status == ThumbnailStatus.OK else ThumbState.NONE
    return ThumbState.PENDING if media_type in DRAWN_TYPES else ThumbState.NONE


def stored(svc: Services, sha256: str) -> ThumbnailRecord | None:
    """The kept thumbnail of this content by the current renderer, if it was made."""
    with svc.catalog.reading() as conn:
        return rows.get(conn, sha256, THUMBNAILER_VERSION)


__all__ = [
    "DRAWN_TYPES",
    "LANE",
    "THUMBNAIL",
    "THUMBNAIL_DOCX",
    "THUMBNAILS_SWEEP",
    "DocThumb",
    "ThumbState",
    "SweepOnCommit",
    "for_documents",
    "register",
    "states",
    "stored",
    "sweep",
]
