"""docsvc search, docsvc synonyms show | check, docsvc index sync | rebuild | check, docsvc import."""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from typing import Any

import click

from docsvc import errors
from docsvc.cli import (
    EXIT_PROBLEMS,
    Context,
    cli,
    echo,
    emit_json,
    handled,
    json_option,
    json_text,
    pass_ctx,
    read_file,
)
from docsvc.core import synonyms as synonym_table
from docsvc.core.search import Hit, SearchRequest, SearchResult, Snippet, parse_filters
from docsvc.services.ocr import OCR_JOB
from docsvc.services.users import Permission


def hit_dict(h: Hit) -> dict[str, Any]:
    return {
        "document_id": h.document_id,
        "version": h.number,
        "version_id": h.version_id,
        "title": h.title,
        "original_filename": h.original_filename,
        "score": round(h.score, 4),
        "snippet": plain_snippet(h.snippet),
        "highlights": [list(m) for m in h.snippet.marks],
        "is_latest": h.is_latest,
        "doc_type": h.doc_type,
        "service_category": h.service_category,
        "doc_class": h.doc_class,
        "project": h.project,
        "counterparty": h.counterparty,
        "extraction_status": h.extraction_status,
    }


def plain_snippet(snippet: Snippet, *, marked: bool = False) -> str:
    """The excerpt for a terminal: with ``marked``, the matches in 【】."""
    if not marked:
        return snippet.text
    return "".join(f"【{part}】" if hit else part for part, hit in snippet.parts())


def explanation(result: SearchResult) -> dict[str, Any]:
    """What the synonym table added to the query, and the table's version."""
    return {
        "expansions": [{"typed": typed, "also": list(others)} for typed, others in result.expansions],
        "synonyms_version": result.synonyms_version,
    }


@cli.group()
def synonyms() -> None:
    """检索同义词表 / search synonyms (DOCSVC_SYNONYMS_FILE)."""


@synonyms.command("show")
@json_option
@pass_ctx
@handled
def synonyms_show(ctx: Context, as_json: bool) -> None:
    """列出在用的同义词 / list the synonyms in use."""
    table = ctx.guard.synonyms()
    if as_json:
        emit_json({"source": table.source, "version": table.version, "groups": [list(g) for g in table.groups]})
        return
    echo(f"{table.source}（{table.version}，{len(table.groups)} 组 / groups）")
    for group in table.groups:
        echo(" = ".join(group))


@synonyms.command("check")
@click.argument("path")
@handled
def synonyms_check(path: str) -> None:
    """检查同义词文件，不启用它 / check a synonyms file without using it."""
    table = synonym_table.load(path)
    echo(f"同义词文件有效：{len(table.groups)} 组，版本 {table.version}。设置 DOCSVC_SYNONYMS_FILE={path} 即可启用。")
    echo(
        f"The synonyms file is valid: {len(table.groups)} groups, version {table.version}. "
        f"Set DOCSVC_SYNONYMS_FILE={path} to use it."
    )


@cli.command()
@click.argument("query", required=False, default="")
@click.option(
    "--filter",
    "filters",
    multiple=True,
    metavar="KEY:VALUE",
    help="筛选，写法同网页与 API 的 filter 参数，如 doc_type:sla、project:港口运维（可重复：同一键取其一，不同键须同时满足）；"
    "也接受 key=value / filter, written as the web's and the API's filter parameter (repeatable: OR within a key, "
    "AND across keys); key=value is accepted too",
)
@click.option("--all-versions", is_flag=True, help="搜索所有版本（默认只搜最新版本）/ search every version")
@click.option(
    "--sort",
    type=click.Choice(["relevance", "date"]),
    default="relevance",
    show_default=True,
    help="按相关度或按日期（新的在前）/ by relevance or by date, newest first",
)
@click.option("--page", default=1, show_default=True, help="第几页 / page number")
@click.option("--per-page", default=10, show_default=True, help="每页条数（至多 100）/ results per page (at most 100)")
@click.option(
    "--queries",
    "queries_file",
    default=None,
    help="批量：每行一个查询，输出 JSON Lines / one query per line, JSON Lines out",
)
@json_option
@pass_ctx
@handled
def search(
    ctx: Context,
    query: str,
    filters: tuple[str, ...],
    all_versions: bool,
    sort: str,
    page: int,
    per_page: int,
    queries_file: str | None,
    as_json: bool,
) -> None:
    """全文搜索（中文优先），只读索引 / full-text search, Chinese first; reads the index only."""
    # Only reads: what was archived since the index was last brought up to date is found once
    # the server's index writer or `docsvc index sync` has applied it (CLI writes apply their own).
    gd = ctx.guard
    parsed = parse_filters(list(filters))

    def request(q: str) -> SearchRequest:
        return SearchRequest(
            query=q, filters=parsed, all_versions=all_versions, page=page, per_page=per_page, sort=sort
        )

    if queries_file is not None:
        lines = read_file(queries_file).decode("utf-8-sig", errors="replace").splitlines()
        for q in (line.strip() for line in lines):
            if not q:
                continue
            try:
                result = gd.search(request(q))
                out = {
                    "query": q,
                    "total": result.total,
                    "hits": [hit_dict(h) for h in result.hits],
                    **explanation(result),
                }
            except errors.DocsvcError as exc:
                out = {"query": q, "error": exc.to_dict()}
            click.echo(json_text(out))
        return
    result = gd.search(request(query))
    if as_json:
        emit_json(
            {
                "total": result.total,
                "page": result.page,
                "per_page": result.per_page,
                "partial": result.partial,
                "took_ms": round(result.took_ms, 1),
                "hits": [hit_dict(h) for h in result.hits],
                "facets": result.facets,
                **explanation(result),
            }
        )
        return
    echo(
        f"共 {result.total} 条结果（{result.took_ms:.0f} ms）/ {result.total} result(s)"
        + ("；超时，结果不完整 / partial" if result.partial else "")
    )
    for typed, others in result.expansions:
        echo(f"同义词 / synonyms: {typed} → {'、'.join(others)}（{result.synonyms_version}）")
    for i, h in enumerate(result.hits, start=(page - 1) * per_page + 1):
        latest = "" if h.is_latest else "（旧版本）"
        echo(f"\n{i}. [{h.document_id} v{h.number}{latest}] {h.title}  ({h.original_filename}, {h.score:.2f})")
        if h.snippet.text:
            echo(f"   {plain_snippet(h.snippet, marked=True)}")
    for facet, counts in result.facets.items():
        if counts:
            echo(f"\n{facet}: " + "  ".join(f"{k}({v})" for k, v in list(counts.items())[:8]))


@cli.group()
def index() -> None:
    """搜索索引 / the search index."""


@index.command("sync")
@json_option
@pass_ctx
@handled
def index_sync(ctx: Context, as_json: bool) -> None:
    """把待办队列中的变更写入索引，并识别等待 OCR 的扫描件 / apply pending changes to the index and OCR
    the scans waiting for it."""
    ctx.guard.require(Permission.OPERATE, "index_sync")
    report = ctx.svc.index.sync(claimed=True)  # everything queued, a running import's rows included
    ocr_done = 0
    if not report.error:
        # The scans the sync met are queued for OCR: read them here (a CLI without a server),
        # then index their text. A server's job runner may take some meanwhile; that is fine.
        while ctx.svc.jobs.run_next(kinds=(OCR_JOB,)) is not None:
            ocr_done += 1
        if ocr_done:
            again = ctx.svc.index.sync(claimed=True)
            report = replace(again, applied=report.applied + again.applied)
    embedded = 0 if report.error else ctx.embed_pending(quiet=as_json)
    if as_json:
        emit_json({**report.__dict__, "ocr_jobs": ocr_done, "embedded": embedded})
    elif report.error:
        echo(f"索引同步未完成 / sync incomplete：{report.error}（待处理 pending {report.pending}）")
    else:
        echo(f"已同步 {report.applied} 项 / {report.applied} change(s) applied.")
        if ocr_done:
            echo(f"已完成 {ocr_done} 个 OCR 任务 / {ocr_done} OCR job(s) run.")
        if embedded:
            echo(f"已为 {embedded} 个版本生成语义向量 / {embedded} version(s) embedded for semantic ranking.")
    if report.error:
        sys.exit(EXIT_PROBLEMS)


@index.command("rebuild")
@click.option("--restart", is_flag=True, help="从头重建，不续接上次中断的重建 / start over")
@click.option(
    "--procs",
    type=click.IntRange(1, 64),
    default=os.cpu_count() or 1,
    show_default="CPU 核数 / CPU cores",
    help="分词与写入进程数 / analysis and writer processes",
)
@json_option
@pass_ctx
@handled
def index_rebuild(ctx: Context, restart: bool, procs: int, as_json: bool) -> None:
    """从归档重建索引（分块、可续接）/ rebuild the index from the archive (chunked, resumable)."""
    ctx.guard.require(Permission.OPERATE, "index_rebuild")
    svc = ctx.svc
    total = ctx.guard.counts("index_rebuild")["versions"]
    if not as_json and svc.index.rebuild_pending() and not restart:
        echo("续接上次中断的重建 / resuming an interrupted rebuild", err=True)
    with click.progressbar(length=max(total, 1), label="重建索引 rebuilding", file=sys.stderr) as bar:
        done = svc.index.rebuild(resume=not restart, procs=procs, progress=bar.update)
    if as_json:
        emit_json({"indexed": done})
    else:
        echo(f"已重建索引，本次写入 {done} 个版本 / rebuilt: {done} version(s) indexed.")


@index.command("check")
@json_option
@pass_ctx
@handled
def index_check(ctx: Context, as_json: bool) -> None:
    """比对索引与目录库，报告偏差 / compare the index with the catalog and report drift."""
    ctx.guard.require(Permission.OPERATE, "index_check")
    report = ctx.svc.index.check()
    if as_json:
        emit_json(report.to_dict())
    else:
        echo(
            f"目录库版本 {report.catalog_versions} 个，索引中 {report.indexed_versions} 个，"
            f"待同步 {report.outbox_pending} 项。"
        )
        if report.needs_rebuild:
            echo(f"需要重建 / needs rebuild：{report.reason}")
        for label, ids in (
            ("索引缺失 missing", report.missing),
            ("索引多余 extra", report.extra),
            ("内容不符 mismatched", report.mismatched),
        ):
            if ids:
                echo(f"{label}: {', '.join(map(str, ids[:20]))}{' …' if len(ids) > 20 else ''}")
        echo("索引与目录库一致 / index matches the catalog" if report.ok else "发现偏差 / drift found")
    if not report.ok:
        sys.exit(EXIT_PROBLEMS)
