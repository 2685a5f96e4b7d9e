"""Field schemas of the shipped Word templates: load them, validate form data, build samples.

Every Word template in ``templates/<slug>/template.docx`` has a ``schema.json`` beside it that
declares the form fields the template uses. This module turns that JSON into frozen
dataclasses and turns untrusted form data into a clean docxtpl render context.

Schema format (``schema_version`` 1)
------------------------------------
::

    {"schema_version": 1,
     "template": {"slug": "contract", "name_zh": "信息服务管理合同", "name_en": "...",
                  "description_zh": "...", "description_en": "...", "spec_ref": "7.1",
                  "doc_type": "contract", "doc_class": "user",
                  "metadata": {"title": "title", "service_category": "service_category",
                               "counterparty": "party_a.name", "effective_date": "term_start",
                               "pdca_phase": {"value": "plan"}}},
     "fields": [
       {"name": "contract_no", "label_zh": "合同编号", "label_en": "Contract number",
        "type": "text", "required": true, "default": null, "example": "DLZH-HT-2026-0315",
        "max_length": 40,
        "pattern": {"regex": "[A-Z0-9][A-Z0-9-]*", "zh": "只能使用大写字母、数字和连字符",
                    "en": "use capital letters, digits and hyphens only"}},
       {"name": "party_a", "type": "group", "fields": [...], ...},
       {"name": "payment_schedule", "type": "list", "fields": [...], "min_items": 1,
        "max_items": 12, "example": [{...}, {...}],
        "sums": [{"field": "ratio", "equals": "100"},
                 {"field": "amount", "equals_field": "total_fee"}]}]}

Field names are lower-case ASCII snake_case or Chinese (``甲方名称``), so a Chinese template's
tags can keep their names. Field types: ``text`` (one line, 2,000 characters unless
``max_length`` says otherwise),
``longtext`` (paragraphs, 20,000), ``date`` (ISO ``YYYY-MM-DD``; ``not_before`` names a
sibling date it may not precede), ``money`` (``{"amount": "123456.00", "currency": "CNY"}``
or a bare amount in the first of ``currencies``; never negative, at most two decimals),
``integer``, ``percent`` (0–100, at most three decimals), ``enum`` (``choices``
``[{value, zh, en}]`` or ``choices_from`` one of the model's vocabularies, e.g.
``"service_category"`` for the spec's §4 categories), ``boolean`` (yes/no: true/false, 是/否,
☑/☐), ``group`` (``fields``; a fixed set of
named sub-fields such as a contract party) and ``list`` (``fields`` of one table row,
``min_items``/``max_items``, optional ``sums``). Groups and list rows hold scalar fields only:
Word tables are flat, and so is the form. ``required`` fields have no ``default``; an optional
field left blank takes its ``default``. Unknown keys anywhere in a schema are refused, so a typo
like ``"requried"`` is an error rather than a silently optional field.

``checks`` (optional, top level) declares business rules across fields, e.g.
``{"rule": "share_of_total", "list": "payment_schedule", "share": "ratio", "amount": "amount",
"total": "total_fee"}``; see the "Business checks" section below for the rules. They run with the
form (:meth:`TemplateSchema.check`), their errors reported with the others, their warnings and
the defaults that filled blank fields returned beside the clean context.

``template.metadata`` says where the archived document's metadata comes from: each key
(``title``, ``service_category``, ``service_scope``, ``pdca_phase``, ``project``,
``counterparty``, ``effective_date``, ``review_due``) names a field path of a matching type, or,
for the vocabularies, a fixed ``{"value": code}`` (an acceptance report is always §5.3 delivery).
``title`` and ``service_category`` are required.

Render-context conventions (what a template may write)
------------------------------------------------------
- Every declared field is present in the context; a blank optional field with no default is
  ``""`` for text and longtext, ``[]`` for a list and ``None`` otherwise, so templates guard
  optional values with ``{% if field %}``.
- ``<date>``: a ``datetime.date``; ``<date>_cn``: "2026年12月31日" ("" when blank).
- ``<enum>``: the stored code ("4.2"); ``<enum>_cn``: its Chinese label ("" when blank).
- ``<boolean>``: True/False (None when blank); ``<boolean>_cn``: 是/否.
- ``<longtext>_paragraphs``: its non-empty lines, one Word paragraph each
  (``{%p for para in x_paragraphs %}`` … ``{{ para }}`` … ``{%p endfor %}``);
  ``<longtext>_items``: the same lines without a leading enumerator (（一）, 1., 一、), for
  templates that number them as clauses themselves.
- ``archive_version``: with a ``revision_history`` check, the archive version being generated.
- ``<money>``: a dict with ``amount`` ("123456.00"), ``currency`` ("CNY"), ``currency_zh``
  ("人民币"), ``amount_grouped`` ("123,456.00") and ``amount_cn`` (the upper-case Chinese amount
  used on contracts and invoices, "壹拾贰万叁仟肆佰伍拾陆元整"), ``symbol`` ("¥") and ``unit_zh``
  ("元"), as a Chinese contract writes amounts (never the ISO code).
- ``<percent>``: a string without trailing zeros ("99.9"); ``<integer>``: an ``int``, and
  ``<integer>_cn`` its upper-case numeral ("肆", as in 一式肆份).
- Text is passed through as typed; the Jinja environment must autoescape it.

Field paths (:meth:`TemplateSchema.field_paths`) use dots for groups and money parts and
``[]`` for "each row of a list": ``party_a.name``, ``payment_schedule[].amount.amount_cn``,
``service_content_paragraphs[]``. Validation errors name concrete rows, 0-based:
``payment_schedule[2].amount``.

Document class (spec §9)
------------------------
Each schema states the ``doc_class`` of the documents it produces. The shipped ones follow
this reading of the spec: §9.1 user documents are the records held for and exchanged with the
user (the customer) — the contract (§7.1), the SLA (§8.1) and the acceptance report the user
signs at delivery (§5.3) — so they are ``user``. §9.2 on-site documents are the working
records of the service-management process itself, written and controlled by the project team
under usage rules — the service-management plan (§7.2) and change requests (§8.4.2) — so they
are ``site``.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Protocol

from docsvc.core.model import (
    BUILTIN_DOC_TYPES,
    MAX_TEXT,
    Choice,
    DocClass,
    LabelledEnum,
    PdcaPhase,
    ServiceCategory,
    ServiceScope,
)
from docsvc.errors import InvalidInput

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
MAX_ERRORS = 200  # reported per validation; beyond that we count, so a hostile form stays cheap
MAX_SCHEMA_BYTES = 1_000_000
# Money up to 9,999亿 with two decimals: the upper-case amount below is defined up to there.
MAX_MONEY = Decimal("999999999999.99")
PERCENT_DECIMALS = 3  # 99.999 % availability is a real SLA figure

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

_SLUG_RE = re.compile(r"[a-z][a-z0-9_]{0,62}")
# A field name is ASCII snake_case or Chinese: a drafter onboarding a Chinese model contract
# writes {{ 甲方名称 }} and keeps it (Jinja reads Unicode identifiers). Letters of other scripts,
# capitals and full-width punctuation stay out: they look alike and would be typed wrongly.
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
FIELD_NAME_RE = re.compile(f"[a-z{_CJK}][a-z0-9_{_CJK}]{{0,62}}")
# Field values become dict keys that templates read as ``row.name``. Jinja looks attributes up
# before keys, so a field called "items" would render the dict method, not the value. Jinja
# keywords and globals would be shadowed or unparsable too.
_RESERVED_NAMES = frozenset(
    {n for n in dir(dict) if not n.startswith("_")}
    | {"loop", "self", "super", "varargs", "kwargs", "caller"}
    | {"true", "false", "none", "and", "or", "not", "in", "is", "if", "else", "for", "endfor"}
    | {"range", "dict", "lipsum", "cycler", "joiner", "namespace"}
)
# Characters XML 1.0 cannot hold: they would corrupt word/document.xml.
_XML_INVALID_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_LINE_BREAK_RE = re.compile(r"[\r\n\u2028\u2029]")
# Bounded so that a megabyte of digits is refused by the regex, not parsed (13 digits is enough
# to say "out of range" for anything above MAX_MONEY).
_MONEY_RE = re.compile(r"(?:\d{1,13}|\d{1,3}(?:,\d{3}){1,4})(?:\.\d{1,2})?")
_PERCENT_RE = re.compile(rf"\d{{1,3}}(?:\.\d{{1,{PERCENT_DECIMALS}}})?")
_INTEGER_RE = re.compile(r"[+-]?\d{1,15}")
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")  # fromisoformat alone also takes 20261231, 2026-W01


# ---------------------------------------------------------------------------------------------
# Data model


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
        """Context keys this field adds beside its own name (see the module docstring)."""
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
    checks: tuple[Check, ...] = ()  # business rules across fields (see "checks" above)

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
        if not isinstance(data, Mapping):
            raise InvalidInput(
                "表单数据应为对象（字段名到值的映射）。",
                "Form data must be an object (a mapping of field names to values).",
            )
        errors = _Errors()
        clean = _validate_scope(self.fields, data, "", _Where("", ""), errors)
        converted = not errors.items  # the rules read converted values: none may be missing
        _check_relations(self.fields, clean, clean, "", _Where("", ""), errors)
        if self.revision_list:
            clean[ARCHIVE_VERSION] = archive_version
        warnings = _Errors()
        if converted:
            for rule in self.checks:
                sink = errors if rule.severity == "error" else warnings
                _RULES[rule.rule].run(self, rule, clean, sink, warnings, archive, document_id)
        errors.raise_if_any()
        findings = [Finding(w["field"], w["zh"], w["en"], link=w.get("link", "")) for w in warnings.items]
        if errors.defaults:
            findings.insert(0, _defaults_finding(errors.defaults))
        return Checked(clean, tuple(findings), tuple(errors.defaults))

    def author_from(self, context: Mapping[str, Any]) -> str:
        """The document's author (its DOCX and PDF properties) from clean form data; "" when
        the schema names no author field or it is blank."""
        value = _lookup(context, self.author) if self.author else _MISSING
        return "" if value is _MISSING or value is None else str(value)

    def metadata_from(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """Archive metadata for a document made from ``data`` (a raw form or a clean context).

        The result is ready for :meth:`docsvc.core.model.Metadata.parse`: codes as strings,
        dates as ``date``; unmapped or blank values are left out.
        """
        out: dict[str, Any] = {"doc_type": self.doc_type, "doc_class": self.doc_class, **self.metadata_values}
        errors = _Errors()
        for key, path in self.metadata.items():
            f = self.field(path)
            raw = _lookup(data, path)
            where = _Where(f"“{f.label_zh}”", f.label_en)
            value = _convert(f, raw, path, where, errors)
            if value not in (None, ""):
                out[key] = value
        errors.raise_if_any()
        return out


# ---------------------------------------------------------------------------------------------
# Loading


def load_schema(
    source: str | Path | Mapping[str, Any], *, doc_types: tuple[Choice, ...] = BUILTIN_DOC_TYPES
) -> TemplateSchema:
    """Read a schema from a ``schema.json`` path, its directory, or an already-parsed dict.

    ``doc_types`` is the vocabulary in force (see ``Vocabulary.doc_types``). A malformed schema
    raises InvalidInput naming the file and the offending key, e.g. ``fields[3].choices``.
    """
    directory: Path | None = None
    if isinstance(source, Mapping):
        raw: Any = source
        origin = "schema"
    else:
        path = Path(source)
        if path.is_dir():
            path = path / SCHEMA_FILE
        directory = path.parent
        origin = str(path)
        try:
            with path.open("rb") as fh:
                blob = fh.read(MAX_SCHEMA_BYTES + 1)
        except OSError as exc:
            raise InvalidInput(
                f"无法读取模板字段定义文件 {path}：{exc.strerror}。",
                f"Cannot read template schema {path}: {exc.strerror}.",
            ) from None
        if len(blob) > MAX_SCHEMA_BYTES:
            raise InvalidInput(
                f"模板字段定义文件 {path} 过大（超过 1 MB）。", f"Template schema {path} is too large (over 1 MB)."
            )
        try:
            raw = json.loads(blob.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InvalidInput(
                f"模板字段定义文件 {path} 不是有效的 UTF-8 JSON：{exc}。",
                f"Template schema {path} is not valid UTF-8 JSON: {exc}.",
            ) from None
    try:
        schema = _Loader(doc_types).schema(raw, directory)
    except _SchemaProblem as p:
        raise InvalidInput(
            f"模板字段定义 {origin} 有误：{p.where}：{p.zh}",
            f"Template schema {origin} is malformed: {p.where}: {p.en}",
            field=p.where,
        ) from None
    try:
        schema.validate(schema.sample())
    except InvalidInput as exc:
        errors = exc.details.get("errors", [])
        first = errors[0] if errors else {"field": "", "zh": exc.zh, "en": exc.en}
        raise InvalidInput(
            f"模板字段定义 {origin} 的示例数据未通过校验：{first['field']}：{first['zh']}",
            f"The examples in template schema {origin} do not validate: {first['field']}: {first['en']}",
            field="example",
            details=exc.details,
        ) from None
    return schema


def list_shipped(templates_dir: str | Path) -> list[TemplateSchema]:
    """The schemas of every ``<slug>/schema.json`` under ``templates_dir``, sorted by slug.

    A directory whose name differs from its schema's slug is refused: the slug is how
    documents record which template made them, so it must not depend on where a file was copied.
    """
    out = []
    for schema_path in sorted(Path(templates_dir).glob(f"*/{SCHEMA_FILE}")):
        schema = load_schema(schema_path)
        if schema.slug != schema_path.parent.name:
            raise InvalidInput(
                f"模板目录名“{schema_path.parent.name}”与字段定义中的 slug“{schema.slug}”不一致。",
                f"Template directory '{schema_path.parent.name}' does not match the schema's slug '{schema.slug}'.",
                field="template.slug",
            )
        out.append(schema)
    return out


class _SchemaProblem(Exception):
    def __init__(self, where: str, zh: str, en: str) -> None:
        super().__init__(f"{where}: {en}")
        self.where, self.zh, self.en = where, zh, en


_COMMON_KEYS = {"name", "label_zh", "label_en", "type", "required", "default", "example", "help_zh", "help_en"}
_TYPE_KEYS = {
    "text": {"max_length", "pattern", "checksum"},
    "longtext": {"max_length"},
    "date": {"not_before"},
    "money": {"min", "max", "currencies"},
    "integer": {"min", "max"},
    "percent": {"min", "max"},
    "enum": {"choices", "choices_from"},
    "boolean": set(),
    "list": {"fields", "min_items", "max_items", "sums"},
    "group": {"fields"},
}
CHECKSUMS = ("gb32100",)


class _Loader:
    """Turns parsed JSON into dataclasses, raising _SchemaProblem at the first mistake."""

    def __init__(self, doc_types: tuple[Choice, ...]) -> None:
        self.doc_types = doc_types

    def schema(self, raw: Any, directory: Path | None) -> TemplateSchema:
        obj = self._object(raw, "schema", {"schema_version", "template", "fields", "checks"})
        if obj.get("schema_version") != SCHEMA_VERSION:
            raise _SchemaProblem("schema_version", f"应为 {SCHEMA_VERSION}。", f"must be {SCHEMA_VERSION}.")
        t = self._object(
            obj.get("template"),
            "template",
            {
                "slug",
                "name_zh",
                "name_en",
                "description_zh",
                "description_en",
                "spec_ref",
                "doc_type",
                "doc_class",
                "metadata",
                "author",
            },
        )
        slug = self._str(t, "slug", "template")
        if not _SLUG_RE.fullmatch(slug):
            raise _SchemaProblem(
                "template.slug",
                "只能使用小写字母、数字和下划线，且以字母开头。",
                "use lower-case letters, digits and _, starting with a letter.",
            )
        doc_type = self._str(t, "doc_type", "template")
        if doc_type not in {c.code for c in self.doc_types}:
            raise _SchemaProblem(
                "template.doc_type",
                f"文档类型“{doc_type}”未定义。可选值：{'、'.join(c.code for c in self.doc_types)}。",
                f"unknown document type '{doc_type}'. Valid values: {', '.join(c.code for c in self.doc_types)}.",
            )
        doc_class = self._str(t, "doc_class", "template")
        if doc_class not in {c.value for c in DocClass}:
            raise _SchemaProblem(
                "template.doc_class", "应为 user（用户文档）或 site（现场文档）。", "must be user or site."
            )
        fields = self._fields(obj.get("fields"), "fields", "", top=True)
        partial = TemplateSchema(
            slug=slug,
            name_zh=self._str(t, "name_zh", "template"),
            name_en=self._str(t, "name_en", "template"),
            description_zh=self._str(t, "description_zh", "template"),
            description_en=self._str(t, "description_en", "template"),
            spec_ref=self._str(t, "spec_ref", "template"),
            doc_type=doc_type,
            doc_class=doc_class,
            metadata={},
            metadata_values={},
            fields=fields,
            directory=directory,
        )
        self._cross_references(partial)
        paths, values = self._metadata(t.get("metadata"), partial)
        checks = self._checks(obj.get("checks"), partial)
        return replace(
            partial,
            metadata=paths,
            metadata_values=values,
            author=self._author(t.get("author"), partial),
            checks=checks,
        )

    def _author(self, raw: Any, schema: TemplateSchema) -> str | None:
        """Optional: the path of a text field outside any list (e.g. ``party_b.name``)."""
        if raw is None:
            return None
        where = "template.author"
        if not isinstance(raw, str):
            raise _SchemaProblem(where, "应为字段路径字符串。", "must be a field path string.")
        try:
            f = schema.field(raw)
        except KeyError:
            raise _SchemaProblem(where, f"字段“{raw}”不存在。", f"no field '{raw}'.") from None
        if "[]" in raw or f.type != "text":
            raise _SchemaProblem(
                where, "应映射到 text 类型、且不在列表中的字段。", "must map to a text field outside any list."
            )
        return raw

    def _checks(self, raw: Any, schema: TemplateSchema) -> tuple[Check, ...]:
        if raw is None:
            return ()
        if not isinstance(raw, list):
            raise _SchemaProblem("checks", "应为列表。", "must be a list.")
        out = []
        for i, item in enumerate(raw):
            where = f"checks[{i}]"
            name: Any = item.get("rule") if isinstance(item, Mapping) else None
            rule = _RULES.get(name) if isinstance(name, str) else None
            if rule is None:
                raise _SchemaProblem(
                    f"{where}.rule", f"应为以下之一：{'、'.join(_RULES)}。", f"must be one of: {', '.join(_RULES)}."
                )
            obj = self._object(item, where, {"rule", "severity", *rule.params})
            severity = obj.get("severity", rule.severity)
            if severity not in ("error", "warning"):
                raise _SchemaProblem(f"{where}.severity", "应为 error 或 warning。", "must be error or warning.")
            params = {k: obj[k] for k in rule.params if k in obj}
            missing = [k for k in rule.params if k not in params and k not in rule.optional]
            if missing:
                raise _SchemaProblem(f"{where}.{missing[0]}", "缺少此键。", "is missing.")
            check = Check(name, severity, params)
            problem = rule.verify(schema, check)
            if problem:
                raise _SchemaProblem(f"{where}.{problem[0]}", problem[1], problem[2])
            out.append(check)
        return tuple(out)

    # -- pieces -----------------------------------------------------------------------------------

    def _object(self, raw: Any, where: str, allowed: set[str]) -> Mapping[str, Any]:
        if not isinstance(raw, Mapping):
            raise _SchemaProblem(where, "应为 JSON 对象。", "must be a JSON object.")
        unknown = sorted(set(raw) - allowed)
        if unknown:
            raise _SchemaProblem(
                f"{where}.{unknown[0]}",
                f"未知的键“{unknown[0]}”。允许的键：{'、'.join(sorted(allowed))}。",
                f"unknown key '{unknown[0]}'. Allowed keys: {', '.join(sorted(allowed))}.",
            )
        return raw

    def _str(self, obj: Mapping[str, Any], key: str, where: str, *, optional: bool = False) -> str:
        value = obj.get(key)
        if value is None and optional:
            return ""
        if not isinstance(value, str) or not value.strip():
            raise _SchemaProblem(f"{where}.{key}", "应为非空字符串。", "must be a non-empty string.")
        return value

    def _number(self, obj: Mapping[str, Any], key: str, where: str) -> Decimal | None:
        value = obj.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise _SchemaProblem(f"{where}.{key}", "应为数字。", "must be a number.")
        try:
            return Decimal(str(value))
        except InvalidOperation:
            raise _SchemaProblem(f"{where}.{key}", "应为数字。", "must be a number.") from None

    def _int(self, obj: Mapping[str, Any], key: str, where: str, lo: int, hi: int, default: int | None) -> int | None:
        value = obj.get(key, default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise _SchemaProblem(
                f"{where}.{key}", f"应为 {lo} 到 {hi} 之间的整数。", f"must be an integer from {lo} to {hi}."
            )
        return value

    def _fields(self, raw: Any, where: str, prefix: str, *, top: bool) -> tuple[Field, ...]:
        if not isinstance(raw, list) or not raw:
            raise _SchemaProblem(where, "应为非空的字段列表。", "must be a non-empty list of fields.")
        fields = tuple(self._field(item, f"{where}[{i}]", prefix, top=top) for i, item in enumerate(raw))
        names = [f.name for f in fields]
        taken: set[str] = set()
        for i, f in enumerate(fields):
            for name in (f.name, *f.derived_names()):
                if name in taken or (name != f.name and name in names):
                    raise _SchemaProblem(
                        f"{where}[{i}].name",
                        f"字段名“{name}”重复或与其它字段的派生名冲突。",
                        f"field name '{name}' is duplicated or clashes with a derived name.",
                    )
                taken.add(name)
        return fields

    def _field(self, raw: Any, where: str, prefix: str, *, top: bool) -> Field:
        if not isinstance(raw, Mapping):
            raise _SchemaProblem(where, "应为 JSON 对象。", "must be a JSON object.")
        ftype = raw.get("type")
        if ftype not in TYPES:
            raise _SchemaProblem(
                f"{where}.type", f"类型应为以下之一：{'、'.join(TYPES)}。", f"type must be one of: {', '.join(TYPES)}."
            )
        self._object(raw, where, _COMMON_KEYS | _TYPE_KEYS[ftype])
        name = self._str(raw, "name", where)
        if not FIELD_NAME_RE.fullmatch(name) or name in _RESERVED_NAMES:
            raise _SchemaProblem(
                f"{where}.name",
                f"字段名“{name}”无效：只能使用汉字或小写字母、数字和下划线，以汉字或字母开头，且不能是保留字。",
                f"field name '{name}' is invalid: use Chinese characters or lower-case letters, "
                f"digits and _, start with a Chinese character or a letter, and avoid reserved "
                f"words ({', '.join(sorted(_RESERVED_NAMES))}).",
            )
        where = f"{where}({name})"
        required = raw.get("required")
        if not isinstance(required, bool):
            raise _SchemaProblem(f"{where}.required", "应为 true 或 false。", "must be true or false.")
        for key in ("default", "example"):
            if key not in raw and ftype != "group":
                raise _SchemaProblem(
                    f"{where}.{key}", "缺少此键（没有时写 null）。", "is missing (write null when there is none)."
                )
        default, example = raw.get("default"), raw.get("example")
        if ftype == "group" and (default is not None or example is not None):
            raise _SchemaProblem(
                where,
                "分组字段的默认值和示例来自其子字段，不能单独设置。",
                "a group's default and example come from its fields.",
            )
        if required and default is not None:
            raise _SchemaProblem(
                f"{where}.default", "必填字段不能有默认值。", "a required field cannot have a default."
            )
        path = prefix + name
        nested = ftype in ("group", "list")
        if nested and not top:
            raise _SchemaProblem(
                f"{where}.type", "分组和列表只能出现在顶层。", "groups and lists may only appear at the top level."
            )
        kw: dict[str, Any] = {}
        if ftype in ("text", "longtext"):
            kw["max_length"] = self._int(raw, "max_length", where, 1, MAX_MAX_LENGTH, DEFAULT_MAX_LENGTH[ftype])
        if ftype == "text":
            kw["pattern"] = self._pattern(raw.get("pattern"), f"{where}.pattern")
            checksum = raw.get("checksum")
            if checksum is not None and checksum not in CHECKSUMS:
                raise _SchemaProblem(
                    f"{where}.checksum",
                    f"应为以下之一：{'、'.join(CHECKSUMS)}。",
                    f"must be one of: {', '.join(CHECKSUMS)}.",
                )
            kw["checksum"] = checksum
        if ftype in ("money", "integer", "percent"):
            kw["min"] = self._number(raw, "min", where)
            kw["max"] = self._number(raw, "max", where)
            if kw["min"] is not None and kw["max"] is not None and kw["min"] > kw["max"]:
                raise _SchemaProblem(f"{where}.min", "最小值大于最大值。", "min is greater than max.")
        if ftype == "money":
            currencies = raw.get("currencies", ["CNY"])
            if not isinstance(currencies, list) or not currencies or any(c not in CURRENCIES for c in currencies):
                raise _SchemaProblem(
                    f"{where}.currencies",
                    f"应为非空列表，元素取自：{'、'.join(CURRENCIES)}。",
                    f"must be a non-empty list drawn from: {', '.join(CURRENCIES)}.",
                )
            kw["currencies"] = tuple(currencies)
        if ftype == "date":
            kw["not_before"] = raw.get("not_before")
        if ftype == "enum":
            kw["choices"], kw["choices_from"] = self._choices(raw, where)
        if nested:
            kw["fields"] = self._fields(
                raw.get("fields"), f"{where}.fields", path + ("[]." if ftype == "list" else "."), top=False
            )
        if ftype == "list":
            kw["min_items"] = self._int(raw, "min_items", where, 0, MAX_MAX_ITEMS, 0)
            kw["max_items"] = self._int(raw, "max_items", where, 1, MAX_MAX_ITEMS, DEFAULT_MAX_ITEMS)
            if kw["min_items"] > kw["max_items"]:
                raise _SchemaProblem(
                    f"{where}.min_items", "最少行数大于最多行数。", "min_items is greater than max_items."
                )
            kw["sums"] = self._list_sums(raw.get("sums"), f"{where}.sums", kw["fields"])
        f = Field(
            name=name,
            path=path,
            type=ftype,
            required=required,
            label_zh=self._str(raw, "label_zh", where),
            label_en=self._str(raw, "label_en", where),
            help_zh=self._str(raw, "help_zh", where, optional=True),
            help_en=self._str(raw, "help_en", where, optional=True),
            default=copy.deepcopy(default),
            example=copy.deepcopy(example),
            **kw,
        )
        # Defaults and examples of scalars must themselves be valid values.
        for key, value in (("default", default), ("example", example)):
            if value is not None and f.type in SCALAR_TYPES:
                errors = _Errors()
                _convert(f, value, path, _Where(f"“{f.label_zh}”", f.label_en), errors)
                if errors.items:
                    raise _SchemaProblem(f"{where}.{key}", errors.items[0]["zh"], errors.items[0]["en"])
        if f.type == "list" and default is not None and default != []:
            raise _SchemaProblem(
                f"{where}.default", "列表的默认值只能是 null 或 []。", "a list's default can only be null or []."
            )
        return f

    def _pattern(self, raw: Any, where: str) -> Pattern | None:
        if raw is None:
            return None
        obj = self._object(raw, where, {"regex", "zh", "en"})
        try:
            regex = re.compile(self._str(obj, "regex", where))
        except re.error as exc:
            raise _SchemaProblem(
                f"{where}.regex", f"正则表达式无效：{exc}。", f"invalid regular expression: {exc}."
            ) from None
        return Pattern(regex, self._str(obj, "zh", where), self._str(obj, "en", where))

    def _choices(self, raw: Mapping[str, Any], where: str) -> tuple[tuple[Choice, ...], str | None]:
        source, listed = raw.get("choices_from"), raw.get("choices")
        if (source is None) == (listed is None):
            raise _SchemaProblem(
                where,
                "枚举字段须且只能设置 choices 或 choices_from 之一。",
                "an enum needs exactly one of choices or choices_from.",
            )
        if source is not None:
            if source not in VOCABULARIES:
                raise _SchemaProblem(
                    f"{where}.choices_from",
                    f"应为以下之一：{'、'.join(VOCABULARIES)}。",
                    f"must be one of: {', '.join(VOCABULARIES)}.",
                )
            return tuple(VOCABULARIES[source].choices()), source
        if not isinstance(listed, list) or not listed:
            raise _SchemaProblem(f"{where}.choices", "应为非空列表。", "must be a non-empty list.")
        choices = []
        for i, item in enumerate(listed):
            w = f"{where}.choices[{i}]"
            obj = self._object(item, w, {"value", "zh", "en"})
            choices.append(Choice(self._str(obj, "value", w), self._str(obj, "zh", w), self._str(obj, "en", w)))
        if len({c.code for c in choices}) != len(choices):
            raise _SchemaProblem(f"{where}.choices", "选项值重复。", "choice values are duplicated.")
        return tuple(choices), None

    def _list_sums(self, raw: Any, where: str, row_fields: tuple[Field, ...]) -> tuple[ListSum, ...]:
        if raw is None:
            return ()
        if not isinstance(raw, list):
            raise _SchemaProblem(where, "应为列表。", "must be a list.")
        out = []
        by_name = {f.name: f for f in row_fields}
        for i, item in enumerate(raw):
            w = f"{where}[{i}]"
            obj = self._object(item, w, {"field", "equals", "equals_field"})
            name = self._str(obj, "field", w)
            if by_name.get(name) is None or by_name[name].type not in ("money", "integer", "percent"):
                raise _SchemaProblem(
                    f"{w}.field",
                    "应为本列表中金额、整数或百分比类型的列。",
                    "must name a money, integer or percent column of this list.",
                )
            equals = self._number(obj, "equals", w)
            equals_field = obj.get("equals_field")
            if (equals is None) == (equals_field is None):
                raise _SchemaProblem(
                    w, "须且只能设置 equals 或 equals_field 之一。", "needs exactly one of equals or equals_field."
                )
            out.append(ListSum(name, equals, equals_field))
        return tuple(out)

    def _cross_references(self, schema: TemplateSchema) -> None:
        """Cross-references are checked once every field is known."""
        top = {f.name: f for f in schema.fields}
        for f in schema.iter_fields():
            if f.type == "date" and f.not_before is not None:
                siblings = {s.name: s for s in _scope_of(schema, f)}
                target = siblings.get(f.not_before)
                if target is None or target.type != "date":
                    raise _SchemaProblem(
                        f"{f.path}.not_before",
                        "应为同一层级中日期字段的名称。",
                        "must name a date field at the same level.",
                    )
            for s in f.sums:
                if s.equals_field is None:
                    continue
                target = top.get(s.equals_field)
                column = next(c for c in f.fields if c.name == s.field)
                if target is None or target.type != column.type:
                    raise _SchemaProblem(
                        f"{f.path}.sums",
                        f"equals_field 应为与列“{s.field}”同类型的顶层字段。",
                        f"equals_field must name a top-level field of the same type as column '{s.field}'.",
                    )

    def _metadata(self, raw: Any, schema: TemplateSchema) -> tuple[dict[str, str], dict[str, str]]:
        """Each key maps to a field path, or for vocabularies to a fixed ``{"value": code}``."""
        obj = self._object(raw, "template.metadata", set(METADATA_TARGETS))
        for key in REQUIRED_METADATA:
            if key not in obj:
                raise _SchemaProblem(f"template.metadata.{key}", "缺少此映射。", "is missing.")
        paths, values = {}, {}
        for key, path in obj.items():
            where = f"template.metadata.{key}"
            ftype, vocab = METADATA_TARGETS[key]
            if isinstance(path, Mapping) and vocab:
                code = self._object(path, where, {"value"}).get("value")
                valid = [c.value for c in VOCABULARIES[vocab]]
                if code not in valid:
                    raise _SchemaProblem(
                        f"{where}.value", f"应为以下之一：{'、'.join(valid)}。", f"must be one of: {', '.join(valid)}."
                    )
                values[key] = code
                continue
            if not isinstance(path, str):
                raise _SchemaProblem(where, "应为字段路径字符串。", "must be a field path string.")
            try:
                f = schema.field(path)
            except KeyError:
                raise _SchemaProblem(where, f"字段“{path}”不存在。", f"no field '{path}'.") from None
            if "[]" in path or f.type != ftype or (vocab and f.choices_from != vocab):
                wanted = f"{ftype}（choices_from={vocab}）" if vocab else ftype
                raise _SchemaProblem(
                    where,
                    f"应映射到 {wanted} 类型、且不在列表中的字段。",
                    f"must map to a {ftype} field outside any list"
                    + (f" with choices_from={vocab}." if vocab else "."),
                )
            if ftype == "text" and (f.max_length or 0) > MAX_TEXT:
                raise _SchemaProblem(
                    where,
                    f"元数据文本最多 {MAX_TEXT} 个字符，该字段的 max_length 过大。",
                    f"metadata text holds at most {MAX_TEXT} characters; lower the field's max_length.",
                )
            paths[key] = path
        return paths, values


def _scope_of(schema: TemplateSchema, field: Field) -> tuple[Field, ...]:
    """The fields declared at the same level as ``field``."""
    if "." not in field.path:
        return schema.fields
    parent = field.path.rsplit(".", 1)[0].removesuffix("[]")
    return schema.field(parent).fields


# ---------------------------------------------------------------------------------------------
# Validation


_MISSING = object()


@dataclass(frozen=True)
class _Where:
    """How a field is named in messages: zh '甲方的“名称”', en 'Party A: Name'."""

    zh: str
    en: str

    def child(self, f: Field) -> _Where:
        return _Where(f"{self.zh}“{f.label_zh}”", f"{self.en}{f.label_en}")


class _Errors:
    def __init__(self) -> None:
        self.items: list[dict[str, str]] = []
        self.dropped = 0
        self.defaults: list[DefaultUsed] = []  # blank fields the schema's default filled in

    @property
    def full(self) -> bool:
        return len(self.items) >= MAX_ERRORS

    def add(self, path: str, zh: str, en: str, *, link: str = "") -> None:
        if len(self.items) < MAX_ERRORS:
            self.items.append({"field": path, "zh": zh, "en": en, **({"link": link} if link else {})})
        else:
            self.dropped += 1

    def raise_if_any(self) -> None:
        if not self.items:
            return
        total = len(self.items) + self.dropped
        head = self.items[:3]
        more_zh = f"等共 {total} 处" if total > len(head) else ""
        more_en = f" ({total} problems in all)" if total > len(head) else ""
        details: dict[str, Any] = {"errors": self.items}
        if self.dropped:
            details["not_listed"] = self.dropped
        raise InvalidInput(
            "表单数据有误，请修改后重试：" + "；".join(e["zh"] for e in head) + more_zh,
            "The form data is invalid; fix it and try again: " + "; ".join(e["en"] for e in head) + more_en,
            field=self.items[0]["field"],
            details=details,
        )


def _validate_scope(
    fields: tuple[Field, ...], data: Mapping[str, Any], prefix: str, where: _Where, errors: _Errors
) -> dict[str, Any]:
    """Convert one level (the form, a group or a list row); unknown keys are errors."""
    known = {f.name for f in fields}
    for key in data:
        if key not in known:
            if errors.full:  # a form with a million junk keys must stay cheap to refuse
                errors.dropped += 1
                continue
            name = _shorten(key)
            errors.add(
                f"{prefix}{name}",
                f"{where.zh}未知字段“{name}”：本模板没有此字段，请删除或检查拼写。"
                f"可用字段：{'、'.join(f.name for f in fields)}。",
                f"{where.en}Unknown field '{name}': this template has no such field; remove it or "
                f"check the spelling. Known fields: {', '.join(f.name for f in fields)}.",
            )
    out: dict[str, Any] = {}
    for f in fields:
        path, here = prefix + f.name, where.child(f)
        raw = data.get(f.name, _MISSING)
        if f.type == "group":
            value: Any = _validate_group(f, raw, path, here, errors)
        elif f.type == "list":
            value = _validate_list(f, raw, path, here, errors)
        else:
            value = _convert(f, raw, path, here, errors)
        out[f.name] = value
        out.update(_derived(f, value))
    return out


def _validate_group(f: Field, raw: Any, path: str, here: _Where, errors: _Errors) -> dict[str, Any]:
    inner = _Where(f"{here.zh}的", f"{here.en}: ")
    if _blank(raw) or (isinstance(raw, Mapping) and all(_blank(v) for v in raw.values())):
        # An optional group left blank stays blank: its fields take their defaults and their own
        # "required" does not apply (e.g. an optional guarantor). A required one reports them.
        sink = errors if f.required else _Errors()
        return _validate_scope(f.fields, raw if isinstance(raw, Mapping) else {}, path + ".", inner, sink)
    if not isinstance(raw, Mapping):
        errors.add(
            path,
            f"{here.zh}应为对象（包含 {'、'.join(c.name for c in f.fields)} 等字段），收到的是{_type_zh(raw)}。",
            f"{here.en} must be an object with the fields {', '.join(c.name for c in f.fields)}; got {_type_en(raw)}.",
        )
        raw = {}
    return _validate_scope(f.fields, raw, path + ".", inner, errors)


def _validate_list(f: Field, raw: Any, path: str, here: _Where, errors: _Errors) -> list[dict[str, Any]]:
    if _blank(raw):
        if f.required:
            errors.add(
                path,
                f"{here.zh}为必填项，请至少填写 {max(f.min_items, 1)} 行。",
                f"{here.en} is required; add at least {max(f.min_items, 1)} row(s).",
            )
            return []
        raw = f.default if f.default is not None else []
    if not isinstance(raw, (list, tuple)):
        errors.add(
            path,
            f"{here.zh}应为列表（每行一个对象），收到的是{_type_zh(raw)}。",
            f"{here.en} must be a list of rows (objects); got {_type_en(raw)}.",
        )
        return []
    if len(raw) > f.max_items:
        errors.add(
            path,
            f"{here.zh}最多 {f.max_items} 行，当前 {len(raw)} 行，请删减。",
            f"{here.en} has {len(raw)} rows; at most {f.max_items} are allowed.",
        )
        raw = raw[: f.max_items]  # check the rows that would be kept, and no more work than that
    elif len(raw) < f.min_items:
        errors.add(
            path,
            f"{here.zh}至少需要 {f.min_items} 行，当前 {len(raw)} 行，请补充。",
            f"{here.en} needs at least {f.min_items} rows; it has {len(raw)}.",
        )
    rows = []
    for i, row in enumerate(raw):
        row_path = f"{path}[{i}]"
        row_where = _Where(f"{here.zh}第 {i + 1} 行的", f"{here.en}, row {i + 1}: ")
        if not isinstance(row, Mapping):
            errors.add(
                row_path,
                f"{here.zh}第 {i + 1} 行应为对象，收到的是{_type_zh(row)}。",
                f"{here.en}, row {i + 1} must be an object; got {_type_en(row)}.",
            )
            row = {}
        rows.append(_validate_scope(f.fields, row, row_path + ".", row_where, errors))
    return rows


def _blank(raw: Any) -> bool:
    return raw is _MISSING or raw is None or (isinstance(raw, str) and not raw.strip())


def _convert(f: Field, raw: Any, path: str, here: _Where, errors: _Errors) -> Any:
    """One scalar: blank -> default or empty, else the type's converter. None when invalid."""
    if _blank(raw):
        if f.required:
            errors.add(path, f"{here.zh}为必填项，请填写。", f"{here.en} is required; please fill it in.")
            return _empty(f)
        if _blank(f.default):
            return _empty(f)
        raw = f.default
        errors.defaults.append(DefaultUsed(path, f.label_zh, f.label_en, _shown_default(f)))
    return _CONVERTERS[f.type](f, raw, path, here, errors)


def _empty(f: Field) -> Any:
    return "" if f.type in ("text", "longtext") else None


def _text(f: Field, raw: Any, path: str, here: _Where, errors: _Errors) -> str | None:
    if not isinstance(raw, str):
        errors.add(
            path, f"{here.zh}应为文本，收到的是{_type_zh(raw)}。", f"{here.en} must be text; got {_type_en(raw)}."
        )
        return None
    value = raw.strip()
    limit = f.max_length or DEFAULT_MAX_LENGTH[f.type]
    if len(value) > limit:
        # Checked before any regex, so a huge value is refused in linear time and never scanned.
        errors.add(
            path,
            f"{here.zh}过长（{len(value)} 个字符），最多 {limit} 个字符，请删减。",
            f"{here.en} is too long ({len(value)} characters); at most {limit}.",
        )
        return None
    bad = _XML_INVALID_RE.search(value) or (f.type == "text" and _LINE_BREAK_RE.search(value))
    if bad:
        kind_zh = "换行" if bad.group() in "\r\n\u2028\u2029" else "控制字符"
        errors.add(
            path,
            f"{here.zh}含有不允许的{kind_zh}（U+{ord(bad.group()):04X}），请删除后重试。",
            f"{here.en} contains a character that is not allowed (U+{ord(bad.group()):04X}); remove it and try again.",
        )
        return None
    if f.pattern and not f.pattern.regex.fullmatch(value):
        errors.add(path, f"{here.zh}格式不正确：{f.pattern.zh}", f"{here.en} is malformed: {f.pattern.en}")
        return None
    if f.checksum == "gb32100" and not uscc_is_valid(value):
        errors.add(
            path,
            f"{here.zh}“{value}”的校验位不符（GB 32100-2015），请核对是否输错。",
            f"{here.en} '{value}' fails the GB 32100-2015 check digit; check for a typo.",
        )
        return None
    return value


def _date(f: Field, raw: Any, path: str, here: _Where, errors: _Errors) -> dt.date | None:
    if isinstance(raw, dt.datetime):
        return raw.date()
    if isinstance(raw, dt.date):
        return raw
    if isinstance(raw, str) and _DATE_RE.fullmatch(raw.strip()):
        try:
            return dt.date.fromisoformat(raw.strip())
        except ValueError:  # 2026-02-30
            pass
    shown = _shorten(raw)
    errors.add(
        path,
        f"{here.zh}的值“{shown}”不是有效日期，请使用 YYYY-MM-DD 格式，例如 2026-12-31。",
        f"{here.en} '{shown}' is not a valid date; use YYYY-MM-DD, e.g. 2026-12-31.",
    )
    return None


def _money(f: Field, raw: Any, path: str, here: _Where, errors: _Errors) -> dict[str, str] | None:
    currency = f.currencies[0]
    if isinstance(raw, Mapping):
        unknown = sorted(_shorten(k) for k in raw if k not in ("amount", "currency"))
        if unknown:
            errors.add(
                f"{path}.{unknown[0]}",
                f"{here.zh}含未知字段“{unknown[0]}”，金额只包含 amount 和 currency。",
                f"{here.en} has an unknown key '{unknown[0]}'; money has only amount and currency.",
            )
            return None
        currency = raw.get("currency") or currency
        raw = raw.get("amount")
        if _blank(raw):
            errors.add(
                f"{path}.amount",
                f"{here.zh}缺少金额，请填写，例如 123456.00。",
                f"{here.en} has no amount; fill it in, e.g. 123456.00.",
            )
            return None
    if currency not in f.currencies:
        listing_zh = "、".join(f"{c}（{CURRENCIES[c][0]}）" for c in f.currencies)
        errors.add(
            f"{path}.currency",
            f"{here.zh}的币种“{_shorten(currency)}”无效，可选：{listing_zh}。",
            f"{here.en}: invalid currency '{_shorten(currency)}'. Valid: {', '.join(f.currencies)}.",
        )
        return None
    amount = _decimal(raw, _MONEY_RE, allow_float=True)
    lo = f.min if f.min is not None else Decimal(0)
    hi = min(f.max, MAX_MONEY) if f.max is not None else MAX_MONEY
    if amount is None:
        errors.add(
            f"{path}.amount",
            f"{here.zh}的金额“{_shorten(raw)}”无效：请填写不含货币符号的数字，最多两位小数，例如 123456.00。",
            f"{here.en}: invalid amount '{_shorten(raw)}'; write a plain number with at most "
            f"two decimals, e.g. 123456.00.",
        )
        return None
    if not lo <= amount <= hi:
        errors.add(
            f"{path}.amount",
            f"{here.zh}应在 {lo:,.2f} 到 {hi:,.2f} 之间，当前为 {amount:,.2f}。",
            f"{here.en} must be from {lo:,.2f} to {hi:,.2f}; it is {amount:,.2f}.",
        )
        return None
    amount = amount.quantize(Decimal("0.01"))
    return {
        "amount": f"{amount:.2f}",
        "currency": currency,
        "currency_zh": CURRENCIES[currency][0],
        "amount_grouped": f"{amount:,.2f}",
        "amount_cn": amount_in_words(amount),
        "symbol": CURRENCY_SIGNS[currency][0],
        "unit_zh": CURRENCY_SIGNS[currency][1],
    }


def _integer(f: Field, raw: Any, path: str, here: _Where, errors: _Errors) -> int | None:
    value: int | None = None
    if isinstance(raw, int) and not isinstance(raw, bool):
        value = raw
    elif isinstance(raw, str) and _INTEGER_RE.fullmatch(raw.strip()):
        value = int(raw.strip())
    if value is None:
        errors.add(
            path,
            f"{here.zh}应为整数，收到“{_shorten(raw)}”，例如 12。",
            f"{here.en} must be a whole number, e.g. 12; got '{_shorten(raw)}'.",
        )
        return None
    if not _in_range(f, Decimal(value)):
        errors.add(
            path, f"{here.zh}应在 {_range_zh(f)}，当前为 {value}。", f"{here.en} must be {_range_en(f)}; it is {value}."
        )
        return None
    return value


def _percent(f: Field, raw: Any, path: str, here: _Where, errors: _Errors) -> str | None:
    if isinstance(raw, str):
        raw = raw.strip().removesuffix("%").strip()
    value = _decimal(raw, _PERCENT_RE, allow_float=True)
    lo = f.min if f.min is not None else Decimal(0)
    hi = f.max if f.max is not None else Decimal(100)
    if value is None or not lo <= value <= hi:
        errors.add(
            path,
            f"{here.zh}应为 {lo} 到 {hi} 之间的百分数（最多三位小数，不含 % 号），例如 99.9，收到“{_shorten(raw)}”。",
            f"{here.en} must be a percentage from {lo} to {hi} with at most three decimals, "
            f"e.g. 99.9; got '{_shorten(raw)}'.",
        )
        return None
    return _plain(value)


def _enum(f: Field, raw: Any, path: str, here: _Where, errors: _Errors) -> str | None:
    value = raw.strip() if isinstance(raw, str) else raw
    if isinstance(value, str) and f.choice(value):
        return value
    errors.add(
        path,
        f"{here.zh}的值“{_shorten(raw)}”无效。可选值：" + "；".join(f"{c.code}（{c.zh}）" for c in f.choices) + "。",
        f"{here.en}: invalid value '{_shorten(raw)}'. Valid values: "
        + "; ".join(f"{c.code} ({c.en})" for c in f.choices)
        + ".",
    )
    return None


_TRUE = frozenset({"true", "yes", "y", "1", "是", "☑", "☒", "■", "√", "✓"})
_FALSE = frozenset({"false", "no", "n", "0", "否", "☐", "□"})


def _boolean(f: Field, raw: Any, path: str, here: _Where, errors: _Errors) -> bool | None:
    if isinstance(raw, bool):
        return raw
    text = raw.strip().lower() if isinstance(raw, str) else raw
    if text in _TRUE or text == 1:
        return True
    if text in _FALSE or text == 0:
        return False
    errors.add(
        path,
        f"{here.zh}应为“是”或“否”，收到“{_shorten(raw)}”。",
        f"{here.en} must be yes or no (true/false); got '{_shorten(raw)}'.",
    )
    return None


_CONVERTERS: dict[str, Callable[[Field, Any, str, _Where, _Errors], Any]] = {
    "boolean": _boolean,
    "text": _text,
    "longtext": _text,
    "date": _date,
    "money": _money,
    "integer": _integer,
    "percent": _percent,
    "enum": _enum,
}


def _derived(f: Field, value: Any) -> dict[str, Any]:
    if f.type == "date":
        return {f"{f.name}_cn": date_cn(value) if value else ""}
    if f.type == "enum":
        choice = f.choice(value) if value else None
        return {f"{f.name}_cn": choice.zh if choice else ""}
    if f.type == "boolean":
        return {f"{f.name}_cn": "" if value is None else ("是" if value else "否")}
    if f.type == "longtext":
        lines = [line.strip() for line in _LINE_BREAK_RE.split(value or "")]
        lines = [line for line in lines if line]
        # _items: the same lines without the drafter's own enumerators, for templates that
        # number them as clauses (7.1, 7.2 …), so a document has one numbering scheme.
        return {
            f"{f.name}_paragraphs": lines,
            f"{f.name}_items": [_ENUMERATOR_RE.sub("", line, count=1) or line for line in lines],
        }
    if f.type == "integer":
        return {
            f"{f.name}_cn": ""
            if value is None
            else ("零" if value == 0 else ("负" if value < 0 else "") + _integer_in_words(abs(value)))
        }
    return {}


# （一） (1) 1. 1、 一、 ① at the start of a line
_ENUMERATOR_RE = re.compile(
    r"^\s*(?:[（(][一二三四五六七八九十\d]{1,3}[)）]|[\d]{1,3}[.、．](?!\d)|"
    r"[一二三四五六七八九十]{1,3}、|[①-⑳])\s*"
)


def _check_relations(
    fields: tuple[Field, ...],
    scope: Mapping[str, Any],
    root: Mapping[str, Any],
    prefix: str,
    where: _Where,
    errors: _Errors,
) -> None:
    """Checks between fields, run once every value is converted (invalid ones are None)."""
    by_name = {f.name: f for f in fields}
    for f in fields:
        path, here = prefix + f.name, where.child(f)
        value: Any = scope.get(f.name)
        if f.type == "date" and f.not_before and value is not None:
            earlier = scope.get(f.not_before)
            if earlier is not None and value < earlier:
                other = where.child(by_name[f.not_before])
                errors.add(
                    path,
                    f"{here.zh}（{date_cn(value)}）不能早于{other.zh}（{date_cn(earlier)}）。",
                    f"{here.en} ({value}) cannot be earlier than {other.en} ({earlier}).",
                )
        elif f.type == "group":
            _check_relations(f.fields, value, root, path + ".", _Where(f"{here.zh}的", f"{here.en}: "), errors)
        elif f.type == "list":
            for i, row in enumerate(value):
                _check_relations(
                    f.fields,
                    row,
                    root,
                    f"{path}[{i}].",
                    _Where(f"{here.zh}第 {i + 1} 行的", f"{here.en}, row {i + 1}: "),
                    errors,
                )
            for s in f.sums:
                _check_sum(f, s, value, root, path, here, errors)


def _check_sum(
    f: Field, s: ListSum, rows: list[dict[str, Any]], root: Mapping[str, Any], path: str, here: _Where, errors: _Errors
) -> None:
    column = next(c for c in f.fields if c.name == s.field)
    values: list[Any] = [row.get(s.field) for row in rows]
    if not rows or any(v is None for v in values):
        return  # a blank or invalid cell is already reported; a sum of the rest would mislead
    expected: Any
    if s.equals_field is not None:
        expected = root.get(s.equals_field)
        if expected is None:
            return
    else:
        expected = s.equals
    show: Callable[[Decimal], str] = _plain
    if column.type == "money":
        currencies = {v["currency"] for v in values}
        if isinstance(expected, dict):
            currencies.add(expected["currency"])
        if len(currencies) > 1:
            errors.add(
                path,
                f"{here.zh}各行“{column.label_zh}”的币种应与合计一致。",
                f"{here.en}: every row's {column.label_en} must use the same currency.",
            )
            return
        total = sum((Decimal(v["amount"]) for v in values), Decimal(0))
        target = Decimal(expected["amount"]) if isinstance(expected, dict) else Decimal(expected)
        show = "{:,.2f}".format
    else:
        total = sum((Decimal(str(v)) for v in values), Decimal(0))
        target = Decimal(str(expected))
    if total != target:
        shown_total, shown_target = show(total), show(target)
        errors.add(
            path,
            f"{here.zh}各行“{column.label_zh}”合计为 {shown_total}，应为 {shown_target}，请调整。",
            f"{here.en}: the rows' {column.label_en} add up to {shown_total}; they must add up to {shown_target}.",
        )


def _decimal(raw: Any, pattern: re.Pattern[str], *, allow_float: bool) -> Decimal | None:
    """A non-negative Decimal from a string matching ``pattern``, an int, a Decimal or a float.

    Floats are read through ``repr`` (the shortest exact spelling), so 0.1 stays 0.1.
    """
    if isinstance(raw, bool):
        return None
    if isinstance(raw, float) and allow_float:
        raw = repr(raw)
    elif isinstance(raw, (int, Decimal)):
        raw = str(raw)
    if not isinstance(raw, str) or not pattern.fullmatch(raw.strip()):
        return None
    return Decimal(raw.strip().replace(",", ""))


def _in_range(f: Field, value: Decimal) -> bool:
    return (f.min is None or value >= f.min) and (f.max is None or value <= f.max)


def _range_zh(f: Field) -> str:
    if f.min is not None and f.max is not None:
        return f"{_plain(f.min)} 到 {_plain(f.max)} 之间"
    return f"不小于 {_plain(f.min)}" if f.min is not None else f"不大于 {_plain(f.max)}"


def _range_en(f: Field) -> str:
    if f.min is not None and f.max is not None:
        return f"from {_plain(f.min)} to {_plain(f.max)}"
    return f"at least {_plain(f.min)}" if f.min is not None else f"at most {_plain(f.max)}"


def _plain(value: Decimal | None) -> str:
    """Decimal without exponent or trailing zeros: 30.00 -> "30", 99.90 -> "99.9"."""
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _shorten(raw: Any, limit: int = 40) -> str:
    """A value as echoed in a message: short, and never the str() of a whole nested structure."""
    if not isinstance(raw, (str, int, float, Decimal)):
        return f"<{type(raw).__name__}>"
    text = str(raw)
    return text if len(text) <= limit else text[:limit] + "…"


def _type_zh(raw: Any) -> str:
    if isinstance(raw, bool):
        return "布尔值"
    if isinstance(raw, (int, float, Decimal)):
        return "数字"
    if isinstance(raw, str):
        return "文本"
    if isinstance(raw, Mapping):
        return "对象"
    if isinstance(raw, (list, tuple)):
        return "列表"
    return type(raw).__name__


def _type_en(raw: Any) -> str:
    if isinstance(raw, bool):
        return "a boolean"
    if isinstance(raw, (int, float, Decimal)):
        return "a number"
    if isinstance(raw, str):
        return "text"
    if isinstance(raw, Mapping):
        return "an object"
    if isinstance(raw, (list, tuple)):
        return "a list"
    return type(raw).__name__


def _lookup(data: Mapping[str, Any], path: str) -> Any:
    value: Any = data
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return _MISSING
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


# ---------------------------------------------------------------------------------------------
# Business checks across fields ("checks" in a schema)
#
# Type checks see one value; these see the document: the instalments of a payment table against
# the contract price, the priorities of an SLA against each other, the review cycle against the
# term, an acceptance conclusion against the results it concludes, and numbers against the
# archive. Each rule is declared in schema.json with the field names it reads, e.g.
#   {"rule": "share_of_total", "list": "payment_schedule", "share": "ratio",
#    "amount": "amount", "total": "total_fee"}
# and checked when the schema is loaded (the names must exist with the right types).


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


class GeneratedDocuments(Protocol):
    """The archive as the checks see it: documents generated with a given form value."""

    def generated_with_value(self, template: str, field: str, value: str) -> list[tuple[int, str]]:
        """(document id, title) of each document whose latest version was generated from
        ``template`` with the top-level form field ``field`` equal to ``value``."""


def _shown_default(f: Field) -> str:
    if f.type == "money" and isinstance(f.default, Mapping):
        return f"{f.default.get('amount')} {f.default.get('currency') or f.currencies[0]}"
    if f.type == "enum":
        choice = f.choice(str(f.default))
        return choice.zh if choice else str(f.default)
    if f.type == "longtext":
        return _shorten(str(f.default), 30)
    return str(f.default)


def _defaults_finding(defaults: list[DefaultUsed]) -> Finding:
    zh = "；".join(f"{d.label_zh}：{d.value}" for d in defaults)
    en = "; ".join(f"{d.label_en}: {d.value}" for d in defaults)
    return Finding(
        "",
        f"下列未填写的字段使用了默认值，请确认是否符合本次约定：{zh}。",
        f"These blank fields took their default values; confirm they are what was agreed: {en}.",
    )


_UNIT_MINUTES = {"minute": 1, "hour": 60, "day": 1440, "workday": 1440, "week": 10080}


def _months_later(day: dt.date, months: int) -> dt.date:
    """The same day ``months`` later, or the month's last day (1-31 + 1 month = 2-28)."""
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    for d in range(day.day, 27, -1):
        try:
            return dt.date(year, month, d)
        except ValueError:
            continue
    return dt.date(year, month, min(day.day, 28))


class _Rule:
    """One kind of check: the parameters it takes, how to verify them, how to run it."""

    params: tuple[str, ...] = ()
    optional: frozenset[str] = frozenset()
    severity = "error"

    def verify(self, schema: TemplateSchema, check: Check) -> tuple[str, str, str] | None:
        return None

    def run(
        self,
        schema: TemplateSchema,
        check: Check,
        clean: dict[str, Any],
        sink: _Errors,
        warnings: _Errors,
        archive: GeneratedDocuments | None,
        document_id: int | None,
    ) -> None:
        raise NotImplementedError


def _choice(f: Field, value: Any) -> Choice:
    """The choice a validated form holds (validation refused every other value)."""
    choice = f.choice(value)
    assert choice is not None, (f.name, value)
    return choice


def _expect(schema: TemplateSchema, key: str, path: str, types: tuple[str, ...]) -> tuple[str, str, str] | None:
    try:
        f = schema.field(path)
    except KeyError:
        return key, f"字段“{path}”不存在。", f"there is no field '{path}'."
    if f.type not in types:
        return (key, f"字段“{path}”应为 {'/'.join(types)} 类型。", f"field '{path}' must be of type {'/'.join(types)}.")
    return None


def _first(*problems: tuple[str, str, str] | None) -> tuple[str, str, str] | None:
    return next((p for p in problems if p), None)


class _ShareOfTotal(_Rule):
    """Each row's share (%) of the total equals the row's amount (to the cent)."""

    params = ("list", "share", "amount", "total")

    def verify(self, schema: TemplateSchema, check: Check) -> tuple[str, str, str] | None:
        p = check.params
        return _first(
            _expect(schema, "list", p["list"], ("list",)),
            _expect(schema, "share", f"{p['list']}[].{p['share']}", ("percent",)),
            _expect(schema, "amount", f"{p['list']}[].{p['amount']}", ("money",)),
            _expect(schema, "total", p["total"], ("money",)),
        )

    def run(
        self,
        schema: TemplateSchema,
        check: Check,
        clean: dict[str, Any],
        sink: _Errors,
        warnings: _Errors,
        archive: GeneratedDocuments | None,
        document_id: int | None,
    ) -> None:
        p = check.params
        total = clean.get(p["total"])
        if not total:
            return
        lst = schema.field(p["list"])
        share_f = schema.field(f"{p['list']}[].{p['share']}")
        amount_f = schema.field(f"{p['list']}[].{p['amount']}")
        total_f = schema.field(p["total"])
        for i, row in enumerate(clean.get(p["list"]) or []):
            share, amount = row.get(p["share"]), row.get(p["amount"])
            if share is None or not amount:
                continue
            expected = (Decimal(total["amount"]) * Decimal(share) / 100).quantize(Decimal("0.01"))
            actual = Decimal(amount["amount"])
            if abs(actual - expected) > Decimal("0.01"):
                sink.add(
                    f"{p['list']}[{i}].{p['amount']}",
                    f"“{lst.label_zh}”第 {i + 1} 行：“{share_f.label_zh}” {share}% × "
                    f"“{total_f.label_zh}” {Decimal(total['amount']):,.2f} = {expected:,.2f}，"
                    f"但“{amount_f.label_zh}”为 {actual:,.2f}；请核对比例或金额。",
                    f"{lst.label_en}, row {i + 1}: {share_f.label_en} {share}% of "
                    f"{total_f.label_en} {Decimal(total['amount']):,.2f} is {expected:,.2f}, "
                    f"but {amount_f.label_en} is {actual:,.2f}; check the share or the amount.",
                )


class _Unique(_Rule):
    """A column's values are unique; with ``complete``, every choice of an enum appears."""

    params = ("list", "field", "complete")
    optional = frozenset({"complete"})

    def verify(self, schema: TemplateSchema, check: Check) -> tuple[str, str, str] | None:
        p = check.params
        if "complete" in p and not isinstance(p["complete"], bool):
            return "complete", "应为 true 或 false。", "must be true or false."
        return _first(
            _expect(schema, "list", p["list"], ("list",)),
            _expect(schema, "field", f"{p['list']}[].{p['field']}", ("text", "enum", "integer", "date")),
        )

    def run(
        self,
        schema: TemplateSchema,
        check: Check,
        clean: dict[str, Any],
        sink: _Errors,
        warnings: _Errors,
        archive: GeneratedDocuments | None,
        document_id: int | None,
    ) -> None:
        p = check.params
        lst, col = schema.field(p["list"]), schema.field(f"{p['list']}[].{p['field']}")
        seen: dict[Any, int] = {}
        for i, row in enumerate(clean.get(p["list"]) or []):
            value = row.get(p["field"])
            if value in (None, ""):
                continue
            if value in seen:
                sink.add(
                    f"{p['list']}[{i}].{p['field']}",
                    f"“{lst.label_zh}”第 {i + 1} 行的“{col.label_zh}”“{value}”与第 "
                    f"{seen[value] + 1} 行重复；每个值只能出现一次。",
                    f"{lst.label_en}, row {i + 1}: {col.label_en} '{value}' repeats row "
                    f"{seen[value] + 1}; each value may appear only once.",
                )
            else:
                seen[value] = i
        if p.get("complete") and col.choices and seen:
            missing = [c for c in col.choices if c.code not in seen]
            if missing:
                warnings.add(
                    p["list"],
                    f"“{lst.label_zh}”缺少“{col.label_zh}”：{'、'.join(c.code for c in missing)}；请确认是否有意省略。",
                    f"{lst.label_en} has no row for {col.label_en} "
                    f"{', '.join(c.code for c in missing)}; check this is intended.",
                )


class _Ascending(_Rule):
    """In the order of an enum column (P1 → P4), a duration column never gets shorter."""

    params = ("list", "field", "order_by", "unit")
    optional = frozenset({"unit"})

    def verify(self, schema: TemplateSchema, check: Check) -> tuple[str, str, str] | None:
        p = check.params
        problem = _first(
            _expect(schema, "list", p["list"], ("list",)),
            _expect(schema, "field", f"{p['list']}[].{p['field']}", ("integer", "percent")),
            _expect(schema, "order_by", f"{p['list']}[].{p['order_by']}", ("enum",)),
            _expect(schema, "unit", f"{p['list']}[].{p['unit']}", ("enum",)) if "unit" in p else None,
        )
        if problem is None and "unit" in p:
            unit = schema.field(f"{p['list']}[].{p['unit']}")
            if any(c.code not in _UNIT_MINUTES for c in unit.choices):
                return (
                    "unit",
                    f"时间单位的选项值应取自：{'、'.join(_UNIT_MINUTES)}。",
                    f"the unit's choice values must be drawn from: {', '.join(_UNIT_MINUTES)}.",
                )
        return problem

    def run(
        self,
        schema: TemplateSchema,
        check: Check,
        clean: dict[str, Any],
        sink: _Errors,
        warnings: _Errors,
        archive: GeneratedDocuments | None,
        document_id: int | None,
    ) -> None:
        p = check.params
        lst = schema.field(p["list"])
        col = schema.field(f"{p['list']}[].{p['field']}")
        order = schema.field(f"{p['list']}[].{p['order_by']}")
        unit_f = schema.field(f"{p['list']}[].{p['unit']}") if "unit" in p else None
        rank = {c.code: n for n, c in enumerate(order.choices)}
        rows = []
        for i, row in enumerate(clean.get(p["list"]) or []):
            value, key = row.get(p["field"]), row.get(p["order_by"])
            unit = row.get(p["unit"]) if unit_f else "minute"
            if value is None or key not in rank or unit not in _UNIT_MINUTES:
                continue
            shown = f"{value}" + (f" {_choice(unit_f, unit).zh}" if unit_f else "")
            rows.append((rank[key], i, Decimal(str(value)) * _UNIT_MINUTES[unit], key, shown))
        rows.sort()
        for (_, _, before, key_a, shown_a), (_, i, after, key_b, shown_b) in zip(rows, rows[1:]):
            if after < before:
                sink.add(
                    f"{p['list']}[{i}].{p['field']}",
                    f"“{lst.label_zh}”第 {i + 1} 行：{key_b} 的“{col.label_zh}”（{shown_b}）"
                    f"短于 {key_a}（{shown_a}）；优先级越低，时限应越长。",
                    f"{lst.label_en}, row {i + 1}: the {col.label_en} of {key_b} ({shown_b}) "
                    f"is shorter than that of {key_a} ({shown_a}); lower priorities need "
                    f"longer limits.",
                )


class _ReviewCycle(_Rule):
    """The next review falls within one cycle of the start and within the term."""

    params = ("start", "months", "next", "end")

    def verify(self, schema: TemplateSchema, check: Check) -> tuple[str, str, str] | None:
        p = check.params
        return _first(
            _expect(schema, "start", p["start"], ("date",)),
            _expect(schema, "months", p["months"], ("integer",)),
            _expect(schema, "next", p["next"], ("date",)),
            _expect(schema, "end", p["end"], ("date",)),
        )

    def run(
        self,
        schema: TemplateSchema,
        check: Check,
        clean: dict[str, Any],
        sink: _Errors,
        warnings: _Errors,
        archive: GeneratedDocuments | None,
        document_id: int | None,
    ) -> None:
        p = check.params
        values: list[Any] = [clean.get(p[k]) for k in ("start", "months", "next", "end")]
        if None in values:
            return
        start, months, nxt, end = values
        f = {k: schema.field(p[k]) for k in ("start", "months", "next", "end")}
        if nxt > end:
            sink.add(
                p["next"],
                f"“{f['next'].label_zh}”（{date_cn(nxt)}）晚于“{f['end'].label_zh}”"
                f"（{date_cn(end)}）：期限内不会评审。请提前评审日期或缩短评审周期。",
                f"{f['next'].label_en} ({nxt}) is after {f['end'].label_en} ({end}): no review "
                f"would happen within the term. Move the review earlier.",
            )
            return
        due = _months_later(start, months)
        if nxt > due:
            sink.add(
                p["next"],
                f"“{f['next'].label_zh}”（{date_cn(nxt)}）与“{f['months'].label_zh}”"
                f"（{months} 个月）不符：自{date_cn(start)}起，首次评审应不晚于{date_cn(due)}。",
                f"{f['next'].label_en} ({nxt}) does not match the {f['months'].label_en} "
                f"({months} months): counting from {start}, the first review is due by {due}.",
            )
        if due > end:
            warnings.add(
                p["months"],
                f"“{f['months'].label_zh}”（{months} 个月）长于协议期限"
                f"（{date_cn(start)}至{date_cn(end)}）；请确认评审安排。",
                f"The {f['months'].label_en} ({months} months) is longer than the term "
                f"({start} to {end}); check the review arrangement.",
            )


class _Conclusion(_Rule):
    """A conclusion is no better than the results it concludes (choices listed best first):
    a failed check under a passing conclusion is an error; a check passed with remarks under
    an unconditional pass is a warning."""

    params = ("list", "field", "conclusion")

    def verify(self, schema: TemplateSchema, check: Check) -> tuple[str, str, str] | None:
        p = check.params
        problem = _first(
            _expect(schema, "list", p["list"], ("list",)),
            _expect(schema, "field", f"{p['list']}[].{p['field']}", ("enum",)),
            _expect(schema, "conclusion", p["conclusion"], ("enum",)),
        )
        if problem is None and len(schema.field(p["conclusion"]).choices) != len(
            schema.field(f"{p['list']}[].{p['field']}").choices
        ):
            return (
                "conclusion",
                "结论与结果的选项数应相同（均按由好到差排列）。",
                "the conclusion and the results need as many choices (both best first).",
            )
        return problem

    def run(
        self,
        schema: TemplateSchema,
        check: Check,
        clean: dict[str, Any],
        sink: _Errors,
        warnings: _Errors,
        archive: GeneratedDocuments | None,
        document_id: int | None,
    ) -> None:
        p = check.params
        conclusion: Any = clean.get(p["conclusion"])
        con_f, lst = schema.field(p["conclusion"]), schema.field(p["list"])
        col = schema.field(f"{p['list']}[].{p['field']}")
        rank_con = {c.code: n for n, c in enumerate(con_f.choices)}
        rank_row = {c.code: n for n, c in enumerate(col.choices)}
        rows = [
            (rank_row[r[p["field"]]], i, r[p["field"]])
            for i, r in enumerate(clean.get(p["list"]) or [])
            if r.get(p["field"]) in rank_row
        ]
        if conclusion not in rank_con or not rows:
            return
        chosen, worst = _choice(con_f, conclusion), max(r[0] for r in rows)
        bad = [r for r in rows if r[0] > rank_con[conclusion]]
        if bad:
            which = "、".join(f"第 {i + 1} 行（{_choice(col, v).zh}）" for _, i, v in bad)
            which_en = ", ".join(f"row {i + 1} ({_choice(col, v).en})" for _, i, v in bad)
            failing = worst == len(col.choices) - 1
            (sink if failing else warnings).add(
                p["conclusion"],
                f"“{con_f.label_zh}”为“{chosen.zh}”，但“{lst.label_zh}”{which}的"
                f"“{col.label_zh}”不支持这一结论；请修改结论或核对验收结果。",
                f"The {con_f.label_en} '{chosen.en}' does not match {lst.label_en} {which_en}; "
                f"change the conclusion or check the results.",
            )
        elif rank_con[conclusion] > worst:
            warnings.add(
                p["conclusion"],
                f"“{con_f.label_zh}”为“{chosen.zh}”，比各项“{col.label_zh}”都差；请确认。",
                f"The {con_f.label_en} '{chosen.en}' is worse than every {col.label_en}; check it.",
            )


class _UniqueInArchive(_Rule):
    """No other document generated from this template has the same number."""

    params = ("field",)

    def verify(self, schema: TemplateSchema, check: Check) -> tuple[str, str, str] | None:
        return _expect(schema, "field", check.params["field"], ("text",))

    def run(
        self,
        schema: TemplateSchema,
        check: Check,
        clean: dict[str, Any],
        sink: _Errors,
        warnings: _Errors,
        archive: GeneratedDocuments | None,
        document_id: int | None,
    ) -> None:
        field = check.params["field"]
        value = clean.get(field)
        if not value or archive is None:
            return
        f = schema.field(field)
        for doc_id, title in archive.generated_with_value(schema.slug, field, value):
            if doc_id == document_id:
                continue
            sink.add(
                field,
                f"“{f.label_zh}”“{value}”已由文档 {doc_id}《{title}》使用，编号在档案中"
                f"必须唯一；请换一个编号，或生成该文档的新版本。",
                f"{f.label_en} '{value}' is already used by document {doc_id} ({title}); "
                f"numbers must be unique in the archive. Use another number, or generate a "
                f"new version of that document.",
                link=f"/documents/{doc_id}",
            )
            return


class _ExistsInArchive(_Rule):
    """A referenced number (contract, SLA) belongs to a document in the archive."""

    params = ("field", "template", "target")
    severity = "warning"

    def verify(self, schema: TemplateSchema, check: Check) -> tuple[str, str, str] | None:
        p = check.params
        if not isinstance(p["template"], str) or not _SLUG_RE.fullmatch(p["template"]):
            return "template", "应为模板名（slug）。", "must be a template slug."
        if not isinstance(p["target"], str) or not FIELD_NAME_RE.fullmatch(p["target"]):
            return "target", "应为该模板的字段名。", "must be a field name of that template."
        return _expect(schema, "field", p["field"], ("text",))

    def run(
        self,
        schema: TemplateSchema,
        check: Check,
        clean: dict[str, Any],
        sink: _Errors,
        warnings: _Errors,
        archive: GeneratedDocuments | None,
        document_id: int | None,
    ) -> None:
        p = check.params
        value = clean.get(p["field"])
        if not value or archive is None:
            return
        if archive.generated_with_value(p["template"], p["target"], value):
            return
        f = schema.field(p["field"])
        sink.add(
            p["field"],
            f"档案中没有编号为“{value}”的文档（{f.label_zh}）；请核对编号，或先生成并归档该文档。",
            f"No document numbered '{value}' ({f.label_en}) is in the archive; check the "
            f"number, or generate and archive that document first.",
            link=f"/templates/{p['template']}/generate",
        )


class _RequiredIf(_Rule):
    """A field becomes required when a yes/no field is yes (a downtime window when the
    service is interrupted)."""

    params = ("field", "when")

    def verify(self, schema: TemplateSchema, check: Check) -> tuple[str, str, str] | None:
        p = check.params
        return _first(
            _expect(schema, "field", p["field"], tuple(sorted(SCALAR_TYPES))),
            _expect(schema, "when", p["when"], ("boolean",)),
        )

    def run(
        self,
        schema: TemplateSchema,
        check: Check,
        clean: dict[str, Any],
        sink: _Errors,
        warnings: _Errors,
        archive: GeneratedDocuments | None,
        document_id: int | None,
    ) -> None:
        p = check.params
        if clean.get(p["when"]) and clean.get(p["field"]) in (None, ""):
            f, when = schema.field(p["field"]), schema.field(p["when"])
            sink.add(
                p["field"],
                f"“{when.label_zh}”为“是”时，“{f.label_zh}”为必填项，请填写。",
                f"{f.label_en} is required when {when.label_en} is yes; fill it in.",
            )


class _RevisionHistory(_Rule):
    """A revision table has one row per archive version, the last for the one being made."""

    params = ("list",)

    def verify(self, schema: TemplateSchema, check: Check) -> tuple[str, str, str] | None:
        return _expect(schema, "list", check.params["list"], ("list",))

    def run(
        self,
        schema: TemplateSchema,
        check: Check,
        clean: dict[str, Any],
        sink: _Errors,
        warnings: _Errors,
        archive: GeneratedDocuments | None,
        document_id: int | None,
    ) -> None:
        lst = schema.field(check.params["list"])
        rows, version = len(clean.get(check.params["list"]) or []), clean[ARCHIVE_VERSION]
        if rows != version:
            sink.add(
                check.params["list"],
                f"“{lst.label_zh}”有 {rows} 行，但本次生成的是档案中的第 {version} 版：每一版一行，"
                f"最后一行记录本次修订，请{'补充' if rows < version else '删减'}。",
                f"{lst.label_en} has {rows} rows, but this is version {version} in the "
                f"archive: one row per version, the last for this revision; "
                f"{'add' if rows < version else 'remove'} rows.",
            )


_RULES: dict[str, _Rule] = {
    "revision_history": _RevisionHistory(),
    "required_if": _RequiredIf(),
    "share_of_total": _ShareOfTotal(),
    "unique": _Unique(),
    "ascending": _Ascending(),
    "review_cycle": _ReviewCycle(),
    "conclusion": _Conclusion(),
    "unique_in_archive": _UniqueInArchive(),
    "exists_in_archive": _ExistsInArchive(),
}
RULES = tuple(_RULES)


# ---------------------------------------------------------------------------------------------
# Formatting helpers (also used by the rest of docsvc)


def date_cn(value: dt.date) -> str:
    """2026-01-05 -> "2026年1月5日", as dates are written in Chinese contracts."""
    return f"{value.year}年{value.month}月{value.day}日"


_CN_DIGITS = "零壹贰叁肆伍陆柒捌玖"


def amount_in_words(amount: Decimal) -> str:
    """The upper-case Chinese amount (大写金额) written on contracts and invoices.

    Follows 《支付结算办法》: "整" after 元 or 角 when there are no 分; a single 零 for a run of
    zeros; 零 between 元 and 分 when 角 is zero. 123456 -> 壹拾贰万叁仟肆佰伍拾陆元整,
    1000.05 -> 壹仟元零伍分, 0.50 -> 伍角整.
    """
    if amount < 0 or amount > MAX_MONEY:
        raise ValueError(f"amount out of range: {amount}")
    cents = int(amount.quantize(Decimal("0.01")) * 100)
    yuan, rest = divmod(cents, 100)
    jiao, fen = divmod(rest, 10)
    out = _integer_in_words(yuan) + "元" if yuan else ""
    if not jiao and not fen:
        return (out or "零元") + "整"
    if jiao:
        out += _CN_DIGITS[jiao] + "角"
    elif yuan:
        out += "零"
    return out + (_CN_DIGITS[fen] + "分" if fen else "整")


def _integer_in_words(n: int) -> str:
    groups = []  # four-digit groups, least significant first: 个, 万, 亿
    while n:
        n, group = divmod(n, 10_000)
        groups.append(group)
    parts: list[str] = []
    gap = False  # a zero group (or leading zeros) sits between two written groups
    for i in reversed(range(len(groups))):
        group = groups[i]
        if group == 0:
            gap = bool(parts)
            continue
        if parts and (gap or group < 1000):
            parts.append("零")
        parts.append(_group_in_words(group) + ("", "万", "亿")[i])
        gap = False
    return "".join(parts)


def _group_in_words(group: int) -> str:
    out, zero, started = "", False, False
    for digit, unit in zip(f"{group:04d}", ("仟", "佰", "拾", "")):
        d = int(digit)
        if d == 0:
            zero = started
            continue
        if zero:
            out += "零"
            zero = False
        out += _CN_DIGITS[d] + unit
        started = True
    return out


_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_RE = re.compile(f"[{_USCC_CHARS}]{{18}}")


def uscc_check_char(first17: str) -> str:
    """The GB 32100-2015 check character for the first 17 characters of a credit code."""
    total = sum(_USCC_CHARS.index(ch) * pow(3, i, 31) for i, ch in enumerate(first17))
    return _USCC_CHARS[(31 - total % 31) % 31]


def uscc_is_valid(code: str) -> bool:
    """Whether ``code`` is a well-formed 统一社会信用代码 with a correct check character."""
    return bool(_USCC_RE.fullmatch(code)) and uscc_check_char(code[:17]) == code[17]


__all__ = [
    "CURRENCIES",
    "Check",
    "Checked",
    "DefaultUsed",
    "Field",
    "Finding",
    "GeneratedDocuments",
    "ListSum",
    "Pattern",
    "RULES",
    "TemplateSchema",
    "amount_in_words",
    "date_cn",
    "list_shipped",
    "load_schema",
    "uscc_check_char",
    "uscc_is_valid",
]
