"""A request body over the limit (DOCSVC_MAX_UPLOAD_BYTES plus the multipart allowance) is refused
from its declared Content-Length, before authentication, CSRF or any view reads it: by the app
(any WSGI server) and, under ``docsvc serve``, by waitress as soon as the headers arrive."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

from docsvc.web.factory import MULTIPART_ALLOWANCE, create_app
from tests.test_serve import start_serve

SMALL = 100_000
LIMIT = SMALL + MULTIPART_ALLOWANCE


@pytest.fixture
def small_app(config):
    app = create_app({**config, "TESTING": True, "FSYNC": False, "MAX_UPLOAD_BYTES": SMALL})
    yield app
    app.extensions["docsvc"].close()


def _spy_views(app, monkeypatch) -> list[str]:
    ran: list[str] = []
    for endpoint, view in list(app.view_functions.items()):

        def spy(*a, _view=view, _endpoint=endpoint, **kw):
            ran.append(_endpoint)
            return _view(*a, **kw)

        monkeypatch.setitem(app.view_functions, endpoint, spy)
    return ran


@pytest.mark.parametrize("declared", [LIMIT + 1, 5 * 1024**3])
def test_a_declared_length_over_the_limit_is_refused_before_auth_and_views(small_app, monkeypatch, declared):
    ran = _spy_views(small_app, monkeypatch)
    c = small_app.test_client()
    # No token, no CSRF token, and a body far shorter than declared: 413 all the same, so neither
    # authentication nor the form parser nor the view looked at it.
    resp = c.post(
        "/api/v1/documents",
        data=b"x" * 10,
        content_type="multipart/form-data; boundary=b",
        environ_overrides={"CONTENT_LENGTH": str(declared)},
    )
    assert resp.status_code == 413
    err = resp.json["error"]
    assert err["code"] == "too_large"
    assert "请求体过大" in err["message"] and "too large" in err["message_en"]
    page = c.post(
        "/upload",
        data=b"x" * 10,
        content_type="multipart/form-data; boundary=b",
        environ_overrides={"CONTENT_LENGTH": str(declared)},
    )
    assert page.status_code == 413 and "请求体过大" in page.data.decode()  # the error page, not a redirect
    assert ran == []


def test_a_body_within_the_limit_still_reaches_authentication(small_app):
    c = small_app.test_client()
    resp = c.post(
        "/api/v1/documents",
        data=b"x" * 10,
        content_type="multipart/form-data; boundary=b",
        environ_overrides={"CONTENT_LENGTH": str(LIMIT)},
    )
    assert resp.status_code == 401


@pytest.mark.slow
def test_docsvc_serve_refuses_a_large_declared_body_without_receiving_it(tmp_path: Path):
    proc, api = start_serve(tmp_path, workers=1, MAX_UPLOAD_BYTES=str(SMALL))
    port, token = api.port, api.token
    try:
        for declared in (LIMIT + 1, 2 * 1024**3):
            with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
                s.sendall(
                    (
                        f"POST /api/v1/documents HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                        f"Authorization: Bearer {token}\r\n"
                        "Content-Type: multipart/form-data; boundary=b\r\n"
                        f"Content-Length: {declared}\r\n\r\n"
                    ).encode()
                    + b"--b\r\n"
                )
                # Only the headers and a few bytes were sent: the answer cannot have waited for the body.
                reply = b""
                while b"\r\n\r\n" not in reply:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    reply += chunk
            assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
        # A body within the limit is still served.
        assert api.upload("巡检记录", "正文")[0] == 201
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
