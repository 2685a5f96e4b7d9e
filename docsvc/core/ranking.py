"""How a plain-language question ranks documents: one definition for every search engine.

A question and the clause that answers it rarely share many whole words: people write
合同到期后服务怎么续签, the contract says 本合同期满前三十日内双方协商续订. The score adds three
kinds of evidence, each weighted by BM25 (k1 = :data:`K1`, b = :data:`B`, the probabilistic idf of
:func:`idf`):

* **words** as the analyzer cuts them (docsvc.core.text), in the content and, weighted
  :data:`~docsvc.core.search.TITLE_BOOST` times, in the title, combined as BM25F does
  (:func:`bm25f`): what matches exactly;
* **character bigrams** of the question's Chinese text, in every document's bigrams: what jieba
  cut differently in the question and in the document (到期后 / 期满后, 服务等级协议 / 等级协议);
* **characters** of the question (question particles left out, :data:`STOP_CHARS`), in every
  document's characters: related words that share a character (续签 / 续订, 承租 / 租赁), which in
  Chinese is often the word's meaning.

The bigrams and characters only rank: which documents match is the words' business, so totals
and facets do not change with them, and each engine adds them to the best matches by their words
(the page cannot come from further down). They rank questions only (:func:`question_grams`):
keywords and a phrase alone match whole, so nothing in them can have been cut differently. The mix
was measured on plain-language questions over formal text (``bench/bench_backends.py
--relevance-only``), where each kind of evidence alone ranks below the three together; no
weight names a word of any particular domain.

The probabilistic idf, rather than Whoosh's ``log(N / (df + 1)) + 1``, gives a character that
is in most documents almost no weight: the ``+ 1`` made the commonest characters count.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable

from docsvc.core import query as q
from docsvc.core import text

K1 = 1.2
B = 0.75
BIGRAM_WEIGHT = 1.0
CHAR_WEIGHT = 1.5  # characters carry a question's meaning across the words it chose
MAX_GRAMS = 64  # bigrams and characters scored per question: a pasted paragraph stays cheap
COMMON_SHARE = 0.2  # a word in more of the documents than this only ranks (common_words) …
COMMON_MIN_DOCS = 5_000  # … once it is in more documents than this

# Particles and question words: in nearly every question, about nothing.
STOP_CHARS = frozenset(
    "的了吗呢吧啊呀么是在和与及或并也都就把被让给对从向由将还又怎样如何什哪为多少几请一下可以能否"
    "有没要应该会我你您他她它这那之等其所"
)


def idf(n: float, df: float) -> float:
    """BM25's probabilistic inverse document frequency, never negative."""
    return math.log(1.0 + (n - df + 0.5) / (df + 0.5))


def bm25f(fields: Iterable[tuple[float, float, float, float]], weight: float) -> float:
    """BM25F: a term's frequency in each field ``(tf, length, average length, boost)``,
    length-normalised and weighted, summed, then saturated once, times ``weight`` (idf times
    the question's own weight). A word in the title and in the body counts more than in either,
    but never twice its idf: adding a BM25 score per field let titles that merely share a word
    with the question outrank the clause that answers it."""
    tf = sum(boost * f / ((1 - B) + B * length / (average or 1.0)) for f, length, average, boost in fields)
    return weight * tf * (K1 + 1) / (tf + K1) if tf > 0 else 0.0


def most_informative(words: Iterable[str], df: Callable[[str], float], limit: int) -> set[str]:
    """The ``limit`` distinct words of a long question that fewest documents have (ties: the
    first typed), words no document has last (they cannot match): a pasted paragraph is
    searched by what distinguishes it, not refused."""
    distinct = list(dict.fromkeys(words))
    if len(distinct) <= limit:
        return set(distinct)
    counts = [df(w) for w in distinct]
    order = sorted(range(len(distinct)), key=lambda i: (counts[i] == 0, counts[i], i))
    return {distinct[i] for i in order[:limit]}


def common_words(words: Iterable[str], df: Callable[[str], float], n: float) -> set[str]:
    """The words of a question that only rank when it has rarer ones: those in more than
    :data:`COMMON_SHARE` of the ``n`` documents and in more than :data:`COMMON_MIN_DOCS`.

    Lucene's and Elasticsearch's common-terms rule. A word that most documents have says
    little about which to show (its idf is small), yet as an optional word it makes nearly every
    document a match, to be counted, faceted and ranked: in a large archive, most of a search's
    work. So the question's rarer words choose the matches and the common ones only rank them.
    A question of common words alone matches any of them, as before (Lucene would require all:
    a plain-language question then loses the answer that words one of them otherwise). Below
    COMMON_MIN_DOCS a word's matches are cheap and every match is kept, so a small archive
    answers as if there were no rule. Each engine applies it with its own document frequencies
    (over every version)."""
    limit = max(COMMON_SHARE * n, COMMON_MIN_DOCS)
    return {w for w in dict.fromkeys(words) if df(w) > limit}


def query_grams(texts: Iterable[str]) -> dict[str, float]:
    """The bigrams and characters of the question's Chinese text, each with its weight (its
    kind's weight times how often the question has it), at most :data:`MAX_GRAMS` of them,
    first come first kept."""
    out: dict[str, float] = {}
    for t in texts:
        grams = text.cjk_bigrams(t)
        for g in grams:
            if len(g) == 2:
                out[g] = out.get(g, 0.0) + BIGRAM_WEIGHT
        for c in text.normalize(t):
            if text.has_cjk(c) and c not in STOP_CHARS:
                out[c] = out.get(c, 0.0) + CHAR_WEIGHT
    return dict(list(out.items())[:MAX_GRAMS])


def question_grams(node: q.Node | None) -> dict[str, float]:
    """The grams (:func:`query_grams`) that rank a search, from its query as typed: its plain
    text and phrases (not what it excludes, not a metadata field), when it is a question, a
    stretch of plain text typed without a space that says two words or more.

    Parsed before synonyms split it: 搬机房的钱谁出 is one question whether or not 机房 has
    synonyms. A quoted term inside a question (什么情形构成“帮助信息网络犯罪活动罪”) is part
    of it. Keywords typed alone or apart (服务器, 合同 续签 期限) and phrases alone give none:
    every match has them whole, so there is nothing that jieba could have cut differently, and
    their characters would only rank the matches by how often their own characters repeat, at
    the cost of reading the best matches' grams on every search."""
    texts = [t for t in q.searched_texts(node) if isinstance(t, q.Text) and t.field in (None, q.Field.CONTENT)]
    question = any(not t.phrase and sum(1 for token in text.analyze(t.text) if not token.sub) >= 2 for t in texts)
    return query_grams(t.text for t in texts) if question else {}


def document_grams(content: str) -> Counter[str]:
    """How often each character and character bigram of the Chinese text occurs in a
    document: what the engines index for :func:`query_grams` to find. (Both engines' schema
    versions stand for what this counts: change one, bump them.)"""
    counts: Counter[str] = Counter()
    for run in text.cjk_runs(content):
        counts.update(run)
        counts.update(map(str.__add__, run, run[1:]))
    return counts
