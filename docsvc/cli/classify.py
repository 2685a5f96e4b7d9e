"""docsvc import FOLDER, docsvc watch, docsvc classify ID, docsvc labels review | confirm | train."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import click

from docsvc.cli import KEY, Context, cli, echo, emit_json, handled, json_option, pass_ctx
from docsvc.core.model import ServiceCategory
from docsvc.services.bulk import ImportStatus, find_files
from docsvc.services.classify import MAX_REVIEW_PAGE, REVIEW_PAGE
from docsvc.services.intake import IntakeFolder
from docsvc.services.users import Permission


def _category(code: str) -> str:
    try:
        return f"{code} {ServiceCategory(code).zh}"
    except ValueError:
        return code


def label_line(name: str, label: dict[str, Any]) -> str:
    terms = "、".join(label["terms"][:5])
    value = _category(label["value"]) if name == "服务类别" else label["value"]
    return f"{name}: {value}  置信度 {label['confidence']:.0%}  依据 terms: {terms or '—'}"


@cli.command("import")
@click.argument("folder")
@click.option("--type", "doc_type", help="文档类型；不填则由系统建议 / document type (suggested if omitted)")
@click.option("--category", "service_category", help="服务类别；不填则由系统建议 / service category")
@click.option("--class", "doc_class", default="user", show_default=True, help="user（9.1）或 site（9.2）")
@click.option("--project", help="项目 / project")
@click.option("--counterparty", help="相对方 / counterparty")
@click.option("--tag", "tags", multiple=True, help="标签，可重复 / tag (repeatable)")
@click.option(
    "--no-embed",
    is_flag=True,
    help="不在导入后生成语义向量，留给服务器后台或 docsvc index sync（按词即可检索）/ leave the "
    "vectors for semantic ranking to the server's background indexer or docsvc index sync "
    "(searchable by words at once)",
)
@json_option
@pass_ctx
@handled
def import_cmd(ctx: Context, folder: str, no_embed: bool, as_json: bool, **defaults: Any) -> None:
    """批量导入文件夹中的文档（docx、dotx、pdf、txt、md、csv；docm、dotm、doc 列为失败并说明原因）/ bulk-import a folder."""
    ctx.guard.require(Permission.OPERATE, "import")
    defaults = {k: v for k, v in defaults.items() if v not in (None, (), "")}
    paths = find_files(Path(folder))
    with click.progressbar(length=max(len(paths), 1), label="导入 importing", file=sys.stderr) as bar:

        def finishing() -> None:
            bar.label = "完成索引 finishing the index"
            bar.render_progress()

        report = ctx.svc.importer.import_files(
            paths, defaults, actor=ctx.actor, progress=bar.update, finishing=finishing
        )
    # Labels the words suggested may be suggested again once the meaning is read (they change
    # in the archive, not in the items): the summary then counts the review list afresh.
    embedded = 0 if no_embed else ctx.embed_pending(quiet=as_json)
    if as_json:
        emit_json(
            {
                "added": report.count(ImportStatus.ADDED),
                "duplicates": report.count(ImportStatus.DUPLICATE),
                "failed": report.count(ImportStatus.FAILED),
                "embedded": embedded,
                "review_pending": ctx.guard.review_count(),
                "items": [i.to_dict() for i in report.items],
            }
        )
    else:
        for item in report.items:
            if item.status is ImportStatus.FAILED:
                echo(f"失败 failed  {item.path}: {item.error['message']} / {item.error['message_en']}")
            elif item.status is ImportStatus.DUPLICATE:
                echo(
                    f"跳过 skipped {item.path}: 与文档 {item.document_id} 内容相同 / same content as {item.document_id}"
                )
        review = sum(1 for i in report.items if i.needs_review)
        after = f"读取语义后，复核列表中共 {ctx.guard.review_count()} 份待确认。" if embedded else ""
        echo(
            f"新增 {report.count(ImportStatus.ADDED)} 份，跳过重复 {report.count(ImportStatus.DUPLICATE)} 份，"
            f"失败 {report.count(ImportStatus.FAILED)} 份；{review} 份的分类待人工确认（docsvc labels review）。{after}"
        )
    if report.count(ImportStatus.FAILED):
        sys.exit(1)


@cli.command()
@click.argument("doc_id", type=KEY)
@json_option
@pass_ctx
@handled
def classify(ctx: Context, doc_id: int, as_json: bool) -> None:
    """为文档建议类型与服务类别（含置信度和依据词）/ suggest a document's type and category."""
    suggestion = ctx.guard.suggest_document(doc_id).to_dict()
    if as_json:
        emit_json(suggestion)
        return
    echo(label_line("文档类型", suggestion["doc_type"]))
    echo(label_line("服务类别", suggestion["service_category"]))
    if suggestion["project"]:
        echo(f"项目: {suggestion['project']}")
    if suggestion["needs_review"]:
        echo("置信度较低，建议人工确认 / low confidence: please review")


@cli.group()
def labels() -> None:
    """分类建议的复核与学习 / review and learning of suggested labels."""


@labels.command("review")
@click.option("--all", "all_pending", is_flag=True, help="列出全部待确认建议（默认只列低置信度）")
@click.option(
    "--limit",
    type=click.IntRange(1, MAX_REVIEW_PAGE),
    default=REVIEW_PAGE,
    show_default=True,
    help=f"最多列出最早的几份（1-{MAX_REVIEW_PAGE}）/ the oldest N at most",
)
@json_option
@pass_ctx
@handled
def labels_review(ctx: Context, all_pending: bool, limit: int, as_json: bool) -> None:
    """待复核列表，最早的在前 / the review list, oldest first."""
    page = ctx.guard.review_page(all_pending=all_pending, limit=limit)
    items = page.items
    if as_json:
        emit_json([i.to_dict() for i in items])
        return
    for i in items:
        d = i.to_dict()
        echo(
            f"文档 {d['document_id']}  {d['title']}\n  {label_line('文档类型', d['doc_type'])}\n"
            f"  {label_line('服务类别', d['service_category'])}"
        )
    total = page.total
    if total > len(items):
        echo(
            f"共 {total} 份待确认，列出最早的 {len(items)} 份（--limit 可调，确认后其余依次列出）/ "
            f"{total} to review, the oldest {len(items)} listed (--limit; the rest come up as these are confirmed)"
        )
    else:
        echo(f"共 {total} 份待确认 / {total} to review")


@labels.command("confirm")
@click.argument("doc_id", type=KEY)
@click.option("--type", "doc_type", help="更正文档类型 / corrected type")
@click.option("--category", "service_category", help="更正服务类别 / corrected category")
@click.option("--project", help="更正项目 / corrected project")
@json_option
@pass_ctx
@handled
def labels_confirm(ctx: Context, doc_id: int, as_json: bool, **changes: Any) -> None:
    """接受或更正建议的分类 / accept or correct the suggested labels."""
    changes = {k: v for k, v in changes.items() if v}
    doc = ctx.guard.confirm_labels(doc_id, changes)
    ctx.sync_index()
    if as_json:
        emit_json(doc.to_dict())
    else:
        echo(
            f"文档 {doc_id} 的分类已{'更正' if changes else '确认'} / labels {'corrected' if changes else 'accepted'}."
        )


@labels.command("train")
@json_option
@pass_ctx
@handled
def labels_train(ctx: Context, as_json: bool) -> None:
    """用已确认的分类重新训练模型 / retrain the classifier on confirmed labels."""
    ctx.guard.require(Permission.OPERATE, "train_classifier")
    # With semantic ranking on, the meaning vectors still missing are made first (about 0.2 s
    # each): a bar shows them; none is shown when there are none to make.
    bar: Any = None

    def progress(done: int, of: int) -> None:
        nonlocal bar
        if bar is None:
            bar = click.progressbar(length=of, label="语义向量 meaning vectors", file=sys.stderr, hidden=as_json)
            bar.__enter__()
        bar.update(done - bar.pos)

    try:
        model = ctx.svc.classifier.train(actor=ctx.actor, progress=progress)
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    trained = {t: (m.n_samples if m else 0) for t, m in model.targets.items()}
    if as_json:
        emit_json({"samples": model.n_samples, "trained": trained, "fingerprint": model.labels_fingerprint})
    else:
        echo(
            f"已用 {model.n_samples} 份已确认文档训练 / trained on {model.n_samples} confirmed documents: "
            + "，".join(f"{t} {'模型' if n else '仅规则'}（{n}）" for t, n in trained.items())
        )


@cli.command()
@click.option("--folder", help="收件文件夹（默认取 DOCSVC_INTAKE_DIR）/ intake folder (default DOCSVC_INTAKE_DIR)")
@click.option(
    "--interval",
    type=click.FloatRange(0.1, 3600),
    default=2.0,
    show_default=True,
    help="两次扫描的间隔（秒）；文件须在两次扫描间保持不变才会导入 / seconds between scans; a file "
    "is taken once it did not change between two",
)
@click.option("--once", is_flag=True, help="扫描到没有未完成的文件为止，然后退出 / scan until nothing waits, then exit")
@pass_ctx
@handled
def watch(ctx: Context, folder: str | None, interval: float, once: bool) -> None:
    """监视收件文件夹并归档放入的文件 / watch the intake folder and archive what is dropped there."""
    ctx.guard.require(Permission.OPERATE, "watch")
    path = folder or str(ctx.svc.settings.get("INTAKE_DIR") or "")
    if not path:
        raise click.UsageError(
            "请用 --folder 或 DOCSVC_INTAKE_DIR 指定收件文件夹 / give --folder or DOCSVC_INTAKE_DIR."
        )
    intake = IntakeFolder(Path(path), ctx.svc.importer, settle_s=interval)
    echo(f"监视 watching {intake.folder}（done/、error/）", err=True)
    while True:
        report = intake.scan()
        for item in report.archived:
            echo(
                f"已归档 archived  {Path(item.path).name} → 文档 {item.document_id}"
                f"{'（待复核 to review）' if item.needs_review else ''}"
            )
        for item in report.duplicates:
            echo(f"重复 duplicate  {Path(item.path).name} = 文档 {item.document_id}")
        for item in report.failed:
            echo(f"失败 failed  {Path(item.path).name}: {item.error['message']} / {item.error['message_en']}")
        if once and not report.waiting and not intake.candidates():
            return
        time.sleep(interval)
