"""Content-addressed, write-once blobs in an S3-compatible object store (AWS S3, MinIO, Ceph…),
for several servers that share nothing but the catalog database and the bucket.

Layout: ``s3://<bucket>/<prefix>blobs/<sha256[:2]>/<sha256>``, as in the local folder, so a
local archive copies across key for key (``docsvc blobs migrate``). How each of the seam's
promises (docsvc.core.blobs) is kept here:

- *no overwrite*: every write is conditional (``If-None-Match: *``); a key that exists already
  holds the same bytes, since its name is their hash;
- *durable and verified*: the SHA-256 travels with each request. A store that checks it (AWS
  S3, MinIO) refuses damaged bytes and confirms the checksum in its answer; from a store that
  does not confirm it, the object is read back and re-hashed before ``put`` returns. Either
  way a version is recorded only over bytes known to be in the store;
- *interrupted writes*: a single request is atomic; a multipart upload (large files) that
  breaks off is aborted, and one that could not be aborted is a leftover ``docsvc gc`` removes;
- *store down*: timeouts and a few retries, then :class:`Unavailable` (HTTP 503) — never a
  half-recorded version, since the catalog is written only after ``put`` returns.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import time
from collections.abc import Iterator
from typing import Any, Literal
from urllib.parse import urlsplit

import boto3
import botocore.exceptions as bex
import botocore.loaders
import botocore.session
from botocore.config import Config

from docsvc.core.blobs import BlobInfo, Leftover, StoredBlob, check_name, verified
from docsvc.errors import InvalidInput, NotFound, StorageError, Unavailable

MiB = 1024 * 1024
_MISSING = {"NoSuchKey", "404", "NotFound"}
_EXISTS = {"PreconditionFailed", "412"}
# Another writer's conditional write of the same key is in flight; the key will hold our bytes.
_RACING = {"ConditionalRequestConflict", "409"}
_BUSY = {"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "503", "500"}


def parse_url(url: str) -> tuple[str, str]:
    """``s3://bucket/prefix`` → (bucket, "prefix/")."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc or parts.query or parts.fragment:
        raise InvalidInput(
            f"对象存储地址“{url}”无效，应为 s3://存储桶/前缀。",
            f"Object store URL {url!r} is not valid; expected s3://BUCKET/PREFIX.",
            field="DOCSVC_BLOB_URL",
        )
    prefix = parts.path.strip("/")
    return parts.netloc, f"{prefix}/" if prefix else ""


# The S3 service description (a few MB of JSON) read and parsed once per process, not once per
# store: each store keeps a session of its own (credentials, settings), they share what it reads.
_LOADER = botocore.loaders.create_loader()


class S3BlobStore:
    def __init__(
        self,
        url: str,
        *,
        endpoint_url: str = "",
        region: str = "",
        timeout_s: float = 10.0,
        attempts: int = 3,
        multipart_threshold: int = 16 * MiB,
        part_size: int = 8 * MiB,
        max_connections: int = 16,
    ) -> None:
        self.bucket, self.prefix = parse_url(url)
        self.location = f"s3://{self.bucket}/{self.prefix}" + (f" @ {endpoint_url}" if endpoint_url else "")
        self.multipart_threshold = multipart_threshold
        self.part_size = max(part_size, 5 * MiB)  # S3's smallest part but the last
        config = Config(
            connect_timeout=min(timeout_s, 5.0),
            read_timeout=timeout_s,
            retries={"max_attempts": attempts, "mode": "standard"},
            max_pool_connections=max_connections,
            # Path-style addressing is what S3-compatible stores on a host name
            # without wildcard DNS (MinIO, Ceph, a test server) understand.
            s3={"addressing_style": "path" if endpoint_url else "auto"},
        )
        core = botocore.session.get_session()
        core.register_component("data_loader", _LOADER)
        self.client = boto3.session.Session(botocore_session=core).client(
            "s3", endpoint_url=endpoint_url or None, region_name=region or None, config=config
        )

    def key(self, sha256: str) -> str:
        return f"{self.prefix}blobs/{check_name(sha256)[:2]}/{sha256}"

    def init(self) -> None:
        """Nothing to create; a store that is down must not stop a server from starting (its
        requests that need blobs answer 503 until the store is back)."""

    # -- writes ---------------------------------------------------------------------------
    def put(self, data: bytes) -> StoredBlob:
        sha = hashlib.sha256(data).hexdigest()
        key = self.key(sha)
        with _errors("write"):
            existing = None
            if len(data) > self.multipart_threshold:
                existing = self._size(key)  # a large file already there is not sent again
                confirmed = None if existing is not None else self._put_multipart(key, data, sha)
            else:
                confirmed = self._put_single(key, data, sha)
            if confirmed is None:  # the key exists: its name is the hash of the same bytes
                size = existing if existing is not None else self._size(key)
                if size != len(data):  # same name, other length: the stored object is damaged
                    raise _damaged(sha, size)
                return StoredBlob(sha, len(data), created=False)
            if not confirmed:
                self._verify(key, sha, len(data))
        return StoredBlob(sha, len(data), created=True)

    def _put_single(self, key: str, data: bytes, sha: str) -> bool | None:
        """One conditional PUT: True when the store confirms it checked our SHA-256, False when
        it stored the object without saying so, None when the key already existed."""
        checksum = _b64(hashlib.sha256(data).digest())
        resp = self._conditional(
            self.client.put_object,
            Bucket=self.bucket,
            Key=key,
            Body=data,
            ChecksumSHA256=checksum,
            Metadata={"sha256": sha},
            IfNoneMatch="*",
        )
        return None if resp is None else resp.get("ChecksumSHA256") == checksum

    def _conditional(self, call: Any, **kwargs: Any) -> dict | None:
        """Write unless the key exists: the response, or None when the key already existed."""
        for attempt in range(4):
            try:
                return call(**kwargs)
            except bex.ClientError as exc:
                if _code(exc) in _EXISTS:
                    return None
                if _code(exc) not in _RACING or attempt == 3:
                    raise
                time.sleep(0.2 * (attempt + 1))  # the other writer's request finishes first
        raise AssertionError("unreachable")

    def _put_multipart(self, key: str, data: bytes, sha: str) -> bool | None:
        """A multipart upload, each part with its SHA-256; as :meth:`_put_single` answers."""
        upload = self.client.create_multipart_upload(
            Bucket=self.bucket, Key=key, ChecksumAlgorithm="SHA256", Metadata={"sha256": sha}
        )
        upload_id = upload["UploadId"]
        try:
            parts, confirmed = [], True
            for number, start in enumerate(range(0, len(data), self.part_size), 1):
                chunk = data[start : start + self.part_size]
                checksum = _b64(hashlib.sha256(chunk).digest())
                resp = self.client.upload_part(
                    Bucket=self.bucket,
                    Key=key,
                    UploadId=upload_id,
                    PartNumber=number,
                    Body=chunk,
                    ChecksumSHA256=checksum,
                )
                confirmed = confirmed and resp.get("ChecksumSHA256") == checksum
                parts.append({"PartNumber": number, "ETag": resp["ETag"], "ChecksumSHA256": checksum})
            done = self._conditional(
                self.client.complete_multipart_upload,
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
                IfNoneMatch="*",
            )
            return None if done is None else confirmed
        except BaseException:
            try:  # best effort: an upload left open is a leftover that `docsvc gc` aborts
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
            except Exception:  # noqa: BLE001 - the original failure is the one to report
                pass
            raise

    def _verify(self, key: str, sha: str, size: int) -> None:
        """Read the stored object back and re-hash it (for stores that do not confirm checksums)."""
        actual_size, actual = self._hash(key)
        if actual != sha or actual_size != size:
            # We just created this key and no version refers to it yet: remove the bad object,
            # or a retry would find the name taken and trust it.
            self.client.delete_object(Bucket=self.bucket, Key=key)
            raise _damaged(sha, actual_size)

    def remove(self, sha256: str) -> None:
        with _errors("delete"):
            self.client.delete_object(Bucket=self.bucket, Key=self.key(sha256))

    # -- reads ----------------------------------------------------------------------------
    def read(self, sha256: str) -> bytes:
        key = self.key(sha256)
        with _errors("read", sha256):
            data = self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        return verified(sha256, data)

    def exists(self, sha256: str) -> bool:
        with _errors("read"):
            return self._size(self.key(sha256)) is not None

    def hash_of(self, sha256: str) -> str:
        key = self.key(sha256)
        with _errors("read", sha256):
            return self._hash(key)[1]

    def iter_blobs(self) -> Iterator[BlobInfo]:
        now = dt.datetime.now(dt.UTC)
        with _errors("list"):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=f"{self.prefix}blobs/"
            )
            for page in pages:
                for obj in page.get("Contents", []):
                    name = obj["Key"].rsplit("/", 1)[-1]
                    if len(name) == 64 and obj["Key"] == f"{self.prefix}blobs/{name[:2]}/{name}":
                        yield BlobInfo(name, obj["Size"], (now - obj["LastModified"]).total_seconds())

    def leftovers(self, *, older_than_s: float = 0) -> list[Leftover]:
        now = dt.datetime.now(dt.UTC)
        found = []
        with _errors("list"):
            pages = self.client.get_paginator("list_multipart_uploads").paginate(
                Bucket=self.bucket, Prefix=f"{self.prefix}blobs/"
            )
            for page in pages:
                for upload in page.get("Uploads", []):
                    age = (now - upload["Initiated"]).total_seconds()
                    if age >= older_than_s:
                        found.append(Leftover(f"{upload['Key']}#{upload['UploadId']}", age))
        return found

    def remove_leftover(self, name: str) -> None:
        key, _, upload_id = name.partition("#")
        if not key.startswith(f"{self.prefix}blobs/") or not upload_id:
            raise NotFound(f"无效的未完成上传：{name[:120]}", f"Not an unfinished upload of this store: {name[:120]}")
        with _errors("delete"):
            try:
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
            except bex.ClientError as exc:
                if _code(exc) not in {"NoSuchUpload", "404"}:
                    raise

    def status(self) -> dict[str, Any]:
        try:
            with _errors("read"):
                self.client.head_bucket(Bucket=self.bucket)
        except (Unavailable, StorageError) as exc:
            return {"kind": "s3", "location": self.location, "ok": False, "error": exc.en}
        return {"kind": "s3", "location": self.location, "ok": True}

    def _size(self, key: str) -> int | None:
        try:
            return self.client.head_object(Bucket=self.bucket, Key=key)["ContentLength"]
        except bex.ClientError as exc:
            if _code(exc) in _MISSING:
                return None
            raise

    def _hash(self, key: str) -> tuple[int, str]:
        h = hashlib.sha256()
        size = 0
        body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        for chunk in body.iter_chunks(MiB):
            h.update(chunk)
            size += len(chunk)
        return size, h.hexdigest()


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


def _code(exc: bex.ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _damaged(sha256: str, size: int) -> StorageError:
    return StorageError(
        f"对象存储中的 {sha256} 与上传的内容不符（大小 {size} 字节），未记录任何内容。请运行 docsvc check 并检查对象存储。",
        f"The object store holds {sha256} with other bytes than uploaded ({size} bytes); nothing was recorded. "
        "Run docsvc check and inspect the object store.",
    )


def _missing(sha256: str) -> NotFound:
    return NotFound(
        f"归档中缺少内容 {sha256}，请运行 docsvc check。",
        f"Content {sha256} is missing from the archive; run docsvc check.",
    )


class _errors:
    """Turn the object store's failures into docsvc's errors, each saying what to do; a missing
    object is NotFound when the blob ``sha256`` was asked for."""

    def __init__(self, what: str, sha256: str | None = None) -> None:
        self.what, self.sha256 = what, sha256

    def __enter__(self) -> None:
        return None

    def __exit__(self, _type: Any, exc: BaseException | None, _tb: Any) -> Literal[False]:
        if exc is None or not isinstance(exc, (bex.BotoCoreError, bex.ClientError)):
            return False
        nothing = "未记录任何内容" if self.what == "write" else "未做任何修改"
        nothing_en = "nothing was recorded" if self.what == "write" else "nothing was changed"
        if isinstance(exc, bex.NoCredentialsError):
            raise StorageError(
                "没有对象存储的访问密钥：请设置 AWS_ACCESS_KEY_ID 和 AWS_SECRET_ACCESS_KEY。",
                "No credentials for the object store: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.",
            ) from exc
        if self.sha256 and isinstance(exc, bex.ClientError) and _code(exc) in _MISSING:
            raise _missing(self.sha256) from None
        if isinstance(exc, bex.ClientError) and _code(exc) not in _BUSY:
            code = _code(exc) or "error"
            raise StorageError(
                f"对象存储拒绝了请求（{code}），{nothing}。请检查 DOCSVC_BLOB_URL、存储桶与访问密钥。",
                f"The object store refused the request ({code}); {nothing_en}. Check DOCSVC_BLOB_URL, the "
                "bucket and the access keys.",
            ) from exc
        raise Unavailable(
            f"对象存储暂时无法访问（{type(exc).__name__}），{nothing}，请稍后重试。",
            f"The object store is unavailable ({type(exc).__name__}); {nothing_en}. Retry later.",
        ) from exc
