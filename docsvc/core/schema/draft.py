"""A first schema for a template nobody has described yet, drafted from the tags it uses.

Onboarding a Chinese model contract means writing a ``schema.json`` for fifty or a hundred tags
such as ``{{ 甲方.名称 }}``, ``{{ 开始日期 }}`` and ``{{☐ 争议解决方式:仲裁 }}``. The draft does the
mechanical part: one field per tag (groups for ``甲方.名称``, lists for ``{% for r in 明细 %}``),
a type guessed from the name and from how the template uses it, the tick boxes as yes/no or
choice fields, the Chinese name as the label, and examples, so the draft loads and renders. The
drafter then checks the types, the English labels and what is required; every drafted field
says so in its help text.
"""

from __future__ import annotations

import re
from typing import Any

from docsvc.core.schema.model import FIELD_NAME_RE, MONEY_KEYS, SCHEMA_VERSION
from docsvc.core.templating.results import FieldReport

DRAFT_HELP_ZH = "由模板标签自动起草：请核对类型、是否必填、英文标签和示例。"
DRAFT_HELP_EN = (
    "Drafted from the template's tags: check the type, whether it is required, the English label and the example."
)

# Name → type, first match wins. Chinese and English words drafters use for such fields.
_GUESSES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("date", re.compile(r"(日期|时间|生效日|签订日|到期日|截止日|date|_on$|_at$)", re.I)),
    ("percent", re.compile(r"(比例|税率|费率|百分比|占比|ratio|rate|percent)", re.I)),
    (
        "integer",
        re.compile(
            r"(份数|天数|日数|年数|月数|小时数|时数|年限|次数|个数|人数|数量|count|days|years|"
            r"months|hours)",
            re.I,
        ),
    ),
    (
        "longtext",
        re.compile(
            r"(内容|说明|描述|条款|义务|职责|要求|意见|范围|措施|约定|content|description|"
            r"terms|duties|notes)",
            re.I,
        ),
    ),
)
_DERIVED = re.compile(r"^(.*?)(_cn|_paragraphs|_items)$")
_TITLE_NAMES = ("title", "标题", "合同名称", "名称", "文档名称")
_PARTY_A = re.compile(r"(甲方|委托方|party_a)", re.I)


def draft_schema(report: FieldReport, *, slug: str, name_zh: str) -> dict[str, Any]:
    """A schema (as JSON data) for a template whose fields are ``report``; it loads with
    :func:`docsvc.core.schema.load.load_schema` and lints without errors against the template."""
    boxes = {c.path: c.choices for c in report.checkboxes}
    tree: dict[str, dict[str, Any]] = {}  # top-level name → {"kind", "type", "children"}
    for path in (f.path for f in report.fields):
        _place(tree, path)
    fields = [f for f in (_field(name, node, boxes) for name, node in tree.items()) if f is not None]
    names = {f["name"] for f in fields}
    metadata: dict[str, Any] = {}
    title = next((n for n in _TITLE_NAMES if n in names and tree[n]["type"] in ("text", None)), None)
    if title is None:
        title = "title" if "title" not in names else "文档标题"
        fields.insert(0, _scalar(title, "text", label_zh="文档标题", example=name_zh))
    metadata["title"] = title
    fields.append(
        {
            "name": "service_category",
            "label_zh": "服务类别",
            "label_en": "Service category",
            "type": "enum",
            "required": True,
            "default": None,
            "example": "4.9",
            "help_zh": "归档分类用的信息服务类别（模板中可不出现）。",
            "help_en": "The information-service category the archive files the document under.",
            "choices_from": "service_category",
        }
    )
    metadata["service_category"] = "service_category"
    for f in fields:
        if f["type"] == "group" and _PARTY_A.search(f["name"]):
            sub = next((c["name"] for c in f["fields"] if c["name"] in ("名称", "name") and c["type"] == "text"), None)
            if sub:
                metadata["counterparty"] = f"{f['name']}.{sub}"
                break
    contract = "合同" in name_zh or "contract" in slug
    return {
        "schema_version": SCHEMA_VERSION,
        "template": {
            "slug": slug,
            "name_zh": name_zh,
            "name_en": f"{name_zh} (draft)",
            "description_zh": f"{name_zh}（字段定义由模板标签自动起草，待核对）。",
            "description_en": "Fields drafted from the template's tags; to be checked.",
            "spec_ref": "7.1" if contract else "9",
            "doc_type": "contract" if contract else "other",
            "doc_class": "user" if contract else "site",
            "metadata": metadata,
        },
        "fields": fields,
    }


def _place(tree: dict[str, dict[str, Any]], path: str) -> None:
    """Record ``path`` (``甲方.名称``, ``明细[].金额``, ``开始日期_cn``) in the tree of fields."""
    head, _, rest = path.partition(".")
    is_list = head.endswith("[]")
    head = head.removesuffix("[]")
    derived = _DERIVED.match(head)
    kind_hint = None
    if derived and not rest:
        head, suffix = derived.groups()
        kind_hint = "longtext" if suffix in ("_paragraphs", "_items") else None
        is_list = False
    node = tree.setdefault(head, {"kind": "scalar", "type": None, "children": {}})
    if kind_hint:
        node["type"] = kind_hint
    if is_list:
        node["kind"] = "list"
        if rest:
            _place(node["children"], rest.removeprefix("[]."))
    elif rest:
        if rest.split(".")[0] in MONEY_KEYS:
            node["type"] = "money"
        else:
            node["kind"] = "group"
            _place(node["children"], rest)


def _field(
    name: str, node: dict[str, Any], boxes: dict[str, tuple[str, ...]], prefix: str = ""
) -> dict[str, Any] | None:
    if not FIELD_NAME_RE.fullmatch(name):
        return None  # lint reports the name; a draft cannot hold it
    if node["kind"] in ("group", "list") and node["children"]:
        children = [
            c
            for c in (_field(c, n, boxes, f"{prefix}{name}.") for c, n in node["children"].items())
            if c is not None and c["type"] not in ("group", "list")
        ]
        if node["kind"] == "group":
            return {
                "name": name,
                "label_zh": name,
                "label_en": name,
                "type": "group",
                "required": True,
                "help_zh": DRAFT_HELP_ZH,
                "help_en": DRAFT_HELP_EN,
                "fields": children,
            }
        row = {c["name"]: c["example"] for c in children}
        return {
            "name": name,
            "label_zh": name,
            "label_en": name,
            "type": "list",
            "required": True,
            "default": None,
            "example": [row],
            "min_items": 1,
            "help_zh": DRAFT_HELP_ZH,
            "help_en": DRAFT_HELP_EN,
            "fields": children,
        }
    path = prefix + name
    if path in boxes:
        choices = boxes[path]
        if not choices:
            return _scalar(name, "boolean", example=True)
        return _scalar(name, "enum", example=choices[0], choices=[{"value": c, "zh": c, "en": c} for c in choices])
    ftype = node["type"] or next((t for t, rx in _GUESSES if rx.search(name)), "text")
    return _scalar(name, ftype, example=_EXAMPLES.get(ftype, f"【{path}】"))


_EXAMPLES: dict[str, Any] = {
    "date": "2026-01-01",
    "percent": "6",
    "integer": 1,
    "money": {"amount": "10000.00", "currency": "CNY"},
}


def _scalar(name: str, ftype: str, *, label_zh: str | None = None, example: Any = None, **extra: Any) -> dict[str, Any]:
    if example is None:
        example = _EXAMPLES.get(ftype, f"【{label_zh or name}】")
    if ftype == "text":
        extra.setdefault("max_length", 200)  # one line; a title becomes archive metadata
    return {
        "name": name,
        "label_zh": label_zh or name,
        "label_en": name,
        "type": ftype,
        "required": True,
        "default": None,
        "example": example,
        "help_zh": DRAFT_HELP_ZH,
        "help_en": DRAFT_HELP_EN,
        **extra,
    }


__all__ = ["draft_schema"]
