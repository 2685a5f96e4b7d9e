"""The archive's use cases on SQLite and PostgreSQL: versions, metadata, history, bad input."""

from __future__ import annotations

import hashlib
import threading

import pytest

from docsvc.core.model import AuditAction, DocStatus
from docsvc.errors import Conflict, InvalidContent, InvalidInput, NotFound, TooLarge, UnsupportedType
from tests.conftest import add


def blob_files(svc):
    return [b.sha256 for b in svc.blobs.iter_blobs()]


def test_add_version_history_and_exact_bytes(svc):
    v1 = "第一版：服务期限一年。".encode()
    v2 = "第二版：服务期限两年，增加驻场工程师。".encode("gb18030")
    r1 = add(svc, v1)
    doc_id = r1.document.id
    assert r1.version.number == 1 and r1.version.sha256 == hashlib.sha256(v1).hexdigest()
    assert r1.version.media_type == "text/plain"
    r2 = svc.archive.add_version(doc_id, v2, "合同v2.txt", actor="李娜", reason="延长服务期限")
    assert r2.created and r2.version.number == 2
    assert svc.archive.read_version(doc_id, 1, actor="审计员")[1] == v1
    assert svc.archive.read_version(doc_id, actor="审计员")[1] == v2

    h = svc.archive.history(doc_id)
    assert [v.number for v in h.versions] == [1, 2]
    assert [v.reason for v in h.versions][1] == "延长服务期限"
    actions = [(e.action, e.actor, e.version) for e in h.events]
    assert actions == [
        (AuditAction.DOCUMENT_CREATED, "张伟", None),
        (AuditAction.VERSION_ADDED, "张伟", 1),
        (AuditAction.VERSION_ADDED, "李娜", 2),
        (AuditAction.VERSION_DOWNLOADED, "审计员", 1),
        (AuditAction.VERSION_DOWNLOADED, "审计员", 2),
    ]
    assert h.events[2].details["reason"] == "延长服务期限"
    assert svc.verify_audit().ok


def test_identical_content_is_stored_once(svc):
    data = b"same bytes in two documents"
    a = add(svc, data, "a.txt")
    b = add(svc, data, "b.txt", title="另一份")
    assert a.version.sha256 == b.version.sha256
    assert blob_files(svc) == [a.version.sha256]


def test_unchanged_new_version_adds_nothing(svc):
    r = add(svc)
    again = svc.archive.add_version(
        r.document.id, "合同正文：乙方提供7×24小时运维服务。".encode(), "x.txt", actor="李娜", reason="重复上传"
    )
    assert not again.created and again.version.number == 1
    assert len(svc.archive.history(r.document.id).events) == 2


def test_new_version_needs_a_reason(svc):
    r = add(svc)
    with pytest.raises(InvalidInput) as err:
        svc.archive.add_version(r.document.id, b"v2", "v2.txt", actor="李娜", reason="  ")
    assert err.value.field == "reason" and "变更原因" in err.value.zh
    assert svc.catalog.versions(r.document.id)[-1].number == 1


@pytest.mark.parametrize(
    "field,value,expect",
    [
        ("doc_type", "invoice", "contract"),
        ("service_category", "4.10", "4.3.1"),
        ("doc_class", "public", "site"),
        ("status", "deleted", "superseded"),
        ("service_scope", "sales", "delivery"),
    ],
)
def test_invalid_metadata_lists_valid_values_and_stores_nothing(svc, field, value, expect):
    with pytest.raises(InvalidInput) as err:
        add(svc, **{field: value})
    assert err.value.field == field
    assert expect in err.value.zh and expect in err.value.en
    assert svc.catalog.counts()["documents"] == 0 and blob_files(svc) == []
    assert svc.catalog.audit_head()[0] == 0


@pytest.mark.parametrize("tags", [7, 1.5, True, {"a": 1}])
def test_tags_that_are_neither_text_nor_a_list_are_refused_on_add_and_on_change(svc, tags):
    """A JSON client's number or object for the tags: a field error, nothing stored or changed."""
    with pytest.raises(InvalidInput) as err:
        add(svc, tags=tags)
    assert err.value.field == "tags" and "标签" in err.value.zh and "tags" in err.value.en
    assert svc.catalog.counts()["documents"] == 0
    doc = add(svc, tags="运维，合同").document
    with pytest.raises(InvalidInput) as err:
        svc.archive.set_metadata(doc.id, {"tags": tags}, actor="李娜", reason="改标签")
    assert err.value.field == "tags"
    assert svc.archive.document(doc.id).metadata.tags == ("运维", "合同")


def test_bad_dates_and_missing_fields(svc):
    with pytest.raises(InvalidInput) as err:
        add(svc, review_due="2026-13-01")
    assert "YYYY-MM-DD" in err.value.zh
    with pytest.raises(InvalidInput) as err:
        add(svc, effective_date="2027-01-01", review_due="2026-01-01")
    assert err.value.field == "review_due"
    with pytest.raises(InvalidInput) as err:
        svc.archive.add_document(b"x", "x.txt", {"title": "t"}, actor="a")
    assert err.value.field == "doc_type"
    with pytest.raises(InvalidInput) as err:
        add(svc, title="标题\x07带控制字符")
    assert err.value.field == "title"


@pytest.mark.slow
def test_bad_files_are_refused_and_leave_nothing(svc, bad_inputs):
    cases = [
        (b"", "empty.txt", InvalidContent),
        ((bad_inputs / "gif_disguised_as.docx").read_bytes(), "gif_disguised_as.docx", UnsupportedType),
        ((bad_inputs / "text_disguised_as.docx").read_bytes(), "text_disguised_as.docx", UnsupportedType),
        ((bad_inputs / "zipbomb.docx").read_bytes(), "zipbomb.docx", TooLarge),
        ((bad_inputs / "zipslip.docx").read_bytes(), "zipslip.docx", InvalidContent),
        ((bad_inputs / "xxe.docx").read_bytes(), "xxe.docx", InvalidContent),
        ((bad_inputs / "billion_laughs.docx").read_bytes(), "b.docx", InvalidContent),
        ((bad_inputs / "crc_corrupt.docx").read_bytes(), "crc.docx", InvalidContent),
        ((bad_inputs / "many_entries.docx").read_bytes(), "many.docx", TooLarge),
        ((bad_inputs / "missing_main_part.docx").read_bytes(), "m.docx", InvalidContent),
    ]
    for data, name, exc in cases:
        with pytest.raises(exc) as err:
            add(svc, data, name)
        assert err.value.zh and err.value.en, name
    assert svc.catalog.counts() == {"documents": 0, "versions": 0, "audit_entries": 0, "outbox_pending": 0}
    assert blob_files(svc) == [] and list(svc.blobs.staging.iterdir()) == []


def test_upload_size_limit(config):
    from docsvc.app import open_docsvc

    small = open_docsvc({**config, "MAX_UPLOAD_BYTES": 100})
    with pytest.raises(TooLarge):
        add(small, b"x" * 101)
    assert small.catalog.counts()["documents"] == 0
    small.close()


def test_media_type_comes_from_content_not_name(svc, bad_inputs):
    r = add(svc, (bad_inputs / "benign.docx").read_bytes(), "report.pdf")
    assert r.version.media_type.endswith("wordprocessingml.document")
    r = add(svc, (bad_inputs / "benign.pdf").read_bytes(), "scan.txt")
    assert r.version.media_type == "application/pdf"
    r = add(svc, "# 会议纪要\n".encode(), "minutes.md")
    assert r.version.media_type == "text/markdown"


@pytest.mark.parametrize(
    "name,expected",
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\system.ini", "system.ini"),
        ("合同\x00.txt", "合同.txt"),
        ("\u202egnp.txt", "gnp.txt"),
        ("", "unnamed"),
        ("长" * 300 + ".txt", "长" * 251 + ".txt"),
    ],
)
def test_filenames_are_metadata_only(svc, name, expected):
    r = add(svc, f"content for {name!r}".encode("unicode_escape"), name)
    assert r.version.original_filename == expected
    # Content-addressed storage: the name never reaches the filesystem.
    assert (svc.blobs.blobs / r.version.sha256[:2] / r.version.sha256).is_file()


def test_not_found_errors(svc):
    with pytest.raises(NotFound) as err:
        svc.archive.document(999)
    assert "999" in err.value.zh
    r = add(svc)
    with pytest.raises(NotFound) as err:
        svc.archive.read_version(r.document.id, 7, actor="a")
    assert "第 7 版" in err.value.zh
    with pytest.raises(NotFound):
        svc.archive.add_version(999, b"x", "x.txt", actor="a", reason="r")


def test_set_metadata_records_the_change(svc):
    r = add(svc)
    d = svc.archive.set_metadata(
        r.document.id,
        {"status": "effective", "review_due": "2027-06-30", "tags": "运维,年度"},
        actor="王芳",
        reason="合同签署生效",
    )
    assert d.metadata.status is DocStatus.EFFECTIVE and d.metadata.tags == ("运维", "年度")
    event = svc.archive.history(r.document.id).events[-1]
    assert event.action == AuditAction.METADATA_CHANGED and event.actor == "王芳"
    assert event.details["changes"]["status"] == {"from": "draft", "to": "effective"}
    assert event.details["reason"] == "合同签署生效"
    with pytest.raises(InvalidInput) as err:
        svc.archive.set_metadata(r.document.id, {"colour": "red"}, actor="王芳")
    assert "colour" in err.value.zh
    assert len(svc.archive.history(r.document.id).events) == 3


def test_deletion_is_logged_and_refused(svc):
    r = add(svc)
    with pytest.raises(Conflict):
        svc.archive.request_deletion(r.document.id, actor="赵强", reason="项目结束")
    events = [e.action for e in svc.archive.history(r.document.id).events]
    assert events[-2:] == [AuditAction.DELETION_REQUESTED, AuditAction.DELETION_REFUSED]
    assert svc.archive.read_version(r.document.id, actor="a")[0].number == 1


def test_list_filters_sorting_and_paging(svc):
    add(svc, b"1", title="乙", doc_type="sla", service_category="4.2", tags=["运维"])
    add(svc, b"2", title="甲", doc_type="contract", service_category="4.1", counterparty="大连银行")
    add(svc, b"3", title="丙", doc_type="sla", service_category="4.9.1", doc_class="site")
    page = svc.archive.list_documents({"doc_type": "sla"})
    assert page.total == 2 and {d.metadata.title for d in page.items} == {"乙", "丙"}
    assert svc.archive.list_documents({"doc_class": "site"}).items[0].metadata.title == "丙"
    assert svc.archive.list_documents({"tag": "运维"}).items[0].metadata.title == "乙"
    assert svc.archive.list_documents({"counterparty": "大连银行"}).total == 1
    ids = [d.id for d in svc.archive.list_documents({"sort": "id", "limit": 2, "offset": 1}).items]
    assert ids == [2, 3]
    with pytest.raises(InvalidInput) as err:
        svc.archive.list_documents({"sort": "title;DROP TABLE documents"})
    assert err.value.field == "sort"
    with pytest.raises(InvalidInput):
        svc.archive.list_documents({"owner' OR 1=1--": "x"})
    assert svc.archive.list_documents({"counterparty": "' OR 1=1--"}).total == 0
    assert svc.catalog.counts()["documents"] == 3


def test_review_due_list(svc):
    import datetime as dt

    add(svc, b"a", title="SLA 到期", doc_type="sla", review_due="2026-12-10")
    add(svc, b"b", title="SLA 未到期", doc_type="sla", review_due="2027-06-10")
    add(svc, b"c", title="已归档", doc_type="sla", review_due="2026-12-01", status="archived")
    due = svc.archive.due_for_review(dt.date(2026, 11, 25), within_days=30)
    assert [d.metadata.title for d in due] == ["SLA 到期"]


def test_concurrent_versions_get_distinct_numbers(svc):
    r = add(svc)
    barrier = threading.Barrier(6)
    errors: list[Exception] = []

    def worker(i: int) -> None:
        barrier.wait()
        try:
            for j in range(5):
                svc.archive.add_version(
                    r.document.id, f"线程 {i} 第 {j} 次".encode(), "v.txt", actor=f"user{i}", reason=f"并发修改 {i}-{j}"
                )
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    numbers = [v.number for v in svc.catalog.versions(r.document.id)]
    assert numbers == list(range(1, 32))
    assert svc.archive.document(r.document.id).latest_version == 31
    assert svc.verify_audit().ok and svc.catalog.audit_head()[0] == 2 + 30


def test_metadata_changes_are_not_lost_between_writers(svc, config, monkeypatch):
    """A metadata change committed while another writer is between its read and its write
    survives: every read-modify-write happens under the write lock."""
    from docsvc.app import open_docsvc

    r = add(svc)
    other = open_docsvc(config)
    real_inspect = other.archive.inspect

    def inspect_then_race(data, filename):
        # The other writer has read the document; now a third party changes it.
        svc.archive.set_metadata(r.document.id, {"status": "effective"}, actor="王芳")
        return real_inspect(data, filename)

    monkeypatch.setattr(other.archive, "inspect", inspect_then_race)
    other.archive.add_version(
        r.document.id, b"second version", "v2.txt", actor="李娜", reason="修订", metadata={"title": "新标题"}
    )
    final = svc.archive.document(r.document.id).metadata
    assert final.title == "新标题" and final.status is DocStatus.EFFECTIVE
    other.close()
