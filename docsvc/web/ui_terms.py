"""Managed tags and counterparties in the UI: the pages /tags and /counterparties (the names
with their document counts and colours, forms to create, rename, merge, recolour and remove),
offered to managers and administrators (the colours every page shows tags in: docsvc.web.labels).
Each form calls one use case of docsvc.services.terms through the Guard.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for

from docsvc.errors import Conflict, DocsvcError, InvalidInput, NotFound
from docsvc.services.terms import PALETTE, TermKind
from docsvc.web.auth import guard, login_required
from docsvc.web.i18n import pick

bp = Blueprint("ui_terms", __name__, template_folder="templates")
bp.before_request(login_required(lambda: None))

ACTIONS = ("create", "rename", "merge", "colour", "remove")
PAGES = {TermKind.TAG: "ui_terms.tags", TermKind.COUNTERPARTY: "ui_terms.counterparties"}


@bp.app_context_processor
def _terms_in_templates() -> dict[str, Any]:
    return {"palette": PALETTE}


def _message(zh: str, en: str) -> str:
    return pick(InvalidInput(zh, en))


def _page(kind: TermKind, error: DocsvcError | None = None, form: dict[str, str] | None = None, status: int = 200):
    return render_template(
        "terms.html", kind=kind, terms=guard().terms(kind).list(), error=error, form=form or {}, page=PAGES[kind]
    ), status


@bp.get("/tags")
def tags():
    return _page(TermKind.TAG)


@bp.get("/counterparties")
def counterparties():
    return _page(TermKind.COUNTERPARTY)


@bp.post("/tags")
def change_tags():
    return _change(TermKind.TAG)


@bp.post("/counterparties")
def change_counterparties():
    return _change(TermKind.COUNTERPARTY)


def _change(kind: TermKind):
    form = {k: request.form.get(k, "") for k in ("action", "name", "new_name", "into", "colour")}
    terms = guard().terms(kind)
    try:
        action = form["action"]
        if action not in ACTIONS or (action == "colour" and kind is not TermKind.TAG):
            raise InvalidInput(f"未知操作“{action[:40]}”。", f"Unknown action '{action[:40]}'.", field="action")
        if action == "create":
            term = terms.create(form["name"], form["colour"] if kind is TermKind.TAG else None)
            flash(_message(f"已新建{kind.zh}“{term.name}”。", f"{kind.en.capitalize()} “{term.name}” created."), "ok")
        elif action in ("rename", "merge"):
            change = (
                terms.rename(form["name"], form["new_name"])
                if action == "rename"
                else terms.merge(form["name"], form["into"])
            )
            n = len(change.report.items)
            flash(
                _message(
                    f"“{change.previous}”已{'改名为' if action == 'rename' else '合并到'}“{change.term.name}”，"
                    f"{n} 份文档已更新并各自记入审计日志。",
                    f"“{change.previous}” {'renamed to' if action == 'rename' else 'merged into'} "
                    f"“{change.term.name}”; {n} document(s) updated, each in the audit log.",
                ),
                "ok",
            )
        elif action == "colour":
            term = terms.recolour(form["name"], form["colour"])
            flash(_message(f"标签“{term.name}”的颜色已修改。", f"The colour of tag “{term.name}” was changed."), "ok")
        else:
            term = terms.remove(form["name"])
            flash(_message(f"已删除{kind.zh}“{term.name}”。", f"{kind.en.capitalize()} “{term.name}” removed."), "ok")
    except (InvalidInput, Conflict, NotFound) as exc:
        status = 409 if isinstance(exc, Conflict) else 404 if isinstance(exc, NotFound) else 400
        return _page(kind, exc, form, status)
    return redirect(url_for(PAGES[kind]))
