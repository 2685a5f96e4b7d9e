"""The document list's selection in a real browser, at 1280 and 390 px: sort by title (pinyin
order), switch to cards (remembered), tick documents with "select all", change them in bulk and
read the per-document result (one refused), download a selection as a ZIP."""

from __future__ import annotations

import io
import zipfile

import pytest

from tests.browser.site import running_site, shot
from tests.webutil import PASSWORD, SITE_DOC, USER_DOC

pytestmark = pytest.mark.browser

TITLES = ["招商银行运维服务合同", "长沙数据中心巡检方案", "阿里云资源采购合同", "北京机房驻场记录"]


def _seed(svc):
    g = svc.guard(svc.users.principal_for_cli("alice"))
    docs = {t: g.add_document(f"{t}：正文。".encode(), f"{t}.txt", {**USER_DOC, "title": t}).document for t in TITLES}
    # On-site (9.2) in alice's own project: she may change it, but not move it out of her projects.
    site_doc = g.add_document(
        "巡检记录：机房温度正常。".encode(), "巡检.txt", {**SITE_DOC, "title": "港口运维二期现场巡检记录"}
    ).document
    return {"docs": docs, "site_doc": site_doc}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    with running_site(tmp_path_factory.mktemp("bulk"), {"alice": "李娜"}, _seed) as s:
        yield s


def _sign_in(site, width: int):
    context = site["browser"].new_context(
        locale="zh-CN", viewport={"width": width, "height": 860}, accept_downloads=True
    )
    page = context.new_page()
    page.set_default_timeout(15000)
    page.goto(site["url"] + "/login")
    page.fill("#username", "alice")
    page.fill("#password", PASSWORD)
    page.locator("form.stack button.primary").click()
    page.wait_for_url(site["url"] + "/")
    return context, page


def _no_sideways_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


@pytest.mark.parametrize("width", [1280, 390])
def test_select_bulk_set_and_read_the_result(site, width):
    context, page = _sign_in(site, width)
    try:
        page.goto(site["url"] + "/documents?sort=title")
        titles = page.locator("td.card-title > a").all_inner_texts()
        assert titles == [
            "阿里云资源采购合同",
            "北京机房驻场记录",
            "长沙数据中心巡检方案",
            "港口运维二期现场巡检记录",
            "招商银行运维服务合同",
        ]
        if width == 390:  # the table is shown as cards on a phone, its checkboxes still there
            assert page.locator("table.cards thead").is_hidden()
            assert page.locator("input[data-select]").first.is_visible()
        assert _no_sideways_scroll(page)

        # Select all on the page, then leave one out: the bar counts them.
        page.get_by_label("全选本页").check()
        assert page.locator("input[data-select]:checked").count() == 5
        page.get_by_label("选择“北京机房驻场记录”").uncheck()
        assert page.locator("[data-selected-count]").inner_text() == "已选 4 份"
        assert page.locator("input[data-select-all]").evaluate("el => el.indeterminate")

        page.locator("details.bulkedit > summary").click()
        page.select_option("#f-status", "effective")
        page.fill("#f-project", f"数据中心{width}")
        page.fill("#f-add_tags", "年度整理")
        if width == 390:  # Enter in a field applies the change (not the ZIP button, first in the bar)
            page.press("#f-add_tags", "Enter")
        else:
            page.get_by_role("button", name="应用到所选文档").click()
        page.wait_for_url(site["url"] + "/documents/bulk")

        summary = page.locator("[data-bulk-summary]")
        assert summary.inner_text().strip() == "已修改 3 份，无需修改 0 份，被拒绝 1 份。"
        refused = page.locator("tr.bulk-refused")
        assert refused.count() == 1
        assert "港口运维二期现场巡检记录" in refused.inner_text() and "不是项目" in refused.inner_text()
        assert page.locator("tr.bulk-changed").count() == 3
        assert _no_sideways_scroll(page)
        shot(site, page, f"bulk-result-{width}")

        svc = site["svc"]
        for title in ("阿里云资源采购合同", "长沙数据中心巡检方案", "招商银行运维服务合同"):
            meta = svc.archive.document(site["docs"][title].id).metadata
            assert meta.project == f"数据中心{width}" and meta.status.value == "effective" and "年度整理" in meta.tags
        assert svc.archive.document(site["docs"]["北京机房驻场记录"].id).metadata.project != f"数据中心{width}"
        assert svc.archive.document(site["site_doc"].id).metadata.project == "港口运维二期"

        page.get_by_role("link", name="返回文档列表").click()
        assert page.url.endswith("/documents?sort=title")
    finally:
        context.close()


@pytest.mark.parametrize("width", [1280, 390])
def test_cards_are_remembered_and_a_selection_downloads_as_zip(site, width):
    context, page = _sign_in(site, width)
    try:
        page.goto(site["url"] + "/documents?sort=-title")
        page.locator("nav.viewswitch").get_by_role("link", name="卡片").click()
        page.wait_for_url("**view=cards**")  # the click navigates; count the new page's cards
        cards = page.locator("li.doccard")
        assert cards.count() == 5 and cards.first.locator(".thumb").count() == 1
        assert page.locator("a.doccard-title").all_inner_texts()[0] == "招商银行运维服务合同"
        assert _no_sideways_scroll(page)
        shot(site, page, f"documents-cards-{width}")
        page.goto(site["url"] + "/documents")
        assert page.locator("li.doccard").count() == 5  # remembered

        page.get_by_label("选择“阿里云资源采购合同”").check()
        page.get_by_label("选择“北京机房驻场记录”").check()
        with page.expect_download() as got:
            page.get_by_role("button", name="下载所选（ZIP）").click()
        data = got.value.path().read_bytes()
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            assert sorted(zf.namelist()) == ["北京机房驻场记录.txt", "阿里云资源采购合同.txt"]
        page.goto(site["url"] + "/documents?view=table")
        assert page.locator("li.doccard").count() == 0 and page.locator("table.cards").count() == 1
    finally:
        context.close()


@pytest.mark.parametrize("width", [1280, 390])
def test_bulk_bar_and_result_have_no_serious_axe_violation(site, width):
    from tests.browser.test_a11y_browser import AXE, axe_context, axe_violations, report
    from tests.conftest import require

    require(AXE.is_file(), f"axe-core is not installed at {AXE}: npm install --prefix .cache/axe axe-core@4.14.1")
    context = axe_context(site["browser"], locale="zh-CN", viewport={"width": width, "height": 860})
    page = context.new_page()
    page.set_default_timeout(15000)
    try:
        page.goto(site["url"] + "/login")
        page.fill("#username", "alice")
        page.fill("#password", PASSWORD)
        page.locator("form.stack button.primary").click()
        page.wait_for_url(site["url"] + "/")
        page.goto(site["url"] + "/documents")
        page.locator("details.bulkedit > summary").click()  # the open bar, as a user fills it in
        failures = [report(f"documents with the bulk bar open ({width}px)", axe_violations(page))]
        page.get_by_label("选择“港口运维二期现场巡检记录”").check()
        page.get_by_label("选择“北京机房驻场记录”").check()
        page.fill("#f-project", "别的项目")
        page.get_by_role("button", name="应用到所选文档").click()
        page.locator("tr.bulk-refused").wait_for()
        failures.append(report(f"bulk result ({width}px)", axe_violations(page)))
        failures = [f for f in failures if f]
        assert not failures, "axe-core found serious or critical violations:\n" + "\n".join(failures)
    finally:
        context.close()
