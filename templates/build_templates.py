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
  multi-paragraph text repeats with ``{%p for para in x_paragraphs %}``.
- The names used are documented in docsvc/core/schema.py (``x_cn`` for dates and enum labels,
  ``x.amount_cn`` for the upper-case Chinese amount, ``x_paragraphs`` for long text).
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
    xml = (f'<w:rPr {nsdecls("w")}><w:rFonts w:ascii="{LATIN_FONT}" w:hAnsi="{LATIN_FONT}" '
           f'w:eastAsia="{east_asia}" w:cs="{LATIN_FONT}" w:hint="eastAsia"/>')
    if bold:
        xml += "<w:b/><w:bCs/>"
    if size:
        half_points = int(size * 2)
        xml += f'<w:sz w:val="{half_points}"/><w:szCs w:val="{half_points}"/>'
    return xml + '<w:lang w:val="en-US" w:eastAsia="zh-CN" w:bidi="ar-SA"/></w:rPr>'


def _set_rpr(parent, east_asia: str, *, bold: bool = False, size: float | None = None,
             color: str | None = None) -> None:
    """Replace the rPr of a run or style with explicit fonts and the zh-CN language."""
    old = parent.find(qn("w:rPr"))
    new = parse_xml(_rpr_xml(east_asia, bold=bold, size=size))
    if color:
        # schema order: rFonts, b, color, sz, lang
        new.insert(len(new) - (3 if size else 1),
                   parse_xml(f'<w:color {nsdecls("w")} w:val="{color}"/>'))
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


def _add_run(paragraph: Paragraph, text: str, *, east_asia: str = BODY_FONT,
             bold: bool = False, size: float | None = None) -> None:
    run = paragraph.add_run()
    _set_rpr(run._r, east_asia, bold=bold, size=size)
    run.text = text


def _add_field(paragraph: Paragraph, instruction: str, placeholder: str, size: float) -> None:
    """A Word field (PAGE, NUMPAGES): begin, instruction, separate, cached result, end."""
    pieces = [
        f'<w:fldChar {nsdecls("w")} w:fldCharType="begin"/>',
        f'<w:instrText {nsdecls("w")} xml:space="preserve"> {instruction} </w:instrText>',
        f'<w:fldChar {nsdecls("w")} w:fldCharType="separate"/>',
        f'<w:t {nsdecls("w")}>{placeholder}</w:t>',
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


def _row_props(row, *, header: bool = False) -> None:
    tr_pr = row._tr.get_or_add_trPr()
    # schema order: cantSplit, trHeight, tblHeader
    tr_pr.insert(0, parse_xml(f'<w:cantSplit {nsdecls("w")}/>'))  # rows never break across pages
    if header:
        tr_pr.append(parse_xml(f'<w:tblHeader {nsdecls("w")}/>'))  # repeats on every page


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
        self.clause_no = 0
        self.section_no = 0
        self.subsection_no = 0
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
        ppr.append(parse_xml(f'<w:spacing {nsdecls("w")} w:after="0" w:line="360" '
                             f'w:lineRule="auto"/>'))  # 1.5 lines

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
        border = parse_xml(f'<w:pBdr {nsdecls("w")}><w:bottom w:val="single" w:sz="6" '
                           f'w:space="1" w:color="000000"/></w:pBdr>')
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

    def _runs(self, paragraph: Paragraph, parts: list[Part], *, east_asia: str = BODY_FONT,
              size: float | None = None, bold: bool = False) -> Paragraph:
        for part in parts:
            is_bold = bold or isinstance(part, Bold)
            text = part.text if isinstance(part, Bold) else part
            for piece in _TAG_RE.split(text):
                if piece:
                    _add_run(paragraph, piece, east_asia=east_asia, bold=is_bold, size=size)
        return paragraph

    def title(self, text: str, *, size: float | None = None) -> None:
        self._runs(self.doc.add_paragraph(style="Title"), [text], east_asia=HEADING_FONT, size=size)

    def centered(self, *parts: Part, size: float | None = None, space_after: float = 0) -> None:
        p = self.doc.add_paragraph(style="Normal")
        p.alignment = WD_ALIGN_PARAGRAPH.CENTER
        p.paragraph_format.space_after = Pt(space_after)
        self._runs(p, list(parts), size=size)

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

    def paragraphs(self, field: str) -> None:
        """Each line of a long-text field as a body paragraph of its own."""
        self.control(f"{{%p for para in {field}_paragraphs %}}")
        self.para("{{ para }}")
        self.control("{%p endfor %}")

    def page_break(self) -> None:
        run = self.doc.add_paragraph(style="Normal").add_run()
        _set_rpr(run._r, BODY_FONT)
        run.add_break(WD_BREAK.PAGE)

    # Contract-style numbering: 第一条 headings with 1.1 clauses

    def article(self, name: str) -> None:
        self.article_no += 1
        self.clause_no = 0
        self._runs(self.doc.add_paragraph(style="Heading 1"),
                   [f"第{_chinese_number(self.article_no)}条　{name}"], east_asia=HEADING_FONT)

    def clause(self, *parts: Part) -> None:
        self.clause_no += 1
        self.para(f"{self.article_no}.{self.clause_no}　", *parts)

    # Report-style numbering: 1 headings with 1.1 sub-headings

    def section(self, name: str) -> None:
        self.section_no += 1
        self.subsection_no = 0
        self._runs(self.doc.add_paragraph(style="Heading 1"), [f"{self.section_no}　{name}"],
                   east_asia=HEADING_FONT)

    def subsection(self, name: str) -> None:
        self.subsection_no += 1
        self._runs(self.doc.add_paragraph(style="Heading 2"),
                   [f"{self.section_no}.{self.subsection_no}　{name}"], east_asia=HEADING_FONT)

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

    def _cell(self, cell, parts: list[Part], *, header: bool = False,
              align: WD_ALIGN_PARAGRAPH = WD_ALIGN_PARAGRAPH.LEFT) -> None:
        p = cell.paragraphs[0]
        p.style = self.doc.styles["Table Text"]
        p.alignment = WD_ALIGN_PARAGRAPH.CENTER if header else align
        self._runs(p, parts, east_asia=HEADING_FONT if header else BODY_FONT)
        _set_cell_vcenter(cell)
        if header:
            _set_cell_shading(cell, "D9D9D9")

    def loop_table(self, columns: list[tuple[str, str, float, str]], loop: str,
                   total: list[str] | None = None) -> None:
        """A table with a header row and one row per list item.

        ``columns`` are (header, cell text, relative width, "l"/"c"/"r" alignment); ``loop`` is
        e.g. ``row in payment_schedule``; ``total`` an optional closing row.
        """
        widths = [c[2] for c in columns]
        table = self._table(4 + (1 if total else 0), widths)
        aligns = {"l": WD_ALIGN_PARAGRAPH.LEFT, "c": WD_ALIGN_PARAGRAPH.CENTER,
                  "r": WD_ALIGN_PARAGRAPH.RIGHT}
        for i, (head, cell, _, align) in enumerate(columns):
            self._cell(table.rows[0].cells[i], [head], header=True)
            self._cell(table.rows[2].cells[i], [cell], align=aligns[align])
            if total:
                self._cell(table.rows[4].cells[i], [total[i]], align=aligns[align])
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
                self._cell(cell, [text], align=WD_ALIGN_PARAGRAPH.CENTER if label
                           else WD_ALIGN_PARAGRAPH.LEFT)
                if label:
                    _set_cell_shading(cell, "F2F2F2")
                col += span
            _row_props(table.rows[r])
        self.doc.add_paragraph(style="Normal")

    def sign_table(self, rows: list[tuple[str, str]], widths: list[float] | None = None,
                   *, heights: dict[int, float] | None = None, header: tuple[str, ...] = ()) -> None:
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
                self._cell(cell, [text],
                           align=WD_ALIGN_PARAGRAPH.CENTER if i == 0 else WD_ALIGN_PARAGRAPH.LEFT)
                cell.paragraphs[0].paragraph_format.keep_with_next = r < len(rows) - 1
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
        b.line("住所：", f"{{{{ {key}.address }}}}")
        b.line("法定代表人：", f"{{{{ {key}.legal_rep }}}}")
    b.line("联系人：", f"{{{{ {key}.contact }}}}", "　　联系电话：", f"{{{{ {key}.phone }}}}")


def _signature_block(b: Builder, left: tuple[str, str], right: tuple[str, str]) -> None:
    """Each side is (who seals, who signs), e.g. ("甲方", "法定代表人或授权代表")."""
    b.signatures(
        [f"{left[0]}（盖章）：", "{{ party_a.name }}", f"{left[1]}（签字）：", "", f"日期：{_BLANK_DATE}"],
        [f"{right[0]}（盖章）：", "{{ party_b.name }}", f"{right[1]}（签字）：", "", f"日期：{_BLANK_DATE}"],
    )


_LEGAL_SIGNER = "法定代表人或授权代表"


def build_contract() -> Builder:
    """信息服务管理合同 — spec 7.1: rights and obligations, breach, disputes, SLA, other terms."""
    b = Builder(name_zh="信息服务管理合同", subject="信息服务管理合同（规范第7.1条）",
                header_left="{{ title }}", header_right="合同编号：{{ contract_no }}")
    b.title("{{ title }}")
    b.centered("合同编号：{{ contract_no }}", space_after=12)

    _party_block(b, "party_a", "甲方（委托方）", full=True)
    b.blank()
    _party_block(b, "party_b", "乙方（服务方）", full=True)
    b.blank()

    b.para("根据《中华人民共和国民法典》等有关法律法规及", SPEC, "的规定，甲方委托乙方提供",
           "{{ service_category_cn }}",
           "{% if project_name %}", "（项目名称：", "{{ project_name }}", "）", "{% endif %}",
           "，乙方同意按照本合同的约定提供服务。双方本着平等自愿、诚实信用的原则，经友好协商，"
           "订立本合同，以资共同遵守。")

    b.article("服务类别与服务范畴")
    b.clause("本合同项下的服务属于《信息服务管理规范》第{{ service_category }}条规定的"
             "“{{ service_category_cn }}”类别。")
    b.clause("本合同项下服务的主要管理范畴为“{{ service_scope_cn }}”。乙方应根据甲方的信息服务需求"
             "和业务需求，采用电话、远程（在线）、现场等方式提供持续的服务和技术支持，定义服务流程，"
             "并按规范第5条的要求组织服务的检测、验收和交付。")

    b.article("服务内容与服务地点")
    b.clause("乙方向甲方提供的服务内容如下：")
    b.paragraphs("service_content")
    b.clause("服务地点：{{ service_location }}。")
    b.clause("服务标准及交付要求以本合同及其附件的约定为准；本合同及其附件未约定的，"
             "按照国家标准、行业标准和规范的有关要求执行。")

    b.article("服务期限")
    b.clause("本合同服务期限自{{ term_start_cn }}起至{{ term_end_cn }}止。")
    b.clause("服务期限届满前三十日内，双方可就续约事宜进行协商；协商一致的，另行签订书面合同。")

    b.article("合同价款及支付方式")
    b.clause("本合同总价款为{{ total_fee.currency_zh }}（大写）{{ total_fee.amount_cn }}"
             "（小写：{{ total_fee.currency }} {{ total_fee.amount_grouped }}）。上述价款为含税价，"
             "增值税税率为{{ tax_rate }}%，已包括乙方完成本合同约定服务所需的人工、差旅、工具及管理"
             "等全部费用；除本合同另有约定外，甲方无需另行支付其他费用。")
    b.clause("甲方按照下表约定分期向乙方支付合同价款：")
    b.loop_table(
        [("期次", "{{ row.phase }}", 1.1, "c"),
         ("付款条件", "{{ row.condition }}", 3.7, "l"),
         ("比例", "{{ row.ratio }}%", 0.9, "c"),
         ("金额（{{ total_fee.currency }}）", "{{ row.amount.amount_grouped }}", 1.9, "r"),
         ("付款日期", "{{ row.due_date_cn }}", 2.4, "c")],
        "row in payment_schedule",
        total=["合计", "", "100%", "{{ total_fee.amount_grouped }}", ""],
    )
    b.clause("乙方应在甲方每期付款前向甲方开具等额、合法有效的增值税发票；甲方在收到发票并确认"
             "付款条件成就后，按上表约定付款。")
    b.clause("乙方指定的收款账户如下：")
    b.para("户　　名：{{ payee_account.account_name }}")
    b.para("开户银行：{{ payee_account.bank_name }}")
    b.para("账　　号：{{ payee_account.account_no }}")
    b.clause("乙方变更收款账户的，应提前以书面形式通知甲方，否则由此造成的损失由乙方承担。")

    b.article("甲方的权利和义务")
    b.paragraphs("party_a_duties")

    b.article("乙方的权利和义务")
    b.paragraphs("party_b_duties")

    b.article("服务等级")
    b.clause("{% if sla_reference %}", "双方签订的《服务等级协议》（编号：", "{{ sla_reference }}",
             "）作为本合同的附件，是本合同不可分割的组成部分，与本合同具有同等法律效力。乙方应达到"
             "该协议约定的服务目标、响应时限和服务质量要求。", "{% else %}",
             "双方应在本合同生效后三十日内，依据规范第8.1条签订量化的服务等级协议，作为本合同的附件，"
             "与本合同具有同等法律效力。服务等级协议签订前，乙方应按照行业通行标准及时响应并处理甲方"
             "的服务请求。", "{% endif %}")
    b.clause("双方应根据业务发展和需求变化，定期评审并修订服务等级协议（规范第8.1.3条）。任何一方"
             "提出修订的，双方应在三十日内协商确定；修订后的服务等级协议经双方签字盖章后生效。")

    b.article("服务变更")
    b.clause("任何一方需要变更服务内容、服务范围、服务地点或服务等级的，应以书面形式提出变更申请，"
             "说明变更原因、内容及影响。变更按照基于流程的变更管理方式（规范第8.4.2条）进行评估、"
             "审批和实施，经双方书面确认后方可执行。")
    b.clause("变更导致合同价款或服务期限调整的，由双方协商一致后签订补充协议。")

    b.article("保密")
    b.paragraphs("confidentiality")
    b.clause("本条约定的保密义务不因本合同的变更、解除或终止而失效，在本合同终止后"
             "{{ confidentiality_years }}年内持续有效。")

    b.article("知识产权")
    b.clause("甲方提供的资料、数据及其衍生数据的所有权归甲方所有。乙方为履行本合同专门开发并经甲方"
             "付清相应款项的交付成果，其知识产权归属由双方在服务内容或补充协议中约定；未约定的，"
             "甲方享有在其内部永久使用的权利。")
    b.clause("乙方保证其提供的服务及交付成果不侵犯任何第三方的知识产权；因此引起的纠纷由乙方负责"
             "处理并承担相应责任。")

    b.article("违约责任")
    b.paragraphs("breach_liability")

    b.article("不可抗力")
    b.clause("因地震、台风、洪水、火灾、战争、重大公共卫生事件以及政府行为等不能预见、不能避免并"
             "不能克服的客观情况，致使一方不能履行或不能完全履行本合同的，该方应在不可抗力发生后"
             "三日内书面通知对方，并在十五日内提供相关证明，可根据不可抗力的影响部分或全部免除责任。")
    b.clause("不可抗力影响消除后，双方应尽快恢复履行本合同。")

    b.article("争议解决")
    b.clause("因本合同引起的或与本合同有关的任何争议，双方应首先友好协商解决；协商不成的，",
             "{% if dispute_resolution == \"arbitration\" %}",
             "任何一方均可将争议提交{{ dispute_venue }}，按照申请仲裁时该会现行有效的仲裁规则进行"
             "仲裁。仲裁裁决是终局的，对双方均有约束力。", "{% else %}",
             "任何一方均可向{{ dispute_venue }}提起诉讼。", "{% endif %}")
    b.clause("争议解决期间，除争议事项外，双方应继续履行本合同的其他条款。")

    b.article("合同的生效、变更与解除")
    b.clause("本合同自双方法定代表人或授权代表签字并加盖公章或合同专用章之日起生效。")
    b.clause("本合同的任何变更或补充，均须经双方协商一致并以书面形式作出，补充协议与本合同具有同等"
             "法律效力。")
    b.clause("一方严重违约，经对方书面催告后三十日内仍未纠正的，守约方有权书面通知解除本合同，"
             "并要求违约方赔偿损失。")

    b.article("其他约定")
    b.paragraphs("other_terms")
    b.clause("双方在本合同中列明的地址和联系方式为有效的通知送达地址；一方变更的，应在变更后三日内"
             "书面通知对方。")
    b.clause("本合同一式肆份，甲乙双方各执贰份，具有同等法律效力。")
    b.control("{%p if sla_reference %}")
    b.clause("本合同附件：《服务等级协议》（编号：{{ sla_reference }}）。")
    b.control("{%p endif %}")

    b.centered("（以下无正文）", space_after=12)
    b.line("签订地点：{{ sign_place }}　　签订日期：",
           f"{{% if sign_date %}}{{{{ sign_date_cn }}}}{{% else %}}{_BLANK_DATE}{{% endif %}}")
    b.blank()
    _signature_block(b, ("甲方", _LEGAL_SIGNER), ("乙方", _LEGAL_SIGNER))
    return b


def build_service_plan() -> Builder:
    """信息服务管理计划 — spec 7.2.3 a–g, with milestones and roles."""
    b = Builder(name_zh="信息服务管理计划", subject="信息服务管理计划（规范第7.2条）",
                header_left="{{ title }}", header_right="计划编号：{{ plan_no }}　{{ version }}")
    b.plain_first_page()
    # cover page
    for _ in range(4):
        b.blank()
    b.title("{{ title }}", size=26)  # 一号 on the cover
    b.blank()
    b.centered("项目名称：{{ project_name }}", size=14)
    b.centered("计划编号：{{ plan_no }}", size=14)
    b.centered("版　　本：{{ version }}", size=14)
    for _ in range(6):
        b.blank()
    b.centered("服务单位：{{ provider_name }}", size=14)
    b.centered("用户单位：{{ client_name }}", size=14)
    b.centered("编制日期：{{ prepared_date_cn }}", size=14)
    b.page_break()

    b.centered(Bold("文档控制"), space_after=6)
    b.sign_table(
        [("编制", "{{ prepared_by }}", "{{ prepared_date_cn }}", ""),
         ("审核", "{{ reviewed_by }}", "", ""),
         ("批准", "{{ approved_by }}", "", "")],
        [1, 2, 2, 2], header=("职责", "姓名", "日期", "签字"),
    )

    b.section("概述")
    b.subsection("编制目的")
    b.para("为明确{{ project_name }}的信息服务管理目标、需求和内容，确定服务管理制度、流程和方法，"
           "落实服务管理人员职责，保证服务质量，依据", SPEC, "第7.2条，制定本计划。")
    b.subsection("编制依据")
    b.para("本计划依据下列文件制定（规范第7.2.2条）：")
    b.paragraphs("basis")
    b.subsection("适用期间")
    b.para("本计划适用于{{ plan_start_cn }}至{{ plan_end_cn }}期间{{ client_name }}的信息服务管理活动，"
           "由{{ provider_name }}组织实施。")

    b.section("信息服务类别和等级")
    b.subsection("服务类别")
    b.para("本项目的信息服务属于《信息服务管理规范》第{{ service_category }}条规定的"
           "“{{ service_category_cn }}”。")
    b.subsection("服务等级")
    b.para("本项目的服务等级为：{{ service_level }}。",
           "{% if sla_reference %}", "具体的服务目标、响应时限和质量要求以双方签订的《服务等级协议》"
           "（编号：", "{{ sla_reference }}", "）为准。", "{% endif %}")

    b.section("信息服务管理需求和内容")
    b.subsection("服务管理需求")
    b.paragraphs("requirements")
    b.subsection("服务管理内容")
    b.paragraphs("service_content")

    b.section("信息服务管理目标")
    b.paragraphs("objectives")

    b.section("信息服务管理技术和方法")
    b.paragraphs("methods")

    b.section("信息服务管理实施过程")
    b.subsection("实施过程")
    b.paragraphs("process")
    b.subsection("里程碑计划")
    b.para("本计划的主要里程碑及交付物如下表所示：")
    b.loop_table(
        [("序号", "{{ loop.index }}", 0.7, "c"),
         ("里程碑", "{{ row.name }}", 2.0, "l"),
         ("主要工作及交付物", "{{ row.deliverables }}", 3.9, "l"),
         ("计划完成日期", "{{ row.due_date_cn }}", 2.3, "c"),
         ("责任人", "{{ row.owner }}", 1.2, "c")],
        "row in milestones",
    )

    b.section("信息服务管理人员的职责")
    b.para("项目组由下列人员组成，各自承担相应职责；人员变动时，服务单位应提前书面通知用户单位，"
           "并确保接替人员具备相应的服务能力（规范第8.2.1条）。")
    b.loop_table(
        [("角色", "{{ row.role }}", 1.8, "c"),
         ("姓名", "{{ row.name }}", 1.2, "c"),
         ("主要职责", "{{ row.duties }}", 5.0, "l"),
         ("联系电话", "{{ row.phone }}", 2.0, "c")],
        "row in roles",
    )

    b.section("信息服务管理工作制度")
    b.paragraphs("rules")

    b.section("计划的检查与改进")
    b.para("本计划按照PDCA过程模式（规范第6条）实施：服务单位按计划执行服务，定期检测、检查、"
           "分析和评估计划的执行情况，并根据检查结果采取改进、完善和预防措施。")
    b.para("本计划如需调整，应按变更管理流程（规范第8.4.2条）提出变更申请，经审核、批准后发布新版本，"
           "并通知用户单位及全体项目组成员。")
    return b


def build_sla() -> Builder:
    """服务等级协议 — spec 8.1.2 a–h, revised periodically per 8.1.3."""
    b = Builder(name_zh="服务等级协议", subject="服务等级协议（规范第8.1.2条）",
                header_left="{{ title }}", header_right="协议编号：{{ sla_no }}")
    b.title("{{ title }}")
    b.centered("协议编号：{{ sla_no }}", space_after=12)

    _party_block(b, "party_a", "甲方（用户方）", full=False)
    b.blank()
    _party_block(b, "party_b", "乙方（服务方）", full=False)
    b.blank()

    b.para("为明确服务目标和用户需求，确定服务质量和管理职责，规范服务管理，",
           "{% if contract_ref %}", "根据双方签订的信息服务管理合同（合同编号：", "{{ contract_ref }}",
           "），", "{% endif %}", "依据", SPEC, "第8.1条，甲乙双方就{{ project_name }}的服务水平"
           "经充分沟通、协商一致，签订本服务等级协议（以下简称“本协议”）。")

    b.section("用户需求说明")
    b.paragraphs("user_requirements")

    b.section("服务目标")
    b.paragraphs("service_objectives")

    b.section("服务职责")
    b.subsection("甲方职责")
    b.paragraphs("party_a_duties")
    b.subsection("乙方职责")
    b.paragraphs("party_b_duties")

    b.section("服务类型和内容")
    b.para("本协议项下的服务属于《信息服务管理规范》第{{ service_category }}条规定的"
           "“{{ service_category_cn }}”，具体服务项目如下：")
    b.loop_table(
        [("序号", "{{ loop.index }}", 0.8, "c"),
         ("服务项目", "{{ row.name }}", 2.2, "l"),
         ("服务内容", "{{ row.content }}", 5.0, "l"),
         ("服务时间", "{{ row.hours }}", 1.8, "c")],
        "row in services",
    )

    b.section("服务提供、响应和应急处理")
    b.subsection("服务时间和方式")
    b.para("乙方提供{{ service_hours }}服务，服务方式包括{{ support_channels }}。")
    b.subsection("服务请求的优先级和响应时限")
    b.para("乙方服务台受理甲方的服务请求后，按下表确定优先级并在规定时限内响应和解决。响应时限自"
           "乙方受理服务请求时起算，解决时限自响应时起算；经双方确认的计划内维护时间不计入。")
    b.loop_table(
        [("优先级", "{{ row.priority }}（{{ row.priority_cn }}）", 1.7, "c"),
         ("定义", "{{ row.description }}", 4.6, "l"),
         ("响应时限（分钟）", "{{ row.response_minutes }}", 1.6, "c"),
         ("解决时限（小时）", "{{ row.resolution_hours }}", 1.6, "c")],
        "row in priorities",
    )
    b.subsection("应急处理")
    b.paragraphs("emergency")

    b.section("服务质量")
    b.subsection("质量目标")
    b.paragraphs("quality_objectives")
    b.subsection("可用性")
    b.para("本协议项下服务的可用性不低于{{ availability }}%，按自然月统计。可用性 =（统计期总时间 − "
           "非计划中断时间）÷ 统计期总时间 × 100%；经双方确认的计划内维护时间不计入中断时间。")
    b.subsection("可靠性")
    b.paragraphs("reliability")
    b.subsection("安全性")
    b.paragraphs("security")

    b.section("服务成本")
    b.para("本协议项下的服务费用为{{ service_fee.currency_zh }}（大写）{{ service_fee.amount_cn }}"
           "（小写：{{ service_fee.currency }} {{ service_fee.amount_grouped }}）",
           "{% if contract_ref %}", "，已包含在合同（合同编号：", "{{ contract_ref }}", "）价款之中",
           "{% endif %}", "。")
    b.paragraphs("cost_notes")

    b.section("其他")
    b.paragraphs("other_terms")
    b.para("服务考核结果由双方每月确认一次；未达到本协议约定服务水平的，按双方合同中违约责任条款"
           "的约定处理。本协议未尽事宜，由双方协商解决。")

    b.section("协议的期限和修订")
    b.para("本协议自{{ effective_date_cn }}起生效，有效期至{{ end_date_cn }}止。")
    b.para("双方每{{ review_cycle_months }}个月对本协议的执行情况和服务水平进行一次评审，并根据业务"
           "发展和需求变化修订本协议（规范第8.1.3条），下一次评审日期为{{ next_review_date_cn }}。"
           "修订后的协议经双方签字盖章后生效，原协议同时失效。")
    b.para("本协议一式肆份，甲乙双方各执贰份，具有同等效力。")

    b.centered("（以下无正文）", space_after=12)
    _signature_block(b, ("甲方", _LEGAL_SIGNER), ("乙方", _LEGAL_SIGNER))
    return b


def build_change_request() -> Builder:
    """变更申请单 — spec 8.4.2: process-based change management."""
    b = Builder(name_zh="变更申请单", subject="变更申请单（规范第8.4.2条）",
                header_left="{{ project_name }}", header_right="变更申请单　编号：{{ change_no }}")
    b.title("变更申请单")
    b.form_table(
        [[("变更编号", 1), ("{{ change_no }}", 1), ("申请日期", 1), ("{{ request_date_cn }}", 1)],
         [("变更名称", 1), ("{{ title }}", 3)],
         [("项目名称", 1), ("{{ project_name }}", 1), ("用户单位", 1), ("{{ client_name }}", 1)],
         [("服务类别", 1), ("{{ service_category }} {{ service_category_cn }}", 1),
          ("关联合同/协议", 1), ("{{ related_ref }}", 1)],
         [("申请人", 1), ("{{ requester.name }}", 1), ("所在部门", 1), ("{{ requester.department }}", 1)],
         [("联系电话", 1), ("{{ requester.phone }}", 1), ("变更类型", 1), ("{{ change_type_cn }}", 1)],
         [("变更对象", 1), ("{{ change_target_cn }}", 1), ("优先级", 1), ("{{ priority_cn }}", 1)],
         [("计划实施时间", 1), ("{{ planned_start_cn }} 至 {{ planned_end_cn }}", 3)]],
        [1.3, 2.2, 1.3, 2.2],
    )

    b.section("变更原因")
    b.paragraphs("reason")
    b.section("变更内容")
    b.paragraphs("description")
    b.section("变更影响分析")
    b.para("本变更对业务、系统、安全、服务水平、成本和进度等方面的影响分析如下：")
    b.loop_table(
        [("序号", "{{ loop.index }}", 0.8, "c"),
         ("影响方面", "{{ row.aspect }}", 1.6, "c"),
         ("影响说明", "{{ row.description }}", 5.4, "l"),
         ("影响程度", "{{ row.level_cn }}", 1.2, "c")],
        "row in impacts",
    )
    b.para("费用影响：", "{% if cost_impact %}",
           "本变更预计增加费用{{ cost_impact.currency_zh }}（大写）{{ cost_impact.amount_cn }}"
           "（小写：{{ cost_impact.currency }} {{ cost_impact.amount_grouped }}），由双方另行确认。",
           "{% else %}", "本变更不涉及费用调整。", "{% endif %}")
    b.section("实施计划")
    b.paragraphs("implementation_plan")
    b.section("风险及回退方案")
    b.paragraphs("rollback_plan")
    b.section("变更管理要求")
    b.para("本变更按照基于流程的变更管理（规范第8.4.2条）执行：提出申请、影响评估、审批、实施、"
           "验证、关闭。未经批准不得实施；紧急变更可先行处置，但应在处置完成后二十四小时内补办审批"
           "手续。变更实施后，应更新相关配置项记录（规范第8.4.1条）及受影响文档的版本。")

    b.section("审批意见")
    b.sign_table(
        [("部门负责人审核", "", "", ""),
         ("变更管理负责人审批", "", "", ""),
         ("用户方确认", "", "", ""),
         ("实施结果验证", "", "", "")],
        [2.0, 3.4, 1.2, 1.6], header=("环节", "意见", "签字", "日期"),
        heights={0: 1.6, 1: 1.6, 2: 1.6, 3: 1.6},
    )
    return b


def build_acceptance_report() -> Builder:
    """服务交付验收报告 — spec 5.3: inspection, acceptance and delivery."""
    b = Builder(name_zh="服务交付验收报告", subject="服务交付验收报告（规范第5.3条）",
                header_left="{{ title }}", header_right="报告编号：{{ report_no }}")
    b.title("{{ title }}")
    b.centered("报告编号：{{ report_no }}", space_after=12)
    b.form_table(
        [[("项目名称", 1), ("{{ project_name }}", 3)],
         [("合同编号", 1), ("{{ contract_no }}", 1), ("服务类别", 1),
          ("{{ service_category }} {{ service_category_cn }}", 1)],
         [("服务期间", 1), ("{{ service_start_cn }} 至 {{ service_end_cn }}", 3)],
         [("验收日期", 1), ("{{ acceptance_date_cn }}", 1), ("验收地点", 1), ("{{ acceptance_place }}", 1)],
         [("验收方（甲方）", 1), ("{{ party_a.name }}", 3)],
         [("联系人", 1), ("{{ party_a.contact }}", 1), ("联系电话", 1), ("{{ party_a.phone }}", 1)],
         [("交付方（乙方）", 1), ("{{ party_b.name }}", 3)],
         [("联系人", 1), ("{{ party_b.contact }}", 1), ("联系电话", 1), ("{{ party_b.phone }}", 1)]],
        [1.5, 2.1, 1.3, 2.1],
    )

    b.section("验收依据")
    b.para("依据双方签订的信息服务管理合同（合同编号：{{ contract_no }}）",
           "{% if sla_reference %}", "、服务等级协议（编号：", "{{ sla_reference }}", "）",
           "{% endif %}", "及", SPEC, "第5.3条关于服务交付的要求，甲乙双方于{{ acceptance_date_cn }}"
           "在{{ acceptance_place }}对乙方提供的服务进行了检测和验收。")

    b.section("服务交付概况")
    b.paragraphs("delivery_summary")

    b.section("验收项目及结果")
    b.loop_table(
        [("序号", "{{ loop.index }}", 0.8, "c"),
         ("验收项目", "{{ row.item }}", 2.0, "l"),
         ("验收标准", "{{ row.criteria }}", 3.6, "l"),
         ("验收结果", "{{ row.result_cn }}", 1.3, "c"),
         ("备注", "{{ row.remarks }}", 1.8, "l")],
        "row in checks",
    )

    b.section("服务质量评价")
    b.para("服务可用性：", "{% if measured_availability %}",
           "统计期内实测服务可用性为{{ measured_availability }}%。", "{% else %}",
           "本次验收不涉及可用性指标。", "{% endif %}")
    b.paragraphs("quality_assessment")

    b.section("遗留问题及整改要求")
    b.control("{%p if issues_paragraphs %}")
    b.paragraphs("issues")
    b.control("{%p else %}")
    b.para("无。")
    b.control("{%p endif %}")

    b.section("验收结论")
    b.para("经双方检查确认，本次验收结论为：{{ conclusion_cn }}。")
    b.paragraphs("opinion")
    b.para("本报告一式肆份，甲乙双方各执贰份。")

    b.blank()
    _signature_block(b, ("验收单位", "验收代表"), ("交付单位", "交付代表"))
    return b


BUILDERS = {
    "contract": build_contract,
    "service_plan": build_service_plan,
    "sla": build_sla,
    "change_request": build_change_request,
    "acceptance_report": build_acceptance_report,
}


def build_all(out_dir: Path = HERE) -> list[Path]:
    """Write ``<out_dir>/<slug>/template.docx`` for every shipped template."""
    written = []
    for slug, build in BUILDERS.items():
        path = out_dir / slug / "template.docx"
        build().save(path)
        written.append(path)
    return written


if __name__ == "__main__":
    for written_path in build_all(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE):
        print(written_path)
