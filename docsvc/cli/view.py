"""docsvc view list | add | remove: saved views (a search or a document-list filter under a name),
through the same use case and rules as the web and the API (docsvc.services.views). A view belongs
to a docsvc user: run as one with ``--as USERNAME``."""

from __future__ import annotations

import click

from docsvc.cli import KEY, Context, cli, echo, emit_json, handled, json_option, pad, pass_ctx, shown
from docsvc.errors import InvalidInput
from docsvc.services.views import ViewKind


@cli.group()
def view() -> None:
    """保存的视图（搜索或文档筛选）/ saved views (a search or a document-list filter)."""


def _views(ctx: Context):
    return ctx.guard.views


@view.command("list")
@click.option("--results", is_flag=True, help="同时按您的权限列出每个视图的结果数 / also count each view's results")
@json_option
@pass_ctx
@handled
def view_list(ctx: Context, results: bool, as_json: bool) -> None:
    """列出自己的和共享的视图 / list your views and the shared ones."""
    views = _views(ctx)
    items = views.list()
    counted = {v.id: views.results(v) for v in items} if results else {}
    if as_json:
        emit_json({"items": [{**v.to_dict(), **({"total": counted[v.id].total} if results else {})} for v in items]})
        return
    if not items:
        echo("还没有保存的视图。/ No saved views.")
        return
    for v in items:
        flags = "、".join(x for x in ("共享" if v.shared else "", "仪表板" if v.pinned else "") if x)
        total = f"  {counted[v.id].total} 条 results" if results else ""
        echo(
            f"{v.id:>5}  {pad(shown(v.name), 28)}{pad(v.kind.zh, 10)}{pad(shown(v.owner), 14)}"
            f"{pad(flags or '-', 14)}{shown(v.query_string)}{total}"
        )


@view.command("add")
@click.argument("name")
@click.option(
    "--kind",
    required=True,
    type=click.Choice([k.value for k in ViewKind]),
    help="search（搜索）或 documents（文档列表）/ search or documents",
)
@click.option(
    "--query",
    "params",
    required=True,
    help="页面的查询字符串，如 'q=合同&filter=doc_type:sla' 或 'doc_class=site' / the page's query string",
)
@click.option("--shared", is_flag=True, help="共享给所有用户 / share with every user")
@click.option("--pin", is_flag=True, help="显示在仪表板 / show on the dashboard")
@json_option
@pass_ctx
@handled
def view_add(ctx: Context, name: str, kind: str, params: str, shared: bool, pin: bool, as_json: bool) -> None:
    """保存视图 / save a view."""
    saved = _views(ctx).create(name, kind, params, shared=shared, pinned=pin)
    if as_json:
        emit_json(saved.to_dict())
        return
    echo(f"已保存视图 {saved.id}“{shown(saved.name)}”/ view saved: {shown(saved.query_string)}")


@view.command("remove")
@click.argument("view", metavar="ID_OR_NAME")
@json_option
@pass_ctx
@handled
def view_remove(ctx: Context, view: str, as_json: bool) -> None:
    """删除视图（创建者或管理员）/ delete a view (its owner or an administrator)."""
    views = _views(ctx)
    if view.strip().isdigit():
        view_id = KEY.convert(view.strip(), None, None)
    else:
        mine = [v for v in views.list() if v.name == view.strip() and v.owner == views.p.username]
        if not mine:
            raise InvalidInput(
                f"您没有名为“{view.strip()}”的视图；可用 docsvc view list 查看编号。",
                f"You have no view named '{view.strip()}'; docsvc view list shows the ids.",
                field="view",
            )
        view_id = mine[0].id
    removed = views.delete(view_id)
    if as_json:
        emit_json({"deleted": removed.to_dict()})
        return
    echo(f"已删除视图 {removed.id}“{shown(removed.name)}”/ view deleted.")
