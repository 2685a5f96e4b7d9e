"""Where signed audit checkpoints are kept (:class:`docsvc.core.checkpoints.CheckpointStore`):
a folder, or a prefix in an S3-compatible bucket. Either is meant to be out of reach of whoever can
write the catalog: a folder on other storage (another machine's share, a write-once mount), or a
bucket with object lock (a default retention on the bucket applies to every checkpoint written).

Both stores write once: a folder links the finished file into place (``os.link`` refuses an
existing name), a bucket writes with ``If-None-Match: *``.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from docsvc.adapters.blobstore import _fsync_dir, storage_error
from docsvc.core.checkpoints import CheckpointStore, seq_of
from docsvc.errors import InvalidInput, NotFound


class FolderCheckpoints:
    def __init__(self, root: Path, *, fsync: bool = True) -> None:
        self.root = Path(root)
        self.fsync = fsync
        self.location = str(self.root.resolve())

    def init(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise storage_error(exc) from exc

    def put(self, name: str, data: bytes) -> None:
        _check(name)
        tmp = None
        try:
            fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".", suffix=".part")
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                if self.fsync:
                    os.fsync(fh.fileno())
            os.chmod(tmp, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
            try:
                os.link(tmp, self.root / name)  # never replaces an existing checkpoint
            except FileExistsError:
                pass  # the name holds the hash of its bytes: the same checkpoint is there already
            if self.fsync:
                _fsync_dir(self.root)
        except OSError as exc:
            raise storage_error(exc) from exc
        finally:
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)

    def names(self) -> list[str]:
        try:
            return sorted(p.name for p in self.root.iterdir() if seq_of(p.name) is not None)
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise storage_error(exc) from exc

    def read(self, name: str) -> bytes:
        try:
            return (self.root / _check(name)).read_bytes()
        except FileNotFoundError:
            raise NotFound(f"检查点 {name} 不存在。", f"Checkpoint {name} does not exist.") from None
        except OSError as exc:
            raise storage_error(exc) from exc


class S3Checkpoints:
    """Checkpoints under ``s3://BUCKET/PREFIX/checkpoints/`` (the blob store's client settings)."""

    def __init__(self, url: str, **client_options: Any) -> None:
        from docsvc.adapters.s3_blobstore import S3BlobStore

        # The blob store's client: the same endpoint, region, timeouts, retries and error mapping.
        self._s3 = S3BlobStore(url, **client_options)
        self.prefix = f"{self._s3.prefix}checkpoints/"
        self.location = self._s3.location.replace(
            f"s3://{self._s3.bucket}/{self._s3.prefix}", f"s3://{self._s3.bucket}/{self.prefix}", 1
        )

    def init(self) -> None:
        """Nothing to create (the bucket exists or every write says so)."""

    def put(self, name: str, data: bytes) -> None:
        from docsvc.adapters.s3_blobstore import _errors

        s3 = self._s3
        with _errors("write"):
            s3._conditional(
                s3.client.put_object, Bucket=s3.bucket, Key=self.prefix + _check(name), Body=data, IfNoneMatch="*"
            )

    def names(self) -> list[str]:
        from docsvc.adapters.s3_blobstore import _errors

        s3 = self._s3
        out = []
        with _errors("list"):
            for page in s3.client.get_paginator("list_objects_v2").paginate(Bucket=s3.bucket, Prefix=self.prefix):
                out += [
                    o["Key"][len(self.prefix) :]
                    for o in page.get("Contents", [])
                    if seq_of(o["Key"][len(self.prefix) :]) is not None
                ]
        return sorted(out)

    def read(self, name: str) -> bytes:
        from docsvc.adapters.s3_blobstore import _errors

        s3 = self._s3
        with _errors("read"):
            return s3.client.get_object(Bucket=s3.bucket, Key=self.prefix + _check(name))["Body"].read()


def _check(name: str) -> str:
    if seq_of(name) is None:
        raise NotFound(f"无效的检查点名称：{name[:80]}", f"Not a checkpoint name: {name[:80]}")
    return name


def open_checkpoint_store(conf: Mapping[str, Any]) -> CheckpointStore | None:
    """The store DOCSVC_AUDIT_CHECKPOINT_URL names, or None when checkpoints are off."""
    url = conf["AUDIT_CHECKPOINT_URL"]
    if not url:
        return None
    if url.startswith("s3:"):
        return S3Checkpoints(
            url,
            endpoint_url=conf["S3_ENDPOINT_URL"],
            region=conf["S3_REGION"] or os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
            timeout_s=conf["BLOB_TIMEOUT_S"],
        )
    if url.startswith("file:") or url.startswith("/"):
        return FolderCheckpoints(Path(url.removeprefix("file://").removeprefix("file:")), fsync=conf["FSYNC"])
    raise InvalidInput(
        f"无法识别的审计检查点存放处“{url}”：应为 file:///目录 或 s3://存储桶/前缀。",
        f"Unknown audit checkpoint store {url!r}: expected file:///FOLDER or s3://BUCKET/PREFIX.",
        field="DOCSVC_AUDIT_CHECKPOINT_URL",
    )
