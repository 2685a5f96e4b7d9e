"""Similar documents ("more like this"): what a document is about, as a search.

A document's most distinctive words (tf·idf over its latest version's extracted text, the
index's document frequencies giving the idf) and its title's words make a plain soft query:
space-separated words, OR-ed and ranked by how much of them a document matches. It runs through
the ordinary search path as the reader (:meth:`docsvc.services.access.Guard.similar`), so the
access rules of search apply unchanged and every engine answers it the same way. Nothing here
knows an engine: only :meth:`SearchIndex.doc_frequencies` and ``doc_count``.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from docsvc.core import text
from docsvc.core.inputs import parse_int
from docsvc.core.query import MAX_QUERY_CHARS, QUERY_STOPWORDS
from docsvc.core.ranking import idf
from docsvc.core.search import Hit, SearchRequest
from docsvc.services.search import IndexService

DEFAULT_LIMIT = 5
MAX_LIMIT = 20
# The beginning of a long document says what it is about; reading (and analysing) all of a
# thousand-page manual for every page view would not say it better.
MAX_TEXT_CHARS = 20_000
# The commonest words of the text are the candidates whose document frequency is looked up:
# one look-up per word, and a word seen once in 20,000 characters is weak evidence anyway.
MAX_CANDIDATES = 200
MAX_TERMS = 16  # distinctive words of the content in the query
MAX_TITLE_TERMS = 8  # the title's words added to them (a title names what a document is about)
MAX_TERM_CHARS = 40  # a longer "word" is a URL or a hash: it names one document, not a subject


def check_limit(value: Any) -> int:
    """How many similar documents were asked for: an integer from 1 to :data:`MAX_LIMIT`."""
    return parse_int(value, "limit", high=MAX_LIMIT, default=DEFAULT_LIMIT, from_text=isinstance(value, str))


def _worth_searching(word: str) -> bool:
    """Stop words, single characters (a lone 年 or 的 matches everything) and numbers (30, 99.9,
    2026-01-01 say nothing about a subject) are left out."""
    return (
        len(word) > 1
        and len(word) <= MAX_TERM_CHARS
        and word not in QUERY_STOPWORDS
        and any(ch.isalpha() for ch in word)
    )


def _main_words(s: str) -> list[str]:
    """The analyzer's main words (its sub-words are parts of these, counted already)."""
    return [t.text for t in text.analyze(s) if not t.sub and _worth_searching(t.text)]


def distinctive_words(content: str, index: IndexService, *, limit: int = MAX_TERMS) -> list[str]:
    """The ``limit`` words of ``content`` with the highest tf·idf, best first."""
    counts = Counter(_main_words(content[:MAX_TEXT_CHARS]))
    if not counts:
        return []
    # most_common keeps first-seen order among equal counts, so ties go to the earlier word.
    candidates = [w for w, _ in counts.most_common(MAX_CANDIDATES)]
    n, df = index.doc_frequencies(candidates)
    # A word no other indexed version has (df 1: only this one) cannot find another document.
    scored = [(counts[w] * idf(n, df[w]), i, w) for i, w in enumerate(candidates) if df.get(w, 0) > 1]
    scored.sort(key=lambda s: (-s[0], s[1]))
    return [w for _, _, w in scored[:limit]]


def _term(word: str) -> str:
    """A word as the query language reads it literally: quoted unless it is only letters and
    digits (an identifier such as ``type:sla`` would otherwise read as a field filter)."""
    return word if word.isalnum() else '"' + word.replace('"', "") + '"'


def similar_query(title: str, content: str, index: IndexService) -> str:
    """The soft query for a document with this ``title`` and extracted ``content``: its title's
    words first, then its most distinctive words; "" when it has no word worth searching."""
    words = list(dict.fromkeys(_main_words(title)[:MAX_TITLE_TERMS] + distinctive_words(content, index)))
    query = ""
    for w in words:
        term = _term(w)
        if len(query) + len(term) + 1 > MAX_QUERY_CHARS:
            break
        query = f"{query} {term}" if query else term
    return query


def similar_request(query: str, limit: int) -> SearchRequest:
    """Latest versions only, no excerpts or facets; one more hit than wanted, since the
    document itself is usually the best match and is dropped (:func:`others`)."""
    return SearchRequest(query=query, per_page=limit + 1, highlight=False, facets=False)


def others(hits: list[Hit], document_id: int, limit: int) -> list[Hit]:
    return [h for h in hits if h.document_id != document_id][:limit]


__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "check_limit",
    "distinctive_words",
    "others",
    "similar_query",
    "similar_request",
]
