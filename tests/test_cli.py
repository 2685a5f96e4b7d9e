"""The CLI end to end, through click's runner against a real archive and catalog."""

from __future__ import annotations

import csv
import io
import json

import pytest
from click.testing import CliRunner

from docsvc.cli import cli


@pytest.fixture
def run(config, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    env = {
        "DOCSVC_ARCHIVE_DIR": config["ARCHIVE_DIR"],
        "DOCSVC_INDEX_DIR": config["INDEX_DIR"],
        "DOCSVC_DATABASE_URL": config["DATABASE_URL"],
        "DOCSVC_ACTOR": "张伟",
        "DOCSVC_TEMPLATES_DIR": config["TEMPLATES_DIR"],
    }
    runner = CliRunner()

    def invoke(*args: str, ok: bool = True):
        result = runner.invoke(cli, list(args), env=env, catch_exceptions=False)
        if ok:
            assert result.exit_code == 0, result.output + result.stderr
        return result

    return invoke


@pytest.fixture
def sample(tmp_path):
    p = tmp_path / "运维服务合同.txt"
    p.write_text("甲方：大连港集团有限公司\n乙方：大连华信计算机技术股份有限公司\n服务内容：7×24 小时运维。", "utf-8")
    return p


def test_full_lifecycle(run, sample, tmp_path):
    first = run("init").output
    assert "就绪" in first and "username: admin" in first  # the first init makes the administrator
    second = run("init").output
    assert "就绪" in second and "admin" not in second  # running it twice is harmless
    out = json.loads(
        run(
            "doc",
            "add",
            str(sample),
            "--type",
            "contract",
            "--category",
            "4.2",
            "--class",
            "user",
            "--project",
            "港口运维二期",
            "--counterparty",
            "大连港集团",
            "--tag",
            "运维",
            "--tag",
            "合同",
            "--review-due",
            "2027-06-30",
            "--json",
        ).output
    )
    doc_id = out["document"]["id"]
    assert out["document"]["title"] == "运维服务合同" and out["document"]["tags"] == ["运维", "合同"]
    assert out["version"]["original_filename"] == "运维服务合同.txt"

    v2 = tmp_path / "v2.txt"
    v2.write_text("第二版：增加驻场工程师两名。", "utf-8")
    assert "第 2 版" in run("doc", "version", str(doc_id), str(v2), "--reason", "增加驻场人员").output
    assert "未新增" in run("doc", "version", str(doc_id), str(v2), "--reason", "重复").output

    shown = json.loads(run("doc", "show", str(doc_id), "--json").output)
    assert [v["number"] for v in shown["versions"]] == [1, 2]
    assert "运营和维护" in run("doc", "show", str(doc_id)).output

    run("doc", "set", str(doc_id), "status=effective", "owner=王芳", "--reason", "签署生效")
    history = json.loads(run("doc", "history", str(doc_id), "--json").output)
    assert [e["action"] for e in history["events"]] == [
        "document.created",
        "version.added",
        "version.added",
        "metadata.changed",
    ]
    assert "增加驻场人员" in run("doc", "history", str(doc_id)).output

    out1 = tmp_path / "v1.out"
    run("doc", "get", str(doc_id), "--version", "1", "-o", str(out1))
    assert out1.read_bytes() == sample.read_bytes()
    run("doc", "get", str(doc_id), "-o", str(tmp_path))
    assert (tmp_path / "v2.txt").read_bytes() == v2.read_bytes()

    listed = json.loads(run("doc", "list", "--type", "contract", "--status", "effective", "--json").output)
    assert listed["total"] == 1
    assert "共 0 份" in run("doc", "list", "--type", "sla").output

    assert "完整" in run("audit", "verify").output
    log = json.loads(run("audit", "log", "--doc", str(doc_id), "--format", "json").output)
    assert log[-1]["action"] == "version.downloaded" and log[-1]["actor"] == "张伟"
    rows = list(csv.DictReader(io.StringIO(run("audit", "log", "--format", "csv", "--since", "2020-01-01").output)))
    assert [r["action"] for r in rows] == ["user.created"] + [e["action"] for e in log]
    assert json.loads(run("check", "--json").output)["ok"] is True


def test_bad_input_exits_non_zero_with_both_languages(run, sample, tmp_path):
    run("init")
    cases = [
        ("doc", "add", str(sample), "--type", "bogus", "--category", "4.2", "--class", "user"),
        ("doc", "add", str(sample), "--type", "sla", "--category", "9.9", "--class", "user"),
        ("doc", "add", str(sample), "--type", "sla", "--category", "4.2", "--class", "public"),
        ("doc", "add", str(tmp_path / "missing.txt"), "--type", "sla", "--category", "4.2", "--class", "user"),
        ("doc", "add", str(tmp_path), "--type", "sla", "--category", "4.2", "--class", "user"),
        ("doc", "show", "42"),
        ("doc", "get", "42", "-o", str(tmp_path / "x")),
        ("doc", "set", "42", "status=effective"),
        ("audit", "log", "--since", "yesterday"),
        ("audit", "log", "--action", "hack"),
        ("doc", "list", "--sort", "title;drop table documents"),
    ]
    for args in cases:
        result = run(*args, ok=False)
        assert result.exit_code == 2, args
        assert "错误：" in result.stderr and "Error:" in result.stderr, args
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    result = run("doc", "add", str(empty), "--type", "sla", "--category", "4.2", "--class", "user", ok=False)
    assert result.exit_code == 2 and "文件为空" in result.stderr
    assert json.loads(run("doc", "list", "--json").output)["total"] == 0
    # Only the administrator's creation by `init` is in the log: no rejected input left a trace.
    assert json.loads(run("audit", "verify", "--json").output)["checked"] == 1


def test_check_fails_on_damage(run, sample, config):
    import os
    from pathlib import Path

    out = json.loads(
        run("doc", "add", str(sample), "--type", "contract", "--category", "4.2", "--class", "user", "--json").output
    )
    sha = out["version"]["sha256"]
    blob = Path(config["ARCHIVE_DIR"]) / "blobs" / sha[:2] / sha
    os.chmod(blob, 0o644)
    blob.write_bytes(b"tampered")
    result = run("check", ok=False)
    assert result.exit_code == 1 and "校验失败" in result.output
    result = run("doc", "get", str(out["document"]["id"]), "-o", "x.txt", ok=False)
    assert result.exit_code == 3 and not Path("x.txt").exists()


def test_deletion_is_refused(run, sample):
    out = json.loads(
        run("doc", "add", str(sample), "--type", "contract", "--category", "4.2", "--class", "user", "--json").output
    )
    result = run("doc", "delete", str(out["document"]["id"]), "--reason", "不需要了", ok=False)
    assert result.exit_code == 2 and "不可删除" in result.stderr
    log = json.loads(run("audit", "log", "--format", "json").output)
    assert [e["action"] for e in log][-2:] == ["deletion.requested", "deletion.refused"]


def test_settings_markdown(run):
    out = run("settings", "--markdown").output
    assert "`DOCSVC_ARCHIVE_DIR`" in out and "`DOCSVC_DATABASE_URL`" in out
