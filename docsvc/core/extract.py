"""Plain text out of an archived version, for the index and the classifier.

:func:`extract_text` never raises for bad content: the archive keeps every version and records
the :class:`ExtractionStatus`, so a broken, encrypted or scanned file is stored, listed and
downloadable, just not searchable by its text.

- DOCX: ``check_ooxml_package`` first (zip bombs, zip-slip, macros, DTDs), then a streaming
  lxml walk of the XML parts. The walk rather than python-docx because python-docx reads each
  part whole into memory and does not reach text boxes, content controls, footnotes or
  endnotes; the walk sees every ``w:t`` in document order, in Transitional and Strict OOXML.
- PDF: pypdf in a child process with RLIMIT_AS, RLIMIT_CPU, a wall-clock timeout and a page
  cap, because pypdf publishes a DoS advisory most months (reliability.md §1.4). Children are
  forked from a helper that has pypdf imported, so a child costs a fork, not an interpreter
  (:func:`docsvc.core.workers.run_limited`).
  What pypdf cannot read, or reads as garbage, the same child reads again with pdfminer.six.
  The child also repairs what the layout did to the text (:mod:`docsvc.core.pdftext`): lines
  broken mid-word joined, layout spaces between CJK characters dropped, repeated headers and
  footers kept once and page numbers removed.
- Text: BOM, strict UTF-8, strict GB18030, then charset-normalizer's best guess.

Text that is mostly garbage (:func:`unreadable`: fonts without a character map) is recorded as
``unreadable_text``, not indexed. A PDF stopped by the wall clock says so (``timed_out``): the
index service tries it again later with a longer limit before it records a failure.
"""

from __future__ import annotations

import codecs
import functools
import io
import itertools
import posixpath
import re
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from enum import StrEnum
from importlib import metadata
from typing import Any

from docsvc.core import workers
from docsvc.core.content import CSV, DOCX, MARKDOWN, PDF, TEXT, PackageLimits, check_ooxml_package, is_image
from docsvc.core.pdftext import repair_pages
from docsvc.core.scanpages import thin_text_pages
from docsvc.errors import InvalidInput, TooLarge, UnsupportedType

# Extracted text is cached per (content hash, EXTRACTOR_VERSION): a change to what extraction
# returns bumps the number, so the next index rebuild extracts again instead of reading the
# cache. 2: PDF text repaired by docsvc.core.pdftext. 3: Strict OOXML read, garbage recorded as
# unreadable_text, pdfminer.six reads what pypdf cannot (the result names it as its producer), a
# timeout retried. 4: pages judged one by one: a PDF whose text layer covers some pages only is
# "partial_text_layer", and its other pages go to OCR. 5: a scan with a little real text stamped
# on it (docsvc.core.scanpages) is read by OCR like a page of garbage text. (At most 32
# characters: a table column.)
EXTRACTOR_VERSION = f"docsvc-extract/5 pypdf/{metadata.version('pypdf')}"


# pdfminer finds pages by walking the page tree, so a hostile /Count does not matter, but a
# file may hold millions of page objects: counting stops here (more than max_pdf_pages).
MAX_PDFMINER_PAGES = 100_000
# pdfminer.six reads a PDF again only until this share of the wall-clock limit has passed, so a
# long scan ends as no_text_layer, not as a timeout.
FALLBACK_SHARE = 0.8


class ExtractionStatus(StrEnum):
    OK = "ok"
    EMPTY = "empty"  # the file holds no text at all
    UNREADABLE = "unreadable_text"  # the text is mostly garbage (unmapped glyphs): not indexed
    ENCRYPTED = "encrypted"  # a PDF or Office file that needs a password we don't have
    NO_TEXT_LAYER = "no_text_layer"  # a PDF with pages but no text (a scan), or an image: needs OCR
    # A PDF some of whose pages have a usable text layer and others not (scanned pages inserted
    # into a report, a page of unmapped glyphs): its text is the text pages', OCR reads the rest.
    PARTIAL = "partial_text_layer"
    OCR_PENDING = "ocr_pending"  # needs OCR, which the background has not done yet (docsvc.core.ocr)
    TOO_LARGE = "too_large"  # over a size, memory or CPU limit
    FAILED = "failed"  # damaged or hostile content, or a parser error
    UNSUPPORTED = "unsupported"  # a media type we don't extract


@dataclass(frozen=True)
class ExtractLimits:
    max_input_bytes: int = 50 * 1024 * 1024
    max_chars: int = 5_000_000  # text beyond this is cut off (truncated=True)
    max_pdf_pages: int = 2000  # pages beyond this are not read (truncated=True)
    pdf_memory_bytes: int = 1024**3  # RLIMIT_AS of the PDF child
    pdf_cpu_seconds: int = 30  # RLIMIT_CPU of the PDF child
    pdf_timeout_seconds: float = 30.0  # wall clock, then the child is killed
    package: PackageLimits = field(default_factory=PackageLimits)


@dataclass(frozen=True)
class Extraction:
    status: ExtractionStatus
    text: str = ""
    pages: int | None = None  # PDF only
    detail_zh: str = ""
    detail_en: str = ""
    truncated: bool = False
    extractor_version: str = EXTRACTOR_VERSION
    # The wall-clock limit ended it: on a busy machine a longer one may not (see IndexService).
    timed_out: bool = False
    producer: str = ""  # the library that read the text when it was not the usual one
    # PDF pages (1-based) without a usable text layer that OCR is to read: those of a
    # "partial_text_layer" PDF; empty for a PDF with no usable text at all (OCR reads every page).
    ocr_pages: tuple[int, ...] = ()
    # Pages whose text layer is garbage (unmapped glyphs): OCR reads them, and the searchable
    # PDF shows them as a picture, as OCR saw them, under the recognised text (docsvc.core.ocrpdf).
    garbage_pages: tuple[int, ...] = ()
    # The text of a "partial_text_layer" PDF by runs of consecutive text pages (first page,
    # last page, repaired text), for OCR to put its pages in between in page order.
    runs: tuple[tuple[int, int, str], ...] = ()


def _result(status: ExtractionStatus, zh: str = "", en: str = "", **kw: Any) -> Extraction:
    return Extraction(status, detail_zh=zh, detail_en=en, **kw)


def extract_text(data: bytes, media_type: str, *, limits: ExtractLimits = ExtractLimits()) -> Extraction:
    """Extract the text of ``data`` (of the already detected ``media_type``)."""
    if len(data) > limits.max_input_bytes:
        return _result(
            ExtractionStatus.TOO_LARGE,
            f"文件超过 {limits.max_input_bytes} 字节，未提取文本。",
            f"The file is over {limits.max_input_bytes} bytes; text was not extracted.",
        )
    if not data:
        return _result(ExtractionStatus.EMPTY, "文件为空。", "The file is empty.")
    try:
        if media_type == DOCX:
            return _extract_docx(data, limits)
        if media_type == PDF:
            return _extract_pdf(data, limits)
        if media_type in (TEXT, MARKDOWN, CSV):
            return _finish(decode_text(data), limits)
        if is_image(media_type):  # read by OCR, in the background (docsvc.core.ocr)
            return _result(
                ExtractionStatus.NO_TEXT_LAYER,
                "图片没有文本层，需要 OCR 才能检索。",
                "An image has no text layer; it needs OCR to be searchable.",
            )
    except MemoryError:
        return _result(ExtractionStatus.TOO_LARGE, "提取文本时内存不足。", "Out of memory while extracting text.")
    except Exception as exc:  # noqa: BLE001 - never raise for content: the archive records the status instead
        return _failed(exc)
    return _result(
        ExtractionStatus.UNSUPPORTED,
        f"不支持从 {media_type} 提取文本。",
        f"Text extraction from {media_type} is not supported.",
    )


def _failed(exc: BaseException) -> Extraction:
    what = f"{type(exc).__name__}: {exc}"[:300]
    return _result(
        ExtractionStatus.FAILED,
        f"文件已损坏或无法解析（{what}）。",
        f"The file is damaged or cannot be parsed ({what}).",
    )


# Control characters (other than tab and newline) break HTML snippets, CSV exports and XML.
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _clean(text: str) -> str:
    return _CONTROL_RE.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def _finish(
    text: str, limits: ExtractLimits, *, pages: int | None = None, truncated: bool = False, producer: str = ""
) -> Extraction:
    if unreadable(text):
        return _result(
            ExtractionStatus.UNREADABLE,
            "文件中的文本大多是乱码（字体缺少字符映射或编码错误），未建立索引。可用原软件另存为 PDF/A 或 .docx 后上传新版本。",
            "Most of the file's text is garbage (fonts without a character map, or a wrong encoding); "
            "it was not indexed. Saving it again as PDF/A or .docx from the program that made it and "
            "adding that as a new version usually helps.",
            pages=pages,
            producer=producer,
        )
    text = _clean(text)
    if len(text) > limits.max_chars:
        text, truncated = text[: limits.max_chars], True
    if not text.strip():
        return _result(ExtractionStatus.EMPTY, "文件中没有文本。", "The file contains no text.", pages=pages)
    if truncated:
        return _result(
            ExtractionStatus.OK,
            "文本过长，只索引了前面的部分。",
            "The text is very long; only the beginning was indexed.",
            text=text,
            pages=pages,
            truncated=True,
            producer=producer,
        )
    return Extraction(ExtractionStatus.OK, text=text, pages=pages, producer=producer)


# What unmapped glyphs become: U+FFFD, private-use code points (a font's own glyph numbers), C1
# control characters, and pdfminer's "(cid:123)" for a glyph it has no character for. (C0
# controls are only removed: a text file may carry a few, and they say nothing of the rest.)
_GARBAGE_RE = re.compile("[\ufffd\ue000-\uf8ff\U000f0000-\U0010fffd\x80-\x9f]")
_CID_RE = re.compile(r"\(cid:\d+\)")
# Chinese bytes (GBK, UTF-8) read as Latin-1 are a run of these: ÎÒÊÇ, åˆåŒ.
_LATIN1_LETTER_RE = re.compile("[\u00c0-\u00ff]")
_WHITESPACE_RE = re.compile(r"\s")
GARBAGE_SHARE = 0.3  # of the visible characters; a symbol font's bullets are a few percent
MOJIBAKE_SHARE = 0.4  # French or German text has a tenth of these at most
_SAMPLE = 200_000  # characters looked at from each end of a long text


def unreadable(text: str) -> bool:
    """Whether ``text`` is mostly garbage: text a parser got from fonts it could not map."""
    if len(text) > 2 * _SAMPLE:
        text = text[:_SAMPLE] + text[-_SAMPLE:]
    text = _CID_RE.sub("\ufffd", text)
    visible = len(text) - len(_WHITESPACE_RE.findall(text))
    if not visible:
        return False
    return (
        len(_GARBAGE_RE.findall(text)) >= GARBAGE_SHARE * visible
        or len(_LATIN1_LETTER_RE.findall(text)) >= MOJIBAKE_SHARE * visible
    )


# --- text -----------------------------------------------------------------------------------

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),  # before UTF-16: same prefix
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def decode_text(data: bytes) -> str:
    """BOM, then strict UTF-8, then strict GB18030 (what Chinese Windows saves as "ANSI"), then
    charset-normalizer. NUL bytes without a BOM mean UTF-16/32, which UTF-8 would accept."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data.decode(encoding, errors="replace")
    if b"\x00" not in data[:4096]:
        for encoding in ("utf-8", "gb18030"):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError:
                pass
    import charset_normalizer  # only for the rare file the strict decodes refuse

    best = charset_normalizer.from_bytes(data[: 1024 * 1024]).best()
    if best is not None:
        return data.decode(best.encoding, errors="replace")
    return data.decode("utf-8", errors="replace")


# --- docx -----------------------------------------------------------------------------------

# WordprocessingML in its two namespaces: Transitional (what Word saves by default) and Strict
# ISO/IEC 29500 ("Strict Open XML Document"), the same elements under another name.
_WORD_NAMESPACES = (
    "http://schemas.openxmlformats.org/wordprocessingml/2006/main",
    "http://purl.oclc.org/ooxml/wordprocessingml/main",
)


def _w(local: str) -> frozenset[str]:
    return frozenset(f"{{{ns}}}{local}" for ns in _WORD_NAMESPACES)


_MC_FALLBACK = "{http://schemas.openxmlformats.org/markup-compatibility/2006}Fallback"
_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}Relationship"
_T, _P, _HYPHEN = _w("t"), _w("p"), _w("noBreakHyphen")
_TAB_OR_CELL, _BREAK = _w("tab") | _w("tc"), _w("br") | _w("cr")
_PART_ORDER = ("header", "document", "footnotes", "endnotes", "footer")


def _extract_docx(data: bytes, limits: ExtractLimits) -> Extraction:
    try:
        check_ooxml_package(data, limits=limits.package)
    except TooLarge as exc:
        return _result(ExtractionStatus.TOO_LARGE, exc.zh, exc.en)
    except InvalidInput as exc:  # a password-encrypted package, or one that is no .docx
        status = (
            ExtractionStatus.ENCRYPTED
            if exc.details.get("reason") == "encrypted"
            else ExtractionStatus.UNSUPPORTED
            if isinstance(exc, UnsupportedType)
            else ExtractionStatus.FAILED
        )
        return _result(status, exc.zh, exc.en)
    from lxml import etree

    out: list[str] = []
    size = 0
    truncated = False
    seen_parts: set[str] = set()
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for part in _docx_parts(zf):
            chunks: list[str] = []
            for chunk in _walk_part(zf, part, etree):
                chunks.append(chunk)
                size += len(chunk)
                if size > limits.max_chars:
                    truncated = True
                    break
            text = "".join(chunks)
            # A section's first/even/default headers often repeat the same words: index them once.
            if text.strip() and text not in seen_parts:
                seen_parts.add(text)
                out.append(text)
            if truncated:
                break
    return _finish("\n".join(out), limits, truncated=truncated)


def _docx_parts(zf: zipfile.ZipFile) -> list[str]:
    """word/document.xml plus the headers, footers, footnotes and endnotes it references, in
    reading order: headers, body, footnotes, endnotes, footers."""
    names = set(zf.namelist())
    found: dict[str, list[str]] = {kind: [] for kind in _PART_ORDER}
    found["document"].append("word/document.xml")
    rels = "word/_rels/document.xml.rels"
    if rels in names:
        from lxml import etree

        root = etree.fromstring(zf.read(rels), etree.XMLParser(resolve_entities=False, no_network=True))
        for rel in root.iter(_REL):
            kind = rel.get("Type", "").rsplit("/", 1)[-1]
            if kind not in found or kind == "document" or rel.get("TargetMode") == "External":
                continue
            target = rel.get("Target", "")
            path = target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join("word", target))
            if path in names and path not in found[kind]:
                found[kind].append(path)
    return [p for kind in _PART_ORDER for p in sorted(found[kind])]


def _walk_part(zf: zipfile.ZipFile, name: str, etree: Any) -> Iterator[str]:
    """Text of one WordprocessingML part in document order, streamed.

    Runs (``w:t``) inside tables, text boxes (``w:txbxContent``) and content controls
    (``w:sdtContent``) are ordinary descendants, so document order covers them. ``mc:Fallback``
    is skipped: Word writes each text box twice (DrawingML and a VML fallback). Deleted text is
    ``w:delText`` and field codes are ``w:instrText``, so neither is collected.
    """
    skip = 0  # depth inside mc:Fallback
    para_depth = 0  # text boxes nest paragraphs inside paragraphs
    with zf.open(name) as fh:
        parser = etree.iterparse(
            fh,
            events=("start", "end"),
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            huge_tree=False,
            remove_comments=True,
            remove_pis=True,
        )
        for event, el in parser:
            tag = el.tag
            if event == "start":
                if tag == _MC_FALLBACK:
                    skip += 1
                elif tag in _P:
                    para_depth += 1
                continue
            if tag == _MC_FALLBACK:
                skip -= 1
            elif tag in _P:
                para_depth -= 1
                if not skip:
                    yield "\n"
                if para_depth == 0:
                    # Free what is done: keeps memory flat on a long document.
                    el.clear()
                    parent = el.getparent()
                    while parent is not None and el.getprevious() is not None:
                        del parent[0]
            elif skip:
                continue
            elif tag in _T:
                if el.text:
                    yield el.text
            elif tag in _TAB_OR_CELL:
                yield "\t"
            elif tag in _BREAK:
                yield "\n"
            elif tag in _HYPHEN:
                yield "-"


# --- pdf ------------------------------------------------------------------------------------
#
# Each PDF is parsed in its own short-lived child with RLIMIT_AS, RLIMIT_CPU and a wall clock,
# forked from a helper that has the parsers imported (docsvc.core.workers.run_limited).

# What the helper imports once, so that no forked child pays for it.
_PDF_PRELOAD = ("pypdf", "pdfminer.high_level", "pypdfium2")


def _extract_pdf(data: bytes, limits: ExtractLimits) -> Extraction:
    try:
        answer = workers.run_limited(
            "docsvc.core.extract:_pdf_task",
            data,
            memory_bytes=limits.pdf_memory_bytes,
            cpu_seconds=limits.pdf_cpu_seconds,
            timeout_seconds=limits.pdf_timeout_seconds,
            preload=_PDF_PRELOAD,
            pages=limits.max_pdf_pages,
            chars=limits.max_chars,
        )
    except workers.LimitedChildFailed as exc:
        return _result(
            ExtractionStatus.FAILED,
            f"PDF 解析进程异常（{exc}）。",
            f"The PDF parser process failed ({exc}).",
            timed_out=exc.timed_out,
        )
    if "stopped" in answer:
        answer = _stopped(answer["stopped"], limits.pdf_timeout_seconds)
    status = ExtractionStatus(answer["status"])
    garbage = tuple(answer.get("garbage_pages", ()))
    if status is ExtractionStatus.OK:
        result = _finish(
            answer["text"],
            limits,
            pages=answer["pages"],
            truncated=answer["truncated"],
            producer=answer.get("producer", ""),
        )
        return replace(result, garbage_pages=garbage) if result.status is ExtractionStatus.UNREADABLE else result
    if status is ExtractionStatus.PARTIAL:
        result = _finish(
            answer["text"],
            limits,
            pages=answer["pages"],
            truncated=answer["truncated"],
            producer=answer.get("producer", ""),
        )
        if result.status is not ExtractionStatus.OK:
            return result
        pages = tuple(answer["ocr_pages"])
        numbers = "、".join(str(n) for n in pages[:20]) + ("……" if len(pages) > 20 else "")
        return replace(
            result,
            status=status,
            ocr_pages=pages,
            garbage_pages=garbage,
            runs=tuple((int(a), int(b), _clean(t)) for a, b, t in answer["runs"]),
            detail_zh=f"第 {numbers} 页没有可用的文本层，需要 OCR 才能检索。{result.detail_zh}",
            detail_en=f"Page(s) {numbers.replace('、', ', ')} have no usable text layer; they need "
            f"OCR to be searchable. {result.detail_en}".strip(),
        )
    return _result(
        status,
        answer["zh"],
        answer["en"],
        pages=answer["pages"],
        timed_out=answer.get("timed_out", False),
        garbage_pages=garbage,
    )


def _stopped(how: str, timeout: float) -> dict[str, Any]:
    """The answer for a child a limit stopped (``how``: "timeout" or "limit"), worded as a
    parser's answer."""
    stopped: dict[str, Any] = {"text": "", "pages": None, "truncated": False}
    if how == "timeout":
        return {
            **stopped,
            "status": "failed",
            "timed_out": True,
            "zh": f"PDF 解析超时（{timeout:g} 秒），已终止。",
            "en": f"PDF parsing timed out after {timeout:g} s and was stopped.",
        }
    return {
        **stopped,
        "status": "too_large",
        "zh": "PDF 解析超出资源限制（CPU 或内存），已终止。",
        "en": "PDF parsing exceeded its CPU or memory limit and was stopped.",
    }


def _pdf_task(data: bytes, request: dict[str, Any]) -> dict[str, Any]:
    """In the limited child (docsvc.core.workers.run_limited): the PDF's text."""
    deadline = time.monotonic() + FALLBACK_SHARE * float(request["timeout"])
    return _pdf_child(data, request["pages"], request["chars"], deadline=deadline)


def _pdf_child(data: bytes, max_pages: int, max_chars: int, *, deadline: float) -> dict[str, Any]:
    answer = _pdf_answer(_pdf_text, data, max_pages, max_chars)
    # What pypdf could not read, or read as garbage, pdfminer.six often can: it finds pages in a
    # broken page tree, reads a file without a cross-reference table, and maps glyphs through a
    # font's encoding where pypdf gives up. It is slower, and a scan gains nothing from it: it
    # stops at ``deadline``, short of the wall clock, so that pypdf's answer stands then. Its
    # answer is taken when it leaves fewer pages to OCR.
    if (
        answer["status"] in ("failed", "no_text_layer")
        or answer.get("garbage_pages")
        or (answer["status"] == "ok" and unreadable(answer["text"]))
    ):
        second = _pdf_answer(functools.partial(_pdfminer_text, deadline=deadline), data, max_pages, max_chars)
        if (
            second["status"] in ("ok", "partial_text_layer")
            and second["text"].strip()
            and not unreadable(second["text"])
            and _to_ocr(second) < _to_ocr(answer)
        ):
            answer = {**second, "producer": f"pdfminer.six/{metadata.version('pdfminer.six')}"}
    return answer


def _to_ocr(answer: dict[str, Any]) -> int:
    """How many pages an answer leaves to OCR (every page when it has no usable text)."""
    if answer["status"] == "ok" and not unreadable(answer["text"]):
        return 0
    if answer["status"] == "partial_text_layer":
        return len(answer["ocr_pages"])
    return (answer["pages"] or 0) + 1


def _pdf_answer(parse: Any, data: bytes, max_pages: int, max_chars: int) -> dict[str, Any]:
    """One parser's answer; whatever it raises becomes a status."""
    extra: dict[str, Any] = {}
    try:
        status, text, pages, zh, en, truncated, extra = parse(data, max_pages, max_chars)
    except MemoryError:
        status, text, pages, zh, en, truncated = (
            "too_large",
            "",
            None,
            "PDF 解析超出内存限制。",
            "PDF parsing exceeded the memory limit.",
            False,
        )
    except BaseException as exc:  # noqa: BLE001 - everything becomes a status for the caller
        failed = _failed_pdf(exc)
        status, text, pages, zh, en, truncated = (
            failed.status.value,
            "",
            None,
            failed.detail_zh,
            failed.detail_en,
            False,
        )
    return {"status": status, "text": text, "pages": pages, "zh": zh, "en": en, "truncated": truncated, **extra}


def _failed_pdf(exc: BaseException) -> Extraction:
    from pypdf.errors import LimitReachedError

    if isinstance(exc, LimitReachedError):
        return _result(
            ExtractionStatus.TOO_LARGE,
            f"PDF 超出解析限制（{str(exc)[:200]}）。",
            f"The PDF exceeds a parser limit ({str(exc)[:200]}).",
        )
    return _failed(exc)


_Answer = tuple[str, str, "int | None", str, str, bool, dict[str, Any]]


def _pdf_text(data: bytes, max_pages: int, max_chars: int) -> _Answer:
    import logging

    from pypdf import PasswordType, PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError, LimitReachedError

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # it warns at length about broken files
    reader = PdfReader(io.BytesIO(data), strict=False)
    if reader.is_encrypted:
        # Many PDFs are "encrypted" with an empty user password (only editing is restricted):
        # they open without one and must be indexed.
        try:
            opened = reader.decrypt("") != PasswordType.NOT_DECRYPTED
        except DependencyError:
            return (
                "encrypted",
                "",
                None,
                "PDF 使用 AES 加密，需要安装 cryptography 才能读取。",
                "The PDF uses AES encryption; the cryptography package is needed to read it.",
                False,
                {},
            )
        if not opened:
            return (
                "encrypted",
                "",
                None,
                "PDF 已加密，需要密码，未提取文本。",
                "The PDF is encrypted with a password; text was not extracted.",
                False,
                {},
            )
    total = len(reader.pages)
    return _pages_text(
        data,
        total,
        (lambda i: reader.pages[i].extract_text() or ""),
        max_pages,
        max_chars,
        (LimitReachedError, FileNotDecryptedError),
    )


def _pages_text(
    data: bytes, total: int, page_text: Any, max_pages: int, max_chars: int, fatal: tuple[type[BaseException], ...]
) -> _Answer:
    """The repaired text of the first ``max_pages`` of ``total`` pages, read by ``page_text(i)``
    until ``max_chars``: one damaged page does not hide the others, unless every page is.

    Each page is judged on its own (:func:`usable_page`). When some pages have a usable text
    layer and others do not but draw something (:func:`_drawn_pages`), the answer is
    "partial_text_layer": the text of the usable pages, by runs of consecutive pages, and the
    pages OCR is to read. A page that draws nothing is blank: there is nothing to recognise."""
    pages = min(total, max_pages)
    texts: list[str] = []
    read: list[tuple[int, str]] = []  # (0-based page, its text) of the pages read
    size = 0
    errors = 0
    last_error: BaseException | None = None
    for i in range(pages):
        try:
            text = page_text(i)
        except (*fatal, MemoryError, RecursionError):  # type: ignore[misc]  # mypy reads no starred tuple here
            raise
        except Exception as exc:  # noqa: BLE001 - one damaged page should not hide the others
            errors += 1
            last_error = exc
            continue
        texts.append(text)
        read.append((i, text))
        size += len(text)
        if size > max_chars:
            break
    if errors == pages and pages and last_error is not None:
        raise last_error
    truncated = total > pages or size > max_chars
    usable = {i: usable_page(t) for i, t in read}
    # A scan with a page number or a header stamped on it in real text: OCR reads it, and the
    # searchable PDF shows its picture, as for a page of garbage text.
    thin = thin_text_pages(data, {i: t for i, t in read if usable[i]})
    usable.update(dict.fromkeys(thin, False))
    garbage = [i + 1 for i, t in read if t.strip() and not usable[i]]
    extra: dict[str, Any] = {"garbage_pages": garbage} if garbage else {}
    if any(usable.values()) and not all(usable.values()):
        wanted = _drawn_pages(data, [i for i, ok in usable.items() if not ok])
        texts = [t for i, t in read if usable[i]]  # a blank page's nothing, a garbage page's garbage: out
        if wanted:
            runs: list[list[Any]] = []
            for i, t in read:
                if not usable[i]:
                    continue
                # A run goes on over blank pages; an OCR page (0-based w) ends it.
                if runs and not any(runs[-1][1] <= w < i for w in wanted):
                    runs[-1][1], runs[-1][2] = i + 1, runs[-1][2] + [t]
                else:
                    runs.append([i + 1, i + 1, [t]])
            repaired = [[first, last, _repair(ts)] for first, last, ts in runs]
            return (
                "partial_text_layer",
                "\n\n".join(r[2] for r in repaired),
                total,
                "",
                "",
                truncated,
                {**extra, "ocr_pages": sorted(i + 1 for i in wanted), "runs": repaired},
            )
    text = _repair([t for i, t in read if i not in thin] if thin else texts)
    if total and not text.strip():
        return (
            "no_text_layer",
            "",
            total,
            "PDF 没有文本层（可能是扫描件），需要 OCR 才能检索。",
            "The PDF has no text layer (probably a scan); it needs OCR to be searchable.",
            False,
            extra,
        )
    return ("ok", text, total, "", "", truncated, extra)


def usable_page(text: str) -> bool:
    """Whether one page's text layer is usable: it has text, and not mostly garbage
    (:func:`unreadable`: replacement, private-use and C1 characters, ``(cid:N)``, mojibake)."""
    return bool(text.strip()) and not unreadable(text)


def _drawn_pages(data: bytes, indexes: list[int]) -> set[int]:
    """Those of the (0-based) pages that draw anything (an image, a path, a glyph, a form),
    as PDFium sees them: a page without a usable text layer that draws nothing is blank. When
    PDFium cannot open the file, every page is taken to draw (OCR will tell). Pages are
    numbered in the page tree, as pypdf and PDFium (which renders them for OCR) number them."""
    try:
        import pypdfium2 as pdfium

        pdf = pdfium.PdfDocument(data)
    except Exception:  # noqa: BLE001 - OCR reads the pages then, and says what it finds
        return set(indexes)
    out = set()
    try:
        for i in indexes:
            try:
                page = pdf[i]
            except Exception:  # noqa: BLE001 - a page PDFium cannot load: OCR will say so
                out.add(i)
                continue
            if next(iter(page.get_objects(max_depth=1)), None) is not None:
                out.add(i)
            page.close()
    finally:
        pdf.close()
    return out


class _OutOfTime(Exception):
    """The second reader ran out of its share of the time."""


def _pdfminer_text(data: bytes, max_pages: int, max_chars: int, *, deadline: float) -> _Answer:
    """The second reader (see :func:`_pdf_child`). It reads pages from the page tree, or by
    scanning the file for page objects when there is no usable tree, as pypdf does not."""
    import logging

    from pdfminer.converter import TextConverter
    from pdfminer.layout import LAParams
    from pdfminer.pdfinterp import PDFPageInterpreter, PDFResourceManager
    from pdfminer.pdfpage import PDFPage

    logging.getLogger("pdfminer").setLevel(logging.ERROR)
    pages = list(itertools.islice(PDFPage.get_pages(io.BytesIO(data)), MAX_PDFMINER_PAGES))
    resources = PDFResourceManager()
    out = io.StringIO()
    interpreter = PDFPageInterpreter(resources, TextConverter(resources, out, laparams=LAParams()))

    def page_text(i: int) -> str:
        if time.monotonic() > deadline:
            raise _OutOfTime("pdfminer.six ran out of time")
        out.seek(0)
        out.truncate()
        interpreter.process_page(pages[i])
        return out.getvalue().replace("\f", "")

    return _pages_text(data, len(pages), page_text, max_pages, max_chars, (_OutOfTime,))


def _repair(texts: list[str]) -> str:
    """The pages' text repaired; as pypdf gave it should the repair fail (it is not meant to)."""
    try:
        return repair_pages(texts)
    except (Exception, MemoryError):  # noqa: BLE001 - the text as it was beats no text
        return "\n\n".join(texts)


def warm_up() -> None:
    """Start a PDF helper now rather than on the first PDF (it takes ~0.2 s)."""
    extract_text(_TINY_PDF, PDF)


# A one-page PDF without text, used by warm_up().
_TINY_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 10 10]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)

__all__ = [
    "EXTRACTOR_VERSION",
    "ExtractLimits",
    "Extraction",
    "ExtractionStatus",
    "decode_text",
    "extract_text",
    "warm_up",
]
