"""What an uploaded file really is, decided from its bytes, and whether it is safe to parse.

The original filename is metadata only: it may pick between text subtypes (``.md``/``.csv``)
but never decides whether bytes are a Word document, a PDF or text.
"""

from __future__ import annotations

import codecs
import io
import zipfile
import zlib
from dataclasses import dataclass

import filetype

from docsvc.errors import InvalidContent, TooLarge, UnsupportedType

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
PDF = "application/pdf"
TEXT = "text/plain"
MARKDOWN = "text/markdown"
CSV = "text/csv"

ACCEPTED = (DOCX, PDF, TEXT, MARKDOWN, CSV)

_BOMS = (codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


@dataclass(frozen=True)
class PackageLimits:
    """Bounds on an OOXML (zip) package, checked before any library inflates it."""

    max_members: int = 1000
    max_expanded_bytes: int = 50 * 1024 * 1024
    max_ratio: int = 100


def detect_media_type(data: bytes, filename: str = "", *, limits: PackageLimits = PackageLimits()) -> str:
    """Return the accepted media type of ``data`` or raise a 4xx-class domain error."""
    if not data:
        raise InvalidContent("文件为空，请选择有内容的文件。", "The file is empty; choose a file with content.",
                           field="file")
    if data.startswith(b"%PDF-"):
        return PDF
    if data.startswith(b"PK\x03\x04") or data.startswith(b"PK\x05\x06"):
        check_ooxml_package(data, limits=limits)
        return DOCX
    name = filename.lower()
    if _looks_like_text(data):
        if name.endswith((".docx", ".doc", ".docm", ".pdf")):
            raise UnsupportedType(
                f"文件名为“{filename[:80]}”，但内容是纯文本，并不是 Word 或 PDF 文档。请上传真实的文档，或将文件改名为 .txt。",
                f"The file is named '{filename[:80]}' but its content is plain text, not Word or PDF. "
                "Upload the real document, or rename it to .txt.",
                field="file",
                details={"detected": TEXT},
            )
        if name.endswith((".md", ".markdown")):
            return MARKDOWN
        if name.endswith(".csv"):
            return CSV
        return TEXT
    kind = filetype.guess(data)
    seen = kind.mime if kind else "application/octet-stream"
    raise UnsupportedType(
        f"不支持的文件内容（检测为 {seen}）。仅接受 Word 文档（.docx）、PDF 和 UTF-8/GB18030 文本（.txt/.md/.csv）。",
        f"Unsupported content (detected as {seen}). Only Word .docx, PDF and text files "
        f"(.txt/.md/.csv in UTF-8, UTF-16 or GB18030) are accepted.",
        field="file",
        details={"detected": seen},
    )


def _looks_like_text(data: bytes) -> bool:
    head = data[: 64 * 1024]
    if head.startswith(_BOMS):
        return True
    if b"\x00" in head:
        return False
    for encoding in ("utf-8", "gb18030"):
        try:
            # Cutting at 64 KiB may split a multi-byte character; an incremental decoder
            # with final=False tolerates that.
            codecs.getincrementaldecoder(encoding)().decode(head, final=False)
            return True
        except UnicodeDecodeError:
            continue
    # Real text files sometimes carry a few damaged bytes (a bad copy, a truncated edit); a
    # handful of them must not turn a text file into "binary". Binary formats fail this at once.
    decoded = head.decode("utf-8", errors="replace")
    return decoded.count("\ufffd") <= max(1, len(decoded) // 200)


def decode_text(data: bytes) -> str:
    """Decode a text upload: BOMs first, then strict UTF-8, then GB18030 (a superset of GBK)."""
    for bom, encoding in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
                          (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):
            return data.decode(encoding, errors="replace")
    for encoding in ("utf-8", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("utf-8", errors="replace")


def _bad_package(zh: str, en: str, **details) -> InvalidContent:
    return InvalidContent(f"Word 文档无效：{zh}", f"Invalid Word document: {en}", field="file",
                        details=details)


WORD_PARTS = ("[Content_Types].xml", "word/document.xml")


def check_ooxml_package(data: bytes, *, limits: PackageLimits = PackageLimits(),
                        require: tuple[str, ...] = WORD_PARTS) -> None:
    """Refuse zip bombs, zip-slip names, macros and DTDs before python-docx sees the bytes.

    python-docx inflates every part fully into memory and has no size cap, so the central
    directory is checked first and each XML part is then inflated as a stream with a byte
    counter, because the sizes a zip declares can lie.
    """
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, zlib.error, ValueError, EOFError) as exc:
        raise _bad_package("不是有效的 ZIP/DOCX 文件或文件已损坏。", f"not a readable zip/docx ({exc}).") from None
    if len(infos) > limits.max_members:
        raise _bad_package(f"压缩包内文件过多（{len(infos)} 个，上限 {limits.max_members}）。",
                           f"too many zip members ({len(infos)}; limit {limits.max_members}).")
    declared = sum(i.file_size for i in infos)
    if declared > limits.max_expanded_bytes:
        raise TooLarge(
            f"文档解压后过大（{declared} 字节，上限 {limits.max_expanded_bytes}）。",
            f"Document expands to {declared} bytes; the limit is {limits.max_expanded_bytes}.",
            field="file",
        )
    names = set()
    for info in infos:
        name = info.filename
        if name.startswith(("/", "\\")) or ".." in name.replace("\\", "/").split("/") or ":" in name:
            raise _bad_package(f"包含不安全的成员路径“{name[:80]}”。", f"unsafe member name '{name[:80]}'.")
        if info.flag_bits & 0x1:
            raise _bad_package("文档已加密，请先移除密码后再上传。",
                               "the document is encrypted; remove the password and upload again.")
        if info.compress_size and info.file_size / info.compress_size > limits.max_ratio:
            raise _bad_package("压缩比异常（疑似压缩炸弹）。", "suspicious compression ratio (zip bomb).")
        names.add(name)
    missing = [part for part in require if part not in names]
    if missing:
        raise _bad_package(f"缺少 {'、'.join(missing)}，文件类型不符。",
                           f"{', '.join(missing)} is missing; this is not the expected kind of Office file.")
    if any(n.lower().endswith("vbaproject.bin") for n in names):
        raise UnsupportedType("不接受包含宏的文档（.docm），请另存为 .docx 后上传。",
                              "Documents with macros are not accepted; save as .docx and upload again.",
                              field="file")
    budget = limits.max_expanded_bytes
    for info in infos:
        if not info.filename.endswith((".xml", ".rels")):
            continue
        try:
            budget = _scan_xml_part(zf, info, budget)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
            raise _bad_package(f"文档已损坏（{info.filename}）。", f"corrupt part {info.filename} ({exc}).") from None
    types = zf.read("[Content_Types].xml")
    if b"macroEnabled" in types:
        raise UnsupportedType("不接受启用宏的文档（.docm），请另存为 .docx 后上传。",
                              "Macro-enabled documents are not accepted; save as .docx and upload again.",
                              field="file")


def _scan_xml_part(zf: zipfile.ZipFile, info: zipfile.ZipInfo, budget: int) -> int:
    tail = b""
    with zf.open(info) as fh:
        while chunk := fh.read(256 * 1024):
            budget -= len(chunk)
            if budget < 0:
                raise TooLarge("文档解压后超过大小上限。", "The document expands beyond the size limit.",
                               field="file")
            window = tail + chunk
            if b"<!DOCTYPE" in window or b"<!doctype" in window or b"<!ENTITY" in window:
                raise _bad_package("文档中包含 DTD 声明（Word 从不写入 DTD），已拒绝。",
                                   "DTDs are not allowed in Office documents.")
            tail = chunk[-16:]
    return budget
