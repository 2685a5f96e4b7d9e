"""The searchable PDF of a scan: the page images as they were, with the recognised lines laid
over them as invisible text (PDF text render mode 3), aiming at PDF/A-2b.

Each line is one text object placed on its box: its baseline along the box's lower edge (so a
skewed or upside-down line is placed turned with it) and stretched (``Tz``) to the box's width.
One object per line, not per word, so that a reader's search and a copy find a Chinese phrase
as one run of characters (OCRmyPDF with Tesseract separates Chinese words by spaces). The font
is a glyphless TrueType made here with fontTools (every character code draws an empty glyph),
embedded as a CID font with Identity-H codes equal to the characters' UTF-16 and a ToUnicode map
back, which is how text extraction gets the characters out again.

A mixed PDF gets the text layer only on the pages OCR read: a page with a text layer of its own
keeps it alone, never a second one. A page whose own text layer is garbage (glyphs without a
character map: search and copy give nonsense) is the exception: its garbage would stay under
any invisible text, so that page is shown as the picture OCR read (rendered by PDFium at the
OCR resolution, JPEG) with the recognised text over it, and its fonts are gone. The archived
original keeps the page as it was.

PDF/A-2b is claimed only when checked. The file gets XMP metadata (title, producer, dates; the
Info dictionary made to agree), an sRGB output intent, embedded fonts only and a document ID;
``pikepdf.pdfa`` then prepares it (output intent, the XMP declaration of part 2 level B; no page
content is changed), writes it and validates the written bytes against its implementation of
the veraPDF rules for PDF/A-2b, which approves only what it knows to conform. That validator is
not veraPDF itself, which is not packaged in the registries docsvc installs from. A scanned PDF
keeps its pages as they were, re-encoding nothing, so when its own content cannot be PDF/A (a
DeviceCMYK image against the sRGB intent, JavaScript, an unembedded font, LZW, encryption) the
rendition is still made and searchable but claims nothing: its XMP names no PDF/A part, and
:class:`SearchablePdf` says why. An encrypted original's rendition keeps its encryption and the
permissions that come with it. Images become one page each, at their own resolution.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from docsvc.core.content import JPEG, PDF, TIFF

if TYPE_CHECKING:
    from docsvc.core.ocr import OcrLine

_FONT = "/FOcr"
PDFA = "2b"  # the flavour the rendition aims at (pikepdf.pdfa's name for PDF/A-2b)
_DEFAULT_DPI = 200.0  # an image that does not say its resolution is taken as a 200 dpi scan


@dataclass(frozen=True)
class SearchablePdf:
    """The rendition's bytes, ``pdfa`` (:data:`PDFA`) when the written file passed the PDF/A-2b
    check, else None with ``findings``: why not (the validator's rule and where, at most five)."""

    data: bytes
    pdfa: str | None
    findings: tuple[str, ...] = ()
    checked_by: str = ""  # the validator and its version, for the record


@functools.lru_cache(maxsize=1)
def glyphless_font() -> bytes:
    """A TrueType font whose glyph 1 is empty and 1000 units wide (1 em)."""
    from fontTools.fontBuilder import FontBuilder
    from fontTools.pens.ttGlyphPen import TTGlyphPen

    fb = FontBuilder(1000, isTTF=True)
    fb.setupGlyphOrder([".notdef", "blank"])
    fb.setupCharacterMap({0x20: "blank"})
    empty = TTGlyphPen(None).glyph()
    fb.setupGlyf({".notdef": empty, "blank": empty})
    fb.setupHorizontalMetrics({".notdef": (1000, 0), "blank": (1000, 0)})
    fb.setupHorizontalHeader(ascent=880, descent=-120)
    fb.setupNameTable({"familyName": "DocsvcOcrGlyphless", "styleName": "Regular"})
    fb.setupOS2(sTypoAscender=880, sTypoDescender=-120, usWinAscent=880, usWinDescent=120, fsType=0)
    fb.setupPost()
    out = io.BytesIO()
    fb.save(out)
    return out.getvalue()


def _to_unicode_cmap() -> bytes:
    """Two-byte codes are UTF-16 code units: each maps to itself."""
    ranges = [f"<{hi:02X}00> <{hi:02X}FF> <{hi:02X}00>" for hi in range(256) if not 0xD8 <= hi <= 0xDF]
    body = []
    for i in range(0, len(ranges), 100):
        chunk = ranges[i : i + 100]
        body.append(f"{len(chunk)} beginbfrange\n" + "\n".join(chunk) + "\nendbfrange")
    return (
        "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n"
        "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n"
        "/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n"
        "1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n"
        + "\n".join(body)
        + "\nendcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n"
    ).encode()


def _font(pdf: Any) -> Any:
    from pikepdf import Array, Dictionary, Name, Stream

    font_file = Stream(pdf, glyphless_font())
    descriptor = pdf.make_indirect(
        Dictionary(
            Type=Name.FontDescriptor,
            FontName=Name("/DocsvcOcrGlyphless"),
            Flags=4,
            FontBBox=Array([0, -120, 1000, 880]),
            ItalicAngle=0,
            Ascent=880,
            Descent=-120,
            CapHeight=700,
            StemV=80,
            FontFile2=font_file,
        )
    )
    # Every CID draws glyph 1 (the empty one): the map is that GID, 65,536 times.
    cid_to_gid = Stream(pdf, b"\x00\x01" * 65536)
    cid_font = pdf.make_indirect(
        Dictionary(
            Type=Name.Font,
            Subtype=Name.CIDFontType2,
            BaseFont=Name("/DocsvcOcrGlyphless"),
            CIDSystemInfo=Dictionary(Registry="Adobe", Ordering="Identity", Supplement=0),
            FontDescriptor=descriptor,
            DW=1000,
            CIDToGIDMap=cid_to_gid,
        )
    )
    return pdf.make_indirect(
        Dictionary(
            Type=Name.Font,
            Subtype=Name.Type0,
            BaseFont=Name("/DocsvcOcrGlyphless"),
            Encoding=Name("/Identity-H"),
            DescendantFonts=Array([cid_font]),
            ToUnicode=Stream(pdf, _to_unicode_cmap()),
        )
    )


def _num(x: float) -> str:
    return f"{x:.3f}".rstrip("0").rstrip(".") or "0"


def text_layer(pages_lines: Sequence[OcrLine], to_pdf: Any) -> bytes:
    """The content stream of one page's invisible lines; ``to_pdf`` maps page pixels to PDF points."""
    ops = ["BT", "3 Tr"]
    for line in pages_lines:
        text = "".join(ch for ch in line.text.strip() if ord(ch) <= 0xFFFF and not 0xD800 <= ord(ch) <= 0xDFFF)
        if not text:
            continue
        tl, tr, _br, bl = (to_pdf(x, y) for x, y in line.box)
        width = math.dist(tl, tr)
        height = math.dist(tl, bl)
        if width < 1 or height < 1:
            continue
        ux, uy = (tr[0] - tl[0]) / width, (tr[1] - tl[1]) / width  # along the baseline
        vx, vy = (tl[0] - bl[0]) / height, (tl[1] - bl[1]) / height  # up the line
        size = height * 0.85
        origin = (bl[0] + vx * height * 0.12, bl[1] + vy * height * 0.12)  # the baseline above the descenders
        scale = 100 * width / (len(text) * size)
        ops.append(
            f"{_FONT} {_num(size)} Tf {_num(scale)} Tz "
            f"{_num(ux)} {_num(uy)} {_num(vx)} {_num(vy)} {_num(origin[0])} {_num(origin[1])} Tm "
            f"<{text.encode('utf-16-be').hex()}> Tj"
        )
    ops.append("ET")
    return "\n".join(ops).encode()


def _pixel_mapper(box: Sequence[float], rotate: int, scale_x: float, scale_y: float) -> Any:
    """Page pixels (top-left origin, as rendered: the page's /Rotate applied) to PDF user space."""
    x0, y0, x1, y1 = box

    def to_pdf(px: float, py: float) -> tuple[float, float]:
        dx, dy = px * scale_x, py * scale_y
        if rotate == 90:
            return x0 + dy, y0 + dx
        if rotate == 180:
            return x1 - dx, y0 + dy
        if rotate == 270:
            return x1 - dy, y1 - dx
        return x0 + dx, y1 - dy

    return to_pdf


def searchable_pdf(
    data: bytes,
    media_type: str,
    pages: Sequence[Any],
    *,
    title: str,
    producer: str,
    limits: Any,
    pictures: Sequence[int] = (),
) -> SearchablePdf:
    """The searchable PDF of ``data`` (a scanned PDF or an image) with ``pages`` (OcrPage) laid
    over it; the PDF pages numbered in ``pictures`` (garbage text layers) become the picture OCR read."""
    import pikepdf

    by_number = {p.number: p for p in pages}
    encrypted = False
    if media_type == PDF:
        pdf = pikepdf.open(io.BytesIO(data))
        encrypted = pdf.is_encrypted
        font = _font(pdf)
        for number, page in enumerate(pdf.pages, start=1):
            ocr = by_number.get(number)
            if ocr is None or not ocr.lines or not ocr.width:
                continue
            box = [float(v) for v in page.cropbox]
            rotate = int(page.obj.get("/Rotate", 0)) % 360
            shown_w, shown_h = (
                (box[3] - box[1], box[2] - box[0]) if rotate in (90, 270) else (box[2] - box[0], box[3] - box[1])
            )
            to_pdf = _pixel_mapper(box, rotate, shown_w / ocr.width, shown_h / ocr.height)
            if number in pictures:
                _as_picture(pdf, page, font, _render(data, number, ocr), to_pdf, ocr, text_layer(ocr.lines, to_pdf))
                continue
            _overlay(pdf, page, font, text_layer(ocr.lines, to_pdf))
    else:
        pdf = pikepdf.new()
        font = _font(pdf)
        for number, (image, dpi) in enumerate(_images(data, media_type, limits), start=1):
            if image is None:
                continue
            ocr = by_number.get(number)
            w_px, h_px = image["width"], image["height"]
            across, down = (d if 50 <= d <= 2400 else _DEFAULT_DPI for d in dpi)
            w_pt, h_pt = w_px * 72 / across, h_px * 72 / down
            pdf.add_blank_page(page_size=(w_pt, h_pt))
            page = pdf.pages[-1]
            xobj = pikepdf.Stream(pdf, image["data"])
            for key, value in image["dict"].items():
                xobj[key] = value
            page.Resources = pikepdf.Dictionary(XObject=pikepdf.Dictionary(Im0=xobj))
            content = f"q {_num(w_pt)} 0 0 {_num(h_pt)} 0 0 cm /Im0 Do Q\n".encode()
            if ocr is not None and ocr.lines:  # read at square pixels: ocr.width may not be w_px
                content += text_layer(
                    ocr.lines, _pixel_mapper((0, 0, w_pt, h_pt), 0, w_pt / ocr.width, h_pt / ocr.height)
                )
            page.Contents = pikepdf.Stream(pdf, content)
            page.Resources.Font = pikepdf.Dictionary({_FONT: font})
    return _write(pdf, title=title, producer=producer, encrypted=encrypted)


def _render(data: bytes, number: int, ocr: Any) -> bytes:
    """Page ``number`` as OCR saw it (PDFium, the same resolution), as a JPEG."""
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(data)
    try:
        image = doc[number - 1].render(scale=(ocr.dpi or _DEFAULT_DPI) / 72, rev_byteorder=True).to_pil().convert("RGB")
    finally:
        doc.close()
    out = io.BytesIO()
    image.save(out, "JPEG", quality=80)
    return out.getvalue()


def _as_picture(pdf: Any, page: Any, font: Any, jpeg: bytes, to_pdf: Any, ocr: Any, text: bytes) -> None:
    """Replace the page's content (and its garbage fonts) by its picture under ``text``, in
    the page's own geometry (box and /Rotate kept, so its links still point where they did)."""
    import pikepdf
    from PIL import Image

    with Image.open(io.BytesIO(jpeg)) as im:
        width, height = im.size
    image = pikepdf.Stream(pdf, jpeg)
    image.Type, image.Subtype = pikepdf.Name.XObject, pikepdf.Name.Image
    image.Width, image.Height, image.BitsPerComponent = width, height, 8
    image.ColorSpace, image.Filter = pikepdf.Name.DeviceRGB, pikepdf.Name.DCTDecode
    # The image's unit square onto the page: its corners where OCR's pixel corners are.
    (ex, ey), (rx, ry), (tx, ty) = to_pdf(0, ocr.height), to_pdf(ocr.width, ocr.height), to_pdf(0, 0)
    cm = " ".join(_num(v) for v in (rx - ex, ry - ey, tx - ex, ty - ey, ex, ey))
    page.obj.Contents = pikepdf.Stream(pdf, f"q {cm} cm /ImOcr Do Q\n".encode() + text)
    page.obj.Resources = pikepdf.Dictionary(
        XObject=pikepdf.Dictionary(ImOcr=image), Font=pikepdf.Dictionary({_FONT: font})
    )


def _overlay(pdf: Any, page: Any, font: Any, content: bytes) -> None:
    """The text layer on top of a page's own content, in its own graphics state."""
    import pikepdf

    page.contents_add(pikepdf.Stream(pdf, b"q\n"), prepend=True)
    page.contents_add(pikepdf.Stream(pdf, b"\nQ\n" + content), prepend=False)
    resources = page.obj.get("/Resources")
    if resources is None:
        page.obj.Resources = resources = pikepdf.Dictionary()
    fonts = resources.get("/Font")
    if fonts is None:
        resources.Font = fonts = pikepdf.Dictionary()
    fonts[_FONT] = font


def image_resolution(im: Any, *, turned: bool) -> tuple[float, float]:
    """An image page's horizontal and vertical dots per inch, 0 where it does not say; with
    ``turned``, as its EXIF orientation shows it (a quarter turn swaps the two)."""
    x, y = (float(v or 0) for v in (*tuple(im.info.get("dpi") or ()), 0, 0)[:2])
    if turned and im.getexif().get(0x0112, 1) in (5, 6, 7, 8):
        x, y = y, x
    return x, y


def _images(data: bytes, media_type: str, limits: Any) -> Iterator[tuple[dict[str, Any] | None, tuple[float, float]]]:
    """Each page of an image file as an image XObject's data and dictionary, with its dpi
    across and down (a fax's differ)."""
    import zlib

    import pikepdf
    from PIL import Image, ImageOps

    Image.MAX_IMAGE_PIXELS = None  # checked page by page below, as OCR did
    im = Image.open(io.BytesIO(data))
    frames = getattr(im, "n_frames", 1) if media_type == TIFF else 1
    for i in range(min(frames, limits.max_pages)):
        im.seek(i)
        if im.width * im.height > limits.max_pixels:
            yield None, (0.0, 0.0)  # refused by OCR too: not decoded, no page
            continue
        dpi = image_resolution(im, turned=i == 0)
        frame = ImageOps.exif_transpose(im) if i == 0 else im
        unturned = i == 0 and frame is not im and im.getexif().get(0x0112, 1) in (0, 1)
        if media_type == JPEG and im.mode in ("RGB", "L") and (frame is im or unturned):
            # The camera's own JPEG, as it was: no second lossy pass.
            colour = pikepdf.Name.DeviceRGB if im.mode == "RGB" else pikepdf.Name.DeviceGray
            yield (
                {
                    "data": data,
                    "width": im.width,
                    "height": im.height,
                    "dict": {
                        "/Type": pikepdf.Name.XObject,
                        "/Subtype": pikepdf.Name.Image,
                        "/Width": im.width,
                        "/Height": im.height,
                        "/ColorSpace": colour,
                        "/BitsPerComponent": 8,
                        "/Filter": pikepdf.Name.DCTDecode,
                    },
                },
                dpi,
            )
            continue
        mode = "L" if frame.mode in ("1", "L", "LA", "I;16", "I", "F") else "RGB"
        if frame.mode in ("RGBA", "LA", "P", "PA"):  # no transparency in the archive copy: onto white
            rgba = frame.convert("RGBA")
            background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            frame = Image.alpha_composite(background, rgba)
        pixels = frame.convert(mode)
        colour = pikepdf.Name.DeviceRGB if mode == "RGB" else pikepdf.Name.DeviceGray
        yield (
            {
                "data": zlib.compress(pixels.tobytes(), 6),
                "width": pixels.width,
                "height": pixels.height,
                "dict": {
                    "/Type": pikepdf.Name.XObject,
                    "/Subtype": pikepdf.Name.Image,
                    "/Width": pixels.width,
                    "/Height": pixels.height,
                    "/ColorSpace": colour,
                    "/BitsPerComponent": 8,
                    "/Filter": pikepdf.Name.FlateDecode,
                },
            },
            dpi,
        )


def _write(pdf: Any, *, title: str, producer: str, encrypted: bool) -> SearchablePdf:
    """Written as PDF/A-2b when the validator approves the bytes, else written claiming nothing."""
    import pikepdf
    import pikepdf.pdfa

    checked_by = f"pikepdf.pdfa {pikepdf.__version__}"
    _describe(pdf, title=title, producer=producer)
    if encrypted:  # PDF/A forbids encryption; dropping it would drop the author's permissions too
        out = io.BytesIO()
        pdf.save(out, encryption=True, fix_metadata_version=False)  # (qpdf: no deterministic ID when encrypted)
        return SearchablePdf(
            out.getvalue(), None, ("the original is encrypted (PDF/A forbids encryption)",), checked_by
        )
    out = io.BytesIO()
    try:
        pikepdf.pdfa.save(pdf, out, PDFA, output_intent="sRGB", deterministic_id=True)
        return SearchablePdf(out.getvalue(), PDFA, (), checked_by)
    except pikepdf.pdfa.PdfaError as exc:
        findings = tuple(str(f) for f in exc.report.findings[:5])
    except ValueError as exc:  # an output intent of the original's the preparation cannot use
        findings = (f"{type(exc).__name__}: {exc}",)
    # The preparation declared PDF/A in the XMP: the claim is withdrawn, the rest stays.
    with pdf.open_metadata(set_pikepdf_as_editor=False) as meta:
        for key in ("pdfaid:part", "pdfaid:conformance", "pdfaid:amd", "pdfaid:corr"):
            if key in meta:
                del meta[key]
    out = io.BytesIO()
    pdf.save(out, fix_metadata_version=False, deterministic_id=True)
    return SearchablePdf(out.getvalue(), None, findings, checked_by)


def _describe(pdf: Any, *, title: str, producer: str) -> None:
    """The XMP metadata (and, made to agree, the Info dictionary): title, producer, dates."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    with pdf.open_metadata(set_pikepdf_as_editor=False) as meta:
        meta["dc:title"] = title
        meta["pdf:Producer"] = producer
        meta["xmp:CreatorTool"] = producer
        meta["xmp:CreateDate"] = now.isoformat()
        meta["xmp:ModifyDate"] = now.isoformat()


__all__ = ["PDFA", "SearchablePdf", "glyphless_font", "searchable_pdf", "text_layer"]
