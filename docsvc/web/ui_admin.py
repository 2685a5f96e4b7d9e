"""Administration pages: users and roles, system health."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for

from docsvc.core.inputs import parse_int
from docsvc.errors import Conflict, InvalidInput, NotFound
from docsvc.services.jobs import JobState
from docsvc.services.users import Role
from docsvc.web.auth import guard, login_required
from docsvc.web.i18n import pick

bp = Blueprint("ui_admin", __name__, template_folder="templates")
bp.before_request(login_required(lambda: None))


def _errors(exc: InvalidInput | Conflict | NotFound) -> dict[str, str]:
    return {exc.field or "_": pick(exc)}


@bp.route("/admin/users", methods=["GET", "POST"])
def users():
    gd = guard()
    errors: dict[str, str] = {}
    created = password = None
    form = request.form
    if request.method == "POST":
        try:
            created, password = gd.create_user(
                form.get("username", ""),
                form.get("role", ""),
                password=form.get("password") or None,
                display_name=form.get("display_name", ""),
                projects=form.get("projects", ""),
            )
        except (InvalidInput, Conflict) as exc:
            errors = _errors(exc)
    return render_template(
        "admin_users.html",
        users=gd.users(),
        roles=list(Role),
        errors=errors,
        created=created,
        password=password,
        values=form if errors else {},
    ), (400 if errors else 200)


@bp.route("/admin/users/<username>", methods=["GET", "POST"])
def user(username: str):
    gd = guard()
    errors: dict[str, str] = {}
    new_token = None
    form = request.form
    if request.method == "POST":
        action = form.get("action")
        try:
            if action == "update":
                gd.update_user(
                    username,
                    role=form.get("role"),
                    active=form.get("active") == "on",
                    display_name=form.get("display_name", ""),
                    projects=form.get("projects", ""),
                )
                flash(pick(InvalidInput("用户已更新。", "User updated.")), "ok")
                return redirect(url_for("ui_admin.user", username=username))
            if action == "password":
                gd.reset_password(username, form.get("password", ""))
                flash(pick(InvalidInput("密码已重置。", "Password reset.")), "ok")
                return redirect(url_for("ui_admin.user", username=username))
            if action == "unlock":
                gd.unlock_user(username)
                flash(pick(InvalidInput("已解除登录锁定。", "Sign-in lock lifted.")), "ok")
                return redirect(url_for("ui_admin.user", username=username))
            if action == "end_sessions":
                n = gd.end_sessions(username)
                flash(pick(InvalidInput(f"已结束 {n} 个登录会话。", f"{n} session(s) ended.")), "ok")
                return redirect(url_for("ui_admin.user", username=username))
            if action == "token":
                new_token = gd.issue_token(username, form.get("name", ""))
            if action == "revoke":
                gd.revoke_token(username, parse_int(form.get("token_id", ""), "token_id"))
                flash(pick(InvalidInput("令牌已吊销。", "Token revoked.")), "ok")
                return redirect(url_for("ui_admin.user", username=username))
        except (InvalidInput, Conflict) as exc:
            errors = _errors(exc)
    u, tokens = gd.user(username)
    return render_template(
        "admin_user.html",
        u=u,
        tokens=tokens,
        roles=list(Role),
        errors=errors,
        new_token=new_token,
        locked_until=gd.login_lock(username),
        sessions=gd.open_sessions(username),
    ), (400 if errors else 200)


@bp.route("/admin/health", methods=["GET", "POST"])
def health():
    gd = guard()
    report = gd.integrity_check() if request.method == "POST" else None
    return render_template("admin_health.html", h=gd.health(), report=report, job_states={s.value: s for s in JobState})
