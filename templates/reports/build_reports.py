"""Build the management-report templates: templates/reports/<slug>/{template.docx,schema.json}.

    .venv/bin/python templates/reports/build_reports.py

Reports are generated like any document (docsvc.services.reports fills these templates and
archives the result with its provenance). A company restyles a report by registering a new
version of its template (``docsvc template add FILE --name report_inventory`` or the web
template versions page); the field names below are what such a template may use.

Each Jinja tag is its own run (as in templates/build_templates.py), table rows repeat with
``{%tr for … %}``, and the package is byte-for-byte reproducible (fixed times).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import zipfile
from pathlib import Path

import docx
from docx.enum.section import WD_ORIENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml.ns import qn
from docx.shared import Cm, Pt

HERE = Path(__file__).resolve().parent
BODY_FONT, HEADING_FONT, LATIN_FONT = "宋体", "黑体", "Times New Roman"
BUILD_TIME = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
ZIP_TIME = (2026, 1, 1, 0, 0, 0)
_TAG_RE = re.compile(r"({{.*?}}|{%.*?%})")


def _run_fonts(run, *, east_asia: str, size: float, bold: bool = False) -> None:
    run.font.size, run.font.bold, run.font.name = Pt(size), bold, LATIN_FONT
    rpr = run._element.get_or_add_rPr()
    fonts = rpr.get_or_add_rFonts()
    fonts.set(qn("w:eastAsia"), east_asia)
    lang = rpr.makeelement(qn("w:lang"), {qn("w:eastAsia"): "zh-CN"})
    rpr.append(lang)


def para(
    container,
    text: str,
    *,
    size: float = 10.5,
    bold: bool = False,
    heading: bool = False,
    align=None,
    keep_next: bool = False,
):
    p = container.add_paragraph()
    for piece in _TAG_RE.split(text):
        if piece:
            _run_fonts(
                p.add_run(piece), east_asia=HEADING_FONT if heading else BODY_FONT, size=size, bold=bold or heading
            )
    if align is not None:
        p.alignment = align
    p.paragraph_format.keep_with_next = keep_next or heading
    return p


def cell_text(cell, text: str, *, bold: bool = False) -> None:
    cell.paragraphs[0].text = ""
    for piece in _TAG_RE.split(text):
        if piece:
            _run_fonts(
                cell.paragraphs[0].add_run(piece), east_asia=HEADING_FONT if bold else BODY_FONT, size=9, bold=bold
            )


def table(document, headers: list[str], cells: list[str], loop: str, *, widths: list[float]):
    """A header row (repeated on every page), then one row per item of ``loop``."""
    t = document.add_table(rows=4, cols=len(headers))
    t.style = "Table Grid"
    for i, h in enumerate(headers):
        cell_text(t.rows[0].cells[i], h, bold=True)
    trpr = t.rows[0]._tr.get_or_add_trPr()
    trpr.append(trpr.makeelement(qn("w:tblHeader"), {}))
    cell_text(t.rows[1].cells[0], f"{{%tr for r in {loop} %}}")
    for i, c in enumerate(cells):
        cell_text(t.rows[2].cells[i], c)
    cell_text(t.rows[3].cells[0], "{%tr endfor %}")
    for row in t.rows:
        row_pr = row._tr.get_or_add_trPr()
        row_pr.append(row_pr.makeelement(qn("w:cantSplit"), {}))
        for cell, w in zip(row.cells, widths):
            cell.width = Cm(w)
    return t


def new_document(title_tag: str, *, landscape: bool = False):
    d = docx.Document()
    section = d.sections[0]
    section.page_width, section.page_height = (Cm(29.7), Cm(21)) if landscape else (Cm(21), Cm(29.7))
    if landscape:
        section.orientation = WD_ORIENT.LANDSCAPE
    section.left_margin = section.right_margin = Cm(2.2)
    section.top_margin = section.bottom_margin = Cm(2.2)
    para(d, title_tag, size=16, heading=True, align=WD_ALIGN_PARAGRAPH.CENTER)
    para(d, "（{{ service_category_cn }}）", align=WD_ALIGN_PARAGRAPH.CENTER)
    return d


def save(d, slug: str, schema: dict, out_dir: Path) -> Path:
    core = d.core_properties
    core.title, core.author, core.comments = schema["template"]["name_zh"], "", ""
    core.created = core.modified = BUILD_TIME
    core.last_modified_by, core.revision, core.language = "", 1, "zh-CN"
    buf = io.BytesIO()
    d.save(buf)
    out = io.BytesIO()
    with zipfile.ZipFile(buf) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=ZIP_TIME)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            zout.writestr(fixed, zin.read(info))
    folder = out_dir / slug
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "template.docx").write_bytes(out.getvalue())
    (folder / "schema.json").write_text(json.dumps(schema, ensure_ascii=False, indent=2) + "\n", "utf-8")
    return folder


# Report data is made by docsvc, never typed in: no field has a default.
def text(name, zh, en, *, required=True, example="", max_length=500):
    return {
        "name": name,
        "label_zh": zh,
        "label_en": en,
        "type": "text",
        "required": required,
        "default": None,
        "example": example or zh,
        "max_length": max_length,
    }


def integer(name, zh, en, *, example=1):
    return {
        "name": name,
        "label_zh": zh,
        "label_en": en,
        "type": "integer",
        "required": True,
        "default": None,
        "example": example,
    }


def date(name, zh, en, *, required=True, example="2026-06-30"):
    return {
        "name": name,
        "label_zh": zh,
        "label_en": en,
        "type": "date",
        "required": required,
        "default": None,
        "example": example,
    }


def rows(name, zh, en, fields):
    return {
        "name": name,
        "label_zh": zh,
        "label_en": en,
        "type": "list",
        "required": False,
        "default": None,
        "example": None,
        "max_items": 1000,
        "fields": fields,
    }


def common(slug, name_zh, name_en, desc_zh, desc_en, spec_ref, fields):
    return {
        "schema_version": 1,
        "template": {
            "slug": slug,
            "name_zh": name_zh,
            "name_en": name_en,
            "description_zh": desc_zh,
            "description_en": desc_en,
            "spec_ref": spec_ref,
            "doc_type": "report",
            "doc_class": "user",
            "author": "organization",
            "metadata": {"title": "title", "service_category": "service_category"},
        },
        "fields": [
            text("title", "报告标题", "Report title", example="档案清单报告"),
            {
                "name": "service_category",
                "label_zh": "服务类别",
                "label_en": "Service category",
                "type": "enum",
                "required": True,
                "default": None,
                "choices_from": "service_category",
                "example": "4.2",
            },
            text("organization", "编制单位", "Issued by", required=False, example="大连某信息技术有限公司"),
            date("as_of", "统计时间", "As of"),
            *fields,
        ],
    }


def inventory(out_dir: Path) -> Path:
    schema = common(
        "report_inventory",
        "档案清单报告",
        "Archive inventory report",
        "按服务类别、文档类别和项目统计归档文档：数量、最新版本、尚未确认分类标签的文档（规范第 9 条）。",
        "Archived documents by service category, document class and project: counts, latest "
        "versions, documents whose labels are not confirmed (spec 9).",
        "9",
        [
            integer("total_documents", "文档总数", "Documents"),
            integer("total_versions", "版本总数", "Versions"),
            integer("unconfirmed_count", "待确认标签文档数", "Documents with unconfirmed labels"),
            rows(
                "groups",
                "分组统计",
                "Groups",
                [
                    text("category", "服务类别", "Category"),
                    text("doc_class", "文档类别", "Class"),
                    text("project", "项目", "Project", required=False),
                    integer("documents", "文档数", "Documents"),
                    integer("versions", "版本数", "Versions"),
                    date("updated", "最近更新", "Last change"),
                ],
            ),
            rows(
                "latest",
                "最新版本",
                "Latest versions",
                [
                    integer("id", "编号", "ID"),
                    text("title", "标题", "Title"),
                    text("doc_type", "类型", "Type"),
                    text("project", "项目", "Project", required=False),
                    integer("version", "版本", "Version"),
                    date("updated", "更新日期", "Changed"),
                ],
            ),
            rows(
                "unconfirmed",
                "待确认标签的文档",
                "Unconfirmed labels",
                [
                    integer("id", "编号", "ID"),
                    text("title", "标题", "Title"),
                    text("project", "项目", "Project", required=False),
                    text("suggested_type", "建议类型", "Suggested type"),
                ],
            ),
        ],
    )
    d = new_document("{{ title }}")
    para(d, "编制单位：{{ organization }}　　统计时间：{{ as_of_cn }}", align=WD_ALIGN_PARAGRAPH.CENTER)
    para(d, "一、总体情况", heading=True, size=12)
    para(
        d,
        "归档文档共 {{ total_documents }} 份、{{ total_versions }} 个版本；其中 {{ unconfirmed_count }} 份文档的分类标签尚待确认。",
    )
    para(d, "二、按服务类别、文档类别和项目统计", heading=True, size=12)
    table(
        d,
        ["服务类别", "文档类别", "项目", "文档数", "版本数", "最近更新"],
        [
            "{{ r.category }}",
            "{{ r.doc_class }}",
            "{{ r.project }}",
            "{{ r.documents }}",
            "{{ r.versions }}",
            "{{ r.updated }}",
        ],
        "groups",
        widths=[4.2, 2.2, 4.2, 1.6, 1.6, 2.6],
    )
    para(d, "三、最近更新的文档及其最新版本", heading=True, size=12)
    table(
        d,
        ["编号", "标题", "类型", "项目", "版本", "更新日期"],
        ["{{ r.id }}", "{{ r.title }}", "{{ r.doc_type }}", "{{ r.project }}", "V{{ r.version }}", "{{ r.updated }}"],
        "latest",
        widths=[1.4, 6.4, 2.2, 3.4, 1.4, 2.6],
    )
    para(d, "四、分类标签尚待确认的文档", heading=True, size=12)
    table(
        d,
        ["编号", "标题", "项目", "建议类型"],
        ["{{ r.id }}", "{{ r.title }}", "{{ r.project }}", "{{ r.suggested_type }}"],
        "unconfirmed",
        widths=[1.4, 8.6, 4.4, 3.0],
    )
    return save(d, "report_inventory", schema, out_dir)


def audit(out_dir: Path) -> Path:
    schema = common(
        "report_audit",
        "审计报告",
        "Audit report",
        "一段时间内的操作记录：谁做了什么、审计链核验结果、被拒绝的操作（规范第 8.4 条）。",
        "A period's activity: who did what, the audit chain's verification, denied attempts (spec 8.4).",
        "8.4",
        [
            date("since", "起始日期", "From"),
            date("until", "截止日期", "To"),
            integer("entries", "记录条数", "Entries"),
            integer("actor_count", "操作人数", "Actors"),
            integer("denied_count", "被拒绝的操作", "Denied attempts"),
            text("chain", "审计链核验结果", "Audit chain verification", max_length=1000),
            rows(
                "activity",
                "操作统计",
                "Activity",
                [text("actor", "操作人", "Actor"), text("action", "操作", "Action"), integer("count", "次数", "Count")],
            ),
            rows(
                "verifications",
                "核验记录",
                "Verifications",
                [
                    text("time", "时间", "Time"),
                    text("actor", "操作人", "Actor"),
                    text("what", "内容", "What", max_length=1000),
                ],
            ),
            rows(
                "denied",
                "被拒绝的操作",
                "Denied attempts",
                [
                    text("time", "时间", "Time"),
                    text("actor", "操作人", "Actor"),
                    text("what", "内容", "What", max_length=1000),
                ],
            ),
        ],
    )
    d = new_document("{{ title }}")
    para(
        d,
        "编制单位：{{ organization }}　　统计期间：{{ since_cn }}至{{ until_cn }}　　生成时间：{{ as_of_cn }}",
        align=WD_ALIGN_PARAGRAPH.CENTER,
    )
    para(d, "一、概况", heading=True, size=12)
    para(d, "本期共有审计记录 {{ entries }} 条，涉及操作人 {{ actor_count }} 名；被拒绝的操作 {{ denied_count }} 次。")
    para(d, "审计链核验：{{ chain }}")
    para(d, "二、谁做了什么", heading=True, size=12)
    table(
        d,
        ["操作人", "操作", "次数"],
        ["{{ r.actor }}", "{{ r.action }}", "{{ r.count }}"],
        "activity",
        widths=[5.0, 9.0, 2.6],
    )
    para(d, "三、核验记录", heading=True, size=12)
    table(
        d,
        ["时间", "操作人", "内容"],
        ["{{ r.time }}", "{{ r.actor }}", "{{ r.what }}"],
        "verifications",
        widths=[4.0, 3.6, 9.0],
    )
    para(d, "四、被拒绝的操作", heading=True, size=12)
    table(
        d,
        ["时间", "操作人", "内容"],
        ["{{ r.time }}", "{{ r.actor }}", "{{ r.what }}"],
        "denied",
        widths=[4.0, 3.6, 9.0],
    )
    return save(d, "report_audit", schema, out_dir)


def reviews(out_dir: Path) -> Path:
    schema = common(
        "report_reviews",
        "到期复审报告",
        "Review due report",
        "到期需评审的服务等级协议与服务管理计划（规范第 8.1.3 条：定期评审并按需更新）。",
        "SLAs and service management plans due for review (spec 8.1.3: reviewed at planned "
        "intervals and updated as needed).",
        "8.1.3",
        [
            date("until", "复审截止", "Due by"),
            integer("count", "待复审文档数", "Documents due"),
            integer("overdue_count", "已逾期", "Overdue"),
            rows(
                "documents_due",
                "待复审文档",
                "Documents due",
                [
                    integer("id", "编号", "ID"),
                    text("title", "标题", "Title"),
                    text("doc_type", "类型", "Type"),
                    text("project", "项目", "Project", required=False),
                    text("owner", "负责人", "Owner", required=False),
                    date("review_due", "复审日期", "Review date"),
                    text("state", "状态", "State"),
                ],
            ),
        ],
    )
    d = new_document("{{ title }}")
    para(
        d,
        "编制单位：{{ organization }}　　复审截止：{{ until_cn }}　　统计时间：{{ as_of_cn }}",
        align=WD_ALIGN_PARAGRAPH.CENTER,
    )
    para(
        d,
        "依据规范第 8.1.3 条，服务等级协议与服务管理计划应定期评审并按需更新。截至{{ until_cn }}，"
        "共有 {{ count }} 份文档到期需复审，其中 {{ overdue_count }} 份已逾期。",
    )
    table(
        d,
        ["编号", "标题", "类型", "项目", "负责人", "复审日期", "状态"],
        [
            "{{ r.id }}",
            "{{ r.title }}",
            "{{ r.doc_type }}",
            "{{ r.project }}",
            "{{ r.owner }}",
            "{{ r.review_due }}",
            "{{ r.state }}",
        ],
        "documents_due",
        widths=[1.3, 5.0, 2.2, 2.8, 1.8, 2.4, 2.0],
    )
    return save(d, "report_reviews", schema, out_dir)


def build_all(out_dir: Path = HERE) -> list[Path]:
    """Write every report template into ``out_dir``/<slug>/; the folders written."""
    return [inventory(out_dir), audit(out_dir), reviews(out_dir)]


if __name__ == "__main__":
    build_all()
