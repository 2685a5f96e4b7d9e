"""Text extraction: real files built in the test, hostile samples, limits. No mocks."""

from __future__ import annotations

import codecs
import io
import json
import time
import zipfile
from pathlib import Path

import docx
import pytest
from pypdf import PdfWriter
from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

from docsvc.core.content import CSV, DOCX, MARKDOWN, PDF, TEXT
from docsvc.core.extract import ExtractionStatus as S
from docsvc.core.extract import ExtractLimits, extract_text

# --- docx -----------------------------------------------------------------------------------


def test_docx_made_by_python_docx_body_table_header_footer() -> None:
    d = docx.Document()
    d.sections[0].header.paragraphs[0].text = "大连某某科技有限公司 信息服务管理合同"
    d.sections[0].footer.paragraphs[0].text = "第 1 页 机密"
    d.add_paragraph("第一条 服务内容")
    table = d.add_table(rows=2, cols=2)
    table.cell(0, 0).text = "服务项目"
    table.cell(0, 1).text = "响应时间"
    table.cell(1, 0).text = "机房巡检"
    table.cell(1, 1).text = "30分钟"
    d.add_paragraph("第二条 违约责任")
    buf = io.BytesIO()
    d.save(buf)
    r = extract_text(buf.getvalue(), DOCX)
    assert r.status is S.OK, r
    t = r.text
    for s in ("大连某某科技有限公司", "第一条 服务内容", "服务项目", "响应时间", "机房巡检", "30分钟",
              "第二条 违约责任", "第 1 页 机密"):
        assert s in t
    # Reading order: header, body (table cells row by row), footer.
    order = [t.index(s) for s in ("大连某某", "第一条", "服务项目", "响应时间", "机房巡检", "30分钟", "第二条", "第 1 页")]
    assert order == sorted(order)


W_NS = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
MC_NS = 'xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006"'
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


def _p(text: str) -> str:
    return f"<w:p><w:r><w:t xml:space=\"preserve\">{text}</w:t></w:r></w:p>"


def build_docx(body: str, parts: dict[str, tuple[str, str]] | None = None) -> bytes:
    """A minimal WordprocessingML package. ``parts``: rel type → (part name, xml)."""
    parts = parts or {}
    rels = "".join(
        f'<Relationship Id="rId{i}" Type="{REL}/{kind}" Target="{name.removeprefix("word/")}"/>'
        for i, (kind, (name, _)) in enumerate(parts.items(), start=1)
    )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml",
                   '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
                   '<Default Extension="xml" ContentType="application/xml"/>'
                   '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
                   '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.'
                   'wordprocessingml.document.main+xml"/></Types>')
        z.writestr("_rels/.rels",
                   '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
                   f'<Relationship Id="rId1" Type="{REL}/officeDocument" Target="word/document.xml"/></Relationships>')
        z.writestr("word/_rels/document.xml.rels",
                   '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
                   f"{rels}</Relationships>")
        z.writestr("word/document.xml", f'<?xml version="1.0"?><w:document {W_NS} {MC_NS}><w:body>{body}</w:body></w:document>')
        for name, xml in parts.values():
            z.writestr(name, xml)
    return buf.getvalue()


def test_docx_footnotes_endnotes_text_boxes_content_controls() -> None:
    textbox = (
        "<w:p><w:r><mc:AlternateContent>"
        f"<mc:Choice Requires=\"wps\"><w:drawing><w:txbxContent>{_p('文本框里的验收结论')}</w:txbxContent></w:drawing></mc:Choice>"
        f"<mc:Fallback><w:pict><w:txbxContent>{_p('文本框里的验收结论')}</w:txbxContent></w:pict></mc:Fallback>"
        "</mc:AlternateContent></w:r></w:p>"
    )
    sdt = f"<w:sdt><w:sdtPr><w:alias w:val=\"甲方\"/></w:sdtPr><w:sdtContent>{_p('甲方：大连数据中心')}</w:sdtContent></w:sdt>"
    inline_sdt = "<w:p><w:r><w:t>项目编号：</w:t></w:r><w:sdt><w:sdtContent><w:r><w:t>HT-DL-2026-0042</w:t></w:r></w:sdtContent></w:sdt></w:p>"
    deleted = "<w:p><w:del><w:r><w:delText>已删除的旧条款</w:delText></w:r></w:del><w:r><w:instrText>PAGE</w:instrText></w:r></w:p>"
    body = _p("正文第一段") + textbox + sdt + inline_sdt + deleted + _p("正文最后一段")
    notes = lambda tag, text: (  # noqa: E731
        f'<?xml version="1.0"?><w:{tag}s {W_NS}>'
        f'<w:{tag} w:type="separator" w:id="-1"><w:p><w:r><w:separator/></w:r></w:p></w:{tag}>'
        f'<w:{tag} w:id="1">{_p(text)}</w:{tag}></w:{tag}s>'
    )
    parts = {
        "header": ("word/header1.xml", f'<?xml version="1.0"?><w:hdr {W_NS}>{_p("页眉：保密")}</w:hdr>'),
        "footer": ("word/footer1.xml", f'<?xml version="1.0"?><w:ftr {W_NS}>{_p("页脚：第1页")}</w:ftr>'),
        "footnotes": ("word/footnotes.xml", notes("footnote", "脚注：依据GB/T 28827.1-2012")),
        "endnotes": ("word/endnotes.xml", notes("endnote", "尾注：争议解决条款")),
    }
    r = extract_text(build_docx(body, parts), DOCX)
    assert r.status is S.OK, r
    t = r.text
    for s in ("正文第一段", "文本框里的验收结论", "甲方：大连数据中心", "项目编号：HT-DL-2026-0042", "正文最后一段",
              "页眉：保密", "页脚：第1页", "脚注：依据GB/T 28827.1-2012", "尾注：争议解决条款"):
        assert s in t, s
    assert t.count("文本框里的验收结论") == 1  # the VML fallback copy is skipped
    assert "已删除的旧条款" not in t and "PAGE" not in t
    order = [t.index(s) for s in ("页眉", "正文第一段", "正文最后一段", "脚注", "尾注", "页脚")]
    assert order == sorted(order)


def test_docx_without_text_is_empty() -> None:
    assert extract_text(build_docx("<w:p/>"), DOCX).status is S.EMPTY


def test_docx_deep_nesting_fails_cleanly() -> None:
    body = "<w:p>" * 5000 + "</w:p>" * 5000
    r = extract_text(build_docx(body), DOCX)
    assert r.status is S.FAILED


def test_docx_text_cap() -> None:
    r = extract_text(build_docx(_p("合同条款" * 1000)), DOCX, limits=ExtractLimits(max_chars=1000))
    assert r.status is S.OK and r.truncated and len(r.text) <= 1000


# --- text -----------------------------------------------------------------------------------

CHINESE = "信息服务管理合同：甲方应在合同到期前三十日提出续签申请。\n"


@pytest.mark.parametrize("data", [
    CHINESE.encode("utf-8"),
    codecs.BOM_UTF8 + CHINESE.encode("utf-8"),
    CHINESE.encode("gb18030"),
    CHINESE.encode("gbk"),
    codecs.BOM_UTF16_LE + CHINESE.encode("utf-16-le"),
    codecs.BOM_UTF16_BE + CHINESE.encode("utf-16-be"),
    CHINESE.encode("utf-16"),
], ids=["utf8", "utf8-bom", "gb18030", "gbk", "utf16le-bom", "utf16be-bom", "utf16"])
def test_text_encodings(data: bytes) -> None:
    r = extract_text(data, TEXT)
    assert r.status is S.OK
    assert r.text == CHINESE


def test_utf16_without_bom_is_detected() -> None:
    text = CHINESE * 20
    r = extract_text(text.encode("utf-16-le"), TEXT)
    assert r.status is S.OK
    assert "续签申请" in r.text


def test_markdown_and_csv_are_text() -> None:
    assert "续签" in extract_text("# 合同\n\n续签".encode(), MARKDOWN).text
    assert "运维" in extract_text("项目,类别\n智慧城市,运维\n".encode("gb18030"), CSV).text


def test_whitespace_only_is_empty_and_control_characters_are_removed() -> None:
    assert extract_text(b" \n\t ", TEXT).status is S.EMPTY
    assert extract_text("合\x00同\x1b".encode(), TEXT).text == "合同"


def test_unsupported_media_type() -> None:
    assert extract_text(b"\x89PNG", "image/png").status is S.UNSUPPORTED


def test_input_over_limit() -> None:
    r = extract_text(b"x" * 2000, TEXT, limits=ExtractLimits(max_input_bytes=1000))
    assert r.status is S.TOO_LARGE
    assert r.detail_zh and r.detail_en


# --- pdf ------------------------------------------------------------------------------------


def make_pdf(pages: list[str], *, user_password: str | None = None, owner_password: str | None = None) -> bytes:
    """A PDF with one Helvetica text line per page ("" for a page without text)."""
    w = PdfWriter()
    font = w._add_object(DictionaryObject({
        NameObject("/Type"): NameObject("/Font"), NameObject("/Subtype"): NameObject("/Type1"),
        NameObject("/BaseFont"): NameObject("/Helvetica"),
    }))
    for line in pages:
        page = w.add_blank_page(300, 200)
        if line:
            page[NameObject("/Resources")] = DictionaryObject(
                {NameObject("/Font"): DictionaryObject({NameObject("/F1"): font})})
            stream = DecodedStreamObject()
            stream.set_data(f"BT /F1 12 Tf 20 100 Td ({line}) Tj ET".encode("latin-1"))
            page[NameObject("/Contents")] = w._add_object(stream)
    if user_password is not None:
        w.encrypt(user_password, owner_password)
    buf = io.BytesIO()
    w.write(buf)
    return buf.getvalue()


def test_pdf_every_page() -> None:
    r = extract_text(make_pdf(["Service level agreement", "Availability 99.9%", "Dispute resolution"]), PDF)
    assert r.status is S.OK, r
    assert r.pages == 3
    for s in ("Service level agreement", "Availability 99.9%", "Dispute resolution"):
        assert s in r.text


def test_pdf_encrypted_with_a_password() -> None:
    r = extract_text(make_pdf(["Secret contract"], user_password="secret"), PDF)
    assert r.status is S.ENCRYPTED
    assert "加密" in r.detail_zh


def test_pdf_encrypted_with_empty_user_password_is_still_extracted() -> None:
    r = extract_text(make_pdf(["Restricted but readable"], user_password="", owner_password="owner"), PDF)
    assert r.status is S.OK, r
    assert "Restricted but readable" in r.text


def test_pdf_without_text_layer() -> None:
    r = extract_text(make_pdf(["", ""]), PDF)
    assert r.status is S.NO_TEXT_LAYER
    assert r.pages == 2


def test_pdf_page_cap() -> None:
    r = extract_text(make_pdf(["one", "two", "three"]), PDF, limits=ExtractLimits(max_pdf_pages=2))
    assert r.status is S.OK and r.truncated and r.pages == 3
    assert "two" in r.text and "three" not in r.text


def test_pdf_child_is_killed_at_the_wall_clock_limit() -> None:
    # 400,000 text operators: pypdf needs about 3 s for them.
    w = PdfWriter()
    font = w._add_object(DictionaryObject({
        NameObject("/Type"): NameObject("/Font"), NameObject("/Subtype"): NameObject("/Type1"),
        NameObject("/BaseFont"): NameObject("/Helvetica"),
    }))
    page = w.add_blank_page(300, 200)
    page[NameObject("/Resources")] = DictionaryObject({NameObject("/Font"): DictionaryObject({NameObject("/F1"): font})})
    stream = DecodedStreamObject()
    stream.set_data(b"BT /F1 12 Tf " + b"(x) Tj " * 400_000 + b"ET")
    page[NameObject("/Contents")] = w._add_object(stream)
    buf = io.BytesIO()
    w.write(buf)
    started = time.monotonic()
    r = extract_text(buf.getvalue(), PDF, limits=ExtractLimits(pdf_timeout_seconds=0.3))
    assert time.monotonic() - started < 3
    assert r.status is S.FAILED and "timed out" in r.detail_en
    # The helper survives a killed child.
    assert extract_text(make_pdf(["still working"]), PDF).status is S.OK


def test_pdf_child_memory_limit(bad_inputs: Path) -> None:
    bad = bad_inputs
    r = extract_text((bad / "flate_bomb.pdf").read_bytes(), PDF,
                     limits=ExtractLimits(pdf_memory_bytes=64 * 1024 * 1024))
    assert r.status in (S.TOO_LARGE, S.NO_TEXT_LAYER, S.FAILED)
    assert extract_text(make_pdf(["after the bomb"]), PDF).status is S.OK


def test_pdf_concurrent_callers() -> None:
    from concurrent.futures import ThreadPoolExecutor

    data = [make_pdf([f"document {i}"]) for i in range(6)]
    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda d: extract_text(d, PDF), data))
    assert [r.text.strip() for r in results] == [f"document {i}" for i in range(6)]


# --- hostile samples ------------------------------------------------------------------------

EXPECTED = {
    "benign.docx": {S.OK},
    "benign.pdf": {S.OK},
    "zipbomb.docx": {S.FAILED, S.TOO_LARGE},
    "many_entries.docx": {S.FAILED, S.TOO_LARGE},
    "xxe.docx": {S.FAILED},
    "billion_laughs.docx": {S.FAILED},
    "zipslip.docx": {S.FAILED},
    "crc_corrupt.docx": {S.FAILED},
    "missing_main_part.docx": {S.FAILED},
    "empty.docx": {S.EMPTY},
    "png_disguised_as.docx": {S.FAILED, S.UNSUPPORTED},
    "text_disguised_as.docx": {S.FAILED, S.UNSUPPORTED},
    "ssti_template.docx": {S.OK},
    "ssti_dos_template.docx": {S.OK},
    "truncated.pdf": {S.FAILED},
    "cyclic_prev_xref.pdf": {S.OK, S.FAILED},
    "cyclic_pages.pdf": {S.FAILED},
    "flate_bomb.pdf": {S.NO_TEXT_LAYER, S.TOO_LARGE, S.EMPTY},
    "huge_length.pdf": {S.TOO_LARGE, S.FAILED},
}


def test_every_hostile_sample_gets_a_status_within_its_limits(bad_inputs: Path) -> None:
    bad = bad_inputs
    manifest = json.loads((bad / "manifest.json").read_text())
    seen = set()
    for item in manifest:
        name = item["file"]
        if not name.endswith((".docx", ".pdf")):
            continue
        seen.add(name)
        data = (bad / name).read_bytes()
        started = time.monotonic()
        r = extract_text(data, PDF if name.endswith(".pdf") else DOCX)
        elapsed = time.monotonic() - started
        assert r.status in EXPECTED.get(name, set(S)), (name, r)
        assert elapsed < 5, (name, elapsed)
        if r.status is not S.OK:
            assert r.detail_zh and r.detail_en
        assert "root:" not in r.text  # xxe: no file contents anywhere
    assert {"zipbomb.docx", "xxe.docx", "flate_bomb.pdf", "huge_length.pdf"} <= seen
