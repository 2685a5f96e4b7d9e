"""The server-rendered UI through Flask's test client, with CSRF protection on."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from docsvc.web.factory import create_app
from tests.webutil import PASSWORD, SITE_DOC, USER_DOC, World, app, csrf_of, world  # noqa: F401

WEB = Path(__file__).resolve().parents[1] / "docsvc" / "web"


@pytest.fixture
def doc(world: World):
    g = world.guard("alice")
    d = g.add_document(
        "第一段：甲方。\n服务可用性 99.9%。".encode(),
        "合同.txt",
        {**USER_DOC, "title": "<script>alert('x')</script>运维合同", "review_due": "2000-01-01"},
    ).document
    g.add_version(d.id, "第一段：甲方。\n服务可用性 99.95%。".encode(), "合同v2.txt", reason="提高<b>可用性</b>")
    return d


def form_of(client, url: str) -> str:
    return csrf_of(client.get(url))


def test_pages_need_login(world):
    c = world.app.test_client()
    for url in ("/", "/documents", "/upload", "/audit", "/admin/users", "/account", "/documents/1"):
        resp = c.get(url)
        assert resp.status_code == 302 and "/login?next=" in resp.headers["Location"], url


def test_login_logout_and_safe_redirects(world):
    c = world.app.test_client()
    page = c.get("/login")
    bad = c.post("/login", data={"username": "alice", "password": "nope", "csrf_token": csrf_of(page)})
    assert bad.status_code == 401 and "用户名或密码不正确" in bad.data.decode()
    for target, expect in (
        ("/documents?x=1", "/documents?x=1"),
        ("//evil.example/", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
    ):
        resp = c.post(
            f"/login?next={target}",
            data={"username": "alice", "password": PASSWORD, "csrf_token": csrf_of(c.get("/login"))},
        )
        assert resp.headers["Location"] == expect, target
        c.post("/logout", data={"csrf_token": csrf_of(c.get("/"))})
    assert world.audit_actions("alice").count("login.succeeded") == 4
    assert world.audit_actions("alice").count("logout") == 4


def test_security_headers_and_cookie(world, doc):
    c = world.login("alice")
    resp = c.get(f"/documents/{doc.id}")
    csp = resp.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert resp.headers["X-Content-Type-Options"] == "nosniff" and resp.headers["X-Frame-Options"] == "DENY"
    assert resp.headers["Referrer-Policy"] == "same-origin" and resp.headers["Cache-Control"] == "no-store"
    # No inline script or style anywhere: the CSP would block it.
    html = resp.data.decode()
    assert not re.search(r"<script(?![^>]*\bsrc=)", html) and " style=" not in html and "onclick" not in html
    cookie = world.app.test_client()
    login = cookie.post(
        "/login", data={"username": "alice", "password": PASSWORD, "csrf_token": csrf_of(cookie.get("/login"))}
    )
    set_cookie = login.headers["Set-Cookie"]
    assert "HttpOnly" in set_cookie and "SameSite=Lax" in set_cookie and "Secure" not in set_cookie


def test_secure_cookie_is_configurable(config):
    app = create_app({**config, "TESTING": True, "FSYNC": False, "SESSION_COOKIE_SECURE": True})
    try:
        assert app.config["SESSION_COOKIE_SECURE"] is True
    finally:
        app.extensions["docsvc"].close()


def test_forms_without_csrf_token_change_nothing(world, doc):
    c = world.login("alice")
    resp = c.post(f"/documents/{doc.id}/edit", data={**USER_DOC, "status": "effective"})
    assert resp.status_code == 400 and "CSRF" in resp.data.decode()
    resp = c.post(f"/documents/{doc.id}/edit", data={**USER_DOC, "status": "effective", "csrf_token": "forged"})
    assert resp.status_code == 400
    assert world.svc.catalog.get_document(doc.id).metadata.status.value == "draft"


def test_metadata_is_escaped_everywhere(world, doc):
    c = world.login("alice")
    for url in ("/", "/documents", f"/documents/{doc.id}", f"/documents/{doc.id}/compare"):
        html = c.get(url).data.decode()
        assert "<script>alert" not in html and "&lt;script&gt;alert" in html, url
    assert "<b>可用性</b>" not in c.get(f"/documents/{doc.id}").data.decode()


def test_dashboard_lists_recent_and_due(world, doc):
    # Due for review: SLAs and service plans (spec 8.1.3, as in the reviews report); the contract is recent.
    sla = (
        world.guard("alice")
        .add_document(
            "服务等级协议：可用性 99.9%。".encode(),
            "sla.txt",
            {**USER_DOC, "title": "年度服务等级协议", "doc_type": "sla", "review_due": "2000-01-01"},
        )
        .document
    )
    html = world.login("alice").get("/").data.decode()
    assert "30 天内到期复审" in html and "已逾期" in html and f"/documents/{doc.id}" in html
    due = html[html.index('id="due"') : html.index('id="review"')]
    assert f"/documents/{sla.id}" in due and f"/documents/{doc.id}" not in due


def test_document_list_filters_sorts_and_refuses_bad_sort(world, doc):
    c = world.login("alice")
    html = c.get("/documents?doc_type=contract&sort=title").data.decode()
    assert 'aria-sort="ascending"' in html and "运维合同" in html
    assert "没有符合条件" in c.get("/documents?doc_type=sla").data.decode()
    bad = c.get("/documents?sort=title;DROP")
    assert bad.status_code == 400 and "无法按" in bad.data.decode()


def test_edit_metadata_inline_errors(world, doc):
    c = world.login("alice")
    url = f"/documents/{doc.id}/edit"
    token = form_of(c, url)
    resp = c.post(url, data={**USER_DOC, "effective_date": "2026-02-30", "status": "draft", "csrf_token": token})
    html = resp.data.decode()
    assert resp.status_code == 400
    assert re.search(r'id="f-effective_date"[^>]*aria-describedby="err-effective_date"[^>]*aria-invalid="true"', html)
    assert 'id="err-effective_date"' in html and "YYYY-MM-DD" in html
    assert 'value="2026-02-30"' in html  # what was typed stays in the field
    resp = c.post(
        url,
        data={
            **USER_DOC,
            "status": "effective",
            "effective_date": "2026-03-01",
            "review_due": "",
            "reason": "签署",
            "csrf_token": token,
        },
    )
    assert resp.status_code == 302
    assert world.svc.catalog.get_document(doc.id).metadata.status.value == "effective"


def test_upload_without_javascript(world):
    c = world.login("alice")
    token = form_of(c, "/upload")
    data = {
        **USER_DOC,
        "title": "",
        "csrf_token": token,
        "file": [(io.BytesIO("甲".encode()), "一.txt"), (io.BytesIO(b"GIF89a\x00\x00"), "二.gif")],
    }
    resp = c.post("/upload", data=data, content_type="multipart/form-data")
    html = resp.data.decode()
    assert resp.status_code == 400 and "✓ 一.txt" in html and "✗ 二.gif" in html and "不支持" in html
    assert [d.metadata.title for d in world.svc.archive.list_documents({}).items] == ["一"]
    empty = c.post("/upload", data={**USER_DOC, "csrf_token": token}, content_type="multipart/form-data")
    assert empty.status_code == 400 and "请选择至少一个文件" in empty.data.decode()


def test_new_version_form(world, doc):
    c = world.login("drafter")
    url = f"/documents/{doc.id}/versions/new"
    token = form_of(c, url)
    resp = c.post(
        url, data={"csrf_token": token, "file": (io.BytesIO(b"v3"), "v3.txt")}, content_type="multipart/form-data"
    )
    assert resp.status_code == 400 and 'id="err-reason"' in resp.data.decode()
    resp = c.post(
        url,
        data={"csrf_token": token, "reason": "第三版", "file": (io.BytesIO(b"v3"), "v3.txt")},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 302 and world.svc.catalog.get_document(doc.id).latest_version == 3
    assert "已新增第 3 版" in c.get(resp.headers["Location"]).data.decode()


def test_detail_compare_and_download(world, doc):
    c = world.login("alice")
    html = c.get(f"/documents/{doc.id}").data.decode()
    assert "时间线" in html and "提高&lt;b&gt;可用性&lt;/b&gt;" in html and "编辑元数据" in html
    diff = c.get(f"/documents/{doc.id}/compare?a=1&b=2").data.decode()
    assert "<del>9</del>" in diff and "<ins>95</ins>" in diff
    dl = c.get(f"/documents/{doc.id}/versions/1/download")
    assert dl.headers["Content-Disposition"].startswith("attachment;") and dl.data.startswith("第一段".encode())


def test_auditor_reads_but_cannot_write(world, doc):
    c = world.login("audit")
    html = c.get(f"/documents/{doc.id}").data.decode()
    assert "编辑元数据" not in html and "上传新版本" not in html and "下载审计包" in html
    assert 'href="/upload"' not in c.get("/").data.decode()
    assert c.get(f"/documents/{doc.id}/edit").status_code == 403
    token = csrf_of(c.get("/"))
    forced = c.post(f"/documents/{doc.id}/edit", data={**USER_DOC, "status": "effective", "csrf_token": token})
    assert forced.status_code == 403 and "审计日志" in forced.data.decode()
    forced = c.post(
        "/upload",
        data={**USER_DOC, "csrf_token": token, "file": (io.BytesIO(b"x"), "x.txt")},
        content_type="multipart/form-data",
    )
    assert forced.status_code == 403  # the upload page is not offered to a role that cannot upload
    assert world.audit_actions("audit") == ["login.succeeded", "access.denied", "access.denied", "access.denied"]
    assert world.svc.catalog.get_document(doc.id).metadata.status.value == "draft"


def test_members_do_not_see_site_documents_of_other_projects(world):
    site = world.guard("alice").add_document(b"site", "s.txt", SITE_DOC).document
    c = world.login("bob")
    assert "现场巡检" not in c.get("/documents").data.decode()
    assert c.get(f"/documents/{site.id}").status_code == 404
    assert c.get("/audit").status_code == 403 and c.get("/admin/users").status_code == 403


def test_audit_page_verify_and_bundle(world, doc):
    c = world.login("audit")
    html = c.get(f"/audit?document_id={doc.id}&action=version.added").data.decode()
    assert html.count("新增版本") >= 2 and "login" not in re.sub(r"<[^>]+>", "", html).split("审计日志")[-1][:0]
    assert c.get("/audit?since=bad").status_code == 400
    token = csrf_of(c.get("/audit"))
    resp = c.post("/audit/verify", data={"csrf_token": token}, follow_redirects=True)
    assert "审计链完整" in resp.data.decode()
    resp = c.post("/audit/export", data={"csrf_token": token, "document_id": str(doc.id)})
    assert resp.mimetype == "application/zip"
    assert "manifest.json" in zipfile.ZipFile(io.BytesIO(resp.data)).namelist()
    resp = c.post("/audit/export", data={"csrf_token": token}, follow_redirects=True)
    assert "起止日期" in resp.data.decode()


def test_admin_manages_users(world):
    c = world.login("root")
    token = form_of(c, "/admin/users")
    resp = c.post(
        "/admin/users",
        data={"csrf_token": token, "username": "zhou", "display_name": "周敏", "role": "auditor", "projects": "甲, 乙"},
    )
    html = resp.data.decode()
    assert resp.status_code == 200 and "已创建用户 zhou" in html and 'class="secret"' in html
    dup = c.post("/admin/users", data={"csrf_token": token, "username": "zhou", "role": "member"})
    assert dup.status_code == 400 and "已被使用" in dup.data.decode()
    resp = c.post(
        "/admin/users/zhou",
        data={
            "csrf_token": token,
            "action": "update",
            "role": "manager",
            "active": "on",
            "display_name": "周敏",
            "projects": "甲",
        },
    )
    assert resp.status_code == 302
    u = world.svc.users.get("zhou")
    assert u.role.value == "manager" and u.projects == ("甲",)
    resp = c.post("/admin/users/zhou", data={"csrf_token": token, "action": "token", "name": "脚本"})
    assert 'id="new-token"' in resp.data.decode()
    health = c.get("/admin/health").data.decode()
    assert "系统状态" in health and "outbox" in health
    assert "检查通过" in c.post("/admin/health", data={"csrf_token": token}).data.decode()


def test_account_password_change(world):
    c = world.login("bob")
    token = form_of(c, "/account")
    resp = c.post(
        "/account",
        data={
            "csrf_token": token,
            "action": "password",
            "current_password": PASSWORD,
            "new_password": "new-password-123",
            "confirm_password": "different-123",
        },
    )
    assert resp.status_code == 400 and "不一致" in resp.data.decode()
    resp = c.post(
        "/account",
        data={
            "csrf_token": token,
            "action": "password",
            "current_password": PASSWORD,
            "new_password": "new-password-123",
            "confirm_password": "new-password-123",
        },
    )
    assert resp.status_code == 302 and c.get("/").status_code == 302  # signed out: sign in again
    assert world.svc.users.login("bob", "new-password-123")[0].username == "bob"


def test_english_switch(world, doc):
    c = world.login("alice")
    token = csrf_of(c.get("/"))
    resp = c.post("/lang", data={"csrf_token": token, "lang": "en", "next": "/documents"})
    assert resp.headers["Location"] == "/documents"
    html = c.get("/documents").data.decode()
    assert "<h1>Documents</h1>" in html and 'lang="en"' in html and "Filter" in html and "Contract" in html
    html = c.get(f"/documents/{doc.id}").data.decode()
    # 版本 is the card's "Versions" and its column's "Version" (a message with a context)
    assert 'id="versions-h">Versions' in html and '<th scope="col">Version</th>' in html
    resp = c.post(f"/documents/{doc.id}/edit", data={**USER_DOC, "effective_date": "soon", "csrf_token": token})
    assert "not a valid date" in resp.data.decode()
    c.post("/lang", data={"csrf_token": token, "lang": "zh", "next": "https://evil.example/"})
    assert "<h1>文档</h1>" in c.get("/documents").data.decode()


def test_oversized_upload_page(config):
    app = create_app({**config, "TESTING": True, "FSYNC": False, "MAX_UPLOAD_BYTES": 100, "WTF_CSRF_ENABLED": False})
    try:
        app.extensions["docsvc"].users.create_user("u", "member", actor="t", password=PASSWORD)
        c = app.test_client()
        c.post("/login", data={"username": "u", "password": PASSWORD})
        resp = c.post(
            "/upload",
            data={**USER_DOC, "file": (io.BytesIO(b"x" * (2 * 1024 * 1024)), "big.txt")},
            content_type="multipart/form-data",
        )
        html = resp.data.decode()
        assert resp.status_code == 413 and "请求体过大" in html and "<html" in html
    finally:
        app.extensions["docsvc"].close()


def test_first_start_makes_an_admin_once(app, capsys):
    c = app.test_client()
    html = c.get("/login").data.decode()
    printed = capsys.readouterr().err
    password = re.search(r"password:\s+(\S+)", printed).group(1)
    assert "首次启动" in html and app.extensions["docsvc"].users.login("admin", password)
    c.get("/login")
    assert "password:" not in capsys.readouterr().err


# -- message catalogues (no database) ----------------------------------------------------------
def test_english_catalogue_is_complete_and_compiled():
    po = read_po((WEB / "translations/en/LC_MESSAGES/messages.po").open("rb"))
    mo = read_mo((WEB / "translations/en/LC_MESSAGES/messages.mo").open("rb"))

    def key(value):  # a plural entry (ngettext) has its forms as a list or tuple
        return tuple(value) if isinstance(value, (list, tuple)) else value

    used = {key(msg[2]) for msg in extract_from_dir(str(WEB), [("**/templates/**.html", "jinja2")])}
    translated = {key(m.id): key(m.string) for m in po if m.id and m.string}
    assert used - set(translated) == set(), "run pybabel extract/update and translate (docs/web.md)"
    assert set(translated) - used == set(), "no template uses these: run pybabel extract/update (docs/web.md)"
    assert {key(m.id): key(m.string) for m in mo if m.id} == translated, (
        "run pybabel compile -d docsvc/web/translations"
    )
