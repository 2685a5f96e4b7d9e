"""What a request says, parsed and checked for the pages and the REST API alike: query arguments,
JSON bodies, uploads, metadata, the audit log's and the search's filters. Bad input is an
InvalidInput naming the field."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, overload

from flask import request

from docsvc.core.fields import FILTER_PREFIX
from docsvc.core.inputs import MAX_ID, parse_int
from docsvc.core.model import AuditAction, parse_date
from docsvc.core.search import SearchRequest, request_from_params
from docsvc.errors import InvalidInput
from docsvc.services.access import AuditFilter
from docsvc.services.users import AccountAction

FLAGS = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}
AUDIT_ACTIONS = {a.value for a in AuditAction} | {a.value for a in AccountAction}


def arg(args, name: str) -> str | None:
    """One query parameter; given twice it is refused rather than one copy silently winning."""
    values = args.getlist(name)
    if len(values) > 1:
        raise InvalidInput(f"参数 {name} 只能给出一次。", f"The parameter {name} may be given only once.", field=name)
    return values[0] if values else None


@overload
def arg_int(args: Any, name: str, *, low: int = 1, high: int = MAX_ID, default: int) -> int: ...
@overload
def arg_int(args: Any, name: str, *, low: int = 1, high: int = MAX_ID, default: None = None) -> int | None: ...
def arg_int(args: Any, name: str, *, low: int = 1, high: int = MAX_ID, default: int | None = None) -> int | None:
    return parse_int(arg(args, name), name, low=low, high=high, default=default)


def arg_date(args, name: str, zh_name: str) -> dt.date | None:
    value = arg(args, name)
    return None if value is None else date_value(value, name, zh_name)


def arg_flag(args, name: str) -> bool:
    value = arg(args, name)
    value = "false" if value is None else value.strip().lower()
    if value not in FLAGS:
        raise InvalidInput(f"参数 {name} 应为 true 或 false。", f"{name} must be true or false.", field=name)
    return FLAGS[value]


def date_value(value: Any, name: str, zh_name: str) -> dt.date | None:
    """A date from a JSON body or query string: YYYY-MM-DD, or absent (None); never empty."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{zh_name}应为 YYYY-MM-DD 格式的日期。", f"{name} must be a date, YYYY-MM-DD.", field=name)
    return parse_date(name, zh_name, value)


def int_value(value: Any, name: str) -> int | None:
    """An integer from a JSON body (null: absent)."""
    return parse_int(value, name, from_text=False)


def json_object() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InvalidInput(
            "请求体必须是 JSON 对象（Content-Type: application/json）。",
            "The request body must be a JSON object (Content-Type: application/json).",
        )
    return body


def string_value(body: dict[str, Any], name: str, default: str = "") -> str:
    value = body.get(name, default)
    if value is None:
        return default
    if not isinstance(value, str):
        raise InvalidInput(f"字段 {name} 必须是字符串。", f"{name} must be a string.", field=name)
    return value


def metadata_value(raw: Any) -> dict[str, Any]:
    """Metadata from JSON: an object of strings (or null); tags may be a list of strings; fields
    (custom fields) an object of key → string (null or "": clear it)."""
    if not isinstance(raw, dict):
        raise InvalidInput("metadata 必须是 JSON 对象。", "metadata must be a JSON object.", field="metadata")
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "tags" and isinstance(value, list) and all(isinstance(t, str) for t in value):
            out[key] = value
        elif key == "fields" and isinstance(value, dict):
            for k, v in value.items():
                if v is not None and not isinstance(v, str):
                    raise InvalidInput(
                        f"自定义字段 {k} 的值必须是字符串。",
                        f"The custom field {k} must be a string.",
                        field=f"field.{k}",
                    )
            out[key] = {k: v or "" for k, v in value.items()}
        elif value is None or isinstance(value, str):
            out[key] = value or ""
        else:
            raise InvalidInput(f"元数据字段 {key} 必须是字符串。", f"Metadata field {key} must be a string.", field=key)
    return out


def form_metadata() -> dict[str, Any]:
    """Metadata from a multipart form: every field except file and reason; repeated tags allowed."""
    meta: dict[str, Any] = {}
    for key in request.form:
        if key in ("reason", "csrf_token"):
            continue
        values = request.form.getlist(key)
        if key.startswith(FILTER_PREFIX):  # a custom field: field.KEY
            meta.setdefault("fields", {})[key[len(FILTER_PREFIX) :]] = values[-1]
            continue
        meta[key] = values if key == "tags" and len(values) > 1 else values[-1]
    return meta


def upload() -> tuple[bytes, str]:
    f = request.files.get("file")
    if f is None:
        raise InvalidInput(
            "缺少文件：请在 multipart 字段 file 中上传。",
            "No file: upload it in the multipart field 'file'.",
            field="file",
        )
    return f.read(), f.filename or ""


def audit_filter(args) -> AuditFilter:
    actions = tuple(a for a in args.getlist("action") if a)
    for a in actions:
        if a not in AUDIT_ACTIONS:
            raise InvalidInput(
                f"未知事件类型“{a}”。",
                f"Unknown action '{a}'.",
                field="action",
                details={"valid": sorted(AUDIT_ACTIONS)},
            )
    return AuditFilter(
        actor=arg(args, "actor") or None,
        actions=actions,
        document_id=arg_int(args, "document_id"),
        since=arg_date(args, "since", "开始日期"),
        until=arg_date(args, "until", "结束日期"),
    )


def search_request(args, *, per_page: int = 20) -> SearchRequest:
    """``q``, ``filter=key:value`` (repeatable: OR within a key, AND across keys), ``page``,
    ``per_page``, ``sort`` (relevance | date), ``all_versions`` (docsvc.core.search.request_from_params)."""
    return request_from_params(args, per_page=per_page)


def json_upload(raw: bytes) -> dict[str, Any]:
    """An uploaded schema.json."""
    try:
        value = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput(
            f"字段定义文件不是有效的 UTF-8 JSON：{exc}。",
            f"The schema file is not valid UTF-8 JSON: {exc}.",
            field="schema",
        ) from None
    if not isinstance(value, dict):
        raise InvalidInput("字段定义文件必须是 JSON 对象。", "The schema file must be a JSON object.", field="schema")
    return value


def body_flag(body: dict[str, Any], name: str) -> bool:
    value = body.get(name, False)
    if not isinstance(value, bool):
        raise InvalidInput(f"{name} 必须是 true 或 false。", f"{name} must be true or false.", field=name)
    return value


def form_data(body: dict[str, Any]) -> dict[str, Any]:
    data = body.get("data")
    if not isinstance(data, dict):
        raise InvalidInput(
            "data 必须是 JSON 对象（字段名到值），可从 …/sample 取得示例。",
            "data must be a JSON object (field name to value); …/sample gives an example.",
            field="data",
        )
    return data
