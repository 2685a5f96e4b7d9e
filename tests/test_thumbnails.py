"""First-page thumbnails: drawn in the limited child, made by the background queue once per content
hash and renderer, shown in the document list and search results (a placeholder while pending),
served with caching headers under the document's access rule; the PDF viewer on the document page."""

from __future__ import annotations

import functools
import io

import pypdf
import pytest
from PIL import Image, ImageStat

from docsvc.core.thumbnail import THUMBNAILER_VERSION, WIDTH, ThumbnailLimits, ThumbnailStatus, render_thumbnail
from docsvc.services import thumbnails
from tests.conftest import add
from tests.docxutil import make_docx
from tests.webutil import SITE_DOC, USER_DOC, app, world  # noqa: F401

RED = (220, 20, 30)


@functools.cache  # Pillow dates each PDF it writes: the same call gives the same bytes only once
def page_pdf(colour=RED, size=(595, 842)) -> bytes:
    """A one-page PDF whose page is one colour (Pillow writes the image as the page)."""
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "PDF", resolution=72)
    return out.getvalue()


def encrypted_pdf() -> bytes:
    writer = pypdf.PdfWriter(clone_from=io.BytesIO(page_pdf()))
    writer.encrypt(user_password="机密", owner_password="owner", algorithm="AES-256")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def colour_at_centre(webp: bytes) -> tuple[int, int, int]:
    img = Image.open(io.BytesIO(webp)).convert("RGB")
    return img.getpixel((img.width // 2, img.height // 2))


def near(a, b, tol=12) -> bool:
    return all(abs(x - y) <= tol for x, y in zip(a, b))


def run_jobs(svc) -> list:
    ran = []
    while (job := svc.jobs.run_next()) is not None:
        ran.append(job)
    return ran


# -- drawing ------------------------------------------------------------------------------------
def test_a_pdf_first_page_is_drawn_at_the_thumbnail_width():
    two_pages = pypdf.PdfWriter(clone_from=io.BytesIO(page_pdf()))
    two_pages.append(io.BytesIO(page_pdf((0, 0, 200))))
    out = io.BytesIO()
    two_pages.write(out)
    t = render_thumbnail(out.getvalue(), "application/pdf")
    assert t.status is ThumbnailStatus.OK and t.pages == 2 and t.width == WIDTH
    assert t.height == round(WIDTH * 842 / 595) or abs(t.height - WIDTH * 842 / 595) <= 1
    assert near(colour_at_centre(t.data), RED)  # the first page, not the blue second one
    assert t.renderer == THUMBNAILER_VERSION


def test_images_are_shrunk_upright_and_flattened_on_white():
    photo = io.BytesIO()
    Image.new("RGB", (4000, 3000), RED).save(photo, "JPEG")
    t = render_thumbnail(photo.getvalue(), "image/jpeg")
    assert t.status is ThumbnailStatus.OK and (t.width, t.height) == (WIDTH, 180)
    assert near(colour_at_centre(t.data), RED, tol=20)
    clear = io.BytesIO()
    Image.new("RGBA", (300, 300), (0, 0, 0, 0)).save(clear, "PNG")
    t = render_thumbnail(clear.getvalue(), "image/png")
    assert near(colour_at_centre(t.data), (255, 255, 255))


@pytest.mark.slow
def test_bad_content_is_an_answer_not_an_exception():
    assert render_thumbnail(encrypted_pdf(), "application/pdf").status is ThumbnailStatus.ENCRYPTED
    broken = render_thumbnail(b"%PDF-1.7\n1 0 obj <<>> endobj\n%%EOF", "application/pdf")
    assert broken.status is ThumbnailStatus.FAILED and broken.detail_zh and broken.detail_en
    assert render_thumbnail(b"plain", "text/plain").status is ThumbnailStatus.UNSUPPORTED
    bomb = io.BytesIO()
    Image.new("1", (20000, 20000)).save(bomb, "PNG")  # 400 million pixels in a few kB
    t = render_thumbnail(bomb.getvalue(), "image/png")
    assert t.status is ThumbnailStatus.TOO_LARGE and "像素" in t.detail_zh


@pytest.mark.slow
def test_the_memory_limit_stops_a_render_in_the_child_not_the_server():
    # An image, not a PDF page: Pillow must hold all 6000×6000 pixels (108 MB), while PDFium
    # streams a page's image scanline by scanline and may fit in any limit.
    big = io.BytesIO()
    Image.new("RGB", (6000, 6000), RED).save(big, "PNG")
    t = render_thumbnail(big.getvalue(), "image/png", limits=ThumbnailLimits(memory_bytes=64 * 1024 * 1024))
    assert t.status is ThumbnailStatus.TOO_LARGE
    assert render_thumbnail(page_pdf(), "application/pdf").status is ThumbnailStatus.OK  # the helper lives on


# -- the queue ----------------------------------------------------------------------------------
def test_the_queue_makes_one_thumbnail_per_content_and_records_what_cannot_be_made(svc):
    first = add(svc, page_pdf(), "巡检记录.pdf")
    add(svc, page_pdf(), "巡检记录副本.pdf", title="同一内容的另一份文档")  # same content: same thumbnail
    add(svc, encrypted_pdf(), "加密.pdf", title="加密文件")
    add(svc, "纯文本，没有页面。".encode(), "说明.txt", title="说明")
    states = thumbnails.for_documents(svc, [svc.archive.document(i) for i in (1, 2, 3, 4)])
    assert [states[i].state for i in (1, 2, 3, 4)] == ["pending", "pending", "pending", "none"]
    ran = run_jobs(svc)
    kinds = [j.kind for j in ran]
    assert kinds.count("thumbnail") == 2, kinds  # one per content hash: the PDF and the encrypted one
    assert all(j.state.value == "done" for j in ran), [j.error for j in ran]
    kept = thumbnails.stored(svc, first.version.sha256)
    assert kept.status == "ok" and kept.renderer == THUMBNAILER_VERSION and near(colour_at_centre(kept.data), RED)
    assert kept.source_sha256 == first.version.sha256 and kept.detail["seconds"] >= 0
    states = thumbnails.for_documents(svc, [svc.archive.document(i) for i in (1, 2, 3, 4)])
    assert [states[i].state for i in (1, 2, 3, 4)] == ["ok", "ok", "none", "none"]
    locked = thumbnails.stored(svc, svc.catalog.versions(3)[0].sha256)
    assert locked.status == "encrypted" and locked.data is None and "密码" in locked.detail["zh"]
    # Nothing is left to make: a new sweep queues nothing, and no job runs.
    svc.jobs.enqueue(thumbnails.THUMBNAILS_SWEEP, {}, actor="test")
    assert [j.kind for j in run_jobs(svc)] == [thumbnails.THUMBNAILS_SWEEP]


def test_a_new_renderer_version_makes_the_thumbnails_again(svc, monkeypatch):
    add(svc, page_pdf(), "巡检记录.pdf")
    run_jobs(svc)
    monkeypatch.setattr(thumbnails, "THUMBNAILER_VERSION", "docsvc-thumb/test-next")
    assert thumbnails.for_documents(svc, [svc.archive.document(1)])[1].state == "pending"
    svc.jobs.enqueue(thumbnails.THUMBNAILS_SWEEP, {}, actor="test")
    assert [j.kind for j in run_jobs(svc)] == [thumbnails.THUMBNAILS_SWEEP, thumbnails.THUMBNAIL]
    assert thumbnails.for_documents(svc, [svc.archive.document(1)])[1].state == "ok"


@pytest.mark.sqlite_only
@pytest.mark.libreoffice
@pytest.mark.slow
def test_a_docx_is_drawn_from_its_pdf_rendition_which_is_kept(svc, unoserver_venv):
    result = add(svc, make_docx("港口信息系统服务等级协议", "一级故障：十五分钟内响应。"), "服务等级协议.docx")
    ran = run_jobs(svc)
    assert [j.state.value for j in ran if j.kind == thumbnails.THUMBNAIL_DOCX] == ["done"], [j.error for j in ran]
    pdf = [r for r in svc.catalog.renditions(result.version.id) if r.media_type == "application/pdf"]
    assert len(pdf) == 1  # the rendition the document page offers, made once
    kept = thumbnails.stored(svc, result.version.sha256)
    assert kept.status == "ok" and kept.source_sha256 == pdf[0].sha256
    # A white page with black text: mostly white, not blank.
    img = Image.open(io.BytesIO(kept.data)).convert("L")
    assert img.getextrema()[0] < 128 and ImageStat.Stat(img).mean[0] > 200
    assert "rendition.added" in [e.action for e in svc.catalog.audit_entries()]
