"""Roles and audit in the web UI: pages a role cannot use are not offered, an
audit bundle is one click from a document or a filtered log, reads are grouped and labelled on a
document's timeline, and an impossible list filter is answered 400 with the valid values."""

from __future__ import annotations

import io
import json
import re
import zipfile

import pytest

from docsvc.web.ui_docs import FILTERS
from tests.webutil import USER_DOC, World, app, csrf_of, err, world  # noqa: F401


@pytest.fixture
def doc(world: World):
    g = world.guard("alice")
    d = g.add_document("第一段：甲方。".encode(), "合同.txt", USER_DOC).document
    g.add_version(d.id, "第一段：甲方、乙方。".encode(), "合同v2.txt", reason="补充乙方")
    return d


@pytest.mark.parametrize(
    "query,field,valid",
    [
        ("doc_type=nonsense", "doc_type", "contract"),
        ("service_category=9.9", "service_category", "4.2"),
        ("doc_class=library", "doc_class", "site"),
        ("status=gone", "status", "effective"),
        ("service_scope=x", "service_scope", "delivery"),
        ("pdca_phase=x", "pdca_phase", "check"),
    ],
)
def test_impossible_list_filter_is_400_with_the_valid_values(world: World, query, field, valid):
    e = err(world.api("alice").get(f"/api/v1/documents?{query}"), 400, "invalid_input", field)
    assert valid in e["details"]["valid"] and valid in e["message_en"]
    if field in FILTERS:  # the list page's own filters (it ignores the others)
        page = world.login("alice").get(f"/documents?{query}")
        assert page.status_code == 400 and valid in page.data.decode()


def test_valid_filters_still_list(world: World, doc):
    api = world.api("alice")
    assert api.get("/api/v1/documents?doc_type=contract&status=draft&doc_class=user").json["total"] == 1
    assert api.get("/api/v1/documents?doc_type=sla").json["total"] == 0  # valid, nothing matches


def test_timeline_groups_reads_and_says_what_was_read(world: World, doc):
    c = world.login("alice")
    for n in (1, 2, 1):
        assert c.get(f"/documents/{doc.id}/versions/{n}/download").status_code == 200
    c.get(f"/documents/{doc.id}/compare?a=1&b=2")
    html = c.get(f"/documents/{doc.id}").data.decode()
    # Five reads in a row (three downloads, two views by the comparison) are one entry, newest first.
    assert html.count('class="ev ev-reads"') == 1 and "查看与下载 5 次" in html
    labels = re.findall(r'class="read read-version-(\w+)">([^<]+)<', html)
    assert [label.strip() for _, label in labels] == [
        "比较时查看第 2 版",
        "比较时查看第 1 版",
        "下载第 1 版（原文件）",
        "下载第 2 版（原文件）",
        "下载第 1 版（原文件）",
    ]
    assert "新增版本" in html and "补充乙方" in html  # the changes stay entries of their own
    en = world.login("alice", lang="en").get(f"/documents/{doc.id}").data.decode()
    assert "Viewed or downloaded" in en and "Downloaded version 1 (the original file)" in en


def test_a_single_read_is_labelled_without_a_group(world: World, doc):
    c = world.login("alice")
    c.get(f"/documents/{doc.id}/versions/2/download")
    html = c.get(f"/documents/{doc.id}").data.decode()
    assert "下载第 2 版（原文件）" in html and "查看与下载" not in html


def test_bundle_from_a_filtered_audit_view_without_typing_ids(world: World, doc):
    c = world.login("audit")
    log = c.get("/audit").data.decode()
    # Every entry about a document offers to narrow the log to it …
    narrow = re.search(r'class="only-doc" href="([^"]+)"', log).group(1).replace("&amp;", "&")
    page = c.get(narrow)
    html = page.data.decode()
    assert f'name="document_id" value="{doc.id}"' in html and f"下载文档 #{doc.id} 的审计包" in html
    # … and the bundle of what is shown is one button away.
    resp = c.post("/audit/export", data={"csrf_token": csrf_of(page), "document_id": doc.id})
    assert resp.status_code == 200
    with zipfile.ZipFile(io.BytesIO(resp.data)) as zf:
        assert json.loads(zf.read("receipt.json"))["details"]["scope"]["document_id"] == doc.id
    # Filtered by action only: the bundle covers the dates of what is shown.
    filtered = c.get("/audit?action=version.added").data.decode()
    since = re.search(r'name="since" value="([\d-]+)"', filtered).group(1)
    until = re.search(r'name="until" value="([\d-]+)"', filtered).group(1)
    assert since <= until and f"下载 {since} 至 {until} 的审计包" in filtered
    assert c.get("/audit?action=deletion.refused").data.decode().count('id="export-filtered"') == 0  # nothing shown


def test_upload_page_is_not_offered_to_an_auditor(world: World):
    c = world.login("audit")
    assert 'href="/upload"' not in c.get("/").data.decode() and 'href="/labels/review"' not in c.get("/").data.decode()
    resp = c.get("/upload")
    assert resp.status_code == 403 and "上传文档" in resp.data.decode()
    assert world.audit_actions("audit")[-1] == "access.denied"
