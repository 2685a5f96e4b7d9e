"""Previews in the web UI, on SQLite and PostgreSQL: thumbnails in the document list and search
results (a placeholder while pending), served with caching headers under the document's access
rule; the PDF viewer on the document page; the template preview's tables."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from werkzeug.datastructures import MultiDict

from docsvc.web.factory import create_app
from tests.test_thumbnails import RED, colour_at_centre, near, page_pdf, run_jobs
from tests.test_web_templates import form_fields
from tests.webutil import PASSWORD, PEOPLE, SITE_DOC, USER_DOC, World, app, csrf_of, world  # noqa: F401

SHIPPED = Path(__file__).resolve().parents[1] / "templates"


def upload(world, who: str, meta: dict, data: bytes, filename: str) -> int:
    resp = world.api(who).post(
        "/api/v1/documents", data={**meta, "file": (io.BytesIO(data), filename)}, content_type="multipart/form-data"
    )
    assert resp.status_code == 201, resp.data.decode()[:500]
    return resp.json["document"]["id"]


def test_list_shows_a_placeholder_then_the_thumbnail(world):
    site = upload(world, "alice", SITE_DOC, page_pdf(), "巡检记录.pdf")
    text = upload(world, "alice", USER_DOC, "合同正文：乙方提供运维服务。".encode(), "合同.txt")
    alice = world.login("alice")
    page = alice.get("/documents").data.decode()
    assert "thumb-pending" in page and 'aria-label="预览生成中"' in page
    assert f"/documents/{site}/versions/1/thumbnail" not in page
    assert re.search(r'thumb-none" role="img" aria-label="无预览"[^>]*><span aria-hidden="true">TXT', page)
    assert alice.get(f"/documents/{site}/versions/1/thumbnail").status_code == 404  # not made yet
    run_jobs(world.svc)  # what the server's job runner does in the background
    page = alice.get("/documents").data.decode()
    assert f'<img class="thumb" src="/documents/{site}/versions/1/thumbnail" alt="" loading="lazy"' in page
    assert "thumb-pending" not in page and f"/documents/{text}/versions/1/thumbnail" not in page
    # 50 a page (the benchmark's page): the page size is kept in the pager's and the filter's links.
    for i in range(30):
        upload(world, "alice", {**USER_DOC, "title": f"运维月报-{i}"}, f"月报 {i}。".encode(), f"月报-{i}.txt")
    page = alice.get("/documents?per_page=50").data.decode()
    assert page.count("<tr>") == 1 + 32 and 'rel="next"' not in page  # one page: no pager
    assert alice.get("/documents?per_page=7").data.decode().count("<tr>") == 1 + 25  # not a choice: the default
    paged = alice.get("/documents?per_page=25").data.decode()
    assert re.search(r'href="/documents\?[^"]*per_page=25[^"]*" rel="next"', paged)  # the size is kept
    en = world.login("alice", lang="en").get("/documents").data.decode()
    assert 'aria-label="No preview"' in en


def test_a_thumbnail_is_served_cached_privately_and_only_to_readers(world):
    site = upload(world, "alice", SITE_DOC, page_pdf(), "巡检记录.pdf")
    run_jobs(world.svc)
    url = f"/documents/{site}/versions/1/thumbnail"
    alice = world.login("alice")
    resp = alice.get(url)
    assert resp.status_code == 200 and resp.mimetype == "image/webp"
    assert near(colour_at_centre(resp.data), RED)
    assert resp.headers["Cache-Control"] == "private, max-age=300" and "Cookie" in resp.headers["Vary"]
    assert resp.headers["X-Content-Type-Options"] == "nosniff" and resp.headers["ETag"]
    again = alice.get(url, headers={"If-None-Match": resp.headers["ETag"]})
    assert again.status_code == 304 and not again.data
    # bob is not a member of the project: the on-site document, and so its thumbnail, does not exist for him.
    bob = world.login("bob")
    assert bob.get(url).status_code == 404
    assert bob.get(url, headers={"If-None-Match": resp.headers["ETag"]}).status_code == 404
    denied = [e for e in world.svc.catalog.audit_entries() if e.action == "access.denied"]
    assert denied and denied[-1].actor == "bob" and denied[-1].details["operation"] == "thumbnail"
    assert "thumbnail" not in bob.get("/documents").data.decode()
    assert world.login("mgr").get(url).status_code == 200  # managers read every project
    assert world.app.test_client().get(url).status_code in (302, 401)  # signed out: the sign-in page


def test_search_results_show_thumbnails(world):
    doc = upload(world, "alice", USER_DOC, page_pdf(), "运维合同.pdf")
    run_jobs(world.svc)
    world.svc.index.sync()
    page = world.login("alice").get("/search?q=运维合同").data.decode()
    assert f"/documents/{doc}/versions/1/thumbnail" in page and 'class="hitthumb"' in page


def test_the_document_page_shows_a_pdf_in_the_browsers_viewer(world):
    doc = upload(world, "alice", SITE_DOC, page_pdf(), "巡检记录.pdf")
    alice = world.login("alice")
    page = alice.get(f"/documents/{doc}").data.decode()
    assert f'href="/documents/{doc}?view=1#viewer"' in page and "<iframe" not in page
    page = alice.get(f"/documents/{doc}?view=1").data.decode()
    assert re.search(rf'<iframe class="pdfview" src="/documents/{doc}/versions/1/view.pdf"', page)
    # The page's own CSP lets it frame its own origin, and nothing else is allowed in.
    csp = alice.get(f"/documents/{doc}?view=1").headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "object-src 'none'" in csp and "frame-src" not in csp
    pdf = alice.get(f"/documents/{doc}/versions/1/view.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf" and pdf.data == page_pdf()
    assert pdf.headers["Content-Disposition"].startswith("inline;")
    assert (
        pdf.headers["X-Frame-Options"] == "SAMEORIGIN"
        and "frame-ancestors 'self'" in pdf.headers["Content-Security-Policy"]
    )
    assert "sandbox" not in pdf.headers["Content-Security-Policy"]
    views = [e for e in world.svc.catalog.audit_entries() if e.action == "version.viewed" and e.actor == "alice"]
    assert views and views[-1].document_id == doc
    assert world.login("bob").get(f"/documents/{doc}/versions/1/view.pdf").status_code == 404
    # A text version has no PDF to show: no link, and ?view= shows nothing.
    text = upload(world, "alice", USER_DOC, "合同正文。".encode(), "合同.txt")
    page = alice.get(f"/documents/{text}?view=1").data.decode()
    assert "<iframe" not in page and "view-pdf" not in page
    assert alice.get(f"/documents/{text}/versions/1/view.pdf").status_code == 404


@pytest.fixture
def shipped_world(config):
    app = create_app({**config, "TEMPLATES_DIR": str(SHIPPED), "TESTING": True, "FSYNC": False})
    svc = app.extensions["docsvc"]
    for name, (role, projects) in PEOPLE.items():
        svc.users.create_user(name, role, actor="setup", password=PASSWORD, projects=projects)
    yield World(app, {})
    svc.close()


@pytest.mark.parametrize(
    "slug, header, row",
    [
        ("contract", ["期次", "付款条件", "比例"], "第一期"),
        ("sla", ["优先级", "定义"], "P1 紧急"),
    ],
)
def test_the_template_preview_shows_tables_as_tables(shipped_world, slug, header, row):
    c = shipped_world.login("drafter")
    fields = form_fields(c.get(f"/templates/{slug}/generate?example=1").data.decode())
    page = c.post(f"/templates/{slug}/generate", data=MultiDict(fields + [("action", "preview")])).data.decode()
    paper = page[page.index('<div class="paper">') :]
    tables = re.findall(r"<table>(.*?)</table>", paper, re.S)
    wanted = next(t for t in tables if header[0] in t)
    heads = re.findall(r'<th scope="col">([^<]*)</th>', wanted)
    assert heads[: len(header)] == header and len(heads) >= 4
    first = re.findall(r"<tr>(.*?)</tr>", wanted, re.S)[1]
    assert re.findall(r"<td>([^<]*)</td>", first)[0] == row
    if slug == "sla":
        assert [re.findall(r"<td>([^<]*)</td>", r)[0][:2] for r in re.findall(r"<tr>(.*?)</tr>", wanted, re.S)[1:]] == [
            "P1",
            "P2",
            "P3",
            "P4",
        ]
    # The signature block is a layout table: cells, no header.
    assert any("甲方（盖章）" in t and "<th" not in t for t in tables)
