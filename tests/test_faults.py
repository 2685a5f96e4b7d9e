"""Crash consistency: a failure at any point between the blob write and the catalog commit
leaves either nothing recorded or everything recorded (reliability checklist 47–53)."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys

import pytest

from docsvc.adapters.catalog import SqlCatalog
from docsvc.core import faults
from docsvc.errors import StorageError, StorageFull, Unavailable
from tests.conftest import META, add

ADD_SCRIPT = """
import json, sys
from docsvc.app import open_docsvc
svc = open_docsvc(json.loads(sys.argv[1]))
svc.archive.add_document("崩溃测试：服务交付验收。".encode(), "crash.txt", json.loads(sys.argv[2]), actor="crash")
print("returned")
"""


def run_add_with_fault(config: dict, spec: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DOCSVC_FAULT": spec}
    return subprocess.run(
        [sys.executable, "-c", ADD_SCRIPT, json.dumps(config), json.dumps(META)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def config(config):
    """These tests are about what reaches the disk: with the FSYNC setting on, as in production."""
    return {**config, "FSYNC": "1"}


def test_commits_wait_for_the_disk_unless_the_fsync_setting_is_off(db_url):
    import sqlalchemy as sa

    def setting(durable: bool) -> str:
        cat = SqlCatalog(db_url, durable=durable)
        try:
            with cat.engine.connect() as conn:
                if cat.is_sqlite:
                    return {0: "off", 2: "full"}[conn.exec_driver_sql("PRAGMA synchronous").scalar()]
                return conn.execute(sa.text("SHOW synchronous_commit")).scalar()
        finally:
            cat.dispose()

    assert setting(True) in ("full", "on")
    assert setting(False) == "off"


@pytest.fixture(autouse=True)
def _fresh_fault_counts():
    faults.reset()
    yield
    faults.reset()


def assert_nothing_recorded(svc):
    assert svc.catalog.counts() == {"documents": 0, "versions": 0, "audit_entries": 0, "outbox_pending": 0}
    assert svc.verify_audit().ok


@pytest.mark.parametrize("point", ["after_stage_fsync", "after_link", "audit_append", "before_commit"])
def test_kill_before_commit_records_nothing(config, svc, point):
    proc = run_add_with_fault(config, f"{point}:1")
    assert proc.returncode == 137, proc.stderr
    assert_nothing_recorded(svc)
    report = svc.check()
    assert report.ok  # an orphan blob or staging leftover is a warning, not damage
    kinds = {p.kind.value for p in report.problems}
    assert kinds <= {"orphan_blob", "staging_leftover"}
    svc.gc(grace_s=0)
    assert [b.sha256 for b in svc.blobs.iter_blobs()] == [] and list(svc.blobs.staging.iterdir()) == []
    assert svc.check().problems == []


def test_kill_after_commit_keeps_the_version(config, svc):
    proc = run_add_with_fault(config, "after_commit:1")
    assert proc.returncode == 137 and "returned" not in proc.stdout
    doc = svc.archive.list_documents({}).items[0]
    _version, data = svc.archive.read_version(doc.id, actor="auditor")
    assert data == "崩溃测试：服务交付验收。".encode()
    assert svc.catalog.counts()["outbox_pending"] == 1  # the index learns of it on the next sync
    assert svc.check().ok and svc.check().problems == []


@pytest.mark.parametrize(
    "point,mode,error",
    [
        ("after_stage_fsync", "eio", StorageError),
        ("after_stage_fsync", "enospc", StorageFull),
        ("after_link", "eio", StorageError),
        ("audit_append", "eio", StorageError),
        ("before_commit", "enospc", StorageError),
    ],
)
def test_io_errors_are_clean_and_retryable(svc, monkeypatch, point, mode, error):
    monkeypatch.setenv("DOCSVC_FAULT", f"{point}:1:{mode}")
    with pytest.raises(error) as err:
        add(svc)
    assert err.value.zh and err.value.en
    assert_nothing_recorded(svc)
    assert list(svc.blobs.staging.iterdir()) == []
    # The fault was transient: the same request now succeeds.
    r = add(svc)
    assert svc.archive.read_version(r.document.id, actor="a")[1] == "合同正文：乙方提供7×24小时运维服务。".encode()


def test_failing_rename_stores_nothing(svc, monkeypatch):
    def broken_replace(src, dst):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(StorageError):
        add(svc)
    monkeypatch.undo()
    assert_nothing_recorded(svc)
    assert [b.sha256 for b in svc.blobs.iter_blobs()] == [] and list(svc.blobs.staging.iterdir()) == []


def test_fsync_eio_is_not_acknowledged(svc, monkeypatch):
    def broken_fsync(fd):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(StorageError) as err:
        add(svc)
    monkeypatch.undo()
    assert "nothing was stored" in err.value.en
    assert_nothing_recorded(svc)


def test_database_down_is_unavailable_not_a_crash():
    cat = SqlCatalog("postgresql+psycopg://postgres@127.0.0.1:1/nowhere")
    with pytest.raises(Unavailable) as err:
        cat.migrate()
    assert "不可用" in err.value.zh


def test_bit_rot_is_detected_and_never_served(svc):
    from docsvc.errors import Corrupted

    r = add(svc)
    path = svc.blobs.path(r.version.sha256)
    os.chmod(path, 0o644)
    raw = bytearray(path.read_bytes())
    raw[3] ^= 0x01
    path.write_bytes(bytes(raw))
    report = svc.check()
    assert not report.ok and [p.kind.value for p in report.problems] == ["checksum_mismatch"]
    with pytest.raises(Corrupted):
        svc.archive.read_version(r.document.id, actor="a")


def test_missing_blob_is_reported(svc):
    r = add(svc)
    svc.blobs.path(r.version.sha256).unlink()
    report = svc.check()
    assert not report.ok and [p.kind.value for p in report.problems] == ["missing_blob"]
