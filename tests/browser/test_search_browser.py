"""Issue journey 3 in a real browser: a user searches in Chinese (a phrase, and a question typed in
plain words) and in English, narrows by a facet, sees highlighted snippets, opens a document,
downloads a version and compares two versions side by side. Also: a malformed query, and a member
who must not see another project's on-site documents.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.site import docx, running_site, shot
from tests.browser.test_ui_browser import open_as
from tests.webutil import SITE_DOC, USER_DOC

pytestmark = pytest.mark.browser

CONTRACT_V1 = docx(
    "信息系统运维服务合同",
    "甲方：大连港集团有限公司",
    "乙方：大连华信计算机技术股份有限公司",
    "第一条 服务内容：乙方提供 7×24 小时运维服务。",
    "第二条 服务可用性不低于 99.9%。",
    "第三条 合同到期前三十日，双方协商续签；到期后服务按原条款延续九十日。",
)
CONTRACT_V2 = docx(
    "信息系统运维服务合同",
    "甲方：大连港集团有限公司",
    "乙方：大连华信计算机技术股份有限公司",
    "第一条 服务内容：乙方提供 7×24 小时运维及巡检服务。",
    "第二条 服务可用性不低于 99.95%。",
    "第三条 合同到期前六十日，双方协商续签；到期后服务按原条款延续九十日。",
    "第四条 每季度提交一次服务报告。",
)


def _seed(svc):
    g, mgr = svc.guard(svc.users.principal_for_cli("alice")), svc.guard(svc.users.principal_for_cli("mgr"))
    contract = g.add_document(CONTRACT_V1, "运维服务合同.docx", {**USER_DOC, "effective_date": "2026-01-01"}).document
    g.add_version(contract.id, CONTRACT_V2, "运维服务合同（修订）.docx", reason="提前协商续签，增加季度报告")
    g.add_document(
        docx(
            "港口运维服务等级协议",
            "服务等级协议（SLA-2026-001）：可用性 99.9%，P1 故障 30 分钟响应。",
            "协议每年复审一次，到期后续签。",
        ),
        "SLA.docx",
        {**USER_DOC, "title": "港口运维服务等级协议", "doc_type": "sla"},
    )
    g.add_document(
        b"Service renewal notice: the maintenance contract renews for one year unless either party objects in writing.",
        "renewal.txt",
        {**USER_DOC, "title": "Renewal notice (English)", "doc_type": "report", "counterparty": "Dalian Port Group"},
    )
    g.add_document("巡检记录：机房温度正常，续签前复核备份。".encode(), "巡检.txt", SITE_DOC)
    mgr.add_document(
        "银行核心系统巡检：续签前完成容灾演练。".encode(),
        "bank.txt",
        {**SITE_DOC, "title": "银行核心系统现场巡检", "project": "银行核心系统"},
    )
    for i in range(3):
        g.add_document(
            f"会议纪要 {i}：讨论服务等级协议的续签安排。".encode(),
            f"纪要{i}.txt",
            {
                **USER_DOC,
                "title": f"项目周例会纪要 {i + 1}",
                "doc_type": "meeting_minutes",
                "service_category": "4.9.2",
                "project": "港口运维二期",
            },
        )
    svc.index.sync()
    return {"contract": contract}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    with running_site(tmp_path_factory.mktemp("search"), {"alice": "李娜", "bob": "赵强"}, _seed) as s:
        yield s


def run_search(page, q: str) -> None:
    page.fill("#q", q)
    page.keyboard.press("Enter")
    page.locator("#result-count").wait_for()


def titles(page) -> list[str]:
    return page.locator("li.hit h3").all_inner_texts()


def test_search_journey(site):
    page = open_as(site, "alice")
    page.get_by_role("navigation", name="主导航").get_by_role("link", name="搜索").click()
    page.wait_for_url("**/search")
    assert page.locator("details.qhelp").get_attribute("open") is not None  # the syntax help, before a search

    # A phrase: the words adjacent, the whole phrase highlighted.
    run_search(page, '"服务等级协议"')
    assert "港口运维服务等级协议" in titles(page)
    assert "服务等级协议" in page.locator("li.hit mark").all_inner_texts()

    # A question in plain words ranks by how much of it matches.
    run_search(page, "合同到期后服务怎么续签？")
    assert titles(page)[0] == USER_DOC["title"]
    first = page.locator("li.hit").first
    marks = first.locator(".snippet mark").all_inner_texts()
    assert "续签" in marks and any("合同" in m for m in marks), marks  # adjacent matches merge into one mark
    assert "第 2 版" in first.locator(".hitmeta").inner_text()  # the latest version by default
    # Facets: Chinese labels with counts; a member of 港口运维二期 sees its on-site document.
    type_facet = page.locator("section.facet", has=page.locator("h2", has_text="文档类型"))
    assert "会议纪要" in type_facet.inner_text()
    shot(site, page, "search")
    total_before = len(titles(page))
    page.locator("section.facet a", has_text="会议纪要").click()
    page.locator("#active-h").wait_for()
    narrowed = titles(page)
    assert len(narrowed) == 3 < total_before and all(t.startswith("项目周例会纪要") for t in narrowed)
    assert page.locator("a.chip").inner_text().startswith("文档类型：会议纪要")
    shot(site, page, "search-filtered")
    # The filter stays when the words change, and goes with one click on its chip.
    run_search(page, "服务等级协议 续签")
    assert len(titles(page)) == 3
    page.locator("a.chip").click()
    page.locator("#result-count").wait_for()
    assert len(titles(page)) > 3 and page.locator("a.chip").count() == 0

    # English.
    run_search(page, "renewal")
    assert titles(page) == ["Renewal notice (English)"]
    assert page.locator("li.hit mark").first.inner_text().lower() == "renewal"

    # Open a document, download a version, compare two versions side by side.
    run_search(page, "续签 type:合同")
    page.locator("li.hit h3 a").first.click()
    page.wait_for_url(f"**/documents/{site['contract'].id}")
    with page.expect_download() as info:
        page.get_by_role("link", name="运维服务合同.docx").click()
    assert Path(info.value.path()).read_bytes() == CONTRACT_V1
    page.get_by_role("button", name="并排比较").click()
    page.wait_for_url("**/compare?a=1&b=2")
    assert page.locator("tr.row-changed").count() >= 2 and page.locator("tr.row-inserted").count() == 1
    assert "六" in page.locator("tr.row-changed ins").all_inner_texts()  # 三十日 → 六十日: one character changed
    page.context.close()


def test_all_versions_sort_and_paging(site):
    page = open_as(site, "alice")
    page.goto(site["url"] + "/search")
    page.check("#all_versions")
    run_search(page, "续签 type:合同")
    hits = page.locator("li.hit")
    assert hits.count() == 2 and "旧版本" in page.locator("li.hit").nth(1).inner_text() + hits.nth(0).inner_text()
    page.select_option("#sort", "date")
    page.locator("#search-button").click()
    page.locator("#result-count").wait_for()
    assert "/search?" in page.url and "sort=date" in page.url and "all_versions=1" in page.url
    page.context.close()


def test_malformed_query_and_english_ui(site):
    page = open_as(site, "alice", lang="en")
    page.goto(site["url"] + "/search")
    page.fill("#q", "renewal date:2026-13")
    page.keyboard.press("Enter")
    error = page.locator("#q-error")
    error.wait_for()
    assert "is not understood" in error.inner_text()
    assert page.locator("#q").get_attribute("aria-invalid") == "true"
    expect(page.locator("#q")).to_be_focused()  # app.js moves it once the page has loaded
    assert page.locator("#q").input_value() == "renewal date:2026-13"  # kept, to fix
    page.context.close()


def test_member_sees_no_other_projects_site_documents(site):
    page = open_as(site, "bob")  # member of 银行核心系统 only
    page.goto(site["url"] + "/search")
    run_search(page, "续签")
    found = titles(page)
    assert "银行核心系统现场巡检" in found and "港口运维二期现场巡检记录" not in found
    class_facet = page.locator("section.facet", has=page.locator("h2", has_text="文档类别")).inner_text()
    assert "现场文档\n1" in class_facet or "现场文档 1" in class_facet
    page.context.close()
