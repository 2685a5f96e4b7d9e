"""A generated corpus for the search benchmark.

Words are drawn from jieba's own dictionary (``jieba/dict.txt``, ~350,000 words with corpus
frequencies), weighted by frequency: the frequencies follow Zipf's law, so the generated text
has the long tail of rare words and the handful of very common ones that real Chinese text has.
A small fixed vocabulary would make every posting list long and every query slow in the wrong
way. Documents get punctuation, a few identifiers and realistic metadata.
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import jieba

from docsvc.core.model import BUILTIN_DOC_TYPES, DocClass, ServiceCategory
from docsvc.core.search import IndexEntry

_CJK_WORD = re.compile(r"^[\u4e00-\u9fff]+$")


@dataclass(frozen=True)
class Vocabulary:
    words: list[str]
    cum_weights: list[int]

    @classmethod
    def from_jieba(cls) -> Vocabulary:
        path = Path(jieba.__file__).parent / "dict.txt"
        words, cum, total = [], [], 0
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                parts = line.split()
                if len(parts) < 2 or not _CJK_WORD.match(parts[0]):
                    continue
                total += int(parts[1])
                words.append(parts[0])
                cum.append(total)
        return cls(words, cum)

    def sample(self, rng: random.Random, k: int) -> list[str]:
        return rng.choices(self.words, cum_weights=self.cum_weights, k=k)

    def band(self, rng: random.Random, lo: float, hi: float, k: int) -> list[str]:
        """``k`` words whose frequency rank lies between quantiles ``lo`` and ``hi`` of the
        probability mass (0 = most common): for picking query words of a given rarity."""
        total = self.cum_weights[-1]
        by_freq = sorted(
            range(len(self.words)), key=lambda i: -(self.cum_weights[i] - (self.cum_weights[i - 1] if i else 0))
        )
        mass, chosen = 0, []
        for i in by_freq:
            w = self.cum_weights[i] - (self.cum_weights[i - 1] if i else 0)
            mass += w
            if lo * total <= mass <= hi * total and len(self.words[i]) >= 2:
                chosen.append(self.words[i])
        return rng.sample(chosen, min(k, len(chosen)))


def paragraph(vocab: Vocabulary, rng: random.Random, chars: int) -> str:
    """About ``chars`` characters of word salad with Chinese punctuation every few words."""
    out: list[str] = []
    size = 0
    while size < chars:
        words = vocab.sample(rng, rng.randint(4, 12))
        clause = "".join(words)
        out.append(clause + ("。" if rng.random() < 0.3 else "，"))
        size += len(clause) + 1
        if rng.random() < 0.03:
            ident = f"SLA-{rng.randint(2020, 2026)}-{rng.randint(1, 999):03d}"
            out.append(ident + "，")
            size += len(ident) + 1
    return "".join(out)[:chars]


_ROOT = Path(__file__).resolve().parent.parent


def business_sentences() -> list[str]:
    """Sentences of real business text: the relevance corpus and the specification."""
    sources = sorted((_ROOT / "tests" / "data" / "search").glob("*.md"))
    sources += sorted(Path("/work/shared/seed").glob("*.txt"))
    text = "".join(p.read_text(encoding="utf-8") for p in sources if p.exists())
    return [s for s in re.split(r"(?<=[。；！？\n])", text) if len(s.strip()) > 5]


def business_paragraph(sentences: list[str], rng: random.Random, chars: int) -> str:
    """About ``chars`` characters of resampled real sentences: the repetitive vocabulary of
    contracts and reports (optimistic, where the word salad of paragraph() is pessimistic:
    random neighbours make nearly every character bigram distinct, twice the real rate)."""
    out: list[str] = []
    size = 0
    while size < chars:
        s = rng.choice(sentences)
        out.append(s)
        size += len(s)
    return "".join(out)[:chars]


_CATEGORIES = [c.value for c in ServiceCategory]
_TYPES = [c.code for c in BUILTIN_DOC_TYPES]
_PROJECTS = [f"项目{i:02d}" for i in range(40)]
_PARTIES = [f"大连客户{i:02d}有限公司" for i in range(60)]


def entries(n: int, *, chars: int = 4000, seed: int = 1, vocab: Vocabulary | None = None) -> Iterator[IndexEntry]:
    vocab = vocab or Vocabulary.from_jieba()
    rng = random.Random(seed)
    start = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    for i in itertools.count(1):
        if i > n:
            return
        created = start + dt.timedelta(minutes=rng.randint(0, 6 * 365 * 24 * 60))
        yield IndexEntry(
            version_id=i,
            document_id=(i + 1) // 2,  # two versions per document
            number=2 - i % 2,
            is_latest=i % 2 == 0,
            sha256=f"{i:064x}",
            title="".join(vocab.sample(rng, rng.randint(3, 6))),
            original_filename=f"doc{i}.docx",
            content=paragraph(vocab, rng, chars),
            doc_type=rng.choice(_TYPES),
            service_category=rng.choice(_CATEGORIES),
            doc_class=rng.choice([c.value for c in DocClass]),
            project=rng.choice(_PROJECTS),
            counterparty=rng.choice(_PARTIES),
            tags=tuple(rng.sample(["续签", "运维", "巡检", "验收", "培训", "变更"], rng.randint(0, 2))),
            status=rng.choice(["draft", "effective", "superseded"]),
            year=created.year,
            created_at=created,
        )


# The kinds of query in queries()'s mix, in their turn: query i is of kind QUERY_KINDS[i % 6]
# ("common+2 words": a common word and two of middling rarity; "phrase": a common and a middling
# word quoted together).
QUERY_KINDS = ("word", "word+rare", "common+2 words", "phrase", "question", "rare+type")


def queries(vocab: Vocabulary, n: int, *, seed: int = 2) -> list[str]:
    """A mix like a search box sees: single words of varying rarity, two- and three-word
    queries, quoted phrases, plain-language questions and field filters (QUERY_KINDS)."""
    rng = random.Random(seed)
    common = vocab.band(rng, 0.05, 0.4, 200)
    middle = vocab.band(rng, 0.4, 0.8, 400)
    rare = vocab.band(rng, 0.8, 0.99, 400)
    out = []
    for i in range(n):
        kind = QUERY_KINDS[i % len(QUERY_KINDS)]
        if kind == "word":
            out.append(rng.choice(middle))
        elif kind == "word+rare":
            out.append(f"{rng.choice(middle)} {rng.choice(rare)}")
        elif kind == "common+2 words":
            out.append(f"{rng.choice(common)} {rng.choice(middle)} {rng.choice(middle)}")
        elif kind == "phrase":
            out.append(f'"{rng.choice(common)}{rng.choice(middle)}"')
        elif kind == "question":
            out.append(f"{rng.choice(middle)}{rng.choice(middle)}怎么{rng.choice(rare)}？")
        else:
            out.append(f"{rng.choice(rare)} type:{rng.choice(_TYPES)}")
    return out


def docx_bytes(text: str, title: str) -> bytes:
    """A real Word document (python-docx) with the text in paragraphs of ~200 characters."""
    import io

    import docx

    d = docx.Document()
    d.add_heading(title, level=1)
    for k in range(0, len(text), 200):
        d.add_paragraph(text[k : k + 200])
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


__all__ = [
    "QUERY_KINDS",
    "Vocabulary",
    "business_paragraph",
    "business_sentences",
    "docx_bytes",
    "entries",
    "paragraph",
    "queries",
]
