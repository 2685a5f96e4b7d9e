"""PDF text that searches as it reads: lines the layout broke joined, layout spaces between CJK
characters dropped, page headers, footers and numbers counted once or not at all.

The pure repair (:mod:`docsvc.core.pdftext`) is tested on text shaped exactly as pypdf returns it
for PDFs LibreOffice made from Word documents (the samples below were extracted so, ``\\u3000``
and all); the whole path on real PDFs: written here with a CJK font and a ToUnicode map
(always), made by LibreOffice from a python-docx document (when soffice is installed), and
archived, indexed and searched.
"""

from __future__ import annotations

import io
import re
import time
from collections import Counter

import docx
import pytest
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Pt
from hypothesis import given, settings
from hypothesis import strategies as st
from pypdf import PdfWriter
from pypdf.generic import ArrayObject, DecodedStreamObject, DictionaryObject, NameObject, NumberObject, TextStringObject

from docsvc.core.content import PDF
from docsvc.core.extract import EXTRACTOR_VERSION, extract_text
from docsvc.core.extract import ExtractionStatus as S
from docsvc.core.pdftext import repair_pages, repair_text
from docsvc.core.search import SearchRequest
from tests.conftest import add, within

# --- samples as pypdf extracts them ---------------------------------------------------------

# Page 1 of a contract LibreOffice made from a python-docx document: header (two ideographic
# spaces between company and title), justified paragraphs with a first-line indent, a table,
# numbered items, and the footer 第 {PAGE} 页 共 {NUMPAGES} 页 as LibreOffice's fields come out.
LO_CONTRACT_PAGE = (
    "\u3000 \u3000大连云海信息技术有限公司 信息系统运维服务合同\n"
    "信息系统运维服务合同\n"
    "合同编号：SLA-2026-0412\n"
    "\u3000第一条服务内容\n"
    "乙方应按照本合同附件所列服务等级协议的要求，在约定时限内响应甲方提出的故障\n"
    "报修请求，对于一级故障应在三十分钟内到达现场并在四小时内恢复业务系统的正常运\n"
    "行。\n"
    "\u3000第二条服务范围\n"
    "本合同编号为SLA-2026-0412，服务范围包括机房巡检、网络设备维护、服务器及\n"
    "存储设备运维、数据库管理和应用系统支持，乙方应配备不少于5 名持有ITSS 认证的驻\n"
    "场工程师，提供7×24 小时运维服务\n"
    "服务项目 响应时间 恢复时间\n"
    "一级故障 30 分钟 4 小时\n"
    "二级故障 2 小时 24 小时\n"
    "\u3000第四条违约责任\n"
    "乙方未能在约定时限内完成故障处理的，每超过一小时按照当月服务费的百分之一支\n"
    "付违约金，累计违约金不超过当月服务费的百分之二十；因甲方原因造成延误的除外。\n"
    "（一）一级故障：核心业务系统中断；\n"
    "（二）二级故障：部分功能不可用；\n"
    "3.2\u3000乙方应建立服务台。\n"
    "\u3000第五条保密条款\n"
    "\u3000第{n}\u3000 \u3000 \u3000页共{total}\u3000页"
)

# A report: a title in distributed alignment (分散对齐), a run with character spacing, a URL
# that wrapped, justified English (LibreOffice leaves two spaces), a table, list items, and
# the footer "- {PAGE} -".
LO_REPORT_PAGE = (
    "信息系统运维服务报告\n"
    "服 务 等 级 协 议\n"
    "甲 方 签 章\n"
    "乙方应在约定时限内完成处理，处理结果详见运维平台https://ops.example.com/\n"
    "tickets/2026/04/12/incident-report-detail-page，并由甲方的信息中心负责人确认\n"
    "签字后归档保存，归档材料包括故障报告、处理记录和验收单。\n"
    "The  service  desk  shall  record  every  incident  in  the  ticketing  system,\n"
    "including  the  time  of  the  report,  the  manage-ment  decision  and  the\n"
    "resolution, within one working day.\n"
    "服务项目名称与范围说明 响应时间要求（工作日） 恢复时间\n"
    "机房巡检及网络设备维护 30 分钟内到达现场 4 小时\n"
    "一、总则\n"
    "• 服务台7×24 小时值守\n"
    "- 每月提交服务报告\n"
    "1. 首次响应\n"
    "  《信息技术服务运行维护第1 部分：通用要求》\n"
    "- {n} -"
)


def lo_pages(page: str, total: int) -> list[str]:
    return [page.format(n=n, total=total) for n in range(1, total + 1)]


def test_libreoffice_contract_lines_joined_and_page_furniture_counted_once() -> None:
    text = repair_pages(lo_pages(LO_CONTRACT_PAGE, 4))
    paragraphs = text.split("\n")
    # The header is kept once, first (as DOCX extraction has it); the gap in it is a tab.
    assert paragraphs[0] == "大连云海信息技术有限公司\t信息系统运维服务合同"
    assert text.count("大连云海信息技术有限公司") == 1
    # Page numbers are gone, however LibreOffice spaced them.
    assert "页共" not in text and "第1" not in text
    # Broken lines are one paragraph again, so words and phrases across the breaks are whole.
    assert (
        "乙方应按照本合同附件所列服务等级协议的要求，在约定时限内响应甲方提出的故障报修请求，"
        "对于一级故障应在三十分钟内到达现场并在四小时内恢复业务系统的正常运行。"
    ) in paragraphs
    assert (
        "乙方未能在约定时限内完成故障处理的，每超过一小时按照当月服务费的百分之一支付违约金，"
        "累计违约金不超过当月服务费的百分之二十；因甲方原因造成延误的除外。" in paragraphs
    )
    assert "驻场工程师" in text and "不少于5 名持有ITSS 认证" in text
    # Structure stays: clause headings, numbered items and table rows are lines of their own.
    for line in (
        "第一条服务内容",
        "第二条服务范围",
        "（一）一级故障：核心业务系统中断；",
        "（二）二级故障：部分功能不可用；",
        "3.2 乙方应建立服务台。",
        "服务项目\t响应时间\t恢复时间",
        "一级故障 30 分钟 4 小时",
        "信息系统运维服务合同",
        "合同编号：SLA-2026-0412",
    ):
        assert line in paragraphs, line
    # A paragraph that ends without 。 and a short line: a blank line, not a join.
    assert "提供7×24 小时运维服务\n\n服务项目" in text
    # Each page's body is kept: four copies of each clause.
    assert text.count("第一条服务内容") == 4


def test_libreoffice_report_letter_spacing_urls_latin_and_lists() -> None:
    text = repair_pages(lo_pages(LO_REPORT_PAGE, 5))
    paragraphs = text.split("\n")
    assert paragraphs[0] == "信息系统运维服务报告" and text.count("信息系统运维服务报告") == 1
    assert "服务等级协议" in paragraphs and "甲方签章" in paragraphs
    assert (
        "运维平台https://ops.example.com/tickets/2026/04/12/incident-report-detail-page，并由甲方的信息中心负责人确认签字后"
        in text
    )
    assert (
        "The service desk shall record every incident in the ticketing system, including the time of the "
        "report, the manage-ment decision and the resolution, within one working day."
    ) in paragraphs
    assert "服务项目名称与范围说明\t响应时间要求（工作日）\t恢复时间" in paragraphs
    for line in (
        "一、总则",
        "• 服务台7×24 小时值守",
        "- 每月提交服务报告",
        "1. 首次响应",
        "《信息技术服务运行维护第1 部分：通用要求》",
    ):
        assert line in paragraphs, line
    assert not re.search(r"^- \d+ -$", text, re.M)


# --- line breaks ----------------------------------------------------------------------------

FULL = "乙方应按照本合同附件所列服务等级协议的要求在约定时限内响应甲方"  # 30 characters, no punctuation


@pytest.mark.parametrize(
    ("raw", "repaired"),
    [
        # A full line ending in a CJK character continues on the next.
        (f"{FULL}提出的\n故障报修请求。", f"{FULL}提出的故障报修请求。"),
        (f"{FULL[:-3]}约定时\n限内完成。\n{FULL}。", f"{FULL[:-3]}约定时限内完成。\n{FULL}。"),
        # A line may not start with these: whatever the width, the break is the layout's.
        ("双方约定时限\n，乙方应响应。", "双方约定时限，乙方应响应。"),
        ("详见《服务规范\n》第三条。", "详见《服务规范》第三条。"),
        # A line ending in ， or 、 goes on.
        ("甲方、\n乙方和丙方。", "甲方、乙方和丙方。"),
        ("双方协商，\n签订本合同。", "双方协商，签订本合同。"),
        # A sentence end keeps the break; so does a numbered clause, item or bullet after it.
        (f"{FULL}。\n{FULL}。", f"{FULL}。\n{FULL}。"),
        (f"{FULL}：\n{FULL}。", f"{FULL}：\n{FULL}。"),
        (f"{FULL}（见附件。）\n{FULL}。", f"{FULL}（见附件。）\n{FULL}。"),
        (f"{FULL}\n第三条 服务期限", f"{FULL}\n第三条\t服务期限"),
        (f"{FULL}\n3.2 服务台", f"{FULL}\n3.2 服务台"),
        (f"{FULL}\n3.2.1\u3000服务台", f"{FULL}\n3.2.1 服务台"),
        (f"{FULL}\n（一）一级故障", f"{FULL}\n（一）一级故障"),
        (f"{FULL}\n(2) 二级故障", f"{FULL}\n(2) 二级故障"),
        (f"{FULL}\n一、总则", f"{FULL}\n一、总则"),
        (f"{FULL}\n1. 首次响应", f"{FULL}\n1. 首次响应"),
        (f"{FULL}\n1、首次响应", f"{FULL}\n1、首次响应"),
        (f"{FULL}\n• 服务台", f"{FULL}\n• 服务台"),
        (f"{FULL}\n- 每月报告", f"{FULL}\n- 每月报告"),
        (f"{FULL}\n①巡检", f"{FULL}\n①巡检"),
        # ... but an amount or a time is no clause number.
        (f"{FULL}为人民币\n3.2万元。", f"{FULL}为人民币3.2万元。"),
        (f"{FULL}在\n2026年4月12日前。", f"{FULL}在2026年4月12日前。"),
        (f"{FULL}在\n3.5小时内。", f"{FULL}在3.5小时内。"),
        # A short line is a paragraph's last: a blank line says so.
        (f"第一条 服务内容\n{FULL}。", "第一条\t服务内容\n\n" + f"{FULL}。"),
        (f"{FULL}\n{FULL[:8]}\n{FULL}。", f"{FULL}{FULL[:8]}\n\n{FULL}。"),
        # An indented line begins a paragraph.
        (f"{FULL}\n\u3000\u3000{FULL}。", f"{FULL}\n\n{FULL}。"),
        # A blank line stays one.
        (f"{FULL}\n\n\n{FULL}。", f"{FULL}\n\n{FULL}。"),
        # CJK and Latin meet without a space, as Chinese is written.
        (f"{FULL}持有\nITSS认证。", f"{FULL}持有ITSS认证。"),
        (f"{FULL}ITSS\n认证。", f"{FULL}ITSS认证。"),
    ],
)
def test_line_breaks(raw: str, repaired: str) -> None:
    assert repair_text(raw) == repaired


LATIN = "The service desk shall record every incident in the ticketing system and the"  # 76 wide


@pytest.mark.parametrize(
    ("raw", "repaired"),
    [
        (f"{LATIN}\nresolution within one day.", f"{LATIN} resolution within one day."),
        (f"{LATIN[:-4]} manage-\nment decision.", f"{LATIN[:-4]} management decision."),
        # The document spells it with a hyphen elsewhere: the hyphen is the author's.
        (
            f"{LATIN[:-4]} self-\nservice portal.\nA self-service kiosk.",
            f"{LATIN[:-4]} self-service portal.\nA self-service kiosk.",
        ),
        # An identifier keeps its hyphens, and gets no space.
        (f"{LATIN[:-4]} SLA-2026-\n0412 applies.", f"{LATIN[:-4]} SLA-2026-0412 applies."),
        (f"{FULL}编号SLA-2026-\n0412。", f"{FULL}编号SLA-2026-0412。"),
        # A soft hyphen is invisible either way.
        (f"{LATIN[:-4]} manage\u00ad\nment decision.", f"{LATIN[:-4]} management decision."),
        (
            f"{LATIN[:-4]} https://ops.example.com/\ntickets/12 lists it.",
            f"{LATIN[:-4]} https://ops.example.com/tickets/12 lists it.",
        ),
        (f"{LATIN}.\nNext sentence.", f"{LATIN}.\nNext sentence."),
        ("Service Levels\nThe provider shall respond.", "Service Levels\n\nThe provider shall respond."),
    ],
)
def test_latin_line_breaks(raw: str, repaired: str) -> None:
    assert repair_text(raw) == repaired


# --- spaces ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "repaired"),
    [
        ("服 务 等 级 协 议", "服务等级协议"),  # distributed alignment, character spacing, OCR layers
        ("甲 方 签 章", "甲方签章"),
        ("甲方（盖章） 乙方（盖章）", "甲方（盖章）\t乙方（盖章）"),  # fields of a short line
        ("服务项目  响应时间", "服务项目\t响应时间"),  # a column gap
        ("服务项目\u3000\u3000响应时间", "服务项目\t响应时间"),
        ("服务项目\t响应时间", "服务项目\t响应时间"),
        ("一级故障 30 分钟 4 小时", "一级故障 30 分钟 4 小时"),  # CJK next to digits or Latin keeps its space
        ("一级故障  30分钟", "一级故障\t30分钟"),
        ("The  service  desk", "The service desk"),  # justified Latin
        ("Service\u3000availability", "Service availability"),
        ("\u3000 \u3000大连云海", "大连云海"),
    ],
)
def test_spaces_in_a_short_line(raw: str, repaired: str) -> None:
    assert repair_text(f"{FULL}。\n{FULL}。\n{raw}") == f"{FULL}。\n{FULL}。\n{repaired}"


def test_spaces_in_a_justified_line_are_dropped() -> None:
    lines = [f"{FULL}提出的", "乙方应按照本合同 附件所列服务等级协议的要求在约定时限内响应甲方提出的", "故障报修请求。"]
    assert (
        repair_text("\n".join(lines))
        == f"{FULL}提出的乙方应按照本合同附件所列服务等级协议的要求在约定时限内响应甲方提出的故障报修请求。"
    )


# --- page furniture -------------------------------------------------------------------------


LONG = (
    "乙方应按照本合同附件所列服务等级协议的要求在约定时限内响应甲方提出的故障报修请求对于一级故障应在三十分钟内到达现场"
)


def body(n: int) -> str:
    """Three full lines (30 characters) of a paragraph, different on every page, ending mid-sentence."""
    text = (LONG[n:] + LONG[:n]) * 2
    return "\n".join(text[i : i + 30] for i in range(0, 90, 30))


@pytest.mark.parametrize(
    "footer",
    [
        "{n}",
        "- {n} -",
        "— {n} —",
        "第 {n} 页",
        "第{n}页 共12页",
        "第 {n} 页，共 12 页",
        "共 12 页 第 {n} 页",
        "Page {n} of 12",
        "page {n}",
        "{n} / 12",
        "{n}/12",
        "第 {n}/12 页",
    ],
)
def test_page_numbers_are_removed(footer: str) -> None:
    pages = [f"大连云海 运维合同\n{body(n)}\n{footer.format(n=n)}" for n in range(1, 6)]
    text = repair_pages(pages)
    assert not re.search(r"\d", text) and "页" not in text and "age" not in text, text
    assert text.startswith("大连云海\t运维合同\n") and text.count("大连云海") == 1


def test_a_sentence_across_a_page_break_is_joined() -> None:
    pages = [
        f"运维服务报告\n{FULL}\n{FULL}约定时\n第 1 页",
        f"运维服务报告\n限内完成。\n{FULL}。\n第 2 页",
        f"运维服务报告\n{FULL}。\n第 3 页",
    ]
    text = repair_pages(pages)
    assert "约定时限内完成。" in text
    assert text.split("\n")[0] == "运维服务报告" and text.count("运维服务报告") == 1


def test_repeated_header_and_footer_lines_count_once() -> None:
    pages = [
        f"大连云海信息技术有限公司\n信息系统运维服务合同（2026版）\n{body(n)}\n机密 请勿外传\n- {n} -"
        for n in range(1, 8)
    ]
    text = repair_pages(pages)
    assert text.count("大连云海信息技术有限公司") == 1 and text.count("信息系统运维服务合同（2026版）") == 1
    assert text.count("机密") == 1 and text.endswith("机密\t请勿外传")
    assert text.startswith("大连云海信息技术有限公司\n信息系统运维服务合同（2026版）\n")
    # Every page's body is there, and the paragraph runs on across lines and pages.
    assert "".join(body(n).replace("\n", "") for n in range(1, 8)) in text


def test_furniture_needs_most_pages_and_at_least_three() -> None:
    two = [f"运维合同\n{body(n)}" for n in (1, 2)]
    assert repair_pages(two).count("运维合同") == 2  # two pages: could be body text
    five = [f"运维合同\n{body(n)}" if n < 3 else body(n) for n in range(1, 6)]
    assert repair_pages(five).count("运维合同") == 2  # 2 of 5 pages
    # A bare number at a page's edge is a page number only when most pages have one, and
    # they are not all the same.
    table = [f"{body(1)}。\n合计\n3", f"{body(2)}。", f"{body(3)}。"]
    assert "。\n合计\n\n3\n" in repair_pages(table)
    same = [f"{body(n)}。\n合计\n3" for n in range(1, 3)]
    assert repair_pages(same).count("合计\n\n3") == 2
    numbered = [f"{body(n)}。\n{roman}" for n, roman in enumerate(("i", "ii", "iii", "iv"), 1)]
    assert repair_pages(numbered) == "\n".join(f"{body(n)}。".replace("\n", "") for n in range(1, 5))


def test_a_full_line_is_never_furniture() -> None:
    line = "本合同所称服务等级协议是指双方就运维服务质量约定的各项指标。"  # 30 characters
    pages = [f"{line}\n{body(n)}。" for n in range(1, 6)]
    assert repair_pages(pages).count(line) == 5


# --- properties -----------------------------------------------------------------------------

CHARS = st.sampled_from(
    list(
        "服务等级协议约定时限乙方甲方报修请求第一条三页共abcxyzSLA0123456789"
        "，。、；：？！）》（《“”•·-.,:;/() \u3000\t\n\n\n"
    )
    + ["\u00ad", "\r\n", "  "]
)
TEXTS = st.lists(CHARS, max_size=300).map("".join)


def visible(text: str) -> Counter[str]:
    return Counter(c for c in text if not c.isspace() and c not in "\u00ad")


@settings(max_examples=400, deadline=None)
@given(TEXTS)
def test_repair_text_loses_nothing_but_spaces_and_layout_hyphens(text: str) -> None:
    out = repair_text(text)
    before, after = visible(text), visible(out)
    lost = before - after
    assert not after - before
    assert set(lost) <= {"-"}
    assert not re.search(r"\n\n\n", out) and out == out.strip()


@settings(max_examples=400, deadline=None)
@given(TEXTS)
def test_repair_text_is_idempotent(text: str) -> None:
    once = repair_text(text)
    assert repair_text(once) == once


@settings(max_examples=200, deadline=None)
@given(st.lists(TEXTS, max_size=6))
def test_repair_pages_only_removes_whole_lines(pages: list[str]) -> None:
    out = repair_pages(pages)
    assert not visible(out) - visible("".join(pages))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.lists(CHARS.filter(lambda c: not c.isdigit() and c not in "第页ivxIVX"), max_size=200).map("".join),
        max_size=2,
    )
)
def test_repair_pages_of_two_pages_without_page_numbers_loses_nothing(pages: list[str]) -> None:
    out = repair_pages(pages)
    lost = visible("".join(pages)) - visible(out)
    assert set(lost) <= {"-"}, lost


@pytest.mark.parametrize(
    "pages",
    [
        [],
        [""] * 3,
        [" \n\t\n\u3000"] * 2,
        ["\n".join("服务，。a1-•"[i % 8] for i in range(10_000))] * 3,  # 10,000 one-character lines
        ["שלום עולם\nمرحبا بالعالم\n" * 50] * 4,  # RTL
        ["".join(chr(i % 0x40) for i in range(20_000))],  # control characters
        [" " * 200_000 + "x", "服" + "\u3000" * 200_000 + "务"],
        ["服 " * 200_000, "a " * 200_000, "abc-\n" * 20_000],
        ["a" * 300_000 + " -\nb"],
        ["\ud800 服\udfff"],
        ["服\r" * 200_000, "务\x0c" * 200_000],  # past MAX_LINES: left as it is
    ],
)
@pytest.mark.timing
def test_hostile_pages_are_repaired_quickly(pages: list[str]) -> None:
    started = time.monotonic()
    out = repair_pages(pages)
    assert time.monotonic() - started < within(2)
    assert not visible(out) - visible("".join(pages))


@pytest.mark.timing
def test_two_hundred_pages_cost_little() -> None:
    pages = [f"大连云海 运维合同\n{body(n)}\n{FULL}。\n第 {n} 页 共 200 页" * 12 for n in range(1, 201)]
    started = time.monotonic()
    repair_pages(pages)
    assert time.monotonic() - started < within(1.5)  # pypdf needs seconds to extract 200 pages


# --- real PDFs ------------------------------------------------------------------------------


def _to_unicode_cmap() -> bytes:
    """ToUnicode for Identity-H codes that are the characters' own code points (BMP)."""
    ranges = [f"<{hi:02X}00> <{hi:02X}FF> <{hi:02X}00>" for hi in range(256) if not 0xD8 <= hi <= 0xDF]
    blocks = "".join(
        f"{len(ranges[i : i + 100])} beginbfrange\n" + "\n".join(ranges[i : i + 100]) + "\nendbfrange\n"
        for i in range(0, len(ranges), 100)
    )
    return (
        "/CIDInit /ProcSet findresource begin 12 dict begin begincmap\n"
        "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n"
        "/CMapName /Adobe-Identity-UCS def /CMapType 2 def\n"
        "1 begincodespacerange <0000> <FFFF> endcodespacerange\n"
        + blocks
        + "endcmap CMapName currentdict /CMap defineresource pop end end\n"
    ).encode()


Run = str | int  # text, or a TJ adjustment in thousandths of an em (negative: further right)


def cjk_pdf(pages: list[list[tuple[float, float, str | list[Run]]]]) -> bytes:
    """A PDF whose pages show the given (x, y, text) lines in a Type0 CJK font (not embedded:
    the text layer is what is under test), the way Word and LibreOffice write Chinese."""
    w = PdfWriter()
    cmap = DecodedStreamObject()
    cmap.set_data(_to_unicode_cmap())
    cid_font = w._add_object(
        DictionaryObject(
            {
                NameObject("/Type"): NameObject("/Font"),
                NameObject("/Subtype"): NameObject("/CIDFontType2"),
                NameObject("/BaseFont"): NameObject("/NotoSansCJKsc-Regular"),
                NameObject("/DW"): NumberObject(1000),
                NameObject("/CIDSystemInfo"): DictionaryObject(
                    {
                        NameObject("/Registry"): TextStringObject("Adobe"),
                        NameObject("/Ordering"): TextStringObject("Identity"),
                        NameObject("/Supplement"): NumberObject(0),
                    }
                ),
            }
        )
    )
    font = w._add_object(
        DictionaryObject(
            {
                NameObject("/Type"): NameObject("/Font"),
                NameObject("/Subtype"): NameObject("/Type0"),
                NameObject("/BaseFont"): NameObject("/NotoSansCJKsc-Regular"),
                NameObject("/Encoding"): NameObject("/Identity-H"),
                NameObject("/DescendantFonts"): ArrayObject([cid_font]),
                NameObject("/ToUnicode"): w._add_object(cmap),
            }
        )
    )
    for lines in pages:
        page = w.add_blank_page(595, 842)
        page[NameObject("/Resources")] = DictionaryObject(
            {NameObject("/Font"): DictionaryObject({NameObject("/F1"): font})}
        )
        ops = ["BT /F1 10.5 Tf"]
        for x, y, text in lines:
            runs = [text] if isinstance(text, str) else text
            tj = " ".join(f"<{''.join(f'{ord(c):04X}' for c in r)}>" if isinstance(r, str) else str(r) for r in runs)
            ops.append(f"1 0 0 1 {x} {y} Tm [{tj}] TJ")
        ops.append("ET")
        stream = DecodedStreamObject()
        stream.set_data("\n".join(ops).encode())
        page[NameObject("/Contents")] = w._add_object(stream)
    buf = io.BytesIO()
    w.write(buf)
    return buf.getvalue()


def contract_pdf() -> bytes:
    """Three A4 pages of a contract: header, footer with page numbers, 40 characters a line,
    a title letter-spaced with TJ adjustments, phrases broken across lines and pages."""
    clause = (
        "乙方应按照本合同附件所列服务等级协议的要求，在约定时限内响应甲方提出的故障报修请求，对于一级故障应在"
        "三十分钟内到达现场并在四小时内恢复业务系统的正常运行。"
    )
    pages = []
    for n in range(1, 4):
        lines: list[tuple[float, float, str | list[Run]]] = [
            (72, 790, "大连云海信息技术有限公司　信息系统运维服务合同")
        ]
        y = 740
        if n == 1:
            spaced: list[Run] = []
            for ch in "服务等级协议":
                spaced += [ch, -1500]
            lines.append((200, y, spaced[:-1]))
            y -= 30
        lines.append((72, y, f"第{'一二三'[n - 1]}条 服务内容与要求"))
        y -= 20
        text = clause * 3
        if n == 2:
            text = "续" + text
        for i in range(0, len(text), 40):
            lines.append((72 + (21 if i == 0 else 0), y, text[i : i + 40]))
            y -= 16
        if n == 1:  # 可用|性 across a line break
            lines.append((72, y, ("乙方保证核心业务系统全年" * 4)[:36] + "系统可用"))
            lines.append((72, y - 16, "性不低于百分之九十九点九。"))
        if n == 2:  # the page ends mid-sentence: 约定时|限 across the page break
            lines.append((72, y, ("如遇不可抗力等特殊情况" * 4)[:33] + "双方另行约定时"))
        if n == 3:
            lines.insert(1, (72, 760, "限内，乙方应提交书面报告。"))
        lines.append((280, 50, f"第 {n} 页 共 3 页"))
        pages.append(lines)
    return cjk_pdf(pages)


@pytest.mark.slow
def test_extracted_pdf_text_is_repaired() -> None:
    r = extract_text(contract_pdf(), PDF)
    assert r.status is S.OK and r.pages == 3, r
    assert r.extractor_version == EXTRACTOR_VERSION and EXTRACTOR_VERSION.startswith("docsvc-extract/5 ")
    text = r.text
    assert text.startswith("大连云海信息技术有限公司\t信息系统运维服务合同\n")
    assert text.count("大连云海信息技术有限公司") == 1
    assert "服务等级协议\n" in text  # the letter-spaced title
    assert text.count("在约定时限内响应甲方提出的故障报修请求") == 9  # every line break that cut it is joined
    assert "系统可用性不低于百分之九十九点九。" in text  # across a line break
    assert "双方另行约定时限内，乙方应提交书面报告。" in text  # across the page break
    assert "页" not in text.replace("第一条", "")


@pytest.mark.slow
def test_a_phrase_broken_across_pdf_lines_is_found_and_shown(svc) -> None:
    r = add(svc, contract_pdf(), "运维合同.pdf", title="运维服务合同", doc_type="contract")
    other = add(svc, "会议纪要：讨论约定时间与限额。".encode(), "纪要.txt", title="例会纪要")
    report = svc.index.sync()
    assert report.failed == 0
    assert svc.index.extraction_statuses([r.version]) == {r.version.id: "ok"}
    for query in ('"系统可用性不低于"', "可用性", '"另行约定时限内"', '"服务等级协议"', "故障报修请求"):
        result = svc.index.search(SearchRequest(query=query))
        assert [h.document_id for h in result.hits] == [r.document.id], query
    hit = svc.index.search(SearchRequest(query="书面报告")).hits[0]
    assert "双方另行约定时限内，乙方应提交书面报告。" in hit.snippet.text and "页" not in hit.snippet.text
    assert other.document.id not in [h.document_id for h in svc.index.search(SearchRequest(query='"约定时限"')).hits]


# --- LibreOffice ----------------------------------------------------------------------------


def _page_field(paragraph, instr: str) -> None:
    for kind, text in (("begin", None), ("instr", instr), ("separate", None), ("text", "1"), ("end", None)):
        run = paragraph.add_run(text if kind == "text" else None)
        if kind == "instr":
            el = OxmlElement("w:instrText")
            el.set(qn("xml:space"), "preserve")
            el.text = instr
            run._r.append(el)
        elif kind != "text":
            el = OxmlElement("w:fldChar")
            el.set(qn("w:fldCharType"), kind)
            run._r.append(el)


CLAUSES = [
    (
        "服务内容",
        "乙方应按照本合同附件所列服务等级协议的要求，在约定时限内响应甲方提出的故障报修请求，对于一级故障应在三十分钟内到达现场并在四小时内恢复业务系统的正常运行。",
    ),
    (
        "服务费用",
        "甲方按季度向乙方支付运维服务费，每季度服务费为人民币壹拾贰万元整，乙方应在每季度首月十日前开具增值税专用发票，甲方在收到发票后三十日内付款。",
    ),
    (
        "违约责任",
        "乙方未能在约定时限内完成故障处理的，每超过一小时按照当月服务费的百分之一支付违约金，累计违约金不超过当月服务费的百分之二十；因甲方原因造成延误的除外。",
    ),
    (
        "保密条款",
        "双方对在履行本合同过程中知悉的对方商业秘密、技术资料和用户数据负有保密义务，未经对方书面同意不得向任何第三方披露，保密期限自本合同签订之日起至合同终止后五年。",
    ),
    (
        "知识产权",
        "乙方在提供服务过程中形成的运维文档、配置清单和巡检报告的所有权归甲方所有，乙方为履行本合同而使用的自有工具软件的知识产权仍归乙方所有。",
    ),
    (
        "服务验收",
        "每季度末由甲方信息中心组织服务质量考核，考核内容包括故障响应及时率、问题解决率、巡检完成率和用户满意度，考核结果作为支付当季服务费的依据。",
    ),
]


def contract_docx() -> bytes:
    d = docx.Document()
    normal = d.styles["Normal"]
    normal.font.name = "宋体"
    normal.element.rPr.rFonts.set(qn("w:eastAsia"), "宋体")
    section = d.sections[0]
    section.header.paragraphs[0].text = "大连云海信息技术有限公司　　信息系统运维服务合同"
    footer = section.footer.paragraphs[0]
    footer.alignment = WD_ALIGN_PARAGRAPH.CENTER
    footer.add_run("第 ")
    _page_field(footer, "PAGE")
    footer.add_run(" 页 共 ")
    _page_field(footer, "NUMPAGES")
    footer.add_run(" 页")
    d.add_paragraph("服务等级协议").alignment = WD_ALIGN_PARAGRAPH.DISTRIBUTE
    for round_ in range(4):
        for n, (title, text) in enumerate(CLAUSES):
            d.add_paragraph(f"第{'一二三四五六'[n]}条 {title}")
            for variant in (text, f"补充说明{round_}：{text[10:]}"):
                p = d.add_paragraph(variant)
                p.alignment = WD_ALIGN_PARAGRAPH.JUSTIFY
                p.paragraph_format.first_line_indent = Pt(21)
            if n == 1 and round_ == 0:
                table = d.add_table(rows=2, cols=3)
                table.style = "Table Grid"
                for j, cell in enumerate(("服务项目", "响应时间", "恢复时间", "一级故障", "30分钟", "4小时")):
                    table.cell(j // 3, j % 3).text = cell
            if n == 2:
                d.add_paragraph("（一）一级故障：核心业务系统中断；")
                d.add_paragraph("3.2 乙方应建立服务台。")
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


@pytest.mark.libreoffice
def test_pdf_made_by_libreoffice_reads_like_its_docx(soffice: str) -> None:
    from docsvc.adapters.pdf import SofficeConverter
    from docsvc.core.content import DOCX

    source = contract_docx()
    converter = SofficeConverter(soffice=soffice)
    try:
        pdf = converter.convert(source)
    finally:
        converter.close()
    r = extract_text(pdf, PDF)
    assert r.status is S.OK and r.pages and r.pages >= 3, r
    text = r.text
    assert text.count("大连云海信息技术有限公司") == 1 and text.startswith("大连云海信息技术有限公司")
    assert not re.search(r"第\s*\d+\s*页", text)
    assert "服务等级协议" in text
    docx_paragraphs = [p for p in extract_text(source, DOCX).text.split("\n") if p.strip()]
    pdf_paragraphs = set(text.split("\n"))
    # Every body paragraph of the Word document is one paragraph of the PDF's text (LibreOffice
    # drops the space after a clause number in the PDF, so compare without spaces).
    squeezed = {re.sub(r"\s", "", p) for p in pdf_paragraphs}
    for para in docx_paragraphs:
        if para.startswith(("大连云海", "第 ", "服务项目")) or "\t" in para:
            continue
        assert re.sub(r"\s", "", para) in squeezed, para
    for phrase in ("约定时限内", "故障报修请求", "服务质量考核", "知识产权仍归乙方所有"):
        assert text.count(phrase) >= 4, phrase
