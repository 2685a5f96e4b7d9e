"""Word templates: field discovery, lint and sandboxed rendering.

A template is untrusted input twice over: its zip package can be a bomb, and its Jinja tags are
code. So:

* :func:`docsvc.core.content.check_docx_package` reads the zip central directory and
  stream-inflates every member with a byte counter *before* python-docx or docxtpl touch the
  bytes (python-docx would inflate a bomb completely, then parse it).
* Everything that parses or runs a template happens in a long-lived worker process
  (:mod:`~docsvc.core.templating.pool`) under RLIMIT_AS, RLIMIT_CPU and a wall-clock timeout,
  with Jinja's ``SandboxedEnvironment``, ``StrictUndefined`` and autoescape
  (:mod:`~docsvc.core.templating.sandbox`). The sandbox stops attribute tricks; only the process
  limits stop a template that loops or allocates forever.
* The worker sends results back as JSON plus raw bytes, never pickles, so a worker that were
  ever subverted could not run code in the service process by what it sends.

The modules: :mod:`~docsvc.core.templating.results` (the values reported),
:mod:`~docsvc.core.templating.parts` (a template's texts as Jinja sees them, docxtpl with its
traps closed), :mod:`~docsvc.core.templating.syntax` (parsing, broken tags, names),
:mod:`~docsvc.core.templating.fields` (field discovery), :mod:`~docsvc.core.templating.lint`,
:mod:`~docsvc.core.templating.render` and :mod:`~docsvc.core.templating.pool`. The functions below
are the way in: each runs its work in a worker.

Field paths use dots for attributes and ``[]`` for list rows: ``party_a.name``,
``payment_schedule[].amount``. Locations name the package part and the visible text of the
Word paragraph (or table cell paragraph) where a tag sits, as the author sees it in Word.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from docsvc.core.templating.pool import Limits, MiB, RenderPool, call, default_pool
from docsvc.core.templating.results import Checkbox, Field, FieldReport, LintIssue, LintReport, Location
from docsvc.core.templating.sandbox import DocxSandbox
from docsvc.errors import InvalidInput


def render_docx(
    template_bytes: bytes,
    context: Mapping[str, Any],
    *,
    timeout_s: float = 10,
    memory_mb: int = 512,
    max_output_bytes: int = 50 * MiB,
    pool: RenderPool | None = None,
    properties: Mapping[str, str] | None = None,
) -> bytes:
    """Fill a .docx template with ``context`` in a sandboxed, resource-limited worker.

    ``properties`` (title, author, subject) replace the template's core properties. The same
    template, context and properties always give the same bytes.

    Raises :class:`TemplateError` for an unsafe expression (``details["reason"] == "unsafe"``),
    a template too expensive to render (``"timeout"``, ``"memory"``, ``"budget"``,
    ``"worker_died"``), a missing field (``"missing_field"``, with ``details["missing"]``), a
    syntax error; :class:`InvalidInput` for a bad package. Every rendered part has been parsed
    strictly before the package is returned.
    """
    if not isinstance(context, Mapping):
        raise InvalidInput("表单数据必须是键值对象。", "The form data must be a mapping.")
    limits = Limits(timeout_s, memory_mb, max_output_bytes)
    _header, body = call(
        pool, "render", (bytes(template_bytes), dict(context), dict(properties) if properties else None), limits
    )
    return body


def discover_fields(docx_bytes: bytes, *, timeout_s: float = 10, pool: RenderPool | None = None) -> FieldReport:
    """Every field the template reads, with where it is used (header, footer, notes too)."""
    header, _ = call(pool, "discover", bytes(docx_bytes), Limits(timeout_s))
    return _field_report_from_json(header["result"])


def lint_template(
    docx_bytes: bytes,
    declared: set[str] | frozenset[str] | Mapping[str, str] | None = None,
    *,
    timeout_s: float = 10,
    pool: RenderPool | None = None,
) -> LintReport:
    """Check a template for problems an author can fix in Word; see the issue ``code``\\ s.

    ``declared``: the field paths the schema allows, as a set, or as a mapping from each
    usable path to the field it derives from (``TemplateSchema.field_sources()``), so that a
    field used only through ``term_start_cn`` is not reported as unused. None skips the
    declared/used comparison. Raises :class:`InvalidInput` when the package itself is
    unreadable or unsafe.
    """
    sources = (
        None if declared is None else (dict(declared) if isinstance(declared, Mapping) else {p: p for p in declared})
    )
    key = (hashlib.sha256(docx_bytes).digest(), None if sources is None else tuple(sorted(sources.items())))
    with _LINTED_LOCK:
        if key in _LINTED:
            _LINTED.move_to_end(key)
            return _LINTED[key]
    header, _ = call(pool, "lint", (bytes(docx_bytes), sources), Limits(timeout_s))
    report = _lint_report_from_json(header["result"])
    with _LINTED_LOCK:
        _LINTED[key] = report
        while len(_LINTED) > _LINTED_MAX:
            _LINTED.popitem(last=False)
    return report


# Lint is a pure function of the bytes and the schema's fields, and costs a parse of every part
# in a worker: a server that opens a new catalog registers the shipped templates, the same bytes
# every time, and a drafter uploads the same template again after fixing its schema.
_LINTED: OrderedDict[tuple[bytes, tuple[tuple[str, str], ...] | None], LintReport] = OrderedDict()
_LINTED_MAX = 64
_LINTED_LOCK = threading.Lock()


def _lint_report_from_json(result: dict[str, Any]) -> LintReport:
    return LintReport(
        tuple(
            LintIssue(
                i["severity"],
                i["code"],
                i["zh"],
                i["en"],
                _location_from_json(i["location"]),
                i["subject"],
                i["fix_zh"],
                i["fix_en"],
            )
            for i in result["issues"]
        )
    )


def _location_from_json(data: dict[str, str] | None) -> Location | None:
    return None if data is None else _location(data)


def _location(data: dict[str, str]) -> Location:
    return Location(data["part"], data["text"], data["place"])


def _field_report_from_json(data: dict[str, Any]) -> FieldReport:
    return FieldReport(
        tuple(Field(f["path"], tuple(_location(loc) for loc in f["locations"])) for f in data["fields"]),
        tuple(Checkbox(c["path"], tuple(c["choices"])) for c in data["checkboxes"]),
    )


__all__ = [
    "Checkbox",
    "DocxSandbox",
    "Field",
    "FieldReport",
    "LintIssue",
    "LintReport",
    "Limits",
    "Location",
    "RenderPool",
    "default_pool",
    "discover_fields",
    "lint_template",
    "render_docx",
]
