"""Batch generation in a real browser, at 1280 px and at 390 px: a drafter opens 批量生成 from the
template gallery, downloads the spreadsheet, fills in two rows, uploads it, watches the progress
page and sees each row's result with its document; an invalid sheet first shows its row errors.

Chromium at /usr/bin/chromium through Playwright; DOCX only (no LibreOffice needed).
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from openpyxl import load_workbook

from tests.browser.site import running_site, shot
from tests.browser.test_ui_browser import open_as

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    def start_runner(svc):
        svc.start_jobs()  # what docsvc serve does: the batch job is taken by this server's runner
        return {}

    with running_site(tmp_path_factory.mktemp("batch"), {"drafter": "王芳"}, start_runner) as s:
        yield s


def fill(path: Path, rows: list[dict[str, str]], out: Path) -> Path:
    """The downloaded skeleton with its example row replaced by ``rows`` (changed cells only)."""
    wb = load_workbook(io.BytesIO(path.read_bytes()))
    ws = wb.active
    header = [c.value for c in ws[1]]
    example = [c.value for c in ws[2]]
    for r, changes in enumerate(rows, start=2):
        for i, h in enumerate(header, start=1):
            ws.cell(row=r, column=i, value=changes.get(h, example[i - 1]))
    wb.save(out)
    return out


@pytest.mark.parametrize("width", [1280, 390])
def test_download_fill_upload_watch_and_see_results(site, width):
    page = open_as(site, "drafter")
    page.set_viewport_size({"width": width, "height": 860})
    page.goto(site["url"] + "/templates")
    card = page.locator("li.tcard", has=page.locator("h2", has_text="服务等级协议"))
    card.get_by_role("link", name="批量生成").click()
    page.wait_for_url("**/templates/sla/batch")
    with page.expect_download() as info:
        page.locator("#skeleton-xlsx").click()
    skeleton = Path(info.value.path())
    assert info.value.suggested_filename.endswith(".xlsx")
    assert [c.value for c in load_workbook(io.BytesIO(skeleton.read_bytes())).active[1]][:2] == ["协议编号", "协议名称"]

    tmp = site["tmp"]
    # First a sheet with an error in its second data row (row 3 in Excel): shown, nothing made.
    bad = fill(
        skeleton,
        [
            {"协议编号": f"SLA-B{width}-1", "协议名称": f"批量协议{width}甲"},
            {"协议编号": f"SLA-B{width}-2", "协议名称": f"批量协议{width}乙", "服务可用性（%）": "150"},
        ],
        tmp / f"服务等级协议（有误）-{width}.xlsx",
    )
    before = site["svc"].catalog.counts()["documents"]
    page.set_input_files("#batch-file", str(bad))
    page.locator("#batch-upload").click()
    errors = page.locator("#row-errors")
    errors.wait_for()
    assert "第 3 行" in errors.inner_text() and "服务可用性" in errors.inner_text()
    assert errors.is_visible()
    if width == 1280:
        shot(site, page, "batch-invalid")
    assert site["svc"].catalog.counts()["documents"] == before

    good = fill(
        skeleton,
        [
            {"协议编号": f"SLA-G{width}-1", "协议名称": f"批量协议{width}甲"},
            {"协议编号": f"SLA-G{width}-2", "协议名称": f"批量协议{width}乙"},
        ],
        tmp / f"服务等级协议-两份-{width}.xlsx",
    )
    page.set_input_files("#batch-file", str(good))
    page.locator("#batch-upload").click()
    page.wait_for_url("**/templates/sla/batch/*")
    assert page.locator("#batch-bar").is_visible()
    # The page reloads itself every 2 s while the job runs; wait for both rows.
    page.locator("#batch-results tbody tr").nth(1).wait_for(timeout=120_000)
    page.locator("#batch-zip").wait_for(timeout=30_000)
    status = page.locator("#batch-status").inner_text()
    assert "2 / 2" in status and "100%" in status
    rows = page.locator("#batch-results tbody tr")
    assert rows.nth(0).locator("th").inner_text() == "第 2 行" and rows.nth(1).locator("th").inner_text() == "第 3 行"
    assert f"批量协议{width}甲" in rows.nth(0).inner_text()
    shot(site, page, "batch-done" if width == 1280 else "batch-done-mobile")
    assert page.evaluate("document.documentElement.scrollWidth") <= width + 1  # no sideways scrolling
    with page.expect_download() as z:
        page.locator("#batch-zip").click()
    import zipfile

    names = zipfile.ZipFile(io.BytesIO(Path(z.value.path()).read_bytes())).namelist()
    # Both DOCX files (and a PDF where the thumbnail job has already made one).
    assert sorted(n for n in names if n.endswith(".docx")) == [f"批量协议{width}乙.docx", f"批量协议{width}甲.docx"]
    rows.nth(0).get_by_role("link").click()
    page.wait_for_url("**/documents/*")
    assert f"批量协议{width}甲" in page.locator("h1").inner_text()
    page.context.close()
