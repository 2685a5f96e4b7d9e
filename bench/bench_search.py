"""Search benchmark: prints figures, asserts nothing.

    .venv/bin/python bench/bench_search.py --docs 10000
    .venv/bin/python bench/bench_search.py --docs 100000 --procs 2 --queries 300
    .venv/bin/python bench/bench_search.py --dir FOLDER --reuse --docx 0 --pdfs 0   # search again

Measures, on a generated corpus (see bench/corpus.py) of ~4,000-character documents:

- bulk index rate (analysis + Whoosh, ``procs`` writer processes, one commit per batch of
  ``--batch`` documents, as ``docsvc index rebuild`` commits; the text is generated per batch and
  not timed) and the peak memory of this process and its writer processes together (PSS);
- the docx pipeline: extract_text + upsert for real .docx files (target ≥ 60 docs/s, 2 cores),
  once with resampled business sentences (realistic vocabulary) and once with the generated
  word salad (pessimistic: nearly every character bigram is new);
- PDF extraction cost per file (child process per PDF);
- search latency p50/p95 with and without highlighting (facets on, as the UI asks for them);
- opening a searcher (paid once per commit).
"""

from __future__ import annotations

import argparse
import itertools
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import corpus  # noqa: E402

from docsvc.adapters.whoosh import WhooshIndex  # noqa: E402
from docsvc.core import text  # noqa: E402
from docsvc.core.content import DOCX, PDF  # noqa: E402
from docsvc.core.extract import extract_text, warm_up  # noqa: E402
from docsvc.core.search import IndexEntry, SearchRequest
from docsvc.services.search import REBUILD_CHUNK  # noqa: E402


def peak_mb() -> tuple[float, float]:
    """Peak RSS of this process and of its largest waited-for child, in MB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, children


def _tree_pids(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            kids = [int(k) for k in fh.read().split()]
    except OSError:
        return [pid]
    return [pid] + [p for k in kids for p in _tree_pids(k)]


def tree_pss_mb() -> float:
    """Proportional set size of this process and its descendants, in MB: what the writer
    processes forked from this one really occupy together (RSS counts shared pages twice)."""
    import os

    total = 0
    for pid in _tree_pids(os.getpid()):
        try:
            with open(f"/proc/{pid}/smaps_rollup") as fh:
                total += next(int(line.split()[1]) for line in fh if line.startswith("Pss:"))
        except (OSError, StopIteration):
            pass
    return total / 1024


class PeakMemory:
    """Samples tree_pss_mb() twice a second in a thread; ``peak`` is the highest seen."""

    def __init__(self) -> None:
        import threading

        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self.peak = max(self.peak, tree_pss_mb())

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak


def cpu_seconds() -> float:
    """CPU time of this process and its reaped children (the writer processes): on a shared
    machine, docs per CPU-second says more than wall-clock docs/s."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def load_note() -> str:
    import os

    return f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def bench_index(path: Path, n: int, procs: int, batch: int, vocab: corpus.Vocabulary) -> WhooshIndex:
    """Index ``n`` generated documents a batch at a time, as a rebuild does: documents are
    generated per batch (never all in memory), and only the index writes are timed."""
    print(f"indexing {n} generated documents in batches of {batch} …", flush=True)
    ix = WhooshIndex.open(path)
    ix.clear()
    docs = corpus.entries(n, vocab=vocab)
    elapsed = generate_s = chars = 0.0
    cpu = cpu_seconds()
    memory = PeakMemory()
    done = 0
    while done < n:
        t = time.perf_counter()
        chunk = list(itertools.islice(docs, batch))
        generate_s += time.perf_counter() - t
        chars += sum(len(d.content) for d in chunk)
        t = time.perf_counter()
        ix.upsert(chunk, procs=procs)
        elapsed += time.perf_counter() - t
        done += len(chunk)
        if done % (batch * 5) == 0 or done == n:
            print(
                f"  indexed {done}/{n}: {done / elapsed:.0f} docs/s, {elapsed:.0f} s, "
                f"peak memory (PSS, all processes) {memory.peak:.0f} MB",
                flush=True,
            )
    ix.mark_complete()
    cpu = cpu_seconds() - cpu
    peak = memory.stop()
    own, child = peak_mb()
    size = sum(f.stat().st_size for f in path.iterdir()) / 2**20
    print(
        f"INDEX  {n} docs of {chars / n:.0f} characters in {elapsed:.1f} s of index writes = {n / elapsed:.0f} docs/s "
        f"(+{generate_s:.0f} s generating them), {n / cpu:.0f} docs per CPU-second (procs={procs}, batch={batch}, "
        f"{load_note()}); index {size:.0f} MB in {len(ix._ix._segments())} segments; "
        f"peak memory of all its processes together {peak:.0f} MB (PSS; RSS self {own:.0f} MB, "
        f"largest child {child:.0f} MB)"
    )
    return ix


def bench_docx_pipeline(path: Path, n: int, procs: int, vocab: corpus.Vocabulary, kind: str) -> None:
    import random

    rng = random.Random(7)
    sentences = corpus.business_sentences()
    make = (
        (lambda: corpus.paragraph(vocab, rng, 4000))
        if kind == "generated"
        else (lambda: corpus.business_paragraph(sentences, rng, 4000))
    )
    files = [corpus.docx_bytes(make(), f"文档{i}") for i in range(n)]
    ix = WhooshIndex.open(path)
    ix.clear()
    t = time.perf_counter()
    cpu = cpu_seconds()
    extract_s = 0.0
    batch: list[IndexEntry] = []
    for i, data in enumerate(files, start=1):
        t0 = time.perf_counter()
        result = extract_text(data, DOCX)
        extract_s += time.perf_counter() - t0
        batch.append(IndexEntry(version_id=i, document_id=i, number=1, title=f"文档{i}", content=result.text))
        if len(batch) == 200:
            ix.upsert(batch, procs=procs)
            batch = []
    ix.upsert(batch, procs=procs)
    elapsed = time.perf_counter() - t
    cpu = cpu_seconds() - cpu
    print(
        f"DOCX   {n} {kind} files of ~4,000 characters, extract + index: {n / elapsed:.0f} docs/s wall, "
        f"{n / cpu:.0f} docs per CPU-second (extraction {extract_s / n * 1000:.1f} ms/file, procs={procs}, "
        f"{load_note()})"
    )


def bench_pdf(n: int) -> None:
    import io

    from pypdf import PdfWriter
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

    w = PdfWriter()
    font = w._add_object(
        DictionaryObject(
            {
                NameObject("/Type"): NameObject("/Font"),
                NameObject("/Subtype"): NameObject("/Type1"),
                NameObject("/BaseFont"): NameObject("/Helvetica"),
            }
        )
    )
    for _ in range(3):
        page = w.add_blank_page(300, 200)
        page[NameObject("/Resources")] = DictionaryObject(
            {NameObject("/Font"): DictionaryObject({NameObject("/F1"): font})}
        )
        s = DecodedStreamObject()
        s.set_data(b"BT /F1 12 Tf 20 100 Td (Service level agreement, availability 99.9%) Tj ET")
        page[NameObject("/Contents")] = w._add_object(s)
    buf = io.BytesIO()
    w.write(buf)
    data = buf.getvalue()
    t = time.perf_counter()
    warm_up()
    print(f"PDF    helper start {1000 * (time.perf_counter() - t):.0f} ms (once per process)")
    times = []
    for _ in range(n):
        t = time.perf_counter()
        extract_text(data, PDF)
        times.append((time.perf_counter() - t) * 1000)
    print(f"PDF    3-page PDF in a limited child: p50 {pct(times, 50):.1f} ms, p95 {pct(times, 95):.1f} ms per file")


def bench_search(ix: WhooshIndex, queries: list[str]) -> None:
    t = time.perf_counter()
    ix._refresh()
    ix.doc_count()  # opens the searcher of the latest commit
    print(f"OPEN   searcher reopen after a commit: {(time.perf_counter() - t) * 1000:.0f} ms")
    for q in queries[:10]:  # warm caches
        ix.search(SearchRequest(q))
    for highlight in (False, True):
        times, totals, partial = [], [], 0
        for q in queries:
            t = time.perf_counter()
            r = ix.search(SearchRequest(q, highlight=highlight))
            times.append((time.perf_counter() - t) * 1000)
            totals.append(r.total)
            partial += r.partial
        print(
            f"SEARCH highlight={'on ' if highlight else 'off'}: p50 {pct(times, 50):.1f} ms, p95 {pct(times, 95):.1f} ms, "
            f"max {max(times):.0f} ms over {len(queries)} queries (facets on; median hits {statistics.median(totals):.0f}, "
            f"partial {partial})"
        )
    times = []
    for q in queries:
        t = time.perf_counter()
        ix.search(SearchRequest(q, facets=False))
        times.append((time.perf_counter() - t) * 1000)
    print(f"SEARCH facets off, highlight on: p50 {pct(times, 50):.1f} ms, p95 {pct(times, 95):.1f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=10_000)
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--batch", type=int, default=REBUILD_CHUNK, help="documents per commit (the rebuild's chunk)")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--docx", type=int, default=600, help="files for the docx pipeline (0 to skip)")
    ap.add_argument("--pdfs", type=int, default=50, help="PDFs for the extraction cost (0 to skip)")
    ap.add_argument("--dir", type=Path, default=None, help="index directory (default: a temporary one)")
    ap.add_argument("--reuse", action="store_true", help="search the index an earlier run left in --dir, unwritten")
    args = ap.parse_args()
    if args.reuse and args.dir is None:
        ap.error("--reuse searches the index in --dir FOLDER: give the folder an earlier run wrote")

    t = time.perf_counter()
    text.load()
    print(f"jieba + domain dictionary loaded in {(time.perf_counter() - t) * 1000:.0f} ms")
    vocab = corpus.Vocabulary.from_jieba()
    print(f"vocabulary: {len(vocab.words)} words from jieba/dict.txt, frequency-weighted")
    root = args.dir or Path(tempfile.mkdtemp(prefix="docsvc-bench-"))
    try:
        if args.pdfs:
            bench_pdf(args.pdfs)
        if args.docx:
            for kind in ("business", "generated"):
                bench_docx_pipeline(root / f"docx-{kind}", args.docx, args.procs, vocab, kind)
        if args.reuse:
            ix = WhooshIndex.open(root / "index")
            print(f"searching the index of an earlier run: {ix.doc_count()} documents")
        else:
            ix = bench_index(root / "index", args.docs, args.procs, args.batch, vocab)
        bench_search(ix, corpus.queries(vocab, args.queries))
    finally:
        if args.dir is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
