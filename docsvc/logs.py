"""Logging, configured once per process from the settings (``DOCSVC_LOG_LEVEL``, ``DOCSVC_LOG_FORMAT``).

Every module logs through ``log = logging.getLogger(__name__)`` and never configures logging
itself: ``docsvc serve`` and every CLI command call :func:`configure` once at start (a test or an
embedding program configures it as it likes). Lines go to stderr, either as plain text or as one
JSON object per line (for a log collector). The level applies to docsvc's own loggers; other
libraries log warnings and above only, since their debug output can hold request headers and
document text.

What a line may carry: ids, counts, durations, settings without secrets, error messages. Never
document text, passwords, tokens, session secrets or cookie values (tests/test_logging.py
checks this against a whole session logged at DEBUG).

Structured fields are passed as ``extra={...}``: the JSON format has them as keys, the plain
format appends them as ``key=value``. The web layer puts the request id in :data:`request_id`
for the duration of a request, so every line logged while serving it carries the id.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from collections.abc import Mapping
from typing import Any

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

# The id of the request being served in this thread (None outside a request).
request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("docsvc_request_id", default=None)

# LogRecord attributes that are not a caller's extra fields.
_STANDARD = frozenset(RESERVED_ATTRS) | {"taskName", "request_id", "color_message"}


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id.get()
        return True


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD and not k.startswith("_")}


class PlainFormatter(logging.Formatter):
    """``2026-12-05 02:30:00,123 INFO docsvc.web.access [req-id] message key=value …``"""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(rid)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        rid = getattr(record, "request_id", None)
        record.rid = f" [{rid}]" if rid else ""
        try:
            line = super().format(record)
        finally:
            delattr(record, "rid")
        fields = " ".join(f"{k}={_plain(v)}" for k, v in _extras(record).items() if k != "rid")
        if not fields:
            return line
        head, sep, tail = line.partition("\n")  # a traceback stays below the fields
        return f"{head} {fields}{sep}{tail}"


def _plain(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return json.dumps(text, ensure_ascii=False) if not text or any(c in text for c in ' "=\n') else text


def json_formatter() -> logging.Formatter:
    """One JSON object per line: ``ts``, ``level``, ``logger``, ``message``, ``request_id``, the
    extra fields, and ``exc_info`` when an exception is logged."""
    return JsonFormatter(
        "%(levelname)s %(name)s %(message)s %(request_id)s",
        rename_fields={"levelname": "level", "name": "logger"},
        timestamp="ts",
        reserved_attrs=sorted(_STANDARD - {"request_id"}),
        json_ensure_ascii=False,
    )


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a line is logged (a test runner swaps it)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


_handler: logging.Handler | None = None


def configure(settings: Mapping[str, Any], *, server: bool) -> None:
    """Send log lines to stderr at the settings' level and format; calling it again replaces the
    previous configuration instead of adding a second handler. Without a level set, a
    ``server`` logs from info up, a one-off command only warnings (its output is its report)."""
    global _handler
    root = logging.getLogger()
    if _handler is not None:
        root.removeHandler(_handler)
    _handler = _StderrHandler()
    _handler.addFilter(_RequestIdFilter())
    _handler.setFormatter(json_formatter() if settings["LOG_FORMAT"] == "json" else PlainFormatter())
    root.addHandler(_handler)
    level = getattr(logging, (settings["LOG_LEVEL"] or ("info" if server else "warning")).upper())
    root.setLevel(max(level, logging.WARNING))  # other libraries: warnings and above
    logging.getLogger("docsvc").setLevel(level)
    logging.captureWarnings(True)
