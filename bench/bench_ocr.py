"""OCR of Chinese scans and photos: quality, cost, and a scan's way from upload to searchable.

    python bench/bench_ocr.py [--variants clean,skew,noise,jpeg,photo,upside_down] [--pages 1]
                              [--e2e-pages 10] [--no-e2e] [--no-tesseract] [--threads 1]

The pages are made by tests/ocr_samples.py (an SLA page and an acceptance report, drawn at
200 dpi with Debian's Noto CJK font, then skewed, noised, JPEG-compressed, photographed or
turned over). Per engine and variant it prints the character error rate (whitespace removed;
and ignoring reading order, as a bag of characters), key-term recall, CPU seconds and wall
seconds per page, and the OCR child's peak memory; PP-OCRv4 is docsvc's engine (through
docsvc.core.ocr, in its limited child), Tesseract 5 ``chi_sim+eng`` is measured beside it when
installed. Exits non-zero if any line the engine detected came back empty.

End to end: a 10-page scanned PDF is uploaded to a docsvc with its index writer and job runner
running (as ``docsvc serve`` runs them); it prints the seconds until the upload returned and
until every key term is found by search, and the p95 of searches answered meanwhile.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from docsvc.adapters.ocr_rapid import ENGINE  # noqa: E402
from docsvc.core.content import detect_media_type  # noqa: E402
from docsvc.core.ocr import OcrLimits, run_ocr  # noqa: E402
from tests import ocr_samples as samples  # noqa: E402


def bag_cer(reference: str, hypothesis: str) -> float:
    """Errors ignoring reading order: characters missing or extra, over the reference's length."""
    ref, hyp = Counter(samples.compact(reference)), Counter(samples.compact(hypothesis))
    return max(sum((ref - hyp).values()), sum((hyp - ref).values())) / max(1, sum(ref.values()))


def recall(text: str) -> tuple[int, int]:
    found = samples.compact(text)
    return sum(samples.compact(t) in found for t in samples.KEY_TERMS), len(samples.KEY_TERMS)


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def tesseract(image: bytes) -> tuple[str, float, float]:
    with tempfile.NamedTemporaryFile(suffix=".img") as f:
        f.write(image)
        f.flush()
        cpu, t0 = children_cpu(), time.perf_counter()
        out = subprocess.run(["tesseract", f.name, "-", "-l", "chi_sim+eng"], capture_output=True, text=True).stdout
        return out, children_cpu() - cpu, time.perf_counter() - t0


def quality(variants: list[str], pages: int, threads: int, with_tesseract: bool) -> bool:
    limits = OcrLimits(threads=threads)
    rows = []
    empty_lines = 0
    for s in samples.samples(tuple(variants), pages=tuple(range(pages))):
        media_type = detect_media_type(s.image)
        cpu, t0 = children_cpu(), time.perf_counter()
        result = run_ocr(s.image, media_type, engine=ENGINE, limits=limits)
        wall, cpu = time.perf_counter() - t0, children_cpu() - cpu
        page = result.pages[0] if result.pages else None
        empty_lines += sum(1 for line in (page.lines if page else ()) if not line.text.strip())
        found, total = recall(result.text)
        rows.append(
            (
                "PP-OCRv4",
                s.variant,
                s.name,
                samples.cer(s.truth, result.text),
                bag_cer(s.truth, result.text),
                found,
                total,
                cpu,
                wall,
                page.rotation if page else 0,
            )
        )
        if with_tesseract:
            text, tcpu, twall = tesseract(s.image)
            found, total = recall(text)
            rows.append(
                (
                    "tesseract",
                    s.variant,
                    s.name,
                    samples.cer(s.truth, text),
                    bag_cer(s.truth, text),
                    found,
                    total,
                    tcpu,
                    twall,
                    0,
                )
            )
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(
        f"{'engine':10} {'variant':12} {'page':22} {'CER':>7} {'CER-order':>9} {'terms':>6} {'CPU-s':>6} "
        f"{'wall-s':>6} turn"
    )
    for engine, variant, name, c, b, found, total, cpu, wall, rot in rows:
        print(
            f"{engine:10} {variant:12} {name:22} {c:7.2%} {b:9.2%} {found:>3}/{total:<2} {cpu:6.1f} {wall:6.1f} {rot:>4}"
        )
    for engine in sorted({r[0] for r in rows}):
        mine = [r for r in rows if r[0] == engine]
        hits = sum(r[5] for r in mine) / sum(r[6] for r in mine)
        print(
            f"{engine}: key-term recall {hits:.1%}, {statistics.mean(r[7] for r in mine):.1f} CPU-s/page, "
            f"{statistics.mean(r[8] for r in mine):.1f} s/page"
        )
    print(f"peak memory of an OCR child (max RSS): {peak:.0f} MB; empty lines: {empty_lines}")
    if empty_lines:
        print("FAIL: the engine detected lines it returned empty", file=sys.stderr)
    return empty_lines == 0


def end_to_end(n_pages: int, threads: int) -> None:
    from docsvc.app import open_docsvc
    from docsvc.core.search import SearchRequest

    images = []
    variants = ("clean", "skew", "jpeg", "noise")
    for i in range(n_pages):
        images.append(samples.samples((variants[i % len(variants)],), pages=(i % 2,))[0].image)
    scan = samples.image_pdf(images)
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "t").mkdir()
        svc = open_docsvc(
            {
                "ARCHIVE_DIR": f"{tmp}/archive",
                "INDEX_DIR": f"{tmp}/index",
                "DATABASE_URL": f"sqlite:///{tmp}/catalog.sqlite3",
                "TEMPLATES_DIR": f"{tmp}/t",
                "OCR_THREADS": threads,
            }
        )
        try:
            filler = [
                svc.archive.add_document(
                    f"运维周报第{i}期：事件处理与变更记录。".encode(),
                    f"周报{i}.txt",
                    {"title": f"周报{i}", "doc_type": "report", "service_category": "4.2", "doc_class": "user"},
                    actor="bench",
                )
                for i in range(50)
            ]
            svc.index.sync()
            svc.start_indexer()
            svc.start_jobs()
            t0 = time.perf_counter()
            doc = svc.archive.add_document(
                scan,
                "验收与服务等级协议扫描件.pdf",
                {"title": "扫描件", "doc_type": "contract", "service_category": "4.2", "doc_class": "user"},
                actor="bench",
            ).document
            uploaded = time.perf_counter() - t0
            latencies: list[float] = []
            terms = ("人民币肆拾捌万陆仟伍佰元整", "SLA-2026-0412", "YS-2026-0630", "服务等级协议")
            searchable = None
            while time.perf_counter() - t0 < 900:
                s0 = time.perf_counter()
                hits = {t: {h.document_id for h in svc.index.search(SearchRequest(query=t)).hits} for t in terms}
                latencies.append((time.perf_counter() - s0) / len(terms))
                if all(doc.id in ids for ids in hits.values()):
                    searchable = time.perf_counter() - t0
                    break
                time.sleep(0.5)
            latencies.sort()
            p95 = latencies[int(0.95 * (len(latencies) - 1))] * 1000
            print(
                f"end to end: {n_pages}-page scan uploaded in {uploaded * 1000:.0f} ms; searchable after "
                f"{searchable:.1f} s"
                if searchable
                else "end to end: NOT searchable within 900 s"
            )
            print(
                f"searches meanwhile: {len(latencies) * len(terms)}, p95 {p95:.1f} ms (beside {len(filler)} documents)"
            )
        finally:
            svc.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variants", default=",".join(samples.VARIANTS))
    ap.add_argument("--pages", type=int, default=1, choices=(1, 2), help="pages per variant")
    ap.add_argument("--e2e-pages", type=int, default=10)
    ap.add_argument("--no-e2e", action="store_true")
    ap.add_argument("--no-tesseract", action="store_true")
    ap.add_argument("--threads", type=int, default=1, help="OCR threads (DOCSVC_OCR_THREADS)")
    args = ap.parse_args()
    os.environ["ORT_DISABLE_TELEMETRY"] = "1"
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    with_tesseract = not args.no_tesseract and shutil.which("tesseract") is not None
    ok = quality(args.variants.split(","), args.pages, args.threads, with_tesseract)
    if not args.no_e2e:
        end_to_end(args.e2e_pages, args.threads)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
