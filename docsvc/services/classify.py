"""Suggested document type and service category (spec §4, §9), learnt from confirmed labels.

Rules built on the specification's vocabulary answer from the first document on; a model
trained on the archive's confirmed labels (labels a person set or confirmed) joins in once there
are enough. The model is derived data: it records the versions that produced it and a
fingerprint of the labels, and is retrained when either changes. It is kept as a blob (the
archive folder or the object store) and named in the catalog, so every server suggests with the
model any of them, or `docsvc labels train` on any machine, trained last. A document whose
labels came from a suggestion stays on the review list until a person accepts or corrects it.

With semantic ranking on (``DOCSVC_SEMANTIC``), the model also reads what each document's head
means, by the same sentence-embedding model: the vectors are kept per content
(:meth:`~docsvc.services.semantic.SemanticRanking.meanings`), made in the background as
documents are indexed, or when a training first needs one. A suggestion never waits for one: the
words alone answer until the background has made it, and then the labels still left to docsvc
are suggested again (:meth:`ClassifyService.read_meanings`).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from docsvc.adapters.catalog import SqlCatalog
from docsvc.core import classify
from docsvc.core.blobs import BlobStore
from docsvc.core.model import AuditAction, Document, Version
from docsvc.errors import Corrupted
from docsvc.services.archive import ArchiveService, SuggestionRecord
from docsvc.services.search import IndexService

log = logging.getLogger(__name__)

MODEL_NAME = "classifier"
LEGACY_MODEL_FILE = "classifier.model"  # where the index folder kept the model before migration 0009
# The labels a person may leave to docsvc; a project is suggested too when it is left out.
LABELS = ("doc_type", "service_category")
# Documents are user documents (9.1) unless the caller says otherwise, as `docsvc import` does.
DEFAULT_CLASS = "user"
# Retraining segments every confirmed document; up to this many it happens on demand, beyond
# it through the hourly background job (docsvc.services.background) or `docsvc labels train`.
INLINE_TRAIN_LIMIT = 2000
# A retraining on demand makes at most this many missing meaning vectors (up to 0.4 s of a core
# each); with more missing it learns the words alone, and again with the meaning once the
# background has made them. `docsvc labels train` makes them all, with progress.
INLINE_MEANINGS = 50


# The review page and the API list the oldest suggestions waiting, this many unless asked for
# more (up to MAX_REVIEW_PAGE): confirming them brings the next ones up. An import of thousands
# of untyped files must not make one page of thousands of forms.
REVIEW_PAGE = 100
MAX_REVIEW_PAGE = 1000


@dataclass(frozen=True)
class ReviewPage:
    """The oldest suggestions waiting for a person, and how many wait in all."""

    items: tuple[ReviewItem, ...]
    total: int


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


def _sha(sample: classify.LabeledSample) -> str:
    """The content of a confirmed sample (its key is ``document id:content SHA-256``)."""
    return sample.key.rsplit(":", 1)[1]


def model_tag(model: classify.Model | None) -> str:
    """What produced a suggestion: the rules alone, or rules blended with a trained model."""
    if model is None or not any(model.targets.values()):
        return f"rules/{classify.MODEL_VERSION}"
    return f"model/{model.model_version}/{model.labels_fingerprint[:12]}/n={model.n_samples}"


# What else made a suggestion, after its model's tag (the suggestion's model_version, at most 64
# characters): the words alone, where the model reads the meaning too, and text read by OCR.
WORDS_ALONE = " words"
FROM_OCR = " +ocr"


def suggestion_tag(model: classify.Model | None, s: classify.Suggestion, *, from_ocr: bool = False) -> str:
    suffix = (WORDS_ALONE if s.words_alone else "") + (FROM_OCR if from_ocr else "")
    return model_tag(model)[: 64 - len(suffix)] + suffix


class Again(StrEnum):
    """Why the labels a person left to docsvc are suggested again."""

    OCR = "ocr"  # the text of a scan, recognised after it was filed
    MEANING = "meaning"  # the meaning of a text whose suggestion read the words alone

    @property
    def reason(self) -> str:
        return _AGAIN_REASONS[self]


_AGAIN_REASONS = {
    Again.OCR: "OCR 识别出文字后重新建议分类 / labels suggested again from the OCR text",
    Again.MEANING: "读取文本语义后重新建议分类 / labels suggested again reading the text's meaning",
}


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
    @property
    def semantic(self) -> Any:
        """The meaning's vectors (docsvc.services.semantic.SemanticRanking), or None when off."""
        return self.index.semantic

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
        """The current model; with ``refresh`` retrained first if the labels changed, or the
        meaning can now be read (when the archive is small enough to do it on the spot)."""
        with self._lock:
            self._load_current()
            if refresh:
                samples = self._samples(with_text=False)
                if len(samples) > INLINE_TRAIN_LIMIT:
                    return self._model
                fingerprint = classify.labels_fingerprint(samples)
                running = self._running_meaning()
                if not classify.needs_retrain(self._model, fingerprint, running):
                    return self._model  # up to date, meaning included: nothing to count
                # The meaning is read unless more than INLINE_MEANINGS vectors are still to make.
                if running is not None and self.semantic.missing_meanings([_sha(s) for s in samples]) > INLINE_MEANINGS:
                    running = None
                if classify.needs_retrain(self._model, fingerprint, running):
                    self._train_locked(with_meaning=running is not None)
            return self._model

    def _running_meaning(self) -> str | None:
        """The meaning version a model trained now would read (None: off)."""
        return self.semantic.meaning_version if self.semantic is not None else None

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
                "分类模型文件校验失败（哈希不符），未加载。请运行 docsvc labels train 重新训练。",
                "The classifier model failed its checksum and was not loaded; run docsvc labels train to retrain.",
            ) from None
        self._model, self._sha = classify.loads(data, MODEL_NAME), current["sha256"]

    def _adopt_legacy(self) -> None:
        """A model trained before 0009 sits in this machine's index folder: share it once."""
        model = classify.load(self.legacy_path)
        if model is not None:
            self._store(model, trained_by="legacy")
        self.legacy_path.unlink(missing_ok=True)

    def train(self, *, actor: str = "docsvc", progress: Callable[[int, int], None] | None = None) -> classify.Model:
        """Retrain on every confirmed label, making the meaning vectors still missing first
        (``progress(done, of)`` is told as they are made)."""
        with self._lock:
            return self._train_locked(actor, with_meaning=True, progress=progress)

    def retrain_if_stale(self, *, progress: Callable[[int, int], None] | None = None) -> bool:
        """Retrain when the model is stale, whatever the archive's size (the hourly background
        job; a suggestion retrains on the spot only up to :data:`INLINE_TRAIN_LIMIT` labels): no
        model yet, one made by another version of docsvc's classifier or analyzer, labels
        confirmed or corrected since, or the meaning not read. Nothing while there are too few
        labels for a model. Suggestions go on meanwhile with the model they have: the lock they
        take is held only to swap the new one in. Whether it retrained."""
        samples = self._samples(with_text=False)
        if len(samples) < classify.MIN_TRAIN_SAMPLES:
            return False
        running = self._running_meaning()
        with self._lock:
            self._load_current()
            if not classify.needs_retrain(self._model, classify.labels_fingerprint(samples), running):
                return False
        model = self._fit(with_meaning=True, progress=progress)
        with self._lock:
            self._store(model, trained_by="docsvc")
        return True

    def _train_locked(
        self,
        actor: str = "docsvc",
        *,
        with_meaning: bool,
        progress: Callable[[int, int], None] | None = None,
    ) -> classify.Model:
        model = self._fit(with_meaning=with_meaning, progress=progress)
        self._store(model, trained_by=actor)
        return model

    def _fit(self, *, with_meaning: bool, progress: Callable[[int, int], None] | None) -> classify.Model:
        """A model trained on every confirmed label (with their meaning, made first where
        missing, when ``with_meaning`` and semantic ranking is on); not stored."""
        samples = self._samples(with_text=True)
        semantic = self.semantic if with_meaning else None
        if semantic is not None:
            texts = {_sha(s): s.text for s in samples}
            missing = semantic.missing_meanings(texts)
            done = 0

            def made(n: int) -> None:
                nonlocal done
                done += n
                if progress is not None:
                    progress(done, missing)

            vectors = semantic.meanings(texts, progress=made)
            samples = [replace(s, meaning=vectors[_sha(s)]) for s in samples]
        return classify.train(samples, embedder=semantic.embedder if semantic is not None else None)

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
        self,
        text: str,
        title: str,
        *,
        sha256: str | None = None,
        model: classify.Model | None = None,
        known_projects: Sequence[str] | None = None,
    ) -> classify.Suggestion:
        """Suggest labels for a text, the content ``sha256`` when it is one; ``known_projects``
        defaults to the archive's (a bulk import passes its own list instead of reading every
        document's project for each file).

        A model that reads the meaning reads the content's vector when the background has made
        it; else the words alone answer (the suggestion says ``words_alone``), for making a
        vector costs up to 0.4 s of a core per text, and an upload or an import must not
        wait for it: :meth:`read_meanings` suggests again once it is made."""
        model = model if model is not None else self.model()
        return classify.suggest(
            text,
            title,
            model=model,
            known_projects=self.catalog.project_names() if known_projects is None else known_projects,
            meaning=self._meaning(sha256, model),
            embedder=None,  # the vector comes kept, or the words alone answer
        )

    def _meaning(self, sha256: str | None, model: classify.Model | None) -> Any:
        """The content's kept meaning vector, when ``model`` reads the running embedding
        model's and the vector is made."""
        semantic = self.semantic
        if (
            sha256 is None
            or model is None
            or semantic is None
            or not model.reads_meaning
            or model.embedder_version != semantic.meaning_version
        ):
            return None
        return semantic.kept_meanings([sha256]).get(sha256)

    def read_meanings(self, contents: Iterable[tuple[Version, str]]) -> int:
        """The background made the meaning vectors of these versions (with their texts): the
        documents whose labels docsvc suggested from the words alone are suggested again, now
        reading the meaning (:meth:`suggest_again`). How many changed."""
        model = self.model()
        if model is None or not model.reads_meaning:
            return 0
        changed = 0
        for version, text in contents:
            try:
                changed += self.suggest_again(version, text, why=Again.MEANING)
            except Exception:  # one document's failure leaves its first suggestion, not the others'
                log.exception("suggesting the labels of version %s again failed", version.id)
        return changed

    def read_missed_meanings(self) -> int:
        """:meth:`read_meanings` for the documents whose pending suggestion the words alone made
        though their vector is kept now: those the background's listener missed (it failed, the
        database away, or the model of the moment read no meaning). The hourly job calls it.
        How many changed."""
        model = self.model()
        if model is None or not model.reads_meaning or self.semantic is None:
            return 0
        ids = self.catalog.versions_suggested_by(
            (WORDS_ALONE, WORDS_ALONE + FROM_OCR), meaning_model=self.semantic.meaning_version
        )
        # Read one at a time: a sweep after a long outage may find thousands, each with its text.
        versions = (v for v in map(self.catalog.get_version_by_id, ids) if v is not None)
        return self.read_meanings((v, self.index.extraction(v).text) for v in versions)

    def suggest_again(self, version: Version, text: str, *, why: Again, again: bool = False) -> bool:
        """Suggest the labels of ``version``'s document again from ``text`` when they are still
        docsvc's suggestion (a pending one) and ``version`` is its latest. A label a person set
        differs from the pending suggestion's and is kept; confirmed labels (no pending
        suggestion) are never touched; the project is not changed (it decides who may see an
        on-site document). The new suggestion replaces the old one on the review list.

        ``why``: :attr:`Again.OCR`, the text a scan lacked (made from the title alone); a
        suggestion made from OCR text already is made again only when OCR ran ``again`` (a
        manager's re-run), not when a job is retried. :attr:`Again.MEANING`, the vector of a
        text whose suggestion the words alone made: replaced only when reading it changes a
        label or whether a person must review it; else the pending suggestion records, in place,
        that the meaning was read. Whether it was replaced."""
        pending = self.catalog.suggestions(document_id=version.document_id)
        if not pending:  # most documents the background embeds: labels a person set or confirmed
            return False
        doc = self.catalog.get_document(version.document_id)
        if doc is None or doc.latest_version != version.number:
            return False
        old = pending[-1]
        old_tag = str(old["model_version"])
        from_ocr = old_tag.endswith(FROM_OCR)
        if why is Again.OCR:
            if from_ocr and old["version_id"] == version.id and not again:
                return False
            from_ocr = True
        elif old["version_id"] != version.id or not old_tag.removesuffix(FROM_OCR).endswith(WORDS_ALONE):
            return False
        model = self.model()
        s = self.suggest(text, doc.metadata.title, sha256=version.sha256, model=model)
        if why is Again.MEANING and s.words_alone:
            return False
        same = (old["doc_type"], old["service_category"], old["needs_review"])
        agrees = why is Again.MEANING and same == (s.doc_type.value, s.service_category.value, s.needs_review)
        suggestion = {**s.to_dict(), "source": why.value}
        tag = suggestion_tag(model, s)
        recorded_tag = suggestion_tag(model, s, from_ocr=from_ocr)
        with self.catalog.transaction() as tx:
            current = tx.lock_document(version.document_id)
            if current is None or current.latest_version != version.number:
                return False
            if old["id"] not in tx.pending_suggestions(version.document_id):
                return False  # confirmed meanwhile
            if agrees:
                # Nothing a person would see changes: no audit entry, the same place on the
                # review list; the record says the meaning was read, so it is not read again.
                tx.update_suggestion(old["id"], suggestion, model_version=recorded_tag)
                return False
            changes = {}
            if current.metadata.doc_type == old["doc_type"] and s.doc_type.value != old["doc_type"]:
                changes["doc_type"] = s.doc_type.value
            if (
                current.metadata.service_category.value == old["service_category"]
                and s.service_category.value != old["service_category"]
            ):
                changes["service_category"] = s.service_category.value
            if changes:
                new_meta = current.metadata.update(changes, self.archive.vocab)
                tx.update_metadata(version.document_id, new_meta)
                tx.append_audit(
                    "docsvc",
                    AuditAction.METADATA_CHANGED,
                    document_id=version.document_id,
                    details={"changes": current.metadata.diff(new_meta), "reason": why.reason},
                )
                tx.enqueue_index(version.document_id, None, "metadata")
            tx.resolve_suggestions(version.document_id, "superseded", "docsvc")
            tx.insert_suggestion(
                version.document_id,
                version.id,
                suggestion,
                model_version=recorded_tag,
                # Labels that changed after the document was filed are for a person to see.
                needs_review=why is Again.OCR or bool(changes) or s.needs_review,
            )
            tx.append_audit(
                "docsvc",
                AuditAction.LABELS_SUGGESTED,
                document_id=version.document_id,
                version=version.number,
                details={"suggestion": suggestion, "model": tag, "source": why.value},
            )
        return True

    def fill_labels(
        self,
        metadata: Mapping[str, Any],
        text: str,
        *,
        sha256: str,
        model: classify.Model | None,
        known_projects: Sequence[str],
    ) -> tuple[dict[str, Any], SuggestionRecord | None]:
        """``metadata`` with the labels the caller left out suggested (type, category and, when
        one of the known projects is named, project), and the record of that suggestion for the
        review list; labels the caller gave always win. Nothing left out: no suggestion."""
        meta = {**metadata}
        meta["doc_class"] = meta.get("doc_class") or DEFAULT_CLASS
        if all(meta.get(k) for k in LABELS):
            return meta, None
        s = self.suggest(text, str(meta.get("title") or ""), sha256=sha256, model=model, known_projects=known_projects)
        for key in LABELS:
            if not meta.get(key):
                meta[key] = getattr(s, key).value
        if not meta.get("project") and s.project:
            meta["project"] = s.project
        return meta, SuggestionRecord(s.to_dict(), suggestion_tag(model, s), s.needs_review)

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
            sha256=hashlib.sha256(data).hexdigest(),
            model=self.model(refresh=True),
            known_projects=self.catalog.project_names() if known_projects is None else known_projects,
        )

    def suggest_upload(
        self, data: bytes, filename: str, title: str, *, known_projects: Sequence[str] | None = None
    ) -> classify.Suggestion:
        """Suggested labels for a file not archived yet (the upload form shows them per file)."""
        return self.suggest(
            self.upload_text(data, filename),
            title,
            sha256=hashlib.sha256(data).hexdigest(),
            model=self.model(refresh=True),
            known_projects=known_projects,
        )

    def upload_text(self, data: bytes, filename: str) -> str:
        media_type = self.archive.inspect(data, filename)  # a refused file is refused here already
        return self.index.extract(hashlib.sha256(data).hexdigest(), data, media_type).text

    def suggest_document(self, document_id: int) -> classify.Suggestion:
        doc = self.archive.document(document_id)
        version = self.archive.version(document_id)
        text = self.index.extraction(version).text
        return self.suggest(text, doc.metadata.title, sha256=version.sha256, model=self.model(refresh=True))

    def review_list(
        self,
        *,
        all_pending: bool = False,
        site_projects: Collection[str] | None = None,
        limit: int | None = None,
    ) -> list[ReviewItem]:
        """The suggestions waiting for a person (all pending ones with ``all_pending``), oldest
        first, of the documents a reader of ``site_projects`` may read (None: all), at most
        ``limit``."""
        rows = self.catalog.review_queue(review_only=not all_pending, site_projects=site_projects, limit=limit)
        docs = self.catalog.documents_by_id([r["document_id"] for r in rows])
        return [ReviewItem(r["id"], docs[r["document_id"]], r) for r in rows if r["document_id"] in docs]

    def review_count(self, *, all_pending: bool = False, site_projects: Collection[str] | None = None) -> int:
        """How many suggestions wait for a person, of the documents such a reader may read."""
        return self.catalog.count_review_queue(review_only=not all_pending, site_projects=site_projects)

    def review_page(
        self, *, all_pending: bool = False, site_projects: Collection[str] | None = None, limit: int
    ) -> ReviewPage:
        """:meth:`review_list` up to ``limit`` and how many wait in all, counted only when the
        page is full (a count reads the whole queue)."""
        items = self.review_list(all_pending=all_pending, site_projects=site_projects, limit=limit)
        full = len(items) == limit
        total = self.review_count(all_pending=all_pending, site_projects=site_projects) if full else len(items)
        return ReviewPage(tuple(items), total)
