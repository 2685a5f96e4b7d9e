"""A Word document's body as a page shows it: paragraphs, headings and tables in document order.

The template preview (a rendered, unarchived DOCX) shows the filled form as it will read: a
payment schedule or the P1–P4 priority table as a table, not as a column of single lines. Cells
keep their horizontal spans (``w:gridSpan``); a cell continued from the row above
(``w:vMerge``) is left empty, as Word shows it; the leading rows marked to repeat as a header
(``w:tblHeader``) are the table's header (a layout table, such as the signature block, has none).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import docx
from docx.oxml.ns import qn
from docx.table import Table as DocxTable
from docx.table import _Cell
from docx.text.paragraph import Paragraph

from docsvc.core.content import PackageLimits, check_ooxml_package

MAX_BLOCKS = 20_000
MAX_CHARS = 2_000_000


@dataclass(frozen=True)
class Para:
    text: str
    level: int = 0  # 1–3 for a heading (Title and Heading 1 are 1), 0 for body text


@dataclass(frozen=True)
class Cell:
    text: str
    span: int = 1


@dataclass(frozen=True)
class Table:
    rows: tuple[tuple[Cell, ...], ...]
    header_rows: int


Block = Para | Table


class TooLargeToShow(Exception):
    """More than MAX_BLOCKS blocks or MAX_CHARS characters."""


def docx_blocks(data: bytes, *, limits: PackageLimits = PackageLimits()) -> tuple[Block, ...]:
    """The body's blocks; raises the package check's errors, or TooLargeToShow."""
    check_ooxml_package(data, limits=limits)
    document = docx.Document(io.BytesIO(data))
    blocks: list[Block] = []
    chars = 0
    for item in document.iter_inner_content():
        block = _table(item) if isinstance(item, DocxTable) else _para(item)
        if block is None:
            continue
        blocks.append(block)
        chars += sum(len(c.text) for row in block.rows for c in row) if isinstance(block, Table) else len(block.text)
        if len(blocks) > MAX_BLOCKS or chars > MAX_CHARS:
            raise TooLargeToShow()
    return tuple(blocks)


def _para(p: Paragraph) -> Para | None:
    text = p.text.strip()
    if not text:
        return None  # blank lines carry nothing on a preview
    style = (p.style.name if p.style is not None else "") or ""
    level = 0
    if style == "Title":
        level = 1
    elif style.startswith("Heading "):
        level = min(3, int(style.rsplit(" ", 1)[-1])) if style.rsplit(" ", 1)[-1].isdigit() else 0
    return Para(text, level)


def _table(t: DocxTable) -> Table | None:
    rows = []
    flagged = 0
    for i, tr in enumerate(t._tbl.tr_lst):
        trPr = tr.find(qn("w:trPr"))
        if trPr is not None and trPr.find(qn("w:tblHeader")) is not None and i == flagged:
            flagged += 1  # header rows are the leading ones that repeat on each page
        cells = []
        for tc in tr.tc_lst:
            continued = tc.vMerge == "continue"
            cells.append(Cell("" if continued else _Cell(tc, t).text.strip(), max(1, tc.grid_span)))
        rows.append(tuple(cells))
    if not rows:
        return None
    return Table(tuple(rows), flagged)


__all__ = ["Block", "Cell", "Para", "Table", "TooLargeToShow", "docx_blocks"]
