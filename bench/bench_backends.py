"""Both search engines side by side, on the same generated corpus: prints figures, asserts nothing.

    .venv/bin/python bench/bench_backends.py --docs 10000
    .venv/bin/python bench/bench_backends.py --docs 100000 --queries 300 --backends postgres
    .venv/bin/python bench/bench_backends.py --relevance-only

For each engine (Whoosh in a temporary folder; PostgreSQL in a fresh database made on the server
named by DOCSVC_BENCH_POSTGRES_URL, default the local ``test`` database's server, dropped
afterwards unless ``--keep``; ``postgres-rum`` is PostgreSQL with DOCSVC_SEARCH_PG_INDEX=rum):

- bulk index: ``--docs`` generated ~4,000-character documents (bench/corpus.py, Zipf-like
  Chinese) written as ``docsvc index rebuild`` writes them (chunks of REBUILD_CHUNK, ``--procs``
  writer processes), then completed as it completes them (PostgreSQL builds its word indexes
  and counts the grams, Whoosh merges); docs/s of the writes and of the whole, index size,
  peak memory of all processes (PSS);
- upload-to-searchable: a document uploaded through the archive with the background indexer
  running, then searched for until found (p50/p95);
- search p50/p95 with highlights and facets over the benchmark's query mix;
- relevance on the development question set (``../shared/eval/plain-questions``, when present):
  hit@10 and MRR@10 of the same questions on each engine, by their words alone and reordered by
  meaning (docsvc.core.semantic, as the search service does it).
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import corpus  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from bench_search import PeakMemory, load_note, pct  # noqa: E402

from docsvc.adapters.embed_e5 import E5Embedder  # noqa: E402
from docsvc.app import open_docsvc  # noqa: E402
from docsvc.core import semantic  # noqa: E402
from docsvc.core.search import IndexEntry, SearchRequest  # noqa: E402
from docsvc.services.search import REBUILD_CHUNK  # noqa: E402

ID_OFFSET = 1_000_000
EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval" / "plain-questions"


class Engine:
    """One engine behind a whole docsvc (open_docsvc), fresh and empty."""

    def __init__(self, name: str, keep: bool, reuse: str = "") -> None:
        self.name = name
        self.keep = keep
        self.folder = Path(tempfile.mkdtemp(prefix=f"docsvc-bench-{name}-"))
        self.database = ""
        config = {
            "ARCHIVE_DIR": str(self.folder / "archive"),
            "INDEX_DIR": str(self.folder / "index"),
            "TEMPLATES_DIR": str(self.folder / "no-templates"),
            "FSYNC": False,
        }
        (self.folder / "no-templates").mkdir()
        if name.startswith("postgres"):
            server = os.environ.get("DOCSVC_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
            self.database = reuse or f"docsvc_bench_{uuid.uuid4().hex[:8]}"
            self.admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
            if not reuse:
                with self.admin.connect() as conn:
                    conn.exec_driver_sql(f'CREATE DATABASE "{self.database}"')
            config["DATABASE_URL"] = (
                sa.engine.make_url(server).set(database=self.database).render_as_string(hide_password=False)
            )
            config["SEARCH_BACKEND"] = "postgres"
            config["SEARCH_PG_INDEX"] = "rum" if name == "postgres-rum" else "gin"
            print(f"  PostgreSQL database {self.database}")
        self.svc = open_docsvc(config)
        self.index = self.svc.index.index
        if not reuse:
            self.index.clear()

    def size_mb(self) -> float:
        if self.name == "whoosh":
            return sum(f.stat().st_size for f in (self.folder / "index").rglob("*") if f.is_file()) / 2**20
        with self.svc.catalog.engine.connect() as conn:
            return (
                conn.execute(
                    sa.text("SELECT pg_total_relation_size('search_entry') + pg_total_relation_size('search_passage')")
                ).scalar()
                / 2**20
            )

    def close(self) -> None:
        self.svc.close()
        shutil.rmtree(self.folder, ignore_errors=True)
        if self.database:
            if self.keep:
                print(f"  kept database {self.database}")
            else:
                with self.admin.connect() as conn:
                    conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')


def bench_index(engine: Engine, n: int, procs: int, vocab: corpus.Vocabulary) -> None:
    ix = engine.index
    # Version ids past the catalog's own, which bench_upload's documents take.
    docs = (
        IndexEntry(**{**e.__dict__, "version_id": e.version_id + ID_OFFSET, "document_id": e.document_id + ID_OFFSET})
        for e in corpus.entries(n, vocab=vocab)
    )
    elapsed = 0.0
    memory = PeakMemory()
    done = 0
    while done < n:
        chunk = list(itertools.islice(docs, REBUILD_CHUNK))
        t = time.perf_counter()
        ix.upsert(chunk, procs=procs)
        elapsed += time.perf_counter() - t
        done += len(chunk)
        print(f"  indexed {done}/{n}: {done / elapsed:.0f} docs/s, {elapsed:.0f} s", flush=True)
    t = time.perf_counter()
    ix.mark_complete()
    completing = time.perf_counter() - t
    total = elapsed + completing
    print(
        f"{engine.name:8} INDEX {n} docs: writes {elapsed:.0f} s = {n / elapsed:.0f} docs/s, completing "
        f"{completing:.0f} s; in all {total:.0f} s = {n / total:.0f} docs/s (procs={procs}, {load_note()}); "
        f"index {engine.size_mb():.0f} MB; peak memory (PSS, all processes) {memory.stop():.0f} MB",
        flush=True,
    )


def bench_upload(engine: Engine, vocab: corpus.Vocabulary, count: int = 40) -> None:
    """Documents uploaded through the archive with the server's background indexer running, each
    searched for by a word only it has until found: what a user waits for."""
    svc = engine.svc
    svc.start_indexer()
    times = []
    for i, e in enumerate(corpus.entries(count, vocab=vocab, seed=99)):
        marker = f"upl{uuid.uuid4().hex[:10]}"
        t = time.perf_counter()
        svc.archive.add_document(
            f"{e.title}\n\n{e.content} {marker}".encode(),
            f"上传{i}.txt",
            {"title": e.title, "doc_type": "report", "service_category": "4.2", "doc_class": "user"},
            actor="bench",
        )
        while svc.index.search(SearchRequest(marker, facets=False, highlight=False)).total == 0:
            time.sleep(0.002)
        times.append((time.perf_counter() - t) * 1000)
    svc.indexer.stop()
    print(
        f"{engine.name:8} UPLOAD-TO-SEARCHABLE p50 {pct(times, 50):.0f} ms, p95 {pct(times, 95):.0f} ms "
        f"({count} .txt uploads through the archive, the background indexer applying them)",
        flush=True,
    )


def bench_search(engine: Engine, queries: list[str]) -> None:
    from docsvc.errors import Unavailable

    ix = engine.index
    for name in ("cold", "warm"):  # the first pass reads what the engine's caches then hold
        times, totals, refused = [], [], []
        by_kind: dict[str, list[float]] = {kind: [] for kind in corpus.QUERY_KINDS}
        for i, q in enumerate(queries):
            t = time.perf_counter()
            try:
                r = ix.search(SearchRequest(q))
            except Unavailable:  # past the time limit: counted at the time it took
                refused.append(q)
            else:
                totals.append(r.total)
            times.append((time.perf_counter() - t) * 1000)
            by_kind[corpus.QUERY_KINDS[i % len(corpus.QUERY_KINDS)]].append(times[-1])
        print(
            f"{engine.name:8} SEARCH {name}, highlights+facets: p50 {pct(times, 50):.1f} ms, p95 {pct(times, 95):.1f} ms, "
            f"max {max(times):.0f} ms over {len(queries)} queries (median total {sorted(totals)[len(totals) // 2]}); "
            f"past the time limit: {len(refused)} {refused[:5]}",
            flush=True,
        )
        print(
            f"{engine.name:8}   by kind: "
            + "; ".join(f"{kind} p50 {pct(t, 50):.0f} / p95 {pct(t, 95):.0f} ms" for kind, t in by_kind.items() if t),
            flush=True,
        )


_VECTORS: dict = {}


def bench_relevance(engine: Engine) -> None:
    if not (EVAL / "corpus.jsonl").exists():
        print(f"{engine.name:8} RELEVANCE skipped: {EVAL} is not there")
        return
    ix = engine.index
    ix.clear()
    entries = []
    for i, line in enumerate((EVAL / "corpus.jsonl").open(encoding="utf-8"), start=1):
        d = json.loads(line)
        # As score_questions.py imports it: a .txt file whose first line is the title.
        entries.append(
            IndexEntry(
                version_id=ID_OFFSET + i,
                document_id=ID_OFFSET + i,
                number=1,
                title=d["title"],
                content=f"{d['title']}\n\n{d['text']}\n",
                original_filename=f"{d['id']}.txt",
                doc_type="other",
                doc_class="user",
                service_category="4.2",
            )
        )
    ix.upsert(entries, procs=2)
    ix.mark_complete()
    rel: dict[str, set[str]] = {}
    with (EVAL / "qrels.tsv").open(encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            rel.setdefault(row["query_id"], set()).add(row["doc_id"])
    qs = [json.loads(line) for line in (EVAL / "queries.jsonl").open(encoding="utf-8")]
    qs = [q for q in qs if q["id"] in rel]
    from docsvc.errors import DocsvcError

    # The meaning, as docsvc.services.semantic ranks with it: each article's passage vectors
    # (kept in the catalog by a server; here in memory, as these entries have no versions).
    embedder = E5Embedder()
    if not _VECTORS:  # the same articles for every engine: embedded once
        t = time.perf_counter()
        _VECTORS.update({e.version_id: embedder.passages(semantic.passages_of(e.content)) for e in entries})
        print(
            f"{engine.name:8} RELEVANCE embedded {len(entries)} articles in {time.perf_counter() - t:.0f} s "
            f"({embedder.version})",
            flush=True,
        )
    vectors = _VECTORS
    scores = {"words": [0.0, 0.0], "words+meaning": [0.0, 0.0]}
    refused = 0
    times: dict[str, list[float]] = {"words": [], "words+meaning": []}

    def count(kind: str, got: list[str], qid: str) -> None:
        ranks = [i for i, g in enumerate(got[:10]) if g in rel[qid]]
        if ranks:
            scores[kind][0] += 1
            scores[kind][1] += 1 / (ranks[0] + 1)

    for q in qs:
        text = q["text"].replace("\n", " ")
        t = time.perf_counter()
        try:
            r = ix.search(SearchRequest(text, per_page=semantic.CANDIDATES))
        except DocsvcError:
            refused += 1
            continue
        words_ms = (time.perf_counter() - t) * 1000
        times["words"].append(words_ms)
        count("words", [Path(h.original_filename).stem for h in r.hits], q["id"])
        t = time.perf_counter()
        question = embedder.queries([text])[0]
        meaning = {i: semantic.closeness(question, vectors[h.version_id]) for i, h in enumerate(r.hits)}
        order = semantic.reorder(list(range(len(r.hits))), [h.score for h in r.hits], meaning)
        times["words+meaning"].append(words_ms + (time.perf_counter() - t) * 1000)
        count("words+meaning", [Path(r.hits[i].original_filename).stem for i in order], q["id"])
    for kind, (hit, mrr) in scores.items():
        print(
            f"{engine.name:8} RELEVANCE {kind:13} {len(qs)} questions over {len(entries)} articles: "
            f"hit@10 {hit / len(qs):.3f}, MRR@10 {mrr / len(qs):.3f}, refused {refused}; "
            f"p50 {pct(times[kind], 50):.1f} ms, p95 {pct(times[kind], 95):.1f} ms",
            flush=True,
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=10_000)
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--backends", default="whoosh,postgres")
    ap.add_argument("--relevance-only", action="store_true")
    ap.add_argument(
        "--keep", action="store_true", help="keep the PostgreSQL database (and its generated index: no relevance run)"
    )
    ap.add_argument(
        "--reuse",
        metavar="DATABASE",
        default="",
        help="search an index a kept run built (postgres only; skips indexing and relevance)",
    )
    a = ap.parse_args()
    vocab = None if a.relevance_only else corpus.Vocabulary.from_jieba()
    for name in a.backends.split(","):
        engine = Engine(name, a.keep or bool(a.reuse), a.reuse)
        try:
            if a.reuse:
                bench_search(engine, corpus.queries(vocab, a.queries))
                bench_upload(engine, vocab)
                continue
            if not a.relevance_only:
                bench_index(engine, a.docs, a.procs, vocab)
                bench_search(engine, corpus.queries(vocab, a.queries))
                bench_upload(engine, vocab)
            if not a.keep or a.relevance_only:  # the question set's articles would replace what is kept
                bench_relevance(engine)
        finally:
            engine.close()


if __name__ == "__main__":
    main()
