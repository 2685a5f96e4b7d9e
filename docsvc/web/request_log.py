"""The request id and the access log, in the Flask app so that every server logs alike.

Each request gets an id: the ``X-Request-ID`` a trusted proxy sent (only with DOCSVC_PROXIES > 0,
and only if it looks like an id), else a new one. It is on every log line written while the
request is served (:data:`docsvc.logs.request_id`) and in the response's ``X-Request-ID``
header, so a user's error report leads to the lines. When the response is ready one access line
is logged: method, path, the query's parameter names (never their values: a search names what a
document says, a link may carry a token), status, duration, user id and request id.
"""

from __future__ import annotations

import logging
import re
import secrets
import time

from flask import Flask, Response, current_app, g, request

from docsvc import logs

log = logging.getLogger(__name__)

HEADER = "X-Request-ID"
# What a proxy's id may look like: letters, digits and a few separators, and not too long (it
# goes into every log line, so no spaces, quotes or line breaks).
_ACCEPTED = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")


def register(app: Flask) -> None:
    """Call before any other ``before_request`` hook: one that answers early (a body too large)
    must still find the request id set."""
    app.before_request(_begin)
    app.after_request(_access)
    app.teardown_request(_end)


def _begin() -> None:
    offered = request.headers.get(HEADER, "")
    trusted = current_app.extensions["docsvc"].settings["PROXIES"] > 0
    g.request_id = offered if trusted and _ACCEPTED.fullmatch(offered) else secrets.token_hex(8)
    g.request_started = time.perf_counter()
    g.request_id_token = logs.request_id.set(g.request_id)


def _access(resp: Response) -> Response:
    if "request_id" not in g:  # a hook before ours answered; it still gets an id
        _begin()
    resp.headers[HEADER] = g.request_id
    principal = g.get("principal")
    log.info(
        "%s %s %s",
        request.method,
        request.path,
        resp.status_code,
        extra={
            "method": request.method,
            "path": request.path,
            "query_keys": ",".join(sorted(set(request.args))),
            "status": resp.status_code,
            "duration_ms": round((time.perf_counter() - g.request_started) * 1000, 1),
            "user_id": principal.user_id if principal is not None else None,
        },
    )
    return resp


def _end(_exc: BaseException | None) -> None:
    token = g.pop("request_id_token", None)
    if token is not None:
        logs.request_id.reset(token)
