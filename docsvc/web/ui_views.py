"""Saved views in the UI: the 保存为视图 form on the search and document-list pages, the views in
the navigation (the mobile menu too), and the page that manages them (rename, share, pin to the
dashboard, delete). Each view calls one use case of docsvc.services.views through the Guard.
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for

from docsvc.errors import Conflict, DocsvcError, InvalidInput
from docsvc.services.views import SavedView, ViewKind
from docsvc.web.auth import guard, login_required, session_principal
from docsvc.web.i18n import pick

bp = Blueprint("ui_views", __name__, template_folder="templates")
bp.before_request(login_required(lambda: None))

ACTIONS = ("rename", "share", "unshare", "pin", "unpin", "delete")


def view_url(view: SavedView) -> str:
    """Where a view opens: its page with its parameters."""
    page = url_for("ui_search.search" if view.kind is ViewKind.SEARCH else "ui_docs.documents")
    return f"{page}?{view.query_string}" if view.params else page


def _nav_views() -> list[SavedView]:
    """The views for the navigation; none on a page that cannot ask (signed out, the catalog away)."""
    p = session_principal()
    if p is None or p.user_id is None:
        return []
    try:
        return guard().views.list()
    except DocsvcError:
        return []


@bp.app_context_processor
def _views_in_templates():
    return {"nav_views": _nav_views, "view_url": view_url}


def _flag(name: str) -> bool:
    return request.form.get(name) in ("1", "on", "true")


def _message(zh: str, en: str) -> str:
    return pick(InvalidInput(zh, en))


def _page(error: DocsvcError | None = None, form: dict | None = None, status: int = 200):
    return render_template("views.html", views=guard().views.list(), error=error, form=form or {}), status


@bp.get("/views")
def manage():
    return _page()


@bp.post("/views")
def create():
    """Save the page's parameters (sent as its query string) under a name."""
    form = {k: request.form.get(k, "") for k in ("name", "kind", "params")}
    try:
        view = guard().views.create(
            form["name"], form["kind"], form["params"], shared=_flag("shared"), pinned=_flag("pinned")
        )
    except (InvalidInput, Conflict) as exc:
        return _page(exc, form, 409 if isinstance(exc, Conflict) else 400)
    flash(_message(f"已保存视图“{view.name}”。", f"View “{view.name}” saved."), "ok")
    return redirect(view_url(view))


@bp.get("/views/<int:view_id>")
def open_view(view_id: int):
    return redirect(view_url(guard().views.get(view_id)))


@bp.post("/views/<int:view_id>")
def change(view_id: int):
    action = request.form.get("action", "")
    views = guard().views
    try:
        if action not in ACTIONS:
            raise InvalidInput(f"未知操作“{action[:40]}”。", f"Unknown action '{action[:40]}'.", field="action")
        if action == "delete":
            view = views.delete(view_id)
            flash(_message(f"已删除视图“{view.name}”。", f"View “{view.name}” deleted."), "ok")
        elif action == "rename":
            view = views.update(view_id, name=request.form.get("name", ""))
            flash(_message(f"视图已改名为“{view.name}”。", f"View renamed to “{view.name}”."), "ok")
        elif action in ("share", "unshare"):
            view = views.update(view_id, shared=action == "share")
            flash(
                _message(f"视图“{view.name}”已共享给所有用户。", f"View “{view.name}” is shared with everyone.")
                if view.shared
                else _message(f"视图“{view.name}”已取消共享。", f"View “{view.name}” is no longer shared."),
                "ok",
            )
        else:
            view = views.pin(view_id, pinned=action == "pin")
            flash(
                _message(f"视图“{view.name}”已显示在仪表板。", f"View “{view.name}” is on the dashboard.")
                if view.pinned
                else _message(f"视图“{view.name}”已从仪表板移除。", f"View “{view.name}” was taken off the dashboard."),
                "ok",
            )
    except (InvalidInput, Conflict) as exc:
        return _page(
            exc, {"id": view_id, "name": request.form.get("name", "")}, 409 if isinstance(exc, Conflict) else 400
        )
    back = request.form.get("next", "")
    return redirect(back if back == url_for("ui_docs.dashboard") else url_for("ui_views.manage"))
