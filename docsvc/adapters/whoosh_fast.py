"""Array evaluation of the commonest search: words, each looked up in a few fields, soft-ORed
with Whoosh's coordination bonus, under constant-score filters.

Whoosh walks the matching documents one at a time in Python, about 10 µs per document and
word, and a search must see every match (the total and the facets count them). A domain word
such as 运维 is in most documents of an IT-service archive, so one such word cost ~100 ms at
10,000 documents and would cost a second at 100,000. Here each word's posting list is read a
block at a time into numpy arrays and the same BM25F scores, coordination bonus and top N are
computed with array operations. Posting arrays, field lengths and filter matches are cached per
segment: segments never change (deletions only add to a segment's deleted set, which is part of
the cache key), so a commit costs only the new segment's arrays.

Anything else — phrases, AND/NOT, required words, ranges in the query itself — goes through
Whoosh (:func:`plan` answers None). The results are Whoosh's own, scores included; a test
compares the two on random queries.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Hashable

import numpy as np
from whoosh import query as wq
from whoosh.codec.whoosh3 import W3LeafMatcher
from whoosh.matching import ListMatcher
from whoosh.matching.wrappers import FilterMatcher

CACHE_BYTES = 64 * 2**20  # posting arrays kept per index (the common words of recent searches)
FILTER_SCORE = 1.0


@dataclass(frozen=True)
class TermRef:
    field: str
    text: str
    boost: float


@dataclass(frozen=True)
class Plan:
    """What :func:`plan` understood: one group of terms per word (the word in each field),
    the coordination scale when there are several words, and the filter query."""

    groups: tuple[tuple[TermRef, ...], ...]
    scale: float | None
    filter: wq.Query | None


def plan(query: wq.Query) -> Plan | None:
    """The plan for ``query`` if it has the shape this module evaluates, else None."""
    core, filt = query, None
    if isinstance(query, wq.And) and len(query.subqueries) == 2 and \
            isinstance(query.subqueries[1], wq.ConstantScoreQuery) and query.subqueries[1].score == 0.0:
        core, filt = query.subqueries[0], query.subqueries[1].child
    if core.boost != 1.0:
        return None
    if isinstance(core, wq.Or) and not isinstance(core, wq.DisjunctionMax) and core.scale and \
            len(core.subqueries) > 1 and all(_group(s) is not None for s in core.subqueries):
        return Plan(tuple(_group(s) for s in core.subqueries), core.scale, filt)  # type: ignore[misc]
    group = _group(core)
    return Plan((group,), None, filt) if group is not None else None


def _group(q: wq.Query) -> tuple[TermRef, ...] | None:
    """A word: a Term, or an unscaled Or of Terms (the word in several fields)."""
    if type(q) is wq.Term:
        return (TermRef(q.fieldname, q.text, q.boost),)
    if type(q) is wq.Or and not q.scale and q.boost == 1.0 and q.subqueries and \
            all(type(s) is wq.Term for s in q.subqueries):
        return tuple(TermRef(s.fieldname, s.text, s.boost) for s in q.subqueries)
    return None


class _Cache:
    """A byte-bounded LRU of arrays, shared by the searching threads."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self._items: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Any:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            self._items.move_to_end(key)
            return item[0]

    def put(self, key: Hashable, value: Any, nbytes: int) -> None:
        with self._lock:
            if key in self._items:
                return
            self._items[key] = (value, nbytes)
            self.size += nbytes
            while self.size > self.limit and len(self._items) > 1:
                _, (_, old) = self._items.popitem(last=False)
                self.size -= old


class Evaluator:
    """Runs plans against a searcher (see the module docstring). Thread-safe."""

    def __init__(self, cache_bytes: int = CACHE_BYTES) -> None:
        self._cache = _Cache(cache_bytes)

    def run(self, searcher: Any, p: Plan, allowed: set[int] | None,
            deadline: float = math.inf) -> tuple[np.ndarray, np.ndarray, bool]:
        """(global docnums, scores, partial) of the matching documents, in docnum order;
        ``partial`` when the ``time.monotonic()`` deadline passed before every segment was read."""
        if searcher.doc_count_all() == 0:  # (and Whoosh's idf() would take log(0))
            return np.zeros(0, np.int64), np.zeros(0), False
        weighting = searcher.weighting
        stats = {}
        for group in p.groups:
            for t in group:
                if (t.field, t.text) not in stats:
                    stats[t.field, t.text] = (searcher.idf(t.field, t.text),
                                              searcher.avg_field_length(t.field) or 1,
                                              weighting._field_B.get(t.field, weighting.B), weighting.K1)
        allow = np.fromiter(allowed, dtype=np.int64, count=len(allowed)) if allowed is not None else None
        docs_out, scores_out, partial = [], [], False
        for sub, offset in searcher.leaf_searchers():
            if time.monotonic() > deadline:
                partial = True
                break
            if sub.reader().segment() is None:  # an empty index reads through an EmptyReader
                continue
            docs, scores = self._segment(sub, p, stats)
            docs = docs + offset
            if allow is not None:
                keep = np.isin(docs, allow)
                docs, scores = docs[keep], scores[keep]
            docs_out.append(docs)
            scores_out.append(scores)
        if not docs_out:
            return np.zeros(0, np.int64), np.zeros(0), partial
        return np.concatenate(docs_out), np.concatenate(scores_out), partial

    def _segment(self, sub: Any, p: Plan, stats: dict) -> tuple[np.ndarray, np.ndarray]:
        reader = sub.reader()
        key = _segment_key(reader)
        size = reader.doc_count_all()
        total = np.zeros(size)
        hit = np.zeros(size, dtype=bool)
        matching = np.zeros(size, dtype=np.int32)  # matching terms per document (coordination)
        termcount = 0
        for group in p.groups:
            for t in group:
                btext = reader.schema[t.field].to_bytes(t.text)
                if (t.field, btext) not in reader:
                    continue
                termcount += 1
                ids, weights = self._postings(reader, key, t.field, btext)
                if not len(ids):
                    continue
                idf, avgfl, b, k1 = stats[t.field, t.text]
                lengths = self._lengths(reader, key, t.field)[ids]
                # Whoosh's bm25(), times the term's boost.
                total[ids] += idf * ((weights * (k1 + 1)) / (weights + k1 * ((1 - b) + b * lengths / avgfl))) * t.boost
                hit[ids] = True
                matching[ids] += 1
        if p.filter is not None:
            hit &= self._filter(sub, key, p.filter, size)
        docs = np.flatnonzero(hit)
        scores = total[docs]
        if p.scale and termcount:
            # Whoosh's CoordMatcher ("SQR", V-Twin): rewards documents matching more terms.
            scores = np.zeros(len(docs)) if termcount == p.scale else \
                (scores + (matching[docs] - 1) / (termcount - p.scale) ** 2) * ((termcount - 1) / termcount)
        if p.filter is not None:
            # ConstantScoreQuery(score=0.0) scores 1.0 in Whoosh (its ListMatcher takes a weight
            # of 0.0 for "none given"): the same for every match, so ranking is unaffected.
            scores = scores + FILTER_SCORE
        return docs.astype(np.int64), scores

    def _postings(self, reader: Any, key: tuple, field: str, btext: bytes) -> tuple[np.ndarray, np.ndarray]:
        ck = ("p", key, field, btext)
        got = self._cache.get(ck)
        if got is None:
            got = _read_postings(reader, field, btext)
            self._cache.put(ck, got, got[0].nbytes + got[1].nbytes)
        return got

    def _lengths(self, reader: Any, key: tuple, field: str) -> np.ndarray:
        ck = ("l", key[0], field)  # lengths never change once a segment is written
        got = self._cache.get(ck)
        if got is None:
            got = np.array([reader.doc_field_length(d, field, 1) for d in range(reader.doc_count_all())],
                           dtype=np.float64)
            self._cache.put(ck, got, got.nbytes)
        return got

    def _filter(self, sub: Any, key: tuple, filt: wq.Query, size: int) -> np.ndarray:
        ck = ("f", key, repr(filt))
        got = self._cache.get(ck)
        if got is None:
            got = np.zeros(size, dtype=bool)
            ids = np.fromiter(filt.matcher(sub).all_ids(), dtype=np.int64)
            got[ids] = True
            self._cache.put(ck, got, got.nbytes)
        return got


def _segment_key(reader: Any) -> tuple:
    segment = reader.segment()
    return (segment.segment_id(), segment.deleted_count())


def _read_postings(reader: Any, field: str, btext: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(docnums, term frequencies) of one term in one segment, deleted documents left out."""
    m = reader.postings(field, btext)
    deleted = None
    if isinstance(m, FilterMatcher):
        deleted = reader.deleted_docs_set
        m = m.child
    if isinstance(m, ListMatcher):  # postings inlined in the term table
        ids = np.asarray(m._ids, dtype=np.int64)
        weights = np.asarray(m._weights, dtype=np.float64) if m._weights else np.ones(len(ids))
        if m._all_weights:
            weights = np.full(len(ids), float(m._all_weights))
    elif isinstance(m, W3LeafMatcher):
        id_parts, weight_parts = [], []
        while m.is_active():
            m._read_ids()
            m._read_weights()
            id_parts.append(np.asarray(m._ids, dtype=np.int64))
            weight_parts.append(np.asarray(m._weights, dtype=np.float64))
            m._next_block()
        ids = np.concatenate(id_parts) if id_parts else np.zeros(0, np.int64)
        weights = np.concatenate(weight_parts) if weight_parts else np.zeros(0)
    else:  # another codec: the slow, general way
        id_list, weight_list = [], []
        while m.is_active():
            id_list.append(m.id())
            weight_list.append(m.weight())
            m.next()
        ids, weights = np.asarray(id_list, dtype=np.int64), np.asarray(weight_list, dtype=np.float64)
    if deleted:
        keep = ~np.isin(ids, np.fromiter(deleted, dtype=np.int64, count=len(deleted)))
        ids, weights = ids[keep], weights[keep]
    return ids, weights


def top(docs: np.ndarray, scores: np.ndarray, limit: int) -> list[tuple[int, float]]:
    """The ``limit`` best (docnum, score), best first; ties by docnum, as Whoosh orders them."""
    if len(docs) > limit:
        cut = np.argpartition(-scores, limit - 1)[:limit]
        # Everything tied with the cut-off score competes on docnum, as in Whoosh.
        floor = scores[cut].min()
        cut = np.flatnonzero(scores >= floor)
        docs, scores = docs[cut], scores[cut]
    order = np.lexsort((docs, -scores))[:limit]
    return [(int(docs[i]), float(scores[i])) for i in order]
