"""The command line: ``docsvc <noun> <verb>``, a thin client over the same services as the web.

Every command prints readable Chinese for people, or JSON with ``--json`` for scripts. Errors
go to stderr in Chinese and English with a non-zero exit: 2 for bad input, 3 when storage or a
dependency failed, 1 when a check found problems.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import json
import os
import sys
from pathlib import Path
from typing import Any, Callable

import click

from docsvc import errors, settings as settings_mod
from docsvc.app import Docsvc, create_app, default_actor
from docsvc.core.model import AuditAction, DocClass, DocStatus, Document, ServiceCategory, Version

EXIT_PROBLEMS, EXIT_INPUT, EXIT_STORAGE = 1, 2, 3


def _exit_code(exc: errors.DocsvcError) -> int:
    if isinstance(exc, (errors.InvalidInput, errors.NotFound, errors.Conflict, errors.Forbidden)):
        return EXIT_INPUT
    return EXIT_STORAGE


def fail(exc: errors.DocsvcError) -> None:
    click.echo(f"错误：{exc.zh}", err=True)
    click.echo(f"Error: {exc.en}", err=True)
    details = exc.details.get("errors") if exc.details else None
    for item in details or []:
        click.echo(f"  - {item.get('field', '')}: {item.get('zh', '')} / {item.get('en', '')}", err=True)
    sys.exit(_exit_code(exc))


def handled(fn: Callable) -> Callable:
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except errors.DocsvcError as exc:
            fail(exc)
    return wrapper


def emit_json(value: Any) -> None:
    click.echo(json.dumps(value, ensure_ascii=False, indent=2, default=str))


class Context:
    def __init__(self, actor: str) -> None:
        self.actor = actor
        self._svc: Docsvc | None = None

    @property
    def svc(self) -> Docsvc:
        if self._svc is None:
            self._svc = create_app().extensions["docsvc"]
        return self._svc


pass_ctx = click.make_pass_decorator(Context)
json_option = click.option("--json", "as_json", is_flag=True, help="输出 JSON / print JSON for scripts.")


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--as", "actor", default=None, metavar="USER",
              help="记录在审计日志中的操作人（默认：DOCSVC_ACTOR 或当前系统用户）/ actor recorded in the audit log.")
@click.version_option(package_name="docsvc")
@click.pass_context
def cli(ctx: click.Context, actor: str | None) -> None:
    """docsvc：信息服务管理文档与报告服务 / document management and report generation."""
    ctx.obj = Context(actor or default_actor())


def main() -> None:
    cli(prog_name="docsvc")


# -- init / check / gc / serve / settings ------------------------------------------------

@cli.command()
@json_option
@pass_ctx
@handled
def init(ctx: Context, as_json: bool) -> None:
    """初始化归档目录、索引目录与数据库（可重复执行）/ create folders and the catalog schema (idempotent)."""
    svc = ctx.svc
    current, head = svc.catalog.schema_revision()
    info = {"archive_dir": str(Path(svc.settings["ARCHIVE_DIR"]).resolve()),
            "index_dir": str(Path(svc.settings["INDEX_DIR"]).resolve()),
            "database": _safe_url(svc.settings["DATABASE_URL"]), "schema": current, "schema_head": head}
    if as_json:
        emit_json(info)
        return
    click.echo("docsvc 已就绪 / ready")
    click.echo(f"  归档目录 archive: {info['archive_dir']}")
    click.echo(f"  索引目录 index:   {info['index_dir']}")
    click.echo(f"  数据库 database:  {info['database']}（结构版本 schema {current}）")


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url
    return make_url(url).render_as_string(hide_password=True)


@cli.command()
@json_option
@pass_ctx
@handled
def check(ctx: Context, as_json: bool) -> None:
    """检查归档完整性：文件哈希、缺失与孤立文件、审计链 / verify blobs and the audit chain."""
    svc = ctx.svc
    total = svc.catalog.counts()["versions"]
    if as_json:
        report = svc.check()
        emit_json(report.to_dict())
    else:
        with click.progressbar(length=max(total, 1), label="校验文件 verifying blobs", file=sys.stderr) as bar:
            report = svc.check(progress=bar.update)
        s = report.stats
        click.echo(f"文档 {s['documents']} 份，版本 {s['versions']} 个，文件 {s['blobs']} 个（已校验 {s['blobs_verified']}），"
                   f"审计记录 {s['audit_entries']} 条。")
        for p in report.problems:
            tag = "错误 ERROR" if p.is_error else "警告 WARN"
            click.echo(f"[{tag}] {p.zh}\n        {p.en}")
        click.echo("检查通过 / all checks passed" if report.ok else "发现问题 / problems found")
    if not report.ok:
        sys.exit(EXIT_PROBLEMS)


@cli.command()
@click.option("--grace", type=float, default=None, help="只清理早于此秒数的文件 / only older than this many seconds.")
@json_option
@pass_ctx
@handled
def gc(ctx: Context, grace: float | None, as_json: bool) -> None:
    """清理未被引用的孤立文件与暂存残留 / remove orphan blobs and staging leftovers."""
    removed = ctx.svc.gc(grace_s=grace)
    if as_json:
        emit_json({"removed": removed})
    else:
        click.echo(f"已清理 {len(removed)} 个文件 / removed {len(removed)} file(s).")


@cli.command()
@click.option("--host", default=None, help="监听地址 / address (DOCSVC_HOST).")
@click.option("--port", default=None, type=int, help="端口 / port (DOCSVC_PORT).")
@pass_ctx
@handled
def serve(ctx: Context, host: str | None, port: int | None) -> None:
    """启动 Web 服务（生产级 WSGI 服务器 waitress）/ run the web service on waitress."""
    import waitress

    app = create_app()
    conf = app.extensions["docsvc"].settings
    host, port = host or conf["HOST"], port or conf["PORT"]
    click.echo(f"docsvc 正在 http://{host}:{port}/ 提供服务（Ctrl+C 停止）/ serving on http://{host}:{port}/")
    waitress.serve(app, host=host, port=port, threads=conf["THREADS"], ident="docsvc")


@cli.command("settings")
@click.option("--markdown", is_flag=True, help="输出 README 使用的 Markdown 表格 / the README's table.")
@json_option
@handled
def settings_cmd(markdown: bool, as_json: bool) -> None:
    """列出全部设置及其当前值 / list settings and their current values."""
    if markdown:
        click.echo(settings_mod.markdown_table())
        return
    values = settings_mod.load()
    values["DATABASE_URL"] = _safe_url(values["DATABASE_URL"])
    if values["SECRET_KEY"]:
        values["SECRET_KEY"] = "******"
    if as_json:
        emit_json({s.env: values[s.name] for s in settings_mod.SETTINGS})
        return
    for s in settings_mod.SETTINGS:
        click.echo(f"{s.env} = {values[s.name]}\n    {s.help_zh}")


# -- doc ---------------------------------------------------------------------------------

@cli.group()
def doc() -> None:
    """文档与版本 / documents and versions."""


def _read_file(path: str) -> bytes:
    try:
        p = Path(path)
        if p.is_dir():
            raise IsADirectoryError(path)
        return p.read_bytes()
    except OSError as exc:
        raise errors.InvalidInput(f"无法读取文件“{path}”：{exc.strerror or exc}。请检查路径和权限。",
                                  f"Cannot read file '{path}': {exc.strerror or exc}. Check the path and permissions.",
                                  field="file") from None


def _print_document(d: Document, versions: list[Version] | None = None) -> None:
    m = d.metadata
    cat = ServiceCategory(m.service_category)
    rows = [
        ("编号 ID", d.id), ("标题 Title", m.title), ("类型 Type", m.doc_type),
        ("服务类别 Category", f"{cat.value} {cat.zh}"), ("文档类别 Class", f"{m.doc_class.value} {DocClass(m.doc_class).zh}"),
        ("服务范畴 Scope", m.service_scope.zh if m.service_scope else ""), ("项目 Project", m.project),
        ("相对方 Counterparty", m.counterparty), ("标签 Tags", "、".join(m.tags)),
        ("状态 Status", f"{m.status.value} {DocStatus(m.status).zh}"), ("生效日期 Effective", m.effective_date or ""),
        ("复审到期 Review due", m.review_due or ""), ("负责人 Owner", m.owner),
        ("最新版本 Latest", d.latest_version), ("更新于 Updated", d.updated_at.strftime("%Y-%m-%d %H:%M:%S UTC")),
    ]
    for label, value in rows:
        if value not in ("", None):
            click.echo(f"{label:<22}{value}")
    for v in versions or []:
        click.echo(f"  v{v.number}  {v.created_at:%Y-%m-%d %H:%M}  {v.created_by}  {v.size} B  {v.media_type}  "
                   f"{v.original_filename}  sha256:{v.sha256[:12]}…  {v.reason}")


def metadata_options(fn: Callable) -> Callable:
    opts = [
        click.option("--title", help="标题 / title"),
        click.option("--type", "doc_type", help="文档类型，如 contract、sla / document type"),
        click.option("--category", "service_category", help="服务类别（规范第 4 章），如 4.2 / service category"),
        click.option("--class", "doc_class", help="user（用户文档 9.1）或 site（现场文档 9.2）"),
        click.option("--scope", "service_scope", help="support|provision|delivery（规范第 5 章）"),
        click.option("--pdca", "pdca_phase", help="plan|do|check|act"),
        click.option("--project", help="项目 / project"),
        click.option("--counterparty", help="相对方 / counterparty"),
        click.option("--tag", "tags", multiple=True, help="标签，可重复 / tag (repeatable)"),
        click.option("--status", help="draft|effective|superseded|archived"),
        click.option("--effective", "effective_date", help="生效日期 YYYY-MM-DD"),
        click.option("--review-due", "review_due", help="复审到期日 YYYY-MM-DD（规范 8.1.3）"),
        click.option("--owner", help="负责人 / owner"),
    ]
    for opt in reversed(opts):
        fn = opt(fn)
    return fn


@doc.command("add")
@click.argument("file")
@metadata_options
@click.option("--reason", default="", help="版本说明 / note for version 1")
@json_option
@pass_ctx
@handled
def doc_add(ctx: Context, file: str, reason: str, as_json: bool, **meta: Any) -> None:
    """归档一个新文档（docx、pdf、txt、md）/ archive a new document."""
    meta = {k: v for k, v in meta.items() if v not in (None, (), "")}
    if "title" not in meta:
        meta["title"] = Path(file).stem
    data = _read_file(file)
    result = ctx.svc.archive.add_document(data, Path(file).name, meta, actor=ctx.actor, reason=reason)
    if as_json:
        emit_json({"document": result.document.to_dict(), "version": result.version.to_dict()})
    else:
        click.echo(f"已归档文档 {result.document.id}（第 1 版，sha256 {result.version.sha256}）/ archived.")


@doc.command("version")
@click.argument("doc_id", type=int)
@click.argument("file")
@click.option("--reason", required=True, help="变更原因（必填）/ change reason (required)")
@json_option
@pass_ctx
@handled
def doc_version(ctx: Context, doc_id: int, file: str, reason: str, as_json: bool) -> None:
    """为文档新增一个版本 / add a new version."""
    data = _read_file(file)
    result = ctx.svc.archive.add_version(doc_id, data, Path(file).name, actor=ctx.actor, reason=reason)
    if as_json:
        emit_json({"created": result.created, "version": result.version.to_dict()})
    elif result.created:
        click.echo(f"文档 {doc_id} 新增第 {result.version.number} 版 / version {result.version.number} added.")
    else:
        click.echo(f"内容与第 {result.version.number} 版相同，未新增版本 / unchanged, no version added.")


@doc.command("show")
@click.argument("doc_id", type=int)
@json_option
@pass_ctx
@handled
def doc_show(ctx: Context, doc_id: int, as_json: bool) -> None:
    """查看文档元数据与版本 / show metadata and versions."""
    d = ctx.svc.archive.document(doc_id)
    versions = ctx.svc.catalog.versions(doc_id)
    if as_json:
        emit_json({**d.to_dict(), "versions": [v.to_dict() for v in versions]})
    else:
        _print_document(d, versions)


@doc.command("history")
@click.argument("doc_id", type=int)
@json_option
@pass_ctx
@handled
def doc_history(ctx: Context, doc_id: int, as_json: bool) -> None:
    """完整历史：每个版本与每个事件（谁、何时、做了什么、为什么）/ full history."""
    h = ctx.svc.archive.history(doc_id)
    if as_json:
        emit_json({"document": h.document.to_dict(), "versions": [v.to_dict() for v in h.versions],
                   "events": [e.to_dict() for e in h.events]})
        return
    click.echo(f"文档 {doc_id}：{h.document.metadata.title}")
    for e in h.events:
        label = AuditAction(e.action).zh if e.action in AuditAction._value2member_map_ else e.action
        click.echo(f"#{e.seq:<6} {e.ts[:19].replace('T', ' ')}  {e.actor:<16} {label}"
                   f"{f' v{e.version}' if e.version else ''}  {_summary(e.details)}")


def _summary(details: dict[str, Any]) -> str:
    if "changes" in details:
        return "；".join(f"{k}: {v['from']} → {v['to']}" for k, v in details["changes"].items())
    parts = [str(details[k]) for k in ("reason", "filename") if details.get(k)]
    if details.get("sha256"):
        parts.append(f"sha256:{details['sha256'][:12]}…")
    return "  ".join(parts)


@doc.command("get")
@click.argument("doc_id", type=int)
@click.option("--version", "number", type=int, default=None, help="版本号（默认最新）/ version (default latest)")
@click.option("-o", "--output", required=True, help="输出文件路径，- 表示标准输出 / output path, - for stdout")
@json_option
@pass_ctx
@handled
def doc_get(ctx: Context, doc_id: int, number: int | None, output: str, as_json: bool) -> None:
    """取回某个版本的原始字节 / write a version's exact bytes."""
    version, data = ctx.svc.archive.read_version(doc_id, number, actor=ctx.actor)
    if output == "-":
        sys.stdout.buffer.write(data)
        return
    target = Path(output)
    if target.is_dir():
        target = target / version.original_filename
    try:
        tmp = target.with_name(f".{target.name}.part")
        tmp.write_bytes(data)
        os.replace(tmp, target)
    except OSError as exc:
        raise errors.InvalidInput(f"无法写入“{target}”：{exc.strerror or exc}。",
                                  f"Cannot write '{target}': {exc.strerror or exc}.", field="output") from None
    if as_json:
        emit_json({"path": str(target), "version": version.to_dict()})
    else:
        click.echo(f"已写出第 {version.number} 版到 {target}（{len(data)} 字节）/ written.")


@doc.command("list")
@click.option("--type", "doc_type")
@click.option("--category", "service_category")
@click.option("--class", "doc_class")
@click.option("--scope", "service_scope")
@click.option("--project")
@click.option("--counterparty")
@click.option("--status")
@click.option("--owner")
@click.option("--tag")
@click.option("--title", help="标题包含 / title contains")
@click.option("--review-due-before", "review_due_before", help="复审到期日不晚于 YYYY-MM-DD")
@click.option("--sort", default="-updated_at", show_default=True)
@click.option("--limit", default=50, show_default=True)
@click.option("--offset", default=0, show_default=True)
@json_option
@pass_ctx
@handled
def doc_list(ctx: Context, as_json: bool, **params: Any) -> None:
    """列出文档（可筛选）/ list documents with filters."""
    page = ctx.svc.archive.list_documents(params)
    if as_json:
        emit_json({"items": [d.to_dict() for d in page.items], "total": page.total})
        return
    for d in page.items:
        m = d.metadata
        click.echo(f"{d.id:>6}  {m.doc_type:<18} {m.service_category:<6} {m.status.value:<10} v{d.latest_version:<3} {m.title}")
    click.echo(f"共 {page.total} 份 / {page.total} document(s)")


@doc.command("set")
@click.argument("doc_id", type=int)
@click.argument("pairs", nargs=-1, required=True)
@click.option("--reason", default="", help="修改原因 / reason")
@json_option
@pass_ctx
@handled
def doc_set(ctx: Context, doc_id: int, pairs: tuple[str, ...], reason: str, as_json: bool) -> None:
    """修改元数据，如 status=effective review_due=2027-06-30 / change metadata."""
    changes: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise errors.InvalidInput(f"“{pair}”格式不对，应为 key=value。", f"'{pair}' is not key=value.")
        changes[key.strip()] = value
    d = ctx.svc.archive.set_metadata(doc_id, changes, actor=ctx.actor, reason=reason)
    if as_json:
        emit_json(d.to_dict())
    else:
        click.echo(f"文档 {doc_id} 元数据已更新 / metadata updated.")


@doc.command("delete")
@click.argument("doc_id", type=int)
@click.option("--reason", required=True, help="删除理由 / reason")
@pass_ctx
@handled
def doc_delete(ctx: Context, doc_id: int, reason: str) -> None:
    """申请删除（归档记录不可删除：请求会被记录并拒绝）/ request deletion (logged and refused)."""
    ctx.svc.archive.request_deletion(doc_id, actor=ctx.actor, reason=reason)


# -- audit -------------------------------------------------------------------------------

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
    from docsvc.core.model import parse_date

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
                       f"  {_summary(e.details)}")


if __name__ == "__main__":
    main()
