"""A Word template's texts as Jinja sees them, and docxtpl with its traps closed.

A :class:`Part` is one piece of template text docxtpl renders (the body, a header or footer, the
notes, a core property), after docxtpl's own patching, one Word paragraph per line, so a line
number Jinja reports can be traced back to the paragraph or table cell a drafter sees in Word
(:class:`~docsvc.core.templating.results.Location`).
"""

from __future__ import annotations

import functools
import hashlib
import html
import io
import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import jinja2
from docx.opc.exceptions import PackageNotFoundError
from docxtpl import DocxTemplate
from lxml import etree

from docsvc.core.content import SAFE_XML_PARSER as _SAFE_XML_PARSER
from docsvc.core.templating.results import Location
from docsvc.errors import UnsupportedType

_LOCATION_TEXT_MAX = 60
_FOOTNOTES_CT = "application/vnd.openxmlformats-officedocument.wordprocessingml.footnotes+xml"
_ENDNOTES_CT = "application/vnd.openxmlformats-officedocument.wordprocessingml.endnotes+xml"
_NOTES_CT = (_FOOTNOTES_CT, _ENDNOTES_CT)
_CORE_PROPERTIES = ("author", "comments", "identifier", "language", "subject", "title")
W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


_PATCHED: OrderedDict[bytes, str] = OrderedDict()  # per worker process: template XML → patched


class _DocxTemplate(DocxTemplate):  # type: ignore[misc]  # docxtpl ships no type information
    """docxtpl with three fixes.

    * docxtpl renders footnotes once per *section*: with two sections the second pass renders
      its own output, so a form value ``{{ 7*7 }}`` in a footnote became ``49`` — form data
      executed as a template. Here each notes part is rendered exactly once, and endnotes
      (which docxtpl ignores) are rendered too.
    * docxtpl parses the rendered body with ``recover=True``, which silently drops whatever a
      badly nested tag broke. Here the body must parse strictly first.
    * Core properties (title, subject…) are plain strings that python-docx escapes itself;
      autoescape there would turn ``A & B`` into ``A &amp; B``.

    And one saving: ``patch_xml`` (a dozen regexes over each part of the *template*) runs on
    every render although its result depends only on the template; it is memoised.
    """

    def patch_xml(self, src_xml: str) -> str:
        key = hashlib.blake2b(src_xml.encode(), digest_size=16).digest()
        patched = _PATCHED.get(key)
        if patched is None:
            patched = _PATCHED[key] = checkbox_tags(super().patch_xml(src_xml))[0]
            if len(_PATCHED) > 32:
                _PATCHED.popitem(last=False)
        else:
            _PATCHED.move_to_end(key)
        return patched

    def render_footnotes(self, context: dict[str, Any], jinja_env: jinja2.Environment | None = None) -> None:
        for part in self.docx.part.package.iter_parts():
            if part.content_type in _NOTES_CT:
                xml = self.patch_xml(part.blob.decode("utf-8"))
                xml = self.render_xml_part(xml, part, context, jinja_env)
                etree.fromstring(xml.encode("utf-8"), _SAFE_XML_PARSER)  # must stay well-formed
                part._blob = xml.encode("utf-8")

    def render_properties(self, context: dict[str, Any], jinja_env: jinja2.Environment | None = None) -> None:
        assert jinja_env is not None
        jinja_env.autoescape = False
        try:
            super().render_properties(context, jinja_env)
        finally:
            jinja_env.autoescape = True

    def fix_tables(self, xml: str) -> Any:
        etree.fromstring(xml, _SAFE_XML_PARSER)
        return super().fix_tables(xml)

    def render_xml_part(
        self, src_xml: str, part: Any, context: dict[str, Any], jinja_env: jinja2.Environment | None = None
    ) -> str:
        try:
            xml: str = super().render_xml_part(src_xml, part, context, jinja_env)
            return xml
        except Exception as exc:
            # Remember where it happened so the error can name the paragraph.
            exc.docsvc_part = _part_name(part)  # type: ignore[attr-defined]
            exc.docsvc_source = _with_paragraph_lines(src_xml)  # type: ignore[attr-defined]
            raise


# The tick-box idiom of Chinese model contracts: "☐仲裁　☐诉讼" becomes
# "{{☐ 争议解决方式:仲裁 }}　{{☐ 争议解决方式:诉讼 }}" (the chosen one prints ☑仲裁, the others
# ☐诉讼), and "☐ 涉及数据出境" becomes "{{☐ 数据出境 }} 涉及数据出境" (☑ when yes). □ works as ☐.
# The choice is plain text: no quotes, braces or markup, so it can be a Jinja string as is.
_CHECKBOX_RE = re.compile(r"\{\{\s*[☐□]\s*([^\W\d][\w.]*)\s*(?:[:：]\s*([^{}<>&\"'\s:：][^{}<>&\"'：]*?))?\s*\}\}")


def checkbox_tags(xml: str) -> tuple[str, dict[str, list[str]]]:
    """The XML with each ☐ tag as Jinja, and the tick-box fields found (path → choices)."""
    found: dict[str, list[str]] = {}

    def tag(m: re.Match[str]) -> str:
        name, choice = m.group(1), m.group(2)
        choices = found.setdefault(name, [])
        if choice is None:
            return f'{{{{ "☑" if {name} else "☐" }}}}'
        if choice not in choices:
            choices.append(choice)
        return f'{{{{ "☑" if {name} == "{choice}" else "☐" }}}}{choice}'

    return _CHECKBOX_RE.sub(tag, xml), found


def _part_name(part: Any) -> str:
    return str(getattr(part, "partname", "word/document.xml")).lstrip("/")


def _with_paragraph_lines(src_xml: str) -> str:
    # docxtpl puts each paragraph on its own line before handing XML to Jinja, so a Jinja
    # line number is a paragraph. We do the same to map line numbers back to text.
    return re.sub(r"<w:p([ >])", r"\n<w:p\1", src_xml)


@dataclass(frozen=True)
class Part:
    """One piece of template text that docxtpl renders, as Jinja will see it."""

    name: str
    raw: str  # before docxtpl's patch_xml (for split-run and smart-quote checks)
    source: str  # after patch_xml, one paragraph per line (what Jinja parses)
    is_xml: bool = True
    places: tuple[str, ...] = ()  # where each paragraph of ``raw`` is, in document order
    raw_patched: str = ""  # ``raw`` after docxtpl's own patching, before the ☐ tags become Jinja

    @functools.cached_property
    def _lines(self) -> list[str]:
        return self.source.split("\n")

    def location(self, lineno: int | None) -> Location:
        if not self.is_xml:
            return Location(self.name, truncate(self.source))
        line = self._lines[lineno - 1] if lineno and 0 < lineno <= len(self._lines) else ""
        m = _PARA_MARK_RE.search(line)
        place = self.places[int(m.group(1))] if m and int(m.group(1)) < len(self.places) else ""
        return Location(self.name, _visible_text(line), place)


# Each paragraph of a part is numbered before docxtpl patches it, so a line Jinja reports can
# be traced back to the paragraph, or table cell, the drafter sees in Word.
_PARA_MARK_RE = re.compile(r'<w:p docsvc-n="(\d+)"')
_PARA_OPEN_RE = re.compile(r"<w:p(?=[ >/])")


def _mark_paragraphs(xml: str) -> str:
    counter = iter(range(1 << 30))
    return _PARA_OPEN_RE.sub(lambda _m: f'<w:p docsvc-n="{next(counter)}"', xml)


def _places(root: etree._Element) -> tuple[str, ...]:
    """ "第 3 段" or "表格 2 第 4 行第 1 列" for every paragraph, in document order."""
    out: list[str] = []
    tables: dict[etree._Element, int] = {}
    body = 0
    for p in root.iter(f"{W}p"):
        tc = next(p.iterancestors(f"{W}tc"), None)
        if tc is None:
            body += 1
            out.append(f"第 {body} 段")
            continue
        tr = tc.getparent()
        tbl = tr.getparent() if tr is not None else None
        if tr is None or tbl is None:
            out.append("")
            continue
        number = tables.setdefault(tbl, len(tables) + 1)
        row = tbl.index(tr) - len(tbl.findall(f"{W}tblPr")) - len(tbl.findall(f"{W}tblGrid")) + 1
        col = [c for c in tr if c.tag == f"{W}tc"].index(tc) + 1
        out.append(f"表格 {number} 第 {row} 行第 {col} 列")
    return tuple(out)


def _visible_text(xml: str) -> str:
    # A line can end with a tag docxtpl moved out of a removed table row ({%tr for %}): keep
    # it apart from the paragraph's own text.
    return truncate(html.unescape(re.sub(r"<[^>]+>", "", xml.replace("</w:p>", " "))))


def truncate(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _LOCATION_TEXT_MAX else text[: _LOCATION_TEXT_MAX - 1] + "…"


def open_template(data: bytes) -> _DocxTemplate:
    """Load a package that passed :func:`check_docx_package` as a docxtpl template."""
    tpl = _DocxTemplate(io.BytesIO(data))
    try:
        tpl.init_docx()
    except (PackageNotFoundError, KeyError, ValueError) as exc:
        # A sound zip that is not a Word document: no main part relationship, or the main
        # part has another content type (a spreadsheet, a .dotm…).
        raise UnsupportedType(
            "文件不是有效的 Word 文档（.docx）。",
            "The file is not a valid Word document (.docx).",
            details={"reason": "not_word_document", "error": f"{type(exc).__name__}: {exc}"[:200]},
        ) from None
    return tpl


def template_parts(data: bytes) -> list[Part]:
    """The texts docxtpl renders, in the order it renders them (after the package check)."""
    tpl = open_template(data)
    parts: list[Part] = []

    def xml_part(name: str, raw: str) -> Part:
        places = _places(etree.fromstring(raw.encode("utf-8"), _SAFE_XML_PARSER))
        return Part(
            name,
            raw,
            _with_paragraph_lines(tpl.patch_xml(_mark_paragraphs(raw))),
            places=places,
            raw_patched=DocxTemplate.patch_xml(tpl, raw),
        )

    parts.append(xml_part("word/document.xml", tpl.get_xml()))
    for uri in (tpl.HEADER_URI, tpl.FOOTER_URI):
        for _rel, part in tpl.get_headers_footers(uri):
            parts.append(xml_part(_part_name(part), tpl.get_part_xml(part)))
    for part in tpl.docx.part.package.iter_parts():
        if part.content_type in _NOTES_CT:
            parts.append(xml_part(_part_name(part), part.blob.decode("utf-8")))
    for prop in _CORE_PROPERTIES:
        value = getattr(tpl.docx.core_properties, prop) or ""
        if "{" in value:
            parts.append(Part(f"docProps/core.xml#{prop}", value, value, is_xml=False))
    return parts
