"""Upload with suggested labels: type, category and project may be left out of
the web form, POST /api/v1/documents and `docsvc doc add`; they are suggested from each file's
content with confidence and the words that drove them; low-confidence suggestions go on the
review list page, where one click accepts or corrects them, which teaches the classifier."""

from __future__ import annotations

import io
import json

from click.testing import CliRunner

from docsvc.cli import cli
from tests.webutil import SITE_DOC, World, app, csrf_of, err, world  # noqa: F401

CONTRACT = (
    "甲方：大连港集团有限公司\n乙方：大连华信计算机技术股份有限公司\n"
    "第一条 服务内容：乙方提供信息系统运维服务。\n第二条 合同期限一年。"
).encode()
INSPECTION = "巡检记录：机房温度正常，空调运行正常。".encode()  # a type the rules are unsure of


def _upload(client, data: bytes, name: str, **form):
    return client.post(
        "/api/v1/documents", data={"file": (io.BytesIO(data), name), **form}, content_type="multipart/form-data"
    )


def test_api_suggests_what_is_left_out(world: World):
    api = world.api("alice")
    resp = _upload(api, CONTRACT, "运维服务合同.txt")
    assert resp.status_code == 201, resp.data.decode()
    body = resp.json
    assert body["document"]["doc_type"] == "contract" and body["document"]["service_category"] == "4.2"
    assert body["document"]["doc_class"] == "user"
    s = body["suggestion"]
    assert s["doc_type"]["value"] == "contract" and s["doc_type"]["label"] == "合同"
    assert s["doc_type"]["label_en"] == "Contract" and s["doc_type"]["confidence"] >= 0.6
    assert "合同" in s["doc_type"]["terms"] and s["needs_review"] is False
    # Given labels win and are not suggested; a confident upload is not on the review list.
    given = _upload(
        api, INSPECTION, "巡检.txt", doc_type="report", service_category="4.2", doc_class="site", project="港口运维二期"
    )
    assert given.status_code == 201 and given.json["suggestion"] is None
    assert given.json["document"]["doc_type"] == "report"
    assert world.api("alice").get("/api/v1/labels/review").json["items"] == []
    actions = world.audit_actions()
    assert actions.count("labels.suggested") == 1


def test_suggestion_endpoint_archives_nothing(world: World):
    api = world.api("alice")
    resp = api.post(
        "/api/v1/suggestions", data={"file": (io.BytesIO(INSPECTION), "巡检.txt")}, content_type="multipart/form-data"
    )
    assert resp.status_code == 200
    assert resp.json["service_category"]["value"] == "4.2" and "巡检" in resp.json["service_category"]["terms"]
    assert resp.json["needs_review"] is True
    assert world.svc.catalog.counts()["documents"] == 0
    bad = api.post(
        "/api/v1/suggestions",
        data={"file": (io.BytesIO(b"\x7fELF" + b"\x00" * 60), "x.exe")},
        content_type="multipart/form-data",
    )
    err(bad, 415)
    err(
        world.api("audit").post(
            "/api/v1/suggestions", data={"file": (io.BytesIO(INSPECTION), "a.txt")}, content_type="multipart/form-data"
        ),
        403,
    )


def test_low_confidence_goes_to_review_and_confirming_teaches(world: World):
    api = world.api("alice")
    doc = _upload(api, INSPECTION, "巡检.txt").json["document"]
    items = api.get("/api/v1/labels/review").json["items"]
    assert [i["document_id"] for i in items] == [doc["id"]]
    assert items[0]["doc_type"]["confidence"] < 0.6
    assert world.svc.catalog.confirmed_labels() == []  # a suggestion is not a label to learn from
    # Correcting through the API: only labels, validated, audited, and the document learns.
    err(api.post(f"/api/v1/documents/{doc['id']}/labels", json={"title": "x"}), 400, field="title")
    err(api.post(f"/api/v1/documents/{doc['id']}/labels", json={"doc_type": "nonsense"}), 400, field="doc_type")
    err(world.api("audit").post(f"/api/v1/documents/{doc['id']}/labels", json={}), 403)
    fixed = api.post(f"/api/v1/documents/{doc['id']}/labels", json={"doc_type": "report"})
    assert fixed.status_code == 200 and fixed.json["doc_type"] == "report"
    assert api.get("/api/v1/labels/review").json["items"] == []
    assert [(d, t) for d, _sha, t, _c in world.svc.catalog.confirmed_labels()] == [(doc["id"], "report")]
    err(api.post(f"/api/v1/documents/{doc['id']}/labels", json={}), 409)
    assert world.audit_actions("alice")[-1] == "labels.confirmed"


def test_review_page_confirms_and_corrects_with_one_click(world: World):
    api = world.api("alice")
    first = _upload(api, INSPECTION, "巡检一.txt").json["document"]
    second = _upload(api, INSPECTION + "二".encode(), "巡检二.txt").json["document"]
    c = world.login("alice")
    page = c.get("/labels/review")
    html = page.data.decode()
    assert page.status_code == 200 and "巡检一" in html and "巡检二" in html and "依据" in html
    assert f'id="confirm-{first["id"]}"' in html
    token = csrf_of(page)
    resp = c.post(
        "/labels/review",
        data={
            "csrf_token": token,
            "document_id": first["id"],
            "action": "confirm",
            "doc_type": "contract",
            "service_category": "4.1",
        },
    )
    assert resp.status_code == 302
    confirmed = world.svc.catalog.get_document(first["id"]).metadata
    assert confirmed.doc_type == first["doc_type"]  # confirm keeps the suggestion, whatever the selects say
    resp = c.post(
        "/labels/review",
        data={
            "csrf_token": token,
            "document_id": second["id"],
            "action": "correct",
            "doc_type": "report",
            "service_category": "4.2",
        },
    )
    assert resp.status_code == 302
    assert world.svc.catalog.get_document(second["id"]).metadata.doc_type == "report"
    after = c.get(resp.headers["Location"]).data.decode()
    assert "已更正“巡检二”的分类" in after and "没有待复核的分类建议" in after
    assert len(world.svc.catalog.confirmed_labels()) == 2
    # An auditor sees the list but no buttons; a forced confirmation is refused.
    a = world.login("audit")
    assert 'id="confirm-' not in a.get("/labels/review").data.decode()
    en = world.login("alice", lang="en")
    assert "Suggested labels to review" in en.get("/labels/review").data.decode()


def test_review_list_hides_what_one_may_not_read(world: World):
    bob = world.api("bob")
    resp = _upload(bob, INSPECTION, "巡检.txt", doc_class="site", project="银行核心系统")
    assert resp.status_code == 201 and resp.json["suggestion"]["needs_review"]
    assert world.api("alice").get("/api/v1/labels/review").json["items"] == []
    assert len(world.api("mgr").get("/api/v1/labels/review").json["items"]) == 1
    err(world.api("alice").post(f"/api/v1/documents/{resp.json['document']['id']}/labels", json={}), 404)


def test_dashboard_counts_the_whole_queue_and_lists_its_oldest_readable_five(world: World, monkeypatch):
    """After an import the queue holds thousands: the dashboard asks the database for its count
    and its first five, the on-site rule applied there, and never loads the whole queue."""
    import re

    titles = []
    for i in range(7):
        resp = _upload(world.api("alice"), INSPECTION + f"第 {i} 次。".encode(), f"巡检{i}.txt", title=f"巡检{i}")
        assert resp.status_code == 201 and resp.json["suggestion"]["needs_review"]
        titles.append(f"巡检{i}")
    for i in range(2):  # bob's project: alice may not read them
        resp = _upload(
            world.api("bob"),
            INSPECTION + f"银行 {i}。".encode(),
            f"银行{i}.txt",
            doc_class="site",
            project="银行核心系统",
        )
        assert resp.json["suggestion"]["needs_review"]

    def review_card(who: str) -> tuple[int, list[str]]:
        html = world.login(who).get("/").data.decode()
        card = html.split('id="review"', 1)[1].split("</section>", 1)[0]
        count = int(re.search(r'<span class="count">(\d+)</span>', card).group(1))
        return count, re.findall(r'<a href="/documents/\d+">([^<]+)</a>', card)

    assert review_card("alice") == (7, titles[:5])
    assert review_card("bob")[0] == 9 and review_card("mgr")[0] == 9
    assert world.guard("alice").review_count() == 7
    assert [i.document.metadata.title for i in world.guard("alice").review_list(limit=3)] == titles[:3]
    listed = world.api("alice").get("/api/v1/labels/review?limit=2").json
    assert [i["title"] for i in listed["items"]] == titles[:2] and listed["total"] == 7
    assert len(world.api("alice").get("/api/v1/labels/review").json["items"]) == 7
    err(world.api("alice").get("/api/v1/labels/review?limit=0"), 400)
    # The review page lists the oldest of the queue (REVIEW_PAGE of them) and counts it all.
    from docsvc.web import ui_docs

    monkeypatch.setattr(ui_docs, "REVIEW_PAGE", 3)
    for lang, note in (("zh", "显示最早的 3 条"), ("en", "The oldest 3 are shown")):
        page = world.login("alice", lang=lang).get("/labels/review").data.decode()
        assert '<span class="count">7</span>' in page and note in page
        assert re.findall(r'<h2><a href="/documents/\d+">([^<]+)</a>', page) == titles[:3]


def test_suggested_project_is_one_the_uploader_may_file_in(world: World):
    # The archive knows 银行核心系统, and the text names it; alice is not a member, so her on-site
    # upload is not filed there (which she could not read back) but left without a project.
    _upload(
        world.api("bob"),
        "银行核心系统的运维合同。".encode(),
        "a.txt",
        doc_class="site",
        project="银行核心系统",
        doc_type="contract",
        service_category="4.2",
    )
    text = "银行核心系统巡检记录：机房温度正常。".encode()
    assert (
        world.api("mgr")
        .post("/api/v1/suggestions", data={"file": (io.BytesIO(text), "b.txt")}, content_type="multipart/form-data")
        .json["project"]
        == "银行核心系统"
    )
    mine = world.api("alice").post(
        "/api/v1/suggestions", data={"file": (io.BytesIO(text), "b.txt")}, content_type="multipart/form-data"
    )
    assert mine.json["project"] is None


def test_upload_page_without_javascript_suggests(world: World):
    c = world.login("alice")
    page = c.get("/upload")
    html = page.data.decode()
    assert "按内容建议" in html and 'id="f-doc_type" name="doc_type" required' not in html
    resp = c.post(
        "/upload",
        data={
            "csrf_token": csrf_of(page),
            "doc_class": "user",
            "status": "draft",
            "file": [(io.BytesIO(CONTRACT), "运维合同.txt"), (io.BytesIO(INSPECTION), "巡检.txt")],
        },
        content_type="multipart/form-data",
    )
    html = resp.data.decode()
    assert resp.status_code == 200, html[:2000]
    assert "建议：合同 99%" in html and 'href="/labels/review"' in html
    assert {d.metadata.doc_type for d in world.svc.archive.list_documents({}).items} >= {"contract"}


def test_cli_doc_add_suggests(config, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    env = {
        "DOCSVC_ARCHIVE_DIR": config["ARCHIVE_DIR"],
        "DOCSVC_INDEX_DIR": config["INDEX_DIR"],
        "DOCSVC_DATABASE_URL": config["DATABASE_URL"],
        "DOCSVC_ACTOR": "张伟",
        "DOCSVC_TEMPLATES_DIR": config["TEMPLATES_DIR"],
    }
    runner = CliRunner()
    (tmp_path / "合同.txt").write_bytes(CONTRACT)
    (tmp_path / "巡检.txt").write_bytes(INSPECTION)
    assert runner.invoke(cli, ["init"], env=env).exit_code == 0
    out = runner.invoke(cli, ["doc", "add", "合同.txt"], env=env, catch_exceptions=False)
    assert out.exit_code == 0, out.output
    assert "文档类型: contract" in out.output and "依据" in out.output
    out = runner.invoke(cli, ["doc", "add", "巡检.txt", "--json"], env=env, catch_exceptions=False)
    body = json.loads(out.output)
    assert body["suggestion"]["needs_review"] and body["document"]["service_category"] == "4.2"
    review = runner.invoke(cli, ["labels", "review", "--json"], env=env, catch_exceptions=False)
    assert body["document"]["id"] in [i["document_id"] for i in json.loads(review.output)]
    given = runner.invoke(
        cli,
        ["doc", "add", "巡检.txt", "--title", "另一份", "--type", "report", "--category", "4.2", "--json"],
        env=env,
        catch_exceptions=False,
    )
    assert json.loads(given.output)["suggestion"] is None


def test_site_upload_keeps_access_rule(world: World):
    # An on-site document into a project one is not in is still refused, suggested or not.
    resp = _upload(
        world.api("alice"),
        INSPECTION,
        "巡检.txt",
        **{**SITE_DOC, "project": "银行核心系统", "doc_type": "", "service_category": ""},
    )
    err(resp, 403, field="project")
