"""Audit bundles: everything an auditor needs to check a document's history on their own machine.

A bundle is a ZIP holding, for one document or a date range: every version's exact bytes, each
document's metadata and the versions' provenance, the audit entries (JSON Lines), a
``manifest.json`` with the SHA-256 of every file, a standalone ``verify_bundle.py`` (standard
library only) and ``receipt.json``.

Making a bundle is itself an audit event (``exported``). Its details carry the manifest's
SHA-256, and the entry is written (committed) before the bundle is handed out, so the live
chain vouches for the manifest: receipt.json is that entry, kept outside the manifest because
it names the manifest's hash. When audit checkpoints are configured (docsvc.services.anchoring),
a checkpoint is signed at that very entry and shipped as checkpoint.json: the signature covers
the receipt's hash, which covers the manifest, which covers every file, so the bundle can be
checked against the installation's public key without access to the live log. The stored
checkpoints at entries the bundle holds are included too (``checkpoints/``).

Paths inside the ZIP are made by docsvc (``documents/<id>/v<n>.<ext>``), never from uploaded
filenames, so unpacking a bundle cannot write outside its folder.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import zipfile
from dataclasses import dataclass
from importlib import resources
from typing import IO, Any

from docsvc.adapters import reports
from docsvc.adapters.catalog import SqlCatalog
from docsvc.core.audit import canonical_json
from docsvc.core.blobs import BlobStore
from docsvc.core.content import CSV, DOCX, MARKDOWN, PDF, TEXT
from docsvc.core.model import AuditAction, Document, iso, utcnow
from docsvc.errors import InvalidInput, NotFound
from docsvc.services.anchoring import Anchor

FORMAT = "docsvc-audit-bundle/1"
_EXT = {DOCX: "docx", PDF: "pdf", TEXT: "txt", MARKDOWN: "md", CSV: "csv"}
# Already-compressed formats are stored as they are; deflating them again only costs CPU.
_STORED = {DOCX, PDF}
MAX_RANGE_DAYS = 3660

README = """docsvc 审计包 / audit bundle

校验（只需 Python 3 标准库）/ Verify (needs only Python 3):
    python verify_bundle.py            # 在解压后的目录中 / inside the unpacked folder
    python verify_bundle.py BUNDLE.zip # 或直接校验 ZIP / or the zip itself

manifest.json       每个文件的 SHA-256 / SHA-256 of every file
audit/entries.jsonl 审计记录（哈希链片段）/ audit entries (a segment of the hash chain)
documents/<id>/     元数据、版本来源与每个版本的原始字节 / metadata, provenance, exact bytes
receipt.json        本次导出的审计记录，含清单的 SHA-256 / the "exported" audit entry naming
                    the manifest's SHA-256: compare it with the live log
                    (docsvc audit log --action exported)
checkpoint.json     （开启检查点时）对导出记录的 Ed25519 签名 / when checkpoints are on: the
                    Ed25519-signed checkpoint at the receipt. Check it against the public key
                    the operator gave you: python verify_bundle.py --public-key HEX
                    (签名校验需要 pip install cryptography / needs the cryptography package)
"""


@dataclass(frozen=True)
class BundleScope:
    document_id: int | None = None
    since: dt.date | None = None
    until: dt.date | None = None

    def validate(self) -> None:
        if self.document_id is None and (self.since is None or self.until is None):
            raise InvalidInput(
                "请指定文档编号，或同时指定起止日期。",
                "Give a document id, or both a start and an end date.",
                field="since",
            )
        if self.since and self.until:
            if self.until < self.since:
                raise InvalidInput(
                    "结束日期不能早于开始日期。", "The end date cannot be before the start date.", field="until"
                )
            if (self.until - self.since).days > MAX_RANGE_DAYS:
                raise InvalidInput(
                    "日期范围过大（最多 10 年）。", "The date range is too long (at most 10 years).", field="until"
                )

    def to_dict(self) -> dict[str, Any]:
        return {
            "document_id": self.document_id,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
        }

    def filename(self) -> str:
        parts = ["docsvc-audit"]
        if self.document_id is not None:
            parts.append(f"doc{self.document_id}")
        if self.since or self.until:  # either end may be open: 20260101- or -20261231
            parts.append("-".join(f"{d:%Y%m%d}" if d else "" for d in (self.since, self.until)))
        return "-".join(parts) + ".zip"


@dataclass(frozen=True)
class BundleSummary:
    scope: BundleScope
    documents: int
    versions: int
    audit_entries: int
    manifest_sha256: str
    receipt_seq: int
    filename: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "scope": self.scope.to_dict(),
            "documents": self.documents,
            "versions": self.versions,
            "audit_entries": self.audit_entries,
            "manifest_sha256": self.manifest_sha256,
            "receipt_seq": self.receipt_seq,
            "filename": self.filename,
        }


def verifier_source() -> bytes:
    return (resources.files("docsvc.services") / "verify_bundle.py").read_bytes()


def write_bundle(
    catalog: SqlCatalog,
    blobs: BlobStore,
    scope: BundleScope,
    out: IO[bytes],
    *,
    actor: str,
    documents: dict[int, Document],
    anchor: Anchor | None = None,
) -> BundleSummary:
    """Write the bundle to ``out`` (a seekable binary file). ``documents`` maps the ids the caller
    has already checked access to; versions of other documents are left out. With ``anchor``,
    the receipt is signed (checkpoint.json)."""
    scope.validate()
    files: list[dict[str, Any]] = []
    audit_filter = reports.AuditFilter(document_id=scope.document_id, since=scope.since, until=scope.until)
    with catalog.reading() as conn:
        all_versions = reports.versions_between(
            conn, document_id=scope.document_id, since=scope.since, until=scope.until
        )
        entries = list(reports.audit_range(conn, audit_filter))
    head = catalog.audit_head()
    chosen = [v for v in all_versions if v.document_id in documents]

    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:

        def put(path: str, data: bytes, *, stored: bool = False) -> None:
            zf.writestr(_info(path), data, compress_type=zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED)
            files.append({"path": path, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)})

        put("README.txt", README.encode("utf-8"))
        put("verify_bundle.py", verifier_source())
        doc_listing = []
        for doc_id in sorted({v.document_id for v in chosen} | ({scope.document_id} if scope.document_id else set())):
            doc = documents[doc_id]
            put(f"documents/{doc_id}/metadata.json", _json(doc.to_dict()))
            listed = []
            for v in (v for v in chosen if v.document_id == doc_id):
                data = blobs.read(v.sha256)  # re-hashed by the store: a damaged version stops the export
                path = f"documents/{doc_id}/v{v.number}.{_EXT.get(v.media_type, 'bin')}"
                put(path, data, stored=v.media_type in _STORED)
                listed.append({**v.to_dict(), "path": path})
            put(f"documents/{doc_id}/versions.json", _json(listed))
            doc_listing.append(
                {
                    "id": doc_id,
                    "title": doc.metadata.title,
                    "versions": [{"number": v["number"], "sha256": v["sha256"], "path": v["path"]} for v in listed],
                }
            )
        put("audit/entries.jsonl", "".join(canonical_json(e.to_dict()) + "\n" for e in entries).encode("utf-8"))
        if anchor is not None:
            for name, data in anchor.checkpoints_in({e.seq for e in entries}):
                put(f"checkpoints/{name}", data)
        manifest = {
            "format": FORMAT,
            "generated_at": iso(utcnow()),
            "generated_by": actor,
            "scope": scope.to_dict(),
            "documents": doc_listing,
            "audit": {
                "entries": len(entries),
                "first_seq": entries[0].seq if entries else None,
                "last_seq": entries[-1].seq if entries else None,
                # A date range is one unbroken stretch of the chain; a document's entries are not.
                "contiguous": scope.document_id is None,
                "chain_head_at_export": {"seq": head[0], "hash": head[1]} if head else None,
                "algorithm": 'hash = sha256(prev_hash + "\\n" + canonical_json({seq, ts, actor, action, '
                "document_id, version, details}))",
            },
            "files": files,
        }
        if anchor is not None:
            manifest["anchor"] = {
                "public_key": anchor.public_key,
                "key_id": anchor.key_id,
                "algorithm": "Ed25519 over canonical_json(checkpoint without its signature)",
            }
        manifest_bytes = _json(manifest)
        zf.writestr(_info("manifest.json"), manifest_bytes)
        manifest_sha = hashlib.sha256(manifest_bytes).hexdigest()
        # The export is recorded before the bundle leaves: no audit entry, no bundle.
        with catalog.transaction() as tx:
            receipt = tx.append_audit(
                actor,
                AuditAction.EXPORTED,
                document_id=scope.document_id,
                details={
                    "kind": "audit_bundle",
                    "scope": scope.to_dict(),
                    "manifest_sha256": manifest_sha,
                    "files": len(files),
                    "versions": len(chosen),
                    "audit_entries": len(entries),
                },
            )
        zf.writestr(_info("receipt.json"), _json(receipt.to_dict()))
        if anchor is not None:
            # None: a periodic checkpoint signed this very entry first; ship that one.
            checkpoint = anchor.write(catalog, at=(receipt.seq, receipt.hash)) or anchor.latest(at_most=receipt.seq)[1]
            assert checkpoint is not None  # written now, or the latest already holds this entry
            zf.writestr(_info("checkpoint.json"), checkpoint.to_bytes())
    return BundleSummary(
        scope, len(doc_listing), len(chosen), len(entries), manifest_sha, receipt.seq, scope.filename()
    )


def documents_in_scope(catalog: SqlCatalog, scope: BundleScope) -> list[Document]:
    """The documents a bundle of ``scope`` would contain (for the caller's access check)."""
    scope.validate()
    if scope.document_id is not None:
        doc = catalog.get_document(scope.document_id)
        if doc is None:
            raise NotFound(f"文档 {scope.document_id} 不存在。", f"Document {scope.document_id} does not exist.")
        return [doc]
    with catalog.reading() as conn:
        ids = sorted(
            {
                v.document_id
                for v in reports.versions_between(conn, document_id=None, since=scope.since, until=scope.until)
            }
        )
    return [d for d in (catalog.get_document(i) for i in ids) if d is not None]


def _json(value: Any) -> bytes:
    return (json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode("utf-8")


def _info(path: str) -> zipfile.ZipInfo:
    now = dt.datetime.now(dt.UTC)
    info = zipfile.ZipInfo(path, (now.year, now.month, now.day, now.hour, now.minute, now.second))
    info.external_attr = 0o644 << 16  # unpacked files readable, never executable
    return info
