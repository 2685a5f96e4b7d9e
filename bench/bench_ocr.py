"""OCR of Chinese scans and photos: quality, cost, and a scan's way from upload to searchable.

    python bench/bench_ocr.py [--variants clean,skew,noise,jpeg,photo,upside_down] [--pages 1]
                              [--e2e-pages 10] [--e2e-docs 2000] [--e2e-clients 4] [--e2e-think 1]
                              [--no-e2e] [--no-quality] [--no-tesseract] [--threads 1]

The pages are made by tests/ocr_samples.py (an SLA page and an acceptance report, drawn at
200 dpi with Debian's Noto CJK font, then skewed, noised, JPEG-compressed, photographed or
turned over). Per engine and variant it prints the character error rate (whitespace removed;
and ignoring reading order, as a bag of characters), key-term recall, CPU seconds and wall
seconds per page, and the OCR child's peak memory; PP-OCRv4 is docsvc's engine (through
docsvc.core.ocr, in its limited child), Tesseract 5 ``chi_sim+eng`` is measured beside it when
installed. Exits non-zero if any line the engine detected came back empty.

End to end, as a person would: ``docsvc serve`` runs over an archive of 2,000 documents
(bench/bench_web.py's fill) while 4 API clients search (bench_web's queries, a second apart on
average); a 10-page image-only PDF of Chinese business pages is uploaded through the API, and a
search for a phrase only its last page holds is repeated until it returns the scan. It prints
the upload's answer time, the seconds from that answer until the scan is found, and the p50/p95
of the clients' searches before the upload and while OCR ran, with the load average around it.
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


LAST_PAGE = "附：机房动力环境验收签字页（共十页）"  # on the last page only
LAST_PHRASE = "机房动力环境验收签字页"  # searched quoted: adjacent, so only that page matches


def scan_pages(n_pages: int) -> bytes:
    """An image-only PDF of ``n_pages`` Chinese business pages (tests/ocr_samples.py's SLA page
    and acceptance report in turn, clean, skewed, JPEG-compressed or noisy), each with a footer
    naming its page, the last with a line of its own (LAST_PAGE)."""
    from PIL import ImageDraw, ImageFont

    font = ImageFont.truetype(str(samples.font_path()), round(12 / 72 * samples.DPI), index=samples.SC_INDEX)
    variants = ("clean", "skew", "jpeg", "noise")
    images = []
    for i in range(n_pages):
        page = samples.render(i % 2)
        draw = ImageDraw.Draw(page)
        x, y = samples.DPI, page.height - round(1.2 * samples.DPI)
        if i == n_pages - 1:
            draw.text((x, y - round(0.5 * samples.DPI)), LAST_PAGE, font=font, fill=0)
        draw.text((x, y), f"第{i + 1}页 共{n_pages}页", font=font, fill=0)
        images.append(samples.degrade(page, variants[i % len(variants)], seed=16 + i))
    return samples.image_pdf(images)


def end_to_end(n_pages: int, threads: int, docs: int, clients: int, think: float) -> None:
    """As a person would: ``docsvc serve`` over an archive of ``docs`` documents, ``clients``
    API clients searching (a pause of ``think`` s on average between searches), the scan uploaded
    through the API; the time from the upload's answer until a search for a phrase of its last
    page returns it, and the searches' p95 before and during OCR."""
    import http.client
    import json
    import uuid
    from collections import defaultdict
    from urllib.parse import urlencode

    import bench_web

    scan = scan_pages(n_pages)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        env, tokens = bench_web.fill(tmp, docs, 300)
        env["DOCSVC_OCR_THREADS"] = str(threads)
        port = free_port()
        proc = bench_web.start_server(env, port, 8, os.cpu_count() or 2, tmp / "server.log")
        try:
            probe = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            manager = {"Authorization": f"Bearer {tokens[0]}"}
            probe.request("GET", "/api/v1/documents?limit=1000&sort=id", headers=manager)
            ids = [d["id"] for d in json.loads(probe.getresponse().read())["items"]] or [1]

            def searching(seconds: float) -> tuple[list[bench_web.Client], dict]:
                results: dict = defaultdict(list)
                stop = time.time() + seconds
                workers = [
                    bench_web.Client(i, "127.0.0.1", port, tokens[i % len(tokens)], ids, stop, "search", think, results)
                    for i in range(clients)
                ]
                for w in workers:
                    w.start()
                return workers, results

            warm_workers, _ = searching(5)  # first searches fill caches: not counted
            for w in warm_workers:
                w.join()
            before_workers, before = searching(30)
            for w in before_workers:
                w.join()

            boundary = uuid.uuid4().hex
            fields = {
                "title": "验收与服务等级协议扫描件",
                "doc_type": "contract",
                "service_category": "4.2",
                "doc_class": "user",
            }
            body = b"".join(
                f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
                for k, v in fields.items()
            )
            body += (
                (
                    f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="扫描件.pdf"\r\n'
                    "Content-Type: application/pdf\r\n\r\n"
                ).encode()
                + scan
                + f"\r\n--{boundary}--\r\n".encode()
            )
            during_workers, during = searching(900)
            t0 = time.perf_counter()
            probe.request(
                "POST",
                "/api/v1/documents",
                body=body,
                headers={**manager, "Content-Type": f"multipart/form-data; boundary={boundary}"},
            )
            resp = probe.getresponse()
            answer = json.loads(resp.read())
            answered = time.perf_counter()
            if resp.status != 201:
                raise SystemExit(f"upload refused: {resp.status} {answer}")
            doc_id = answer["document"]["id"]
            query = "/api/v1/search?" + urlencode({"q": f'"{LAST_PHRASE}"', "per_page": "10"})
            searchable = None
            while time.perf_counter() - answered < 900:
                probe.request("GET", query, headers=manager)
                hits = json.loads(probe.getresponse().read())["hits"]
                if any(h["document_id"] == doc_id for h in hits):
                    searchable = time.perf_counter() - answered
                    break
                time.sleep(0.5)
            for w in during_workers:
                w.stop_at = 0  # (each ends after its current search)
            for w in during_workers:
                w.join()
            print(
                f"end to end through docsvc serve: {n_pages}-page scan ({len(scan) / 1e6:.1f} MB) uploaded, "
                f"answered in {(answered - t0) * 1000:.0f} ms; "
                + (
                    f"found by its last page's phrase {searchable:.1f} s after the answer"
                    if searchable
                    else "NOT found within 900 s"
                )
            )
            for label, results in (("before the upload", before), ("during OCR", during)):
                times = [t for t, ok, _ in results["search"] if ok]
                errors = sum(1 for _, ok, _ in results["search"] if not ok)
                print(
                    f"searches {label}: {len(times)} by {clients} clients (~{think:g} s apart), "
                    f"p50 {bench_web.pct(times, 50):.0f} ms, p95 {bench_web.pct(times, 95):.0f} ms, errors {errors}"
                )
        finally:
            proc.terminate()
            proc.wait(timeout=60)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variants", default=",".join(samples.VARIANTS))
    ap.add_argument("--pages", type=int, default=1, choices=(1, 2), help="pages per variant")
    ap.add_argument("--e2e-pages", type=int, default=10)
    ap.add_argument("--e2e-docs", type=int, default=2000, help="documents in the archive beside the scan")
    ap.add_argument("--e2e-clients", type=int, default=4, help="API clients searching meanwhile")
    ap.add_argument("--e2e-think", type=float, default=1.0, help="mean seconds between a client's searches")
    ap.add_argument("--no-quality", action="store_true", help="only the end-to-end run")
    ap.add_argument("--no-e2e", action="store_true")
    ap.add_argument("--no-tesseract", action="store_true")
    ap.add_argument("--threads", type=int, default=1, help="OCR threads (DOCSVC_OCR_THREADS)")
    args = ap.parse_args()
    os.environ["ORT_DISABLE_TELEMETRY"] = "1"
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    with_tesseract = not args.no_tesseract and shutil.which("tesseract") is not None
    ok = args.no_quality or quality(args.variants.split(","), args.pages, args.threads, with_tesseract)
    if not args.no_e2e:
        end_to_end(args.e2e_pages, args.threads, args.e2e_docs, args.e2e_clients, args.e2e_think)
        print(f"load average {os.getloadavg()[0]:.2f} after")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
