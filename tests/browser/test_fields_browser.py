"""Custom fields in a real browser, at 1280 px and 390 px, in Chinese and English: an administrator's
page of field definitions fits the screen and names every kind by its label; in a document's edit
form only the chosen type's fields show (static/fields.js), switching the type switches them, and
the saved value shows on the document's page with its label, the former type's value kept."""

from __future__ import annotations

import pytest

from tests.browser.site import running_site, shot
from tests.browser.test_intake_browser import WIDER, WIDTHS, no_sideways_scroll, open_as
from tests.webutil import USER_DOC

pytestmark = pytest.mark.browser


def _seed(svc):
    root = svc.guard(svc.users.principal_for_cli("root")).fields
    root.create(
        {
            "doc_type": "contract",
            "key": "contract_value",
            "label_zh": "合同金额",
            "label_en": "Contract value",
            "kind": "money",
        }
    )
    root.create(
        {
            "doc_type": "sla",
            "key": "sla_level",
            "label_zh": "SLA 等级",
            "label_en": "SLA level",
            "kind": "choice",
            "choices": "金、银、铜",
            "required": True,
        }
    )
    g = svc.guard(svc.users.principal_for_cli("alice"))
    docs = {}
    for width, lang in WIDTHS:
        docs[(width, lang)] = g.add_document(
            f"运维服务合同 {width} {lang}".encode(),
            "合同.txt",
            {**USER_DOC, "title": f"运维合同{width}{lang}", "fields": {"contract_value": "48.6万"}},
        ).document.id
    return {"docs": docs}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    with running_site(tmp_path_factory.mktemp("fields"), {"root": "管理员", "alice": "李娜"}, _seed) as s:
        yield s


@pytest.mark.parametrize("width,lang", WIDTHS)
def test_the_administrators_page_of_fields(site, width, lang):
    page = open_as(site, "root", lang, width)
    page.goto(site["url"] + "/tags")
    page.locator(".termnav a[href='/fields']").click()
    page.wait_for_url(site["url"] + "/fields")
    body = page.locator("main").inner_text()
    if lang == "zh":
        assert "合同金额" in body and "金额" in body and "选项" in body and "金、银、铜" in body
        assert "money" not in body and "choice" not in body  # kinds by their labels, never their codes
    else:
        assert "Contract value" in body and "Money" in body and "Choice" in body
    assert page.evaluate(WIDER) == [], f"/fields wider than {width} px"
    shot(site, page, f"fields-{width}-{lang}")
    page.context.close()


@pytest.mark.parametrize("width,lang", WIDTHS)
def test_the_edit_form_shows_the_chosen_types_fields(site, width, lang):
    doc_id = site["docs"][(width, lang)]
    page = open_as(site, "alice", lang, width)
    page.goto(site["url"] + f"/documents/{doc_id}/edit")
    contract, sla = page.locator("#f-field-contract_value"), page.locator("#f-field-sla_level")
    assert contract.is_visible() and contract.input_value() == "486000.00"
    assert not sla.is_visible()
    page.select_option("#f-doc_type", "sla")
    assert sla.is_visible() and not contract.is_visible()
    page.select_option("#f-field-sla_level", "金")
    assert page.evaluate(WIDER) == [], f"the edit form is wider than {width} px"
    shot(site, page, f"fields-edit-{width}-{lang}")
    page.locator("form.card button.primary").click()
    page.wait_for_url(site["url"] + f"/documents/{doc_id}")
    level = page.locator("dd[data-field='sla_level']")
    assert level.inner_text().strip() == "金"
    kept = page.locator("dd[data-field='contract_value']").inner_text()
    assert "¥486,000.00" in kept and ("保留自其他文档类型" in kept if lang == "zh" else "kept from another" in kept)
    label = level.evaluate("el => el.previousElementSibling.textContent")
    assert label == ("SLA 等级" if lang == "zh" else "SLA level")
    assert no_sideways_scroll(page)  # (the version table scrolls in its own box on a phone)
    page.context.close()
