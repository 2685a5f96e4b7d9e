"""docsvc audit verify | log."""

from __future__ import annotations

import csv
import json
import sys

import click

from docsvc import errors
from docsvc.cli import EXIT_PROBLEMS, Context, cli, emit_json, handled, json_option, pass_ctx
from docsvc.cli.doc import summary
from docsvc.core.model import AuditAction, parse_date

@cli.group()
def audit() -> None:
    """审计日志 / the audit log."""


@audit.command("verify")
@json_option
@pass_ctx
@handled
def audit_verify(ctx: Context, as_json: bool) -> None:
    """校验审计哈希链，指出第一条异常记录 / verify the hash chain."""
    result = ctx.svc.verify_audit()
    if as_json:
        emit_json(result.to_dict())
    elif result.ok:
        click.echo(f"审计链完整：共 {result.checked} 条记录 / OK: {result.checked} entries verified.")
    else:
        click.echo(f"审计链异常：{result.reason_zh}\nAudit chain BROKEN: {result.reason_en}")
    if not result.ok:
        sys.exit(EXIT_PROBLEMS)


@audit.command("log")
@click.option("--doc", "document_id", type=int, default=None, help="只看某文档 / one document")
@click.option("--since", default=None, help="起始日期 YYYY-MM-DD（UTC）/ since date")
@click.option("--action", "actions", multiple=True, help="事件类型，可重复 / action (repeatable)")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
@pass_ctx
@handled
def audit_log(ctx: Context, document_id: int | None, since: str | None, actions: tuple[str, ...], fmt: str) -> None:
    """导出审计日志 / print the audit log."""

    since_ts = None
    if since:
        since_ts = parse_date("since", "起始日期", since).isoformat()
    valid = {a.value for a in AuditAction}
    for a in actions:
        if a not in valid:
            raise errors.InvalidInput(f"未知事件类型“{a}”。可选：{', '.join(sorted(valid))}",
                                      f"Unknown action '{a}'. Valid: {', '.join(sorted(valid))}", field="action")
    entries = ctx.svc.catalog.audit_entries(document_id=document_id, since=since_ts, actions=actions)
    if fmt == "json":
        click.echo("[")
        first = True
        for e in entries:
            click.echo(("" if first else ",") + json.dumps(e.to_dict(), ensure_ascii=False))
            first = False
        click.echo("]")
    elif fmt == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(["seq", "ts", "actor", "action", "document_id", "version", "details", "prev_hash", "hash"])
        for e in entries:
            writer.writerow([e.seq, e.ts, e.actor, e.action, e.document_id or "", e.version or "",
                             json.dumps(e.details, ensure_ascii=False, sort_keys=True), e.prev_hash, e.hash])
    else:
        for e in entries:
            label = AuditAction(e.action).zh if e.action in valid else e.action
            click.echo(f"#{e.seq:<6} {e.ts[:19].replace('T', ' ')}  {e.actor:<16} {label:<8} "
                       f"{'doc ' + str(e.document_id) if e.document_id else ''}{f' v{e.version}' if e.version else ''}"
                       f"  {summary(e.details)}")


