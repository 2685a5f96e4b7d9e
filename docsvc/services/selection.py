"""What is done to a selection of documents at once: change their labels, download them as a ZIP.

Both go document by document through the principal's :class:`~docsvc.services.access.Guard`,
exactly as a single edit or a single download does: each change is one audited metadata change
of one document (``metadata.changed``), each file one audited download (``version.downloaded``),
and a document the role may not change is refused on its own, with the reason, while the others
go on. The selection itself is checked first, as one piece of input: an id that names no document
the principal may see (missing, or an on-site document of another project — the two answer alike,
so ids cannot be probed), an empty or too large selection, a value no document may have: the
whole request is refused (400) and nothing is changed or read.
"""

from __future__ import annotations

import datetime as dt
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import PurePosixPath
from typing import IO, TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from docsvc.core.content import DOCX, PDF
from docsvc.core.filenames import document_filename
from docsvc.core.inputs import parse_int, refuse_controls
from docsvc.core.model import Document, Version
from docsvc.errors import Conflict, Forbidden, InvalidInput, NotFound, TooLarge
from docsvc.services.archive import MAX_REASON

if TYPE_CHECKING:
    from docsvc.services.access import Guard

#: The labels a bulk change may set (the same for every selected document).
SETTABLE = ("doc_type", "service_category", "project", "counterparty", "status")
BULK_REASON = "批量修改 / bulk change"
MAX_BULK_REASON = MAX_REASON - len(BULK_REASON) - 1  # the person's reason follows BULK_REASON in the audit entry
_REQUIRED = ("doc_type", "service_category", "status")  # every document has one: "" is no value to set
# Already compressed: stored as they are in the ZIP instead of compressed a second time.
_STORED = {DOCX, PDF, "image/jpeg", "image/png", "image/tiff", "image/webp"}


class BulkStatus(StrEnum):
    CHANGED = "changed"
    UNCHANGED = "unchanged"  # the document already had these labels: nothing recorded
    REFUSED = "refused"  # not allowed for this document (role, project), or not valid for it


@dataclass(frozen=True)
class BulkChange:
    """One change for every selected document: labels to set, tags to add and remove."""

    fields: Mapping[str, str] = field(default_factory=dict)
    add_tags: tuple[str, ...] = ()
    remove_tags: tuple[str, ...] = ()
    reason: str = ""

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> BulkChange:
        """From a form, a JSON body or the CLI: ``set`` (or the fields themselves), ``add_tags``,
        ``remove_tags`` (a list, or text separated by commas), ``reason``. The values are checked
        against the vocabulary by the Guard (:meth:`Guard.bulk_set`)."""
        fields = data.get("set", {})
        if not isinstance(fields, Mapping):
            raise InvalidInput(
                'set 应为对象，如 {"status": "effective"}。',
                'set must be an object, e.g. {"status": "effective"}.',
                field="set",
            )
        unknown = sorted(set(fields) - set(SETTABLE))
        if unknown:
            raise InvalidInput(
                f"批量修改不能设置字段：{', '.join(unknown)}。可设置：{', '.join(SETTABLE)}。",
                f"A bulk change cannot set: {', '.join(unknown)}. It can set: {', '.join(SETTABLE)}.",
                field=unknown[0],
            )
        for name, value in fields.items():
            if not isinstance(value, str):
                raise InvalidInput(f"字段 {name} 的值应为文本。", f"The value of {name} must be text.", field=name)
        add, remove = _tags(data.get("add_tags"), "add_tags"), _tags(data.get("remove_tags"), "remove_tags")
        both = sorted(set(add) & set(remove))
        if both:
            raise InvalidInput(
                f"标签不能同时添加和移除：{'，'.join(both)}。",
                f"A tag cannot be both added and removed: {', '.join(both)}.",
                field="add_tags",
            )
        for name in _REQUIRED:
            if name in fields and not fields[name].strip():
                raise InvalidInput(
                    f"字段 {name} 不能为空；不修改就不要给出它。",
                    f"{name} cannot be empty; leave it out to keep each document's own.",
                    field=name,
                )
        reason = data.get("reason")
        if reason is None:
            reason = ""
        if not isinstance(reason, str):  # {} or [] is no reason either: refused, not read as empty
            raise InvalidInput("reason 应为文本。", "reason must be text.", field="reason")
        # Checked here, not per document: the reason is the same for all of them.
        reason = refuse_controls(
            reason.replace("\r\n", "\n").replace("\r", "\n").strip(), "reason", "修改原因", allowed="\t\n"
        )
        if len(reason) > MAX_BULK_REASON:
            raise InvalidInput(
                f"修改原因过长（最多 {MAX_BULK_REASON} 个字符）。",
                f"The reason is too long (at most {MAX_BULK_REASON} characters).",
                field="reason",
            )
        change = cls({k: v.strip() for k, v in fields.items()}, add, remove, reason)
        if not (change.fields or change.add_tags or change.remove_tags):
            raise InvalidInput(
                "请至少选择一项修改（类型、服务类别、项目、相对方、状态或标签）。",
                "Choose at least one change (type, service category, project, counterparty, status or tags).",
                field="set",
            )
        return change

    def changes_for(self, doc: Document) -> dict[str, Any]:
        """The metadata changes this means for ``doc`` (its tags with the added ones, without the
        removed ones); never empty, so the single edit's checks always run."""
        changes: dict[str, Any] = dict(self.fields)
        if self.add_tags or self.remove_tags:
            kept = [t for t in doc.metadata.tags if t not in self.remove_tags]
            changes["tags"] = kept + [t for t in self.add_tags if t not in kept]
        return changes

    def audit_reason(self) -> str:
        return f"{BULK_REASON}：{self.reason}" if self.reason else BULK_REASON


def _tags(raw: Any, name: str) -> tuple[str, ...]:
    if raw in (None, ""):
        return ()
    if isinstance(raw, str):
        raw = raw.replace("，", ",").split(",")
    if not isinstance(raw, (list, tuple)) or not all(isinstance(t, str) for t in raw):
        raise InvalidInput(
            f"{name} 应为标签列表，或用逗号分隔的文本。",
            f"{name} must be a list of tags, or text separated by commas.",
            field=name,
        )
    return tuple(dict.fromkeys(t.strip() for t in raw if t.strip()))


def parse_ids(raw: Any, *, limit: int, from_text: bool = True) -> tuple[int, ...]:
    """The selected document ids, each once, in the order given: at least one, at most ``limit``
    (a clear error instead of a request that runs for minutes)."""
    if raw is None or raw == "":
        raw = []
    if isinstance(raw, str):
        raw = raw.replace("，", ",").split(",")
    if not isinstance(raw, (list, tuple)):
        raise InvalidInput("ids 应为文档编号的列表。", "ids must be a list of document ids.", field="ids")
    ids = tuple(
        dict.fromkeys(
            parse_int(i.strip() if isinstance(i, str) else i, "ids", from_text=from_text)
            for i in raw
            if not (isinstance(i, str) and not i.strip())
        )
    )
    if not ids:
        raise InvalidInput(
            "未选择任何文档。请先勾选要处理的文档。",
            "No document is selected. Tick the documents to act on first.",
            field="ids",
        )
    if len(ids) > limit:
        raise TooLarge(
            f"一次最多处理 {limit} 份文档，已选择 {len(ids)} 份。请分批处理。",
            f"At most {limit} documents can be handled at once; {len(ids)} are selected. Work in smaller batches.",
            field="ids",
        )
    return tuple(i for i in ids if i is not None)


@dataclass(frozen=True)
class BulkItem:
    document_id: int
    title: str
    status: BulkStatus
    changes: Mapping[str, Any] = field(default_factory=dict)  # field → {"from", "to"}, when changed
    error: Mapping[str, Any] | None = None  # DocsvcError.to_dict(), when refused

    def to_dict(self) -> dict[str, Any]:
        return {
            "document_id": self.document_id,
            "title": self.title,
            "status": self.status.value,
            "changes": dict(self.changes),
            "error": dict(self.error) if self.error else None,
        }


@dataclass(frozen=True)
class BulkReport:
    items: tuple[BulkItem, ...]

    def count(self, status: BulkStatus) -> int:
        return sum(1 for i in self.items if i.status is status)

    @property
    def refused(self) -> list[BulkItem]:
        return [i for i in self.items if i.status is BulkStatus.REFUSED]

    def to_dict(self) -> dict[str, Any]:
        return {"counts": {s.value: self.count(s) for s in BulkStatus}, "items": [i.to_dict() for i in self.items]}


def selected(guard: Guard, ids: Iterable[int]) -> list[Document]:
    """The documents, checked as one piece of input: every id must name a document the principal
    may see (a hidden one is refused, and logged, like a missing one)."""
    docs, missing = [], []
    for doc_id in ids:
        try:
            docs.append(guard.document(doc_id))
        except NotFound:
            missing.append(str(doc_id))
    if missing:
        raise InvalidInput(
            f"以下文档不存在：{', '.join(missing)}。请刷新列表后重新选择；未做任何修改。",
            f"These documents do not exist: {', '.join(missing)}. Reload the list and select "
            "again; nothing was changed.",
            field="ids",
            details={"missing": missing},
        )
    return docs


def apply(guard: Guard, docs: Iterable[Document], change: BulkChange) -> BulkReport:
    """``change`` made to each document with the single edit (:meth:`Guard.set_metadata`): the
    same authorisation, one audited change per document; a refusal is that document's result."""
    items = []
    for doc in docs:
        try:
            after = guard.set_metadata(doc.id, change.changes_for(doc), reason=change.audit_reason())
        except (Forbidden, InvalidInput, NotFound, Conflict) as exc:
            items.append(BulkItem(doc.id, doc.metadata.title, BulkStatus.REFUSED, error=exc.to_dict()))
            continue
        diff = doc.metadata.diff(after.metadata)
        items.append(
            BulkItem(doc.id, after.metadata.title, BulkStatus.CHANGED if diff else BulkStatus.UNCHANGED, changes=diff)
        )
    return BulkReport(tuple(items))


@dataclass(frozen=True)
class ZipSummary:
    names: tuple[str, ...]  # the members, in the order of the selection
    size: int  # the files' bytes before compression


def latest_versions(guard: Guard, docs: Iterable[Document], *, max_bytes: int) -> list[tuple[Document, Version]]:
    """Each document's latest version, refused up front (nothing read) when together they are
    more than ``max_bytes``."""
    chosen = [(d, guard.svc.archive.version(d.id)) for d in docs]
    total = sum(v.size for _, v in chosen)
    if total > max_bytes:
        mib = 1024 * 1024
        raise TooLarge(
            f"所选文件共 {total / mib:.1f} MiB，超过打包下载上限 {max_bytes / mib:.0f} MiB。请少选一些文档。",
            f"The selected files total {total / mib:.1f} MiB, over the {max_bytes / mib:.0f} MiB "
            "limit of a ZIP download. Select fewer documents.",
            field="ids",
            details={"size": total, "limit": max_bytes},
        )
    return chosen


def write_zip(guard: Guard, chosen: Iterable[tuple[Document, Version]], out: IO[bytes]) -> ZipSummary:
    """A ZIP of the versions, each read (verified against its hash) and audited exactly like a
    single download. Members are named after the titles (Chinese kept, flagged UTF-8), made safe
    for every file system and unique: a second "合同.docx" becomes "合同 (12).docx" (12: its id)."""
    names: list[str] = []
    taken: set[str] = set()
    size = 0
    tz = ZoneInfo(guard.svc.settings.get("TIMEZONE") or "Asia/Shanghai")
    with zipfile.ZipFile(out, "w") as zf:
        for doc, version in chosen:
            version, data = guard.read_version(doc.id, version.number)
            ext = _extension(version.original_filename)
            name = document_filename(doc.metadata.title, ext)
            if name.casefold() in taken:
                name = document_filename(f"{doc.metadata.title} ({doc.id})", ext)
            taken.add(name.casefold())
            info = zipfile.ZipInfo(name, _zip_time(version.created_at, tz))
            info.compress_type = zipfile.ZIP_STORED if version.media_type in _STORED else zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)
            names.append(name)
            size += len(data)
    return ZipSummary(tuple(names), size)


def _extension(filename: str) -> str:
    suffix = PurePosixPath(filename).suffix.lstrip(".").lower()
    return suffix if suffix.isalnum() and len(suffix) <= 8 else ""


def _zip_time(when: dt.datetime, tz: ZoneInfo) -> tuple[int, int, int, int, int, int]:
    # ZIP keeps local time without a zone (the archive's, DOCSVC_TIMEZONE) and no year before 1980.
    t = when.astimezone(tz)
    return (max(t.year, 1980), t.month, t.day, t.hour, t.minute, t.second)
