"""Scanned pages that carry a little real text: a scan with a page number, a header or a Bates
number stamped on it as text. Their text layer is real but says next to nothing of the page, so
judged by its text alone such a page counts as read and OCR never sees the scan.

:func:`thin_text_pages` finds them: the page's images cover at least :data:`IMAGE_COVER` of the
page, and its text layer holds fewer characters than :data:`THIN_CHARS_PER_CM2` per square
centimetre of page (about 60 on an A4 page; a page of body text has ten to thirty times that).
What the image holds is not known before OCR, so the rule asks what the page could hold: a page
that is a picture with a line or two of text on it is read by OCR. Such a page is then treated
like a page of garbage text: OCR reads the page as rendered (the stamped text is in the picture,
so OCR reads it too) and the searchable PDF shows that picture under OCR's text, keeping one
text layer per page. A false positive (a full-page background picture under a short cover page)
costs that page's OCR and shows it as a picture in the searchable PDF; the original stays as it was.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

IMAGE_COVER = 0.9  # the share of the page the images cover together
THIN_CHARS_PER_CM2 = 0.1  # non-blank characters of the text layer per cm² of page
_PT_PER_CM = 72 / 2.54
# Pages with more text than an A2 page may have when thin are not looked at (PDFium is not even
# opened for a PDF of text pages).
_MOST_CHARS = round(THIN_CHARS_PER_CM2 * 42.0 * 59.4)
_GRID = 40  # coverage is sampled on a 40 × 40 grid of the page


def thin_text_pages(data: bytes, texts: Mapping[int, str]) -> set[int]:
    """Those of the (0-based) pages in ``texts`` (each page's text layer, as extraction read it)
    whose text is thin over a page-filling image. A file PDFium cannot open gives none."""
    candidates = {i: t for i, t in texts.items() if 0 < _chars(t) < _MOST_CHARS}
    if not candidates:
        return set()
    try:
        import pypdfium2 as pdfium

        pdf = pdfium.PdfDocument(data)
    except Exception:  # noqa: BLE001 - the text layer is then taken as it is
        return set()
    out = set()
    try:
        for i, text in candidates.items():
            try:
                page = pdf[i]
            except Exception:  # noqa: BLE001 - a page PDFium cannot load keeps its text
                continue
            try:
                box = tuple(float(v) for v in page.get_bbox())
                area_cm2 = (box[2] - box[0]) * (box[3] - box[1]) / _PT_PER_CM**2
                if (
                    area_cm2 > 0
                    and _chars(text) < THIN_CHARS_PER_CM2 * area_cm2
                    and _image_cover(page, box) >= IMAGE_COVER
                ):
                    out.add(i)
            finally:
                page.close()
    finally:
        pdf.close()
    return out


def _chars(text: str) -> int:
    return sum(1 for ch in text if not ch.isspace())


def _image_cover(page: Any, box: tuple[float, ...]) -> float:
    """The share of ``box`` that the page's images (in forms too) cover, sampled on a grid:
    a scan may be one image or strips of it."""
    import pypdfium2.raw as pdfium_c

    bounds = []
    for obj in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE], max_depth=4):
        get = getattr(obj, "get_bounds", None) or obj.get_pos  # (pypdfium2 4 names it get_pos)
        bounds.append(tuple(float(v) for v in get()))
    if not bounds:
        return 0.0
    x0, y0, x1, y1 = box
    covered = 0
    for gx in range(_GRID):
        x = x0 + (gx + 0.5) * (x1 - x0) / _GRID
        for gy in range(_GRID):
            y = y0 + (gy + 0.5) * (y1 - y0) / _GRID
            covered += any(left <= x <= right and bottom <= y <= top for left, bottom, right, top in bounds)
    return covered / _GRID**2


__all__ = ["IMAGE_COVER", "THIN_CHARS_PER_CM2", "thin_text_pages"]
