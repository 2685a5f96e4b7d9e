"""The audit chain anchored outside the catalog: signed checkpoints written and checked.

A checkpoint (docsvc.core.checkpoints) is written periodically by the servers' job runner
(``audit.checkpoint``, every DOCSVC_AUDIT_CHECKPOINT_MINUTES, once across all servers), on demand by
``docsvc audit checkpoint``, and with every audit bundle (signing the bundle's receipt entry).
A checkpoint is only ever signed over a chain that verifies from the previous checkpoint on, so a
tampered catalog is refused a signature instead of being vouched for.

``docsvc audit verify`` and ``docsvc check`` compare the chain with the latest validly signed
checkpoint: an entry it saw that is gone means truncation, another hash means rewriting. When the
latest does not match, a binary search over the older ones finds the last that still does, which
bounds where the tampering happened.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from docsvc.adapters.catalog import SqlCatalog
from docsvc.adapters.checkpoint_stores import open_checkpoint_store
from docsvc.core import audit
from docsvc.core.audit import ChainProblem, ChainProblemKind
from docsvc.core.checkpoints import Checkpoint, CheckpointStore, Signer, key_id, parse, seq_of
from docsvc.core.model import iso, utcnow
from docsvc.errors import Corrupted, DocsvcError, InvalidInput

CHECKPOINT_JOB = "audit.checkpoint"
# Unreadable or foreign checkpoints passed over when looking for the latest valid one: each is
# reported; past this many the store is not worth searching further.
_MAX_SKIPPED = 50


@dataclass(frozen=True)
class Found:
    """A checkpoint read from the store: ``checkpoint`` when valid, else ``problem``."""

    name: str
    checkpoint: Checkpoint | None
    problem: ChainProblem | None = None


class Anchor:
    def __init__(
        self, store: CheckpointStore, signer: Signer, *, node: str = "docsvc", clock: Callable[[], dt.datetime] = utcnow
    ) -> None:
        self.store = store
        self.signer = signer
        self.public_key = signer.public_key
        self.node = node
        self.clock = clock

    @classmethod
    def from_settings(cls, conf: Mapping[str, Any], *, node: str) -> Anchor | None:
        """The anchor the settings describe; None when checkpoints are off (neither is set)."""
        store = open_checkpoint_store(conf)
        key_file = str(conf["AUDIT_KEY_FILE"] or "")
        if store is None and not key_file:
            return None
        if store is None or not key_file:
            raise InvalidInput(
                "审计检查点需要同时设置 DOCSVC_AUDIT_KEY_FILE（签名私钥文件）和 DOCSVC_AUDIT_CHECKPOINT_URL（存放处）。",
                "Audit checkpoints need both DOCSVC_AUDIT_KEY_FILE (the signing key file) and "
                "DOCSVC_AUDIT_CHECKPOINT_URL (where they are kept).",
                field="DOCSVC_AUDIT_KEY_FILE" if not key_file else "DOCSVC_AUDIT_CHECKPOINT_URL",
            )
        return cls(store, Signer.from_file(Path(key_file)), node=node)

    @property
    def key_id(self) -> str:
        return key_id(self.public_key)

    # -- reading the store -----------------------------------------------------------------
    def load(self, name: str) -> Found:
        seq = seq_of(name)
        try:
            cp = parse(self.store.read(name))
        except (ValueError, KeyError, UnicodeDecodeError) as exc:
            return Found(
                name,
                None,
                ChainProblem(
                    ChainProblemKind.CHECKPOINT_INVALID,
                    seq,
                    f"检查点 {name} 无法读取（{type(exc).__name__}）：存放处中有不是 docsvc 写入的文件。",
                    f"Checkpoint {name} cannot be read ({type(exc).__name__}): the store holds a file docsvc did not write.",
                ),
            )
        if cp.seq != seq or not cp.signed_by(self.public_key):
            why_zh, why_en = (
                ("签名无效或不是本安装的密钥签署的", "its signature is invalid or not made by this installation's key")
                if cp.seq == seq
                else ("内容与文件名不符", "its content does not match its name")
            )
            return Found(
                name,
                None,
                ChainProblem(
                    ChainProblemKind.CHECKPOINT_INVALID,
                    seq,
                    f"检查点 {name} {why_zh}：检查点存放处被篡改，或密钥已更换。",
                    f"Checkpoint {name}: {why_en}. The checkpoint store was tampered with, or the key was changed.",
                ),
            )
        return Found(name, cp)

    def latest(
        self, names: list[str] | None = None, *, at_most: int | None = None
    ) -> tuple[int, Checkpoint | None, list[ChainProblem]]:
        """The newest validly signed checkpoint (of seq ≤ ``at_most``), its index in ``names``,
        and the problems of the invalid ones passed over on the way."""
        names = self.store.names() if names is None else names
        problems: list[ChainProblem] = []
        for i in range(len(names) - 1, -1, -1):
            if at_most is not None and (seq_of(names[i]) or 0) > at_most:
                continue
            found = self.load(names[i])
            if found.checkpoint is not None:
                return i, found.checkpoint, problems
            problems += [found.problem] if found.problem is not None else []
            if len(problems) >= _MAX_SKIPPED:
                break
        return -1, None, problems

    # -- writing -------------------------------------------------------------------------------
    def write(self, catalog: SqlCatalog, *, at: tuple[int, str] | None = None) -> Checkpoint | None:
        """Sign and store a checkpoint of the head (or of the entry ``at``: (seq, hash)), after
        verifying the chain from the previous checkpoint up to it. None when the latest
        checkpoint already holds it. Corrupted, and nothing signed, when the chain does not verify."""
        target = at if at is not None else catalog.audit_head()
        if target is None:
            raise Corrupted(
                "审计链头记录缺失，不签署检查点：请运行 docsvc audit verify。",
                "The audit chain's head record is missing; no checkpoint signed. Run docsvc audit verify.",
            )
        _, previous, _ = self.latest(at_most=target[0])
        if previous is not None and (previous.seq, previous.hash) == tuple(target):
            return None
        start = (previous.seq, previous.hash) if previous is not None else (0, audit.GENESIS)
        result = audit.verify(catalog.audit_rows(after=start[0], up_to=target[0]), (target[0], target[1]), start=start)
        if not result.ok:
            raise Corrupted(
                f"审计链自上一个检查点（第 {start[0]} 条）以来未通过校验，不签署检查点：{result.reason_zh}",
                f"The audit chain does not verify since the previous checkpoint (entry {start[0]}); no "
                f"checkpoint signed: {result.reason_en}",
                details={"seq": result.broken_seq},
            )
        checkpoint = self.signer.sign(target[0], target[1], ts=iso(self.clock()), node=self.node)
        self.store.put(checkpoint.name, checkpoint.to_bytes())
        return checkpoint

    # -- checking ------------------------------------------------------------------------------
    def check(self, catalog: SqlCatalog, result: audit.VerifyResult) -> audit.VerifyResult:
        """``result`` (the chain's own verification) with what the checkpoints say added."""
        info: dict[str, Any] = {
            "location": self.store.location,
            "key_id": self.key_id,
            "public_key": self.public_key,
            "checkpoints": 0,
            "latest": None,
            "entries_after_latest": None,
        }
        try:
            names = self.store.names()
        except DocsvcError as exc:
            return result.with_problems(
                [
                    ChainProblem(
                        ChainProblemKind.CHECKPOINT_INVALID,
                        None,
                        f"无法读取审计检查点存放处：{exc.zh}",
                        f"The audit checkpoint store cannot be read: {exc.en}",
                    )
                ],
                info,
            )
        info["checkpoints"] = len(names)
        index, latest, problems = self.latest(names)
        if latest is None:
            return result.with_problems(problems, info)
        head = catalog.audit_head()
        info["latest"] = {
            "seq": latest.seq,
            "hash": latest.hash,
            "ts": latest.ts,
            "node": latest.node,
            "name": names[index],
        }
        info["entries_after_latest"] = max(head[0] - latest.seq, 0) if head else None
        mismatch = self._mismatch(catalog, latest, None)
        if mismatch is not None:
            good = self._last_matching(catalog, names[:index], problems)
            problems += [m for m in [self._mismatch(catalog, latest, good)] if m is not None]
        return result.with_problems(problems, info)

    def _last_matching(self, catalog: SqlCatalog, names: list[str], problems: list[ChainProblem]) -> Checkpoint | None:
        """Binary search for the newest checkpoint the chain still matches (tampering at entry k
        makes every checkpoint from k on differ)."""
        lo, hi, good = 0, len(names) - 1, None
        while lo <= hi:
            mid = (lo + hi) // 2
            found = self.load(names[mid])
            if found.checkpoint is None:
                problems += [found.problem] if found.problem is not None else []
                hi = mid - 1
            elif self._mismatch(catalog, found.checkpoint, None) is None:
                good, lo = found.checkpoint, mid + 1
            else:
                hi = mid - 1
        return good

    @staticmethod
    def _mismatch(catalog: SqlCatalog, cp: Checkpoint, good: Checkpoint | None) -> ChainProblem | None:
        stored = catalog.audit_hash_at(cp.seq) if cp.seq else audit.GENESIS
        if stored == cp.hash:
            return None
        since_zh = f"最后一个仍然匹配的检查点在第 {good.seq} 条" if good else "没有更早的检查点仍然匹配"
        since_en = (
            f"the last checkpoint that still matches is at entry {good.seq}"
            if good
            else "no earlier checkpoint still matches"
        )
        first = good.seq + 1 if good else 1
        if stored is None:
            return ChainProblem(
                ChainProblemKind.CHECKPOINT_BEYOND,
                cp.seq,
                f"第 {cp.seq} 条审计记录已不存在，但 {cp.ts} 签署的检查点记录过它：日志被截断或删除了记录（{since_zh}）。",
                f"Audit entry {cp.seq} no longer exists, but the checkpoint signed at {cp.ts} saw it: the log was "
                f"truncated or entries were deleted ({since_en}).",
            )
        return ChainProblem(
            ChainProblemKind.CHECKPOINT_MISMATCH,
            first,
            f"第 {first}–{cp.seq} 条审计记录之间有记录被改写：第 {cp.seq} 条的哈希与 {cp.ts} 签署的检查点不符（{since_zh}）。",
            f"Audit entries between {first} and {cp.seq} were rewritten: entry {cp.seq}'s hash differs from the "
            f"checkpoint signed at {cp.ts} ({since_en}).",
        )

    def checkpoints_in(self, seqs: set[int]) -> list[tuple[str, bytes]]:
        """The stored checkpoints at any of ``seqs`` (name, bytes), for an audit bundle."""
        return [(n, self.store.read(n)) for n in self.store.names() if seq_of(n) in seqs]
