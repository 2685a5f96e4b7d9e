"""Semantic ranking (docsvc.core.semantic) as the search service uses it.

- :meth:`SemanticRanking.embed_pending` embeds the versions that the indexer has read and that
  have no vectors by the running model yet, newest first, a batch at a time: the server's index
  writer calls it whenever the outbox is empty, ``docsvc index sync`` and ``docsvc import`` until
  none is left (with progress). The same text is embedded once.
- :meth:`SemanticRanking.meanings` gives the classifier the meaning of contents' heads
  (:func:`docsvc.core.classify.features.meaning_input`): made with the passages in the
  background (whose listeners, :attr:`SemanticRanking.on_embedded`, then hear of it: the
  classifier suggests again what it suggested from the words alone), or when a training first
  needs one, and kept per content.
- :meth:`SemanticRanking.search` reorders the best matches of a question by meaning. Which
  documents match, the totals and the facets stay the index's; a page past the first
  :data:`~docsvc.core.semantic.CANDIDATES` results, a search sorted by date, a search with no
  words, and candidates not embedded yet keep the words' order.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Collection, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import numpy as np

from docsvc.adapters import vectors as rows
from docsvc.adapters.catalog import SqlCatalog
from docsvc.core import semantic
from docsvc.core.classify.features import meaning_version, meanings
from docsvc.core.extract import EXTRACTOR_VERSION
from docsvc.core.model import Version, utcnow
from docsvc.core.search import SearchRequest, SearchResult, SortOrder, parse_request

log = logging.getLogger(__name__)

BATCH = 16  # versions embedded per transaction
QUERY_CACHE = 256  # questions whose vectors are kept: people ask again, and page


class SemanticRanking:
    def __init__(self, catalog: SqlCatalog, embedder: semantic.Embedder, text_of: Callable[[Version], str]) -> None:
        self.catalog = catalog
        self.embedder = embedder
        self.text_of = text_of
        self._queries: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self._readers: tuple[int, ThreadPoolExecutor] | None = None  # (process, its threads)
        # Told of each batch of versions embedded, with their texts, once the vectors are kept.
        self.on_embedded: list[Callable[[list[tuple[Version, str]]], object]] = []

    @property
    def meaning_version(self) -> str:
        """What the classifier's meaning vectors are kept by: the model and the head it reads."""
        return meaning_version(self.embedder)

    # -- making vectors ---------------------------------------------------------------------
    def pending(self) -> int:
        with self.catalog.reading() as conn:
            return rows.count_pending(conn, self.embedder.version, self.meaning_version, EXTRACTOR_VERSION)

    def embed_pending(
        self, *, limit: int | None = None, batch: int = BATCH, progress: Callable[[int], None] | None = None
    ) -> int:
        """Embed up to ``limit`` pending versions (all of them when None); how many were."""
        done = 0
        while limit is None or done < limit:
            with self.catalog.reading() as conn:
                ids = rows.pending(
                    conn,
                    self.embedder.version,
                    self.meaning_version,
                    EXTRACTOR_VERSION,
                    batch if limit is None else min(batch, limit - done),
                )
            if not ids:
                break
            self._embed([v for v in map(self.catalog.get_version_by_id, ids) if v is not None])
            done += len(ids)
            if progress is not None:
                progress(len(ids))
        return done

    def _embed(self, versions: list[Version]) -> None:
        contents = {v.id: self.text_of(v) for v in versions}
        self.meanings({v.sha256: contents[v.id] for v in versions})
        passages = {vid: semantic.passages_of(text) for vid, text in contents.items()}
        keys = {vid: semantic.text_key(p) for vid, p in passages.items()}
        with self.catalog.reading() as conn:
            known = rows.by_key(conn, self.embedder.version, keys.values())
        todo = sorted({keys[vid]: vid for vid in keys if keys[vid] not in known}.values())
        texts = [p for vid in todo for p in passages[vid]]
        made = self.embedder.passages(texts) if texts else np.zeros((0, self.embedder.dim))
        at = 0
        for vid in todo:
            n = len(passages[vid])
            known[keys[vid]] = (n, semantic.encode(made[at : at + n]))
            at += n
        with self.catalog.writing() as conn:
            rows.put(
                conn,
                [
                    {
                        "version_id": vid,
                        "text_key": keys[vid],
                        "passages": known[keys[vid]][0],
                        "vectors": known[keys[vid]][1],
                    }
                    for vid in keys
                ],
                self.embedder.version,
                utcnow(),
            )
        for listener in self.on_embedded:
            try:
                listener([(v, contents[v.id]) for v in versions])
            except Exception:  # the vectors are kept whatever a listener does with them
                log.exception("a listener of the embedded versions failed")

    def meanings(
        self, texts: Mapping[str, str], *, progress: Callable[[int], None] | None = None
    ) -> dict[str, np.ndarray]:
        """The meaning vector of each content (SHA-256 → its text), made and kept for those that
        have none by the running model; a content without text means nothing (zeros).
        ``progress`` is told how many were made, a batch at a time."""
        out = self.kept_meanings(texts.keys())
        todo = sorted(sha for sha in texts if sha not in out)
        for start in range(0, len(todo), BATCH):
            shas = todo[start : start + BATCH]
            made = meanings([texts[sha] for sha in shas], self.embedder)
            with self.catalog.writing() as conn:
                rows.put_meanings(
                    conn,
                    {sha: semantic.encode(v[None, :]) for sha, v in zip(shas, made)},
                    self.meaning_version,
                    utcnow(),
                )
            out.update(zip(shas, made))
            if progress is not None:
                progress(len(shas))
        return out

    def kept_meanings(self, shas: Collection[str]) -> dict[str, np.ndarray]:
        """The meaning vectors the running model has made of these contents; none is made."""
        with self.catalog.reading() as conn:
            stored = rows.meanings(conn, self.meaning_version, shas)
        return {sha: semantic.decode(data, self.embedder.dim)[0] for sha, data in stored.items()}

    def missing_meanings(self, shas: Collection[str]) -> int:
        """How many of these contents have no meaning vector by the running model yet."""
        with self.catalog.reading() as conn:
            return len(set(shas)) - len(rows.meanings(conn, self.meaning_version, shas))

    def forget(self, sha256: str) -> None:
        """The content's text changed (OCR read it): its vectors are made again."""
        with self.catalog.writing() as conn:
            rows.forget(conn, sha256)

    # -- ranking ----------------------------------------------------------------------------
    def search(self, request: SearchRequest, run: Callable[[SearchRequest], SearchResult]) -> SearchResult:
        """``run(request)``, its best matches by their words reordered by meaning."""
        end = request.page * request.per_page
        if request.sort != SortOrder.RELEVANCE or end > semantic.CANDIDATES:
            return run(request)
        question = semantic.question_of(parse_request(request).node)
        if not question:
            return run(request)
        # The model reads the question while the index finds the candidates (the engine leaves
        # Python's lock while it computes): the search costs the longer of the two, not both.
        reading = self._reader().submit(self._question, question)
        wide = run(replace(request, page=1, per_page=semantic.CANDIDATES))
        hits = wide.hits
        with self.catalog.reading() as conn:
            stored = rows.get(conn, [h.version_id for h in hits], self.embedder.version)
        query = self._read(reading) if len(hits) > 1 and stored else None
        if query is not None:
            meaning = {
                i: semantic.closeness(query, semantic.decode(stored[h.version_id], self.embedder.dim))
                for i, h in enumerate(hits)
                if h.version_id in stored
            }
            order = semantic.reorder(list(range(len(hits))), [h.score for h in hits], meaning)
            hits = [hits[i] for i in order]
        start = (request.page - 1) * request.per_page
        return replace(wide, hits=hits[start:end], page=request.page, per_page=request.per_page)

    @staticmethod
    def _read(reading: Future[np.ndarray]) -> np.ndarray | None:
        """The question's vector, or None when the model failed: the words' order stands, a
        search never fails for its ranking."""
        try:
            return reading.result()
        except Exception:  # noqa: BLE001 - any failure of the engine
            log.exception("semantic ranking: reading the question failed; ranked by words alone")
            return None

    def _reader(self) -> ThreadPoolExecutor:
        """The threads that read questions, this process's own: a server's forked workers do
        not inherit the threads of the process they were forked from."""
        with self._lock:
            if self._readers is None or self._readers[0] != os.getpid():
                self._readers = (os.getpid(), ThreadPoolExecutor(max_workers=2, thread_name_prefix="docsvc-question"))
            return self._readers[1]

    def _question(self, text: str) -> np.ndarray:
        with self._lock:
            cached = self._queries.get(text)
            if cached is not None:
                self._queries.move_to_end(text)
                return cached
        vector: np.ndarray = np.asarray(self.embedder.queries([text])[0], dtype=np.float32)
        with self._lock:
            self._queries[text] = vector
            while len(self._queries) > QUERY_CACHE:
                self._queries.popitem(last=False)
        return vector

    def status(self) -> dict[str, Any]:
        """For the health page: the model, and the versions still waiting for their vectors."""
        return {"model": self.embedder.version, "pending": self.pending()}
