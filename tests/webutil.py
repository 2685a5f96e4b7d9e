"""Fixtures and helpers shared by the web, API, user and export tests (imported by them)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from flask.testing import FlaskClient

from docsvc.web.factory import create_app

PASSWORD = "correct-horse-42"

# username → (role, projects)
PEOPLE = {
    "root": ("admin", ()),
    "mgr": ("manager", ()),
    "drafter": ("drafter", ("港口运维二期",)),
    "alice": ("member", ("港口运维二期",)),
    "bob": ("member", ("银行核心系统",)),
    "audit": ("auditor", ()),
}

USER_DOC = {
    "title": "大连港集团信息系统运维服务合同",
    "doc_type": "contract",
    "service_category": "4.2",
    "doc_class": "user",
    "project": "港口运维二期",
    "counterparty": "大连港集团有限公司",
}
SITE_DOC = {
    "title": "港口运维二期现场巡检记录",
    "doc_type": "report",
    "service_category": "4.2",
    "doc_class": "site",
    "project": "港口运维二期",
}


@dataclass
class World:
    app: object
    tokens: dict[str, str]

    @property
    def svc(self):
        return self.app.extensions["docsvc"]

    def api(self, who: str) -> FlaskClient:
        client = self.app.test_client()
        client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {self.tokens[who]}"
        return client

    def guard(self, who: str):
        return self.svc.guard(self.svc.users.principal_for_cli(who))

    def audit_actions(self, actor: str | None = None) -> list[str]:
        return [e.action for e in self.svc.catalog.audit_entries() if actor is None or e.actor == actor]

    def login(self, who: str, *, lang: str | None = None) -> FlaskClient:
        client = self.app.test_client()
        if lang:
            client.set_cookie("docsvc_lang", lang)
        page = client.get("/login")
        resp = client.post("/login", data={"username": who, "password": PASSWORD, "csrf_token": csrf_of(page)})
        assert resp.status_code == 302, resp.data.decode()[:500]
        return client


def csrf_of(resp) -> str:
    match = re.search(r'name="csrf-token" content="([^"]+)"', resp.data.decode())
    assert match, "page has no CSRF token"
    return match.group(1)


@pytest.fixture
def app(config):
    app = create_app({**config, "TESTING": True, "FSYNC": False})
    yield app
    app.extensions["docsvc"].close()


@pytest.fixture
def world(app) -> World:
    svc = app.extensions["docsvc"]
    tokens = {}
    for name, (role, projects) in PEOPLE.items():
        svc.users.create_user(name, role, actor="setup", password=PASSWORD, projects=projects)
        tokens[name] = svc.users.issue_token(name, actor="setup", name="test").secret
    return World(app, tokens)


def err(resp, status, code=None, field=None):
    """Assert the one JSON error shape (bilingual message, code, field) and return it."""
    assert resp.status_code == status, resp.data.decode()[:800]
    e = resp.json["error"]
    assert e["message"] and e["message_en"]
    if code:
        assert e["code"] == code, e
    if field:
        assert e.get("field") == field, e
    return e
