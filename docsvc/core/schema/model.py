"""The template schema as values: fields, the schema, what a check returns, and the format's limits.

The format is specified in docs/template-schema.md; :mod:`docsvc.core.schema.load` reads it into
these values and :mod:`docsvc.core.schema.validate` checks form data against them.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from docsvc.core.model import Choice, LabelledEnum, PdcaPhase, ServiceCategory, ServiceScope
from docsvc.core.zhformat import MAX_AMOUNT

SCHEMA_VERSION = 1
SCHEMA_FILE = "schema.json"
TEMPLATE_FILE = "template.docx"

TYPES = ("text", "longtext", "date", "money", "integer", "percent", "enum", "boolean", "list", "group")
SCALAR_TYPES = frozenset(TYPES) - {"list", "group"}

# Size limits. Each is a ceiling on untrusted input: a 10 MB value is refused, not rendered.
DEFAULT_MAX_LENGTH = {"text": 2_000, "longtext": 20_000}
MAX_MAX_LENGTH = 100_000  # a schema may not raise a field above this
DEFAULT_MAX_ITEMS = 100
MAX_MAX_ITEMS = 1_000
MAX_SCHEMA_BYTES = 1_000_000
# Money up to 9,999亿 with two decimals: the upper-case amount (大写) is defined up to there.
MAX_MONEY = MAX_AMOUNT

CURRENCIES: dict[str, tuple[str, str]] = {
    "CNY": ("人民币", "Chinese yuan"),
    "USD": ("美元", "US dollar"),
    "EUR": ("欧元", "Euro"),
    "HKD": ("港币", "Hong Kong dollar"),
}
# How a Chinese contract writes an amount: the sign before the figures (¥486,500.00) and the
# unit in a table head (金额（元）); never the ISO code.
CURRENCY_SIGNS: dict[str, tuple[str, str]] = {
    "CNY": ("¥", "元"),
    "USD": ("US$", "美元"),
    "EUR": ("€", "欧元"),
    "HKD": ("HK$", "港元"),
}

# Vocabularies a schema may borrow with "choices_from", so the spec's codes live in one place.
VOCABULARIES: dict[str, type[LabelledEnum]] = {
    "service_category": ServiceCategory,
    "service_scope": ServiceScope,
    "pdca_phase": PdcaPhase,
}

# Which archive metadata a template can fill, and from what kind of field.
METADATA_TARGETS: dict[str, tuple[str, str | None]] = {
    # key: (field type, required vocabulary for enums)
    "title": ("text", None),
    "project": ("text", None),
    "counterparty": ("text", None),
    "service_category": ("enum", "service_category"),
    "service_scope": ("enum", "service_scope"),
    "pdca_phase": ("enum", "pdca_phase"),
    "effective_date": ("date", None),
    "review_due": ("date", None),
}
REQUIRED_METADATA = ("title", "service_category")

ARCHIVE_VERSION = "archive_version"  # context key: the archive version being generated
MONEY_KEYS = ("amount", "currency", "currency_zh", "amount_grouped", "amount_cn", "symbol", "unit_zh")

SLUG_RE = re.compile(r"[a-z][a-z0-9_]{0,62}")
# A field name is ASCII snake_case or Chinese: a drafter onboarding a Chinese model contract
# writes {{ 甲方名称 }} and keeps it (Jinja reads Unicode identifiers). Letters of other scripts,
# capitals and full-width punctuation stay out: they look alike and would be typed wrongly.
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
FIELD_NAME_RE = re.compile(f"[a-z{_CJK}][a-z0-9_{_CJK}]{{0,62}}")


@dataclass(frozen=True)
class Pattern:
    """A regular expression a text must match in full, with the bilingual rule it expresses."""

    regex: re.Pattern[str]
    zh: str
    en: str


@dataclass(frozen=True)
class ListSum:
    """The values of one row field, added over all rows, must equal a number or a top-level
    field (e.g. payment ratios add up to 100 and payment amounts to the contract total)."""

    field: str
    equals: Decimal | None = None
    equals_field: str | None = None


@dataclass(frozen=True)
class Field:
    name: str
    path: str  # dotted, "[]" for rows: "payment_schedule[].amount"
    label_zh: str
    label_en: str
    type: str
    required: bool
    default: Any = None
    example: Any = None
    help_zh: str = ""
    help_en: str = ""
    max_length: int | None = None
    min: Decimal | None = None
    max: Decimal | None = None
    pattern: Pattern | None = None
    checksum: str | None = None
    choices: tuple[Choice, ...] = ()
    choices_from: str | None = None
    currencies: tuple[str, ...] = ()
    not_before: str | None = None
    fields: tuple[Field, ...] = ()
    min_items: int = 0
    max_items: int = DEFAULT_MAX_ITEMS
    sums: tuple[ListSum, ...] = ()

    def choice(self, value: str) -> Choice | None:
        return next((c for c in self.choices if c.code == value), None)

    def derived_names(self) -> tuple[str, ...]:
        """Context keys this field adds beside its own name (see docs/template-schema.md)."""
        if self.type in ("date", "enum", "boolean", "integer"):
            return (f"{self.name}_cn",)
        if self.type == "longtext":
            return (f"{self.name}_paragraphs", f"{self.name}_items")
        return ()


@dataclass(frozen=True)
class TemplateSchema:
    slug: str
    name_zh: str
    name_en: str
    description_zh: str
    description_en: str
    spec_ref: str
    doc_type: str
    doc_class: str
    metadata: Mapping[str, str]  # metadata key -> field path it is taken from
    metadata_values: Mapping[str, str]  # metadata key -> fixed code (e.g. pdca_phase: "plan")
    fields: tuple[Field, ...]
    directory: Path | None = None  # where schema.json was read from, if from a file
    author: str | None = None  # the text field naming who issues the document (DOCX/PDF author)
    checks: tuple[Check, ...] = ()  # business rules across fields (docs/template-schema.md, "Business checks")

    @property
    def template_path(self) -> Path | None:
        """The Word template beside this schema (None for a schema built from a dict)."""
        return self.directory / TEMPLATE_FILE if self.directory else None

    # -- introspection ------------------------------------------------------------------------

    def iter_fields(self) -> Iterator[Field]:
        """Every declared field, depth first (groups and lists before their sub-fields)."""

        def walk(fields: tuple[Field, ...]) -> Iterator[Field]:
            for f in fields:
                yield f
                yield from walk(f.fields)

        return walk(self.fields)

    def field(self, path: str) -> Field:
        """The declared field at a path such as ``party_a.name`` or ``payment_schedule[].amount``."""
        for f in self.iter_fields():
            if f.path == path:
                return f
        raise KeyError(path)

    def field_sources(self) -> dict[str, str]:
        """Every path a template may use, mapped to the declared field it comes from.

        ``term_start_cn`` comes from ``term_start``; ``total_fee.amount_cn`` from ``total_fee``;
        a declared field maps to itself. A template linter checks that each tag's path is a key
        here and that each declared field is the source of at least one used path.
        """
        out: dict[str, str] = {}
        for f in self.iter_fields():
            out[f.path] = f.path
            prefix = f.path[: -len(f.name)]
            for name in f.derived_names():
                out[prefix + name] = f.path
            if f.type == "longtext":
                out[f"{f.path}_paragraphs[]"] = f.path
                out[f"{f.path}_items[]"] = f.path
            elif f.type == "list":
                out[f"{f.path}[]"] = f.path
            elif f.type == "money":
                for key in MONEY_KEYS:
                    out[f"{f.path}.{key}"] = f.path
        if self.revision_list:
            out[ARCHIVE_VERSION] = self.revision_list
        return out

    def field_paths(self) -> set[str]:
        """The dotted paths a template may use; see :meth:`field_sources`."""
        return set(self.field_sources())

    # -- data -----------------------------------------------------------------------------------

    def sample(self) -> dict[str, Any]:
        """A complete, realistic form built from the examples; it validates."""
        return _sample(self.fields)

    def validate(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """Clean, typed render context for ``data``, or InvalidInput listing every problem."""
        return self.check(data).context

    @property
    def revision_list(self) -> str | None:
        """The list a ``revision_history`` check ties to the archive version, if any."""
        return next((c.params["list"] for c in self.checks if c.rule == "revision_history"), None)

    def check(
        self,
        data: Mapping[str, Any],
        *,
        archive: GeneratedDocuments | None = None,
        document_id: int | None = None,
        archive_version: int = 1,
    ) -> Checked:
        """Convert ``data`` and run every check in one pass: field types, relations, the
        schema's business ``checks`` and, given ``archive``, the checks against the archive
        (numbers unique, references present). All errors come in one InvalidInput; warnings,
        and the defaults that filled blank fields, come back with the context.

        ``document_id``: the document being revised, which may of course keep its own number.
        ``archive_version``: the version number the generated document will have in the
        archive; a schema with a ``revision_history`` check shows it as ``archive_version``, so
        the version printed in the document is the archive's, never a typed one.
        """
        # The validator reads this model, so it is imported on use rather than at the top.
        from docsvc.core.schema.validate import check_form

        return check_form(self, data, archive=archive, document_id=document_id, archive_version=archive_version)

    def author_from(self, context: Mapping[str, Any]) -> str:
        """The document's author (its DOCX and PDF properties) from clean form data; "" when
        the schema names no author field or it is blank."""
        value = value_at(context, self.author) if self.author else MISSING
        return "" if value is MISSING or value is None else str(value)


@dataclass(frozen=True)
class Check:
    rule: str
    severity: str  # "error" stops generation; "warning" is reported and recorded
    params: Mapping[str, Any]


@dataclass(frozen=True)
class Finding:
    """A warning about filled-in form data: bilingual, naming the field, maybe with a link."""

    field: str
    zh: str
    en: str
    link: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"field": self.field, "zh": self.zh, "en": self.en, **({"link": self.link} if self.link else {})}


@dataclass(frozen=True)
class DefaultUsed:
    """A blank field that took the schema's default: recorded in the document's provenance,
    because a default with legal weight (VAT rate, years of confidentiality) is a choice too."""

    field: str
    label_zh: str
    label_en: str
    value: str

    def to_dict(self) -> dict[str, str]:
        return {"field": self.field, "label_zh": self.label_zh, "label_en": self.label_en, "value": self.value}


@dataclass(frozen=True)
class Checked:
    context: dict[str, Any]
    warnings: tuple[Finding, ...]
    defaults: tuple[DefaultUsed, ...]
    # The archive metadata the form gives, ready for Metadata.parse: codes as strings, dates as
    # dates; the schema's fixed values included, blank mapped fields left out.
    metadata: dict[str, Any]


class GeneratedDocuments(Protocol):
    """The archive as the checks see it: documents generated with a given form value."""

    def generated_with_value(self, template: str, field: str, value: str) -> list[tuple[int, str]]:
        """(document id, title) of each document whose latest version was generated from
        ``template`` with the top-level form field ``field`` equal to ``value``."""


MISSING = object()  # a path the data does not hold (a blank value is still there)


def value_at(data: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path outside any list (``party_a.name``), or :data:`MISSING`."""
    value: Any = data
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return MISSING
        value = value[part]
    return value


def _sample(fields: tuple[Field, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields:
        if f.type == "group":
            out[f.name] = _sample(f.fields)
        elif f.example is not None:
            out[f.name] = copy.deepcopy(f.example)
    return out
