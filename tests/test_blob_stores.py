"""The blob-store contract (docsvc.core.blobs.BlobStore): every engine passes the same tests.

Engines: the local folder and an S3-compatible object store (a moto S3 server on loopback,
reached over HTTP like any other S3 store). Each engine's fixture also says how to damage a
stored blob from outside, as bit rot or an intruder would.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from unittest import mock

import botocore.exceptions as bex
import pytest

from docsvc.adapters.blobstore import LocalBlobStore
from docsvc.adapters.s3_blobstore import S3BlobStore
from docsvc.core.blobs import BlobStore
from docsvc.errors import Corrupted, InvalidInput, NotFound, StorageError, Unavailable

MiB = 1024 * 1024


@dataclass
class Engine:
    store: BlobStore
    overwrite: Callable[[str, bytes], None]  # replace a stored blob's bytes behind the store's back
    delete: Callable[[str], None]


def _local(tmp_path) -> Engine:
    store = LocalBlobStore(tmp_path / "archive", fsync=False)
    store.init()

    def overwrite(sha: str, data: bytes) -> None:
        path = store.path(sha)
        os.chmod(path, 0o644)
        path.write_bytes(data)

    return Engine(store, overwrite, lambda sha: store.path(sha).unlink())


def _s3(server, **kwargs) -> Engine:
    bucket = server.new_bucket()
    store = S3BlobStore(f"s3://{bucket}/某公司/archive", endpoint_url=server.endpoint, timeout_s=2, **kwargs)
    store.init()
    client = server.client()

    def overwrite(sha: str, data: bytes) -> None:
        client.put_object(Bucket=bucket, Key=store.key(sha), Body=data)

    return Engine(store, overwrite, lambda sha: client.delete_object(Bucket=bucket, Key=store.key(sha)))


@pytest.fixture(params=["local", "s3"])
def engine(request, tmp_path) -> Engine:
    if request.param == "local":
        return _local(tmp_path)
    # Small parts so that a 12 MiB blob goes up in three parts, as a 50 MiB upload would.
    return _s3(request.getfixturevalue("s3_server"), multipart_threshold=5 * MiB, part_size=5 * MiB)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_a_blob_is_stored_under_its_hash_and_read_back_exactly(engine):
    store = engine.store
    data = "服务级别协议：故障响应时间不超过 30 分钟。".encode() + bytes(range(256))
    first = store.put(data)
    assert (first.sha256, first.size, first.created) == (sha(data), len(data), True)
    assert store.read(first.sha256) == data
    assert store.exists(first.sha256) and store.hash_of(first.sha256) == first.sha256
    again = store.put(data)
    assert again.sha256 == first.sha256 and not again.created
    assert [(b.sha256, b.size) for b in store.iter_blobs()] == [(first.sha256, len(data))]


def test_empty_and_large_blobs(engine):
    store = engine.store
    empty = store.put(b"")
    big = os.urandom(12 * MiB + 123)  # a multipart upload on S3
    stored = store.put(big)
    assert store.read(empty.sha256) == b"" and store.read(stored.sha256) == big
    assert stored.size == len(big) and store.hash_of(stored.sha256) == sha(big)
    assert sorted(b.sha256 for b in store.iter_blobs()) == sorted([empty.sha256, stored.sha256])
    assert store.leftovers() == []


def test_listing_and_removal(engine):
    store = engine.store
    hashes = {store.put(f"第 {i} 份".encode()).sha256 for i in range(5)}
    listed = {b.sha256: b for b in store.iter_blobs()}
    assert set(listed) == hashes and all(b.age_s >= 0 for b in listed.values())
    victim = sorted(hashes)[0]
    store.remove(victim)
    store.remove(victim)  # removing what is gone is harmless
    assert not store.exists(victim) and {b.sha256 for b in store.iter_blobs()} == hashes - {victim}


@pytest.mark.parametrize("name", ["../../etc/passwd", "0" * 63, "A" * 64, "0" * 64 + "/x", ""])
def test_names_that_are_not_hashes_are_refused(engine, name):
    with pytest.raises(NotFound):
        engine.store.read(name)
    with pytest.raises(NotFound):
        engine.store.exists(name)


def test_a_missing_blob_is_not_found(engine):
    with pytest.raises(NotFound) as err:
        engine.store.read("0" * 64)
    assert "docsvc check" in err.value.en and err.value.zh
    assert not engine.store.exists("0" * 64)
    with pytest.raises(NotFound):
        engine.store.hash_of("0" * 64)


def test_damage_is_seen_by_rehashing(engine):
    data = "验收报告".encode() * 100
    stored = engine.store.put(data)
    engine.overwrite(stored.sha256, data[:-1] + b"!")
    assert engine.store.hash_of(stored.sha256) != stored.sha256
    with pytest.raises(Corrupted) as err:  # damaged bytes are never handed out
        engine.store.read(stored.sha256)
    assert err.value.details == {"sha256": stored.sha256} and "docsvc check" in err.value.en


def test_concurrent_writers_of_the_same_content_store_one_blob(engine):
    data = "并发上传同一份合同".encode() * 1000
    results, errors = [], []

    def put() -> None:
        try:
            results.append(engine.store.put(data))
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=put) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and {r.sha256 for r in results} == {sha(data)}
    assert [b.sha256 for b in engine.store.iter_blobs()] == [sha(data)]
    assert engine.store.read(sha(data)) == data


# -- engine-specific behaviour ----------------------------------------------------------------


def test_s3_upload_interrupted_midway_leaves_a_leftover_that_gc_can_remove(s3_server):
    engine = _s3(s3_server, multipart_threshold=5 * MiB, part_size=5 * MiB)
    store = engine.store
    real_upload = store.client.upload_part
    calls = []

    def flaky(**kwargs):
        calls.append(kwargs["PartNumber"])
        if kwargs["PartNumber"] == 2:
            raise bex.ConnectionClosedError(endpoint_url="http://store")
        return real_upload(**kwargs)

    data = os.urandom(11 * MiB)
    with (
        mock.patch.object(store.client, "upload_part", side_effect=flaky),
        mock.patch.object(
            store.client, "abort_multipart_upload", side_effect=bex.ConnectionClosedError(endpoint_url="http://store")
        ),
    ):
        with pytest.raises(Unavailable):
            store.put(data)
    assert calls == [1, 2]
    assert not store.exists(sha(data)) and list(store.iter_blobs()) == []
    leftovers = store.leftovers()
    assert len(leftovers) == 1 and sha(data) in leftovers[0].name
    store.remove_leftover(leftovers[0].name)
    assert store.leftovers() == []
    assert store.put(data).created and store.read(sha(data)) == data  # and a retry succeeds


def test_s3_a_damaged_object_of_another_length_is_not_taken_for_the_new_upload(s3_server):
    engine = _s3(s3_server)
    data = "变更记录".encode() * 50
    stored = engine.store.put(data)
    engine.overwrite(stored.sha256, b"truncated")
    with pytest.raises(StorageError) as err:
        engine.store.put(data)
    assert "docsvc check" in err.value.en


def test_s3_store_down_is_unavailable_and_comes_back(own_s3_server):
    engine = _s3(own_s3_server)
    store = engine.store
    kept = store.put(b"before the outage")
    own_s3_server.stop()
    with pytest.raises(Unavailable) as err:
        store.put(b"during the outage")
    assert "对象存储" in err.value.zh and "nothing was recorded" in err.value.en
    with pytest.raises(Unavailable):
        store.read(kept.sha256)
    own_s3_server.start()
    assert store.read(kept.sha256) == b"before the outage"
    assert store.put(b"after the outage").created


def test_s3_wrong_credentials_say_what_to_fix(s3_server, monkeypatch):
    store = S3BlobStore(f"s3://{s3_server.new_bucket()}/x", endpoint_url=s3_server.endpoint)
    denied = {"Error": {"Code": "InvalidAccessKeyId", "Message": "no such key"}}
    with mock.patch.object(store.client, "put_object", side_effect=bex.ClientError(denied, "PutObject")):
        with pytest.raises(StorageError) as err:
            store.put(b"x")
    assert "InvalidAccessKeyId" in err.value.en and "DOCSVC_BLOB_URL" in err.value.en


def test_a_missing_bucket_is_a_clear_storage_error(s3_server):
    store = S3BlobStore("s3://docsvc-no-such-bucket/x", endpoint_url=s3_server.endpoint)
    with pytest.raises(StorageError) as err:
        store.put(b"x")
    assert "NoSuchBucket" in err.value.en and err.value.zh


@pytest.mark.parametrize("url", ["s3:/", "s3://", "http://bucket/x", "s3://bucket/x?versionId=1"])
def test_bad_store_urls_are_refused(url):
    with pytest.raises(InvalidInput) as err:
        S3BlobStore(url)
    assert err.value.field == "DOCSVC_BLOB_URL"


def test_s3_bytes_the_store_damaged_silently_are_caught_before_put_returns(s3_server):
    """A store that does not check checksums and stores something else is caught by the read-back."""
    store = _s3(s3_server).store
    real_put = store.client.put_object

    def damaging(**kwargs):
        kwargs.pop("ChecksumSHA256")
        return real_put(**{**kwargs, "Body": kwargs["Body"][:-1] + b"?"})

    with mock.patch.object(store.client, "put_object", side_effect=damaging):
        with pytest.raises(StorageError) as err:
            store.put("服务报告".encode() * 10)
    assert "nothing was recorded" in err.value.en
    assert list(store.iter_blobs()) == []  # the bad object is gone, so a retry stores the real bytes
    stored = store.put("服务报告".encode() * 10)
    assert stored.created and store.hash_of(stored.sha256) == stored.sha256


def test_s3_a_store_that_confirms_the_checksum_is_not_read_back(s3_server):
    """AWS S3 and MinIO check x-amz-checksum-sha256 and echo it: that is the verification."""
    store = _s3(s3_server).store
    real_put, reads = store.client.put_object, []

    def confirming(**kwargs):
        return {**real_put(**kwargs), "ChecksumSHA256": kwargs["ChecksumSHA256"]}

    with (
        mock.patch.object(store.client, "put_object", side_effect=confirming),
        mock.patch.object(store.client, "get_object", side_effect=lambda **kw: reads.append(kw)),
    ):
        stored = store.put("服务报告".encode() * 10)
    assert stored.created and reads == []
    assert store.read(stored.sha256) == "服务报告".encode() * 10
