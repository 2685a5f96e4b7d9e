"""OCR of mixed PDFs: pages with a text layer are extracted, pages without one (a
scanned page put into a Word report, a page of glyphs without a character map) are recognised,
each page is kept as it is read so an interrupted job goes on where it stopped, and labels
suggested before the text was known are suggested again from it.

The documents are made here: a page LibreOffice makes from a .docx, a page that is only a
picture of Chinese text (img2pdf of a page drawn with Noto CJK, tests/ocr_samples.py), a page
of private-use glyphs (tests/hostile.py) and a blank page. OCR reads two small pages per
database. Nothing is mocked but the fault.
"""

from __future__ import annotations

import datetime as dt
import io
import json

import pytest

from docsvc.core.content import PDF
from docsvc.core.extract import ExtractionStatus, extract_text, usable_page
from docsvc.core.search import SearchRequest
from tests import hostile
from tests import ocr_samples as samples
from tests.conftest import META, once_per_run, require
from tests.docxutil import make_docx

TEXT_PAGE = ("附件说明", "本附件共三页：第一页为说明，第二页为签章页扫描件，第三页为旧系统导出的页面。")
KEY_TERMS = ("服务等级协议", "SLA-2026-0412")


@pytest.fixture(scope="session")
def parts(soffice, tmp_path_factory, worker_id):
    """(text page from a .docx, picture-only page, page of unmapped glyphs, blank page), made
    once in a run: the workers that run this module's tests share them."""
    require(samples.font_path() is not None, "fonts-noto-cjk is not installed")
    return once_per_run(tmp_path_factory, worker_id, "ocr-mixed-parts", lambda: _make_parts(soffice))


def _make_parts(soffice: str) -> tuple[bytes, bytes, bytes, bytes]:
    from docsvc.adapters.pdf import SofficeConverter

    converter = SofficeConverter(soffice=soffice)
    try:
        text = converter.convert(make_docx(*TEXT_PAGE))
    finally:
        converter.close()
    scan = samples.image_pdf([samples.degrade(samples.small_page(0, lines=2), "clean")])
    garbage = hostile.SAMPLES["private_use_glyphs.pdf"][1]()
    return text, scan, garbage, _blank_pdf()


def _blank_pdf() -> bytes:
    import pikepdf

    pdf = pikepdf.new()
    pdf.add_blank_page(page_size=(595, 842))
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


def _engine_key() -> str:
    from docsvc.core.ocr import cache_key
    from docsvc.services.ocr import engine_version

    return cache_key(engine_version())


def test_each_page_is_judged_on_its_own(parts):
    text, scan, garbage, blank = parts
    r = extract_text(samples.join_pdfs([text, scan, garbage, blank]), PDF)
    # The text page is extracted; the picture and the garbage page go to OCR; the blank page
    # draws nothing, so there is nothing to read on it.
    assert r.status is ExtractionStatus.PARTIAL, r
    assert r.ocr_pages == (2, 3) and r.garbage_pages == (3,) and r.pages == 4
    assert "第二页为签章页扫描件" in r.text and "\ue020" not in r.text
    assert [(first, last) for first, last, _ in r.runs] == [(1, 1)]
    assert "Page(s) 2, 3" in r.detail_en
    # A text PDF with a blank page is no case for OCR; nor is one with a text layer throughout.
    assert extract_text(samples.join_pdfs([text, blank]), PDF).status is ExtractionStatus.OK
    assert extract_text(text, PDF).ocr_pages == ()
    # Only scans and garbage: every page, as before.
    assert extract_text(samples.join_pdfs([scan, blank]), PDF).status is ExtractionStatus.NO_TEXT_LAYER
    assert not usable_page("\ue020\ue021\ue022 \ue023") and not usable_page(" \n") and usable_page("服务 SLA")


def _search(svc, query: str) -> list[int]:
    return [h.document_id for h in svc.index.search(SearchRequest(query=query)).hits]


def test_mixed_pdf_resumes_and_is_suggested_again(svc, parts, monkeypatch):
    from docsvc.services import ocr as ocr_service

    text, scan, garbage, _ = parts
    mixed = samples.join_pdfs([text, scan, garbage])
    # Labels left to docsvc: suggested from the text page alone (the scan's text is not known yet).
    meta, suggested = svc.classifier.label_upload(
        mixed, "附件扫描件.pdf", {**META, "title": "附件扫描件", "doc_type": "", "service_category": ""}
    )
    assert suggested is not None and meta["doc_type"] != "sla"
    first = svc.archive.add_document(mixed, "附件扫描件.pdf", meta, actor="alice", suggested=suggested).document
    # The same file filed by a person who chose its labels: never relabelled.
    chosen = svc.archive.add_document(
        mixed,
        "附件扫描件（已分类）.pdf",
        {**META, "title": "附件扫描件", "doc_type": "contract", "service_category": "4.2"},
        actor="bob",
    ).document
    version = svc.archive.version(first.id)
    svc.index.sync()
    # Indexed at once with its text page; the scanned page waits for OCR.
    assert svc.index.extraction_statuses([version])[version.id] == "ocr_pending"
    assert first.id in _search(svc, "签章页扫描件")
    assert first.id not in _search(svc, "SLA-2026-0412")

    # The job dies after the scanned page was read, while the garbage page's result is being kept.
    real = svc.catalog.put_ocr_page

    def lose_power(sha256, engine, page, data):
        if page == 3:
            raise OSError("the machine lost power on page 3 (injected)")
        return real(sha256, engine, page, data)

    monkeypatch.setattr(svc.catalog, "put_ocr_page", lose_power)
    job = svc.jobs.run_next(kinds=(ocr_service.OCR_JOB,))
    assert job.state.value == "queued" and job.attempts == 1 and "injected" in job.error["message_en"]
    assert sorted(svc.catalog.ocr_pages(version.sha256, _engine_key())) == [2]
    assert svc.index.extraction_statuses([version])[version.id] == "ocr_pending"
    monkeypatch.setattr(svc.catalog, "put_ocr_page", real)
    later = svc.jobs.clock() + dt.timedelta(minutes=5)
    monkeypatch.setattr(svc.jobs, "clock", lambda: later)
    job = svc.jobs.run_next(kinds=(ocr_service.OCR_JOB,))
    assert job.state.value == "done" and job.attempts == 2, job
    # The retry read only the page it had not kept; the text page was never sent to the engine.
    assert job.result["read"] == [3] and job.result["resumed"] == [2], job.result
    assert svc.catalog.ocr_pages(version.sha256, _engine_key()) == {}  # folded into the cached text
    info = svc.index.ocr.info(version.sha256)
    assert [p["number"] for p in info.pages] == [2, 3]

    svc.index.sync()
    assert svc.index.extraction_statuses([version])[version.id] == "ok"
    for term in (*KEY_TERMS, "签章页扫描件", "Hello docsvc"):
        assert first.id in _search(svc, term), term
    whole = svc.index.extraction(version).text
    assert whole.index("附件说明") < whole.index("服务等级协议") < whole.index("Hello docsvc")
    assert "\ue020" not in whole

    # One text layer per page: the text page keeps its own and gets none; the scanned page
    # gets the recognised lines; the garbage page is its picture under the recognised lines.
    import pikepdf

    [rendition] = svc.catalog.renditions(version.id)
    data = svc.blobs.read(rendition.sha256)
    with pikepdf.open(io.BytesIO(data)) as pdf:
        fonts = [set(page.Resources.get("/Font", {}).keys()) for page in pdf.pages]
        assert "/FOcr" not in fonts[0] and fonts[0]
        assert fonts[1] == {"/FOcr"} and fonts[2] == {"/FOcr"}
    from pypdf import PdfReader

    pages = [p.extract_text() for p in PdfReader(io.BytesIO(data)).pages]
    assert pages[0].count("附件说明") == 1 and "SLA" not in pages[0]
    assert samples.compact("SLA-2026-0412") in samples.compact(pages[1])
    assert pages[1].count("服务等级协议") == 1
    assert pages[2].strip() == "Hello docsvc"
    # PDF/A-2b, checked by pikepdf's validator before it was declared, and again here.
    import pikepdf.pdfa

    assert pikepdf.pdfa.validate_written(io.BytesIO(data), "2b").passed
    added = [e for e in svc.catalog.audit_entries(document_id=first.id) if e.action == "rendition.added"]
    assert added[-1].details["pdfa"] == "PDF/A-2b" and added[-1].details["pdfa_findings"] == []

    # The suggestion made from the text page alone is made again from the whole text and waits
    # on the review list; the labels a person chose are as they were.
    expected = svc.classifier.suggest(whole, "附件扫描件")
    doc = svc.archive.document(first.id)
    assert (doc.metadata.doc_type, doc.metadata.service_category.value) == (
        expected.doc_type.value,
        expected.service_category.value,
    )
    assert doc.metadata.doc_type == "sla"
    [pending] = svc.catalog.suggestions(document_id=first.id)
    assert pending["doc_type"] == "sla" and pending["needs_review"] and pending["version_id"] == version.id
    assert [i.suggestion_id for i in svc.classifier.review_list() if i.document.id == first.id] == [pending["id"]]
    assert svc.catalog.suggestions(document_id=first.id, state="superseded")
    assert job.result["resuggested"] == [first.id]
    mine = svc.archive.document(chosen.id)
    assert (mine.metadata.doc_type, mine.metadata.service_category.value) == ("contract", "4.2")
    assert not svc.catalog.suggestions(document_id=chosen.id, state=None)
    audit = [e for e in svc.catalog.audit_entries(document_id=first.id) if e.action == "labels.suggested"]
    assert audit[-1].details["source"] == "ocr"
    # A retried job does not suggest again what it suggested from the same text.
    assert ocr_service.resuggest(svc, version, whole) is False
    assert [r["id"] for r in svc.catalog.suggestions(document_id=first.id)] == [pending["id"]]
    # A person's confirmation stands: OCR run again does not suggest anything.
    svc.archive.confirm_labels(first.id, {}, actor="mgr")
    assert ocr_service.resuggest(svc, version, whole, again=True) is False
    assert ocr_service.resuggest(svc, version, whole) is False
    assert svc.archive.document(first.id).metadata.doc_type == "sla"
    json.dumps(job.result)  # what the jobs page shows


def _stamp(pdf_bytes: bytes, text: str) -> bytes:
    """``text`` drawn in real text (Helvetica, not embedded) at the foot of every page."""
    import pikepdf

    pdf = pikepdf.open(io.BytesIO(pdf_bytes))
    for page in pdf.pages:
        font = pikepdf.Dictionary(Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1, BaseFont=pikepdf.Name.Helvetica)
        page.obj.Resources.Font = pikepdf.Dictionary(F1=font)
        page.contents_add(pikepdf.Stream(pdf, f"BT /F1 10 Tf 72 12 Td ({text}) Tj ET".encode()))
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


def test_scan_with_a_stamped_page_number_is_read_by_ocr(parts):
    """A scanned page whose only real text is a page number stamped on it is read by OCR, and
    its searchable page is its picture (the number included) under OCR's text: one text layer."""
    import pikepdf
    import pikepdf.pdfa
    from pypdf import PdfReader

    from docsvc.adapters.ocr_rapid import ENGINE
    from docsvc.core.ocr import make_searchable_pdf, run_ocr

    text, scan, _, _ = parts
    stamped = _stamp(scan, "Page 2")
    alone = extract_text(stamped, PDF)
    assert alone.status is ExtractionStatus.NO_TEXT_LAYER and alone.garbage_pages == (1,), alone
    mixed = samples.join_pdfs([text, stamped])
    r = extract_text(mixed, PDF)
    assert r.status is ExtractionStatus.PARTIAL and r.ocr_pages == (2,) and r.garbage_pages == (2,), r
    assert "Page 2" not in r.text and "附件说明" in r.text

    result = run_ocr(mixed, PDF, engine=ENGINE, pages=list(r.ocr_pages))
    assert samples.compact("SLA-2026-0412") in samples.compact(result.text), result.text
    made = make_searchable_pdf(mixed, PDF, result, title="附件", pictures=r.garbage_pages)
    assert made is not None
    with pikepdf.open(io.BytesIO(made.data)) as pdf:
        assert set(pdf.pages[1].Resources.Font.keys()) == {"/FOcr"}  # the stamped font is gone with the page's content
    second = PdfReader(io.BytesIO(made.data)).pages[1].extract_text()
    assert second.count("服务等级协议") == 1 and "Page" in second and "2" in second, second
    # The unembedded Helvetica went with it: the rendition is PDF/A-2b.
    assert made.pdfa == "2b" and pikepdf.pdfa.validate_written(io.BytesIO(made.data), "2b").passed
