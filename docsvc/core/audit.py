"""The hash-chained audit log, as pure functions.

Entry ``n`` stores ``hash_n = sha256(hash_{n-1} + "\\n" + canonical_json(entry_n))`` where the
canonical JSON holds seq, ts, actor, action, document_id, version and details with sorted keys,
no insignificant whitespace and UTF-8 text (``ensure_ascii=False``). The first entry's previous
hash is 64 zeros. A head record (last seq and hash) is updated in the same transaction as each
append, so a truncated tail is detected too — by someone who forgot the head. Signed checkpoints
kept outside the catalog (``docsvc.core.checkpoints``) catch the rest. The algorithm needs only the
standard library, so an exported log can be verified without docsvc.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

GENESIS = "0" * 64


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    ts: str  # ISO 8601 UTC with microseconds, stored as text so the hash input never changes
    actor: str
    action: str
    document_id: int | None
    version: int | None
    details: dict[str, Any] = field(default_factory=dict)
    prev_hash: str = GENESIS
    hash: str = ""

    def body(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "ts": self.ts,
            "actor": self.actor,
            "action": self.action,
            "document_id": self.document_id,
            "version": self.version,
            "details": self.details,
        }

    def to_dict(self) -> dict[str, Any]:
        return {**self.body(), "prev_hash": self.prev_hash, "hash": self.hash}


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def entry_hash(prev_hash: str, body: dict[str, Any]) -> str:
    return hashlib.sha256(f"{prev_hash}\n{canonical_json(body)}".encode()).hexdigest()


def chain(
    prev_seq: int,
    prev_hash: str,
    *,
    ts: str,
    actor: str,
    action: str,
    document_id: int | None,
    version: int | None,
    details: dict[str, Any],
) -> AuditEntry:
    """The next entry after (prev_seq, prev_hash)."""
    # Round-trip details through JSON so what is hashed is exactly what is stored and read back.
    details = json.loads(canonical_json(details))
    entry = AuditEntry(prev_seq + 1, ts, actor, action, document_id, version, details, prev_hash)
    return AuditEntry(**{**entry.__dict__, "hash": entry_hash(prev_hash, entry.body())})


class ChainProblemKind(StrEnum):
    MISSING = "missing"  # a gap in the seq numbers: entries deleted
    DUPLICATE = "duplicate"  # a seq number seen twice, or out of order
    UNREADABLE = "unreadable"  # a row that cannot be decoded
    LINK = "link"  # prev_hash is not the previous entry's hash: inserted, removed or reordered
    ALTERED = "altered"  # the hash does not match the entry's content
    HEAD_MISSING = "head_missing"  # the head record is gone
    HEAD_MISMATCH = "head_mismatch"  # the head names another end of the chain: truncated or appended
    CHECKPOINT_MISMATCH = "checkpoint_mismatch"  # the chain differs from what a signed checkpoint saw
    CHECKPOINT_BEYOND = "checkpoint_beyond"  # a signed checkpoint saw entries the chain no longer has
    CHECKPOINT_INVALID = "checkpoint_invalid"  # a checkpoint that is unreadable or not signed by our key


@dataclass(frozen=True)
class ChainProblem:
    kind: ChainProblemKind
    seq: int | None  # the entry the problem is about (the first of a range)
    zh: str
    en: str

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "seq": self.seq, "message": self.zh, "message_en": self.en}


@dataclass(frozen=True)
class Unreadable:
    """A row of the log that could not be decoded (its seq is all that could be read)."""

    seq: int
    error: str


# Enough to tell what happened; a log rewritten wholesale would otherwise print a line per entry.
MAX_PROBLEMS = 100


@dataclass(frozen=True)
class VerifyResult:
    checked: int
    problems: tuple[ChainProblem, ...] = ()
    more_problems: int = 0  # found past MAX_PROBLEMS, not listed
    # What the external checkpoints said (docsvc.services.anchoring): where they are, the key,
    # the latest one; None when the chain is not anchored.
    anchor: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def broken_seq(self) -> int | None:
        return self.problems[0].seq if self.problems else None

    @property
    def reason_zh(self) -> str:
        return self.problems[0].zh if self.problems else ""

    @property
    def reason_en(self) -> str:
        return self.problems[0].en if self.problems else ""

    def with_problems(self, problems: Iterable[ChainProblem], anchor: dict[str, Any] | None) -> VerifyResult:
        found = list(self.problems) + list(problems)
        extra = max(len(found) - MAX_PROBLEMS, 0)
        return VerifyResult(self.checked, tuple(found[:MAX_PROBLEMS]), self.more_problems + extra, anchor)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checked": self.checked,
            "broken_seq": self.broken_seq,
            "reason": self.reason_zh,
            "reason_en": self.reason_en,
            "problems": [p.to_dict() for p in self.problems],
            "more_problems": self.more_problems,
            "anchor": self.anchor,
        }


def verify(
    entries: Iterable[AuditEntry | Unreadable], head: tuple[int, str] | None, *, start: tuple[int, str] = (0, GENESIS)
) -> VerifyResult:
    """Walk the chain in seq order and name every entry that does not fit, each with its seq.

    ``head`` is the head record (None: it is missing). ``start`` is where the walk begins: the
    genesis, or a (seq, hash) already vouched for, such as a signed checkpoint, with ``entries``
    then holding only the ones after it. After a problem the walk goes on from the stored hash,
    so independent damage further on is reported too, and one deletion is not also reported as
    a broken link.
    """
    problems: list[ChainProblem] = []
    last_seq, prev = start
    linked = True  # prev is the hash the next entry must name
    checked = 0

    def report(kind: ChainProblemKind, seq: int | None, zh: str, en: str) -> None:
        problems.append(ChainProblem(kind, seq, zh, en))

    for e in entries:
        expected = last_seq + 1
        if e.seq < expected:
            report(
                ChainProblemKind.DUPLICATE,
                e.seq,
                f"第 {e.seq} 条审计记录重复或顺序错乱。",
                f"Audit entry {e.seq} is duplicated or out of order.",
            )
            continue
        if e.seq > expected:
            gap = f"{expected}" if e.seq == expected + 1 else f"{expected}–{e.seq - 1}"
            report(
                ChainProblemKind.MISSING,
                expected,
                f"第 {gap} 条审计记录缺失（已被删除）。",
                f"Audit entr{'y' if e.seq == expected + 1 else 'ies'} {gap} {'is' if e.seq == expected + 1 else 'are'} "
                "missing (deleted).",
            )
            linked = False
        last_seq = e.seq
        if isinstance(e, Unreadable):
            report(
                ChainProblemKind.UNREADABLE,
                e.seq,
                f"第 {e.seq} 条审计记录无法读取（内容已损坏或被篡改）：{e.error}",
                f"Audit entry {e.seq} cannot be read (damaged or tampered with): {e.error}",
            )
            linked = False
            continue
        if linked and e.prev_hash != prev:
            report(
                ChainProblemKind.LINK,
                e.seq,
                f"第 {e.seq} 条审计记录的前序哈希不匹配（记录被插入、删除或重排）。",
                f"Audit entry {e.seq}: previous hash does not match (an entry was inserted, removed or reordered).",
            )
        if entry_hash(e.prev_hash, e.body()) != e.hash:
            report(
                ChainProblemKind.ALTERED,
                e.seq,
                f"第 {e.seq} 条审计记录的内容已被修改（哈希不符）。",
                f"Audit entry {e.seq} was altered (hash mismatch).",
            )
        prev, linked, checked = e.hash, True, checked + 1
    if head is None:
        report(
            ChainProblemKind.HEAD_MISSING,
            last_seq or None,
            f"审计链头记录缺失（最后一条记录为第 {last_seq} 条）：目录库已被篡改，docsvc 拒绝继续写入。请从备份恢复目录库。",
            f"The audit chain's head record is missing (the last entry is {last_seq}): the catalog was tampered "
            "with, and docsvc refuses further writes. Restore the catalog from a backup.",
        )
    elif head[0] != last_seq or (linked and head[1] != prev):
        seq = last_seq + 1 if head[0] > last_seq else (head[0] + 1 if head[0] < last_seq else head[0])
        report(
            ChainProblemKind.HEAD_MISMATCH,
            seq,
            f"审计日志末尾与链头记录不符（链头为第 {head[0]} 条，实际最后一条为第 {last_seq} 条）：记录被截断、追加或链头被篡改。",
            f"The end of the audit log does not match its head (head says {head[0]}, the last entry is "
            f"{last_seq}): entries were truncated or appended, or the head was altered.",
        )
    return VerifyResult(checked).with_problems(problems, None)
