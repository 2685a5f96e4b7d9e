"""Text out of scans and photos (OCR): the engine port, page layout, and the limited child.

Scanned PDFs (pages with no text layer) and images (JPEG, PNG, TIFF with all its pages) are
read by an :class:`OcrEngine` — the adapter ``docsvc.adapters.ocr_rapid`` runs PP-OCRv4
through RapidOCR, chosen by measurement (README, "OCR"). Recognition runs in a child process
like PDF text extraction (:mod:`docsvc.core.extract`), because it decodes hostile images with
native code and needs most of a gigabyte:

- the child has an address-space limit (RLIMIT_AS) and a CPU-time limit *per page* (the soft
  RLIMIT_CPU is moved on before each page); the caller also gives each page a wall-clock limit,
  which does not count the time the child, at a lower priority, waited for a CPU while the
  server was busy (a page is not skipped for good because searches were many that minute);
- a page that breaks a limit (or crashes the child) is recorded as such and a new child goes on
  from the next page, so one poisoned page costs that page, not the document;
- an image's pixel count is read from its header and an image over ``max_pixels`` is refused
  before a byte of it is decoded (decompression bombs); PDF pages are rendered at ``dpi`` or
  less, so that no page exceeds ``max_pixels``; pages beyond ``max_pages`` are not read;
- the caller names the pages to read (a mixed PDF's pages without a usable text layer) and the
  pages an interrupted run read already, and is handed each page as soon as it is read, to keep
  it: a crash costs the page being read, not the document (docsvc.services.ocr);
- the child inherits ``ORT_DISABLE_TELEMETRY=1`` and loads the engine's models from its own
  package: nothing is downloaded, no connection is opened (tests/test_ocr.py watches it).

Lines come back with a box and a confidence. :func:`layout` puts them in reading order: the
page's skew is measured from the boxes and taken out, lines whose middles share a height form
one row (a table row reads left to right, cells separated by tabs, as DOCX extraction gives
them), and :func:`docsvc.core.pdftext.repair_text` joins lines the page width broke.
"""

from __future__ import annotations

import io
import json
import math
import os
import resource
import subprocess
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from docsvc.core import workers
from docsvc.core.content import PDF, TIFF, is_image
from docsvc.core.extract import Extraction, ExtractionStatus
from docsvc.core.ocrpdf import SearchablePdf, image_resolution
from docsvc.core.pdftext import repair_text

# Part of the cache key of OCR text (with the engine's version): a change to what this module
# makes of the engine's lines bumps it, so the next index sync reads the pages again.
OCR_LAYOUT_VERSION = 1
# The producer recorded for a searchable-PDF rendition begins with this (see rendition_kind).
OCR_PRODUCER = "docsvc-ocr"
_STARTUP_S = 60.0  # time the child may take to import the engine and load its models
# The child's nice value above its parent's: reading a page is seconds of CPU, and a server's
# searches and pages must not wait behind it when the cores are short (idle cores it still gets).
OCR_NICENESS = 10


@dataclass(frozen=True)
class OcrLimits:
    max_pages: int = 300  # pages beyond this are not read (truncated)
    max_pixels: int = 60_000_000  # an image larger than this is refused undecoded
    dpi: int = 200  # PDF pages are rendered at this resolution (the engine gains nothing above)
    page_timeout_s: float = 120.0  # wall clock per page, not counting the child's wait for a CPU
    page_cpu_s: int = 90  # CPU seconds per page (all the engine's threads count)
    memory_bytes: int = 3 * 1024**3  # the child's address space (onnxruntime maps ~1.7 GB)
    threads: int = 1  # the engine's threads: OCR must leave the server's cores to searches


@dataclass(frozen=True)
class OcrLine:
    text: str
    confidence: float
    box: tuple[
        tuple[float, float], ...
    ]  # 4 corners in page pixels: text's top-left, top-right, bottom-right, bottom-left
    row: int = 0  # lines with the same row number are cells of one row (set by layout)


@dataclass(frozen=True)
class OcrPage:
    number: int  # 1-based
    width: int = 0  # pixels, as the page was read
    height: int = 0
    dpi: float = 0.0
    rotation: int = 0  # degrees the engine turned the page to read it upright (0, 90, 180, 270)
    lines: tuple[OcrLine, ...] = ()
    status: str = "ok"  # ok, or an ExtractionStatus value saying why the page was not read
    detail_zh: str = ""
    detail_en: str = ""

    @property
    def text(self) -> str:
        return page_text(self.lines)

    @property
    def confidence(self) -> float | None:
        """The recognised characters' mean confidence (None when nothing was read)."""
        chars = sum(len(line.text) for line in self.lines)
        if not chars:
            return None
        return sum(line.confidence * len(line.text) for line in self.lines) / chars

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "width": self.width,
            "height": self.height,
            "dpi": self.dpi,
            "rotation": self.rotation,
            "status": self.status,
            "zh": self.detail_zh,
            "en": self.detail_en,
            "lines": [
                [line.text, round(line.confidence, 4), [list(p) for p in line.box], line.row] for line in self.lines
            ],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> OcrPage:
        return cls(
            int(d["number"]),
            int(d.get("width", 0)),
            int(d.get("height", 0)),
            float(d.get("dpi", 0)),
            int(d.get("rotation", 0)),
            tuple(
                OcrLine(t, float(c), tuple((float(x), float(y)) for x, y in b), int(r))
                for t, c, b, r in d.get("lines", ())
            ),
            d.get("status", "ok"),
            d.get("zh", ""),
            d.get("en", ""),
        )


@dataclass(frozen=True)
class OcrResult:
    status: ExtractionStatus
    engine: str = ""
    engine_version: str = ""
    pages: tuple[OcrPage, ...] = ()
    total_pages: int = 0
    detail_zh: str = ""
    detail_en: str = ""
    truncated: bool = False  # pages to read lay beyond max_pages

    @property
    def text(self) -> str:
        return "\n\n".join(t for t in (p.text for p in self.pages) if t)

    @property
    def confidence(self) -> float | None:
        chars = sum(len(line.text) for p in self.pages for line in p.lines)
        if not chars:
            return None
        return sum(line.confidence * len(line.text) for p in self.pages for line in p.lines) / chars

    def summary(self) -> dict[str, Any]:
        """What the document page and the API show: the engine, its version, the confidence."""
        return {
            "engine": self.engine,
            "engine_version": self.engine_version,
            "confidence": round(self.confidence, 4) if self.confidence is not None else None,
            "pages": [
                {
                    "number": p.number,
                    "status": p.status,
                    "rotation": p.rotation,
                    "confidence": round(p.confidence, 4) if p.confidence is not None else None,
                }
                for p in self.pages
            ],
        }

    def to_extraction(self, version: str) -> Extraction:
        return Extraction(
            self.status,
            self.text,
            self.total_pages or None,
            self.detail_zh,
            self.detail_en,
            self.truncated,
            extractor_version=version,
        )


class OcrEngine(Protocol):
    """Reads the lines of one page image. Adapters: docsvc.adapters.ocr_rapid."""

    name: str
    version: str  # recorded with the text it made (at most 20 characters: part of a cache key)

    def recognise(self, image: Any) -> tuple[list[OcrLine], int]:
        """Lines of ``image`` (an RGB numpy array, height × width × 3) and the clockwise turn in
        degrees (0/90/180/270) after which the page read upright. Boxes are in the pixels of
        the *turned* image, corners in the text's own reading order. Never returns a line the
        engine detected and could not read without its text being empty (the caller counts those).
        Raises MemoryError when the page needs more memory than the process may have (the page
        is then over its limits); any other exception fails that page alone."""
        ...


def cache_key(engine_version: str) -> str:
    """The extractor_version under which OCR text is cached (at most 32 characters)."""
    return f"ocr/{OCR_LAYOUT_VERSION} {engine_version}"[:32]


# --- layout ----------------------------------------------------------------------------------


def _angle(box: Sequence[tuple[float, float]]) -> float:
    (x0, y0), (x1, y1) = box[0], box[1]
    return math.atan2(y1 - y0, x1 - x0)


def layout(lines: Sequence[OcrLine]) -> list[OcrLine]:
    """``lines`` (in an upright page's pixels) in reading order, each with its row number."""
    lines = [line for line in lines if line.box]
    if not lines:
        return []
    angles = sorted(_angle(line.box) for line in lines)
    skew = angles[len(angles) // 2]  # the page's skew: the median baseline angle
    cos, sin = math.cos(-skew), math.sin(-skew)

    def deskewed(line: OcrLine) -> tuple[float, float, float, float]:
        pts = [(x * cos - y * sin, x * sin + y * cos) for x, y in line.box]
        ys = [p[1] for p in pts]
        return (sum(ys) / len(ys), min(p[0] for p in pts), max(ys) - min(ys), 0.0)

    placed = sorted(((deskewed(line), line) for line in lines), key=lambda t: t[0][0])
    rows: list[list[tuple[tuple[float, float, float, float], OcrLine]]] = []
    for geo, line in placed:
        if rows:
            row = rows[-1]
            mid = sum(g[0] for g, _ in row) / len(row)
            height = min(geo[2], min(g[2] for g, _ in row))
            if abs(geo[0] - mid) < 0.5 * height:
                row.append((geo, line))
                continue
        rows.append([(geo, line)])
    out = []
    for r, row in enumerate(rows):
        for _, line in sorted(row, key=lambda t: t[0][1]):
            out.append(OcrLine(line.text, line.confidence, line.box, r))
    return out


def page_text(lines: Sequence[OcrLine]) -> str:
    """A page's text from lines in reading order: cells of a row joined by tabs, rows by line
    breaks, then lines the layout broke joined again."""
    rows: list[list[str]] = []
    last = None
    for line in lines:
        if not line.text.strip():
            continue
        if line.row != last:
            rows.append([])
            last = line.row
        rows[-1].append(line.text.strip())
    return repair_text("\n".join("\t".join(cells) for cells in rows))


def _turn_back(
    box: Sequence[tuple[float, float]], rotation: int, width: int, height: int
) -> tuple[tuple[float, float], ...]:
    """A box in the pixels of the page turned by ``rotation`` (clockwise) mapped back onto the
    page as it was given (``width`` × ``height``), keeping the corners' reading order."""
    out = []
    for x, y in box:
        if rotation == 90:  # turned clockwise: a turned point (x, y) was at (y, H - x)
            out.append((y, height - x))
        elif rotation == 180:
            out.append((width - x, height - y))
        elif rotation == 270:
            out.append((width - y, x))
        else:
            out.append((x, y))
    return tuple(out)


# --- the child process -----------------------------------------------------------------------


def run_ocr(
    data: bytes,
    media_type: str,
    *,
    engine: str,
    limits: OcrLimits = OcrLimits(),
    pages: Sequence[int] | None = None,
    done: Mapping[int, OcrPage] | None = None,
    on_page: Callable[[OcrPage], None] | None = None,
) -> OcrResult:
    """Recognise the pages of ``data`` with the engine ``engine`` ("module:Class", built with
    ``threads=``) in limited child processes. Never raises for the content: what could not be
    read is a status, per page and for the document (``on_page`` may raise: that stops it).

    ``pages``: the (1-based) pages to read, every page when None (a scan, an image); a mixed
    PDF's text pages are not read. ``done``: pages already read by an earlier, interrupted run,
    which are not read again. ``on_page`` is called with each page as it is read (or given up),
    before the next one: the caller keeps it, so that a crash loses at most the page being read."""
    results: dict[int, OcrPage] = dict(done or {})
    wanted = None if pages is None else sorted({int(p) for p in pages if int(p) >= 1})
    info: dict[str, Any] = {}

    def got(page: OcrPage) -> None:
        results[page.number] = page
        if on_page is not None:
            on_page(page)

    while True:
        # The child reads the wanted pages in order, skipping those already read.
        outcome = _one_child(data, media_type, engine, limits, wanted, set(results), got, info)
        if outcome == "error":
            return OcrResult(
                ExtractionStatus(info["error"]["status"]),
                info.get("engine", ""),
                info.get("version", ""),
                detail_zh=info["error"]["zh"],
                detail_en=info["error"]["en"],
            )
        if "total" not in info:  # died before it could even open the file
            return OcrResult(
                ExtractionStatus.FAILED,
                info.get("engine", ""),
                info.get("version", ""),
                detail_zh=f"OCR 进程异常（{outcome}）。",
                detail_en=f"The OCR process failed ({outcome}).",
            )
        left = pages_to_read(info["total"], wanted, set(results), limits)
        if outcome == "done" or not left:
            break
        reading = left[0]  # the page the child was reading when it stopped
        if outcome == "timeout":
            zh, en = (
                f"第 {reading} 页识别超时（{limits.page_timeout_s:g} 秒），已跳过。",
                f"Page {reading} timed out after {limits.page_timeout_s:g} s and was skipped.",
            )
        else:
            zh, en = (
                f"第 {reading} 页识别超出资源限制（CPU 或内存），已跳过。",
                f"Page {reading} exceeded its CPU or memory limit and was skipped.",
            )
        got(OcrPage(reading, status=ExtractionStatus.TOO_LARGE.value, detail_zh=zh, detail_en=en))
    total = int(info.get("total", 0))
    readable = min(total, limits.max_pages) if total else limits.max_pages
    asked = wanted if wanted is not None else list(range(1, total + 1))
    numbers = [n for n in asked if n <= readable]
    return _summarise(info, [results[n] for n in numbers if n in results], truncated=len(numbers) < len(asked))


def pages_to_read(total: int, wanted: Sequence[int] | None, skip: set[int], limits: OcrLimits) -> list[int]:
    """The (1-based) pages a child reads, in order: the wanted ones (all when None) that exist,
    are within ``max_pages`` and were not read already."""
    last = min(total, limits.max_pages)
    candidates = range(1, last + 1) if wanted is None else (n for n in wanted if n <= last)
    return [n for n in candidates if n not in skip]


def _summarise(info: dict[str, Any], pages: list[OcrPage], *, truncated: bool = False) -> OcrResult:
    total = int(info.get("total", len(pages)))
    engine, version = info.get("engine", ""), info.get("version", "")
    read = [p for p in pages if p.status == "ok"]
    failed = [p for p in pages if p.status != "ok"]
    if not read and failed:
        first = failed[0]
        return OcrResult(
            ExtractionStatus(first.status),
            engine,
            version,
            tuple(pages),
            total,
            first.detail_zh,
            first.detail_en,
            truncated,
        )
    if not any(p.text for p in read):
        return OcrResult(
            ExtractionStatus.EMPTY,
            engine,
            version,
            tuple(pages),
            total,
            "OCR 没有识别出文字。",
            "OCR found no text.",
            truncated,
        )
    zh = en = ""
    if failed:
        numbers = "、".join(str(p.number) for p in failed[:20])
        zh, en = f"第 {numbers} 页未能识别。", f"Page(s) {numbers.replace('、', ', ')} could not be read."
    elif truncated:
        last = min(total, info.get("max_pages", total))
        zh, en = f"只识别了前 {last} 页（共 {total} 页）。", f"Only the first {last} of {total} pages were read."
    return OcrResult(ExtractionStatus.OK, engine, version, tuple(pages), total, zh, en, truncated)


_MALLOC_KEEP = 4 * 1024**3  # above any one allocation under the default 3 GB address-space limit


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["ORT_DISABLE_TELEMETRY"] = "1"  # onnxruntime reports usage to its vendor unless told not to
    env["OMP_NUM_THREADS"] = env.get("OMP_NUM_THREADS", "1")
    env["OPENCV_OPENCL_RUNTIME"] = "disabled"
    # glibc serves each of the network's large tensors with a fresh mmap and returns it on free,
    # so every page paid for faulting in hundreds of megabytes again (about 1.5 s of a 4 s page).
    # The child reads one document and exits: it may keep what it freed for the next tensor.
    env.setdefault("MALLOC_MMAP_THRESHOLD_", str(_MALLOC_KEEP))
    env.setdefault("MALLOC_TRIM_THRESHOLD_", str(_MALLOC_KEEP))
    return env


def _spawn(request: dict[str, Any], data: bytes) -> subprocess.Popen[bytes]:
    proc = workers.spawn("docsvc.core.ocr:_child_main", env=_child_env())
    assert proc.stdin is not None
    try:
        workers.write_frame(proc.stdin.fileno(), json.dumps(request).encode())
        workers.write_frame(proc.stdin.fileno(), data)
        proc.stdin.close()
    except BrokenPipeError:
        pass  # it died at once; the caller reads its end
    return proc


def _frames(proc: subprocess.Popen[bytes], first_s: float, each_s: float) -> Iterator[dict[str, Any]]:
    """The child's answers; raises TimeoutError when one is late (not counting the time the
    child, which gives way to the server, waited for a CPU), EOFError when it died."""
    assert proc.stdout is not None
    fd, wait = proc.stdout.fileno(), first_s
    while True:
        workers.wait_readable(fd, wait, pid=proc.pid)
        yield json.loads(workers.read_frame(fd, deadline=time.monotonic() + wait))
        wait = each_s


class _CallerFailed(Exception):
    """``on_page`` raised: not the child's fault, so the run stops rather than skip a page."""


def _one_child(
    data: bytes,
    media_type: str,
    engine: str,
    limits: OcrLimits,
    wanted: list[int] | None,
    skip: set[int],
    got: Callable[[OcrPage], None],
    info: dict[str, Any],
) -> str:
    """Run a child over the wanted pages not in ``skip``: "done", "error" (the file),
    "timeout" or "died"."""
    request = {
        "task": "ocr",
        "engine": engine,
        "media_type": media_type,
        "pages": wanted,
        "skip": sorted(skip),
        "limits": limits.__dict__,
    }
    info["max_pages"] = limits.max_pages
    proc = _spawn(request, data)
    try:
        for frame in _frames(proc, _STARTUP_S + limits.page_timeout_s, limits.page_timeout_s):
            if "engine" in frame:
                info.update(engine=frame["engine"], version=frame["version"])
            if "total" in frame:
                info["total"] = frame["total"]
            if "page" in frame:
                try:
                    got(OcrPage.from_dict(frame["page"]))
                except Exception as exc:  # the caller's, not the child's: it stops the run
                    raise _CallerFailed from exc
            if "error" in frame:
                info["error"] = frame["error"]
                return "error"
            if frame.get("done"):
                return "done"
        return "died"
    except _CallerFailed as failed:
        assert failed.__cause__ is not None
        raise failed.__cause__ from None
    except TimeoutError:
        return "timeout"
    except (EOFError, ValueError, OSError):
        return "died"
    finally:
        workers.stop(proc)


def make_searchable_pdf(
    data: bytes,
    media_type: str,
    result: OcrResult,
    *,
    title: str,
    limits: OcrLimits = OcrLimits(),
    pictures: Sequence[int] = (),
) -> SearchablePdf | None:
    """The searchable PDF (see :mod:`docsvc.core.ocrpdf`), made in a limited child as well:
    it decodes the same images. ``pictures``: PDF pages whose garbage text layer is replaced
    by their picture. None when the child failed or ran out of time."""
    timeout = limits.page_timeout_s * max(1, len(result.pages))
    request = {
        "task": "pdf",
        "media_type": media_type,
        "title": title,
        "limits": limits.__dict__,
        "pages": [p.to_dict() for p in result.pages],
        "engine": result.engine_version,
        "pictures": sorted(pictures),
    }
    proc = _spawn(request, data)
    try:
        assert proc.stdout is not None
        workers.wait_readable(proc.stdout.fileno(), timeout, pid=proc.pid)
        header = json.loads(workers.read_frame(proc.stdout.fileno(), deadline=time.monotonic() + timeout))
        if not header.get("ok"):
            return None
        return SearchablePdf(
            workers.read_frame(proc.stdout.fileno()),  # sent right after the header
            header.get("pdfa"),
            tuple(header.get("findings") or ()),
            header.get("checked_by") or "",
        )
    except (EOFError, ValueError, OSError):  # TimeoutError is an OSError
        return None
    finally:
        workers.stop(proc)


def _child_main() -> None:
    stdin, stdout = workers.claim_stdio()
    request = json.loads(workers.read_frame(stdin))
    data = workers.read_frame(stdin)
    limits = OcrLimits(**request["limits"])
    workers.give_way(OCR_NICENESS)
    workers.limit(resource.RLIMIT_AS, limits.memory_bytes, limits.memory_bytes)
    hard_cpu = limits.page_cpu_s * (limits.max_pages + 2) + int(_STARTUP_S)
    workers.limit(resource.RLIMIT_CPU, limits.page_cpu_s + int(_STARTUP_S), hard_cpu)

    def send(obj: dict[str, Any]) -> None:
        workers.write_frame(stdout, json.dumps(obj, ensure_ascii=False).encode())

    if request["task"] == "pdf":
        from docsvc.core.ocrpdf import searchable_pdf

        try:
            pdf = searchable_pdf(
                data,
                request["media_type"],
                [OcrPage.from_dict(p) for p in request["pages"]],
                title=request["title"],
                producer=f"{OCR_PRODUCER} {request['engine']}",
                limits=limits,
                pictures=request.get("pictures") or (),
            )
        except Exception as exc:  # noqa: BLE001 - the caller records no rendition
            send({"ok": False, "error": f"{type(exc).__name__}: {exc}"[:500]})
            return
        send({"ok": True, "pdfa": pdf.pdfa, "findings": list(pdf.findings), "checked_by": pdf.checked_by})
        workers.write_frame(stdout, pdf.data)
        return
    module, _, cls = request["engine"].partition(":")
    import importlib

    engine = getattr(importlib.import_module(module), cls)(threads=limits.threads)
    send({"engine": engine.name, "version": engine.version})
    try:
        total, images = open_pages(
            data, request["media_type"], limits, pages=request.get("pages"), skip=set(request.get("skip") or ())
        )
    except PageRefused as exc:
        send({"error": {"status": exc.status, "zh": exc.zh, "en": exc.en}})
        return
    send({"total": total})
    for number, image, dpi in images:
        workers.limit(resource.RLIMIT_CPU, min(int(workers.cpu_used()) + limits.page_cpu_s, hard_cpu), hard_cpu)
        if isinstance(image, PageRefused):
            send({"page": OcrPage(number, status=image.status, detail_zh=image.zh, detail_en=image.en).to_dict()})
            continue
        height, width = image.shape[:2]
        try:
            lines, rotation = engine.recognise(image)
        except MemoryError:
            raise  # the parent reports the page as over its limits and reads on in a new child
        except Exception as exc:  # noqa: BLE001 - a page the engine cannot take; the next may read
            traceback.print_exc()  # to the server's log, for the operator; the user gets its name
            zh, en = (
                f"第 {number} 页无法识别（{type(exc).__name__}），已跳过。",
                f"Page {number} could not be read ({type(exc).__name__}) and was skipped.",
            )
            send({"page": OcrPage(number, status=ExtractionStatus.FAILED.value, detail_zh=zh, detail_en=en).to_dict()})
            continue
        ordered = [
            OcrLine(line.text, line.confidence, _turn_back(line.box, rotation, width, height), line.row)
            for line in layout(lines)
        ]
        send({"page": OcrPage(number, width, height, dpi, rotation, tuple(ordered)).to_dict()})
    send({"done": True})


class PageRefused(Exception):
    def __init__(self, status: str, zh: str, en: str) -> None:
        super().__init__(en)
        self.status, self.zh, self.en = status, zh, en


def _too_many_pixels(width: int, height: int, limits: OcrLimits, what_zh: str, what_en: str) -> PageRefused:
    return PageRefused(
        ExtractionStatus.TOO_LARGE.value,
        f"{what_zh}为 {width}×{height} 像素，超过上限 {limits.max_pixels} 像素，未解码（可能是解压炸弹）。"
        "请以较低分辨率重新扫描。",
        f"{what_en} is {width}×{height} pixels, over the limit of {limits.max_pixels}; it was not "
        "decoded (it may be a decompression bomb). Scan it again at a lower resolution.",
    )


def open_pages(
    data: bytes, media_type: str, limits: OcrLimits, *, pages: Sequence[int] | None = None, skip: set[int] | None = None
) -> tuple[int, Iterator[tuple[int, Any, float]]]:
    """The number of pages of ``data`` and an iterator of (page number, RGB array or
    PageRefused, dpi) over :func:`pages_to_read` (``pages``: all when None; not those in ``skip``)."""
    if media_type == PDF:
        return _pdf_pages(data, limits, pages, skip or set())
    if is_image(media_type):
        return _image_pages(data, media_type, limits, pages, skip or set())
    raise PageRefused(
        ExtractionStatus.UNSUPPORTED.value, f"不能对 {media_type} 做 OCR。", f"OCR cannot read {media_type}."
    )


def _image_pages(
    data: bytes, media_type: str, limits: OcrLimits, wanted: Sequence[int] | None, skip: set[int]
) -> tuple[int, Iterator[tuple[int, Any, float]]]:
    import numpy as np
    from PIL import Image, ImageOps

    # Pillow's own bomb check is off: every page's size is checked here, against our limit,
    # before it is decoded, and refused with its size in the message.
    Image.MAX_IMAGE_PIXELS = None
    try:
        im = Image.open(io.BytesIO(data))  # reads the header only
    except Exception as exc:  # noqa: BLE001 - a damaged file is a status
        raise PageRefused(
            ExtractionStatus.FAILED.value,
            f"图片已损坏或无法解析（{exc}）。",
            f"The image is damaged or cannot be read ({exc}).",
        ) from None
    total = getattr(im, "n_frames", 1) if media_type == TIFF else 1
    if im.width * im.height > limits.max_pixels:
        raise _too_many_pixels(im.width, im.height, limits, "图片", "The image")

    def pages() -> Iterator[tuple[int, Any, float]]:
        for i in (n - 1 for n in pages_to_read(total, wanted, skip, limits)):
            try:
                im.seek(i)
                if im.width * im.height > limits.max_pixels:
                    yield i + 1, _too_many_pixels(im.width, im.height, limits, f"第 {i + 1} 页", f"Page {i + 1}"), 0.0
                    continue
                across, down = image_resolution(im, turned=i == 0)
                frame = ImageOps.exif_transpose(im) if i == 0 else im  # phones record how they were held
                size, dpi = _square_pixels(frame.width, frame.height, across, down)
                if size != frame.size:
                    if size[0] * size[1] > limits.max_pixels:
                        yield i + 1, _too_many_pixels(*size, limits, f"第 {i + 1} 页", f"Page {i + 1}"), 0.0
                        continue
                    frame = frame.convert("RGB").resize(size, Image.Resampling.LANCZOS)
                yield i + 1, np.asarray(frame.convert("RGB")), dpi
            except (OSError, ValueError, SyntaxError) as exc:
                yield (
                    i + 1,
                    PageRefused(
                        ExtractionStatus.FAILED.value,
                        f"第 {i + 1} 页已损坏（{exc}）。",
                        f"Page {i + 1} is damaged ({exc}).",
                    ),
                    0.0,
                )

    return total, pages()


def _square_pixels(width: int, height: int, across: float, down: float) -> tuple[tuple[int, int], float]:
    """The size at which a page scanned at ``across`` by ``down`` dpi has square pixels, and
    its dpi then. A fax in standard mode is scanned at 204 by 98 dpi: read as stored, its text is
    squashed to half its height, and OCR read a fifth of it wrong. The lower resolution is raised
    to the higher; pixels within 2 % of square, or a resolution unsaid, are left as they are."""
    if not (across and down) or abs(across / down - 1) <= 0.02:
        return (width, height), across
    dpi = max(across, down)
    return (round(width * dpi / across), round(height * dpi / down)), dpi


def pdf_scale(width_pt: float, height_pt: float, limits: OcrLimits) -> float:
    """Pixels per point to render a PDF page at: ``limits.dpi``, less if that would exceed ``max_pixels``."""
    scale = limits.dpi / 72
    area = max(width_pt * height_pt, 1.0)
    if area * scale * scale > limits.max_pixels:
        scale = math.sqrt(limits.max_pixels / area)
    return scale


def _pdf_pages(
    data: bytes, limits: OcrLimits, wanted: Sequence[int] | None, skip: set[int]
) -> tuple[int, Iterator[tuple[int, Any, float]]]:
    import numpy as np
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        if "password" in str(exc).lower():
            raise PageRefused(
                ExtractionStatus.ENCRYPTED.value,
                "PDF 已加密，需要密码，无法识别。",
                "The PDF is encrypted with a password; it cannot be read.",
            ) from None
        raise PageRefused(
            ExtractionStatus.FAILED.value,
            f"PDF 已损坏或无法解析（{exc}）。",
            f"The PDF is damaged or cannot be parsed ({exc}).",
        ) from None
    total = len(pdf)

    def pages() -> Iterator[tuple[int, Any, float]]:
        for i in (n - 1 for n in pages_to_read(total, wanted, skip, limits)):
            try:
                page = pdf[i]
                w, h = page.get_size()
                scale = pdf_scale(w, h, limits)
                bitmap = page.render(scale=scale, rev_byteorder=True)  # RGB(A)
                arr = np.asarray(bitmap.to_pil().convert("RGB"))
            except pdfium.PdfiumError as exc:
                yield (
                    i + 1,
                    PageRefused(
                        ExtractionStatus.FAILED.value,
                        f"第 {i + 1} 页无法渲染（{exc}）。",
                        f"Page {i + 1} cannot be rendered ({exc}).",
                    ),
                    0.0,
                )
                continue
            yield i + 1, arr, scale * 72

    return total, pages()


__all__ = [
    "OCR_PRODUCER",
    "OcrEngine",
    "OcrLimits",
    "OcrLine",
    "OcrPage",
    "OcrResult",
    "PageRefused",
    "cache_key",
    "layout",
    "make_searchable_pdf",
    "open_pages",
    "page_text",
    "pages_to_read",
    "pdf_scale",
    "run_ocr",
]
