"""Content-addressed, write-once file storage on the local disk (the default
:class:`docsvc.core.blobs.BlobStore`, for one machine).

Layout: ``<root>/blobs/<sha256[:2]>/<sha256>``; files are written under ``<root>/staging``
first. A blob is durable before it is returned: data fsynced, renamed into place, directory
fsynced. The name never comes from user input.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from docsvc.core.blobs import BlobInfo, Leftover, StoredBlob, check_name, verified
from docsvc.core.faults import fault_point
from docsvc.errors import NotFound, StorageError, StorageFull


def storage_error(exc: OSError) -> StorageError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return StorageFull(
            "归档磁盘空间不足，文件未保存。请清理磁盘后重试。",
            "The archive disk is full; nothing was stored. Free space and retry.",
        )
    return StorageError(
        f"归档写入失败（{exc.strerror or exc}），文件未保存，请稍后重试。",
        f"Writing to the archive failed ({exc.strerror or exc}); nothing was stored. Retry later.",
    )


class LocalBlobStore:
    def __init__(self, root: Path, *, fsync: bool = True, sweep_after_s: float | None = None) -> None:
        self.root = Path(root)
        self.blobs = self.root / "blobs"
        self.staging = self.root / "staging"
        self.fsync = fsync
        self.location = str(self.blobs.resolve())
        self.sweep_after_s = sweep_after_s

    def init(self) -> None:
        for d in (self.root, self.blobs, self.staging):
            d.mkdir(parents=True, exist_ok=True)
        if self.sweep_after_s is not None:
            # A crash mid-write leaves a staging file; sweep the ones older than the grace period
            # (younger ones may belong to a write in flight in another process).
            for leftover in self.leftovers(older_than_s=self.sweep_after_s):
                self.remove_leftover(leftover.name)

    def path(self, sha256: str) -> Path:
        return self.blobs / check_name(sha256)[:2] / sha256

    def put(self, data: bytes) -> StoredBlob:
        sha = hashlib.sha256(data).hexdigest()
        final = self.path(sha)
        if final.exists():
            return StoredBlob(sha, len(data), created=False)
        tmp_name = None
        try:
            fd, tmp_name = tempfile.mkstemp(dir=self.staging, prefix=f"{sha[:12]}-", suffix=".part")
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                if self.fsync:
                    os.fsync(fh.fileno())
            fault_point("after_stage_fsync")
            new_dir = not final.parent.exists()
            final.parent.mkdir(exist_ok=True)
            os.chmod(tmp_name, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
            # rename is atomic: readers see no blob or the whole blob. Two writers of the same
            # content both rename identical bytes, so the race is harmless.
            os.replace(tmp_name, final)
            tmp_name = None
            fault_point("after_link")
            if self.fsync:
                _fsync_dir(final.parent)
                if new_dir:
                    _fsync_dir(self.blobs)
        except OSError as exc:
            raise storage_error(exc) from exc
        finally:
            if tmp_name is not None:
                try:
                    os.unlink(tmp_name)
                except FileNotFoundError:
                    pass
        return StoredBlob(sha, len(data), created=True)

    def open(self, sha256: str) -> BinaryIO:
        try:
            return open(self.path(sha256), "rb")
        except FileNotFoundError:
            raise NotFound(
                f"归档中缺少内容 {sha256}，请运行 docsvc check。",
                f"Content {sha256} is missing from the archive; run docsvc check.",
            ) from None

    def read(self, sha256: str) -> bytes:
        with self.open(sha256) as fh:
            return verified(sha256, fh.read())

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def hash_of(self, sha256: str) -> str:
        """Re-hash the stored bytes (detects bit rot)."""
        h = hashlib.sha256()
        with self.open(sha256) as fh:
            while chunk := fh.read(1024 * 1024):
                h.update(chunk)
        return h.hexdigest()

    def iter_blobs(self) -> Iterator[BlobInfo]:
        if not self.blobs.is_dir():
            return
        now = time.time()
        for sub in sorted(self.blobs.iterdir()):
            if sub.is_dir():
                for f in sorted(sub.iterdir()):
                    try:
                        st = f.stat()
                    except FileNotFoundError:  # removed by a gc in another process meanwhile
                        continue
                    yield BlobInfo(f.name, st.st_size, now - st.st_mtime)

    def remove(self, sha256: str) -> None:
        """Only for garbage collection of blobs no version references."""
        self.path(sha256).unlink(missing_ok=True)

    def leftovers(self, *, older_than_s: float = 0) -> list[Leftover]:
        if not self.staging.is_dir():
            return []
        now = time.time()
        found = []
        for p in self.staging.iterdir():
            try:
                age = now - p.stat().st_mtime
            except FileNotFoundError:
                continue
            if age >= older_than_s:
                found.append(Leftover(p.name, age))
        return found

    def status(self) -> dict[str, Any]:
        ok = self.blobs.is_dir() and os.access(self.blobs, os.W_OK)
        return {
            "kind": "local",
            "location": self.location,
            "ok": ok,
            **({} if ok else {"error": f"{self.blobs} is missing or not writable"}),
        }

    def remove_leftover(self, name: str) -> None:
        if "/" in name or name.startswith("."):
            raise NotFound(f"无效的暂存文件名：{name[:80]}", f"Invalid staging file name: {name[:80]}")
        (self.staging / name).unlink(missing_ok=True)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
