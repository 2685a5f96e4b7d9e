"""A Word template's field schema as an HTML form, and the form's inputs back as form data.

Pure functions (no Flask), used by the template pages (``ui_templates``):

- :func:`build_form` turns a :class:`~docsvc.core.schema.TemplateSchema`, the current values
  and the validation errors into :class:`Widget` objects that the HTML templates only render:
  labels in the page's language, the error of each input beside it, ids for ``aria-describedby``.
- :func:`data_from_form` reads the posted inputs back into the nested form data the schema
  validates (``{"party_a": {"name": …}, "services": [{…}, …]}``).

Input names are the schema's field paths with concrete, 0-based row numbers — ``party_a.name``,
``services[2].hours`` — and money fields post two inputs, ``<path>.amount`` and
``<path>.currency``. So a validation error's path (``payment_schedule[2].amount``) names the
input it belongs to. Without JavaScript a list shows a few empty rows; rows left blank are
dropped when reading the form, and rows are renumbered in order, which is also how the page is
rendered again after an error (so error paths and inputs stay in step).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from docsvc.core.schema import CURRENCIES, Field, TemplateSchema
from docsvc.errors import DocsvcError

EXTRA_ROWS = 2  # empty rows offered below a list's rows (the way to add rows without JavaScript)
ROW_PLACEHOLDER = "__i__"  # the row number in a list's row template (JavaScript replaces it)
MAX_ROW_INDEX = 9999  # a posted row number above this is ignored (the schema caps rows far lower)
SHORT_EXAMPLE = 40  # examples up to this long are shown as placeholders

_ID_RE = re.compile(r"[\[\].]+")


def input_id(path: str) -> str:
    """``services[2].name`` → ``f-services-2-name`` (an element id without brackets or dots)."""
    return "f-" + _ID_RE.sub("-", path).strip("-")


@dataclass
class Widget:
    """One form control (or a fieldset of them) ready to render."""

    kind: str  # the schema type: text, longtext, date, money, integer, percent, enum, group, list (a boolean shows as enum)
    name: str  # input name; for money the prefix of .amount and .currency
    id: str  # id of the (first) input, the target of the label and of error-summary links
    label: str
    required: bool
    help: str = ""
    placeholder: str = ""
    value: str = ""  # a scalar's text; a money field's amount
    currency: str = ""
    choices: list[tuple[str, str]] = field(default_factory=list)  # (value, label): enum or currencies
    error: str = ""
    max_length: int | None = None
    min: str = ""
    max: str = ""
    step: str = ""
    children: list[Widget] = field(default_factory=list)  # a group's fields; a list's columns
    rows: list[list[Widget]] = field(default_factory=list)  # a list's rows
    row_template: list[Widget] = field(default_factory=list)  # a list's row with ROW_PLACEHOLDER
    min_items: int = 0
    max_items: int = 0

    @property
    def wide(self) -> bool:
        """Spans the whole form row: paragraphs, and choices with long names (the spec's categories)."""
        return self.kind == "longtext" or (
            self.kind == "enum" and max((len(t) for _, t in self.choices), default=0) > 16
        )

    @property
    def hint_id(self) -> str:
        return "hint-" + self.id[2:]

    @property
    def error_id(self) -> str:
        return "err-" + self.id[2:]

    @property
    def currency_id(self) -> str:
        return input_id(f"{self.name}.currency")

    @property
    def described_by(self) -> str:
        ids = ([self.hint_id] if self.help else []) + ([self.error_id] if self.error else [])
        return " ".join(ids)


@dataclass
class FormErrors:
    """Validation errors by field path, in the page's language, plus the summary shown above
    the form: (message, id of the input to jump to, or "" when no input matches)."""

    by_path: dict[str, str] = field(default_factory=dict)
    summary: list[tuple[str, str]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.by_path)


def errors_of(exc: DocsvcError, *, en: bool) -> dict[str, str]:
    """``{path: message}`` from an error with ``details["errors"]`` (or its own field)."""
    items = (exc.details or {}).get("errors") or [{"field": exc.field or "", "zh": exc.zh, "en": exc.en}]
    out: dict[str, str] = {}
    for item in items:
        path = str(item.get("field") or "")
        text = str(item.get("en") if en else item.get("zh"))
        out[path] = f"{out[path]} {text}" if path in out else text
    return out


# -- schema + values + errors → widgets ---------------------------------------------------------
def build_form(
    schema: TemplateSchema,
    data: Mapping[str, Any],
    errors: Mapping[str, str] | None = None,
    *,
    en: bool,
    extra_rows: int = EXTRA_ROWS,
) -> tuple[list[Widget], FormErrors]:
    """Widgets for every field of ``schema``, filled from ``data``, each with its own errors."""
    builder = _Builder(dict(errors or {}), en, extra_rows)
    widgets = [
        builder.widget(f, f.name, data.get(f.name) if isinstance(data, Mapping) else None) for f in schema.fields
    ]
    summary = [(msg, builder.targets.get(path, "")) for path, msg in (errors or {}).items()]
    return widgets, FormErrors(dict(errors or {}), summary)


class _Builder:
    def __init__(self, errors: dict[str, str], en: bool, extra_rows: int) -> None:
        self.errors = errors
        self.en = en
        self.extra_rows = extra_rows
        self.targets: dict[str, str] = {}  # error path → id of the input that shows it

    def text(self, zh: str, en: str) -> str:
        return (en or zh) if self.en else (zh or en)

    def claim(self, widget_id: str, *paths: str) -> str:
        """The errors at ``paths``, now shown by the widget ``widget_id``."""
        found = []
        for p in paths:
            if p in self.errors:
                self.targets[p] = widget_id
                found.append(self.errors[p])
        return " ".join(found)

    def widget(self, f: Field, path: str, value: Any) -> Widget:
        w = Widget(
            kind=f.type,
            name=path,
            id=input_id(path),
            label=self.text(f.label_zh, f.label_en),
            required=f.required,
            help=self.text(f.help_zh, f.help_en),
        )
        if f.type == "group":
            inner = value if isinstance(value, Mapping) else {}
            w.children = [self.widget(c, f"{path}.{c.name}", inner.get(c.name)) for c in f.fields]
            w.error = self.claim(w.children[0].id if w.children else w.id, path)
        elif f.type == "list":
            self.list_widget(f, path, value, w)
        elif f.type == "money":
            self.money_widget(f, path, value, w)
        else:
            self.scalar_widget(f, path, value, w)
        return w

    def scalar_widget(self, f: Field, path: str, value: Any, w: Widget) -> None:
        w.value = _as_text(value)
        w.max_length = f.max_length
        if f.type == "enum":
            w.choices = [
                (c.code, f"{c.code} · {self.text(c.zh, c.en)}" if _is_code(c.code) else self.text(c.zh, c.en))
                for c in f.choices
            ]
        elif f.type == "boolean":  # a yes/no field (a ☐ tick box in the template): a 是/否 choice
            w.kind = "enum"
            w.choices = [("true", self.text("是", "Yes")), ("false", self.text("否", "No"))]
            if isinstance(value, bool):
                w.value = "true" if value else "false"
        elif f.type == "integer":
            w.step, w.min, w.max = "1", _num(f.min), _num(f.max)
        elif f.type == "percent":
            w.step, w.min, w.max = "0.001", _num(f.min) or "0", _num(f.max) or "100"
        if f.type in ("text", "longtext") and isinstance(f.example, str) and 0 < len(f.example) <= SHORT_EXAMPLE:
            w.placeholder = ("e.g. " if self.en else "例如：") + f.example
        w.error = self.claim(w.id, path)

    def money_widget(self, f: Field, path: str, value: Any, w: Widget) -> None:
        currency = f.currencies[0] if f.currencies else "CNY"
        if isinstance(value, Mapping):
            w.value = _as_text(value.get("amount"))
            currency = str(value.get("currency") or currency)
        else:
            w.value = _as_text(value)
        w.currency = currency
        w.id = input_id(f"{path}.amount")
        w.step, w.min, w.max = "0.01", _num(f.min) or "0", _num(f.max)
        w.choices = [(c, f"{c} {self.text(*CURRENCIES[c])}") for c in (f.currencies or ("CNY",)) if c in CURRENCIES]
        w.error = self.claim(w.id, path, f"{path}.amount", f"{path}.currency")

    def list_widget(self, f: Field, path: str, value: Any, w: Widget) -> None:
        rows = [r if isinstance(r, Mapping) else {} for r in value] if isinstance(value, list) else []
        w.min_items, w.max_items = f.min_items, f.max_items
        blanks = max(f.min_items - len(rows), 0) + self.extra_rows
        blanks = max(min(blanks, f.max_items - len(rows)), 0)
        w.rows = [
            [self.widget(c, f"{path}[{i}].{c.name}", row.get(c.name)) for c in f.fields]
            for i, row in enumerate(rows + [{}] * blanks)
        ]
        w.children = [self.widget(c, f"{path}[].{c.name}", None) for c in f.fields]  # column heads
        w.row_template = [self.widget(c, f"{path}[{ROW_PLACEHOLDER}].{c.name}", None) for c in f.fields]
        first = w.rows[0][0].id if w.rows and w.rows[0] else w.id
        row_errors = [p for p in self.errors if re.fullmatch(re.escape(path) + r"\[\d+\]", p)]
        w.error = self.claim(first, path, *row_errors)


def _as_text(value: Any) -> str:
    if value is None or isinstance(value, (Mapping, list, tuple, bool)):
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _num(value: Decimal | None) -> str:
    return "" if value is None else f"{value:f}"


def _is_code(code: str) -> bool:
    """Section numbers such as 4.2 are shown with their name; words such as P1 are not."""
    return bool(re.fullmatch(r"\d+(\.\d+)*", code))


# -- posted inputs → form data ------------------------------------------------------------------
def data_from_form(schema: TemplateSchema, form: Mapping[str, str]) -> dict[str, Any]:
    """The nested form data in ``form`` (a request's form: input name → value). Only declared
    fields are read; a list's blank rows are dropped and the rest renumbered in order."""
    return _scope(schema.fields, "", form, _row_numbers(form))


def _row_numbers(form: Iterable[str]) -> dict[str, set[int]]:
    """list path → the row numbers posted for it (``services[3].name`` → services: {3})."""
    out: dict[str, set[int]] = {}
    for key in form:
        for m in re.finditer(r"\[(\d{1,4})\]", key):
            out.setdefault(key[: m.start()], set()).add(int(m.group(1)))
    return out


def _scope(fields: tuple[Field, ...], prefix: str, form: Mapping[str, str], rows: dict[str, set[int]]) -> dict:
    out: dict[str, Any] = {}
    for f in fields:
        path = prefix + f.name
        if f.type == "group":
            out[f.name] = _scope(f.fields, path + ".", form, rows)
        elif f.type == "list":
            items = []
            for i in sorted(n for n in rows.get(path, ()) if n <= MAX_ROW_INDEX):
                row = _scope(f.fields, f"{path}[{i}].", form, rows)
                if any(v not in ("", None) for v in row.values()):
                    items.append(row)
            out[f.name] = items
        elif f.type == "money":
            amount = str(form.get(f"{path}.amount", "")).strip()
            currency = str(form.get(f"{path}.currency", "")).strip()
            out[f.name] = {"amount": amount, **({"currency": currency} if currency else {})} if amount else ""
        else:
            out[f.name] = str(form.get(path, ""))
    return out


def initial_data(schema: TemplateSchema) -> dict[str, Any]:
    """What a fresh form shows: each field's default (the schema's, not an example)."""
    return _defaults(schema.fields)


def _defaults(fields: tuple[Field, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields:
        if f.type == "group":
            out[f.name] = _defaults(f.fields)
        elif f.default not in (None, "", []):
            out[f.name] = f.default
    return out


__all__ = [
    "EXTRA_ROWS",
    "FormErrors",
    "ROW_PLACEHOLDER",
    "Widget",
    "build_form",
    "data_from_form",
    "errors_of",
    "initial_data",
    "input_id",
]
