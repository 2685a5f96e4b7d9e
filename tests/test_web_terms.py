"""Managed tags and counterparties through the pages, the REST API and the CLI: the same use case
behind all three, offered only to managers and administrators, each affected document audited,
bad input refused (400/404/409, bilingual) with nothing changed, autocomplete that names nothing
of another project's on-site documents, tag chips in colour and the tags facet on the search page."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from docsvc.cli import cli
from docsvc.core.model import AuditAction
from tests.webutil import SITE_DOC, USER_DOC, World, app, csrf_of, err, world  # noqa: F401


@pytest.fixture
def docs(world: World):
    g = world.guard("alice")
    user = g.add_document("运维服务合同正文。".encode(), "合同.txt", {**USER_DOC, "tags": "等保,合同"}).document
    site = g.add_document(
        "现场巡检记录：机房温度正常。".encode(),
        "巡检.txt",
        {**SITE_DOC, "tags": "巡检", "counterparty": "港口现场客户"},
    ).document
    bank = (
        world.guard("bob")
        .add_document(
            "银行巡检。".encode(),
            "银行.txt",
            {
                **SITE_DOC,
                "project": "银行核心系统",
                "title": "银行现场巡检记录",
                "tags": "机密",
                "counterparty": "沈阳某银行",
            },
        )
        .document
    )
    world.svc.index.sync()
    return {"user": user, "site": site, "bank": bank}


def _post(client, path: str, **form):
    return client.post(path, data={**form, "csrf_token": csrf_of(client.get(path))})


def test_a_manager_renames_a_tag_on_the_page_and_every_document_follows(world, docs):
    c = world.login("mgr")
    page = c.get("/tags").data.decode()
    assert 'href="/tags"' in page and 'href="/counterparties"' in page  # in the navigation
    assert page.index(">等保<") < page.index(">合同<") < page.index(">机密<") < page.index(">巡检<")  # pinyin
    assert 'class="tag chip-grey">等保<' in page
    resp = _post(c, "/tags", action="rename", name="等保", new_name="等级保护")
    assert resp.status_code == 302 and resp.headers["Location"] == "/tags"
    assert world.svc.archive.document(docs["user"].id).metadata.tags == ("等级保护", "合同")
    entries = [
        e
        for e in world.svc.catalog.audit_entries(document_id=docs["user"].id)
        if e.action == AuditAction.METADATA_CHANGED
    ]
    assert entries[-1].details["reason"] == "标签改名 / tag renamed：等保 → 等级保护" and entries[-1].actor == "mgr"
    assert _post(c, "/tags", action="colour", name="等级保护", colour="purple").status_code == 302
    doc_page = c.get(f"/documents/{docs['user'].id}").data.decode()
    assert 'class="tag chip-purple">等级保护<' in doc_page
    assert 'class="tag chip-purple">等级保护<' in c.get("/documents").data.decode()
    assert _post(c, "/tags", action="create", name="临时", colour="red").status_code == 302
    assert _post(c, "/tags", action="remove", name="临时").status_code == 302
    assert (
        _post(c, "/counterparties", action="merge", name="港口现场客户", into="大连港集团有限公司").status_code == 302
    )
    assert world.svc.archive.document(docs["site"].id).metadata.counterparty == "大连港集团有限公司"
    audit = world.login("audit").get("/audit?action=terms.changed").data.decode()
    assert "等保 → 等级保护" in audit


def test_bad_input_on_the_page_is_refused_with_nothing_changed(world, docs):
    c = world.login("root")
    for form, status, words in (
        ({"action": "create", "name": ""}, 400, "不能为空"),
        ({"action": "create", "name": "坏\x07"}, 400, "控制字符"),
        ({"action": "create", "name": "长" * 51}, 400, "最多 50"),
        ({"action": "rename", "name": "等保", "new_name": "合同"}, 409, "已存在"),
        ({"action": "merge", "name": "等保", "into": "等保"}, 400, "合并到它自己"),
        ({"action": "merge", "name": "不存在", "into": "等保"}, 404, "不存在"),
        ({"action": "remove", "name": "等保"}, 409, "仍用于"),
        ({"action": "explode", "name": "等保"}, 400, "未知操作"),
    ):
        resp = _post(c, "/tags", **form)
        assert resp.status_code == status and words in resp.data.decode(), (form, resp.data.decode()[:300])
    en = world.login("root", lang="en")
    assert "into itself" in _post(en, "/tags", action="merge", name="等保", into="等保").data.decode()
    assert _post(c, "/counterparties", action="colour", name="沈阳某银行", colour="red").status_code == 400
    assert world.svc.archive.document(docs["user"].id).metadata.tags == ("等保", "合同")
    assert c.post("/tags", data={"action": "create", "name": "x"}).status_code == 400  # no CSRF token


@pytest.mark.parametrize("who", ["drafter", "alice", "audit"])
def test_other_roles_get_no_page_no_link_and_are_logged(world, docs, who):
    c = world.login(who)
    home = c.get("/").data.decode()
    assert 'href="/tags"' not in home and 'href="/counterparties"' not in home
    assert c.get("/tags").status_code == 403 and c.get("/counterparties").status_code == 403
    token = csrf_of(c.get("/"))
    assert (
        c.post("/tags", data={"action": "rename", "name": "等保", "new_name": "x", "csrf_token": token}).status_code
        == 403
    )
    err(world.api(who).post("/api/v1/tags/merge", json={"name": "合同", "into": "等保"}), 403, "forbidden")
    err(world.api(who).get("/api/v1/counterparties/catalog"), 403)
    denied = [
        e.details["operation"]
        for e in world.svc.catalog.audit_entries()
        if e.action == AuditAction.ACCESS_DENIED and e.actor == who
    ]
    assert {"list_tag", "rename_tag", "merge_tag", "list_counterparty"} <= set(denied)
    assert world.svc.archive.document(docs["user"].id).metadata.tags == ("等保", "合同")


def test_the_api_same_use_case(world, docs):
    api = world.api("mgr")
    listed = api.get("/api/v1/tags/catalog").json["items"]
    assert [(t["name"], t["documents"]) for t in listed] == [("等保", 1), ("合同", 1), ("机密", 1), ("巡检", 1)]
    made = api.post("/api/v1/tags", json={"name": "  安全 ", "colour": "green"})
    assert made.status_code == 201 and made.json == {**made.json, "name": "安全", "colour": "green", "documents": 0}
    merged = api.post("/api/v1/tags/merge", json={"name": "合同", "into": "等保"})
    assert merged.status_code == 200 and merged.json["counts"]["changed"] == 1 and merged.json["previous"] == "合同"
    assert api.post("/api/v1/tags/colour", json={"name": "等保", "colour": "blue"}).json["colour"] == "blue"
    renamed = api.post("/api/v1/counterparties/rename", json={"name": "沈阳某银行", "new_name": "沈阳银行"})
    assert (
        renamed.status_code == 200
        and renamed.json["term"]["name"] == "沈阳银行"
        and "colour" not in renamed.json["term"]
    )
    assert api.post("/api/v1/tags/remove", json={"name": "安全"}).json["name"] == "安全"
    err(api.post("/api/v1/tags", json={"name": ""}), 400, field="name")
    err(api.post("/api/v1/tags", json={"name": "x", "colour": ""}), 400, field="colour")
    err(api.post("/api/v1/tags", json={"name": "x", "shade": "red"}), 400, field="shade")
    err(api.post("/api/v1/tags", json={"name": "甲,乙"}), 400, field="name")
    err(api.post("/api/v1/counterparties", json={"name": "x", "colour": "red"}), 400, field="colour")
    err(api.post("/api/v1/tags/rename", json={"name": "等保", "new_name": "机密"}), 409, field="new_name")
    err(api.post("/api/v1/tags/merge", json={"name": "等保", "into": "等保"}), 400, field="into")
    err(api.post("/api/v1/tags/merge", json={"name": "无", "into": "等保"}), 404, field="name")
    err(api.post("/api/v1/tags/remove", json={"name": "等保"}), 409)
    err(api.post("/api/v1/tags/rename", json=["等保"]), 400)
    assert world.svc.archive.document(docs["user"].id).metadata.tags == ("等保",)


def test_suggestions_hide_other_projects_on_site_names(world, docs):
    alice, bob, audit = world.api("alice"), world.api("bob"), world.api("audit")
    assert alice.get("/api/v1/counterparties?prefix=").json["items"] == ["大连港集团有限公司", "港口现场客户"]
    assert bob.get("/api/v1/counterparties").json["items"] == ["大连港集团有限公司", "沈阳某银行"]
    assert alice.get("/api/v1/tags?prefix=机").json["items"] == []
    assert audit.get("/api/v1/tags?prefix=机").json["items"] == ["机密"]
    assert alice.get("/api/v1/tags?prefix=等&limit=1").json["items"] == ["等保"]
    err(alice.get("/api/v1/tags?limit=0"), 400, field="limit")
    err(alice.get("/api/v1/tags?prefix=%00"), 400, field="prefix")
    err(alice.get("/api/v1/tags?prefix=" + "等" * 201), 400, field="prefix")
    # The pages ask with the session and its CSRF header (static/terms.js).
    c = world.login("alice")
    upload = c.get("/upload").data.decode()
    assert 'data-suggest="/api/v1/counterparties"' in upload and 'data-suggest="/api/v1/tags"' in upload
    edit = c.get(f"/documents/{docs['user'].id}/edit").data.decode()
    assert 'list="dl-tags"' in edit and "data-multi" in edit
    assert 'data-suggest="/api/v1/tags"' in c.get("/documents").data.decode()  # the bulk form
    token = csrf_of(c.get("/"))
    got = c.get("/api/v1/counterparties?prefix=大连", headers={"X-CSRFToken": token})
    assert got.status_code == 200 and got.json["items"] == ["大连港集团有限公司"]


def test_the_search_page_offers_tags_as_a_facet(world, docs):
    world.guard("mgr").terms("tag").recolour("等保", "red")
    c = world.login("alice")
    page = c.get("/search?q=").data.decode()
    assert "标签" in page and "等保" in page and "机密" not in page
    filtered = c.get("/search?q=&filter=tags:等保").data.decode()
    assert "大连港集团信息系统运维服务合同" in filtered and "港口运维二期现场巡检记录" not in filtered
    assert 'class="tag chip-red">等保<' in filtered


def test_tags_from_the_command_line(world, docs, config, monkeypatch):
    for key, value in config.items():
        monkeypatch.setenv(f"DOCSVC_{key}", str(value))
    run = CliRunner().invoke
    listed = run(cli, ["--as", "mgr", "tag", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    assert [t["name"] for t in json.loads(listed.output)["items"]] == ["等保", "合同", "机密", "巡检"]
    assert run(cli, ["--as", "mgr", "tag", "add", "安全", "--colour", "green"]).exit_code == 0
    renamed = run(cli, ["--as", "mgr", "tag", "rename", "等保", "等级保护"])
    assert renamed.exit_code == 0 and "1 份文档" in renamed.output
    assert run(cli, ["--as", "mgr", "tag", "merge", "合同", "等级保护"]).exit_code == 0
    assert run(cli, ["--as", "mgr", "tag", "colour", "等级保护", "blue"]).exit_code == 0
    assert run(cli, ["--as", "mgr", "tag", "remove", "安全"]).exit_code == 0
    assert world.svc.archive.document(docs["user"].id).metadata.tags == ("等级保护",)
    assert "沈阳某银行" in run(cli, ["counterparty", "list"]).output  # the operator: every name
    merged = run(cli, ["--as", "root", "counterparty", "merge", "沈阳某银行", "大连港集团有限公司", "--json"])
    assert merged.exit_code == 0 and json.loads(merged.output)["counts"]["changed"] == 1
    bad = run(cli, ["--as", "mgr", "tag", "merge", "等级保护", "等级保护"])
    assert bad.exit_code == 2 and "合并到它自己" in bad.output and "into itself" in bad.output
    refused = run(cli, ["--as", "alice", "tag", "rename", "等级保护", "x"])
    assert refused.exit_code == 2 and "无权" in refused.output
    unknown = run(cli, ["--as", "mgr", "counterparty", "rename", "不存在", "x"])
    assert unknown.exit_code != 0 and "不存在" in unknown.output
