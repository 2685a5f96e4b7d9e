"""Issue journey 1 in a real browser: a drafter fills the 服务等级协议 form (example data, an inline
error, a new table row), previews, generates DOCX + PDF, downloads both, and revises it into
version 2. Plus the form's keyboard and no-JavaScript behaviour.

Chromium at /usr/bin/chromium through Playwright; the PDF part needs LibreOffice (marked
``libreoffice``; a failure instead of a skip under DOCSVC_REQUIRE_ALL=1).
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.site import running_site, shot
from tests.browser.test_ui_browser import open_as
from tests.webutil import PASSWORD

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    with running_site(tmp_path_factory.mktemp("drafting"), {"drafter": "王芳", "alice": "李娜"}) as s:
        yield s


def open_form(site, page, *, screenshot: bool = False):
    """Gallery → 服务等级协议 → fill with example."""
    page.get_by_role("navigation", name="主导航").get_by_role("link", name="模板").click()
    page.wait_for_url("**/templates")
    assert page.locator("li.tcard").count() == 5
    if screenshot:
        shot(site, page, "templates")
    card = page.locator("li.tcard", has=page.locator("h2", has_text="服务等级协议"))
    card.get_by_role("link", name="填写并生成").click()
    page.wait_for_url("**/templates/sla/generate")
    assert page.locator("#f-sla_no").input_value() == ""
    page.locator("#fill-example").click()
    page.wait_for_url("**/templates/sla/generate?example=1")
    assert page.locator("#f-party_a-name").input_value() == "大连长兴湾物流集团有限公司"


def break_and_fix(site, page, *, screenshot: bool = False):
    """An inline error beside its field, then fixed; a new row in the services table."""
    page.fill("#f-party_a-name", "")
    page.fill("#f-availability", "150")
    page.locator("#generate-button").click()
    error = page.locator("#err-availability")
    error.wait_for()
    assert "90 到 100" in error.inner_text() and error.is_visible()
    assert "必填" in page.locator("#err-party_a-name").inner_text()
    assert page.locator("#f-availability").get_attribute("aria-invalid") == "true"
    expect(page.locator("#f-party_a-name")).to_be_focused()  # first invalid field, in page order
    assert "有 2 处需要修改" in page.locator("#form-errors").inner_text()
    if screenshot:  # the top of the page: the error summary and the first inline error
        page.evaluate("window.scrollTo(0, 0)")
        shot(site, page, "generate-invalid", full_page=False)
    assert site["svc"].catalog.counts()["documents"] == 0
    page.fill("#f-party_a-name", "大连长兴湾物流集团有限公司")
    page.fill("#f-availability", "99.95")
    # A new service row: the "add a row" button, its first input focused.
    services = page.locator("fieldset#f-services")
    rows_before = services.locator("tbody tr").count()
    services.get_by_role("button", name="添加一行").click()
    assert services.locator("tbody tr").count() == rows_before + 1
    new_row = services.locator("tbody tr").last
    first_input = new_row.locator("input").first
    assert first_input.evaluate("el => el === document.activeElement")
    first_input.fill("安全巡检")
    new_row.locator("input").nth(1).fill("每月一次漏洞扫描和安全基线检查")
    new_row.locator("input").nth(2).fill("每月")
    return rows_before


def test_form_errors_rows_keyboard_and_preview(site):
    page = open_as(site, "drafter")
    open_form(site, page, screenshot=True)
    shot(site, page, "generate-form")
    break_and_fix(site, page, screenshot=True)
    services = page.locator("fieldset#f-services")
    # Remove a blank row with the keyboard: focus stays in the table.
    count = services.locator("tbody tr").count()
    remove = services.locator("tbody tr").nth(count - 2).get_by_role("button", name="删除")
    remove.focus()
    page.keyboard.press("Enter")
    assert services.locator("tbody tr").count() == count - 1
    assert page.evaluate("document.activeElement.textContent") == "删除"
    row_numbers = services.locator("tbody th.rowno").all_inner_texts()
    assert row_numbers == [str(i) for i in range(1, count)]
    page.locator("#preview-button").click()
    preview = page.locator("section.preview")
    preview.wait_for()
    text = preview.inner_text()
    assert "安全巡检" in text and "99.95" in text and "大连长兴湾物流集团有限公司" in text
    expect(page.locator("#preview-h")).to_be_focused()  # app.js moves it once the page has loaded
    assert site["svc"].catalog.counts()["documents"] == 0  # a preview archives nothing
    # The preview's DOCX downloads too.
    with page.expect_download() as info:
        page.locator("#preview-docx").click()
    import docx as python_docx

    d = python_docx.Document(io.BytesIO(Path(info.value.path()).read_bytes()))
    assert any("安全巡检" in c.text for t in d.tables for row in t.rows for c in row.cells)
    page.context.close()


def test_form_works_without_javascript(site):
    context = site["browser"].new_context(
        locale="zh-CN", viewport={"width": 1280, "height": 860}, java_script_enabled=False
    )
    page = context.new_page()
    page.goto(site["url"] + "/login")
    page.fill("#username", "drafter")
    page.fill("#password", PASSWORD)
    page.locator("form.stack button.primary").click()
    page.goto(site["url"] + "/templates/sla/generate?example=1")
    services = page.locator("fieldset#f-services")
    assert services.get_by_role("button", name="添加一行").is_hidden()
    filled = 4
    assert services.locator("tbody tr").count() == filled + 2  # two empty rows to type into
    services.locator("tbody tr").nth(filled).locator("input").nth(0).fill("安全巡检")
    services.locator("tbody tr").nth(filled).locator("input").nth(1).fill("每月漏洞扫描")
    services.locator("tbody tr").nth(filled).locator("input").nth(2).fill("每月")
    page.locator("#preview-button").click()
    assert "安全巡检" in page.locator("section.preview").inner_text()
    assert services.locator("tbody tr").count() == filled + 1 + 2  # the new row kept, empty rows offered again
    context.close()


@pytest.mark.libreoffice
def test_drafting_journey_generate_pdf_download_and_revise(site, unoserver_venv):
    import pypdf

    page = open_as(site, "drafter")
    open_form(site, page)
    break_and_fix(site, page)
    page.locator("#preview-button").click()
    page.locator("section.preview").wait_for()
    page.check("#f-pdf")
    page.locator("#generate-button").click()
    page.wait_for_url("**/documents/*", timeout=180_000)  # the first PDF starts LibreOffice
    assert "已生成并归档第 1 版，含 PDF" in page.locator(".notice-ok").inner_text()
    assert page.locator("h1").inner_text().startswith("长兴湾物流集团信息系统运维服务等级协议")
    with page.expect_download() as info:
        page.locator("a.download:not(.pdf)").first.click()
    import docx as python_docx

    d = python_docx.Document(io.BytesIO(Path(info.value.path()).read_bytes()))
    assert any("安全巡检" in c.text for t in d.tables for row in t.rows for c in row.cells)
    assert info.value.suggested_filename.endswith(".docx")
    with page.expect_download() as info:
        page.locator("a.download.pdf").first.click()
    pdf = Path(info.value.path()).read_bytes()
    assert pdf.startswith(b"%PDF-") and info.value.suggested_filename.endswith(".pdf")
    text = "".join("".join(p.extract_text().split()) for p in pypdf.PdfReader(io.BytesIO(pdf)).pages)
    assert "大连长兴湾物流集团有限公司" in text and "安全巡检" in text
    shot(site, page, "generated-document")
    # Revise: the form comes prefilled from version 1 and asks why.
    page.locator("#revise").click()
    page.wait_for_url("**/revise")
    assert page.locator("#f-availability").input_value() == "99.95"
    assert page.locator("fieldset#f-services").locator("input[value='安全巡检']").count() == 1
    page.fill("#f-availability", "99.99")
    page.locator("#generate-button").click()
    assert "变更原因" in page.locator("#err-reason").inner_text()
    expect(page.locator("#f-reason")).to_be_focused()  # app.js moves it once the page has loaded
    page.fill("#f-reason", "可用性目标提高到 99.99%")
    page.locator("#generate-button").click()
    page.wait_for_url("**/documents/*")
    assert "已生成并归档第 2 版" in page.locator(".notice-ok").inner_text()
    timeline = page.locator(".timeline").inner_text()
    assert "v2" in timeline and "可用性目标提高到 99.99%" in timeline
    assert page.locator("table.data tbody tr").first.locator("td").first.inner_text() == "v2"
    page.context.close()
