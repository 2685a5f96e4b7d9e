"""The Whoosh schema of the index: the Whoosh face of the Chinese analyzer (:class:`ZhTokenizer`),
the posting formats fed straight from it (:class:`ZhPositions`, :class:`ZhCharacters`), the
fields (:func:`build_schema`) and their version (SCHEMA_VERSION).

Whoosh pickles the schema into the index's TOC by class path: indexes written before this
package existed name these classes under ``docsvc.adapters.whoosh_index``, which re-exports them.
"""

from __future__ import annotations

import datetime as dt
import pickle
import zlib
from collections import Counter, defaultdict
from collections.abc import Iterator
from typing import Any

import numpy as np
from whoosh import columns, formats
from whoosh.analysis import Token as WToken
from whoosh.analysis import Tokenizer
from whoosh.fields import BOOLEAN, COLUMN, DATETIME, ID, KEYWORD, NUMERIC, TEXT, Schema

from docsvc.core import ranking, text

# 2: Zh* formats (same postings, written faster); 3: content_grams; 4: a column of their counts
# too; 5: the column alone; 6: grams across the spaces of letter-spaced Chinese
SCHEMA_VERSION = 6


# --- analyzers ------------------------------------------------------------------------------


class ZhTokenizer(Tokenizer):
    """Whoosh face of :mod:`docsvc.core.text`: ``kind`` "words" (jieba + identifiers) or
    "bigrams" (:func:`docsvc.core.text.analyze_unknown`). Positions are compact character
    offsets (see :mod:`docsvc.core.text`); start/end chars point into the original text.

    The schema is pickled into the index's TOC, so this class must stay importable under this
    name and must not hold the jieba instance (it lives in docsvc.core.text, loaded once).
    """

    def __init__(self, kind: str = "words") -> None:
        if kind not in ("words", "bigrams"):
            raise ValueError(kind)
        self.kind = kind

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ZhTokenizer) and other.kind == self.kind

    def __hash__(self) -> int:
        return hash(("ZhTokenizer", self.kind))

    def analyze(self, value: str) -> Iterator[text.Token]:
        return text.analyze(value) if self.kind == "words" else text.analyze_unknown(value)

    def tuples(self, value: str) -> Iterator[tuple[str, int, int, int, bool]]:
        """:meth:`analyze` as plain tuples (text, pos, start, end, sub), for indexing."""
        return text.token_tuples(value) if self.kind == "words" else text.bigram_tuples(value)

    def __call__(
        self,
        value: str,
        positions: bool = False,
        chars: bool = False,
        keeporiginal: bool = False,
        removestops: bool = True,
        start_pos: int = 0,
        start_char: int = 0,
        tokenize: bool = True,
        mode: str = "",
        **kwargs: Any,
    ) -> Iterator[WToken]:
        t = WToken(positions, chars, removestops=removestops, mode=mode, **kwargs)
        if not tokenize:
            t.original = t.text = value
            t.boost = 1.0
            if positions:
                t.pos = start_pos
            if chars:
                t.startchar, t.endchar = start_char, start_char + len(value)
            yield t
            return
        for tok in self.analyze(value):
            t.text = tok.text
            t.boost = 1.0
            t.stopped = False
            if keeporiginal:
                t.original = tok.text
            if positions:
                t.pos = start_pos + tok.pos
            if chars:
                t.startchar, t.endchar = start_char + tok.start, start_char + tok.end
            yield t


class _ZhFormat:
    """Whoosh's Positions and Characters formats fed straight from :mod:`docsvc.core.text`'s
    tuples when the analyzer is a ZhTokenizer: Whoosh's own word_values goes through a mutable
    Token object per token and cost as much as the analysis itself. Same values, same encoding.
    :meth:`occurrences` picks what a posting keeps of each token."""

    def occurrences(self, value: str, analyzer: ZhTokenizer) -> dict[str, list[Any]]:
        raise NotImplementedError

    def word_values(self, value: Any, analyzer: Any, **kwargs: Any) -> Iterator[tuple]:
        if not isinstance(analyzer, ZhTokenizer) or not isinstance(value, str):
            yield from super().word_values(value, analyzer, **kwargs)  # type: ignore[misc]
            return
        fb = self.field_boost  # type: ignore[attr-defined]
        for word, found in self.occurrences(value, analyzer).items():
            yield word, len(found), len(found) * fb, self.encode(found)  # type: ignore[attr-defined]


class ZhPositions(_ZhFormat, formats.Positions):
    """Positions (see :class:`_ZhFormat`). Pickled with the schema, so this class must stay
    importable under this name."""

    def occurrences(self, value: str, analyzer: ZhTokenizer) -> dict[str, list[Any]]:
        poses: dict[str, list[int]] = defaultdict(list)
        for word, pos, _start, _end, _sub in analyzer.tuples(value):
            poses[word].append(pos)
        return poses

    def encode(self, poslist: list[int]) -> bytes:
        # Positions.encode; a word's one position (most words of a document) without its loop.
        if len(poslist) == 1:
            return _ONE + pickle.dumps(poslist, 2)
        return super().encode(poslist)


class ZhCharacters(_ZhFormat, formats.Characters):
    """Positions and character offsets (see :class:`_ZhFormat`). Pickled with the schema, so
    this class must stay importable under this name."""

    def occurrences(self, value: str, analyzer: ZhTokenizer) -> dict[str, list[Any]]:
        seen: dict[str, list[tuple[int, int, int]]] = defaultdict(list)
        for word, pos, start, end, _sub in analyzer.tuples(value):
            seen[word].append((pos, start, end))
        return seen

    def encode(self, poslist: list[tuple[int, int, int]]) -> bytes:
        # Characters.encode; a word's one occurrence (most words of a document) without its loop.
        if len(poslist) == 1:
            pos, start, end = poslist[0]
            return _ONE + pickle.dumps([(pos, start, end - start)], 2)
        return super().encode(poslist)


_ONE = formats.pack_uint(1)  # the count that starts an encoded posting of one position


class ZhFrequency(formats.Frequency):
    """The posting format of the grams field of SCHEMA_VERSION 3 and 4, which indexed every
    character and bigram. Named in those indexes' pickled schema (a rebuild replaces them), so
    this class must stay importable under this name."""


class ZhGrams(COLUMN):
    """Every character and bigram of the content, counted (:func:`docsvc.core.ranking.document_grams`),
    as one column value per document (:func:`gram_counts_bytes`), not as postings. Ranking reads
    the column for a search's best matches only, and the grams' document frequencies from the
    columns of a sample of the archive (fast.Evaluator): postings of every character and bigram
    doubled the index and the work of writing it, and a common character's posting list spans
    most of the archive. Pickled with the schema, so this class must stay importable under this
    name."""

    def __init__(self) -> None:
        super().__init__(columns.VarBytesColumn())

    def to_column_value(self, value: Any) -> bytes:
        return gram_counts_bytes(ranking.document_grams(value)) if isinstance(value, str) else b""

    def from_column_value(self, value: Any) -> Any:
        return value


def gram_key(gram: str) -> int:
    """A gram's key in the column: CRC-32 of its UTF-8, stable across processes and versions
    (a document's few thousand grams among 2³² keys: a question's gram meets a stranger's key
    about once in a million documents)."""
    return zlib.crc32(gram.encode("utf-8"))


_LENGTH = 4  # the column value starts with the document's number of grams, a little-endian uint32


def gram_counts_bytes(counts: Counter[str]) -> bytes:
    """A document's grams as the column stores them: how many it has in all (its length for
    BM25), then its keys (:func:`gram_key`) sorted, as little-endian uint32, then each key's
    count as uint16 (capped: BM25 has long saturated)."""
    if not counts:
        return b""
    keys = np.fromiter(map(gram_key, counts), dtype=np.uint32, count=len(counts))
    freqs = np.fromiter(counts.values(), dtype=np.int64, count=len(counts))
    order = np.argsort(keys, kind="stable")
    keys, freqs = keys[order], freqs[order]
    unique, start = np.unique(keys, return_index=True)
    if len(unique) < len(keys):  # two of the document's grams share a key: their counts add up
        keys, freqs = unique, np.add.reduceat(freqs, start)
    total = min(int(freqs.sum()), 0xFFFFFFFF).to_bytes(_LENGTH, "little")
    return total + keys.astype("<u4").tobytes() + np.minimum(freqs, 0xFFFF).astype("<u2").tobytes()


def gram_length(blob: bytes) -> int:
    """How many grams the document has in all (0 for none)."""
    return int.from_bytes(blob[:_LENGTH], "little")


def gram_keys(blob: bytes) -> np.ndarray:
    """The document's distinct gram keys, sorted."""
    return np.frombuffer(blob, dtype="<u4", count=(len(blob) - _LENGTH) // 6, offset=_LENGTH) if blob else _NONE


def gram_counts(blob: bytes, keys: np.ndarray) -> np.ndarray:
    """How often the document has each of ``keys`` (sorted or not), from its column value.
    (A search calls it for each of its 200 candidates: a few array calls, nothing more.)"""
    n = (len(blob) - _LENGTH) // 6
    if n <= 0:
        return np.zeros(len(keys), dtype=np.uint16)
    stored = np.frombuffer(blob, "<u4", n, _LENGTH)
    at = stored.searchsorted(keys)
    np.minimum(at, n - 1, out=at)
    return np.frombuffer(blob, "<u2", n, _LENGTH + 4 * n)[at] * (stored[at] == keys)


_NONE = np.zeros(0, dtype=np.uint32)


def _zh_text(analyzer: ZhTokenizer, *, chars: bool = False, **kwargs: Any) -> TEXT:
    field = TEXT(analyzer=analyzer, chars=chars, **kwargs)
    field.format = (ZhCharacters if chars else ZhPositions)(field_boost=field.format.field_boost)
    return field


# ONE analyzer object for indexing and querying (the query builder calls docsvc.core.text with
# the same functions these wrap).
WORDS = ZhTokenizer("words")
BIGRAMS = ZhTokenizer("bigrams")


def build_schema() -> Schema:
    facet = dict(stored=True, sortable=True)
    return Schema(
        # Columns (sortable) for version_id and sha256: indexed_versions() reads them without
        # unpickling every stored document.
        version_id=ID(stored=True, unique=True, sortable=True),
        document_id=ID(stored=True, sortable=True),
        number=NUMERIC(int, stored=True),
        is_latest=BOOLEAN(stored=True),
        sha256=ID(stored=True, sortable=True),
        title=_zh_text(WORDS, stored=True),
        original_filename=_zh_text(WORDS, stored=True),
        # chars=True stores each posting's character offsets: highlighting reads them instead
        # of re-analysing the hit (~10 ms per 3,600-character hit).
        content=_zh_text(WORDS, stored=True, chars=True),
        content_bigram=_zh_text(BIGRAMS),
        # Ranks only (docsvc.core.ranking): every character and bigram, counted, a column.
        content_grams=ZhGrams(),
        doc_type=ID(**facet),
        service_category=ID(**facet),
        doc_class=ID(**facet),
        service_scope=ID(**facet),
        project=ID(**facet),
        project_text=_zh_text(WORDS),
        counterparty=ID(**facet),
        counterparty_text=_zh_text(WORDS),
        tags=KEYWORD(stored=True, commas=True, lowercase=True),
        status=ID(**facet),
        year=NUMERIC(int, stored=True, sortable=True),
        created_at=DATETIME(stored=True, sortable=True),
        effective_date=DATETIME(stored=True),
        review_due=DATETIME(stored=True),
        extraction_status=ID(stored=True),
    )


def _to_utc_naive(ts: dt.datetime) -> dt.datetime:
    """Whoosh DATETIME compares naive datetimes: store UTC."""
    if ts.tzinfo is not None:
        ts = ts.astimezone(dt.UTC).replace(tzinfo=None)
    return ts
