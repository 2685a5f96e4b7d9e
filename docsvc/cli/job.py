"""docsvc job list | show: the background job queue shared by every server."""

from __future__ import annotations

import click

from docsvc.cli import KEY, Context, cli, echo, emit_json, handled, json_option, pad, pass_ctx
from docsvc.services.jobs import Job


@cli.group()
def job() -> None:
    """后台任务队列 / the background job queue."""


def _when(ts) -> str:
    return ts.strftime("%Y-%m-%d %H:%M:%S") if ts else "—"


@job.command("list")
@click.option("--state", default=None, help="queued|running|done|failed")
@click.option("--kind", default=None, help="任务类型，如 rendition.pdf / job kind")
@click.option("--limit", default=50, show_default=True, help="至多列出多少个（最新的在前）/ how many, newest first")
@json_option
@pass_ctx
@handled
def job_list(ctx: Context, state: str | None, kind: str | None, limit: int, as_json: bool) -> None:
    """列出任务（最新的在前）；服务器节点见 docsvc 系统状态页 / jobs, newest first."""
    jobs, total = ctx.guard.jobs(state=state, kind=kind, limit=limit)
    if as_json:
        emit_json({"items": [j.to_dict() for j in jobs], "total": total})
        return
    for j in jobs:
        echo(
            f"{j.id:>6}  {pad(j.kind, 18)}{pad(f'{j.state.value} {j.state.zh}', 16)}{j.attempts}/{j.max_attempts}  "
            f"{pad(j.node or '—', 24)}{_when(j.created_at)}  {j.created_by}"
        )
    echo(f"共 {total} 个任务 / {total} job(s)")


@job.command("show")
@click.argument("job_id", type=KEY)
@json_option
@pass_ctx
@handled
def job_show(ctx: Context, job_id: int, as_json: bool) -> None:
    """一个任务的状态、运行节点、结果或错误 / one job: state, node, result or error."""
    j: Job = ctx.guard.job(job_id)
    if as_json:
        emit_json(j.to_dict())
        return
    rows = [
        ("任务 Job", j.id),
        ("类型 Kind", j.kind),
        ("状态 State", f"{j.state.value} {j.state.zh}"),
        ("参数 Payload", j.payload),
        ("尝试 Attempts", f"{j.attempts}/{j.max_attempts}"),
        ("节点 Node", j.node or "—"),
        ("创建 Created", f"{_when(j.created_at)}  {j.created_by}"),
        ("开始 Started", _when(j.started_at)),
        ("结束 Finished", _when(j.finished_at)),
        ("结果 Result", j.result or ""),
    ]
    if j.error:
        rows.append(("错误 Error", f"{j.error.get('message', '')}\n{' ' * 24}{j.error.get('message_en', '')}"))
    for label, value in rows:
        if value not in ("", None):
            echo(f"{pad(label, 24)}{value}")
