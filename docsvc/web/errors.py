"""The one place where errors become HTTP responses.

The REST API (and ``/health``) answer with one JSON shape,
``{"error": {"code", "message", "message_en", "field"?, "details"?}}``; pages answer with the
same information rendered in the page's language.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify, make_response, redirect, render_template, request, url_for
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from docsvc import errors as e
from docsvc.services.throttle import TooManyAttempts
from docsvc.services.users import Unauthenticated

STATUS: list[tuple[type[e.DocsvcError], int]] = [
    # Most specific first.
    (e.TooLarge, 413),
    (TooManyAttempts, 429),
    (e.UnsupportedType, 415),
    (e.InvalidContent, 422),
    (e.TemplateError, 422),
    (e.InvalidInput, 400),
    (Unauthenticated, 401),
    (e.NotFound, 404),
    (e.Conflict, 409),
    (e.Forbidden, 403),
    (e.StorageFull, 507),
    (e.StorageError, 503),
    (e.Unavailable, 503),
    (e.Corrupted, 500),
]


def status_for(exc: e.DocsvcError) -> int:
    for cls, status in STATUS:
        if isinstance(exc, cls):
            return status
    return 500


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.path == "/health"


def error_response(exc: e.DocsvcError) -> Any:
    status = status_for(exc)
    resp: Any
    if wants_json():
        resp = jsonify({"error": exc.to_dict()})
        resp.status_code = status
    else:
        if status == 401:
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        resp = render_template("error.html", error=exc, status=status), status
        return _retry_after(resp, exc)
    if status == 503:
        resp.headers["Retry-After"] = "5"
    if status == 401:
        resp.headers["WWW-Authenticate"] = 'Bearer realm="docsvc"'
    return _retry_after(resp, exc)


def _retry_after(resp, exc: e.DocsvcError):
    """A refused sign-in says when the next one may be made (RFC 6585, 429)."""
    if isinstance(exc, TooManyAttempts):
        resp = make_response(resp)
        resp.headers["Retry-After"] = str(exc.retry_after_s)
    return resp


_HTTP_MESSAGES = {
    404: ("请求的地址不存在。", "No such URL."),
    405: ("该地址不支持此请求方法。", "This method is not allowed on this URL."),
    400: ("请求格式错误。", "Malformed request."),
}


class HttpError(e.DocsvcError):
    """A Werkzeug HTTP error in the domain shape (for one rendering path)."""

    def __init__(self, code: str, status: int, zh: str, en: str) -> None:
        super().__init__(zh, en)
        self.code = code
        self.status = status


def register(app: Flask) -> None:
    app.register_error_handler(e.DocsvcError, error_response)

    def http(code: str, status: int, zh: str, en: str, headers: dict[str, str] | None = None):
        if wants_json():
            resp = jsonify({"error": {"code": code, "message": zh, "message_en": en}})
            resp.status_code = status
        else:
            resp = make_response(
                render_template("error.html", error=HttpError(code, status, zh, en), status=status), status
            )
        resp.headers.update(headers or {})
        return resp

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(_exc):
        limit = app.config.get("MAX_CONTENT_LENGTH") or 0
        mib = limit / 1024 / 1024
        return http(
            "too_large",
            413,
            f"请求体过大：上限约为 {mib:.0f} MB。请上传更小的文件，或分次上传。",
            f"The request is too large: the limit is about {mib:.0f} MB. Upload a smaller file, "
            "or fewer files at once.",
        )

    @app.errorhandler(CSRFError)
    def csrf_failed(_exc):
        return http(
            "csrf_failed",
            400,
            "安全令牌（CSRF）缺失或已失效，操作未执行。请刷新页面后重试。",
            "The security (CSRF) token is missing or invalid; nothing was changed. Reload the page and retry.",
        )

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        zh, en = _HTTP_MESSAGES.get(exc.code or 500, (exc.name, exc.description or exc.name))
        # 405 says which methods the URL does take (Allow, RFC 9110 15.5.6).
        allow = {k: v for k, v in exc.get_headers() if k == "Allow"}
        return http((exc.name or "error").lower().replace(" ", "_"), exc.code or 500, zh, en, allow)
