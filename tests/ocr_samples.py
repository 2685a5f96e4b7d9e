"""Scanned pages the OCR tests and bench/bench_ocr.py make themselves, with their ground truth.

A Chinese business page (an SLA's clauses, an amount in figures and in 大写, dates, a P1–P4
table, an identifier) is drawn at 200 dpi with the Noto CJK font Debian ships
(fonts-noto-cjk), then degraded as real scans and photos are: skewed, noisy, JPEG-compressed,
photographed with a phone (perspective, uneven light, blur, JPEG) or fed upside down.
"""

from __future__ import annotations

import io
import math
import re
from dataclasses import dataclass
from pathlib import Path

FONT_DIR = Path("/usr/share/fonts/opentype/noto")
FONT_FILES = ("NotoSerifCJK-Regular.ttc", "NotoSansCJK-Regular.ttc")
SC_INDEX = 2  # the Simplified Chinese face in Debian's .ttc collections
DPI = 200
A4_PX = (round(8.27 * DPI), round(11.69 * DPI))

KEY_TERMS = (
    "服务等级协议",
    "人民币肆拾捌万陆仟伍佰元整",
    "486,500.00",
    "2026年4月12日",
    "2027年4月11日",
    "SLA-2026-0412",
)

PAGES: tuple[tuple[str, ...], ...] = (
    (
        "服务等级协议",
        "协议编号：SLA-2026-0412",
        "甲方：大连星海软件服务有限公司",
        "乙方：沈阳北方数据科技有限公司",
        "第一条 服务范围：乙方为甲方的客户关系管理系统提供运行维护服务，",
        "包括事件管理、问题管理、变更管理和配置管理。",
        "第二条 合同金额：人民币肆拾捌万陆仟伍佰元整（¥486,500.00）。",
        "第三条 服务期限：自2026年4月12日起至2027年4月11日止。",
        "第四条 事件优先级与响应时间：",
        ("优先级", "响应时间", "解决时间"),
        ("P1", "15分钟", "4小时"),
        ("P2", "30分钟", "8小时"),
        ("P3", "2小时", "3个工作日"),
        ("P4", "1个工作日", "10个工作日"),
        "第五条 服务可用率不低于99.9%，每月统计一次，由双方签字确认。",
    ),
    (
        "验收报告",
        "项目名称：机房动力环境监控系统升级",
        "验收日期：2026年6月30日    报告编号：YS-2026-0630",
        "一、验收结论：系统运行稳定，各项指标满足合同约定，同意通过验收。",
        "二、遗留问题：备份策略需在三十日内补充说明。",
        "三、付款安排：验收通过后支付尾款人民币贰万叁仟元整（¥23,000.00）。",
        "甲方代表：王立新    乙方代表：李晓梅",
    ),
)


@dataclass(frozen=True)
class Sample:
    name: str  # page-variant
    image: bytes  # PNG or JPEG
    truth: str  # the page's text, one line per line, table cells separated by tabs
    variant: str


def font_path() -> Path | None:
    for name in FONT_FILES:
        if (FONT_DIR / name).exists():
            return FONT_DIR / name
    return None


def truth(page: int) -> str:
    return "\n".join("\t".join(line) if isinstance(line, tuple) else line for line in PAGES[page])


def compact(text: str) -> str:
    """Text without whitespace, full-width forms folded: what the error rate is counted on."""
    import unicodedata

    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))


def cer(reference: str, hypothesis: str) -> float:
    """Character error rate (edit distance over the reference's length), whitespace removed."""
    ref, hyp = compact(reference), compact(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1] / len(ref)


def render(page: int = 0):
    """The clean page as a greyscale PIL image at 200 dpi."""
    from PIL import Image, ImageDraw, ImageFont

    path = font_path()
    if path is None:
        raise FileNotFoundError("fonts-noto-cjk is not installed")
    size = round(12 / 72 * DPI)  # 12 pt
    font = ImageFont.truetype(str(path), size, index=SC_INDEX)
    title = ImageFont.truetype(str(path), round(18 / 72 * DPI), index=SC_INDEX)
    img = Image.new("L", A4_PX, 255)
    draw = ImageDraw.Draw(img)
    x0, y = round(1.0 * DPI), round(1.0 * DPI)
    for i, line in enumerate(PAGES[page]):
        if i == 0:
            draw.text(((A4_PX[0] - draw.textlength(line, font=title)) / 2, y), line, font=title, fill=0)
            y += round(size * 3)
            continue
        if isinstance(line, tuple):  # a table row: cells in columns, ruled
            col = (A4_PX[0] - 2 * x0) // len(line)
            for c, cell in enumerate(line):
                draw.rectangle((x0 + c * col, y - size // 3, x0 + (c + 1) * col, y + round(size * 1.5)), outline=0)
                draw.text((x0 + c * col + size // 2, y), cell, font=font, fill=0)
            y += round(size * 1.85)
            continue
        draw.text((x0, y), line, font=font, fill=0)
        y += round(size * 1.9)
    return img


def _png(img) -> bytes:
    out = io.BytesIO()
    img.save(out, "PNG", dpi=(DPI, DPI))
    return out.getvalue()


def _jpeg(img, quality: int) -> bytes:
    out = io.BytesIO()
    img.save(out, "JPEG", quality=quality, dpi=(DPI, DPI))
    return out.getvalue()


def degrade(img, variant: str, *, seed: int = 16) -> bytes:
    """The page as a scanner or a phone would give it, encoded (PNG, or JPEG where lossy)."""
    import numpy as np
    from PIL import Image, ImageFilter

    rng = np.random.default_rng(seed)
    if variant == "clean":
        return _png(img)
    if variant == "skew":
        return _png(img.rotate(1.5, resample=Image.BICUBIC, expand=True, fillcolor=255))
    if variant == "upside_down":
        return _png(img.rotate(180.4, resample=Image.BICUBIC, expand=True, fillcolor=255))
    if variant == "noise":
        arr = np.asarray(img, dtype=np.float32) + rng.normal(0, 40, (img.height, img.width))
        return _png(Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)))
    if variant == "jpeg":
        return _jpeg(img, 20)
    if variant == "photo":
        # A phone held above the desk: the page is a trapezoid on a darker desk, lit unevenly,
        # slightly out of focus, saved as a JPEG in colour.
        w, h = img.size
        W, H = round(w * 1.15), round(h * 1.1)
        quad = [(0.09 * W, 0.05 * H), (0.93 * W, 0.03 * H), (0.97 * W, 0.97 * H), (0.05 * W, 0.94 * H)]
        coeffs = _perspective(quad, [(0, 0), (w, 0), (w, h), (0, h)])
        page = img.convert("RGB")
        mask = Image.new("L", img.size, 255)
        desk = Image.new("RGB", (W, H), (96, 84, 70))
        warped = page.transform((W, H), Image.PERSPECTIVE, coeffs, Image.BICUBIC)
        desk.paste(warped, (0, 0), mask.transform((W, H), Image.PERSPECTIVE, coeffs, Image.BILINEAR))
        arr = np.asarray(desk, dtype=np.float32)
        ys, xs = np.mgrid[0:H, 0:W]
        light = 0.75 + 0.25 * np.cos((xs / W - 0.3) * math.pi) * np.cos((ys / H - 0.4) * math.pi / 1.5)
        arr = arr * light[..., None] * np.array([1.0, 0.97, 0.9]) + rng.normal(0, 6, arr.shape)
        photo = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(1.1))
        return _jpeg(photo, 70)
    raise ValueError(variant)


def _perspective(dst, src) -> list[float]:
    """PIL's PERSPECTIVE coefficients that map output points ``dst`` to input points ``src``."""
    import numpy as np

    rows = []
    for (x, y), (u, v) in zip(dst, src):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
    b = np.array([c for p in src for c in p], dtype=np.float64)
    return list(np.linalg.solve(np.array(rows, dtype=np.float64), b))


VARIANTS = ("clean", "skew", "noise", "jpeg", "photo", "upside_down")


def samples(variants: tuple[str, ...] = VARIANTS, pages: tuple[int, ...] = (0,)) -> list[Sample]:
    out = []
    for p in pages:
        clean = render(p)
        for v in variants:
            out.append(Sample(f"page{p + 1}-{v}", degrade(clean, v, seed=16 + p), truth(p), v))
    return out


def image_pdf(images: list[bytes]) -> bytes:
    """An image-only PDF (a scan): one page per image, no text layer, at the images' dpi."""
    import img2pdf

    return img2pdf.convert(images, rotation=img2pdf.Rotation.ifvalid)


def join_pdfs(parts: list[bytes]) -> bytes:
    """One PDF of the pages of ``parts`` in order (a report with a scanned page put in)."""
    import pikepdf

    out = pikepdf.new()
    sources = [pikepdf.open(io.BytesIO(p)) for p in parts]
    for src in sources:
        out.pages.extend(src.pages)
    buf = io.BytesIO()
    out.save(buf)
    for src in sources:
        src.close()
    return buf.getvalue()


def small_page(page: int = 0, lines: int = 4):
    """The first ``lines`` lines of a page, drawn on a page a quarter of A4 high: OCR reads it
    in a fraction of a full page's time (for tests that read several pages)."""
    from PIL import Image, ImageDraw, ImageFont

    path = font_path()
    if path is None:
        raise FileNotFoundError("fonts-noto-cjk is not installed")
    size = round(12 / 72 * DPI)
    font = ImageFont.truetype(str(path), size, index=SC_INDEX)
    img = Image.new("L", (A4_PX[0], round(size * 2.2 * lines + DPI)), 255)
    draw = ImageDraw.Draw(img)
    y = DPI // 2
    for line in [line for line in PAGES[page] if isinstance(line, str)][:lines]:
        draw.text((DPI, y), line, font=font, fill=0)
        y += round(size * 2.2)
    return img
