"""Array evaluation of searches: words (each looked up in a few fields), soft-ORed with
Whoosh's coordination bonus, AND/OR/NOT/+/- between them, phrases, year and date ranges, under
constant-score filters.

Whoosh walks the matching documents one at a time in Python, about 10 µs per document and
word, and a search must see every match (the total and the facets count them). A domain word
such as 运维 is in most documents of an IT-service archive, so one such word cost ~100 ms at
10,000 documents and would cost a second at 100,000. Here each word's posting list is read a
block at a time into numpy arrays and the same BM25F scores, coordination bonus and top N are
computed with array operations. Posting arrays, field lengths, phrase position checks and filter
matches are cached per segment: segments never change (deletions only add to a segment's
deleted set, which is part of the cache key), so a commit costs only the new segment's arrays.

The scores are Whoosh's own; a test compares them. The matches are what the query says, which is
not always what Whoosh's AndNot and AndMaybe matchers return: in whoosh-reloaded 2.7.5 they let
some excluded documents through and drop some optional scores. What :func:`plan` does not take
(a query of nothing but exclusions, a boost on a compound part) still goes through Whoosh.
"""

from __future__ import annotations

import bisect
import itertools
import math
import os
import pickle
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

import numpy as np
from whoosh import query as wq
from whoosh.codec.whoosh3 import W3TermsReader
from whoosh.filedb.compound import SubFile
from whoosh.matching.wrappers import FilterMatcher

from docsvc.adapters.whoosh import schema, write
from docsvc.core import ranking

CACHE_BYTES = 64 * 2**20  # posting arrays kept per index (the common words of recent searches)
FILTER_SCORE = 1.0
_ABSENT = ("absent",)  # cached: the segment does not have the term


@dataclass(frozen=True)
class TermNode:
    field: str
    text: str
    boost: float


@dataclass(frozen=True)
class FieldsNode:
    """A word in several fields (a FieldsTerm): one BM25F term (docsvc.core.ranking.bm25f), its
    frequencies normalised and weighted per field, summed, saturated once."""

    text: str
    fields: tuple[tuple[str, float], ...]  # (field, boost)


@dataclass(frozen=True)
class PhraseNode:
    """Words at offsets (an OffsetPhrase): which documents have them is OffsetPhrase's rule,
    checked from the words' positions (:meth:`Evaluator._phrase_in_segment`, cached per
    segment); the score is the sum of the words' scores, as Whoosh's phrase matcher scores it."""

    query: Any  # the OffsetPhrase
    words: tuple[TermNode, ...]


@dataclass(frozen=True)
class RangeNode:
    """A constant-score range (year:2026, date:…): its matches cached per segment, its
    score the constant."""

    query: Any


@dataclass(frozen=True)
class BoolNode:
    """``op`` "or" (sum of scores; with ``scale``, Whoosh's coordination bonus), "and" (sum),
    "andnot" (the first child's matches and score, less the second's matches) or "andmaybe"
    (the first child's matches; the second adds its score where it matches too)."""

    op: str
    children: tuple[Node, ...]
    scale: float | None = None


@dataclass(frozen=True)
class AllNode:
    """Every live document (Whoosh's Every: the empty query, and the base of a query of nothing
    but exclusions such as ``-合同``), each scoring the boost."""

    boost: float


Node = TermNode | FieldsNode | PhraseNode | RangeNode | BoolNode | AllNode


@dataclass(frozen=True)
class Plan:
    """What :func:`plan` understood: the query tree and the filter query, and the question's
    grams (gram, weight) that rank the best matches (docsvc.core.ranking)."""

    root: Node
    filter: wq.Query | None
    grams: tuple[tuple[str, float], ...] = ()


GRAMS_FIELD = "content_grams"
RANK_CANDIDATES = 200  # the best matches by their words that the grams rank again
GRAMS_SAMPLE_DOCS = 2_000  # the documents whose grams are counted for their idf (see _gram_stats)


def plan(query: wq.Query, grams: tuple[tuple[str, float], ...] = ()) -> Plan | None:
    """The plan for ``query`` if it has the shape this module evaluates, else None."""
    core, filt = query, None
    if (
        isinstance(query, wq.And)
        and len(query.subqueries) == 2
        and isinstance(query.subqueries[1], wq.ConstantScoreQuery)
        and query.subqueries[1].score == 0.0
    ):
        core, filt = query.subqueries[0], query.subqueries[1].child
    root = _node(core)
    return Plan(root, filt, grams) if root is not None else None


def _node(q: wq.Query) -> Node | None:
    if type(q) is wq.Term:
        return TermNode(q.fieldname, q.text, q.boost)
    if getattr(q, "bm25f_fields", None) and q.boost == 1.0:  # query.FieldsTerm
        return FieldsNode(q.text, q.bm25f_fields)
    if type(q) is wq.Every and q.fieldname in (None, "", "*"):
        return AllNode(q.boost)
    if _is_offset_phrase(q):
        return PhraseNode(q, tuple(TermNode(q.fieldname, w, q.boost) for w in q.words))
    if q.boost != 1.0:
        return None
    if type(q) in (wq.NumericRange, wq.DateRange) and q.constantscore:
        return RangeNode(q)
    if type(q) in (wq.Or, wq.And) and q.subqueries:
        children = [_node(s) for s in q.subqueries]
        if any(c is None for c in children):
            return None
        if len(children) == 1:  # Whoosh uses a lone subquery's matcher as it is
            return children[0]
        return BoolNode(
            "or" if type(q) is wq.Or else "and",
            tuple(children),  # type: ignore[arg-type]
            q.scale if type(q) is wq.Or else None,
        )
    if type(q) in (wq.AndNot, wq.AndMaybe):
        a, b = _node(q.a), _node(q.b)
        if a is None or b is None:
            return None
        return BoolNode("andnot" if type(q) is wq.AndNot else "andmaybe", (a, b))
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

    ENTRY_BYTES = 300  # the entry itself: its key tuple (segment, field, term), the dict slot

    def put(self, key: Hashable, value: Any, nbytes: int) -> None:
        nbytes += self.ENTRY_BYTES
        with self._lock:
            if key in self._items:
                return
            self._items[key] = (value, nbytes)
            self.size += nbytes
            while self.size > self.limit and len(self._items) > 1:
                _, (_, old) = self._items.popitem(last=False)
                self.size -= old


class Evaluator:
    """Runs plans against a searcher (see the module docstring). One per index; its callers
    hold the index's search lock."""

    def __init__(self, cache_bytes: int = CACHE_BYTES) -> None:
        self._cache = _Cache(cache_bytes)
        self._memo: dict[tuple[str, str, str], Any] = {}  # per term: its statistics (_searcher_memo)
        self._memo_for: Any = None  # the searcher _memo belongs to
        self._gram_tables: dict[tuple[Any, int], _GramTable] = {}  # the sample's (_gram_stats)
        self._gram_columns: dict[Any, _GramColumn | None] = {}  # by segment id: the live ones

    def run(
        self, searcher: Any, p: Plan, allowed: set[int] | None, deadline: float = math.inf, *, rank: int = 0
    ) -> tuple[np.ndarray, np.ndarray, bool]:
        """(global docnums, scores, partial) of the matching documents, in docnum order;
        ``partial`` (and nothing found) when the ``time.monotonic()`` deadline has passed. With
        ``rank`` (the results a page needs), the plan's grams rank the best matches too."""
        size = searcher.doc_count_all()
        if size == 0 or time.monotonic() > deadline:  # (and Whoosh's idf() would take log(0))
            return np.zeros(0, np.int64), np.zeros(0), size > 0
        # The tree is evaluated once over the whole index, in global docnums; postings, lengths
        # and matches come from the per-segment caches.
        segments = _segments(searcher)
        hit, score, _, _ = self._eval(p.root, searcher, segments, size)
        if p.filter is not None:
            hit &= self._global_matches(segments, p.filter, size)
        if allowed is not None:
            allow = np.zeros(size, dtype=bool)
            allow[np.fromiter(allowed, dtype=np.int64, count=len(allowed))] = True
            hit &= allow
        docs = np.flatnonzero(hit).astype(np.int64)
        scores = score[docs]
        if p.filter is not None:
            # ConstantScoreQuery(score=0.0) scores 1.0 in Whoosh (its ListMatcher takes a weight
            # of 0.0 for "none given"): the same for every match, so ranking is unaffected.
            scores = scores + FILTER_SCORE
        if p.grams and rank:
            self._rank_by_grams(searcher, segments, p.grams, docs, scores, max(rank, RANK_CANDIDATES))
        return docs, scores, False

    def _rank_by_grams(
        self,
        top: Any,
        segments: list[_Segment],
        grams: tuple[tuple[str, float], ...],
        docs: np.ndarray,
        scores: np.ndarray,
        candidates: int,
    ) -> None:
        """Add the grams' BM25 (docsvc.core.ranking) to the scores of the ``candidates`` best
        matches, in place: only they can reach the page. Each candidate's counts and length
        come from the grams column (schema.ZhGrams), the grams' idf and average length from a
        sample (:meth:`_gram_stats`)."""
        if len(docs) > candidates:
            best = np.argpartition(-scores, candidates - 1)[:candidates]
        else:
            best = np.arange(len(docs))
        if not len(best):
            return
        live = {seg.key[0] for seg in segments}
        if not live.issuperset(self._gram_columns):  # a merge replaced segments: let their files go
            self._gram_columns = {sid: c for sid, c in self._gram_columns.items() if sid in live}
        keys = np.array([schema.gram_key(gram) for gram, _ in grams], dtype=np.uint32)
        idfs, avgfl = self._gram_stats(top, segments, keys)
        weights = np.array([weight for _, weight in grams]) * idfs
        k1, b = ranking.K1, ranking.B
        chosen = docs[best]
        extra = np.zeros(len(best))
        for seg in segments:
            inside = np.flatnonzero((chosen >= seg.offset) & (chosen < seg.offset + seg.size))
            column = self._grams_column(seg) if len(inside) else None
            if column is None:
                continue
            blobs = [column[d] for d in (chosen[inside] - seg.offset).tolist()]
            f = np.array([schema.gram_counts(blob, keys) for blob in blobs])
            lengths = np.array([schema.gram_length(blob) for blob in blobs], dtype=np.float64)
            norm = k1 * ((1 - b) + b * lengths / avgfl)
            extra[inside] = (weights * f * (k1 + 1) / (f + norm[:, None])).sum(axis=1)
        scores[best] += extra

    def _gram_stats(self, top: Any, segments: list[_Segment], keys: np.ndarray) -> tuple[np.ndarray, float]:
        """Each gram's idf and the average number of grams a document has, from the first
        GRAMS_SAMPLE_DOCS documents of the largest segments (every document of a smaller
        archive), scaled to the whole, as the PostgreSQL engine counts its grams in a sample:
        the first search after the sample changes (a merge, a restart) counts at most that
        many documents, however large the segments have grown. Deleted documents count, as
        Whoosh's own document frequencies count them."""
        n = top.doc_count_all()
        sample: list[tuple[_Segment, int]] = []
        counted = 0
        for seg in sorted(segments, key=lambda seg: -seg.size):  # (stable: the older first)
            if counted >= GRAMS_SAMPLE_DOCS:
                break
            take = min(seg.size, GRAMS_SAMPLE_DOCS - counted)
            sample.append((seg, take))
            counted += take
        df = np.zeros(len(keys))
        length = 0
        tables = {}
        for seg, take in sample:
            table = tables[seg.key[0], take] = self._gram_table(seg, take)
            if len(table.keys):
                at = np.minimum(np.searchsorted(table.keys, keys), len(table.keys) - 1)
                df += np.where(table.keys[at] == keys, table.df[at], 0)
            length += table.length
        # Only the sample's tables are kept: a merge replaces segments, and with them the sample.
        self._gram_tables = tables
        scale = n / max(counted, 1)
        idfs = np.array([ranking.idf(n, min(d * scale, n)) for d in df.tolist()])
        return idfs, (length / counted if counted and length else 1.0)

    def _gram_table(self, seg: _Segment, take: int) -> _GramTable:
        """How many of the segment's first ``take`` documents have each gram, and how many grams
        they have in all: read once (a segment never changes; its deleted documents stay in it)."""
        table = self._gram_tables.get((seg.key[0], take))
        if table is None:
            column = self._grams_column(seg)
            blobs = [column[d] for d in range(take)] if column is not None else []
            every = [schema.gram_keys(blob) for blob in blobs] or [schema.gram_keys(b"")]
            keys, df = np.unique(np.concatenate(every), return_counts=True)
            table = _GramTable(keys, df, sum(schema.gram_length(blob) for blob in blobs))
        return table

    def _grams_column(self, seg: _Segment) -> _GramColumn | None:
        """The segment's grams column (None for a segment written without one), opened once."""
        sid = seg.key[0]
        if sid not in self._gram_columns:
            column = seg.reader._perdoc._cached_reader(GRAMS_FIELD, seg.reader.schema[GRAMS_FIELD].column_type)
            self._gram_columns[sid] = _GramColumn(column) if column is not None else None
        return self._gram_columns[sid]

    def _eval(
        self, node: Node, top: Any, segments: list[_Segment], size: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(matches, scores, term matchers in the tree, matching terms) per document: what
        Whoosh's matcher tree for ``node`` gives. Whoosh builds a tree per segment, so "term
        matchers" counts the terms present in the document's segment."""
        if isinstance(node, TermNode):
            hit, score = np.zeros(size, dtype=bool), np.zeros(size)
            terms, matching = np.zeros(size, dtype=np.int32), np.zeros(size, dtype=np.int32)
            for seg in segments:
                reader = seg.reader
                got = self._postings(reader, seg.key, node.field, reader.schema[node.field].to_bytes(node.text))
                if got is None:
                    continue  # Whoosh's NullMatcher: no term matcher at all in this segment
                ids, weights = got
                terms[seg.offset : seg.offset + seg.size] = 1
                at = ids + seg.offset
                hit[at] = True
                matching[at] = 1
                if reader.schema[node.field].scorable:
                    idf, avgfl, b, k1 = self._stats(top, node.field, node.text)
                    lengths = self._lengths(reader, seg.key, node.field)[ids]
                    score[at] = idf * ((weights * (k1 + 1)) / (weights + k1 * ((1 - b) + b * lengths / avgfl)))
                else:
                    score[at] = weights  # Whoosh's WeightScorer
            return hit, score * node.boost, terms, matching
        if isinstance(node, FieldsNode):
            return self._fields(node, top, segments, size)
        if isinstance(node, AllNode):
            hit = np.ones(size, dtype=bool)
            for seg in segments:
                deleted = seg.reader.deleted_docs_set
                if deleted:
                    hit[np.fromiter(deleted, dtype=np.int64, count=len(deleted)) + seg.offset] = False
            none = np.zeros(size, dtype=np.int32)
            return hit, np.where(hit, node.boost, 0.0), none, none
        if isinstance(node, RangeNode):
            hit = self._global_matches(segments, node.query, size)
            none = np.zeros(size, dtype=np.int32)
            return hit, np.where(hit, node.query.boost, 0.0), none, none
        if isinstance(node, PhraseNode):
            parts = [self._eval(w, top, segments, size) for w in node.words]
            # A segment that lacks one of the words gets OffsetPhrase's NullMatcher.
            whole = np.logical_and.reduce([t > 0 for _, _, t, _ in parts])
            hit = self._global_matches(segments, node.query, size) & whole
            terms = np.where(whole, len(parts), 0).astype(np.int32)
            return hit, np.where(hit, sum(sc for _, sc, _, _ in parts), 0.0), terms, np.where(hit, terms, 0)
        parts = [self._eval(c, top, segments, size) for c in node.children]
        terms = sum(t for _, _, t, _ in parts)
        matching = sum(m for _, _, _, m in parts)
        if node.op == "andnot":
            (a_hit, a_score, _, a_match), (b_hit, *_) = parts
            return a_hit & ~b_hit, a_score, terms, a_match
        if node.op == "andmaybe":
            (a_hit, a_score, _, a_match), (b_hit, b_score, _, b_match) = parts
            both = a_hit & b_hit
            return a_hit, a_score + np.where(both, b_score, 0.0), terms, a_match + np.where(both, b_match, 0)
        if node.op == "and":
            hit = np.logical_and.reduce([h for h, *_ in parts])
        else:
            hit = np.logical_or.reduce([h for h, *_ in parts])
        score = np.where(hit, sum(s for _, s, _, _ in parts), 0.0)
        if node.scale:
            # Whoosh's CoordMatcher ("SQR", V-Twin): rewards documents matching more terms.
            # Only where the segment has terms (else Whoosh adds no CoordMatcher, and nothing
            # matches there anyway); the scale is a fraction, so terms - scale is never 0.
            n = np.maximum(terms, 1)
            coord = (score + (matching - 1) / (n - node.scale) ** 2) * ((n - 1) / n)
            score = np.where(terms > 0, coord, score)
        return hit, score, terms, matching

    def _fields(
        self, node: FieldsNode, top: Any, segments: list[_Segment], size: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """ranking.bm25f over arrays: each field's normalised, boosted frequency summed, then
        saturated once; the idf of the field more documents have the word in (as PostgreSQL
        takes it)."""
        hit, tf = np.zeros(size, dtype=bool), np.zeros(size)
        terms = np.zeros(size, dtype=np.int32)
        idf = 0.0
        for field, boost in node.fields:
            if not self.doc_frequency(top, field, node.text):
                continue  # (and no segment has postings of it)
            field_idf, avgfl, b, _ = self._stats(top, field, node.text)
            idf = field_idf if not idf else min(idf, field_idf)
            for seg in segments:
                reader = seg.reader
                got = self._postings(reader, seg.key, field, reader.schema[field].to_bytes(node.text))
                if got is None:
                    continue
                ids, weights = got
                terms[seg.offset : seg.offset + seg.size] = 1
                at = ids + seg.offset
                hit[at] = True
                lengths = self._lengths(reader, seg.key, field)[ids]
                tf[at] += boost * weights / ((1 - b) + b * lengths / avgfl)
        score = idf * tf * (ranking.K1 + 1) / (tf + ranking.K1)
        return hit, score, terms, hit.astype(np.int32)

    def _global_matches(self, segments: list[_Segment], query: wq.Query, size: int) -> np.ndarray:
        out = np.zeros(size, dtype=bool)
        for seg in segments:
            out[seg.offset : seg.offset + seg.size] = self._matches(seg, query)
        return out

    def _phrase_in_segment(self, seg: _Segment, query: Any) -> np.ndarray:
        """The segment's documents having the phrase (query.OffsetPhrase's rule: every word at
        its offset from the first). Whoosh's span matchers step through every block of every
        word, ~100 µs a document that has all the words; here those documents come from the
        words' posting arrays intersected, and each one's positions from the posting block
        that holds it (blocks cached, as for highlights), the rarest word first, so each next
        word reads only the documents still in (each has every word: its values are there)."""
        reader, field = seg.reader, query.fieldname
        found = np.zeros(seg.size, dtype=bool)
        words = [(reader.schema[field].to_bytes(w), off) for w, off in zip(query.words, query.offsets)]
        postings = [self._postings(reader, seg.key, field, btext) for btext, _ in words]
        ids = [p[0] for p in postings if p is not None]
        if len(ids) < len(words):
            return found
        docs = ids[0]
        for more in ids[1:]:
            docs = np.intersect1d(docs, more, assume_unique=True)
        decode = reader.schema[field].format.decode_positions
        starts: list[set[int]] | None = None
        for (btext, off), _ in sorted(zip(words, ids), key=lambda word_ids: len(word_ids[1])):
            if not len(docs):
                break
            values = self._values(reader, (seg.key[0], field, btext), docs.tolist())
            if values is None:  # postings this module does not read: Whoosh's own matcher
                return _whoosh_matches(seg, query)
            mine = [{p - off for p in decode(v)} for v in values]
            starts = mine if starts is None else [a & b for a, b in zip(starts, mine)]
            keep = [i for i, s in enumerate(starts) if s]
            docs, starts = docs[keep], [starts[i] for i in keep]
        found[docs] = True
        return found

    def _searcher_memo(self, top: Any) -> dict[tuple[str, str, str], Any]:
        """What is kept per term for the searcher: its statistics never change while it is the
        current one (a commit opens another)."""
        if self._memo_for is not top or len(self._memo) > 10_000:
            self._memo, self._memo_for = {}, top
        return self._memo

    def _stats(self, top: Any, field: str, text: str) -> tuple[float, float, float, float]:
        """BM25F's idf, average field length, B and K1 for a term, from the whole index as
        Whoosh takes them (MultiReader sums the field length over every segment per call, so
        they are kept for the searcher)."""
        memo = self._searcher_memo(top)
        got = memo.get(("stats", field, text))
        if got is None:
            w = top.weighting
            got = memo["stats", field, text] = (
                top.idf(field, text),
                top.avg_field_length(field) or 1,
                w._field_B.get(field, w.B),
                w.K1,
            )
        return got

    def doc_frequency(self, top: Any, field: str, text: str) -> int:
        """How many documents of the searcher have the term, kept for the searcher: the query
        builder asks for each word of a question, and a look-up costs a hash probe in every
        segment (a tenth of a search at 100,000 documents in 50 segments)."""
        memo = self._searcher_memo(top)
        got = memo.get(("df", field, text))
        if got is None:
            got = memo["df", field, text] = top.doc_frequency(field, text)
        return got

    def characters(self, searcher: Any, field: str, text: str, docnums: list[int]) -> dict[int, list[tuple[int, int]]]:
        """Stored character offsets of ``text`` in each of ``docnums`` (global), for highlighting,
        each read from the posting block that holds it (:meth:`_values`), not by stepping a
        matcher through the blocks before it."""
        out: dict[int, list[tuple[int, int]]] = {}
        fmt = searcher.schema[field].format
        for seg in _segments(searcher):
            reader = seg.reader
            mine = [
                d - seg.offset
                for d in sorted(docnums)
                if seg.offset <= d < seg.offset + seg.size and not reader.is_deleted(d - seg.offset)
            ]
            if not mine:
                continue
            values = self._values(reader, (seg.key[0], field, reader.schema[field].to_bytes(text)), mine)
            for d, value in zip(mine, values or ()):  # (values None: no highlight from offsets)
                if value is not None:
                    out[d + seg.offset] = [(start, end) for _, start, end in fmt.decode_characters(value)]
        return out

    def _values(self, reader: Any, term: tuple, docs: list[int]) -> list[bytes | None] | None:
        """The posting values (positions, as the field's format packs them) of a term in each
        of ``docs`` (sorted, live; None where one lacks the term), each from the posting block
        that holds it; None for postings this module does not read (another codec, a field
        of fixed-size values)."""
        _, field, _ = term
        if not isinstance(reader._terms, W3TermsReader) or reader.schema[field].format.fixed_value_size() is not None:
            return None
        blocks = self._blocks(reader, term)
        if blocks is None:
            return [None] * len(docs)
        out: list[bytes | None] = []
        ids: tuple[int, ...] = ()
        at, values = -1, ()
        for d in docs:
            b = bisect.bisect_left(blocks.last, d)
            if b == len(blocks.last):
                out.append(None)
                continue
            if b != at:
                at, (ids, values) = b, self._block(reader, term, blocks, b)
            i = bisect.bisect_left(ids, d)
            out.append(values[i] if i < len(ids) and ids[i] == d else None)
        return out

    def _blocks(self, reader: Any, term: tuple) -> _Blocks | None:
        """Where a term's posting blocks are (None: the segment lacks the term), read once per
        term and segment: blocks never move once written."""
        table = self._cache.get(("b", term))
        if table is None:
            info = _term_info(reader, term[1], term[2])
            if info is None:
                table = _ABSENT
            elif info[0]:  # postings inlined in the term table: one block, kept with the table
                ids, _, values = pickle.loads(info[write.TERM_INFO.size :])
                table = _Blocks([ids[-1]], [], (tuple(ids), values))
            else:
                table = _Blocks(*write.posting_list_index(reader._terms._postfile, info), None)
            self._cache.put(("b", term), table, 64 if table is _ABSENT else 64 + 72 * len(table.last))
        return None if table is _ABSENT else table

    def _block(self, reader: Any, term: tuple, blocks: _Blocks, b: int) -> tuple[tuple[int, ...], Any]:
        """(docnums, values) of block ``b`` of a term's postings, decoded and cached (the top
        hits of a query recur)."""
        if blocks.inline is not None:
            return blocks.inline
        block = self._cache.get(("v", term, b))
        if block is None:
            position, length, compressed = blocks.where[b]
            deltas, _, values = write.decode_block(reader._terms._postfile.get(position, length), compressed)
            # Tuples of ints and of bytes, which the garbage collector stops tracking; lists it
            # walks at every full collection (44 instead of 29 ms after 400 searches at 10k).
            block = (tuple(itertools.accumulate(deltas)), values)
            # Python ints (36 bytes each with their slot) and bytes objects (33 + length).
            self._cache.put(("v", term, b), block, 36 * len(block[0]) + sum(len(v) + 41 for v in values))
        return block

    def _postings(self, reader: Any, key: tuple, field: str, btext: bytes) -> tuple[np.ndarray, np.ndarray] | None:
        """(docnums, frequencies) of a term in a segment, or None when the segment lacks the
        term (remembered too: looking a term up in Whoosh's term table costs ~10 µs)."""
        ck = ("p", key, field, btext)
        got = self._cache.get(ck)
        if got is None:
            got = _read_postings(reader, field, btext) or _ABSENT
            self._cache.put(ck, got, 64 if got is _ABSENT else got[0].nbytes + got[1].nbytes)
        return None if got is _ABSENT else got

    def _lengths(self, reader: Any, key: tuple, field: str) -> np.ndarray:
        ck = ("l", key[0], field)  # lengths never change once a segment is written
        got = self._cache.get(ck)
        if got is None:
            got = np.array(
                [reader.doc_field_length(d, field, 1) for d in range(reader.doc_count_all())], dtype=np.float64
            )
            self._cache.put(ck, got, got.nbytes)
        return got

    def _matches(self, seg: _Segment, query: wq.Query) -> np.ndarray:
        """Which documents of the segment ``query`` matches (its scores aside): filters and
        ranges by Whoosh's matcher, phrases by :meth:`_phrase_in_segment`; cached like the
        postings."""
        ck = ("m", seg.key, repr(query))
        got = self._cache.get(ck)
        if got is None:
            got = self._phrase_in_segment(seg, query) if _is_offset_phrase(query) else _whoosh_matches(seg, query)
            self._cache.put(ck, got, got.nbytes)
        return got


@dataclass(frozen=True)
class _Blocks:
    """A term's posting blocks in a segment: the last docnum of each, and where each block's
    body is (write.posting_list_index), or the one inlined block's (docnums, values)."""

    last: list[int]
    where: list[tuple[int, int, bool]]
    inline: tuple[tuple[int, ...], Any] | None


@dataclass(frozen=True)
class _GramTable:
    """A segment's grams (schema.gram_key, sorted), how many of its documents have each, and
    how many grams its documents have in all."""

    keys: np.ndarray
    df: np.ndarray
    length: int


class _GramColumn:
    """A segment's grams column (schema.ZhGrams), its values read with one positioned read
    each. Whoosh's column reader seeks and reads on the segment's shared file object, ~15 µs a
    value: reading the candidates' values that way cost as much as ranking them. The file is
    opened again (its descriptor duplicated) so that the column outlives Whoosh's reader
    safely: a segment's file never changes, and after a merge it stays readable until let go.
    (Not a memory map: its pages would count as the server's own memory, gigabytes of page
    cache at 100,000 documents.)"""

    __slots__ = ("_fd", "_base", "_offsets", "_lengths", "__weakref__")

    def __init__(self, reader: Any) -> None:
        base, f = reader._basepos, reader._dbfile.file
        while isinstance(f, SubFile):  # inside a compound segment file
            base, f = base + f._offset, f._file
        self._fd = os.dup(f.fileno())
        weakref.finalize(self, os.close, self._fd)
        self._base, self._offsets, self._lengths = base, reader._offsets, reader._lengths

    def __getitem__(self, docnum: int) -> bytes:
        length = self._lengths[docnum]
        return os.pread(self._fd, length, self._base + self._offsets[docnum]) if length else b""


class _Segment:
    """One leaf of a searcher: its sub-searcher, first global docnum, reader, size, cache key."""

    __slots__ = ("sub", "offset", "reader", "size", "key")

    def __init__(self, sub: Any, offset: int, reader: Any) -> None:
        self.sub, self.offset, self.reader = sub, offset, reader
        self.size = reader.doc_count_all()
        self.key = _segment_key(reader)


def _segment_key(reader: Any) -> tuple:
    segment = reader.segment()
    return (segment.segment_id(), segment.deleted_count())


def _segments(searcher: Any) -> list[_Segment]:
    # An empty index reads through an EmptyReader, which has no segment.
    return [
        _Segment(sub, offset, sub.reader())
        for sub, offset in searcher.leaf_searchers()
        if sub.reader().segment() is not None
    ]


def _raw_postings(reader: Any, field: str, btext: bytes) -> Any:
    """The term's posting matcher in a segment without Whoosh's deletion filter around it
    (the callers leave deleted documents out themselves)."""
    m = reader.postings(field, btext)
    return m.child if isinstance(m, FilterMatcher) else m


def _read_postings(reader: Any, field: str, btext: bytes) -> tuple[np.ndarray, np.ndarray] | None:
    """(docnums, term frequencies) of one term in one segment, deleted documents left out, or
    None when the segment lacks the term.

    Decoded from the term's bytes: the term table's record, then the whole posting list in one
    read, block by block as W3LeafMatcher decodes them (write.posting_list_blocks). A matcher
    costs a seek and two reads per block, and half the time went there for a common word."""
    terms = reader._terms
    if not isinstance(terms, W3TermsReader):  # another codec: the slow, general way
        return _matched_postings(reader, field, btext) if (field, btext) in reader else None
    info = _term_info(reader, field, btext)
    if info is None:
        return None
    if info[0]:  # postings inlined in the term table
        ids, weights, _ = pickle.loads(info[write.TERM_INFO.size :])
        return _live(reader, np.asarray(ids, dtype=np.int64), _weights(weights, len(ids)))
    id_parts, weight_parts = [], []
    for count, deltas, weights, _ in write.posting_list_blocks(terms._postfile, info):
        id_parts.append(np.cumsum(deltas, dtype=np.int64))
        weight_parts.append(_weights(weights, count))
    return _live(reader, np.concatenate(id_parts), np.concatenate(weight_parts))


def _is_offset_phrase(q: wq.Query) -> bool:
    return isinstance(q, wq.Phrase) and hasattr(q, "offsets")  # query.OffsetPhrase


def _whoosh_matches(seg: _Segment, query: wq.Query) -> np.ndarray:
    """The segment's documents Whoosh's own matcher for ``query`` finds."""
    got = np.zeros(seg.size, dtype=bool)
    got[np.fromiter(query.matcher(seg.sub).all_ids(), dtype=np.int64)] = True
    return got


def _term_info(reader: Any, field: str, btext: bytes) -> bytes | None:
    """A term's record in a W3 segment's term table (write.TERM_INFO, then its inlined
    postings or where its posting list is), or None when the segment lacks the term."""
    terms = reader._terms
    return terms._tindex.get(terms._keycoder(field, btext))


def _weights(weights: Any, count: int) -> np.ndarray:
    """A block's weights as W3 minifies them: None for all 1.0, one float for all the same."""
    if weights is None:
        return np.ones(count)
    if isinstance(weights, int | float):
        return np.full(count, float(weights))
    return np.asarray(weights, dtype=np.float64)


def _live(reader: Any, ids: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    deleted = reader.deleted_docs_set
    if deleted:
        keep = ~np.isin(ids, np.fromiter(deleted, dtype=np.int64, count=len(deleted)))
        ids, weights = ids[keep], weights[keep]
    return ids, weights


def _matched_postings(reader: Any, field: str, btext: bytes) -> tuple[np.ndarray, np.ndarray]:
    m = _raw_postings(reader, field, btext)
    id_list, weight_list = [], []
    while m.is_active():
        id_list.append(m.id())
        weight_list.append(m.weight())
        m.next()
    return _live(reader, np.asarray(id_list, dtype=np.int64), np.asarray(weight_list, dtype=np.float64))


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
