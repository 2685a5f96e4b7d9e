"""Saved views in a real browser, at 1280 px and at 390 px (the phone menu): search, save the
search as a view, find it in the navigation, pin it to the dashboard and see its widget there —
with a shared view showing a member of another project nothing of on-site documents."""

from __future__ import annotations

import pytest

from tests.browser.site import running_site, shot
from tests.browser.test_intake_browser import WIDER, open_as
from tests.webutil import SITE_DOC, USER_DOC

pytestmark = pytest.mark.browser


def _seed(svc):
    g = svc.guard(svc.users.principal_for_cli("alice"))
    g.add_document("现场巡检记录：机房温度正常，UPS 巡检完成。".encode(), "巡检.txt", SITE_DOC)
    g.add_document(
        "服务等级协议：可用性 99.9%，每年复审。".encode(),
        "sla.txt",
        {**USER_DOC, "title": "年度服务等级协议", "doc_type": "sla", "review_due": "2026-12-20"},
    )
    g.add_document("运维服务合同：7×24 小时巡检与值守。".encode(), "合同.txt", USER_DOC)
    svc.index.sync()
    return {}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    with running_site(tmp_path_factory.mktemp("views"), {"alice": "李娜", "bob": "赵强"}, _seed) as s:
        yield s


def _open_menu(page, width: int) -> None:
    """On a phone the navigation is behind the menu button."""
    if width < 721:
        toggle = page.locator(".menu-toggle")
        if toggle.get_attribute("aria-expanded") != "true":
            toggle.click()


@pytest.mark.parametrize("width", [1280, 390])
def test_save_a_search_see_it_in_the_navigation_pin_it_and_see_the_widget(site, width):
    name = f"巡检视图{width}"
    page = open_as(site, "alice", "zh", width)
    page.goto(site["url"] + "/search?q=巡检")
    page.locator("#result-count").wait_for()
    page.locator("#save-view > summary").click()
    page.fill("#view-name", name)
    page.locator("#save-view-button").click()
    page.wait_for_url("**/search?q=*")
    assert f"已保存视图“{name}”" in page.locator(".notice-ok").inner_text()

    _open_menu(page, width)
    page.locator("details.navviews > summary").click()
    link = page.locator("a.navview", has_text=name)
    link.wait_for()
    assert link.is_visible()
    shot(site, page, f"views-nav-{width}", full_page=False)
    link.click()
    page.locator("#result-count").wait_for()
    assert page.locator("li.hit h3", has_text="港口运维二期现场巡检记录").count() == 1

    page.goto(site["url"] + "/views")
    row = page.locator("#views-table tr", has_text=name)
    row.locator("button[id^='pin-']").click()
    page.wait_for_url(site["url"] + "/views")
    assert row.locator("button[id^='unpin-']").count() == 1
    assert page.evaluate(WIDER) == [], f"/views wider than {width} px"
    shot(site, page, f"views-page-{width}")

    page.goto(site["url"] + "/")
    widget = page.locator("section.widget", has_text=name)
    widget.wait_for()
    assert widget.locator("a", has_text="港口运维二期现场巡检记录").count() == 1
    assert page.locator("#shortcut-upload").is_visible() and page.locator("#due").is_visible()
    assert page.evaluate(WIDER) == [], f"wider than {width} px"
    shot(site, page, f"views-dashboard-{width}")
    page.context.close()


def test_a_shared_view_shows_another_projects_member_nothing_of_its_site_documents(site):
    svc = site["svc"]
    view = svc.guard(svc.users.principal_for_cli("alice")).views.create(
        "现场文档（共享）", "documents", "doc_class=site", shared=True
    )
    svc.guard(svc.users.principal_for_cli("bob")).views.pin(view.id)
    page = open_as(site, "bob", "zh", 1280)
    widget = page.locator(f"#widget-{view.id}")
    assert widget.locator(".count").inner_text() == "0"
    assert "巡检" not in page.locator("main").inner_text()
    page.goto(site["url"] + "/views")
    assert page.locator(f"#delete-{view.id}").count() == 0  # only its owner (or an administrator)
    page.context.close()
