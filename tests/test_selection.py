"""A selection of documents: pinyin sorting of the list, bulk label changes per document (with the
single edit's authorisation and audit), and the selection as a ZIP — on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import zipfile

import pytest

from docsvc.core.collation import sort_key
from docsvc.core.model import AuditAction, DocStatus
from docsvc.errors import InvalidInput, TooLarge
from docsvc.services.selection import BulkChange, BulkStatus, parse_ids
from docsvc.services.users import Principal, Role
from tests.conftest import add

MANAGER = Principal("经理王芳", Role.MANAGER)
MEMBER = Principal("成员李雷", Role.MEMBER, frozenset({"港口运维二期"}))
AUDITOR = Principal("审计员赵敏", Role.AUDITOR)


def _audit(svc, doc_id, action):
    return [e for e in svc.catalog.audit_entries(document_id=doc_id) if e.action == action]


def test_sort_keys_follow_pinyin():
    assert sorted(["招商", "长沙", "北京", "阿里"], key=sort_key) == ["阿里", "北京", "长沙", "招商"]
    assert sort_key("西安") < sort_key("先进")  # xi1an1 < xian1: the tone digit ends the syllable
    assert sort_key("银行") == "yin2hang2" and sort_key("") == ""


def test_list_sorts_titles_projects_counterparties_in_pinyin_order_page_by_page(svc):
    names = ["招商银行服务合同", "长沙运维方案", "阿里云采购合同", "北京驻场记录"]
    for i, title in enumerate(names):
        add(
            svc,
            f"正文{i}".encode(),
            title=title,
            project=names[-1 - i][:2] + "项目",
            counterparty=names[i][:2] + "公司",
        )
    pages = [svc.archive.list_documents({"sort": "title", "limit": 2, "offset": o}).items for o in (0, 2)]
    assert [d.metadata.title for page in pages for d in page] == [
        "阿里云采购合同",
        "北京驻场记录",
        "长沙运维方案",
        "招商银行服务合同",
    ]
    desc = svc.archive.list_documents({"sort": "-title"}).items
    assert [d.metadata.title for d in desc] == ["招商银行服务合同", "长沙运维方案", "北京驻场记录", "阿里云采购合同"]
    projects = [d.metadata.project for d in svc.archive.list_documents({"sort": "project"}).items]
    assert projects == ["阿里项目", "北京项目", "长沙项目", "招商项目"]
    parties = [d.metadata.counterparty for d in svc.archive.list_documents({"sort": "-counterparty"}).items]
    assert parties == ["招商公司", "长沙公司", "北京公司", "阿里公司"]
    # A title changed later is sorted by its new name.
    first = svc.archive.list_documents({"sort": "title", "limit": 1}).items[0]
    svc.archive.set_metadata(first.id, {"title": "质量手册"}, actor="张伟")
    assert svc.archive.list_documents({"sort": "-title", "limit": 1}).items[0].metadata.title == "质量手册"


def test_list_sorts_by_type_category_and_status(svc):
    add(svc, b"a", title="A", doc_type="contract", service_category="4.9", status="archived")
    add(svc, b"b", title="B", doc_type="sla", service_category="4.1", status="draft")
    add(svc, b"c", title="C", doc_type="other", service_category="4.3.1", status="effective")
    statuses = [d.metadata.status for d in svc.archive.list_documents({"sort": "status"}).items]
    assert statuses == [DocStatus.DRAFT, DocStatus.EFFECTIVE, DocStatus.ARCHIVED]
    cats = [d.metadata.service_category.value for d in svc.archive.list_documents({"sort": "service_category"}).items]
    assert cats == ["4.1", "4.3.1", "4.9"]
    order = svc.archive.doc_type_order()
    types = [d.metadata.doc_type for d in svc.archive.list_documents({"sort": "doc_type"}).items]
    assert types == sorted(types, key=order.index)
    with pytest.raises(InvalidInput):
        svc.archive.list_documents({"sort": "owner_key"})


def test_bulk_set_changes_each_document_with_its_own_audit_entry(svc):
    docs = [add(svc, f"合同{i}".encode(), title=f"合同{i}", tags=["运维"]).document for i in range(3)]
    gd = svc.guard(MANAGER)
    ids = [d.id for d in docs]
    svc.archive.set_metadata(ids[2], {"status": "effective", "doc_type": "sla", "tags": ["运维", "2024"]}, actor="张伟")
    change = BulkChange.parse(
        {
            "set": {"status": "effective", "doc_type": "sla", "project": "长沙项目"},
            "add_tags": "2024，重要",
            "remove_tags": ["运维"],
            "reason": "年度整理",
        }
    )
    report = gd.bulk_set(ids, change)
    assert [i.status for i in report.items] == [BulkStatus.CHANGED] * 3
    for doc_id in ids:
        doc = svc.archive.document(doc_id)
        assert doc.metadata.status is DocStatus.EFFECTIVE and doc.metadata.project == "长沙项目"
        assert set(doc.metadata.tags) == {"2024", "重要"}
        entry = _audit(svc, doc_id, AuditAction.METADATA_CHANGED)[-1]
        assert entry.actor == "经理王芳" and entry.details["reason"] == "批量修改 / bulk change：年度整理"
        assert entry.details["changes"]["project"] == {"from": "港口运维二期", "to": "长沙项目"}
    # The same change again changes nothing and records nothing.
    before = len(list(svc.catalog.audit_entries()))
    again = gd.bulk_set(ids, change)
    assert again.count(BulkStatus.UNCHANGED) == 3 and len(list(svc.catalog.audit_entries())) == before
    assert again.to_dict()["counts"] == {"changed": 0, "unchanged": 3, "refused": 0}


def test_bulk_set_refuses_per_document_what_the_role_does_not_allow(svc):
    own_site = add(svc, b"site", title="现场巡检记录", doc_class="site", project="港口运维二期").document
    user_doc = add(svc, b"user", title="服务目录").document
    other_site = add(svc, b"other", title="别的项目现场记录", doc_class="site", project="别的项目").document

    # A member moving an on-site document out of their own projects: refused for it alone.
    report = svc.guard(MEMBER).bulk_set([user_doc.id, own_site.id], BulkChange.parse({"set": {"project": "别的项目"}}))
    assert [i.status for i in report.items] == [BulkStatus.CHANGED, BulkStatus.REFUSED]
    assert report.refused[0].document_id == own_site.id and "别的项目" in report.refused[0].error["message"]
    assert svc.archive.document(own_site.id).metadata.project == "港口运维二期"
    assert svc.archive.document(user_doc.id).metadata.project == "别的项目"
    assert _audit(svc, own_site.id, AuditAction.ACCESS_DENIED)

    # An on-site document of another project answers like a missing one: the whole request is
    # refused, nothing changed, and the attempt logged.
    for hidden in (other_site.id, 999999):
        with pytest.raises(InvalidInput) as exc:
            svc.guard(MEMBER).bulk_set([user_doc.id, hidden], BulkChange.parse({"set": {"status": "archived"}}))
        assert exc.value.en.startswith(f"These documents do not exist: {hidden}.")
    assert svc.archive.document(user_doc.id).metadata.status is DocStatus.DRAFT
    assert _audit(svc, other_site.id, AuditAction.ACCESS_DENIED)

    # An auditor reads everything and changes nothing: each document refused, each logged.
    report = svc.guard(AUDITOR).bulk_set(
        [user_doc.id, other_site.id], BulkChange.parse({"set": {"status": "archived"}})
    )
    assert report.count(BulkStatus.REFUSED) == 2
    assert (
        "审计员" in report.items[0].error["message"]
        and "may not change metadata" in report.items[0].error["message_en"]
    )
    for doc_id in (user_doc.id, other_site.id):
        assert svc.archive.document(doc_id).metadata.status is DocStatus.DRAFT
        assert any(e.actor == "审计员赵敏" for e in _audit(svc, doc_id, AuditAction.ACCESS_DENIED))


@pytest.mark.parametrize(
    "body, field",
    [
        ({"set": {"doc_type": "no_such_type"}}, "doc_type"),
        ({"set": {"service_category": "9.9"}}, "service_category"),
        ({"set": {"status": "gone"}}, "status"),
        ({"set": {"title": "全部改名"}}, "title"),
        ({"set": {}}, "set"),
        ({"add_tags": ["甲"], "remove_tags": "甲"}, "add_tags"),
        ({"set": {"project": "\x00"}}, "project"),
        ({"set": {"status": "draft"}, "reason": {}}, "reason"),  # an empty object is no reason: refused
    ],
)
def test_bad_change_is_refused_before_anything_changes(svc, body, field):
    doc = add(svc).document
    before = len(list(svc.catalog.audit_entries()))
    with pytest.raises(InvalidInput) as exc:
        svc.guard(MANAGER).bulk_set([doc.id], BulkChange.parse(body))
    assert exc.value.field == field and exc.value.zh and exc.value.en
    assert len(list(svc.catalog.audit_entries())) == before


def test_bad_selections_are_refused():
    assert parse_ids(["3", "1", "3", ""], limit=5) == (3, 1)
    assert parse_ids("4,5", limit=5) == (4, 5)
    for raw, from_text in (
        ([], True),
        ("", True),
        ([str(2**63)], True),
        ([2**63], False),
        (["-1"], True),
        (["一"], True),
        ([True], False),
        (["7"], False),
        ({"a": 1}, False),
    ):
        with pytest.raises(InvalidInput) as exc:
            parse_ids(raw, limit=5, from_text=from_text)
        assert exc.value.field == "ids"
    with pytest.raises(TooLarge) as exc:
        parse_ids([str(i) for i in range(1, 8)], limit=5)
    assert "At most 5 documents" in exc.value.en


def test_selection_zip_keeps_chinese_names_unique_and_audits_each_download(svc):
    a = add(svc, "甲方合同正文".encode(), name="服务合同.txt", title="服务合同").document
    b = add(svc, "另一份合同".encode(), name="x.txt", title="服务合同").document
    c = add(svc, "运维/开发".encode(), name="plan.md", title="运维/开发方案").document
    out = io.BytesIO()
    summary = svc.guard(AUDITOR).selection_zip([a.id, b.id, c.id], out)
    assert summary.names == ("服务合同.txt", f"服务合同 ({b.id}).txt", "运维／开发方案.md")
    with zipfile.ZipFile(io.BytesIO(out.getvalue())) as zf:
        assert zf.namelist() == list(summary.names)
        assert all(i.flag_bits & 0x800 for i in zf.infolist())  # names flagged UTF-8
        assert zf.read(f"服务合同 ({b.id}).txt") == "另一份合同".encode()
    for doc in (a, b, c):
        entry = _audit(svc, doc.id, AuditAction.VERSION_DOWNLOADED)[-1]
        assert entry.actor == "审计员赵敏" and entry.version == 1


def test_selection_zip_refuses_too_much_before_reading(config):
    from docsvc.app import open_docsvc

    s = open_docsvc({**config, "BULK_ZIP_MAX_BYTES": 10})
    try:
        doc = add(s, "超过十个字节的正文".encode()).document
        with pytest.raises(TooLarge) as exc:
            s.guard(MANAGER).selection_zip([doc.id], io.BytesIO())
        assert "limit of a ZIP download" in exc.value.en
        assert not _audit(s, doc.id, AuditAction.VERSION_DOWNLOADED)
    finally:
        s.close()
