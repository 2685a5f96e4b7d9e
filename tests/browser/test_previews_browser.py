"""Previews in Debian's Chromium, at 1280 and 390 px, in Chinese and English: thumbnails (and a
placeholder while one is pending) in the document list and the search results, loaded under the
strict CSP; the PDF viewer on the document page; the template preview's tables."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from tests.browser.site import running_site, shot
from tests.webutil import PASSWORD, SITE_DOC, USER_DOC

pytestmark = pytest.mark.browser

SIZES = {"wide": {"width": 1280, "height": 860}, "narrow": {"width": 390, "height": 844}}


def _pdf(colour) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (595, 842), colour).save(out, "PDF", resolution=72)
    return out.getvalue()


def _seed(svc):
    g = svc.guard(svc.users.principal_for_cli("alice"))
    made = g.add_document(_pdf((30, 90, 200)), "港口巡检报告.pdf", {**SITE_DOC, "title": "港口巡检报告"}).document
    g.add_document(_pdf((200, 40, 40)), "运维合同.pdf", {**USER_DOC, "title": "港口运维合同"})
    while svc.jobs.run_next() is not None:  # the server's job runner, run here so the pictures are there
        pass
    pending = g.add_document(_pdf((40, 160, 60)), "待生成.pdf", {**USER_DOC, "title": "港口待生成预览"}).document
    svc.index.sync()
    return {"made": made, "pending": pending}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    with running_site(tmp_path_factory.mktemp("previews"), {"alice": "李娜"}, _seed) as s:
        yield s


def open_as(site, who: str, lang: str, size: str):
    context = site["browser"].new_context(locale="zh-CN", viewport=SIZES[size])
    page = context.new_page()
    page.set_default_timeout(15000)
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    page.goto(site["url"] + "/login")
    if lang == "en":
        page.get_by_role("button", name="English").click()
    page.fill("#username", who)
    page.fill("#password", PASSWORD)
    page.locator("form.stack button.primary").click()
    page.wait_for_url(site["url"] + "/")
    return page, refused


def no_sideways_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_thumbnails_in_the_list_and_the_search_results(site, lang, size):
    page, refused = open_as(site, "alice", lang, size)
    page.goto(site["url"] + "/documents")
    made = page.locator(f'img.thumb[src="/documents/{site["made"].id}/versions/1/thumbnail"]')
    made.scroll_into_view_if_needed()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=made.element_handle())
    assert made.evaluate("img => img.naturalWidth") == 240
    pending = page.locator(".thumb-pending").first
    pending.scroll_into_view_if_needed()
    assert pending.get_attribute("aria-label") == ("Preview being made" if lang == "en" else "预览生成中")
    assert no_sideways_scroll(page)
    shot(site, page, f"previews-list-{lang}-{size}")
    page.goto(site["url"] + "/search?q=港口")
    hit = page.locator(f'.hitthumb img[src="/documents/{site["made"].id}/versions/1/thumbnail"]')
    if size == "wide":
        page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=hit.element_handle())
        assert hit.is_visible()
    else:
        assert hit.count() == 1 and not hit.is_visible()  # at 390 px the text keeps the width
    assert no_sideways_scroll(page)
    shot(site, page, f"previews-search-{lang}-{size}")
    assert not refused, refused
    page.context.close()


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_pdf_viewer_on_the_document_page(site, lang, size):
    page, refused = open_as(site, "alice", lang, size)
    doc = site["made"].id
    page.goto(f"{site['url']}/documents/{doc}")
    with page.expect_response(lambda r: r.url.endswith(f"/documents/{doc}/versions/1/view.pdf")) as shown:
        page.locator("#view-pdf-1").click()
    assert shown.value.status == 200 and shown.value.headers["content-type"] == "application/pdf"
    frame = page.locator("iframe.pdfview")
    frame.scroll_into_view_if_needed()
    assert frame.is_visible()
    box = frame.bounding_box()
    assert box["width"] > 300 and box["height"] > 400
    heading = page.locator("#viewer-h").inner_text()
    assert heading == ("Viewing version 1" if lang == "en" else "在线查看：第 1 版")
    assert no_sideways_scroll(page)
    shot(site, page, f"previews-viewer-{lang}-{size}", full_page=False)
    assert not refused, refused
    # bob is not in the project: neither the page nor the PDF exists for him.
    bob, _ = open_as(site, "bob", lang, size)
    assert bob.goto(f"{site['url']}/documents/{doc}/versions/1/view.pdf").status == 404
    bob.context.close()
    page.context.close()


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_template_preview_shows_the_priority_table(site, lang, size):
    page, refused = open_as(site, "drafter", lang, size)
    page.goto(site["url"] + "/templates/sla/generate?example=1")
    page.locator("#preview-button").click()
    table = page.locator(".paper table").filter(has_text="优先级").first
    table.scroll_into_view_if_needed()
    assert table.locator("th").first.inner_text() == "优先级"  # the document's own words, in either UI language
    rows = table.locator("tr")
    assert [rows.nth(i).locator("td").first.inner_text()[:2] for i in range(1, 5)] == ["P1", "P2", "P3", "P4"]
    # The preview fits the screen (a wide table would scroll in its own box). The form above it is
    # wider than 390 px until the mobile layout lands: not measured here.
    assert page.evaluate(
        "() => { const p = document.querySelector('.preview'); "
        "return p.scrollWidth <= p.clientWidth && p.getBoundingClientRect().right <= innerWidth + 1; }"
    )
    shot(site, table, f"previews-template-table-{lang}-{size}", full_page=False)
    assert not refused, refused
    page.context.close()
