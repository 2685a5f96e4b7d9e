"""Managed tags and counterparties (docsvc.services.terms) on SQLite and PostgreSQL: the catalog in
pinyin order with document counts, create / rename / merge / recolour / remove for managers and
administrators only, every affected document changed through the audited single edit (one
``metadata.changed`` entry each), bad input refused with nothing changed, and an autocomplete
that never names what is on another project's on-site documents."""

from __future__ import annotations

from unittest import mock

import pytest

from docsvc.core.model import AuditAction
from docsvc.errors import Conflict, DocsvcError, Forbidden, InvalidInput, NotFound, Unavailable
from docsvc.services.terms import TermKind
from tests.conftest import add


@pytest.fixture
def docs(svc):
    a = add(svc, title="运维服务合同", tags=["等保", "合同"], counterparty="大连港集团有限公司").document
    b = add(svc, title="年度服务等级协议", doc_type="sla", tags=["等保"], counterparty="大连港集团有限公司").document
    c = add(
        svc,
        title="港口现场巡检记录",
        doc_type="report",
        doc_class="site",
        project="港口运维二期",
        tags=["巡检", "等保"],
        counterparty="港口秘密客户",
    ).document
    d = add(
        svc,
        title="银行现场巡检记录",
        doc_type="report",
        doc_class="site",
        project="银行核心系统",
        tags=["机密标签"],
        counterparty="沈阳某银行",
    ).document
    return {"a": a, "b": b, "c": c, "d": d}


def _metadata_entries(svc, doc_id):
    return [e for e in svc.catalog.audit_entries(document_id=doc_id) if e.action == AuditAction.METADATA_CHANGED]


def test_the_catalog_lists_names_in_use_and_made_in_pinyin_order(svc, people, docs):
    mgr = people("mgr").terms("tag")
    mgr.create("安全", "red")
    listed = mgr.list()
    assert [t.name for t in listed] == ["安全", "等保", "合同", "机密标签", "巡检"]  # an, deng, he, ji, xun
    counts = {t.name: t.documents for t in listed}
    assert counts == {"安全": 0, "等保": 3, "合同": 1, "机密标签": 1, "巡检": 1}
    assert listed[0].colour == "red" and listed[1].colour == "grey"
    cps = people("root").terms("counterparty").list()
    assert [(t.name, t.documents) for t in cps] == [("大连港集团有限公司", 2), ("港口秘密客户", 1), ("沈阳某银行", 1)]


def test_rename_changes_every_document_through_the_audited_edit(svc, people, docs):
    mgr = people("mgr").terms(TermKind.TAG)
    before = {k: len(_metadata_entries(svc, d.id)) for k, d in docs.items()}
    change = mgr.rename("等保", "等级保护")
    assert change.previous == "等保" and change.term.name == "等级保护" and change.term.documents == 3
    assert change.report.count(change.report.items[0].status) == 3
    assert svc.archive.document(docs["a"].id).metadata.tags == ("等级保护", "合同")  # the order is kept
    assert svc.archive.document(docs["c"].id).metadata.tags == ("巡检", "等级保护")
    for key in ("a", "b", "c"):
        entries = _metadata_entries(svc, docs[key].id)
        assert len(entries) == before[key] + 1
        assert entries[-1].actor == "mgr" and entries[-1].details["reason"] == "标签改名 / tag renamed：等保 → 等级保护"
        assert entries[-1].details["changes"]["tags"]["to"].count("等级保护") == 1
    assert len(_metadata_entries(svc, docs["d"].id)) == before["d"]
    assert "等保" not in {t.name for t in mgr.list()}
    catalog = [e for e in svc.catalog.audit_entries() if e.action == AuditAction.TERMS_CHANGED]
    assert catalog[-1].details == {"kind": "tag", "op": "renamed", "name": "等保", "to": "等级保护", "documents": 3}


def test_merge_and_counterparty_rename(svc, people, docs):
    root = people("root")
    change = root.terms("tag").merge("合同", "等保")
    assert change.term.name == "等保" and change.term.documents == 3
    assert svc.archive.document(docs["a"].id).metadata.tags == ("等保",)  # had both: once
    entry = _metadata_entries(svc, docs["a"].id)[-1]
    assert entry.details["reason"] == "标签合并 / tags merged：合同 → 等保"
    with pytest.raises(NotFound):
        root.terms("tag").get("合同")
    cps = root.terms("counterparty")
    cps.rename("大连港集团有限公司", "大连港集团")
    assert svc.archive.document(docs["b"].id).metadata.counterparty == "大连港集团"
    cps.merge("沈阳某银行", "大连港集团")
    assert [(t.name, t.documents) for t in cps.list()] == [("大连港集团", 3), ("港口秘密客户", 1)]


def test_recolour_and_remove_only_when_unused(svc, people, docs):
    mgr = people("mgr").terms("tag")
    assert mgr.recolour("巡检", "teal").colour == "teal"  # a name only on documents gets its row
    assert mgr.colours()["巡检"] == "teal"
    with pytest.raises(Conflict) as caught:
        mgr.remove("巡检")
    assert "1" in caught.value.zh and caught.value.en
    mgr.create("临时")
    assert mgr.remove("临时").name == "临时"
    assert "临时" not in {t.name for t in mgr.list()}


@pytest.mark.parametrize("who", ["drafter", "alice", "audit"])
def test_other_roles_are_refused_and_logged(svc, people, docs, who):
    terms = people(who).terms("tag")
    for call in (
        terms.list,
        lambda: terms.create("新标签"),
        lambda: terms.rename("等保", "x"),
        lambda: terms.merge("合同", "等保"),
        lambda: terms.recolour("等保", "red"),
        lambda: terms.remove("等保"),
    ):
        with pytest.raises(Forbidden) as caught:
            call()
        assert caught.value.zh and caught.value.en
    denied = [e for e in svc.catalog.audit_entries() if e.action == AuditAction.ACCESS_DENIED and e.actor == who]
    assert {e.details["operation"] for e in denied} == {
        "list_tag",
        "create_tag",
        "rename_tag",
        "merge_tag",
        "recolour_tag",
        "remove_tag",
    }
    assert svc.archive.document(docs["a"].id).metadata.tags == ("等保", "合同")


def test_bad_input_is_refused_and_changes_nothing(svc, people, docs):
    mgr = people("mgr")
    tags, cps = mgr.terms("tag"), mgr.terms("counterparty")
    before = [svc.archive.document(d.id).metadata for d in docs.values()]
    cases = [
        (lambda: tags.create(""), InvalidInput, "name"),
        (lambda: tags.create("  "), InvalidInput, "name"),
        (lambda: tags.create("坏\x07标签"), InvalidInput, "name"),
        (lambda: tags.create("长" * 51), InvalidInput, "name"),
        (lambda: tags.create("甲,乙"), InvalidInput, "name"),
        (lambda: tags.create("等保"), Conflict, "name"),
        (lambda: tags.create("新", "magenta"), InvalidInput, "colour"),
        (lambda: tags.rename("等保", ""), InvalidInput, "new_name"),
        (lambda: tags.rename("等保", "合同"), Conflict, "new_name"),
        (lambda: tags.rename("等保", "等保"), InvalidInput, "new_name"),
        (lambda: tags.rename("没有", "有"), NotFound, "name"),
        (lambda: tags.merge("等保", "等保"), InvalidInput, "into"),
        (lambda: tags.merge("等保", "没有"), NotFound, "into"),
        (lambda: tags.recolour("等保", ""), InvalidInput, "colour"),
        (lambda: cps.recolour("沈阳某银行", "red"), InvalidInput, "colour"),
        (lambda: cps.create("x" * 201), InvalidInput, "name"),
        (lambda: cps.rename("沈阳某银行", "大连港集团有限公司"), Conflict, "new_name"),
    ]
    for call, error, field in cases:
        if error is None:
            call()
            continue
        with pytest.raises(error) as caught:
            call()
        assert caught.value.zh and caught.value.en and caught.value.field == field, caught.value.en
    assert [svc.archive.document(d.id).metadata for d in docs.values()] == before


def test_a_failure_part_way_says_how_to_finish(svc, people, docs):
    mgr = people("mgr").terms("tag")
    real = mgr.g.set_metadata
    calls = []

    def flaky(doc_id, changes, *, reason=""):
        calls.append(doc_id)
        if len(calls) == 2:
            raise Unavailable("数据库暂时不可用。", "The database is unavailable.")
        return real(doc_id, changes, reason=reason)

    with mock.patch.object(mgr.g, "set_metadata", flaky):
        with pytest.raises(Conflict) as caught:
            mgr.rename("等保", "等级保护")
    assert "合并" in caught.value.zh and "Merge" in caught.value.en
    assert caught.value.details["counts"]["changed"] == 1
    assert {t.name for t in mgr.list()} >= {"等保", "等级保护"}  # the catalog row is unchanged
    mgr.merge("等保", "等级保护")  # finishes the work
    assert all("等保" not in svc.archive.document(d.id).metadata.tags for d in docs.values())
    assert sum(1 for d in docs.values() if "等级保护" in svc.archive.document(d.id).metadata.tags) == 3


def test_suggestions_never_name_another_projects_on_site_documents(svc, people, docs):
    people("mgr").terms("counterparty").create("大连港务局")
    alice, bob, audit = people("alice"), people("bob"), people("audit")
    assert alice.terms("counterparty").suggest("") == ["大连港集团有限公司", "大连港务局", "港口秘密客户"]
    assert bob.terms("counterparty").suggest("大连") == ["大连港集团有限公司", "大连港务局"]
    assert "港口秘密客户" not in bob.terms("counterparty").suggest("港")
    assert "机密标签" not in alice.terms("tag").suggest("机")
    assert bob.terms("tag").suggest("机") == ["机密标签"]
    assert "港口秘密客户" in audit.terms("counterparty").suggest("港")  # reads every project
    assert alice.terms("tag").suggest("集团") == []
    assert alice.terms("counterparty").suggest("集团") == ["大连港集团有限公司"]  # containing, after starting
    with pytest.raises(InvalidInput):
        alice.terms("tag").suggest("\x00")


def test_bad_kind_is_refused():
    from docsvc.services.terms import parse_kind

    with pytest.raises(InvalidInput):
        parse_kind("colour")
    assert issubclass(InvalidInput, DocsvcError)
