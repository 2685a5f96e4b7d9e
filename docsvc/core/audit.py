"""The hash-chained audit log, as pure functions.

Entry ``n`` stores ``hash_n = sha256(hash_{n-1} + "\\n" + canonical_json(entry_n))`` where the
canonical JSON holds seq, ts, actor, action, document_id, version and details with sorted keys,
no insignificant whitespace and UTF-8 text (``ensure_ascii=False``). The first entry's previous
hash is 64 zeros. A head record (last seq and hash) is updated in the same transaction as each
append, so a truncated tail is detected too. The algorithm needs only the standard library, so an
exported log can be verified without docsvc.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Iterable

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
    return hashlib.sha256(f"{prev_hash}\n{canonical_json(body)}".encode("utf-8")).hexdigest()


def chain(prev_seq: int, prev_hash: str, *, ts: str, actor: str, action: str,
          document_id: int | None, version: int | None, details: dict[str, Any]) -> AuditEntry:
    """The next entry after (prev_seq, prev_hash)."""
    # Round-trip details through JSON so what is hashed is exactly what is stored and read back.
    details = json.loads(canonical_json(details))
    entry = AuditEntry(prev_seq + 1, ts, actor, action, document_id, version, details, prev_hash)
    return AuditEntry(**{**entry.__dict__, "hash": entry_hash(prev_hash, entry.body())})


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    broken_seq: int | None = None
    reason_zh: str = ""
    reason_en: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "checked": self.checked, "broken_seq": self.broken_seq,
                "reason": self.reason_zh, "reason_en": self.reason_en}


def verify(entries: Iterable[AuditEntry], head: tuple[int, str] | None) -> VerifyResult:
    """Walk the chain in seq order; name the first entry that does not fit."""
    expected_seq, prev = 1, GENESIS
    checked = 0
    for e in entries:
        if e.seq != expected_seq:
            missing = e.seq > expected_seq
            return VerifyResult(
                False, checked, expected_seq,
                f"第 {expected_seq} 条审计记录{'缺失（已被删除）' if missing else '重复或顺序错乱'}。",
                f"Audit entry {expected_seq} is {'missing (deleted)' if missing else 'duplicated or out of order'}.",
            )
        if e.prev_hash != prev:
            return VerifyResult(False, checked, e.seq,
                                f"第 {e.seq} 条审计记录的前序哈希不匹配（记录被插入、删除或重排）。",
                                f"Audit entry {e.seq}: previous hash does not match "
                                "(an entry was inserted, removed or reordered).")
        if entry_hash(e.prev_hash, e.body()) != e.hash:
            return VerifyResult(False, checked, e.seq,
                                f"第 {e.seq} 条审计记录的内容已被修改（哈希不符）。",
                                f"Audit entry {e.seq} was altered (hash mismatch).")
        prev, expected_seq, checked = e.hash, e.seq + 1, checked + 1
    if head is not None and (head[0] != checked or head[1] != prev):
        return VerifyResult(False, checked, checked + 1 if head[0] > checked else head[0],
                            f"审计日志末尾与链头记录不符（链头为第 {head[0]} 条，实际 {checked} 条）：记录被截断或链头被篡改。",
                            f"The end of the audit log does not match its head (head says {head[0]}, "
                            f"found {checked}): entries were truncated or the head was altered.")
    return VerifyResult(True, checked)
