"""Managed tags in a real browser, at 1280 px and at 390 px (the phone menu): a manager finds 标签
in the navigation, renames a tag and sees the new name as a colour chip on the document; a member
typing into the upload form's counterparty field is offered the counterparty of a document they
may read, and never one of another project's on-site documents."""

from __future__ import annotations

import pytest

from tests.browser.site import running_site, shot
from tests.browser.test_intake_browser import WIDER, open_as
from tests.webutil import SITE_DOC, USER_DOC

pytestmark = pytest.mark.browser


def _seed(svc):
    g = svc.guard(svc.users.principal_for_cli("alice"))
    doc = g.add_document(
        "运维服务合同：7×24 小时巡检与值守。".encode(), "合同.txt", {**USER_DOC, "tags": "等保1280,等保390,合同"}
    ).document
    bob = svc.guard(svc.users.principal_for_cli("bob"))
    bob.add_document(
        "银行现场巡检。".encode(),
        "银行.txt",
        {**SITE_DOC, "project": "银行核心系统", "title": "银行现场巡检记录", "counterparty": "大连银行秘密分行"},
    )
    svc.guard(svc.users.principal_for_cli("mgr")).terms("tag").recolour("合同", "teal")
    svc.index.sync()
    return {"doc": doc.id}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    with running_site(tmp_path_factory.mktemp("terms"), {"mgr": "王经理", "alice": "李娜"}, _seed) as s:
        yield s


@pytest.mark.parametrize("width", [1280, 390])
def test_a_manager_renames_a_tag_and_sees_it_on_the_document(site, width):
    page = open_as(site, "mgr", "zh", width)
    if width < 721:
        page.locator(".menu-toggle").click()
    page.locator("#mainnav a", has_text="标签").click()
    page.wait_for_url(site["url"] + "/tags")
    assert page.locator("#terms-table .tag", has_text=f"等保{width}").count() == 1
    page.fill("#rename-name", f"等保{width}")
    page.fill("#rename-new", f"等级保护{width}")
    page.locator("#rename-form button.primary").click()
    page.wait_for_url(site["url"] + "/tags")
    assert f"已改名为“等级保护{width}”" in page.locator(".notice-ok").inner_text()
    assert page.evaluate(WIDER) == [], f"/tags wider than {width} px"
    shot(site, page, f"tags-{width}")

    page.goto(site["url"] + f"/documents/{site['doc']}")
    chip = page.locator("#doc-tags .tag", has_text=f"等级保护{width}")
    assert chip.is_visible()
    assert page.locator("#doc-tags .tag", has_text=f"等保{width}").count() == 0
    teal = page.locator("#doc-tags .tag.chip-teal", has_text="合同")
    assert teal.is_visible() and teal.evaluate("el => getComputedStyle(el).backgroundColor") != chip.evaluate(
        "el => getComputedStyle(el).backgroundColor"
    )
    page.context.close()


@pytest.mark.parametrize("width", [1280, 390])
def test_the_upload_form_offers_a_counterparty_as_it_is_typed(site, width):
    page = open_as(site, "alice", "zh", width)
    page.goto(site["url"] + "/upload")
    field = page.locator("#f-counterparty")
    field.click()
    field.press_sequentially("大连")
    offered = page.locator("#dl-counterparty option[value='大连港集团有限公司']")
    offered.wait_for(state="attached")
    values = page.eval_on_selector_all("#dl-counterparty option", "els => els.map(e => e.value)")
    assert values == ["大连港集团有限公司"]  # not 大连银行秘密分行: another project's on-site document
    tags = page.locator("#f-tags")
    tags.click()
    tags.press_sequentially("合同, 等")
    page.locator("#dl-tags option[value^='合同, 等']").first.wait_for(state="attached")
    assert "合同, 合同" not in page.eval_on_selector_all("#dl-tags option", "els => els.map(e => e.value)")
    assert page.evaluate(WIDER) == [], f"/upload wider than {width} px"
    page.context.close()
