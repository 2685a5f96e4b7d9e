"""The index as a projection of the catalog: outbox, retries, rebuilds, drift, extraction status."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfWriter

from docsvc.adapters.whoosh import WhooshIndex
from docsvc.core.search import SearchRequest
from docsvc.errors import Unavailable
from docsvc.services.bulk import ImportStatus
from tests.conftest import add, wait_for

SLA = "服务等级协议：乙方提供 7×24 小时运维服务，系统可用性不低于 99.9%，一级故障 15 分钟内响应。"
CONTRACT = "信息服务管理合同：合同到期前三十日，双方协商续签事宜；争议提交大连仲裁委员会仲裁。"
MINUTES = "项目例会纪要：讨论数据中心机房搬迁计划与割接窗口。"


def hits(svc, q, **kw):
    return [(h.document_id, h.number) for h in svc.index.search(SearchRequest(query=q, **kw)).hits]


@pytest.fixture
def filled(svc):
    a = add(svc, SLA.encode(), "sla.txt", title="港口运维 SLA", doc_type="sla")
    b = add(svc, CONTRACT.encode(), "contract.txt", title="运维服务合同", doc_type="contract")
    c = add(
        svc,
        MINUTES.encode(),
        "minutes.md",
        title="项目例会纪要",
        doc_type="meeting_minutes",
        doc_class="site",
        project="数据中心搬迁",
    )
    report = svc.index.sync()  # the first sync builds the missing index from the catalog
    assert report.failed == 0 and svc.catalog.counts()["outbox_pending"] == 0
    return svc, a.document.id, b.document.id, c.document.id


def test_added_documents_become_searchable(filled):
    svc, a, b, c = filled
    assert hits(svc, "可用性")[0] == (a, 1)
    assert hits(svc, "合同到期后服务怎么续签？")[0] == (b, 1)
    assert hits(svc, '"机房搬迁"') == [(c, 1)]
    assert svc.index.check().ok


def test_new_version_replaces_latest_but_all_versions_keep_it(filled):
    svc, a, *_ = filled
    svc.archive.add_version(
        a,
        "服务等级协议（修订）：可用性提高到 99.95%，增加驻场工程师。".encode(),
        "sla2.txt",
        actor="李娜",
        reason="年度修订",
    )
    svc.index.sync()
    assert hits(svc, "驻场工程师") == [(a, 2)]
    assert hits(svc, "一级故障") == []  # only in version 1, which is no longer the latest
    assert hits(svc, "一级故障", all_versions=True) == [(a, 1)]
    assert sorted(hits(svc, "服务等级协议", all_versions=True)) == [(a, 1), (a, 2)]


def test_metadata_changes_reach_the_index(filled):
    svc, a, *_ = filled
    svc.archive.set_metadata(a, {"status": "effective", "project": "港口二期"}, actor="王芳")
    svc.index.sync()
    result = svc.index.search(SearchRequest(query="", filters={"project": ["港口二期"]}))
    assert [h.document_id for h in result.hits] == [a] and result.hits[0].status == "effective"


def test_failed_index_write_stays_queued_and_is_retried(filled, monkeypatch):
    svc, *_ = filled
    add(svc, "变更申请：升级核心交换机固件。".encode(), "change.txt", title="变更申请", doc_type="change_request")

    def locked(self, entries, **kw):
        raise Unavailable("索引被锁定", "index locked")

    monkeypatch.setattr(WhooshIndex, "upsert", locked)
    report = svc.index.sync()
    assert report.failed == 1 and report.pending == 1 and "locked" in report.error
    assert svc.catalog.outbox(limit=10)[0].attempts == 1
    assert hits(svc, "交换机固件") == []
    monkeypatch.undo()
    assert svc.index.sync().applied == 1
    assert len(hits(svc, "交换机固件")) == 1 and svc.catalog.counts()["outbox_pending"] == 0


def test_rebuild_resumes_after_a_crash(svc):
    for i in range(7):
        add(svc, f"第 {i} 份运维月报，巡检服务器 {i} 台。".encode(), f"r{i}.txt", title=f"月报 {i}")
    svc.index.sync()

    class Crash(Exception):
        pass

    def crash_after_first_chunk(n):
        raise Crash()

    with pytest.raises(Crash):
        svc.index.rebuild(chunk=3, resume=False, progress=crash_after_first_chunk)
    assert svc.index.rebuild_pending() and svc.index.index.needs_rebuild
    done = svc.index.rebuild(chunk=3, resume=True)
    assert done == 4  # the first chunk of 3 was not redone
    assert not svc.index.rebuild_pending()
    assert svc.index.check().ok and len(hits(svc, "运维月报", per_page=20)) == 7


def test_drift_is_reported_and_a_lost_index_is_rebuilt(filled):
    svc, a, b, _c = filled
    svc.index.index.delete([svc.archive.version(b).id])
    report = svc.index.check()
    assert not report.ok and report.missing == [svc.archive.version(b).id]
    svc.index.rebuild(resume=False)
    assert svc.index.check().ok
    # Losing the index's table of contents (a crash mid-commit) is detected at open.
    svc.index.close()
    for toc in svc.index.state_dir.glob("_MAIN_*.toc"):
        toc.unlink()
    svc.index._index = None
    assert svc.index.index.needs_rebuild
    assert hits(svc, "可用性")[0] == (a, 1)  # a small archive is rebuilt on the spot
    assert svc.index.check().ok


def test_encrypted_pdf_is_archived_and_marked(svc):
    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    writer.encrypt("secret")
    buf = io.BytesIO()
    writer.write(buf)
    r = add(svc, buf.getvalue(), "secret.pdf", title="加密的合同扫描件")
    svc.index.sync()
    assert svc.index.extraction_statuses([r.version]) == {r.version.id: "encrypted"}
    result = svc.index.search(SearchRequest(query="加密", filters={"extraction_status": ["encrypted"]}))
    assert [h.document_id for h in result.hits] == [r.document.id]


def test_hostile_queries_get_clear_errors(filled):
    from docsvc.errors import InvalidInput

    svc, *_ = filled
    for q in ("*a*", "x" * 10_000, "content:(", '"unterminated', "AND OR NOT", r"(a|aa)*b.*"):
        try:
            svc.index.search(SearchRequest(query=q))
        except InvalidInput as exc:
            assert exc.zh and exc.en


def test_background_indexer_makes_uploads_searchable(svc):
    add(svc, SLA.encode(), "sla.txt", title="港口运维 SLA")
    indexer = svc.start_indexer()
    try:
        assert wait_for(lambda: indexer.state == "idle")
        assert hits(svc, "可用性")  # the missing index was built at start
        r = add(svc, "新上传的应急预案：机房断电时启动柴油发电机。".encode(), "plan.txt", title="应急预案")
        assert wait_for(lambda: hits(svc, "柴油发电机") == [(r.document.id, 1)])
        assert indexer.status()["last_error"] == ""
    finally:
        svc.close()
    assert indexer.state == "stopped"


def test_aes_encrypted_pdfs_are_read_when_the_password_is_empty():
    from docsvc.core.content import PDF
    from docsvc.core.extract import ExtractionStatus, extract_text

    def pdf(password: str) -> bytes:
        writer = PdfWriter()
        writer.add_blank_page(200, 200)
        writer.encrypt(password, algorithm="AES-256")
        buf = io.BytesIO()
        writer.write(buf)
        return buf.getvalue()

    assert extract_text(pdf(""), PDF).status is ExtractionStatus.NO_TEXT_LAYER  # opened: a blank page
    assert extract_text(pdf("secret"), PDF).status is ExtractionStatus.ENCRYPTED


def _inspection_folder(tmp_path, count: int):
    folder = tmp_path / "巡检记录"
    folder.mkdir()
    for i in range(count):
        (folder / f"巡检{i:02d}.txt").write_text(f"第{i}号机房巡检记录，UPS 告警编号 XJ-{i:03d}。", "utf-8")
    return sorted(folder.iterdir())


def test_import_streams_each_document_to_the_writers_as_it_is_archived(svc, tmp_path, monkeypatch):
    from docsvc.services import search

    monkeypatch.setattr(search, "BULK_SEGMENT_DOCS", 2)  # each writer commits a segment every 2 documents
    svc.index.ensure()
    synced = []
    real_sync = svc.index.sync
    monkeypatch.setattr(svc.index, "sync", lambda **kw: synced.append(real_sync(**kw)) or synced[-1])
    report = svc.importer.import_files(
        _inspection_folder(tmp_path, 11),
        {"doc_type": "report", "doc_class": "site", "service_category": "4.2"},
        actor="导入员",
    )
    assert report.count(ImportStatus.ADDED) == 11
    # The stream indexed everything: the sync after it found nothing left in the outbox.
    assert [r.applied for r in synced] == [0]
    assert svc.catalog.counts()["outbox_pending"] == 0 and svc.index.check().ok
    assert len(svc.index.search(SearchRequest(query="巡检 告警", per_page=50)).hits) == 11
    assert [h.title for h in svc.index.search(SearchRequest(query="xj-007")).hits] == ["巡检07"]
    # One segment per writer and two documents, and the leftovers of each writer at the end.
    assert sorted(seg.doc_count_all() for seg in svc.index.index._ix._segments()) == [1, 2, 2, 2, 2, 2]
    assert not list((svc.index.state_dir / "staging").iterdir())  # the staging folder is gone


def test_import_with_a_writer_process_dying_loses_nothing(svc, tmp_path, monkeypatch):
    import os

    from docsvc.adapters.whoosh import write as whoosh_write

    svc.index.ensure()
    real_stream, real_add = whoosh_write._stream_segments, whoosh_write.DocsvcSegmentWriter.add_document
    streaming = []

    def stream(*args):  # marks the stream's writer processes (forked with this module's state)
        streaming.append(True)
        real_stream(*args)

    def dies(self, **fields):  # the fault: a stream writer is killed at its third document
        if streaming and self.docnum == 2:
            os._exit(9)
        return real_add(self, **fields)

    monkeypatch.setattr(whoosh_write, "_stream_segments", stream)
    monkeypatch.setattr(whoosh_write.DocsvcSegmentWriter, "add_document", dies)
    report = svc.importer.import_files(
        _inspection_folder(tmp_path, 9),
        {"doc_type": "report", "doc_class": "site", "service_category": "4.2"},
        actor="导入员",
    )
    assert [i.status.value for i in report.items] == ["added"] * 9
    # What the stream did not commit stayed queued, and the sync at the end indexed it.
    assert svc.catalog.counts()["outbox_pending"] == 0 and svc.index.check().ok
    assert len(svc.index.search(SearchRequest(query="巡检", per_page=50)).hits) == 9
    assert not list((svc.index.state_dir / "staging").iterdir())


def test_an_index_rebuilt_by_another_process_is_picked_up_without_a_restart(svc, config, monkeypatch):
    from docsvc.app import open_docsvc
    from docsvc.services import search

    add(svc, SLA.encode(), "sla.txt", title="港口运维 SLA", doc_type="sla")
    svc.index.sync()
    broken = svc.index.index
    for f in svc.index.state_dir.iterdir():  # the fault: the index's files are gone (a bad restore)
        if f.is_file() and "MAIN" in f.name:
            f.unlink()
    with pytest.raises(Unavailable):
        broken.search(SearchRequest(query="可用性"))
    assert broken.needs_rebuild and svc.index.index is broken  # kept for REOPEN_AFTER_S
    other = open_docsvc(config)  # the operator's `docsvc index rebuild`, in another process
    try:
        assert other.index.rebuild() == 1
    finally:
        other.close()
    monkeypatch.setattr(search, "REOPEN_AFTER_S", 0.0)
    assert svc.index.index is not broken and not svc.index.index.needs_rebuild
    assert [h.title for h in svc.index.index.search(SearchRequest(query="可用性")).hits] == ["港口运维 SLA"]


def test_a_running_servers_indexer_leaves_an_imports_documents_to_it(svc, tmp_path):
    svc.index.ensure()
    applied = []

    def progress(n: int) -> None:  # the server's background indexer, while the import goes on
        applied.append(svc.index.sync().applied)

    svc.importer.import_files(
        _inspection_folder(tmp_path, 6),
        {"doc_type": "report", "doc_class": "site", "service_category": "4.2"},
        actor="导入员",
        progress=progress,
    )
    assert applied == [0] * 6  # claimed by the import, which indexes them itself
    assert svc.catalog.counts()["outbox_pending"] == 0 and svc.index.check().ok
    assert svc.index.search(SearchRequest(query="巡检", per_page=50)).total == 6


def test_edits_made_while_an_import_streams_a_document_reach_the_index(svc, tmp_path):
    svc.index.ensure()
    first: list[int] = []

    def progress(n: int) -> None:  # someone edits the first two documents meanwhile
        if first:
            return
        ids = sorted(svc.catalog.documents_by_id([1, 2]))
        if len(ids) < 2:
            return
        first.extend(ids)
        svc.archive.set_metadata(ids[0], {"project": "港口二期"}, actor="王芳")
        svc.archive.add_version(
            ids[1], "第1号机房巡检记录（复核），无告警。".encode(), "巡检01.txt", actor="王芳", reason="复核"
        )
        svc.index.sync()  # the server's indexer: nothing of these documents is indexed yet

    svc.importer.import_files(
        _inspection_folder(tmp_path, 5),
        {"doc_type": "report", "doc_class": "site", "service_category": "4.2"},
        actor="导入员",
        progress=progress,
    )
    assert first and svc.catalog.counts()["outbox_pending"] == 0 and svc.index.check().ok
    edited = svc.index.search(SearchRequest(query="", filters={"project": ["港口二期"]})).hits
    assert [h.document_id for h in edited] == [first[0]]
    revised = svc.index.search(
        SearchRequest(query="巡检", filters={"document_id": [str(first[1])]}, all_versions=True, per_page=10)
    ).hits
    assert sorted((h.number, h.is_latest) for h in revised) == [(1, False), (2, True)]
