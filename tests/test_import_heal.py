"""Interrupted imports heal by themselves, and a PDF that timed out is tried again later.

An import leases the outbox rows of the documents it indexes itself and renews the lease while
it runs; killed (SIGKILL, a real ``docsvc import`` process) before its index commit, its
documents go to any other indexer once the lease is out. Both on SQLite and PostgreSQL.
"""

from __future__ import annotations

import dataclasses
import io
import os
import signal
import subprocess
import sys

import pytest
import sqlalchemy as sa
from pypdf import PdfWriter
from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

from docsvc.adapters.tables import index_outbox
from docsvc.core.extract import EXTRACTOR_VERSION, Extraction, ExtractionStatus
from docsvc.core.search import SearchRequest
from docsvc.services import search as search_service
from tests.conftest import wait_for

LEASE_S = 6.0
WORD = "柴油发电机"
META = {"doc_type": "report", "service_category": "4.2", "doc_class": "site"}


def _leases(svc) -> list[tuple[str | None, object]]:
    with svc.catalog.engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                sa.select(index_outbox.c.claimed_by, index_outbox.c.claimed_until).order_by(index_outbox.c.id)
            )
        ]


def _found(svc) -> set[int]:
    return {h.document_id for h in svc.index.search(SearchRequest(query=WORD, per_page=50)).hits}


@pytest.mark.slow  # waits out a lease: seconds
def test_a_killed_import_is_indexed_by_another_indexer_once_its_lease_runs_out(svc, config, tmp_path):
    assert svc.index.ensure()
    folder = tmp_path / "机房巡检记录"
    folder.mkdir()
    for i in range(8):
        (folder / f"巡检{i}.txt").write_text(f"第 {i} 号机房巡检记录：{WORD}每月空载试运行，蓄电池组 {i} 组。", "utf-8")
    env = {
        **os.environ,
        **{f"DOCSVC_{k}": v for k, v in config.items()},
        "DOCSVC_INDEX_LEASE_S": str(LEASE_S),
        "DOCSVC_ACTOR": "导入员",
        # The fifth document is committed, then the import stalls there: killed before its
        # index commit, which comes after the last file.
        "DOCSVC_FAULT": "after_commit:5:hang",
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from docsvc.cli import main; main()",
            "import",
            str(folder),
            "--type",
            "report",
            "--category",
            "4.2",
        ],
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        assert wait_for(lambda: len(_leases(svc)) == 5, 60), (proc.poll(), _leases(svc))
        first = _leases(svc)
        owners = {owner for owner, _ in first}
        assert len(owners) == 1 and f":{proc.pid}:" in owners.pop()  # the import's own lease
        # The import renews its lease while it runs ...
        assert wait_for(lambda: min(until for _, until in _leases(svc)) > max(until for _, until in first), 30)
        # ... and nobody else takes its rows meanwhile.
        assert svc.index.sync().applied == 0
        assert svc.catalog.counts()["outbox_pending"] == 5
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # its index writer processes, if any are left
    except ProcessLookupError:
        pass
    assert _found(svc) == set()  # killed before its index commit
    # Any indexer (here this process's; a server's runs every two seconds) takes them over
    # once the lease is out: within a minute with the default 30 s lease.
    applied: list[int] = []
    assert wait_for(lambda: applied.append(svc.index.sync().applied) or sum(applied) == 5, 60), applied
    assert svc.catalog.counts()["outbox_pending"] == 0
    assert len(_found(svc)) == 5
    assert svc.index.check().ok


def test_an_interrupted_import_lets_go_of_its_rows_at_once(svc, tmp_path):
    # Interrupted (Ctrl-C after the first file) before its stream committed anything: the
    # rows are released as the import ends, not held for the rest of the lease.
    assert svc.index.ensure()
    for i in range(3):
        (tmp_path / f"{i}.txt").write_text(f"{WORD}巡检 {i}。", "utf-8")

    def interrupted(_n: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        svc.importer.import_files(sorted(tmp_path.glob("*.txt")), META, actor="导入员", progress=interrupted)
    assert _leases(svc) == [(None, None)]
    assert _found(svc) == set()
    assert svc.index.sync().applied == 1 and len(_found(svc)) == 1


# --- a PDF whose extraction timed out -----------------------------------------------------------


def _slow_pdf(ops: int = 1_000_000) -> bytes:
    """One page with a million text operators: pypdf needs several seconds for it."""
    w = PdfWriter()
    font = w._add_object(
        DictionaryObject(
            {
                NameObject("/Type"): NameObject("/Font"),
                NameObject("/Subtype"): NameObject("/Type1"),
                NameObject("/BaseFont"): NameObject("/Helvetica"),
            }
        )
    )
    page = w.add_blank_page(300, 200)
    page[NameObject("/Resources")] = DictionaryObject(
        {NameObject("/Font"): DictionaryObject({NameObject("/F1"): font})}
    )
    stream = DecodedStreamObject()
    stream.set_data(b"BT /F1 12 Tf (diesel generator) Tj " + b"(x) Tj " * ops + b"ET")
    page[NameObject("/Contents")] = w._add_object(stream)
    buf = io.BytesIO()
    w.write(buf)
    return buf.getvalue()


def _detail(svc, sha256: str) -> dict:
    import json

    row = svc.catalog.get_extraction(sha256, EXTRACTOR_VERSION)
    return {"status": row["status"], **json.loads(row["detail"])}


def _tiny_limits(svc, timeout: float) -> None:
    svc.index.extract_limits = dataclasses.replace(svc.index.extract_limits, pdf_timeout_seconds=timeout)
    # Never due by itself during a test: a retry that came due while the sync that queued it was
    # still writing was applied by that same sync on a loaded machine (CI, twice); the test
    # brings each retry forward with _bring_retries_forward instead.
    svc.index.retry_after_s = 3600


def _bring_retries_forward(svc, version) -> None:
    """The waiting time of a timed-out extraction's retry, over: it is due now."""
    svc.catalog.defer_outbox([version.id], delay_s=0)


@pytest.mark.slow
def test_a_timeout_is_retried_later_with_twice_the_time_then_recorded_as_a_failure(svc):
    _tiny_limits(svc, 0.2)
    assert svc.index.ensure()
    version = svc.archive.add_document(_slow_pdf(), "巡检.pdf", {"title": "巡检报告", **META}, actor="张伟").version
    assert svc.index.sync().applied == 1
    seen = [_detail(svc, version.sha256)]
    assert seen[0]["status"] == "failed" and seen[0]["timeouts"] == 1 and "0.2 s" in seen[0]["en"]
    assert "tried again later" in seen[0]["en"]
    assert svc.catalog.counts()["outbox_pending"] == 1  # queued again, for later
    assert svc.index.sync().applied == 0  # not yet
    for timeouts, limit in ((2, "0.4 s"), (3, "0.8 s")):
        _bring_retries_forward(svc, version)
        assert svc.index.sync().applied == 1
        seen.append(_detail(svc, version.sha256))
        assert seen[-1]["timeouts"] == timeouts and limit in seen[-1]["en"], seen
    assert "recorded as a failure" in seen[-1]["en"] and "稍后" not in seen[-1]["zh"]
    assert svc.catalog.counts()["outbox_pending"] == 0  # for good: not queued again
    assert svc.index.extraction_statuses([version]) == {version.id: "failed"}
    assert svc.index.extraction(version).status is ExtractionStatus.FAILED


def test_a_timeout_on_a_busy_machine_heals_on_the_retry(svc, monkeypatch, tmp_path):
    real = search_service.extract_text
    limits_seen: list[float] = []

    def busy_once(data, media_type, *, limits):  # the fault: the first try ran out of time
        limits_seen.append(limits.pdf_timeout_seconds)
        if len(limits_seen) == 1:
            return Extraction(
                ExtractionStatus.FAILED,
                detail_zh="PDF 解析超时（30 秒），已终止。",
                detail_en="PDF parsing timed out after 30 s and was stopped.",
                timed_out=True,
            )
        return real(data, media_type, limits=limits)

    monkeypatch.setattr(search_service, "extract_text", busy_once)
    svc.index.retry_after_s = 3600  # brought forward below, never due by itself (see _tiny_limits)
    assert svc.index.ensure()
    folder = tmp_path / "f"
    folder.mkdir()
    (folder / "巡检.pdf").write_bytes(_slow_pdf(10))
    report = svc.importer.import_files([folder / "巡检.pdf"], META, actor="导入员")
    version = svc.catalog.get_version(report.items[0].document_id, 1)
    assert _detail(svc, version.sha256)["timeouts"] == 1
    assert svc.index.search(SearchRequest(query="diesel")).hits == []
    assert svc.index.sync().applied == 0  # not yet
    _bring_retries_forward(svc, version)
    assert svc.index.sync().applied == 1
    assert limits_seen == [30.0, 60.0]  # the retry had twice the time
    assert svc.index.extraction_statuses([version]) == {version.id: "ok"}
    assert "timeouts" not in _detail(svc, version.sha256)
    assert [h.document_id for h in svc.index.search(SearchRequest(query="diesel")).hits] == [version.document_id]
