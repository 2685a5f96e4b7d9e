"""Saved views and the dashboard through the pages, the REST API and the CLI: the same use case
behind all three, the viewer's rights applied to shared views and widgets, bad input refused
with nothing saved."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from docsvc.cli import cli
from tests.webutil import SITE_DOC, USER_DOC, World, app, csrf_of, err, world  # noqa: F401


@pytest.fixture
def docs(world: World):
    g = world.guard("alice")
    user = g.add_document("运维服务合同正文。".encode(), "合同.txt", USER_DOC).document
    site = g.add_document("现场巡检记录：机房温度正常。".encode(), "巡检.txt", SITE_DOC).document
    sla = g.add_document(
        "服务等级协议：可用性 99.9%。".encode(),
        "sla.txt",
        {**USER_DOC, "title": "年度服务等级协议", "doc_type": "sla", "review_due": "2000-01-01"},
    ).document
    world.svc.index.sync()
    return {"user": user, "site": site, "sla": sla}


def _save(client, kind: str, params: str, name: str, **extra):
    return client.post(
        "/views",
        data={"kind": kind, "params": params, "name": name, "csrf_token": csrf_of(client.get("/views")), **extra},
    )


def test_save_a_search_as_a_view_see_it_in_the_navigation_and_pin_it(world, docs):
    c = world.login("alice")
    page = c.get("/search?q=巡检").data.decode()
    assert 'id="save-view"' in page and 'name="params" value="q=巡检"' in page
    resp = _save(c, "search", "q=巡检", "现场巡检", pinned="1")
    assert resp.status_code == 302 and resp.headers["Location"].startswith("/search?q=")
    home = c.get("/").data.decode()
    assert 'class="navview"' in home and "现场巡检" in home  # in the navigation (the phone menu too)
    view = world.guard("alice").views.list()[0]
    assert f'id="widget-{view.id}"' in home and "港口运维二期现场巡检记录" in home
    assert c.get(f"/views/{view.id}").headers["Location"] == "/search?q=%E5%B7%A1%E6%A3%80"
    manage = c.get("/views").data.decode()
    assert f'id="unpin-{view.id}"' in manage and f'id="delete-{view.id}"' in manage


def test_save_a_document_list_filter_and_manage_it(world, docs):
    c = world.login("alice")
    page = c.get("/documents?doc_class=site&sort=title").data.decode()
    assert 'id="save-view"' in page and 'value="doc_class=site&amp;sort=title"' in page
    assert _save(c, "documents", "doc_class=site&sort=title", "现场文档").status_code == 302
    view = world.guard("alice").views.list()[0]
    token = csrf_of(c.get("/views"))
    assert (
        c.post(f"/views/{view.id}", data={"action": "rename", "name": "我的现场文档", "csrf_token": token}).status_code
        == 302
    )
    assert c.post(f"/views/{view.id}", data={"action": "share", "csrf_token": token}).status_code == 302
    assert c.post(f"/views/{view.id}", data={"action": "pin", "csrf_token": token}).status_code == 302
    got = world.guard("alice").views.get(view.id)
    assert got.name == "我的现场文档" and got.shared and got.pinned
    assert c.post(f"/views/{view.id}", data={"action": "delete", "csrf_token": token}).status_code == 302
    assert world.guard("alice").views.list() == []


def test_bad_views_from_the_page_are_refused_with_nothing_saved(world, docs):
    c = world.login("alice")
    for kind, params, name, status, words in (
        ("documents", "sort=title;DROP", "坏排序", 400, "无法按"),
        ("search", "q=year:x", "坏查询", 400, "年份"),
        ("search", "q=合同", "", 400, "名称"),
        ("report", "q=合同", "x", 400, "视图类型"),
    ):
        resp = _save(c, kind, params, name)
        assert resp.status_code == status and words in resp.data.decode(), (params, resp.data.decode()[:300])
    assert _save(c, "search", "q=合同", "合同").status_code == 302
    taken = _save(c, "search", "q=协议", "合同")
    assert taken.status_code == 409 and "已有名为" in taken.data.decode()
    assert [v.name for v in world.guard("alice").views.list()] == ["合同"]
    en = world.login("alice", lang="en")
    assert "Cannot sort by" in _save(en, "documents", "sort=nope", "x").data.decode()
    token = csrf_of(c.get("/views"))
    view = world.guard("alice").views.list()[0]
    assert c.post(f"/views/{view.id}", data={"action": "explode", "csrf_token": token}).status_code == 400
    assert c.post(f"/views/{view.id}", data={"action": "rename", "name": " ", "csrf_token": token}).status_code == 400
    assert c.post(f"/views/{view.id}", data={"action": "delete"}).status_code == 400  # no CSRF token
    assert world.guard("alice").views.get(view.id).name == "合同"


def test_a_member_sees_no_count_or_title_of_other_projects_on_site_documents(world, docs):
    mgr = world.guard("mgr").views.create("现场文档", "documents", "doc_class=site", shared=True)
    world.guard("bob").views.pin(mgr.id)
    bob = world.login("bob").get("/").data.decode()
    assert "巡检" not in bob
    assert f'id="widget-{mgr.id}"' in bob and "没有符合条件的文档" in bob
    dash = world.api("bob").get("/api/v1/dashboard").json
    assert dash["total"] == 2 and {c["doc_class"] for c in dash["by_class"]} == {"user"}
    assert dash["widgets"][0]["total"] == 0 and dash["widgets"][0]["items"] == []
    assert all(a["document_id"] != docs["site"].id for a in dash["activity"])
    assert "巡检" not in json.dumps(dash, ensure_ascii=False)
    alice = world.api("alice").get("/api/v1/dashboard").json
    assert alice["total"] == 3 and alice["widgets"] == [] and alice["shortcuts"] == {"upload": True, "drafting": False}
    assert [d["title"] for d in alice["due_for_review"]] == ["年度服务等级协议"] and alice["due_for_review"][0][
        "days"
    ] < 0
    assert alice["review"] is not None


def test_shortcuts_follow_the_role(world, docs):
    auditor = world.login("audit").get("/").data.decode()
    assert 'id="shortcut-upload"' not in auditor and 'id="shortcut-draft"' not in auditor
    assert 'href="/labels/review"' not in auditor
    drafter = world.login("drafter").get("/").data.decode()
    assert 'id="shortcut-upload"' in drafter and 'id="shortcut-draft"' in drafter
    member = world.login("bob").get("/").data.decode()
    assert 'id="shortcut-upload"' in member and 'id="shortcut-draft"' not in member


def test_a_non_owner_cannot_change_or_delete_a_shared_view(world, docs):
    view = world.guard("alice").views.create("合同", "search", "q=合同", shared=True)
    private = world.guard("alice").views.create("私人", "search", "q=协议")
    c = world.login("bob")
    token = csrf_of(c.get("/views"))
    assert c.post(f"/views/{view.id}", data={"action": "delete", "csrf_token": token}).status_code == 403
    assert c.post(f"/views/{private.id}", data={"action": "delete", "csrf_token": token}).status_code == 404
    assert "只有创建者可以修改" in c.get("/views").data.decode()
    err(world.api("bob").delete(f"/api/v1/views/{view.id}"), 403, "forbidden")
    err(world.api("bob").patch(f"/api/v1/views/{view.id}", json={"name": "改"}), 403)
    err(world.api("bob").get(f"/api/v1/views/{private.id}"), 404, field="view_id")
    assert world.api("bob").patch(f"/api/v1/views/{view.id}", json={"pinned": True}).json["pinned"] is True
    assert world.api("root").delete(f"/api/v1/views/{private.id}").status_code == 204
    assert [v.name for v in world.guard("alice").views.list()] == ["合同"]


def test_views_through_the_api(world, docs):
    api = world.api("alice")
    made = api.post("/api/v1/views", json={"name": "现场", "kind": "documents", "params": [["doc_class", "site"]]})
    assert made.status_code == 201 and made.headers["Location"] == f"/api/v1/views/{made.json['id']}"
    view_id = made.json["id"]
    assert api.get("/api/v1/views").json["items"][0]["query_string"] == "doc_class=site"
    results = api.get(f"/api/v1/views/{view_id}/results?limit=1").json
    assert results["total"] == 1 and results["items"][0]["title"] == "港口运维二期现场巡检记录"
    changed = api.patch(f"/api/v1/views/{view_id}", json={"params": "doc_class=user", "shared": True}).json
    assert changed["params"] == [["doc_class", "user"]] and changed["shared"]
    for body, field in (
        ({"name": "x", "kind": "search", "params": "q=date:abc"}, "q"),
        ({"name": "x", "kind": "search", "params": 3}, "params"),
        ({"name": "x", "kind": "documents", "params": "doc_type=nonsense"}, "doc_type"),
        ({"name": "x", "kind": "documents", "params": "", "colour": 1}, "colour"),
        ({"name": "x" * 101, "kind": "search", "params": "q=合同"}, "name"),
        ({"name": "x", "kind": "search", "params": "q=合同", "shared": "yes"}, "shared"),
    ):
        err(api.post("/api/v1/views", json=body), 400, field=field)
    err(api.post("/api/v1/views", json={"name": "现场", "kind": "search", "params": "q=合同"}), 409, field="name")
    err(api.get(f"/api/v1/views/{view_id}/results?limit=0"), 400, field="limit")
    err(api.patch(f"/api/v1/views/{view_id}", json={"kind": "search"}), 400, field="kind")
    assert len(api.get("/api/v1/views").json["items"]) == 1
    assert api.delete(f"/api/v1/views/{view_id}").status_code == 204
    err(api.get(f"/api/v1/views/{view_id}"), 404)


def test_views_from_the_command_line(world, docs, config, monkeypatch):
    for key, value in config.items():
        monkeypatch.setenv(f"DOCSVC_{key}", str(value))
    run = CliRunner().invoke
    added = run(
        cli,
        [
            "--as",
            "alice",
            "view",
            "add",
            "待复审合同",
            "--kind",
            "documents",
            "--query",
            "doc_type=sla&review_due_before=2026-12-31",
            "--shared",
            "--pin",
            "--json",
        ],
    )
    assert added.exit_code == 0, added.output
    view_id = json.loads(added.output)["id"]
    listed = run(cli, ["--as", "bob", "view", "list", "--results", "--json"])
    assert listed.exit_code == 0 and json.loads(listed.output)["items"][0]["total"] == 1
    assert "待复审合同" in run(cli, ["--as", "alice", "view", "list"]).output
    bad = run(cli, ["--as", "alice", "view", "add", "坏", "--kind", "documents", "--query", "sort=nope"])
    assert bad.exit_code == 2 and "无法按" in bad.output and "Cannot sort" in bad.output
    refused = run(cli, ["--as", "bob", "view", "remove", str(view_id)])
    assert refused.exit_code == 2 and "无权" in refused.output
    nobody = run(cli, ["--as", "运维值班", "view", "list"])
    assert nobody.exit_code == 2 and "--as" in nobody.output
    removed = run(cli, ["--as", "alice", "view", "remove", "待复审合同"])
    assert removed.exit_code == 0 and "已删除" in removed.output
    assert world.guard("alice").views.list() == []
