"""The shipped Word templates: built reproducibly, well-formed Chinese, in step with their schemas,
and rendered safely by docxtpl in a sandbox."""

from __future__ import annotations

import copy
import io
import re
import runpy
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docx
import jinja2
import jinja2.sandbox
import pytest
from docxtpl import DocxTemplate
from jinja2 import nodes
from lxml import etree

from docsvc.core.schema import TemplateSchema, list_shipped, load_schema
from docsvc.errors import InvalidInput

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
SLUGS = ["acceptance_report", "change_request", "contract", "service_plan", "sla"]
W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
TAG = re.compile(r"{{.*?}}|{%.*?%}")


def sandbox() -> jinja2.sandbox.SandboxedEnvironment:
    return jinja2.sandbox.SandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=True)


def render(schema: TemplateSchema, data: dict[str, Any]) -> docx.document.Document:
    """Validate, render as the service does, save, and reopen the result with python-docx."""
    assert schema.template_path is not None
    tpl = DocxTemplate(schema.template_path)
    tpl.render(schema.validate(data), jinja_env=sandbox(), autoescape=True)
    out = io.BytesIO()
    tpl.save(out)
    out.seek(0)
    return docx.Document(out)


def all_text(document: docx.document.Document) -> str:
    """Every paragraph of the body (tables included), headers and footers, one per line."""
    parts = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            parts += [c.text for c in row.cells]
    for section in document.sections:
        for hf in (section.header, section.footer):
            parts += [p.text for p in hf.paragraphs]
    return "\n".join(parts)


def xml_parts(path: Path) -> Iterator[tuple[str, bytes]]:
    """The parts docxtpl renders: the body, headers and footers."""
    with zipfile.ZipFile(path) as z:
        for name in z.namelist():
            if re.fullmatch(r"word/(document|header\d*|footer\d*)\.xml", name):
                yield name, z.read(name)


def schema_of(slug: str) -> TemplateSchema:
    return load_schema(TEMPLATES / slug)


# ---------------------------------------------------------------------------------------------
# Walking the Jinja AST: which context paths does a template use?


def template_paths(path: Path) -> set[str]:
    """Every context path the template reads, in the notation of ``field_paths()``.

    The XML is first preprocessed by docxtpl's own ``patch_xml`` (which turns ``{%tr`` and
    ``{%p`` tags into plain Jinja), then parsed; loop variables are resolved to ``list[]``.
    """
    tpl = DocxTemplate(path)
    tpl.init_docx()
    sources = [tpl.patch_xml(tpl.get_xml())]
    for uri in (tpl.HEADER_URI, tpl.FOOTER_URI):
        for _, part in tpl.get_headers_footers(uri):
            sources.append(tpl.patch_xml(tpl.get_part_xml(part)))
    used: set[str] = set()
    for source in sources:
        _visit(sandbox().parse(source), {}, used)
    return used


def _path_of(expr: nodes.Node, scope: dict[str, str]) -> str | None:
    if isinstance(expr, nodes.Name):
        return None if expr.name == "loop" else scope.get(expr.name, expr.name)
    if isinstance(expr, nodes.Getattr):
        base = _path_of(expr.node, scope)
        return f"{base}.{expr.attr}" if base else None
    if isinstance(expr, nodes.Getitem) and isinstance(expr.arg, nodes.Const) and isinstance(expr.arg.value, str):
        base = _path_of(expr.node, scope)
        return f"{base}.{expr.arg.value}" if base else None
    return None


def _is_loop_var(expr: nodes.Node) -> bool:
    while isinstance(expr, (nodes.Getattr, nodes.Getitem)):
        expr = expr.node
    return isinstance(expr, nodes.Name) and expr.name == "loop"


def _visit(node: nodes.Node, scope: dict[str, str], used: set[str]) -> None:
    if isinstance(node, nodes.For):
        _visit(node.iter, scope, used)
        assert isinstance(node.target, nodes.Name), "loops unpack one variable"
        inner = {**scope, node.target.name: f"{_path_of(node.iter, scope)}[]"}
        for child in [*node.body, *([node.test] if node.test else [])]:
            _visit(child, inner, used)
        for child in node.else_:
            _visit(child, scope, used)
        return
    if isinstance(node, (nodes.Name, nodes.Getattr, nodes.Getitem)):
        if _is_loop_var(node):
            return  # loop.index and friends come from Jinja, not the form
        path = _path_of(node, scope)
        if path is not None:
            used.add(path)
            return
    for child in node.iter_child_nodes():
        _visit(child, scope, used)


# ---------------------------------------------------------------------------------------------
# The files


def test_every_template_has_a_schema_and_the_builder_knows_it() -> None:
    assert sorted(p.parent.name for p in TEMPLATES.glob("*/template.docx")) == SLUGS
    assert [s.slug for s in list_shipped(TEMPLATES)] == SLUGS


@pytest.mark.slow
def test_committed_templates_are_what_the_builder_makes(tmp_path: Path) -> None:
    build_all = runpy.run_path(str(TEMPLATES / "build_templates.py"), run_name="build_templates")["build_all"]
    for path in build_all(tmp_path):
        committed = TEMPLATES / path.relative_to(tmp_path)
        assert path.read_bytes() == committed.read_bytes(), (
            f"{committed} is stale: run .venv/bin/python templates/build_templates.py"
        )


# ---------------------------------------------------------------------------------------------
# Template and schema agree


@pytest.mark.parametrize("slug", SLUGS)
def test_template_uses_only_declared_fields_and_every_field(slug: str) -> None:
    schema = schema_of(slug)
    used = template_paths(TEMPLATES / slug / "template.docx")
    sources = schema.field_sources()
    undeclared = used - set(sources)
    assert not undeclared, f"template uses undeclared names: {sorted(undeclared)}"
    leaves = {f.path for f in schema.iter_fields() if f.type not in ("group", "list")}
    unused = leaves - {sources[p] for p in used}
    assert not unused, f"schema declares fields the template never shows: {sorted(unused)}"


def test_the_walker_resolves_loops_and_nested_names() -> None:
    source = (
        "{% for row in payment_schedule %}{{ row.amount.amount_cn }}{{ loop.index }}"
        "{% endfor %}{% if party_a.name %}{{ total_fee['amount_cn'] }}{% endif %}"
    )
    used: set[str] = set()
    _visit(sandbox().parse(source), {}, used)
    assert used == {"payment_schedule", "payment_schedule[].amount.amount_cn", "party_a.name", "total_fee.amount_cn"}


# ---------------------------------------------------------------------------------------------
# The Word XML itself


@pytest.mark.parametrize("slug", SLUGS)
def test_every_run_is_chinese_with_east_asian_fonts(slug: str) -> None:
    for name, blob in xml_parts(TEMPLATES / slug / "template.docx"):
        root = etree.fromstring(blob)
        runs = root.iter(f"{W}r")
        for run in runs:
            if run.find(f"{W}t") is None:
                continue
            where = f"{slug}/{name}: {''.join(t.text or '' for t in run.iter(f'{W}t'))!r}"
            fonts = run.find(f"{W}rPr/{W}rFonts")
            lang = run.find(f"{W}rPr/{W}lang")
            assert fonts is not None and fonts.get(f"{W}eastAsia") in ("宋体", "黑体"), where
            assert lang is not None and lang.get(f"{W}eastAsia") == "zh-CN", where


# Property children in the order ECMA-376 prescribes. LibreOffice forgives any order; Word
# refuses to open a file whose properties are out of order.
SCHEMA_ORDER = {
    "pPr": "pStyle keepNext keepLines pageBreakBefore framePr widowControl numPr "
    "suppressLineNumbers pBdr shd tabs suppressAutoHyphens kinsoku wordWrap overflowPunct "
    "topLinePunct autoSpaceDE autoSpaceDN bidi adjustRightInd snapToGrid spacing ind "
    "contextualSpacing mirrorIndents suppressOverlap jc textDirection textAlignment "
    "textboxTightWrap outlineLvl divId cnfStyle rPr sectPr pPrChange",
    "rPr": "rStyle rFonts b bCs i iCs caps smallCaps strike dstrike outline shadow emboss imprint "
    "noProof snapToGrid vanish webHidden color spacing w kern position sz szCs highlight u "
    "effect bdr shd fitText vertAlign rtl cs em lang eastAsianLayout specVanish oMath",
    "tcPr": "cnfStyle tcW gridSpan hMerge vMerge tcBorders shd noWrap tcMar textDirection tcFitText vAlign hideMark",
    "trPr": "cnfStyle divId gridBefore gridAfter wBefore wAfter cantSplit trHeight tblHeader tblCellSpacing jc hidden",
}


@pytest.mark.parametrize("slug", SLUGS)
def test_properties_are_in_schema_order(slug: str) -> None:
    path = TEMPLATES / slug / "template.docx"
    with zipfile.ZipFile(path) as z:
        parts = {"word/styles.xml": z.read("word/styles.xml"), **dict(xml_parts(path))}
    for name, blob in parts.items():
        root = etree.fromstring(blob)
        for tag, order in SCHEMA_ORDER.items():
            sequence = order.split()
            for el in root.iter(f"{W}{tag}"):
                children = [etree.QName(c).localname for c in el]
                positions = [sequence.index(c) for c in children]  # unknown child: ValueError
                assert positions == sorted(positions), f"{slug}/{name} {tag}: {children}"


@pytest.mark.parametrize("slug", SLUGS)
def test_headings_use_heiti_and_body_songti(slug: str) -> None:
    document = docx.Document(TEMPLATES / slug / "template.docx")
    headings = [p for p in document.paragraphs if p.style.name.startswith("Heading")]
    assert len(headings) >= 5
    for p in headings:
        assert re.match(r"(第[一二三四五六七八九十]+条|\d+(\.\d+)?)\u3000", p.text), p.text
        for run in p.runs:
            assert run._r.rPr.rFonts.get(f"{W}eastAsia") == "黑体"
    body = [p for p in document.paragraphs if p.style.name == "Body Text" and p.runs]
    assert body and all(r._r.rPr.rFonts.get(f"{W}eastAsia") == "宋体" for p in body for r in p.runs)


@pytest.mark.parametrize("slug", SLUGS)
def test_every_jinja_tag_sits_in_one_run(slug: str) -> None:
    for name, blob in xml_parts(TEMPLATES / slug / "template.docx"):
        root = etree.fromstring(blob)
        whole = 0
        for t in root.iter(f"{W}t"):
            text = t.text or ""
            whole += len(TAG.findall(text))
            rest = TAG.sub("", text)
            assert not re.search(r"{{|}}|{%|%}|{#|#}", rest), f"{slug}/{name}: split tag in {text!r}"
        paragraphs = "".join("".join(t.text or "" for t in p.iter(f"{W}t")) + "\n" for p in root.iter(f"{W}p"))
        assert len(TAG.findall(paragraphs)) == whole  # no tag spans two runs


@pytest.mark.parametrize("slug", SLUGS)
def test_header_has_number_and_footer_has_page_x_of_y(slug: str) -> None:
    document = docx.Document(TEMPLATES / slug / "template.docx")
    section = document.sections[0]
    header = "".join(p.text for p in section.header.paragraphs)
    assert re.search(r"编号：{{ \w+_no }}", header), header
    footer = section.footer.paragraphs[0]
    assert footer.text.replace(" ", "").startswith("第") and "页共" in footer.text.replace(" ", "")
    instructions = [t.text.strip() for t in footer._p.iter(f"{W}instrText")]
    assert instructions == ["PAGE", "NUMPAGES"]
    # A4, within Word's twip rounding
    assert abs(section.page_width - docx.shared.Cm(21)) < docx.shared.Mm(0.1)
    assert abs(section.page_height - docx.shared.Cm(29.7)) < docx.shared.Mm(0.1)


def test_contract_has_the_articles_of_spec_7_1() -> None:
    document = docx.Document(TEMPLATES / "contract" / "template.docx")
    headings = [p.text for p in document.paragraphs if p.style.name == "Heading 1"]
    for needed in (
        "甲方的权利和义务",
        "乙方的权利和义务",
        "违约责任",
        "争议解决",
        "服务等级",
        "其他",
        "服务验收",
        "转包分包",
        "数据安全与个人信息保护",
        "通知与送达",
    ):
        assert any(needed in h for h in headings), needed
    assert headings[0].startswith("第一条")
    body = "\n".join(p.text for p in document.paragraphs)
    assert "规范第" not in body and "管理范畴" not in body, "no spec annotations in legal text"


def test_plan_follows_spec_7_2_3_and_sla_spec_8_1_2() -> None:
    plan = [
        p.text
        for p in docx.Document(TEMPLATES / "service_plan" / "template.docx").paragraphs
        if p.style.name == "Heading 1"
    ]
    for item in (
        "服务类别和等级",
        "需求和内容",
        "管理目标",
        "技术和方法",
        "实施过程",
        "人员的职责",
        "工作制度",
        "质量和安全控制",
        "培训",
    ):
        assert any(item in h for h in plan), item
    sla = [p.text for p in docx.Document(TEMPLATES / "sla" / "template.docx").paragraphs if p.style.name == "Heading 1"]
    for item in (
        "用户需求",
        "服务目标",
        "服务职责",
        "服务类型和内容",
        "响应和应急",
        "服务质量",
        "服务费",
        "测量与报告",
        "免责情形",
        "修订",
    ):
        assert any(item in h for h in sla), item


# ---------------------------------------------------------------------------------------------
# Rendering


def expected_strings(schema: TemplateSchema, ctx: dict[str, Any]) -> Iterator[str]:
    """How each filled value should appear in the rendered document."""

    def scalar(fields, values) -> Iterator[str]:
        for f in fields:
            value = values[f.name]
            if f.type == "group":
                yield from scalar(f.fields, value)
            elif f.type == "list":
                for row in value:
                    yield from scalar(f.fields, row)
            elif f.type == "longtext":
                yield from values[f"{f.name}_items"]  # each line, without its own enumerator
            elif f.type == "date" and value:
                yield values[f"{f.name}_cn"]
            elif f.type == "money" and value:
                yield value["amount_grouped"]
            elif f.type in ("text", "integer", "percent") and value not in ("", None):
                yield str(value)
            # enums are shown by label or steer a branch; checked per template below

    return scalar(schema.fields, ctx)


@pytest.mark.parametrize("slug", SLUGS)
def test_sample_renders_with_every_value(slug: str) -> None:
    schema = schema_of(slug)
    text = all_text(render(schema, schema.sample()))
    ctx = schema.validate(schema.sample())
    missing = [s for s in expected_strings(schema, ctx) if s not in text]
    assert not missing, missing
    assert "{{" not in text and "{%" not in text
    assert ctx["service_category_cn"] in text


def test_contract_render_shows_parties_rows_and_chinese_amount() -> None:
    contract = schema_of("contract")
    document = render(contract, contract.sample())
    text = all_text(document)
    assert "甲方（委托方）：大连长兴湾物流集团有限公司" in text
    assert "乙方（服务方）：大连智汇云帆信息技术有限公司" in text
    assert "人民币（大写）肆拾捌万陆仟伍佰元整（¥486,500.00）" in text and "CNY" not in text
    assert "委托代理人：王晓丽" in text and "电子邮箱：contracts@zhyf-it.cn" in text
    assert (
        "（本页无正文，为《大连长兴湾物流集团信息系统运营和维护服务合同》（编号：ZHYF-HT-2026-0315）之签署页）" in text
    )
    assert "本合同于大连市高新技术产业园区签订" in text and "一式肆份，甲乙双方各执贰份" in text
    assert "乙方经甲方事先书面同意，可以将非主体部分的服务分包" in text
    assert "《中华人民共和国个人信息保护法》" in text and "本合同终止或解除后30日内" in text
    # one numbering scheme: the project's own duties continue the article's clauses
    assert "6.4　甲方应指定信息中心专人" in text and "6.5　甲方应在收到月度服务报告后" in text
    assert "（一）" not in text
    assert "提交大连仲裁委员会" in text and "《服务等级协议》（编号：ZHYF-SLA-2026-0315）" in text
    table = next(t for t in document.tables if t.rows[0].cells[0].text == "期次")
    rows = [[c.text for c in row.cells] for row in table.rows]
    assert rows[0][3] == "金额（元）"
    assert rows[1] == ["第一期", "本合同生效后 15 个工作日内", "30%", "145,950.00", "2026年3月20日"]
    assert rows[3][0] == "第三期" and rows[4][:4] == ["合计", "", "100%", "486,500.00"]
    assert len(rows) == 5
    header = document.sections[0].header.paragraphs[0].text
    assert "合同编号：ZHYF-HT-2026-0315" in header


def test_contract_branches() -> None:
    contract = schema_of("contract")
    data = contract.sample()
    data.update(
        sla_reference="",
        dispute_resolution="court",
        subcontracting="forbidden",
        personal_info=False,
        dispute_venue="甲方所在地有管辖权的人民法院",
        sign_date=None,
        project_name="",
        party_b_duties="",
        breach_liability="",
    )
    data["party_a"]["agent"] = ""
    text = all_text(render(contract, data))
    assert "本合同生效后三十日内签订服务等级协议" in text
    assert "本合同附件：双方依第四条签订的服务等级协议" in text
    assert "向甲方所在地有管辖权的人民法院提起诉讼" in text and "仲裁" not in text
    assert "乙方亦不得将本合同项下的任何服务分包给第三方" in text
    assert "本合同不涉及乙方受托处理个人信息" in text
    assert "委托代理人：" not in text and "签订日期为" not in text
    assert "项目名称" not in text
    # after an empty list of clauses the numbering goes on without a gap
    assert "13.4　除前款情形" in text and "13.5" not in text


def test_defaults_are_shown_and_listed_never_silent() -> None:
    contract = schema_of("contract")
    data = contract.sample()
    for key in ("confidentiality_years", "late_fee_rate", "late_fee_cap", "copies", "copies_each"):
        del data[key]
    checked = contract.check(data)
    assert [d.field for d in checked.defaults] == [
        "confidentiality_years",
        "late_fee_rate",
        "late_fee_cap",
        "copies",
        "copies_each",
    ]
    warning = checked.warnings[0]
    assert "保密期限" in warning.zh or "confidentiality" in warning.en.lower()
    assert "合同份数：4" in warning.zh and "Number of originals: 4" in warning.en
    text = all_text(render(contract, data))
    assert "违约金总额不超过合同总价款的5%" in text and "在本合同终止后3年内" in text
    # with legal weight and no sensible default: the drafter must choose
    for key in ("sign_place", "tax_rate", "subcontracting", "personal_info"):
        bad = contract.sample()
        del bad[key]
        with pytest.raises(InvalidInput) as exc:
            contract.validate(bad)
        assert exc.value.details["errors"][0]["field"] == key


def test_other_templates_branches() -> None:
    report = schema_of("acceptance_report")
    data = report.sample()
    data.update(issues="", measured_availability=None, sla_reference="")
    text = all_text(render(report, data))
    assert "遗留问题及整改要求\n无。" in text
    # no availability line and no fallback sentence that could contradict the checks table
    assert "可用性为" not in text and "不涉及可用性" not in text and "服务等级协议（编号" not in text
    assert "6.1　可靠性" in text
    change = schema_of("change_request")
    data = change.sample()
    del data["cost_impact"]
    data.update(service_interruption=False, downtime_window="", cab_conclusion=None)
    text = all_text(render(change, data))
    assert "本变更不涉及费用调整" in text and "服务中断\n否" in text
    assert "☐同意实施　☐有条件同意" in text, "an open decision prints open boxes to tick by hand"
    text = all_text(render(change, change.sample()))
    assert "叁万捌仟陆佰元整（¥38,600.00）" in text and "一般变更" in text and "信息系统基础架构" in text
    assert "☑同意实施　☐有条件同意" in text and "☐成功　☐部分成功" in text
    assert "CI-SRV-0231" in text and "测试与验证方案" in text and "本人确认以上内容真实、完整。" in text
    assert "停机窗口：2026-06-20 22:00 至 2026-06-21 02:00" in text
    sla = schema_of("sla")
    text = all_text(render(sla, sla.sample()))
    assert "P1 紧急" in text and "不低于99.9%" in text and "每6个月" in text
    assert "下一次评审日期为2026年8月31日" in text
    assert "5 个工作日" in text and "工作时间" in text and "7×24 小时" in text
    assert "合计不超过当月服务费的20%" in text and "孙丽娟（服务总监）" in text
    assert "每月5日前" in text


def test_acceptance_report_lists_deliverables_team_and_method() -> None:
    report = schema_of("acceptance_report")
    document = render(report, report.sample())
    text = all_text(document)
    assert "系统资产清单及配置记录" in text and "数据核验：" in text
    team = next(t for t in document.tables if t.rows[0].cells[1].text == "姓名")
    assert [c.text for c in team.rows[1].cells][1:4] == ["赵国栋", "大连长兴湾物流集团有限公司", "组长"]
    assert team.rows[0].cells[4].text == "签字"


def test_plan_prints_the_archive_version_with_its_history() -> None:
    plan = schema_of("service_plan")
    data = plan.sample()
    data["revisions"] = data["revisions"] + [
        {"date": "2026-09-01", "author": "李明", "description": "按年中服务评审调整里程碑"}
    ]
    with pytest.raises(InvalidInput) as exc:
        plan.validate(data)  # a preview is version 1: two history rows do not fit
    assert exc.value.details["errors"][0]["field"] == "revisions"
    ctx = plan.check(data, archive_version=2).context
    assert ctx["archive_version"] == 2
    tpl = DocxTemplate(plan.template_path)
    tpl.render(ctx, jinja_env=sandbox(), autoescape=True)
    out = io.BytesIO()
    tpl.save(out)
    document = docx.Document(io.BytesIO(out.getvalue()))
    text = all_text(document)
    assert "版　　本：V2.0" in text and "V1.0" in text and "按年中服务评审调整里程碑" in text
    header = document.sections[0].header.paragraphs[0].text
    assert header.endswith("V2.0")


def test_no_template_numbers_a_clause_twice() -> None:
    """One numbering scheme: every numbered paragraph of a rendered sample is unique."""
    for slug in SLUGS:
        schema = schema_of(slug)
        document = render(schema, schema.sample())
        numbers = [m.group(1) for p in document.paragraphs if (m := re.match(r"(\d+(?:\.\d+)+)\u3000", p.text))]
        assert numbers and len(numbers) == len(set(numbers)), (slug, numbers)


def test_a_long_table_renders_every_row() -> None:
    plan = schema_of("service_plan")
    data = plan.sample()
    data["milestones"] = [
        {"name": f"第{i}阶段", "deliverables": "阶段报告", "due_date": "2026-06-30", "owner": "张伟"}
        for i in range(1, 31)
    ]
    document = render(plan, data)
    table = next(t for t in document.tables if t.rows[0].cells[1].text == "里程碑")
    assert len(table.rows) == 31 and table.rows[30].cells[0].text == "30"


def test_markup_in_values_renders_literally() -> None:
    contract = schema_of("contract")
    data = copy.deepcopy(contract.sample())
    hostile = "A & B </w:t><w:p>{{7*7}}"
    data["party_a"]["name"] = hostile
    data["payment_schedule"][0]["condition"] = "{% for x in range(10**9) %}x{% endfor %}"
    data["service_content"] = "<w:br/>第一段\n{{ party_b.name }}"
    document = render(contract, data)
    text = all_text(document)
    assert f"甲方（委托方）：{hostile}" in text
    assert "{% for x in range(10**9) %}x{% endfor %}" in text
    assert "<w:br/>第一段" in text and "{{ party_b.name }}" in text
    assert "49" not in text.replace("486,500.00", "")


def test_the_sandbox_blocks_template_code() -> None:
    """A template (not a value) that reaches for Python internals fails to render."""
    env = sandbox()
    with pytest.raises(jinja2.exceptions.SecurityError):
        env.from_string("{{ ''.__class__.__mro__[1].__subclasses__() }}").render()
