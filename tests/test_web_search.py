"""Search over the web: GET /api/v1/search and the /search page, on SQLite and PostgreSQL.

The access rule that matters most here: a member never sees on-site documents (spec 9.2) of
projects they are not in — not in hits, not in totals, not in facet counts.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from docsvc.adapters.whoosh import WhooshIndex
from docsvc.adapters.whoosh.query import _QueryBuilder
from docsvc.core import query as query_syntax
from docsvc.core.search import IndexEntry, SearchRequest
from tests.webutil import SITE_DOC, USER_DOC, World, app, csrf_of, err, world  # noqa: F401

RENEWAL = (
    "合同到期后，乙方继续提供运维服务；双方应在到期前三十日协商续签。Service renewal: both parties renew in writing."
)


@pytest.fixture
def corpus(world: World):
    """Documents of two projects, user (9.1) and on-site (9.2), one with two versions."""
    g, mgr = world.guard("alice"), world.guard("mgr")
    contract = g.add_document(RENEWAL.encode(), "运维合同.txt", USER_DOC).document
    g.add_version(
        contract.id, (RENEWAL + "\n新增：每季度提交服务报告。").encode(), "运维合同v2.txt", reason="增加季度报告"
    )
    sla = g.add_document(
        "服务等级协议：可用性 99.9%，故障响应 30 分钟。SLA-2026-001".encode(),
        "SLA.txt",
        {**USER_DOC, "title": "港口运维服务等级协议", "doc_type": "sla"},
    ).document
    port_site = g.add_document("港口机房巡检记录：温度正常，续签前复核备份。".encode(), "巡检.txt", SITE_DOC).document
    bank_site = mgr.add_document(
        "银行核心系统机房巡检记录：续签前完成容灾演练。".encode(),
        "bank.txt",
        {**SITE_DOC, "title": "银行核心系统现场巡检", "project": "银行核心系统"},
    ).document
    orphan = mgr.add_document(
        "无项目的现场记录：续签。".encode(), "orphan.txt", {**SITE_DOC, "title": "无项目现场记录", "project": ""}
    ).document
    world.svc.index.sync()
    return {"contract": contract, "sla": sla, "port_site": port_site, "bank_site": bank_site, "orphan": orphan}


def search(world: World, who: str, **params):
    return world.api(who).get("/api/v1/search", query_string=params)


def ids(resp) -> set[int]:
    assert resp.status_code == 200, resp.data.decode()[:500]
    return {h["document_id"] for h in resp.json["hits"]}


# -- the API --------------------------------------------------------------------------------
def test_search_chinese_question_and_english(world, corpus):
    resp = search(world, "alice", q="合同到期后服务怎么续签？")
    assert resp.status_code == 200
    body = resp.json
    assert body["hits"][0]["document_id"] == corpus["contract"].id  # ranked by how much of the question matches
    hit = body["hits"][0]
    assert hit["version"] == 2 and hit["is_latest"] and hit["title"] == USER_DOC["title"]
    assert "<mark>" in hit["snippet"] and hit["url"].endswith(f"/api/v1/documents/{corpus['contract'].id}")
    assert hit["content_url"].endswith("/versions/2/content")
    assert set(body["facets"]) == {
        "doc_type",
        "service_category",
        "doc_class",
        "project",
        "counterparty",
        "tags",
        "year",
    }
    assert body["total"] == len(body["hits"]) and body["page"] == 1 and body["per_page"] == 20
    assert ids(search(world, "alice", q="renewal")) == {corpus["contract"].id}
    assert ids(search(world, "alice", q='"服务等级协议"')) == {corpus["sla"].id}
    assert ids(search(world, "alice", q="SLA-2026-001")) == {corpus["sla"].id}


def test_filters_paging_sort_and_all_versions(world, corpus):
    assert ids(search(world, "alice", q="续签", filter="doc_type:contract")) == {corpus["contract"].id}
    both = search(world, "alice", q="", filter=["doc_type:contract", "doc_type:sla"]).json
    assert {h["document_id"] for h in both["hits"]} == {corpus["contract"].id, corpus["sla"].id}
    first = search(world, "mgr", q="", per_page=2, page=1, sort="date").json
    second = search(world, "mgr", q="", per_page=2, page=2, sort="date").json
    assert first["total"] == second["total"] == 5 and len(first["hits"]) == 2
    assert not {h["version_id"] for h in first["hits"]} & {h["version_id"] for h in second["hits"]}
    dates = [h["created_at"] for h in first["hits"] + second["hits"]]
    assert dates == sorted(dates, reverse=True)
    versions = search(world, "alice", q="续签", filter="doc_type:contract", all_versions="1").json["hits"]
    assert sorted((h["version"], h["is_latest"]) for h in versions) == [(1, False), (2, True)]
    # An empty sort (a form's unset choice) is the default, as the API document says; another is refused.
    hits = [[h["version_id"] for h in search(world, "alice", q="续签", sort=s).json["hits"]] for s in ("", "relevance")]
    assert hits[0] == hits[1] and hits[0]
    err(search(world, "alice", q="续签", sort="newest"), 400, "invalid_input", "sort")


def test_members_never_see_other_projects_site_documents(world, corpus):
    everything = {v.id for v in corpus.values()}
    # bob is in 银行核心系统 only: not 港口运维二期's site document, not the project-less one.
    bob = search(world, "bob", q="续签").json
    assert {h["document_id"] for h in bob["hits"]} == {corpus["contract"].id, corpus["bank_site"].id}
    assert bob["total"] == 2
    assert bob["facets"]["doc_class"] == {"user": 1, "site": 1}
    assert sum(bob["facets"]["doc_type"].values()) == 2
    assert bob["facets"]["project"] == {"港口运维二期": 1, "银行核心系统": 1}  # the contract is 港口's user document
    # Neither a facet filter nor a field query reaches them.
    assert search(world, "bob", q="", filter="doc_class:site").json["total"] == 1
    assert ids(search(world, "bob", q="project:港口运维二期 class:site")) == set()
    assert ids(search(world, "bob", q="", filter=f"document_id:{corpus['port_site'].id}")) == set()
    # alice is in 港口运维二期.
    alice = search(world, "alice", q="").json
    assert {h["document_id"] for h in alice["hits"]} == {
        corpus["contract"].id,
        corpus["sla"].id,
        corpus["port_site"].id,
    }
    assert alice["facets"]["doc_class"] == {"user": 2, "site": 1}
    # Managers and auditors read every project's on-site documents, and the project-less one.
    for who in ("mgr", "audit", "root"):
        assert ids(search(world, who, q="", per_page=100)) == everything, who


@pytest.mark.parametrize(
    "params,field",
    [
        ({"q": "year:二〇二六"}, "q"),
        ({"q": "(" * 9 + "合同" + ")" * 9}, "q"),
        ({"q": "x" * 501}, "q"),
        ({"q": "date:2026-13-45"}, "q"),
        ({"q": "", "filter": "colour:red"}, "colour"),
        ({"q": "", "filter": "doc_type"}, "filter"),
        ({"q": "", "page": "0"}, "page"),
        ({"q": "", "page": "x"}, "page"),
        ({"q": "", "per_page": "1000"}, "page"),
        ({"q": "", "sort": "random"}, "sort"),
    ],
)
def test_malformed_queries_are_400_with_a_message(world, corpus, params, field):
    resp = search(world, "alice", **params)
    assert resp.status_code == 400, resp.data.decode()[:300]
    e = resp.json["error"]
    assert e["code"] == "invalid_input" and e["message"] and e["message_en"] and e["field"] == field


def test_synonyms_are_searched_and_shown(world, corpus):
    api = search(world, "alice", q="续约")  # the shipped table: 续签 = 续约 = 续订
    assert api.status_code == 200 and api.json["total"] >= 1
    assert api.json["expansions"] == [{"typed": "续约", "also": ["续签", "续订", "延期续签"]}]
    assert api.json["synonyms_version"].startswith("syn-")
    assert search(world, "alice", q='"续约"').json["expansions"] == []  # quoted: as typed
    html = world.login("alice").get("/search?q=续约").data.decode()
    assert 'id="synonyms"' in html and "同时搜索了同义词" in html and "续签、续订" in html
    en = world.login("alice", lang="en").get("/search?q=续约").data.decode()
    assert "Also searched for synonyms" in en


@pytest.mark.parametrize("q", ['"未闭合的引号 续签', "合同 AND", "续签（合同", "AND OR NOT 续签", "续签)"])
def test_plain_text_with_stray_query_syntax_is_searched_not_refused(world, corpus, q):
    resp = search(world, "alice", q=q)
    assert resp.status_code == 200, resp.data.decode()[:300]
    assert resp.json["total"] >= 1


def test_search_needs_authentication_and_the_csrf_header_with_a_session(world, corpus):
    assert world.app.test_client().get("/api/v1/search?q=合同").status_code == 401
    client = world.login("alice")
    assert client.get("/api/v1/search?q=合同").status_code == 400  # cookie without X-CSRFToken
    token = csrf_of(client.get("/"))
    assert client.get("/api/v1/search?q=合同", headers={"X-CSRFToken": token}).status_code == 200


def test_503_while_the_index_is_rebuilt(world, corpus):
    index = world.svc.index
    index.index.needs_rebuild, index.index.rebuild_reason = True, "test"
    assert index._rebuilding.acquire(blocking=False)  # a rebuild in progress elsewhere in this process
    try:
        resp = search(world, "alice", q="合同")
        assert resp.status_code == 503 and resp.headers["Retry-After"] == "5"
        assert resp.json["error"]["code"] == "unavailable"
        page = world.login("alice").get("/search?q=合同")
        assert page.status_code == 503
        html = page.data.decode()
        assert "搜索索引正在重建" in html and 'id="q"' in html  # the box stays usable
    finally:
        index._rebuilding.release()
        index.index.needs_rebuild, index.index.rebuild_reason = False, ""
    assert search(world, "alice", q="合同").status_code == 200


def test_an_empty_archive_finds_nothing(world):
    """A fresh install: no documents, so an empty index (Whoosh reads it without segments)."""
    body = search(world, "alice", q="合同").json
    assert body["total"] == 0 and body["hits"] == []
    page = world.login("alice").get("/search?q=合同")
    assert page.status_code == 200 and "没有找到匹配的文档" in page.data.decode()


def test_snippets_and_titles_are_escaped(world):
    g = world.guard("alice")
    g.add_document(
        "<script>alert('续签')</script> 续签条款 <b>加粗</b>".encode(),
        "x.txt",
        {**USER_DOC, "title": "<img src=x onerror=alert(1)>续签说明"},
    )
    world.svc.index.sync()
    hit = search(world, "alice", q="续签").json["hits"][0]
    assert (
        "<script>" not in hit["snippet"]
        and "&lt;script&gt;" in hit["snippet"]
        and "<mark>续签</mark>" in hit["snippet"]
    )
    html = world.login("alice").get("/search?q=续签").data.decode()
    assert "<script>alert" not in html and "<img src=x" not in html and "<b>加粗" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;续签说明" in html
    assert "<mark>续签</mark>" in html  # the snippet's own markup is kept


# -- the page -------------------------------------------------------------------------------
def test_search_page_results_facets_and_removable_filters(world, corpus):
    c = world.login("alice")
    first = c.get("/search")
    assert first.status_code == 200
    html = first.data.decode()
    assert 'aria-current="page">搜索</a>' in html and "搜索语法" in html and 'class="hit"' not in html
    html = c.get("/search?q=续签").data.decode()
    assert html.count('class="hit"') == 2  # the contract and 港口's site document
    assert "共 2 条结果" in html and "<mark>" in html
    assert f'href="/documents/{corpus["contract"].id}"' in html
    assert "合同" in html and "计算机信息系统运营和维护服务" in html  # labels in Chinese, not codes only
    # A facet link narrows the search; the active filter is shown and removable.
    link = re.search(r'<a href="([^"]+)"[^>]*>\s*<span class="fl"[^>]*>现场文档</span> <span class="fc">1</span>', html)
    assert link, "facet link for on-site documents"
    narrowed = c.get(link.group(1).replace("&amp;", "&")).data.decode()
    assert narrowed.count('class="hit"') == 1 and "已选筛选" in narrowed
    assert 'name="filter" value="doc_class:site"' in narrowed  # kept when the query changes
    remove = re.search(r'<a class="chip" href="([^"]+)"', narrowed).group(1).replace("&amp;", "&")
    assert "filter" not in remove
    assert c.get(remove).data.decode().count('class="hit"') == 2


def test_search_page_hides_other_projects_from_members(world, corpus):
    html = world.login("bob").get("/search?q=巡检").data.decode()
    assert "港口运维二期现场巡检记录" not in html and "银行核心系统现场巡检" in html
    assert "共 1 条结果" in html
    assert re.search(r'<span class="fl"[^>]*>港口运维二期</span>', html) is None  # not even a facet count
    assert re.search(r'<span class="fl"[^>]*>银行核心系统</span> <span class="fc">1</span>', html)


def test_search_page_malformed_query_message_beside_the_box(world, corpus):
    resp = world.login("alice").get("/search?q=续签 date:2026-13")
    assert resp.status_code == 400
    html = resp.data.decode()
    assert 'id="q-error"' in html and "日期“2026-13”无法识别" in html
    assert re.search(r'<input id="q"[^>]*aria-describedby="q-help-summary q-error"[^>]*aria-invalid="true"', html)
    en = world.login("alice", lang="en").get("/search?q=year:twenty").data.decode()
    assert "should be four digits" in en and "Search syntax" in en


def test_search_page_paging_sort_and_all_versions(world, corpus):
    c = world.login("mgr")
    for i in range(12):
        world.guard("mgr").add_document(
            f"分页测试文档 {i}：续签".encode(), f"p{i}.txt", {**USER_DOC, "title": f"分页{i}"}
        )
    world.svc.index.sync()
    page1 = c.get("/search?q=分页测试").data.decode()
    assert page1.count('class="hit"') == 10 and "第 1 / 2 页" in page1
    nxt = re.search(r'<a href="([^"]+)" rel="next"', page1).group(1).replace("&amp;", "&")
    page2 = c.get(nxt).data.decode()
    assert page2.count('class="hit"') == 2 and '<ol class="hits" start="11">' in page2
    assert 'rel="prev"' in page2
    dated = c.get("/search?q=续签&sort=date").data.decode()
    assert '<option value="date" selected>' in dated
    allv = c.get(f"/search?q=续签&all_versions=1&filter=document_id:{corpus['contract'].id}").data.decode()
    assert allv.count('class="hit"') == 2 and "旧版本" in allv


def test_search_page_is_csp_clean(world, corpus):
    html = world.login("alice").get("/search?q=续签").data.decode()
    assert not re.search(r"<script(?![^>]*\bsrc=)", html) and " style=" not in html and "onclick" not in html


# -- the adapter's filter ---------------------------------------------------------------------
def test_site_projects_filter_in_the_index(tmp_path: Path):
    ix = WhooshIndex.open(tmp_path / "ix")
    ix.clear()
    entries = [
        IndexEntry(1, 1, 1, "甲", "巡检", doc_class="site", project="甲项目"),
        IndexEntry(2, 2, 1, "乙", "巡检", doc_class="site", project="乙项目"),
        IndexEntry(3, 3, 1, "无", "巡检", doc_class="site", project=""),
        IndexEntry(4, 4, 1, "用户", "巡检", doc_class="user", project="乙项目"),
    ]
    ix.upsert(entries)
    ix.mark_complete()

    def visible(projects):
        r = ix.search(SearchRequest("巡检", site_projects=projects))
        return {h.document_id for h in r.hits}, r.total, r.facets["project"]

    assert visible(None) == ({1, 2, 3, 4}, 4, {"乙项目": 2, "甲项目": 1})
    assert visible(frozenset()) == ({4}, 1, {"乙项目": 1})
    assert visible(frozenset({"甲项目"})) == ({1, 4}, 2, {"甲项目": 1, "乙项目": 1})
    assert visible(frozenset({"甲项目", "乙项目"})) == ({1, 2, 4}, 3, {"乙项目": 2, "甲项目": 1})
    ix.close()


def test_totals_and_facets_count_every_match(tmp_path: Path):
    """The page shows "共 N 条结果" and facet counts: every match must be counted, including the
    documents a top-10 ranking would never show (Whoosh's default collector skips them once
    they cannot reach the top N)."""
    sentences = [
        "乙方按服务等级协议提供运维服务。",
        "双方每季度巡检一次机房。",
        "故障响应时间为三十分钟。",
        "变更管理按流程审批。",
        "合同到期前协商续签。",
        "本报告记录巡检结果。",
    ]
    rng = random.Random(7)
    kinds = ["运维服务合同", "服务等级协议", "巡检报告", "会议纪要"]
    ix = WhooshIndex.open(tmp_path / "ix")
    ix.clear()
    entries = [
        IndexEntry(
            i,
            i,
            1,
            f"港口{rng.choice(kinds)}-{i}",
            "".join(rng.choice(sentences) for _ in range(rng.randint(3, 40))),
            doc_type=rng.choice(["contract", "sla"]),
        )
        for i in range(1, 801)
    ]
    for k in range(0, len(entries), 100):  # several segments, as a growing archive has
        ix.upsert(entries[k : k + 100])
    ix.mark_complete()
    searcher = ix._new_searcher()
    for q in ("服务等级协议", "运维 巡检", "续签 OR 变更管理"):
        truth = len(searcher.search(_QueryBuilder(ix.tz).build_root(query_syntax.parse_query(q)), limit=None))
        for sort in ("relevance", "date"):
            r = ix.search(SearchRequest(q, per_page=10, sort=sort))
            assert r.total == truth == sum(r.facets["doc_type"].values()), (q, sort, r.total, truth)
    searcher.close()
    ix.close()
