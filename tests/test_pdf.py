"""DOCX → PDF with LibreOffice: Chinese text and fonts, hangs, crashes, restarts, no fetches.

Tests marked ``libreoffice`` need soffice (libreoffice-writer-nogui, fonts-noto-cjk) and, for
the warm converter, Debian's python3-uno plus a unoserver venv (made on first use from PyPI,
or ahead of time with ``python -m docsvc.adapters.pdf``). They skip when that is missing,
unless DOCSVC_REQUIRE_ALL is set: then they fail, so CI cannot pass by skipping them.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import socket
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import docx
import pypdf
import pytest
from docx.oxml import OxmlElement
from docx.oxml.ns import qn

from docsvc.adapters.pdf import (
    FONT_SUBSTITUTIONS,
    LibreOfficeConverter,
    SofficeConverter,
    prepare_docx,
    prepare_profile,
)
from docsvc.core.templating import RenderPool, render_docx
from docsvc.errors import Unavailable
from tests.conftest import within

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


@pytest.fixture(scope="module")
def warm(unoserver_venv: Path) -> Iterator[LibreOfficeConverter]:
    converter = LibreOfficeConverter(unoserver_venv=unoserver_venv, cold_fallback=False)
    converter.start()
    yield converter
    converter.close()


# ------------------------------------------------------------------------------- helpers


def chinese_docx(lang: str | None = None) -> bytes:
    """Runs in fonts a Linux server does not have: 宋体 (serif) and 黑体 (sans)."""
    d = docx.Document()
    for text, font in (
        ("甲方：大连云海信息技术有限公司", "宋体"),
        ("乙方：服务等级协议 SLA-2026-001", "黑体"),
        ("仿宋段落：信息服务管理规范", "仿宋_GB2312"),
    ):
        run = d.add_paragraph().add_run(text)
        run.font.name = font
        run._element.rPr.rFonts.set(qn("w:eastAsia"), font)
        if lang:
            el = OxmlElement("w:lang")
            el.set(qn("w:eastAsia"), lang)
            run._element.rPr.append(el)
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


def pdf_text(pdf: bytes) -> str:
    return "".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages)


def pdf_fonts(pdf: bytes) -> set[str]:
    names = set()
    for page in pypdf.PdfReader(io.BytesIO(pdf)).pages:
        for ref in page["/Resources"].get("/Font", {}).values():
            names.add(str(ref.get_object()["/BaseFont"]))
    return names


def assert_chinese_pdf(pdf: bytes) -> None:
    text = pdf_text(pdf).replace(" ", "")
    for expected in ("甲方：大连云海信息技术有限公司", "服务等级协议", "SLA-2026-001", "信息服务管理规范"):
        assert expected in text
    fonts = pdf_fonts(pdf)
    # The Noto CJK collection shares one CFF font program between its SC/TC/JP/KR faces, so
    # the embedded name reads "NotoSerifCJKjp-…" even when the SC face and zh-CN shaping are
    # used. What matters: 宋体 came out as the serif, 黑体 as the sans.
    assert any("NotoSerifCJK" in f for f in fonts), fonts
    assert any("NotoSansCJK" in f for f in fonts), fonts


def soffice_pid(converter: LibreOfficeConverter) -> int:
    pid = converter.health()["soffice_pid"]
    assert pid, converter.health()
    return pid


def unix_sockets(pid: int) -> set[str]:
    """The paths of the Unix sockets a process holds open (Linux /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            link = os.readlink(fd)
            if link.startswith("socket:["):
                inodes.add(link[len("socket:[") : -1])
    lines = Path("/proc/net/unix").read_text().splitlines()[1:]  # Num RefCount … Inode Path
    return {fields[7] for fields in map(str.split, lines) if len(fields) > 7 and fields[6] in inodes}


# ---------------------------------------------------------------------- no LibreOffice needed


def test_unavailable_when_libreoffice_is_missing(tmp_path: Path) -> None:
    for converter in (
        LibreOfficeConverter(soffice="/nonexistent/soffice", work_dir=tmp_path / "w"),
        SofficeConverter(soffice="/nonexistent/soffice", work_dir=tmp_path / "c"),
    ):
        with pytest.raises(Unavailable) as caught:
            converter.convert(chinese_docx())
        err = caught.value
        assert err.details["reason"] == "not_installed"
        assert err.zh.startswith("未安装 LibreOffice，无法生成 PDF；请安装 libreoffice-writer-nogui、fonts-noto-cjk")
        assert err.en.startswith("LibreOffice is not installed")
        assert converter.health()["state"] == "down"
        converter.close()


def test_docx_generation_does_not_need_libreoffice() -> None:
    pool = RenderPool(1)
    try:
        out = render_docx(chinese_docx(), {}, pool=pool)
    finally:
        pool.close()
    assert docx.Document(io.BytesIO(out)).paragraphs[0].text == "甲方：大连云海信息技术有限公司"


def test_prepare_docx_defaults_east_asian_text_to_simplified_chinese() -> None:
    original = chinese_docx()
    prepared = prepare_docx(original)
    styles = zipfile.ZipFile(io.BytesIO(prepared)).read("word/styles.xml")
    lang = docx.oxml.parse_xml(styles).find(f"{W}docDefaults/{W}rPrDefault/{W}rPr/{W}lang")
    assert lang.get(f"{W}eastAsia") == "zh-CN"
    assert docx.Document(io.BytesIO(prepared)).paragraphs[1].text.startswith("乙方")
    # A document that already says which East Asian language it is keeps it.
    japanese = _with_default_lang(original, "ja-JP")
    assert prepare_docx(japanese) == japanese


def _with_default_lang(data: bytes, lang: str) -> bytes:
    d = docx.Document(io.BytesIO(data))
    el = d.styles.element.find(f"{W}docDefaults/{W}rPrDefault/{W}rPr/{W}lang")
    el.set(qn("w:eastAsia"), lang)
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


def test_profile_maps_chinese_fonts_and_disables_macros_and_links(tmp_path: Path) -> None:
    profile = tmp_path / "profile"
    prepare_profile(profile)
    xcu = (profile / "user" / "registrymodifications.xcu").read_text("utf-8")
    assert "<value>宋体</value>" in xcu and "<value>仿宋_GB2312</value>" in xcu
    assert FONT_SUBSTITUTIONS["宋体"] == "Noto Serif CJK SC"
    assert FONT_SUBSTITUTIONS["黑体"] == FONT_SUBSTITUTIONS["微软雅黑"] == "Noto Sans CJK SC"
    for setting in ("DisableMacrosExecution", "BlockUntrustedRefererLinks", "MacroSecurityLevel"):
        assert setting in xcu
    marker = profile / "user" / "kept.txt"
    marker.write_text("LibreOffice's own files survive a second prepare")
    prepare_profile(profile)
    assert marker.exists()


@pytest.mark.libreoffice
def test_cold_fallback_when_no_warm_server_can_be_made(soffice: str, tmp_path: Path) -> None:
    # Fault injection: the venv cannot be created (a path under /proc).
    converter = LibreOfficeConverter(unoserver_venv=Path("/proc/docsvc-no-venv"), work_dir=tmp_path)
    try:
        assert_chinese_pdf(converter.convert(chinese_docx()))
        health = converter.health()
        assert health["mode"] == "cold" and "unoserver" in health["last_error"]
    finally:
        converter.close()


# ------------------------------------------------------------------------------- LibreOffice


@pytest.mark.libreoffice
def test_cold_converter_embeds_noto_cjk_and_keeps_the_text(soffice: str, tmp_path: Path) -> None:
    converter = SofficeConverter(work_dir=tmp_path)
    try:
        assert_chinese_pdf(converter.convert(chinese_docx()))
    finally:
        converter.close()


@pytest.mark.libreoffice
def test_warm_converter_chinese_text_and_fonts(warm: LibreOfficeConverter) -> None:
    assert warm.health()["state"] == "running"
    assert_chinese_pdf(warm.convert(chinese_docx()))
    assert_chinese_pdf(warm.convert(chinese_docx(lang="zh-CN")))


@pytest.mark.libreoffice
def test_rendered_contract_values_reach_the_pdf(warm: LibreOfficeConverter) -> None:
    d = docx.Document()
    d.add_paragraph("甲方：{{ party_a.name }}")
    table = d.add_table(rows=3, cols=2)
    table.rows[0].cells[0].text = "{%tr for row in payment_schedule %}"
    table.rows[1].cells[0].text = "{{ row.phase }}"
    table.rows[1].cells[1].text = "{{ row.amount }} 元"
    table.rows[2].cells[0].text = "{%tr endfor %}"
    buf = io.BytesIO()
    d.save(buf)
    pool = RenderPool(1)
    try:
        rendered = render_docx(
            buf.getvalue(),
            {
                "party_a": {"name": "大连星海运维服务有限公司"},
                "payment_schedule": [{"phase": f"第{i}期", "amount": f"{i * 1000}"} for i in (1, 2, 3)],
            },
            pool=pool,
        )
    finally:
        pool.close()
    text = pdf_text(warm.convert(rendered)).replace(" ", "")
    assert "甲方：大连星海运维服务有限公司" in text
    assert "第3期" in text and "3000元" in text


@pytest.mark.libreoffice
def test_linked_images_are_not_fetched(warm: LibreOfficeConverter) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.2)
    port = listener.getsockname()[1]
    connections: list[bytes] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            connections.append(conn.recv(200))
            conn.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        pdf = warm.convert(docx_with_external_image(f"http://127.0.0.1:{port}/x.png"))
        time.sleep(0.5)
    finally:
        stop.set()
        thread.join(2)
        listener.close()
    assert pdf.startswith(b"%PDF-")
    assert connections == []  # a stock LibreOffice profile sends OPTIONS + GET here


def docx_with_external_image(url: str) -> bytes:
    d = docx.Document()
    d.add_paragraph("外部图片")
    buf = io.BytesIO()
    d.save(buf)
    drawing = (
        '<w:p><w:r><w:drawing><wp:inline><wp:extent cx="914400" cy="914400"/>'
        '<wp:docPr id="99" name="ext"/><a:graphic xmlns:a="http://schemas.openxmlformats.org/'
        'drawingml/2006/main"><a:graphicData uri="http://schemas.openxmlformats.org/drawingml/'
        '2006/picture"><pic:pic xmlns:pic="http://schemas.openxmlformats.org/drawingml/2006/'
        'picture"><pic:nvPicPr><pic:cNvPr id="99" name="ext"/><pic:cNvPicPr/></pic:nvPicPr>'
        '<pic:blipFill><a:blip r:link="rIdExt1"/><a:stretch><a:fillRect/></a:stretch>'
        '</pic:blipFill><pic:spPr><a:xfrm><a:off x="0" y="0"/><a:ext cx="914400" cy="914400"/>'
        '</a:xfrm><a:prstGeom prst="rect"><a:avLst/></a:prstGeom></pic:spPr></pic:pic>'
        "</a:graphicData></a:graphic></wp:inline></w:drawing></w:r></w:p>"
    )
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "word/document.xml":
                data = data.replace(b"<w:body>", b"<w:body>" + drawing.encode(), 1)
            elif item.filename == "word/_rels/document.xml.rels":
                data = data.replace(
                    b"</Relationships>",
                    (
                        '<Relationship Id="rIdExt1" Type="http://schemas.openxmlformats.org/'
                        f'officeDocument/2006/relationships/image" Target="{url}" '
                        'TargetMode="External"/></Relationships>'
                    ).encode(),
                )
            z.writestr(item, data)
    return out.getvalue()


@pytest.mark.libreoffice
@pytest.mark.slow
def test_crash_is_followed_by_a_restart(warm: LibreOfficeConverter) -> None:
    before = warm.health()
    os.kill(soffice_pid(warm), signal.SIGKILL)  # fault injection: LibreOffice dies
    deadline = time.monotonic() + 20
    while warm.health()["state"] == "running" and time.monotonic() < deadline:
        time.sleep(0.2)  # unoserver notices and exits
    assert_chinese_pdf(warm.convert(chinese_docx()))
    after = warm.health()
    assert after["state"] == "running" and after["pid"] != before["pid"]
    assert after["restarts"] == before["restarts"] + 1


@pytest.mark.timing
@pytest.mark.libreoffice
@pytest.mark.slow
def test_hang_times_out_restarts_and_the_next_conversion_works(warm: LibreOfficeConverter) -> None:
    before = warm.health()
    os.kill(soffice_pid(warm), signal.SIGSTOP)  # fault injection: LibreOffice hangs
    started = time.monotonic()
    with pytest.raises(Unavailable) as caught:
        warm.convert(chinese_docx(), timeout_s=3)
    assert 2.9 < time.monotonic() - started < within(8)
    assert caught.value.details["reason"] == "timeout"
    assert "超过 3 秒" in caught.value.zh
    health = warm.health()
    assert health["restarts"] == before["restarts"] + 1
    assert "timed out" in health["last_error"]
    assert_chinese_pdf(warm.convert(chinese_docx()))  # waits for the background restart
    assert warm.health()["state"] == "running" and warm.health()["pid"] != before["pid"]


@pytest.mark.libreoffice
@pytest.mark.slow
def test_restart_after_n_conversions(unoserver_venv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A planned restart, then a LibreOffice killed; neither leaves its temporary folder in the
    system's (soffice puts one there, lu….tmp, which a killed one cannot remove), nor, once the
    converter is closed, the socket soffice binds in /tmp whatever TMPDIR says (one more was
    left by every CLI run that made a PDF)."""
    system_temp = tmp_path / "system-temp"
    system_temp.mkdir()
    monkeypatch.setenv("TMPDIR", str(system_temp))
    converter = LibreOfficeConverter(
        unoserver_venv=unoserver_venv, work_dir=tmp_path / "work", restart_after=2, cold_fallback=False
    )
    try:
        converter.start()
        first_pid = converter.health()["pid"]
        converter.convert(chinese_docx())
        assert converter.health()["restarts"] == 0
        converter.convert(chinese_docx())  # the second one triggers the planned restart
        assert converter.health()["restarts"] == 1
        assert_chinese_pdf(converter.convert(chinese_docx()))
        health = converter.health()
        assert health["pid"] not in (None, first_pid)
        assert health["conversions"] == 3 and health["since_start"] == 1
        bound = {path for path in unix_sockets(soffice_pid(converter)) if path.startswith("/tmp/")}
        assert bound, "soffice holds a socket in /tmp"
        os.kill(soffice_pid(converter), signal.SIGKILL)
    finally:
        converter.close()
    assert converter.health()["state"] == "down"
    assert sorted(p.name for p in system_temp.iterdir()) == []
    assert [path for path in bound if os.path.exists(path)] == []
    assert not (tmp_path / "work" / "tmp").exists()
