"""Suggested document type and service category (spec §4, §9), learnt from confirmed labels.

Rules built on the specification's vocabulary answer from the first document on; a model
trained on the archive's confirmed labels (labels a person set or confirmed) joins in once there
are enough. The model is derived data: it records the versions that produced it and a
fingerprint of the labels, and is retrained when either changes. It is kept as a blob (the
archive folder or the object store) and named in the catalog, so every server suggests with the
model any of them, or `docsvc classify train` on any machine, trained last. A document whose
labels came from a suggestion stays on the review list until a person accepts or corrects it.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from docsvc.adapters.catalog import SqlCatalog
from docsvc.core import classify
from docsvc.core.blobs import BlobStore
from docsvc.core.model import Document
from docsvc.errors import Corrupted
from docsvc.services.archive import ArchiveService, SuggestionRecord
from docsvc.services.search import IndexService

MODEL_NAME = "classifier"
LEGACY_MODEL_FILE = "classifier.model"  # where the index folder kept the model before migration 0009
# The labels a person may leave to docsvc; a project is suggested too when it is left out.
LABELS = ("doc_type", "service_category")
# Documents are user documents (9.1) unless the caller says otherwise, as `docsvc import` does.
DEFAULT_CLASS = "user"
# Retraining segments every confirmed document; up to this many it happens on demand, beyond
# it only through `docsvc classify train` (or a scheduled job).
INLINE_TRAIN_LIMIT = 2000


@dataclass(frozen=True)
class ReviewItem:
    suggestion_id: int
    document: Document
    suggestion: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        s = self.suggestion
        return {
            "suggestion_id": self.suggestion_id,
            "document_id": self.document.id,
            "title": self.document.metadata.title,
            "doc_type": {
                "value": s["doc_type"],
                "confidence": round(s["doc_type_confidence"], 3),
                "terms": s["terms"].get("doc_type", []),
            },
            "service_category": {
                "value": s["service_category"],
                "confidence": round(s["service_category_confidence"], 3),
                "terms": s["terms"].get("service_category", []),
            },
            "project": s["project"],
            "needs_review": s["needs_review"],
        }


def model_tag(model: classify.Model | None) -> str:
    """What produced a suggestion: the rules alone, or rules blended with a trained model."""
    if model is None or not any(model.targets.values()):
        return f"rules/{classify.MODEL_VERSION}"
    return f"model/{model.model_version}/{model.labels_fingerprint[:12]}/n={model.n_samples}"


class ClassifyService:
    def __init__(
        self, catalog: SqlCatalog, index: IndexService, archive: ArchiveService, blobs: BlobStore, legacy_dir: Path
    ) -> None:
        self.catalog = catalog
        self.index = index
        self.archive = archive
        self.blobs = blobs
        self.legacy_path = Path(legacy_dir) / LEGACY_MODEL_FILE
        self._model: classify.Model | None = None
        self._sha: str | None = None  # the blob the loaded model came from
        self._lock = threading.Lock()

    # -- the model ----------------------------------------------------------------------
    def _samples(self, *, with_text: bool) -> list[classify.LabeledSample]:
        out = []
        for doc_id, sha, doc_type, category in self.catalog.confirmed_labels():
            text, title = "", ""
            if with_text:
                version = self.archive.version(doc_id)
                text = self.index.extraction(version).text
                title = self.archive.document(doc_id).metadata.title
            out.append(classify.LabeledSample(text, title, doc_type, category, key=f"{doc_id}:{sha}"))
        return out

    def model(self, *, refresh: bool = False) -> classify.Model | None:
        """The current model; with ``refresh`` retrained first if the labels changed (when the
        archive is small enough to do it on the spot)."""
        with self._lock:
            self._load_current()
            if refresh:
                fingerprint = classify.labels_fingerprint(self._samples(with_text=False))
                if (
                    classify.needs_retrain(self._model, fingerprint)
                    and len(self.catalog.confirmed_labels()) <= INLINE_TRAIN_LIMIT
                ):
                    self._train_locked()
            return self._model

    def _load_current(self) -> None:
        """Follow the catalog: another server (or the CLI) may have trained a newer model."""
        current = self.catalog.current_model(MODEL_NAME)
        if current is None:
            if self._sha is None and self.legacy_path.is_file():
                self._adopt_legacy()
            return
        if current["sha256"] == self._sha:
            return
        try:  # the store re-hashes: only the bytes the catalog pinned are ever unpickled
            data = self.blobs.read(current["sha256"])
        except Corrupted:
            raise Corrupted(
                "分类模型文件校验失败（哈希不符），未加载。请运行 docsvc classify train 重新训练。",
                "The classifier model failed its checksum and was not loaded; run docsvc classify train to retrain.",
            ) from None
        self._model, self._sha = classify.loads(data, MODEL_NAME), current["sha256"]

    def _adopt_legacy(self) -> None:
        """A model trained before 0009 sits in this machine's index folder: share it once."""
        model = classify.load(self.legacy_path)
        if model is not None:
            self._store(model, trained_by="legacy")
        self.legacy_path.unlink(missing_ok=True)

    def train(self, *, actor: str = "docsvc") -> classify.Model:
        with self._lock:
            return self._train_locked(actor)

    def _train_locked(self, actor: str = "docsvc") -> classify.Model:
        model = classify.train(self._samples(with_text=True))
        self._store(model, trained_by=actor)
        return model

    def _store(self, model: classify.Model, *, trained_by: str) -> None:
        blob = self.blobs.put(classify.dumps(model))
        self.catalog.record_model(
            MODEL_NAME,
            sha256=blob.sha256,
            size=blob.size,
            model_version=str(model.model_version),
            labels_fingerprint=model.labels_fingerprint,
            n_samples=model.n_samples,
            trained_by=trained_by,
        )
        self._model, self._sha = model, blob.sha256

    # -- suggestions --------------------------------------------------------------------
    def suggest(
        self, text: str, title: str, *, model: classify.Model | None = None, known_projects: Sequence[str] | None = None
    ) -> classify.Suggestion:
        """Suggest labels; ``known_projects`` defaults to the archive's (a bulk import passes
        its own list instead of reading every document's project for each file)."""
        return classify.suggest(
            text,
            title,
            model=model if model is not None else self.model(),
            known_projects=self.catalog.project_names() if known_projects is None else known_projects,
        )

    def fill_labels(
        self, metadata: Mapping[str, Any], text: str, *, model: classify.Model | None, known_projects: Sequence[str]
    ) -> tuple[dict[str, Any], SuggestionRecord | None]:
        """``metadata`` with the labels the caller left out suggested (type, category and, when
        one of the known projects is named, project), and the record of that suggestion for the
        review list; labels the caller gave always win. Nothing left out: no suggestion."""
        meta = {**metadata}
        meta["doc_class"] = meta.get("doc_class") or DEFAULT_CLASS
        if all(meta.get(k) for k in LABELS):
            return meta, None
        s = self.suggest(text, str(meta.get("title") or ""), model=model, known_projects=known_projects)
        for key in LABELS:
            if not meta.get(key):
                meta[key] = getattr(s, key).value
        if not meta.get("project") and s.project:
            meta["project"] = s.project
        return meta, SuggestionRecord(s.to_dict(), model_tag(model), s.needs_review)

    def label_upload(
        self, data: bytes, filename: str, metadata: Mapping[str, Any], *, known_projects: Sequence[str] | None = None
    ) -> tuple[dict[str, Any], SuggestionRecord | None]:
        """:meth:`fill_labels` for one uploaded file (web, API, CLI, watched folder): its text is
        extracted only when a label is missing, and cached for the indexer."""
        if all(metadata.get(k) for k in LABELS):
            return {**metadata, "doc_class": metadata.get("doc_class") or DEFAULT_CLASS}, None
        text = self.upload_text(data, filename)
        return self.fill_labels(
            metadata,
            text,
            model=self.model(refresh=True),
            known_projects=self.catalog.project_names() if known_projects is None else known_projects,
        )

    def suggest_upload(
        self, data: bytes, filename: str, title: str, *, known_projects: Sequence[str] | None = None
    ) -> classify.Suggestion:
        """Suggested labels for a file not archived yet (the upload form shows them per file)."""
        return self.suggest(
            self.upload_text(data, filename), title, model=self.model(refresh=True), known_projects=known_projects
        )

    def upload_text(self, data: bytes, filename: str) -> str:
        media_type = self.archive.inspect(data, filename)  # a refused file is refused here already
        return self.index.extract(hashlib.sha256(data).hexdigest(), data, media_type).text

    def suggest_document(self, document_id: int) -> classify.Suggestion:
        doc = self.archive.document(document_id)
        text = self.index.extraction(self.archive.version(document_id)).text
        return self.suggest(text, doc.metadata.title, model=self.model(refresh=True))

    def review_list(self, *, all_pending: bool = False) -> list[ReviewItem]:
        rows = self.catalog.suggestions(state="pending", review_only=not all_pending)
        docs = self.catalog.documents_by_id([r["document_id"] for r in rows])
        return [ReviewItem(r["id"], docs[r["document_id"]], r) for r in rows if r["document_id"] in docs]
