"""Is everything still as recorded? Blob hashes, missing and orphan blobs, the audit chain."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from docsvc.adapters.catalog import SqlCatalog
from docsvc.core import audit
from docsvc.core.blobs import BlobStore
from docsvc.errors import Corrupted, DocsvcError, NotFound
from docsvc.services.anchoring import Anchor
from docsvc.services.search import DriftReport, IndexService


class ProblemKind(StrEnum):
    MISSING_BLOB = "missing_blob"
    CHECKSUM_MISMATCH = "checksum_mismatch"
    SIZE_MISMATCH = "size_mismatch"
    ORPHAN_BLOB = "orphan_blob"
    AUDIT_CHAIN = "audit_chain"
    STAGING_LEFTOVER = "staging_leftover"
    SCHEMA = "schema"
    INDEX_DRIFT = "index_drift"


# Orphans and staging leftovers are harmless (a write that failed before its commit); they are
# reported as warnings and removed by `docsvc gc`. The search index is derived data: drift only
# degrades search and `docsvc index rebuild` repairs it. Everything else means data is not as
# recorded.
WARNINGS = {ProblemKind.ORPHAN_BLOB, ProblemKind.STAGING_LEFTOVER, ProblemKind.INDEX_DRIFT}


@dataclass(frozen=True)
class Problem:
    kind: ProblemKind
    zh: str
    en: str
    target: str = ""

    @property
    def is_error(self) -> bool:
        return self.kind not in WARNINGS

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "severity": "error" if self.is_error else "warning",
            "target": self.target,
            "message": self.zh,
            "message_en": self.en,
        }


@dataclass(frozen=True)
class CheckReport:
    problems: list[Problem]
    stats: dict[str, int] = field(default_factory=dict)
    audit: audit.VerifyResult | None = None

    @property
    def ok(self) -> bool:
        return not any(p.is_error for p in self.problems)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "stats": self.stats,
            "problems": [p.to_dict() for p in self.problems],
            "audit": self.audit.to_dict() if self.audit else None,
        }


def verify_audit(catalog: SqlCatalog, anchor: Anchor | None = None) -> audit.VerifyResult:
    """The chain walked from the genesis, then compared with the signed checkpoints (if any)."""
    result = audit.verify(catalog.audit_rows(), catalog.audit_head())
    return anchor.check(catalog, result) if anchor is not None else result


def check(
    catalog: SqlCatalog,
    blobs: BlobStore,
    *,
    orphan_grace_s: float,
    progress: Callable[[int], None] | None = None,
    index: IndexService | None = None,
    anchor: Anchor | None = None,
) -> CheckReport:
    problems: list[Problem] = []
    if index is not None:
        try:
            drift = index.check()
        except DocsvcError as exc:  # the index is derived: its trouble is reported, not fatal
            drift = DriftReport(True, exc.en, 0, 0)
        if not drift.ok:
            problems.append(
                Problem(
                    ProblemKind.INDEX_DRIFT,
                    f"搜索索引与目录库不一致（缺失 {len(drift.missing)}，多余 {len(drift.extra)}，内容不符 "
                    f"{len(drift.mismatched)}{'，需要重建' if drift.needs_rebuild else ''}）；运行 docsvc index rebuild 修复。",
                    f"The search index has drifted from the catalog (missing {len(drift.missing)}, extra "
                    f"{len(drift.extra)}, mismatched {len(drift.mismatched)}"
                    f"{', needs a rebuild' if drift.needs_rebuild else ''}); run docsvc index rebuild.",
                )
            )
    current, head = catalog.schema_revision()
    if current != head:
        problems.append(
            Problem(
                ProblemKind.SCHEMA,
                f"数据库结构版本为 {current}，应为 {head}；请运行 docsvc init。",
                f"Catalog schema is at {current}, expected {head}; run docsvc init.",
            )
        )
    referenced = catalog.referenced_hashes()
    sizes = catalog.recorded_sizes()
    stored = set()
    verified = 0
    for blob in blobs.iter_blobs():
        sha = blob.sha256
        stored.add(sha)
        if sha not in referenced:
            problems.append(
                Problem(
                    ProblemKind.ORPHAN_BLOB,
                    f"文件 {sha} 未被任何版本引用（孤立文件，可用 docsvc gc 清理）。",
                    f"Blob {sha} is referenced by no version (orphan; `docsvc gc` removes it).",
                    sha,
                )
            )
            continue
        if sha in sizes and blob.size != sizes[sha]:
            problems.append(
                Problem(
                    ProblemKind.SIZE_MISMATCH,
                    f"文件 {sha} 的大小为 {blob.size} 字节，记录为 {sizes[sha]} 字节：内容已损坏或被截断。请从备份恢复。",
                    f"Blob {sha} holds {blob.size} bytes but {sizes[sha]} were recorded: damaged or "
                    "truncated. Restore it from backup.",
                    sha,
                )
            )
        actual = blobs.hash_of(sha)
        verified += 1
        if progress:
            progress(1)
        if actual != sha:
            problems.append(
                Problem(
                    ProblemKind.CHECKSUM_MISMATCH,
                    f"文件 {sha} 校验失败：内容已损坏或被修改（实际哈希 {actual}）。请从备份恢复。",
                    f"Blob {sha} fails its checksum: content corrupted or altered "
                    f"(actual {actual}). Restore it from backup.",
                    sha,
                )
            )
    for sha, n in referenced.items():
        if sha not in stored:
            problems.append(
                Problem(
                    ProblemKind.MISSING_BLOB,
                    f"文件 {sha} 缺失，有 {n} 条记录引用它。请从备份恢复。",
                    f"Blob {sha} is missing; {n} record(s) reference it. Restore it from backup.",
                    sha,
                )
            )
    for leftover in blobs.leftovers(older_than_s=orphan_grace_s):
        problems.append(
            Problem(
                ProblemKind.STAGING_LEFTOVER,
                f"中断的写入留下的残余 {leftover.name}（可用 docsvc gc 清理）。",
                f"Leftover {leftover.name} of an interrupted write (`docsvc gc` removes it).",
                leftover.name,
            )
        )
    result = verify_audit(catalog, anchor)
    problems += [
        Problem(ProblemKind.AUDIT_CHAIN, p.zh, p.en, "" if p.seq is None else str(p.seq)) for p in result.problems
    ]
    stats = {**catalog.counts(), "blobs": len(stored), "blobs_verified": verified}
    return CheckReport(problems, stats, result)


def collect_garbage(catalog: SqlCatalog, blobs: BlobStore, *, grace_s: float) -> list[str]:
    """Remove orphan blobs and staging leftovers older than the grace period.

    The grace period protects a write in flight: its blob is stored before its version row
    commits, so a young unreferenced blob may be about to become referenced.
    """
    removed = []
    referenced = catalog.referenced_hashes()
    for blob in list(blobs.iter_blobs()):
        if blob.sha256 not in referenced and blob.age_s >= grace_s:
            # Re-check just before removing, in case a version was committed meanwhile.
            if not catalog.is_referenced(blob.sha256):
                blobs.remove(blob.sha256)
                removed.append(blob.sha256)
    for leftover in blobs.leftovers(older_than_s=grace_s):
        blobs.remove_leftover(leftover.name)
        removed.append(leftover.name)
    return removed


@dataclass(frozen=True)
class MigrateReport:
    copied: int
    present: int  # already in the target (an earlier, interrupted run): skipped
    problems: list[Problem]

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "copied": self.copied,
            "present": self.present,
            "problems": [p.to_dict() for p in self.problems],
        }


def migrate_blobs(
    catalog: SqlCatalog, source: BlobStore, target: BlobStore, *, progress: Callable[[int], None] | None = None
) -> MigrateReport:
    """Copy every blob the catalog references from ``source`` into ``target``.

    Each blob is re-hashed as it is read (damage is reported, never copied) and the target
    verifies what it stored (BlobStore.put). Run again after an interruption: what the target
    already holds is skipped, so the copy resumes where it stopped. Orphans are not copied.
    """
    sizes = catalog.recorded_sizes()
    in_target = {b.sha256: b.size for b in target.iter_blobs()}
    copied = present = 0
    problems: list[Problem] = []
    for sha in sorted(catalog.referenced_hashes()):
        if progress:
            progress(1)
        if sha in in_target:
            if sha not in sizes or in_target[sha] == sizes[sha]:
                present += 1
            else:
                problems.append(
                    Problem(
                        ProblemKind.SIZE_MISMATCH,
                        f"目标存储中的 {sha} 大小不符（已损坏），未覆盖。请在目标中删除它后重新运行。",
                        f"The target's copy of {sha} has the wrong size (damaged); not overwritten. Delete it in the "
                        "target and run again.",
                        sha,
                    )
                )
            continue
        try:
            data = source.read(sha)  # re-hashed by the store
        except NotFound:
            problems.append(
                Problem(
                    ProblemKind.MISSING_BLOB,
                    f"源存储中缺少文件 {sha}，未复制。请从备份恢复后重新运行。",
                    f"Blob {sha} is missing from the source; not copied. Restore it and run again.",
                    sha,
                )
            )
            continue
        except Corrupted:
            problems.append(
                Problem(
                    ProblemKind.CHECKSUM_MISMATCH,
                    f"源存储中的文件 {sha} 已损坏，未复制。请从备份恢复后重新运行。",
                    f"Blob {sha} is damaged in the source; not copied. Restore it and run again.",
                    sha,
                )
            )
            continue
        target.put(data)
        copied += 1
    return MigrateReport(copied, present, problems)
