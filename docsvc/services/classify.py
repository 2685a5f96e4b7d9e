"""Suggested document type and service category (spec §4, §9), learnt from confirmed labels.

Rules built on the specification's vocabulary answer from the first document on; a model
trained on the archive's confirmed labels (labels a person set or confirmed) joins in once there
are enough. The model is derived data in the index folder, records the versions that produced
it and a fingerprint of the labels, and is retrained when either changes. A document whose
labels came from a suggestion stays on the review list until a person accepts or corrects it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from docsvc.adapters.catalog import SqlCatalog
from docsvc.core import classify
from docsvc.core.model import Document
from docsvc.services.archive import ArchiveService
from docsvc.services.search import IndexService

MODEL_FILE = "classifier.model"
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
        return {"suggestion_id": self.suggestion_id, "document_id": self.document.id,
                "title": self.document.metadata.title,
                "doc_type": {"value": s["doc_type"], "confidence": round(s["doc_type_confidence"], 3),
                             "terms": s["terms"].get("doc_type", [])},
                "service_category": {"value": s["service_category"],
                                     "confidence": round(s["service_category_confidence"], 3),
                                     "terms": s["terms"].get("service_category", [])},
                "project": s["project"], "needs_review": s["needs_review"]}


def model_tag(model: classify.Model | None) -> str:
    """What produced a suggestion: the rules alone, or rules blended with a trained model."""
    if model is None or not any(model.targets.values()):
        return f"rules/{classify.MODEL_VERSION}"
    return f"model/{model.model_version}/{model.labels_fingerprint[:12]}/n={model.n_samples}"


class ClassifyService:
    def __init__(self, catalog: SqlCatalog, index: IndexService, archive: ArchiveService, model_dir: Path) -> None:
        self.catalog = catalog
        self.index = index
        self.archive = archive
        self.model_path = Path(model_dir) / MODEL_FILE
        self._model: classify.Model | None = None
        self._loaded = False
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
            if not self._loaded:
                self._model = classify.load(self.model_path)
                self._loaded = True
            if refresh:
                fingerprint = classify.labels_fingerprint(self._samples(with_text=False))
                if classify.needs_retrain(self._model, fingerprint) and \
                        len(self.catalog.confirmed_labels()) <= INLINE_TRAIN_LIMIT:
                    self._train_locked()
            return self._model

    def train(self) -> classify.Model:
        with self._lock:
            return self._train_locked()

    def _train_locked(self) -> classify.Model:
        model = classify.train(self._samples(with_text=True))
        self.model_path.parent.mkdir(parents=True, exist_ok=True)
        classify.save(model, self.model_path)
        self._model, self._loaded = model, True
        return model

    # -- suggestions --------------------------------------------------------------------
    def suggest(self, text: str, title: str, *, model: classify.Model | None = None,
                known_projects: Sequence[str] | None = None) -> classify.Suggestion:
        """Suggest labels; ``known_projects`` defaults to the archive's (a bulk import passes
        its own list instead of reading every document's project for each file)."""
        return classify.suggest(text, title, model=model if model is not None else self.model(),
                                known_projects=self.catalog.project_names() if known_projects is None
                                else known_projects)

    def suggest_document(self, document_id: int) -> classify.Suggestion:
        doc = self.archive.document(document_id)
        text = self.index.extraction(self.archive.version(document_id)).text
        return self.suggest(text, doc.metadata.title, model=self.model(refresh=True))

    def review_list(self, *, all_pending: bool = False) -> list[ReviewItem]:
        rows = self.catalog.suggestions(state="pending", review_only=not all_pending)
        docs = self.catalog.documents_by_id([r["document_id"] for r in rows])
        return [ReviewItem(r["id"], docs[r["document_id"]], r) for r in rows if r["document_id"] in docs]
