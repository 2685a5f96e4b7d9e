"""Scanned pages with a little real text stamped on them (docsvc.core.scanpages): found when
the images fill the page and the text is a page number or a header, not when the text is the
page's body, nor when the picture is a logo. The pages are made here (a page drawn with Noto CJK
as a scan, text added with pikepdf)."""

from __future__ import annotations

import io

import pytest

from docsvc.core.scanpages import thin_text_pages
from tests import ocr_samples as samples
from tests.conftest import require

BODY = "第一条 服务范围：乙方为甲方的客户关系管理系统提供运行维护服务，包括事件管理、问题管理、变更管理和配置管理。" * 3


@pytest.fixture(scope="module")
def scan() -> bytes:
    require(samples.font_path() is not None, "fonts-noto-cjk is not installed; the pages are drawn with it")
    return samples.image_pdf([samples.degrade(samples.render(0), "clean")])  # one A4 page


def _stamped(pdf_bytes: bytes, text: str) -> bytes:
    """``text`` drawn on every page in real text (Helvetica; the codes are what is read back)."""
    import pikepdf

    pdf = pikepdf.open(io.BytesIO(pdf_bytes))
    for page in pdf.pages:
        font = pikepdf.Dictionary(Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1, BaseFont=pikepdf.Name.Helvetica)
        if "/Resources" not in page.obj:
            page.obj.Resources = pikepdf.Dictionary()
        page.obj.Resources.Font = pikepdf.Dictionary(F1=font)
        page.contents_add(pikepdf.Stream(pdf, f"BT /F1 9 Tf 40 20 Td ({text}) Tj ET".encode()))
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


def _image_page(tiles: list[tuple[float, float, float, float]]) -> bytes:
    """An A4 page drawing a grey image into each (x, y, w, h) rectangle, in points."""
    import pikepdf

    pdf = pikepdf.new()
    pdf.add_blank_page(page_size=(595, 842))
    page = pdf.pages[0]
    image = pikepdf.Stream(pdf, b"\x80" * 16)
    image.Type, image.Subtype = pikepdf.Name.XObject, pikepdf.Name.Image
    image.Width, image.Height, image.BitsPerComponent, image.ColorSpace = 4, 4, 8, pikepdf.Name.DeviceGray
    page.obj.Resources = pikepdf.Dictionary(XObject=pikepdf.Dictionary(Im0=image))
    ops = "".join(f"q {w} 0 0 {h} {x} {y} cm /Im0 Do Q\n" for x, y, w, h in tiles)
    page.obj.Contents = pikepdf.Stream(pdf, ops.encode())
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


def test_scan_with_a_stamped_page_number_is_thin(scan):
    stamped = _stamped(scan, "Page 1 of 10")
    assert thin_text_pages(stamped, {0: "Page 1 of 10"}) == {0}
    # Strips of one scan count together.
    strips = _stamped(_image_page([(0, 0, 595, 421), (0, 421, 595, 421)]), "- 2 -")
    assert thin_text_pages(strips, {0: "- 2 -"}) == {0}


def test_pages_whose_text_is_their_body_or_whose_picture_is_small_are_not(scan):
    # A scan with a full text layer (an earlier OCR's, say): its text is read, not OCR'd again.
    assert thin_text_pages(_stamped(scan, "x"), {0: BODY * 2}) == set()
    # A page of text with a logo: the image covers a corner.
    logo = _stamped(_image_page([(40, 760, 120, 60)]), "Page 1")
    assert thin_text_pages(logo, {0: "Page 1"}) == set()
    # Half the page a photo with a caption: not a scan.
    half = _stamped(_image_page([(0, 421, 595, 421)]), "Figure 1")
    assert thin_text_pages(half, {0: "Figure 1"}) == set()
    # No text at all is not this case (OCR reads such pages already); nor is a file PDFium refuses.
    assert thin_text_pages(scan, {0: " \n"}) == set()
    assert thin_text_pages(b"%PDF-1.4 not a pdf", {0: "Page 1"}) == set()
