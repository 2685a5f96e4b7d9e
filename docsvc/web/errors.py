"""The one place where domain errors become HTTP responses (one JSON error shape)."""

from __future__ import annotations

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from docsvc import errors as e

STATUS: list[tuple[type[e.DocsvcError], int]] = [
    # Most specific first.
    (e.TooLarge, 413),
    (e.UnsupportedType, 415),
    (e.InvalidContent, 422),
    (e.TemplateError, 422),
    (e.InvalidInput, 400),
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


def error_response(exc: e.DocsvcError):
    resp = jsonify({"error": exc.to_dict()})
    resp.status_code = status_for(exc)
    if resp.status_code == 503:
        resp.headers["Retry-After"] = "5"
    return resp


_HTTP_MESSAGES = {
    404: ("请求的地址不存在。", "No such URL."),
    405: ("该地址不支持此请求方法。", "This method is not allowed on this URL."),
    400: ("请求格式错误。", "Malformed request."),
}


def register(app: Flask) -> None:
    app.register_error_handler(e.DocsvcError, error_response)

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(_exc):
        limit = app.config.get("MAX_CONTENT_LENGTH")
        return error_response(e.TooLarge(f"请求体过大，上限约为 {limit} 字节。",
                                         f"The request body is too large; the limit is about {limit} bytes."))

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        zh, en = _HTTP_MESSAGES.get(exc.code or 500, (exc.name, exc.description or exc.name))
        resp = jsonify({"error": {"code": (exc.name or "error").lower().replace(" ", "_"),
                                  "message": zh, "message_en": en}})
        resp.status_code = exc.code or 500
        return resp
