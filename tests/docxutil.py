"""Small .docx helpers shared by the tests: make a document, read its text back."""

from __future__ import annotations

import io

import docx


def make_docx(*paragraphs: str) -> bytes:
    """A .docx with one paragraph per argument, made by python-docx."""
    d = docx.Document()
    for p in paragraphs:
        d.add_paragraph(p)
    out = io.BytesIO()
    d.save(out)
    return out.getvalue()


def docx_text(data: bytes) -> str:
    """The paragraphs of a .docx, then its table cells, one per line."""
    d = docx.Document(io.BytesIO(data))
    parts = [p.text for p in d.paragraphs]
    parts += [c.text for t in d.tables for r in t.rows for c in r.cells]
    return "\n".join(parts)
