"""Custom fields per document type: what an administrator defines (:class:`FieldDefinition`) and
how a raw value of each kind becomes the one canonical string a document stores.

Canonical forms (what is stored, compared, filtered and exported):

- text: trimmed, NFC, no control characters, at most :data:`MAX_FIELD_TEXT` characters;
- number: a plain decimal, no exponent, no thousands separator (``-12.5``, ``1200``);
- money: yuan with exactly two decimals, never negative (``486000.00``); ``48.6万``, ``¥1,200``,
  ``1200元``, ``RMB 1200`` and full-width digits are accepted;
- date: ISO ``2026-03-01``; ``2026年3月1日``, ``2026/3/1`` and ``2026.3.1`` are accepted;
- choice: one of the definition's choices, exactly as defined.

The rules about which document may carry which value (the type's fields, required ones, retired
ones) are :func:`apply_values`; the services call it with the definitions in force.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from docsvc.core.inputs import refuse_controls
from docsvc.errors import InvalidInput

MAX_FIELD_TEXT = 500
MAX_LABEL = 50
MAX_CHOICES = 50
MAX_CHOICE = 50
MAX_FIELDS_PER_TYPE = 50
MAX_INTEGER_DIGITS = 15  # 千万亿: more is a typing mistake, and still exact as a float for ranges
MAX_FRACTION_DIGITS = 6
FILTER_PREFIX = "field."  # list filters and form inputs name a field as field.KEY
RANGE_SUFFIXES = ("_min", "_max")
KEY_RE = re.compile(r"[a-z][a-z0-9_]{0,39}")


class FieldKind(StrEnum):
    TEXT = "text"
    NUMBER = "number"
    MONEY = "money"
    DATE = "date"
    CHOICE = "choice"

    @property
    def zh(self) -> str:
        return _KIND_LABELS[self.value][0]

    @property
    def en(self) -> str:
        return _KIND_LABELS[self.value][1]

    @property
    def ranged(self) -> bool:
        """Whether a list filters it by a range (min/max) rather than by its value."""
        return self in (FieldKind.NUMBER, FieldKind.MONEY, FieldKind.DATE)


_KIND_LABELS = {
    "text": ("文本", "Text"),
    "number": ("数字", "Number"),
    "money": ("金额", "Money"),
    "date": ("日期", "Date"),
    "choice": ("选项", "Choice"),
}

# What each kind expects, for the error messages and the forms' hints.
FORMATS: dict[FieldKind, tuple[str, str]] = {
    FieldKind.TEXT: (f"不超过 {MAX_FIELD_TEXT} 个字符的文字", f"text of at most {MAX_FIELD_TEXT} characters"),
    FieldKind.NUMBER: ("数字，例如 12、3.5 或 1,200", "a number, e.g. 12, 3.5 or 1,200"),
    FieldKind.MONEY: (
        "金额（元），例如 486000、48.6万、¥1,200.50",
        "an amount in yuan, e.g. 486000, 48.6万 or ¥1,200.50",
    ),
    FieldKind.DATE: ("日期，例如 2026-03-01 或 2026年3月1日", "a date, e.g. 2026-03-01 or 2026年3月1日"),
    FieldKind.CHOICE: ("所列选项之一", "one of the listed choices"),
}


@dataclass(frozen=True)
class FieldDefinition:
    """One custom field of a document type. ``key`` names it in the API, the CLI and filters;
    ``retired``: no longer offered or accepted as a new value, its values stay readable."""

    doc_type: str
    key: str
    label_zh: str
    kind: FieldKind
    label_en: str = ""
    choices: tuple[str, ...] = ()
    required: bool = False
    position: int = 0
    retired: bool = False

    def label(self, *, en: bool = False) -> str:
        return (self.label_en or self.label_zh) if en else self.label_zh

    @property
    def format_zh(self) -> str:
        if self.kind is FieldKind.CHOICE:
            return "以下之一：" + "、".join(self.choices)
        return FORMATS[self.kind][0]

    @property
    def format_en(self) -> str:
        if self.kind is FieldKind.CHOICE:
            return "one of: " + ", ".join(self.choices)
        return FORMATS[self.kind][1]

    def to_dict(self) -> dict[str, Any]:
        return {
            "doc_type": self.doc_type,
            "key": self.key,
            "label_zh": self.label_zh,
            "label_en": self.label_en,
            "kind": self.kind.value,
            "choices": list(self.choices),
            "required": self.required,
            "position": self.position,
            "retired": self.retired,
        }


# -- values ------------------------------------------------------------------------------------
def _bad(d: FieldDefinition, value: Any, why_zh: str = "", why_en: str = "") -> InvalidInput:
    shown = str(value)
    shown = shown if len(shown) <= 40 else shown[:40] + "…"
    shown = "".join(ch if unicodedata.category(ch) != "Cc" else "�" for ch in shown)
    return InvalidInput(
        f"字段“{d.label_zh}”的值“{shown}”无效{('：' + why_zh) if why_zh else ''}。应填写{d.format_zh}。",
        f"The value '{shown}' of the field '{d.label(en=True)}' is invalid{(': ' + why_en) if why_en else ''}. "
        f"Expected {d.format_en}.",
        field=FILTER_PREFIX + d.key,
        details={"expected": d.kind.value, **({"valid": list(d.choices)} if d.choices else {})},
    )


_SEPARATORS = str.maketrans("", "", ",_ '’")
_NUMBER_RE = re.compile(r"([+-]?)([0-9]+)(?:\.([0-9]+))?")


def _decimal(d: FieldDefinition, raw: Any, text: str) -> tuple[bool, str, str]:
    """(negative, integer digits, fraction digits) of a plain decimal; refuse anything else
    (exponents, NaN, Infinity, two points)."""
    m = _NUMBER_RE.fullmatch(text.translate(_SEPARATORS))
    if m is None:
        raise _bad(d, raw, "不是数字", "not a number")
    whole = m.group(2).lstrip("0") or "0"
    fraction = (m.group(3) or "").rstrip("0")
    if len(whole) > MAX_INTEGER_DIGITS:
        raise _bad(
            d, raw, f"整数部分最多 {MAX_INTEGER_DIGITS} 位", f"at most {MAX_INTEGER_DIGITS} digits before the point"
        )
    return m.group(1) == "-" and (whole != "0" or bool(fraction)), whole, fraction


def _fold(raw: Any) -> str:
    """Full-width digits, signs and separators folded (NFKC), the ideographic comma and point too."""
    return unicodedata.normalize("NFKC", str(raw)).replace("、", ",").replace("。", ".").strip()


def parse_value(d: FieldDefinition, raw: Any) -> str:
    """The canonical string of ``raw`` for the field ``d`` ('' for an empty value)."""
    if raw is None:
        return ""
    if not isinstance(raw, (str, int, Decimal)) or isinstance(raw, bool):
        raise _bad(d, raw, "应为文字", "expected a string")
    if isinstance(raw, str):
        refuse_controls(raw, FILTER_PREFIX + d.key, f"字段“{d.label_zh}”")
    if not str(raw).strip():
        return ""
    if d.kind is FieldKind.TEXT:
        text = unicodedata.normalize("NFC", str(raw).strip())
        if len(text) > MAX_FIELD_TEXT:
            raise _bad(d, raw, f"过长（{len(text)} 个字符）", f"too long ({len(text)} characters)")
        return text
    if d.kind is FieldKind.CHOICE:
        text = unicodedata.normalize("NFKC", str(raw).strip())
        for choice in d.choices:
            if unicodedata.normalize("NFKC", choice) == text:
                return choice
        raise _bad(d, raw, "不在选项中", "not one of the choices")
    if d.kind is FieldKind.DATE:
        return _parse_date(d, raw)
    if d.kind is FieldKind.NUMBER:
        text = _fold(raw)
        if len(text) > 60:
            raise _bad(d, raw, "过长", "too long")
        negative, whole, fraction = _decimal(d, raw, text)
        if len(fraction) > MAX_FRACTION_DIGITS:
            raise _bad(
                d, raw, f"小数最多 {MAX_FRACTION_DIGITS} 位", f"at most {MAX_FRACTION_DIGITS} digits after the point"
            )
        return ("-" if negative else "") + whole + (f".{fraction}" if fraction else "")
    return _parse_money(d, raw)


_CURRENCY_RE = re.compile(r"^(?:¥|\$|RMB|CNY|人民币)\s*|\s*(?:元|圆|RMB|CNY)$", re.IGNORECASE)
_UNITS = {"万": 10_000, "亿": 100_000_000}


def _parse_money(d: FieldDefinition, raw: Any) -> str:
    text = _fold(raw)
    if len(text) > 60:
        raise _bad(d, raw, "过长", "too long")
    text = text.replace("￥", "¥")
    if "$" in text:
        raise _bad(d, raw, "只接受人民币金额", "only amounts in yuan are accepted")
    for _ in range(2):  # a sign and unit on either side: ¥48.6万元
        text = _CURRENCY_RE.sub("", text).strip()
    factor = 1
    for unit, times in _UNITS.items():
        if text.endswith(unit):
            text, factor = text[: -len(unit)].strip(), times
            text = _CURRENCY_RE.sub("", text).strip()
            break
    negative, whole, fraction = _decimal(d, raw, text)
    if negative:
        raise _bad(d, raw, "金额不能为负数", "an amount cannot be negative")
    try:
        amount = Decimal(f"{whole}.{fraction or '0'}") * factor
    except InvalidOperation:  # pragma: no cover - the digits are checked above
        raise _bad(d, raw) from None
    if amount != amount.quantize(Decimal("0.01")):
        raise _bad(d, raw, "最多精确到分（两位小数）", "at most two decimals (fen)")
    if amount >= Decimal(10) ** MAX_INTEGER_DIGITS:
        raise _bad(d, raw, "金额过大", "the amount is too large")
    return f"{amount.quantize(Decimal('0.01')):f}"


_DATE_RES = (
    re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})"),
    re.compile(r"(\d{4})/(\d{1,2})/(\d{1,2})"),
    re.compile(r"(\d{4})\.(\d{1,2})\.(\d{1,2})"),
    re.compile(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]?"),
)


def _parse_date(d: FieldDefinition, raw: Any) -> str:
    text = _fold(raw)
    for pattern in _DATE_RES:
        m = pattern.fullmatch(text)
        if m:
            try:
                day = dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
            except ValueError:
                raise _bad(d, raw, "没有这一天", "no such day") from None
            if not 1900 <= day.year <= 2999:
                raise _bad(d, raw, "年份应在 1900–2999 之间", "the year must be within 1900–2999")
            return day.isoformat()
    raise _bad(d, raw)


def display_value(d: FieldDefinition | None, value: str, *, en: bool = False) -> str:
    """A stored value as a person reads it: money with its sign and separators, a date in the
    page's language's form."""
    if d is None or not value:
        return value
    try:
        if d.kind is FieldKind.MONEY:
            return f"¥{Decimal(value):,.2f}"
        if d.kind is FieldKind.NUMBER:
            whole, _, fraction = value.partition(".")
            return f"{int(whole):,}" + (f".{fraction}" if fraction else "")
        if d.kind is FieldKind.DATE and not en:
            day = dt.date.fromisoformat(value)
            return f"{day.year}年{day.month}月{day.day}日"
    except (ValueError, ArithmeticError):
        return value
    return value


def search_text(d: FieldDefinition | None, value: str) -> str:
    """The words a value is found by: the value and, for money, numbers and dates, the forms
    people type (48.6万, 486,000.00, 2026年3月1日), so each finds it on every search engine."""
    if d is None or not value:
        return value
    forms = [value]
    try:
        if d.kind is FieldKind.MONEY:
            amount = Decimal(value)
            whole = amount.to_integral_value()
            forms += [f"{amount:,.2f}", f"{whole:f}" if whole == amount else ""]
            if amount >= 10_000:
                wan = amount / 10_000
                forms.append(f"{wan.normalize():f}万")
        elif d.kind is FieldKind.NUMBER:
            forms.append(display_value(d, value))
        elif d.kind is FieldKind.DATE:
            day = dt.date.fromisoformat(value)
            forms += [f"{day.year}年{day.month}月{day.day}日", f"{day.year}/{day.month}/{day.day}"]
    except (ValueError, ArithmeticError):
        pass
    return " ".join(dict.fromkeys(f for f in forms if f))


class FilterOp(StrEnum):
    EQUALS = "eq"  # choice, number, money, date: the canonical value
    CONTAINS = "contains"  # text: a part of it
    MIN = "min"  # number, money, date: at least
    MAX = "max"  # at most


@dataclass(frozen=True)
class FieldFilter:
    """One condition of a document list on a custom field (its value in canonical form)."""

    key: str
    kind: FieldKind
    op: FilterOp
    value: str


def parse_filter(definitions: Sequence[FieldDefinition], name: str, raw: Any) -> FieldFilter:
    """``field.KEY`` (the value; a part of it for text), ``field.KEY_min`` / ``field.KEY_max``
    (a range, for numbers, money and dates); a retired field filters too (its values stay)."""
    by_key = {d.key: d for d in definitions}
    rest = name[len(FILTER_PREFIX) :]
    op, key = FilterOp.EQUALS, rest
    for suffix, bound in (("_min", FilterOp.MIN), ("_max", FilterOp.MAX)):
        if rest.endswith(suffix) and rest[: -len(suffix)] in by_key:
            op, key = bound, rest[: -len(suffix)]
    d = by_key.get(key)
    if d is None:
        valid = [FILTER_PREFIX + x.key for x in definitions] + [
            FILTER_PREFIX + x.key + s for x in definitions if x.kind.ranged for s in RANGE_SUFFIXES
        ]
        raise InvalidInput(
            f"没有字段“{rest[:40]}”可筛选。可用：{'、'.join(valid) or '（尚未定义自定义字段）'}",
            f"There is no field '{rest[:40]}' to filter by. Valid: {', '.join(valid) or '(no custom fields defined)'}",
            field=name[:60],
            details={"valid": valid},
        )
    if op is not FilterOp.EQUALS and not d.kind.ranged:
        raise InvalidInput(
            f"字段“{d.label_zh}”是{d.kind.zh}，不能按范围筛选；请用 {FILTER_PREFIX}{d.key}。",
            f"The field '{d.label(en=True)}' is {d.kind.en.lower()} and has no range; use {FILTER_PREFIX}{d.key}.",
            field=name,
            details={"valid": [FILTER_PREFIX + d.key]},
        )
    value = parse_value(d, raw)
    if not value:
        raise InvalidInput(
            f"筛选条件 {name} 为空。", f"The filter {name} is empty.", field=name
        )  # pragma: no cover - empty filters are dropped before
    if op is FilterOp.EQUALS and d.kind is FieldKind.TEXT:
        op = FilterOp.CONTAINS
    return FieldFilter(d.key, d.kind, op, value)


# -- the rules of a document's values ----------------------------------------------------------
def _errors(problems: dict[str, InvalidInput]) -> InvalidInput:
    """One error listing each field's problem (a form marks each one)."""
    first = next(iter(problems.values()))
    return InvalidInput(
        first.zh,
        first.en,
        field=first.field,
        details={**first.details, "errors": [{"field": f, "zh": e.zh, "en": e.en} for f, e in problems.items()]},
    )


def apply_values(
    definitions: Sequence[FieldDefinition],
    doc_type: str,
    before: Mapping[str, str],
    changes: Mapping[str, Any],
    *,
    check_required: bool,
    type_labels: Mapping[str, tuple[str, str]] | None = None,
) -> dict[str, str]:
    """A document's values after ``changes`` (key → raw value; empty clears it).

    - A new value only for an active field of the document's type; a value equal to the one
      stored is no change (a retired field's, or one kept from an earlier type, is kept).
    - Clearing is always allowed, also for a retired or unknown key (so old data can be tidied).
    - ``check_required``: every required field of the type must end up with a value.

    ``type_labels``: document type code → (Chinese, English) name, for the messages.
    """
    by_key = {d.key: d for d in definitions}
    labels = type_labels or {}
    type_zh, type_en = labels.get(doc_type, (doc_type, doc_type))
    result = dict(before)
    problems: dict[str, InvalidInput] = {}
    mine = [d for d in definitions if d.doc_type == doc_type and not d.retired]
    for key, raw in changes.items():
        name = FILTER_PREFIX + str(key)
        d = by_key.get(str(key))
        if d is None:
            if raw is None or (isinstance(raw, str) and not raw.strip()):
                result.pop(str(key), None)
                continue
            listing_zh = "、".join(f"{x.key}（{x.label_zh}）" for x in mine) or "（无）"
            problems[name] = InvalidInput(
                f"没有字段“{str(key)[:40]}”。文档类型“{type_zh}”的字段：{listing_zh}",
                f"There is no field '{str(key)[:40]}'. The fields of document type '{type_en}': "
                f"{', '.join(x.key for x in mine) or '(none)'}",
                field=name,
                details={"valid": [x.key for x in mine]},
            )
            continue
        try:
            value = parse_value(d, raw)
        except InvalidInput as exc:
            problems[name] = exc
            continue
        if not value:
            result.pop(d.key, None)
        elif value == before.get(d.key):
            continue
        elif d.retired:
            problems[name] = InvalidInput(
                f"字段“{d.label_zh}”已停用，不能再填写新值（已有的值保留可读）。",
                f"The field '{d.label(en=True)}' is retired and takes no new values (existing values stay readable).",
                field=name,
            )
        elif d.doc_type != doc_type:
            own_zh, own_en = labels.get(d.doc_type, (d.doc_type, d.doc_type))
            problems[name] = InvalidInput(
                f"字段“{d.label_zh}”属于文档类型“{own_zh}”，不属于“{type_zh}”。请先修改文档类型，或清空该字段。",
                f"The field '{d.label(en=True)}' belongs to document type '{own_en}', not '{type_en}'. "
                "Change the document type first, or leave the field empty.",
                field=name,
                details={"valid": [x.key for x in mine]},
            )
        else:
            result[d.key] = value
    if check_required:
        for d in mine:
            name = FILTER_PREFIX + d.key
            if d.required and not result.get(d.key) and name not in problems:
                problems[name] = InvalidInput(
                    f"文档类型“{type_zh}”必须填写字段“{d.label_zh}”（{d.format_zh}）。",
                    f"Document type '{type_en}' requires the field '{d.label(en=True)}' ({d.format_en}); fill it in.",
                    field=name,
                )
    if problems:
        raise _errors(problems)
    return result


def kept_values(definitions: Iterable[FieldDefinition], doc_type: str, values: Mapping[str, str]) -> list[str]:
    """Keys of values the document keeps although its type has no such active field (a type
    changed, a field retired): shown apart, never silently dropped."""
    active = {d.key for d in definitions if d.doc_type == doc_type and not d.retired}
    return [k for k in values if k not in active]


# -- definitions -------------------------------------------------------------------------------
def clean_key(raw: Any) -> str:
    key = raw.strip() if isinstance(raw, str) else ""
    if not KEY_RE.fullmatch(key) or key.endswith(RANGE_SUFFIXES):
        raise InvalidInput(
            f"字段代码“{str(raw)[:40]}”无效：用小写英文字母开头，只含小写字母、数字和下划线，最多 40 个字符，"
            "且不以 _min 或 _max 结尾，例如 contract_value。",
            f"Field key '{str(raw)[:40]}' is invalid: start with a lower-case letter, use a-z, 0-9 and _, "
            "at most 40 characters, not ending in _min or _max; e.g. contract_value.",
            field="key",
        )
    return key


def clean_label(raw: Any, name: str, *, required: bool) -> str:
    if not isinstance(raw, str):  # a null too: an absent label is "", said by the caller
        raise InvalidInput(f"{name} 必须是文字。", f"{name} must be a string.", field=name)
    text = unicodedata.normalize("NFC", raw.strip())
    refuse_controls(text, name, "字段名称")
    if required and not text:
        raise InvalidInput(
            "字段的中文名称不能为空，例如“合同金额”。",
            "The field's Chinese label cannot be empty, e.g. 合同金额.",
            field=name,
        )
    if len(text) > MAX_LABEL:
        raise InvalidInput(
            f"字段名称最多 {MAX_LABEL} 个字符（现有 {len(text)} 个）。",
            f"A field label has at most {MAX_LABEL} characters (this one has {len(text)}).",
            field=name,
        )
    return text


def parse_kind(raw: Any) -> FieldKind:
    try:
        return FieldKind(str(raw).strip())
    except ValueError:
        listing = "、".join(f"{k.value}（{k.zh}）" for k in FieldKind)
        raise InvalidInput(
            f"字段类型“{str(raw)[:40]}”无效。可选：{listing}",
            f"Field kind '{str(raw)[:40]}' is invalid. Valid: {', '.join(k.value for k in FieldKind)}",
            field="kind",
            details={"valid": [k.value for k in FieldKind]},
        ) from None


def parse_choices(raw: Any, kind: FieldKind) -> tuple[str, ...]:
    """Choices as a list, or one text separated by commas, 、 or lines."""
    if raw == "" or raw == []:
        items: list[Any] = []
    elif isinstance(raw, str):
        items = re.split(r"[,，、\n]", raw)
    elif isinstance(raw, (list, tuple)):
        items = list(raw)
    else:
        raise InvalidInput("choices 应为文字列表。", "choices must be a list of strings.", field="choices")
    choices: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise InvalidInput("choices 应为文字列表。", "choices must be a list of strings.", field="choices")
        text = unicodedata.normalize("NFC", item.strip())
        refuse_controls(text, "choices", "选项")
        if not text:
            continue
        if len(text) > MAX_CHOICE:
            raise InvalidInput(
                f"选项“{text[:40]}”过长，最多 {MAX_CHOICE} 个字符。",
                f"The choice '{text[:40]}' is too long; at most {MAX_CHOICE} characters.",
                field="choices",
            )
        if text in choices:
            raise InvalidInput(f"选项“{text}”重复。", f"The choice '{text}' is given twice.", field="choices")
        choices.append(text)
    if kind is FieldKind.CHOICE and not choices:
        raise InvalidInput(
            "选项类字段至少要有一个选项，例如“金、银、铜”。",
            "A choice field needs at least one choice, e.g. 金, 银, 铜.",
            field="choices",
        )
    if kind is not FieldKind.CHOICE and choices:
        raise InvalidInput("只有选项类（choice）字段有选项。", "Only a choice field has choices.", field="choices")
    if len(choices) > MAX_CHOICES:
        raise InvalidInput(
            f"选项最多 {MAX_CHOICES} 个。", f"A field has at most {MAX_CHOICES} choices.", field="choices"
        )
    return tuple(choices)


def parse_flag(raw: Any, name: str) -> bool:
    """A yes/no: JSON's true/false, or a form's text (an unticked box sends ""). A null or a
    number is refused, as the API's schema says."""
    if isinstance(raw, bool):
        return raw
    if not isinstance(raw, str):  # null, 0, 1: JSON's yes and no are true and false
        raise InvalidInput(f"{name} 应为 true 或 false。", f"{name} must be true or false.", field=name)
    text = str(raw).strip().lower()
    if text in ("1", "true", "yes", "on", "是"):
        return True
    if text in ("", "0", "false", "no", "off", "否"):
        return False
    raise InvalidInput(f"{name} 应为 true 或 false。", f"{name} must be true or false.", field=name)


def parse_position(raw: Any) -> int:
    if raw == "":  # a form's empty input
        return 0
    if isinstance(raw, float) and raw.is_integer():  # JSON's 1.0 is an integer too
        raw = int(raw)
    if isinstance(raw, bool) or not isinstance(raw, (int, str)):
        raise InvalidInput("position 应为整数。", "position must be an integer.", field="position")
    text = str(raw).strip()
    if not re.fullmatch(r"-?[0-9]{1,4}", text):
        raise InvalidInput(
            "排列顺序应为 -9999 到 9999 之间的整数。",
            "position must be an integer from -9999 to 9999.",
            field="position",
        )
    return int(text)


__all__ = [
    "FILTER_PREFIX",
    "FORMATS",
    "FieldDefinition",
    "FieldFilter",
    "FieldKind",
    "FilterOp",
    "apply_values",
    "clean_key",
    "clean_label",
    "display_value",
    "kept_values",
    "parse_choices",
    "parse_filter",
    "parse_flag",
    "parse_kind",
    "parse_position",
    "parse_value",
    "search_text",
]
