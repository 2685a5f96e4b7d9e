"""What templating reports: where a tag sits, the fields a template reads, and lint issues.

Frozen values, built in a worker process and sent to the caller as JSON (see
:mod:`docsvc.core.templating.pool`).
"""

from __future__ import annotations

from dataclasses import dataclass

_PART_NAMES = (
    ("word/document.xml", "正文"),
    ("word/header", "页眉"),
    ("word/footer", "页脚"),
    ("word/footnotes", "脚注"),
    ("word/endnotes", "尾注"),
    ("docProps/core.xml", "文档属性"),
)


@dataclass(frozen=True)
class Location:
    """Where a tag sits: the package part, the place in it a drafter can find in Word
    ("第 12 段", "表格 2 第 3 行第 2 列") and the visible text of the paragraph."""

    part: str
    text: str
    place: str = ""

    def __str__(self) -> str:
        where = next((zh for prefix, zh in _PART_NAMES if self.part.startswith(prefix)), self.part)
        return f"{where}{' ' + self.place if self.place else ''}：“{self.text}”"


@dataclass(frozen=True)
class Field:
    """A variable the template reads, as a path (``party_a.name``, ``rows[].amount``)."""

    path: str
    locations: tuple[Location, ...]


@dataclass(frozen=True)
class Checkbox:
    """A ☐ tag: ``{{☐ 数据出境 }}`` (a yes/no field, no choices) or ``{{☐ 争议解决方式:仲裁 }}``
    (one choice of a field), with every choice the template offers for that field."""

    path: str
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class FieldReport:
    """Every field a template uses, in document order, and which of them are ☐ tick boxes."""

    fields: tuple[Field, ...]
    checkboxes: tuple[Checkbox, ...] = ()

    @property
    def paths(self) -> frozenset[str]:
        return frozenset(f.path for f in self.fields)

    def get(self, path: str) -> Field | None:
        return next((f for f in self.fields if f.path == path), None)


@dataclass(frozen=True)
class LintIssue:
    severity: str  # "error" | "warning"
    code: str
    zh: str
    en: str
    location: Location | None = None
    subject: str = ""  # the field, tag or name the issue is about
    fix_zh: str = ""  # what to change, as a drafter would do it in Word
    fix_en: str = ""

    def __str__(self) -> str:
        where = f" [{self.location}]" if self.location else ""
        fix = f" → {self.fix_zh} / {self.fix_en}" if self.fix_zh else ""
        return f"{self.severity} {self.code}: {self.zh} / {self.en}{where}{fix}"


@dataclass(frozen=True)
class LintReport:
    issues: tuple[LintIssue, ...]

    @property
    def ok(self) -> bool:
        """True when there is no error; warnings do not stop a template from being used."""
        return not self.errors

    @property
    def errors(self) -> tuple[LintIssue, ...]:
        return tuple(i for i in self.issues if i.severity == "error")

    @property
    def warnings(self) -> tuple[LintIssue, ...]:
        return tuple(i for i in self.issues if i.severity == "warning")

    def codes(self) -> set[str]:
        return {i.code for i in self.issues}
