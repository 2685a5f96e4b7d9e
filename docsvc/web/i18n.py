"""Language and display helpers: Chinese by default, English on request (a ``lang`` cookie).

Message catalogues: source strings are Chinese (the default language needs no catalogue);
``translations/en/LC_MESSAGES/messages.po`` holds the English, compiled to ``messages.mo``
(committed, so an install needs no build step). Domain errors and enum labels already carry
both languages and are picked with :func:`pick`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Flask, g, has_request_context, request
from flask_babel import get_locale, get_timezone, get_translations
from flask_babel import gettext as _babel_gettext

from docsvc.core.model import AuditAction, DocClass, DocStatus, PdcaPhase, ServiceCategory, ServiceScope
from docsvc.errors import DocsvcError
from docsvc.services.access import operation_label as _operation
from docsvc.services.users import AccountAction, Role

LANGUAGES = ("zh", "en")
LANG_COOKIE = "docsvc_lang"


def select_locale() -> str:
    lang = request.cookies.get(LANG_COOKIE, "")
    return lang if lang in LANGUAGES else "zh"


def is_en() -> bool:
    return _request_i18n()[1] if has_request_context() else str(get_locale()) == "en"


def _request_i18n() -> tuple[Any, bool, dt.tzinfo]:
    """This request's catalogue, whether it is English and its time zone, looked up once per
    request: a list page asks for hundreds of words and times, and Flask-Babel's own lookup walks
    its context each time."""
    kept = g.get("_docsvc_i18n")
    if kept is None:
        kept = g._docsvc_i18n = (get_translations(), str(get_locale()) == "en", get_timezone())
    return kept


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


def operation_label(code: str) -> str:
    zh, en = _operation(code)
    return en if is_en() else zh


def role_label(code: str) -> str:
    try:
        return pick(Role(code))
    except ValueError:
        return code


def when(value: Any) -> str:
    """A timestamp (datetime or ISO text) in the configured time zone."""
    if value in (None, ""):
        return ""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        zone = _request_i18n()[2] if has_request_context() else get_timezone()
        return value.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def doc_type_label(code: str) -> str:
    """Document types are a configurable vocabulary, not an enum: look the code up."""
    from flask import current_app

    try:
        return pick(current_app.extensions["docsvc"].vocab.doc_type(code))
    except DocsvcError:
        return code


def category_label(code: str) -> str:
    """A service category (spec §4) as its code and name, e.g. 4.2 计算机信息系统运营和维护服务."""
    try:
        return f"{code} {pick(ServiceCategory(code))}"
    except ValueError:
        return code


# Names of metadata fields, for a page that lists changes (the audit log, a timeline).
FIELD_LABELS: dict[str, tuple[str, str]] = {
    "title": ("标题", "Title"),
    "doc_type": ("文档类型", "Document type"),
    "service_category": ("服务类别", "Service category"),
    "doc_class": ("文档类别", "Document class"),
    "service_scope": ("服务范畴", "Service scope"),
    "pdca_phase": ("PDCA 阶段", "PDCA phase"),
    "project": ("项目", "Project"),
    "counterparty": ("相对方", "Counterparty"),
    "tags": ("标签", "Tags"),
    "status": ("状态", "Status"),
    "effective_date": ("生效日期", "Effective date"),
    "review_due": ("复审到期日", "Review due"),
    "owner": ("负责人", "Owner"),
    "display_name": ("显示名称", "Display name"),
    "role": ("角色", "Role"),
    "projects": ("项目", "Projects"),
    "active": ("启用", "Active"),
}
_ENUM_FIELDS = {
    "service_scope": ServiceScope,
    "pdca_phase": PdcaPhase,
    "doc_class": DocClass,
    "status": DocStatus,
    "role": Role,
}
# Reasons docsvc itself writes, stored in both languages ("中文 / English"): shown in one.
SYSTEM_REASONS: dict[str, tuple[str, str]] = {
    "初始版本 / initial version": ("初始版本", "Initial version"),
    "批量导入 / bulk import": ("批量导入", "Bulk import"),
    "更正分类建议 / corrected suggestion": ("更正分类建议", "Corrected suggestion"),
    "批量修改 / bulk change": ("批量修改", "Bulk change"),  # docsvc.services.selection.BULK_REASON
    # docsvc.services.terms: a rename or merge of a tag or counterparty, per document ("：旧 → 新" follows)
    "标签改名 / tag renamed": ("标签改名", "Tag renamed"),
    "标签合并 / tags merged": ("标签合并", "Tags merged"),
    "相对方改名 / counterparty renamed": ("相对方改名", "Counterparty renamed"),
    "相对方合并 / counterparties merged": ("相对方合并", "Counterparties merged"),
}
# Why a sign-in failed (the audit details of login.failed / login.locked).
LOGIN_REASONS: dict[str, tuple[str, str]] = {
    "wrong_password": ("密码错误", "wrong password"),
    "unknown_user": ("用户不存在", "unknown user"),
    "inactive": ("账户已停用", "account disabled"),
    "locked": ("已锁定", "locked"),
}
# Where a request came from (audit details "via").
VIA_LABELS: dict[str, tuple[str, str]] = {
    "ui": ("网页", "web"),
    "api": ("API", "API"),
    "cli": ("命令行", "command line"),
    "account": ("账户页", "account page"),
}
# States the health page shows (index writer, PDF converter, job runner) and the job kinds.
STATE_LABELS: dict[str, tuple[str, str]] = {
    "running": ("运行中", "running"),
    "idle": ("空闲", "idle"),
    "syncing": ("同步中", "syncing"),
    "rebuilding": ("重建中", "rebuilding"),
    "embedding": ("生成语义向量", "embedding"),
    "stopped": ("已停止", "stopped"),
    "starting": ("启动中", "starting"),
    "down": ("不可用", "down"),
    "not started": ("未启动", "not started"),
    "cold": ("冷启动", "cold"),
    "warm": ("常驻", "warm"),
    "silent": ("失联", "silent"),
    "rendition.pdf": ("生成 PDF", "make a PDF"),
    "review.reminders": ("复审提醒", "review reminders"),
    "orphans.sweep": ("清理孤立文件", "orphan sweep"),
    "jobs.prune": ("清理旧任务", "prune old jobs"),
    "classifier.train": ("重新训练分类模型", "retrain the classifier"),
    "template.batch": ("批量生成", "batch generation"),
}


def _labelled(table: dict[str, tuple[str, str]], code: Any) -> str:
    pair = table.get(str(code))
    return (pair[1] if is_en() else pair[0]) if pair else str(code)


def field_label(name: str) -> str:
    return _labelled(FIELD_LABELS, name)


def field_value(name: str, value: Any) -> str:
    """A metadata value as a person reads it: a code as its label, a list joined, empty as —."""
    if value in (None, "", [], ()):
        return "—"
    if isinstance(value, (list, tuple)):
        return (", " if is_en() else "、").join(str(v) for v in value)
    if name == "doc_type":
        return doc_type_label(str(value))
    if name == "service_category":
        return category_label(str(value))
    if name in _ENUM_FIELDS:
        try:
            return pick(_ENUM_FIELDS[name](value))
        except ValueError:
            return str(value)
    return str(value)


def reason_text(reason: str) -> str:
    if reason in SYSTEM_REASONS:
        return _labelled(SYSTEM_REASONS, reason)
    head, sep, rest = (reason or "").partition("：")  # a system reason with the person's own after it
    if sep and head in SYSTEM_REASONS:
        return f"{_labelled(SYSTEM_REASONS, head)}{'：' if not is_en() else ': '}{rest}"
    return reason


def percent(value: float) -> str:
    return f"{round(float(value) * 100)}%"


def register(app: Flask) -> None:
    """After Flask-Babel: templates' ``_()`` then takes the request's catalogue once (newstyle
    gettext, as Flask-Babel installs it: Jinja escapes and formats the variables)."""
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=lambda text: _request_i18n()[0].ugettext(text) if has_request_context() else _babel_gettext(text),
        ngettext=lambda s, p, n: get_translations().ungettext(s, p, n),
        # A word that reads differently by where it stands (版本: a card's "Versions", a column's "Version").
        pgettext=lambda context, text: get_translations().pgettext(context, text),
        newstyle=True,
    )
    app.jinja_env.globals.update(
        pick=pick,
        action_label=action_label,
        is_en=is_en,
        lang=select_locale,
        doc_type_label=doc_type_label,
        category_label=category_label,
        field_label=field_label,
        field_value=field_value,
        operation_label=operation_label,
        login_reason=lambda r: _labelled(LOGIN_REASONS, r),
        via_label=lambda v: _labelled(VIA_LABELS, v),
        state_label=lambda s: _labelled(STATE_LABELS, s),
        role_label=role_label,
    )
    app.jinja_env.filters["reason"] = reason_text
    app.jinja_env.filters["when"] = when
    app.jinja_env.filters["percent"] = percent
    app.jinja_env.filters["pick"] = pick
