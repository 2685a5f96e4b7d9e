"""docsvc blobs migrate: move the archive's files into another store (e.g. an S3 bucket)."""

from __future__ import annotations

import sys

import click

from docsvc.cli import EXIT_PROBLEMS, Context, cli, echo, emit_json, handled, json_option, pass_ctx
from docsvc.services.users import Permission


@cli.group()
def blobs() -> None:
    """归档文件的存放处 / where the archive's files are kept."""


@blobs.command("migrate")
@click.option(
    "--to",
    "to_url",
    required=True,
    metavar="URL",
    help="目标存储：s3://存储桶/前缀 或 file:///目录 / the target store: s3://BUCKET/PREFIX or file:///FOLDER.",
)
@json_option
@pass_ctx
@handled
def migrate(ctx: Context, to_url: str, as_json: bool) -> None:
    """复制所有被引用的文件到目标存储，逐一校验；中断后重新运行即从断点继续。
    完成后将 DOCSVC_BLOB_URL 设为目标地址并重启服务。/ copy every referenced blob into the target,
    verifying each; run again to resume. Then set DOCSVC_BLOB_URL to the target and restart."""
    ctx.guard.require(Permission.OPERATE, "migrate_blobs")
    svc = ctx.svc
    if as_json:
        report = svc.migrate_blobs(to_url)
        emit_json(report.to_dict())
    else:
        total = svc.referenced_blobs()
        with click.progressbar(length=max(total, 1), label="复制文件 copying blobs", file=sys.stderr) as bar:
            report = svc.migrate_blobs(to_url, progress=bar.update)
        echo(
            f"已复制 {report.copied} 个文件，目标中已有 {report.present} 个。/ "
            f"copied {report.copied}, already present {report.present}."
        )
        for p in report.problems:
            echo(f"[错误 ERROR] {p.zh}\n        {p.en}")
        if report.ok:
            echo(f"完成。请设置 DOCSVC_BLOB_URL={to_url} 并重启服务。/ Done: set DOCSVC_BLOB_URL={to_url} and restart.")
    if not report.ok:
        sys.exit(EXIT_PROBLEMS)
