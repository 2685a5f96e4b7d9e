"""A small picture of a version's first page, for lists and search results.

The picture is made from untrusted bytes (an uploaded PDF, a scan, a photo, the PDF LibreOffice
made of an uploaded DOCX), so it is made where PDF text is: in a child forked from the
extraction helper with RLIMIT_AS, RLIMIT_CPU and a wall clock (:func:`docsvc.core.workers.run_limited`).
PDF pages are rendered with PDFium (pypdfium2: the engine of Chromium's own PDF viewer, wheels
for every platform, no system package); images are decoded and shrunk with Pillow, whose
decompression-bomb guard is set to a pixel cap here.

A thumbnail is derived data: it is cached per (content hash, :data:`THUMBNAILER_VERSION`), so a
change to how thumbnails look bumps the number and the old ones are made again.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from enum import StrEnum
from importlib import metadata
from typing import Any

import pypdfium2 as pdfium
from PIL import Image, ImageOps

from docsvc.core.content import IMAGES, PDF
from docsvc.core.workers import LimitedChildFailed, run_limited

WIDTH = 240  # pixels: twice the 120 CSS pixels lists show, for sharp thumbnails on dense screens
MAX_HEIGHT = 2 * WIDTH  # a very tall page or photo is shrunk to fit this box, not cropped
MAX_IMAGE_PIXELS = 100_000_000  # larger images are refused before they are decoded
MEDIA_TYPE = "image/webp"  # a fifth of PNG's size for a page of text at the same sharpness
QUALITY = 80
# The image types a thumbnail is made of as they are (scans and photos).
IMAGE_TYPES = frozenset(IMAGES)
# 1: the first page, WIDTH wide, WebP. (At most 64 characters: a table column.)
THUMBNAILER_VERSION = (
    f"docsvc-thumb/1 w{WIDTH} pdfium/{metadata.version('pypdfium2')} pillow/{metadata.version('Pillow')}"
)


class ThumbnailStatus(StrEnum):
    OK = "ok"
    ENCRYPTED = "encrypted"  # a PDF that needs a password
    TOO_LARGE = "too_large"  # over the pixel cap, or stopped by the memory or CPU limit
    FAILED = "failed"  # damaged content, a renderer error, the wall clock
    UNSUPPORTED = "unsupported"  # a type that has no first page to show (text, CSV)


@dataclass(frozen=True)
class ThumbnailLimits:
    memory_bytes: int = 1024**3
    cpu_seconds: int = 30
    timeout_seconds: float = 30.0


@dataclass(frozen=True)
class Thumbnail:
    status: ThumbnailStatus
    data: bytes = b""
    width: int = 0
    height: int = 0
    pages: int | None = None  # of a PDF
    detail_zh: str = ""
    detail_en: str = ""
    timed_out: bool = False
    renderer: str = THUMBNAILER_VERSION
    media_type: str = MEDIA_TYPE


def can_render(media_type: str) -> bool:
    return media_type == PDF or media_type in IMAGE_TYPES


def render_thumbnail(data: bytes, media_type: str, *, limits: ThumbnailLimits = ThumbnailLimits()) -> Thumbnail:
    """The first page of a PDF, or an image, as a WIDTH-wide WebP; never raises for content."""
    if not can_render(media_type):
        return Thumbnail(
            ThumbnailStatus.UNSUPPORTED,
            detail_zh=f"{media_type} 没有可显示的页面。",
            detail_en=f"A {media_type} file has no page to show.",
        )
    try:
        answer = run_limited(
            "docsvc.core.thumbnail:thumbnail_child",
            data,
            memory_bytes=limits.memory_bytes,
            cpu_seconds=limits.cpu_seconds,
            timeout_seconds=limits.timeout_seconds,
            source="pdf" if media_type == PDF else "image",
        )
    except LimitedChildFailed as exc:
        return Thumbnail(
            ThumbnailStatus.FAILED,
            detail_zh=f"缩略图进程异常（{exc}）。",
            detail_en=f"The thumbnail process failed ({exc}).",
            timed_out=exc.timed_out,
        )
    if answer.get("stopped") == "timeout":
        return Thumbnail(
            ThumbnailStatus.FAILED,
            detail_zh=f"生成缩略图超时（{limits.timeout_seconds:g} 秒），已终止。",
            detail_en=f"Making the thumbnail timed out after {limits.timeout_seconds:g} s.",
            timed_out=True,
        )
    if answer.get("stopped"):
        return Thumbnail(
            ThumbnailStatus.TOO_LARGE,
            detail_zh="生成缩略图超出资源限制（CPU 或内存），已终止。",
            detail_en="Making the thumbnail exceeded its CPU or memory limit and was stopped.",
        )
    status = ThumbnailStatus(answer["status"])
    if status is ThumbnailStatus.OK:
        return Thumbnail(
            status, base64.b64decode(answer["data"]), answer["width"], answer["height"], answer.get("pages")
        )
    return Thumbnail(status, detail_zh=answer.get("zh", ""), detail_en=answer.get("en", ""), pages=answer.get("pages"))


# -- in the limited child -----------------------------------------------------------------------
def thumbnail_child(data: bytes, request: dict[str, Any]) -> dict[str, Any]:
    """Runs in the limited child (docsvc.core.workers.run_limited): render, shrink, encode."""
    try:
        if request["source"] == "pdf":
            image, pages = _first_page(data)
        else:
            image, pages = _image(data), None
    except _Refused as exc:
        return {"status": exc.status, "zh": exc.zh, "en": exc.en}
    except MemoryError:
        return {
            "status": "too_large",
            "zh": "生成缩略图时内存不足。",
            "en": "Out of memory while making the thumbnail.",
        }
    except Exception as exc:  # noqa: BLE001 - damaged content of any kind is the answer, not a crash
        text = f"{type(exc).__name__}: {exc}"[:300]
        return {
            "status": "failed",
            "zh": f"无法读取文件以生成缩略图（{text}）。",
            "en": f"The file could not be read for a thumbnail ({text}).",
        }
    image.thumbnail((WIDTH, MAX_HEIGHT), Image.Resampling.LANCZOS)
    if image.mode not in ("RGB", "L"):
        image = _on_white(image)
    out = io.BytesIO()
    image.save(out, "WEBP", quality=QUALITY, method=4)
    return {
        "status": "ok",
        "data": base64.b64encode(out.getvalue()).decode(),
        "width": image.width,
        "height": image.height,
        "pages": pages,
    }


class _Refused(Exception):
    def __init__(self, status: str, zh: str, en: str) -> None:
        super().__init__(en)
        self.status, self.zh, self.en = status, zh, en


def _first_page(data: bytes) -> tuple[Image.Image, int]:
    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        if "password" in str(exc).lower():
            raise _Refused(
                "encrypted",
                "PDF 已加密，需要密码，无法生成缩略图。",
                "The PDF is encrypted and needs a password; no thumbnail.",
            ) from None
        raise
    pages = len(pdf)
    if pages == 0:
        raise _Refused("failed", "PDF 没有页面。", "The PDF has no pages.")
    page = pdf[0]
    w, h = page.get_size()  # points
    if w <= 0 or h <= 0:
        raise _Refused("failed", "PDF 第一页的尺寸无效。", "The PDF's first page has no valid size.")
    scale = min(WIDTH / w, MAX_HEIGHT / h)
    # Annotations and form fields are drawn as a viewer shows them; white under transparency.
    bitmap = page.render(scale=scale, may_draw_forms=True, fill_color=(255, 255, 255, 255))
    return bitmap.to_pil().convert("RGB"), pages


def _image(data: bytes) -> Image.Image:
    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS  # above it Pillow raises before decoding (a bomb)
    try:
        image: Image.Image = Image.open(io.BytesIO(data))
        image.draft("RGB", (WIDTH * 2, MAX_HEIGHT * 2))  # JPEG: decode at a reduced size, much faster
        image = ImageOps.exif_transpose(image)  # a phone photo the right way up
        image.load()
    except Image.DecompressionBombError:
        raise _Refused(
            "too_large",
            f"图像超过 {MAX_IMAGE_PIXELS} 像素，未生成缩略图。",
            f"The image has more than {MAX_IMAGE_PIXELS} pixels; no thumbnail was made.",
        ) from None
    return image


def _on_white(image: Image.Image) -> Image.Image:
    """Transparent or palette images flattened onto white (WebP would keep a dark backdrop)."""
    rgba = image.convert("RGBA")
    flat = Image.new("RGB", rgba.size, (255, 255, 255))
    flat.paste(rgba, mask=rgba.getchannel("A"))
    return flat


__all__ = [
    "IMAGE_TYPES",
    "MEDIA_TYPE",
    "THUMBNAILER_VERSION",
    "Thumbnail",
    "ThumbnailLimits",
    "ThumbnailStatus",
    "can_render",
    "render_thumbnail",
]
