"""The search box's syntax tree (docsvc.core.query) as a SQL condition on ``search_entry e``.

Words are analysed with the analyzer that wrote the index; a word or phrase becomes a tsquery on
each column it may be in (the leaves, which are also what the ranking scores), a metadata
field a plain column predicate. Every value is a bound parameter.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from docsvc.adapters.pg_search.rows import PASSAGE_COLUMNS, quote
from docsvc.core import query as q
from docsvc.core import ranking, text
from docsvc.core.search import MAX_QUERY_WORDS, TITLE_BOOST
from docsvc.errors import InvalidInput

_TEXT_FIELDS: dict[q.Field | None, tuple[str, ...]] = {
    None: ("content", "title"),
    q.Field.CONTENT: ("content",),
    q.Field.TITLE: ("title",),
    q.Field.FILENAME: ("filename",),
}
_COLUMNS: dict[q.Field, str] = {
    q.Field.DOC_TYPE: "doc_type",
    q.Field.SERVICE_CATEGORY: "service_category",
    q.Field.DOC_CLASS: "doc_class",
    q.Field.SERVICE_SCOPE: "service_scope",
    q.Field.STATUS: "status",
    q.Field.EXTRACTION: "extraction_status",
    q.Field.PROJECT: "project",
    q.Field.COUNTERPARTY: "counterparty",
}


@dataclass(frozen=True)
class Leaf:
    """One scored term of the query in one column: a word, or words at fixed distances."""

    column: str  # content_tsv, title_tsv, bigram_tsv, filename_tsv
    words: tuple[str, ...]
    offsets: tuple[int, ...]  # each word's offset from the first
    boost: float

    @property
    def tsquery(self) -> str:
        return phrase_query(self.words, self.offsets)

    @property
    def is_phrase(self) -> bool:
        return len(self.words) > 1

    @property
    def all_words(self) -> str:
        """Its words anywhere in the column: what the GIN index answers without reading a row
        (it only narrows the rows the phrase is checked in: a word too long to quote is left out)."""
        return " & ".join(quoted for w in dict.fromkeys(self.words) if (quoted := quote(w)) is not None)


def phrase_query(words: Sequence[str], offsets: Sequence[int]) -> str:
    out = quote(words[0])
    for i in range(1, len(words)):
        out += f" <{offsets[i] - offsets[i - 1]}> " + quote(words[i])
    return out


@dataclass(frozen=True)
class _Unit:
    """A searchable unit of the query: its word, its SQL condition, the leaves that score it."""

    word: str
    sql: str
    leaves: tuple[Leaf, ...]
    highlight: tuple[str, ...]


class Compiler:
    """The syntax tree of :mod:`docsvc.core.query` as a SQL condition on search_entry (``e``),
    with bound parameters, plus the leaves to score and the words to highlight. ``df`` tells
    how many of the ``n`` documents have a word (a long question keeps its rarest words; the
    commonest only rank, docsvc.core.ranking.common_words)."""

    def __init__(
        self,
        tz: dt.tzinfo,
        df: Callable[[str], float] = lambda word: 0,
        n: float = 0,
        positions: frozenset[str] = frozenset(),
    ) -> None:
        self.tz = tz
        self.df = df
        self.n = n
        self.positions = positions  # the columns whose index matches a phrase (phrase_rows)
        self.params: dict[str, Any] = {}
        self.leaves: list[Leaf] = []  # positive, scored
        self.rank_only: set[Leaf] = set()  # leaves of common words, which rank what the others match
        self.highlight_words: set[str] = set()
        self.highlight_strings: set[str] = set()
        self.words = 0
        self.only_leaves = False  # the query is nothing but optional words: it matches what any leaf does
        self.filters = "TRUE"  # the request's filters on e, which a phrase's rows are narrowed by first

    def param(self, value: Any) -> str:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return f":{name}"

    # Structure --------------------------------------------------------------------------------

    def root(self, node: q.Node) -> str:
        items = node.items if isinstance(node, q.Soft) else (node,)
        self.only_leaves = all(q.role(i) is q.Role.SHOULD for i in items)
        return self._soft(items, positive=True)

    def _soft(self, items: tuple[q.Node, ...], *, positive: bool) -> str:
        required, optional, excluded = q.split_soft(items)
        must = [self._build(i, positive=positive) for i in required]
        units = self._without_stopwords([u for i in optional for u in self._units(i, positive=positive)])
        keep = ranking.most_informative((u.word for u in units), self.df, MAX_QUERY_WORDS)
        units = [u for u in units if u.word in keep]
        kept = [self._take(u, positive) for u in units]
        must_not = [self._build(i, positive=not positive) for i in excluded]
        common = ranking.common_words((u.word for u in units), self.df, self.n) if not must else set()
        rare = [u.sql for u in units if u.word not in common]
        if common and rare:  # the rarer words match, the common only rank
            self.only_leaves = False  # so a common word's leaf matches more than the query does
            must = [_or(rare)]
            self.rank_only.update(leaf for u in units if u.word in common for leaf in u.leaves)
        if must:
            core = _and(must)  # the optional words only rank
        elif kept:
            core = _or(kept)
        elif must_not:
            core = "TRUE"
        else:
            return "FALSE"
        if must_not:
            core = f"({core} AND NOT {_or(must_not)})"
        return core

    def _build(self, node: q.Node, *, positive: bool) -> str:
        if isinstance(node, q.Soft):
            return self._soft(node.items, positive=positive)
        if isinstance(node, q.And):
            return _and([self._build(i, positive=positive) for i in node.items])
        if isinstance(node, q.Or):
            return _or([self._build(i, positive=positive) for i in node.items])
        if isinstance(node, q.Not):
            return f"(NOT {self._build(node.item, positive=not positive)})"
        if isinstance(node, q.Required):
            return self._build(node.item, positive=positive)
        if isinstance(node, (q.Text, q.Synonyms)):
            if isinstance(node, q.Text) and node.field in (q.Field.PROJECT, q.Field.COUNTERPARTY):
                return self._named(node)
            units = self._without_stopwords(self._units(node, positive=positive))
            self._count(len(units))
            return _and([self._take(u, positive) for u in units]) if units else "FALSE"
        if isinstance(node, q.Match):
            if node.field is q.Field.TAG:
                return f"(e.tags && CAST({self.param(list(node.values))} AS text[]))"
            return f"(e.{_COLUMNS[node.field]} = ANY({self.param(list(node.values))}))"
        if isinstance(node, q.DateRange):
            return self._date_range(node)
        if isinstance(node, q.IntRange):
            conds = []
            if node.start is not None:
                conds.append(f"e.year >= {self.param(node.start)}")
            if node.end is not None:
                conds.append(f"e.year <= {self.param(node.end)}")
            return f"coalesce({' AND '.join(conds) or 'e.year IS NOT NULL'}, FALSE)"
        raise TypeError(node)  # pragma: no cover - the parser makes nothing else

    def _date_range(self, node: q.DateRange) -> str:
        conds = []
        if node.field is q.Field.CREATED:
            # created_at is an instant; the dates people type are whole local days.
            if node.start is not None:
                start = dt.datetime.combine(node.start, dt.time.min).replace(tzinfo=self.tz)
                conds.append(f"e.created_at >= {self.param(start)}")
            if node.end is not None:
                end = dt.datetime.combine(node.end + dt.timedelta(days=1), dt.time.min).replace(tzinfo=self.tz)
                conds.append(f"e.created_at < {self.param(end)}")
            column = "e.created_at"
        else:
            column = "e.effective_date" if node.field is q.Field.EFFECTIVE else "e.review_due"
            if node.start is not None:
                conds.append(f"{column} >= {self.param(node.start)}")
            if node.end is not None:
                conds.append(f"{column} <= {self.param(node.end)}")
        return f"coalesce({' AND '.join(conds) or column + ' IS NOT NULL'}, FALSE)"

    def _named(self, node: q.Text) -> str:
        """project:/counterparty: the exact name, or its words in order."""
        column = _COLUMNS[node.field]  # type: ignore[index]
        exact = f"e.{column} = {self.param(node.text.strip())}"
        words = [t for t in text.analyze(node.text) if not t.sub]
        if not words:
            return f"({exact})"
        phrase = phrase_query([t.text for t in words], [t.pos - words[0].pos for t in words])
        return f"({exact} OR e.{column}_tsv @@ CAST({self.param(phrase)} AS tsquery))"

    # Words ------------------------------------------------------------------------------------

    @staticmethod
    def _without_stopwords(units: list[_Unit]) -> list[_Unit]:
        """Drop question words (怎么, 如何, 的 …) unless nothing else is left."""
        return [u for u in units if u.word not in q.QUERY_STOPWORDS] or units

    def _take(self, unit: _Unit, positive: bool) -> str:
        """A unit the query keeps: its leaves score, its words are highlighted."""
        if positive:
            self.leaves.extend(unit.leaves)
            self.highlight_words.update(unit.highlight)
        return unit.sql

    def _units(self, node: q.Text | q.Synonyms, *, positive: bool) -> list[_Unit]:
        """The searchable units of ``node``: one per word for plain text (a run of characters
        jieba does not know is one unit), one for a phrase, one for a synonym group (any of
        its terms, each as a phrase)."""
        fields = _TEXT_FIELDS[node.field]
        if isinstance(node, q.Synonyms):
            units = [u for t in node.terms for u in self._units(q.Text(t, node.field, phrase=True), positive=False)]
            if positive:
                self.highlight_strings.update("".join(text.normalize(t).split()) for t in node.terms if text.has_cjk(t))
            return (
                [
                    _Unit(
                        text.normalize(node.typed),
                        _or([u.sql for u in units]),
                        tuple(leaf for u in units for leaf in u.leaves),
                        tuple(w for u in units for w in u.highlight),
                    )
                ]
                if units
                else []
            )
        tokens = [t for t in text.analyze(node.text) if not t.sub]
        if not tokens:
            return []
        if node.phrase:
            folded = "".join(text.normalize(node.text).split())
            if positive and text.has_cjk(folded):
                self.highlight_strings.add(folded)
            return [self._unit(node.text, tokens, fields, unknown=text.single_stretches(tokens) == [(0, len(tokens))])]
        out: list[_Unit] = []
        stretches = dict(text.single_stretches(tokens))
        i = 0
        while i < len(tokens):
            j = stretches.get(i, i + 1)
            run = tokens[i:j]
            word = "".join(t.text for t in run)
            out.append(self._unit(word, run, fields, unknown=j - i > 1))
            if positive and j - i > 1:
                self.highlight_strings.add(word)
            i = j
        return out

    def _count(self, n: int) -> None:
        """Words the query language joins (AND, OR, NOT, fields) are all searched: bounded."""
        self.words += n
        if self.words > MAX_QUERY_WORDS:
            raise InvalidInput(
                f"搜索词过多（最多 {MAX_QUERY_WORDS} 个词），请精简查询。",
                f"Too many search words (at most {MAX_QUERY_WORDS}); shorten the query.",
                field="q",
            )

    def _unit(self, word: str, tokens: list[text.Token], fields: tuple[str, ...], *, unknown: bool) -> _Unit:
        """Words adjacent as in the query, in any of ``fields``. In the content, a run jieba does
        not know (single characters in a row) is looked up as character bigrams in the bigram
        column instead: wherever a document has the characters as words in a row it has their
        bigrams too, and a phrase of common characters (高 个) would be checked in every
        document that has both (see docsvc.core.text). An identifier typed in part (2026-0412)
        is also looked up as the segments the whole one (SLA-2026-0412) was indexed as."""
        words = tuple(t.text for t in tokens)
        offsets = tuple(t.pos - tokens[0].pos for t in tokens)
        with_bigrams = unknown and "content" in fields
        leaves = [
            Leaf(f"{f}_tsv", words, offsets, TITLE_BOOST if f == "title" else 1.0)
            for f in fields
            if not (with_bigrams and f == "content")
        ]
        if with_bigrams:
            grams = text.cjk_bigrams("".join(words))
            leaves.append(Leaf("bigram_tsv", tuple(grams), tuple(range(len(grams))), 1.0))
        segments = text.identifier_segments(words[0]) if len(words) == 1 else []
        if segments:
            seg_words = tuple(t.text for t in segments)
            seg_offsets = tuple(t.pos - segments[0].pos for t in segments)
            leaves += [Leaf(f"{f}_tsv", seg_words, seg_offsets, TITLE_BOOST if f == "title" else 1.0) for f in fields]
        return _Unit(
            word, _or([self._match(leaf) for leaf in leaves]), tuple(leaves), words + tuple(t.text for t in segments)
        )

    def _match(self, leaf: Leaf) -> str:
        query = f"CAST({self.param(leaf.tsquery)} AS tsquery)"
        if leaf.is_phrase and leaf.column in PASSAGE_COLUMNS:
            # Past the limits of one tsvector's positions, a phrase is matched in the passages.
            rows = phrase_rows(
                leaf.column,
                query,
                f"CAST({self.param(leaf.all_words)} AS tsquery)",
                self.filters,
                in_index=leaf.column in self.positions,
            )
            return (
                f"e.version_id IN (SELECT e.version_id FROM search_entry e WHERE {rows} "
                f"UNION ALL SELECT version_id FROM search_passage WHERE {leaf.column} @@ {query})"
            )
        return f"e.{leaf.column} @@ {query}"


def phrase_rows(column: str, phrase: str, all_words: str, filters: str, *, in_index: bool) -> str:
    """The condition on search_entry ``e`` (SQL tsquery expressions ``phrase`` and ``all_words``)
    of the rows a phrase is in. A RUM index (``in_index``) keeps the words' positions and matches
    the phrase itself. From a GIN index come the rows with all its words, and the positions are
    read (the whole tsvector, about 14 µs a row) only in those the filters keep (the latest
    versions, say): as an index condition, PostgreSQL would read them in every row first. IS TRUE
    keeps the phrase out of the index conditions."""
    if in_index:
        return f"e.{column} @@ {phrase} AND {filters}"
    return f"e.{column} @@ {all_words} AND {filters} AND (e.{column} @@ {phrase}) IS TRUE"


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else "(" + " AND ".join(items) + ")"


def _or(items: list[str]) -> str:
    return items[0] if len(items) == 1 else "(" + " OR ".join(items) + ")"
