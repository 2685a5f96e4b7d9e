"""The OpenAPI 3.1 description of ``/api/v1``, served at ``/api/v1/openapi.json``.

Written by hand next to the routes rather than generated from them: the descriptions are for
people. ``tests/test_web_openapi.py`` validates it and checks that every ``/api/v1`` route is
described and every described operation exists.
"""

from __future__ import annotations

from copy import deepcopy
from functools import lru_cache
from typing import Any

from docsvc.core import fields as core_fields
from docsvc.core.content import ACCEPTED
from docsvc.core.content import DOCX as DOCX_TYPE
from docsvc.core.inputs import MAX_ID, MAX_OFFSET, no_controls_pattern
from docsvc.core.model import (
    BUILTIN_DOC_TYPES,
    MAX_FIELDS,
    MAX_TAGS,
    MAX_TEXT,
    AuditAction,
    DocClass,
    DocStatus,
    PdcaPhase,
    ServiceCategory,
    ServiceScope,
)
from docsvc.core.query import MAX_QUERY_CHARS
from docsvc.core.search import FILTER_FIELDS, MAX_FILTER_VALUES, MAX_PAGE, MAX_PER_PAGE
from docsvc.services import similar, terms, views
from docsvc.services.access import MAX_AUDIT_PAGE
from docsvc.services.archive import MAX_PAGE as MAX_LIST_PAGE
from docsvc.services.archive import MAX_REASON, SORT_KEYS
from docsvc.services.classify import MAX_REVIEW_PAGE, REVIEW_PAGE
from docsvc.services.selection import MAX_BULK_REASON, SETTABLE, BulkStatus
from docsvc.services.users import MAX_PASSWORD, MIN_PASSWORD, USERNAME_RE, AccountAction, Role


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    text = {
        400: "Invalid input / 输入无效",
        401: "Not authenticated / 未认证",
        403: "Role may not do this / 无权限",
        404: "Not found (or not visible to you) / 不存在",
        409: "Conflict / 冲突",
        413: "Too large / 过大",
        415: "Unsupported content / 不支持的内容",
        422: "Damaged or unsafe content / 内容损坏或不安全",
        500: "Stored data damaged / 存档损坏",
        503: "Unavailable, retry / 暂不可用",
    }
    return {str(c): _json(_ref("Error"), text[c]) for c in codes}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """The same schema with null allowed too."""
    if "anyOf" in schema:
        takes_null = any(s.get("type") == "null" or None in s.get("enum", ()) for s in schema["anyOf"])
        return schema if takes_null else {**schema, "anyOf": [*schema["anyOf"], {"type": "null"}]}
    types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    out = {**schema, "type": types if "null" in types else [*types, "null"]}
    if "enum" in out and None not in out["enum"]:
        out["enum"] = [*out["enum"], None]
    return out


def _q(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema or {"type": "string"},
    }


# Constraints the server checks, stated so that a client (and schemathesis) knows them.
KEY = {"type": "integer", "minimum": 1, "maximum": MAX_ID}  # ids and version numbers (INTEGER columns)
# One line of text, as a filter or a metadata value: no control characters but tab.
LINE = {"type": "string", "pattern": no_controls_pattern("\t")}
_ALLOWED = "[^\\x00-\\x08\\x0a-\\x1f\\x7f-\\x9f]"
_SOLID = "[^\\s\\x00-\\x1f\\x7f-\\x9f]"
REQUIRED_LINE = {"type": "string", "maxLength": MAX_TEXT, "pattern": f"^{_ALLOWED}*{_SOLID}{_ALLOWED}*$"}
_REASON_ALLOWED = "[^\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f]"
REASON = {
    "type": "string",
    "maxLength": MAX_REASON,
    "pattern": no_controls_pattern("\t\n\r"),
    "description": "lines and tabs allowed, no other control characters",
}
OPTIONAL_REASON = {**REASON, "type": ["string", "null"]}  # in JSON, null is no reason
REQUIRED_REASON = {**REASON, "pattern": f"^{_REASON_ALLOWED}*{_SOLID}{_REASON_ALLOWED}*$"}
DATE = {"type": "string", "format": "date"}
FLAG = {"type": "string", "enum": ["true", "false", "1", "0", "yes", "no", "on", "off"]}  # as a form sends it
NAME = {"type": "string", "maxLength": 200, "pattern": no_controls_pattern()}
PROJECTS = {"type": "array", "items": {"type": "string", "maxLength": 500, "pattern": no_controls_pattern()}}
_TEXT_FILTERS = "|".join(k for k in FILTER_FIELDS if k not in ("year", "document_id"))
FILTER_PATTERN = (
    f"^(?:(?:{_TEXT_FILTERS}):{_ALLOWED}*{_SOLID}{_ALLOWED}*|year:[1-9][0-9]{{0,3}}|document_id:[1-9][0-9]{{0,8}}|)$"
)
DOC_ID = {"name": "doc_id", "in": "path", "required": True, "schema": KEY}
NUMBER = {"name": "number", "in": "path", "required": True, "schema": KEY}
USERNAME = {"name": "username", "in": "path", "required": True, "schema": {"type": "string"}}
SLUG = {
    "name": "slug",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
    "description": "contract, service_plan, sla, change_request, acceptance_report, …",
}
KIND = {
    "name": "kind",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "enum": ["pdf", "ocr-pdf"]},
    "description": "pdf: the PDF of a Word version; ocr-pdf: the searchable PDF of a scan or image "
    "(PDF/A-2b when it passed the PDF/A check)",
}
READ = (400, 401, 404, 503)
WRITE = (400, 401, 403, 404, 413, 415, 422, 503)

_enum = lambda e: {"type": "string", "enum": [m.value for m in e]}  # noqa: E731

METADATA_PROPS: dict[str, Any] = {
    "title": REQUIRED_LINE,
    "doc_type": {"type": "string", "description": "contract, service_plan, sla, … (and DOCSVC_EXTRA_DOC_TYPES)"},
    "service_category": _enum(ServiceCategory),
    "doc_class": _enum(DocClass),
    # "" or null: none (for status: draft); for a date: no date.
    "service_scope": {"type": ["string", "null"], "enum": [m.value for m in ServiceScope] + ["", None]},
    "pdca_phase": {"type": ["string", "null"], "enum": [m.value for m in PdcaPhase] + ["", None]},
    "project": {**LINE, "maxLength": MAX_TEXT},
    "counterparty": {**LINE, "maxLength": MAX_TEXT},
    "tags": {
        "anyOf": [
            {"type": "array", "maxItems": MAX_TAGS, "items": {**LINE, "maxLength": MAX_TEXT}},
            {**LINE, "description": "comma-separated (， too)"},
            {"type": "null"},
        ]
    },
    "status": {"type": "string", "enum": [m.value for m in DocStatus] + [""]},
    "effective_date": {"anyOf": [DATE, {"enum": ["", None]}]},
    "review_due": {"anyOf": [DATE, {"enum": ["", None]}], "description": "not before effective_date / 不早于生效日期"},
    "owner": {**LINE, "maxLength": MAX_TEXT},
}

# Custom field values in a change: key → a value in any accepted form ("" or null clears it).
FIELD_VALUES = {
    "type": "object",
    "maxProperties": MAX_FIELDS,
    "propertyNames": {"pattern": "^[a-z][a-z0-9_]{0,39}$"},
    "additionalProperties": {"type": ["string", "null"], "maxLength": MAX_TEXT, "pattern": no_controls_pattern()},
    "description": 'custom fields (GET /api/v1/fields): key → value, e.g. {"contract_value": "48.6万"}; '
    '"" or null clears one',
}

# A selection of documents (docsvc.services.selection): ids, each once; at most DOCSVC_BULK_MAX_DOCUMENTS.
SELECTION = {
    "type": "array",
    "minItems": 1,
    "items": KEY,
    "description": "document ids; at most DOCSVC_BULK_MAX_DOCUMENTS (default 500), else 413",
}
BULK_SET = {
    **{k: METADATA_PROPS[k] for k in SETTABLE},
    "status": _enum(DocStatus),  # "" is no value to set
    "doc_type": {**REQUIRED_LINE, "maxLength": 64},
}
BULK_TAGS = {
    "anyOf": [
        {"type": "array", "maxItems": MAX_TAGS, "items": {**LINE, "maxLength": MAX_TEXT}},
        {**LINE, "description": "comma-separated (， too)"},
        {"type": "null"},
    ]
}

SCHEMAS: dict[str, Any] = {
    "BulkReport": {
        "type": "object",
        "required": ["counts", "items"],
        "properties": {
            "counts": {"type": "object", "properties": {s.value: {"type": "integer"} for s in BulkStatus}},
            "items": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["document_id", "status"],
                    "properties": {
                        "document_id": {"type": "integer"},
                        "title": {"type": "string"},
                        "status": _enum(BulkStatus),
                        "changes": {"type": "object", "description": "field → {from, to}"},
                        "error": {
                            "anyOf": [
                                {"type": "object", "description": "as in Error: code, message, message_en"},
                                {"type": "null"},
                            ]
                        },
                    },
                },
            },
        },
    },
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message", "message_en"],
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string", "description": "中文"},
                    "message_en": {"type": "string"},
                    "field": {"type": "string"},
                    "details": {"type": "object"},
                },
            }
        },
    },
    # In JSON, null is "" for every field (none, or for a required one: missing).
    "Metadata": {
        "type": "object",
        "additionalProperties": False,
        "properties": {k: _nullable(s) for k, s in METADATA_PROPS.items()} | {"fields": FIELD_VALUES},
    },
    "Label": {
        "type": "object",
        "properties": {
            "value": {"type": "string"},
            "label": {"type": "string", "description": "中文名称"},
            "label_en": {"type": "string"},
            "confidence": {"type": "number", "minimum": 0, "maximum": 1},
            "terms": {"type": "array", "items": {"type": "string"}, "description": "the words that drove it"},
            "source": {"type": "string"},
        },
    },
    "Suggestion": {
        "type": "object",
        "properties": {
            "doc_type": _ref("Label"),
            "service_category": _ref("Label"),
            "project": {"type": ["string", "null"]},
            "needs_review": {"type": "boolean", "description": "a confidence below the review threshold (0.6)"},
        },
    },
    "Document": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            **METADATA_PROPS,
            "fields": {
                "type": "object",
                "additionalProperties": {"type": "string"},
                "description": "custom fields: key → canonical value (money 486000.00, dates YYYY-MM-DD); "
                "labels at /api/v1/fields",
            },
            "created_at": {"type": "string", "format": "date-time"},
            "created_by": {"type": "string"},
            "updated_at": {"type": "string", "format": "date-time"},
            "latest_version": {"type": "integer"},
        },
    },
    "Version": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "document_id": {"type": "integer"},
            "number": {"type": "integer"},
            "sha256": {"type": "string"},
            "size": {"type": "integer"},
            "media_type": {"type": "string"},
            "original_filename": {"type": "string"},
            "created_at": {"type": "string", "format": "date-time"},
            "created_by": {"type": "string"},
            "reason": {"type": "string"},
            "source": {"type": "string"},
            "provenance": {"type": "object"},
            "content_url": {"type": "string"},
        },
    },
    "DocumentWithVersions": {
        "allOf": [
            _ref("Document"),
            {"type": "object", "properties": {"versions": {"type": "array", "items": _ref("Version")}}},
        ]
    },
    "DocumentPage": {
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": _ref("Document")},
            "total": {"type": "integer"},
            "limit": {"type": "integer"},
            "offset": {"type": "integer"},
        },
    },
    "AuditEntry": {
        "type": "object",
        "properties": {
            "seq": {"type": "integer"},
            "ts": {"type": "string"},
            "actor": {"type": "string"},
            "action": {"type": "string", "enum": [a.value for a in AuditAction] + [a.value for a in AccountAction]},
            "document_id": {"type": ["integer", "null"]},
            "version": {"type": ["integer", "null"]},
            "details": {"type": "object"},
            "prev_hash": {"type": "string"},
            "hash": {"type": "string"},
        },
    },
    "AuditPage": {
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": _ref("AuditEntry")},
            "total": {"type": "integer"},
            "limit": {"type": "integer"},
            "offset": {"type": "integer"},
        },
    },
    "History": {
        "type": "object",
        "properties": {
            "document": _ref("Document"),
            "versions": {"type": "array", "items": _ref("Version")},
            "events": {"type": "array", "items": _ref("AuditEntry")},
        },
    },
    "VerifyResult": {
        "type": "object",
        "properties": {
            "ok": {"type": "boolean"},
            "checked": {"type": "integer"},
            "broken_seq": {"type": ["integer", "null"]},
            "reason": {"type": "string"},
            "reason_en": {"type": "string"},
            # Every problem found, each naming its entry (docsvc.core.audit.ChainProblem).
            "problems": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "kind": {
                            "type": "string",
                            "enum": [
                                "missing",
                                "duplicate",
                                "unreadable",
                                "link",
                                "altered",
                                "head_missing",
                                "head_mismatch",
                                "checkpoint_mismatch",
                                "checkpoint_beyond",
                                "checkpoint_invalid",
                            ],
                        },
                        "seq": {"type": ["integer", "null"]},
                        "message": {"type": "string"},
                        "message_en": {"type": "string"},
                    },
                },
            },
            "more_problems": {"type": "integer"},
            # The signed checkpoints compared (null: checkpoints are not configured).
            "anchor": {
                "type": ["object", "null"],
                "properties": {
                    "location": {"type": "string"},
                    "key_id": {"type": "string"},
                    "public_key": {"type": "string"},
                    "checkpoints": {"type": "integer"},
                    "entries_after_latest": {"type": ["integer", "null"]},
                    "latest": {
                        "type": ["object", "null"],
                        "properties": {
                            "seq": {"type": "integer"},
                            "hash": {"type": "string"},
                            "ts": {"type": "string"},
                            "node": {"type": "string"},
                            "name": {"type": "string"},
                        },
                    },
                },
            },
        },
    },
    "Comparison": {
        "type": "object",
        "properties": {
            "document_id": {"type": "integer"},
            "a": {"type": "integer"},
            "b": {"type": "integer"},
            "changed": {"type": "integer"},
            "deleted": {"type": "integer"},
            "inserted": {"type": "integer"},
            "notice": {"type": "string"},
            "notice_en": {"type": "string"},
            "rows": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "kind": {"type": "string", "enum": ["equal", "changed", "deleted", "inserted", "skipped"]},
                        "left_no": {"type": ["integer", "null"]},
                        "right_no": {"type": ["integer", "null"]},
                        "left": {"type": "array", "description": "[text, changed] pairs"},
                        "right": {"type": "array", "description": "[text, changed] pairs"},
                        "skipped": {"type": "integer"},
                    },
                },
            },
        },
    },
    "User": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "username": {"type": "string"},
            "display_name": {"type": "string"},
            "role": _enum(Role),
            "active": {"type": "boolean"},
            "created_at": {"type": "string"},
            "created_by": {"type": "string"},
            "updated_at": {"type": "string"},
            "last_login_at": {"type": ["string", "null"]},
            "projects": {"type": "array", "items": {"type": "string"}},
        },
    },
    "Health": {
        "type": "object",
        "properties": {
            "status": {"type": "string", "enum": ["ok", "degraded"]},
            "schema": {"type": "object"},
            "documents": {"type": "integer"},
            "versions": {"type": "integer"},
            "audit_entries": {"type": "integer"},
            "outbox_pending": {"type": "integer"},
            "audit_head_seq": {"type": "integer"},
            "users": {"type": "integer"},
            "jobs": {
                "type": "object",
                "description": "the job queue: counts by state and by kind, oldest_queued_age_s, "
                "nodes with their last heartbeat, schedules, recent jobs",
            },
            "runner": {"type": ["object", "null"], "description": "this server's job runner"},
            "reviews": {"type": "object", "description": "open review reminders"},
            "intake": {
                "type": ["object", "null"],
                "description": "the watched intake folder (DOCSVC_INTAKE_DIR): folder, running (null: watched "
                "by another process), archived, duplicates, failed, waiting, last_scan, last_error",
            },
        },
    },
    "Job": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "kind": {
                "type": "string",
                "description": "rendition.pdf, ocr, template.batch, thumbnail, thumbnail.docx; the periodic review.reminders, "
                "orphans.sweep, jobs.prune, thumbnails.sweep, classifier.train, audit.checkpoint",
            },
            "payload": {"type": "object"},
            "state": {"type": "string", "enum": ["queued", "running", "done", "failed"]},
            "attempts": {"type": "integer"},
            "max_attempts": {"type": "integer"},
            "run_after": {"type": "string", "format": "date-time"},
            "lease_until": {"type": ["string", "null"], "format": "date-time"},
            "node": {"type": ["string", "null"], "description": "the server that ran (or runs) it"},
            "error": {
                "oneOf": [
                    {"type": "null"},
                    {
                        "type": "object",
                        "properties": {
                            "code": {"type": "string"},
                            "message": {"type": "string", "description": "中文"},
                            "message_en": {"type": "string"},
                        },
                    },
                ]
            },
            "key": {"type": ["string", "null"]},
            "created_at": {"type": "string", "format": "date-time"},
            "created_by": {"type": "string"},
            "started_at": {"type": ["string", "null"], "format": "date-time"},
            "finished_at": {"type": ["string", "null"], "format": "date-time"},
            "result": {"type": ["object", "null"]},
            "status_url": {"type": "string"},
            "rendition": {"$ref": "#/components/schemas/Rendition", "description": "a finished rendition job's PDF"},
        },
    },
    "RenditionReady": {
        "type": "object",
        "properties": {"state": {"const": "done"}, "rendition": {"$ref": "#/components/schemas/Rendition"}},
    },
    "RenditionQueued": {
        "type": "object",
        "properties": {
            "state": {"type": "string", "enum": ["queued", "running"]},
            "job": {"$ref": "#/components/schemas/Job"},
            "status_url": {"type": "string"},
        },
    },
    "CheckReport": {
        "type": "object",
        "properties": {
            "ok": {"type": "boolean"},
            "stats": {"type": "object"},
            "problems": {"type": "array", "items": {"type": "object"}},
            "audit": {"oneOf": [_ref("VerifyResult"), {"type": "null"}]},
        },
    },
}

SCHEMAS.update(
    {
        "Hit": {
            "type": "object",
            "properties": {
                "document_id": {"type": "integer"},
                "version": {"type": "integer"},
                "version_id": {"type": "integer"},
                "title": {"type": "string"},
                "original_filename": {"type": "string"},
                "score": {"type": ["number", "null"], "description": "null where the engine gives none"},
                "snippet": {
                    "type": "string",
                    "description": "HTML-safe excerpt: text escaped, matches wrapped in <mark>",
                },
                "snippet_text": {"type": "string", "description": "the same excerpt as plain text"},
                "highlights": {
                    "type": "array",
                    "description": "[start, end) character spans of snippet_text that matched",
                    "items": {"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 2},
                },
                "is_latest": {"type": "boolean"},
                "doc_type": {"type": "string"},
                "service_category": {"type": "string"},
                "doc_class": {"type": "string"},
                "service_scope": {"type": "string"},
                "project": {"type": "string"},
                "counterparty": {"type": "string"},
                "tags": {"type": "array", "items": {"type": "string"}},
                "status": {"type": "string"},
                "year": {"type": ["integer", "null"]},
                "created_at": {"type": ["string", "null"], "format": "date-time"},
                "effective_date": {"type": ["string", "null"], "format": "date"},
                "review_due": {"type": ["string", "null"], "format": "date"},
                "extraction_status": {"type": "string"},
                "url": {"type": "string"},
                "content_url": {"type": "string"},
            },
        },
        "SearchResult": {
            "type": "object",
            "properties": {
                "query": {"type": "string"},
                "total": {"type": "integer"},
                "page": {"type": "integer"},
                "per_page": {"type": "integer"},
                "partial": {
                    "type": "boolean",
                    "description": "the time limit stopped the search: hits and counts are incomplete",
                },
                "took_ms": {"type": "number"},
                "hits": {"type": "array", "items": _ref("Hit")},
                "facets": {
                    "type": "object",
                    "description": "facet → value → count, for doc_type, service_category, doc_class, "
                    "project, counterparty, year",
                    "additionalProperties": {"type": "object", "additionalProperties": {"type": "integer"}},
                },
                "expansions": {
                    "type": "array",
                    "description": "terms of the synonym table found in the query's plain words: "
                    "each as typed, and the other terms searched with it",
                    "items": {
                        "type": "object",
                        "properties": {
                            "typed": {"type": "string"},
                            "also": {"type": "array", "items": {"type": "string"}},
                        },
                    },
                },
                "synonyms_version": {
                    "type": "string",
                    "description": "version of the synonym table used (a hash of its groups)",
                },
            },
        },
        "TemplateField": {
            "type": "object",
            "required": ["name", "path", "type", "label_zh", "label_en", "required"],
            "properties": {
                "name": {"type": "string"},
                "path": {"type": "string", "description": "party_a.name, services[].hours"},
                "type": {
                    "type": "string",
                    "enum": [
                        "text",
                        "longtext",
                        "date",
                        "money",
                        "integer",
                        "percent",
                        "enum",
                        "boolean",
                        "group",
                        "list",
                    ],
                },
                "label_zh": {"type": "string"},
                "label_en": {"type": "string"},
                "required": {"type": "boolean"},
                "default": {},
                "example": {},
                "help_zh": {"type": "string"},
                "help_en": {"type": "string"},
                "max_length": {"type": "integer"},
                "min": {"type": "string"},
                "max": {"type": "string"},
                "not_before": {"type": "string"},
                "currencies": {"type": "array", "items": {"type": "string"}},
                "choices": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"value": {"type": "string"}, "zh": {"type": "string"}, "en": {"type": "string"}},
                    },
                },
                "pattern": {
                    "type": "object",
                    "properties": {"regex": {"type": "string"}, "zh": {"type": "string"}, "en": {"type": "string"}},
                },
                "min_items": {"type": "integer"},
                "max_items": {"type": "integer"},
                "sums": {"type": "array", "items": {"type": "object"}},
                "fields": {"type": "array", "items": {"$ref": "#/components/schemas/TemplateField"}},
            },
        },
        "Batch": {
            "type": "object",
            "required": ["job_id", "state", "total", "done", "items"],
            "properties": {
                "job_id": KEY,
                "state": {"type": "string", "enum": ["queued", "running", "done", "failed"]},
                "template": {"type": "string"},
                "filename": {"type": "string"},
                "total": {"type": "integer"},
                "done": {"type": "integer"},
                "percent": {"type": "integer"},
                "succeeded": {"type": "integer"},
                "failed": {"type": "integer"},
                "items": {
                    "type": "array",
                    "description": "one per row done, in row order",
                    "items": {
                        "type": "object",
                        "properties": {
                            "row": {
                                "type": "integer",
                                "description": "the row's number in the spreadsheet (header = 1)",
                            },
                            "document_id": {"type": ["integer", "null"]},
                            "version": {"type": ["integer", "null"]},
                            "title": {"type": "string"},
                            "error": {"type": ["object", "null"]},
                        },
                    },
                },
                "skipped": {"type": "array", "items": {"type": "object"}},
                "error": {"type": ["object", "null"]},
                "created": {"type": "boolean"},
                "status_url": {"type": "string"},
                "files_url": {"type": "string"},
            },
        },
        "Template": {
            "type": "object",
            "properties": {
                "slug": {"type": "string"},
                "version": {"type": "integer"},
                "sha256": {"type": "string"},
                "schema_sha256": {"type": "string"},
                "name_zh": {"type": "string"},
                "name_en": {"type": "string"},
                "doc_type": {"type": "string"},
                "doc_class": {"type": "string"},
                "spec_ref": {"type": "string"},
                "description_zh": {"type": "string"},
                "description_en": {"type": "string"},
                "lint": {"type": "object", "description": "the lint report stored with this version: ok, issues[]"},
                "created_at": {"type": "string", "format": "date-time"},
                "created_by": {"type": "string"},
                "url": {"type": "string"},
                "sample_url": {"type": "string"},
                "fields": {"type": "array", "items": _ref("TemplateField")},
            },
        },
        "Rendition": {
            "type": "object",
            "properties": {
                "kind": {"type": "string", "enum": ["pdf"]},
                "media_type": {"type": "string"},
                "sha256": {"type": "string"},
                "size": {"type": "integer"},
                "created_at": {"type": "string"},
                "producer": {"type": "string"},
                "pdfa": {"type": "boolean", "description": "the PDF/A-2b archival copy (generated with pdfa)"},
                "content_url": {"type": "string"},
            },
        },
        "Generated": {
            "type": "object",
            "properties": {
                "created": {"type": "boolean"},
                "document": _ref("Document"),
                "version": _ref("Version"),
                "renditions": {"type": "array", "items": _ref("Rendition")},
            },
        },
    }
)

# Saved views (docsvc.services.views): a name, a kind and the page's query parameters.
VIEW_ID = {"name": "view_id", "in": "path", "required": True, "schema": KEY}
VIEW_NAME = {
    "type": "string",
    "maxLength": views.MAX_NAME,
    "pattern": f"^{_ALLOWED}*{_SOLID}{_ALLOWED}*$",
    "description": "unique per owner / 每人唯一",
}
VIEW_PARAMS = {
    "description": "the page's query string (q=合同&filter=doc_type:sla for a search; doc_class=site&sort=-updated_at "
    "for the document list), or [name, value] pairs; checked like the page checks it "
    "(400 with the field at fault); paging is dropped",
    "anyOf": [
        {"type": "string", "maxLength": views.MAX_PARAMS_CHARS},
        {"type": "array", "items": {"type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": 2}},
    ],
}
SCHEMAS.update(
    {
        "SavedView": {
            "type": "object",
            "properties": {
                "id": {"type": "integer"},
                "owner": {"type": "string"},
                "name": {"type": "string"},
                "kind": _enum(views.ViewKind),
                "params": {"type": "array", "items": {"type": "array", "items": {"type": "string"}}},
                "query_string": {"type": "string"},
                "shared": {"type": "boolean"},
                "pinned": {"type": "boolean", "description": "on the caller's dashboard"},
                "editable": {"type": "boolean", "description": "the caller may rename, change, share or delete it"},
                "created_at": {"type": "string"},
                "updated_at": {"type": "string"},
            },
        },
        "ViewResult": {
            "type": "object",
            "properties": {
                "view": _ref("SavedView"),
                "total": {"type": "integer"},
                "items": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "document_id": {"type": "integer"},
                            "title": {"type": "string"},
                            "version": {"type": "integer"},
                        },
                    },
                },
                "error": {"type": ["object", "null"], "description": "why the view cannot be evaluated now"},
            },
        },
        "Dashboard": {
            "type": "object",
            "description": "counts, review list, SLAs and plans due, recent activity, "
            "shortcuts and pinned views: only what the caller may read",
            "properties": {
                "today": DATE,
                "total": {"type": "integer"},
                "by_category": {"type": "array", "items": {"type": "object"}},
                "by_class": {"type": "array", "items": {"type": "object"}},
                "review": {"type": ["object", "null"]},
                "due_for_review": {"type": "array", "items": {"type": "object"}},
                "recent": {"type": "array", "items": {"type": "object"}},
                "activity": {"type": "array", "items": {"type": "object"}},
                "shortcuts": {
                    "type": "object",
                    "properties": {"upload": {"type": "boolean"}, "drafting": {"type": "boolean"}},
                },
                "widgets": {"type": "array", "items": _ref("ViewResult")},
            },
        },
    }
)

# Managed tags and counterparties (docsvc.services.terms): names travel in JSON bodies.
_NAME_CHAR = "[^,，\\x00-\\x08\\x0a-\\x1f\\x7f-\\x9f]"
_NAME_SOLID = "[^,，\\s\\x00-\\x1f\\x7f-\\x9f]"
TERM_NAMES = {
    "tag": {
        "type": "string",
        "maxLength": terms.MAX_TAG,
        "pattern": f"^{_NAME_CHAR}*{_NAME_SOLID}{_NAME_CHAR}*$",
        "description": "a tag: no control characters, no comma / 标签名称，不含逗号",
    },
    "counterparty": {**REQUIRED_LINE, "maxLength": terms.MAX_COUNTERPARTY, "description": "a counterparty / 相对方"},
}
COLOUR = {"type": "string", "enum": list(terms.PALETTE), "description": "from the fixed palette / 固定调色板"}
SCHEMAS.update(
    {
        "FieldDefinition": {
            "type": "object",
            "required": [
                "doc_type",
                "key",
                "label_zh",
                "label_en",
                "kind",
                "choices",
                "required",
                "position",
                "retired",
            ],
            "properties": {
                "doc_type": {"type": "string"},
                "key": {"type": "string"},
                "label_zh": {"type": "string"},
                "label_en": {"type": "string"},
                "kind": {"type": "string", "enum": [k.value for k in core_fields.FieldKind]},
                "choices": {"type": "array", "items": {"type": "string"}},
                "required": {"type": "boolean"},
                "position": {"type": "integer"},
                "retired": {"type": "boolean"},
            },
        },
        "Term": {
            "type": "object",
            "required": ["kind", "name", "documents"],
            "properties": {
                "kind": _enum(terms.TermKind),
                "name": {"type": "string"},
                "documents": {"type": "integer", "description": "documents carrying the name"},
                "colour": {**COLOUR, "description": "tags only"},
                "created_at": {
                    "type": ["string", "null"],
                    "description": "null: only on documents, no catalog entry yet",
                },
                "updated_at": {"type": ["string", "null"]},
            },
        },
        "TermChange": {
            "type": "object",
            "required": ["term", "previous", "counts", "items"],
            "properties": {
                "term": _ref("Term"),
                "previous": {"type": "string"},
                "counts": {"type": "object", "properties": {s.value: {"type": "integer"} for s in BulkStatus}},
                "items": {
                    "type": "array",
                    "items": {"type": "object", "description": "each affected document, changed by an audited edit"},
                },
            },
        },
    }
)

UPLOAD_FILE = {
    "type": "string",
    "contentMediaType": "application/octet-stream",
    "description": "docx, pdf, txt, md, csv, or a scan or photo (jpg, png, tif: its text is read by OCR in "
    "the background); the type is decided from the content (else 415, or 422 for a damaged "
    "or unsafe file)",
}
# In a form a field is text: no nulls, and an empty field is an absent one.
FORM_METADATA = {
    k: (
        {"type": "string", "enum": [v for v in s["enum"] if v is not None]}
        if "enum" in s
        else {"anyOf": [DATE, {"const": ""}]}
        if "anyOf" in s
        else s
    )
    for k, s in METADATA_PROPS.items()
}


def _paths() -> dict[str, Any]:
    # Filters: an empty value is no filter; a value with control characters is refused.
    doc_filters = (
        [
            _q(n, d, LINE)
            for n, d in (
                ("doc_type", "文档类型 / document type"),
                ("project", "项目"),
                ("counterparty", "相对方"),
                ("owner", "负责人"),
                ("tag", "标签"),
                ("title", "title contains / 标题包含"),
            )
        ]
        + [
            _q(n, d, {"type": "string", "enum": ["", *(m.value for m in e)]})
            for n, d, e in (
                ("service_category", "§4 code", ServiceCategory),
                ("doc_class", "user | site", DocClass),
                ("service_scope", "support | provision | delivery", ServiceScope),
                ("pdca_phase", "plan | do | check | act", PdcaPhase),
                ("status", "draft | effective | superseded | archived", DocStatus),
            )
        ]
        + [
            _q("review_due_before", "YYYY-MM-DD", {"anyOf": [DATE, {"const": ""}]}),
            _q(
                "sort",
                "prefix - for descending",
                {"type": "string", "enum": [p + s for s in SORT_KEYS for p in ("", "-")]},
            ),
            _q("limit", f"1-{MAX_LIST_PAGE}, default 50", {"type": "integer", "minimum": 1, "maximum": MAX_LIST_PAGE}),
            _q("offset", "default 0", {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET}),
        ]
    )
    actions = [a.value for a in AuditAction] + [a.value for a in AccountAction]
    audit_filters = [
        _q("actor", "exact username", LINE),
        {
            "name": "action",
            "in": "query",
            "required": False,
            "style": "form",
            "explode": True,
            "description": "repeatable (any of them)",
            "schema": {"type": "array", "items": {"enum": actions}},
        },
        _q("document_id", "document id", KEY),
        _q("since", "YYYY-MM-DD (inclusive)", DATE),
        _q("until", "YYYY-MM-DD (inclusive), not before since", DATE),
        _q("limit", f"1-{MAX_AUDIT_PAGE}, default 50", {"type": "integer", "minimum": 1, "maximum": MAX_AUDIT_PAGE}),
        _q("offset", "default 0", {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET}),
    ]
    zip_response = {
        "description": "ZIP audit bundle (with verify_bundle.py)",
        "content": {"application/zip": {"schema": {"type": "string", "contentMediaType": "application/zip"}}},
    }
    file_response = {
        "description": "The exact stored bytes, as an attachment, with the media type decided "
        "when they were stored; ETag is the SHA-256",
        "content": {t: {"schema": {"type": "string"}} for t in ACCEPTED},
    }
    return {
        "/api/v1/openapi.json": {
            "get": {
                "operationId": "openapi",
                "summary": "This document",
                "security": [],
                "responses": {"200": {"description": "OpenAPI 3.1"}},
            }
        },
        "/api/v1/me": {
            "get": {
                "operationId": "me",
                "summary": "Who am I / 当前用户与权限",
                "responses": {"200": _json({"type": "object"}, "principal"), **_errors(401)},
            }
        },
        "/api/v1/health": {
            "get": {
                "operationId": "health",
                "summary": "Schema, counts, outbox, audit head (auditor, manager, admin)",
                "responses": {
                    "200": _json(_ref("Health"), "ok"),
                    "503": _json(_ref("Health"), "degraded"),
                    **_errors(401, 403),
                },
            }
        },
        "/api/v1/health/check": {
            "post": {
                "operationId": "integrityCheck",
                "summary": "Re-hash every blob, find missing/orphans, verify the audit chain",
                "responses": {"200": _json(_ref("CheckReport"), "report"), **_errors(401, 403)},
            }
        },
        "/api/v1/documents": {
            "get": {
                "operationId": "listDocuments",
                "summary": "List documents you may read / 文档列表",
                "description": "Custom fields filter too (GET /api/v1/fields): field.KEY=VALUE (a text field: "
                "contains VALUE), and for number, money and date fields field.KEY_min / field.KEY_max "
                "(inclusive; 48.6万 and 2026年3月1日 are understood). An unknown key is 400 with the valid ones.",
                "parameters": doc_filters,
                "responses": {"200": _json(_ref("DocumentPage"), "a page"), **_errors(400, 401)},
            },
            "post": {
                "operationId": "createDocument",
                "summary": "Upload a new document / 上传新文档",
                "description": "doc_type, service_category and project may be left out: they are "
                "suggested from the content (returned as suggestion; one below the review "
                "threshold goes on the review list). doc_class defaults to user.",
                "requestBody": {
                    "required": True,
                    "content": {
                        "multipart/form-data": {
                            "schema": {
                                "type": "object",
                                "required": ["file", "doc_type", "service_category", "doc_class"],
                                "properties": {
                                    "file": UPLOAD_FILE,
                                    "reason": REASON,
                                    **FORM_METADATA,
                                    "title": {
                                        "type": "string",
                                        "maxLength": MAX_TEXT,
                                        "pattern": f"^(?:{_ALLOWED}*{_SOLID}{_ALLOWED}*)?$",
                                        "description": "default: the file's name",
                                    },
                                },
                                "patternProperties": {
                                    "^field\\.[a-z][a-z0-9_]{0,39}$": {
                                        "type": "string",
                                        "maxLength": MAX_TEXT,
                                        "pattern": no_controls_pattern(),
                                        "description": "a custom field's value (field.KEY, GET /api/v1/fields)",
                                    }
                                },
                                "additionalProperties": False,
                            }
                        }
                    },
                },
                "responses": {
                    "201": _json(
                        {
                            "type": "object",
                            "properties": {
                                "document": _ref("Document"),
                                "version": _ref("Version"),
                                "suggestion": {"oneOf": [_ref("Suggestion"), {"type": "null"}]},
                            },
                        },
                        "archived",
                    ),
                    **_errors(*WRITE),
                },
            },
        },
        "/api/v1/suggestions": {
            "post": {
                "operationId": "suggestLabels",
                "summary": "Suggested labels for a file / 建议分类",
                "description": "What an upload of this file would be labelled, with confidence and the words "
                "that drove it; nothing is archived.",
                "requestBody": {
                    "required": True,
                    "content": {
                        "multipart/form-data": {
                            "schema": {
                                "type": "object",
                                "required": ["file"],
                                "properties": {"file": UPLOAD_FILE, "title": {"type": "string"}},
                            }
                        }
                    },
                },
                "responses": {"200": _json(_ref("Suggestion"), "the suggestion"), **_errors(*WRITE)},
            }
        },
        "/api/v1/labels/review": {
            "get": {
                "operationId": "reviewLabels",
                "summary": "The review list of suggested labels / 待复核分类",
                "description": "The oldest first; total counts them all (confirming the listed ones brings "
                "the next ones up).",
                "parameters": [
                    _q("all", "true: every pending suggestion, not only the low-confidence ones", FLAG),
                    _q(
                        "limit",
                        f"1-{MAX_REVIEW_PAGE}, default {REVIEW_PAGE}",
                        {"type": "integer", "minimum": 1, "maximum": MAX_REVIEW_PAGE},
                    ),
                ],
                "responses": {"200": _json({"type": "object"}, "items, total"), **_errors(400, 401, 403)},
            }
        },
        "/api/v1/documents/{doc_id}/labels": {
            "parameters": [DOC_ID],
            "post": {
                "operationId": "confirmLabels",
                "summary": "Accept or correct suggested labels / 确认或更正分类",
                "description": "An empty object accepts; doc_type, service_category or project correct. "
                "Either teaches the classifier.",
                "requestBody": {
                    "required": False,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "additionalProperties": False,
                                "properties": {
                                    k: _nullable(METADATA_PROPS[k]) for k in ("doc_type", "service_category", "project")
                                },
                            }
                        }
                    },
                },
                "responses": {"200": _json(_ref("Document"), "confirmed"), **_errors(400, 401, 403, 404, 409)},
            },
        },
        "/api/v1/documents/bulk": {
            "post": {
                "operationId": "bulkDocuments",
                "summary": "One change for several documents (type, category, project, counterparty, status, tags), "
                "made and audited per document / 批量修改",
                "description": "Each document goes through the single edit's checks: the result lists it as changed, "
                "unchanged or refused (with the error). An id that names no document you may see, an "
                "empty or too long selection, or an invalid value refuses the whole request and "
                "changes nothing.",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["ids"],
                                "additionalProperties": False,
                                "properties": {
                                    "ids": SELECTION,
                                    "set": {"type": "object", "additionalProperties": False, "properties": BULK_SET},
                                    "add_tags": BULK_TAGS,
                                    "remove_tags": BULK_TAGS,
                                    "reason": {**OPTIONAL_REASON, "maxLength": MAX_BULK_REASON},
                                },
                            }
                        }
                    },
                },
                "responses": {"200": _json(_ref("BulkReport"), "per document"), **_errors(400, 401, 413)},
            }
        },
        "/api/v1/documents/zip": {
            "post": {
                "operationId": "zipDocuments",
                "summary": "The latest version of each listed document in one ZIP, each read audited as a download / 打包下载",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["ids"],
                                "additionalProperties": False,
                                "properties": {"ids": SELECTION},
                            }
                        }
                    },
                },
                "responses": {
                    "200": {
                        "description": "ZIP of the files, named after the titles (UTF-8 names)",
                        "content": {
                            "application/zip": {"schema": {"type": "string", "contentMediaType": "application/zip"}}
                        },
                    },
                    **_errors(400, 401, 403, 413),
                },
            }
        },
        "/api/v1/documents/{doc_id}": {
            "parameters": [DOC_ID],
            "get": {
                "operationId": "showDocument",
                "summary": "Metadata and versions",
                "responses": {"200": _json(_ref("DocumentWithVersions"), "the document"), **_errors(*READ)},
            },
            "patch": {
                "operationId": "updateDocument",
                "summary": "Change metadata (an audit event)",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["metadata"],
                                "properties": {
                                    "metadata": {**_ref("Metadata"), "minProperties": 1},
                                    "reason": OPTIONAL_REASON,
                                },
                            }
                        }
                    },
                },
                "responses": {"200": _json(_ref("Document"), "updated"), **_errors(400, 401, 403, 404)},
            },
            "delete": {
                "operationId": "requestDeletion",
                "summary": "Request deletion: logged and always refused (history is immutable)",
                "parameters": [_q("reason", "why", REASON)],
                "responses": _errors(400, 401, 403, 404, 409),
            },
        },
        "/api/v1/documents/{doc_id}/history": {
            "parameters": [DOC_ID],
            "get": {
                "operationId": "history",
                "summary": "Every version and event: who, when, what, why",
                "responses": {"200": _json(_ref("History"), "history"), **_errors(*READ)},
            },
        },
        "/api/v1/documents/{doc_id}/versions": {
            "parameters": [DOC_ID],
            "post": {
                "operationId": "addVersion",
                "summary": "Add a version (a change reason is required, spec 8.4.2)",
                "requestBody": {
                    "required": True,
                    "content": {
                        "multipart/form-data": {
                            "schema": {
                                "type": "object",
                                "required": ["file", "reason"],
                                "properties": {"file": UPLOAD_FILE, "reason": REQUIRED_REASON},
                            }
                        }
                    },
                },
                "responses": {
                    "201": _json({"type": "object"}, "version added"),
                    "200": _json({"type": "object"}, "identical to the latest version: nothing added"),
                    **_errors(*WRITE),
                },
            },
        },
        "/api/v1/documents/{doc_id}/content": {
            "parameters": [DOC_ID],
            "get": {
                "operationId": "downloadLatest",
                "summary": "Download the latest version",
                "responses": {"200": file_response, **_errors(401, 404, 500)},
            },
        },
        "/api/v1/documents/{doc_id}/versions/{number}/content": {
            "parameters": [DOC_ID, NUMBER],
            "get": {
                "operationId": "downloadVersion",
                "summary": "Download one version",
                "responses": {"200": file_response, **_errors(401, 404, 500)},
            },
        },
        "/api/v1/documents/{doc_id}/compare": {
            "parameters": [DOC_ID],
            "get": {
                "operationId": "compare",
                "summary": "Paragraph-level diff of versions a and b",
                "parameters": [
                    _q("a", "older version (default: the one before the latest)", KEY),
                    _q("b", "newer version (default: the latest)", KEY),
                ],
                "responses": {
                    "200": _json(_ref("Comparison"), "diff"),
                    "409": _json(_ref("Error"), "The document has only one version / 只有一个版本"),
                    **_errors(*READ),
                },
            },
        },
        "/api/v1/documents/{doc_id}/similar": {
            "parameters": [DOC_ID],
            "get": {
                "operationId": "similarDocuments",
                "summary": "Similar documents / 相似文档",
                "description": "Documents about the same things as this one (its title's words and its most "
                "distinctive words, searched as you: what search would show you, latest "
                "versions only, best first); never the document itself.",
                "parameters": [
                    _q(
                        "limit",
                        f"1-{similar.MAX_LIMIT}, default {similar.DEFAULT_LIMIT}",
                        {"type": "integer", "minimum": 1, "maximum": similar.MAX_LIMIT},
                    )
                ],
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "properties": {
                                "document_id": {"type": "integer"},
                                "items": {
                                    "type": "array",
                                    "description": "hits without snippet, snippet_text, highlights",
                                    "items": _ref("Hit"),
                                },
                            },
                        },
                        "similar documents",
                    ),
                    **_errors(*READ),
                },
            },
        },
        "/api/v1/documents/{doc_id}/versions/{number}/renditions/{kind}": {
            "parameters": [DOC_ID, NUMBER, KIND],
            "get": {
                "operationId": "downloadRendition",
                "summary": "Download a version's rendition (the PDF archived with a generated version)",
                "responses": {
                    "200": {
                        "description": "The stored PDF, as an attachment; ETag is its SHA-256",
                        "content": {"application/pdf": {"schema": {"type": "string"}}},
                    },
                    **_errors(401, 404, 500),
                },
            },
            "post": {
                "operationId": "requestRendition",
                "summary": "Make the PDF of a Word (DOCX) version, in the background / 生成 PDF",
                "description": "Whoever may download the version may ask. When the PDF exists it is answered "
                "at once (200); otherwise a job is queued that whichever server is free runs "
                "(202, Location: the job's status URL). Asking again while that job is queued "
                "or running answers the same job. A conversion that fails leaves no PDF and a "
                "failed job whose error says why, in both languages.",
                "responses": {
                    "200": _json(_ref("RenditionReady"), "the PDF exists already"),
                    "202": _json(_ref("RenditionQueued"), "queued (or already queued): poll status_url"),
                    "400": _json(_ref("Error"), "The version is not a Word (DOCX) document / 不是 Word 版本"),
                    **_errors(401, 404, 503),
                },
            },
        },
        "/api/v1/documents/{doc_id}/versions/{number}/ocr": {
            "parameters": [DOC_ID, NUMBER],
            "get": {
                "operationId": "ocrStatus",
                "summary": "How a version's text was read: OCR engine, version, confidence per page / OCR 信息",
                "description": "text_status is the extraction status (ocr_pending until the background has "
                "read a scan or image, then ok, empty, too_large …); ocr is null for versions "
                "OCR did not read.",
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "properties": {
                                "document_id": {"type": "integer"},
                                "version": {"type": "integer"},
                                "text_status": {"type": "string"},
                                "ocr": {
                                    "type": ["object", "null"],
                                    "properties": {
                                        "status": {"type": "string"},
                                        "engine": {"type": "string"},
                                        "engine_version": {"type": "string"},
                                        "confidence": {"type": ["number", "null"]},
                                        "pages": {"type": "array", "items": {"type": "object"}},
                                        "detail_zh": {"type": "string"},
                                        "detail_en": {"type": "string"},
                                        "pdfa": {
                                            "type": ["string", "null"],
                                            "description": "PDF/A-2b when the searchable PDF passed the check",
                                        },
                                    },
                                },
                                "job": {"oneOf": [_ref("Job"), {"type": "null"}]},
                            },
                        },
                        "the OCR record",
                    ),
                    **_errors(*READ),
                },
            },
            "post": {
                "operationId": "rerunOcr",
                "summary": "Read a scan's text again (managers) / 重新识别",
                "description": "Queues the OCR of the version's content (a PDF without a text layer or an "
                "image); 400 for a version with a text layer. The job replaces the cached "
                "text and the ocr-pdf rendition.",
                "responses": {
                    "202": _json(_ref("RenditionQueued"), "queued (or already queued): poll status_url"),
                    **_errors(400, 401, 403, 404, 503),
                },
            },
        },
        "/api/v1/jobs/{job_id}": {
            "parameters": [{"name": "job_id", "in": "path", "required": True, "schema": KEY}],
            "get": {
                "operationId": "showJob",
                "summary": "A background job's state, node, result or error / 后台任务",
                "description": "A rendition job for whoever may read its document (else 404, as for a job that "
                "does not exist); other jobs for auditors, managers and administrators.",
                "responses": {"200": _json(_ref("Job"), "the job"), **_errors(401, 403, 404, 503)},
            },
        },
        "/api/v1/search": {
            "get": {
                "operationId": "search",
                "summary": "Full-text search, Chinese first, over the documents you may read / 全文搜索",
                "description": 'Query syntax as in the search box: words, "phrases", AND/OR/NOT/-word, field:value '
                "(类型:合同, project:港口, year:2026), date:2026-01-01..2026-06-30. On-site documents (9.2) "
                "of projects you are not in are left out of hits, totals and facets.",
                "parameters": [
                    _q(
                        "q",
                        "the query (empty: everything, newest first); control characters are ignored",
                        {"type": "string", "maxLength": MAX_QUERY_CHARS},
                    ),
                    {
                        "name": "filter",
                        "in": "query",
                        "required": False,
                        "style": "form",
                        "explode": True,
                        "description": "key:value, repeatable (OR within a key, AND across keys); an empty one is no "
                        "filter; year is 1-9999 and document_id an id",
                        "schema": {
                            "type": "array",
                            "maxItems": MAX_FILTER_VALUES,
                            "items": {"type": "string", "pattern": FILTER_PATTERN},
                        },
                    },
                    _q("page", f"1-{MAX_PAGE}, default 1", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}),
                    _q(
                        "per_page",
                        f"1-{MAX_PER_PAGE}, default 20",
                        {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE},
                    ),
                    _q(
                        "sort",
                        "relevance (default; also when empty) or date (newest first)",
                        {"type": "string", "enum": ["", "relevance", "date"]},
                    ),
                    _q(
                        "all_versions",
                        "1 to search every version; only the latest when 0, empty or left out",
                        {**FLAG, "enum": ["", *FLAG["enum"]]},
                    ),
                ],
                "responses": {
                    "200": _json(_ref("SearchResult"), "hits, total and facets"),
                    "400": _json(_ref("Error"), "Malformed query or parameters / 查询语句或参数有误"),
                    **_errors(401),
                    "503": _json(_ref("Error"), "The index is being rebuilt; retry (Retry-After) / 索引重建中"),
                },
            }
        },
        "/api/v1/templates": {
            "get": {
                "operationId": "listTemplates",
                "summary": "Word templates (latest version of each) / 模板列表",
                "responses": {
                    "200": _json(
                        {"type": "object", "properties": {"items": {"type": "array", "items": _ref("Template")}}},
                        "templates",
                    ),
                    **_errors(401),
                },
            },
            "post": {
                "operationId": "addTemplate",
                "summary": "Register a template or a new version of one (manager, admin); refused unless lint passes",
                "requestBody": {
                    "required": True,
                    "content": {
                        "multipart/form-data": {
                            "schema": {
                                "type": "object",
                                "required": ["file"],
                                "properties": {
                                    "file": {
                                        "type": "string",
                                        "format": "binary",
                                        "contentMediaType": DOCX_TYPE,
                                        "description": "template.docx (a file part)",
                                    },
                                    "schema": {
                                        "type": "string",
                                        "format": "binary",
                                        "contentMediaType": "application/json",
                                        "description": "schema.json; optional for a new version of an existing template",
                                    },
                                    "slug": {
                                        "type": "string",
                                        "description": "the template, for a new version without a schema",
                                    },
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "201": _json(
                        {
                            "type": "object",
                            "properties": {"created": {"type": "boolean"}, "template": _ref("Template")},
                        },
                        "registered",
                    ),
                    "200": _json({"type": "object"}, "identical to the latest version: nothing added"),
                    "422": _json(_ref("Error"), "Lint failed (details.lint lists every issue) / 模板检查未通过"),
                    **_errors(400, 401, 403, 404, 413, 415),
                },
            },
        },
        "/api/v1/templates/{slug}": {
            "parameters": [SLUG],
            "get": {
                "operationId": "showTemplate",
                "summary": "A template with its form fields",
                "responses": {"200": _json(_ref("Template"), "the template and its fields"), **_errors(401, 404)},
            },
        },
        "/api/v1/templates/{slug}/versions": {
            "parameters": [SLUG],
            "get": {
                "operationId": "templateVersions",
                "summary": "Every version with its lint report (manager, admin)",
                "responses": {
                    "200": _json(
                        {"type": "object", "properties": {"items": {"type": "array", "items": _ref("Template")}}},
                        "versions",
                    ),
                    **_errors(401, 403, 404),
                },
            },
        },
        "/api/v1/templates/{slug}/sample": {
            "parameters": [SLUG],
            "get": {
                "operationId": "templateSample",
                "summary": "Complete example form data (it validates)",
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "properties": {
                                "template": {"type": "string"},
                                "version": {"type": "integer"},
                                "data": {"type": "object"},
                            },
                        },
                        "sample data",
                    ),
                    **_errors(401, 404),
                },
            },
        },
        "/api/v1/templates/{slug}/preview": {
            "parameters": [SLUG],
            "post": {
                "operationId": "previewTemplate",
                "summary": "Validate and render to DOCX without archiving anything (drafter, manager, admin)",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["data"],
                                "properties": {"data": {"type": "object"}},
                            }
                        }
                    },
                },
                "responses": {
                    "200": {
                        "description": "The rendered DOCX, as an attachment",
                        "content": {DOCX_TYPE: {"schema": {"type": "string"}}},
                    },
                    "400": _json(
                        _ref("Error"),
                        "Invalid form data: details.errors lists every field "
                        "([{field, zh, en}], paths like payment_schedule[2].amount)",
                    ),
                    **_errors(401, 403, 404, 413, 422, 503),
                },
            },
        },
        "/api/v1/templates/{slug}/generate": {
            "parameters": [SLUG],
            "post": {
                "operationId": "generate",
                "summary": "Render and archive a new document, or with document_id a new version of it (drafter, manager, admin)",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["data"],
                                "additionalProperties": False,
                                "properties": {
                                    "data": {"type": "object"},
                                    "pdf": {"type": "boolean", "default": False},
                                    "pdfa": {
                                        "type": "boolean",
                                        "default": False,
                                        "description": "the PDF as PDF/A-2b (archived signed copies); implies pdf",
                                    },
                                    "document_id": {"oneOf": [KEY, {"type": "null"}]},
                                    "reason": {
                                        **OPTIONAL_REASON,
                                        "description": "change reason; required with document_id (8.4.2)",
                                    },
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "201": _json(_ref("Generated"), "archived"),
                    "200": _json(_ref("Generated"), "identical to the latest version: nothing added"),
                    "400": _json(_ref("Error"), "Invalid form data: details.errors lists every field"),
                    **_errors(401, 403, 404, 413, 422, 503),
                },
            },
        },
        "/api/v1/templates/{slug}/batch/skeleton": {
            "parameters": [SLUG],
            "get": {
                "operationId": "batchSkeleton",
                "summary": "The spreadsheet to fill in for a batch: the fields' Chinese labels as headers, one "
                "example row (drafter, manager, admin)",
                "parameters": [
                    _q(
                        "format",
                        "xlsx (default) or csv (UTF-8 with a byte-order mark, for Excel)",
                        {"type": "string", "enum": ["xlsx", "csv"]},
                    )
                ],
                "responses": {
                    "200": {
                        "description": "The spreadsheet, as an attachment",
                        "content": {
                            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
                                "schema": {"type": "string"}
                            },
                            "text/csv": {"schema": {"type": "string"}},
                        },
                    },
                    **_errors(400, 401, 403, 404),
                },
            },
        },
        "/api/v1/templates/{slug}/batch": {
            "parameters": [SLUG],
            "post": {
                "operationId": "startBatch",
                "summary": "Check every row of a CSV or XLSX file, then generate one document per row in a "
                "background job (drafter, manager, admin). Rows are numbered as in the spreadsheet "
                "(header = row 1); with an invalid row nothing is generated unless skip_invalid",
                "requestBody": {
                    "required": True,
                    "content": {
                        "multipart/form-data": {
                            "schema": {
                                "type": "object",
                                "required": ["file"],
                                "properties": {
                                    "file": {
                                        "type": "string",
                                        "format": "binary",
                                        "description": "the CSV or XLSX file",
                                    },
                                    "pdf": {"type": "string", "enum": ["true", "false"], "default": "false"},
                                    "skip_invalid": {
                                        "type": "string",
                                        "enum": ["true", "false"],
                                        "default": "false",
                                        "description": "generate the valid rows and list the others",
                                    },
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "202": _json(_ref("Batch"), "queued (or the same file's job still running); poll status_url"),
                    "400": _json(
                        _ref("Error"),
                        "A malformed file, or invalid rows: details.rows lists "
                        "each row's problems ([{row, errors: [{field, label_zh, "
                        "label_en, zh, en}]}])",
                    ),
                    **_errors(401, 403, 404, 413, 503),
                },
            },
        },
        "/api/v1/templates/{slug}/batch/{job_id}": {
            "parameters": [SLUG, {"name": "job_id", "in": "path", "required": True, "schema": KEY}],
            "get": {
                "operationId": "showBatch",
                "summary": "A batch's progress and each row's result (its drafter; managers, auditors and admins)",
                "responses": {"200": _json(_ref("Batch"), "the batch"), **_errors(401, 404)},
            },
        },
        "/api/v1/templates/{slug}/batch/{job_id}/files.zip": {
            "parameters": [SLUG, {"name": "job_id", "in": "path", "required": True, "schema": KEY}],
            "get": {
                "operationId": "batchFiles",
                "summary": "The batch's generated files (DOCX, and PDF when made) in "
                "one ZIP; each read is audited as a download",
                "responses": {
                    "200": {"description": "ZIP", "content": {"application/zip": {"schema": {"type": "string"}}}},
                    **_errors(401, 404, 500),
                },
            },
        },
        "/api/v1/reports/{kind}": {
            "parameters": [
                {
                    "name": "kind",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "enum": ["inventory", "audit", "reviews"]},
                }
            ],
            "post": {
                "operationId": "generateReport",
                "summary": "A management report filled from the archive and archived as a new document "
                "(manager, admin): inventory, audit (since/until, default the last 30 days), "
                "reviews (SLAs and plans due by until, default in 30 days; spec 8.1.3)",
                "requestBody": {
                    "required": False,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "additionalProperties": False,
                                "properties": {
                                    "since": {"anyOf": [DATE, {"enum": ["", None]}]},
                                    "until": {"anyOf": [DATE, {"enum": ["", None]}]},
                                    "service_category": {
                                        "type": ["string", "null"],
                                        "description": "filed under (default 4.2)",
                                        "enum": [m.value for m in ServiceCategory] + ["", None],
                                    },
                                    "pdf": {"type": "boolean", "default": False},
                                    "pdfa": {"type": "boolean", "default": False},
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "201": _json(_ref("Generated"), "archived"),
                    "400": _json(_ref("Error"), "Invalid dates, kind or category"),
                    **_errors(401, 403, 503),
                },
            },
        },
        "/api/v1/audit": {
            "get": {
                "operationId": "auditLog",
                "summary": "The audit log, newest first (auditor, manager, admin)",
                "parameters": audit_filters,
                "responses": {"200": _json(_ref("AuditPage"), "a page"), **_errors(400, 401, 403)},
            }
        },
        "/api/v1/audit/verify": {
            "get": {
                "operationId": "auditVerify",
                "summary": "Verify the whole hash chain",
                "responses": {"200": _json(_ref("VerifyResult"), "result"), **_errors(401, 403)},
            }
        },
        "/api/v1/audit/export": {
            "post": {
                "operationId": "auditExport",
                "summary": "Audit bundle for one document or a date range (an audit event)",
                "requestBody": {
                    "required": False,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "document_id": {"oneOf": [KEY, {"type": "null"}]},
                                    "since": {**DATE, "type": ["string", "null"]},
                                    "until": {**DATE, "type": ["string", "null"]},
                                },
                            }
                        }
                    },
                },
                "responses": {"200": zip_response, **_errors(400, 401, 403, 404)},
            }
        },
        "/api/v1/dashboard": {
            "get": {
                "operationId": "dashboard",
                "summary": "The dashboard: counts, review list, SLAs due, activity, pinned views / 仪表板",
                "responses": {"200": _json(_ref("Dashboard"), "the dashboard"), **_errors(401, 403, 503)},
            }
        },
        "/api/v1/views": {
            "get": {
                "operationId": "listViews",
                "summary": "Your saved views and the shared ones / 保存的视图",
                "responses": {
                    "200": _json(
                        {"type": "object", "properties": {"items": {"type": "array", "items": _ref("SavedView")}}},
                        "views",
                    ),
                    **_errors(400, 401, 403),
                },
            },
            "post": {
                "operationId": "createView",
                "summary": "Save a search or a document-list filter under a name",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["name", "kind", "params"],
                                "additionalProperties": False,
                                "properties": {
                                    "name": VIEW_NAME,
                                    "kind": _enum(views.ViewKind),
                                    "params": VIEW_PARAMS,
                                    "shared": {"type": "boolean"},
                                    "pinned": {"type": "boolean"},
                                },
                            }
                        }
                    },
                },
                "responses": {"201": _json(_ref("SavedView"), "saved"), **_errors(400, 401, 403, 409)},
            },
        },
        "/api/v1/views/{view_id}": {
            "parameters": [VIEW_ID],
            "get": {
                "operationId": "showView",
                "summary": "A saved view (yours, a shared one; an administrator: any)",
                "responses": {"200": _json(_ref("SavedView"), "the view"), **_errors(400, 401, 404)},
            },
            "patch": {
                "operationId": "updateView",
                "summary": "Rename, change, share (owner or administrator); pin to your dashboard (anyone who sees it)",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "additionalProperties": False,
                                "properties": {
                                    "name": VIEW_NAME,
                                    "params": VIEW_PARAMS,
                                    "shared": {"type": "boolean"},
                                    "pinned": {"type": "boolean"},
                                },
                            }
                        }
                    },
                },
                "responses": {"200": _json(_ref("SavedView"), "updated"), **_errors(400, 401, 403, 404, 409)},
            },
            "delete": {
                "operationId": "deleteView",
                "summary": "Delete a saved view (owner or administrator)",
                "responses": {"204": {"description": "deleted"}, **_errors(400, 401, 403, 404)},
            },
        },
        "/api/v1/views/{view_id}/results": {
            "get": {
                "operationId": "viewResults",
                "summary": "The view evaluated with your rights: total and the first documents",
                "parameters": [
                    VIEW_ID,
                    _q(
                        "limit",
                        f"1-{views.MAX_RESULTS}, default {views.WIDGET_ROWS}",
                        {"type": "integer", "minimum": 1, "maximum": views.MAX_RESULTS},
                    ),
                ],
                "responses": {"200": _json(_ref("ViewResult"), "total and results"), **_errors(400, 401, 404, 503)},
            }
        },
        **_term_paths("tags", "tag", "Tag", "标签"),
        **_term_paths("counterparties", "counterparty", "Counterparty", "相对方"),
        **_field_paths(),
        "/api/v1/users": {
            "get": {
                "operationId": "listUsers",
                "summary": "Users (admin)",
                "responses": {
                    "200": _json(
                        {"type": "object", "properties": {"items": {"type": "array", "items": _ref("User")}}}, "users"
                    ),
                    **_errors(401, 403),
                },
            },
            "post": {
                "operationId": "createUser",
                "summary": "Create a user (admin); without a password one is generated and returned once",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["username", "role"],
                                "properties": {
                                    "username": {"type": "string", "pattern": USERNAME_RE.pattern},
                                    "role": _enum(Role),
                                    "display_name": {**NAME, "type": ["string", "null"]},
                                    "password": {
                                        "type": "string",
                                        "minLength": MIN_PASSWORD,
                                        "maxLength": MAX_PASSWORD,
                                    },
                                    "projects": PROJECTS,
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "201": _json(
                        {"type": "object", "properties": {"user": _ref("User"), "password": {"type": "string"}}},
                        "created",
                    ),
                    **_errors(400, 401, 403, 409),
                },
            },
        },
        "/api/v1/users/{username}": {
            "parameters": [USERNAME],
            "patch": {
                "operationId": "updateUser",
                "summary": "Change role, active flag, display name, projects (admin)",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "additionalProperties": False,
                                "properties": {
                                    "role": _enum(Role),
                                    "active": {"type": "boolean"},
                                    "display_name": NAME,
                                    "projects": PROJECTS,
                                },
                            }
                        }
                    },
                },
                "responses": {"200": _json(_ref("User"), "updated"), **_errors(400, 401, 403, 404, 409)},
            },
        },
    }


FIELD_KEY = {
    "type": "string",
    "pattern": "^[a-z][a-z0-9_]{0,39}$",
    "not": {"pattern": "_(min|max)$"},
    "description": "e.g. contract_value (not ending in _min or _max: those name a filter's range)",
}
FIELD_LABEL = {"type": "string", "maxLength": core_fields.MAX_LABEL, "pattern": no_controls_pattern()}
FIELD_LABEL_ZH = {
    "type": "string",
    "maxLength": core_fields.MAX_LABEL,
    "pattern": "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$",
    "description": "e.g. 合同金额",
}
FIELD_CHOICES = {
    "anyOf": [
        {"type": "array", "maxItems": core_fields.MAX_CHOICES, "items": {**LINE, "maxLength": core_fields.MAX_CHOICE}},
        {**LINE, "description": "separated by commas, 、 or lines"},
    ],
    "description": "choice fields only: the values one may pick, e.g. 金、银、铜",
}
FIELD_EDIT = {
    "label_zh": FIELD_LABEL_ZH,
    "label_en": FIELD_LABEL,
    "choices": FIELD_CHOICES,
    "required": {"type": "boolean"},
    "position": {"type": "integer", "minimum": -9999, "maximum": 9999},
}


def _field_paths() -> dict[str, Any]:
    """The routes of custom field definitions (docsvc.web.api.fields, docsvc.services.fields)."""

    def body(required: list[str], props: dict[str, Any]) -> dict[str, Any]:
        schema = {"type": "object", "required": required, "additionalProperties": False, "properties": props}
        return {"required": True, "content": {"application/json": {"schema": schema}}}

    key = {"name": "key", "in": "path", "required": True, "schema": FIELD_KEY}
    one = {"200": _json(_ref("FieldDefinition"), "the definition"), **_errors(400, 401, 403, 404, 409)}
    return {
        "/api/v1/fields": {
            "get": {
                "operationId": "listFields",
                "summary": "Custom field definitions per document type / 自定义字段",
                "parameters": [
                    _q("doc_type", "only this document type's"),
                    _q("retired", "false: leave out retired fields (default true)", FLAG),
                ],
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "properties": {"items": {"type": "array", "items": _ref("FieldDefinition")}},
                        },
                        "the definitions, by type, position and key",
                    ),
                    **_errors(400, 401),
                },
            },
            "post": {
                "operationId": "createField",
                "summary": "Define a custom field of a document type (admin) / 新建自定义字段",
                "description": "key: unique over all types, never changes (nor do doc_type and kind). Values of "
                "documents: metadata.fields; list filters field.KEY, field.KEY_min, field.KEY_max.",
                "requestBody": body(
                    ["doc_type", "key", "label_zh", "kind"],
                    {
                        "doc_type": {"type": "string"},
                        "key": FIELD_KEY,
                        "kind": {"type": "string", "enum": [k.value for k in core_fields.FieldKind]},
                        **FIELD_EDIT,
                    },
                ),
                "responses": {"201": _json(_ref("FieldDefinition"), "created"), **_errors(400, 401, 403, 409)},
            },
        },
        "/api/v1/fields/{key}": {
            "parameters": [key],
            "get": {"operationId": "showField", "summary": "One custom field definition", "responses": one},
            "patch": {
                "operationId": "updateField",
                "summary": "Change a field's labels, choices, required flag or position (admin); audited",
                "requestBody": body([], FIELD_EDIT),
                "responses": one,
            },
        },
        "/api/v1/fields/{key}/retire": {
            "parameters": [key],
            "post": {
                "operationId": "retireField",
                "summary": "Retire a field (admin): no longer offered, documents keep their values",
                "responses": one,
            },
        },
        "/api/v1/fields/{key}/restore": {
            "parameters": [key],
            "post": {"operationId": "restoreField", "summary": "Offer a retired field again (admin)", "responses": one},
        },
    }


def _term_paths(plural: str, kind: str, op: str, zh: str) -> dict[str, Any]:
    """The routes of docsvc.web.api.terms._terms_routes for one kind."""
    name = TERM_NAMES[kind]

    def body(required: list[str], **props: Any) -> dict[str, Any]:
        return {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": required,
                        "additionalProperties": False,
                        "properties": props,
                    }
                }
            },
        }

    change = {
        "200": _json(_ref("TermChange"), "every affected document changed, each audited"),
        **_errors(400, 401, 403, 404, 409, 503),
    }
    base = f"/api/v1/{plural}"
    paths: dict[str, Any] = {
        base: {
            "get": {
                "operationId": f"suggest{op}s",
                "summary": f"{zh}: names for an autocomplete (only those on "
                "documents you may read, and unused catalog names)",
                "parameters": [
                    _q("prefix", "what was typed so far", {**LINE, "maxLength": terms.MAX_COUNTERPARTY}),
                    _q(
                        "limit",
                        f"1-{terms.MAX_SUGGESTIONS}",
                        {"type": "integer", "minimum": 1, "maximum": terms.MAX_SUGGESTIONS},
                    ),
                ],
                "responses": {
                    "200": _json(
                        {"type": "object", "properties": {"items": {"type": "array", "items": {"type": "string"}}}},
                        "names",
                    ),
                    **_errors(400, 401, 403),
                },
            },
            "post": {
                "operationId": f"create{op}",
                "summary": f"Add a {kind} to the catalog (manager, admin) / 新建{zh}",
                "requestBody": body(["name"], name=name, **({"colour": COLOUR} if kind == "tag" else {})),
                "responses": {"201": _json(_ref("Term"), "created"), **_errors(400, 401, 403, 409, 503)},
            },
        },
        f"{base}/catalog": {
            "get": {
                "operationId": f"list{op}s",
                "summary": f"Every {kind} with its document count, pinyin order (manager, admin)",
                "responses": {
                    "200": _json(
                        {"type": "object", "properties": {"items": {"type": "array", "items": _ref("Term")}}},
                        "the catalog",
                    ),
                    **_errors(401, 403, 503),
                },
            }
        },
        f"{base}/rename": {
            "post": {
                "operationId": f"rename{op}",
                "summary": f"Rename a {kind} on every document carrying it (manager, admin)",
                "requestBody": body(["name", "new_name"], name=name, new_name=name),
                "responses": change,
            }
        },
        f"{base}/merge": {
            "post": {
                "operationId": f"merge{op}",
                "summary": f"Merge a {kind} into another on every document (manager, admin)",
                "requestBody": body(["name", "into"], name=name, into=name),
                "responses": change,
            }
        },
        f"{base}/remove": {
            "post": {
                "operationId": f"remove{op}",
                "summary": f"Remove a {kind} no document carries (manager, admin)",
                "requestBody": body(["name"], name=name),
                "responses": {"200": _json(_ref("Term"), "removed"), **_errors(400, 401, 403, 404, 409, 503)},
            }
        },
    }
    if kind == "tag":
        paths[f"{base}/colour"] = {
            "post": {
                "operationId": "colourTag",
                "summary": "Give a tag another colour of the palette (manager, admin)",
                "requestBody": body(["name", "colour"], name=name, colour=COLOUR),
                "responses": {"200": _json(_ref("Term"), "recoloured"), **_errors(400, 401, 403, 404, 503)},
            }
        }
    return paths


@lru_cache(maxsize=4)
def spec(doc_types: tuple[str, ...] = tuple(c.code for c in BUILTIN_DOC_TYPES)) -> dict[str, Any]:
    """The document; ``doc_types``: the codes in force (the built-in ones plus DOCSVC_EXTRA_DOC_TYPES),
    which a document's doc_type must be one of."""
    doc = deepcopy(_spec())
    types = list(doc_types)
    doc["components"]["schemas"]["Metadata"]["properties"]["doc_type"] = {"type": "string", "enum": types}
    form = doc["paths"]["/api/v1/documents"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    form["properties"]["doc_type"] = {"type": "string", "enum": types}
    labels = doc["paths"]["/api/v1/documents/{doc_id}/labels"]["post"]["requestBody"]["content"]
    labels["application/json"]["schema"]["properties"]["doc_type"] = {
        "type": ["string", "null"],
        "enum": [*types, "", None],
    }
    for item in doc["paths"].values():  # any parameter may be malformed, or given twice
        for method, op in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                op["responses"].setdefault("400", _json(_ref("Error"), "Invalid input / 输入无效"))
    bulk = doc["paths"]["/api/v1/documents/bulk"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    bulk["properties"]["set"]["properties"]["doc_type"] = {"type": "string", "enum": types}
    field = doc["paths"]["/api/v1/fields"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    field["properties"]["doc_type"] = {"type": "string", "enum": types}
    field_list = doc["paths"]["/api/v1/fields"]["get"]["parameters"]
    next(p for p in field_list if p["name"] == "doc_type")["schema"] = {"type": "string", "enum": ["", *types]}
    listing = doc["paths"]["/api/v1/documents"]["get"]["parameters"]
    next(p for p in listing if p["name"] == "doc_type")["schema"] = {"type": "string", "enum": ["", *types]}
    return doc


def _spec() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "docsvc REST API",
            "version": "1",
            "description": "信息服务管理文档与报告服务 — documents, versions, audit log. "
            "Authenticate with 'Authorization: Bearer <token>' (docsvc user token NAME). "
            'Errors: {"error": {"code", "message" (中文), "message_en", "field"?, "details"?}}.',
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}, "schemas": SCHEMAS},
        "paths": _paths(),
    }
