"""Onboarding a Chinese model contract: Chinese tag names and ☐ tick boxes are accepted, lint
passes, a schema is drafted from the tags, and the template registers and generates — with the
example in templates/examples (our own text in the style of the national model contracts)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import docx
import pytest
from click.testing import CliRunner

from docsvc.app import open_docsvc
from docsvc.core.schema import load_schema

EXAMPLE = Path(__file__).resolve().parents[1] / "templates" / "examples" / "数据处理服务合同（示范式样）.docx"


@pytest.fixture
def svc(config):
    s = open_docsvc(config)
    yield s
    s.close()


def test_the_example_lints_clean_with_chinese_names_and_tick_boxes(svc) -> None:
    report = svc.templates.lint(EXAMPLE.read_bytes(), None)
    assert report.ok and report.issues == ()


def test_a_drafted_schema_registers_and_generates(svc) -> None:
    data = EXAMPLE.read_bytes()
    draft = svc.templates.draft_schema(data, slug="data_processing", name_zh="数据处理服务合同")
    schema = load_schema(draft)
    kinds = {f.path: f.type for f in schema.iter_fields()}
    assert kinds["甲方.名称"] == "text" and kinds["开始日期"] == "date" and kinds["返还天数"] == "integer"
    assert kinds["数据收集"] == "boolean" and kinds["报告时限小时数"] == "integer"
    assert [c.code for c in schema.field("争议解决方式").choices] == ["仲裁", "诉讼"]
    assert schema.field("甲方.名称").label_zh == "名称" and schema.metadata["counterparty"] == "甲方.名称"
    assert svc.templates.lint(data, schema).issues == ()  # title and category feed the archive

    template = svc.templates.add(data, draft, actor="管理员")
    form = schema.sample()
    form.update(
        {
            "争议解决方式": "诉讼",
            "管辖法院": "大连市中级人民法院",
            "数据加工": "否",
            "含重要数据": False,
            "合同编号": "SJCL-2026-001",
        }
    )
    form["甲方"]["名称"] = "大连长兴湾物流集团有限公司"
    result = svc.templates.generate(template.slug, form, actor="起草人")
    body = docx.Document(io.BytesIO(svc.archive.read_version(result.document.id, actor="a")[1]))
    text = "\n".join(p.text for p in body.paragraphs)
    cells = "\n".join(c.text for t in body.tables for r in t.rows for c in r.cells)
    assert "☐仲裁，提交" in text and "☑诉讼，向大连市中级人民法院提起诉讼" in text
    assert "☑收集　☑存储　☐加工　☑分析" in cells and "☑含个人信息　☐含重要数据" in cells
    assert "委托方（甲方）：大连长兴湾物流集团有限公司" in text
    assert result.document.metadata.counterparty == "大连长兴湾物流集团有限公司"


def test_cli_add_without_a_schema_drafts_one(config, tmp_path) -> None:
    from docsvc.cli import cli

    env = {f"DOCSVC_{k}": v for k, v in config.items()}
    target = tmp_path / EXAMPLE.name
    target.write_bytes(EXAMPLE.read_bytes())
    runner = CliRunner()
    result = runner.invoke(cli, ["template", "add", str(target), "--name", "data_processing"], env=env)
    assert result.exit_code == 1, result.output
    drafted = target.with_name(target.stem + ".schema.json")
    assert drafted.is_file() and "模板尚未登记" in result.output and "--schema" in result.output
    again = runner.invoke(cli, ["template", "add", str(target), "--name", "data_processing"], env=env)
    assert again.exit_code == 2 and "未覆盖" in again.stderr  # never overwrites the drafter's work
    added = runner.invoke(cli, ["template", "add", str(target), "--schema", str(drafted), "--json"], env=env)
    assert added.exit_code == 0, added.output
    assert json.loads(added.output)["slug"] == "data_processing"


def test_lint_cli_prints_places_and_fixes(config, tmp_path) -> None:
    from docsvc.cli import cli

    d = docx.Document()
    d.add_paragraph("甲方：{{ 甲方（委托方）名称 }}")
    d.add_paragraph("{% if 仲裁 %}提交仲裁")
    table = d.add_table(rows=1, cols=2)
    table.cell(0, 1).text = "{{ partyB }}"
    path = tmp_path / "草稿.docx"
    d.save(path)
    env = {f"DOCSVC_{k}": v for k, v in config.items()}
    result = CliRunner().invoke(cli, ["template", "lint", str(path)], env=env)
    assert result.exit_code == 1
    out = result.output
    assert "正文 第 1 段" in out and "正文 第 2 段" in out and "表格 1 第 1 行第 2 列" in out
    assert "建议 fix" in out and "改为 party_b" in out and "{% endif %}" in out
    assert "共 3 个错误" in out


def test_the_web_form_offers_yes_or_no_for_a_tick_box(svc) -> None:
    from docsvc.web.schema_form import build_form, data_from_form

    draft = svc.templates.draft_schema(EXAMPLE.read_bytes(), slug="data_processing", name_zh="数据处理服务合同")
    schema = load_schema(draft)
    widgets, _errors = build_form(schema, schema.sample(), {}, en=False)
    box = next(w for w in widgets if w.name == "数据收集")
    assert box.kind == "enum" and box.choices == [("true", "是"), ("false", "否")] and box.value == "true"
    choice = next(w for w in widgets if w.name == "争议解决方式")
    assert [c for c, _ in choice.choices] == ["仲裁", "诉讼"]
    posted = data_from_form(schema, {"数据收集": "false", "争议解决方式": "诉讼"})
    assert posted["数据收集"] == "false" and posted["争议解决方式"] == "诉讼"
