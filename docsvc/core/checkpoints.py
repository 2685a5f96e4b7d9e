"""Signed checkpoints: the audit chain anchored outside the catalog.

The hash chain (``docsvc.core.audit``) shows that entries fit together, not that they are the ones
that were written: whoever can write the catalog can truncate the log and move the head back, or
edit an entry and recompute every later hash. A checkpoint closes that gap. It records the chain's
head — its seq and hash — at some moment, signed with an Ed25519 key that is *not* in the catalog
(a key file the servers read, DOCSVC_AUDIT_KEY_FILE), and is kept in a place the catalog's writers
cannot rewrite (a folder on other storage, or an object-store bucket, ideally with object lock:
:class:`CheckpointStore`). Verification then compares the chain with the checkpoints: an entry a
checkpoint saw that is gone, or a hash that differs from the signed one, is tampering before that
checkpoint.

What it does not protect against: someone who holds the signing key as well (they can sign a
checkpoint of a rewritten chain) and can also delete checkpoints from their store (object lock
prevents that); and entries written after the latest checkpoint, which only the chain protects.

A checkpoint is a small JSON document::

    {"format": "docsvc-audit-checkpoint/1", "seq": 41, "hash": "<entry 41's hash>",
     "ts": "<when it was signed, ISO 8601 UTC>", "node": "<the server that signed it>",
     "public_key": "<Ed25519 public key, 64 hex digits>", "signature": "<128 hex digits>"}

The signature covers the canonical JSON (``audit.canonical_json``) of every other field. Its name
in the store is ``<seq, 16 digits>-<first 16 hex digits of the SHA-256 of its bytes>.json``, so
names sort by seq and two checkpoints never share a name.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from docsvc.core.audit import canonical_json
from docsvc.errors import InvalidInput

FORMAT = "docsvc-audit-checkpoint/1"
_NAME = re.compile(r"^(\d{16})-[0-9a-f]{16}\.json$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
MAX_BYTES = 4096  # a checkpoint is ~400 bytes; anything bigger in the store is not one


class CheckpointStore(Protocol):
    """Where checkpoints are kept: write-once objects by name, outside the catalog."""

    location: str  # for messages (never a credential)

    def init(self) -> None:
        """Create what the store needs (a folder); check that it can be reached."""

    def put(self, name: str, data: bytes) -> None:
        """Store ``data`` under ``name`` durably; never replace an existing object."""

    def names(self) -> list[str]:
        """Every checkpoint name, sorted (by seq, as names sort)."""

    def read(self, name: str) -> bytes: ...


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    hash: str
    ts: str
    node: str
    public_key: str
    signature: str = ""

    def body(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "seq": self.seq,
            "hash": self.hash,
            "ts": self.ts,
            "node": self.node,
            "public_key": self.public_key,
        }

    def to_dict(self) -> dict[str, Any]:
        return {**self.body(), "signature": self.signature}

    def to_bytes(self) -> bytes:
        return (canonical_json(self.to_dict()) + "\n").encode("utf-8")

    @property
    def name(self) -> str:
        return f"{self.seq:016d}-{hashlib.sha256(self.to_bytes()).hexdigest()[:16]}.json"

    def signed_by(self, public_key: str) -> bool:
        """True when the signature is valid and made by ``public_key`` (hex)."""
        if self.public_key != public_key:
            return False
        try:
            Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key)).verify(
                bytes.fromhex(self.signature), canonical_json(self.body()).encode("utf-8")
            )
        except (InvalidSignature, ValueError):
            return False
        return True


def key_id(public_key: str) -> str:
    """A short fingerprint of a public key, for people to compare."""
    return hashlib.sha256(bytes.fromhex(public_key)).hexdigest()[:16]


def seq_of(name: str) -> int | None:
    """The seq a checkpoint's name carries; None for anything that is not a checkpoint name."""
    match = _NAME.match(name)
    return int(match.group(1)) if match else None


def parse(data: bytes) -> Checkpoint:
    """A checkpoint from its stored bytes; ValueError when they are not one (not yet checked
    for its signature: see :meth:`Checkpoint.signed_by`)."""
    if len(data) > MAX_BYTES:
        raise ValueError("too large for a checkpoint")
    d = json.loads(data.decode("utf-8"))
    if not isinstance(d, dict) or d.get("format") != FORMAT:
        raise ValueError(f"not a {FORMAT} document")
    cp = Checkpoint(d["seq"], d["hash"], d["ts"], d["node"], d["public_key"], d["signature"])
    if not (
        isinstance(cp.seq, int)
        and cp.seq >= 0
        and all(isinstance(v, str) for v in (cp.hash, cp.ts, cp.node, cp.public_key, cp.signature))
        and _HEX64.match(cp.hash)
        and _HEX64.match(cp.public_key)
    ):
        raise ValueError("malformed fields")
    return cp


class Signer:
    """Signs checkpoints with the installation's Ed25519 key (never kept in the catalog)."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        self.public_key = (
            private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()
        )

    @classmethod
    def from_file(cls, path: Path) -> Signer:
        """The key in a PEM (PKCS#8) file, as ``docsvc audit keygen`` writes it."""
        try:
            key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
        except OSError as exc:
            raise InvalidInput(
                f"无法读取审计签名密钥文件“{path}”：{exc.strerror or exc}。请检查 DOCSVC_AUDIT_KEY_FILE。",
                f"Cannot read the audit signing key file '{path}': {exc.strerror or exc}. Check DOCSVC_AUDIT_KEY_FILE.",
                field="DOCSVC_AUDIT_KEY_FILE",
            ) from None
        except (ValueError, TypeError):
            key = None
        if not isinstance(key, Ed25519PrivateKey):
            raise InvalidInput(
                f"“{path}”不是未加密的 Ed25519 私钥（PEM）。请用 docsvc audit keygen 生成。",
                f"'{path}' is not an unencrypted Ed25519 private key (PEM). Make one with docsvc audit keygen.",
                field="DOCSVC_AUDIT_KEY_FILE",
            )
        return cls(key)

    def sign(self, seq: int, hash: str, *, ts: str, node: str) -> Checkpoint:
        unsigned = Checkpoint(seq, hash, ts, node, self.public_key)
        signature = self._key.sign(canonical_json(unsigned.body()).encode("utf-8")).hex()
        return Checkpoint(seq, hash, ts, node, self.public_key, signature)


def new_key_pem() -> tuple[bytes, str]:
    """A new Ed25519 private key as PEM (PKCS#8, unencrypted), and its public key (hex)."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return pem, Signer(key).public_key
