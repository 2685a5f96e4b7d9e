"""Repair the text pypdf gives for a PDF, so that it searches as it reads.

pypdf returns each page as the lines the PDF was laid out in. In Chinese that cuts words and
sentences in half (``约定时\\n限``), justification and letter spacing leave spaces between
characters (``服 务 等 级``), and every page repeats its header, footer and page number.
:func:`repair_pages` undoes that, in linear passes over the lines (no regular expression that
can backtrack over a line), and never raises for odd input:

1. Page furniture. In the first and last :data:`ZONE` lines of each page, page-number lines
   (``- 3 -``, ``第 3 页``, ``第3页 共12页``, ``Page 3 of 12``; a bare ``3``, ``3 / 12`` or ``iv``
   only when most pages have one and they differ) are removed, and a line found there (digits
   ignored; not a full line, step 2) on at least 60 % of the pages, and on at least three, is
   kept once: the headers before the body, the footers after it, as DOCX extraction orders them.
2. The typical full line width of the document (a CJK character counts two, anything else one;
   the 90th percentile of the body lines). A line at least 85 % of it is *full*: the layout,
   not the author, broke it.
3. Spaces inside a line. Between two CJK characters (ideographs, kana, hangul, CJK punctuation)
   a single space is dropped when the line is full (justification) or letter-spaced (most
   characters stand alone: 分散对齐, character spacing, OCR text layers); in a shorter line it
   separates fields (a table row, ``公司名 文档名``), so it becomes a tab, as a column gap of
   two or more spaces next to CJK does. DOCX extraction also separates table cells by tabs.
   Other runs of spaces become one space (justified Latin text has two), and a space between
   CJK and Latin or digits stays.
4. Line breaks. A break is joined (nothing between CJK, one space between Latin words) when
   the next line starts with a character that cannot start a line (``，。、；：）》”``…), when
   the line ends in ``，``/``、`` or in a hyphen after a letter or digit, or when the line is
   full, and it is kept when the next line begins a numbered clause or list item (``第三条``,
   ``3.2``, ``（一）``, ``一、``, ``1.``, ``•``, ``-``) or the line ends a sentence
   (``。！？：；``). A break kept only because the line is short or the next one is indented is
   a paragraph end the layout alone shows: it becomes a blank line, so repairing repaired text
   changes nothing. ``manage-\\nment`` loses its hyphen when the document spells the word
   without one elsewhere or never with one and both halves are lower case; ``SLA-2026-\\n0412``
   keeps it.

Text of more than :data:`MAX_LINES` lines (no document has them; a hostile PDF may) is left as
pypdf gave it rather than spend seconds of the extraction child's CPU limit on it.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

MAX_LINES = 300_000  # more lines than 2,000 pages of prose have: left as they are (seconds of CPU)
ZONE = 3  # lines at the top and at the bottom of a page that may be headers or footers
REPEATED_SHARE = 0.6  # ... on at least this share of the pages with text
REPEATED_MIN_PAGES = 3  # ... and on at least this many
FULL_SHARE = 0.85  # a line this share of the typical width is full
FULL_MIN_WIDTH = 20  # a line narrower than this (10 CJK characters) is never full
WIDTH_PERCENTILE = 0.9
_HEADER_MAX_CHARS = 120  # a longer line is body text, not a header
_WIDTH_CHARS = 2000  # widths are counted this far

# Letters of CJK scripts (ideographs, kana, hangul, bopomofo, radicals, 〇々).
_CJK_WORD = (
    "\u2e80-\u2fdf\u3005-\u3007\u3021-\u3029\u3038-\u303c\u3040-\u30ff\u3100-\u312f\u3131-\u318e"
    "\u31a0-\u31bf\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
    "\U00020000-\U0003134f"
)
# CJK punctuation and full-width symbols (not the full-width digits and letters, which NFKC
# makes ASCII), and the quotes, dash, ellipsis and middle dot Chinese text shares with Latin.
_CJK_PUNCT = (
    "\u3001-\u3004\u3008-\u3020\u3030\u303d\u30fb\ufe10-\ufe19\ufe30-\ufe4f"
    "\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65\uffe0-\uffe6"
    "\u2018\u2019\u201c\u201d\u2014\u2026\u00b7"
)
_CJK = _CJK_WORD + _CJK_PUNCT
_CJK_RE = re.compile(f"[{_CJK}]")
_CJK_ONLY_RE = re.compile(f"[{_CJK}]+")
# Characters a terminal shows two columns wide.
_WIDE_RE = re.compile(
    "[\u1100-\u115f\u2e80-\u303e\u3040-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f"
    "\uff00-\uff60\uffe0-\uffe6\U00020000-\U0003fffd]"
)
# Space separators (Unicode Zs) and tabs; other whitespace is a line break to splitlines().
_SPACES = " \t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000"
_SPACE_RUN_RE = re.compile(f"[{_SPACES}]+")
_ZS_RUN_RE = re.compile("[ \u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]+")
_CJK_SPACE_CJK_RE = re.compile(f"(?<=[{_CJK}])[ \u00a0\u1680\u2000-\u200a\u202f\u205f\u3000](?=[{_CJK}])")
_LINE_BREAKS = ("\n", "\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029")  # splitlines()
# Invisible characters PDFs carry that only split words: soft hyphen, zero-width space, BOM.
_INVISIBLE_RE = re.compile("[\u00ad\u200b\ufeff]")
_SOFT_HYPHEN_BREAK_RE = re.compile("\u00ad[ \t]*(?:\r\n|\r|\n)[ \t]*")  # manage\u00ad|ment: one word

# A line starting with one of these continues the previous one (they cannot start a line).
_NO_START = frozenset("，。、；：？！）》〉」』】〕〗〙〛”’…‰℃・ー々ゝゞ～．％］｝,;:!?)]}")
_SENTENCE_END = frozenset("。！？；：!?;:．.")
_CLOSERS = "”’）)》〉」』】〕〗］]\"'"
_CONTINUES = frozenset("，、")  # a line ending in these goes on
_HYPHENS = frozenset("-\u2010\u2011")

_NUM_ZH = "一二三四五六七八九十百千零〇两"
_MARKER_RE = re.compile(
    f"第[{_NUM_ZH}\\d]{{1,6}}[条章节款项部篇编卷]"  # 第三条 第一章
    f"|[{_NUM_ZH}]{{1,3}}[、.．]"  # 一、
    f"|[（(](?:[{_NUM_ZH}]{{1,3}}|\\d{{1,3}}|[a-zA-Z])[）)]"  # （一） (1) (a)
    r"|\d{1,3}(?:[、)）]|[.．](?!\d))"  # 1、 1) 1.
    f"|\\d{{1,3}}(?:[.．]\\d{{1,3}}){{1,4}}(?:[.．、)）]|[{_SPACES}])"  # 3.2 3.2.1 (not 3.2万元)
    r"|[a-zA-Z][.)]\s"  # a. b)
    "|[\u2460-\u249b\u2776-\u2793\u3220-\u3229\u3280-\u3289]"  # ① ⑴ ⒈ ❶ ㈠ ㊀
    "|[•●○■□◆◇▪▫►▶▸➢✓✔√★☆※→◎◉]"  # bullets
    f"|[-–—*·](?:[{_SPACES}]|[{_CJK_WORD}])"  # - item, —— no
)

# Page numbers, matched against a line without its whitespace.
_PAGE_NUMBER_RE = re.compile(
    r"[-–—_~]\d{1,4}[-–—_~]"  # - 3 -
    r"|第\d{1,4}页(?:[,，/／]?共\d{1,4}页)?"  # 第 3 页, 第3页 共12页
    r"|共\d{1,4}页[,，/／]?第\d{1,4}页"
    r"|第\d{1,4}[/／]\d{1,4}页"
    f"|第[{_NUM_ZH}]{{1,6}}页(?:[,，/／]?共[{_NUM_ZH}]{{1,6}}页)?"
    r"|page\d{1,4}(?:of\d{1,4})?|\d{1,4}of\d{1,4}",  # Page 3 of 12
    re.IGNORECASE,
)
# 3, 3 / 12, iv (front matter): page numbers only when most pages have one, and not all the same.
_BARE_PAGE_NUMBER_RE = re.compile(r"\d{1,4}(?:[/／]\d{1,4})?|x{0,3}(?:ix|iv|v?i{1,3}|v)|x{1,3}", re.IGNORECASE)
_WHITESPACE_RE = re.compile(r"\s+")
_DIGITS_RE = re.compile(r"\d+")
_LATIN_WORD_RE = re.compile(r"[A-Za-z]+(?:-[A-Za-z]+)*")
_LATIN_HEAD_RE = re.compile(r"[A-Za-z]+")
_ASCII_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


@dataclass(slots=True)
class _Line:
    text: str  # stripped
    indented: bool = False
    width: int = 0


def repair_pages(pages: list[str]) -> str:
    """The text of a PDF's pages (as pypdf extracts them) as one repaired text."""
    if sum(p.count(brk) for p in pages for brk in _LINE_BREAKS) > MAX_LINES:
        return "\n\n".join(pages)  # no document: not worth seconds of CPU time
    page_lines = [_lines(p) for p in pages]
    headers, footers = _remove_furniture(page_lines)
    body = [line for lines in page_lines for line in lines]
    parts = [_normalise_spaces(h, full=False) for h in headers]
    text = _join(body)
    if text:
        parts.append(text)
    parts += [_normalise_spaces(f, full=False) for f in footers]
    return "\n".join(parts)


def repair_text(text: str) -> str:
    """Spaces and line breaks of one text repaired (step 2-4, no page furniture)."""
    return _join(_lines(text))


def _lines(text: str) -> list[_Line]:
    """Stripped lines; an indented one may begin a paragraph."""
    out = []
    text = _INVISIBLE_RE.sub("", _SOFT_HYPHEN_BREAK_RE.sub("", text))
    for raw in text.splitlines():
        stripped = raw.strip()
        if stripped:
            out.append(_Line(stripped, raw[:1].isspace(), _width(stripped)))
        else:
            out.append(_Line(""))
    return out


# --- page furniture -------------------------------------------------------------------------


def _zone(lines: list[_Line]) -> list[tuple[int, bool]]:
    """(index, at the top) of the first and last ZONE non-blank lines of a page."""
    filled = [i for i, line in enumerate(lines) if line.text]
    top = filled[:ZONE]
    bottom = [i for i in filled[-ZONE:] if i not in top]
    return [(i, True) for i in top] + [(i, False) for i in bottom]


def _remove_furniture(page_lines: list[list[_Line]]) -> tuple[list[str], list[str]]:
    """Blank page numbers and repeated headers and footers in place; the kept headers and footers."""
    zones = [_zone(lines) for lines in page_lines]
    pages_with_text = sum(1 for z in zones if z)
    # A full line is body text, however often it comes back.
    longest = FULL_SHARE * _typical_width([line for lines in page_lines for line in lines])
    keys: list[list[str | None]] = []
    counts: Counter[str] = Counter()
    bare_pages = 0
    bare_values: set[str] = set()
    for lines, zone in zip(page_lines, zones):
        page_keys: list[str | None] = []
        bare = False
        for i, _top in zone:
            text = lines[i].text
            if len(text) > _HEADER_MAX_CHARS or lines[i].width >= max(longest, FULL_MIN_WIDTH):
                page_keys.append(None)
                continue
            compact = _WHITESPACE_RE.sub("", text)
            if _BARE_PAGE_NUMBER_RE.fullmatch(compact):
                bare = True
                bare_values.add(compact.lower())
            page_keys.append(_DIGITS_RE.sub("#", compact))
        counts.update(set(k for k in page_keys if k))
        bare_pages += bare
        keys.append(page_keys)
    needed = max(REPEATED_MIN_PAGES, REPEATED_SHARE * pages_with_text)
    repeated = {k for k, n in counts.items() if n >= needed}
    drop_bare = bare_pages >= 2 and bare_pages >= 0.5 * pages_with_text and len(bare_values) >= 2
    headers: list[str] = []
    footers: list[str] = []
    kept: set[str] = set()
    for lines, zone, page_keys in zip(page_lines, zones, keys):
        removed: set[int] = set()
        for (i, top), key in zip(zone, page_keys):
            if key is None:
                continue
            text = lines[i].text
            compact = _WHITESPACE_RE.sub("", text)
            if _PAGE_NUMBER_RE.fullmatch(compact) or (drop_bare and _BARE_PAGE_NUMBER_RE.fullmatch(compact)):
                removed.add(i)
            elif key in repeated:
                if key not in kept:
                    kept.add(key)
                    (headers if top else footers).append(text)
                removed.add(i)
        if removed:  # gone without a trace: a removed line is no paragraph break
            lines[:] = [line for i, line in enumerate(lines) if i not in removed]
    return headers, footers


# --- widths and spaces ----------------------------------------------------------------------


def _width(text: str) -> int:
    if text.isascii():
        return len(text)
    text = text[:_WIDTH_CHARS]  # past this a line is full anyway: counting on is wasted time
    return len(text) + len(text) - len(_WIDE_RE.sub("", text))


def _typical_width(lines: list[_Line]) -> int:
    widths = sorted(line.width for line in lines if line.text)
    if not widths:
        return 0
    return widths[int(WIDTH_PERCENTILE * (len(widths) - 1))]


def _letter_spaced(text: str) -> bool:
    """Most CJK characters stand alone between spaces: 服 务 等 级 协 议."""
    words = [w for w in text.split() if _CJK_ONLY_RE.fullmatch(w)]
    singles = sum(1 for w in words if len(w) == 1)
    return singles >= 2 and singles >= 0.6 * len(words)


def _normalise_spaces(text: str, *, full: bool) -> str:
    if not _SPACE_RUN_RE.search(text):
        return text
    if not _CJK_RE.search(text) and "\t" not in text:
        return _ZS_RUN_RE.sub(" ", text)
    if full or _letter_spaced(text):
        text = _CJK_SPACE_CJK_RE.sub("", text)

    def run(m: re.Match[str]) -> str:
        start, end = m.span()
        if start == 0 or end == len(text):
            return ""  # only when called on a text that was not stripped
        if "\t" in m.group():
            return "\t"
        before, after = _CJK_RE.match(text, start - 1), _CJK_RE.match(text, end)
        if before and after:
            return "\t"  # a column gap, or fields in a short line
        if (before or after) and end - start > 1:
            return "\t"
        return " "

    return _SPACE_RUN_RE.sub(run, text)


# --- line breaks ----------------------------------------------------------------------------

_JOIN, _KEEP, _PARAGRAPH = "", "\n", "\n\n"


def _break(a: _Line, b: _Line, full: bool) -> str:
    """What goes between line ``a`` and the next line ``b`` (both non-blank): join, keep, or a
    blank line for a paragraph end that only the layout shows."""
    first, last = b.text[0], a.text[-1]
    if first in _NO_START:
        return _JOIN
    if _MARKER_RE.match(b.text):
        return _KEEP
    core = a.text.rstrip(_CLOSERS)
    if core and core[-1] in _SENTENCE_END:
        return _KEEP
    if last in _CONTINUES or (last in _HYPHENS and len(a.text) > 1 and a.text[-2].isalnum() and first.isalnum()):
        return _JOIN
    if b.indented or not full:
        return _PARAGRAPH
    return _JOIN


def _join(lines: list[_Line]) -> str:
    typical = _typical_width(lines)
    threshold = max(FULL_MIN_WIDTH, FULL_SHARE * typical)
    words: set[str] | None = None
    out: list[str] = []
    prev: _Line | None = None
    prev_full = False
    blank = False
    for line in lines:
        if not line.text:
            blank = prev is not None
            continue
        full = line.width >= threshold
        text = _normalise_spaces(line.text, full=full)
        line.text = text
        if prev is None:
            out.append(text)
        elif blank:
            out += (_PARAGRAPH, text)
        else:
            sep = _break(prev, line, prev_full)
            if sep == _JOIN:
                last, first = prev.text[-1], text[0]
                if last in _HYPHENS and len(prev.text) > 1 and prev.text[-2].isalnum():
                    if words is None:
                        words = _latin_words(lines)
                    if _drop_hyphen(prev.text, text, words):
                        out[-1] = out[-1][:-1]
                elif not _CJK_RE.match(last) and not _CJK_RE.match(first) and last != "/" and first not in _NO_START:
                    sep = " "
            out += (sep, text)
        prev, prev_full, blank = line, full, False
    return "".join(out)


def _latin_words(lines: list[_Line]) -> set[str]:
    return {w.lower() for line in lines for w in _LATIN_WORD_RE.findall(line.text)}


def _drop_hyphen(a: str, b: str, words: set[str]) -> bool:
    """manage-|ment: a hyphen the layout added. Kept when the document spells the word with it."""
    start = end = len(a) - 1  # the hyphen
    while start > 0 and a[start - 1] in _ASCII_LETTERS:  # a loop: a regex anchored at $ backtracks
        start -= 1
    tail = _LATIN_HEAD_RE.match(b)
    head = a[start:end]
    if not head or not tail:
        return False
    joined, hyphenated = (head + tail.group()).lower(), f"{head}-{tail.group()}".lower()
    if hyphenated in words:
        return False
    if joined in words:
        return True
    return head[-1].islower() and tail.group()[0].islower()


__all__ = ["repair_pages", "repair_text"]
