"""Build the shipped Word templates: templates/<slug>/template.docx.

    .venv/bin/python templates/build_templates.py        # rewrites every template.docx

The .docx files are generated, committed, and byte-for-byte reproducible (fixed timestamps in
the package and the zip), so ``tests/test_shipped_templates.py`` can check that the committed
files are what this script makes. Edit the documents here, never in Word: Word splits text into
runs as it pleases, and docxtpl needs each Jinja tag inside one run.

How a document is written:
- ``para("本合同服务期限自{{ term_start_cn }}起至{{ term_end_cn }}止。")`` splits the text at
  every Jinja tag, so each tag becomes a run of its own and no tag can be split.
- Every run gets explicit fonts (宋体 body, 黑体 headings; Times New Roman for Latin text) and
  ``w:lang w:eastAsia="zh-CN"``, so Word and LibreOffice lay it out as Chinese and the PDF
  converter can map the fonts to installed CJK fonts.
- Table rows repeat with docxtpl's ``{%tr for row in rows %}`` … ``{%tr endfor %}`` rows;
  each line of a long-text field becomes a numbered clause (``clause_items``: 5.4, 5.5 …, or
  ``5.{{ x_items|length + 4 }}`` for fixed clauses after it), so a document has one numbering
  scheme and every clause can be cited.
- Short table values (ratios, dates, phone numbers) get columns wide enough not to wrap (and
  ``w:noWrap`` for Word); headings keep with the next paragraph; a signing block is kept with
  the paragraphs before it, and an agreement's signing page is tied to it by the 签署页 line.
- The names used are documented in docs/template-schema.md (``x_cn`` for dates, enum labels and
  numerals, ``x.amount_cn`` and ``x.symbol`` for amounts, ``x_items`` for long text).
"""

from __future__ import annotations

import datetime as dt
import io
import re
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import docx
from docx.enum.section import WD_ORIENT
from docx.enum.style import WD_STYLE_TYPE
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_BREAK, WD_TAB_ALIGNMENT
from docx.oxml import parse_xml
from docx.oxml.ns import nsdecls, qn
from docx.shared import Cm, Emu, Pt, Twips
from docx.table import Table
from docx.text.paragraph import Paragraph

HERE = Path(__file__).resolve().parent

BODY_FONT = "宋体"  # the PDF converter maps these names to installed Noto CJK fonts
HEADING_FONT = "黑体"
LATIN_FONT = "Times New Roman"

PAGE_WIDTH, PAGE_HEIGHT = Cm(21), Cm(29.7)  # A4
MARGIN_TOP, MARGIN_BOTTOM, MARGIN_SIDE = Cm(2.54), Cm(2.54), Cm(2.8)
TEXT_WIDTH = Emu(PAGE_WIDTH - 2 * MARGIN_SIDE)  # 15.4 cm
# A fixed moment for the package's core properties and zip entries: reproducible output.
BUILD_TIME = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
ZIP_TIME = (2026, 1, 1, 0, 0, 0)

_TAG_RE = re.compile(r"({{.*?}}|{%.*?%})")
_BLANK_DATE = "　　　　年　　月　　日"


@dataclass(frozen=True)
class Bold:
    """A piece of text to set in bold (labels such as 甲方（委托方）：)."""

    text: str


Part = str | Bold


# ---------------------------------------------------------------------------------------------
# Low-level XML helpers


def _rpr_xml(east_asia: str, *, bold: bool = False, size: float | None = None) -> str:
    """Run properties in schema order: fonts, bold, size, language."""
    xml = (
        f'<w:rPr {nsdecls("w")}><w:rFonts w:ascii="{LATIN_FONT}" w:hAnsi="{LATIN_FONT}" '
        f'w:eastAsia="{east_asia}" w:cs="{LATIN_FONT}" w:hint="eastAsia"/>'
    )
    if bold:
        xml += "<w:b/><w:bCs/>"
    if size:
        half_points = int(size * 2)
        xml += f'<w:sz w:val="{half_points}"/><w:szCs w:val="{half_points}"/>'
    return xml + '<w:lang w:val="en-US" w:eastAsia="zh-CN" w:bidi="ar-SA"/></w:rPr>'


def _set_rpr(
    parent, east_asia: str, *, bold: bool = False, size: float | None = None, color: str | None = None
) -> None:
    """Replace the rPr of a run or style with explicit fonts and the zh-CN language."""
    old = parent.find(qn("w:rPr"))
    new = parse_xml(_rpr_xml(east_asia, bold=bold, size=size))
    if color:
        # schema order: rFonts, b, color, sz, lang
        new.insert(len(new) - (3 if size else 1), parse_xml(f'<w:color {nsdecls("w")} w:val="{color}"/>'))
    if old is not None:
        old.getparent().replace(old, new)
    else:
        # rPr follows pPr in a style and comes first in a run
        ppr = parent.find(qn("w:pPr"))
        if ppr is not None:
            ppr.addnext(new)
        elif parent.tag == qn("w:r"):
            parent.insert(0, new)
        else:
            parent.append(new)


def _add_run(
    paragraph: Paragraph, text: str, *, east_asia: str = BODY_FONT, bold: bool = False, size: float | None = None
) -> None:
    run = paragraph.add_run()
    _set_rpr(run._r, east_asia, bold=bold, size=size)
    run.text = text


def _add_field(paragraph: Paragraph, instruction: str, placeholder: str, size: float) -> None:
    """A Word field (PAGE, NUMPAGES): begin, instruction, separate, cached result, end."""
    pieces = [
        f'<w:fldChar {nsdecls("w")} w:fldCharType="begin"/>',
        f'<w:instrText {nsdecls("w")} xml:space="preserve"> {instruction} </w:instrText>',
        f'<w:fldChar {nsdecls("w")} w:fldCharType="separate"/>',
        f"<w:t {nsdecls('w')}>{placeholder}</w:t>",
        f'<w:fldChar {nsdecls("w")} w:fldCharType="end"/>',
    ]
    for piece in pieces:
        run = paragraph.add_run()
        _set_rpr(run._r, BODY_FONT, size=size)
        run._r.append(parse_xml(piece))


def _set_cell_shading(cell, fill: str) -> None:
    tc_pr = cell._tc.get_or_add_tcPr()
    shd = parse_xml(f'<w:shd {nsdecls("w")} w:val="clear" w:color="auto" w:fill="{fill}"/>')
    v_align = tc_pr.find(qn("w:vAlign"))  # schema order: shd comes before vAlign
    if v_align is not None:
        v_align.addprevious(shd)
    else:
        tc_pr.append(shd)


def _set_cell_vcenter(cell) -> None:
    cell._tc.get_or_add_tcPr().append(parse_xml(f'<w:vAlign {nsdecls("w")} w:val="center"/>'))


def _set_cell_nowrap(cell) -> None:
    """Short values (ratios, dates, phone numbers) stay on one line."""
    tc_pr = cell._tc.get_or_add_tcPr()
    v_align = tc_pr.find(qn("w:vAlign"))  # schema order: shd, noWrap, …, vAlign
    no_wrap = parse_xml(f"<w:noWrap {nsdecls('w')}/>")
    if v_align is not None:
        v_align.addprevious(no_wrap)
    else:
        tc_pr.append(no_wrap)


def _row_props(row, *, header: bool = False) -> None:
    tr_pr = row._tr.get_or_add_trPr()
    # schema order: cantSplit, trHeight, tblHeader
    tr_pr.insert(0, parse_xml(f"<w:cantSplit {nsdecls('w')}/>"))  # rows never break across pages
    if header:
        tr_pr.append(parse_xml(f"<w:tblHeader {nsdecls('w')}/>"))  # repeats on every page


def _chinese_number(n: int) -> str:
    digits = "零一二三四五六七八九"
    if n < 10:
        return digits[n]
    tens, ones = divmod(n, 10)
    return ("" if tens == 1 else digits[tens]) + "十" + (digits[ones] if ones else "")


# ---------------------------------------------------------------------------------------------
# Document builder


class Builder:
    """One template document: page setup, styles, header, footer, and writing helpers."""

    def __init__(self, *, name_zh: str, subject: str, header_left: str, header_right: str) -> None:
        self.doc = docx.Document()
        self.article_no = 0
        self.section_no = 0
        self.subsection_no = 0
        self.prefix = ""  # the number clauses are numbered under: "5" or "2.1"
        self.clause_no = 0
        self.clause_loops: list[str] = []  # long-text fields numbered as clauses here
        self._setup_package(name_zh, subject)
        self._setup_styles()
        self._setup_page(header_left, header_right)

    # -- setup ------------------------------------------------------------------------------------

    def _setup_package(self, name_zh: str, subject: str) -> None:
        props = self.doc.core_properties
        props.title = name_zh
        props.subject = subject
        props.author = "docsvc"
        props.last_modified_by = "docsvc"
        props.language = "zh-CN"
        props.keywords = "信息服务管理规范 DSIA02012007"
        props.created = props.modified = BUILD_TIME.replace(tzinfo=None)
        props.revision = 1
        # Word's spelling/grammar language for East Asian text
        settings = self.doc.settings.element
        lang = settings.find(qn("w:themeFontLang"))
        lang.set(qn("w:eastAsia"), "zh-CN")

    def _setup_styles(self) -> None:
        styles = self.doc.styles
        defaults = styles.element.find(qn("w:docDefaults"))
        rpr_default = defaults.find(qn("w:rPrDefault"))
        _set_rpr(rpr_default, BODY_FONT, size=12)  # 小四
        ppr = defaults.find(qn("w:pPrDefault")).find(qn("w:pPr"))
        ppr.remove(ppr.find(qn("w:spacing")))
        ppr.append(parse_xml(f'<w:spacing {nsdecls("w")} w:after="0" w:line="360" w:lineRule="auto"/>'))  # 1.5 lines

        # Drop theme fonts and colours everywhere: they override explicit fonts in Word.
        for rpr in styles.element.iter(qn("w:rPr")):
            if rpr.getparent().tag == qn("w:rPrDefault"):
                continue
            for el in list(rpr):
                if el.tag in (qn("w:rFonts"), qn("w:color")):
                    rpr.remove(el)

        normal = styles["Normal"]
        normal.paragraph_format.alignment = WD_ALIGN_PARAGRAPH.JUSTIFY
        normal.paragraph_format.widow_control = True

        body = styles["Body Text"]
        body.paragraph_format.first_line_indent = Pt(24)  # two characters of 小四
        body.paragraph_format.space_after = Pt(0)
        body.paragraph_format.alignment = WD_ALIGN_PARAGRAPH.JUSTIFY
        _set_rpr(body.element, BODY_FONT, size=12)

        title = styles["Title"]
        ppr = title.element.find(qn("w:pPr"))
        for el in list(ppr):
            ppr.remove(el)  # no coloured bottom border
        title.paragraph_format.alignment = WD_ALIGN_PARAGRAPH.CENTER
        title.paragraph_format.space_before = Pt(6)
        title.paragraph_format.space_after = Pt(18)
        title.paragraph_format.keep_with_next = True
        _set_rpr(title.element, HEADING_FONT, size=18, color="000000")  # 小二

        for name, size, before, after in (("Heading 1", 14, 12, 6), ("Heading 2", 12, 6, 3)):
            style = styles[name]
            style.paragraph_format.space_before = Pt(before)
            style.paragraph_format.space_after = Pt(after)
            style.paragraph_format.alignment = WD_ALIGN_PARAGRAPH.LEFT
            style.paragraph_format.keep_with_next = True  # a heading never ends a page
            style.paragraph_format.keep_together = True
            _set_rpr(style.element, HEADING_FONT, size=size, color="000000")

        for name in ("Title Char", "Heading 1 Char", "Heading 2 Char"):
            _set_rpr(styles[name].element, HEADING_FONT, color="000000")

        for name in ("Header", "Footer"):
            style = styles[name]
            tabs = style.element.find(qn("w:pPr")).find(qn("w:tabs"))
            tabs.getparent().remove(tabs)  # Letter-size tab stops; ours are set per paragraph
            _set_rpr(style.element, BODY_FONT, size=9)  # 小五

        table_text = styles.add_style("Table Text", WD_STYLE_TYPE.PARAGRAPH)
        table_text.base_style = normal
        table_text.paragraph_format.line_spacing = 1.15
        table_text.paragraph_format.alignment = WD_ALIGN_PARAGRAPH.LEFT
        _set_rpr(table_text.element, BODY_FONT, size=10.5)  # 五号

    def _setup_page(self, header_left: str, header_right: str) -> None:
        section = self.doc.sections[0]
        section.orientation = WD_ORIENT.PORTRAIT
        section.page_width, section.page_height = PAGE_WIDTH, PAGE_HEIGHT
        section.top_margin, section.bottom_margin = MARGIN_TOP, MARGIN_BOTTOM
        section.left_margin = section.right_margin = MARGIN_SIDE
        section.header_distance, section.footer_distance = Cm(1.5), Cm(1.5)

        header = section.header.paragraphs[0]
        header.style = self.doc.styles["Header"]
        header.paragraph_format.tab_stops.add_tab_stop(TEXT_WIDTH, WD_TAB_ALIGNMENT.RIGHT)
        self._runs(header, [header_left], size=9)
        _add_run(header, "\t", size=9)
        self._runs(header, [header_right], size=9)
        border = parse_xml(
            f'<w:pBdr {nsdecls("w")}><w:bottom w:val="single" w:sz="6" w:space="1" w:color="000000"/></w:pBdr>'
        )
        header._p.get_or_add_pPr().find(qn("w:tabs")).addprevious(border)  # schema order

        footer = section.footer.paragraphs[0]
        footer.style = self.doc.styles["Footer"]
        footer.alignment = WD_ALIGN_PARAGRAPH.CENTER
        _add_run(footer, "第 ", size=9)
        _add_field(footer, "PAGE", "1", 9)
        _add_run(footer, " 页 共 ", size=9)
        _add_field(footer, "NUMPAGES", "1", 9)
        _add_run(footer, " 页", size=9)

    def plain_first_page(self) -> None:
        """No header or footer on page 1 (a cover page)."""
        section = self.doc.sections[0]
        section.different_first_page_header_footer = True
        section.first_page_header.is_linked_to_previous = False
        section.first_page_footer.is_linked_to_previous = False

    # -- writing ----------------------------------------------------------------------------------

    def _runs(
        self,
        paragraph: Paragraph,
        parts: list[Part],
        *,
        east_asia: str = BODY_FONT,
        size: float | None = None,
        bold: bool = False,
    ) -> Paragraph:
        for part in parts:
            is_bold = bold or isinstance(part, Bold)
            text = part.text if isinstance(part, Bold) else part
            for piece in _TAG_RE.split(text):
                if piece:
                    _add_run(paragraph, piece, east_asia=east_asia, bold=is_bold, size=size)
        return paragraph

    def title(self, text: str, *, size: float | None = None) -> None:
        self._runs(self.doc.add_paragraph(style="Title"), [text], east_asia=HEADING_FONT, size=size)

    def centered(self, *parts: Part, size: float | None = None, space_after: float = 0) -> Paragraph:
        p = self.doc.add_paragraph(style="Normal")
        p.alignment = WD_ALIGN_PARAGRAPH.CENTER
        p.paragraph_format.space_after = Pt(space_after)
        return self._runs(p, list(parts), size=size)

    def right(self, *parts: Part) -> None:
        p = self.doc.add_paragraph(style="Normal")
        p.alignment = WD_ALIGN_PARAGRAPH.RIGHT
        self._runs(p, list(parts))

    def line(self, *parts: Part) -> None:
        """A paragraph without first-line indent (party details, signing place)."""
        p = self.doc.add_paragraph(style="Normal")
        p.alignment = WD_ALIGN_PARAGRAPH.LEFT
        self._runs(p, list(parts))

    def para(self, *parts: Part) -> None:
        """A body paragraph: justified, first line indented by two characters."""
        self._runs(self.doc.add_paragraph(style="Body Text"), list(parts))

    def blank(self) -> None:
        self.doc.add_paragraph(style="Normal")

    def control(self, tag: str) -> None:
        """A paragraph holding only a ``{%p … %}`` tag; docxtpl removes the paragraph itself."""
        assert tag.startswith("{%p ") and tag.endswith("%}"), tag
        self._runs(self.doc.add_paragraph(style="Body Text"), [tag])

    def page_break(self) -> None:
        run = self.doc.add_paragraph(style="Normal").add_run()
        _set_rpr(run._r, BODY_FONT)
        run.add_break(WD_BREAK.PAGE)

    # Contract-style numbering: 第一条 headings with 1.1 clauses

    def article(self, name: str) -> None:
        self.article_no += 1
        self._number_from(str(self.article_no))
        self._runs(
            self.doc.add_paragraph(style="Heading 1"),
            [f"第{_chinese_number(self.article_no)}条　{name}"],
            east_asia=HEADING_FONT,
        )

    # Report-style numbering: 1 headings with 1.1 sub-headings

    def section(self, name: str) -> None:
        self.section_no += 1
        self.subsection_no = 0
        self._number_from(str(self.section_no))
        self._runs(self.doc.add_paragraph(style="Heading 1"), [f"{self.section_no}　{name}"], east_asia=HEADING_FONT)

    def subsection(self, name: str) -> None:
        self.subsection_no += 1
        self._number_from(f"{self.section_no}.{self.subsection_no}")
        self._runs(
            self.doc.add_paragraph(style="Heading 2"),
            [f"{self.section_no}.{self.subsection_no}　{name}"],
            east_asia=HEADING_FONT,
        )

    # Numbered clauses under the current article, section or subsection: 5.3, 2.1.4

    def _number_from(self, prefix: str) -> None:
        self.prefix = prefix
        self.clause_no = 0
        self.clause_loops = []

    def _clause_number(self, extra: str = "") -> str:
        """``5.3``, or after a loop of clauses ``5.{{ x_items|length + 3 }}``: one numbering
        scheme for the whole document, whatever the number of clauses a field adds."""
        if not self.clause_loops and not extra:
            return f"{self.prefix}.{self.clause_no}"
        terms = [f"{name}|length" for name in self.clause_loops] + ([extra] if extra else [])
        return f"{self.prefix}.{{{{ {' + '.join(terms)} + {self.clause_no} }}}}"

    def clause(self, *parts: Part) -> Paragraph:
        self.clause_no += 1
        p = self.doc.add_paragraph(style="Body Text")
        return self._runs(p, [f"{self._clause_number()}　", *parts])

    def clause_items(self, field: str) -> None:
        """Each line of a long-text field as a numbered clause, continuing the numbering."""
        items = f"{field}_items"
        self.control(f"{{%p for item in {items} %}}")
        self.para(self._clause_number("loop.index"), "　{{ item }}")
        self.control("{%p endfor %}")
        self.clause_loops.append(items)

    # Tables

    def _table(self, rows: int, widths: list[float], *, grid: bool = True) -> Table:
        table = self.doc.add_table(rows=rows, cols=len(widths))
        if grid:
            table.style = self.doc.styles["Table Grid"]
        table.alignment = WD_TABLE_ALIGNMENT.CENTER
        table.autofit = False
        total = sum(widths)
        for i, w in enumerate(widths):
            width = Twips(int(TEXT_WIDTH.twips * w / total))
            table.columns[i].width = width
            for cell in table.columns[i].cells:
                cell.width = width
        return table

    def _cell(
        self, cell, parts: list[Part], *, header: bool = False, align: WD_ALIGN_PARAGRAPH = WD_ALIGN_PARAGRAPH.LEFT
    ) -> None:
        p = cell.paragraphs[0]
        p.style = self.doc.styles["Table Text"]
        p.alignment = WD_ALIGN_PARAGRAPH.CENTER if header else align
        self._runs(p, parts, east_asia=HEADING_FONT if header else BODY_FONT)
        _set_cell_vcenter(cell)
        if header:
            _set_cell_shading(cell, "D9D9D9")

    def loop_table(
        self,
        columns: list[tuple[str, str, float, str]],
        loop: str,
        total: list[str] | None = None,
        *,
        keep_with_next: bool = False,
    ) -> None:
        """A table with a header row and one row per list item.

        ``columns`` are (header, cell text, relative width, "l"/"c"/"r" alignment, with a
        trailing "!" for a short value that must not wrap: a ratio, a date, a phone number);
        ``loop`` is e.g. ``row in payment_schedule``; ``total`` an optional closing row;
        ``keep_with_next`` keeps the whole table with what follows (a signing block).
        """
        widths = [c[2] for c in columns]
        table = self._table(4 + (1 if total else 0), widths)
        aligns = {"l": WD_ALIGN_PARAGRAPH.LEFT, "c": WD_ALIGN_PARAGRAPH.CENTER, "r": WD_ALIGN_PARAGRAPH.RIGHT}
        for i, (head, cell, _, align) in enumerate(columns):
            self._cell(table.rows[0].cells[i], [head], header=True)
            self._cell(table.rows[2].cells[i], [cell], align=aligns[align[0]])
            if total:
                self._cell(table.rows[4].cells[i], [total[i]], align=aligns[align[0]])
            if align.endswith("!"):  # a short value: never wrapped
                for r in (0, 2, 4) if total else (0, 2):
                    _set_cell_nowrap(table.rows[r].cells[i])
            if keep_with_next:
                for r in (0, 2):
                    table.rows[r].cells[i].paragraphs[0].paragraph_format.keep_with_next = True
        # the sentence introducing the table stays with it
        previous = table._tbl.getprevious()
        if previous is not None and previous.tag == qn("w:p"):
            Paragraph(previous, self.doc._body).paragraph_format.keep_with_next = True
        _row_props(table.rows[0], header=True)
        for r in (2, 4) if total else (2,):
            _row_props(table.rows[r])
        # docxtpl replaces these two rows by the loop's start and end
        self._cell(table.rows[1].cells[0], [f"{{%tr for {loop} %}}"])
        self._cell(table.rows[3].cells[0], ["{%tr endfor %}"])
        self.doc.add_paragraph(style="Normal")

    def form_table(self, rows: list[list[tuple[str, int]]], widths: list[float]) -> None:
        """A grid of label/value cells; each row lists (text, span) pairs, labels shaded.

        Labels are the cells at even positions of a row.
        """
        table = self._table(len(rows), widths)
        for r, row in enumerate(rows):
            col = 0
            for i, (text, span) in enumerate(row):
                cell = table.cell(r, col)
                if span > 1:
                    cell = cell.merge(table.cell(r, col + span - 1))
                label = i % 2 == 0
                self._cell(cell, [text], align=WD_ALIGN_PARAGRAPH.CENTER if label else WD_ALIGN_PARAGRAPH.LEFT)
                if label:
                    _set_cell_shading(cell, "F2F2F2")
                col += span
            _row_props(table.rows[r])
        self.doc.add_paragraph(style="Normal")

    def sign_table(
        self,
        rows: list[tuple[str, ...]],
        widths: list[float] | None = None,
        *,
        heights: dict[int, float] | None = None,
        header: tuple[str, ...] = (),
        nowrap: tuple[int, ...] = (),
    ) -> None:
        """A ruled table of fixed rows to be completed by hand (approvals), kept on one page."""
        widths = widths or [1.0] * len(rows[0])
        table = self._table(len(rows) + (1 if header else 0), widths)
        offset = 0
        if header:
            for i, text in enumerate(header):
                self._cell(table.rows[0].cells[i], [text], header=True)
                table.rows[0].cells[i].paragraphs[0].paragraph_format.keep_with_next = True
            _row_props(table.rows[0], header=True)
            offset = 1
        for r, row in enumerate(rows):
            for i, text in enumerate(row):
                cell = table.rows[r + offset].cells[i]
                self._cell(cell, [text], align=WD_ALIGN_PARAGRAPH.CENTER if i == 0 else WD_ALIGN_PARAGRAPH.LEFT)
                cell.paragraphs[0].paragraph_format.keep_with_next = r < len(rows) - 1
                if i in nowrap:
                    _set_cell_nowrap(cell)
            _row_props(table.rows[r + offset])
            if heights and r in heights:
                table.rows[r + offset].height = Cm(heights[r])
        self.doc.add_paragraph(style="Normal")

    def signatures(self, left: list[str], right: list[str]) -> None:
        """The signing block: two borderless columns, one line per row, space to sign.

        It is kept on one page with the two paragraphs before it ("以下无正文", the signing
        place), so a signature never stands alone on a page of its own.
        """
        for lead_in in self.doc.paragraphs[-2:]:
            lead_in.paragraph_format.keep_with_next = True
        table = self._table(len(left), [1, 1], grid=False)
        for r, (a, b) in enumerate(zip(left, right)):
            for i, text in enumerate((a, b)):
                cell = table.rows[r].cells[i]
                p = cell.paragraphs[0]
                p.style = self.doc.styles["Normal"]
                p.alignment = WD_ALIGN_PARAGRAPH.LEFT
                p.paragraph_format.keep_with_next = r < len(left) - 1
                self._runs(p, [text])
            table.rows[r].height = Cm(1.0)
            _row_props(table.rows[r])

    # -- output -----------------------------------------------------------------------------------

    def save(self, path: Path) -> None:
        """Write the package with fixed zip timestamps, so a rebuild gives identical bytes."""
        buffer = io.BytesIO()
        self.doc.save(buffer)
        buffer.seek(0)
        out = io.BytesIO()
        with zipfile.ZipFile(buffer) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
            for item in src.infolist():
                info = zipfile.ZipInfo(item.filename, date_time=ZIP_TIME)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                dst.writestr(info, src.read(item.filename))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(out.getvalue())


# ---------------------------------------------------------------------------------------------
# The documents


SPEC = "大连软件行业协会《信息服务管理规范 第一部分 总则》（DSIA02012007）"


def _party_block(b: Builder, key: str, role: str, *, full: bool) -> None:
    b.line(Bold(f"{role}："), f"{{{{ {key}.name }}}}")
    if full:
        b.line("统一社会信用代码：", f"{{{{ {key}.credit_code }}}}")
        b.line("住　　所：", f"{{{{ {key}.address }}}}")
        b.line("法定代表人：", f"{{{{ {key}.legal_rep }}}}")
        b.control(f"{{%p if {key}.agent %}}")
        b.line("委托代理人：", f"{{{{ {key}.agent }}}}")
        b.control("{%p endif %}")
        b.line("通讯地址：", f"{{{{ {key}.postal_address }}}}")
        b.line("联 系 人：", f"{{{{ {key}.contact }}}}", "　　联系电话：", f"{{{{ {key}.phone }}}}")
        b.line("电子邮箱：", f"{{{{ {key}.email }}}}")
    else:
        b.line("联系人：", f"{{{{ {key}.contact }}}}", "　　联系电话：", f"{{{{ {key}.phone }}}}")


def _signature_block(
    b: Builder, left: tuple[str, str], right: tuple[str, str], *, date_line: str = f"日期：{_BLANK_DATE}"
) -> None:
    """Each side is (who seals, who signs), e.g. ("甲方", "法定代表人或委托代理人")."""
    b.signatures(
        [f"{left[0]}（盖章）：", "{{ party_a.name }}", f"{left[1]}（签字）：", "", date_line],
        [f"{right[0]}（盖章）：", "{{ party_b.name }}", f"{right[1]}（签字）：", "", date_line],
    )


def _signature_page(b: Builder, title: str, number: str) -> None:
    """The signing page of an agreement: its own page, tied to the text by the 签署页 line, so a
    signed page cannot be moved to another document unnoticed."""
    # page-break-before, not a break paragraph: that one could itself spill onto a blank page
    lead = b.centered(f"（本页无正文，为《{title}》（编号：{number}）之签署页）", space_after=18)
    lead.paragraph_format.page_break_before = True
    _signature_block(b, ("甲方", _LEGAL_SIGNER), ("乙方", _LEGAL_SIGNER), date_line=f"签署日期：{_BLANK_DATE}")


_LEGAL_SIGNER = "法定代表人或委托代理人"


def build_contract() -> Builder:
    """信息服务管理合同 — spec 7.1, laid out as Chinese model service contracts are: parties,
    service, term, price and payment, acceptance, duties, personnel and subcontracting, changes,
    intellectual property, confidentiality, data and personal information, breach, force
    majeure, termination, disputes, notices, general terms, signing page."""
    b = Builder(
        name_zh="信息服务管理合同",
        subject="信息服务管理合同",
        header_left="{{ title }}",
        header_right="合同编号：{{ contract_no }}",
    )
    b.title("{{ title }}")
    b.centered("合同编号：{{ contract_no }}", space_after=12)

    _party_block(b, "party_a", "甲方（委托方）", full=True)
    b.blank()
    _party_block(b, "party_b", "乙方（服务方）", full=True)
    b.blank()

    b.para(
        "根据《中华人民共和国民法典》及有关法律法规，甲方委托乙方提供{{ service_category_cn }}",
        "{% if project_name %}",
        "（项目名称：",
        "{{ project_name }}",
        "）",
        "{% endif %}",
        "。双方遵循平等、自愿、公平和诚实信用的原则，经协商一致，订立本合同，共同遵守。",
    )

    b.article("服务内容")
    b.clause("本合同项下的服务类别为{{ service_category_cn }}，以{{ service_scope_cn }}为主。乙方提供的服务内容如下：")
    b.clause_items("service_content")
    b.clause("服务地点：{{ service_location }}。")
    b.clause(
        "服务的质量要求以本合同及服务等级协议的约定为准；未约定或约定不明确的，按照国家标准、"
        "行业标准执行，没有国家标准、行业标准的，按照通常标准或者符合合同目的的特定标准执行。"
    )

    b.article("服务期限")
    b.clause("服务期限自{{ term_start_cn }}起至{{ term_end_cn }}止。")
    b.clause("服务期限届满前三十日内，任何一方可书面提出续约；双方协商一致的，另行签订书面合同。")

    b.article("合同价款与支付")
    b.clause(
        "本合同总价款为{{ total_fee.currency_zh }}（大写）{{ total_fee.amount_cn }}"
        "（{{ total_fee.symbol }}{{ total_fee.amount_grouped }}），含增值税，税率为"
        "{{ tax_rate }}%。合同价款包括乙方完成本合同约定服务所需的人工、差旅、工具、软件许可"
        "及管理等全部费用；除本合同另有约定外，甲方无须另行支付其他费用。"
    )
    b.clause("甲方按下表分期支付合同价款：")
    b.loop_table(
        [
            ("期次", "{{ row.phase }}", 1.2, "c!"),
            ("付款条件", "{{ row.condition }}", 3.7, "l"),
            ("比例", "{{ row.ratio }}%", 1.1, "c!"),
            ("金额（{{ total_fee.unit_zh }}）", "{{ row.amount.amount_grouped }}", 2.0, "r!"),
            ("付款日期", "{% if row.due_date %}{{ row.due_date_cn }}{% else %}—{% endif %}", 2.4, "c!"),
        ],
        "row in payment_schedule",
        total=["合计", "", "100%", "{{ total_fee.amount_grouped }}", ""],
    )
    b.clause(
        "乙方应在每期付款前向甲方开具与该期金额相等的合法有效的增值税发票。甲方在付款条件成就"
        "且收到发票后，按上表约定付款；付款日期为条件成就后的最迟付款日。"
    )
    b.clause("乙方收款账户如下：")
    b.line("　　户　　名：{{ payee_account.account_name }}")
    b.line("　　开户银行：{{ payee_account.bank_name }}")
    b.line("　　账　　号：{{ payee_account.account_no }}")
    b.clause(
        "乙方变更收款账户的，应在甲方付款前以加盖公章的书面文件通知甲方；未通知的，甲方按原账户"
        "付款即视为履行了付款义务。"
    )

    b.article("服务等级")
    b.clause(
        "{% if sla_reference %}",
        "双方签订的《服务等级协议》（编号：",
        "{{ sla_reference }}",
        "）是本合同的附件，与本合同具有同等法律效力。乙方应达到该协议约定的服务目标、响应和解决时限及服务质量要求。",
        "{% else %}",
        "双方应在本合同生效后三十日内签订服务等级协议，明确服务目标、响应和解决时限、服务质量"
        "及考核方法，作为本合同的附件，与本合同具有同等法律效力。服务等级协议签订前，乙方应按"
        "行业通行标准及时响应和处理甲方的服务请求。",
        "{% endif %}",
    )
    b.clause(
        "双方应定期评审服务等级协议的执行情况，并根据业务发展和需求变化协商修订；修订后的服务"
        "等级协议经双方签字盖章后生效。"
    )

    b.article("服务验收")
    b.clause("乙方完成付款条件所约定的阶段服务或全部服务后，应向甲方提交书面验收申请及服务报告、交付文档等验收资料。")
    b.clause(
        "甲方应在收到验收申请后{{ acceptance_days }}个工作日内，依据本合同、服务等级协议及"
        "双方确认的验收标准组织验收，并出具书面验收报告，由双方签字确认。"
    )
    b.clause(
        "验收不合格的，甲方应书面说明理由；乙方应在双方商定的期限内整改并重新提交验收，由此"
        "产生的费用由乙方承担。经两次整改仍不合格的，甲方有权解除本合同。"
    )
    b.clause("甲方无正当理由逾期未组织验收，也未书面提出异议的，自期限届满之日起视为验收合格。")

    b.article("甲方的权利和义务")
    b.clause("甲方有权按本合同及服务等级协议的约定，对乙方的服务过程和服务质量进行监督、检查和考核。")
    b.clause(
        "甲方应及时向乙方提供履行本合同所需的资料、数据、场地、网络接入、系统权限等必要条件，"
        "并对所提供资料的真实性、合法性负责。"
    )
    b.clause("甲方应按本合同约定按时足额支付合同价款。")
    b.clause_items("party_a_duties")

    b.article("乙方的权利和义务")
    b.clause("乙方有权按本合同约定收取合同价款，并要求甲方提供履行本合同所需的必要条件。")
    b.clause(
        "乙方应组建具备相应能力的服务团队，按本合同及服务等级协议的约定按时、保质提供服务，"
        "完整记录服务请求、事件、问题、变更和配置管理过程。"
    )
    b.clause("乙方人员进入甲方场所、接入甲方信息系统时，应遵守甲方的安全、保密和现场管理制度。")
    b.clause(
        "服务期满或合同终止时，乙方应向甲方完整移交服务过程中形成的文档、配置记录和账号权限，"
        "并配合甲方或其指定的第三方完成服务交接。"
    )
    b.clause_items("party_b_duties")

    b.article("人员管理与转包分包")
    b.clause(
        "乙方应保持服务团队稳定。项目负责人及关键岗位人员的更换须提前十个工作日书面通知甲方，"
        "接替人员的能力不得低于被更换人员；甲方有合理理由认为乙方人员不胜任的，有权要求更换。"
    )
    b.clause(
        "乙方不得将本合同项下的服务全部或者支解后以分包的名义转包给第三方。",
        '{% if subcontracting == "forbidden" %}',
        "乙方亦不得将本合同项下的任何服务分包给第三方。",
        "{% else %}",
        "乙方经甲方事先书面同意，可以将非主体部分的服务分包给具备相应能力的第三方，乙方就分包"
        "部分向甲方承担连带责任，分包方不得再次分包。",
        "{% endif %}",
    )

    b.article("服务变更")
    b.clause(
        "任何一方需要变更服务内容、范围、地点或服务等级的，应提出书面变更申请，说明变更原因、"
        "内容及对费用、进度和服务水平的影响。"
    )
    b.clause("变更经双方书面确认后方可实施；变更导致合同价款或服务期限调整的，双方应签订补充协议。")

    b.article("知识产权")
    b.clause(
        "甲方提供的资料、数据及其衍生数据归甲方所有。乙方为履行本合同专门为甲方开发的交付成果，"
        "在甲方付清相应价款后，其著作权等知识产权归甲方所有；乙方在本合同签订前已享有权利的"
        "技术和软件，仍归乙方所有，乙方授予甲方为使用交付成果所必需的、永久的、非独占的使用"
        "许可。"
    )
    b.clause(
        "乙方保证其提供的服务和交付成果不侵犯第三方的知识产权；因此引起的纠纷由乙方负责处理，"
        "给甲方造成损失的，乙方应予赔偿。"
    )

    b.article("保密")
    b.clause(
        "双方对签订和履行本合同过程中知悉的对方商业秘密、技术信息、业务数据及其他未公开信息"
        "负有保密义务，未经对方书面同意，不得向第三方披露，也不得用于本合同以外的目的。"
    )
    b.clause(
        "依照法律法规的规定或有权机关的要求披露信息的，不视为违反本条约定，但披露方应在法律"
        "允许的范围内及时书面通知对方。"
    )
    b.clause(
        "本条约定的保密义务不因本合同的变更、解除或终止而失效，在本合同终止后{{ confidentiality_years }}年内持续有效。"
    )
    b.clause_items("confidentiality")

    b.article("数据安全与个人信息保护")
    b.clause(
        "乙方接触、处理甲方数据时，应遵守《中华人民共和国网络安全法》《中华人民共和国数据安全法》"
        "等法律法规，仅为履行本合同之目的、在甲方授权的范围内处理数据，采取访问控制、操作留痕、"
        "加密等必要的技术和管理措施，防止数据泄露、篡改或丢失。"
    )
    b.clause(
        "{% if personal_info %}",
        "乙方在服务中受甲方委托处理个人信息的，应遵守《中华人民共和国个人信息保护法》，按甲方"
        "的书面指示处理，不得超出约定的目的、方式和范围，不得向第三方提供；未经甲方同意不得"
        "转委托。发生或可能发生个人信息泄露、篡改、丢失的，乙方应立即采取补救措施，并在二十四"
        "小时内书面通知甲方。",
        "{% else %}",
        "本合同不涉及乙方受托处理个人信息。乙方在服务中意外接触个人信息的，不得留存、使用或向"
        "第三方提供，并应立即告知甲方。",
        "{% endif %}",
    )
    b.clause("发生数据安全事件的，乙方应立即启动应急处置，并及时向甲方报告事件情况、影响范围和已采取的措施。")
    b.clause(
        "本合同终止或解除后{{ data_return_days }}日内，乙方应按甲方要求将甲方数据完整返还甲方，"
        "并删除或销毁其保存的全部副本，向甲方出具书面确认；法律法规另有规定的除外。"
    )

    b.article("违约责任")
    b.clause(
        "甲方未按约定期限付款的，每逾期一日，应按逾期金额的{{ late_fee_rate }}%向乙方支付违约金，"
        "违约金总额不超过合同总价款的{{ late_fee_cap }}%。"
    )
    b.clause(
        "乙方未达到服务等级协议约定的服务水平的，按服务等级协议的约定扣减服务费；扣减服务费不"
        "影响甲方依据本合同追究乙方其他违约责任的权利。"
    )
    b.clause("任何一方违反保密或数据安全与个人信息保护义务的，应赔偿对方因此遭受的全部损失。")
    b.clause(
        "除前款情形及一方故意或重大过失造成的损失外，一方在本合同项下承担的赔偿责任累计不超过"
        "合同总价款的{{ liability_cap }}%。"
    )
    b.clause_items("breach_liability")

    b.article("不可抗力")
    b.clause(
        "因不能预见、不能避免且不能克服的客观情况致使一方不能履行或不能完全履行本合同的，根据"
        "不可抗力的影响，部分或者全部免除责任，但法律另有规定的除外。"
    )
    b.clause(
        "受不可抗力影响的一方应在不可抗力发生后三日内书面通知对方，并在十五日内提供相关证明；"
        "不可抗力影响消除后，双方应尽快恢复履行。"
    )

    b.article("合同的解除与终止")
    b.clause(
        "一方严重违约，经对方书面催告后{{ cure_days }}日内仍未纠正的，守约方有权书面通知解除本"
        "合同，本合同自通知到达违约方时解除。"
    )
    b.clause("不可抗力致使合同目的不能实现的，任何一方均可书面通知解除本合同。")
    b.clause(
        "本合同解除或终止的，不影响结算与清理条款、保密条款、数据返还与销毁条款及争议解决条款的"
        "效力；甲方应支付乙方已完成并经验收合格部分服务的价款。"
    )

    b.article("争议解决")
    b.clause(
        "因本合同引起的或与本合同有关的争议，双方应协商解决；协商不成的，",
        '{% if dispute_resolution == "arbitration" %}',
        "任何一方均可将争议提交{{ dispute_venue }}，按照申请仲裁时该会现行有效的仲裁规则进行"
        "仲裁。仲裁裁决是终局的，对双方均有约束力。",
        "{% else %}",
        "任何一方均可向{{ dispute_venue }}提起诉讼。",
        "{% endif %}",
    )
    b.clause("争议解决期间，除争议事项外，双方应继续履行本合同的其他条款。")

    b.article("通知与送达")
    b.clause(
        "本合同项下的通知应以书面形式送达本合同首部列明的通讯地址或电子邮箱。以专人送达的，"
        "签收之日为送达日；以邮寄送达的，寄出后第五日为送达日；以电子邮件送达的，进入对方电子"
        "邮箱系统之日为送达日。"
    )
    b.clause("一方变更通讯地址、电子邮箱或联系人的，应在变更后三日内书面通知对方；未通知的，按原地址送达即视为送达。")

    b.article("其他")
    b.clause("本合同构成双方就本合同事项达成的完整协议，取代双方此前就同一事项所作的口头或书面的意向、陈述和约定。")
    b.clause(
        "本合同的任何条款被认定为无效或不可执行的，不影响其他条款的效力；双方应以最接近原条款本意的有效条款替代之。"
    )
    b.clause("本合同的变更和补充应以书面形式作出，经双方签字盖章后生效，与本合同具有同等法律效力。")
    b.clause(
        "本合同自双方法定代表人或委托代理人签字并加盖公章或合同专用章之日起生效。本合同于{{ sign_place }}签订",
        "{% if sign_date %}",
        "，签订日期为{{ sign_date_cn }}",
        "{% endif %}",
        "。",
    )
    b.clause("本合同一式{{ copies_cn }}份，甲乙双方各执{{ copies_each_cn }}份，具有同等法律效力。")
    b.clause(
        "{% if sla_reference %}",
        "本合同附件：《服务等级协议》（编号：{{ sla_reference }}）。",
        "{% else %}",
        "本合同附件：双方依第四条签订的服务等级协议。",
        "{% endif %}",
    )
    b.clause_items("other_terms")

    b.centered("（以下无正文）", space_after=12)
    _signature_page(b, "{{ title }}", "{{ contract_no }}")
    return b


def build_service_plan() -> Builder:
    """信息服务管理计划 — spec 7.2.3 a–g with milestones, roles, quality and security control
    (7.3) and training (10); the version printed is the archive's, with a revision history."""
    b = Builder(
        name_zh="信息服务管理计划",
        subject="信息服务管理计划（规范第7.2条）",
        header_left="{{ title }}",
        header_right="计划编号：{{ plan_no }}　V{{ archive_version }}.0",
    )
    b.plain_first_page()
    # cover page
    for _ in range(4):
        b.blank()
    b.title("{{ title }}", size=22)  # 二号: a title of up to 19 characters stays on one line
    b.blank()
    b.centered("项目名称：{{ project_name }}", size=14)
    b.centered("计划编号：{{ plan_no }}", size=14)
    b.centered("版　　本：V{{ archive_version }}.0", size=14)
    for _ in range(6):
        b.blank()
    b.centered("服务单位：{{ provider_name }}", size=14)
    b.centered("用户单位：{{ client_name }}", size=14)
    b.centered("编制日期：{{ prepared_date_cn }}", size=14)
    b.page_break()

    b.centered(Bold("文档控制"), space_after=6)
    b.sign_table(
        [
            ("编制", "{{ prepared_by }}", "{{ prepared_date_cn }}", ""),
            ("审核", "{{ reviewed_by }}", "", ""),
            ("批准", "{{ approved_by }}", "", ""),
        ],
        [1, 1.6, 2.2, 2.2],
        header=("职责", "姓名", "日期", "签字"),
        nowrap=(2,),
    )
    b.centered(Bold("修订记录"), space_after=6)
    b.loop_table(
        [
            ("版本", "V{{ loop.index }}.0", 1.0, "c!"),
            ("修订日期", "{{ row.date_cn }}", 2.2, "c!"),
            ("修订人", "{{ row.author }}", 1.3, "c!"),
            ("修订内容", "{{ row.description }}", 5.0, "l"),
        ],
        "row in revisions",
    )

    b.section("概述")
    b.subsection("编制目的")
    b.para(
        "为明确{{ project_name }}的信息服务管理目标、需求和内容，确定服务管理制度、流程和方法，"
        "落实服务管理人员职责，保证服务质量，依据",
        SPEC,
        "第7.2条，制定本计划。",
    )
    b.subsection("编制依据")
    b.clause_items("basis")
    b.subsection("适用期间")
    b.para(
        "本计划适用于{{ plan_start_cn }}至{{ plan_end_cn }}期间{{ client_name }}的信息服务管理活动，"
        "由{{ provider_name }}组织实施。"
    )

    b.section("信息服务类别和等级")
    b.subsection("服务类别")
    b.para("本项目的信息服务类别为“{{ service_category_cn }}”（规范第{{ service_category }}条）。")
    b.subsection("服务等级")
    b.para(
        "本项目的服务等级为：{{ service_level }}。",
        "{% if sla_reference %}",
        "具体的服务目标、响应时限和质量要求以双方签订的《服务等级协议》（编号：",
        "{{ sla_reference }}",
        "）为准。",
        "{% endif %}",
    )

    b.section("信息服务管理需求和内容")
    b.subsection("服务管理需求")
    b.clause_items("requirements")
    b.subsection("服务管理内容")
    b.clause_items("service_content")

    b.section("信息服务管理目标")
    b.clause_items("objectives")

    b.section("信息服务管理技术和方法")
    b.clause_items("methods")

    b.section("信息服务管理实施过程")
    b.subsection("实施过程")
    b.clause_items("process")
    b.subsection("里程碑计划")
    b.para("本计划的主要里程碑及交付物如下表所示：")
    b.loop_table(
        [
            ("序号", "{{ loop.index }}", 0.9, "c!"),
            ("里程碑", "{{ row.name }}", 1.8, "l"),
            ("主要工作及交付物", "{{ row.deliverables }}", 3.6, "l"),
            ("计划完成日期", "{{ row.due_date_cn }}", 2.3, "c!"),
            ("责任人", "{{ row.owner }}", 1.2, "c!"),
        ],
        "row in milestones",
    )

    b.section("质量和安全控制")
    b.subsection("质量控制")
    b.clause_items("quality_control")
    b.subsection("安全控制")
    b.clause_items("security_control")

    b.section("信息服务管理人员的职责")
    b.para(
        "项目组由下列人员组成，各自承担相应职责；人员变动时，服务单位应提前书面通知用户单位，"
        "并确保接替人员具备相应的服务能力（规范第8.2.1条）。"
    )
    b.loop_table(
        [
            ("角色", "{{ row.role }}", 2.3, "c"),
            ("姓名", "{{ row.name }}", 1.1, "c!"),
            ("主要职责", "{{ row.duties }}", 4.2, "l"),
            ("联系电话", "{{ row.phone }}", 2.3, "c!"),
        ],
        "row in roles",
    )

    b.section("培训")
    b.clause_items("training")

    b.section("信息服务管理工作制度")
    b.clause_items("rules")

    b.section("计划的检查与改进")
    b.clause(
        "本计划按照PDCA过程模式（规范第6条）实施：服务单位按计划执行服务，定期检测、检查、"
        "分析和评估计划的执行情况，并根据检查结果采取改进、完善和预防措施。"
    )
    b.clause(
        "本计划如需调整，应按变更管理流程（规范第8.4.2条）提出变更申请，经审核、批准后发布新"
        "版本，在修订记录中登记，并通知用户单位及全体项目组成员。"
    )
    return b


def build_sla() -> Builder:
    """服务等级协议 — spec 8.1.2 a–h (revised periodically per 8.1.3): needs, objectives,
    duties, services, priorities on a stated clock with units, escalation, quality, measurement
    and reporting, service credits with a cap, exclusions, term and review."""
    b = Builder(
        name_zh="服务等级协议", subject="服务等级协议", header_left="{{ title }}", header_right="协议编号：{{ sla_no }}"
    )
    b.title("{{ title }}")
    b.centered("协议编号：{{ sla_no }}", space_after=12)

    _party_block(b, "party_a", "甲方（用户方）", full=False)
    b.blank()
    _party_block(b, "party_b", "乙方（服务方）", full=False)
    b.blank()

    b.para(
        "{% if contract_ref %}",
        "根据双方签订的信息服务合同（合同编号：",
        "{{ contract_ref }}",
        "），",
        "{% endif %}",
        "为明确{{ project_name }}的服务目标、服务内容、服务水平及其测量和"
        "考核方法，甲乙双方经协商一致，订立本服务等级协议（以下简称“本协议”）。",
    )

    b.section("用户需求")
    b.clause_items("user_requirements")

    b.section("服务目标")
    b.clause_items("service_objectives")

    b.section("服务职责")
    b.subsection("甲方职责")
    b.clause_items("party_a_duties")
    b.subsection("乙方职责")
    b.clause_items("party_b_duties")

    b.section("服务类型和内容")
    b.para("本协议项下的服务类别为{{ service_category_cn }}，服务项目如下：")
    b.loop_table(
        [
            ("序号", "{{ loop.index }}", 0.8, "c!"),
            ("服务项目", "{{ row.name }}", 2.2, "l"),
            ("服务内容", "{{ row.content }}", 4.8, "l"),
            ("服务时间", "{{ row.hours }}", 2.2, "c"),
        ],
        "row in services",
    )

    b.section("服务提供、响应和应急处理")
    b.subsection("服务时间和方式")
    b.clause("乙方服务台受理服务请求的时间为{{ service_hours }}；本协议所称工作时间为{{ business_hours }}。")
    b.clause("服务方式包括{{ support_channels }}。")
    b.subsection("优先级和时限")
    b.clause("乙方按下表确定服务请求的优先级，并在规定时限内响应和解决：")
    b.loop_table(
        [
            ("优先级", "{{ row.priority }} {{ row.priority_cn }}", 1.5, "c!"),
            ("定义", "{{ row.description }}", 4.3, "l"),
            ("响应时限", "{{ row.response_time }} {{ row.response_unit_cn }}", 1.6, "c!"),
            ("解决时限", "{{ row.resolution_time }} {{ row.resolution_unit_cn }}", 1.6, "c!"),
            ("计时方式", "{{ row.clock_cn }}", 1.6, "c!"),
        ],
        "row in priorities",
    )
    b.clause(
        "响应时限自服务台受理服务请求（生成工单）时起算，至乙方技术人员开始处理时止；解决时限"
        "自受理时起算，至服务恢复并经甲方确认时止。"
    )
    b.clause(
        "计时方式为“7×24 小时”的，时限连续计算；为“工作时间”的，只计算工作时间内的时长。经双方"
        "确认的计划内维护时间，以及等待甲方提供条件或确认的时间，不计入时限。"
    )
    b.subsection("升级")
    b.clause("服务请求未能在时限内解决或影响扩大的，双方按下表逐级升级处理：")
    b.loop_table(
        [
            ("级别", "{{ row.level }}", 1.0, "c!"),
            ("升级条件", "{{ row.trigger }}", 2.6, "l"),
            ("甲方联系人", "{{ row.party_a_contact }}", 2.9, "c"),
            ("乙方联系人", "{{ row.party_b_contact }}", 2.9, "c"),
            ("乙方联系电话", "{{ row.phone }}", 2.2, "c!"),
        ],
        "row in escalation",
    )
    b.subsection("应急处理")
    b.clause_items("emergency")

    b.section("服务质量")
    b.subsection("质量目标")
    b.clause_items("quality_objectives")
    b.subsection("可用性")
    b.clause("服务可用性按自然月统计，不低于{{ availability }}%。")
    b.clause(
        "可用性 =（统计期总时长 − 非计划中断时长）÷ 统计期总时长 × 100%。经双方确认的计划内"
        "维护时间和第9节所列免责情形造成的中断不计入中断时长。"
    )
    b.subsection("可靠性")
    b.clause_items("reliability")
    b.subsection("安全性")
    b.clause_items("security")

    b.section("测量与报告")
    b.subsection("测量方法")
    b.clause_items("measurement")
    b.subsection("服务报告")
    b.clause(
        "乙方应于每月{{ report_day }}日前向甲方提交上月服务报告，内容包括各项服务指标的达成"
        "情况、服务请求和事件统计、未达标事项的原因分析及改进措施。"
    )
    b.clause(
        "甲方应在收到服务报告后五个工作日内书面确认或提出异议；逾期未提出异议的，视为确认。"
        "确认后的服务报告是计算服务费扣减的依据。"
    )

    b.section("服务费及服务费扣减")
    b.clause(
        "本协议项下的服务费为{{ service_fee.currency_zh }}（大写）{{ service_fee.amount_cn }}"
        "（{{ service_fee.symbol }}{{ service_fee.amount_grouped }}）",
        "{% if contract_ref %}",
        "，包含在合同（合同编号：",
        "{{ contract_ref }}",
        "）价款之中",
        "{% endif %}",
        "。",
    )
    b.clause("乙方未达到本协议约定的服务水平的，按下表扣减当月服务费（扣减比例以当月服务费为基数）：")
    b.loop_table(
        [
            ("序号", "{{ loop.index }}", 0.8, "c!"),
            ("扣减情形", "{{ row.condition }}", 6.8, "l"),
            ("扣减比例", "{{ row.credit }}%", 1.6, "c!"),
        ],
        "row in service_credits",
    )
    b.clause(
        "同一月内发生多种扣减情形的，扣减比例累加计算，但合计不超过当月服务费的"
        "{{ credit_cap }}%。扣减额在下一期付款时抵扣。服务费扣减不免除乙方的整改义务，也不"
        "影响甲方依据合同追究乙方违约责任的权利。"
    )
    b.clause_items("cost_notes")

    b.section("免责情形")
    b.para("因下列情形之一未达到服务水平的，不计入考核，也不扣减服务费：")
    b.clause("经双方确认的计划内维护。")
    b.clause(
        "甲方或其委托的第三方的原因，包括其提供的设备、软件、网络、电力的故障，其人员的操作"
        "失误，以及未按约定提供服务条件或及时确认。"
    )
    b.clause("不可抗力，以及电信运营商、电力供应等公共服务的中断。")
    b.clause("甲方要求暂停服务或变更服务期间。")
    b.clause_items("exclusions")

    b.section("协议的期限、评审和修订")
    b.clause("本协议自{{ effective_date_cn }}起生效，有效期至{{ end_date_cn }}止。")
    b.clause(
        "双方每{{ review_cycle_months }}个月对本协议的执行情况和服务水平进行一次评审，下一次"
        "评审日期为{{ next_review_date_cn }}。双方应根据评审结果、业务发展和需求变化修订本"
        "协议；修订后的协议经双方签字盖章后生效，原协议同时失效。"
    )
    b.clause(
        "本协议未尽事宜，由双方协商解决",
        "{% if contract_ref %}",
        "；本协议与合同约定不一致的，以合同为准",
        "{% endif %}",
        "。",
    )
    b.clause("本协议一式{{ copies_cn }}份，甲乙双方各执{{ copies_each_cn }}份，具有同等效力。")
    b.clause_items("other_terms")

    b.centered("（以下无正文）", space_after=12)
    _signature_block(b, ("甲方", _LEGAL_SIGNER), ("乙方", _LEGAL_SIGNER))
    return b


def _boxes(field: str, choices: list[tuple[str, str]], *, per_line: int = 4) -> str:
    """☑/☐ for each choice of an enum field: ticked when chosen, all open when the field is
    blank, so a form printed before a decision can be ticked by hand. Lines break between
    choices (``per_line``), never inside one."""
    boxes = [f'{{% if {field} == "{value}" %}}☑{{% else %}}☐{{% endif %}}{label}' for value, label in choices]
    return "\n".join("　".join(boxes[i : i + per_line]) for i in range(0, len(boxes), per_line))


def build_change_request() -> Builder:
    """变更申请单 — spec 8.4.2 (process-based change management) and 8.4.1 (configuration
    items): request, impact, configuration items, downtime, plan, test, rollback, the change
    advisory board's decision, approvals with the requester's signature, and closure."""
    b = Builder(
        name_zh="变更申请单",
        subject="变更申请单（规范第8.4.2条）",
        header_left="{{ project_name }}",
        header_right="变更申请单　编号：{{ change_no }}",
    )
    b.title("变更申请单")
    b.form_table(
        [
            [("变更编号", 1), ("{{ change_no }}", 1), ("申请日期", 1), ("{{ request_date_cn }}", 1)],
            [("变更名称", 1), ("{{ title }}", 3)],
            [("项目名称", 1), ("{{ project_name }}", 1), ("用户单位", 1), ("{{ client_name }}", 1)],
            [
                ("服务类别", 1),
                ("{{ service_category_cn }}", 1),
                ("关联合同/协议", 1),
                ("{% if related_ref %}{{ related_ref }}{% else %}—{% endif %}", 1),
            ],
            [("申请人", 1), ("{{ requester.name }}", 1), ("所在部门", 1), ("{{ requester.department }}", 1)],
            [("联系电话", 1), ("{{ requester.phone }}", 1), ("变更类型", 1), ("{{ change_type_cn }}", 1)],
            [("变更对象", 1), ("{{ change_target_cn }}", 1), ("优先级", 1), ("{{ priority_cn }}", 1)],
            [("计划实施时间", 1), ("{{ planned_start_cn }} 至 {{ planned_end_cn }}", 3)],
            [
                ("服务中断", 1),
                ("{% if service_interruption %}是，停机窗口：{{ downtime_window }}{% else %}否{% endif %}", 3),
            ],
        ],
        [1.3, 2.2, 1.3, 2.2],
    )

    b.section("变更原因")
    b.clause_items("reason")
    b.section("变更内容")
    b.clause_items("description")
    b.section("受影响的配置项")
    b.para("本变更涉及下列配置项，变更完成后应更新其配置记录：")
    b.loop_table(
        [
            ("序号", "{{ loop.index }}", 0.8, "c!"),
            ("配置项编号", "{{ row.ci_id }}", 1.9, "c!"),
            ("配置项名称", "{{ row.name }}", 2.6, "l"),
            ("变更内容", "{{ row.change }}", 4.0, "l"),
        ],
        "row in config_items",
    )
    b.section("变更影响分析")
    b.para("本变更对业务、系统、安全、服务水平、成本和进度等方面的影响分析如下：")
    b.loop_table(
        [
            ("序号", "{{ loop.index }}", 0.8, "c!"),
            ("影响方面", "{{ row.aspect }}", 1.6, "c!"),
            ("影响说明", "{{ row.description }}", 5.4, "l"),
            ("影响程度", "{{ row.level_cn }}", 1.2, "c!"),
        ],
        "row in impacts",
    )
    b.para(
        "费用影响：",
        "{% if cost_impact %}",
        "本变更预计增加费用{{ cost_impact.currency_zh }}（大写）{{ cost_impact.amount_cn }}"
        "（{{ cost_impact.symbol }}{{ cost_impact.amount_grouped }}），由双方另行确认。",
        "{% else %}",
        "本变更不涉及费用调整。",
        "{% endif %}",
    )
    b.section("实施计划")
    b.clause_items("implementation_plan")
    b.section("测试与验证方案")
    b.clause_items("test_plan")
    b.section("风险及回退方案")
    b.clause_items("rollback_plan")
    b.section("变更管理要求")
    b.clause("本变更按申请、评估、审批、实施、验证、关闭的流程执行，未经批准不得实施。")
    b.clause("紧急变更可先行处置，但应在处置完成后二十四小时内补办评估和审批手续。")
    b.clause("变更完成后，应更新第3节所列配置项的配置记录及受影响文档的版本，并在下表中记录关闭情况。")

    b.section("评估与审批")
    b.sign_table(
        [
            ("申请人", "本人确认以上内容真实、完整。", "", "{{ request_date_cn }}"),
            ("部门负责人审核", "", "", ""),
            (
                "变更评估（CAB）",
                _boxes(
                    "cab_conclusion",
                    [
                        ("approved", "同意实施"),
                        ("conditional", "有条件同意"),
                        ("rejected", "不同意"),
                        ("deferred", "暂缓实施"),
                    ],
                    per_line=2,
                )
                + "{% if cab_opinion %}\n{{ cab_opinion }}{% endif %}",
                "",
                "{% if cab_date %}{{ cab_date_cn }}{% endif %}",
            ),
            ("用户方确认", "", "", ""),
        ],
        [2.6, 4.9, 1.3, 2.5],
        header=("环节", "意见", "签字", "日期"),
        nowrap=(0, 3),
        heights={0: 1.2, 1: 1.4, 2: 1.6, 3: 1.4},
    )
    b.section("变更关闭记录")
    b.sign_table(
        [
            (
                "实施结果",
                _boxes(
                    "closure_result",
                    [("success", "成功"), ("partial", "部分成功"), ("rolled_back", "已回退"), ("cancelled", "已取消")],
                    per_line=2,
                ),
                "",
                "",
            ),
            ("验证情况", "{{ closure_notes }}", "", ""),
            ("配置记录", "☐已更新　☐无须更新", "", ""),
            ("关闭确认", "", "", "{% if closure_date %}{{ closure_date_cn }}{% endif %}"),
        ],
        [2.6, 4.9, 1.3, 2.5],
        header=("项目", "情况", "签字", "日期"),
        nowrap=(0, 3),
        heights={1: 1.4, 3: 1.2},
    )
    return b


def build_acceptance_report() -> Builder:
    """服务交付验收报告 — spec 5.3: inspection, acceptance and delivery, with the deliverables,
    how acceptance was done, the checks, the team that signs, and a conclusion the checks
    support."""
    b = Builder(
        name_zh="服务交付验收报告",
        subject="服务交付验收报告（规范第5.3条）",
        header_left="{{ title }}",
        header_right="报告编号：{{ report_no }}",
    )
    b.title("{{ title }}")
    b.centered("报告编号：{{ report_no }}", space_after=12)
    b.form_table(
        [
            [("项目名称", 1), ("{{ project_name }}", 3)],
            [("合同编号", 1), ("{{ contract_no }}", 1), ("服务类别", 1), ("{{ service_category_cn }}", 1)],
            [("服务期间", 1), ("{{ service_start_cn }} 至 {{ service_end_cn }}", 3)],
            [("验收日期", 1), ("{{ acceptance_date_cn }}", 1), ("验收地点", 1), ("{{ acceptance_place }}", 1)],
            [("验收方（甲方）", 1), ("{{ party_a.name }}", 3)],
            [("联系人", 1), ("{{ party_a.contact }}", 1), ("联系电话", 1), ("{{ party_a.phone }}", 1)],
            [("交付方（乙方）", 1), ("{{ party_b.name }}", 3)],
            [("联系人", 1), ("{{ party_b.contact }}", 1), ("联系电话", 1), ("{{ party_b.phone }}", 1)],
        ],
        [1.5, 2.1, 1.3, 2.1],
    )

    b.section("验收依据")
    b.para(
        "依据双方签订的信息服务合同（合同编号：{{ contract_no }}）",
        "{% if sla_reference %}",
        "、服务等级协议（编号：",
        "{{ sla_reference }}",
        "）",
        "{% endif %}",
        "及",
        SPEC,
        "第5.3条关于服务交付的要求，甲乙双方于{{ acceptance_date_cn }}"
        "在{{ acceptance_place }}对乙方提供的服务进行了检测和验收。",
    )

    b.section("服务交付概况")
    b.clause_items("delivery_summary")

    b.section("交付物清单")
    b.loop_table(
        [
            ("序号", "{{ loop.index }}", 0.8, "c!"),
            ("交付物名称", "{{ row.name }}", 3.4, "l"),
            ("形式", "{{ row.form }}", 1.9, "c"),
            ("数量", "{{ row.quantity }}", 1.0, "c!"),
            ("备注", "{{ row.remarks }}", 2.3, "l"),
        ],
        "row in deliverables",
    )

    b.section("验收方式")
    b.clause_items("acceptance_method")

    b.section("验收项目及结果")
    b.loop_table(
        [
            ("序号", "{{ loop.index }}", 0.8, "c!"),
            ("验收项目", "{{ row.item }}", 2.0, "l"),
            ("验收标准", "{{ row.criteria }}", 3.6, "l"),
            ("验收结果", "{{ row.result_cn }}", 1.3, "c!"),
            ("备注", "{{ row.remarks }}", 1.8, "l"),
        ],
        "row in checks",
    )

    b.section("服务质量评价")
    b.control("{%p if measured_availability %}")
    b.para("6.1　统计期内实测服务可用性为{{ measured_availability }}%。")
    b.control("{%p endif %}")
    # numbered after the availability line when there is one: 6.2, 6.3… or 6.1, 6.2…
    b.control("{%p for item in quality_assessment_items %}")
    b.para("6.", "{{ loop.index + (1 if measured_availability else 0) }}", "　{{ item }}")
    b.control("{%p endfor %}")

    b.section("遗留问题及整改要求")
    b.control("{%p if issues_items %}")
    b.clause_items("issues")
    b.control("{%p else %}")
    b.para("无。")
    b.control("{%p endif %}")

    b.section("验收结论")
    b.clause("经验收组检查确认，本次验收结论为：{{ conclusion_cn }}。")
    b.clause_items("opinion")
    b.clause("本报告一式{{ copies_cn }}份，甲乙双方各执{{ copies_each_cn }}份。")

    b.section("验收组成员")
    b.loop_table(
        [
            ("序号", "{{ loop.index }}", 0.8, "c!"),
            ("姓名", "{{ row.name }}", 1.4, "c!"),
            ("单位", "{{ row.unit }}", 4.0, "l"),
            ("验收组职务", "{{ row.role }}", 1.6, "c!"),
            ("签字", "", 2.0, "c"),
        ],
        "row in acceptance_team",
        keep_with_next=True,
    )
    _signature_block(b, ("验收单位", "验收代表"), ("交付单位", "交付代表"))
    return b


def build_example_contract() -> Builder:
    """A model contract in the style of the national model texts for data services, written for
    onboarding: Chinese tag names, ☐ tick boxes, no schema. ``docsvc template add`` drafts
    one from its tags. (Our own wording; the model texts are the reference for structure.)"""
    b = Builder(
        name_zh="数据处理服务合同（示范式样）",
        subject="数据处理服务合同",
        header_left="数据处理服务合同",
        header_right="合同编号：{{ 合同编号 }}",
    )
    b.title("数据处理服务合同")
    b.centered("合同编号：{{ 合同编号 }}", space_after=12)
    for key, role in (("甲方", "委托方（甲方）"), ("乙方", "受托方（乙方）")):
        b.line(Bold(f"{role}："), f"{{{{ {key}.名称 }}}}")
        b.line("统一社会信用代码：", f"{{{{ {key}.统一社会信用代码 }}}}")
        b.line("住所：", f"{{{{ {key}.住所 }}}}")
        b.line("联系人：", f"{{{{ {key}.联系人 }}}}", "　　联系电话：", f"{{{{ {key}.联系电话 }}}}")
        b.blank()
    b.para(
        "甲乙双方根据《中华人民共和国民法典》《中华人民共和国数据安全法》等法律法规，就甲方委托乙方"
        "处理数据事宜，经协商一致，订立本合同。"
    )

    b.article("处理事项")
    b.clause("处理目的：{{ 处理目的 }}。")
    b.clause("处理方式（可多选）：")
    b.form_table(
        [
            [
                ("处理方式", 1),
                ("{{☐ 数据收集 }}收集　{{☐ 数据存储 }}存储　{{☐ 数据加工 }}加工　{{☐ 数据分析 }}分析", 1),
            ],
            [("数据类型", 1), ("{{☐ 含个人信息 }}含个人信息　{{☐ 含重要数据 }}含重要数据", 1)],
            [("数据规模", 1), ("{{ 数据规模 }}", 1)],
        ],
        [1.4, 5.6],
    )
    b.clause("处理地点：{{☐ 处理地点:境内 }}　{{☐ 处理地点:境外 }}；处理的数据不得超出本条约定的目的、方式和范围。")

    b.article("期限")
    b.clause("本合同期限自{{ 开始日期 }}起至{{ 结束日期 }}止。")

    b.article("费用与支付")
    b.clause("服务费用总额为人民币{{ 服务费用 }}元（含税）。")
    b.clause("支付方式：{{☐ 支付方式:一次性支付 }}　{{☐ 支付方式:分期支付 }}；具体安排：{{ 支付安排 }}。")

    b.article("数据安全")
    b.clause("乙方应采取必要的技术和管理措施保障数据安全，按甲方的书面指示处理数据，未经甲方书面同意不得转委托。")
    b.clause("发生数据安全事件的，乙方应立即处置，并在{{ 报告时限小时数 }}小时内书面告知甲方。")

    b.article("数据返还与销毁")
    b.clause("本合同终止后{{ 返还天数 }}日内，乙方应将数据返还甲方并删除全部副本，出具书面确认。")

    b.article("争议解决")
    b.clause(
        "因本合同产生的争议，双方协商不成的，按下列方式解决：{{☐ 争议解决方式:仲裁 }}，提交"
        "{{ 仲裁机构 }}仲裁；{{☐ 争议解决方式:诉讼 }}，向{{ 管辖法院 }}提起诉讼。"
    )

    b.article("其他")
    b.clause("本合同一式{{ 份数 }}份，双方各执一半，自双方签字盖章之日起生效。")
    b.centered("（以下无正文）", space_after=12)
    b.signatures(
        ["甲方（盖章）：", "{{ 甲方.名称 }}", "签订日期：{{ 签订日期 }}"],
        ["乙方（盖章）：", "{{ 乙方.名称 }}", "签订日期：{{ 签订日期 }}"],
    )
    return b


EXAMPLES = {"数据处理服务合同（示范式样）": build_example_contract}


BUILDERS = {
    "contract": build_contract,
    "service_plan": build_service_plan,
    "sla": build_sla,
    "change_request": build_change_request,
    "acceptance_report": build_acceptance_report,
}


def build_all(out_dir: Path = HERE) -> list[Path]:
    """Write ``<out_dir>/<slug>/template.docx`` for every shipped template, and the onboarding
    examples to ``<out_dir>/examples/<name>.docx``."""
    written = []
    for slug, build in BUILDERS.items():
        path = out_dir / slug / "template.docx"
        build().save(path)
        written.append(path)
    for name, build in EXAMPLES.items():
        path = out_dir / "examples" / f"{name}.docx"
        build().save(path)
        written.append(path)
    return written


if __name__ == "__main__":
    for written_path in build_all(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE):
        print(written_path)
