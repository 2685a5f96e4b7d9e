"""Language and display helpers: Chinese by default, English on request (a ``lang`` cookie).

Message catalogues: source strings are Chinese (the default language needs no catalogue);
``translations/en/LC_MESSAGES/messages.po`` holds the English, compiled to ``messages.mo``
(committed, so an install needs no build step). Domain errors and enum labels already carry
both languages and are picked with :func:`pick`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Flask, request
from flask_babel import format_datetime, get_locale

from docsvc.core.model import AuditAction
from docsvc.errors import DocsvcError
from docsvc.services.users import AccountAction

LANGUAGES = ("zh", "en")
LANG_COOKIE = "docsvc_lang"


def select_locale() -> str:
    lang = request.cookies.get(LANG_COOKIE, "")
    return lang if lang in LANGUAGES else "zh"


def is_en() -> bool:
    return str(get_locale()) == "en"


def pick(value: Any) -> str:
    """The current language's text of an error, enum member or choice (they carry .zh/.en)."""
    if value is None:
        return ""
    if isinstance(value, DocsvcError):
        return value.en if is_en() else value.zh
    if hasattr(value, "zh") and hasattr(value, "en"):
        return value.en if is_en() else value.zh
    return str(value)


def action_label(action: str) -> str:
    for enum in (AuditAction, AccountAction):
        try:
            return pick(enum(action))
        except ValueError:
            continue
    return action


def when(value: Any) -> str:
    """A timestamp (datetime or ISO text) in the configured time zone."""
    if value in (None, ""):
        return ""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return format_datetime(value, "yyyy-MM-dd HH:mm:ss")
    return str(value)


def doc_type_label(code: str) -> str:
    """Document types are a configurable vocabulary, not an enum: look the code up."""
    from flask import current_app

    try:
        return pick(current_app.extensions["docsvc"].vocab.doc_type(code))
    except DocsvcError:
        return code


def register(app: Flask) -> None:
    app.jinja_env.globals.update(pick=pick, action_label=action_label, is_en=is_en, lang=select_locale,
                                 doc_type_label=doc_type_label)
    app.jinja_env.filters["when"] = when
    app.jinja_env.filters["pick"] = pick
