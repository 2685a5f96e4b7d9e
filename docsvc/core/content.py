"""What an uploaded file really is, decided from its bytes, and whether it is safe to parse.

The original filename is metadata only: it may pick between text subtypes (``.md``/``.csv``)
but never decides whether bytes are a Word document, a PDF or text.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import re
import struct
import threading
import zipfile
import zlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import filetype
from lxml import etree

from docsvc.errors import DocsvcError, InvalidContent, InvalidInput, TooLarge, UnsupportedType

MiB = 1024 * 1024
WORD_PARTS = ("[Content_Types].xml", "word/document.xml")

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
PDF = "application/pdf"
# The producer a Word version's PDF rendition records: LibreOffice's PDF, or its PDF/A-2b (the
# long-term archival form, asked for when a signed copy is archived).
PDF_PRODUCER, PDFA_PRODUCER = "libreoffice", "libreoffice-pdfa"
TEXT = "text/plain"
MARKDOWN = "text/markdown"
CSV = "text/csv"
# Scans and photos: archived as they are, read by OCR in the background (docsvc.core.ocr).
JPEG = "image/jpeg"
PNG = "image/png"
TIFF = "image/tiff"
IMAGES = (JPEG, PNG, TIFF)

ACCEPTED = (DOCX, PDF, TEXT, MARKDOWN, CSV, *IMAGES)
_IMAGE_MAGIC = ((b"\xff\xd8\xff", JPEG), (b"\x89PNG\r\n\x1a\n", PNG), (b"II*\x00", TIFF), (b"MM\x00*", TIFF))


def is_image(media_type: str) -> bool:
    return media_type in IMAGES


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
        raise InvalidContent(
            "文件为空，请选择有内容的文件。", "The file is empty; choose a file with content.", field="file"
        )
    if data.startswith(b"%PDF-"):
        return PDF
    for magic, media_type in _IMAGE_MAGIC:
        if data.startswith(magic):
            return media_type
    if data.startswith(b"PK\x03\x04") or data.startswith(b"PK\x05\x06"):
        check_ooxml_package(data, limits=limits)
        return DOCX
    if data.startswith(CFB_MAGIC):
        raise ole_refusal(data)
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
        f"不支持的文件内容（检测为 {seen}）。仅接受 Word 文档（.docx）、PDF、UTF-8/GB18030 文本（.txt/.md/.csv）"
        "以及扫描件或照片（JPEG、PNG、TIFF）。",
        f"Unsupported content (detected as {seen}). Only Word .docx, PDF, text files "
        f"(.txt/.md/.csv in UTF-8, UTF-16 or GB18030) and scans or photos (JPEG, PNG, TIFF) are accepted.",
        field="file",
        details={"detected": seen},
    )


CFB_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # an OLE compound file (Office 97-2003, encrypted Office)


def ole_refusal(data: bytes) -> UnsupportedType:
    """Why an OLE compound file is refused: Office encrypts a .docx (or .xlsx) with a password by
    wrapping it in one (an ``EncryptedPackage`` stream beside ``EncryptionInfo``), and Word
    97-2003 saves .doc in one. Both used to be refused as "detected as application/x-ole-storage",
    which told nobody what to do."""
    import olefile  # imported lazily: only a compound file needs it

    try:
        with olefile.OleFileIO(io.BytesIO(data)) as ole:
            encrypted = ole.exists("EncryptedPackage") or ole.exists("EncryptionInfo")
            legacy_word = ole.exists("WordDocument")
    except Exception:  # noqa: BLE001 - a damaged compound file is refused below all the same
        encrypted = legacy_word = False
    if encrypted:
        return UnsupportedType(
            "文档已用密码加密（Office 文件加密），docsvc 无法读取其内容。请在 Word 中打开它，"
            "在“文件 > 信息 > 保护文档 > 用密码进行加密”中清空密码并保存，然后重新上传。",
            "The document is encrypted with a password (Office file encryption), so docsvc cannot read it. "
            "Open it in Word, clear the password under File > Info > Protect Document > Encrypt with Password, "
            "save, and upload it again.",
            field="file",
            details={"reason": "encrypted", "detected": "application/x-ole-storage"},
        )
    if legacy_word:
        return UnsupportedType(
            "这是 Word 97-2003 格式（.doc）的文档，docsvc 只接受 .docx。请在 Word 中“另存为” Word 文档（.docx）后重新上传。",
            "This is a Word 97-2003 (.doc) document; docsvc accepts .docx only. Save it as a Word Document "
            "(.docx) in Word and upload it again.",
            field="file",
            details={"reason": "legacy_format", "detected": "application/msword"},
        )
    return UnsupportedType(
        "这是旧版 Office 格式（OLE 复合文件）的文件，不受支持。请另存为 Word 文档（.docx）或 PDF 后重新上传。",
        "This is an old Office format (an OLE compound file), which is not supported. Save it as a Word "
        "Document (.docx) or PDF and upload it again.",
        field="file",
        details={"reason": "legacy_format", "detected": "application/x-ole-storage"},
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
    for bom, encoding in (
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):
            return data.decode(encoding, errors="replace")
    for encoding in ("utf-8", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("utf-8", errors="replace")


def check_ooxml_package(
    data: bytes, *, limits: PackageLimits = PackageLimits(), require: tuple[str, ...] = WORD_PARTS
) -> PackageInfo:
    """Refuse zip bombs, zip-slip names, macros and DTDs before python-docx sees the bytes."""
    return check_docx_package(
        data,
        max_members=limits.max_members,
        max_expanded=limits.max_expanded_bytes,
        max_ratio=limits.max_ratio,
        require=require,
    )


# ---------------------------------------------------------------------------------------------
# The package check: every Office package (a .docx upload, a template, an .xlsx batch) passes it
# ---------------------------------------------------------------------------------------------

_CHUNK = 64 * 1024
_NEAR_RATIO_FLOOR = 1 * MiB  # members smaller than this cannot make a meaningful bomb
_MACRO_MEMBER = re.compile(r"(^|/)(vbaProject\.bin|vbaData\.xml)$", re.IGNORECASE)
_XML_DECL_ENCODING = re.compile(rb"^<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._-]+)[\"']")
_ZIP_STORED_OR_DEFLATED = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)


@dataclass(frozen=True)
class PackageInfo:
    """What :func:`check_docx_package` found in an accepted package."""

    members: int
    expanded_bytes: int


def _bad_package(
    reason: str, zh: str, en: str, cls: type[InvalidInput] = InvalidContent, **details: Any
) -> InvalidInput:
    return cls(zh, en, details={"reason": reason, **details})


# Packages that passed recently, by content hash and limits: one upload is checked when it
# arrives, when it is archived and when its text is extracted, and a template at every render
# (~2 ms of inflating each time). Passes only: a refusal is cheap and says why every time.
_PASSED: OrderedDict[tuple[Any, ...], PackageInfo] = OrderedDict()
_PASSED_MAX = 1024
_passed_lock = threading.Lock()


def check_docx_package(
    data: bytes,
    *,
    max_members: int = 1000,
    max_expanded: int = 50 * MiB,
    max_ratio: int = 100,
    require: tuple[str, ...] = WORD_PARTS,
) -> PackageInfo:
    """Refuse a .docx package that is unsafe or too big to open; cheap enough for every render
    (bytes that passed the same check moments ago are not inflated again).

    Checks the central directory first (member count, declared sizes, ratios, names, flags,
    required parts, macros), then inflates every member as a stream with a running byte
    count, because the declared sizes are written by whoever made the file. XML parts must be
    UTF-8 and may not contain a DTD (Word never writes one; a DTD is how XXE and billion-laughs
    attacks start). Raises :class:`InvalidInput` (or its subclasses :class:`TooLarge`,
    :class:`UnsupportedType`) with ``details["reason"]`` set; returns :class:`PackageInfo`.
    """
    key = (hashlib.sha256(data).digest(), max_members, max_expanded, max_ratio, require)
    with _passed_lock:
        info = _PASSED.get(key)
        if info is not None:
            _PASSED.move_to_end(key)
            return info
    info = _check_docx_package(
        data, max_members=max_members, max_expanded=max_expanded, max_ratio=max_ratio, require=require
    )
    with _passed_lock:
        _PASSED[key] = info
        if len(_PASSED) > _PASSED_MAX:
            _PASSED.popitem(last=False)
    return info


def _check_docx_package(
    data: bytes, *, max_members: int, max_expanded: int, max_ratio: int, require: tuple[str, ...]
) -> PackageInfo:
    if not data:
        raise _bad_package("empty", "文件为空。", "The file is empty.")
    if not data.startswith(b"PK\x03\x04"):
        raise _not_a_zip(data)
    declared_members = _eocd_member_count(data)
    if declared_members is not None and declared_members > max_members:
        # Decided from the end record, before zipfile builds a ZipInfo for every entry.
        raise _too_many_members(declared_members, max_members)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
            _check_directory(
                infos, max_members=max_members, max_expanded=max_expanded, max_ratio=max_ratio, require=require
            )
            xml_members = _xml_member_names(zf, infos)
            expanded = _inflate_all(zf, data, infos, xml_members, max_expanded=max_expanded)
    except DocsvcError:
        raise
    except (
        zipfile.BadZipFile,
        zlib.error,
        EOFError,
        KeyError,
        ValueError,
        OSError,
        NotImplementedError,
        RuntimeError,
        struct.error,
        etree.LxmlError,
    ) as exc:
        # zlib.error and a bad CRC (BadZipFile) both mean a damaged file; KeyError comes from
        # a central directory that names members the file does not hold.
        raise _bad_package(
            "corrupt",
            "文件已损坏，无法作为 Word 文档（.docx）读取。",
            "The file is damaged and cannot be read as a Word document (.docx).",
            error=f"{type(exc).__name__}: {exc}"[:200],
        ) from None
    return PackageInfo(members=len(infos), expanded_bytes=expanded)


def _not_a_zip(data: bytes) -> InvalidInput:
    import filetype  # imported lazily: only needed to name what the bytes really are

    if data.startswith(CFB_MAGIC):
        return ole_refusal(data)

    kind = filetype.guess_mime(data[:8192])
    if kind:
        return _bad_package(
            "not_docx",
            f"文件内容是 {kind}，不是 Word 文档（.docx）。",
            f"The content is {kind}, not a Word document (.docx).",
            UnsupportedType,
            detected=kind,
        )
    return _bad_package(
        "not_docx",
        "文件不是 Word 文档（.docx 应为 ZIP 包）。",
        "The file is not a Word document (a .docx is a ZIP package).",
        UnsupportedType,
    )


def _check_directory(
    infos: list[zipfile.ZipInfo], *, max_members: int, max_expanded: int, max_ratio: int, require: tuple[str, ...]
) -> None:
    if len(infos) > max_members:
        raise _too_many_members(len(infos), max_members)
    names: set[str] = set()
    declared_total = 0
    for info in infos:
        name = info.filename
        parts = re.split(r"[/\\]", name)
        if not name or name.startswith(("/", "\\")) or ".." in parts or "\x00" in name or re.match(r"^[A-Za-z]:", name):
            raise _bad_package(
                "unsafe_name",
                "文档包含不安全的部件名称。",
                "The package contains an unsafe member name.",
                member=name[:200],
            )
        if name in names:
            raise _bad_package(
                "duplicate_member",
                "文档包含重复的部件名称。",
                "The package contains a duplicated member name.",
                member=name[:200],
            )
        names.add(name)
        if info.flag_bits & 0x1:
            raise _bad_package(
                "encrypted",
                "文档已加密，请去掉密码后再上传。",
                "The document is encrypted; remove the password and upload again.",
            )
        if info.compress_type not in _ZIP_STORED_OR_DEFLATED:
            raise _bad_package(
                "compression",
                "文档使用了不支持的压缩方式。",
                "The package uses an unsupported compression method.",
                member=name[:200],
            )
        if _MACRO_MEMBER.search(name):
            raise _macros()
        declared_total += info.file_size
        if info.file_size >= _NEAR_RATIO_FLOOR and info.file_size > max_ratio * max(info.compress_size, 1):
            raise _bad_package(
                "zip_bomb",
                "文档压缩比异常（疑似压缩炸弹），已拒绝。",
                "The package's compression ratio is abnormal (a zip bomb?); refused.",
                TooLarge,
                member=name[:200],
                ratio=info.file_size // max(info.compress_size, 1),
            )
    if declared_total > max_expanded:
        raise _too_big(max_expanded)
    for required in require:
        if required not in names:
            raise _bad_package(
                "missing_part",
                f"文档缺少必需的部件 {required}，不是有效的 Word 文档。",
                f"The package lacks the required part {required}; it is not a valid Word document.",
                missing=required,
            )


def _eocd_member_count(data: bytes) -> int | None:
    """The entry count in the zip's end-of-central-directory record, if it can be read."""
    end = data.rfind(b"PK\x05\x06", max(0, len(data) - 65557))
    if end < 0 or end + 22 > len(data):
        return None
    total = struct.unpack_from("<H", data, end + 10)[0]
    return None if total == 0xFFFF else total  # 0xFFFF: the real count is in a ZIP64 record


def _too_many_members(count: int, limit: int) -> InvalidInput:
    return _bad_package(
        "too_many_members",
        f"文档包含 {count} 个部件，超过上限 {limit}。",
        f"The package has {count} members, more than the limit of {limit}.",
        TooLarge,
        members=count,
        limit=limit,
    )


def _too_big(limit: int) -> InvalidInput:
    return _bad_package(
        "too_large",
        f"文档解压后超过 {limit // MiB} MiB 上限。",
        f"The document expands to more than the {limit // MiB} MiB limit.",
        TooLarge,
        limit=limit,
    )


def _macros() -> InvalidInput:
    return _bad_package(
        "macros",
        "不接受包含宏的文档（.docm/.dotm）：宏可能执行恶意代码。请在 Word 中“另存为” Word 文档（.docx，"
        "不含宏）后重新上传。",
        "Documents with macros (.docm/.dotm) are not accepted: macros can run harmful code. Save it as "
        "a Word Document (.docx, without macros) in Word and upload it again.",
        UnsupportedType,
    )


def _xml_member_names(zf: zipfile.ZipFile, infos: list[zipfile.ZipInfo]) -> set[str]:
    """Names that python-docx will parse as XML: by extension, and by [Content_Types].xml.

    The content types decide what gets parsed, so a part called ``x.bin`` declared as XML is
    XML too. [Content_Types].xml itself is read through the same bounded, DTD-refusing path.
    """
    ct_info = zf.getinfo("[Content_Types].xml")
    ct = _read_member(zf, ct_info, limit=4 * MiB, is_xml=True)
    if b"macroenabled" in ct.lower():
        raise _macros()
    root = etree.fromstring(ct, SAFE_XML_PARSER)
    xml_types = {
        el.get("Extension", "").lower(): el.get("ContentType", "") for el in root if el.tag.endswith("}Default")
    }
    xml_exts = {ext for ext, ctype in xml_types.items() if ctype.endswith(("+xml", "/xml"))}
    overrides = {
        el.get("PartName", "").lstrip("/")
        for el in root
        if el.tag.endswith("}Override") and el.get("ContentType", "").endswith(("+xml", "/xml"))
    }
    return {
        i.filename
        for i in infos
        if i.filename.lower().endswith((".xml", ".rels"))
        or i.filename.rsplit(".", 1)[-1].lower() in xml_exts
        or i.filename in overrides
    }


# Members that passed, by the hash of their compressed bytes (with their method, declared CRC and
# whether they are XML): the same bytes inflate to the same output, so its verdict stands.
# Documents made from one template share most of their parts (styles, theme, numbering,
# settings: 800 KB to inflate and scan in python-docx's own), so a package is then checked for
# the price of hashing them. The value is the member's inflated size.
_CLEAN_MEMBERS: OrderedDict[tuple[Any, ...], int] = OrderedDict()
_CLEAN_MEMBERS_MAX = 4096
_CLEAN_MEMBER_MIN = 4096  # compressed bytes: below this, inflating costs less than hashing


def _inflate_all(
    zf: zipfile.ZipFile, data: bytes, infos: list[zipfile.ZipInfo], xml_members: set[str], *, max_expanded: int
) -> int:
    total = 0
    for info in infos:
        is_xml = info.filename in xml_members
        key = _member_key(data, info, is_xml)
        with _passed_lock:
            size = _CLEAN_MEMBERS.get(key) if key else None
        if size is None:
            size, _ = _inflate(zf, info, limit=max_expanded - total, is_xml=is_xml)
            if key:
                with _passed_lock:
                    _CLEAN_MEMBERS[key] = size
                    if len(_CLEAN_MEMBERS) > _CLEAN_MEMBERS_MAX:
                        _CLEAN_MEMBERS.popitem(last=False)
        elif size > max_expanded - total:
            raise _too_big(max_expanded - total)
        elif size > info.file_size:
            raise _size_mismatch(info)
        total += size
    return total


def _member_key(data: bytes, info: zipfile.ZipInfo, is_xml: bool) -> tuple[Any, ...] | None:
    """The key of a member's compressed bytes in _CLEAN_MEMBERS, or None (too small to be
    worth it, or a local header that does not add up: the full check then says what is wrong)."""
    if info.compress_size < _CLEAN_MEMBER_MIN:
        return None
    start = info.header_offset
    if data[start : start + 4] != b"PK\x03\x04" or start + 30 > len(data):
        return None
    name_len, extra_len = struct.unpack_from("<HH", data, start + 26)
    begin = start + 30 + name_len + extra_len
    end = begin + info.compress_size
    if end > len(data):
        return None
    raw = hashlib.sha256(memoryview(data)[begin:end]).digest()
    return raw, info.compress_type, info.CRC, is_xml


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, *, limit: int, is_xml: bool) -> bytes:
    return _inflate(zf, info, limit=limit, is_xml=is_xml, keep=True)[1]


def _inflate(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, *, limit: int, is_xml: bool, keep: bool = False
) -> tuple[int, bytes]:
    """Inflate one member in chunks, counting bytes; stop past ``limit`` or at a DTD in an XML part.

    Returns the inflated size, and the bytes only when ``keep`` is set.
    """
    kept: list[bytes] = []
    size = 0
    tail = b""
    with zf.open(info) as stream:
        while chunk := stream.read(_CHUNK):
            if size == 0 and is_xml:
                _check_xml_encoding(chunk, info.filename)
            size += len(chunk)
            if size > limit:
                raise _too_big(limit)
            if size > info.file_size:  # more bytes than declared: the header lies
                raise _size_mismatch(info)
            # A marker may straddle two chunks: the seam is searched on its own (joining the
            # chunks would copy 64 KiB each time). Only XML parts: nothing parses the others as
            # XML, and binary parts (Word for Mac's printer settings, images) hold any bytes.
            if is_xml and (_has_dtd(chunk) or _has_dtd(tail + chunk[:16])):
                raise _bad_package(
                    "dtd",
                    "文档中不允许包含 DTD（<!DOCTYPE>）。",
                    "DTDs (<!DOCTYPE>) are not allowed in Office documents.",
                    member=info.filename[:200],
                )
            tail = (tail + chunk)[-16:] if len(chunk) < 16 else chunk[-16:]
            if keep:
                kept.append(chunk)
    return size, b"".join(kept)


def _size_mismatch(info: zipfile.ZipInfo) -> InvalidInput:
    return _bad_package(
        "size_mismatch",
        "文档部件的实际大小与声明不符，文件已损坏或被篡改。",
        "A member is larger than its declared size; the file is damaged or forged.",
        member=info.filename[:200],
    )


def _has_dtd(data: bytes) -> bool:
    return b"<!DOCTYPE" in data or b"<!ENTITY" in data


def _check_xml_encoding(head: bytes, name: str) -> None:
    # A byte scan for "<!DOCTYPE" only works if the XML is UTF-8: UTF-16/32, UTF-7 or EBCDIC
    # would hide it, and libxml2 understands all of them. Word writes UTF-8 only.
    body = head[3:] if head.startswith(b"\xef\xbb\xbf") else head
    stripped = body.lstrip(b" \t\r\n")
    decl = _XML_DECL_ENCODING.match(stripped)
    if (stripped and not stripped.startswith(b"<")) or (
        decl and decl.group(1).lower() not in (b"utf-8", b"utf8", b"us-ascii", b"ascii")
    ):
        raise _bad_package(
            "xml_encoding",
            "文档中的 XML 部件必须使用 UTF-8 编码。",
            "XML parts must be encoded in UTF-8.",
            member=name[:200],
        )


SAFE_XML_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
