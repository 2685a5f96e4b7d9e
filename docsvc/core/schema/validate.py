"""Form data against a template schema: every value converted to its type, every problem named.

:func:`check_form` turns untrusted form data into a clean docxtpl render context (the context's
conventions are in docs/template-schema.md), running the field checks, the checks between
fields and the schema's business rules (:mod:`docsvc.core.schema.rules`) in one pass. Every
error is reported at once, bilingual, naming its field path (``payment_schedule[2].amount``).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from docsvc.core.schema.model import (
    ARCHIVE_VERSION,
    CURRENCIES,
    CURRENCY_SIGNS,
    DEFAULT_MAX_LENGTH,
    MAX_MONEY,
    MISSING,
    Checked,
    DefaultUsed,
    Field,
    Finding,
    GeneratedDocuments,
    ListSum,
    TemplateSchema,
    value_at,
)
from docsvc.core.schema.problems import Errors, Where
from docsvc.core.schema.rules import BY_NAME, Form
from docsvc.core.zhformat import amount_in_words, date_cn, integer_in_words, uscc_is_valid
from docsvc.errors import InvalidInput

PERCENT_DECIMALS = 3  # 99.999 % availability is a real SLA figure
# Characters XML 1.0 cannot hold: they would corrupt word/document.xml.
_XML_INVALID_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_LINE_BREAK_RE = re.compile(r"[\r\n\u2028\u2029]")
# Bounded so that a megabyte of digits is refused by the regex, not parsed (13 digits is enough
# to say "out of range" for anything above MAX_MONEY).
_MONEY_RE = re.compile(r"(?:\d{1,13}|\d{1,3}(?:,\d{3}){1,4})(?:\.\d{1,2})?")
_PERCENT_RE = re.compile(rf"\d{{1,3}}(?:\.\d{{1,{PERCENT_DECIMALS}}})?")
_INTEGER_RE = re.compile(r"[+-]?\d{1,15}")
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")  # fromisoformat alone also takes 20261231, 2026-W01


def check_form(
    schema: TemplateSchema,
    data: Mapping[str, Any],
    *,
    archive: GeneratedDocuments | None = None,
    document_id: int | None = None,
    archive_version: int = 1,
) -> Checked:
    """:meth:`TemplateSchema.check <docsvc.core.schema.model.TemplateSchema.check>`."""
    if not isinstance(data, Mapping):
        raise InvalidInput(
            "表单数据应为对象（字段名到值的映射）。",
            "Form data must be an object (a mapping of field names to values).",
        )
    errors = Errors()
    clean = _validate_scope(schema.fields, data, "", Where("", ""), errors)
    converted = not errors.items  # the rules read converted values: none may be missing
    _check_relations(schema.fields, clean, clean, "", Where("", ""), errors)
    if schema.revision_list:
        clean[ARCHIVE_VERSION] = archive_version
    warnings = Errors()
    if converted:
        for rule in schema.checks:
            sink = errors if rule.severity == "error" else warnings
            BY_NAME[rule.rule].run(Form(schema, rule, clean, sink, warnings, archive, document_id))
    errors.raise_if_any()
    findings = [Finding(w["field"], w["zh"], w["en"], link=w.get("link", "")) for w in warnings.items]
    if errors.defaults:
        findings.insert(0, _defaults_finding(errors.defaults))
    return Checked(clean, tuple(findings), tuple(errors.defaults), _metadata(schema, clean))


def _metadata(schema: TemplateSchema, clean: Mapping[str, Any]) -> dict[str, Any]:
    """The archive metadata the form gives, read off its converted values (a mapped field is a
    scalar outside any list, so its clean value is already the archive's: a code, a date, a
    text); blank ones are left out."""
    out: dict[str, Any] = {"doc_type": schema.doc_type, "doc_class": schema.doc_class, **schema.metadata_values}
    for key, path in schema.metadata.items():
        value = value_at(clean, path)
        if value not in (None, "", MISSING):
            out[key] = value
    return out


def _validate_scope(
    fields: tuple[Field, ...], data: Mapping[str, Any], prefix: str, where: Where, errors: Errors
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
        raw = data.get(f.name, MISSING)
        if f.type == "group":
            value: Any = _validate_group(f, raw, path, here, errors)
        elif f.type == "list":
            value = _validate_list(f, raw, path, here, errors)
        else:
            value = convert(f, raw, path, here, errors)
        out[f.name] = value
        out.update(_derived(f, value))
    return out


def _validate_group(f: Field, raw: Any, path: str, here: Where, errors: Errors) -> dict[str, Any]:
    inner = Where(f"{here.zh}的", f"{here.en}: ")
    if _blank(raw) or (isinstance(raw, Mapping) and all(_blank(v) for v in raw.values())):
        # An optional group left blank stays blank: its fields take their defaults and their own
        # "required" does not apply (e.g. an optional guarantor). A required one reports them.
        sink = errors if f.required else Errors()
        return _validate_scope(f.fields, raw if isinstance(raw, Mapping) else {}, path + ".", inner, sink)
    if not isinstance(raw, Mapping):
        got_zh, got_en = _kind(raw)
        errors.add(
            path,
            f"{here.zh}应为对象（包含 {'、'.join(c.name for c in f.fields)} 等字段），收到的是{got_zh}。",
            f"{here.en} must be an object with the fields {', '.join(c.name for c in f.fields)}; got {got_en}.",
        )
        raw = {}
    return _validate_scope(f.fields, raw, path + ".", inner, errors)


def _validate_list(f: Field, raw: Any, path: str, here: Where, errors: Errors) -> list[dict[str, Any]]:
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
        got_zh, got_en = _kind(raw)
        errors.add(
            path,
            f"{here.zh}应为列表（每行一个对象），收到的是{got_zh}。",
            f"{here.en} must be a list of rows (objects); got {got_en}.",
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
        row_where = Where(f"{here.zh}第 {i + 1} 行的", f"{here.en}, row {i + 1}: ")
        if not isinstance(row, Mapping):
            got_zh, got_en = _kind(row)
            errors.add(
                row_path,
                f"{here.zh}第 {i + 1} 行应为对象，收到的是{got_zh}。",
                f"{here.en}, row {i + 1} must be an object; got {got_en}.",
            )
            row = {}
        rows.append(_validate_scope(f.fields, row, row_path + ".", row_where, errors))
    return rows


def _blank(raw: Any) -> bool:
    return raw is MISSING or raw is None or (isinstance(raw, str) and not raw.strip())


def convert(f: Field, raw: Any, path: str, here: Where, errors: Errors) -> Any:
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


def _text(f: Field, raw: Any, path: str, here: Where, errors: Errors) -> str | None:
    if not isinstance(raw, str):
        got_zh, got_en = _kind(raw)
        errors.add(path, f"{here.zh}应为文本，收到的是{got_zh}。", f"{here.en} must be text; got {got_en}.")
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


def _date(f: Field, raw: Any, path: str, here: Where, errors: Errors) -> dt.date | None:
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


def _money(f: Field, raw: Any, path: str, here: Where, errors: Errors) -> dict[str, str] | None:
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


def _integer(f: Field, raw: Any, path: str, here: Where, errors: Errors) -> int | None:
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
        range_zh, range_en = _range(f)
        errors.add(path, f"{here.zh}应在 {range_zh}，当前为 {value}。", f"{here.en} must be {range_en}; it is {value}.")
        return None
    return value


def _percent(f: Field, raw: Any, path: str, here: Where, errors: Errors) -> str | None:
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


def _enum(f: Field, raw: Any, path: str, here: Where, errors: Errors) -> str | None:
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


def _boolean(f: Field, raw: Any, path: str, here: Where, errors: Errors) -> bool | None:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, (int, float)) and raw in (0, 1):
        return bool(raw)
    text = raw.strip().lower() if isinstance(raw, str) else None  # a list or an object is neither
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    errors.add(
        path,
        f"{here.zh}应为“是”或“否”，收到“{_shorten(raw)}”。",
        f"{here.en} must be yes or no (true/false); got '{_shorten(raw)}'.",
    )
    return None


_CONVERTERS: dict[str, Callable[[Field, Any, str, Where, Errors], Any]] = {
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
            else ("零" if value == 0 else ("负" if value < 0 else "") + integer_in_words(abs(value)))
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
    where: Where,
    errors: Errors,
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
            _check_relations(f.fields, value, root, path + ".", Where(f"{here.zh}的", f"{here.en}: "), errors)
        elif f.type == "list":
            for i, row in enumerate(value):
                _check_relations(
                    f.fields,
                    row,
                    root,
                    f"{path}[{i}].",
                    Where(f"{here.zh}第 {i + 1} 行的", f"{here.en}, row {i + 1}: "),
                    errors,
                )
            for s in f.sums:
                _check_sum(f, s, value, root, path, here, errors)


def _check_sum(
    f: Field, s: ListSum, rows: list[dict[str, Any]], root: Mapping[str, Any], path: str, here: Where, errors: Errors
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


def _range(f: Field) -> tuple[str, str]:
    """The allowed range of a number field in Chinese and English ("1 到 12 之间", "from 1 to 12")."""
    lo, hi = _plain(f.min) if f.min is not None else None, _plain(f.max) if f.max is not None else None
    if lo is not None and hi is not None:
        return f"{lo} 到 {hi} 之间", f"from {lo} to {hi}"
    return (f"不小于 {lo}", f"at least {lo}") if lo is not None else (f"不大于 {hi}", f"at most {hi}")


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


# What a value is, as a message names it: (zh, en).
_KINDS: tuple[tuple[type | tuple[type, ...], str, str], ...] = (
    (bool, "布尔值", "a boolean"),  # before int: a bool is an int
    ((int, float, Decimal), "数字", "a number"),
    (str, "文本", "text"),
    (Mapping, "对象", "an object"),
    ((list, tuple), "列表", "a list"),
)


def _kind(raw: Any) -> tuple[str, str]:
    """What ``raw`` is, in Chinese and English ("列表", "a list"), for "got …" in a message."""
    return next(((zh, en) for types, zh, en in _KINDS if isinstance(raw, types)), (type(raw).__name__,) * 2)


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
