"""The searchable PDF as PDF/A-2b: renditions of a scanned PDF, of an image and of a
multi-page TIFF pass pikepdf's PDF/A validator (its implementation of the veraPDF rules for
PDF/A-2b, approving only what it knows to conform), and a scan whose own content cannot be
PDF/A still gets its searchable PDF, which then claims nothing.

A second, independent validator agrees: Apache PDFBox's Preflight (Debian's libpdfbox2-java),
which checks PDF/A-1b only. A copy of each rendition differing only where PDF/A-2 allows more
(object streams, a later header, the part number) passes PDF/A-1b, whose rules for fonts,
colour, images and metadata are as strict or stricter.

OCR reads two small pages once (a TIFF); the scan, the image and the altered scans are the same
pages, so their renditions reuse those lines. The mixed PDF (a text page, a scanned page and a
page of garbage glyphs) is checked where it is read, in tests/test_ocr_mixed.py.
"""

from __future__ import annotations

import dataclasses
import io
import shutil
import subprocess
from pathlib import Path

import pytest

from docsvc.core.content import JPEG, PDF, PNG, TIFF
from docsvc.core.extract import ExtractionStatus, extract_text
from docsvc.core.ocr import make_searchable_pdf, run_ocr
from tests import ocr_samples as samples
from tests.conftest import once_per_run, require

PHRASE = "服务等级协议"  # the first line of the first page


def _tiff(images: list[bytes]) -> bytes:
    from PIL import Image

    frames = [Image.open(io.BytesIO(b)) for b in images]
    out = io.BytesIO()
    frames[0].save(out, "TIFF", save_all=True, append_images=frames[1:], compression="tiff_deflate", dpi=(200, 200))
    return out.getvalue()


@pytest.fixture(scope="session")
def read(tmp_path_factory, worker_id):
    """(first page as PNG, second page as PNG, the OCR result of both as a TIFF), read once in a
    run: the workers that run this module's tests share it."""
    require(samples.font_path() is not None, "fonts-noto-cjk is not installed; the OCR tests draw their pages with it")
    return once_per_run(tmp_path_factory, worker_id, "ocr-pdfa-pages", _read_pages)


def _read_pages():
    from docsvc.adapters.ocr_rapid import ENGINE

    first = samples.degrade(samples.small_page(0, lines=2), "clean")
    second = samples.degrade(samples.small_page(1, lines=2), "clean")
    result = run_ocr(_tiff([first, second]), TIFF, engine=ENGINE)
    assert result.status is ExtractionStatus.OK and len(result.pages) == 2, result.detail_en
    return first, second, result


def _first_page(result):
    return dataclasses.replace(result, pages=result.pages[:1], total_pages=1)


def _verdict(data: bytes):
    import pikepdf.pdfa

    return pikepdf.pdfa.validate_written(io.BytesIO(data), "2b")


def _claim(data: bytes) -> tuple[str | None, str | None]:
    import pikepdf

    with pikepdf.open(io.BytesIO(data)) as pdf:
        meta = pdf.open_metadata()
        return meta.get("pdfaid:part"), meta.get("pdfaid:conformance")


def _cmyk_jpeg(png: bytes) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.open(io.BytesIO(png)).convert("CMYK").save(out, "JPEG", quality=90, dpi=(200, 200))
    return out.getvalue()


def test_scan_image_and_tiff_renditions_pass_pdfa_2b(read):
    import pikepdf

    first, second, result = read
    cases = {
        "scanned PDF": (samples.image_pdf([first]), PDF, _first_page(result)),
        "PNG": (first, PNG, _first_page(result)),
        "CMYK JPEG": (_cmyk_jpeg(first), JPEG, _first_page(result)),  # turned RGB, as PDF/A's sRGB intent needs
        "2-page TIFF": (_tiff([first, second]), TIFF, result),
    }
    for label, (data, media_type, ocr) in cases.items():
        made = make_searchable_pdf(data, media_type, ocr, title=PHRASE)
        assert made is not None, label
        report = _verdict(made.data)
        assert made.pdfa == "2b" and not made.findings and made.checked_by.startswith("pikepdf.pdfa"), (label, made)
        assert report.passed, (label, report.summary())
        assert _claim(made.data) == ("2", "B"), label
        text = extract_text(made.data, PDF)
        assert text.status is ExtractionStatus.OK and PHRASE in text.text, (label, text.text)
        with pikepdf.open(io.BytesIO(made.data)) as pdf:
            assert len(pdf.pages) == len(ocr.pages), label
            assert pdf.pdf_version <= "1.7" and "/ID" in pdf.trailer and not pdf.is_encrypted, label
            # The Info dictionary says what the XMP says.
            meta = pdf.open_metadata()
            assert str(pdf.docinfo.Title) == meta["dc:title"] == PHRASE, label
            assert str(pdf.docinfo.Producer) == meta["pdf:Producer"], label
            # Every font is embedded and maps back to the characters.
            for page in pdf.pages:
                for font in page.Resources.Font.values():
                    cid = font.DescendantFonts[0]
                    assert "/FontFile2" in cid.FontDescriptor and "/ToUnicode" in font, label
                    assert "/CIDToGIDMap" in cid, label
            [intent] = pdf.Root.OutputIntents
            assert intent.S == "/GTS_PDFA1" and int(intent.DestOutputProfile.N) == 3, label
        assert made.data[:8] in (b"%PDF-1.4", b"%PDF-1.5", b"%PDF-1.6", b"%PDF-1.7"), label
        assert all(b >= 128 for b in made.data.split(b"\n", 2)[1][1:5]), label  # the binary comment


def _altered_scan(png: bytes, change) -> bytes:
    import pikepdf

    pdf = pikepdf.open(io.BytesIO(samples.image_pdf([png])))
    options = change(pdf) or {}
    out = io.BytesIO()
    pdf.save(out, **options)
    return out.getvalue()


def _javascript(pdf):
    import pikepdf

    pdf.Root.OpenAction = pikepdf.Dictionary(S=pikepdf.Name.JavaScript, JS=pikepdf.String("app.alert('x')"))


def _unembedded_page_number(pdf):
    import pikepdf

    page = pdf.pages[0]
    helvetica = pikepdf.Dictionary(Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1, BaseFont=pikepdf.Name.Helvetica)
    page.Resources.Font = pikepdf.Dictionary(F1=helvetica)
    page.contents_add(pikepdf.Stream(pdf, b"BT /F1 9 Tf 20 20 Td (- 1 -) Tj ET"))


def _encrypted(pdf):
    import pikepdf

    return {"encryption": pikepdf.Encryption(owner="owner", user="", allow=pikepdf.Permissions(modify_other=False))}


@pytest.mark.parametrize(
    ("case", "why"),
    [
        ("javascript", "OpenAction"),
        ("cmyk", "DeviceCMYK"),
        ("unembedded font", "not embedded"),
        ("encrypted", "encrypted"),
    ],
)
def test_scan_that_cannot_be_pdfa_gets_a_rendition_claiming_nothing(read, case, why):
    import pikepdf

    first, _, result = read
    if case == "cmyk":  # a scanner's CMYK JPEG, kept as it is in the PDF: DeviceCMYK on an sRGB intent
        import img2pdf

        scan = img2pdf.convert([_cmyk_jpeg(first)])
    else:
        change = {"javascript": _javascript, "unembedded font": _unembedded_page_number, "encrypted": _encrypted}[case]
        scan = _altered_scan(first, change)
    made = make_searchable_pdf(scan, PDF, _first_page(result), title=PHRASE)
    assert made is not None
    assert made.pdfa is None and any(why in f for f in made.findings), made.findings
    assert _claim(made.data) == (None, None)  # no pdfaid in its XMP
    assert not _verdict(made.data).passed
    text = extract_text(made.data, PDF)
    assert PHRASE in text.text, text  # searchable all the same
    with pikepdf.open(io.BytesIO(made.data)) as pdf:
        # An encrypted original's rendition keeps its encryption and permissions.
        assert pdf.is_encrypted == (case == "encrypted")
        if case == "encrypted":
            assert not pdf.allow.modify_other


# Preflight and what it needs at run time, as Debian installs them (.ci/run).
PREFLIGHT_JARS = ("preflight", "pdfbox2", "fontbox2", "xmpbox", "commons-logging", "javax.activation", "jaxb-api")
JAVA_DIR = Path("/usr/share/java")


def _preflight(tmp_path: Path, data: bytes, name: str) -> str:
    jars = [JAVA_DIR / f"{jar}.jar" for jar in PREFLIGHT_JARS]
    missing = [j.name for j in jars if not j.is_file()]
    require(
        shutil.which("java") is not None and not missing,
        f"PDFBox Preflight is not installed (Debian: default-jre-headless libpdfbox2-java libactivation-java "
        f"libjaxb-api-java; missing: {missing or 'java'})",
    )
    path = tmp_path / f"{name}.pdf"
    path.write_bytes(data)
    run = subprocess.run(
        ["java", "-cp", ":".join(map(str, jars)), "org.apache.pdfbox.preflight.Validator_A1b", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return run.stdout + run.stderr


def _as_part_1(data: bytes) -> bytes:
    """The rendition as PDF/A-1 asks to be written: no object streams, a PDF 1.4 header, part 1."""
    import pikepdf

    with pikepdf.open(io.BytesIO(data)) as pdf:
        with pdf.open_metadata(set_pikepdf_as_editor=False) as meta:
            meta["pdfaid:part"] = "1"
        out = io.BytesIO()
        pdf.save(
            out,
            object_stream_mode=pikepdf.ObjectStreamMode.disable,
            force_version="1.4",
            fix_metadata_version=False,
        )
        return out.getvalue()


def test_pdfbox_preflight_agrees(read, tmp_path):
    first, second, result = read
    cases = {
        "scan": (samples.image_pdf([first]), PDF, _first_page(result)),
        "png": (first, PNG, _first_page(result)),
        "tiff": (_tiff([first, second]), TIFF, result),
    }
    for name, (data, media_type, ocr) in cases.items():
        made = make_searchable_pdf(data, media_type, ocr, title=PHRASE)
        assert made is not None and made.pdfa == "2b", name
        said = _preflight(tmp_path, _as_part_1(made.data), name)
        assert f"{name}.pdf is a valid PDF/A-1b file" in said, said
    # It is no rubber stamp: the rendition of a scan whose image is DeviceCMYK fails it too.
    import img2pdf

    cmyk = make_searchable_pdf(img2pdf.convert([_cmyk_jpeg(first)]), PDF, _first_page(result), title=PHRASE)
    assert cmyk is not None and cmyk.pdfa is None
    said = _preflight(tmp_path, _as_part_1(cmyk.data), "cmyk")
    assert "is not a valid PDF/A-1b file" in said and "2.4.2 : Invalid Color space" in said, said
