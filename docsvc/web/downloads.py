"""Files handed out by the pages and the REST API alike: versions, renditions, thumbnails, the
PDF viewer's copy, previews and audit bundles, with safe names, their SHA-256 and cache rules."""

from __future__ import annotations

import hashlib
import io
import tempfile
from urllib.parse import quote

from flask import Response, request, send_file

from docsvc.core.content import DOCX, PDF
from docsvc.core.model import Version
from docsvc.services.access import RENDITION_KINDS, Guard, Rendition, ThumbnailRecord
from docsvc.services.export import BundleScope

THUMBNAIL_MAX_AGE_S = 300  # how stale a revoked reader's cached thumbnail may be


def send_attachment(data: bytes, media_type: str, filename: str, sha256: str, fallback: str) -> Response:
    """Stored bytes as a download: attachment, nosniff, a sandboxing CSP, ETag = SHA-256."""
    resp = Response(data, mimetype=media_type)
    # RFC 6266/5987: an ASCII fallback plus the UTF-8 name, so Chinese names survive.
    ascii_name = "".join(ch for ch in filename.encode("ascii", "ignore").decode() if ch not in '"\\;')
    if not any(ch.isalnum() for ch in ascii_name.rsplit(".", 1)[0]):
        ascii_name = fallback  # a Chinese name leaves only ".docx": name it by docsvc instead
    resp.headers["Content-Disposition"] = f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    resp.headers["ETag"] = f'"{sha256}"'
    resp.headers["Digest"] = f"sha-256={sha256}"
    return resp


def send_version(version: Version, data: bytes) -> Response:
    ext = version.original_filename.rsplit(".", 1)[-1] if "." in version.original_filename else ""
    fallback = f"document-{version.document_id}-v{version.number}"
    if ext.isascii() and ext.isalnum():
        fallback += f".{ext}"
    return send_attachment(data, version.media_type, version.original_filename, version.sha256, fallback)


def send_rendition(version: Version, rendition: Rendition, data: bytes) -> Response:
    ext = RENDITION_KINDS.get(rendition.kind, rendition.kind)
    stem = version.original_filename.rsplit(".", 1)[0] or f"document-{version.document_id}"
    return send_attachment(
        data,
        rendition.media_type,
        f"{stem}.{ext}",
        rendition.sha256,
        f"document-{version.document_id}-v{version.number}.{ext}",
    )


def send_thumbnail(version: Version, kept: ThumbnailRecord) -> Response:
    """A version's thumbnail: the URL names one version and the picture never changes for it, so
    a browser keeps it, privately (it shows a document only some may read), for a while before
    it asks again; asking again with its ETag costs the access check and a 304."""
    resp = Response(kept.data, mimetype=kept.media_type)
    resp.headers["Cache-Control"] = f"private, max-age={THUMBNAIL_MAX_AGE_S}"
    resp.headers["Vary"] = "Cookie, Authorization"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.set_etag(hashlib.sha256(kept.data or b"").hexdigest()[:32])
    resp.make_conditional(request)  # in place: a 304 without the body when the ETag matches
    return resp


def send_pdf_inline(version: Version, sha256: str, data: bytes) -> Response:
    """A PDF shown in the browser's own viewer inside the document page (same origin only): inline,
    framable by docsvc's pages and nobody else's, no scripts or other content of its own."""
    resp = Response(data, mimetype=PDF)
    stem = version.original_filename.rsplit(".", 1)[0] or f"document-{version.document_id}"
    resp.headers["Content-Disposition"] = f"inline; filename*=UTF-8''{quote(stem + '.pdf')}"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["X-Frame-Options"] = "SAMEORIGIN"
    # No 'sandbox' here: Chromium refuses to show a PDF in a sandboxed document.
    resp.headers["Content-Security-Policy"] = "default-src 'none'; frame-ancestors 'self'"
    resp.headers["Cache-Control"] = "private, no-store"
    resp.headers["ETag"] = f'"{sha256}"'
    return resp


def send_preview(data: bytes, title: str) -> Response:
    """A rendered but unarchived DOCX (a preview)."""
    return send_attachment(data, DOCX, f"预览-{title}.docx", hashlib.sha256(data).hexdigest(), "preview.docx")


def send_bundle(gd: Guard, scope: BundleScope) -> Response:
    # Spooled: small bundles stay in memory, large ones go to a temporary file.
    out = tempfile.SpooledTemporaryFile(max_size=32 * 1024 * 1024)  # noqa: SIM115 - send_file closes it
    summary = gd.export_bundle(scope, out)
    out.seek(0)
    resp = send_file(out, mimetype="application/zip", as_attachment=True, download_name=summary.filename)
    resp.headers["X-Manifest-SHA256"] = summary.manifest_sha256
    resp.headers["X-Content-Type-Options"] = "nosniff"
    return resp


def send_batch_zip(gd: Guard, job_id: int) -> Response:
    """A batch's generated files in one ZIP (each read verified and audited by the Guard)."""
    buf = io.BytesIO()
    gd.batch_zip(job_id, buf)
    data = buf.getvalue()
    return send_attachment(
        data, "application/zip", f"批量生成-{job_id}.zip", hashlib.sha256(data).hexdigest(), f"batch-{job_id}.zip"
    )
