"""Bulk import and upload-to-searchable latency, end to end through the services.

    python bench/bench_import.py [--count 1000] [--chars 4000]

1. ``import``: N real .docx files of ~4,000 characters (Zipf-like words, bench/corpus.py) through
   the importer — content sniffing, zip checks, durable blob write, catalog + audit + outbox,
   text extraction, indexing by the writer processes it streams to — once with labels given and
   once with the classifier suggesting them. Prints docs/s and the peak memory of all the
   import's processes together (PSS).
2. ``upload-to-searchable``: with the server's background indexer running, the time from
   ``add_document`` returning until a search finds the new document; p50/p95 over 50 uploads.
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_search import PeakMemory  # noqa: E402
from corpus import Vocabulary, docx_bytes, paragraph  # noqa: E402

from docsvc.app import open_docsvc  # noqa: E402
from docsvc.core.search import SearchRequest  # noqa: E402


def make_folder(folder: Path, count: int, chars: int, seed: int) -> None:
    """Write the files in a child process: the word list and the generator's garbage stay out
    of the importing process, whose memory (and its writers', forked from it) is measured."""
    import multiprocessing

    child = multiprocessing.get_context("fork").Process(target=_write_files, args=(folder, count, chars, seed))
    child.start()
    child.join()
    if child.exitcode:
        raise SystemExit(f"generating the files failed (exit code {child.exitcode})")


def _write_files(folder: Path, count: int, chars: int, seed: int) -> None:
    vocab = Vocabulary.from_jieba()
    rng = random.Random(seed)
    for i in range(count):
        text = paragraph(vocab, rng, chars) + f" 合同编号 HT-2026-{seed}-{i:05d}"
        (folder / f"doc-{seed}-{i:05d}.docx").write_bytes(docx_bytes(text, f"项目文档 {i}"))


def run_import(label: str, count: int, chars: int, defaults: dict, seed: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "in"
        folder.mkdir()
        make_folder(folder, count, chars, seed)
        svc = open_docsvc(
            {"ARCHIVE_DIR": f"{tmp}/archive", "INDEX_DIR": f"{tmp}/index", "TEMPLATES_DIR": f"{tmp}/none"}
        )
        svc.index.ensure()
        paths = sorted(folder.iterdir())
        memory = PeakMemory()
        start = time.perf_counter()
        report = svc.importer.import_files(paths, defaults, actor="bench")
        took = time.perf_counter() - start
        peak = memory.stop()
        added = sum(1 for i in report.items if i.status.value == "added")
        assert svc.index.check().ok and svc.index.index.doc_count() == added
        svc.close()
    print(
        f"import ({label}): {added} docx of ~{chars} chars in {took:.1f} s = {added / took:.1f} docs/s, "
        f"peak memory {peak:.0f} MB (PSS, all processes)"
    )


def run_latency(n: int, vocab: Vocabulary) -> None:
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        svc = open_docsvc(
            {"ARCHIVE_DIR": f"{tmp}/archive", "INDEX_DIR": f"{tmp}/index", "TEMPLATES_DIR": f"{tmp}/none"}
        )
        for i in range(200):  # a non-empty index, so commits merge segments as in real life
            svc.archive.add_document(
                docx_bytes(paragraph(vocab, rng, 4000), f"背景 {i}"),
                f"b{i}.docx",
                {"title": f"背景 {i}", "doc_type": "report", "service_category": "4.2", "doc_class": "site"},
                actor="bench",
            )
        svc.index.sync()
        indexer = svc.start_indexer()
        times = []
        for i in range(n):
            marker = f"BENCHMARK{i:04d}X"
            data = docx_bytes(paragraph(vocab, rng, 4000) + f" {marker}", f"上传 {i}")
            svc.archive.add_document(
                data,
                f"u{i}.docx",
                {"title": f"上传 {i}", "doc_type": "report", "service_category": "4.2", "doc_class": "site"},
                actor="bench",
            )
            t0 = time.perf_counter()
            while not svc.index.search(SearchRequest(query=marker.lower(), facets=False, highlight=False)).hits:
                time.sleep(0.005)
            times.append(time.perf_counter() - t0)
        indexer.stop()
        svc.close()
    q = statistics.quantiles(times, n=20)
    print(
        f"upload-to-searchable (background indexer, 200-doc index): p50 {statistics.median(times) * 1000:.0f} ms"
        f"   p95 {q[18] * 1000:.0f} ms   over {n} uploads"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--chars", type=int, default=4000)
    ap.add_argument("--latency-samples", type=int, default=50, help="uploads timed (0 to skip)")
    args = ap.parse_args()
    run_import(
        "labels given",
        args.count,
        args.chars,
        {"doc_type": "report", "service_category": "4.2", "doc_class": "site"},
        seed=1,
    )
    run_import("labels suggested", args.count, args.chars, {"doc_class": "site"}, seed=2)
    if args.latency_samples:
        run_latency(args.latency_samples, Vocabulary.from_jieba())
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
