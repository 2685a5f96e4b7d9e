"""The Chinese-first text analyzer: one definition of "a word" for indexing, querying and the
classifier.

Pipeline for a piece of text:

1. Fold every character with NFKC and lowercase (full-width ``ＳＬＡ`` → ``sla``, ``，`` → ``,``),
   keeping a map back to the original character offsets so highlights land on the stored text.
2. Split the folded text into runs: CJK runs go to jieba, Latin/digit runs are identifiers or
   words, everything else (punctuation, whitespace) separates tokens and is dropped.
3. CJK runs are cut by jieba (precise mode, no HMM: HMM guesses new words differently depending
   on the surrounding text, so a query and a document could disagree) with the domain
   dictionary in ``docsvc/data/domain_dict.txt``. Like jieba's search mode, every dictionary
   word inside a longer word is emitted too (``服务等级协议`` → 服务, 等级, 协议, 服务等级协议);
   unlike it, sub-words of every length are emitted, not just 2 and 3 characters, so 信息服务
   is found inside 信息服务管理. Single-character words are kept: 后, 云, 表 are real words.
   CJK runs parted only by spaces or tabs (合 同 编 号, 甲　　方) are also cut as one text, and
   the words of that cut which cross a space are emitted as parts (:func:`_spanning_words`;
   the bigram field likewise, :func:`_spanning_bigrams`).
4. Identifiers are kept whole and in parts: ``SLA-2026-001`` → sla-2026-001, sla, 2026, 001;
   ``v2.3.1`` → v2.3.1, 2.3.1, v2, 3, 1; ``zhang.san@example.com`` → the address, zhang.san,
   example.com and each segment.

Positions are *compact character offsets*: a token's offset in the folded text with the
separators (whitespace, punctuation, and inside identifiers - _ . / and the like) left out. A phrase then matches where each of its words sits
at its own offset from the first, whichever way jieba cut the document around it: 协议修订 is
found inside 服务等级协议修订 (协议 is emitted as a part of 服务等级协议, at offset 4; 修订 at 6),
and 服务 等级 协议 spaced out by a PDF extractor is still the phrase 服务等级协议. (jieba's stock
ChineseAnalyzer puts raw character offsets in the position slot and Whoosh's phrase query then
expects consecutive numbers, which is what breaks phrase search there.) Every token carries
``sub``: True for a part of a longer token. The query builder searches the main words and ignores
the parts, which exist so that a part typed on its own still matches.

A second analyzer, :func:`analyze_unknown`, emits overlapping character bigrams only where jieba
found no dictionary word — a stretch of two or more single-character words, widened by one
character on each side — for the ``content_bigram`` field: an unknown name (云栖数服) is found
even where jieba glued its last character to the next word. Bigrams of known words are left out:
the words field already has them, and they would triple the index's terms.

This module is pure: no Whoosh here (core imports no adapters). The Whoosh tokenizer in
``docsvc.adapters.whoosh.schema`` wraps :func:`analyze` and :func:`analyze_unknown`; ``docsvc.adapters.pg_search`` writes their tokens as tsvectors.
"""

from __future__ import annotations

import hashlib
import re
import threading
import unicodedata
from bisect import bisect_right
from collections.abc import Iterable, Iterator
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    import rjieba

_DICT_RESOURCE = "domain_dict.txt"


def _dictionary_text() -> str:
    return resources.files("docsvc.data").joinpath(_DICT_RESOURCE).read_text(encoding="utf-8")


# Bump the number when the tokenization rules change; the dictionary's hash is appended so that
# editing the dictionary alone also marks existing indexes as needing a rebuild.
ANALYZER_VERSION = "zh-3+" + hashlib.sha256(_dictionary_text().encode("utf-8")).hexdigest()[:10]


class Token(NamedTuple):
    """One analysed token. A NamedTuple, not a dataclass: a document yields thousands of them
    and tuple construction is several times cheaper than a frozen dataclass ``__init__``."""

    text: str
    pos: int  # compact offset: characters before it in the folded text, separators not counted
    start: int  # offsets into the ORIGINAL (unnormalised) text
    end: int
    sub: bool  # a part of a longer token emitted just before or after it, or a word across spaces


# --- normalisation -------------------------------------------------------------------------


class _FoldTable(dict[int, str]):
    """Code point → its fold (NFKC, then lowercase), filled in on first sight: ``str.translate``
    looks each character up at C speed (a cached function call per character was a tenth of
    analysing a document). One entry per code point ever seen, so it stays small."""

    def __missing__(self, code: int) -> str:
        folded = self[code] = unicodedata.normalize("NFKC", chr(code)).lower()
        return folded


_FOLDS = _FoldTable()


def _fold_with_map(text: str) -> tuple[str, list[int] | None]:
    """Fold ``text`` character by character and return ``(folded, origin)``.

    ``origin[i]`` is the index in ``text`` of the character that produced ``folded[i]``, with a
    sentinel ``len(text)`` at the end; ``None`` means the mapping is the identity (the usual
    case, e.g. ``，`` → ``,``). Folding per character rather than the whole string loses NFKC's
    composition of combining sequences, which Chinese text does not use, and makes every
    offset mappable.
    """
    folded = text.translate(_FOLDS)
    if len(folded) == len(text):  # no character folds to nothing, so each folded to one
        return folded, None
    origin: list[int] = []
    for i, c in enumerate(text):
        origin.extend([i] * len(_FOLDS[ord(c)]))
    origin.append(len(text))
    return folded, origin


def normalize(text: str) -> str:
    """NFKC (full-width → half-width) and lowercase, character by character."""
    return text.translate(_FOLDS)


# --- jieba, loaded once per process ---------------------------------------------------------

_jieba: rjieba.Jieba | None = None
_jieba_lock = threading.Lock()


def load() -> rjieba.Jieba:
    """Load the segmenter and the domain dictionary, once per process, thread-safe.

    jieba-rs (through rjieba) rather than the pure-Python jieba: it ships jieba's dictionary
    and cuts identically in precise mode (tests/test_text.py compares the two on generated and
    real text), ten times faster, which is a third of indexing a document. A private instance
    keeps the domain words out of other users of the module-level one.
    """
    global _jieba
    tk = _jieba
    if tk is not None:
        return tk
    with _jieba_lock:
        if _jieba is None:
            import rjieba

            tk = rjieba.Jieba()
            for word, freq in domain_words():
                tk.add_word(word, freq, None)
            _jieba = tk
        return _jieba


def domain_words() -> list[tuple[str, int | None]]:
    """The domain dictionary's (normalised word, frequency or None) pairs."""
    out = []
    for line in _dictionary_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, *rest = line.split()
        out.append((normalize(word), int(rest[0]) if rest else None))
    return out


# --- tokenization ---------------------------------------------------------------------------

# CJK unified ideographs (basic, extension A, compatibility, extensions B+) and 〇 (U+3007,
# used in dates like 二〇二六).
_CJK = "\u3007\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
_CJK_RUN = f"[{_CJK}]+"
# A word of letters/digits in any other script; identifiers join such words with
# - _ . / @ : + & as long as a separator sits between two alphanumerics.
_ALNUM = f"[^\\W_{_CJK}]"
_WORD_RUN = f"{_ALNUM}+(?:[-_./@:+&]{_ALNUM}+)*"
_RUN_RE = re.compile(f"(?P<cjk>{_CJK_RUN})|(?P<word>{_WORD_RUN})")
_SEGMENT_RE = re.compile(f"{_ALNUM}+")
# Separators that split an identifier into meaningful pieces before the dots are split:
# 28827.1-2012 → 28827.1; zhang.san@example.com → zhang.san, example.com.
_MAJOR_SEP_RE = re.compile(r"[-_/@:+&]")
_VERSION_RE = re.compile(r"v\d+(?:\.\d+)+")
_CJK_CHAR_RE = re.compile(f"[{_CJK}]")
_CJK_RUN_RE = re.compile(_CJK_RUN)
# Horizontal space between two CJK runs, after folding (U+3000 and U+00A0 fold to a space).
_HSPACE_RE = re.compile(r"[ \t]+")
_SPACED_CJK_RE = re.compile(f"[{_CJK}][ \t]+[{_CJK}]")
# CJK runs with the spaces or tabs between them: one run for ranking's grams.
_CJK_STRETCH_RE = re.compile(f"{_CJK_RUN}(?:[ \t]+{_CJK_RUN})*")
# Two or more CJK characters standing alone, parted by spaces: 合 同 编 号, 甲　方 once folded.
_LETTER_SPACED_RE = re.compile(f"(?<![{_CJK}])[{_CJK}](?:[ \t]+[{_CJK}](?![{_CJK}]))+")


def has_cjk(text: str) -> bool:
    return _CJK_CHAR_RE.search(text) is not None


def unspace_letters(text: str) -> str:
    """``text`` with letter-spaced Chinese closed up (合 同 编 号 → 合同编号): CJK characters
    that each stand alone between spaces spell one word, as a heading pasted into the search
    box does. Words of two or more characters keep their spaces (机房 搬迁)."""
    return _LETTER_SPACED_RE.sub(lambda m: _HSPACE_RE.sub("", m.group()), text)


def _identifier_parts(ident: str) -> list[tuple[str, int]]:
    """The parts of an identifier as (text, offset within it), in text order, deduplicated."""
    parts: list[tuple[str, int]] = []
    seen = {ident}

    def add(s: str, off: int) -> None:
        if s not in seen:
            seen.add(s)
            parts.append((s, off))

    pos = 0
    for piece in _MAJOR_SEP_RE.split(ident):
        if "." in piece:
            add(piece, pos)
            if _VERSION_RE.fullmatch(piece):
                add(piece[1:], pos + 1)
        pos += len(piece) + 1
    for m in _SEGMENT_RE.finditer(ident):
        add(m.group(), m.start())
    return parts


@lru_cache(maxsize=16384)
def _cjk_words(run: str) -> tuple[tuple[str, int, bool], ...]:
    """(word, offset in run, sub) for a CJK run: each dictionary word inside a longer word,
    shortest first, then the word itself.

    Cached: runs are the stretches between punctuation, and business documents repeat them
    (boilerplate clauses, and every new version of a document repeats most of the previous one).
    16,384 runs hold the boilerplate of a good many document kinds in ~17 MB per process
    (every writer process has its own).
    """
    tk = load()
    has_word = tk.has_word
    out: list[tuple[str, int, bool]] = []
    x = 0
    for word in tk.cut(run, False):  # precise mode without HMM (see the module docstring)
        n = len(word)
        if n > 2:
            for size in range(2, n):
                for i in range(n - size + 1):
                    gram = word[i : i + size]
                    if has_word(gram):
                        out.append((gram, x + i, True))
        out.append((word, x, False))
        x += n
    return tuple(out)


def _runs(folded: str) -> Iterator[tuple[re.Match[str], int]]:
    """Each run of ``folded`` with the number of separator characters before it, those inside
    earlier identifiers included (a run's compact offset is its start minus that)."""
    gap = last = 0
    for m in _RUN_RE.finditer(folded):
        gap += m.start() - last
        last = m.end()
        yield m, gap
        if m.lastgroup == "word":
            gap += _separators(m.group(), len(m.group()))


def analyze(text: str) -> Iterator[Token]:
    """The content analyzer (see the module docstring)."""
    return map(Token._make, token_tuples(text))


def token_tuples(text: str) -> Iterator[tuple[str, int, int, int, bool]]:
    """:func:`analyze`'s tokens as plain tuples, for the indexer: building a NamedTuple per
    token cost a twentieth of indexing a document."""
    load()
    folded, origin = _fold_with_map(text)
    spanning = _spanning_words(folded) if _SPACED_CJK_RE.search(folded) else {}
    for r, (m, gap) in enumerate(_runs(folded)):
        base = m.start()
        items: Iterable[tuple[str, int, bool]]
        if m.lastgroup == "cjk":
            items = _cjk_words(m.group())
        else:
            ident = m.group()
            items = [(ident, 0, False)]
            if not ident.isalnum():
                items = [*items, *((part, off, True) for part, off in _identifier_parts(ident))]
        for word, off, sub in items:
            s = base + off
            e = s + len(word)
            pos = s - gap
            if sub and m.lastgroup == "word":
                pos -= _separators(m.group(), off)
            if origin is not None:
                s, e = origin[s], origin[e - 1] + 1
            yield word, pos, s, e, sub
        # After the run a spanning word starts in: the same word inside a later run comes later,
        # so each word's positions stay in order.
        for word, pos, s, e in spanning.get(r, ()):
            if origin is not None:
                s, e = origin[s], origin[e - 1] + 1
            yield word, pos, s, e, True


Spans = dict[int, list[tuple[str, int, int, int]]]  # run index → (text, compact offset, start, end)


def _spanning_words(folded: str) -> Spans:
    """The words jieba finds across the spaces of letter-spaced Chinese (服务 等级 协议, 甲　方,
    a DOCX heading spaced out by hand, an OCR line), by the run each starts in: (word, compact
    offset, folded start, folded end). Chinese puts no space between words, so CJK runs parted
    by spaces or tabs alone are cut again as one; a word of that cut that crosses a space is
    emitted beside the runs' own words (as a part, so a query's analysis ignores it), and
    服务等级协议 finds the spaced-out text. The runs' own cuts stay as they are: a space the
    author meant (上海 市场部) still separates their words."""
    out: Spans = {}
    for group in _spaced_groups(folded):
        for word, off, _sub in _cjk_words(group.text):
            group.add_if_crossing(out, word, off)
    return out


def _spanning_bigrams(folded: str) -> Spans:
    """:func:`bigram_tuples`' bigrams across the spaces of letter-spaced Chinese, as
    :func:`_spanning_words` finds words: over the single-character stretches of the runs cut as
    one, so a name jieba does not know (云 栖 数 服) is found as 云栖数服 is."""
    out: Spans = {}
    for group in _spaced_groups(folded):
        joined = group.text
        for lo, hi in _single_stretches(joined):
            for i in range(max(lo - 1, 0), min(hi + 1, len(joined)) - 1):
                group.add_if_crossing(out, joined[i : i + 2], i)
    return out


class _SpacedGroup:
    """CJK runs parted by spaces or tabs alone, the first being run number ``first``, and
    their text joined."""

    def __init__(self, runs: list[tuple[re.Match[str], int]], first: int) -> None:
        self.runs, self.first = runs, first
        self.starts: list[int] = []  # each run's start in the joined text
        at = 0
        for m, _ in runs:
            self.starts.append(at)
            at += len(m.group())
        self.text = "".join(m.group() for m, _ in runs)
        self.compact = runs[0][0].start() - runs[0][1]

    def add_if_crossing(self, out: Spans, piece: str, off: int) -> None:
        """Add ``piece``, at ``off`` in the joined text, under the run it starts in when it
        ends in another."""
        a = bisect_right(self.starts, off) - 1
        b = bisect_right(self.starts, off + len(piece) - 1) - 1
        if a != b:
            s = self.runs[a][0].start() + off - self.starts[a]
            e = self.runs[b][0].start() + off + len(piece) - self.starts[b]
            out.setdefault(self.first + a, []).append((piece, self.compact + off, s, e))


def _spaced_groups(folded: str) -> Iterator[_SpacedGroup]:
    """Each stretch of two or more CJK runs of ``folded`` parted by spaces or tabs alone, run by
    run (a document of millions of characters holds hundreds of thousands of runs)."""
    group: list[tuple[re.Match[str], int]] = []
    first = 0
    for r, (m, gap) in enumerate(_runs(folded)):
        last = group[-1][0] if group else None
        if (
            last is not None
            and last.lastgroup == "cjk"
            and m.lastgroup == "cjk"
            and _HSPACE_RE.fullmatch(folded, last.end(), m.start())
        ):
            group.append((m, gap))
            continue
        if len(group) > 1:
            yield _SpacedGroup(group, first)
        group, first = [(m, gap)], r
    if len(group) > 1:
        yield _SpacedGroup(group, first)


def _separators(ident: str, end: int) -> int:
    """Separator characters in ``ident[:end]``: a part of ``service-level`` is positioned as if
    the hyphen were a space, so the phrase "service level" matches it."""
    return sum(1 for c in ident[:end] if not c.isalnum())


def analyze_unknown(text: str) -> Iterator[Token]:
    """The bigram analyzer for words jieba does not know (see the module docstring):
    overlapping bigrams over each stretch of two or more single-character words in a CJK run,
    widened by one character on each side, positioned like :func:`analyze`."""
    return map(Token._make, bigram_tuples(text))


def bigram_tuples(text: str) -> Iterator[tuple[str, int, int, int, bool]]:
    """:func:`analyze_unknown`'s tokens as plain tuples (see :func:`token_tuples`)."""
    load()
    folded, origin = _fold_with_map(text)
    spanning = _spanning_bigrams(folded) if _SPACED_CJK_RE.search(folded) else {}
    for r, (m, gap) in enumerate(_runs(folded)):
        if m.lastgroup != "cjk":
            continue
        run, base = m.group(), m.start()
        done = 0  # bigrams before this offset in the run are out already
        for lo, hi in _single_stretches(run):
            for i in range(max(lo - 1, done), min(hi + 1, len(run)) - 1):
                s, e = base + i, base + i + 2
                pos = s - gap
                if origin is not None:
                    s, e = origin[s], origin[e - 1] + 1
                yield run[i : i + 2], pos, s, e, False
                done = i + 1
        for gram, pos, s, e in spanning.get(r, ()):  # after the run, as token_tuples does
            if origin is not None:
                s, e = origin[s], origin[e - 1] + 1
            yield gram, pos, s, e, False


def _single_stretches(run: str) -> list[tuple[int, int]]:
    """[start, end) of each stretch of two or more consecutive single-character words in a CJK
    run: :func:`single_stretches` on the run's main words, written for the indexing hot path
    (no per-word CJK test: every word of a CJK run is CJK)."""
    out: list[tuple[int, int]] = []
    lo = end = -1
    for word, off, sub in _cjk_words(run):
        if sub or len(word) != 1:
            continue
        if off != end:
            if end - lo >= 2:
                out.append((lo, end))
            lo = off
        end = off + 1
    if end - lo >= 2:
        out.append((lo, end))
    return out


def single_stretches(words: list[Token]) -> list[tuple[int, int]]:
    """Index ranges [i, j) of ``words`` (main tokens of :func:`analyze`) that form stretches
    of two or more adjacent single CJK characters: what jieba does not know."""
    out: list[tuple[int, int]] = []
    i = 0
    while i < len(words):
        j = i
        while (
            j + 1 < len(words)
            and len(words[j].text) == 1
            and len(words[j + 1].text) == 1
            and has_cjk(words[j].text)
            and has_cjk(words[j + 1].text)
            and words[j].end == words[j + 1].start
        ):
            j += 1
        if j > i:
            out.append((i, j + 1))
        i = j + 1
    return out


def char_spans(text: str, found: Iterable[tuple[int, str]]) -> list[tuple[int, int]]:
    """The [start, end) offsets in ``text`` of tokens known by compact offset and word, as an
    index stores them (:func:`token_tuples`' ``pos`` and ``text``): highlights from stored
    positions, without cutting the text with jieba again. Only the separators are located."""
    found = sorted(found)
    if not found:
        return []
    folded, origin = _fold_with_map(text)
    # (compact start, folded start, length) of each stretch of counted characters, in order.
    starts: list[int] = []
    pieces: list[tuple[int, int]] = []
    for m, gap in _runs(folded):
        if m.lastgroup == "cjk":
            starts.append(m.start() - gap)
            pieces.append((m.start(), m.end() - m.start()))
            continue
        ident = m.group()
        for seg in _SEGMENT_RE.finditer(ident):
            starts.append(m.start() - gap + seg.start() - _separators(ident, seg.start()))
            pieces.append((m.start() + seg.start(), seg.end() - seg.start()))

    def folded_at(pos: int) -> int | None:
        i = bisect_right(starts, pos) - 1
        if i < 0 or pos - starts[i] >= pieces[i][1]:
            return None
        return pieces[i][0] + pos - starts[i]

    out: list[tuple[int, int]] = []
    for pos, word in found:
        length = sum(1 for c in word if c.isalnum())
        first, last = folded_at(pos), folded_at(pos + max(length, 1) - 1)
        if first is None or last is None:
            continue
        if origin is not None:
            first, last = origin[first], origin[last]
        out.append((first, last + 1))
    return out


def words(text: str) -> list[str]:
    """The content analyzer's words: jieba search-mode words plus identifiers and their parts,
    NFKC + lowercase, single characters kept, punctuation and whitespace dropped."""
    return [t[0] for t in token_tuples(text)]


def identifier_segments(word: str) -> list[Token]:
    """The letter-and-digit segments of an identifier, with their compact offsets (empty for a
    plain word): ``2026-0412`` typed alone is found inside ``SLA-2026-0412`` as its segments
    at their distances, the way the document indexed them."""
    if word.isalnum() or has_cjk(word):
        return []
    return sorted((t for t in analyze(word) if t.sub and t.text.isalnum()), key=lambda t: t.pos)


def cjk_runs(text: str) -> list[str]:
    """The runs of CJK characters in ``text``, normalised, those parted by spaces or tabs alone
    as one (合 同 编 号 → 合同编号: letter-spaced Chinese reads as the analyzer reads it)."""
    return [_HSPACE_RE.sub("", run) for run in _CJK_STRETCH_RE.findall(normalize(text))]


def cjk_bigrams(text: str) -> list[str]:
    """Overlapping bigrams of the CJK runs in ``text``, normalised (a one-character run gives
    itself): the classifier's character features, and the bigram field's query terms."""
    out: list[str] = []
    for m in _CJK_RUN_RE.finditer(normalize(text)):
        run = m.group()
        out.extend([run] if len(run) == 1 else [run[i : i + 2] for i in range(len(run) - 1)])
    return out


__all__ = [
    "ANALYZER_VERSION",
    "Token",
    "analyze",
    "analyze_unknown",
    "bigram_tuples",
    "char_spans",
    "cjk_bigrams",
    "cjk_runs",
    "has_cjk",
    "identifier_segments",
    "load",
    "normalize",
    "unspace_letters",
    "single_stretches",
    "token_tuples",
    "words",
]
