"""docsvc field list | add | edit | retire | restore: custom fields per document type, through the
same use case and rules as the web page and the API (docsvc.services.fields; administrators
define them, everyone reads them). Values are given with ``--field KEY=VALUE`` on ``docsvc doc
add``, ``doc set`` and ``doc list`` (helpers here). Run as a docsvc user with ``--as USERNAME``."""

from __future__ import annotations

from typing import Any

import click

from docsvc import errors
from docsvc.cli import Context, cli, echo, emit_json, handled, json_option, pad, pass_ctx, shown
from docsvc.core.fields import FILTER_PREFIX, FieldDefinition, FieldKind, display_value
from docsvc.core.model import Document
from docsvc.services.fields import Fields


def _fields(ctx: Context) -> Fields:
    return ctx.guard.fields


def field_pairs(pairs: tuple[str, ...] | list[str]) -> dict[str, str]:
    """``KEY=VALUE`` pairs (``--field``) as key → value; an empty value clears a field."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if key.startswith(FILTER_PREFIX):
            key = key[len(FILTER_PREFIX) :]
        if not sep or not key:
            raise errors.InvalidInput(
                f"“{pair}”格式不对，应为 字段代码=值，例如 contract_value=48.6万。",
                f"'{pair}' is not KEY=VALUE, e.g. contract_value=48.6万.",
                field="field",
            )
        out[key] = value
    return out


def field_rows(doc: Document, definitions: list[FieldDefinition]) -> list[tuple[str, str]]:
    """(label, value) of a document's custom fields, for ``doc show``: the type's fields in their
    order, then values kept from a retired field or an earlier type (marked so)."""
    by_key = {d.key: d for d in definitions}
    values = doc.metadata.field_values
    ordered = [d.key for d in definitions if d.key in values and d.doc_type == doc.metadata.doc_type]
    ordered += sorted(k for k in values if k not in ordered)
    rows = []
    for key in ordered:
        d = by_key.get(key)
        label = f"{d.label_zh} {d.label_en}".strip() if d else key
        note = ""
        if d is None or d.retired:
            note = "  [已停用 retired]"
        elif d.doc_type != doc.metadata.doc_type:
            note = f"  [保留自类型 kept from type {d.doc_type}]"
        rows.append((label, display_value(d, values[key]) + note))
    return rows


def _line(d: FieldDefinition) -> str:
    flags = []
    if d.required:
        flags.append("必填 required")
    if d.retired:
        flags.append("已停用 retired")
    choices = f"  [{'、'.join(d.choices)}]" if d.choices else ""
    return (
        f"{pad(d.doc_type, 18)}{pad(d.key, 22)}{pad(shown(d.label_zh), 16)}{pad(d.kind.value, 8)}"
        f"{d.position:>4}  {', '.join(flags)}{shown(choices)}"
    )


@cli.group()
def field() -> None:
    """自定义字段（按文档类型）/ custom fields per document type."""


@field.command("list")
@click.option("--type", "doc_type", help="只列此文档类型的字段 / only this document type's fields")
@click.option("--active", is_flag=True, help="不列已停用的字段 / leave out retired fields")
@json_option
@pass_ctx
@handled
def field_list(ctx: Context, doc_type: str | None, active: bool, as_json: bool) -> None:
    """列出自定义字段 / list custom field definitions."""
    items = _fields(ctx).list(doc_type, retired=not active)
    if as_json:
        emit_json({"items": [d.to_dict() for d in items]})
        return
    if not items:
        echo("还没有自定义字段。/ No custom fields yet.")
        return
    for d in items:
        echo(_line(d))


def _definition_options(fn: Any) -> Any:
    for opt in reversed(
        [
            click.option("--label", "label_zh", help="中文名称，如 合同金额 / Chinese label"),
            click.option("--label-en", "label_en", help="English label"),
            click.option("--choice", "choices", multiple=True, help="选项（可重复）/ a choice (repeatable)"),
            click.option("--required/--optional", default=None, help="是否必填 / required or not"),
            click.option("--position", type=int, help="排列顺序 / order in forms"),
        ]
    ):
        fn = opt(fn)
    return fn


@field.command("add")
@click.argument("doc_type")
@click.argument("key")
@click.option("--kind", required=True, type=click.Choice([k.value for k in FieldKind]), help="类型 / kind")
@_definition_options
@json_option
@pass_ctx
@handled
def field_add(ctx: Context, doc_type: str, key: str, kind: str, as_json: bool, **opts: Any) -> None:
    """为文档类型新建字段，如 docsvc field add contract contract_value --kind money --label 合同金额 /
    define a custom field of a document type."""
    raw: dict[str, Any] = {"doc_type": doc_type, "key": key, "kind": kind}
    raw.update({k: (list(v) if k == "choices" else v) for k, v in opts.items() if v not in (None, ())})
    d = _fields(ctx).create(raw)
    if as_json:
        emit_json(d.to_dict())
        return
    echo(f"已新建字段 {d.key}（{shown(d.label_zh)}，{d.kind.zh}）/ field defined.")


@field.command("edit")
@click.argument("key")
@_definition_options
@json_option
@pass_ctx
@handled
def field_edit(ctx: Context, key: str, as_json: bool, **opts: Any) -> None:
    """修改字段的名称、选项、是否必填、顺序 / change a field's labels, choices, required flag, position."""
    raw = {k: (list(v) if k == "choices" else v) for k, v in opts.items() if v not in (None, ())}
    if not raw:
        raise errors.InvalidInput(
            "没有要修改的内容：请给出 --label、--label-en、--choice、--required/--optional 或 --position。",
            "Nothing to change: give --label, --label-en, --choice, --required/--optional or --position.",
        )
    d = _fields(ctx).update(key, raw)
    if as_json:
        emit_json(d.to_dict())
        return
    echo(f"字段 {d.key} 已修改（记入审计日志）/ field changed (audited).")


@field.command("retire")
@click.argument("key")
@json_option
@pass_ctx
@handled
def field_retire(ctx: Context, key: str, as_json: bool) -> None:
    """停用字段：不再出现在表单中，文档上已有的值保留可读 / retire a field; existing values stay readable."""
    d = _fields(ctx).retire(key)
    if as_json:
        emit_json(d.to_dict())
        return
    echo(f"字段 {d.key} 已停用，已有的值保留 / field retired; existing values are kept.")


@field.command("restore")
@click.argument("key")
@json_option
@pass_ctx
@handled
def field_restore(ctx: Context, key: str, as_json: bool) -> None:
    """恢复已停用的字段 / offer a retired field again."""
    d = _fields(ctx).restore(key)
    if as_json:
        emit_json(d.to_dict())
        return
    echo(f"字段 {d.key} 已恢复 / field restored.")
