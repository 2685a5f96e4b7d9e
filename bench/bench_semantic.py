"""Semantic ranking's costs: prints figures, asserts nothing.

    .venv/bin/python bench/bench_semantic.py --docs 10000

- embedding: CPU time per passage and per generated ~4,000-character document (its first
  MAX_PASSAGES passages), which the index writer pays once per version in the background;
- search p50/p95 through the search service (highlights and facets on, as the UI asks) over an
  archive of ``--docs`` generated documents imported as ``docsvc import`` does, by their words
  alone and reordered by meaning. Embedding ten thousand documents would take hours here, so
  every version gets stand-in vectors (random unit vectors, as many passages as its text has):
  the cost of a search does not depend on what the vectors say. How well the meaning ranks is
  measured on real questions by bench/bench_backends.py --relevance-only.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import corpus  # noqa: E402
import numpy as np  # noqa: E402
from bench_search import load_note, pct  # noqa: E402

from docsvc.adapters import vectors as rows  # noqa: E402
from docsvc.adapters.catalog import write_connection  # noqa: E402
from docsvc.app import open_docsvc  # noqa: E402
from docsvc.core import semantic  # noqa: E402
from docsvc.core.extract import EXTRACTOR_VERSION  # noqa: E402
from docsvc.core.model import utcnow  # noqa: E402
from docsvc.core.search import SearchRequest  # noqa: E402


def bench_embedding(svc, vocab: corpus.Vocabulary, n: int = 8) -> None:
    embedder = svc.index.semantic.embedder
    docs = [e.content for e in corpus.entries(n, vocab=vocab, seed=7)]
    embedder.passages(["预热"])
    passages = [semantic.passages_of(d) for d in docs]
    t, cpu = time.perf_counter(), time.process_time()
    for p in passages:
        embedder.passages(p)
    wall, cpu = time.perf_counter() - t, time.process_time() - cpu
    count = sum(map(len, passages))
    print(
        f"EMBED  {n} documents, {count} passages of ≤{semantic.PASSAGE_CHARS} characters: "
        f"{cpu / count:.2f} CPU-s a passage, {cpu / n:.2f} CPU-s a document ({wall / n:.2f} s wall; {load_note()})",
        flush=True,
    )


def stand_in_vectors(svc) -> int:
    """Random unit vectors for every version, as many as its text has passages, and one for
    its content's meaning (else the embedder's queue never empties)."""
    rng = np.random.default_rng(1)
    ranking = svc.index.semantic
    dim, model = ranking.embedder.dim, ranking.embedder.version
    done = 0
    while True:
        with svc.catalog.engine.connect() as conn:
            ids = rows.pending(conn, model, ranking.meaning_version, EXTRACTOR_VERSION, 500)
        if not ids:
            return done
        batch, meanings = [], {}
        for vid in ids:
            v = rng.standard_normal((semantic.MAX_PASSAGES + 1, dim)).astype(np.float32)
            v /= np.linalg.norm(v, axis=1, keepdims=True)
            batch.append(
                {
                    "version_id": vid,
                    "text_key": f"stand-in-{vid}",
                    "passages": len(v) - 1,
                    "vectors": semantic.encode(v[1:]),
                }
            )
            meanings[svc.catalog.get_version_by_id(vid).sha256] = semantic.encode(v[:1])
        with write_connection(svc.catalog.engine) as conn:
            rows.put(conn, batch, model, utcnow())
            rows.put_meanings(conn, meanings, ranking.meaning_version, utcnow())
        done += len(ids)


def bench_search(svc, queries: list[str]) -> None:
    semantic_ranking = svc.index.semantic
    for name, engine in (("words", None), ("words+meaning", semantic_ranking)):
        svc.index.semantic = engine
        times = []
        for _ in range(2):  # the second round: questions read before are cached
            for q in queries:
                t = time.perf_counter()
                svc.index.search(SearchRequest(q))
                times.append((time.perf_counter() - t) * 1000)
        first = times[: len(queries)]
        print(
            f"SEARCH {name:13} p50 {pct(first, 50):.1f} ms, p95 {pct(first, 95):.1f} ms over {len(queries)} questions "
            f"(asked again: p50 {pct(times[len(queries) :], 50):.1f} ms, p95 {pct(times[len(queries) :], 95):.1f} ms); "
            f"{load_note()}",
            flush=True,
        )
    svc.index.semantic = semantic_ranking


def _questions(vocab: corpus.Vocabulary, n: int) -> list[str]:
    questions = corpus.queries(vocab, n)
    random.Random(3).shuffle(questions)
    return questions


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=10_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--reuse", metavar="FOLDER", default="", help="search the archive a previous run left (its folder)")
    a = ap.parse_args()
    vocab = corpus.Vocabulary.from_jieba()
    folder = Path(a.reuse) if a.reuse else Path(tempfile.mkdtemp(prefix="docsvc-bench-semantic-"))
    (folder / "no-templates").mkdir(exist_ok=True)
    print(f"archive in {folder}", flush=True)
    svc = open_docsvc(
        {
            "ARCHIVE_DIR": str(folder / "archive"),
            "INDEX_DIR": str(folder / "index"),
            "TEMPLATES_DIR": str(folder / "no-templates"),
            "FSYNC": False,
            "SEMANTIC": True,
        }
    )
    try:
        if a.reuse:
            bench_search(svc, _questions(vocab, a.queries))
            return
        bench_embedding(svc, vocab)
        files = folder / "docs"
        files.mkdir()
        for i, e in enumerate(corpus.entries(a.docs, vocab=vocab)):
            (files / f"{i:06d}.txt").write_text(f"{e.title}\n\n{e.content}", encoding="utf-8")
        t = time.perf_counter()
        svc.importer.import_files(
            sorted(files.iterdir()), {"doc_type": "contract", "service_category": "4.2"}, actor="bench"
        )
        print(f"IMPORT {a.docs} documents in {time.perf_counter() - t:.0f} s (words only)", flush=True)
        print(f"VECTORS stand-ins for {stand_in_vectors(svc)} versions", flush=True)
        bench_search(svc, _questions(vocab, a.queries))
    finally:
        svc.close()


if __name__ == "__main__":
    main()
