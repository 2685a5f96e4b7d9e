"""Batch generation from a spreadsheet, in the background: one document per row.

The web page and the REST API take a CSV or XLSX file (the skeleton :func:`skeleton` hands out,
or any sheet whose headers are the fields' labels or paths; see docsvc.core.tabular), check
every row at once (:func:`check`, through :meth:`TemplateService.check_batch`: the one drafting
path's ``prepare`` per row, plus the drafter's access), and only then queue one
``template.batch`` job holding the rows. Whichever server is free runs it
(:func:`run_job`): :meth:`TemplateService.generate_batch` — the same service ``docsvc generate
--batch`` calls — with the job's progress (rows done, each row's result) recorded as its result
so far, which the batch page shows while it runs.

All or nothing by default: a file with an invalid row generates nothing, and the drafter fixes
the sheet and uploads it again (a batch is usually one set of documents: half of it is rarely
what was wanted). With ``skip_invalid`` the valid rows are generated and the invalid ones listed.

A batch job is run once (``max_attempts`` 1): its rows are archived one by one, so a run that
died half-way is not repeated (it would archive the first rows twice); its page says which rows
were generated before it stopped.
"""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import IO, TYPE_CHECKING, Any

from docsvc.adapters.jobs import Job
from docsvc.core.filenames import document_filename
from docsvc.core.tabular import Row, read_numbered, skeleton_columns, skeleton_csv, skeleton_xlsx
from docsvc.errors import Forbidden, InvalidInput, NotFound, TooLarge
from docsvc.services.jobs import JobContext
from docsvc.services.templates import BatchItem, Draft, Template

if TYPE_CHECKING:
    from docsvc.services.access import Guard
    from docsvc.services.container import Services, Workers

BATCH_JOB = "template.batch"
FORMATS = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
}


@dataclass(frozen=True)
class Skeleton:
    filename: str
    media_type: str
    data: bytes


@dataclass(frozen=True)
class Batch:
    """A batch job as its page shows it: the template, the progress and each row's result."""

    job: Job
    template_slug: str
    filename: str
    total: int
    items: list[dict[str, Any]]  # in row order: row, document_id, version, title, error
    skipped: list[dict[str, Any]]  # invalid rows left out (skip_invalid): row, error

    @property
    def done(self) -> int:
        return len(self.items)

    @property
    def succeeded(self) -> int:
        return sum(1 for i in self.items if not i.get("error"))

    @property
    def failed(self) -> int:
        return self.done - self.succeeded

    @property
    def percent(self) -> int:
        return 100 if not self.total else int(100 * self.done / self.total)

    def to_dict(self) -> dict[str, Any]:
        return {
            "job_id": self.job.id,
            "state": self.job.state.value,
            "template": self.template_slug,
            "filename": self.filename,
            "total": self.total,
            "done": self.done,
            "percent": self.percent,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "items": self.items,
            "skipped": self.skipped,
            "error": self.job.error,
        }


def skeleton(template: Template, fmt: str) -> Skeleton:
    """The spreadsheet to fill in: the fields' Chinese labels as headers, one example row."""
    if fmt not in FORMATS:
        raise NotFound(
            f"表格模板只有 xlsx 和 csv 两种格式，没有“{fmt}”。",
            f"The spreadsheet comes as xlsx or csv, not '{fmt}'.",
            field="format",
        )
    columns = skeleton_columns(template.schema)
    data = skeleton_xlsx(columns) if fmt == "xlsx" else skeleton_csv(columns)
    return Skeleton(f"{template.record.name_zh}-批量生成.{fmt}", FORMATS[fmt], data)


def read(svc: Services, template: Template, data: bytes) -> list[Row]:
    """The rows of an uploaded sheet, within the installation's limits."""
    limit = svc.settings["BATCH_MAX_BYTES"]
    if len(data) > limit:
        raise TooLarge(
            f"批量文件过大（{len(data)} 字节），上限为 {limit} 字节，请拆分后分批上传。",
            f"The batch file is too large ({len(data)} bytes; the limit is {limit}); split it.",
            field="file",
        )
    rows = read_numbered(data, schema=template.schema, max_rows=svc.settings["BATCH_MAX_ROWS"])
    if not rows:
        raise InvalidInput(
            "批量文件只有表头，没有数据行：请从第 2 行起每行填写一份文档。",
            "The batch file has a header and no data rows: fill in one document per row, from row 2.",
            field="file",
        )
    return rows


def invalid_rows(template: Template, items: list[BatchItem]) -> InvalidInput:
    """One error for a sheet with invalid rows, listing each row's problems (``details.rows``)."""
    rows: list[dict[str, Any]] = [{"row": i.row, "errors": row_errors(template, i.error or {})} for i in items]
    first = rows[0]["errors"][0]
    numbers = "、".join(str(r["row"]) for r in rows[:10]) + ("…" if len(rows) > 10 else "")
    numbers_en = ", ".join(str(r["row"]) for r in rows[:10]) + ("…" if len(rows) > 10 else "")
    return InvalidInput(
        f"批量文件有 {len(rows)} 行需要修改（第 {numbers} 行），未生成任何文档。第 {rows[0]['row']} 行：{first['zh']}",
        f"{len(rows)} row(s) of the batch file need fixing (row {numbers_en}); nothing was generated. "
        f"Row {rows[0]['row']}: {first['en']}",
        field="file",
        details={"rows": rows},
    )


def row_errors(template: Template, error: Mapping[str, Any]) -> list[dict[str, str]]:
    """A row's problems, each with the field's label in both languages (a table's cell named
    with its row: 付款计划 第 2 行 金额)."""
    listed = (error.get("details") or {}).get("errors") or [
        {"field": error.get("field") or "", "zh": error.get("message", ""), "en": error.get("message_en", "")}
    ]
    return [
        {
            "field": e.get("field") or "",
            **_labels(template, e.get("field") or ""),
            "zh": e.get("zh", ""),
            "en": e.get("en", ""),
        }
        for e in listed
    ]


def _labels(template: Template, path: str) -> dict[str, str]:
    zh, en, prefix = [], [], ""
    for part in path.split(".") if path else []:
        name, _, index = part.partition("[")
        try:
            f = template.schema.field(prefix + name)
        except KeyError:
            break
        zh.append(f.label_zh + (f" 第 {int(index.rstrip(']')) + 1} 行" if index else ""))
        en.append(f.label_en + (f" row {int(index.rstrip(']')) + 1}" if index else ""))
        prefix += name + ("[]." if index else ".")
    return {"label_zh": " · ".join(zh), "label_en": " · ".join(en)}


def start(
    svc: Services,
    gd: Guard,
    template: Template,
    data: bytes,
    filename: str,
    *,
    pdf: bool = False,
    skip_invalid: bool = False,
    check: Callable[[Draft], None] | None = None,
) -> tuple[Job, bool]:
    """Check every row, then queue the job that generates them (the same file uploaded again
    while its job is still queued or running finds that job: ``created`` False)."""
    rows = read(svc, template, data)
    invalid = svc.templates.check_batch(template, rows, check=check)
    if invalid and (not skip_invalid or len(invalid) == len(rows)):
        raise invalid_rows(template, invalid)
    bad = {i.row for i in invalid}
    skipped = [{"row": i.row, "errors": row_errors(template, i.error or {})} for i in invalid]
    payload = {
        "account": gd.p.user_id is not None,
        "template": template.slug,
        "template_version": template.version,
        "filename": filename[:200],
        "pdf": pdf,
        "total": len(rows) - len(bad),
        "skipped": skipped,
        "rows": [{"row": r.number, "data": r.data} for r in rows if r.number not in bad],
    }
    key = f"{BATCH_JOB}:{gd.p.username}:{hashlib.sha256(data).hexdigest()}:{int(pdf)}:{int(skip_invalid)}"
    return svc.jobs.enqueue(BATCH_JOB, payload, actor=gd.p.username, key=key[:200])


def run_job(svc: Workers, ctx: JobContext) -> dict[str, Any]:
    """Generate the job's rows as the person who queued them, through their Guard (their
    role and projects as they are now), recording each row's result as it comes."""
    job = ctx.job
    principal = svc.users.principal_for_cli(job.created_by)
    if job.payload.get("account", True) and principal.user_id is None:
        # Started by a person who has been deactivated since: not generated under another role
        # (the CLI's operator, who has no account, runs as the operator, as the CLI does).
        raise Forbidden(
            f"用户“{job.created_by}”已停用或不存在，其批量生成任务不再执行。",
            f"User '{job.created_by}' is deactivated or gone; their batch is not generated.",
        )
    gd = svc.guard(replace(principal, via="job"))
    template = svc.templates.get(job.payload["template"], job.payload["template_version"])
    rows = [Row(int(r["row"]), r["data"]) for r in job.payload["rows"]]
    items: list[dict[str, Any]] = []

    def record(item: BatchItem) -> None:
        items.append(item.to_dict())
        ctx.progress(svc.jobs.store, _result(job, items))

    gd.generate_batch(template, rows, pdf=bool(job.payload.get("pdf")), on_item=record, stop=ctx.lost)
    return _result(job, items)


def _result(job: Job, items: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "total": job.payload.get("total", 0),
        "done": len(items),
        "succeeded": sum(1 for i in items if not i.get("error")),
        "items": items,
    }


def view(job: Job) -> Batch:
    result = job.result or {}
    return Batch(
        job,
        job.payload.get("template", ""),
        job.payload.get("filename", ""),
        int(job.payload.get("total") or 0),
        list(result.get("items") or []),
        list(job.payload.get("skipped") or []),
    )


def write_zip(gd: Guard, batch: Batch, out: IO[bytes]) -> int:
    """The generated files (each version's DOCX, and its PDF when made) in one ZIP, read
    through the Guard (each read verified and audited, as a download is); returns the count."""
    used: set[str] = set()
    count = 0
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for item in batch.items:
            if item.get("error") or not item.get("document_id"):
                continue
            version, data = gd.read_version(int(item["document_id"]), int(item["version"]))
            files = [(version.original_filename or document_filename(item.get("title") or "文档", "docx"), data)]
            if any(r.kind == "pdf" for r in gd.svc.catalog.renditions(version.id)):
                _v, _rendition, pdf = gd.read_rendition(version.document_id, version.number, "pdf")
                files.append((files[0][0].rsplit(".", 1)[0] + ".pdf", pdf))
            for name, content in files:
                if name in used:  # two rows with one title: each file named after its row
                    stem, _dot, ext = name.rpartition(".")
                    name = f"{stem}（第{item['row']}行）.{ext}"
                used.add(name)
                zf.writestr(name, content)
                count += 1
    return count
