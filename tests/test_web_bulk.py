"""The document list's views, sorting and selection through the web UI, the REST API and the CLI:
one bulk use case behind all three, audited and refused per document."""

from __future__ import annotations

import io
import json
import re
import zipfile

import lxml.html
import pytest
from click.testing import CliRunner

from docsvc.cli import cli
from docsvc.core.model import AuditAction
from tests.webutil import SITE_DOC, USER_DOC, World, app, csrf_of, err, world  # noqa: F401


@pytest.fixture
def docs(world: World):
    g = world.guard("alice")
    made = {}
    for title in ("招商银行运维合同", "长沙驻场方案", "阿里云采购合同", "北京机房巡检"):
        made[title] = g.add_document(title.encode(), f"{title}.txt", {**USER_DOC, "title": title}).document
    made["site"] = g.add_document("现场".encode(), "现场.txt", SITE_DOC).document
    made["bob"] = (
        world.guard("bob")
        .add_document(
            "银行".encode(), "银行.txt", {**SITE_DOC, "title": "银行核心系统现场记录", "project": "银行核心系统"}
        )
        .document
    )
    return made


def _titles(html: str) -> list[str]:
    tree = lxml.html.fromstring(html)
    return [a.text_content() for a in tree.xpath("//td[@class='card-title']/a | //a[@class='doccard-title']")]


def _metadata_changes(world, doc_id):
    return [e for e in world.svc.catalog.audit_entries(document_id=doc_id) if e.action == AuditAction.METADATA_CHANGED]


def test_list_as_table_or_cards_remembered_per_browser(world, docs):
    c = world.login("alice")
    table = c.get("/documents")
    assert 'class="data cards"' in table.data.decode() and 'class="doccards"' not in table.data.decode()
    cards = c.get("/documents?view=cards")
    page = cards.data.decode()
    assert cards.status_code == 200 and 'class="doccards"' in page
    assert "docsvc_list_view=cards" in cards.headers["Set-Cookie"] and "HttpOnly" in cards.headers["Set-Cookie"]
    tree = lxml.html.fromstring(page)
    card = tree.xpath("//li[contains(@class, 'doccard')]")[0]
    assert card.xpath(".//*[contains(@class, 'thumb')]") and card.xpath(".//dl[@class='doccard-meta']")
    # Remembered: the next visit without ?view= shows cards; another browser still the table.
    assert 'class="doccards"' in c.get("/documents").data.decode()
    assert 'class="doccards"' not in world.login("alice").get("/documents").data.decode()
    assert 'class="data cards"' in c.get("/documents?view=table").data.decode()
    assert c.get("/documents?view=nonsense").status_code == 200


def test_every_column_sorts_both_ways_titles_in_pinyin_order(world, docs):
    c = world.login("alice")
    expected = ["阿里云采购合同", "北京机房巡检", "长沙驻场方案", "港口运维二期现场巡检记录", "招商银行运维合同"]
    assert _titles(c.get("/documents?sort=title").data.decode()) == expected
    assert _titles(c.get("/documents?sort=-title&view=cards").data.decode()) == expected[::-1]
    two = [_titles(c.get(f"/documents?sort=title&per_page=25&offset={o}").data.decode()) for o in (0,)]
    assert two[0] == expected  # bob's on-site document of another project is not shown to alice
    tree = lxml.html.fromstring(c.get("/documents?view=table").data.decode())
    sortable = {re.search(r"sort=-?(\w+)", a.get("href")).group(1) for a in tree.xpath("//thead//th/a")}
    assert sortable == {
        "id",
        "title",
        "doc_type",
        "service_category",
        "project",
        "counterparty",
        "status",
        "review_due",
        "updated_at",
    }
    for key in sortable | {"created_at", "effective_date"}:
        for way in ("", "-"):
            assert c.get(f"/documents?sort={way}{key}").status_code == 200, key
    assert c.get("/documents?sort=owner").status_code == 400


def test_list_offers_labelled_checkboxes_and_a_bulk_bar(world, docs):
    page = world.login("alice").get("/documents").data.decode()
    tree = lxml.html.fromstring(page)
    boxes = tree.xpath("//input[@name='ids']")
    assert len(boxes) == 5
    for box in boxes:
        assert tree.xpath(f"//label[@for='{box.get('id')}']")[0].text_content().startswith("选择")
    assert tree.xpath("//input[@data-select-all]/ancestor::label")
    assert tree.xpath("//form[@data-bulk]//input[@name='csrf_token']")
    assert tree.xpath("//button[@value='set']") and tree.xpath("//button[@value='zip']")
    # An auditor may download but not change: no edit part of the bar.
    audit = lxml.html.fromstring(world.login("audit").get("/documents").data.decode())
    assert audit.xpath("//button[@value='zip']") and not audit.xpath("//button[@value='set']")


def test_bulk_set_through_the_web_reports_per_document(world, docs):
    c = world.login("alice")
    token = csrf_of(c.get("/documents"))
    ids = [docs["阿里云采购合同"].id, docs["site"].id]
    resp = c.post(
        "/documents/bulk",
        data={
            "ids": [str(i) for i in ids],
            "action": "set",
            "project": "别的项目",
            "status": "effective",
            "add_tags": "年度，重要",
            "csrf_token": token,
            "back": "sort=title&evil=1",
        },
    )
    assert resp.status_code == 200
    page = resp.data.decode()
    tree = lxml.html.fromstring(page)
    summary = tree.xpath("//*[@data-bulk-summary]")[0].text_content()
    assert "已修改 1 份" in summary and "被拒绝 1 份" in summary
    refused = tree.xpath("//tr[@class='bulk-refused']")[0].text_content()
    assert "现场文档" in refused and "别的项目" in refused
    assert tree.xpath("//a[text()='返回文档列表']")[0].get("href") == "/documents?sort=title"
    assert world.svc.archive.document(ids[0]).metadata.project == "别的项目"
    assert world.svc.archive.document(ids[1]).metadata.project == "港口运维二期"
    assert _metadata_changes(world, ids[0])[-1].actor == "alice"
    # In English too.
    c.set_cookie("docsvc_lang", "en")
    en = c.post(
        "/documents/bulk",
        data={"ids": [str(i) for i in ids], "action": "set", "status": "archived", "csrf_token": token},
    ).data.decode()
    assert "Changed 2, already so 0, refused 0." in en  # the status alone: allowed for both
    assert world.svc.archive.document(ids[1]).metadata.status.value == "archived"


@pytest.mark.parametrize(
    "form, status",
    [
        ({"ids": [], "status": "effective"}, 400),
        ({"ids": ["999999"], "status": "effective"}, 400),
        ({"ids": [str(2**63)], "status": "effective"}, 400),
        ({"ids": ["abc"], "status": "effective"}, 400),
        ({"doc_type": "no_such_type"}, 400),
        ({"service_category": "9.9"}, 400),
        ({}, 400),
        ({"action": "drop"}, 400),
    ],
)
def test_bad_bulk_input_is_refused_and_changes_nothing(world, docs, form, status):
    c = world.login("alice")
    token = csrf_of(c.get("/documents"))
    before = len(list(world.svc.catalog.audit_entries()))
    data = {"ids": [str(docs["阿里云采购合同"].id)], "action": "set", "csrf_token": token, **form}
    resp = c.post("/documents/bulk", data=data)
    assert resp.status_code == status
    tree = lxml.html.fromstring(resp.data.decode())
    assert "未做任何修改" in tree.xpath("//*[@role='alert']")[0].text_content()
    after = [e.action for e in world.svc.catalog.audit_entries()][before:]
    assert AuditAction.METADATA_CHANGED not in after


def test_bulk_needs_the_csrf_token(world, docs):
    c = world.login("alice")
    doc_id = docs["阿里云采购合同"].id
    resp = c.post(
        "/documents/bulk", data={"ids": [str(doc_id)], "action": "set", "status": "effective", "csrf_token": "forged"}
    )
    assert resp.status_code == 400
    assert world.svc.archive.document(doc_id).metadata.status.value == "draft"


def test_hidden_document_answers_like_a_missing_one(world, docs):
    c = world.login("alice")
    token = csrf_of(c.get("/documents"))
    pages = [
        c.post("/documents/bulk", data={"ids": [str(i)], "action": "set", "status": "effective", "csrf_token": token})
        for i in (docs["bob"].id, 999999)
    ]
    assert [p.status_code for p in pages] == [400, 400]
    messages = [lxml.html.fromstring(p.data.decode()).xpath("//*[@role='alert']")[0].text_content() for p in pages]
    assert messages[0].replace(str(docs["bob"].id), "N") == messages[1].replace("999999", "N")
    assert world.svc.archive.document(docs["bob"].id).metadata.status.value == "draft"


def test_auditor_is_refused_per_document(world, docs):
    c = world.login("audit")
    token = csrf_of(c.get("/documents"))
    ids = [docs["阿里云采购合同"].id, docs["bob"].id]
    resp = c.post(
        "/documents/bulk",
        data={"ids": [str(i) for i in ids], "action": "set", "status": "archived", "csrf_token": token},
    )
    tree = lxml.html.fromstring(resp.data.decode())
    assert resp.status_code == 200 and len(tree.xpath("//tr[@class='bulk-refused']")) == 2
    for doc_id in ids:
        denied = [
            e for e in world.svc.catalog.audit_entries(document_id=doc_id) if e.action == AuditAction.ACCESS_DENIED
        ]
        assert denied and denied[-1].actor == "audit"


def test_download_selected_as_zip(world, docs):
    c = world.login("audit")
    token = csrf_of(c.get("/documents"))
    ids = [docs["阿里云采购合同"].id, docs["bob"].id]
    resp = c.post("/documents/bulk", data={"ids": [str(i) for i in ids], "action": "zip", "csrf_token": token})
    assert resp.status_code == 200 and resp.mimetype == "application/zip"
    assert "filename*=UTF-8''" in resp.headers["Content-Disposition"]
    with zipfile.ZipFile(io.BytesIO(resp.data)) as zf:
        assert zf.namelist() == ["阿里云采购合同.txt", "银行核心系统现场记录.txt"]
        assert zf.read("阿里云采购合同.txt") == "阿里云采购合同".encode()
    for doc_id in ids:
        reads = [
            e for e in world.svc.catalog.audit_entries(document_id=doc_id) if e.action == AuditAction.VERSION_DOWNLOADED
        ]
        assert reads[-1].actor == "audit"
    # A member cannot fetch an on-site document of another project this way either.
    alice = world.login("alice")
    hidden = alice.post(
        "/documents/bulk",
        data={"ids": [str(docs["bob"].id)], "action": "zip", "csrf_token": csrf_of(alice.get("/documents"))},
    )
    assert hidden.status_code == 400 and hidden.mimetype == "text/html"


def test_zip_over_the_limit_is_refused_in_both_languages(config):
    from docsvc.web.factory import create_app
    from tests.webutil import PASSWORD

    application = create_app(
        {**config, "TESTING": True, "FSYNC": False, "BULK_ZIP_MAX_BYTES": 4, "BULK_MAX_DOCUMENTS": 2}
    )
    try:
        svc = application.extensions["docsvc"]
        svc.users.create_user("mgr", "manager", actor="setup", password=PASSWORD)
        w = World(application, {})
        ids = [
            svc.guard(svc.users.principal_for_cli("mgr"))
            .add_document(f"正文内容{i}".encode(), "a.txt", {**USER_DOC, "title": f"文档{i}"})
            .document.id
            for i in range(3)
        ]
        c = w.login("mgr")
        token = csrf_of(c.get("/documents"))
        big = c.post("/documents/bulk", data={"ids": [str(ids[0])], "action": "zip", "csrf_token": token})
        assert big.status_code == 413 and "打包下载上限" in big.data.decode()
        many = c.post(
            "/documents/bulk",
            data={"ids": [str(i) for i in ids], "action": "set", "status": "effective", "csrf_token": token},
        )
        assert many.status_code == 413 and "一次最多处理 2 份文档" in many.data.decode()
        c.set_cookie("docsvc_lang", "en")
        en = c.post("/documents/bulk", data={"ids": [str(ids[0])], "action": "zip", "csrf_token": token})
        assert "limit of a ZIP download" in en.data.decode()
    finally:
        application.extensions["docsvc"].close()


def test_bulk_api(world, docs):
    ids = [docs["阿里云采购合同"].id, docs["site"].id]
    resp = world.api("alice").post(
        "/api/v1/documents/bulk",
        json={
            "ids": ids,
            "set": {"counterparty": "北京某公司", "project": "别的项目"},
            "add_tags": ["重要"],
            "reason": "整理",
        },
    )
    assert resp.status_code == 200, resp.json
    body = resp.json
    assert body["counts"] == {"changed": 1, "unchanged": 0, "refused": 1}
    first, second = body["items"]
    assert first["status"] == "changed" and first["changes"]["counterparty"]["to"] == "北京某公司"
    assert second["status"] == "refused" and second["error"]["code"] == "forbidden" and second["error"]["message_en"]
    assert _metadata_changes(world, ids[0])[-1].details["reason"] == "批量修改 / bulk change：整理"

    api = world.api("alice")
    err(api.post("/api/v1/documents/bulk", json={"ids": [], "set": {"status": "draft"}}), 400, field="ids")
    err(api.post("/api/v1/documents/bulk", json={"ids": [2**63], "set": {"status": "draft"}}), 400, field="ids")
    err(api.post("/api/v1/documents/bulk", json={"ids": ["1"], "set": {"status": "draft"}}), 400, field="ids")
    err(
        api.post("/api/v1/documents/bulk", json={"ids": [docs["bob"].id], "set": {"status": "draft"}}), 400, field="ids"
    )
    err(api.post("/api/v1/documents/bulk", json={"ids": ids, "set": {"doc_type": "x"}}), 400, field="doc_type")
    err(api.post("/api/v1/documents/bulk", json={"ids": ids, "set": {"owner": "x"}}), 400, field="owner")
    err(api.post("/api/v1/documents/bulk", json={"ids": ids, "wat": 1}), 400)
    err(api.post("/api/v1/documents/bulk", json=[1, 2]), 400)
    assert world.svc.archive.document(ids[0]).metadata.status.value == "draft"

    audit = world.api("audit").post("/api/v1/documents/bulk", json={"ids": ids, "set": {"status": "archived"}})
    assert audit.status_code == 200 and audit.json["counts"]["refused"] == 2

    got = world.api("audit").post("/api/v1/documents/zip", json={"ids": ids})
    assert got.status_code == 200 and got.mimetype == "application/zip"
    with zipfile.ZipFile(io.BytesIO(got.data)) as zf:
        assert zf.namelist() == ["阿里云采购合同.txt", "港口运维二期现场巡检记录.txt"]
    err(world.api("bob").post("/api/v1/documents/zip", json={"ids": [ids[1]]}), 400, field="ids")
    err(world.api("bob").post("/api/v1/documents/zip", json={"ids": ids, "set": {}}), 400, field="set")


def test_cli_bulk_set_and_zip(world, docs, tmp_path):
    ids = [docs["阿里云采购合同"].id, docs["北京机房巡检"].id]
    runner = CliRunner()
    env = {
        "DOCSVC_DATABASE_URL": world.svc.settings["DATABASE_URL"] or "",
        "DOCSVC_ARCHIVE_DIR": str(world.svc.settings["ARCHIVE_DIR"]),
        "DOCSVC_INDEX_DIR": str(world.svc.settings["INDEX_DIR"]),
        "DOCSVC_TEMPLATES_DIR": str(world.svc.settings["TEMPLATES_DIR"]),
    }
    result = runner.invoke(
        cli,
        [
            "--as",
            "mgr",
            "doc",
            "bulk-set",
            *map(str, ids),
            "status=effective",
            "--add-tag",
            "年度",
            "--reason",
            "年度审核",
            "--json",
        ],
        env=env,
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["counts"]["changed"] == 2
    assert world.svc.archive.document(ids[1]).metadata.tags[-1] == "年度"
    assert _metadata_changes(world, ids[1])[-1].actor == "mgr"
    bad = runner.invoke(cli, ["--as", "mgr", "doc", "bulk-set", str(ids[0]), "title=新标题"], env=env)
    assert bad.exit_code != 0 and "bulk change cannot set" in bad.output
    none = runner.invoke(cli, ["--as", "mgr", "doc", "bulk-set", str(2**63), "status=draft"], env=env)
    assert none.exit_code != 0 and "ids" in none.output
    refused = runner.invoke(cli, ["--as", "audit", "doc", "bulk-set", str(ids[0]), "status=archived"], env=env)
    assert refused.exit_code == 1 and "审计员" in refused.output and "1 refused" in refused.output

    target = tmp_path / "所选.zip"
    made = runner.invoke(cli, ["--as", "audit", "doc", "zip", *map(str, ids), "-o", str(target)], env=env)
    assert made.exit_code == 0, made.output
    with zipfile.ZipFile(target) as zf:
        assert zf.namelist() == ["阿里云采购合同.txt", "北京机房巡检.txt"]
    hidden = runner.invoke(
        cli, ["--as", "alice", "doc", "zip", str(docs["bob"].id), "-o", str(tmp_path / "x.zip")], env=env
    )
    assert hidden.exit_code != 0 and not (tmp_path / "x.zip").exists()
