"""Whoosh queries from the syntax tree of :mod:`docsvc.core.query`: :class:`_QueryBuilder`
analyses words with the analyzer the index used (:mod:`docsvc.core.text`) and remembers what
to highlight; :class:`OffsetPhrase` matches words at fixed offsets from each other, an exact
substring match however jieba cut the text.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from whoosh import matching, scoring
from whoosh import query as wq
from whoosh.query.spans import Span, SpanNear2

from docsvc.adapters.whoosh.schema import _to_utc_naive
from docsvc.core import query as q
from docsvc.core import ranking, text
from docsvc.core.model import DocClass
from docsvc.core.search import MAX_QUERY_WORDS, TITLE_BOOST, SearchRequest, resolve_filters, visible_site_projects
from docsvc.errors import InvalidInput


class Weighting(scoring.BM25F):
    """BM25F with docsvc's ranking (:mod:`docsvc.core.ranking`): its parameters and its
    probabilistic idf, which the PostgreSQL engine computes too."""

    def __init__(self) -> None:
        super().__init__(B=ranking.B, K1=ranking.K1)

    def idf(self, searcher: Any, fieldname: str, text: str) -> float:
        parent = searcher.get_parent()
        return ranking.idf(parent.doc_count_all(), parent.doc_frequency(fieldname, text))


_FIELD_NAMES: dict[q.Field, str] = {
    q.Field.DOC_TYPE: "doc_type",
    q.Field.SERVICE_CATEGORY: "service_category",
    q.Field.DOC_CLASS: "doc_class",
    q.Field.SERVICE_SCOPE: "service_scope",
    q.Field.TAG: "tags",
    q.Field.STATUS: "status",
    q.Field.EXTRACTION: "extraction_status",
    q.Field.YEAR: "year",
    q.Field.CREATED: "created_at",
    q.Field.EFFECTIVE: "effective_date",
    q.Field.REVIEW: "review_due",
}
_TEXT_FIELDS: dict[q.Field | None, tuple[str, ...]] = {
    None: ("content", "title"),
    q.Field.CONTENT: ("content",),
    q.Field.TITLE: ("title",),
    q.Field.FILENAME: ("original_filename",),
}


class OffsetPhrase(wq.Phrase):
    """Words each at a fixed offset from the first: ``offsets[i]`` is word i's compact
    character offset in the query. The analyzer puts compact offsets in the position slot, so
    this is an exact substring match that holds however jieba cut the text around the words."""

    def __init__(self, fieldname: str, words: list[str], offsets: list[int], boost: float = 1.0) -> None:
        super().__init__(fieldname, words, boost=boost)
        self.offsets = list(offsets)

    def __eq__(self, other: object) -> bool:
        return super().__eq__(other) and self.offsets == other.offsets  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return super().__hash__() ^ hash(tuple(self.offsets))

    def __repr__(self) -> str:  # fast.py caches matches by repr: the offsets belong in it
        return f"OffsetPhrase({self.fieldname!r}, {self.words!r}, {self.offsets!r}, boost={self.boost!r})"

    def normalize(self) -> wq.Query:
        return self

    def matcher(self, searcher: Any, context: Any = None) -> Any:
        reader = searcher.reader()
        if any((self.fieldname, w) not in reader for w in self.words):
            return matching.NullMatcher()  # a word the index lacks: no document has the phrase
        ms = [wq.Term(self.fieldname, w).matcher(searcher, context) for w in self.words]
        m: Any = _OffsetMatcher(ms, self.offsets)
        return matching.WrappingMatcher(m, boost=self.boost) if self.boost != 1.0 else m


class _OffsetMatcher(SpanNear2.SpanNear2Matcher):
    """Documents having every word, filtered to those where the words sit at their offsets."""

    def __init__(self, ms: list[Any], offsets: list[int]) -> None:
        self.offsets = offsets
        super().__init__(ms)

    def copy(self) -> _OffsetMatcher:
        return self.__class__([m.copy() for m in self.ms], self.offsets)

    def _get_spans(self) -> list[Span]:
        starts = {s.start - self.offsets[0] for s in self.ms[0].spans()}
        for m, off in zip(self.ms[1:], self.offsets[1:]):
            if not starts:
                break
            starts &= {s.start - off for s in m.spans()}
        end = self.offsets[-1]
        return [Span(p, p + end) for p in sorted(starts)]


class FieldsTerm(wq.Or):
    """A word in several fields, each with its boost: fast.py scores it as one BM25F term
    (docsvc.core.ranking.bm25f); Whoosh's own matcher, used only where fast.py is not (date
    order, rare shapes), sums the fields' scores."""

    def __init__(self, text: str, fields: tuple[tuple[str, float], ...]) -> None:
        super().__init__([wq.Term(f, text, boost=b) for f, b in fields])
        self.text = text
        self.bm25f_fields = fields

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FieldsTerm) and (other.text, other.bm25f_fields) == (self.text, self.bm25f_fields)

    def __hash__(self) -> int:
        return hash((self.text, self.bm25f_fields))

    def __repr__(self) -> str:
        return f"FieldsTerm({self.text!r}, {self.bm25f_fields!r})"

    def normalize(self) -> wq.Query:
        return self


def _seq(fieldname: str, tokens: list[text.Token], boost: float = 1.0) -> wq.Query:
    """``tokens`` (from one analysis of the query) adjacent as in the query, in one field."""
    if len(tokens) == 1:
        return wq.Term(fieldname, tokens[0].text, boost=boost)
    first = tokens[0].pos
    return OffsetPhrase(fieldname, [t.text for t in tokens], [t.pos - first for t in tokens], boost=boost)


def _bigram_seq(run: str) -> wq.Query:
    """A CJK run as consecutive bigrams in the bigram field (offsets 0, 1, 2 …)."""
    grams = text.cjk_bigrams(run)
    if len(grams) == 1:
        return wq.Term("content_bigram", grams[0])
    return OffsetPhrase("content_bigram", grams, list(range(len(grams))))


def _any(queries: list[wq.Query]) -> wq.Query:
    return wq.Or(queries) if len(queries) > 1 else queries[0]


def _boost(fieldname: str) -> float:
    return TITLE_BOOST if fieldname == "title" else 1.0


class _QueryBuilder:
    """Turns the syntax tree of :mod:`docsvc.core.query` into a Whoosh query, analysing words
    with the same analyzer the index used, and remembers what to highlight. ``df`` tells how
    many of the ``n`` documents have a word (a long question keeps its rarest words; the
    commonest only rank, docsvc.core.ranking.common_words)."""

    def __init__(self, tz: dt.tzinfo, df: Callable[[str], float] = lambda word: 0, n: float = 0) -> None:
        self.tz = tz
        self.df = df
        self.n = n
        self.highlight_terms: set[str] = set()  # content-field terms (offsets are stored)
        self.highlight_strings: set[str] = set()  # normalised strings found by scanning
        self.words = 0

    # Roots and soft lists ---------------------------------------------------------------

    def build_root(self, node: q.Node) -> wq.Query:
        items = node.items if isinstance(node, q.Soft) else (node,)
        return self._soft(items, positive=True)

    def _soft(self, items: tuple[q.Node, ...], *, positive: bool) -> wq.Query:
        required, optional, excluded = q.split_soft(items)
        must = [self._build(i, positive=positive) for i in required]
        words = self._informative(
            self._without_stopwords([c for i in optional for c in self._clauses(i, positive=positive)])
        )
        kept = [c for _, c in words]
        must_not = [self._build(i, positive=not positive) for i in excluded]
        common = ranking.common_words((w for w, _ in words), self.df, self.n) if not must else set()
        rare = [c for w, c in words if w not in common]
        if common and rare:  # the rarer words match, the common only rank
            must, kept = [_any(rare)], [c for w, c in words if w in common]
        core: wq.Query
        if must:
            core = must[0] if len(must) == 1 else wq.And(must)
            if kept:
                core = wq.AndMaybe(core, _any(kept))
        elif kept:
            core = _any(kept)
        elif must_not:
            core = wq.Every()
        else:
            return wq.NullQuery
        if must_not:
            core = wq.AndNot(core, wq.Or(must_not))
        return core

    def _build(self, node: q.Node, *, positive: bool) -> wq.Query:
        if isinstance(node, q.Soft):
            return self._soft(node.items, positive=positive)
        if isinstance(node, q.And):
            return wq.And([self._build(i, positive=positive) for i in node.items])
        if isinstance(node, q.Or):
            return wq.Or([self._build(i, positive=positive) for i in node.items])
        if isinstance(node, q.Not):
            return wq.Not(self._build(node.item, positive=not positive))
        if isinstance(node, q.Required):
            return self._build(node.item, positive=positive)
        if isinstance(node, (q.Text, q.Synonyms)):
            if isinstance(node, q.Text) and node.field in (q.Field.PROJECT, q.Field.COUNTERPARTY):
                return self._named(node)
            clauses = self._without_stopwords(self._clauses(node, positive=positive))
            self._count(len(clauses))
            if not clauses:
                return wq.NullQuery
            # Several words typed as one unit under AND/OR/NOT or in a field: all of them.
            qs = [c for _, c in clauses]
            return qs[0] if len(qs) == 1 else wq.And(qs)
        if isinstance(node, q.Match):
            name = _FIELD_NAMES[node.field]
            terms = [wq.Term(name, v) for v in node.values]
            return terms[0] if len(terms) == 1 else wq.Or(terms)
        if isinstance(node, q.DateRange):
            return self._date_range(node)
        if isinstance(node, q.IntRange):
            return wq.NumericRange("year", node.start, node.end)
        raise TypeError(node)  # pragma: no cover - the parser makes nothing else

    # Words ----------------------------------------------------------------------------------

    def _count(self, n: int) -> None:
        """Words the query language joins (AND, OR, NOT, fields) are all searched: bounded."""
        self.words += n
        if self.words > MAX_QUERY_WORDS:
            raise InvalidInput(
                f"搜索词过多（最多 {MAX_QUERY_WORDS} 个词），请精简查询。",
                f"Too many search words (at most {MAX_QUERY_WORDS}); shorten the query.",
                field="q",
            )

    def _informative(self, clauses: list[tuple[str, wq.Query]]) -> list[tuple[str, wq.Query]]:
        """A question's optional words, at most MAX_QUERY_WORDS of them: the rarest."""
        keep = ranking.most_informative((w for w, _ in clauses), lambda w: self.df(w), MAX_QUERY_WORDS)
        self.highlight_terms -= {w for w, _ in clauses} - keep
        return [(w, c) for w, c in clauses if w in keep]

    def _without_stopwords(self, clauses: list[tuple[str, wq.Query]]) -> list[tuple[str, wq.Query]]:
        """Drop question words (怎么, 如何, 的 …) unless nothing else is left."""
        kept = [(w, c) for w, c in clauses if w not in q.QUERY_STOPWORDS]
        if not kept:
            return clauses
        if len(kept) < len(clauses):
            self.highlight_terms -= q.QUERY_STOPWORDS
        return kept

    def _clauses(self, node: q.Text | q.Synonyms, *, positive: bool) -> list[tuple[str, wq.Query]]:
        """(word, query) per searchable unit of ``node``: one per word for plain text, one for
        a phrase, one for a synonym group (any of its terms, each as a phrase)."""
        fieldnames = _TEXT_FIELDS[node.field]
        if isinstance(node, q.Synonyms):
            alternatives = [
                self._phrase(t, list(text.analyze(t)), fieldnames, "content" in fieldnames, positive)
                for t in node.terms
                if any(not tok.sub for tok in text.analyze(t))
            ]
            return [(text.normalize(node.typed), wq.Or(alternatives))] if alternatives else []
        with_bigrams = "content" in fieldnames
        tokens = list(text.analyze(node.text))
        if not tokens:
            return []
        if node.phrase:
            return [(node.text, self._phrase(node.text, tokens, fieldnames, with_bigrams, positive))]
        out: list[tuple[str, wq.Query]] = []
        main = [t for t in tokens if not t.sub]
        # A stretch of single CJK characters is a word jieba does not know (it cuts those into
        # characters): search it as one unit, adjacent, and through the bigram field.
        stretches = {i: j for i, j in text.single_stretches(main)}
        i = 0
        while i < len(main):
            if i in stretches:
                j = stretches[i]
                run = "".join(t.text for t in main[i:j])
                subs = self._stretch(run, main[i:j], fieldnames, with_bigrams)
                if positive:
                    self.highlight_strings.add(run)
                out.append((run, wq.Or(subs)))
                i = j
            else:
                word = main[i].text
                if positive:
                    self.highlight_terms.add(word)
                subs = [FieldsTerm(word, tuple((f, _boost(f)) for f in fieldnames))]
                # An identifier typed in part (2026-0412) is in the index as the segments of the
                # whole one (SLA-2026-0412): also look for them at their distances.
                segments = text.identifier_segments(word)
                if segments:
                    subs += [_seq(f, segments, _boost(f)) for f in fieldnames]
                    if positive:
                        self.highlight_terms.update(t.text for t in segments)
                out.append((word, subs[0] if len(subs) == 1 else wq.Or(subs)))
                i += 1
        return out

    @staticmethod
    def _stretch(run: str, chars: list[text.Token], fieldnames: tuple[str, ...], with_bigrams: bool) -> list[wq.Query]:
        """A word jieba does not know (single characters in a row). In the content field the
        bigram field stands in for the characters: wherever a document has them as single
        words in a row, it has their bigrams too, and also where it glued the first or last
        character to a neighbouring word. The bigrams are rarer terms, so the search is faster
        than a phrase of common characters (高 个)."""
        subs = [_seq(f, chars, _boost(f)) for f in fieldnames if not (with_bigrams and f == "content")]
        if with_bigrams:
            subs.append(_bigram_seq(run))
        return subs

    def _phrase(
        self, phrase: str, tokens: list[text.Token], fieldnames: tuple[str, ...], with_bigrams: bool, positive: bool
    ) -> wq.Query:
        # The main words at their offsets: parts of longer document words are indexed at theirs,
        # so 协议修订 matches inside 服务等级协议修订.
        main = [t for t in tokens if not t.sub]
        folded = "".join(text.normalize(phrase).split())
        if text.single_stretches(main) == [(0, len(main))]:
            subs = self._stretch(folded, main, fieldnames, with_bigrams)
        else:
            subs = [_seq(f, main, _boost(f)) for f in fieldnames]
        segments = text.identifier_segments(main[0].text) if len(main) == 1 else []
        if segments:  # "2026-0412" inside SLA-2026-0412, as for a plain word
            subs += [_seq(f, segments, _boost(f)) for f in fieldnames]
        if positive:
            self.highlight_terms.update(t.text for t in main + segments)
            if text.has_cjk(folded):
                # Marks the whole phrase where the text has it verbatim, also where jieba cut
                # the document differently from the query.
                self.highlight_strings.add(folded)
        return subs[0] if len(subs) == 1 else wq.Or(subs)

    def _named(self, node: q.Text) -> wq.Query:
        """project:/counterparty: the exact name, or its words in order."""
        exact, analysed = (
            ("project", "project_text") if node.field is q.Field.PROJECT else ("counterparty", "counterparty_text")
        )
        words = [t for t in text.analyze(node.text) if not t.sub]
        subs: list[wq.Query] = [wq.Term(exact, node.text.strip())]
        if words:
            subs.append(_seq(analysed, words))
        return wq.Or(subs)

    def _date_range(self, node: q.DateRange) -> wq.Query:
        start = dt.datetime.combine(node.start, dt.time.min) if node.start else None
        end = dt.datetime.combine(node.end, dt.time.max) if node.end else None
        if node.field is q.Field.CREATED:
            # created_at is stored in UTC; the dates people type are local days.
            start = _to_utc_naive(start.replace(tzinfo=self.tz)) if start else None
            end = _to_utc_naive(end.replace(tzinfo=self.tz)) if end else None
        return wq.DateRange(_FIELD_NAMES[node.field], start, end)

    # Filters ----------------------------------------------------------------------------------

    def filters(self, request: SearchRequest) -> list[wq.Query]:
        out: list[wq.Query] = []
        if not request.all_versions:
            out.append(wq.Term("is_latest", True))
        if request.site_projects is not None:
            # Not on-site, or on-site in one of the projects (an on-site document without a
            # project is in none of them).
            visible: list[wq.Query] = [wq.Not(wq.Term("doc_class", DocClass.SITE.value))]
            visible += [wq.Term("project", p) for p in visible_site_projects(request.site_projects)]
            out.append(visible[0] if len(visible) == 1 else wq.Or(visible))
        for f in resolve_filters(request):
            if f.name in ("year", "document_id"):
                terms = [wq.Term(f.name, v if f.name == "year" else str(v)) for v in f.values]
            else:
                terms = [wq.Term(f.name, v) for v in f.values]
            out.append(terms[0] if len(terms) == 1 else wq.Or(terms))
        return out
