"""OCR of scans and photos, on pages the tests make themselves (tests/ocr_samples.py).

OCR costs several CPU-seconds per page, so the quality set is read once per session (seven
pages) and every storage test reads one page per database. Nothing is mocked but the faults.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from docsvc.core.content import JPEG, PDF, PNG, TIFF, detect_media_type
from docsvc.core.extract import ExtractionStatus, extract_text
from docsvc.core.ocr import OCR_NICENESS, OcrLimits, OcrLine, layout, make_searchable_pdf, run_ocr
from docsvc.core.search import SearchRequest
from tests import ocr_samples as samples
from tests.conftest import META, once_per_run, require
from tests.webutil import USER_DOC, app, csrf_of, world  # noqa: F401 - fixtures

ROOT = Path(__file__).resolve().parent.parent


def _engine() -> str:
    try:
        import rapidocr_onnxruntime  # noqa: F401

        from docsvc.adapters.ocr_rapid import ENGINE
    except ImportError as exc:
        require(False, f"rapidocr-onnxruntime is not installed ({exc})")
    return ENGINE


@pytest.fixture(scope="session")
def fonts():
    require(samples.font_path() is not None, "fonts-noto-cjk is not installed; the OCR tests draw their pages with it")


def _tiff(images: list[bytes]) -> bytes:
    from PIL import Image

    frames = [Image.open(io.BytesIO(b)) for b in images]
    out = io.BytesIO()
    frames[0].save(out, "TIFF", save_all=True, append_images=frames[1:], compression="tiff_deflate", dpi=(200, 200))
    return out.getvalue()


@pytest.fixture(scope="session")
def quality(fonts, tmp_path_factory, worker_id):
    """Each variant read once in a run: {variant: (sample, result)}; the clean pages as a 2-page TIFF."""
    engine = _engine()
    return once_per_run(tmp_path_factory, worker_id, "ocr-quality", lambda: _read_quality(engine))


def _read_quality(engine: str) -> dict:
    made = {s.variant: s for s in samples.samples(("clean", "skew", "noise", "jpeg", "photo", "upside_down"))}
    second = samples.samples(("clean",), pages=(1,))[0]
    out = {}
    tiff = _tiff([made["clean"].image, second.image])
    out["clean"] = (made["clean"], run_ocr(tiff, TIFF, engine=engine), second)
    # The skewed page as a scanned PDF: PDF pages are rendered by PDFium, not decoded as images.
    out["skew"] = (made["skew"], run_ocr(samples.image_pdf([made["skew"].image]), PDF, engine=engine), None)
    for variant in ("noise", "jpeg", "photo", "upside_down"):
        s = made[variant]
        out[variant] = (s, run_ocr(s.image, detect_media_type(s.image), engine=engine), None)
    return out


# Character error rate targets (whitespace removed): clean 1 %, degraded 2 %.
TARGET = {"clean": 0.01, "skew": 0.02, "noise": 0.02, "jpeg": 0.02, "photo": 0.02, "upside_down": 0.02}


@pytest.mark.parametrize("variant", list(TARGET))
def test_character_error_rate_and_key_terms(quality, variant):
    sample, result, _ = quality[variant]
    page = result.pages[0]
    assert result.status is ExtractionStatus.OK, result.detail_en
    error = samples.cer(sample.truth, page.text)
    assert error <= TARGET[variant], f"{variant}: CER {error:.2%}\n{page.text}"
    missing = [t for t in samples.KEY_TERMS if samples.compact(t) not in samples.compact(page.text)]
    assert not missing, f"{variant}: key terms not read: {missing}"
    # Every line the engine detected came back with text (none silently lost).
    assert page.lines and all(line.text.strip() for line in page.lines)
    assert page.confidence is not None and 0.8 < page.confidence <= 1.0


def test_upside_down_page_is_turned(quality):
    assert quality["upside_down"][1].pages[0].rotation == 180
    assert quality["clean"][1].pages[0].rotation == 0


def test_a_page_lying_on_its_side_is_turned_and_read(fonts):
    """A page scanned a quarter turned (its lines stand upright) is turned back and read whole."""
    from PIL import Image

    sample = samples.samples(("clean",))[0]
    out = io.BytesIO()
    Image.open(io.BytesIO(sample.image)).rotate(90, expand=True).save(out, "PNG")
    page = run_ocr(out.getvalue(), PNG, engine=_engine()).pages[0]
    assert page.rotation == 90  # turned a quarter counter-clockwise: a quarter clockwise turns it back
    assert samples.cer(sample.truth, page.text) <= TARGET["clean"], page.text


def test_a_strip_of_one_line_a_turned_strip_and_a_till_receipt_are_read(fonts):
    """Pages far from A4, in one scan: a single line (a strip cut from a page) 3,000 by 70 pixels,
    the same strip turned a quarter, and a till receipt 160 pixels wide. RapidOCR's detection
    scales a page's narrow side up to 736 pixels: the strip's orientation, once judged on a
    shrunken copy 30 pixels high, ran the detector out of memory, and so did the narrow pages
    until they were widened first; each was skipped as too large."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(str(samples.font_path()), 40, index=samples.SC_INDEX)
    strip = Image.new("L", (3000, 70), 255)
    line = "服务等级协议 SLA-2026-0412 乙方应在十五分钟内响应并在四小时内恢复服务"
    ImageDraw.Draw(strip).text((10, 10), line, font=font, fill=0)
    small = ImageFont.truetype(str(samples.font_path()), 22, index=samples.SC_INDEX)
    receipt = Image.new("L", (160, 2400), 255)
    items = ["星海便利店", "矿泉水 2.00", "面包 6.50", "合计 8.50", "微信支付"]
    for i in range(60):
        ImageDraw.Draw(receipt).text((8, 20 + 38 * i), items[i % len(items)], font=small, fill=0)
    pages = []
    for image in (strip, strip.rotate(90, expand=True), receipt):
        out = io.BytesIO()
        image.save(out, "PNG")
        pages.append(out.getvalue())
    pages.append(_blank(3000, 1))  # a page one pixel high holds no line (RapidOCR cannot resize it)
    result = run_ocr(_tiff(pages), TIFF, engine=_engine())
    assert result.status is ExtractionStatus.OK, result.detail_en
    flat, turned, till, thin = result.pages
    assert thin.status == "ok" and not thin.lines, thin.detail_en
    assert samples.cer(line, flat.text) <= TARGET["clean"], flat.text
    assert turned.rotation == 90 and samples.cer(line, turned.text) <= TARGET["clean"], turned.text
    assert till.status == "ok", till.detail_en
    assert samples.cer("\n".join(items[i % len(items)] for i in range(60)), till.text) <= TARGET["clean"], till.text


def test_text_touching_the_edges_is_read_whole(fonts):
    """A page cropped tight to its text and a small label: text touching the image's edge was
    detected in pieces, with made-up characters beside it (服\t服务\t务等级协议)."""
    from PIL import Image, ImageDraw, ImageFont, ImageOps

    page = samples.small_page(1, lines=6)
    tight = page.crop(ImageOps.invert(page).getbbox())
    label = Image.new("L", (120, 22), 255)
    font = ImageFont.truetype(str(samples.font_path()), 12, index=samples.SC_INDEX)
    ImageDraw.Draw(label).text((3, 3), "服务等级协议", font=font, fill=0)
    pages = []
    for image in (tight, label):
        out = io.BytesIO()
        image.save(out, "PNG")
        pages.append(out.getvalue())
    cropped, small = run_ocr(_tiff(pages), TIFF, engine=_engine()).pages
    truth = "\n".join([line for line in samples.PAGES[1] if isinstance(line, str)][:6])
    assert samples.cer(truth, cropped.text) <= TARGET["clean"], cropped.text
    assert small.text == "服务等级协议"
    # The lines are placed on the page as given, not on the margin the engine read it with.
    assert all(0 <= x <= tight.width and 0 <= y <= tight.height for line in cropped.lines for x, y in line.box)


def test_a_fax_in_standard_mode_is_read_at_square_pixels(fonts):
    """A fax's standard mode scans 204 dpi across and 98 down: stored as it is, every line is
    squashed to half its height. It is read, and its searchable PDF drawn, at square pixels."""
    import pikepdf
    from PIL import Image

    page = samples.small_page(1, lines=4)  # 200 dpi
    fax = page.resize((page.width * 204 // 200, page.height * 98 // 200)).convert("1")
    out = io.BytesIO()
    fax.save(out, "TIFF", compression="group4", dpi=(204, 98))
    data = out.getvalue()
    result = run_ocr(data, TIFF, engine=_engine())
    [read] = result.pages
    assert (read.width, read.dpi) == (fax.width, 204) and abs(read.height - fax.height * 204 / 98) <= 1
    truth = "\n".join([line for line in samples.PAGES[1] if isinstance(line, str)][:4])
    # Half the lines' height is lost for good at 98 dpi: a character or two misread, where read
    # as stored a fifth of the page was.
    assert samples.cer(truth, read.text) <= 0.05, read.text
    made = make_searchable_pdf(data, TIFF, result, title="传真件")
    assert made is not None
    with pikepdf.open(io.BytesIO(made.data)) as pdf:
        _, _, width, height = (float(v) for v in pdf.pages[0].mediabox)
    assert abs(width / height - page.width / page.height) < 0.01  # the page's own shape, not half as high
    assert "YS-2026-0630" in extract_text(made.data, PDF).text
    assert Image.open(io.BytesIO(data)).size == fax.size  # the archived fax itself is untouched


def test_multi_page_tiff_and_table_rows(quality):
    _sample, result, second = quality["clean"]
    assert result.total_pages == 2 and [p.number for p in result.pages] == [1, 2]
    assert samples.cer(second.truth, result.pages[1].text) <= 0.01
    assert "YS-2026-0630" in result.text
    # The P1–P4 table reads row by row, cells separated by tabs.
    rows = [line.split("\t") for line in result.pages[0].text.splitlines() if line.startswith("P")]
    assert [r[0] for r in rows] == ["P1", "P2", "P3", "P4"] and rows[0][1:] == ["15分钟", "4小时"]


def test_layout_takes_out_skew_and_orders_rows():
    # Two cells of one row on a page skewed by 2°: the right cell sits 35 px lower.
    import math

    def box(x, y, w, h, a=math.radians(2)):
        c, s = math.cos(a), math.sin(a)
        pts = [(0, 0), (w, 0), (w, h), (0, h)]
        return tuple((x + px * c - py * s, y + px * s + py * c) for px, py in pts)

    lines = [
        OcrLine("右", 0.9, box(1000, 135, 200, 40)),
        OcrLine("下一行", 0.9, box(0, 160, 300, 40)),
        OcrLine("左", 0.9, box(0, 100, 200, 40)),
    ]
    ordered = layout(lines)
    assert [(line.text, line.row) for line in ordered] == [("左", 0), ("右", 0), ("下一行", 1)]


def test_searchable_pdf_keeps_phrases(quality, tmp_path):
    from docsvc.core.ocr import make_searchable_pdf

    sample, result, _ = quality["skew"]
    scan = samples.image_pdf([sample.image])
    made = make_searchable_pdf(scan, PDF, result, title="服务等级协议")
    assert made is not None and made.pdfa == "2b", made
    pdf = made.data
    text = extract_text(pdf, PDF)
    assert text.status is ExtractionStatus.OK
    for term in samples.KEY_TERMS:
        assert samples.compact(term) in samples.compact(text.text), term
    assert "服务等级协议" in text.text  # one run of characters, no spaces between the words
    import pikepdf

    with pikepdf.open(io.BytesIO(pdf)) as doc:
        meta = doc.open_metadata()
        assert meta["pdfaid:part"] == "2" and meta["pdfaid:conformance"] == "B"
        assert doc.Root.OutputIntents[0].S == "/GTS_PDFA1"
        fonts = [f for page in doc.pages for f in page.Resources.Font.values()]
        assert fonts and all("/FontFile2" in f.DescendantFonts[0].FontDescriptor for f in fonts)
        assert len(doc.pages) == 1


# --- limits ------------------------------------------------------------------------------------


def _png_header(width: int, height: int) -> bytes:
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(b"\x00" * 1024))
        + chunk(b"IEND", b"")
    )


def test_decompression_bomb_is_refused_undecoded():
    bomb = _png_header(100_000, 100_000)  # 10^10 pixels declared in a few hundred bytes
    assert detect_media_type(bomb, "scan.png") == PNG
    result = run_ocr(bomb, PNG, engine=_engine(), limits=OcrLimits(max_pixels=50_000_000))
    assert result.status is ExtractionStatus.TOO_LARGE
    assert "100000×100000" in result.detail_zh and "decompression bomb" in result.detail_en


def _blank(width: int = 300, height: int = 200) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("L", (width, height), 255).save(out, "PNG")
    return out.getvalue()


class HangingEngine:
    """An engine that never finishes a page wider than 1,000 pixels (an injected hang)."""

    name, version = "hanging", "1"

    def __init__(self, threads: int) -> None:
        pass

    def recognise(self, image) -> tuple[list[OcrLine], int]:
        if image.shape[1] > 1000:
            time.sleep(60)  # a limit that did not hold reads the page after all, and fails the test
        return [OcrLine("第二页", 1.0, ((0, 0), (10, 0), (10, 10), (0, 10)))], 0


def test_page_count_limit_and_per_page_timeout(fonts):
    engine = _engine()
    three = _tiff([_blank(), _blank(), _blank()])
    capped = run_ocr(three, TIFF, engine=engine, limits=OcrLimits(max_pages=2))
    assert capped.total_pages == 3 and len(capped.pages) == 2 and capped.truncated
    assert capped.status is ExtractionStatus.EMPTY
    # A page that takes longer than its limit is skipped, and the next page is still read.
    slow = run_ocr(
        _tiff([_blank(1600, 1200), _blank()]),
        TIFF,
        engine=f"{__name__}:HangingEngine",
        limits=OcrLimits(page_timeout_s=1.0),
    )
    assert [p.status for p in slow.pages] == ["too_large", "ok"]
    assert "timed out" in slow.pages[0].detail_en and slow.pages[0].number == 1
    assert slow.pages[1].text == "第二页"


class BrokenEngine:
    """An engine that fails on a page 1,600 pixels wide and runs out of memory on one 900 wide
    (injected faults)."""

    name, version = "broken", "1"

    def __init__(self, threads: int) -> None:
        pass

    def recognise(self, image) -> tuple[list[OcrLine], int]:
        if image.shape[1] == 1600:
            raise ValueError("a page this engine cannot take (injected)")
        if image.shape[1] == 900:
            raise MemoryError("injected")
        return [OcrLine("第三页", 1.0, ((0, 0), (10, 0), (10, 10), (0, 10)))], 0


def test_a_page_the_engine_fails_on_fails_alone_and_the_next_is_read():
    """An engine's error on one page is that page's failure, said as such; running out of memory
    is the page being over its limits. Either way the pages after it are read."""
    result = run_ocr(_tiff([_blank(1600, 1200), _blank(900, 600), _blank()]), TIFF, engine=f"{__name__}:BrokenEngine")
    failed, too_large, read = result.pages
    assert (failed.status, too_large.status, read.status) == ("failed", "too_large", "ok")
    assert "无法识别（ValueError）" in failed.detail_zh and "could not be read (ValueError)" in failed.detail_en
    assert "memory" in too_large.detail_en
    assert result.status is ExtractionStatus.OK and result.text == "第三页"


class PriorityEngine:
    """An engine that reads, on every page, the nice value of the process it runs in."""

    name, version = "priority", "1"

    def __init__(self, threads: int) -> None:
        pass

    def recognise(self, image) -> tuple[list[OcrLine], int]:
        return [OcrLine(f"nice {os.nice(0)}", 1.0, ((0, 0), (10, 0), (10, 10), (0, 10)))], 0


def test_the_child_reads_pages_at_a_lower_priority_than_the_server_that_asked():
    """Seconds of CPU a page: a server's searches and pages go first when the cores are short."""
    result = run_ocr(_blank(), PNG, engine=f"{__name__}:PriorityEngine")
    assert result.status is ExtractionStatus.OK, result.detail_en
    assert result.pages[0].text == f"nice {min(os.nice(0) + OCR_NICENESS, 19)}"


def test_memory_limit_stops_the_child_cleanly():
    result = run_ocr(_blank(), PNG, engine=_engine(), limits=OcrLimits(memory_bytes=300 * 1024 * 1024))
    assert result.status is ExtractionStatus.FAILED and "OCR process failed" in result.detail_en


def test_damaged_image_is_a_status():
    result = run_ocr(b"\xff\xd8\xff\xe0" + b"\x00" * 100, JPEG, engine=_engine())
    assert result.status is ExtractionStatus.FAILED and "damaged" in result.detail_en


def test_ocr_opens_no_network_connection(fonts, tmp_path):
    """strace follows the OCR child (onnxruntime included): no socket is connected anywhere
    but a local one, and the child is told to keep telemetry off."""
    strace = shutil.which("strace")
    require(strace is not None, "strace is not installed (Debian package strace)")
    image = tmp_path / "page.png"
    image.write_bytes(samples.degrade(samples.render(1), "clean"))
    script = textwrap.dedent(f"""
        import sys
        from docsvc.core.ocr import run_ocr
        from docsvc.adapters.ocr_rapid import ENGINE
        r = run_ocr(open({str(image)!r}, "rb").read(), "image/png", engine=ENGINE)
        print(r.status.value, "YS-2026-0630" in r.text)
    """)
    log = tmp_path / "strace.log"
    env = {k: v for k, v in os.environ.items() if k != "ORT_DISABLE_TELEMETRY"}
    proc = subprocess.run(
        [strace, "-f", "-e", "trace=socket,connect,sendto", "-o", str(log), sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=600,
    )
    if "ptrace" in proc.stderr and "Operation not permitted" in proc.stderr:
        require(False, f"strace cannot trace here: {proc.stderr.strip()[:200]}")
    assert proc.stdout.split() == ["ok", "True"], proc.stderr[-2000:]
    calls = log.read_text()
    network = [line for line in calls.splitlines() if re.search(r"AF_INET6?\b", line)]
    assert not network, "\n".join(network[:20])
    from docsvc.core.ocr import _child_env

    assert _child_env()["ORT_DISABLE_TELEMETRY"] == "1"


# --- in the archive, in the background ------------------------------------------------------


def _search(svc, query: str) -> list[int]:
    return [h.document_id for h in svc.index.search(SearchRequest(query=query)).hits]


def test_scan_is_searchable_after_background_ocr(svc, fonts):
    from docsvc.services.ocr import OCR_JOB

    # The pipeline, not the reading, is under test here (the quality tests read whole pages):
    # the page's first eight lines, which hold the terms searched for, on a smaller page.
    scan = samples.image_pdf([samples.degrade(samples.small_page(0, lines=8), "skew")])
    doc = svc.archive.add_document(scan, "签章合同扫描件.pdf", {**META, "title": "签章合同"}, actor="alice").document
    version = svc.archive.version(doc.id)
    svc.index.sync()
    # Uploaded and indexed at once, without its text: OCR is queued, not run in the request.
    assert svc.index.extraction_statuses([version])[version.id] == "ocr_pending"
    assert doc.id not in _search(svc, "人民币肆拾捌万陆仟伍佰元整")
    job = svc.jobs.run_next(kinds=(OCR_JOB,))
    assert job is not None and job.state.value == "done", job
    assert svc.jobs.run_next(kinds=(OCR_JOB,)) is None  # one job per content
    svc.index.sync()
    assert svc.index.extraction_statuses([version])[version.id] == "ok"
    for term in ("服务等级协议", "人民币肆拾捌万陆仟伍佰元整", "SLA-2026-0412", "2026年4月12日"):
        assert doc.id in _search(svc, term), term
    # The original bytes are untouched; the searchable PDF is a rendition beside them.
    assert svc.archive.read_version(doc.id, 1, actor="alice")[1] == scan
    [rendition] = svc.catalog.renditions(version.id)
    assert rendition.kind == "ocr-pdf" and rendition.producer.startswith("docsvc-ocr rapidocr/")
    text = extract_text(svc.blobs.read(rendition.sha256), PDF).text
    assert "人民币肆拾捌万陆仟伍佰元整" in text
    info = svc.index.ocr.info(version.sha256)
    assert info.engine.startswith("PP-OCRv4") and info.engine_version.startswith("rapidocr/")
    assert "docsvc r2" in info.engine  # which of docsvc's ways of reading a page made the text
    assert info.confidence > 0.9 and info.pages[0]["confidence"] > 0.9
    audit = [e for e in svc.catalog.audit_entries(document_id=doc.id) if e.action == "rendition.added"]
    assert audit and audit[-1].details["kind"] == "ocr-pdf"


def test_failed_attempt_is_retried_and_loses_nothing(svc, fonts, monkeypatch):
    """A crash of the OCR run (injected) leaves the version archived and "ocr_pending", the
    job queued for a retry; the retry reads it."""
    import datetime as dt

    from docsvc.services import ocr as ocr_service

    page = samples.degrade(samples.small_page(1, lines=3), "jpeg")
    doc = svc.archive.add_document(page, "验收报告.jpg", {**META, "title": "验收报告"}, actor="alice").document
    version = svc.archive.version(doc.id)
    svc.index.sync()
    real = ocr_service.run_ocr

    def crash(*args, **kwargs):
        raise OSError("the machine lost power (injected)")

    monkeypatch.setattr(ocr_service, "run_ocr", crash)
    job = svc.jobs.run_next(kinds=(ocr_service.OCR_JOB,))
    assert job.state.value == "queued" and job.attempts == 1 and "injected" in job.error["message_en"]
    assert svc.index.extraction_statuses([version])[version.id] == "ocr_pending"
    assert svc.catalog.renditions(version.id) == []
    monkeypatch.setattr(ocr_service, "run_ocr", real)
    later = svc.jobs.clock() + dt.timedelta(minutes=5)
    monkeypatch.setattr(svc.jobs, "clock", lambda: later)
    job = svc.jobs.run_next(kinds=(ocr_service.OCR_JOB,))
    assert job.state.value == "done" and job.attempts == 2
    svc.index.sync()
    assert doc.id in _search(svc, "YS-2026-0630")
    assert svc.archive.read_version(doc.id, 1, actor="alice")[1] == page


@pytest.mark.sqlite_only
def test_photo_through_api_and_web(world, fonts):
    from docsvc.services.ocr import OCR_JOB

    svc = world.svc
    photo = samples.degrade(samples.small_page(1, lines=6), "photo")
    c = world.api("alice")
    resp = c.post(
        "/api/v1/documents",
        data={**USER_DOC, "title": "现场验收照片", "doc_class": "user", "file": (io.BytesIO(photo), "现场照片.jpg")},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 201, resp.json  # answered at once: OCR is not done in the request
    doc_id = resp.json["document"]["id"]
    svc.index.sync()
    status = c.get(f"/api/v1/documents/{doc_id}/versions/1/ocr").json
    assert status["text_status"] == "ocr_pending" and status["ocr"] is None and status["job"]["state"] == "queued"
    page = world.login("alice").get(f"/documents/{doc_id}").data.decode()
    assert "等待 OCR" in page and "rerun-ocr" not in page  # members may not re-run OCR
    assert c.post(f"/api/v1/documents/{doc_id}/versions/1/ocr").status_code == 403
    assert svc.jobs.run_next(kinds=(OCR_JOB,)).state.value == "done"
    svc.index.sync()
    status = c.get(f"/api/v1/documents/{doc_id}/versions/1/ocr").json
    assert status["text_status"] == "ok" and status["ocr"]["engine_version"].startswith("rapidocr/")
    assert status["ocr"]["confidence"] > 0.9 and status["ocr"]["pages"][0]["number"] == 1
    assert status["ocr"]["pdfa"] == "PDF/A-2b"  # its searchable PDF passed the check
    pdf = c.get(f"/api/v1/documents/{doc_id}/versions/1/renditions/ocr-pdf")
    assert pdf.status_code == 200 and pdf.mimetype == PDF and ".ocr.pdf" in pdf.headers["Content-Disposition"]
    assert "YS-2026-0630" in extract_text(pdf.data, PDF).text
    hits = c.get("/api/v1/search", query_string={"q": "贰万叁仟元整"}).json
    assert doc_id in [h["document_id"] for h in hits["hits"]]
    mgr = world.login("mgr")
    page = mgr.get(f"/documents/{doc_id}")
    html = page.data.decode()
    assert "文字来自 OCR" in html and "可检索 PDF" in html and "rerun-ocr-1" in html
    assert '<span class="badge pdfa">PDF/A-2b</span>' in html
    resp = mgr.post(f"/documents/{doc_id}/versions/1/ocr", data={"csrf_token": csrf_of(page)})
    assert resp.status_code == 302
    [job] = [j for j in svc.jobs.store.list_jobs(kind=OCR_JOB)[0] if j.state.value == "queued"]
    assert job.payload["force"] is True and job.created_by == "mgr"
    text_doc = c.post(
        "/api/v1/documents",
        data={**USER_DOC, "file": (io.BytesIO("正文".encode()), "a.txt")},
        content_type="multipart/form-data",
    ).json["document"]["id"]
    svc.index.sync()
    refused = world.api("mgr").post(f"/api/v1/documents/{text_doc}/versions/1/ocr")
    assert refused.status_code == 400 and "text layer" in refused.json["error"]["message_en"]


@pytest.mark.sqlite_only
def test_cli_reads_scans_and_hands_out_the_searchable_pdf(config, tmp_path, monkeypatch, fonts):
    from click.testing import CliRunner

    from docsvc.cli import cli

    monkeypatch.chdir(tmp_path)
    env = {
        "DOCSVC_ARCHIVE_DIR": config["ARCHIVE_DIR"],
        "DOCSVC_INDEX_DIR": config["INDEX_DIR"],
        "DOCSVC_DATABASE_URL": config["DATABASE_URL"],
        "DOCSVC_ACTOR": "张伟",
        "DOCSVC_TEMPLATES_DIR": config["TEMPLATES_DIR"],
    }
    runner = CliRunner()

    def run(*args: str, code: int = 0):
        result = runner.invoke(cli, list(args), env=env, catch_exceptions=False)
        assert result.exit_code == code, result.output + result.stderr
        return result

    scan = tmp_path / "验收报告.tif"
    scan.write_bytes(_tiff([samples.degrade(samples.small_page(1, lines=4), "clean")]))
    run("init")
    added = json.loads(
        run(
            "doc",
            "add",
            str(scan),
            "--title",
            "验收报告",
            "--type",
            "acceptance_report",
            "--category",
            "4.2",
            "--class",
            "user",
            "--json",
        ).output
    )
    doc_id = added["document"]["id"]
    synced = json.loads(run("index", "sync", "--json").output)
    assert synced["ocr_jobs"] == 1 and not synced["error"]
    found = json.loads(run("search", "YS-2026-0630", "--json").output)
    assert doc_id in [h["document_id"] for h in found["hits"]]
    out = tmp_path / "out"
    out.mkdir()
    run("doc", "get", str(doc_id), "--rendition", "ocr-pdf", "-o", str(out))
    pdf = (out / "验收报告.ocr.pdf").read_bytes()
    assert "验收结论" in extract_text(pdf, PDF).text
    again = json.loads(run("ocr", str(doc_id), "--json").output)
    assert again["job"]["state"] == "done" and again["ocr"]["engine"].startswith("PP-OCRv4")
    missing = run("doc", "get", str(doc_id), "--rendition", "pdf", "-o", str(out), code=2)
    assert "PDF" in missing.stderr
