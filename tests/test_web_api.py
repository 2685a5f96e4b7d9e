"""REST API /api/v1: every endpoint, happy path and hostile input, on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import json
import zipfile

import pytest

from docsvc.web.factory import create_app
from tests.webutil import PASSWORD, SITE_DOC, USER_DOC, World, app, csrf_of, err, world  # noqa: F401

TEXT_V1 = "合同正文：乙方提供7×24小时运维服务。\n服务可用性 99.9%。\n".encode()
TEXT_V2 = "合同正文：乙方提供7×24小时运维服务。\n服务可用性 99.95%。\n新增：每月巡检一次。\n".encode()


def upload(client, data=TEXT_V1, name="运维合同.txt", **meta):
    fields = {**USER_DOC, **meta}
    form = {k: v for k, v in fields.items() if v is not None}
    form["file"] = (io.BytesIO(data), name)
    return client.post("/api/v1/documents", data=form, content_type="multipart/form-data")


@pytest.fixture
def docs(world: World):
    """One user document (with two versions) and one on-site document of 港口运维二期."""
    g = world.guard("alice")
    user_doc = g.add_document(TEXT_V1, "运维合同.txt", USER_DOC).document
    g.add_version(user_doc.id, TEXT_V2, "运维合同v2.txt", reason="提高可用性目标")
    site_doc = g.add_document("巡检记录：机房温度正常。".encode(), "巡检.txt", SITE_DOC).document
    return user_doc, site_doc


# -- authentication ---------------------------------------------------------------------------
def test_public_endpoints(world):
    c = world.app.test_client()
    assert c.get("/health").json["status"] == "ok"
    assert "documents" not in c.get("/health").json  # counts only for authenticated callers
    assert c.get("/api/v1/openapi.json").json["openapi"] == "3.1.0"


@pytest.mark.parametrize("header", [None, "Basic abc", "Bearer", "Bearer dsv_not-a-real-token", "Bearer x" * 100])
def test_api_needs_a_valid_token(world, header):
    c = world.app.test_client()
    resp = c.get("/api/v1/documents", headers={"Authorization": header} if header else {})
    err(resp, 401, "unauthenticated")
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")


def test_revoked_token_and_disabled_user_are_refused(world):
    svc = world.svc
    token = svc.users.tokens("bob")[0]
    assert world.api("bob").get("/api/v1/me").status_code == 200
    svc.users.revoke_token("bob", token.id, actor="root")
    err(world.api("bob").get("/api/v1/me"), 401)
    assert world.api("alice").get("/api/v1/me").status_code == 200
    svc.users.update("alice", actor="root", active=False)
    err(world.api("alice").get("/api/v1/me"), 401)


def test_me_lists_role_and_permissions(world):
    me = world.api("audit").get("/api/v1/me").json
    assert me["role"] == "auditor" and "audit.read" in me["permissions"] and "document.write" not in me["permissions"]
    assert me["via"] == "api:api-token:test"


def test_session_cookie_needs_csrf_header_on_the_api(world, docs):
    client = world.login("alice")
    # The browser sends the cookie by itself; without the header the API refuses, even for reads.
    err(client.get("/api/v1/documents"), 400, "csrf_failed")
    err(upload(client), 400, "csrf_failed")
    token = csrf_of(client.get("/"))
    assert client.get("/api/v1/documents", headers={"X-CSRFToken": token}).status_code == 200
    err(client.get("/api/v1/documents", headers={"X-CSRFToken": token + "x"}), 400, "csrf_failed")
    resp = client.post(
        "/api/v1/documents",
        headers={"X-CSRFToken": token},
        data={**USER_DOC, "file": (io.BytesIO(b"hello"), "a.txt")},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 201, resp.json


# -- documents --------------------------------------------------------------------------------
def test_create_show_list_history(world):
    c = world.api("alice")
    resp = upload(c, tags="运维,合同", effective_date="2026-01-01", review_due="2026-12-31")
    assert resp.status_code == 201, resp.json
    doc = resp.json["document"]
    assert doc["title"] == USER_DOC["title"] and doc["tags"] == ["运维", "合同"] and doc["owner"] == "alice"
    assert resp.headers["Location"].endswith(f"/api/v1/documents/{doc['id']}")
    assert resp.json["version"]["content_url"].endswith(f"/documents/{doc['id']}/versions/1/content")
    shown = c.get(f"/api/v1/documents/{doc['id']}").json
    assert [v["number"] for v in shown["versions"]] == [1]
    listed = c.get("/api/v1/documents?doc_type=contract&sort=-title&limit=5").json
    assert listed["total"] == 1 and listed["limit"] == 5
    events = c.get(f"/api/v1/documents/{doc['id']}/history").json["events"]
    assert [e["action"] for e in events] == ["document.created", "version.added"]
    assert events[0]["actor"] == "alice"


def test_upload_title_defaults_to_the_file_name(world):
    resp = upload(world.api("alice"), title=None, name="服务等级协议2026.txt")
    assert resp.json["document"]["title"] == "服务等级协议2026"


def test_repeated_tags_fields(world):
    c = world.api("alice")
    form = {**USER_DOC, "tags": ["甲", "乙"], "file": (io.BytesIO(b"x"), "x.txt")}
    assert c.post("/api/v1/documents", data=form, content_type="multipart/form-data").json["document"]["tags"] == [
        "甲",
        "乙",
    ]


@pytest.mark.parametrize(
    "form,status,code,field",
    [
        ({"file": None}, 400, "invalid_input", "file"),
        (
            {"doc_class": "library"},
            400,
            "invalid_input",
            "doc_class",
        ),  # a missing doc_type is suggested (test_web_labels)
        ({"doc_type": "poem"}, 400, "invalid_input", "doc_type"),
        ({"service_category": "9.9"}, 400, "invalid_input", "service_category"),
        ({"effective_date": "2026-02-30"}, 400, "invalid_input", "effective_date"),
        ({"colour": "red"}, 400, "invalid_input", "colour"),
        ({"title": "x" * 501}, 400, "invalid_input", "title"),
        ({"title": "a\x00b"}, 400, "invalid_input", "title"),
        ({"data": b""}, 422, "invalid_content", "file"),
        ({"data": b"GIF89a" + b"\x00" * 64, "name": "x.gif"}, 415, "unsupported_type", "file"),
        ({"data": b"just text", "name": "contract.docx"}, 415, "unsupported_type", "file"),
    ],
)
def test_create_rejects_bad_input(world, form, status, code, field):
    c = world.api("alice")
    form = dict(form)  # the parameter dict is shared by the SQLite and PostgreSQL runs
    data, name = form.pop("data", TEXT_V1), form.pop("name", "a.txt")
    if "file" in form:
        fields = {k: v for k, v in USER_DOC.items()}
        resp = c.post("/api/v1/documents", data=fields, content_type="multipart/form-data")
    else:
        resp = upload(c, data, name, **form)
    e = err(resp, status, code, field)
    if field in ("doc_type", "service_category") and form.get(field):
        assert e["details"]["valid"]
    assert world.svc.catalog.counts()["documents"] == 0


def test_multiple_metadata_errors_are_all_reported(world):
    e = err(upload(world.api("alice"), doc_type="poem", effective_date="tomorrow", status="??"), 400)
    assert {x["field"] for x in e["details"]["errors"]} == {"doc_type", "effective_date", "status"}


def test_hostile_values_are_stored_as_text(world):
    c = world.api("alice")
    title = "<script>alert('x')</script>'; DROP TABLE documents;--"
    resp = upload(c, title=title, counterparty="' OR 1=1 --", name="../../../etc/passwd.txt")
    assert resp.status_code == 201
    doc_id = resp.json["document"]["id"]
    assert c.get(f"/api/v1/documents/{doc_id}").json["title"] == title
    assert resp.json["version"]["original_filename"] == "passwd.txt"
    dl = c.get(f"/api/v1/documents/{doc_id}/content")
    assert 'filename="passwd.txt"' in dl.headers["Content-Disposition"]
    assert c.get("/api/v1/documents?counterparty=' OR 1=1 --").json["total"] == 1
    assert c.get("/api/v1/documents?tag=' OR 1=1--").json["total"] == 0
    err(c.get("/api/v1/documents?sort=title;DROP TABLE documents"), 400, "invalid_input", "sort")
    assert world.svc.catalog.counts()["documents"] == 1


@pytest.mark.parametrize(
    "query,field",
    [
        ("limit=abc", "limit"),
        ("limit=0", "limit"),
        ("offset=-1", "offset"),
        ("colour=red", "colour"),
        ("review_due_before=soon", "review_due_before"),
    ],
)
def test_list_rejects_bad_parameters(world, query, field):
    err(world.api("alice").get(f"/api/v1/documents?{query}"), 400, "invalid_input", field)


def test_upload_limits(config, tmp_path):
    app = create_app({**config, "TESTING": True, "FSYNC": False, "MAX_UPLOAD_BYTES": 1000})
    try:
        svc = app.extensions["docsvc"]
        svc.users.create_user("u", "member", actor="t", password=PASSWORD)
        w = World(app, {"u": svc.users.issue_token("u", actor="t").secret})
        e = err(upload(w.api("u"), b"x" * 5000), 413, "too_large")
        assert "1000" in e["message"]
        # Over the request limit (file limit + 1 MiB for the envelope): refused before parsing.
        e = err(upload(w.api("u"), b"x" * (2 * 1024 * 1024)), 413, "too_large")
        assert "MB" in e["message"] and "MB" in e["message_en"]
        assert svc.catalog.counts()["documents"] == 0
    finally:
        app.extensions["docsvc"].close()


# -- access rules -----------------------------------------------------------------------------
def test_site_documents_only_for_their_project(world, docs):
    user_doc, site_doc = docs
    for who, sees in (
        ("alice", True),
        ("drafter", True),
        ("bob", False),
        ("mgr", True),
        ("root", True),
        ("audit", True),
    ):
        ids = {d["id"] for d in world.api(who).get("/api/v1/documents").json["items"]}
        assert user_doc.id in ids
        assert (site_doc.id in ids) is sees, who


@pytest.mark.parametrize(
    "method,path",
    [
        ("get", "/api/v1/documents/{id}"),
        ("get", "/api/v1/documents/{id}/history"),
        ("get", "/api/v1/documents/{id}/content"),
        ("get", "/api/v1/documents/{id}/versions/1/content"),
        ("get", "/api/v1/documents/{id}/compare?a=1&b=1"),
        ("patch", "/api/v1/documents/{id}"),
        ("delete", "/api/v1/documents/{id}"),
    ],
)
def test_idor_answers_like_a_missing_document_and_is_logged(world, docs, method, path):
    _, site_doc = docs
    bob = world.api("bob")
    kwargs = {"json": {"metadata": {"status": "effective"}}} if method == "patch" else {}
    hidden = getattr(bob, method)(path.format(id=site_doc.id), **kwargs)
    missing = getattr(bob, method)(path.format(id=99999), **kwargs)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json["error"]["message"].replace(str(site_doc.id), "N") == missing.json["error"]["message"].replace(
        "99999", "N"
    )
    denied = [e for e in world.svc.catalog.audit_entries(actions=["access.denied"])]
    assert len(denied) == 1 and denied[0].actor == "bob" and denied[0].document_id == site_doc.id
    assert world.svc.verify_audit().ok


def test_version_of_another_document_is_not_reachable(world, docs):
    _user_doc, site_doc = docs
    err(world.api("alice").get(f"/api/v1/documents/{site_doc.id}/versions/2/content"), 404)


@pytest.mark.parametrize(
    "method,path,kwargs",
    [
        ("post", "/api/v1/documents", None),
        ("patch", "/api/v1/documents/{id}", {"json": {"metadata": {"status": "effective"}}}),
        ("post", "/api/v1/documents/{id}/versions", "file"),
        ("delete", "/api/v1/documents/{id}", {"json": {"reason": "x"}}),
        ("post", "/api/v1/users", {"json": {"username": "eve", "role": "admin"}}),
        ("patch", "/api/v1/users/bob", {"json": {"role": "admin"}}),
    ],
)
def test_auditor_writes_get_403_and_are_logged(world, docs, method, path, kwargs):
    user_doc, _ = docs
    c = world.api("audit")
    before = world.svc.catalog.counts()
    if kwargs is None:
        resp = upload(c)
    elif kwargs == "file":
        resp = c.post(
            path.format(id=user_doc.id),
            data={"reason": "r", "file": (io.BytesIO(b"new"), "n.txt")},
            content_type="multipart/form-data",
        )
    else:
        resp = getattr(c, method)(path.format(id=user_doc.id), **kwargs)
    e = err(resp, 403, "forbidden")
    assert "审计" in e["message"] and "logged" in e["message_en"]
    after = world.svc.catalog.counts()
    assert after["documents"] == before["documents"] and after["versions"] == before["versions"]
    denied = list(world.svc.catalog.audit_entries(actions=["access.denied"]))
    assert len(denied) == 1 and denied[0].actor == "audit" and denied[0].details["role"] == "auditor"
    assert world.svc.users.get("bob").role.value == "member"


def test_members_file_site_documents_only_into_their_projects(world):
    err(upload(world.api("bob"), **SITE_DOC), 403, "forbidden", "project")
    assert upload(world.api("alice"), **SITE_DOC).status_code == 201
    err(upload(world.api("alice"), **{**SITE_DOC, "project": ""}), 403, "forbidden", "project")
    assert upload(world.api("mgr"), **{**SITE_DOC, "project": "任何项目"}).status_code == 201
    assert world.audit_actions("bob") == ["access.denied"]


def test_member_cannot_move_a_site_document_out_of_reach(world, docs):
    _, site_doc = docs
    resp = world.api("alice").patch(f"/api/v1/documents/{site_doc.id}", json={"metadata": {"project": "银行核心系统"}})
    err(resp, 403, "forbidden", "project")
    assert world.svc.catalog.get_document(site_doc.id).metadata.project == "港口运维二期"


# -- metadata, versions, deletion -------------------------------------------------------------
def test_patch_metadata(world, docs):
    user_doc, _ = docs
    c = world.api("alice")
    resp = c.patch(
        f"/api/v1/documents/{user_doc.id}",
        json={"metadata": {"status": "effective", "review_due": "2027-06-30", "tags": ["SLA"]}, "reason": "签署生效"},
    )
    assert resp.status_code == 200 and resp.json["status"] == "effective" and resp.json["tags"] == ["SLA"]
    ev = c.get(f"/api/v1/documents/{user_doc.id}/history").json["events"][-1]
    assert ev["action"] == "metadata.changed" and ev["details"]["reason"] == "签署生效"
    assert ev["details"]["changes"]["status"] == {"from": "draft", "to": "effective"}


@pytest.mark.parametrize(
    "body,field",
    [
        ("not json", None),
        ([1, 2], None),
        ({"metadata": "status=effective"}, "metadata"),
        ({"metadata": {"title": 123}}, "title"),
        ({"metadata": {"status": "gone"}}, "status"),
        ({"metadata": {}}, None),
        ({"metadata": {"status": "draft"}, "reason": 5}, "reason"),
        ({"metadata": {"effective_date": "2027-01-01", "review_due": "2026-01-01"}}, "review_due"),
    ],
)
def test_patch_rejects_bad_input(world, docs, body, field):
    user_doc, _ = docs
    c = world.api("alice")
    if isinstance(body, str):
        resp = c.patch(f"/api/v1/documents/{user_doc.id}", data=body, content_type="application/json")
    else:
        resp = c.patch(f"/api/v1/documents/{user_doc.id}", json=body)
    err(resp, 400, "invalid_input", field)


def test_add_version(world, docs):
    user_doc, _ = docs
    c = world.api("drafter")
    new = "第三版：响应时间 15 分钟。".encode()
    resp = c.post(
        f"/api/v1/documents/{user_doc.id}/versions",
        data={"reason": "缩短响应时间", "file": (io.BytesIO(new), "v3.txt")},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 201 and resp.json["created"] and resp.json["version"]["number"] == 3
    same = c.post(
        f"/api/v1/documents/{user_doc.id}/versions",
        data={"reason": "重复", "file": (io.BytesIO(new), "v3.txt")},
        content_type="multipart/form-data",
    )
    assert same.status_code == 200 and not same.json["created"]
    err(
        c.post(
            f"/api/v1/documents/{user_doc.id}/versions",
            data={"file": (io.BytesIO(b"v4"), "v4.txt")},
            content_type="multipart/form-data",
        ),
        400,
        "invalid_input",
        "reason",
    )
    err(
        c.post(f"/api/v1/documents/{user_doc.id}/versions", data={"reason": "x"}, content_type="multipart/form-data"),
        400,
        "invalid_input",
        "file",
    )


def test_versions_cannot_be_deleted_and_deletion_is_refused(world, docs):
    user_doc, _ = docs
    c = world.api("root")
    assert c.delete(f"/api/v1/documents/{user_doc.id}/versions/1/content").status_code == 405
    e = err(c.delete(f"/api/v1/documents/{user_doc.id}", json={"reason": "不再需要"}), 409, "conflict")
    assert "archived" in e["message"]
    actions = [e["action"] for e in c.get(f"/api/v1/documents/{user_doc.id}/history").json["events"]]
    assert actions[-2:] == ["deletion.requested", "deletion.refused"]
    assert c.get(f"/api/v1/documents/{user_doc.id}").status_code == 200


def test_download_headers_and_audit(world, docs):
    user_doc, _ = docs
    c = world.api("audit")
    resp = c.get(f"/api/v1/documents/{user_doc.id}/versions/1/content")
    assert resp.data == TEXT_V1
    assert resp.headers["Content-Disposition"].startswith("attachment;")
    assert "filename*=UTF-8''%E8%BF%90" in resp.headers["Content-Disposition"]
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert c.get(f"/api/v1/documents/{user_doc.id}/content").data == TEXT_V2
    downloads = [e for e in world.svc.catalog.audit_entries(actions=["version.downloaded"])]
    assert [(e.actor, e.version) for e in downloads] == [("audit", 1), ("audit", 2)]
    err(c.get(f"/api/v1/documents/{user_doc.id}/versions/9/content"), 404)


def test_compare(world, docs):
    user_doc, _ = docs
    c = world.api("alice")
    d = c.get(f"/api/v1/documents/{user_doc.id}/compare?a=1&b=2").json
    assert (d["a"], d["b"], d["changed"], d["inserted"]) == (1, 2, 1, 1)
    changed = next(r for r in d["rows"] if r["kind"] == "changed")
    assert ["95", True] in changed["right"]
    assert c.get(f"/api/v1/documents/{user_doc.id}/compare").json["b"] == 2
    err(c.get(f"/api/v1/documents/{user_doc.id}/compare?a=x"), 400, "invalid_input", "a")
    err(c.get(f"/api/v1/documents/{user_doc.id}/compare?a=1&b=7"), 404, "not_found", "b")
    viewed = [e.version for e in world.svc.catalog.audit_entries(actions=["version.viewed"])]
    assert viewed[:2] == [1, 2]


# -- audit ------------------------------------------------------------------------------------
def test_audit_log_filters_and_paging(world, docs):
    user_doc, _ = docs
    c = world.api("audit")
    everything = c.get("/api/v1/audit?limit=500").json
    assert everything["total"] == len(everything["items"]) >= 10
    assert everything["items"][0]["seq"] > everything["items"][-1]["seq"]  # newest first
    mine = c.get(f"/api/v1/audit?document_id={user_doc.id}&action=version.added").json
    assert [e["version"] for e in mine["items"]] == [2, 1]
    assert c.get("/api/v1/audit?actor=alice&action=document.created").json["total"] == 2
    page = c.get("/api/v1/audit?limit=2&offset=2").json
    assert len(page["items"]) == 2 and page["items"][0]["seq"] == everything["items"][2]["seq"]
    today = everything["items"][0]["ts"][:10]
    assert c.get(f"/api/v1/audit?since={today}&until={today}").json["total"] == everything["total"]
    assert c.get("/api/v1/audit?until=2000-01-01").json["total"] == 0


@pytest.mark.parametrize(
    "query,field",
    [
        ("action=drop.table", "action"),
        ("since=yesterday", "since"),
        ("limit=1000", "limit"),
        ("document_id=abc", "document_id"),
        ("since=2026-02-01&until=2026-01-01", "until"),
    ],
)
def test_audit_log_rejects_bad_filters(world, query, field):
    err(world.api("audit").get(f"/api/v1/audit?{query}"), 400, "invalid_input", field)


def test_members_cannot_read_the_audit_log(world):
    for path in ("/api/v1/audit", "/api/v1/audit/verify", "/api/v1/health"):
        err(world.api("bob").get(path), 403, "forbidden")
    err(world.api("bob").post("/api/v1/audit/export", json={"since": "2026-01-01", "until": "2026-12-31"}), 403)
    assert world.audit_actions("bob") == ["access.denied"] * 4


def test_audit_verify(world, docs):
    result = world.api("audit").get("/api/v1/audit/verify").json
    assert result["ok"] and result["checked"] >= 10


def test_audit_export(world, docs):
    user_doc, _ = docs
    resp = world.api("audit").post("/api/v1/audit/export", json={"document_id": user_doc.id})
    assert resp.status_code == 200 and resp.mimetype == "application/zip"
    assert f"doc{user_doc.id}" in resp.headers["Content-Disposition"]
    with zipfile.ZipFile(io.BytesIO(resp.data)) as zf:
        names = set(zf.namelist())
        assert {
            "manifest.json",
            "verify_bundle.py",
            "receipt.json",
            "audit/entries.jsonl",
            f"documents/{user_doc.id}/v1.txt",
            f"documents/{user_doc.id}/v2.txt",
        } <= names
        assert json.loads(zf.read("receipt.json"))["details"]["manifest_sha256"] == resp.headers["X-Manifest-SHA256"]
    assert world.audit_actions("audit")[-1] == "exported"
    for body, field in (
        ({}, "since"),
        ({"document_id": "x"}, "document_id"),
        ({"since": "2026-01-01"}, "since"),
        ({"since": "2026-02-01", "until": "2026-01-01"}, "until"),
    ):
        err(world.api("audit").post("/api/v1/audit/export", json=body), 400, "invalid_input", field)
    err(world.api("audit").post("/api/v1/audit/export", json={"document_id": 9999}), 404)


# -- users and health -------------------------------------------------------------------------
def test_users_admin(world):
    c = world.api("root")
    names = [u["username"] for u in c.get("/api/v1/users").json["items"]]
    assert names == sorted(names) and "alice" in names
    resp = c.post(
        "/api/v1/users",
        json={"username": "Wang.Fang", "role": "drafter", "display_name": "王芳", "projects": ["银行核心系统"]},
    )
    assert resp.status_code == 201 and resp.json["user"]["username"] == "wang.fang" and len(resp.json["password"]) >= 12
    assert world.svc.users.login("wang.fang", resp.json["password"])[0].role.value == "drafter"
    changed = c.patch("/api/v1/users/wang.fang", json={"role": "manager", "active": False}).json
    assert changed["role"] == "manager" and changed["active"] is False
    entry = [e for e in world.svc.catalog.audit_entries(actions=["user.changed"])][-1]
    assert entry.actor == "root" and entry.details["changes"]["role"] == {"from": "drafter", "to": "manager"}


@pytest.mark.parametrize(
    "method,path,body,status,field",
    [
        ("post", "/api/v1/users", {"username": "alice", "role": "member"}, 409, "username"),
        ("post", "/api/v1/users", {"username": "x y", "role": "member"}, 400, "username"),
        ("post", "/api/v1/users", {"username": "carol", "role": "god"}, 400, "role"),
        ("post", "/api/v1/users", {"username": "carol", "role": "member", "password": "short"}, 400, "password"),
        ("post", "/api/v1/users", {"username": "carol", "role": "member", "projects": "p"}, 400, "projects"),
        ("post", "/api/v1/users", {"username": ["carol"], "role": "member"}, 400, "username"),
        ("patch", "/api/v1/users/alice", {"active": "no"}, 400, "active"),
        ("patch", "/api/v1/users/alice", {"password": "x"}, 400, "password"),
        ("patch", "/api/v1/users/nobody", {"role": "member"}, 404, "username"),
        ("patch", "/api/v1/users/root", {"role": "member"}, 409, "role"),
    ],
)
def test_users_reject_bad_input(world, method, path, body, status, field):
    err(getattr(world.api("root"), method)(path, json=body), status, field=field)


@pytest.mark.parametrize(
    "method,path,body,known",
    [
        ("patch", "/api/v1/users/alice", {"role": "manager", "rôle": "admin"}, "active"),
        ("post", "/api/v1/documents/bulk", {"ids": [1], "set": {"doc_type": "sla"}, "typo": 1}, "add_tags"),
        ("post", "/api/v1/documents/zip", {"ids": [1], "format": "tar"}, "ids"),
        ("post", "/api/v1/tags", {"name": "紧急", "color": "red"}, "colour"),
        ("post", "/api/v1/views", {"name": "我的合同", "kind": "search", "params": {}, "public": True}, "shared"),
    ],
)
def test_an_unknown_key_is_named_with_the_known_ones_and_nothing_changes(world, docs, method, path, body, known):
    before = world.audit_actions()
    e = err(getattr(world.api("root"), method)(path, json=body), 400, "invalid_input")
    unknown = (set(body) - {"ids", "role", "set", "name", "kind", "params"}).pop()
    assert e["field"] == unknown and unknown in e["message"] and known in e["message"] and known in e["message_en"]
    assert known in e["details"]["valid"]
    assert world.audit_actions() == before


def test_only_admins_manage_users(world):
    err(world.api("mgr").get("/api/v1/users"), 403)
    err(world.api("mgr").post("/api/v1/users", json={"username": "eve", "role": "admin"}), 403)
    assert world.audit_actions("mgr") == ["access.denied", "access.denied"]


def test_health(world, docs):
    h = world.api("audit").get("/api/v1/health").json
    assert h["status"] == "ok" and h["documents"] == 2 and h["versions"] == 3 and h["users"] == 6
    report = world.api("root").post("/api/v1/health/check").json
    assert report["ok"] and report["stats"]["blobs_verified"] == 3 and report["audit"]["ok"]
    err(world.api("alice").post("/api/v1/health/check"), 403)


def test_too_many_multipart_parts_are_refused(world):
    fields = {f"f{i}": "x" for i in range(10_000)}
    fields["file"] = (io.BytesIO(b"x"), "a.txt")
    resp = world.api("alice").post("/api/v1/documents", data=fields, content_type="multipart/form-data")
    err(resp, 413, "too_large")
    assert world.svc.catalog.counts()["documents"] == 0


@pytest.mark.parametrize(
    "name",
    [
        "a\x00b.txt",
        "evil\u202etxt.exe.txt",
        "CON",
        "长" * 300 + ".txt",
        "ｆｕｌｌ－ｗｉｄｔｈ.txt",
        "",
        "..",
        "C:\\Windows\\system32\\x.txt",
    ],
)
def test_hostile_filenames_are_sanitised(world, name):
    resp = upload(world.api("alice"), b"content", name, title="t")
    if resp.status_code != 201:  # Werkzeug may drop a part whose name it cannot parse
        err(resp, 400, "invalid_input", "file")
        return
    stored = resp.json["version"]["original_filename"]
    assert stored and len(stored) <= 255 and "\x00" not in stored and "\u202e" not in stored
    assert "/" not in stored and "\\" not in stored
    html = world.login("alice").get(f"/documents/{resp.json['document']['id']}").data.decode()
    assert "\u202e" not in html
