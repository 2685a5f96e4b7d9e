"""The audit chain catches every kind of tampering, on SQLite and PostgreSQL, and two
processes appending at once never fork it."""

from __future__ import annotations

import multiprocessing as mp

import pytest
import sqlalchemy as sa

from docsvc.app import open_docsvc
from docsvc.core import audit
from tests.conftest import add


@pytest.fixture
def chained(svc):
    """Nine entries: create, versions, metadata changes, downloads."""
    r = add(svc)
    doc = r.document.id
    for i in range(3):
        svc.archive.add_version(doc, f"第 {i + 2} 版".encode(), "v.txt", actor="李娜", reason=f"修订 {i}")
    svc.archive.set_metadata(doc, {"status": "effective"}, actor="王芳")
    for n in (1, 2, 3):
        svc.archive.read_version(doc, n, actor="审计员")
    assert svc.catalog.audit_head()[0] == 9
    assert svc.verify_audit().ok
    return svc


def sql(svc, statement: str, **params) -> None:
    with svc.catalog.engine.begin() as conn:
        conn.execute(sa.text(statement), params)


def test_untouched_chain_verifies(chained):
    result = chained.verify_audit()
    assert result.ok and result.checked == 9


def test_edited_entry_is_named(chained):
    sql(chained, "UPDATE audit_log SET actor = '黑客' WHERE seq = 5")
    result = chained.verify_audit()
    assert not result.ok and result.broken_seq == 5 and "修改" in result.reason_zh


def test_edited_details_are_caught(chained):
    sql(chained, "UPDATE audit_log SET details = replace(details, '修订 1', '修订 X') WHERE seq = 4")
    assert chained.verify_audit().broken_seq == 4


def test_deleted_middle_entry_is_named(chained):
    sql(chained, "DELETE FROM audit_log WHERE seq = 5")
    result = chained.verify_audit()
    assert not result.ok and result.broken_seq == 5 and "缺失" in result.reason_zh


def test_truncated_tail_is_caught(chained):
    sql(chained, "DELETE FROM audit_log WHERE seq > 7")
    result = chained.verify_audit()
    assert not result.ok and "截断" in result.reason_zh


def test_inserted_entry_is_caught(chained):
    # A forger renumbers the tail to make room, then inserts a plausible entry at seq 6.
    sql(chained, "UPDATE audit_log SET seq = seq + 100 WHERE seq >= 6")
    sql(chained, "UPDATE audit_log SET seq = seq - 99 WHERE seq >= 106")
    row = dict(
        seq=6,
        ts="2026-11-25T00:00:00.000000+00:00",
        actor="黑客",
        action="version.viewed",
        document_id=1,
        version=1,
        details="{}",
        prev_hash="0" * 64,
        hash="f" * 64,
    )
    sql(
        chained,
        "INSERT INTO audit_log (seq, ts, actor, action, document_id, version, details, prev_hash, hash) "
        "VALUES (:seq, :ts, :actor, :action, :document_id, :version, :details, :prev_hash, :hash)",
        **row,
    )
    result = chained.verify_audit()
    assert not result.ok and result.broken_seq == 6


def test_appended_forgery_is_caught(chained):
    head_seq, head_hash = chained.catalog.audit_head()
    forged = audit.chain(
        head_seq,
        head_hash,
        ts="2026-11-25T00:00:00.000000+00:00",
        actor="黑客",
        action="version.viewed",
        document_id=1,
        version=1,
        details={},
    )
    sql(
        chained,
        "INSERT INTO audit_log (seq, ts, actor, action, document_id, version, details, prev_hash, hash) "
        "VALUES (:seq, :ts, :actor, :action, :document_id, :version, :details, :prev_hash, :hash)",
        **{**forged.to_dict(), "details": "{}"},
    )
    # The forger did not (or could not) move the head: the extra tail entry is detected.
    assert not chained.verify_audit().ok


def test_reordered_entries_are_caught(chained):
    # Swap the contents of entries 3 and 4 but keep their seq numbers.
    sql(chained, "UPDATE audit_log SET seq = -3 WHERE seq = 3")
    sql(chained, "UPDATE audit_log SET seq = 3 WHERE seq = 4")
    sql(chained, "UPDATE audit_log SET seq = 4 WHERE seq = -3")
    result = chained.verify_audit()
    assert not result.ok and result.broken_seq == 3


def test_check_reports_a_broken_chain(chained):
    sql(chained, "UPDATE audit_log SET action = 'version.viewed' WHERE seq = 2")
    report = chained.check()
    assert not report.ok
    assert [p.kind.value for p in report.problems] == ["audit_chain"]


def test_standalone_verification_matches(chained):
    """The documented algorithm, re-implemented with the standard library only."""
    import hashlib
    import json

    prev = "0" * 64
    for e in chained.catalog.audit_entries():
        body = {
            "seq": e.seq,
            "ts": e.ts,
            "actor": e.actor,
            "action": e.action,
            "document_id": e.document_id,
            "version": e.version,
            "details": e.details,
        }
        text = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        assert hashlib.sha256(f"{prev}\n{text}".encode()).hexdigest() == e.hash
        prev = e.hash


def _append_many(config: dict, doc_id: int, worker: int, n: int, start) -> None:
    svc = open_docsvc(config)
    start.wait()
    for i in range(n):
        if i % 2:
            svc.archive.read_version(doc_id, 1, actor=f"proc{worker}")
        else:
            svc.archive.add_version(
                doc_id, f"进程 {worker} 版本 {i}".encode(), "p.txt", actor=f"proc{worker}", reason=f"并发 {worker}-{i}"
            )
    svc.close()


@pytest.mark.slow
def test_two_processes_never_fork_the_chain(config, svc):
    doc = add(svc).document.id
    ctx = mp.get_context("spawn")
    start = ctx.Barrier(2)
    procs = [ctx.Process(target=_append_many, args=(config, doc, w, 30, start)) for w in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    result = svc.verify_audit()
    assert result.ok and result.checked == 2 + 60
    entries = list(svc.catalog.audit_entries())
    assert [e.seq for e in entries] == list(range(1, 63))
    assert len({e.prev_hash for e in entries}) == len(entries)  # no two entries share a parent
    assert [v.number for v in svc.catalog.versions(doc)] == list(range(1, 32))
