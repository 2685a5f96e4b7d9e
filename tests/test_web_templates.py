"""Drafting over the web: /api/v1/templates… and the gallery / generate form / revise / template
versions pages, on SQLite and PostgreSQL.

The forms are posted the way a browser posts them: every input of the rendered page (see
``form_fields``), so the tests cover the field names the page really has.
"""

from __future__ import annotations

import io
import json
import re
import sys
import zipfile
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import docx as python_docx
import pytest
from werkzeug.datastructures import MultiDict

from docsvc.core.content import PDF
from docsvc.web.factory import create_app
from tests.docxutil import docx_text
from tests.webutil import PASSWORD, PEOPLE, World, csrf_of, err, world  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "templates"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


@pytest.fixture
def app(config):
    app = create_app({**config, "TEMPLATES_DIR": str(SHIPPED), "TESTING": True, "FSYNC": False})
    yield app
    app.extensions["docsvc"].close()


def sample(world: World, slug: str = "sla") -> dict:
    return world.svc.templates.get(slug).schema.sample()


def error_paths(resp) -> set[str]:
    return {e["field"] for e in resp.json["error"]["details"]["errors"]}


class _FormFields(HTMLParser):
    """What a browser posts for one form: inputs, selects and textareas outside <template>,
    checkboxes only when checked, no buttons and no files."""

    def __init__(self, form_id: str) -> None:
        super().__init__()
        self.form_id, self.inside, self.in_template = form_id, False, 0
        self.fields: list[tuple[str, str]] = []
        self.select: list | None = None
        self.textarea: list | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and a.get("id") == self.form_id:
            self.inside = True
        if not self.inside:
            return
        if tag == "template":
            self.in_template += 1
        if self.in_template:
            return
        if tag == "input" and a.get("name") and a.get("type") != "file":
            if a.get("type") in ("checkbox", "radio") and "checked" not in a:
                return
            self.fields.append((a["name"], a.get("value") or ""))
        elif tag == "select":
            self.select = [a.get("name"), None, None]
        elif tag == "option" and self.select is not None:
            if self.select[2] is None:
                self.select[2] = a.get("value", "")
            if "selected" in a:
                self.select[1] = a.get("value", "")
        elif tag == "textarea":
            self.textarea = [a.get("name"), ""]

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False
        elif tag == "template":
            self.in_template -= 1
        elif tag == "select" and self.select is not None:
            name, chosen, first = self.select
            self.fields.append((name, chosen if chosen is not None else first or ""))
            self.select = None
        elif tag == "textarea" and self.textarea is not None:
            self.fields.append((self.textarea[0], self.textarea[1]))
            self.textarea = None

    def handle_data(self, data):
        if self.textarea is not None:
            self.textarea[1] += data


def form_fields(html: str, form_id: str = "drafting-form") -> list[tuple[str, str]]:
    import html as htmllib

    parser = _FormFields(form_id)
    parser.feed(html)
    return [(k, htmllib.unescape(v) if "&" in v else v) for k, v in parser.fields]


def changed(fields, **values) -> MultiDict:
    return MultiDict([(k, values.get(k.replace(".", "__").replace("[", "_").replace("]", ""), v)) for k, v in fields])


def field_errors(html: str) -> dict[str, str]:
    return dict(re.findall(r'<p class="field-error" id="err-([^"]+)">([^<]*)</p>', html))


# -- API: reading ---------------------------------------------------------------------------
def test_list_show_and_sample(world):
    c = world.api("alice")  # a member may read templates, not fill them
    items = c.get("/api/v1/templates").json["items"]
    assert {t["slug"] for t in items} == {"contract", "service_plan", "sla", "change_request", "acceptance_report"}
    sla = next(t for t in items if t["slug"] == "sla")
    assert sla["name_zh"] == "服务等级协议" and sla["spec_ref"] == "8.1.2" and sla["version"] == 1
    shown = c.get("/api/v1/templates/sla").json
    fields = {f["name"]: f for f in shown["fields"]}
    assert fields["effective_date"]["type"] == "date" and fields["party_a"]["type"] == "group"
    assert [f["name"] for f in fields["party_a"]["fields"]] == ["name", "contact", "phone"]
    assert fields["services"]["type"] == "list" and fields["services"]["min_items"] == 1
    assert {
        "value": "4.2",
        "zh": "计算机信息系统运营和维护服务",
        "en": "Information system operation and maintenance",
    } in fields["service_category"]["choices"]
    assert fields["service_fee"]["currencies"] == ["CNY"]
    body = c.get("/api/v1/templates/sla/sample").json
    assert body["template"] == "sla" and body["data"] == sample(world)
    err(c.get("/api/v1/templates/poem"), 404, "not_found", "template")
    err(c.get("/api/v1/templates/poem/sample"), 404)


# -- API: preview and generate --------------------------------------------------------------
def test_preview_returns_docx_and_archives_nothing(world):
    before = world.svc.catalog.counts()["documents"], len(list(world.svc.catalog.audit_entries()))
    resp = world.api("drafter").post("/api/v1/templates/sla/preview", json={"data": sample(world)})
    assert resp.status_code == 200 and resp.mimetype == DOCX
    assert resp.headers["Content-Disposition"].startswith('attachment; filename="preview.docx"')
    assert resp.headers["X-Content-Type-Options"] == "nosniff" and "sandbox" in resp.headers["Content-Security-Policy"]
    assert sample(world)["party_a"]["name"] in docx_text(resp.data)
    assert (world.svc.catalog.counts()["documents"], len(list(world.svc.catalog.audit_entries()))) == before


def test_generate_then_revise(world):
    c = world.api("drafter")
    data = sample(world)
    resp = c.post("/api/v1/templates/sla/generate", json={"data": data})
    assert resp.status_code == 201, resp.json
    body = resp.json
    doc_id = body["document"]["id"]
    assert resp.headers["Location"].endswith(f"/api/v1/documents/{doc_id}")
    assert body["document"]["doc_type"] == "sla" and body["document"]["title"] == data["title"]
    assert body["document"]["owner"] == "drafter" and body["renditions"] == []
    prov = body["version"]["provenance"]
    assert prov["template"] == "sla" and prov["template_version"] == 1 and prov["data"]["sla_no"] == data["sla_no"]
    assert body["version"]["source"] == "generated"
    data["availability"] = "99.95"
    err(c.post("/api/v1/templates/sla/generate", json={"data": data, "document_id": doc_id}), 400, field="reason")
    resp = c.post("/api/v1/templates/sla/generate", json={"data": data, "document_id": doc_id, "reason": "提高可用性"})
    assert resp.status_code == 201 and resp.json["version"]["number"] == 2
    assert resp.json["version"]["reason"] == "提高可用性"
    # A document made from another template cannot be revised with this one.
    contract = c.post("/api/v1/templates/contract/generate", json={"data": sample(world, "contract")}).json
    err(
        c.post(
            "/api/v1/templates/sla/generate",
            json={"data": data, "document_id": contract["document"]["id"], "reason": "x"},
        ),
        400,
        field="template",
    )
    # A document this drafter may not read answers like a missing one.
    site = (
        world.guard("mgr")
        .add_document(
            b"x",
            "x.txt",
            {
                "title": "t",
                "doc_type": "report",
                "service_category": "4.2",
                "doc_class": "site",
                "project": "银行核心系统",
            },
        )
        .document
    )
    err(c.post("/api/v1/templates/sla/generate", json={"data": data, "document_id": site.id, "reason": "x"}), 404)
    err(c.post("/api/v1/templates/sla/generate", json={"data": data, "document_id": 99999, "reason": "x"}), 404)


@pytest.mark.parametrize(
    "change,paths",
    [
        ({"party_a": {"name": "", "contact": "王", "phone": "0411-1234567"}}, {"party_a.name"}),
        ({"service_fee": "一百万"}, {"service_fee.amount"}),
        ({"service_fee": {"amount": "10", "currency": "XYZ"}}, {"service_fee.currency"}),
        ({"availability": "150"}, {"availability"}),
        ({"effective_date": "2026-02-30", "end_date": "someday"}, {"effective_date", "end_date"}),
        ({"services": []}, {"services"}),
        ({"services": [{"name": "服务台", "content": "", "hours": "7×24"}]}, {"services[0].content"}),
        ({"service_category": "9.9"}, {"service_category"}),
        ({"sla_no": "x" * 30_000}, {"sla_no"}),
        ({"user_requirements": "需求" * 20_000}, {"user_requirements"}),
        ({"colour": "red"}, {"colour"}),
    ],
)
def test_generate_names_every_bad_field(world, change, paths):
    data = {**sample(world), **json.loads(json.dumps(change))}  # the parameter dicts are shared across runs
    for url in ("/api/v1/templates/sla/generate", "/api/v1/templates/sla/preview"):
        resp = world.api("drafter").post(url, json={"data": data})
        e = err(resp, 400, "invalid_input")
        assert error_paths(resp) == paths, e
        assert all(x["zh"] and x["en"] for x in e["details"]["errors"])
    assert world.svc.catalog.counts()["documents"] == 0


@pytest.mark.parametrize(
    "body,field",
    [
        (None, None),
        ([], None),
        ({"data": "x"}, "data"),
        ({"data": {}, "pdf": "yes"}, "pdf"),
        ({"data": {}, "document_id": "abc"}, "document_id"),
        ({"data": {}, "reason": 5}, "reason"),
        ({"data": {}, "extra": 1}, "extra"),
    ],
)
def test_generate_rejects_malformed_bodies(world, body, field):
    c = world.api("drafter")
    resp = c.post(
        "/api/v1/templates/sla/generate",
        data="not json" if body is None else json.dumps(body),
        content_type="application/json",
    )
    err(resp, 400, "invalid_input", field)


def test_oversized_body_and_unknown_template(world):
    c = world.api("drafter")
    limit = world.app.config["MAX_CONTENT_LENGTH"]
    resp = c.post(
        "/api/v1/templates/sla/generate",
        data=b'{"data": "' + b"x" * (limit + 10) + b'"}',
        content_type="application/json",
    )
    err(resp, 413, "too_large")
    err(c.post("/api/v1/templates/poem/generate", json={"data": {}}), 404, field="template")
    err(c.post("/api/v1/templates/poem/preview", json={"data": {}}), 404, field="template")


def test_script_tags_in_values_stay_text(world):
    data = sample(world)
    data["title"] = "<script>alert('x')</script>服务等级协议"
    data["party_a"]["name"] = "甲方 & <b>公司</b>"
    resp = world.api("drafter").post("/api/v1/templates/sla/generate", json={"data": data})
    assert resp.status_code == 201, resp.json
    doc_id = resp.json["document"]["id"]
    stored = world.svc.archive.read_version(doc_id, 1, actor="t")[1]
    with zipfile.ZipFile(io.BytesIO(stored)) as zf:
        xml = zf.read("word/document.xml").decode()
    assert "&lt;script&gt;" in xml and "<script>" not in xml and "甲方 &amp; &lt;b&gt;" in xml
    assert "<script>alert('x')</script>服务等级协议" in docx_text(stored)
    page = world.login("drafter").get(f"/documents/{doc_id}").data.decode()
    assert "<script>alert" not in page and "&lt;script&gt;alert(" in page


def test_members_and_auditors_may_not_preview_or_generate(world):
    data = sample(world)
    for who in ("alice", "audit"):
        c = world.api(who)
        err(c.post("/api/v1/templates/sla/generate", json={"data": data}), 403, "forbidden")
        err(c.post("/api/v1/templates/sla/preview", json={"data": data}), 403, "forbidden")
        denied = [e for e in world.svc.catalog.audit_entries() if e.actor == who and e.action == "access.denied"]
        assert {e.details["operation"] for e in denied} == {"generate", "preview_template"}
        assert all(e.details["via"] == "api:api-token:test" for e in denied)
    assert world.svc.catalog.counts()["documents"] == 0
    for who in ("drafter", "mgr", "root"):
        assert world.api(who).post("/api/v1/templates/sla/preview", json={"data": data}).status_code == 200, who


def test_drafter_cannot_file_a_site_document_outside_their_projects(world):
    data = sample(world, "service_plan")  # on-site (9.2) documents
    schema = world.svc.templates.get("service_plan").schema
    project_field = schema.metadata.get("project")
    assert project_field, "the service plan names its project"
    data[project_field] = "银行核心系统"  # drafter is a member of 港口运维二期 only
    e = err(world.api("drafter").post("/api/v1/templates/service_plan/generate", json={"data": data}), 403)
    assert e["field"] == "project"
    assert world.svc.catalog.counts()["documents"] == 0
    data[project_field] = "港口运维二期"
    assert world.api("drafter").post("/api/v1/templates/service_plan/generate", json={"data": data}).status_code == 201


def test_session_needs_csrf_header_on_template_api(world):
    client = world.login("drafter")
    err(client.post("/api/v1/templates/sla/generate", json={"data": sample(world)}), 400, "csrf_failed")
    token = csrf_of(client.get("/"))
    err(
        client.post("/api/v1/templates/sla/generate", json={"data": sample(world)}, headers={"X-CSRFToken": "forged"}),
        400,
        "csrf_failed",
    )
    assert world.svc.catalog.counts()["documents"] == 0
    resp = client.post("/api/v1/templates/sla/generate", json={"data": sample(world)}, headers={"X-CSRFToken": token})
    assert resp.status_code == 201


def test_pdf_rendition_download(world, monkeypatch):
    """The rendition routes (the real conversion is tested with LibreOffice in test_generate and
    the browser journey)."""
    fake_pdf = b"%PDF-1.4\n% docsvc test\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"
    monkeypatch.setattr(world.svc.templates, "to_pdf", lambda docx, **options: fake_pdf)
    resp = world.api("drafter").post("/api/v1/templates/sla/generate", json={"data": sample(world), "pdf": True})
    assert resp.status_code == 201
    rendition = resp.json["renditions"][0]
    assert rendition["kind"] == "pdf" and rendition["media_type"] == PDF and rendition["size"] == len(fake_pdf)
    doc_id = resp.json["document"]["id"]
    for client, url in (
        (world.api("alice"), rendition["content_url"]),
        (world.login("alice"), f"/documents/{doc_id}/versions/1/renditions/pdf"),
    ):
        dl = client.get(url)
        assert dl.status_code == 200 and dl.data == fake_pdf and dl.mimetype == PDF
        assert dl.headers["ETag"] == f'"{rendition["sha256"]}"'
        assert dl.headers["Content-Disposition"].startswith(f'attachment; filename="document-{doc_id}-v1.pdf"')
        assert "filename*=UTF-8''" in dl.headers["Content-Disposition"]
        assert "sandbox" in dl.headers["Content-Security-Policy"]
    downloads = [e for e in world.svc.catalog.audit_entries(document_id=doc_id) if e.action == "version.downloaded"]
    assert len(downloads) == 2 and downloads[0].details["rendition"] == PDF
    page = world.login("alice").get(f"/documents/{doc_id}").data.decode()
    assert f'href="/documents/{doc_id}/versions/1/renditions/pdf"' in page
    err(world.api("alice").get(f"/api/v1/documents/{doc_id}/versions/1/renditions/png"), 404)
    err(world.api("alice").get(f"/api/v1/documents/{doc_id}/versions/9/renditions/pdf"), 404)
    # bob may not read documents of 港口运维二期's site … but this SLA is a user document: he may.
    assert world.api("bob").get(rendition["content_url"]).status_code == 200


# -- API: template versions -----------------------------------------------------------------
def _with_paragraph(docx_bytes: bytes, text: str) -> bytes:
    d = python_docx.Document(io.BytesIO(docx_bytes))
    d.add_paragraph(text)
    out = io.BytesIO()
    d.save(out)
    return out.getvalue()


def test_add_template_version_lint_and_roles(world):
    shipped = (SHIPPED / "sla" / "template.docx").read_bytes()
    changed_docx = _with_paragraph(shipped, "修订记录：协议 {{ sla_no }} 按年复审。")
    broken = _with_paragraph(shipped, "坏标签：{{ sla_no ")

    def post(who, data, slug="sla", schema=None):
        form = {"file": (io.BytesIO(data), "template.docx"), "slug": slug}
        if schema is not None:
            form["schema"] = (io.BytesIO(schema), "schema.json")
        return world.api(who).post("/api/v1/templates", data=form, content_type="multipart/form-data")

    for who in ("drafter", "alice", "audit"):
        err(post(who, changed_docx), 403, "forbidden")
    e = err(post("mgr", broken), 422, "template_error", "template")
    assert not e["details"]["lint"]["ok"] and any(i["severity"] == "error" for i in e["details"]["lint"]["issues"])
    resp = post("mgr", changed_docx)
    assert resp.status_code == 201 and resp.json["created"] and resp.json["template"]["version"] == 2
    assert resp.json["template"]["lint"]["ok"]
    again = post("root", changed_docx)
    assert again.status_code == 200 and not again.json["created"] and again.json["template"]["version"] == 2
    err(post("mgr", changed_docx, schema=b"{not json"), 400, field="schema")
    err(post("mgr", changed_docx, schema=b"[]"), 400, field="schema")
    versions = world.api("mgr").get("/api/v1/templates/sla/versions").json["items"]
    assert [v["version"] for v in versions] == [1, 2] and all("lint" in v for v in versions)
    err(world.api("drafter").get("/api/v1/templates/sla/versions"), 403)
    # Documents are made from the latest version now; an older document keeps its provenance.
    made = world.api("drafter").post("/api/v1/templates/sla/generate", json={"data": sample(world)}).json
    assert made["version"]["provenance"]["template_version"] == 2
    assert "修订记录：协议 ZHYF-SLA-2026-0315" in docx_text(
        world.svc.archive.read_version(made["document"]["id"], 1, actor="t")[1]
    )


# -- pages ----------------------------------------------------------------------------------
def test_gallery_cards_and_buttons_by_role(world):
    html = world.login("drafter").get("/templates").data.decode()
    assert html.count('class="card tcard"') == 5
    assert "服务等级协议" in html and "Service level agreement" in html and "§8.1.2" in html
    assert 'href="/templates/sla/generate"' in html and 'href="/templates/sla/versions"' not in html
    assert 'aria-current="page">模板</a>' in html
    for who in ("alice", "audit"):
        page = world.login(who).get("/templates").data.decode()
        assert page.count('class="card tcard"') == 5 and "/generate" not in page, who
    assert 'href="/templates/sla/versions"' in world.login("mgr").get("/templates").data.decode()
    en = world.login("drafter", lang="en").get("/templates").data.decode()
    assert "Fill in and generate" in en and '<h2 id="t-sla">Service level agreement</h2>' in en


def test_generate_form_widgets_from_the_schema(world):
    c = world.login("drafter")
    html = c.get("/templates/sla/generate").data.decode()
    assert '<input type="date" id="f-effective_date" name="effective_date" required' in html
    assert re.search(r'<select id="f-service_category" name="service_category" required', html)
    assert '<option value="4.2" >4.2 · 计算机信息系统运营和维护服务</option>' in html
    assert re.search(r'<textarea id="f-user_requirements" name="user_requirements" required[^>]*rows="4"', html)
    assert re.search(r'<fieldset class="group" id="f-party_a"[^>]*>\s*<legend>甲方（用户方） <span class="req"', html)
    assert re.search(
        r'<input type="number" inputmode="decimal" id="f-service_fee-amount" name="service_fee.amount"', html
    )
    assert 'name="service_fee.currency" aria-label="币种"' in html
    assert re.search(r'id="f-availability" name="availability" required[^>]*step="0.001"', html)
    # Lists: a table with empty rows (no JavaScript needed) and a row template for "add row".
    assert 'name="services[0].name"' in html and 'name="services[2].name"' in html
    assert 'name="services[__i__].name"' in html and "<template>" in html
    assert 'aria-labelledby="f-services-name-h f-services-0-row"' in html
    assert "data-add-row hidden" in html and 'src="/static/drafting.js"' in html
    assert 'value="服务等级协议"' in html  # the title's default
    assert 'placeholder="例如：ZHYF-SLA-2026-0315"' in html
    assert "填入示例" in html and "带 * 的为必填项" in html
    assert not re.search(r"<script(?![^>]*\bsrc=)", html) and " style=" not in html
    en = world.login("drafter", lang="en").get("/templates/sla/generate").data.decode()
    assert "<legend>Party A (client) <span" in en and "4.2 · Information system operation and maintenance" in en
    assert "Fill with example" in en


def test_form_round_trip_preview_errors_and_generate(world):
    c = world.login("drafter")
    html = c.get("/templates/sla/generate?example=1").data.decode()
    assert "已填入示例数据" in html
    fields = form_fields(html)
    assert ("party_a.name", sample(world)["party_a"]["name"]) in fields
    # Preview: the document's text, nothing archived.
    resp = c.post("/templates/sla/generate", data=MultiDict(fields + [("action", "preview")]))
    assert resp.status_code == 200, field_errors(resp.data.decode())
    page = resp.data.decode()
    assert "预览（未归档）" in page and "大连长兴湾物流集团有限公司" in page and "data-autofocus" in page
    docx_resp = c.post("/templates/sla/generate", data=MultiDict(fields + [("action", "preview_docx")]))
    assert docx_resp.mimetype == DOCX and "大连长兴湾物流集团有限公司" in docx_text(docx_resp.data)
    assert world.svc.catalog.counts()["documents"] == 0
    # Errors: each beside its own input, the typed values kept.
    bad = changed(fields, party_a__name="", availability="150", services_1__content="", service_fee__amount="12.345")
    resp = c.post("/templates/sla/generate", data=MultiDict(list(bad.items(multi=True)) + [("action", "generate")]))
    assert resp.status_code == 400
    page = resp.data.decode()
    errors = field_errors(page)
    assert set(errors) == {"party_a-name", "availability", "services-1-content", "service_fee-amount"}, errors
    assert "必填" in errors["party_a-name"] and "150" in errors["availability"]
    assert re.search(
        r'id="f-services-1-content"[^>]*aria-describedby="err-services-1-content" aria-invalid="true"', page
    )
    assert re.search(
        r'id="f-party_a-name"[^>]*aria-describedby="hint-party_a-name err-party_a-name" aria-invalid="true"', page
    )
    assert 'href="#f-availability"' in page and "有 4 处需要修改" in page  # the summary links to each input
    assert 'value="12.345"' in page
    assert world.svc.catalog.counts()["documents"] == 0
    # Blank rows are dropped and rows renumbered: an error path still points at its input.
    rows = [(k, v) for k, v in fields if not k.startswith("services[")]
    rows += [
        ("services[0].name", "服务台"),
        ("services[0].content", "受理请求"),
        ("services[0].hours", "7×24"),
        ("services[7].name", "巡检"),
        ("services[7].content", ""),
        ("services[7].hours", "每月"),
    ]
    page = c.post("/templates/sla/generate", data=MultiDict(rows + [("action", "preview")])).data.decode()
    assert set(field_errors(page)) == {"services-1-content"}
    assert re.search(r'name="services\[1\]\.name"[^>]*value="巡检"', page)
    # Generate with a new row, then the document page offers the revision.
    rows[-2] = ("services[7].content", "机房巡检")
    resp = c.post("/templates/sla/generate", data=MultiDict(rows + [("action", "generate")]))
    assert resp.status_code == 302, field_errors(resp.data.decode())
    doc_id = int(resp.headers["Location"].rsplit("/", 1)[1])
    version = world.svc.archive.version(doc_id)
    assert [s["name"] for s in version.provenance["data"]["services"]] == ["服务台", "巡检"]
    page = c.get(resp.headers["Location"]).data.decode()
    assert "已生成并归档第 1 版" in page and f'href="/documents/{doc_id}/revise"' in page
    # the business checks' warning: the SLA's contract is not in the archive
    assert "提示：档案中没有编号为“ZHYF-HT-2026-0315”的文档" in page
    assert '<a href="/templates/contract/generate">（打开）</a>' in page  # a link to the form that makes it


def test_the_documented_drafting_walk_is_the_code_s(world):
    """docs/architecture.md walks a form field from the drafting page to the archive and the
    index: each step it names is taken, in its order, and each thing is done once, when a
    drafter generates through the page."""
    walk = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    walk = walk.split("<!-- walk:start -->")[1].split("<!-- walk:end -->")[0]
    steps = [(f"docsvc.{m}", q) for m, q in re.findall(r"`([a-z_.]+):([A-Za-z_.]+)`", walk)]
    assert len(steps) >= 15
    c = world.login("drafter")
    fields = form_fields(c.get("/templates/sla/generate?example=1").data.decode())
    world.svc.index.sync()  # the index made, as a running server's is: what follows is one upload's path
    called: dict[tuple[str, str], int] = {}  # → the order of its first call
    times: Counter[tuple[str, str]] = Counter()

    def trace(frame, event, arg):
        if event == "call":
            key = (frame.f_globals.get("__name__", ""), frame.f_code.co_qualname)
            if key[0].startswith("docsvc"):
                called.setdefault(key, len(called))
                times[key] += 1

    sys.setprofile(trace)
    try:
        resp = c.post("/templates/sla/generate", data=MultiDict(fields + [("action", "generate")]))
        world.svc.index.sync()
    finally:
        sys.setprofile(None)
    assert resp.status_code == 302, field_errors(resp.data.decode())
    assert [s for s in steps if s not in called] == [], "a step of the documented walk is not taken"
    order = [called[s] for s in steps]
    assert order == sorted(order), [f"{m}:{q}" for (m, q), _ in sorted(zip(steps, order), key=lambda p: p[1])]
    # Each thing once: the form checked, its metadata parsed, the DOCX rendered, the text read.
    for once in (
        ("docsvc.core.schema.model", "TemplateSchema.check"),
        ("docsvc.core.model", "Metadata.parse"),
        ("docsvc.core.templating", "render_docx"),
        ("docsvc.core.extract", "extract_text"),
    ):
        assert times[once] == 1, (once, times[once])


def test_revise_prefills_asks_for_a_reason_and_adds_a_version(world):
    made = world.api("drafter").post("/api/v1/templates/sla/generate", json={"data": sample(world)}).json
    doc_id = made["document"]["id"]
    c = world.login("drafter")
    html = c.get(f"/documents/{doc_id}/revise").data.decode()
    assert "修订：服务等级协议" in html and 'id="f-reason"' in html
    fields = form_fields(html)
    assert ("sla_no", sample(world)["sla_no"]) in fields and ("reason", "") in fields
    resp = c.post(f"/documents/{doc_id}/revise", data=changed(fields, availability="99.95") | {"action": "generate"})
    assert resp.status_code == 400 and "err-reason" in resp.data.decode()
    assert world.svc.archive.document(doc_id).latest_version == 1
    resp = c.post(
        f"/documents/{doc_id}/revise",
        data=changed(fields, availability="99.95", reason="提高可用性目标") | {"action": "generate"},
    )
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/documents/{doc_id}")
    v2 = world.svc.archive.version(doc_id)
    assert v2.number == 2 and v2.reason == "提高可用性目标" and v2.provenance["data"]["availability"] == "99.95"
    page = c.get(f"/documents/{doc_id}").data.decode()
    assert "提高可用性目标" in page and "v2" in page
    # Members see no revision action and cannot force one; an uploaded document has none.
    assert "/revise" not in world.login("alice").get(f"/documents/{doc_id}").data.decode()
    uploaded = world.guard("drafter").add_document(
        b"x", "x.txt", {"title": "t", "doc_type": "report", "service_category": "4.2", "doc_class": "user"}
    )
    assert "/revise" not in c.get(f"/documents/{uploaded.document.id}").data.decode()
    assert c.get(f"/documents/{uploaded.document.id}/revise").status_code == 400


def test_members_and_auditors_get_403_on_forms_and_forced_posts(world):
    fields = form_fields(world.login("drafter").get("/templates/sla/generate?example=1").data.decode())
    for who in ("alice", "audit"):
        c = world.login(who)
        assert c.get("/templates/sla/generate").status_code == 403
        token = csrf_of(c.get("/"))
        data = MultiDict([(k, token if k == "csrf_token" else v) for k, v in fields] + [("action", "generate")])
        resp = c.post("/templates/sla/generate", data=data)
        assert resp.status_code == 403 and "此次尝试已记入审计日志" in resp.data.decode()
        assert c.get("/templates/sla/versions").status_code == 403
        assert "access.denied" in world.audit_actions(who)
    assert world.svc.catalog.counts()["documents"] == 0


def test_form_post_without_csrf_changes_nothing(world):
    c = world.login("drafter")
    fields = [
        (k, v) for k, v in form_fields(c.get("/templates/sla/generate?example=1").data.decode()) if k != "csrf_token"
    ]
    resp = c.post("/templates/sla/generate", data=MultiDict(fields + [("action", "generate"), ("csrf_token", "x")]))
    assert resp.status_code == 400 and "CSRF" in resp.data.decode()
    assert world.svc.catalog.counts()["documents"] == 0


def test_template_versions_page_and_upload(world):
    c = world.login("mgr")
    html = c.get("/templates/sla/versions").data.decode()
    assert "模板版本：服务等级协议" in html and "第 1 版" in html and "检查：0 个错误" in html
    token = csrf_of(c.get("/templates/sla/versions"))
    shipped = (SHIPPED / "sla" / "template.docx").read_bytes()
    resp = c.post(
        "/templates/sla/versions",
        data={"csrf_token": token, "file": (io.BytesIO(_with_paragraph(shipped, "坏标签：{{ sla_no ")), "bad.docx")},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 422
    page = resp.data.decode()
    assert "上传的模板未被接受" in page and 'class="lint-error"' in page and 'id="upload-error"' in page
    resp = c.post(
        "/templates/sla/versions",
        data={"csrf_token": token, "file": (io.BytesIO(_with_paragraph(shipped, "附注：{{ sla_no }}")), "good.docx")},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert resp.status_code == 200 and "已登记第 2 版" in resp.data.decode()
    resp = c.post("/templates/sla/versions", data={"csrf_token": token}, content_type="multipart/form-data")
    assert resp.status_code == 400 and "请选择模板文件" in resp.data.decode()
