"""Side-by-side, paragraph-level comparison of two versions, with inline highlights.

Paragraphs (Word) or lines (text) are aligned by the fewest edits (rapidfuzz). Inside a changed paragraph the text
is compared again token by token, where a token is one CJK character, one run of Latin letters
or digits, or one other character: Chinese has no spaces, so a word-level diff would mark a
whole sentence as changed, and a purely character-level one would shred English words.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from rapidfuzz.distance import Levenshtein

from docsvc.core.extract import ExtractionStatus, ExtractLimits, extract_text

# Above these sizes an alignment would take too long or too much memory; the page says so instead.
MAX_PARAGRAPHS = 20_000
MAX_CHARS = 2_000_000
# Alignments are minimal edit scripts (rapidfuzz's bit-parallel Levenshtein), whose cost does not
# grow with repetition as difflib's does (8,000 identical lines took it 8 s, one paragraph of
# 32,000 repeated characters 135 s). The common head and tail are matched first, in linear time;
# inside a paragraph a middle longer than this is marked changed whole (its alignment would need
# a bit matrix of its length squared).
INLINE_MAX_TOKENS = 20_000
CONTEXT = 2  # unchanged paragraphs shown around each change


class RowKind(StrEnum):
    EQUAL = "equal"
    CHANGED = "changed"
    DELETED = "deleted"
    INSERTED = "inserted"
    SKIPPED = "skipped"  # a run of unchanged paragraphs folded away


@dataclass(frozen=True)
class Segment:
    text: str
    changed: bool = False


@dataclass(frozen=True)
class DiffRow:
    kind: RowKind
    left_no: int | None = None  # 1-based paragraph numbers
    right_no: int | None = None
    left: tuple[Segment, ...] = ()
    right: tuple[Segment, ...] = ()
    skipped: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "left_no": self.left_no,
            "right_no": self.right_no,
            "left": [[s.text, s.changed] for s in self.left],
            "right": [[s.text, s.changed] for s in self.right],
            "skipped": self.skipped,
        }


@dataclass(frozen=True)
class Side:
    """One version's text, or why it has none."""

    paragraphs: tuple[str, ...] | None
    notice_zh: str = ""
    notice_en: str = ""


@dataclass(frozen=True)
class DiffResult:
    rows: tuple[DiffRow, ...]
    changed: int
    deleted: int
    inserted: int
    notice_zh: str = ""
    notice_en: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": [r.to_dict() for r in self.rows],
            "changed": self.changed,
            "deleted": self.deleted,
            "inserted": self.inserted,
            "notice": self.notice_zh,
            "notice_en": self.notice_en,
        }


_TOKEN = re.compile(r"[A-Za-z0-9_]+|\s+|.", re.S)


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text)


def paragraphs_of(data: bytes, media_type: str, limits: ExtractLimits) -> Side:
    """Paragraphs of a Word document, lines of a text file, page text lines of a PDF."""
    ex = extract_text(data, media_type, limits=limits)
    if ex.status == ExtractionStatus.EMPTY:
        return Side(())
    if ex.status != ExtractionStatus.OK:
        return Side(None, f"无法提取文本：{ex.detail_zh}", f"No text could be extracted: {ex.detail_en}")
    paras = tuple(p.rstrip() for p in ex.text.split("\n"))
    # Blank lines carry no content but shift alignment; keep them out of the comparison.
    paras = tuple(p for p in paras if p.strip())
    if len(paras) > MAX_PARAGRAPHS or sum(map(len, paras)) > MAX_CHARS:
        return Side(
            None,
            "文档过大，无法逐段比较。请下载两个版本后在本地比较。",
            "The document is too large to compare paragraph by paragraph; download both versions.",
        )
    return Side(paras)


Opcode = tuple[str, int, int, int, int]


def _opcodes(a: Sequence[Any], b: Sequence[Any], *, align_max: int) -> list[Opcode]:
    """difflib-style opcodes (equal, replace, delete, insert) turning ``a`` into ``b`` with the
    fewest edits: the common head and tail matched first, the middle aligned when neither side
    of it is longer than ``align_max``, else replaced whole."""
    n = min(len(a), len(b))
    head = 0
    while head < n and a[head] == b[head]:
        head += 1
    tail = 0
    while tail < n - head and a[len(a) - 1 - tail] == b[len(b) - 1 - tail]:
        tail += 1
    ea, eb = len(a) - tail, len(b) - tail
    ops: list[Opcode] = [("equal", 0, head, 0, head)] if head else []
    if head in (ea, eb):
        if head < ea or head < eb:
            ops.append(("delete" if head < ea else "insert", head, ea, head, eb))
    elif max(ea, eb) - head > align_max:
        ops.append(("replace", head, ea, head, eb))
    else:
        for o in Levenshtein.opcodes(a[head:ea], b[head:eb]):
            i1, i2, j1, j2 = o.src_start + head, o.src_end + head, o.dest_start + head, o.dest_end + head
            if o.tag != "equal" and ops and ops[-1][0] != "equal":
                # One block of changes, as difflib gives it: the edits' order within a run of
                # changes is the algorithm's tie-break, and the caller pairs what it holds in order.
                _, i1, _, j1, _ = ops.pop()
            ops.append((o.tag if o.tag == "equal" else "replace" if i2 > i1 and j2 > j1 else o.tag, i1, i2, j1, j2))
    if tail:
        ops.append(("equal", ea, len(a), eb, len(b)))
    return ops


def _inline(a: str, b: str) -> tuple[tuple[Segment, ...], tuple[Segment, ...]]:
    ta, tb = tokens(a), tokens(b)
    left: list[Segment] = []
    right: list[Segment] = []
    for op, i1, i2, j1, j2 in _opcodes(ta, tb, align_max=INLINE_MAX_TOKENS):
        if i2 > i1:
            left.append(Segment("".join(ta[i1:i2]), op != "equal"))
        if j2 > j1:
            right.append(Segment("".join(tb[j1:j2]), op != "equal"))
    return tuple(left), tuple(right)


def _similar(a: str, b: str) -> bool:
    """Alike enough to be shown as one paragraph changed: at least 40 % of their characters in
    common, in order."""
    if not a or not b:
        return False
    same = sum(i2 - i1 for op, i1, i2, _, _ in _opcodes(a, b, align_max=INLINE_MAX_TOKENS) if op == "equal")
    return 2 * same / (len(a) + len(b)) >= 0.4


def diff(left: tuple[str, ...], right: tuple[str, ...], *, context: int = CONTEXT) -> DiffResult:
    rows: list[DiffRow] = []
    changed = deleted = inserted = 0
    for op, i1, i2, j1, j2 in _opcodes(left, right, align_max=MAX_PARAGRAPHS):
        if op == "equal":
            n = i2 - i1
            # Keep a little context next to changes; none at the start or end of the document.
            head = context if i1 > 0 else 0
            tail = context if i2 < len(left) else 0
            shown = range(n) if n <= head + tail + 1 else [*range(head), *range(n - tail, n)]
            last = -1
            for k in shown:
                if k != last + 1:
                    rows.append(DiffRow(RowKind.SKIPPED, skipped=k - last - 1))
                rows.append(
                    DiffRow(RowKind.EQUAL, i1 + k + 1, j1 + k + 1, (Segment(left[i1 + k]),), (Segment(right[j1 + k]),))
                )
                last = k
            if last != n - 1:
                rows.append(DiffRow(RowKind.SKIPPED, skipped=n - 1 - last))
            continue
        # replace / delete / insert: pair paragraphs in order; similar pairs get inline marks.
        a, b = list(range(i1, i2)), list(range(j1, j2))
        for k in range(max(len(a), len(b))):
            ia = a[k] if k < len(a) else None
            ib = b[k] if k < len(b) else None
            if ia is not None and ib is not None and _similar(left[ia], right[ib]):
                ls, rs = _inline(left[ia], right[ib])
                rows.append(DiffRow(RowKind.CHANGED, ia + 1, ib + 1, ls, rs))
                changed += 1
                continue
            if ia is not None:
                rows.append(DiffRow(RowKind.DELETED, ia + 1, None, (Segment(left[ia], True),)))
                deleted += 1
            if ib is not None:
                rows.append(DiffRow(RowKind.INSERTED, None, ib + 1, (), (Segment(right[ib], True),)))
                inserted += 1
    return DiffResult(tuple(rows), changed, deleted, inserted)


def compare_sides(a: Side, b: Side) -> DiffResult:
    if a.paragraphs is None or b.paragraphs is None:
        bad = a if a.paragraphs is None else b
        return DiffResult((), 0, 0, 0, bad.notice_zh, bad.notice_en)
    return diff(a.paragraphs, b.paragraphs)
