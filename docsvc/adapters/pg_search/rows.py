"""A version as rows of the search tables: docsvc's analysis written as tsvector literals.

PostgreSQL never analyses the text itself: each word is the lexeme the query side looks up,
at its compact offset plus one (see docsvc.core.text), so a phrase is a chain of distances.
"""

from __future__ import annotations

import datetime as dt
import functools
import multiprocessing
from collections import defaultdict
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from docsvc.core import ranking, text
from docsvc.core.search import IndexEntry
from docsvc.errors import Unavailable

MAX_POSITION = 16383  # PostgreSQL's largest tsvector position
MAX_POSITIONS_PER_WORD = 256  # and the most it keeps per word
PASSAGE = 4096  # compact characters a passage starts apart
OVERLAP = 512  # and reaches past the next start: a phrase up to this long lies whole in one
MAX_TSVECTOR_BYTES = 900_000  # PostgreSQL refuses a tsvector of 1 MB
PARALLEL_MIN = 200  # entries per writer process at least, and per transaction in each


@functools.lru_cache(maxsize=1 << 17)
def quote(word: str) -> str | None:
    """A lexeme as a tsvector/tsquery literal; None past PostgreSQL's 2,046 bytes for one.
    Cached: documents share most of their words."""
    if len(word.encode("utf-8")) > 2046:
        return None
    return "'" + word.replace("\\", "\\\\").replace("'", "''") + "'"


def tsvector(occurrences: Mapping[str, list[int]], *, positions: bool = True) -> str:
    """A tsvector literal: each word with its (1-based, clamped, at most 256) positions."""
    parts = []
    for word, poses in occurrences.items():
        quoted = quote(word)
        if quoted is None:
            continue
        if not positions:
            parts.append(quoted)
        elif len(poses) == 1:  # most words of a document
            parts.append(f"{quoted}:{min(poses[0] + 1, MAX_POSITION)}")
        else:
            kept = sorted({min(p + 1, MAX_POSITION) for p in poses})[:MAX_POSITIONS_PER_WORD]
            parts.append(quoted + ":" + ",".join(map(str, kept)))
    out = " ".join(parts)
    if positions and len(out) > MAX_TSVECTOR_BYTES:
        return tsvector(occurrences, positions=False)  # words still match; phrases use passages
    return out


def grams_tsvector(content: str) -> tuple[str, int]:
    """The grams of ``content`` (docsvc.core.ranking) as a tsvector literal whose one position
    per gram is its count (the column ranks; it is never searched for phrases), and their total."""
    counts = ranking.document_grams(content)
    # Grams are one or two CJK characters: nothing to quote, never too long, so no quote() per
    # gram, which was a quarter of analysing a document.
    cap = MAX_POSITION
    return " ".join([f"'{g}':{n if n < cap else cap}" for g, n in counts.items()]), sum(counts.values())


# A word said at least twice in a document is also kept as one lexeme naming its count's tier,
# the largest of these at most the count: '8|巡检' (column tier_tsv). See tiers_tsvector. Each
# word has one tier, so finer tiers cost the index nothing: only a search that must go down
# more of them to find its candidates.
TIERS = (64, 48, 32, 24, 16, 12, 8, 6, 4, 3, 2)


def tier_lexeme(tier: int, word: str) -> str | None:
    return quote(f"{tier}|{word}")


def tiers_tsvector(words: Mapping[str, list[int]]) -> str:
    """The tiers of the words ``words`` (word → positions) says more than once. GIN keeps no
    counts: with these, its index hands out the documents that say a word most (its highest
    tiers) without reading a row, which one word's candidates for ranking need (among thousands
    of matches that tie on idf)."""
    parts = []
    for word, poses in words.items():
        count = len(poses)
        if count >= TIERS[-1] and (lexeme := tier_lexeme(next(t for t in TIERS if count >= t), word)):
            parts.append(lexeme)
    return " ".join(parts)


@dataclass
class Analysed:
    """What one text field contributes: words with compact offsets, and its length."""

    words: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    length: int = 0  # tokens, as Whoosh counts a field's length

    @classmethod
    def of(cls, value: str, tuples: Any = text.token_tuples) -> Analysed:
        out = cls()
        words = out.words
        for token in tuples(value):
            words[token[0]].append(token[1])
        out.length = sum(map(len, words.values()))
        return out

    def needs_passages(self) -> bool:
        return any(len(p) > MAX_POSITIONS_PER_WORD or p[-1] + 1 > MAX_POSITION for p in self.words.values())

    def passage(self, base: int) -> dict[str, list[int]]:
        end = base + PASSAGE + OVERLAP
        out: dict[str, list[int]] = {}
        for word, poses in self.words.items():
            inside = [p - base for p in poses if base <= p < end]
            if inside:
                out[word] = inside
        return out

    def last(self) -> int:
        return max((p[-1] for p in self.words.values()), default=0)


def entry_rows(e: IndexEntry) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """An entry as a search_entry row and its passages' rows."""
    content = Analysed.of(e.content)
    bigrams = Analysed.of(e.content, text.bigram_tuples)
    title = Analysed.of(e.title)
    filename = Analysed.of(e.original_filename)
    passages: list[dict[str, Any]] = []
    if content.needs_passages() or bigrams.needs_passages():
        for seq, base in enumerate(range(0, max(content.last(), bigrams.last()) + 1, PASSAGE)):
            passages.append(
                {
                    "version_id": e.version_id,
                    "seq": seq,
                    "base": base,
                    "content_tsv": tsvector(content.passage(base)),
                    "bigram_tsv": tsvector(bigrams.passage(base)),
                }
            )
    grams, grams_len = grams_tsvector(e.content)
    row = {
        "version_id": e.version_id,
        "document_id": e.document_id,
        "number": e.number,
        "is_latest": bool(e.is_latest),
        "sha256": e.sha256,
        "title": e.title,
        "original_filename": e.original_filename,
        "doc_type": e.doc_type,
        "service_category": e.service_category,
        "doc_class": e.doc_class,
        "service_scope": e.service_scope,
        "project": e.project.strip(),
        "counterparty": e.counterparty.strip(),
        "tags": sorted({t.strip().lower() for t in e.tags if t.strip()}),
        "status": e.status,
        "year": e.year,
        "created_at": utc(e.created_at),
        "effective_date": e.effective_date,
        "review_due": e.review_due,
        "extraction_status": e.extraction_status,
        "content": e.content,
        "content_len": content.length,
        "title_len": title.length,
        "bigram_len": bigrams.length,
        "filename_len": filename.length,
        "has_passages": bool(passages),
        "content_tsv": tsvector(content.words),
        "bigram_tsv": tsvector(bigrams.words),
        "title_tsv": tsvector(title.words),
        "filename_tsv": tsvector(filename.words),
        "project_tsv": tsvector(Analysed.of(e.project).words),
        "counterparty_tsv": tsvector(Analysed.of(e.counterparty).words),
        "grams_tsv": grams,
        "grams_len": grams_len,
        "tier_tsv": tiers_tsvector(content.words),
    }
    return row, passages


# New words wait in a GIN index's pending list until the list passes this size and the writer
# merges it into the index, and every search reads the list through: a small list keeps searches
# fast between merges; a bulk write (a rebuild, whose index is not searched until it completes and
# merges what is left) merges less often, which costs less per document.
STEADY_PENDING_LIST = sa.text("SET LOCAL gin_pending_list_limit = 256")
BULK_PENDING_LIST = sa.text("SET LOCAL gin_pending_list_limit = 4096")


def write_entries(conn: sa.Connection, entries: Sequence[IndexEntry]) -> None:
    write_rows(conn, analyse(entries))


def analyse(entries: Sequence[IndexEntry]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The search_entry and search_passage rows of ``entries``."""
    rows, passages = [], []
    for e in entries:
        row, parts = entry_rows(e)
        rows.append(row)
        passages.extend(parts)
    return rows, passages


def write_rows(conn: sa.Connection, analysed: tuple[list[dict[str, Any]], list[dict[str, Any]]]) -> None:
    rows, passages = analysed
    conn.execute(
        sa.text("DELETE FROM search_passage WHERE version_id = ANY(:ids)"), {"ids": [r["version_id"] for r in rows]}
    )
    conn.execute(UPSERT, rows)
    if passages:
        conn.execute(INSERT_PASSAGE, passages)


def write_in_processes(engine: sa.Engine, entries: list[IndexEntry], procs: int) -> None:
    """Analyse and write ``entries`` in ``procs`` forked processes (they inherit the entries;
    nothing is pickled), each its share in batches of PARALLEL_MIN. A process that fails
    raises Unavailable here; what the others wrote stays (a rebuild resumes, upserts replace)."""
    ctx = multiprocessing.get_context("fork")
    children = [ctx.Process(target=_write_share, args=(engine, entries[i::procs]), daemon=True) for i in range(procs)]
    for child in children:
        child.start()
    for child in children:
        child.join()
    failed = [c.exitcode for c in children if c.exitcode != 0]
    if failed:
        raise Unavailable(
            "写入搜索索引的子进程失败，稍后会重试。",
            f"A search-index writer process failed (exit {failed[0]}); the work will be retried.",
        )


def _write_share(engine: sa.Engine, entries: list[IndexEntry]) -> None:
    """A writer process's share: each batch written by a thread while the next is analysed (the
    thread waits on PostgreSQL without the GIL, so the server's work and the analysis overlap)."""
    engine.dispose(close=False)  # the parent's pooled connections are not this process's to use

    def write(analysed: tuple[list[dict[str, Any]], list[dict[str, Any]]]) -> None:
        with engine.begin() as conn:
            conn.execute(BULK_PENDING_LIST)
            write_rows(conn, analysed)

    with ThreadPoolExecutor(1) as writer:
        pending: Future[None] | None = None
        for lo in range(0, len(entries), PARALLEL_MIN):
            analysed = analyse(entries[lo : lo + PARALLEL_MIN])
            if pending is not None:
                pending.result()
            pending = writer.submit(write, analysed)
        if pending is not None:
            pending.result()


def utc(ts: dt.datetime | None) -> dt.datetime | None:
    if ts is None:
        return None
    return ts.replace(tzinfo=dt.UTC) if ts.tzinfo is None else ts.astimezone(dt.UTC)


# What a hit is built from: the entry's identity and metadata (docsvc.core.search.Hit).
HIT_COLUMNS = (
    "version_id",
    "document_id",
    "number",
    "is_latest",
    "sha256",
    "title",
    "original_filename",
    "doc_type",
    "service_category",
    "doc_class",
    "service_scope",
    "project",
    "counterparty",
    "tags",
    "status",
    "year",
    "created_at",
    "effective_date",
    "review_due",
    "extraction_status",
)
_ENTRY_COLUMNS = (
    *HIT_COLUMNS,
    "content",
    "content_len",
    "title_len",
    "bigram_len",
    "filename_len",
    "has_passages",
    "content_tsv",
    "bigram_tsv",
    "title_tsv",
    "filename_tsv",
    "project_tsv",
    "counterparty_tsv",
    "grams_tsv",
    "grams_len",
    "tier_tsv",
)
# Each scored column's length (in tokens), for BM25's length normalisation.
LENGTHS = {
    "content_tsv": "content_len",
    "title_tsv": "title_len",
    "bigram_tsv": "bigram_len",
    "filename_tsv": "filename_len",
    "grams_tsv": "grams_len",
}
PASSAGE_COLUMNS = ("content_tsv", "bigram_tsv")  # what search_passage repeats
_TSV_COLUMNS = {
    "content_tsv",
    "bigram_tsv",
    "title_tsv",
    "filename_tsv",
    "project_tsv",
    "counterparty_tsv",
    "grams_tsv",
    "tier_tsv",
}
UPSERT = sa.text(
    "INSERT INTO search_entry ("
    + ", ".join(_ENTRY_COLUMNS)
    + ") VALUES ("
    + ", ".join(f"CAST(:{c} AS tsvector)" if c in _TSV_COLUMNS else f":{c}" for c in _ENTRY_COLUMNS)
    + ") ON CONFLICT (version_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _ENTRY_COLUMNS if c != "version_id")
)
INSERT_PASSAGE = sa.text(
    "INSERT INTO search_passage (version_id, seq, base, content_tsv, bigram_tsv) "
    "VALUES (:version_id, :seq, :base, CAST(:content_tsv AS tsvector), CAST(:bigram_tsv AS tsvector))"
)
