"""Who is asking: sessions for the UI, bearer tokens for the REST API; sign-in, sign-out,
language switch and the "my account" page."""

from __future__ import annotations

from collections.abc import Callable, Collection
from functools import wraps
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_wtf.csrf import CSRFError, validate_csrf
from werkzeug.wrappers import Response

from docsvc.app import Docsvc
from docsvc.core.inputs import parse_int, strip_controls
from docsvc.errors import InvalidInput
from docsvc.services.access import Guard
from docsvc.services.throttle import TooManyAttempts
from docsvc.services.users import Permission, Principal, Unauthenticated
from docsvc.web.i18n import LANG_COOKIE, LANGUAGES, pick

bp = Blueprint("auth", __name__, template_folder="templates")


def svc() -> Docsvc:
    return current_app.extensions["docsvc"]


# -- principals -------------------------------------------------------------------------------
def session_principal() -> Principal | None:
    if "principal" not in g:
        p = None
        uid, sid = session.get("uid"), session.get("sid")
        if isinstance(uid, int) and isinstance(sid, str):
            p = svc().users.principal_for_session(uid, sid)
            if p is None:
                session.clear()  # signed out, timed out, ended by an account change, or account gone
        elif session.get("uid") is not None:
            session.clear()  # a cookie from before server-side sessions: sign in again
        g.principal = p
    return g.principal


def api_principal() -> Principal:
    """Bearer token; or the session cookie, but only together with a valid X-CSRFToken header
    (a cookie is sent by the browser on its own, a header is not)."""
    if "principal" in g and g.principal is not None:
        return g.principal
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated(
                "Authorization 头格式应为：Bearer <令牌>。", "The Authorization header must be: Bearer <token>."
            )
        p = svc().users.principal_for_token(token.strip())
        g.principal = Principal(p.username, p.role, p.projects, p.display_name, p.user_id, "api:" + p.via)
        return g.principal
    if session.get("uid") is not None:
        try:
            validate_csrf(request.headers.get("X-CSRFToken", ""))
        except Exception:  # noqa: BLE001 - ValidationError: missing, expired or forged
            raise CSRFError("使用会话访问 API 时必须提供有效的 X-CSRFToken 请求头。") from None
        p = session_principal()
        if p is not None:
            g.principal = Principal(p.username, p.role, p.projects, p.display_name, p.user_id, "api:session")
            return g.principal
    raise Unauthenticated(
        "需要登录：请在 Authorization 头中提供 API 令牌（Bearer）。",
        "Authentication required: send an API token as 'Authorization: Bearer <token>'.",
    )


def guard() -> Guard:
    """The archive as the current (UI) principal may use it."""
    p = session_principal()
    if p is None:
        raise Unauthenticated("请先登录。", "Please sign in.")
    return svc().guard(p)


def login_required(view: Callable) -> Callable:
    @wraps(view)
    def wrapper(*args, **kwargs):
        if session_principal() is None:
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapper


def _safe_next(target: str | None) -> str:
    """Only a path on this site: never an absolute or scheme-relative URL (open redirect), and
    nothing a Location header cannot carry (CR, LF and other control characters)."""
    if not target or strip_controls(target, allowed="") != target:
        return url_for("ui_docs.dashboard")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return url_for("ui_docs.dashboard")
    return target


# -- pages ------------------------------------------------------------------------------------
@bp.route("/login", methods=["GET", "POST"])
def login():
    error = None
    if request.method == "POST":
        try:
            p, secret = svc().users.login(
                request.form.get("username", ""), request.form.get("password", ""), address=request.remote_addr or ""
            )
        except (Unauthenticated, TooManyAttempts) as exc:
            error = exc
        else:
            session.clear()
            session.permanent = True
            session["uid"], session["sid"] = p.user_id, secret
            if svc().users.get(p.username).password_change_required:
                # A password someone else chose (the one-time admin password, a reset): the
                # account page first, and nothing else until it is replaced.
                session[MUST_CHANGE] = True
                return redirect(url_for("auth.account"))
            return redirect(_safe_next(request.args.get("next")))
    elif session_principal() is not None:
        return redirect(_safe_next(request.args.get("next")))
    page = render_template("login.html", error=error, initial_admin=g.get("initial_admin_created", False))
    if isinstance(error, TooManyAttempts):
        return page, 429, {"Retry-After": str(error.retry_after_s)}
    return page, (401 if error else 200)


@bp.post("/logout")
def logout():
    p = session_principal()
    if p is not None:
        svc().users.logout(p, session.get("sid"))
    session.clear()
    return redirect(url_for("auth.login"))


@bp.post("/lang")
def set_language():
    return _remember_choice(LANG_COOKIE, request.form.get("lang", "zh"), LANGUAGES)


THEME_COOKIE = "docsvc_theme"
THEMES = ("auto", "light", "dark")  # auto: the browser's prefers-color-scheme


def theme() -> str:
    value = request.cookies.get(THEME_COOKIE, "auto")
    return value if value in THEMES else "auto"


@bp.post("/theme")
def set_theme():
    """The appearance switch: a cookie, read when the page is made (no script, no flash)."""
    return _remember_choice(THEME_COOKIE, request.form.get("theme", "auto"), THEMES)


def _remember_choice(cookie: str, value: str, allowed: Collection[str]) -> Response:
    """Back to the page the choice was made on, the choice kept for a year in ``cookie`` when
    it is one of ``allowed`` (anything else is ignored)."""
    resp = redirect(_safe_next(request.form.get("next")))
    if value in allowed:
        resp.set_cookie(
            cookie,
            value,
            max_age=365 * 24 * 3600,
            samesite="Lax",
            httponly=True,
            secure=current_app.session_interface.get_cookie_secure(current_app),
        )
    return resp


@bp.route("/account", methods=["GET", "POST"])
@login_required
def account():
    gd = guard()
    errors: dict[str, str] = {}
    new_token = None
    retry_after = 0
    if request.method == "POST":
        form = request.form
        try:
            if form.get("action") == "password":
                if form.get("new_password") != form.get("confirm_password"):
                    raise InvalidInput(
                        "两次输入的新密码不一致。", "The new passwords do not match.", field="confirm_password"
                    )
                gd.change_my_password(form.get("current_password", ""), form.get("new_password", ""))
                # A new password ends every session of the account, this one too: sign in again.
                session.clear()
                flash(
                    pick(
                        InvalidInput("密码已修改，请用新密码重新登录。", "Password changed; sign in with the new one.")
                    )
                )
                return redirect(url_for("auth.login"))
            if form.get("action") == "end_sessions":  # e.g. signed in on a computer left behind
                gd.end_sessions(gd.p.username)
                session.clear()
                flash(
                    pick(InvalidInput("已在所有设备上退出登录，请重新登录。", "Signed out everywhere; sign in again."))
                )
                return redirect(url_for("auth.login"))
            if form.get("action") == "token":
                new_token = gd.issue_token(gd.p.username, form.get("name", ""))
            elif form.get("action") == "revoke":
                gd.revoke_token(gd.p.username, parse_int(form.get("token_id", ""), "token_id"))
                flash(pick(InvalidInput("令牌已吊销。", "Token revoked.")))
                return redirect(url_for("auth.account"))
        except (InvalidInput, TooManyAttempts) as exc:
            errors[exc.field or "_"] = pick(exc)
            if isinstance(exc, TooManyAttempts):
                retry_after = exc.retry_after_s
    user, tokens = gd.my_account()
    status = 429 if retry_after else (400 if errors else 200)
    return (
        render_template(
            "account.html",
            user=user,
            tokens=tokens,
            new_token=new_token,
            errors=errors,
            status=status,
            must_change=bool(session.get(MUST_CHANGE)),
        ),
        status,
        {"Retry-After": str(retry_after)} if retry_after else {},
    )


MUST_CHANGE = "must_change_password"
# What a signed-in person whose password must change may still reach.
_BEFORE_NEW_PASSWORD = {"auth.account", "auth.logout", "auth.set_language", "auth.set_theme", "auth.login", "static"}


def _password_first():
    if (
        session.get(MUST_CHANGE)
        and request.endpoint not in _BEFORE_NEW_PASSWORD
        and not request.path.startswith("/api/")
    ):
        return redirect(url_for("auth.account"))
    return None


def register(app: Flask) -> None:
    app.before_request(_password_first)

    @app.context_processor
    def _principal_in_templates():
        return {"principal": session_principal(), "Permission": Permission, "theme": theme}
