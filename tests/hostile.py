"""Hostile files for the extraction, archive and import tests, made here from nothing:
disguised and damaged Word packages, zip bombs and XML entity attacks, damaged and bombing PDFs,
and awkward but honest ones (Strict OOXML, Word for Mac's binary parts, a password-encrypted
.docx, PDFs that pypdf cannot read or reads as garbage).
:func:`write_samples` writes them to a folder with a ``manifest.json`` (file, what it is)."""

from __future__ import annotations

import io
import json
import struct
import zipfile
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path

W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
STRICT_W_NS = "http://purl.oclc.org/ooxml/wordprocessingml/main"
PRINTER_SETTINGS = (
    '<Default Extension="bin" '
    'ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.printerSettings"/>'
)
CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/word/document.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>'
)
RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Target="word/document.xml" '
    'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"/></Relationships>'
)


def _document(paragraphs: list[str], prolog: str = "", ns: str = W_NS) -> str:
    body = "".join(f"<w:p><w:r><w:t>{p}</w:t></w:r></w:p>" for p in paragraphs)
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>{prolog}<w:document xmlns:w="{ns}"><w:body>{body}</w:body></w:document>'
    )


def _package(document: str | bytes | None, extra: dict[str, bytes] | None = None, types: str = "") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", CONTENT_TYPES.replace("</Types>", types + "</Types>"))
        z.writestr("_rels/.rels", RELS)
        if document is not None:
            z.writestr("word/document.xml", document)
        for name, data in (extra or {}).items():
            z.writestr(name, data)
    return buf.getvalue()


def _zipbomb() -> bytes:
    # 200 MB of one repeated paragraph compresses to a few hundred kilobytes.
    text = ("<w:p><w:r><w:t>" + "合同" * 50 + "</w:t></w:r></w:p>").encode("utf-8")
    return _package(_document([]).replace("<w:body></w:body>", "<w:body>" + (text * 500_000).decode() + "</w:body>"))


def _many_entries() -> bytes:
    return _package(_document(["正文"]), {f"word/media/x{i}.bin": b"x" for i in range(20_000)})


def _xxe() -> bytes:
    prolog = '<!DOCTYPE w:document [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    return _package(_document(["&xxe;"], prolog))


def _billion_laughs() -> bytes:
    entities = '<!ENTITY l0 "哈哈">' + "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    return _package(_document(["&l9;"], f"<!DOCTYPE w:document [{entities}]>"))


def _zipslip() -> bytes:
    return _package(_document(["正文"]), {"../../../../tmp/docsvc-zipslip.txt": b"escaped"})


def _crc_corrupt() -> bytes:
    data = bytearray(_package(_document(["校验和被破坏的文档正文，足够长以便被压缩。" * 20])))
    # Flip a byte inside the document part's compressed data (the third member).
    headers = [i for i in range(len(data)) if data[i : i + 4] == b"PK\x03\x04"]
    start = headers[2] + 30 + struct.unpack("<H", data[headers[2] + 26 : headers[2] + 28])[0]
    data[start + 10] ^= 0xFF
    return bytes(data)


def _mac_printer_settings() -> bytes:
    # Word for Mac keeps the printer driver's private data in a binary part: any bytes, here
    # the ones a DTD starts with.
    settings = b"\x00\x01PRINTER\x00" + bytes(range(256)) + b"<!DOCTYPE\x00<!ENTITY\xff" * 40
    return _package(
        _document(["Mac 版 Word 保存的运维报告"]),
        {"word/printerSettings/printerSettings1.bin": settings},
        PRINTER_SETTINGS,
    )


def encrypted_office(docx: bytes, password: str = "密码123") -> bytes:
    """``docx`` encrypted with a password as Word does it (an OLE container)."""
    from msoffcrypto.format.ooxml import OOXMLFile

    out = io.BytesIO()
    OOXMLFile(io.BytesIO(docx)).encrypt(password, out)
    return out.getvalue()


def _gif() -> bytes:
    """A 1×1 GIF: an image type docsvc does not accept (JPEG, PNG and TIFF go to OCR)."""
    return (
        b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
        b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
    )


def _pdf(objects: list[bytes], trailer: bytes = b"") -> bytes:
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for n, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{n} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R ".encode() + trailer + b">>\n"
    out += f"startxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def _stream(data: bytes, extra: bytes = b"") -> bytes:
    return b"<< /Length " + str(len(data)).encode() + extra + b" >>\nstream\n" + data + b"\nendstream"


def _pdf_objects(content: bytes = b"BT /F1 12 Tf 72 720 Td (Hello docsvc) Tj ET") -> list[bytes]:
    return [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        _stream(content),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]


def _cyclic_prev_xref() -> bytes:
    data = _pdf(_pdf_objects())
    xref = int(data.rsplit(b"startxref\n", 1)[1].split(b"\n")[0])
    # The trailer's /Prev points at its own xref section: a reader that follows it loops.
    return data.replace(b"/Root 1 0 R ", b"/Root 1 0 R /Prev " + str(xref).encode() + b" ")


def _cyclic_pages() -> bytes:
    objects = _pdf_objects()
    objects[1] = b"<< /Type /Pages /Kids [2 0 R 3 0 R] /Count 2 >>"  # the page tree holds itself
    return _pdf(objects)


def _flate_bomb() -> bytes:
    bomb = zlib.compress(b" " * (300 * 1024 * 1024), 9)
    objects = _pdf_objects()
    objects[3] = _stream(bomb, b" /Filter /FlateDecode")
    return _pdf(objects)


def _no_xref() -> bytes:
    return _pdf(_pdf_objects()).split(b"xref")[0] + b"trailer\n<< /Root 1 0 R >>\n%%EOF\n"


def _kids_not_an_array() -> bytes:
    objects = _pdf_objects()
    objects[1] = b"<< /Type /Pages /Kids 3 0 R /Count 1 >>"
    return _pdf(objects)


def _encoding_missing() -> bytes:
    objects = _pdf_objects()  # pypdf reads the text as U+FFFD
    objects[4] = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding 99 0 R >>"
    return _pdf(objects)


def _private_use_glyphs() -> bytes:
    # The font maps every character to a private-use code point: garbage for every reader.
    objects = _pdf_objects()
    objects[4] = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /ToUnicode 6 0 R >>"
    return _pdf(
        [
            *objects,
            _stream(
                b"/CIDInit /ProcSet findresource begin 12 dict begin begincmap /CMapName /X def\n"
                b"1 begincodespacerange <00> <FF> endcodespacerange\n"
                b"1 beginbfrange <20> <7E> <E020> endbfrange\n"
                b"endcmap CMapName currentdict /CMap defineresource pop end end"
            ),
        ]
    )


def _huge_length() -> bytes:
    objects = _pdf_objects()
    objects[3] = b"<< /Length 99999999999 >>\nstream\nBT ET\nendstream"
    return _pdf(objects)


SAMPLES: dict[str, tuple[str, Callable[[], bytes]]] = {
    "benign.docx": ("an ordinary Word document", lambda: _package(_document(["服务等级协议正文"]))),
    "benign.pdf": ("an ordinary PDF", lambda: _pdf(_pdf_objects())),
    "zipbomb.docx": ("a part that expands to 200 MB", _zipbomb),
    "many_entries.docx": ("20,000 members", _many_entries),
    "xxe.docx": ("an external entity naming /etc/passwd", _xxe),
    "billion_laughs.docx": ("nested entities that expand to 10^9 characters", _billion_laughs),
    "zipslip.docx": ("a member named ../../../../tmp/…", _zipslip),
    "crc_corrupt.docx": ("damaged compressed data", _crc_corrupt),
    "missing_main_part.docx": ("no word/document.xml", lambda: _package(None)),
    "empty.docx": ("a document without text", lambda: _package(_document([]))),
    "gif_disguised_as.docx": ("a GIF image named .docx", _gif),
    "text_disguised_as.docx": ("plain text named .docx", lambda: "这不是 Word 文档。".encode()),
    "ssti_template.docx": ("template syntax in the text", lambda: _package(_document(["{{ config.items() }}"]))),
    "ssti_dos_template.docx": (
        "a template loop in the text",
        lambda: _package(_document(["{% for i in range(10**9) %}x{% endfor %}"])),
    ),
    "truncated.pdf": ("a PDF cut in half", lambda: _pdf(_pdf_objects())[:200]),
    "cyclic_prev_xref.pdf": ("an xref chain that points at itself", _cyclic_prev_xref),
    "cyclic_pages.pdf": ("a page tree that contains itself", _cyclic_pages),
    "flate_bomb.pdf": ("a content stream that inflates to 300 MB", _flate_bomb),
    "huge_length.pdf": ("a stream claiming 99,999,999,999 bytes", _huge_length),
    "strict_ooxml.docx": (
        "a Strict Open XML document (ISO namespaces)",
        lambda: _package(_document(["严格模式的服务等级协议"], ns=STRICT_W_NS)),
    ),
    "mac_printer_settings.docx": (
        "Word for Mac's binary printer settings, holding '<!DOCTYPE' bytes",
        _mac_printer_settings,
    ),
    "encrypted_office.docx": (
        "a .docx encrypted with a password (an OLE container)",
        lambda: encrypted_office(_package(_document(["加密的合同"]))),
    ),
    "no_xref.pdf": ("no cross-reference table (pypdf fails, pdfminer.six reads it)", _no_xref),
    "kids_not_an_array.pdf": ("a page tree whose /Kids is no array (pypdf fails)", _kids_not_an_array),
    "encoding_missing.pdf": ("a font whose /Encoding is missing (pypdf reads garbage)", _encoding_missing),
    "private_use_glyphs.pdf": ("a font that maps every glyph to a private-use code point", _private_use_glyphs),
}


def write_samples(folder: Path, made: Mapping[str, bytes] | None = None) -> Path:
    """The samples as files in ``folder``, with a manifest; ``made``: their bytes, made before."""
    folder.mkdir(parents=True, exist_ok=True)
    manifest = []
    for name, (what, make) in SAMPLES.items():
        (folder / name).write_bytes(made[name] if made is not None else make())
        manifest.append({"file": name, "what": what})
    (folder / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1), "utf-8")
    return folder
