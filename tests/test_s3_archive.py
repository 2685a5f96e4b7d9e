"""The archive's guarantees with its blobs in an S3-compatible object store (DOCSVC_BLOB_URL=s3://…),
on SQLite and PostgreSQL catalogs: every version verified before it is recorded and before it is
served, `docsvc check` and `docsvc gc` over the bucket, and a store that is down answers 503
with nothing half-recorded."""

from __future__ import annotations

import io

import pytest
from click.testing import CliRunner

from docsvc.app import open_docsvc
from docsvc.cli import cli
from docsvc.errors import Corrupted, InvalidInput, Unavailable
from docsvc.web.factory import create_app
from tests.conftest import META, add
from tests.webutil import PASSWORD, err

MiB = 1024 * 1024


@pytest.fixture
def s3svc(s3_config):
    s = open_docsvc(s3_config)
    yield s
    s.close()


def _objects(svc) -> list[str]:
    return sorted(b.sha256 for b in svc.blobs.iter_blobs())


def test_versions_live_in_the_bucket_and_nothing_in_the_local_folder(s3svc, s3_config, tmp_path):
    r = add(s3svc)
    r2 = s3svc.archive.add_version(
        r.document.id, "合同正文：第二版，响应时间 15 分钟。".encode(), "合同.txt", actor="张伟", reason="修订响应时间"
    )
    assert _objects(s3svc) == sorted({r.version.sha256, r2.version.sha256})
    assert not (tmp_path / "archive" / "blobs").exists() or not any((tmp_path / "archive" / "blobs").rglob("*/*"))
    version, data = s3svc.archive.read_version(r.document.id, 1, actor="审计员")
    assert data == "合同正文：乙方提供7×24小时运维服务。".encode() and version.number == 1
    report = s3svc.check()
    assert report.ok and report.problems == [] and report.stats["blobs_verified"] == 2


@pytest.mark.sqlite_only
@pytest.mark.slow  # sends tens of MB through the S3 server: seconds
def test_a_large_upload_goes_up_in_parts(s3_config):
    svc = open_docsvc({**s3_config, "MAX_UPLOAD_BYTES": 40 * MiB})
    try:
        data = ("项目周报。" * 1_400_000).encode()  # ~21 MiB of text: past the multipart threshold
        r = svc.archive.add_document(data, "周报.txt", META, actor="张伟")
        assert svc.archive.read_version(r.document.id, actor="a")[1] == data
        assert svc.blobs.leftovers() == [] and svc.check().ok
    finally:
        svc.close()


def test_a_damaged_object_is_refused_and_reported(s3svc, s3_server):
    r = add(s3svc)
    bucket = s3svc.blobs.bucket
    s3_server.client().put_object(Bucket=bucket, Key=s3svc.blobs.key(r.version.sha256), Body=b"tampered")
    with pytest.raises(Corrupted):
        s3svc.archive.read_version(r.document.id, actor="a")
    kinds = sorted(p.kind.value for p in s3svc.check().problems)
    assert kinds == ["checksum_mismatch", "size_mismatch"]


def test_a_missing_object_is_reported(s3svc, s3_server):
    r = add(s3svc)
    s3_server.client().delete_object(Bucket=s3svc.blobs.bucket, Key=s3svc.blobs.key(r.version.sha256))
    report = s3svc.check()
    assert not report.ok and [p.kind.value for p in report.problems] == ["missing_blob"]


def test_gc_removes_orphans_in_the_bucket(s3svc):
    kept = add(s3svc)
    orphan = s3svc.blobs.put("上传中断留下的文件".encode())
    assert [p.kind.value for p in s3svc.check().problems] == ["orphan_blob"]
    assert s3svc.gc(grace_s=3600) == []  # young orphans may belong to a write in flight
    assert s3svc.gc(grace_s=0) == [orphan.sha256]
    assert _objects(s3svc) == [kept.version.sha256] and s3svc.check().problems == []


@pytest.mark.slow
def test_store_down_records_nothing_and_answers_503(config, own_s3_server):
    bucket = own_s3_server.new_bucket()
    app = create_app(
        {
            **config,
            "BLOB_URL": f"s3://{bucket}/a",
            "S3_ENDPOINT_URL": own_s3_server.endpoint,
            "BLOB_TIMEOUT_S": 1,
            "TESTING": True,
            "FSYNC": False,
        }
    )
    svc = app.extensions["docsvc"]
    try:
        svc.users.create_user("wang", "drafter", actor="setup", password=PASSWORD)
        svc.users.create_user("admin-ops", "admin", actor="setup", password=PASSWORD)
        token = svc.users.issue_token("wang", actor="setup", name="t").secret
        client = app.test_client()
        client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
        kept = add(svc)
        before = svc.catalog.counts()
        own_s3_server.stop()

        resp = client.post(
            "/api/v1/documents",
            data={**META, "file": (io.BytesIO(b"outage"), "outage.txt")},
            content_type="multipart/form-data",
        )
        e = err(resp, 503, "unavailable")
        assert "对象存储" in e["message"] and "object store" in e["message_en"]
        assert resp.headers["Retry-After"]
        err(client.get(f"/api/v1/documents/{kept.document.id}/versions/1/content"), 503, "unavailable")
        with pytest.raises(Unavailable):
            add(svc, b"CLI write during the outage")
        assert svc.catalog.counts() == before and svc.verify_audit().ok

        health = svc.guard(svc.users.principal_for_cli("admin-ops")).health()
        assert not health.ok and health.blobs["kind"] == "s3" and not health.blobs["ok"]
        assert "unavailable" in health.blobs["error"]

        own_s3_server.start()
        health = svc.guard(svc.users.principal_for_cli("admin-ops")).health()
        assert health.ok and health.blobs == {"kind": "s3", "location": svc.blobs.location, "ok": True}
        resp = client.post(
            "/api/v1/documents",
            data={**META, "file": (io.BytesIO(b"after"), "after.txt")},
            content_type="multipart/form-data",
        )
        assert resp.status_code == 201, resp.data[:300]
        assert client.get(f"/api/v1/documents/{kept.document.id}/versions/1/content").status_code == 200
        assert svc.check().ok
    finally:
        svc.close()


def test_an_unknown_store_url_is_refused_before_anything_starts(config):
    with pytest.raises(InvalidInput) as e:
        open_docsvc({**config, "BLOB_URL": "ftp://files/archive"})
    assert e.value.field == "DOCSVC_BLOB_URL" and "s3://" in e.value.en


def test_cli_check_over_the_bucket(s3_config, monkeypatch):
    for key, value in s3_config.items():
        monkeypatch.setenv(f"DOCSVC_{key}", value)
    svc = open_docsvc(s3_config)
    try:
        add(svc)
    finally:
        svc.close()
    result = CliRunner().invoke(cli, ["check"])
    assert result.exit_code == 0, result.output


def test_blobs_migrate_copies_a_local_archive_into_the_bucket_resumably(config, s3_server, monkeypatch):
    for key, value in config.items():
        monkeypatch.setenv(f"DOCSVC_{key}", value)
    monkeypatch.setenv("DOCSVC_S3_ENDPOINT_URL", s3_server.endpoint)
    local = open_docsvc(config)
    docs = [add(local, f"第 {i} 份运维月报：本月完成巡检 {i} 次。".encode(), f"月报{i}.txt") for i in range(4)]
    damaged = add(local, "将被损坏的文件".encode(), "损坏.txt")
    local.close()
    path = local.blobs.path(damaged.version.sha256)
    path.chmod(0o644)
    path.write_bytes(b"bit rot")

    url = f"s3://{s3_server.new_bucket()}/迁移"
    result = CliRunner().invoke(cli, ["blobs", "migrate", "--to", url, "--json"])
    assert result.exit_code == 1, result.output  # one damaged blob is reported, not copied
    import json

    report = json.loads(result.stdout)
    assert (report["copied"], report["present"]) == (4, 0)
    assert [p["kind"] for p in report["problems"]] == ["checksum_mismatch"]

    # An interrupted run is resumed: only what the bucket lacks is copied.
    moved = open_docsvc({**config, "BLOB_URL": url, "S3_ENDPOINT_URL": s3_server.endpoint})
    try:
        moved.blobs.remove(docs[0].version.sha256)
        local.blobs.path(damaged.version.sha256).unlink()  # restore from "backup":
        local.blobs.put("将被损坏的文件".encode())
        again = CliRunner().invoke(cli, ["blobs", "migrate", "--to", url])
        assert again.exit_code == 0, again.output
        assert "已复制 2 个文件，目标中已有 3 个" in again.output and "DOCSVC_BLOB_URL" in again.output
        for r in [*docs, damaged]:
            assert moved.archive.read_version(r.document.id, actor="a")[1] == local.blobs.read(r.version.sha256)
        assert moved.check().ok
    finally:
        moved.close()


def test_blobs_migrate_refuses_a_bad_target(config, monkeypatch):
    for key, value in config.items():
        monkeypatch.setenv(f"DOCSVC_{key}", value)
    result = CliRunner().invoke(cli, ["blobs", "migrate", "--to", "s3://"])
    assert result.exit_code == 2 and "s3://" in result.output


def test_a_new_installation_on_s3_keeps_its_default_catalog_in_the_archive_folder(tmp_path, s3_server):
    (tmp_path / "no-templates").mkdir()
    svc = open_docsvc(
        {
            "ARCHIVE_DIR": str(tmp_path / "new" / "archive"),
            "INDEX_DIR": str(tmp_path / "new" / "index"),
            "TEMPLATES_DIR": str(tmp_path / "no-templates"),
            "BLOB_URL": f"s3://{s3_server.new_bucket()}/",
            "S3_ENDPOINT_URL": s3_server.endpoint,
        }
    )
    try:
        r = add(svc)
        assert (tmp_path / "new" / "archive" / "catalog.sqlite3").is_file()
        assert svc.archive.read_version(r.document.id, actor="a")[0].number == 1
    finally:
        svc.close()


def test_blobs_migrate_into_another_folder(config, tmp_path, monkeypatch):
    for key, value in config.items():
        monkeypatch.setenv(f"DOCSVC_{key}", value)
    svc = open_docsvc(config)
    r = add(svc)
    svc.close()
    target = tmp_path / "新的归档盘"
    result = CliRunner().invoke(cli, ["blobs", "migrate", "--to", f"file://{target}"])
    assert result.exit_code == 0, result.output
    moved = open_docsvc({**config, "BLOB_URL": f"file://{target}"})
    try:
        assert (
            moved.archive.read_version(r.document.id, actor="a")[1] == "合同正文：乙方提供7×24小时运维服务。".encode()
        )
        assert moved.check().ok
    finally:
        moved.close()
    same = CliRunner().invoke(cli, ["blobs", "migrate", "--to", f"file://{tmp_path / 'archive'}"])
    assert same.exit_code == 2 and "nothing to migrate" in same.output
