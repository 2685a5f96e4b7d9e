"""The JSON endpoints of the archive, through Flask's test client on a real catalog."""

from __future__ import annotations

import pytest

from docsvc.web.factory import create_app
from tests.conftest import add


@pytest.fixture
def app(config):
    app = create_app({**config, "TESTING": True})
    yield app
    app.extensions["docsvc"].close()


@pytest.fixture
def client(app):
    # The API needs a bearer token (docsvc/web/auth.py); an administrator's reads everything.
    users = app.extensions["docsvc"].users
    users.create_user("api-admin", "admin", actor="test", password="test-password")
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {users.issue_token('api-admin', actor='test').secret}"
    return client


def test_health(client):
    resp = client.get("/health")
    assert resp.status_code == 200 and resp.json["status"] == "ok"
    assert resp.json["schema"]["current"] == resp.json["schema"]["head"]


def test_operator_health_shows_index_and_converter(app, client):
    svc = app.extensions["docsvc"]
    add(svc)
    h = client.get("/api/v1/health").json
    assert h["outbox_pending"] == 1 and h["index"]["outbox_pending"] == 1
    assert h["converter"]["state"] == "not started" and h["indexer"] is None
    svc.index.sync()
    h = client.get("/api/v1/health").json
    assert h["index"]["ok"] is True and h["index"]["indexed_versions"] == h["index"]["catalog_versions"] == 1
    page = client.get("/admin/health")  # the bearer token does not log the browser in
    assert page.status_code in (302, 401)


def test_list_show_history_download(app, client):
    svc = app.extensions["docsvc"]
    r = add(svc, "服务等级协议：可用性 99.9%。".encode(), "SLA 2026.txt", doc_type="sla", title="港口 SLA")
    svc.archive.add_version(
        r.document.id, "服务等级协议：可用性 99.95%。".encode(), "SLA 2027.txt", actor="李娜", reason="提高可用性目标"
    )
    listed = client.get("/api/v1/documents?doc_type=sla").json
    assert listed["total"] == 1 and listed["items"][0]["title"] == "港口 SLA"
    shown = client.get(f"/api/v1/documents/{r.document.id}").json
    assert [v["number"] for v in shown["versions"]] == [1, 2]
    hist = client.get(f"/api/v1/documents/{r.document.id}/history").json
    assert hist["events"][-1]["details"]["reason"] == "提高可用性目标"

    resp = client.get(f"/api/v1/documents/{r.document.id}/versions/1/content")
    assert resp.status_code == 200 and resp.data == "服务等级协议：可用性 99.9%。".encode()
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Content-Disposition"].startswith("attachment;")
    assert "filename*=UTF-8''SLA%202026.txt" in resp.headers["Content-Disposition"]
    assert resp.headers["ETag"] == f'"{r.version.sha256}"'
    assert "default-src 'none'" in resp.headers["Content-Security-Policy"]
    latest = client.get(f"/api/v1/documents/{r.document.id}/content")
    assert latest.data == "服务等级协议：可用性 99.95%。".encode()
    events = [e["action"] for e in client.get(f"/api/v1/documents/{r.document.id}/history").json["events"]]
    assert events.count("version.downloaded") == 2


@pytest.mark.parametrize(
    "url,status,code",
    [
        ("/api/v1/documents/999", 404, "not_found"),
        ("/api/v1/documents/999/versions/1/content", 404, "not_found"),
        ("/api/v1/documents?sort=title;DROP", 400, "invalid_input"),
        ("/api/v1/documents?limit=abc", 400, "invalid_input"),
        ("/api/v1/documents?colour=red", 400, "invalid_input"),
        ("/api/v1/nowhere", 404, "not_found"),
    ],
)
def test_errors_have_one_shape(client, url, status, code):
    resp = client.get(url)
    assert resp.status_code == status
    err = resp.json["error"]
    assert err["code"] == code and err["message"] and err["message_en"]


def test_version_of_another_document_is_not_reachable(app, client):
    svc = app.extensions["docsvc"]
    a = add(svc, b"a", "a.txt")
    add(svc, b"b", "b.txt")
    assert client.get(f"/api/v1/documents/{a.document.id}/versions/2/content").status_code == 404
