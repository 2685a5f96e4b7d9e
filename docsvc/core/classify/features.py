"""What the model reads of a document: character 1–3-grams and the analyzer's words of its title
and head, as term-frequency rows, weighed by a :class:`Weighting`."""

from __future__ import annotations

import re
import weakref
from collections import Counter, defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import count, repeat
from typing import Any

import numpy as np

from docsvc.core import text as textmod
from docsvc.core.semantic import Embedder

# The model reads the title and this much of the text: a document's kind and subject show on
# its first page or two, and the features cost about 2 ms per thousand characters, which a
# suggestion (20 ms) and a training run over thousands of documents (60 s for 5,000) must
# afford.
MODEL_HEAD_CHARS = 2000
# Character n-grams carry short texts (a title, a one-line request, an app description) and
# need no dictionary, so an organisation's own jargon counts from its first use; jieba's words
# add whole terms, and the title's words count a second time, marked, because people name
# documents after their kind and subject.
CHAR_NGRAMS = (1, 3)
# The word block's weight beside the character block (each block has unit length): 0.7 had
# the best mean over eight sets of bench/eval_classify.py --grid (1.0 and 0.5 each did best
# on some).
WORD_WEIGHT = 0.7
# The model keeps one float32 weight per class and feature, so the vocabulary is capped (the
# features in most documents are kept): 20 classes × 300,000 features take 24 MB.
MAX_CHAR_FEATURES = 200_000
MAX_WORD_FEATURES = 100_000
# The meaning of a document (a sentence-embedding model's vector, when one is given) is read
# from the first characters of its text, where its subject shows: about the 512 tokens the model
# reads at once (a Chinese character is about 0.8 of one). Reading 400 instead of 120 costs
# three times as much (0.4 s of a core a head) and scored better on every set with longer texts
# (package descriptions +1.6 points, untitled documents +0.6, statutes +0.1). Its title is left
# to the words: a vector of the content alone is made once per content, whatever it is called.
MEANING_CHARS = 400
# A sentence-embedding model's vectors all lean one way: multilingual-e5-small's, of the heads
# of 5,000 documents, average to a vector of length 0.94, and each differs from that mean by
# 0.34. Read as they are, that shared part is a large constant feature, which tells no class
# from another and made each SVM fit two to three times slower. So the training vectors' mean is
# taken off every vector, and the difference brought back to unit length, so that the block's
# weight (MEANING_WEIGHTS) means what it says beside the character block's.
MEANING_CENTRED = True


@dataclass(frozen=True)
class Weighting:
    """How features are weighed and how hard the SVM may fit them.

    ``idf``: TF-IDF, or term frequency alone. Inverse document frequency says a rare feature
    says more, which holds where classes are topics (news, disciplines: rare terms name them)
    and fails where they are forms (contracts, minutes, reports: the signal is in common words
    like 甲方, 会议, 本月, and idf drowns it in rare names and numbers). Cross-validation over
    several sets found neither right everywhere, so each training run tries both on held-out
    folds and keeps the better. ``c``: the SVM's C for that weighting (without idf the features
    of a document are spread over common words, and it wants a looser fit)."""

    idf: bool
    c: float
    meaning: float = 0.0  # the weight of the meaning block (unit length) beside the characters'


def model_input(text: str, title: str) -> tuple[str, str]:
    return (title or "", (text or "")[:MODEL_HEAD_CHARS])


def meaning_version(embedder: Embedder) -> str:
    """What made a meaning vector: the embedding model and how much of the head it read.
    Vectors and models of another meaning version are not mixed with the running one's."""
    return f"{embedder.version} head{MEANING_CHARS}"


def meaning_input(text: str) -> str:
    """What the embedding model reads of a document: the head of its text, white space folded
    ("" when there is no text: nothing to mean, a zero vector)."""
    return " ".join((text or "")[: MEANING_CHARS * 2].split())[:MEANING_CHARS]


def meanings(texts: Sequence[str], embedder: Embedder, *, workers: int = 1) -> Any:
    """The meaning vectors of the texts' heads (:func:`meaning_input`), one row per text: each
    distinct head read once (versions of a long document mostly begin alike), a zero vector
    where there is no text. With ``workers`` above 1 the heads are read in as many parts at
    once, for an engine that can read them side by side (the e5 engine has two models for
    passages)."""
    heads = [meaning_input(t) for t in texts]
    distinct = sorted({h for h in heads if h})
    out = np.zeros((len(texts), embedder.dim), dtype=np.float32)
    if distinct:
        parts = [distinct[i::workers] for i in range(min(workers, len(distinct)))]
        if len(parts) == 1:
            made = [embedder.passages(distinct)]
        else:
            with ThreadPoolExecutor(max_workers=len(parts)) as pool:
                made = list(pool.map(embedder.passages, parts))
        vectors = {h: v for part, vs in zip(parts, made) for h, v in zip(part, vs)}
        for i, head in enumerate(heads):
            if head:
                out[i] = vectors[head]
    return out


_SPACE_RE = re.compile(r"\s+")
# A character n-gram is one integer: each code point + 1 in 21 bits (Unicode ends below 2**21),
# the first character highest, so 1-, 2- and 3-grams never share a number and the analysis
# runs in numpy. Counting n-gram strings in Python dictionaries took most of a training run.
_CHAR_BITS = 21
_CHAR_MASK = (1 << _CHAR_BITS) - 1
_START, _END = "\x02", "\x03"  # control characters, which text hardly ever contains


def _char_grams(doc: tuple[str, str]) -> tuple[Any, Any]:
    """The character n-grams of the title and the text (normalised, a run of white space as
    one space): their numbers, sorted and distinct, and their counts. The text is framed by
    two marks, so the n-grams that start or end it are features of their own: how a short
    text begins and ends (…府, …县, a question mark) tells its kind (+0.5 to +1.5 points on
    the short sets of bench/eval_classify.py)."""
    s = _START + _SPACE_RE.sub(" ", textmod.normalize(f"{doc[0]}\n{doc[1]}")).strip() + _END
    codes = np.frombuffer(s.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64) + 1
    lo, hi = CHAR_NGRAMS
    grams = []
    for n in range(lo, hi + 1):
        if len(codes) >= n:
            g = codes[: len(codes) - n + 1].copy()
            for i in range(1, n):
                g = (g << np.uint64(_CHAR_BITS)) | codes[i : len(codes) - n + 1 + i]
            grams.append(g)
    return np.unique(np.concatenate(grams) if grams else codes, return_counts=True)


def _gram_text(gram: int) -> str:
    chars = []
    while gram:
        chars.append(chr((gram & _CHAR_MASK) - 1))
        gram >>= _CHAR_BITS
    return "".join(reversed(chars))


def _word_features(doc: tuple[str, str]) -> list[str]:
    """The analyzer's words of the title and the text, and the title's words again marked
    ``t:`` (a word in the title says more than the same word in the body)."""
    title, body = doc
    title_words = textmod.words(title)
    return [f"t:{w}" for w in title_words] + title_words + textmod.words(body)


def _top(df: Any, max_features: int) -> Any:
    """The features in most documents, in their original order: a feature seen once says
    little about a class."""
    if len(df) <= max_features:
        return np.arange(len(df))
    return np.sort(np.argsort(-df, kind="stable")[:max_features])


def _tf_rows(lengths: Sequence[int], cols: Any, tf: Any, n_features: int) -> Any:
    """CSR rows of sublinear term frequencies (1 + log tf) from each document's (column,
    count) pairs; column -1 is a feature outside the vocabulary."""
    import scipy.sparse

    row = np.repeat(np.arange(len(lengths)), lengths)
    known = cols >= 0
    row, cols = row[known], cols[known]
    data = 1 + np.log(tf[known].astype(np.float32))
    indptr = np.concatenate([[0], np.cumsum(np.bincount(row, minlength=len(lengths)))])
    x = scipy.sparse.csr_matrix((data, cols, indptr), shape=(len(lengths), n_features))
    x.sort_indices()
    return x


def _idf(df: Any, n_docs: int) -> Any:
    """scikit-learn's smoothed idf."""
    return (np.log((1 + n_docs) / (1 + df.astype(np.float64))) + 1).astype(np.float32)


@dataclass(frozen=True)
class CharBlock:
    grams: Any  # sorted gram numbers (uint64); a gram's column is its position
    idf: Any  # float32 per column

    @classmethod
    def fit(cls, analysed: Sequence[tuple[Any, Any]], max_features: int) -> tuple[CharBlock, Any]:
        """The block and the documents' term-frequency rows."""
        all_ids = np.concatenate([ids for ids, _ in analysed])
        grams, df = np.unique(all_ids, return_counts=True)
        kept = _top(df, max_features)
        block = cls(grams[kept], _idf(df[kept], len(analysed)))
        return block, block.rows(analysed, all_ids)

    def rows(self, analysed: Sequence[tuple[Any, Any]], all_ids: Any = None) -> Any:
        if all_ids is None:
            all_ids = np.concatenate([ids for ids, _ in analysed])
        cols = np.searchsorted(self.grams, all_ids)
        cols[cols == len(self.grams)] = 0
        cols = np.where(self.grams[cols] == all_ids, cols, -1)
        tf = np.concatenate([t for _, t in analysed])
        return _tf_rows([len(ids) for ids, _ in analysed], cols, tf, len(self.grams))


@dataclass(frozen=True)
class WordBlock:
    vocabulary: dict[str, int]  # word → column
    idf: Any

    @classmethod
    def fit(cls, counts: Sequence[Counter[str]], max_features: int) -> tuple[WordBlock, Any]:
        """The block and the documents' term-frequency rows."""
        ids: defaultdict[str, int] = defaultdict(count().__next__)  # a new word: the next number
        cols: list[int] = []
        for c in counts:
            cols.extend(map(ids.__getitem__, c))
        all_cols = np.array(cols, dtype=np.int64)
        df = np.bincount(all_cols, minlength=len(ids))
        kept = _top(df, max_features)
        column = np.full(len(ids), -1, dtype=np.int64)
        column[kept] = np.arange(len(kept))
        vocabulary = {w: int(column[i]) for w, i in ids.items() if column[i] >= 0}
        tf = np.array([n for c in counts for n in c.values()], dtype=np.int64)
        return (
            cls(vocabulary, _idf(df[kept], len(counts))),
            _tf_rows([len(c) for c in counts], column[all_cols], tf, len(kept)),
        )

    def rows(self, counts: Sequence[Counter[str]]) -> Any:
        get = self.vocabulary.get
        cols: list[int] = []
        for c in counts:
            cols.extend(map(get, c, repeat(-1)))  # -1: not in the vocabulary
        tf = np.array([n for c in counts for n in c.values()], dtype=np.int64)
        return _tf_rows([len(c) for c in counts], np.array(cols, dtype=np.int64), tf, len(self.vocabulary))


# Documents as term-frequency rows of both blocks, and their meaning vectors (None without an
# embedding model), before a Weighting applies.
Counts = tuple[Any, Any, Any]


def _meaning_rows(vectors: Any, dim: int, centre: Any) -> Any:
    """The vectors as sparse rows, less ``centre`` and at unit length (see
    :data:`MEANING_CENTRED`); a zero vector (no text) stays zero: it means nothing in
    particular."""
    import scipy.sparse

    v: Any = np.asarray(vectors, dtype=np.float32).reshape(-1, dim)
    if centre is not None:
        present = np.any(v != 0, axis=1)
        v = np.where(present[:, None], v - centre, np.float32(0))
        norms = np.linalg.norm(v, axis=1, keepdims=True)
        v = (v / np.where(norms > 0, norms, 1)).astype(np.float32)
    return scipy.sparse.csr_matrix(v)


def _centre(vectors: Any) -> Any:
    """The mean of the vectors of documents that have one (None when centring is off or none
    has)."""
    v = np.asarray(vectors, dtype=np.float32)
    present = v[np.any(v != 0, axis=1)]
    return present.mean(axis=0).astype(np.float32) if MEANING_CENTRED and len(present) else None


@dataclass(frozen=True, eq=False)  # eq=False: hashed by identity, for _WORDS
class Features:
    """Character n-grams beside words: sublinear term frequencies, weighed (with or without
    idf, see :class:`Weighting`) and each block brought to unit length, the words' block then
    times ``word_weight``; one sparse row per document, characters first. With idf, as
    scikit-learn's TfidfVectorizer(sublinear_tf=True) computes it; written out because its
    vocabulary building counts strings in Python token by token, which took most of a training
    run, and its checks on every call most of a suggestion's time."""

    chars: CharBlock
    words: WordBlock
    word_weight: float
    meaning_dim: int = 0  # the meaning vectors' length; 0: trained without an embedding model
    meaning_centre: Any = None  # float32, the training vectors' mean, taken off each vector

    @classmethod
    def fit(cls, docs: Sequence[tuple[str, str]], vectors: Any = None) -> tuple[Features, Counts]:
        """The fitted features and the documents' counts (each document analysed once);
        ``vectors``, one unit vector per document, when an embedding model read them."""
        chars, x_chars = CharBlock.fit([_char_grams(d) for d in docs], MAX_CHAR_FEATURES)
        words, x_words = WordBlock.fit([Counter(_word_features(d)) for d in docs], MAX_WORD_FEATURES)
        dim = int(np.shape(vectors)[1]) if vectors is not None else 0
        centre = _centre(vectors) if dim else None
        meaning = _meaning_rows(vectors, dim, centre) if dim else None
        return cls(chars, words, WORD_WEIGHT, dim, centre), (x_chars, x_words, meaning)

    def counts(self, docs: Sequence[tuple[str, str]], vectors: Any = None) -> Counts:
        """The documents' counts; a model trained with meaning vectors reads a document given
        without one as meaning nothing in particular (a zero vector)."""
        meaning = None
        if self.meaning_dim:
            if vectors is None:
                vectors = np.zeros((len(docs), self.meaning_dim), dtype=np.float32)
            meaning = _meaning_rows(vectors, self.meaning_dim, self.meaning_centre)
        return (
            self.chars.rows([_char_grams(d) for d in docs]),
            self.words.rows([Counter(_word_features(d)) for d in docs]),
            meaning,
        )

    def weigh(self, counts: Counts, weighting: Weighting) -> Any:
        import scipy.sparse

        blocks = []
        kinds: tuple[CharBlock | WordBlock, ...] = (self.chars, self.words)
        for x, block, weight in zip(counts[:2], kinds, (1.0, self.word_weight)):
            if weighting.idf:
                x = x @ scipy.sparse.diags(block.idf)
            norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
            norms[norms == 0] = 1
            blocks.append(scipy.sparse.diags((weight / norms).astype(np.float32)) @ x)
        if counts[2] is not None:  # unit vectors already; a weight of 0 leaves the columns empty
            meaning = counts[2] * np.float32(weighting.meaning)
            meaning.eliminate_zeros()
            blocks.append(meaning)
        return scipy.sparse.hstack(blocks, format="csr")

    @property
    def n_chars(self) -> int:
        return len(self.chars.grams)

    @property
    def n_words(self) -> int:
        return len(self.words.vocabulary)

    def name(self, column: int) -> str:
        """A feature's name (for explanations): a character n-gram or a word; a dimension of
        meaning has none."""
        if column < self.n_chars:
            return _gram_text(int(self.chars.grams[column]))
        if column >= self.n_chars + self.n_words:
            return ""
        words = _WORDS.get(self)
        if words is None:  # built once per model
            words = [""] * len(self.words.vocabulary)
            for term, j in self.words.vocabulary.items():
                words[j] = term
            _WORDS[self] = words
        return words[column - self.n_chars]


_WORDS: weakref.WeakKeyDictionary[Features, list[str]] = weakref.WeakKeyDictionary()
