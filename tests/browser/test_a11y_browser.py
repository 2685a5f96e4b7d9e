"""An automated accessibility check. axe-core runs in Debian's Chromium on every
main page of the web UI, signed in as an administrator, in Chinese and English, at 1280 px and
390 px, in the light and the dark theme (each pair of these met in at least one run); any
violation of impact "serious" or "critical" fails.

axe-core comes from the npm registry, installed by .ci/run beside the checkout
(``npm install --prefix .cache/axe axe-core@4.14.1``; ``DOCSVC_AXE_JS`` may name another copy of
``axe.min.js``). axe is the context's init script: the browser compiles it once and runs it
in every page before the page's own scripts, under the site's own CSP (an injected script tag
would need the CSP bypassed, and sent the 550 kB again for each page).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.browser.site import docx, running_site
from tests.conftest import require
from tests.webutil import PASSWORD, SITE_DOC, USER_DOC

pytestmark = pytest.mark.browser

AXE = Path(
    os.environ.get("DOCSVC_AXE_JS")
    or Path(__file__).resolve().parents[2] / ".cache" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
)
BLOCKING = ("serious", "critical")
# The dark theme both ways the site offers it: the browser's preference (theme "auto") and the switch.
THEMES = {"light": ("light", "light"), "dark-auto": ("dark", "auto"), "dark-switch": ("light", "dark")}


def _seed(svc):
    g = svc.guard(svc.users.principal_for_cli("drafter"))
    contract = g.add_document(
        docx("信息系统运维服务合同", "甲方：大连港集团有限公司", "第一条 乙方提供 7×24 小时运维服务。"),
        "运维服务合同.docx",
        {**USER_DOC, "review_due": "2026-12-20", "tags": "运维,合同"},
    ).document
    g.add_document("巡检记录：机房温度正常。".encode(), "巡检.txt", SITE_DOC)
    # No type given: the classifier suggests one, which puts the document on the review list.
    g.add_document(
        "运维服务月报：本月故障 2 起，均在 30 分钟内响应。".encode(),
        "月报.txt",
        {k: v for k, v in SITE_DOC.items() if k != "doc_type"} | {"title": "运维服务月报"},
    )
    # A saved view the administrator pinned: the 视图 menu, the views page and a dashboard widget.
    svc.guard(svc.users.principal_for_cli("root")).views.create(
        "运维合同", "documents", "doc_type=contract", shared=True, pinned=True
    )
    svc.guard(svc.users.principal_for_cli("root")).terms("tag").recolour("运维", "teal")  # a colour chip
    fields = svc.guard(svc.users.principal_for_cli("root")).fields  # custom fields: their page, the forms' inputs
    fields.create({"doc_type": "contract", "key": "contract_value", "label_zh": "合同金额", "kind": "money"})
    fields.create(
        {"doc_type": "sla", "key": "sla_level", "label_zh": "SLA 等级", "kind": "choice", "choices": "金、银、铜"}
    )
    return {"contract": contract}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    require(AXE.is_file(), f"axe-core is not installed at {AXE}: npm install --prefix .cache/axe axe-core@4.14.1")
    assert AXE.read_text(encoding="utf-8").startswith("/*! axe v4."), f"{AXE} is not axe-core 4"
    with running_site(tmp_path_factory.mktemp("a11y"), {"root": "系统管理员"}, _seed) as s:
        yield s


def pages(site) -> dict[str, tuple[str, str]]:
    """name → (path, a selector that proves the page shows what it is for)."""
    return {
        "login": ("/login", "#username"),
        "dashboard": ("/", "main h1"),
        "documents": ("/documents", f"a[href='/documents/{site['contract'].id}']"),
        "documents-cards": ("/documents?view=cards", "li.doccard input[data-select]"),
        "document": (f"/documents/{site['contract'].id}", "main h1"),
        "upload": ("/upload", "input[type=file]"),
        "search": ("/search?q=运维", ".hit mark"),
        "templates": ("/templates", "li.tcard"),
        "drafting-form": ("/templates/sla/generate?example=1", "#f-party_a-name"),
        "drafting-form-errors": ("/templates/sla/generate?example=1", "#err-party_a-name:not(:empty)"),
        "batch": ("/templates/sla/batch", "#batch-file"),
        "review": ("/labels/review?all=1", ".review-item"),
        "audit": ("/audit", "main table"),
        "admin-users": ("/admin/users", "main table"),
        "admin-health": ("/admin/health", "main h1"),
        "account": ("/account", "main form"),
        "views": ("/views", "#views-table"),
        "tags": ("/tags", "#terms-table .tag.chip-teal"),
        "counterparties": ("/counterparties", "#terms-table"),
        "fields": ("/fields", "#field-create"),
        "edit": (f"/documents/{site['contract'].id}/edit", "[data-custom-fields] fieldset"),
    }


def axe_context(browser, **options):
    """A browser context whose every page has axe loaded, ready for ``axe_violations``."""
    context = browser.new_context(**options)
    context.add_init_script(path=str(AXE))
    return context


def axe_violations(page) -> list[dict]:
    result = page.evaluate("""async () => {
        const r = await axe.run(document, {resultTypes: ['violations']});
        return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
                                       targets: v.nodes.map(n => n.target.join(' ')),
                                       summary: v.nodes[0].failureSummary}));
    }""")
    return [v for v in result if v["impact"] in BLOCKING]


def report(where: str, violations: list[dict]) -> str:
    lines = []
    for v in violations:
        lines.append(f"{where}: [{v['impact']}] {v['id']} — {v['help']} ({v['helpUrl']})")
        lines += [f"      {t}" for t in v["targets"][:10]]
        lines.append("      ↳ " + (v["summary"] or "").replace("\n", " "))
    return "\n".join(lines)


# Every pair of a language, a width and a theme is checked together, in six runs instead of all
# twelve combinations: what axe finds follows from the colours (theme), the layout (width) or
# the text (language), and each of those meets each other one here.
COMBINATIONS = [
    ("zh", 1280, "light"),
    ("en", 390, "light"),
    ("en", 1280, "dark-auto"),
    ("zh", 390, "dark-auto"),
    ("zh", 1280, "dark-switch"),
    ("en", 390, "dark-switch"),
]


def test_the_combinations_cover_every_pair():
    pairs = {frozenset(p) for c in COMBINATIONS for p in ((c[0], c[1]), (c[0], c[2]), (c[1], c[2]))}
    wanted = {
        frozenset(p)
        for lang in ("zh", "en")
        for width in (1280, 390)
        for theme in THEMES
        for p in ((lang, width), (lang, theme), (width, theme))
    }
    assert pairs == wanted


@pytest.mark.parametrize(("lang", "width", "theme"), COMBINATIONS, ids=["-".join(map(str, c)) for c in COMBINATIONS])
def test_no_serious_or_critical_axe_violation(site, lang, width, theme):
    scheme, cookie = THEMES[theme]
    context = axe_context(
        site["browser"], locale="zh-CN", viewport={"width": width, "height": 860}, color_scheme=scheme
    )
    context.add_cookies(
        [
            {"name": "docsvc_theme", "value": cookie, "url": site["url"]},
            {"name": "docsvc_lang", "value": lang, "url": site["url"]},
        ]
    )
    page = context.new_page()
    page.set_default_timeout(15000)
    failures = []
    try:
        for name, (path, shows) in pages(site).items():
            if name == "dashboard":  # sign in between the login page and the rest
                page.fill("#username", "root")
                page.fill("#password", PASSWORD)
                page.locator("form.stack button.primary").click()
                page.wait_for_url(site["url"] + "/")
            else:
                page.goto(site["url"] + path)
            if name == "drafting-form-errors":  # the error summary and an inline error, as a user meets them
                page.fill("#f-party_a-name", "")
                page.locator("#generate-button").click()
                page.locator("#form-errors").wait_for()
            assert page.url.split("?")[0].endswith(path.split("?")[0]), f"{name}: landed on {page.url}"
            assert page.locator("html").get_attribute("lang") == ("en" if lang == "en" else "zh-CN")
            assert page.locator(shows).count(), f"{name}: nothing matches {shows}"
            menu = page.locator("button.menu-toggle")
            if menu.is_visible():  # the phone layout: check the opened menu too
                menu.click()
                assert menu.get_attribute("aria-expanded") == "true"
            found = axe_violations(page)
            if found:
                failures.append(report(f"{name} ({lang}, {width}px, {theme})", found))
    finally:
        context.close()
    assert not failures, "axe-core found serious or critical violations:\n" + "\n".join(failures)
