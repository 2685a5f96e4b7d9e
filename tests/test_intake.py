"""The watched intake folder: real files, the real archive and catalog (SQLite
and PostgreSQL); the clock that decides when a file has settled is the test's own."""

from __future__ import annotations

import hashlib

import pytest

from docsvc.services.intake import DONE, ERROR, IntakeFolder, IntakeWatcher
from tests.conftest import poll_until

CONTRACT = (
    "甲方：大连港集团有限公司\n乙方：大连华信计算机技术股份有限公司\n"
    "第一条 服务内容：乙方提供信息系统运维服务。\n第二条 合同期限一年。"
).encode()


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def tick(self, seconds: float = 5.0) -> None:
        self.now += seconds


@pytest.fixture
def intake(svc, tmp_path):
    clock = Clock()
    folder = IntakeFolder(tmp_path / "intake", svc.importer, settle_s=2.0, clock=clock)
    return folder, clock


def _scan_settled(folder, clock):
    first = folder.scan()
    clock.tick()
    return first, folder.scan()


def test_dropped_file_is_archived_with_suggested_labels_and_moved(svc, intake):
    folder, clock = intake
    (folder.folder / "运维服务合同.txt").write_bytes(CONTRACT)
    first, second = _scan_settled(folder, clock)
    assert first.waiting == 1 and not first.archived  # seen once: not settled yet
    [item] = second.archived
    doc = svc.archive.document(item.document_id)
    assert doc.metadata.title == "运维服务合同" and doc.metadata.doc_type == "contract"
    assert doc.metadata.service_category.value == "4.2"
    assert svc.catalog.suggestions(document_id=doc.id)  # labels were suggested, reviewable
    assert (folder.folder / DONE / "运维服务合同.txt").read_bytes() == CONTRACT
    assert folder.candidates() == []


def test_a_file_still_being_written_is_left_until_it_settles(svc, intake):
    folder, clock = intake
    path = folder.folder / "巡检记录.txt"
    with path.open("wb") as f:
        f.write(CONTRACT[:30])
        f.flush()
        folder.scan()
        clock.tick()
        f.write(CONTRACT[30:])  # the copy goes on between two scans
        f.flush()
        assert folder.scan().archived == []
    (folder.folder / "copying.txt.part").write_bytes(b"x")  # a copy tool's temporary name
    clock.tick(1.0)
    assert folder.scan().archived == []  # unchanged, but for less than the settling time
    clock.tick()
    [item] = folder.scan().archived
    version = svc.archive.version(item.document_id)
    assert version.sha256 == hashlib.sha256(CONTRACT).hexdigest()  # the whole file, not a part
    assert (folder.folder / "copying.txt.part").exists()  # never taken


def test_same_content_is_never_imported_twice(svc, intake):
    folder, clock = intake
    (folder.folder / "a.txt").write_bytes(CONTRACT)
    _scan_settled(folder, clock)
    (folder.folder / "a.txt").write_bytes(CONTRACT)  # dropped again, same name and content
    (folder.folder / "b.txt").write_bytes(CONTRACT)  # and under another name
    _, report = _scan_settled(folder, clock)
    assert len(report.duplicates) == 2 and report.archived == []
    assert svc.catalog.counts()["documents"] == 1
    done = sorted(p.name for p in (folder.folder / DONE).iterdir())
    assert done == ["a (1).txt", "a (1).txt.duplicate.txt", "a.txt", "b.txt", "b.txt.duplicate.txt"]


def test_a_failed_file_goes_to_error_with_its_reason(svc, intake):
    folder, clock = intake
    (folder.folder / "合同.docx").write_bytes(b"this is not a Word file")
    (folder.folder / "setup.exe").write_bytes(b"\x7fELF" + b"\x00" * 60)  # not a document at all
    (folder.folder / "合同.docx.meta.json").write_text('{"project": "港口运维二期"}', "utf-8")
    _, report = _scan_settled(folder, clock)
    assert len(report.failed) == 2 and svc.catalog.counts()["documents"] == 0
    assert (folder.folder / ERROR / "setup.exe.error.txt").exists()
    reason = (folder.folder / ERROR / "合同.docx.error.txt").read_text("utf-8").splitlines()
    assert reason[0] and reason[1] and any("\u4e00" <= ch <= "\u9fff" for ch in reason[0])
    assert (folder.folder / ERROR / "合同.docx.meta.json").exists()  # its metadata went with it


def test_a_restart_finishes_what_a_crash_left(svc, intake, tmp_path):
    folder, clock = intake
    path = folder.folder / "合同.txt"
    path.write_bytes(CONTRACT)
    # Archived, then the process died before the move: the file is still in the folder.
    svc.importer.import_files([path], {}, actor="intake")
    again = IntakeFolder(folder.folder, svc.importer, settle_s=2.0, clock=clock)  # a new process
    _, report = _scan_settled(again, clock)
    assert len(report.duplicates) == 1 and svc.catalog.counts()["documents"] == 1
    assert not path.exists() and (folder.folder / DONE / "合同.txt").exists()


def test_two_watchers_of_one_folder_never_take_the_same_file(svc, intake):
    """Every server may watch the folder: while one scans (holds the folder's lock), another's
    round is left to it, so a file is archived once and moved once."""
    folder, clock = intake
    other = IntakeFolder(folder.folder, svc.importer, settle_s=2.0, clock=clock)  # another server
    (folder.folder / "合同.txt").write_bytes(CONTRACT)
    other.scan()
    clock.tick()
    with folder._locked() as held:  # the first watcher is in the middle of a scan
        assert held
        busy = other.scan()
    assert busy.busy and not busy.archived and svc.catalog.counts()["documents"] == 0
    assert (folder.folder / "合同.txt").exists()
    assert len(other.scan().archived) == 1  # the lock is free again
    assert svc.catalog.counts()["documents"] == 1 and (folder.folder / DONE / "合同.txt").exists()


def test_the_server_watcher_archives_in_the_background_and_counts(svc, tmp_path, caplog):
    folder = IntakeFolder(tmp_path / "intake", svc.importer, settle_s=0.05)
    watcher = IntakeWatcher(folder, interval_s=0.1)
    (folder.folder / "运维服务合同.txt").write_bytes(CONTRACT)
    (folder.folder / "坏.docx").write_bytes(b"not a Word file")
    caplog.set_level("INFO", logger="docsvc.services.intake")
    watcher.start()
    try:
        poll_until(lambda: watcher.status()["archived"] == 1 and watcher.status()["failed"] == 1, "the watcher")
    finally:
        watcher.stop()
    status = watcher.status()
    assert status["folder"] == str(folder.folder) and status["last_scan"] and not status["last_error"]
    assert not status["running"]  # stopped
    assert (folder.folder / DONE / "运维服务合同.txt").exists() and (folder.folder / ERROR / "坏.docx").exists()
    logged = caplog.text
    assert "运维服务合同.txt archived as document 1" in logged and "坏.docx refused" in logged
    assert "甲方" not in logged  # file names, never document text


def test_docsvc_watch_once(config, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from docsvc.cli import cli

    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "收件"
    env = {
        "DOCSVC_ARCHIVE_DIR": config["ARCHIVE_DIR"],
        "DOCSVC_INDEX_DIR": config["INDEX_DIR"],
        "DOCSVC_DATABASE_URL": config["DATABASE_URL"],
        "DOCSVC_TEMPLATES_DIR": config["TEMPLATES_DIR"],
        "DOCSVC_INTAKE_DIR": str(folder),
    }
    runner = CliRunner()
    assert runner.invoke(cli, ["init"], env=env).exit_code == 0
    folder.mkdir()
    (folder / "运维服务合同.txt").write_bytes(CONTRACT)
    (folder / "坏.docx").write_bytes(b"not a Word file")
    out = runner.invoke(cli, ["watch", "--once", "--interval", "0.2"], env=env, catch_exceptions=False)
    assert out.exit_code == 0, out.output
    assert "已归档 archived  运维服务合同.txt → 文档 1" in out.output and "失败 failed  坏.docx" in out.output
    assert (folder / "done" / "运维服务合同.txt").exists() and (folder / "error" / "坏.docx.error.txt").exists()
    no_folder = runner.invoke(cli, ["watch", "--once"], env={**env, "DOCSVC_INTAKE_DIR": ""})
    assert no_folder.exit_code == 2 and "DOCSVC_INTAKE_DIR" in no_folder.output
