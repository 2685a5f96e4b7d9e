"""docsvc template list | show | fields | sample | lint | add, and docsvc generate."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import click

from docsvc import errors
from docsvc.cli import (
    KEY,
    Context,
    cli,
    echo,
    emit_json,
    force_option,
    handled,
    json_option,
    output_paths,
    pass_ctx,
    read_file,
    refuse_existing,
    write_generated,
    write_version_files,
)
from docsvc.core.filenames import document_filename
from docsvc.core.tabular import read_numbered
from docsvc.services import batch
from docsvc.services.templates import BatchResult, lint_dict
from docsvc.services.users import Permission


@cli.group()
def template() -> None:
    """Word 模板 / Word templates."""


@template.command("list")
@json_option
@pass_ctx
@handled
def template_list(ctx: Context, as_json: bool) -> None:
    """列出模板（各取最新版本）/ list templates (latest versions)."""
    items = ctx.guard.templates()
    if as_json:
        emit_json([t.to_dict() for t in items])
        return
    for t in items:
        echo(f"{t.slug:<20} v{t.version:<3} {t.record.name_zh}（规范 {t.schema.spec_ref}） {t.record.name_en}")


@template.command("show")
@click.argument("slug")
@click.option(
    "--version", type=KEY, default=None, help="模板版本号（默认当前版本）/ template version (default current)"
)
@json_option
@pass_ctx
@handled
def template_show(ctx: Context, slug: str, version: int | None, as_json: bool) -> None:
    """模板详情与版本历史 / a template and its versions."""
    t = ctx.guard.template(slug, version=version)
    # The version history is for template managers, as on the web's template page.
    versions = ctx.guard.template_versions(slug) if ctx.guard.p.can(Permission.MANAGE_TEMPLATES) else [t]
    if as_json:
        emit_json({**t.to_dict(), "versions": [v.record.to_dict() for v in versions]})
        return
    echo(f"{t.record.name_zh} / {t.record.name_en}（{t.slug}，规范 {t.schema.spec_ref}）")
    echo(t.schema.description_zh)
    for v in versions:
        issues = len(v.record.lint.get("issues", []))
        echo(
            f"  v{v.version}  {v.record.created_at:%Y-%m-%d %H:%M}  {v.record.created_by}  "
            f"sha256:{v.record.sha256[:12]}…  检查提示 {issues} 条"
        )


@template.command("fields")
@click.argument("slug")
@click.option(
    "--version", type=KEY, default=None, help="模板版本号（默认当前版本）/ template version (default current)"
)
@json_option
@pass_ctx
@handled
def template_fields(ctx: Context, slug: str, version: int | None, as_json: bool) -> None:
    """模板字段（名称、中英文标签、类型、必填）/ the template's form fields."""
    t = ctx.guard.template(slug, version=version)
    fields = list(t.schema.iter_fields())
    if as_json:
        emit_json(
            [
                {"path": f.path, "label_zh": f.label_zh, "label_en": f.label_en, "type": f.type, "required": f.required}
                for f in fields
            ]
        )
        return
    for f in fields:
        echo(f"{f.path:<40} {f.type:<9} {'必填' if f.required else '选填'}  {f.label_zh} / {f.label_en}")


@template.command("sample")
@click.argument("slug")
@click.option(
    "--version", type=KEY, default=None, help="模板版本号（默认当前版本）/ template version (default current)"
)
@pass_ctx
@handled
def template_sample(ctx: Context, slug: str, version: int | None) -> None:
    """打印一份完整的示例表单数据（JSON）/ print complete example form data as JSON."""
    emit_json(ctx.guard.template(slug, version=version).schema.sample())


def _load_schema_file(path: str | None) -> dict[str, Any] | None:
    if path is None:
        return None
    try:
        return json.loads(read_file(path).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise errors.InvalidInput(
            f"字段定义文件“{path}”不是有效的 UTF-8 JSON：{exc}",
            f"Schema file '{path}' is not valid UTF-8 JSON: {exc}",
            field="schema",
        ) from None


def _print_lint(report: dict[str, Any]) -> None:
    for issue in report["issues"]:
        tag = "错误 ERROR" if issue["severity"] == "error" else "警告 WARN"
        echo(
            f"[{tag}] {issue['code']}: {issue['message']}\n        {issue['message_en']}\n"
            f"        位置 at: {issue['location'] or '—'}"
        )
        if issue.get("fix"):
            echo(f"        建议 fix: {issue['fix']}\n                  {issue['fix_en']}")
    errors = sum(1 for i in report["issues"] if i["severity"] == "error")
    echo(
        f"共 {errors} 个错误、{len(report['issues']) - errors} 个提示 / {errors} error(s), "
        f"{len(report['issues']) - errors} warning(s)"
    )
    echo("检查通过 / lint passed" if report["ok"] else "检查未通过 / lint failed")


@template.command("lint")
@click.argument("file")
@click.option("--schema", "schema_path", default=None, help="字段定义 schema.json / the field schema")
@json_option
@pass_ctx
@handled
def template_lint(ctx: Context, file: str, schema_path: str | None, as_json: bool) -> None:
    """检查一个 Word 模板（不登记）/ lint a Word template without adding it."""
    report = lint_dict(ctx.guard.lint_template(read_file(file), _load_schema_file(schema_path)))
    if as_json:
        emit_json(report)
    else:
        _print_lint(report)
    if not report["ok"]:
        sys.exit(1)


@template.command("add")
@click.argument("file")
@click.option("--schema", "schema_path", default=None, help="字段定义 schema.json（新模板必填）")
@click.option("--name", "slug", default=None, help="模板名（slug）；为已有模板添加新版本时使用")
@json_option
@pass_ctx
@handled
def template_add(ctx: Context, file: str, schema_path: str | None, slug: str | None, as_json: bool) -> None:
    """登记新模板或模板新版本（须通过检查）/ add a template or a new version (lint must pass).

    A new template without --schema: a schema is drafted from its tags into FILE.schema.json
    for the drafter to complete, and nothing is registered yet."""
    if schema_path is None and not (slug and _exists(ctx, slug)):
        _draft_schema(ctx, file, slug, as_json)
        return
    try:
        t = ctx.guard.add_template(read_file(file), _load_schema_file(schema_path), slug=slug).template
    except errors.TemplateError as exc:
        if "lint" in exc.details and not as_json:
            _print_lint(exc.details["lint"])
        raise
    if as_json:
        emit_json(t.to_dict())
    else:
        echo(f"已登记模板 {t.slug} 第 {t.version} 版 / template {t.slug} v{t.version} registered.")
        if t.record.lint.get("issues"):
            _print_lint(t.record.lint)


def _exists(ctx: Context, slug: str) -> bool:
    try:
        ctx.guard.template(slug)
    except errors.NotFound:
        return False
    return True


def _draft_schema(ctx: Context, file: str, slug: str | None, as_json: bool) -> None:
    source = Path(file)
    slug = slug or re.sub(r"[^a-z0-9_]+", "_", source.stem.lower()).strip("_").lstrip("0123456789_")
    if not slug:
        raise errors.InvalidInput(
            "无法从文件名得出模板名：请用 --name 指定（小写字母、数字和下划线），例如 --name data_processing。",
            "Cannot derive a template name from the file name: give one with --name (lower-case "
            "letters, digits and _), e.g. --name data_processing.",
            field="name",
        )
    target = source.with_name(source.stem + ".schema.json")
    if target.exists():
        raise errors.InvalidInput(
            f"“{target}”已存在，未覆盖：完成后请运行 docsvc template add {file} --schema {target}。",
            f"'{target}' exists and was not overwritten: when it is complete, run "
            f"docsvc template add {file} --schema {target}.",
            field="schema",
        )
    draft = ctx.guard.draft_template_schema(read_file(file), slug=slug, name_zh=source.stem)
    try:
        target.write_text(json.dumps(draft, ensure_ascii=False, indent=2) + "\n", "utf-8")
    except OSError as exc:
        raise errors.InvalidInput(
            f"无法写入“{target}”：{exc.strerror or exc}。",
            f"Cannot write '{target}': {exc.strerror or exc}.",
            field="schema",
        ) from None
    fields = len(draft["fields"])
    if as_json:
        emit_json({"drafted": str(target), "fields": fields, "registered": False})
    else:
        echo(
            f"模板尚未登记：已根据模板标签起草字段定义 {target}（{fields} 个字段）。请核对每个字段的类型、"
            f"是否必填、英文标签和示例，然后运行：\n  docsvc template add {file} --schema {target}\n"
            f"Not registered yet: a schema with {fields} fields was drafted from the template's tags "
            f"into {target}. Check each field's type, whether it is required, its English label and "
            f"example, then run the command above."
        )
    sys.exit(1)


def _load_data(path: str) -> dict[str, Any]:
    raw = sys.stdin.buffer.read() if path == "-" else read_file(path)
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise errors.InvalidInput(
            f"表单数据文件不是有效的 UTF-8 JSON：{exc}",
            f"The form data file is not valid UTF-8 JSON: {exc}",
            field="data",
        ) from None
    if not isinstance(data, dict):
        raise errors.InvalidInput("表单数据应为 JSON 对象。", "Form data must be a JSON object.", field="data")
    return data


@cli.command()
@click.argument("slug")
@click.option("--data", "data_path", default=None, help="表单数据 JSON 文件（- 为标准输入）/ form data JSON")
@click.option("--batch", "batch_path", default=None, help="批量：CSV 或 XLSX，每行一份文档 / one document per row")
@click.option(
    "--skip-invalid",
    is_flag=True,
    help="批量：有错误的行跳过，只生成无误的行（默认有错误则一份也不生成）/ batch: generate the valid rows only",
)
@click.option("--pdf", is_flag=True, help="同时生成 PDF / also produce the PDF")
@click.option("--pdfa", is_flag=True, help="PDF 采用 PDF/A-2b 长期存档格式（用于归档签署件）/ the PDF as PDF/A-2b")
@click.option("--doc", "document_id", type=KEY, default=None, help="作为该文档的新版本 / as a new version of")
@click.option("--reason", default="", help="变更原因（--doc 时必填）/ change reason")
@click.option("--template-version", type=KEY, default=None, help="使用指定模板版本 / template version")
@click.option(
    "-o",
    "--output",
    default=None,
    help="另存生成的 DOCX（及 PDF）：目录或文件；批量时为目录 / also write the DOCX (and PDF) here",
)
@force_option
@json_option
@pass_ctx
@handled
def generate(
    ctx: Context,
    slug: str,
    data_path: str | None,
    batch_path: str | None,
    skip_invalid: bool,
    pdf: bool,
    pdfa: bool,
    document_id: int | None,
    reason: str,
    template_version: int | None,
    output: str | None,
    force: bool,
    as_json: bool,
) -> None:
    """由模板和表单数据生成文档并归档 / generate a document from a template and archive it."""
    if (data_path is None) == (batch_path is None):
        raise errors.InvalidInput(
            "请二选一：--data 表单数据文件，或 --batch 批量文件。",
            "Give exactly one of --data (form data) or --batch (CSV/XLSX).",
        )
    if batch_path is not None:
        _generate_batch(
            ctx,
            slug,
            batch_path,
            pdf=pdf or pdfa,
            pdf_a=pdfa,
            output=output,
            force=force,
            as_json=as_json,
            skip_invalid=skip_invalid,
        )
        return
    target = Path(output) if output else None
    if target is not None and not target.is_dir() and not target.parent.is_dir():
        raise errors.InvalidInput(
            f"输出位置“{target.parent}”不是已有目录。",
            f"The output folder '{target.parent}' does not exist.",
            field="output",
        )
    gd = ctx.guard
    draft = gd.prepare(slug, _load_data(data_path), version=template_version, document_id=document_id, reason=reason)
    if target is not None:
        refuse_existing(output_paths(target, document_filename(draft.title, "docx"), pdf=pdf or pdfa), force=force)
    generated = gd.generate_draft(draft, pdf=pdf or pdfa, pdf_a=pdfa)
    result = generated.result
    ctx.sync_index()
    written = write_generated(ctx, generated, target, force=force)
    warnings = [w.to_dict() for w in draft.warnings]
    if as_json:
        emit_json(
            {
                "document": result.document.to_dict(),
                "version": result.version.to_dict(),
                "created": result.created,
                "renditions": [r.to_dict() for r in generated.renditions],
                "written": written,
                "warnings": warnings,
            }
        )
        return
    if result.created:
        echo(
            f"已生成并归档文档 {result.document.id} 第 {result.version.number} 版：{result.document.metadata.title}"
            f" / generated document {result.document.id} v{result.version.number}"
        )
    else:
        echo(
            f"内容与文档 {result.document.id} 第 {result.version.number} 版相同，未新增版本"
            f" / identical to document {result.document.id} v{result.version.number}; no version added"
        )
    for path in written:
        echo(f"  已写出 written: {path}")
    for w in warnings:
        link = f"（{w['link']}）" if w.get("link") else ""
        echo(f"[警告 WARN] {w['field'] + '：' if w['field'] else ''}{w['zh']}{link}\n        {w['en']}", err=True)


def _generate_batch(
    ctx: Context,
    slug: str,
    path: str,
    *,
    pdf: bool,
    pdf_a: bool,
    output: str | None,
    force: bool,
    as_json: bool,
    skip_invalid: bool = False,
) -> None:
    target = Path(output) if output else None
    if target is not None and not target.is_dir():
        raise errors.InvalidInput(
            f"批量生成时 -o 应为已有目录：“{target}”不是目录。",
            f"With --batch, -o must be an existing folder; '{target}' is not one.",
            field="output",
        )
    # The same reading as the web's batch page: headers are field labels or paths, and each row
    # keeps its number in the spreadsheet (header = row 1), so errors name the row Excel shows.
    gd = ctx.guard
    template = gd.batch_template(slug)
    rows = read_numbered(read_file(path), schema=template.schema)
    # As on the web: every row checked first, and by default nothing generated while one is invalid.
    invalid = gd.check_batch(template, rows)
    if invalid and not skip_invalid:
        refused = batch.invalid_rows(template, invalid)
        if not as_json:
            for r in refused.details["rows"]:
                for e in r["errors"]:
                    echo(f"第 {r['row']} 行 row {r['row']}：{e['zh']}\n        {e['en']}", err=True)
        raise refused
    skipped = {i.row: i for i in invalid}  # --skip-invalid: reported with the others, never generated
    valid = [r for r in rows if r.number not in skipped]
    with click.progressbar(length=len(valid), label="批量生成 generating", file=sys.stderr) as bar:
        made = gd.generate_batch(template, valid, pdf=pdf, pdf_a=pdf_a, on_item=lambda _item: bar.update(1))
    result = BatchResult(sorted([*made.items, *skipped.values()], key=lambda i: i.row))
    ctx.sync_index()
    written: dict[int, list[str]] = {}
    write_errors: dict[int, errors.DocsvcError] = {}
    if target is not None:
        used: set[str] = set()
        for item in result.items:
            if not item.ok:
                continue
            name = next(v for v in gd.show(item.document_id)[1] if v.number == item.version).original_filename
            if name in used:  # two rows with one title: both files, each named after its row
                stem, _dot, ext = name.rpartition(".")
                name = f"{stem}（第{item.row}行）.{ext}"
            used.add(name)
            try:
                written[item.row] = write_version_files(
                    ctx, item.document_id, item.version, target, pdf=pdf, force=force, name=name
                )
            except errors.DocsvcError as exc:  # archived, but not written: say so for this row
                write_errors[item.row] = exc
    if as_json:
        emit_json(
            {
                "succeeded": result.succeeded,
                "failed": result.failed,
                "items": [
                    {
                        "row": i.row,
                        "document_id": i.document_id,
                        "version": i.version,
                        "error": i.error,
                        "written": written.get(i.row, []),
                        **({"write_error": write_errors[i.row].to_dict()} if i.row in write_errors else {}),
                    }
                    for i in result.items
                ],
            }
        )
    else:
        for item in result.items:
            if item.ok:
                echo(f"第 {item.row} 行：文档 {item.document_id} / row {item.row}: document {item.document_id}")
                for p in written.get(item.row, []):
                    echo(f"    已写出 written: {p}")
                if item.row in write_errors:
                    problem = write_errors[item.row]
                    echo(f"    未写出 not written：{problem.zh} / {problem.en}")
            else:
                echo(
                    f"第 {item.row} 行失败 row {item.row} failed：{item.error['message']} / {item.error['message_en']}"
                )
                for e in item.error.get("details", {}).get("errors", []):
                    echo(f"    - {e.get('field')}: {e.get('zh')} / {e.get('en')}")
        echo(
            f"成功 {result.succeeded} 份，失败 {result.failed} 行 / {result.succeeded} generated, "
            f"{result.failed} failed"
        )
    if result.failed or write_errors:
        sys.exit(1 if result.succeeded else 2)
