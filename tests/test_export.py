"""Audit bundles: contents, offline verification in a separate interpreter, tamper detection, CLI."""

from __future__ import annotations

import datetime as dt
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from docsvc.cli import cli
from docsvc.errors import Forbidden, InvalidInput
from docsvc.services.export import BundleScope
from docsvc.services.users import Principal, Role
from tests.conftest import add

AUDITOR = Principal("审计员小周", Role.AUDITOR, via="test")


def bundle(svc, scope: BundleScope, principal: Principal = AUDITOR) -> tuple[bytes, object]:
    out = io.BytesIO()
    summary = svc.guard(principal).export_bundle(scope, out)
    return out.getvalue(), summary


def verify(path: Path) -> subprocess.CompletedProcess:
    """Run the bundle's own verify_bundle.py on the zip in a separate, isolated interpreter (-I: no
    docsvc on the path), as an auditor would on their own machine."""
    with zipfile.ZipFile(path) as zf:
        (path.parent / "verify_bundle.py").write_bytes(zf.read("verify_bundle.py"))
    return subprocess.run(
        [sys.executable, "-I", str(path.parent / "verify_bundle.py"), str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def rewrite(src: Path, dst: Path, change) -> None:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            zout.writestr(info, change(info.filename, zin.read(info.filename)))


@pytest.fixture
def history(svc):
    r = add(svc, "服务等级协议：可用性 99.9%。".encode(), "SLA.txt", doc_type="sla")
    svc.archive.add_version(
        r.document.id, "服务等级协议：可用性 99.95%。".encode(), "SLA v2.txt", actor="李娜", reason="提高可用性目标"
    )
    svc.archive.set_metadata(r.document.id, {"status": "effective"}, actor="李娜", reason="签署")
    add(svc, b"another document", "other.txt")
    return r.document


def test_document_bundle_verifies_offline(svc, history, tmp_path):
    data, summary = bundle(svc, BundleScope(document_id=history.id))
    assert (summary.documents, summary.versions, summary.audit_entries) == (1, 2, 4)
    path = tmp_path / summary.filename
    path.write_bytes(data)
    with zipfile.ZipFile(path) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        receipt = json.loads(zf.read("receipt.json"))
        assert zf.read(f"documents/{history.id}/v2.txt") == "服务等级协议：可用性 99.95%。".encode()
        versions = json.loads(zf.read(f"documents/{history.id}/versions.json"))
        assert versions[1]["reason"] == "提高可用性目标" and versions[1]["original_filename"] == "SLA v2.txt"
        assert json.loads(zf.read(f"documents/{history.id}/metadata.json"))["status"] == "effective"
        lines = zf.read("audit/entries.jsonl").decode().splitlines()
        assert [json.loads(x)["action"] for x in lines] == [
            "document.created",
            "version.added",
            "version.added",
            "metadata.changed",
        ]
        assert all(not n.startswith(("/", "..")) and ".." not in n for n in zf.namelist())
    assert manifest["audit"]["contiguous"] is False and manifest["scope"]["document_id"] == history.id
    assert receipt["action"] == "exported" and receipt["actor"] == "审计员小周"
    assert receipt["details"]["manifest_sha256"] == summary.manifest_sha256
    # The export is in the live chain, which still verifies.
    last = list(svc.catalog.audit_entries())[-1]
    assert last.hash == receipt["hash"] and svc.verify_audit().ok

    result = verify(path)
    assert result.returncode == 0 and "OK" in result.stdout, result.stdout + result.stderr
    # And from an unpacked folder, run from inside it.
    folder = tmp_path / "unpacked"
    with zipfile.ZipFile(path) as zf:
        zf.extractall(folder)
    result = subprocess.run([sys.executable, "-I", "verify_bundle.py"], cwd=folder, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize(
    "target,change,expect",
    [
        ("v1.txt", lambda b: b.replace(b"99.9", b"99.0"), "hash mismatch"),
        ("entries.jsonl", lambda b: b.replace("提高可用性目标".encode(), "降低可用性目标".encode()), "altered"),
        ("entries.jsonl", lambda b: b"".join(b.splitlines(keepends=True)[:-1]), "count differs"),
        (
            "manifest.json",
            lambda b: b.replace(b'"contiguous": false', b'"contiguous": true '),
            "receipt.json does not name",
        ),
        ("receipt.json", lambda b: b.replace("审计员小周".encode(), b"someone"), "receipt.json was altered"),
    ],
)
def test_tampering_is_detected(svc, history, tmp_path, target, change, expect):
    data, _summary = bundle(svc, BundleScope(document_id=history.id))
    good = tmp_path / "good.zip"
    good.write_bytes(data)
    bad = tmp_path / "bad.zip"
    rewrite(good, bad, lambda name, b: change(b) if name.endswith(target) else b)
    result = verify(bad)
    assert result.returncode == 1 and "FAILED" in result.stdout and expect in result.stdout, result.stdout


def test_extra_file_is_detected(svc, history, tmp_path):
    data, _ = bundle(svc, BundleScope(document_id=history.id))
    path = tmp_path / "b.zip"
    path.write_bytes(data)
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr("documents/evil.txt", b"planted")
    result = verify(path)
    assert result.returncode == 1 and "not in the manifest" in result.stdout


def test_date_range_bundle_is_a_contiguous_segment(svc, history, tmp_path):
    today = dt.datetime.now(dt.UTC).date()
    data, summary = bundle(svc, BundleScope(since=today, until=today))
    assert summary.documents == 2 and summary.versions == 3
    path = tmp_path / "range.zip"
    path.write_bytes(data)
    with zipfile.ZipFile(path) as zf:
        seqs = [json.loads(x)["seq"] for x in zf.read("audit/entries.jsonl").decode().splitlines()]
    assert seqs == list(range(1, len(seqs) + 1))
    assert verify(path).returncode == 0
    # Dropping an entry from the middle of a contiguous segment is caught even with a fixed-up count.
    bad = tmp_path / "gap.zip"

    def drop_second(name, b):
        if name.endswith("entries.jsonl"):
            lines = b.splitlines(keepends=True)
            return b"".join(lines[:1] + lines[2:])
        return b

    rewrite(path, bad, drop_second)
    out = verify(bad).stdout
    assert "missing between 1 and 3" in out
    _empty, summary = bundle(svc, BundleScope(since=dt.date(2000, 1, 1), until=dt.date(2000, 1, 2)))
    assert summary.versions == 0 and summary.audit_entries == 0


@pytest.mark.parametrize(
    "scope,field",
    [
        (BundleScope(), "since"),
        (BundleScope(since=dt.date(2026, 1, 1)), "since"),
        (BundleScope(since=dt.date(2026, 2, 1), until=dt.date(2026, 1, 1)), "until"),
    ],
)
def test_scope_must_be_complete(svc, scope, field):
    with pytest.raises(InvalidInput) as exc:
        bundle(svc, scope)
    assert exc.value.field == field


def test_only_audit_roles_export(svc, history):
    with pytest.raises(Forbidden):
        bundle(svc, BundleScope(document_id=history.id), Principal("m", Role.MEMBER, frozenset({"港口运维二期"})))
    assert list(svc.catalog.audit_entries())[-1].action == "access.denied"


def test_cli_audit_export(svc, history, config, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    env = {
        "DOCSVC_ARCHIVE_DIR": config["ARCHIVE_DIR"],
        "DOCSVC_INDEX_DIR": config["INDEX_DIR"],
        "DOCSVC_DATABASE_URL": config["DATABASE_URL"],
        "DOCSVC_ACTOR": "ops",
    }
    runner = CliRunner()
    out = tmp_path / "bundle.zip"
    result = runner.invoke(cli, ["audit", "export", "--doc", str(history.id), "-o", str(out)], env=env)
    assert result.exit_code == 0, result.output + result.stderr
    assert "manifest.json SHA-256" in result.output and verify(out).returncode == 0
    today = dt.datetime.now(dt.UTC).date().isoformat()
    result = runner.invoke(
        cli, ["audit", "export", "--since", today, "--until", today, "-o", str(out), "--json"], env=env
    )
    assert json.loads(result.output)["documents"] == 2
    result = runner.invoke(cli, ["audit", "export", "-o", str(out)], env=env)
    assert result.exit_code == 2 and "起止日期" in result.stderr
    result = runner.invoke(cli, ["audit", "export", "--doc", "999", "-o", str(out)], env=env)
    assert result.exit_code == 2
