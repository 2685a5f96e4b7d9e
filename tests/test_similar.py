"""Similar documents: GET /api/v1/documents/<id>/similar, the document page's section and
``docsvc doc similar``, on each engine: Whoosh over SQLite, and PostgreSQL's own full-text
tables over a PostgreSQL catalog.

What matters: the other SLA of the same client comes before unrelated documents, the document
itself is never listed, and a member never sees on-site documents (9.2) of projects they are
not in — similar documents are a search, with the same access rules.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from docsvc.cli import cli
from docsvc.errors import Unavailable
from docsvc.services import similar as similar_mod
from docsvc.services.access import Guard
from docsvc.web.factory import create_app
from tests.webutil import USER_DOC, World, err, world  # noqa: F401

PORT_SLA = (
    "服务等级协议。甲方：大连港集团有限公司；乙方：大连华信计算机技术股份有限公司。乙方为甲方的集装箱码头"
    "调度系统和港口闸口系统提供机房运维服务：可用性不低于 99.9%，一级故障响应 30 分钟，每月提交服务报告。"
)
PORT_SLA_2 = (
    "服务等级协议。甲方：大连港集团有限公司；乙方：大连华信计算机技术股份有限公司。乙方为甲方的集装箱码头"
    "调度网络和港口闸口网络提供网络运维服务：可用性不低于 99.95%，一级故障响应 15 分钟。"
)
BANK_SLA = (
    "服务等级协议。甲方：招商银行股份有限公司。乙方为甲方的核心账务系统、柜面系统和网银系统提供运维服务："
    "可用性不低于 99.99%，一级故障响应 5 分钟。"
)
HANDBOOK = "员工考勤管理制度：上班时间九点，迟到三次扣绩效；年假按工龄计算，病假须提供医院证明。"
# An on-site record of another project that reads almost like the port SLA: a close match, for
# those who may see it.
BANK_SITE = (
    "现场记录：大连港集团有限公司集装箱码头调度系统和港口闸口系统机房运维服务巡检，服务等级协议约定可用性 "
    "99.9%，一级故障响应 30 分钟，大连华信计算机技术股份有限公司驻场。"
)


def backend(config) -> str:
    return "postgres" if config["DATABASE_URL"].startswith("postgresql") else "whoosh"


@pytest.fixture
def app(config):
    """tests.webutil's app, on the search engine that goes with the catalog."""
    app = create_app({**config, "TESTING": True, "FSYNC": False, "SEARCH_BACKEND": backend(config)})
    yield app
    app.extensions["docsvc"].close()


@pytest.fixture
def docs(world: World):
    alice, mgr = world.guard("alice"), world.guard("mgr")
    sla = {**USER_DOC, "doc_type": "sla", "counterparty": "大连港集团有限公司"}
    out = {
        "port_sla": alice.add_document(
            PORT_SLA.encode(), "sla1.txt", {**sla, "title": "大连港集团机房运维服务等级协议"}
        ).document,
        "port_sla_2": alice.add_document(
            PORT_SLA_2.encode(),
            "sla2.txt",
            {**sla, "title": "大连港集团网络运维服务等级协议", "effective_date": "2026-03-01"},
        ).document,
        "bank_sla": mgr.add_document(
            BANK_SLA.encode(),
            "bank.txt",
            {**sla, "title": "招商银行核心系统服务等级协议", "counterparty": "招商银行", "project": "银行核心系统"},
        ).document,
        "handbook": mgr.add_document(
            HANDBOOK.encode(),
            "handbook.txt",
            {**USER_DOC, "title": "员工考勤管理制度", "doc_type": "other", "project": "", "counterparty": ""},
        ).document,
        "bank_site": mgr.add_document(
            BANK_SITE.encode(),
            "site.txt",
            {
                **USER_DOC,
                "title": "银行核心系统现场巡检记录",
                "doc_type": "report",
                "doc_class": "site",
                "project": "银行核心系统",
            },
        ).document,
    }
    world.svc.index.sync()
    return out


def similar(world: World, who: str, doc_id: int, **params):
    return world.api(who).get(f"/api/v1/documents/{doc_id}/similar", query_string=params)


def ids(resp) -> list[int]:
    assert resp.status_code == 200, resp.data.decode()[:500]
    return [item["document_id"] for item in resp.json["items"]]


# -- the API ----------------------------------------------------------------------------------
def test_the_other_sla_of_the_client_comes_first(world, docs):
    resp = similar(world, "alice", docs["port_sla"].id, limit=20)
    found = ids(resp)
    assert found[0] == docs["port_sla_2"].id, resp.json
    if docs["handbook"].id in found:  # unrelated documents, if at all, come after the SLAs
        assert found.index(docs["handbook"].id) > found.index(docs["bank_sla"].id)
    item = resp.json["items"][0]
    assert resp.json["document_id"] == docs["port_sla"].id
    assert item["title"] == "大连港集团网络运维服务等级协议" and item["doc_type"] == "sla"
    assert item["effective_date"] == "2026-03-01" and item["is_latest"]
    assert item["url"].endswith(f"/api/v1/documents/{docs['port_sla_2'].id}") and "snippet" not in item


def test_the_document_itself_is_never_listed(world, docs):
    for doc in docs.values():
        assert doc.id not in ids(similar(world, "mgr", doc.id, limit=20))
    # Another version of the document is not "another document" either.
    world.guard("alice").add_version(
        docs["port_sla"].id, (PORT_SLA + "新增：每季度演练一次。").encode(), "v2.txt", reason="增加演练"
    )
    world.svc.index.sync()
    found = ids(similar(world, "alice", docs["port_sla"].id, limit=20))
    assert docs["port_sla"].id not in found and found[0] == docs["port_sla_2"].id


def test_members_never_see_other_projects_site_documents(world, docs):
    site = docs["bank_site"].id
    # The on-site record is found for those who may read it ...
    assert site in ids(similar(world, "mgr", docs["port_sla"].id))
    assert site in ids(similar(world, "bob", docs["port_sla"].id))  # bob is in 银行核心系统
    # ... and absent for alice, who is not in its project, whichever document she starts from.
    for doc in ("port_sla", "port_sla_2", "bank_sla", "handbook"):
        assert site not in ids(similar(world, "alice", docs[doc].id, limit=20))
    assert ids(similar(world, "alice", docs["port_sla"].id, limit=1)) == [docs["port_sla_2"].id]
    page = world.login("alice").get(f"/documents/{docs['port_sla'].id}").data.decode()
    assert "银行核心系统现场巡检记录" not in page


def test_unknown_or_forbidden_document_is_404(world, docs):
    missing = err(similar(world, "alice", 999_999), 404, "not_found")
    hidden = err(similar(world, "alice", docs["bank_site"].id), 404, "not_found")
    shown = err(world.api("alice").get(f"/api/v1/documents/{docs['bank_site'].id}"), 404, "not_found")
    assert hidden["message_en"] == shown["message_en"] and "999999" in missing["message_en"]
    assert world.audit_actions("alice")[-1] == "access.denied"


@pytest.mark.parametrize("limit", ["0", "21", "-1", "abc", "2.5", "true"])
def test_limit_out_of_bounds_is_400(world, docs, limit):
    e = err(similar(world, "alice", docs["port_sla"].id, limit=limit), 400, "invalid_input", "limit")
    assert "1 到 20" in e["message"] and "1 to 20" in e["message_en"]


def test_limit_bounds(world, docs):
    assert len(ids(similar(world, "mgr", docs["port_sla"].id, limit=1))) == 1
    assert len(ids(similar(world, "mgr", docs["port_sla"].id, limit=2))) == 2
    assert len(ids(similar(world, "mgr", docs["port_sla"].id, limit=20))) <= 4  # every other document at most
    assert len(ids(similar(world, "mgr", docs["port_sla"].id))) <= similar_mod.DEFAULT_LIMIT


def test_a_lone_document_has_no_similar_documents(world):
    doc = world.guard("alice").add_document(PORT_SLA.encode(), "sla.txt", USER_DOC).document
    world.svc.index.sync()
    assert ids(similar(world, "alice", doc.id)) == []


# -- the document page ------------------------------------------------------------------------
def test_document_page_lists_similar_documents(world, docs):
    client = world.login("alice")
    page = client.get(f"/documents/{docs['port_sla'].id}").data.decode()
    assert "相似文档" in page and 'id="similar"' in page
    section = page[page.index('id="similar"') :]
    assert f'href="/documents/{docs["port_sla_2"].id}"' in section and "大连港集团网络运维服务等级协议" in section
    assert "2026-03-01" in section and "服务等级协议" in section  # its date and type
    english = world.login("alice", lang="en").get(f"/documents/{docs['port_sla'].id}").data.decode()
    assert "Similar documents" in english and "相似文档" not in english


def test_document_page_without_similar_documents_shows_no_section(world):
    doc = world.guard("alice").add_document(HANDBOOK.encode(), "handbook.txt", USER_DOC).document
    world.svc.index.sync()
    page = world.login("alice").get(f"/documents/{doc.id}").data.decode()
    assert 'id="similar"' not in page and "相似文档" not in page


def test_document_page_still_works_while_the_index_is_rebuilt(world, docs, monkeypatch):
    def rebuilding(self, document_id, limit=5):
        raise Unavailable("索引重建中。", "The index is being rebuilt.")

    monkeypatch.setattr(Guard, "similar", rebuilding)
    resp = world.login("alice").get(f"/documents/{docs['port_sla'].id}")
    assert resp.status_code == 200 and 'id="similar"' not in resp.data.decode()
    err(similar(world, "alice", docs["port_sla"].id), 503)


# -- the CLI ----------------------------------------------------------------------------------
@pytest.fixture
def run(config, world, docs):
    env = {
        "DOCSVC_ARCHIVE_DIR": config["ARCHIVE_DIR"],
        "DOCSVC_INDEX_DIR": config["INDEX_DIR"],
        "DOCSVC_DATABASE_URL": config["DATABASE_URL"],
        "DOCSVC_ACTOR": "operator",
        "DOCSVC_TEMPLATES_DIR": config["TEMPLATES_DIR"],
        "DOCSVC_SEARCH_BACKEND": backend(config),
    }

    def invoke(*args: str):
        return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)

    return invoke


def test_cli_doc_similar(run, docs):
    result = run("doc", "similar", str(docs["port_sla"].id), "--json")
    assert result.exit_code == 0, result.output + result.stderr
    out = json.loads(result.output)
    found = [i["document_id"] for i in out["items"]]
    # An operator who is no docsvc user runs as an administrator: the on-site record is listed.
    assert found[0] == docs["port_sla_2"].id and docs["bank_site"].id in found and docs["port_sla"].id not in found
    assert out["items"][0]["effective_date"] == "2026-03-01" and "snippet" not in out["items"][0]
    as_alice = run("doc", "similar", str(docs["port_sla"].id), "--as", "alice", "--limit", "3")
    assert as_alice.exit_code == 0, as_alice.output + as_alice.stderr
    lines = as_alice.output.strip().splitlines()
    assert len(lines) <= 3 and "大连港集团网络运维服务等级协议" in lines[0]
    assert "银行核心系统现场巡检记录" not in as_alice.output
    assert "银行核心系统现场巡检记录" not in run("--as", "alice", "doc", "similar", str(docs["port_sla"].id)).output


@pytest.mark.parametrize(
    "args,words",
    [
        (("999999",), ("文档 999999 不存在", "Document 999999 does not exist")),
        (("{bank_site}", "--as", "alice"), ("不存在", "does not exist")),
        (("{port_sla}", "--limit", "0"), ("1 到 20", "1 to 20")),
        (("{port_sla}", "--limit", "21"), ("1 到 20", "1 to 20")),
    ],
)
def test_cli_doc_similar_errors(run, docs, args, words):
    result = run("doc", "similar", *(a.format(**{k: d.id for k, d in docs.items()}) for a in args))
    assert result.exit_code == 2 and result.stdout == ""
    assert "错误：" in result.stderr and "Error:" in result.stderr
    assert all(w in result.stderr for w in words), result.stderr
