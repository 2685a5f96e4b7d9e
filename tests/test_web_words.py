"""Every word translated: every page, in Chinese and in English, carries no raw
code (a field name, an audit action, an operation, a sign-in failure reason) and no word of the
other language.

The archive is seeded in the page's language (Chinese titles for the Chinese walk, English ones
for the English walk), with an event of every kind the pages show, so that a word of the other
language on a page can only be an untranslated string or a code. Text deliberately in the other
language is marked with a ``lang`` attribute (the language switch, a template's other name) and
left out.
"""

from __future__ import annotations

import io
import re

import lxml.html
import pytest

from docsvc.web.factory import create_app
from tests.test_web_templates import SHIPPED
from tests.webutil import PASSWORD, PEOPLE, World, csrf_of

# Words that are the same in both languages: the product, formats, standards, units.
SHARED = {
    "docsvc",
    "PDF",
    "DOCX",
    "SHA",
    "SLA",
    "PDCA",
    "API",
    "OpenAPI",
    "ISO",
    "IEC",
    "DSIA",
    "UTC",
    "Word",
    "YYYY",
    "MM",
    "DD",
    "KB",
    "MB",
    "GB",
    "Asia",
    "Shanghai",
    "manifest",
    "sha256",
    "JSON",
    "CSV",
    "ZIP",
    "CSRF",
    "Whoosh",
    "PostgreSQL",
    "SQLite",
    "LibreOffice",
    "Chromium",
    "docx",
    "pdf",
    "txt",
    "md",
    "csv",
    "Bearer",
    "token",
    "URL",
    "HTTP",
    "sqlite",
    "postgresql",
    "file",
    "P1",
    "P2",
    "P3",
    "P4",
    "PNG",
    "schema",
    "json",
    "unoserver",
    "waitress",
    "serve",
    "REST",
    "Swagger",
    "UI",
    "jieba",
    "Noto",
    "CJK",
    "ID",
    "IT",
    "v1",
    "v2",
    "v3",
    "English",
    "SHA-256",
}
# Codes that must never be shown as such (the ones users met, and their kin).
CODES = re.compile(
    r"\b(doc_type|service_category|doc_class|service_scope|pdca_phase|review_due|effective_date|"
    r"wrong_password|unknown_user|read_document|set_metadata|edit_form|upload_form|list_documents|"
    r"read_audit_log|(?:document|version|metadata|labels|login|user|access|template)\.[a-z_]+)\b"
)
CJK = re.compile(r"[\u3400-\u9fff\uff01-\uff5e\u3000-\u303f]")
ROWS = re.compile(r"\b1 (?:rows|documents|results|days|versions|entries)\b")

DATA = {
    "zh": {
        "title": "大连港集团信息系统运维服务合同",
        "project": "港口运维二期",
        "counterparty": "大连港集团有限公司",
        "reason": "缩短故障响应时间",
        "display": "李娜",
        "other": "巡检记录",
        "view": "待复审的服务计划",
    },
    "en": {
        "title": "Port operations service contract",
        "project": "Port phase two",
        "counterparty": "Dalian Port Group",
        "reason": "Shorter response time",
        "display": "Alice Li",
        "other": "Inspection log",
        "view": "Plans to review",
    },
}


def _world(config, lang: str) -> World:
    app = create_app({**config, "TEMPLATES_DIR": str(SHIPPED), "TESTING": True, "FSYNC": False})
    svc = app.extensions["docsvc"]
    d = DATA[lang]
    tokens = {}
    for name, (role, _projects) in PEOPLE.items():
        projects = (d["project"],) if role in ("member", "drafter") else ()
        svc.users.create_user(
            name,
            role,
            actor="setup",
            password=PASSWORD,
            projects=projects,
            display_name=d["display"] if name == "alice" else "",
        )
        tokens[name] = svc.users.issue_token(name, actor="setup", name="test").secret
    world = World(app, tokens)
    g = world.guard("alice")
    doc = g.add_document(
        f"{d['title']}\n{d['counterparty']} 99.9%".encode(),
        "contract.txt",
        {
            "title": d["title"],
            "doc_type": "other",
            "service_category": "4.2",
            "doc_class": "user",
            "project": d["project"],
            "counterparty": d["counterparty"],
            "tags": d["project"],
            "review_due": "2026-12-31",
        },
    ).document
    g.add_version(doc.id, f"{d['title']}\n{d['counterparty']} 99.95%".encode(), "contract-v2.txt", reason=d["reason"])
    g.set_metadata(doc.id, {"doc_type": "service_plan", "status": "effective"}, reason=d["reason"])
    g.read_version(doc.id, 1)
    g.add_document(d["other"].encode(), "log.txt", {"title": d["other"], "doc_class": "site", "project": d["project"]})
    # A saved view, shared and pinned: the navigation, the views page and a dashboard widget.
    g.views.create(d["view"], "documents", "doc_type=service_plan", shared=True, pinned=True)
    # Managed tags: one made with a colour, one renamed (the catalog pages and the audit log).
    manager = world.guard("root")
    manager.terms("tag").create(d["other"], "teal")
    manager.terms("counterparty").rename(d["counterparty"], d["counterparty"] + " 2")
    client = app.test_client()  # a failed sign-in and a refused action, for the audit page
    token = csrf_of(client.get("/login"))
    client.post("/login", data={"username": "alice", "password": "wrong", "csrf_token": token})
    audit = world.login("audit", lang=lang)
    audit.get("/upload")
    world.doc_id = doc.id
    world.batch_url = _batch(world, d)
    return world


def _batch(world: World, d: dict) -> str:
    """A finished batch with a generated row and a skipped one, for its results page."""
    import csv

    api = world.api("root")
    lines = list(
        csv.reader(io.StringIO(api.get("/api/v1/templates/sla/batch/skeleton?format=csv").data.decode("utf-8-sig")))
    )
    header, example = lines[0], lines[1]
    title, number = header.index("协议名称"), header.index("协议编号")
    good = [d["title"] if i == title else v for i, v in enumerate(example)]
    bad = ["" if i == number else v for i, v in enumerate(good)]
    out = io.StringIO()
    csv.writer(out).writerows([header, good, bad])
    resp = api.post(
        "/api/v1/templates/sla/batch",
        data={"file": (io.BytesIO(out.getvalue().encode()), "batch.csv"), "skip_invalid": "true"},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 202, resp.data.decode()[:500]
    world.svc.jobs.run_next()
    return f"/templates/sla/batch/{resp.json['job_id']}"


def _text(html: str, *, form_text: bool) -> str:
    """The words a page shows; without ``form_text``, not what a template form holds or quotes
    (its fields' values, examples and help come from the template: the Chinese document's own text)."""
    tree = lxml.html.fromstring(html)
    drop = "//script|//style|//*[@lang and not(self::html)]|//*[@hidden]|//template"
    if not form_text:
        drop += "|//textarea|//*[contains(@class, 'hint')]"
    for el in tree.xpath(drop):
        el.drop_tree()
    parts = [tree.text_content()]
    # What a person also reads: placeholders, titles, image alternatives, labels for screen readers.
    for attr in (("placeholder",) if form_text else ()) + ("title", "alt", "aria-label"):
        parts += [
            el.get(attr)
            for el in tree.xpath(f"//*[@{attr}]")
            if not el.xpath("ancestor-or-self::*[@lang and not(self::html)]")
        ]
    return "\n".join(p for p in parts if p)


def _pages(world: World) -> dict[str, list[str]]:
    doc = world.doc_id
    common = [
        "/",
        "/documents",
        f"/documents/{doc}",
        f"/documents/{doc}/compare",
        "/search?q=99.9",
        "/search?q=",
        "/documents?doc_class=site",
        "/templates",
        "/account",
        "/labels/review",
        "/documents?doc_type=nonsense",
        "/documents/999999",
        "/documents?view=cards",
        "/documents?view=table&sort=-project",
        "/views",
    ]
    return {
        "alice": common
        + [
            f"/documents/{doc}/edit",
            f"/documents/{doc}/versions/new",
            "/upload",
            "/templates/sla/generate",
            "/labels/review?all=1",
        ],
        "root": [
            "/admin/users",
            "/admin/users/alice",
            "/admin/health",
            "/audit",
            "/audit?action=access.denied",
            "/reports",
            "/tags",
            "/counterparties",
            "/audit?action=terms.changed",
            "/templates/sla/versions",
            "/templates/contract/generate",
            "/templates/sla/batch",
            world.batch_url,
        ],
        "audit": common + ["/audit", "/audit?action=login.locked", "/audit?action=metadata.changed", "/upload"],
    }


def _problems(text: str, lang: str) -> list[str]:
    found = [m.group(0) for m in CODES.finditer(text)] + [m.group(0) for m in ROWS.finditer(text)]
    if lang == "en":
        found += sorted({line.strip() for line in text.splitlines() if CJK.search(line)})
    else:
        # English words in a row: a phrase nobody translated (user names and file names are one word).
        phrases = {p for p in re.findall(r"[A-Za-z]{2,}(?:[ ,][A-Za-z]{2,})+", text) if not set(p.split()) <= SHARED}
        found += sorted(phrases)
    return found


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_page_speaks_one_language(config, lang):
    world = _world(config, lang)
    try:
        problems = {}
        login = world.app.test_client()
        if lang == "en":
            login.set_cookie("docsvc_lang", "en")
        pages = {"(signed out)": ["/login", "/api/docs"], **_pages(world)}
        for who, urls in pages.items():
            client = login if who == "(signed out)" else world.login(who, lang=lang)
            for url in urls:
                resp = client.get(url)
                assert resp.status_code < 500, (who, url)
                bad = _problems(_text(resp.data.decode(), form_text="/generate" not in url), lang)
                if bad:
                    problems[f"{who} {url} ({resp.status_code})"] = bad
            if who in ("alice", "audit"):  # the bulk-action result (a POST): per document, and refused
                token = csrf_of(client.get("/documents"))
                for form in (
                    {"ids": [str(world.doc_id)], "status": "effective", "add_tags": "x", "reason": "y"},
                    {"ids": ["999999"], "status": "effective"},
                ):
                    resp = client.post("/documents/bulk", data={**form, "action": "set", "csrf_token": token})
                    bad = _problems(_text(resp.data.decode(), form_text=True), lang)
                    if bad:
                        problems[f"{who} POST /documents/bulk {form} ({resp.status_code})"] = bad
        assert problems == {}
    finally:
        world.svc.close()
