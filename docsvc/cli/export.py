"""docsvc audit export: an audit bundle (ZIP) that can be verified without docsvc."""

from __future__ import annotations

import os
from pathlib import Path

import click

from docsvc import errors
from docsvc.cli import KEY, Context, echo, emit_json, handled, json_option, pass_ctx
from docsvc.cli.audit import audit
from docsvc.core.model import parse_date
from docsvc.services.export import BundleScope


@audit.command("export")
@click.option("--doc", "document_id", type=KEY, default=None, help="文档编号 / document id")
@click.option("--since", default=None, help="开始日期 YYYY-MM-DD（含）/ first day (UTC)")
@click.option("--until", default=None, help="结束日期 YYYY-MM-DD（含）/ last day (UTC)")
@click.option("-o", "--output", required=True, help="输出 ZIP 路径 / output .zip path")
@json_option
@pass_ctx
@handled
def audit_export(
    ctx: Context, document_id: int | None, since: str | None, until: str | None, output: str, as_json: bool
) -> None:
    """导出审计包：各版本原件、元数据、审计记录、SHA-256 清单与 verify_bundle.py / export an audit bundle."""
    scope = BundleScope(document_id, parse_date("since", "开始日期", since), parse_date("until", "结束日期", until))
    scope.validate()
    target = Path(output)
    tmp = target.with_name(f".{target.name}.part")
    guard = ctx.guard
    try:
        with open(tmp, "wb") as fh:
            summary = guard.export_bundle(scope, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise errors.InvalidInput(
            f"无法写入“{target}”：{exc.strerror or exc}。",
            f"Cannot write '{target}': {exc.strerror or exc}.",
            field="output",
        ) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if as_json:
        emit_json({"path": str(target), **summary.to_dict()})
        return
    echo(
        f"已导出审计包 {target}：文档 {summary.documents} 份，版本 {summary.versions} 个，"
        f"审计记录 {summary.audit_entries} 条（导出记录 #{summary.receipt_seq}）/ bundle written."
    )
    echo(f"manifest.json SHA-256: {summary.manifest_sha256}")
    echo(f"校验 / verify: python verify_bundle.py {target.name}")
