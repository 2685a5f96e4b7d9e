"""First run and operations: a password someone else chose (the one-time
administrator password, a generated one, an administrator's reset) is replaced at the first
sign-in before anything else; the REST API has a page for people, served locally under the CSP."""

from __future__ import annotations

import re

from tests.webutil import PASSWORD, World, app, csrf_of, world  # noqa: F401

NEW = "a-password-of-my-own-7"


def _sign_in(client, username: str, password: str):
    token = csrf_of(client.get("/login"))
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token})


def test_one_time_admin_password_must_be_replaced_first(app):
    svc = app.extensions["docsvc"]
    one_time = svc.users.ensure_initial_admin()
    assert svc.users.get("admin").password_change_required
    c = app.test_client()
    resp = _sign_in(c, "admin", one_time)
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/account")
    page = c.get("/account")
    assert 'id="must-change"' in page.data.decode()
    for url in ("/", "/documents", "/admin/users", "/upload"):  # nothing else until it is replaced
        blocked = c.get(url)
        assert blocked.status_code == 302 and blocked.headers["Location"].endswith("/account"), url
    token = csrf_of(page)
    changed = c.post(
        "/account",
        data={
            "csrf_token": token,
            "action": "password",
            "current_password": one_time,
            "new_password": NEW,
            "confirm_password": NEW,
        },
    )
    assert changed.status_code == 302 and "/login" in changed.headers["Location"]
    assert not svc.users.get("admin").password_change_required
    again = app.test_client()
    resp = _sign_in(again, "admin", NEW)
    assert resp.status_code == 302 and not resp.headers["Location"].endswith("/account")
    assert again.get("/").status_code == 200


def test_generated_and_reset_passwords_are_replaced_too(world: World):
    svc = world.svc
    _user, generated = svc.users.create_user("wang", "member", actor="root")
    assert generated and svc.users.get("wang").password_change_required
    assert not svc.users.get("alice").password_change_required  # chose her own
    svc.users.set_password("alice", "reset-by-admin-9", actor="root")
    assert svc.users.get("alice").password_change_required
    c = world.app.test_client()
    assert _sign_in(c, "alice", "reset-by-admin-9").headers["Location"].endswith("/account")
    # The API is not held back: a token is its own credential.
    assert world.api("alice").get("/api/v1/documents").status_code == 200
    svc.users.set_password("alice", PASSWORD, actor="alice", current_password="reset-by-admin-9")
    assert not svc.users.get("alice").password_change_required


def test_api_reference_page_is_local_and_under_the_csp(app):
    c = app.test_client()
    page = c.get("/api/docs")  # public, like openapi.json
    html = page.data.decode()
    assert page.status_code == 200 and "REST API 文档" in html
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self';" in csp and "unsafe" not in csp
    assert "<script>" not in html and not re.search(r"<script(?![^>]*\bsrc=)", html)  # no inline code
    sources = re.findall(r'(?:src|href)="(/[^"]+)"', html)
    assert "/api/docs/assets/swagger-ui-bundle.js" in sources and "/api/v1/openapi.json" in html
    assert not re.search(r'(?:src|href)="(?:https?:)?//', html)  # nothing from elsewhere
    bundle = c.get("/api/docs/assets/swagger-ui-bundle.js")
    assert bundle.status_code == 200 and b"SwaggerUIBundle" in bundle.data
    assert c.get("/api/docs/assets/swagger-ui.css").status_code == 200
    assert c.get("/api/docs/assets/../../VERSION").status_code == 404
    assert c.get("/api/docs/assets/index.html").status_code == 404
    english = app.test_client()
    english.set_cookie("docsvc_lang", "en")
    assert "REST API reference" in english.get("/api/docs").data.decode()
