"""Search synonyms: groups of interchangeable terms applied to a question at search time.

Someone who types 服务级别协议 wants the 服务等级协议 too, and SLA means both. A table is read
from a plain text file (``docsvc/data/synonyms.txt`` ships with docsvc; an administrator points
``DOCSVC_SYNONYMS_FILE`` at their own): one group per line, terms separated by ``=``, ``#``
comments. Its :attr:`SynonymTable.version` (a hash of the groups) is reported with every search
that used it, so a result can be explained later. Terms are matched in the folded text
(:func:`docsvc.core.text.normalize`: full-width and case folded), longest first; a Latin term
only as a whole word (SLA, not the start of SLAB).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from docsvc.core import text
from docsvc.errors import InvalidInput

MAX_GROUPS = 5000
MAX_TERMS = 20  # per group
MAX_TERM_CHARS = 40


@dataclass(frozen=True)
class SynonymTable:
    groups: tuple[tuple[str, ...], ...] = ()
    source: str = ""  # where it was read from, for messages
    version: str = field(init=False)

    def __post_init__(self) -> None:
        digest = hashlib.sha256("\n".join("=".join(g) for g in self.groups).encode("utf-8")).hexdigest()
        object.__setattr__(self, "version", f"syn-{digest[:10]}")
        lookup = {text.normalize(t): g for g in self.groups for t in g}
        object.__setattr__(self, "_lookup", lookup)
        # Longest first, so 服务级别协议 wins over a shorter term inside it.
        alternatives = sorted(lookup, key=len, reverse=True)
        pattern = "|".join(_term_pattern(t) for t in alternatives)
        object.__setattr__(self, "_pattern", re.compile(pattern) if pattern else None)

    def find(self, typed: str) -> list[tuple[int, int, tuple[str, ...]]]:
        """(start, end, group) of each term of the table in ``typed`` (offsets in the folded
        text, which has the same length: text.normalize folds character by character)."""
        pattern = self._pattern  # type: ignore[attr-defined]
        if pattern is None:
            return []
        folded = text.normalize(typed)
        return [(m.start(), m.end(), self._lookup[m.group()]) for m in pattern.finditer(folded)]  # type: ignore[attr-defined]


def _term_pattern(term: str) -> str:
    escaped = re.escape(term)
    if term[:1].isascii() and term[:1].isalnum():
        escaped = r"(?<![0-9a-z])" + escaped
    if term[-1:].isascii() and term[-1:].isalnum():
        escaped += r"(?![0-9a-z])"
    return escaped


def parse(raw: str, source: str = "") -> SynonymTable:
    """A table from the file format above; a clear bilingual error names the line at fault."""
    groups: list[tuple[str, ...]] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(raw.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        terms = tuple(" ".join(t.split()) for t in line.split("="))
        where_zh, where_en = f"同义词表 {source} 第 {number} 行", f"synonyms {source} line {number}"
        if len(terms) < 2 or any(not t for t in terms):
            raise InvalidInput(
                f"{where_zh}：每行至少两个说法，用“=”分隔，且不能为空。",
                f"{where_en}: a line needs two or more non-empty terms separated by '='.",
                field="synonyms",
            )
        if len(terms) > MAX_TERMS or any(len(t) > MAX_TERM_CHARS for t in terms):
            raise InvalidInput(
                f"{where_zh}：一组最多 {MAX_TERMS} 个说法，每个最多 {MAX_TERM_CHARS} 个字符。",
                f"{where_en}: at most {MAX_TERMS} terms of {MAX_TERM_CHARS} characters each.",
                field="synonyms",
            )
        for t in terms:
            key = text.normalize(t)
            if not any(c.isalnum() for c in key):
                raise InvalidInput(
                    f"{where_zh}：“{t}”不含文字或数字。",
                    f"{where_en}: '{t}' has no letters or digits.",
                    field="synonyms",
                )
            if key in seen:
                raise InvalidInput(
                    f"{where_zh}：“{t}”已出现在第 {seen[key]} 行；一个说法只能属于一组。",
                    f"{where_en}: '{t}' is already on line {seen[key]}; a term belongs to one group only.",
                    field="synonyms",
                )
            seen[key] = number
        groups.append(terms)
        if len(groups) > MAX_GROUPS:
            raise InvalidInput(
                f"同义词表 {source} 超过 {MAX_GROUPS} 组。",
                f"synonyms {source}: more than {MAX_GROUPS} groups.",
                field="synonyms",
            )
    return SynonymTable(tuple(groups), source)


def load(path: str | Path | None = None) -> SynonymTable:
    """The table in ``path``, or the one docsvc ships when ``path`` is empty."""
    if not path:
        raw = resources.files("docsvc.data").joinpath("synonyms.txt").read_text(encoding="utf-8")
        return parse(raw, "docsvc/data/synonyms.txt")
    try:
        raw = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(
            f"无法读取同义词文件 {path}：{exc}", f"Cannot read the synonyms file {path}: {exc}", field="synonyms"
        ) from None
    return parse(raw, str(path))


__all__ = ["SynonymTable", "load", "parse"]
