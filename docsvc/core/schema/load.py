"""Reading a template schema (``schema.json``) into :mod:`docsvc.core.schema.model` values.

The format is specified in docs/template-schema.md. A malformed schema is refused with the file
and the offending key (``fields[3].choices``); unknown keys are refused, so a typo is an error.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from dataclasses import replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from docsvc.core.model import BUILTIN_DOC_TYPES, MAX_TEXT, Choice, DocClass
from docsvc.core.schema.model import (
    CURRENCIES,
    DEFAULT_MAX_ITEMS,
    DEFAULT_MAX_LENGTH,
    FIELD_NAME_RE,
    MAX_MAX_ITEMS,
    MAX_MAX_LENGTH,
    MAX_SCHEMA_BYTES,
    METADATA_TARGETS,
    REQUIRED_METADATA,
    SCALAR_TYPES,
    SCHEMA_FILE,
    SCHEMA_VERSION,
    SLUG_RE,
    TYPES,
    VOCABULARIES,
    Check,
    Field,
    ListSum,
    Pattern,
    TemplateSchema,
)
from docsvc.core.schema.problems import Errors, Where
from docsvc.core.schema.rules import BY_NAME
from docsvc.core.schema.validate import convert
from docsvc.errors import InvalidInput

# Field values become dict keys that templates read as ``row.name``. Jinja looks attributes up
# before keys, so a field called "items" would render the dict method, not the value. Jinja
# keywords and globals would be shadowed or unparsable too.
_RESERVED_NAMES = frozenset(
    {n for n in dir(dict) if not n.startswith("_")}
    | {"loop", "self", "super", "varargs", "kwargs", "caller"}
    | {"true", "false", "none", "and", "or", "not", "in", "is", "if", "else", "for", "endfor"}
    | {"range", "dict", "lipsum", "cycler", "joiner", "namespace"}
)


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
        if not SLUG_RE.fullmatch(slug):
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
            rule = BY_NAME.get(name) if isinstance(name, str) else None
            if rule is None:
                raise _SchemaProblem(
                    f"{where}.rule", f"应为以下之一：{'、'.join(BY_NAME)}。", f"must be one of: {', '.join(BY_NAME)}."
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
                errors = Errors()
                convert(f, value, path, Where(f"“{f.label_zh}”", f.label_en), errors)
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
