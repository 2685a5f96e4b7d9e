"""The blob-store seam: what every store of archived bytes must do.

Blobs are content-addressed: a blob's name is the SHA-256 of its bytes, so a stored blob is
never overwritten (the same name can only hold the same bytes) and a damaged one is told by
re-hashing it. Engines sit behind :class:`BlobStore` in ``docsvc.adapters``: a local folder (the
default for one machine) and any S3-compatible object store (for several servers). The
archive's guarantees rest on three promises every engine keeps:

- :meth:`BlobStore.put` returns only once the bytes are durably stored and verified, so the
  catalog may record the version that refers to them;
- a write that is interrupted leaves at most an orphan or a *leftover* (a staging file, an
  unfinished multipart upload) that :meth:`BlobStore.leftovers` lists and ``docsvc gc`` removes;
- :meth:`BlobStore.read` re-hashes what it hands back: damaged bytes raise
  :class:`docsvc.errors.Corrupted` and are never served;
- a store that cannot be reached raises :class:`docsvc.errors.Unavailable` and has written
  nothing the catalog knows of.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from docsvc.errors import Corrupted, NotFound

_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True)
class StoredBlob:
    sha256: str
    size: int
    created: bool  # False when identical content was already stored


@dataclass(frozen=True)
class BlobInfo:
    """A stored blob as a listing sees it (for ``docsvc check`` and ``docsvc gc``)."""

    sha256: str
    size: int
    age_s: float


@dataclass(frozen=True)
class Leftover:
    """What an interrupted write left behind: not a blob, never referenced, safe to remove."""

    name: str
    age_s: float


class BlobStore(Protocol):
    location: str  # where the blobs are, for messages and the health page (never a credential)

    def init(self) -> None:
        """Create what the store needs (folders); check that it can be reached."""

    def put(self, data: bytes) -> StoredBlob:
        """Store ``data`` under its SHA-256, durably and verified, or raise."""

    def read(self, sha256: str) -> bytes:
        """The stored bytes, re-hashed (see :func:`verified`); NotFound if absent."""

    def exists(self, sha256: str) -> bool: ...

    def hash_of(self, sha256: str) -> str:
        """Re-hash the stored bytes (detects bit rot and tampering)."""

    def iter_blobs(self) -> Iterator[BlobInfo]:
        """Every stored blob."""

    def remove(self, sha256: str) -> None:
        """Only for garbage collection of blobs that no version references."""

    def leftovers(self, *, older_than_s: float = 0) -> list[Leftover]: ...

    def remove_leftover(self, name: str) -> None: ...

    def status(self) -> dict[str, Any]:
        """For the health page: ``kind``, ``location``, ``ok`` and, when not ok, ``error``."""


def verified(sha256: str, data: bytes) -> bytes:
    """``data`` if it still hashes to its name ``sha256``; else Corrupted, so that no engine ever
    hands out damaged bytes."""
    if hashlib.sha256(data).hexdigest() != sha256:
        raise Corrupted(
            f"归档内容 {sha256} 校验失败（哈希不符），已拒绝提供。请运行 docsvc check 并从备份恢复。",
            f"Stored content {sha256} fails its checksum; refusing to serve it. Run docsvc check and "
            "restore it from backup.",
            details={"sha256": sha256},
        )
    return data


def check_name(sha256: str) -> str:
    """A blob name is 64 lower-case hex digits: never a path or a key a caller could steer."""
    if len(sha256) != 64 or not set(sha256) <= _HEX:
        raise NotFound(f"无效的内容哈希：{sha256[:80]}", f"Invalid content hash: {sha256[:80]}")
    return sha256
