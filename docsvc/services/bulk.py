"""Bulk import of a folder of user or on-site documents (spec 9.1, 9.2).

Each file becomes a document titled after its file name, unless a sidecar ``NAME.meta.json``
(any metadata field, e.g. ``{"title": …, "project": …}``) says otherwise. Labels the caller did
not give are suggested by the classifier and put on the review list. Identical content already
in the archive is skipped. A failed file is reported and leaves nothing behind; the rest go on.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from docsvc.core import classify
from docsvc.errors import DocsvcError, InvalidInput, TooLarge
from docsvc.services.archive import ArchiveService
from docsvc.services.classify import ClassifyService
from docsvc.services.search import REBUILD_CHUNK, BulkIndexing, IndexService

log = logging.getLogger(__name__)

# Word's other suffixes are imported too, never skipped unseen: a template (.dotx) is archived
# like a document, and one with macros (.docm, .dotm) or in the 97-2003 format (.doc) is
# refused with the reason and how to convert it, in the report.
# Scans and photos are archived at once and read by OCR in the background (docsvc.services.ocr).
SUFFIXES = {
    ".docx",
    ".dotx",
    ".docm",
    ".dotm",
    ".doc",
    ".pdf",
    ".txt",
    ".md",
    ".markdown",
    ".csv",
    ".jpg",
    ".jpeg",
    ".png",
    ".tif",
    ".tiff",
}
SIDECAR = ".meta.json"
INDEX_PROCS = os.cpu_count() or 1  # documents are analysed and written by one process per core


class ImportStatus(StrEnum):
    ADDED = "added"
    DUPLICATE = "duplicate"
    FAILED = "failed"


@dataclass(frozen=True)
class ImportItem:
    path: str
    status: ImportStatus
    document_id: int | None = None
    suggested: bool = False
    needs_review: bool = False
    error: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "status": self.status.value,
            "document_id": self.document_id,
            "suggested": self.suggested,
            "needs_review": self.needs_review,
            "error": self.error,
        }


@dataclass(frozen=True)
class ImportReport:
    items: list[ImportItem] = field(default_factory=list)

    def count(self, status: ImportStatus) -> int:
        return sum(1 for i in self.items if i.status is status)


def find_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise InvalidInput(f"“{folder}”不是文件夹。", f"'{folder}' is not a folder.", field="folder")
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file()
        and p.suffix.lower() in SUFFIXES
        and not p.name.endswith(SIDECAR)
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


class Importer:
    def __init__(self, archive: ArchiveService, index: IndexService, classifier: ClassifyService) -> None:
        self.archive = archive
        self.index = index
        self.classifier = classifier

    def import_files(
        self,
        paths: Iterable[Path],
        defaults: Mapping[str, Any],
        *,
        actor: str,
        progress: Callable[[int], None] | None = None,
        finishing: Callable[[], None] | None = None,
    ) -> ImportReport:
        """Import ``paths``; ``progress(1)`` after each file, ``finishing()`` once every file is
        archived and the index writers finish their last segments (a few seconds)."""
        started = time.monotonic()
        model = self.classifier.model(refresh=True)  # once per run, not per file
        projects = set(self.archive.catalog.project_names())  # and the files' own, as they come
        items = []
        # Each document goes to a writer process as soon as it is archived, so indexing runs on
        # the other cores meanwhile instead of after the archiving.
        with self.index.bulk(procs=INDEX_PROCS) as indexing:
            for path in paths:
                try:
                    items.append(self._one(path, defaults, actor, model, projects, indexing))
                except DocsvcError as exc:
                    items.append(ImportItem(str(path), ImportStatus.FAILED, error=exc.to_dict()))
                    log.warning("import of %s failed: %s", path, exc.en, extra={"path": str(path)})
                if progress:
                    progress(1)
            if finishing:
                finishing()
        # What the stream did not index, if anything, and what changed meanwhile (its own rows, let
        # go when the stream ended, included; not those of another import still running).
        self.index.sync(batch=REBUILD_CHUNK, procs=INDEX_PROCS)
        report = ImportReport(items)
        log.info(
            "import finished: %d added, %d duplicate, %d failed",
            report.count(ImportStatus.ADDED),
            report.count(ImportStatus.DUPLICATE),
            report.count(ImportStatus.FAILED),
            extra={
                "added": report.count(ImportStatus.ADDED),
                "duplicate": report.count(ImportStatus.DUPLICATE),
                "failed": report.count(ImportStatus.FAILED),
                "needs_review": sum(i.needs_review for i in items),
                "actor": actor,
                "duration_s": round(time.monotonic() - started, 1),
            },
        )
        return report

    def _one(
        self,
        path: Path,
        defaults: Mapping[str, Any],
        actor: str,
        model: classify.Model | None,
        projects: set[str],
        indexing: BulkIndexing,
    ) -> ImportItem:
        try:
            if path.stat().st_size > self.archive.max_upload_bytes:
                raise TooLarge(
                    f"文件过大（上限 {self.archive.max_upload_bytes} 字节）。",
                    f"File too large (limit {self.archive.max_upload_bytes} bytes).",
                    field="file",
                )
            data = path.read_bytes()
        except OSError as exc:
            raise InvalidInput(
                f"无法读取：{exc.strerror or exc}", f"Cannot read: {exc.strerror or exc}", field="file"
            ) from None
        media_type = self.archive.inspect(data, path.name)
        sha = hashlib.sha256(data).hexdigest()
        existing = self.archive.catalog.versions_with_sha(sha)
        if existing:
            return ImportItem(str(path), ImportStatus.DUPLICATE, document_id=existing[0].document_id)
        meta: dict[str, Any] = {"title": path.stem, **defaults, **_sidecar(path)}
        # Extracted here, where the bytes are at hand: the stream indexes this text, and the
        # cache keeps it for rebuilds and for showing the extraction status.
        text = indexing.extract(sha, data, media_type)
        meta, suggested = self.classifier.fill_labels(
            meta, text.text, sha256=sha, model=model, known_projects=sorted(projects)
        )
        result = self.archive.add_document(
            data,
            path.name,
            meta,
            actor=actor,
            reason="批量导入 / bulk import",
            suggested=suggested,
            index_lease=indexing.lease,
        )
        indexing.add(result.version, result.document, text)
        if result.document.metadata.project:
            projects.add(result.document.metadata.project)
        return ImportItem(
            str(path),
            ImportStatus.ADDED,
            result.document.id,
            suggested=suggested is not None,
            needs_review=bool(suggested and suggested.needs_review),
        )


def _sidecar(path: Path) -> dict[str, Any]:
    side = path.with_name(path.name + SIDECAR)
    if not side.is_file():
        return {}
    try:
        data = json.loads(side.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput(
            f"元数据文件 {side.name} 不是有效的 UTF-8 JSON：{exc}",
            f"Metadata file {side.name} is not valid UTF-8 JSON: {exc}",
            field="metadata",
        ) from None
    if not isinstance(data, dict):
        raise InvalidInput(
            f"元数据文件 {side.name} 应为 JSON 对象。",
            f"Metadata file {side.name} must be a JSON object.",
            field="metadata",
        )
    return data
