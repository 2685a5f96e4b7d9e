"""Semantic ranking: what a question means, not only the words it shares with the answer.

People ask 网贷逾期不还有什么后果; the clause that answers it speaks of 借款人 and 限制高消费.
No ranking of shared words finds that. A sentence-embedding model (a port, :class:`Embedder`;
the engine is an adapter) maps the question and each document's first passages to vectors whose
cosine says how close their meanings are. The index still decides *which* documents match (so
totals, facets and access rules are the words' business, on every search engine); the meaning
only reorders the :data:`CANDIDATES` best matches by their words, as :func:`fuse` combines them.

Measured on plain-language questions over formal articles (``bench/bench_backends.py
--relevance-only``): the words alone hit@10 0.722 / MRR@10 0.510, the embeddings alone 0.748 /
0.518, both fused 0.759 / 0.557; the gain holds for any :data:`CANDIDATES` from 30 to 100 and any
:data:`MEANING_WEIGHT` from 0.2 to 0.5 (the values are the middle of that plateau, not its peak).

A document's vectors are derived data: made in the background after indexing, kept per version
with the :attr:`Embedder.version` that made them, and only vectors of the running model are used.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import re
from collections.abc import Mapping, Sequence
from importlib import metadata
from typing import Protocol

import numpy as np

from docsvc.core import query as q

CANDIDATES = 50  # the best matches by their words that the meaning reorders
MEANING_WEIGHT = 0.3  # a standard deviation of meaning, against the best word score
PASSAGE_CHARS = 400  # the model reads 512 tokens; a Chinese character is about 0.8 of one
MAX_PASSAGES = 4  # a long document is judged by its first pages: embedding it all costs seconds
DTYPE = np.float16  # half the storage; cosines agree to three decimals

_SENTENCE_END = re.compile(r"(?<=[。！？；!?;\n])")


class Embedder(Protocol):
    """A sentence-embedding model: unit vectors whose dot product is the cosine of meanings."""

    version: str  # names the model and its engine: vectors of another version are not compared
    dim: int

    def queries(self, texts: Sequence[str]) -> np.ndarray: ...

    def passages(self, texts: Sequence[str]) -> np.ndarray: ...


class Installed(enum.Enum):
    """The embedding engine this installation provides, as a default: functions that can read
    meaning (the classifier's) use it unless given another, or None for none."""

    EMBEDDER = "installed"


INSTALLED = Installed.EMBEDDER
# The engine is named by the installed distribution (pyproject.toml), not imported here: the
# domain knows the port, the installation the adapter.
ENTRY_POINTS = "docsvc.embedders"


@functools.cache
def installed_embedder() -> Embedder | None:
    """The engine of the ``default`` entry point of :data:`ENTRY_POINTS`, made once; None when
    none is installed or its engine is missing (a stripped install)."""
    for entry in metadata.entry_points(group=ENTRY_POINTS, name="default"):
        try:
            made: Embedder = entry.load()()
        except (ImportError, metadata.PackageNotFoundError):
            return None
        return made
    return None


def embedder_of(embedder: Embedder | Installed | None) -> Embedder | None:
    """``embedder`` itself, or the installed one for :data:`INSTALLED`."""
    return installed_embedder() if embedder is INSTALLED else embedder


def passages_of(content: str) -> list[str]:
    """The passages a document is embedded as: its text cut at sentence ends into pieces of at
    most :data:`PASSAGE_CHARS` characters (whitespace folded), the first :data:`MAX_PASSAGES`."""
    out: list[str] = []
    current = ""
    for sentence in _SENTENCE_END.split(content):
        sentence = " ".join(sentence.split())
        while sentence:
            if len(current) + 1 + len(sentence) <= PASSAGE_CHARS:
                current = f"{current} {sentence}" if current else sentence
                sentence = ""
            elif current:
                out.append(current)
                current = ""
            else:  # one sentence longer than a passage: cut it
                out.append(sentence[:PASSAGE_CHARS])
                sentence = sentence[PASSAGE_CHARS:]
            if len(out) == MAX_PASSAGES:
                return out
    return [*out, current] if current else out


def text_key(passages: Sequence[str]) -> str:
    """What a version's vectors were made from: the same passages need not be embedded again."""
    return hashlib.sha256("\x1e".join(passages).encode("utf-8")).hexdigest()


def encode(vectors: np.ndarray) -> bytes:
    return np.ascontiguousarray(vectors, dtype=DTYPE).tobytes()


def decode(data: bytes, dim: int) -> np.ndarray:
    return np.frombuffer(data, dtype=DTYPE).reshape(-1, dim).astype(np.float32)


def closeness(query: np.ndarray, vectors: np.ndarray) -> float:
    """How close a document is to the question: its closest passage."""
    return float((vectors @ query).max()) if len(vectors) else float("nan")


def fuse(word_scores: Sequence[float], meaning: Sequence[float]) -> list[float]:
    """The candidates' final scores: each word score over the best one, plus
    :data:`MEANING_WEIGHT` times how many standard deviations its meaning is above the
    candidates' mean. A candidate without vectors (``nan``: not embedded yet) counts as the mean,
    so it keeps its place among the others by its words."""
    words = np.asarray(word_scores, dtype=np.float64)
    m = np.asarray(meaning, dtype=np.float64)
    known = ~np.isnan(m)
    top = words.max() if len(words) and words.max() > 0 else 1.0
    z = np.zeros(len(m))
    if known.sum() >= 2:
        spread = m[known].std() or 1.0
        z[known] = (m[known] - m[known].mean()) / spread
    return list(words / top + MEANING_WEIGHT * z)


def reorder(keys: Sequence[int], word_scores: Sequence[float], meaning: Mapping[int, float]) -> list[int]:
    """``keys`` (in their word order) ordered by :func:`fuse`; ties keep the word order."""
    fused = fuse(word_scores, [meaning.get(k, float("nan")) for k in keys])
    return [keys[i] for i in sorted(range(len(keys)), key=lambda i: (-fused[i], i))]


def question_of(node: q.Node | None) -> str:
    """The text a search's question is embedded from: its plain words and phrases as typed
    (synonym groups as typed), without operators, field filters or what it excludes."""
    parts = [
        t.typed if isinstance(t, q.Synonyms) else t.text
        for t in q.searched_texts(node)
        if isinstance(t, q.Synonyms) or t.field in (None, q.Field.CONTENT, q.Field.TITLE)
    ]
    return " ".join(p.strip() for p in parts if p.strip())
