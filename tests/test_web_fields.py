"""Custom fields per document type through the REST API, the pages and the CLI: the same use
case behind all three, definitions for administrators only (403 / non-zero exit for the others),
values given on upload and on the metadata edit (with and without JavaScript's help), shown with
their labels on the document page, in the API and in ``docsvc doc show``, and filtering the list."""

from __future__ import annotations

import io
import json

import pytest
from click.testing import CliRunner

from docsvc.cli import cli
from docsvc.core.model import AuditAction
from tests.webutil import USER_DOC, World, app, csrf_of, err, world  # noqa: F401

CONTRACT_VALUE = {
    "doc_type": "contract",
    "key": "contract_value",
    "label_zh": "合同金额",
    "label_en": "Contract value",
    "kind": "money",
}
SIGNED_ON = {
    "doc_type": "contract",
    "key": "signed_on",
    "label_zh": "签订日期",
    "label_en": "Signed on",
    "kind": "date",
}
SLA_LEVEL = {
    "doc_type": "sla",
    "key": "sla_level",
    "label_zh": "SLA 等级",
    "label_en": "SLA level",
    "kind": "choice",
    "choices": ["金", "银", "铜"],
    "required": True,
}


@pytest.fixture
def defined(world: World):
    for d in (CONTRACT_VALUE, SIGNED_ON, SLA_LEVEL):
        world.guard("root").fields.create(d)
    return world


def _post(client, path: str, **form):
    return client.post(path, data={**form, "csrf_token": csrf_of(client.get(path))})


def test_api_definitions_for_administrators_only(world: World):
    root, alice, mgr = world.api("root"), world.api("alice"), world.api("mgr")
    created = root.post("/api/v1/fields", json=CONTRACT_VALUE)
    assert created.status_code == 201 and created.json["key"] == "contract_value" and created.json["kind"] == "money"
    err(mgr.post("/api/v1/fields", json=SIGNED_ON), 403)
    err(alice.patch("/api/v1/fields/contract_value", json={"label_zh": "x"}), 403)
    err(alice.post("/api/v1/fields/contract_value/retire"), 403)
    assert [d["key"] for d in alice.get("/api/v1/fields").json["items"]] == ["contract_value"]  # members read them
    e = err(root.post("/api/v1/fields", json={**SIGNED_ON, "kind": "colour"}), 400, field="kind")
    assert e["details"]["valid"] == ["text", "number", "money", "date", "choice"]
    err(root.post("/api/v1/fields", json=CONTRACT_VALUE), 409, field="key")
    err(root.patch("/api/v1/fields/contract_value", json={"kind": "text"}), 400, field="kind")
    err(root.get("/api/v1/fields/nope"), 404)
    for null in ("required", "position", "label_en", "label_zh", "choices"):  # null is no boolean, number or text
        err(root.patch("/api/v1/fields/contract_value", json={null: None}), 400, field=null)
        err(root.post("/api/v1/fields", json={**SIGNED_ON, null: None}), 400, field=null)
    err(root.patch("/api/v1/fields/contract_value", json={"required": 0}), 400, field="required")
    assert root.get("/api/v1/fields/contract_value").json["required"] is False  # nothing changed
    assert root.patch("/api/v1/fields/contract_value", json={"required": True}).json["required"] is True
    assert root.post("/api/v1/fields/contract_value/retire").json["retired"] is True
    assert root.get("/api/v1/fields?retired=false").json["items"] == []
    assert root.post("/api/v1/fields/contract_value/restore").json["retired"] is False
    ops = [e.details["op"] for e in world.svc.catalog.audit_entries() if e.action == AuditAction.FIELDS_CHANGED]
    assert ops == ["created", "edited", "retired", "restored"]


def test_api_upload_edit_and_filter(defined: World):
    api = defined.api("alice")
    resp = api.post(
        "/api/v1/documents",
        data={
            "file": (io.BytesIO(b"contract"), "c.txt"),
            **USER_DOC,
            "field.contract_value": "48.6万",
            "field.signed_on": "2026年3月1日",
        },
        content_type="multipart/form-data",
    )
    assert resp.status_code == 201, resp.data
    doc = resp.json["document"]
    assert doc["fields"] == {"contract_value": "486000.00", "signed_on": "2026-03-01"}
    bad = api.post(
        "/api/v1/documents",
        data={"file": (io.BytesIO(b"sla"), "s.txt"), **USER_DOC, "doc_type": "sla"},
        content_type="multipart/form-data",
    )
    e = err(bad, 400, field="field.sla_level")
    assert "SLA 等级" in e["message"] and "SLA level" in e["message_en"]
    err(
        api.post(
            "/api/v1/documents",
            data={"file": (io.BytesIO(b"x"), "x.txt"), **USER_DOC, "field.contract_value": "-5"},
            content_type="multipart/form-data",
        ),
        400,
        field="field.contract_value",
    )
    patched = api.patch(f"/api/v1/documents/{doc['id']}", json={"metadata": {"fields": {"contract_value": "¥50万"}}})
    assert patched.status_code == 200 and patched.json["fields"]["contract_value"] == "500000.00"
    cleared = api.patch(f"/api/v1/documents/{doc['id']}", json={"metadata": {"fields": {"signed_on": None}}})
    assert cleared.json["fields"] == {"contract_value": "500000.00"}
    err(api.patch(f"/api/v1/documents/{doc['id']}", json={"metadata": {"fields": {"contract_value": 5}}}), 400)
    assert api.get("/api/v1/documents?field.contract_value_min=40万").json["total"] == 1
    assert api.get("/api/v1/documents?field.contract_value_max=40万").json["total"] == 0
    e = err(api.get("/api/v1/documents?field.nope=1"), 400)
    assert "field.contract_value_min" in e["details"]["valid"]
    assert api.get(f"/api/v1/documents/{doc['id']}").json["fields"] == {"contract_value": "500000.00"}


def test_pages_admin_upload_edit_document_and_list(defined: World):
    root = defined.login("root")
    page = root.get("/fields").data.decode()
    assert "合同金额" in page and "签订日期" in page and "SLA 等级" in page and "金、银、铜" in page
    assert "/fields" in root.get("/tags").data.decode()  # linked from the tag page, not the navigation
    resp = _post(root, "/fields", action="create", doc_type="sla", key="contact", label_zh="对方联系人", kind="text")
    assert resp.status_code == 302
    bad = _post(root, "/fields", action="create", doc_type="sla", key="Bad Key", label_zh="x", kind="text")
    assert bad.status_code == 400 and "字段代码" in bad.data.decode()
    resp = _post(
        root,
        "/fields/sla_level/edit",
        label_zh="SLA 等级",
        label_en="SLA level",
        choices="金\n银\n铜\n铁",
        position="1",
        required="1",
    )
    assert resp.status_code == 302
    by_key = {d.key: d for d in defined.svc.archive.field_definitions()}
    assert by_key["sla_level"].choices == ("金", "银", "铜", "铁") and by_key["sla_level"].position == 1
    member = defined.login("alice")
    assert member.get("/fields").status_code == 200
    assert "新建字段" not in member.get("/fields").data.decode()
    refused = _post(member, "/fields", action="retire", key="contact")
    assert refused.status_code == 403
    # the upload form without JavaScript: every type's fields shown, the chosen type's saved
    form = member.get("/upload").data.decode()
    assert 'name="field.contract_value"' in form and 'name="field.sla_level"' in form and "fields.js" in form
    resp = member.post(
        "/upload",
        data={
            "file": (io.BytesIO(b"sla body"), "sla.txt"),
            **USER_DOC,
            "doc_type": "sla",
            "status": "draft",
            "field.contract_value": "",
            "field.sla_level": "银",
            "field.contact": "王经理",
            "csrf_token": csrf_of(member.get("/upload")),
        },
        content_type="multipart/form-data",
    )
    assert resp.status_code == 200, resp.data.decode()[:2000]
    doc_id = defined.svc.archive.list_documents({}).items[0].id
    assert defined.svc.archive.document(doc_id).metadata.field_values == {"sla_level": "银", "contact": "王经理"}
    # the edit form: a wrong value is marked on its input, nothing changes
    edit = member.get(f"/documents/{doc_id}/edit").data.decode()
    assert 'value="王经理"' in edit
    values = {
        **USER_DOC,
        "doc_type": "sla",
        "status": "draft",
        "doc_class": "user",
        "field.sla_level": "钻石",
        "field.contact": "王经理",
    }
    resp = _post(member, f"/documents/{doc_id}/edit", **values)
    body = resp.data.decode()
    assert resp.status_code == 400 and 'aria-invalid="true"' in body and "金、银、铜、铁" in body
    resp = _post(member, f"/documents/{doc_id}/edit", **{**values, "field.sla_level": "金", "reason": "升级"})
    assert resp.status_code == 302
    # the type changes to contract: the SLA values stay, and the page says so
    resp = _post(member, f"/documents/{doc_id}/edit", **{**values, "doc_type": "contract", "field.sla_level": "金"})
    assert resp.status_code == 302
    assert "它们的值已保留" in member.get(f"/documents/{doc_id}").data.decode()
    kept = defined.svc.archive.document(doc_id).metadata.field_values
    assert kept == {"sla_level": "金", "contact": "王经理"}
    resp = _post(member, f"/documents/{doc_id}/edit", **{**values, "field.sla_level": "金"})  # and back
    assert resp.status_code == 302
    doc_page = member.get(f"/documents/{doc_id}").data.decode()
    assert "SLA 等级" in doc_page and "金" in doc_page and "对方联系人" in doc_page
    assert "SLA 等级: <del>银</del> → <ins>金</ins>" in doc_page  # the timeline, with the label
    en = defined.login("alice", lang="en")
    assert "SLA level" in en.get(f"/documents/{doc_id}").data.decode()
    listed = member.get("/documents?field.sla_level=金").data.decode()
    assert f"/documents/{doc_id}" in listed
    assert f'/documents/{doc_id}"' not in member.get("/documents?field.sla_level=铜").data.decode()
    assert member.get("/documents?field.nope=1").status_code == 400


def test_cli_fields(defined: World, config, monkeypatch, tmp_path):
    for key, value in config.items():
        monkeypatch.setenv(f"DOCSVC_{key}", str(value))
    run = CliRunner().invoke
    listed = run(cli, ["--as", "alice", "field", "list", "--json"])
    assert listed.exit_code == 0 and [d["key"] for d in json.loads(listed.output)["items"]] == [
        "contract_value",
        "signed_on",
        "sla_level",
    ]
    refused = run(cli, ["--as", "alice", "field", "add", "sla", "contact", "--kind", "text", "--label", "对方联系人"])
    assert refused.exit_code != 0 and "无权" in refused.output
    added = run(cli, ["--as", "root", "field", "add", "sla", "desk_count", "--kind", "number", "--label", "服务台数"])
    assert added.exit_code == 0, added.output
    assert run(cli, ["--as", "root", "field", "edit", "desk_count", "--label-en", "Service desks"]).exit_code == 0
    bad = run(cli, ["--as", "root", "field", "add", "sla", "x", "--kind", "choice", "--label", "X"])
    assert bad.exit_code != 0 and "至少要有一个选项" in bad.output and "at least one choice" in bad.output
    sample = tmp_path / "合同.txt"
    sample.write_text("合同正文", encoding="utf-8")
    args = ["--type", "contract", "--category", "4.2", "--class", "user", "--title", "运维合同"]
    made = run(cli, ["doc", "add", str(sample), *args, "--field", "contract_value=48.6万", "--json"])
    assert made.exit_code == 0, made.output
    doc_id = json.loads(made.output)["document"]["id"]
    assert run(cli, ["doc", "set", str(doc_id), "--field", "signed_on=2026/3/1"]).exit_code == 0
    shown = run(cli, ["doc", "show", str(doc_id)]).output
    assert "合同金额 Contract value" in shown and "¥486,000.00" in shown and "2026年3月1日" in shown
    wrong = run(cli, ["doc", "set", str(doc_id), "field.contract_value=abc"])
    assert wrong.exit_code != 0 and "合同金额" in wrong.output
    listed = run(cli, ["doc", "list", "--field", "contract_value_min=40万", "--json"])
    assert json.loads(listed.output)["total"] == 1
    assert run(cli, ["--as", "root", "field", "retire", "contract_value"]).exit_code == 0
    assert "已停用" in run(cli, ["doc", "show", str(doc_id)]).output
