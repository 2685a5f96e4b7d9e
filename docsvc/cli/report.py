"""docsvc report inventory | audit | reviews: management reports, generated and archived."""

from __future__ import annotations

from pathlib import Path

import click

from docsvc import errors
from docsvc.cli import (
    Context,
    cli,
    echo,
    emit_json,
    force_option,
    handled,
    json_option,
    output_paths,
    pass_ctx,
    refuse_existing,
    write_generated,
)
from docsvc.core.filenames import document_filename
from docsvc.services.reports import ReportKind, ReportRequest


@cli.group()
def report() -> None:
    """管理报告（生成 DOCX/PDF 并归档）/ management reports, generated and archived."""


def _report_command(kind: ReportKind, help_text: str, *, period: bool) -> None:
    @report.command(kind.value, help=help_text)
    @click.option(
        "--since",
        default=None,
        help="起始日期 YYYY-MM-DD（默认 30 天前）/ first day" if period else None,
        hidden=not period,
    )
    @click.option(
        "--until",
        default=None,
        help="截止日期 YYYY-MM-DD / last day (audit) or due by (reviews)" if kind is not ReportKind.INVENTORY else None,
        hidden=kind is ReportKind.INVENTORY,
    )
    @click.option(
        "--category",
        "service_category",
        default=None,
        help="归档时的服务类别（默认 4.2）/ the report's service category in the archive",
    )
    @click.option("--pdf", is_flag=True, help="同时生成 PDF / also produce the PDF")
    @click.option("--pdfa", is_flag=True, help="PDF 采用 PDF/A-2b / the PDF as PDF/A-2b")
    @click.option("-o", "--output", default=None, help="另存 DOCX（及 PDF）：目录或文件 / also write the files here")
    @force_option
    @json_option
    @pass_ctx
    @handled
    def command(
        ctx: Context,
        since: str | None,
        until: str | None,
        service_category: str | None,
        pdf: bool,
        pdfa: bool,
        output: str | None,
        force: bool,
        as_json: bool,
    ) -> None:
        if since and not period:
            raise errors.InvalidInput(
                "此报告不按期间统计，请去掉 --since。", "This report has no period; drop --since.", field="since"
            )
        request = ReportRequest.parse(
            kind.value,
            today=ctx.guard.today(),
            since=since,
            until=until,
            service_category=service_category,
        )
        target = Path(output) if output else None
        if target is not None:
            refuse_existing(
                output_paths(target, document_filename(request.title, "docx"), pdf=pdf or pdfa), force=force
            )
        generated = ctx.guard.report(request, pdf=pdf or pdfa, pdf_a=pdfa)
        ctx.sync_index()
        result = generated.result
        written = write_generated(ctx, generated, target, force=force)
        if as_json:
            emit_json(
                {
                    "document": result.document.to_dict(),
                    "version": result.version.to_dict(),
                    "renditions": [r.to_dict() for r in generated.renditions],
                    "request": request.to_dict(),
                    "written": written,
                }
            )
            return
        echo(
            f"已生成并归档报告：文档 {result.document.id}《{result.document.metadata.title}》"
            f" / report archived as document {result.document.id}"
        )
        for path in written:
            echo(f"  已写出 written: {path}")


_report_command(ReportKind.INVENTORY, "档案清单：按服务类别、文档类别与项目统计 / archive inventory.", period=False)
_report_command(
    ReportKind.AUDIT, "审计报告：期间内谁做了什么、核验、被拒绝的操作 / audit report for a period.", period=True
)
_report_command(
    ReportKind.REVIEWS,
    "到期复审：需评审的 SLA 与服务管理计划（规范 8.1.3）/ SLAs and plans due for review.",
    period=False,
)
