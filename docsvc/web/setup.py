"""Web wiring, called once from ``create_app``: sessions, CSRF, Babel, security headers, blueprints.

Security choices, in one place:

- Session cookie: HttpOnly, SameSite=Lax, ``Secure`` when ``SESSION_COOKIE_SECURE`` (config) or
  the ``DOCSVC_COOKIE_SECURE`` setting says the site is served over HTTPS, and on any request that
  came over HTTPS (through a trusted proxy, DOCSVC_PROXIES). The cookie holds only the user id and
  a session secret; the session itself lives in the catalog (``sessions``), so it can be ended.
- CSRF: Flask-WTF's ``CSRFProtect`` on every UI form; JavaScript sends ``X-CSRFToken``. The REST
  API is exempt because it authenticates with bearer tokens; a request that reaches it with the
  session cookie instead must carry a valid ``X-CSRFToken`` (see ``auth.api_principal``).
- Every page: a strict Content-Security-Policy (scripts and styles only from our own static
  files, no inline code, no framing), ``nosniff``, a same-origin referrer policy and
  ``Cache-Control: no-store`` (pages hold records and personal data).
"""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

from flask import Flask, current_app, g, has_request_context, request
from flask.sessions import SecureCookieSessionInterface
from flask_babel import Babel
from flask_wtf.csrf import CSRFProtect
from werkzeug.exceptions import RequestEntityTooLarge

from docsvc.services.users import INITIAL_ADMIN
from docsvc.web import (
    api,
    apidocs,
    auth,
    i18n,
    labels,
    request_log,
    ui_admin,
    ui_audit,
    ui_docs,
    ui_fields,
    ui_search,
    ui_templates,
    ui_terms,
    ui_views,
)

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

csrf = CSRFProtect()


def init_web(app: Flask) -> None:
    # Flask's defaults already hold SESSION_COOKIE_SECURE=False, so a .get() with the setting as
    # fallback never saw the setting: either one turning it on is enough.
    secure = app.config["SESSION_COOKIE_SECURE"] or app.extensions["docsvc"].settings["COOKIE_SECURE"]
    app.config.update(
        SESSION_COOKIE_NAME="docsvc_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=bool(secure),
        # The cookie lasts as long as the longest session; the catalog ends sessions sooner.
        PERMANENT_SESSION_LIFETIME=timedelta(hours=app.extensions["docsvc"].settings["SESSION_MAX_HOURS"]),
        # The token lives as long as the session: a form left open over lunch still submits.
        WTF_CSRF_TIME_LIMIT=None,
        BABEL_DEFAULT_LOCALE="zh",
        BABEL_DEFAULT_TIMEZONE=app.extensions["docsvc"].settings.get("TIMEZONE", "Asia/Shanghai"),
        BABEL_TRANSLATION_DIRECTORIES=str(Path(__file__).parent / "translations"),
    )
    app.session_interface = _SessionInterface()
    app.static_folder = str(Path(__file__).parent / "static")
    # Flask() registered /static/<path> when the app was made; it serves from this folder.

    request_log.register(app)  # the request id, before any hook that could answer early
    # First of all hooks: before CSRF (which reads the form), authentication and any view.
    app.before_request(_refuse_large_bodies)
    csrf.init_app(app)
    csrf.exempt(api.bp)
    Babel(app, locale_selector=i18n.select_locale)
    i18n.register(app)
    labels.register(app)

    app.before_request(_bootstrap_admin)
    app.after_request(_security_headers)
    for bp in (
        auth.bp,
        ui_docs.bp,
        ui_search.bp,
        ui_templates.bp,
        ui_audit.bp,
        ui_admin.bp,
        ui_views.bp,
        ui_terms.bp,
        ui_fields.bp,
        apidocs.bp,
    ):
        app.register_blueprint(bp)
    auth.register(app)


class _SessionInterface(SecureCookieSessionInterface):
    def get_cookie_secure(self, app: Flask) -> bool:
        # ProxyFix (DOCSVC_PROXIES) sets the scheme from the trusted proxy's X-Forwarded-Proto only;
        # without it the scheme is the server's own, which a client cannot claim.
        return bool(app.config["SESSION_COOKIE_SECURE"] or (has_request_context() and request.is_secure))


def _refuse_large_bodies() -> None:
    """A declared Content-Length over the limit is answered 413 before anything reads the body or
    checks who is asking (``docsvc serve``'s waitress refuses it even earlier; this covers any other
    WSGI server). Werkzeug would only refuse it once a view touched ``request.form``."""
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if limit and (request.content_length or 0) > limit:
        raise RequestEntityTooLarge()


def _bootstrap_admin() -> None:
    """First start with no users: make the first administrator (the same use case as ``docsvc
    init``, ``UserService.ensure_initial_admin``) with a random password and print it once on the
    server's console (docs/web.md). Checked until a user exists, then never again."""
    if current_app.extensions.get("docsvc.has_users") or request.blueprint in ("api", None):
        return  # API clients need a token, which needs a user: only people opening the UI count
    svc = current_app.extensions["docsvc"]
    password = svc.users.ensure_initial_admin()
    if password:
        g.initial_admin_created = True
        print(
            "\n" + "=" * 72 + "\n"
            "docsvc：已创建初始管理员账户 / initial administrator account created\n"
            f"  用户名 username: {INITIAL_ADMIN}\n  密码 password:   {password}\n"
            "登录后请在“我的账户”中修改密码。此密码只显示这一次。\n"
            "Change it under 'My account' after signing in. It is shown only this once.\n" + "=" * 72 + "\n",
            file=sys.stderr,
            flush=True,
        )
    current_app.extensions["docsvc.has_users"] = True


def _security_headers(resp):
    resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    resp.headers.setdefault("Referrer-Policy", "same-origin")
    resp.headers.setdefault("X-Frame-Options", "DENY")
    # Downloads set their own, stricter policy (default-src 'none'; sandbox): keep it.
    resp.headers.setdefault("Content-Security-Policy", CSP)
    if request.endpoint != "static":
        resp.headers.setdefault("Cache-Control", "no-store")
    return resp
