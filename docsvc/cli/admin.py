"""docsvc init | check | gc | serve | settings."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from docsvc import errors
from docsvc import settings as settings_mod
from docsvc.cli import EXIT_PROBLEMS, Context, cli, echo, emit_json, handled, json_option, pass_ctx
from docsvc.services.users import INITIAL_ADMIN, Permission


@cli.command()
@json_option
@pass_ctx
@handled
def init(ctx: Context, as_json: bool) -> None:
    """初始化归档目录、索引目录与数据库（可重复执行）/ create folders and the catalog schema (idempotent)."""
    ctx.guard.require(Permission.OPERATE, "init")
    svc = ctx.svc
    current, head = svc.schema_revision()
    info = {
        "archive_dir": str(Path(svc.settings["ARCHIVE_DIR"]).resolve()),
        "index_dir": str(Path(svc.settings["INDEX_DIR"]).resolve()),
        "database": settings_mod.redacted(svc.settings)["DATABASE_URL"],
        "schema": current,
        "schema_head": head,
    }
    password = svc.users.ensure_initial_admin()
    if as_json:
        emit_json({**info, "initial_admin": {"username": INITIAL_ADMIN, "password": password} if password else None})
        return
    echo("docsvc 已就绪 / ready")
    if password:
        echo(
            "已创建初始管理员账户 / initial administrator account created:\n"
            f"  用户名 username: {INITIAL_ADMIN}\n  密码 password:   {password}\n"
            "  此密码只显示这一次，登录后请修改。/ Shown only this once; change it after signing in."
        )
    echo(f"  归档目录 archive: {info['archive_dir']}")
    echo(f"  索引目录 index:   {info['index_dir']}")
    echo(f"  数据库 database:  {info['database']}（结构版本 schema {current}）")


@cli.command()
@json_option
@pass_ctx
@handled
def check(ctx: Context, as_json: bool) -> None:
    """检查归档完整性：文件哈希、缺失与孤立文件、审计链 / verify blobs and the audit chain."""
    gd = ctx.guard
    if as_json:
        report = gd.integrity_check()
        emit_json(report.to_dict())
    else:
        total = gd.counts("integrity_check")["versions"]
        with click.progressbar(length=max(total, 1), label="校验文件 verifying blobs", file=sys.stderr) as bar:
            report = gd.integrity_check(progress=bar.update)
        s = report.stats
        echo(
            f"文档 {s['documents']} 份，版本 {s['versions']} 个，文件 {s['blobs']} 个（已校验 {s['blobs_verified']}），"
            f"审计记录 {s['audit_entries']} 条。"
        )
        for p in report.problems:
            tag = "错误 ERROR" if p.is_error else "警告 WARN"
            echo(f"[{tag}] {p.zh}\n        {p.en}")
        echo("检查通过 / all checks passed" if report.ok else "发现问题 / problems found")
    if not report.ok:
        sys.exit(EXIT_PROBLEMS)


@cli.command()
@click.option("--grace", type=float, default=None, help="只清理早于此秒数的文件 / only older than this many seconds.")
@json_option
@pass_ctx
@handled
def gc(ctx: Context, grace: float | None, as_json: bool) -> None:
    """清理未被引用的孤立文件与暂存残留 / remove orphan blobs and staging leftovers."""
    ctx.guard.require(Permission.OPERATE, "gc")
    removed = ctx.svc.gc(grace_s=grace)
    if as_json:
        emit_json({"removed": removed})
    else:
        echo(f"已清理 {len(removed)} 个文件 / removed {len(removed)} file(s).")


@cli.command()
@click.option("--host", default=None, help="监听地址 / address (DOCSVC_HOST).")
@click.option("--port", default=None, type=int, help="端口 / port (DOCSVC_PORT).")
@click.option(
    "--workers", default=None, type=click.IntRange(1, 64), help="工作进程数 / worker processes (DOCSVC_WORKERS)."
)
@pass_ctx
@handled
def serve(ctx: Context, host: str | None, port: int | None, workers: int | None) -> None:
    """启动 Web 服务（生产级 WSGI 服务器 waitress）/ run the web service on waitress."""
    # Only this command needs the web face (Flask and every view): the others do without it.
    from docsvc.web import serving

    ctx.guard.require(Permission.OPERATE, "serve")
    ctx.close()  # the server opens its own services; no worker process may inherit these connections
    conf = settings_mod.load()
    host, port = host or conf["HOST"], port or conf["PORT"]
    if conf["WORKERS"] < 0:
        raise errors.InvalidInput(
            "DOCSVC_WORKERS 不能为负数（0 表示每个 CPU 核一个进程）。",
            "DOCSVC_WORKERS cannot be negative (0 means one process per CPU core).",
            field="DOCSVC_WORKERS",
        )
    workers = workers or conf["WORKERS"] or os.cpu_count() or 1

    def ready(bound: int) -> None:
        echo(
            f"docsvc 正在 http://{host}:{bound}/ 提供服务（{workers} 个进程，Ctrl+C 停止）/ "
            f"serving on http://{host}:{bound}/ ({workers} process(es))"
        )

    serving.serve(host=host, port=port, workers=workers, threads=conf["THREADS"], on_ready=ready)


@cli.command("settings")
@click.option("--markdown", is_flag=True, help="输出 README 使用的 Markdown 表格 / the README's table.")
@json_option
@handled
def settings_cmd(markdown: bool, as_json: bool) -> None:
    """列出全部设置及其当前值 / list settings and their current values."""
    if markdown:
        echo(settings_mod.markdown_table())
        return
    values = settings_mod.redacted(settings_mod.load())
    if as_json:
        emit_json({s.env: values[s.name] for s in settings_mod.SETTINGS})
        return
    for s in settings_mod.SETTINGS:
        echo(f"{s.env} = {values[s.name]}\n    {s.help_zh}")
