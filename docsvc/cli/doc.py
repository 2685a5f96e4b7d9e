"""docsvc doc add | version | show | history | get | list | set | bulk-set | zip | similar | delete."""

from __future__ import annotations

import io
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

from docsvc import errors
from docsvc.cli import (
    KEY,
    Context,
    cli,
    echo,
    emit_json,
    force_option,
    handled,
    json_option,
    pad,
    pass_ctx,
    read_file,
    shown,
    write_output,
)
from docsvc.cli.classify import label_line
from docsvc.cli.field import field_pairs, field_rows
from docsvc.cli.search import hit_dict
from docsvc.core.fields import FILTER_PREFIX
from docsvc.core.filenames import document_filename
from docsvc.core.model import (
    EXTRACTION_STATUS_LABELS,
    AuditAction,
    DocClass,
    DocStatus,
    Document,
    ServiceCategory,
    Version,
)
from docsvc.services import selection
from docsvc.services.access import RENDITION_KINDS
from docsvc.services.similar import DEFAULT_LIMIT, MAX_LIMIT


@cli.group()
def doc() -> None:
    """文档与版本 / documents and versions."""


def _print_document(
    d: Document, versions: list[Version], text_status: dict[int, str], fields: Sequence[tuple[str, str]] = ()
) -> None:
    m = d.metadata
    cat = ServiceCategory(m.service_category)
    rows = [
        ("编号 ID", d.id),
        ("标题 Title", m.title),
        ("类型 Type", m.doc_type),
        ("服务类别 Category", f"{cat.value} {cat.zh}"),
        ("文档类别 Class", f"{m.doc_class.value} {DocClass(m.doc_class).zh}"),
        ("服务范畴 Scope", m.service_scope.zh if m.service_scope else ""),
        ("项目 Project", m.project),
        ("相对方 Counterparty", m.counterparty),
        ("标签 Tags", "、".join(m.tags)),
        ("状态 Status", f"{m.status.value} {DocStatus(m.status).zh}"),
        ("生效日期 Effective", m.effective_date or ""),
        ("复审到期 Review due", m.review_due or ""),
        ("负责人 Owner", m.owner),
        ("最新版本 Latest", d.latest_version),
        ("更新于 Updated", d.updated_at.strftime("%Y-%m-%d %H:%M:%S UTC")),
    ]
    for label, value in rows:
        if value not in ("", None):
            echo(f"{pad(label, 24)}{shown(value)}")
    for label, value in fields:
        echo(f"{pad(label, 24)}{shown(value)}")
    for v in versions:
        status = text_status.get(v.id, "")
        names = EXTRACTION_STATUS_LABELS.get(status, (status, status))
        text_note = "" if status == "ok" else f"  [文本 text: {names[0]} / {names[1]}]"
        made = (
            f"  模板 {v.provenance['template']} v{v.provenance['template_version']}"
            if v.provenance.get("template")
            else ""
        )
        echo(
            f"  v{v.number}  {v.created_at:%Y-%m-%d %H:%M}  {shown(v.created_by)}  {v.size} B  {v.media_type}  "
            f"{shown(v.original_filename)}  sha256:{v.sha256[:12]}…  {shown(v.reason)}{made}{text_note}"
        )


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
        click.option(
            "--field", "fields", multiple=True, help="自定义字段 KEY=VALUE，可重复 / custom field (repeatable)"
        ),
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
    """归档一个新文档（docx、pdf、txt、md）；未给出的类型、服务类别和项目由系统建议 /
    archive a new document; the type, category and project left out are suggested."""
    meta = {k: v for k, v in meta.items() if v not in (None, (), "")}
    if "fields" in meta:
        meta["fields"] = field_pairs(meta["fields"])
    if "title" not in meta:
        meta["title"] = Path(file).stem
    data = read_file(file, limit=ctx.svc.settings["MAX_UPLOAD_BYTES"])
    result = ctx.guard.add_document(data, Path(file).name, meta, reason=reason)
    suggested = result.suggested
    ctx.sync_index()
    if as_json:
        emit_json(
            {
                "document": result.document.to_dict(),
                "version": result.version.to_dict(),
                "suggestion": dict(suggested.suggestion) if suggested else None,
            }
        )
        return
    echo(f"已归档文档 {result.document.id}（第 1 版，sha256 {result.version.sha256}）/ archived.")
    if suggested:
        s = suggested.suggestion
        echo(label_line("文档类型", s["doc_type"]))
        echo(label_line("服务类别", s["service_category"]))
        if s["needs_review"]:
            echo("置信度较低，已列入待复核列表（docsvc labels review）/ low confidence: on the review list.")


@doc.command("version")
@click.argument("doc_id", type=KEY)
@click.argument("file")
@click.option("--reason", required=True, help="变更原因（必填）/ change reason (required)")
@json_option
@pass_ctx
@handled
def doc_version(ctx: Context, doc_id: int, file: str, reason: str, as_json: bool) -> None:
    """为文档新增一个版本 / add a new version."""
    data = read_file(file, limit=ctx.svc.settings["MAX_UPLOAD_BYTES"])
    result = ctx.guard.add_version(doc_id, data, Path(file).name, reason=reason)
    ctx.sync_index()
    if as_json:
        emit_json({"created": result.created, "version": result.version.to_dict()})
    elif result.created:
        echo(f"文档 {doc_id} 新增第 {result.version.number} 版 / version {result.version.number} added.")
    else:
        echo(f"内容与第 {result.version.number} 版相同，未新增版本 / unchanged, no version added.")


@doc.command("show")
@click.argument("doc_id", type=KEY)
@json_option
@pass_ctx
@handled
def doc_show(ctx: Context, doc_id: int, as_json: bool) -> None:
    """查看文档元数据与版本 / show metadata and versions."""
    view = ctx.guard.document_view(doc_id)
    d, versions, text_status = view.history.document, view.history.versions, view.text_status
    if as_json:
        emit_json(
            {
                **d.to_dict(),
                "versions": [
                    {
                        **v.to_dict(),
                        "extraction_status": text_status[v.id],
                        "renditions": [r.to_dict() for r in view.renditions.get(v.id, [])],
                    }
                    for v in versions
                ],
            }
        )
    else:
        _print_document(d, versions, text_status, field_rows(d, ctx.guard.fields.list()))


@doc.command("history")
@click.argument("doc_id", type=KEY)
@json_option
@pass_ctx
@handled
def doc_history(ctx: Context, doc_id: int, as_json: bool) -> None:
    """完整历史：每个版本与每个事件（谁、何时、做了什么、为什么）/ full history."""
    h = ctx.guard.history(doc_id)
    if as_json:
        emit_json(
            {
                "document": h.document.to_dict(),
                "versions": [v.to_dict() for v in h.versions],
                "events": [e.to_dict() for e in h.events],
            }
        )
        return
    echo(f"文档 {doc_id}：{shown(h.document.metadata.title)}")
    for e in h.events:
        label = AuditAction(e.action).zh if e.action in AuditAction._value2member_map_ else e.action
        echo(
            f"#{e.seq:<6} {e.ts[:19].replace('T', ' ')}  {shown(e.actor):<16} {label}"
            f"{f' v{e.version}' if e.version else ''}  {summary(e.details)}"
        )


def summary(details: dict[str, Any]) -> str:
    """An audit entry's details on one line (its values escaped: see :func:`shown`)."""
    if "changes" in details:
        return "；".join(f"{shown(k)}: {shown(v['from'])} → {shown(v['to'])}" for k, v in details["changes"].items())
    parts = [shown(details[k]) for k in ("reason", "filename") if details.get(k)]
    if details.get("sha256"):
        parts.append(f"sha256:{details['sha256'][:12]}…")
    return "  ".join(parts)


@doc.command("get")
@click.argument("doc_id", type=KEY)
@click.option("--version", "number", type=KEY, default=None, help="版本号（默认最新）/ version (default latest)")
@click.option(
    "--rendition",
    type=click.Choice(sorted(RENDITION_KINDS)),
    default=None,
    help="取该版本的派生文件而非原件：pdf（Word 的 PDF）或 ocr-pdf（扫描件的可检索 PDF）/ "
    "a rendition instead of the original: pdf, or ocr-pdf (a scan's searchable PDF)",
)
@click.option(
    "-o", "--output", required=True, help="输出文件或目录，- 表示标准输出 / output file or folder, - for stdout"
)
@force_option
@json_option
@pass_ctx
@handled
def doc_get(
    ctx: Context, doc_id: int, number: int | None, rendition: str | None, output: str, force: bool, as_json: bool
) -> None:
    """取回某个版本（或其 PDF）的原始字节 / write a version's (or its PDF's) exact bytes."""
    gd = ctx.guard
    if rendition is None:
        version, data = gd.read_version(doc_id, number)
        name = version.original_filename
    else:
        number = number if number is not None else gd.document(doc_id).latest_version
        version, _r, data = gd.read_rendition(doc_id, number, rendition)
        name = document_filename(version.original_filename.rsplit(".", 1)[0], RENDITION_KINDS[rendition])
    if output == "-":
        sys.stdout.buffer.write(data)
        return
    target = Path(output)
    if target.is_dir():
        target = target / name
    write_output(target, data, force=force)
    if as_json:
        emit_json({"path": str(target), "version": version.to_dict(), "rendition": rendition})
    else:
        echo(
            f"已写出第 {version.number} 版{f'（{rendition.upper()}）' if rendition else ''}到 {target}"
            f"（{len(data)} 字节）/ written."
        )


@doc.command("list")
@click.option("--type", "doc_type", help="文档类型，如 contract、sla / document type")
@click.option("--category", "service_category", help="服务类别（规范第 4 章），如 4.2 / service category")
@click.option("--class", "doc_class", help="user（用户文档 9.1）或 site（现场文档 9.2）")
@click.option("--scope", "service_scope", help="support|provision|delivery（规范第 5 章）")
@click.option("--project", help="项目 / project")
@click.option("--counterparty", help="相对方 / counterparty")
@click.option("--status", help="draft|effective|superseded|archived")
@click.option("--owner", help="负责人 / owner")
@click.option("--tag", help="带此标签 / has this tag")
@click.option("--title", help="标题包含 / title contains")
@click.option("--review-due-before", "review_due_before", help="复审到期日不晚于 YYYY-MM-DD")
@click.option(
    "--field",
    "fields",
    multiple=True,
    help="自定义字段 KEY=VALUE，范围用 KEY_min=、KEY_max= / custom field filter (ranges: KEY_min, KEY_max)",
)
@click.option(
    "--sort",
    default="-updated_at",
    show_default=True,
    help="排序字段，前加 - 为降序（title 按拼音）/ sort key, - for descending: id, title, doc_type, "
    "service_category, project, counterparty, status, created_at, updated_at, review_due, effective_date",
)
@click.option(
    "--limit", default=50, show_default=True, help="每页条数（至多 1000）/ documents per page (at most 1,000)"
)
@click.option("--offset", default=0, show_default=True, help="跳过前多少条 / documents to skip")
@json_option
@pass_ctx
@handled
def doc_list(ctx: Context, as_json: bool, **params: Any) -> None:
    """列出文档（可筛选）/ list documents with filters."""
    params.update({FILTER_PREFIX + k: v for k, v in field_pairs(params.pop("fields")).items()})
    page = ctx.guard.list_documents(params)
    if as_json:
        emit_json({"items": [d.to_dict() for d in page.items], "total": page.total})
        return
    for d in page.items:
        m = d.metadata
        echo(
            f"{d.id:>6}  {m.doc_type:<18} {m.service_category:<6} {m.status.value:<10} v{d.latest_version:<3} {m.title}"
        )
    echo(f"共 {page.total} 份 / {page.total} document(s)")


@doc.command("set")
@click.argument("doc_id", type=KEY)
@click.argument("pairs", nargs=-1)
@click.option("--field", "fields", multiple=True, help="自定义字段 KEY=VALUE（空值清除）/ custom field (repeatable)")
@click.option("--reason", default="", help="修改原因 / reason")
@json_option
@pass_ctx
@handled
def doc_set(
    ctx: Context, doc_id: int, pairs: tuple[str, ...], fields: tuple[str, ...], reason: str, as_json: bool
) -> None:
    """修改元数据，如 status=effective review_due=2027-06-30 --field contract_value=48.6万 / change metadata."""
    changes: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise errors.InvalidInput(f"“{pair}”格式不对，应为 key=value。", f"'{pair}' is not key=value.")
        if key.strip().startswith(FILTER_PREFIX):  # field.KEY=VALUE, as the API's forms name it
            changes.setdefault("fields", {}).update(field_pairs([pair]))
            continue
        changes[key.strip()] = value
    if fields:
        changes.setdefault("fields", {}).update(field_pairs(fields))
    d = ctx.guard.set_metadata(doc_id, changes, reason=reason)
    ctx.sync_index()
    if as_json:
        emit_json(d.to_dict())
    else:
        echo(f"文档 {doc_id} 元数据已更新 / metadata updated.")


@doc.command("bulk-set")
@click.argument("items", nargs=-1, required=True, metavar="ID... KEY=VALUE...")
@click.option("--add-tag", "add_tags", multiple=True, help="添加的标签（可重复）/ tag to add (repeatable)")
@click.option("--remove-tag", "remove_tags", multiple=True, help="移除的标签（可重复）/ tag to remove (repeatable)")
@click.option("--reason", default="", help="修改原因 / reason")
@json_option
@pass_ctx
@handled
def doc_bulk_set(
    ctx: Context,
    items: tuple[str, ...],
    add_tags: tuple[str, ...],
    remove_tags: tuple[str, ...],
    reason: str,
    as_json: bool,
) -> None:
    """批量修改多份文档的类型、服务类别、项目、相对方、状态或标签，如
    docsvc doc bulk-set 3 5 8 status=effective --add-tag 年度 / change several documents at once.
    每份文档单独检查权限并记入审计；有文档被拒绝时退出码为 1 / each document is checked and
    audited on its own; exit status 1 when any was refused."""
    svc = ctx.svc
    ids_text = [i for i in items if "=" not in i]
    fields = {}
    for pair in (i for i in items if "=" in i):
        key, _, value = pair.partition("=")
        fields[key.strip()] = value
    change = selection.BulkChange.parse(
        {"set": fields, "add_tags": list(add_tags), "remove_tags": list(remove_tags), "reason": reason}
    )
    ids = selection.parse_ids(ids_text, limit=svc.settings["BULK_MAX_DOCUMENTS"])
    report = ctx.guard.bulk_set(ids, change)
    ctx.sync_index()
    if as_json:
        emit_json(report.to_dict())
    else:
        labels = {"changed": "已修改 changed", "unchanged": "无需修改 unchanged", "refused": "被拒绝 refused"}
        for item in report.items:
            line = f"{item.document_id:>8}  {pad(labels[item.status.value], 22)}{shown(item.title)}"
            if item.error:
                line += f"\n          {shown(item.error['message'])} / {shown(item.error['message_en'])}"
            echo(line)
        counts = report.to_dict()["counts"]
        echo(
            f"已修改 {counts['changed']} 份，无需修改 {counts['unchanged']} 份，被拒绝 {counts['refused']} 份 / "
            f"{counts['changed']} changed, {counts['unchanged']} unchanged, {counts['refused']} refused."
        )
    if report.refused:
        sys.exit(1)


@doc.command("zip")
@click.argument("ids", nargs=-1, required=True, metavar="ID...")
@click.option("-o", "--output", required=True, help="输出的 ZIP 文件 / the ZIP file to write")
@force_option
@json_option
@pass_ctx
@handled
def doc_zip(ctx: Context, ids: tuple[str, ...], output: str, force: bool, as_json: bool) -> None:
    """把多份文档的最新版本打包成一个 ZIP（每份记为一次下载）/ the latest versions of several
    documents in one ZIP (each audited as a download)."""
    svc = ctx.svc
    chosen = selection.parse_ids(list(ids), limit=svc.settings["BULK_MAX_DOCUMENTS"])
    out = io.BytesIO()
    summary = ctx.guard.selection_zip(chosen, out)
    target = write_output(Path(output), out.getvalue(), force=force)
    if as_json:
        emit_json({"path": str(target), "files": list(summary.names), "size": summary.size})
    else:
        echo(f"已写出 {len(summary.names)} 份文档到 {target} / {len(summary.names)} document(s) written.")


@doc.command("similar")
@click.argument("doc_id", type=KEY)
@click.option(
    "--limit",
    type=int,
    default=DEFAULT_LIMIT,
    show_default=True,
    help=f"最多列出几份（1–{MAX_LIMIT}）/ how many (1–{MAX_LIMIT})",
)
@click.option(
    "--as",
    "actor",
    default=None,
    metavar="USER",
    help="按该用户的权限查找（默认同 docsvc --as）/ find as this user (default: docsvc --as)",
)
@json_option
@pass_ctx
@handled
def doc_similar(ctx: Context, doc_id: int, limit: int, actor: str | None, as_json: bool) -> None:
    """相似文档：按本文档最有区分度的词搜索 / similar documents, by this document's most distinctive words."""
    # Through the same Guard as the web and the API: a docsvc user named by --as sees only what
    # search shows them; an operator who is no docsvc user runs as an administrator.
    hits = (ctx.guard_as(actor) if actor else ctx.guard).similar(doc_id, limit)
    if as_json:
        emit_json(
            {
                "document_id": doc_id,
                "items": [
                    {
                        **{k: v for k, v in hit_dict(h).items() if k not in ("snippet", "highlights")},
                        "effective_date": h.effective_date.isoformat() if h.effective_date else None,
                        "created_at": h.created_at.isoformat() if h.created_at else None,
                    }
                    for h in hits
                ],
            }
        )
        return
    if not hits:
        echo("没有相似文档 / no similar documents.")
    for h in hits:
        day = h.effective_date or (h.created_at.date() if h.created_at else "")
        echo(f"{h.document_id:>6}  {pad(h.doc_type, 18)}{day}  {h.title}")


@doc.command("delete")
@click.argument("doc_id", type=KEY)
@click.option("--reason", required=True, help="删除理由 / reason")
@pass_ctx
@handled
def doc_delete(ctx: Context, doc_id: int, reason: str) -> None:
    """申请删除（归档记录不可删除：请求会被记录并拒绝）/ request deletion (logged and refused)."""
    ctx.guard.request_deletion(doc_id, reason=reason)


@doc.command("pdf")
@click.argument("doc_id", type=KEY)
@click.option("--version", "number", type=KEY, default=None, help="版本号（默认最新）/ version (default latest)")
@click.option(
    "--wait",
    is_flag=True,
    help="等待 PDF 生成完成；若没有服务器接手，就在本进程中转换 / wait until it is made; converts here "
    "when no server has taken it",
)
@json_option
@pass_ctx
@handled
def doc_pdf(ctx: Context, doc_id: int, number: int | None, wait: bool, as_json: bool) -> None:
    """为 Word 版本生成 PDF（后台任务）/ make the PDF of a Word version (a background job)."""
    gd = ctx.guard
    asked = gd.request_rendition(doc_id, number, "pdf")
    job = asked.job
    if job is not None and wait:
        job = gd.wait_job(job.id)
    rendition = asked.rendition
    if job is not None and job.state.value == "done":
        rendition = gd.request_rendition(doc_id, asked.version.number, "pdf").rendition  # made now: stored
    if as_json:
        emit_json(
            {
                "document_id": doc_id,
                "version": asked.version.number,
                "rendition": rendition.to_dict() if rendition else None,
                "job": job.to_dict() if job else None,
            }
        )
    elif rendition is not None:
        echo(
            f"文档 {doc_id} 第 {asked.version.number} 版的 PDF：sha256 {rendition.sha256}，{rendition.size} 字节"
            f"（docsvc doc show {doc_id}）/ PDF ready."
        )
    elif job.state.value != "failed":
        echo(
            f"已排队：任务 {job.id}（{job.state.value}），运行中的服务器会生成 PDF；用 docsvc job show {job.id} 查看"
            f" / queued as job {job.id}."
        )
    if job is not None and job.state.value == "failed":
        raise errors.Unavailable(
            f"PDF 生成失败（任务 {job.id}）：{job.error['message']}",
            f"The PDF could not be made (job {job.id}): {job.error['message_en']}",
        )


@cli.command("ocr")
@click.argument("doc_id", type=KEY)
@click.option("--version", "number", type=KEY, default=None, help="版本号（默认最新）/ version (default latest)")
@click.option(
    "--wait/--no-wait",
    default=True,
    show_default=True,
    help="等待识别完成；若没有服务器接手，就在本进程中识别 / wait until it is read; reads it here when "
    "no server has taken it",
)
@json_option
@pass_ctx
@handled
def ocr_rerun(ctx: Context, doc_id: int, number: int | None, wait: bool, as_json: bool) -> None:
    """重新识别扫描件或图片的文字（OCR，需要管理员）/ read a scan's or image's text again (OCR; managers)."""
    gd = ctx.guard
    version, job, _created = gd.rerun_ocr(doc_id, number)
    if wait:
        job = gd.wait_job(job.id)
        if job.state.value == "done":
            ctx.sync_index()  # the text read here, searchable now
    info = gd.ocr_status(doc_id, version.number)[2]
    if as_json:
        emit_json(
            {
                "document_id": doc_id,
                "version": version.number,
                "job": job.to_dict(),
                "ocr": info.to_dict() if info else None,
            }
        )
    elif job.state.value == "done" and info is not None:
        conf = f"{info.confidence:.1%}" if info.confidence is not None else "-"
        echo(
            f"文档 {doc_id} 第 {version.number} 版已重新识别：{info.engine} {info.engine_version}，"
            f"置信度 {conf}，{len(info.pages)} 页 / read again ({info.status})."
        )
    elif job.state.value != "failed":
        echo(f"已排队：任务 {job.id}（{job.state.value}）；用 docsvc job show {job.id} 查看 / queued as job {job.id}.")
    if job.state.value == "failed":
        raise errors.Unavailable(
            f"OCR 失败（任务 {job.id}）：{job.error['message']}",
            f"OCR failed (job {job.id}): {job.error['message_en']}",
        )


doc.add_command(ocr_rerun, name="ocr")  # docsvc doc ocr ID, as docsvc ocr ID
