"""The UI in a real browser: Playwright for Python driving Debian's Chromium (/usr/bin/chromium)
against the app served by waitress on 127.0.0.1 in a background thread.

Skipped when Chromium or Playwright is missing (a failure under DOCSVC_REQUIRE_ALL=1). Screenshots
are taken only when $DOCSVC_SCREENSHOTS names a folder for them (``docs/screenshots`` refreshes the
ones in the docs).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.site import docx, running_site, shot
from tests.webutil import PASSWORD, SITE_DOC, USER_DOC

pytestmark = pytest.mark.browser

CONTRACT_V1 = docx(
    "信息系统运维服务合同",
    "甲方：大连港集团有限公司",
    "乙方：大连华信计算机技术股份有限公司",
    "第一条 服务内容：乙方提供 7×24 小时运维服务。",
    "第二条 服务可用性不低于 99.9%。",
    "第三条 故障响应时间为 30 分钟。",
    "第四条 合同期限一年。",
)
CONTRACT_V2 = docx(
    "信息系统运维服务合同",
    "甲方：大连港集团有限公司",
    "乙方：大连华信计算机技术股份有限公司",
    "第一条 服务内容：乙方提供 7×24 小时运维及巡检服务。",
    "第二条 服务可用性不低于 99.95%。",
    "第三条 故障响应时间为 15 分钟，重大故障 5 分钟内通知甲方。",
    "第四条 合同期限一年。",
    "第五条 每季度提交一次服务报告。",
)


def _seed(svc):
    g = svc.guard(svc.users.principal_for_cli("drafter"))
    contract = g.add_document(
        CONTRACT_V1,
        "运维服务合同.docx",
        {
            **USER_DOC,
            "review_due": "2026-12-20",
            "tags": "运维,合同",
            "status": "effective",
            "effective_date": "2026-01-01",
        },
    ).document
    g.add_version(contract.id, CONTRACT_V2, "运维服务合同（修订）.docx", reason="缩短故障响应时间，增加季度报告")
    g.add_document(
        "服务等级协议：可用性 99.9%。".encode(),
        "SLA.txt",
        {**USER_DOC, "title": "港口运维服务等级协议", "doc_type": "sla", "review_due": "2026-12-10"},
    )
    g.add_document("巡检记录：机房温度正常。".encode(), "巡检.txt", SITE_DOC)

    return {"contract": contract}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    names = {"alice": "李娜", "audit": "周敏", "root": "系统管理员"}
    with running_site(tmp_path_factory.mktemp("browser"), names, _seed) as s:
        yield s


def open_as(site, who: str, lang: str | None = None):
    context = site["browser"].new_context(
        locale="zh-CN", viewport={"width": 1280, "height": 860}, accept_downloads=True
    )
    page = context.new_page()
    page.set_default_timeout(15000)
    page.goto(site["url"] + "/login")
    if lang == "en":
        page.get_by_role("button", name="English").click()
    page.fill("#username", who)
    page.fill("#password", PASSWORD)
    page.locator("form.stack button.primary").click()
    page.wait_for_url(site["url"] + "/")
    return page


def test_login_page_and_dashboard(site):
    context = site["browser"].new_context(locale="zh-CN", viewport={"width": 1280, "height": 720})
    page = context.new_page()
    page.goto(site["url"] + "/documents")
    assert "/login" in page.url
    page.fill("#username", "alice")
    page.fill("#password", "wrong-password")
    page.locator("form.stack button.primary").click()
    assert "用户名或密码不正确" in page.locator("#login-error").inner_text()
    shot(site, page, "login")
    page.fill("#password", PASSWORD)
    page.locator("form.stack button.primary").click()
    page.wait_for_url(site["url"] + "/documents")
    context.close()
    page = open_as(site, "alice")
    assert page.locator("h1").inner_text() == "仪表板"
    assert "港口运维服务等级协议" in page.locator("#due-h + p + ul").inner_text()
    shot(site, page, "dashboard")
    page.goto(site["url"] + "/documents")
    assert page.locator("table.data tbody tr").count() == 3  # alice is in 港口运维二期: sees the site document
    page.select_option("#q-type", "sla")
    page.get_by_role("button", name="筛选").click()
    assert page.locator("table.data tbody tr").count() == 1
    page.goto(site["url"] + "/documents")
    shot(site, page, "documents")
    page.context.close()


def test_upload_files_by_input_and_drop(site):
    page = open_as(site, "alice")
    page.goto(site["url"] + "/upload")
    folder = site["tmp"] / "uploads"
    folder.mkdir(exist_ok=True)
    (folder / "会议纪要.txt").write_text("项目周例会纪要：确认二期上线时间。", "utf-8")
    (folder / "验收报告.docx").write_bytes(docx("验收报告", "系统已通过验收测试。"))
    page.set_input_files("#files", [str(folder / "会议纪要.txt"), str(folder / "验收报告.docx")])
    # The drag-and-drop path: a drop event carrying a DataTransfer, as the browser makes one.
    handle = page.evaluate_handle("""() => {
        const dt = new DataTransfer();
        dt.items.add(new File([new Uint8Array([127, 69, 76, 70, 2, 1, 1, 0, 0, 0])], "程序.exe", {type: "application/octet-stream"}));
        return dt; }""")
    page.dispatch_event("#dropzone", "drop", {"dataTransfer": handle})
    assert page.locator("#filelist li").count() == 3
    page.select_option("#f-doc_type", "meeting_minutes")
    page.select_option("#f-service_category", "4.2")
    page.fill("#f-project", "港口运维二期")
    shot(site, page, "upload-selected")
    page.locator("#upload-button").click()
    # (wait_for_function would need eval, which the page's CSP rightly forbids)
    page.locator("#upload-summary", has_text="完成").wait_for()
    assert "成功 2 个，失败 1 个" in page.locator("#upload-summary").inner_text()
    results = page.locator("#filelist .fresult").all_inner_texts()
    assert results[0].startswith("已归档 #") and results[1].startswith("已归档 #")
    assert "不支持" in results[2]
    assert page.locator("#filelist progress").first.get_attribute("value") == "100"
    shot(site, page, "upload")
    page.locator("#filelist .fresult a").first.click()
    assert page.locator("h1").inner_text().startswith("会议纪要")
    page.context.close()


def test_edit_metadata_with_an_invalid_date(site):
    page = open_as(site, "alice")
    page.goto(f"{site['url']}/documents/{site['contract'].id}")
    page.locator("#edit-metadata").click()
    page.fill("#f-effective_date", "2026-02-30")
    page.get_by_role("button", name="保存").click()
    error = page.locator("#err-effective_date")
    assert "不是有效日期" in error.inner_text() and error.is_visible()
    assert page.locator("#f-effective_date").get_attribute("aria-invalid") == "true"
    expect(page.locator("#f-effective_date")).to_be_focused()  # app.js moved focus there
    shot(site, page, "edit-invalid-date")
    page.fill("#f-effective_date", "2026-01-15")
    page.fill("#f-reason", "更正生效日期")
    page.get_by_role("button", name="保存").click()
    assert "元数据已保存" in page.locator(".notice-ok").inner_text()
    assert "更正生效日期" in page.locator(".timeline").inner_text()
    page.context.close()


def test_document_detail_download_and_compare(site):
    page = open_as(site, "alice")
    page.goto(f"{site['url']}/documents/{site['contract'].id}")
    assert page.locator(".timeline li").count() >= 3
    shot(site, page, "document")
    with page.expect_download() as info:
        page.get_by_role("link", name="运维服务合同.docx").click()
    download = info.value
    assert Path(download.path()).read_bytes() == CONTRACT_V1
    assert download.suggested_filename == "运维服务合同.docx"
    page.get_by_role("button", name="并排比较").click()
    page.wait_for_url("**/compare?a=1&b=2")
    assert page.locator("tr.row-changed").count() == 3 and page.locator("tr.row-inserted").count() == 1
    assert "95" in page.locator("tr.row-changed ins").all_inner_texts()
    shot(site, page, "compare")
    page.context.close()


def test_auditor_reads_verifies_and_exports(site):
    page = open_as(site, "audit")
    assert page.locator("nav.mainnav a", has_text="上传").count() == 0
    page.goto(f"{site['url']}/documents/{site['contract'].id}")
    assert page.locator("#edit-metadata").count() == 0 and page.locator("#new-version").count() == 0
    assert "新增版本" in page.locator(".timeline").inner_text()
    with page.expect_download() as info:
        page.locator("#export-bundle").click()
    with zipfile.ZipFile(info.value.path()) as zf:
        assert json.loads(zf.read("receipt.json"))["actor"] == "audit"
    # A forced write (the form is not shown, but the URL is known) is refused and logged.
    status = page.evaluate(
        """async (id) => {
        const token = document.querySelector("meta[name='csrf-token']").content;
        const body = new URLSearchParams({csrf_token: token, title: "x", doc_type: "contract",
                                          service_category: "4.2", doc_class: "user"});
        return (await fetch(`/documents/${id}/edit`, {method: "POST", body})).status; }""",
        site["contract"].id,
    )
    assert status == 403
    page.goto(site["url"] + "/audit")
    page.locator("#verify-chain").click()
    assert "审计链完整" in page.locator(".notice-ok").inner_text()
    page.select_option("#a-action", "access.denied")
    page.get_by_role("button", name="筛选").first.click()
    assert "操作：编辑元数据" in page.locator("table.audit tbody").inner_text()  # the operation in words
    page.goto(site["url"] + "/audit")
    shot(site, page, "audit")
    page.context.close()


def test_admin_creates_user_changes_role_and_switches_to_english(site):
    page = open_as(site, "root")
    page.goto(site["url"] + "/admin/users")
    page.fill("#f-username", "wang.fang")
    page.fill("#f-display_name", "王芳")
    page.select_option("#f-role", "member")
    page.fill("#f-projects", "港口运维二期")
    page.locator("#create-user").click()
    assert "已创建用户 wang.fang" in page.locator("#created-user").inner_text()
    assert len(page.locator("#created-user code").inner_text()) >= 12
    shot(site, page, "admin-users")
    page.get_by_role("link", name="wang.fang").click()
    page.select_option("#f-role", "drafter")
    page.locator("#save-user").click()
    assert "用户已更新" in page.locator(".notice-ok").inner_text()
    assert site["svc"].users.get("wang.fang").role.value == "drafter"
    page.goto(site["url"] + "/admin/health")
    page.locator("#run-check").click()
    assert "检查通过" in page.locator("#report-h + p").inner_text()
    shot(site, page, "health")
    page.get_by_role("button", name="English").click()
    assert page.locator("h1").first.inner_text().startswith("System health")
    page.goto(site["url"] + "/")
    assert page.locator("h1").inner_text() == "Dashboard"
    shot(site, page, "dashboard-en")
    page.get_by_role("button", name="中文").click()
    assert page.locator("h1").inner_text() == "仪表板"
    page.context.close()


def test_narrow_screen(site):
    context = site["browser"].new_context(locale="zh-CN", viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.goto(site["url"] + "/login")
    page.fill("#username", "alice")
    page.fill("#password", PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(site["url"] + "/")
    page.goto(f"{site['url']}/documents/{site['contract'].id}")
    # No horizontal scrolling of the page itself (wide tables scroll inside their own box).
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    shot(site, page, "document-mobile")
    context.close()


def test_keyboard_focus_is_visible(site):
    page = open_as(site, "alice")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid"
    page.context.close()
