"""docsvc tag list | add | rename | merge | colour | remove and docsvc counterparty list | rename |
merge: the tag and counterparty catalog, through the same use case and rules as the web pages and
the API (docsvc.services.terms). A rename or merge changes every document carrying the name, each
an audited metadata change. Run as a docsvc user with ``--as USERNAME`` to apply that user's role."""

from __future__ import annotations

import click

from docsvc.cli import Context, cli, echo, emit_json, handled, json_option, pad, pass_ctx, shown
from docsvc.services.terms import PALETTE, TermChange, TermKind, Terms


def _terms(ctx: Context, kind: TermKind) -> Terms:
    return ctx.guard.terms(kind)


def _list(ctx: Context, kind: TermKind, as_json: bool) -> None:
    items = _terms(ctx, kind).list()
    if as_json:
        emit_json({"items": [t.to_dict() for t in items]})
        return
    if not items:
        echo(f"还没有{kind.zh}。/ No {kind.en}s yet.")
        return
    for t in items:
        colour = pad(t.colour, 8) if kind is TermKind.TAG else ""
        echo(f"{pad(shown(t.name), 32)}{t.documents:>6} 份 docs  {colour}")


def _changed(change: TermChange, kind: TermKind, as_json: bool, verb_zh: str, verb_en: str) -> None:
    if as_json:
        emit_json(change.to_dict())
        return
    n = len(change.report.items)
    echo(
        f"{kind.zh}“{shown(change.previous)}”已{verb_zh}“{shown(change.term.name)}”，{n} 份文档已更新（每份记入审计日志）"
        f"/ {kind.en} {verb_en} '{shown(change.term.name)}': {n} document(s) updated, each audited."
    )


@cli.group()
def tag() -> None:
    """标签目录（改名、合并、颜色）/ the tag catalog (rename, merge, colour)."""


@cli.group()
def counterparty() -> None:
    """相对方目录（改名、合并）/ the counterparty catalog (rename, merge)."""


@tag.command("list")
@json_option
@pass_ctx
@handled
def tag_list(ctx: Context, as_json: bool) -> None:
    """按拼音列出标签及文档数 / list tags with document counts, in pinyin order."""
    _list(ctx, TermKind.TAG, as_json)


@counterparty.command("list")
@json_option
@pass_ctx
@handled
def counterparty_list(ctx: Context, as_json: bool) -> None:
    """按拼音列出相对方及文档数 / list counterparties with document counts, in pinyin order."""
    _list(ctx, TermKind.COUNTERPARTY, as_json)


@tag.command("add")
@click.argument("name")
@click.option("--colour", type=click.Choice(list(PALETTE)), default=None, help="颜色 / colour (default grey)")
@json_option
@pass_ctx
@handled
def tag_add(ctx: Context, name: str, colour: str | None, as_json: bool) -> None:
    """新建标签 / add a tag to the catalog."""
    term = _terms(ctx, TermKind.TAG).create(name, colour)
    if as_json:
        emit_json(term.to_dict())
        return
    echo(f"已新建标签“{shown(term.name)}”（{term.colour}）/ tag added.")


@tag.command("colour")
@click.argument("name")
@click.argument("colour", type=click.Choice(list(PALETTE)))
@json_option
@pass_ctx
@handled
def tag_colour(ctx: Context, name: str, colour: str, as_json: bool) -> None:
    """修改标签颜色 / give a tag another colour."""
    term = _terms(ctx, TermKind.TAG).recolour(name, colour)
    if as_json:
        emit_json(term.to_dict())
        return
    echo(f"标签“{shown(term.name)}”的颜色已改为 {term.colour} / colour changed.")


@tag.command("remove")
@click.argument("name")
@json_option
@pass_ctx
@handled
def tag_remove(ctx: Context, name: str, as_json: bool) -> None:
    """删除不再使用的标签 / remove a tag no document carries."""
    term = _terms(ctx, TermKind.TAG).remove(name)
    if as_json:
        emit_json({"removed": term.to_dict()})
        return
    echo(f"已删除标签“{shown(term.name)}”/ tag removed.")


def _rename_command(group: click.Group, kind: TermKind) -> None:
    @group.command("rename")
    @click.argument("name")
    @click.argument("new_name")
    @json_option
    @pass_ctx
    @handled
    def rename(ctx: Context, name: str, new_name: str, as_json: bool) -> None:
        """改名（所有带该名称的文档一并修改）/ rename, on every document carrying it."""
        _changed(_terms(ctx, kind).rename(name, new_name), kind, as_json, "改名为", "renamed to")

    @group.command("merge")
    @click.argument("name")
    @click.argument("into")
    @json_option
    @pass_ctx
    @handled
    def merge(ctx: Context, name: str, into: str, as_json: bool) -> None:
        """把 NAME 合并到 INTO（所有文档一并修改）/ merge NAME into INTO, on every document."""
        _changed(_terms(ctx, kind).merge(name, into), kind, as_json, "合并到", "merged into")


_rename_command(tag, TermKind.TAG)
_rename_command(counterparty, TermKind.COUNTERPARTY)
