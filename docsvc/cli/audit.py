"""docsvc audit verify | log."""

from __future__ import annotations

import csv
import json
import os
import sys

import click

from docsvc import errors
from docsvc.cli import (
    EXIT_PROBLEMS,
    KEY,
    Context,
    cli,
    echo,
    emit_json,
    handled,
    json_option,
    json_text,
    pass_ctx,
    shown,
)
from docsvc.cli.doc import summary
from docsvc.core.checkpoints import key_id, new_key_pem
from docsvc.core.model import AuditAction, parse_date
from docsvc.services.users import Permission


@cli.group()
def audit() -> None:
    """审计日志 / the audit log."""


@audit.command("verify")
@json_option
@pass_ctx
@handled
def audit_verify(ctx: Context, as_json: bool) -> None:
    """校验审计哈希链及签名检查点，逐条指出异常记录 / verify the hash chain against the signed checkpoints."""
    result = ctx.guard.verify_audit()
    if as_json:
        emit_json(result.to_dict())
    else:
        if result.ok:
            echo(f"审计链完整：共 {result.checked} 条记录 / OK: {result.checked} entries verified.")
        else:
            echo("审计链异常 / Audit chain BROKEN:")
            for p in result.problems:
                echo(f"  #{p.seq if p.seq is not None else '-'}  {p.zh}\n          {p.en}")
            if result.more_problems:
                echo(f"  …另有 {result.more_problems} 处 / {result.more_problems} more")
        echo(_anchor_line(result.anchor))
    if not result.ok:
        sys.exit(EXIT_PROBLEMS)


def _anchor_line(anchor: dict | None) -> str:
    if anchor is None:
        return (
            "提示：未配置签名检查点，能改写目录库的人可以不被发现地截断或重写审计链（见 DOCSVC_AUDIT_KEY_FILE）。\n"
            "Note: no signed checkpoints are configured; whoever can write the catalog could truncate or rewrite "
            "the chain unnoticed (see DOCSVC_AUDIT_KEY_FILE)."
        )
    latest = anchor["latest"]
    if latest is None:
        return (
            f"检查点：{anchor['location']} 中尚无有效检查点（密钥 {anchor['key_id']}）；运行 docsvc audit checkpoint。\n"
            f"Checkpoints: none valid yet in {anchor['location']} (key {anchor['key_id']}); run docsvc audit checkpoint."
        )
    return (
        f"检查点：最新为第 {latest['seq']} 条（{latest['ts']} 由 {latest['node']} 签署，密钥 {anchor['key_id']}），"
        f"其后 {anchor['entries_after_latest']} 条仅受哈希链保护。\n"
        f"Checkpoints: the latest is at entry {latest['seq']} (signed {latest['ts']} by {latest['node']}, key "
        f"{anchor['key_id']}); the {anchor['entries_after_latest']} entries after it are protected by the chain only."
    )


@audit.command("checkpoint")
@json_option
@pass_ctx
@handled
def audit_checkpoint(ctx: Context, as_json: bool) -> None:
    """立即签署并保存审计链头的检查点 / sign and store a checkpoint of the chain's head now."""
    ctx.guard.require(Permission.OPERATE, "write_checkpoint")
    cp = ctx.svc.write_checkpoint()
    assert ctx.svc.anchor is not None  # write_checkpoint refused otherwise
    location = ctx.svc.anchor.store.location
    if as_json:
        emit_json(
            {"written": cp is not None, "location": location, **({"name": cp.name, **cp.to_dict()} if cp else {})}
        )
    elif cp is None:
        echo(
            "链头自最新检查点以来没有变化，未写入新检查点。/ The head has not moved since the latest checkpoint; "
            "nothing written."
        )
    else:
        echo(
            f"已签署检查点：第 {cp.seq} 条，哈希 {cp.hash}\n  {location}/{cp.name}\n"
            f"Checkpoint signed at entry {cp.seq}."
        )


@audit.command("keygen")
@click.argument("path", type=click.Path(dir_okay=False))
@json_option
@pass_ctx
@handled
def audit_keygen(ctx: Context, path: str, as_json: bool) -> None:
    """生成审计检查点的 Ed25519 签名密钥（文件权限 0600，不覆盖已有文件）/ make a checkpoint signing key."""
    pem, public_key = new_key_pem()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
    except FileExistsError:
        raise errors.InvalidInput(
            f"“{path}”已存在，未覆盖。", f"'{path}' exists already; not overwritten.", field="path"
        ) from None
    except OSError as exc:
        raise errors.InvalidInput(
            f"无法写入“{path}”：{exc.strerror or exc}。", f"Cannot write '{path}': {exc.strerror or exc}.", field="path"
        ) from None
    if as_json:
        emit_json({"path": path, "public_key": public_key, "key_id": key_id(public_key)})
        return
    echo(
        f"已生成签名密钥 {path}（公钥 {public_key}，指纹 {key_id(public_key)}）。\n"
        f"请设置 DOCSVC_AUDIT_KEY_FILE={path}，并把公钥交给审计员以便核对审计包。\n"
        f"Key written to {path}. Set DOCSVC_AUDIT_KEY_FILE to it and give auditors the public key above."
    )


@audit.command("log")
@click.option("--doc", "document_id", type=KEY, default=None, help="只看某文档 / one document")
@click.option("--since", default=None, help="起始日期 YYYY-MM-DD（UTC）/ since date")
@click.option("--action", "actions", multiple=True, help="事件类型，可重复 / action (repeatable)")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
    help="输出格式：表格、JSON 或 CSV / output format",
)
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
            raise errors.InvalidInput(
                f"未知事件类型“{a}”。可选：{', '.join(sorted(valid))}",
                f"Unknown action '{a}'. Valid: {', '.join(sorted(valid))}",
                field="action",
            )
    entries = ctx.guard.audit_entries(document_id=document_id, since=since_ts, actions=actions)
    if fmt == "json":
        echo("[")
        first = True
        for e in entries:
            click.echo(("" if first else ",") + json_text(e.to_dict()))
            first = False
        echo("]")
    elif fmt == "csv":
        writer = csv.writer(sys.stdout)
        # Into a file the cells are the exact values; onto a terminal, shown escaped.
        cell = shown if sys.stdout.isatty() else str
        writer.writerow(["seq", "ts", "actor", "action", "document_id", "version", "details", "prev_hash", "hash"])
        for e in entries:
            writer.writerow(
                [
                    cell(x)
                    for x in (
                        e.seq,
                        e.ts,
                        e.actor,
                        e.action,
                        e.document_id or "",
                        e.version or "",
                        json.dumps(e.details, ensure_ascii=False, sort_keys=True),
                        e.prev_hash,
                        e.hash,
                    )
                ]
            )
    else:
        for e in entries:
            label = AuditAction(e.action).zh if e.action in valid else e.action
            echo(
                f"#{e.seq:<6} {e.ts[:19].replace('T', ' ')}  {shown(e.actor):<16} {label:<8} "
                f"{'doc ' + str(e.document_id) if e.document_id else ''}{f' v{e.version}' if e.version else ''}"
                f"  {summary(e.details)}"
            )
