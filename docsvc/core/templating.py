"""Word templates: package checks, field discovery, lint and sandboxed rendering.

A template is untrusted input twice over: its zip package can be a bomb, and its Jinja tags are
code. So:

* :func:`check_docx_package` reads the zip central directory and stream-inflates every member
  with a byte counter *before* python-docx or docxtpl touch the bytes (python-docx would inflate
  a bomb completely, then parse it).
* Everything that parses or runs a template happens in a long-lived worker process (see
  :class:`RenderPool`) under RLIMIT_AS, RLIMIT_CPU and a wall-clock timeout, with Jinja's
  ``SandboxedEnvironment``, ``StrictUndefined`` and autoescape. The sandbox stops attribute
  tricks; only the process limits stop a template that loops or allocates forever.
* The worker sends results back as JSON plus raw bytes, never pickles, so a worker that were
  ever subverted could not run code in the service process by what it sends.

Field paths use dots for attributes and ``[]`` for list rows: ``party_a.name``,
``payment_schedule[].amount``. Locations name the package part and the visible text of the
Word paragraph (or table cell paragraph) where a tag sits, as the author sees it in Word.

Nothing here imports Flask or SQLAlchemy.
"""

from __future__ import annotations

import atexit
import bisect
import contextlib
import dataclasses
import difflib
import functools
import hashlib
import html
import io
import json
import os
import pickle
import re
import resource
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import zipfile
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import jinja2
from docx.opc import pkgwriter as _pkgwriter
from docx.opc.exceptions import PackageNotFoundError
from docx.opc.phys_pkg import _ZipPkgWriter
from docxtpl import DocxTemplate
from jinja2 import nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment, safe_range
from lxml import etree
from markupsafe import Markup

from docsvc.core.content import SAFE_XML_PARSER as _SAFE_XML_PARSER
from docsvc.core.content import PackageInfo, check_docx_package
from docsvc.core.schema.model import FIELD_NAME_RE
from docsvc.errors import (
    DocsvcError,
    InvalidInput,
    TemplateError,
    TooLarge,
    Unavailable,
    UnsupportedType,
)

MiB = 1024 * 1024

# ---------------------------------------------------------------------------------------------
# 1. The package check lives in docsvc.core.content (uploads and templates share it)
# ---------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------
# 2. Results: fields, locations, lint issues
# ---------------------------------------------------------------------------------------------

_LOCATION_TEXT_MAX = 60
_LOCATIONS_PER_FIELD = 20


_PART_NAMES = (
    ("word/document.xml", "正文"),
    ("word/header", "页眉"),
    ("word/footer", "页脚"),
    ("word/footnotes", "脚注"),
    ("word/endnotes", "尾注"),
    ("docProps/core.xml", "文档属性"),
)


@dataclass(frozen=True)
class Location:
    """Where a tag sits: the package part, the place in it a drafter can find in Word
    ("第 12 段", "表格 2 第 3 行第 2 列") and the visible text of the paragraph."""

    part: str
    text: str
    place: str = ""

    def __str__(self) -> str:
        where = next((zh for prefix, zh in _PART_NAMES if self.part.startswith(prefix)), self.part)
        return f"{where}{' ' + self.place if self.place else ''}：“{self.text}”"


@dataclass(frozen=True)
class Field:
    """A variable the template reads, as a path (``party_a.name``, ``rows[].amount``)."""

    path: str
    locations: tuple[Location, ...]


@dataclass(frozen=True)
class Checkbox:
    """A ☐ tag: ``{{☐ 数据出境 }}`` (a yes/no field, no choices) or ``{{☐ 争议解决方式:仲裁 }}``
    (one choice of a field), with every choice the template offers for that field."""

    path: str
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class FieldReport:
    """Every field a template uses, in document order, and which of them are ☐ tick boxes."""

    fields: tuple[Field, ...]
    checkboxes: tuple[Checkbox, ...] = ()

    @property
    def paths(self) -> frozenset[str]:
        return frozenset(f.path for f in self.fields)

    def get(self, path: str) -> Field | None:
        return next((f for f in self.fields if f.path == path), None)


@dataclass(frozen=True)
class LintIssue:
    severity: str  # "error" | "warning"
    code: str
    zh: str
    en: str
    location: Location | None = None
    subject: str = ""  # the field, tag or name the issue is about
    fix_zh: str = ""  # what to change, as a drafter would do it in Word
    fix_en: str = ""

    def __str__(self) -> str:
        where = f" [{self.location}]" if self.location else ""
        fix = f" → {self.fix_zh} / {self.fix_en}" if self.fix_zh else ""
        return f"{self.severity} {self.code}: {self.zh} / {self.en}{where}{fix}"


@dataclass(frozen=True)
class LintReport:
    issues: tuple[LintIssue, ...]

    @property
    def ok(self) -> bool:
        """True when there is no error; warnings do not stop a template from being used."""
        return not self.errors

    @property
    def errors(self) -> tuple[LintIssue, ...]:
        return tuple(i for i in self.issues if i.severity == "error")

    @property
    def warnings(self) -> tuple[LintIssue, ...]:
        return tuple(i for i in self.issues if i.severity == "warning")

    def codes(self) -> set[str]:
        return {i.code for i in self.issues}


# ---------------------------------------------------------------------------------------------
# 3. The sandbox
# ---------------------------------------------------------------------------------------------

MAX_SEQUENCE_ITEMS = 1_000_000  # one `*` may not build a longer string or list
MAX_GENERATED_ITEMS = 5_000_000  # all range() and `*` results of one render together
MAX_INT_BITS = 4096  # `**` and `*` on integers: about 1,200 decimal digits


class _TooExpensive(Exception):
    """Raised inside a render when a template goes over a budget; never leaves the worker."""


class DocxSandbox(SandboxedEnvironment):
    """Jinja's sandbox plus budgets on the operations that build huge values cheaply.

    ``'A' * 10**9`` or ``range(99999)`` nested in ``range(99999)`` are legal in the stock
    sandbox; here they fail at once instead of running into the worker's time or memory limit.
    Compiled templates are cached by source: docxtpl calls ``from_string`` for every part on
    every render, and compiling is most of its cost (measured: 26 → 14 ms for a contract).
    """

    intercepted_binops = frozenset({"*", "**"})

    def __init__(self, *, cache_size: int = 64) -> None:
        super().__init__(undefined=jinja2.StrictUndefined, autoescape=True)
        del self.globals["lipsum"]  # builds text in a loop; no use in a contract
        self.globals["range"] = self._range
        self._budget = MAX_GENERATED_ITEMS
        self._cache: OrderedDict[tuple[bool, bytes], Any] = OrderedDict()
        self._cache_size = cache_size

    def reset_budget(self) -> None:
        self._budget = MAX_GENERATED_ITEMS

    def _charge(self, items: int) -> None:
        self._budget -= items
        if self._budget < 0:
            raise _TooExpensive(f"more than {MAX_GENERATED_ITEMS} generated items")

    def _range(self, *args: int) -> range:
        rng = safe_range(*args)  # keeps the stock MAX_RANGE check
        self._charge(len(rng))
        return rng

    def call_binop(self, context: jinja2.runtime.Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            if (
                isinstance(left, int)
                and isinstance(right, int)
                and abs(left) > 1
                and (right > MAX_INT_BITS or left.bit_length() * right > MAX_INT_BITS)
            ):
                raise _TooExpensive(f"{left} ** {right}")
            return left**right
        # operator == "*"
        for seq, times in ((left, right), (right, left)):
            if isinstance(seq, (str, bytes, list, tuple)) and isinstance(times, int):
                items = len(seq) * times
                if items > MAX_SEQUENCE_ITEMS:
                    raise _TooExpensive(f"sequence of {items} items")
                self._charge(max(items, 0))
                return left * right
        if isinstance(left, int) and isinstance(right, int) and left.bit_length() + right.bit_length() > MAX_INT_BITS:
            raise _TooExpensive("integer product too large")
        return left * right

    def from_string(self, source: Any, globals: Any = None, template_class: Any = None) -> Any:
        if not isinstance(source, str) or template_class is not None:
            return super().from_string(source, globals, template_class)
        # autoescape is compiled into the code, so it is part of the key.
        key = (bool(self.autoescape), hashlib.blake2b(source.encode(), digest_size=16).digest())
        code = self._cache.get(key)
        if code is None:
            code = self.compile(source)
            self._cache[key] = code
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        return self.template_class.from_code(self, code, self.make_globals(globals), None)


# ---------------------------------------------------------------------------------------------
# 4. docxtpl, with its traps closed
# ---------------------------------------------------------------------------------------------

_FOOTNOTES_CT = "application/vnd.openxmlformats-officedocument.wordprocessingml.footnotes+xml"
_ENDNOTES_CT = "application/vnd.openxmlformats-officedocument.wordprocessingml.endnotes+xml"
_NOTES_CT = (_FOOTNOTES_CT, _ENDNOTES_CT)
_CORE_PROPERTIES = ("author", "comments", "identifier", "language", "subject", "title")
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


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
            patched = _PATCHED[key] = _checkbox_tags(super().patch_xml(src_xml))[0]
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


_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


class _EpochZipWriter(_ZipPkgWriter):
    """python-docx's package writer stamps every zip member with the time of saving, so one
    document rendered twice from the same data differed and a regeneration without changes
    looked like a new version. This one stamps the zip epoch: same input, same bytes."""

    def __new__(cls, pkg_file: Any) -> _EpochZipWriter:  # PhysPkgWriter.__new__ picks its own class
        return object.__new__(cls)

    def write(self, pack_uri: Any, blob: bytes) -> None:
        info = zipfile.ZipInfo(pack_uri.membername, date_time=_ZIP_EPOCH)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o600 << 16  # what ZipFile.writestr gives a member named by a string
        self._zipf.writestr(info, blob)


@contextlib.contextmanager
def _reproducible_save() -> Iterator[None]:
    """Save packages with :class:`_EpochZipWriter` (a worker process renders one document at a
    time, so swapping python-docx's writer for the duration of a save affects nothing else)."""
    original = _pkgwriter.PhysPkgWriter
    _pkgwriter.PhysPkgWriter = _EpochZipWriter  # type: ignore[misc]  # a class swapped on purpose
    try:
        yield
    finally:
        _pkgwriter.PhysPkgWriter = original  # type: ignore[misc]


def _set_properties(tpl: DocxTemplate, properties: Mapping[str, str] | None) -> None:
    """The document's own title and author in its core properties (LibreOffice copies them into
    the PDF), instead of the template's name and "generated by python-docx"."""
    if not properties:
        return
    core = tpl.docx.core_properties
    for name in ("title", "author", "subject"):
        if name in properties:
            setattr(core, name, _XML_FORBIDDEN.sub("", str(properties[name]))[:255])
    if "author" in properties:
        core.last_modified_by = core.author
    core.comments = ""  # python-docx's "generated by python-docx"


# The tick-box idiom of Chinese model contracts: "☐仲裁　☐诉讼" becomes
# "{{☐ 争议解决方式:仲裁 }}　{{☐ 争议解决方式:诉讼 }}" (the chosen one prints ☑仲裁, the others
# ☐诉讼), and "☐ 涉及数据出境" becomes "{{☐ 数据出境 }} 涉及数据出境" (☑ when yes). □ works as ☐.
# The choice is plain text: no quotes, braces or markup, so it can be a Jinja string as is.
_CHECKBOX_RE = re.compile(r"\{\{\s*[☐□]\s*([^\W\d][\w.]*)\s*(?:[:：]\s*([^{}<>&\"'\s:：][^{}<>&\"'：]*?))?\s*\}\}")


def _checkbox_tags(xml: str) -> tuple[str, dict[str, list[str]]]:
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
class _Part:
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
            return Location(self.name, _truncate(self.source))
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
    for p in root.iter(f"{_W}p"):
        tc = next(p.iterancestors(f"{_W}tc"), None)
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
        row = tbl.index(tr) - len(tbl.findall(f"{_W}tblPr")) - len(tbl.findall(f"{_W}tblGrid")) + 1
        col = [c for c in tr if c.tag == f"{_W}tc"].index(tc) + 1
        out.append(f"表格 {number} 第 {row} 行第 {col} 列")
    return tuple(out)


def _visible_text(xml: str) -> str:
    # A line can end with a tag docxtpl moved out of a removed table row ({%tr for %}): keep
    # it apart from the paragraph's own text.
    return _truncate(html.unescape(re.sub(r"<[^>]+>", "", xml.replace("</w:p>", " "))))


def _truncate(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _LOCATION_TEXT_MAX else text[: _LOCATION_TEXT_MAX - 1] + "…"


def _open_template(data: bytes) -> _DocxTemplate:
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


def _template_parts(data: bytes) -> list[_Part]:
    """The texts docxtpl renders, in the order it renders them (after the package check)."""
    tpl = _open_template(data)
    parts: list[_Part] = []

    def xml_part(name: str, raw: str) -> _Part:
        places = _places(etree.fromstring(raw.encode("utf-8"), _SAFE_XML_PARSER))
        return _Part(
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
            parts.append(_Part(f"docProps/core.xml#{prop}", value, value, is_xml=False))
    return parts


# ---------------------------------------------------------------------------------------------
# 5. Field discovery: a walk over the Jinja AST with scopes
# ---------------------------------------------------------------------------------------------

# Filters that keep the elements of a list, so `for row in rows|sort(...)` still has rows.
_ELEMENT_PRESERVING_FILTERS = frozenset(
    {"sort", "reverse", "list", "unique", "selectattr", "rejectattr", "select", "reject"}
)
_LOCAL_NAMES = frozenset({"loop", "caller", "varargs", "kwargs"})


class _FieldWalker:
    """Collects (path, lineno) for every field read, resolving loop and ``set`` variables.

    A scope maps a local name to the field path it stands for, or to None for a value that is
    not a field (a macro argument, a namespace, a computed value).
    """

    def __init__(self, global_names: Iterable[str]) -> None:
        self.uses: list[tuple[str, int]] = []
        self._globals = frozenset(global_names)

    def walk(self, body: Iterable[nodes.Node], scope: dict[str, str | None]) -> None:
        for node in body:
            self.visit(node, scope)

    def visit(self, node: nodes.Node, scope: dict[str, str | None]) -> None:
        if isinstance(node, (nodes.Name, nodes.Getattr, nodes.Getitem)):
            pending: list[nodes.Node] = []
            path = self._chain(node, scope, pending)
            if path is not None:
                self.uses.append((path, node.lineno))
            elif not isinstance(node, nodes.Name):
                self.visit(node.node, scope)  # e.g. a method result: (x.y()).z
            for extra in pending:
                self.visit(extra, scope)
        elif isinstance(node, nodes.Call) and isinstance(node.node, nodes.Getattr):
            # A method call such as name.upper() or d.items(): the object is the field.
            self.visit(node.node.node, scope)
            self._visit_all(_call_arguments(node), scope)
        elif isinstance(node, nodes.For):
            self._visit_for(node, scope)
        elif isinstance(node, nodes.Assign):
            self._bind(node.target, self._alias(node.node, scope), scope)
        elif isinstance(node, nodes.AssignBlock):
            self.walk(node.body, scope)
            self._bind(node.target, None, scope)
        elif isinstance(node, nodes.With):
            inner = dict(scope)
            for target, value in zip(node.targets, node.values):
                self._bind(target, self._alias(value, scope), inner)
            self.walk(node.body, inner)
        elif isinstance(node, (nodes.Macro, nodes.CallBlock)):
            if isinstance(node, nodes.CallBlock):
                self.visit(node.call, scope)
            else:
                scope[node.name] = None
            self._visit_all(node.defaults, scope)
            inner = dict(scope)
            for arg in node.args:
                inner[arg.name] = None
            self.walk(node.body, inner)
        else:
            self._visit_all(node.iter_child_nodes(), scope)

    def _visit_all(self, children: Iterable[nodes.Node], scope: dict[str, str | None]) -> None:
        for child in children:
            self.visit(child, scope)

    def _visit_for(self, node: nodes.For, scope: dict[str, str | None]) -> None:
        iterable = node.iter
        while (
            isinstance(iterable, nodes.Filter)
            and iterable.name in _ELEMENT_PRESERVING_FILTERS
            and iterable.node is not None
        ):
            self._visit_all(_call_arguments(iterable), scope)
            iterable = iterable.node
        pending: list[nodes.Node] = []
        path = self._chain(iterable, scope, pending)
        if path is None:
            self.visit(iterable, scope)
            row = None
        else:
            row = path + "[]"
            self.uses.append((row, node.lineno))
            self._visit_all(pending, scope)
        inner = dict(scope)
        inner["loop"] = None
        if isinstance(node.target, nodes.Name):
            inner[node.target.name] = row
        else:
            self._bind(node.target, None, inner)
        if node.test is not None:
            self.visit(node.test, inner)
        self.walk(node.body, inner)
        self.walk(node.else_, scope)

    def _alias(self, value: nodes.Node, scope: dict[str, str | None]) -> str | None:
        """The path a ``set``/``with`` value stands for; an alias alone is not a use."""
        pending: list[nodes.Node] = []
        path = self._chain(value, scope, pending)
        if path is None:
            self.visit(value, scope)
        self._visit_all(pending, scope)
        return path

    def _bind(self, target: nodes.Node, path: str | None, scope: dict[str, str | None]) -> None:
        if isinstance(target, nodes.Name):
            scope[target.name] = path
        elif isinstance(target, nodes.Tuple):
            for item in target.items:
                self._bind(item, None, scope)
        # NSRef (ns.total = …) writes into a namespace object: nothing to bind.

    def _chain(self, node: nodes.Node, scope: dict[str, str | None], pending: list[nodes.Node]) -> str | None:
        """The field path of a Name/Getattr/Getitem chain, or None if it is not a field."""
        if isinstance(node, nodes.Name):
            if node.name in scope:
                return scope[node.name]
            if node.name in self._globals or node.name in _LOCAL_NAMES:
                return None
            return node.name
        if isinstance(node, nodes.Getattr):
            base = self._chain(node.node, scope, pending)
            return None if base is None else f"{base}.{node.attr}"
        if isinstance(node, nodes.Getitem):
            base = self._chain(node.node, scope, pending)
            if base is None:
                return None
            arg = node.arg
            if isinstance(arg, nodes.Const) and isinstance(arg.value, str):
                return f"{base}.{arg.value}"
            if isinstance(arg, nodes.Slice):
                pending.extend(arg.iter_child_nodes())
                return base
            if not isinstance(arg, nodes.Const):
                pending.append(arg)
            return f"{base}[]"
        return None


def _call_arguments(node: nodes.Call | nodes.Filter) -> list[nodes.Node]:
    args: list[nodes.Node] = [*node.args, *(kw.value for kw in node.kwargs)]
    args += [n for n in (node.dyn_args, node.dyn_kwargs) if n is not None]
    return args


def _collect_fields(parsed: list[tuple[_Part, nodes.Template]], global_names: Iterable[str]) -> FieldReport:
    found: dict[str, list[Location]] = {}
    for part, tree in parsed:
        walker = _FieldWalker(global_names)
        walker.walk(tree.body, {})
        for path, lineno in walker.uses:
            locations = found.setdefault(path, [])
            loc = part.location(lineno)
            if loc not in locations and len(locations) < _LOCATIONS_PER_FIELD:
                locations.append(loc)
    boxes: dict[str, list[str]] = {}
    for part, _tree in parsed:
        if part.is_xml:
            for name, choices in _checkbox_tags(part.raw_patched)[1].items():
                known = boxes.setdefault(name, [])
                known += [c for c in choices if c not in known]
    return FieldReport(
        tuple(Field(p, tuple(locs)) for p, locs in found.items()),
        tuple(Checkbox(name, tuple(choices)) for name, choices in boxes.items()),
    )


def _parse_parts(
    env: jinja2.Environment, parts: list[_Part]
) -> tuple[list[tuple[_Part, nodes.Template]], list[LintIssue]]:
    """Parse each part; for a part that does not parse, find every broken tag and every
    unbalanced block in it (Jinja itself stops at the first error)."""
    parsed, issues = [], []
    for part in parts:
        try:
            parsed.append((part, env.parse(part.source)))
        except jinja2.TemplateSyntaxError as exc:
            found = _tag_problems(env, part)
            issues += found or [_syntax_issue(part, exc.message or "", exc.lineno, "")]
    return parsed, issues


_TAG_RE = re.compile(r"{{.*?}}|{%.*?%}", re.DOTALL)
_BLOCK_RE = re.compile(r"{%-?\s*(\w+)")
_OPENERS = {
    "if": "endif",
    "for": "endfor",
    "with": "endwith",
    "macro": "endmacro",
    "call": "endcall",
    "filter": "endfilter",
    "raw": "endraw",
}
_MIDDLES = {"elif": "if", "else": ("if", "for")}
_FULLWIDTH = "（）：，。；“”‘’【】｛｝＝！＜＞"


def _syntax_issue(part: _Part, message: str, lineno: int | None, tag: str) -> LintIssue:
    fix_zh, fix_en = (
        "检查该段中标签的写法，例如 {{ 字段名 }}、{% if 字段名 %}…{% endif %}。",
        "Check how the tags in this paragraph are written, e.g. {{ name }}, {% if name %}…{% endif %}.",
    )
    bad = [ch for ch in tag if ch in _FULLWIDTH]
    if bad:
        fixed = "".join(ch for ch in tag if ch not in _FULLWIDTH)
        fix_zh = f"标签中不能有全角标点（{''.join(dict.fromkeys(bad))}），例如改为 {fixed}。"
        fix_en = f"Tags cannot hold full-width punctuation ({''.join(dict.fromkeys(bad))}); e.g. write {fixed}."
    return LintIssue(
        "error",
        "syntax_error",
        f"模板语法错误：{message}" + (f"（{tag}）" if tag else ""),
        f"Template syntax error: {message}" + (f" ({tag})" if tag else ""),
        part.location(lineno),
        tag,
        fix_zh,
        fix_en,
    )


def _tag_problems(env: jinja2.Environment, part: _Part) -> list[LintIssue]:
    """Every tag of a part that does not parse on its own, and every block left open or
    closed twice, each at its paragraph."""
    issues: list[LintIssue] = []
    stack: list[tuple[str, int, str]] = []  # (opener, line, tag)
    for lineno, line in enumerate(part.source.split("\n"), start=1):
        for m in _TAG_RE.finditer(line):
            tag = html.unescape(m.group())
            keyword = _BLOCK_RE.match(tag)
            word = keyword.group(1) if keyword else ""
            if tag.startswith("{{"):
                probe = tag
            elif word in _OPENERS:
                probe = tag + "{% " + _OPENERS[word] + " %}"
            elif word in _MIDDLES:
                opener = _MIDDLES[word]
                probe = ("{% if x %}" if opener == "if" or word == "else" else "") + tag + "{% endif %}"
            else:
                probe = tag if not word.startswith("end") else ""
            if probe:
                try:
                    tree = env.parse(probe)
                except jinja2.TemplateSyntaxError as exc:
                    issues.append(_syntax_issue(part, exc.message or "", lineno, tag))
                else:  # a sound tag in a broken part: its names are still checked
                    issues += [
                        dataclasses.replace(i, location=part.location(lineno))
                        for i in _lint_tree(part, tree, env.globals)
                    ]
            if word in _OPENERS:
                stack.append((word, lineno, tag))
            elif word.startswith("end"):
                opener = word[3:]
                if stack and stack[-1][0] == opener:
                    stack.pop()
                elif any(o == opener for o, _, _ in stack):
                    while stack and stack[-1][0] != opener:
                        issues.append(_unclosed_block(part, *stack.pop()))
                    stack.pop()
                else:
                    issues.append(
                        LintIssue(
                            "error",
                            "unbalanced_block",
                            f"{tag} 前面没有对应的 {{% {opener} … %}}。",
                            f"{tag} has no matching {{% {opener} … %}} before it.",
                            part.location(lineno),
                            tag,
                            f"删除 {tag}，或在前面的段落中补上对应的开始标签。",
                            f"Delete {tag}, or add the opening tag in an earlier paragraph.",
                        )
                    )
    issues += [_unclosed_block(part, *item) for item in reversed(stack)]
    return issues


def _unclosed_block(part: _Part, opener: str, lineno: int, tag: str) -> LintIssue:
    end = "{% " + _OPENERS[opener] + " %}"
    return LintIssue(
        "error",
        "unbalanced_block",
        f"{tag} 没有对应的 {end}。",
        f"{tag} is never closed by {end}.",
        part.location(lineno),
        tag,
        f"在该块结束处补上 {end}（{{%p …%}} 与 {{%tr …%}} 须成对使用）。",
        f"Add {end} where the block ends ({{%p …%}} and {{%tr …%}} come in pairs).",
    )


def _discover_local(env: DocxSandbox, data: bytes) -> FieldReport:
    check_docx_package(data)
    parsed, issues = _parse_parts(env, _template_parts(data))
    if issues:
        first = issues[0]
        raise TemplateError(
            first.zh + f"（{first.location}）",
            first.en + f" ({first.location})",
            details={"reason": "syntax", "location": str(first.location)},
        )
    return _collect_fields(parsed, env.globals)


# ---------------------------------------------------------------------------------------------
# 6. Lint
# ---------------------------------------------------------------------------------------------

_TAG_OPEN = re.compile(r"\{[{%#]")
_TAG_CLOSE = {"{": "}}", "%": "%}", "#": "#}"}
_SMART_QUOTES = "“”‘’"
_STRAIGHT = str.maketrans({"“": '"', "”": '"', "‘": "'", "’": "'"})
_FORBIDDEN_NODES: tuple[type[nodes.Node], ...] = (nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)


def _lint_local(env: DocxSandbox, data: bytes, declared: Mapping[str, str] | None) -> LintReport:
    check_docx_package(data)
    parts = _template_parts(data)
    issues: list[LintIssue] = []
    for part in parts:
        if part.is_xml:
            issues += _lint_runs(part)
    parsed, syntax_issues = _parse_parts(env, parts)
    issues += syntax_issues
    for part, tree in parsed:
        issues += _lint_tree(part, tree, env.globals)
    if declared is not None:
        issues += _lint_declared(_collect_fields(parsed, env.globals), declared)
    return LintReport(tuple(issues))


def _paragraph_runs(root: etree._Element) -> Iterator[tuple[int, list[str]]]:
    """(index in document order, the texts of its runs) of each paragraph with text."""
    for n, p in enumerate(root.iter(f"{_W}p")):
        texts = [t.text or "" for t in p.iter(f"{_W}t") if next(t.iterancestors(f"{_W}p"), None) is p]
        if texts:
            yield n, texts


def _lint_runs(part: _Part) -> list[LintIssue]:
    """Checks that need Word's runs, so they look at the XML before docxtpl patches it."""
    issues: list[LintIssue] = []
    root = etree.fromstring(part.raw.encode("utf-8"), _SAFE_XML_PARSER)
    for n, texts in _paragraph_runs(root):
        joined = "".join(texts)
        where = Location(part.name, _truncate(joined), part.places[n] if n < len(part.places) else "")
        if "｛" in joined or "｝" in joined:
            issues.append(
                LintIssue(
                    "warning",
                    "fullwidth_brace",
                    "段落中有全角括号“｛ ｝”，模板不会识别为标签；请改用半角 {{ }} 或 {% %}。",
                    "The paragraph has full-width braces '｛ ｝', which are not template tags; "
                    "use ASCII {{ }} or {% %}.",
                    where,
                    "",
                    "把“｛｛”“｝｝”改为半角的“{{”“}}”（关闭输入法全角后重新输入）。",
                    "Retype '｛｛' and '｝｝' as ASCII '{{' and '}}' (switch the input method to half-width).",
                )
            )
        ends = list(_accumulate(len(t) for t in texts))
        run_of = functools.partial(bisect.bisect_right, ends)
        pos = 0
        while m := _TAG_OPEN.search(joined, pos):
            close = joined.find(_TAG_CLOSE[m.group()[1]], m.end())
            if close < 0:
                issues.append(
                    LintIssue(
                        "error",
                        "unclosed_tag",
                        f"标签“{_truncate(joined[m.start() :])}”没有在同一段落内结束；一个标签必须写在同一段中。",
                        f"The tag '{_truncate(joined[m.start() :])}' is not closed in the same "
                        "paragraph; a tag must stay within one paragraph.",
                        where,
                        joined[m.start() : m.start() + 40],
                        f"在同一段内补上“{_TAG_CLOSE[m.group()[1]]}”，不要在标签中间换行或分段。",
                        f"Close it with '{_TAG_CLOSE[m.group()[1]]}' in the same paragraph; no line or "
                        "paragraph break inside a tag.",
                    )
                )
                break
            tag = joined[m.start() : close + 2]
            if run_of(m.start()) != run_of(close + 1):
                issues.append(
                    LintIssue(
                        "warning",
                        "split_tag",
                        f"标签 {tag} 被 Word 拆分到多个文本片段（格式不一致或修订记录造成）；"
                        "渲染时会合并，但建议删除后一次性重新输入。",
                        f"The tag {tag} is split across several Word runs (mixed formatting or "
                        "revisions); it will be joined when rendering, but retype it in one go.",
                        where,
                        tag,
                        f"选中 {tag}，删除后一次性重新输入（或清除格式）。",
                        f"Select {tag}, delete it and type it again in one go (or clear its formatting).",
                    )
                )
            if any(q in tag for q in _SMART_QUOTES):
                issues.append(
                    LintIssue(
                        "warning",
                        "smart_quotes",
                        f"标签 {tag} 中有弯引号（“ ” ‘ ’）；请改为英文直引号，并关闭 Word 的"
                        "“自动套用格式：直引号替换为弯引号”。",
                        f"The tag {tag} contains curly quotes (“ ” ‘ ’); use straight quotes and "
                        "turn off Word's AutoFormat 'straight quotes with smart quotes'.",
                        where,
                        tag,
                        "改为 " + tag.translate(_STRAIGHT),
                        "Write " + tag.translate(_STRAIGHT),
                    )
                )
            pos = close + 2
    return issues


def _accumulate(lengths: Iterable[int]) -> Iterator[int]:
    total = 0
    for n in lengths:
        total += n
        yield total


def _lint_tree(part: _Part, tree: nodes.Template, global_names: Iterable[str]) -> list[LintIssue]:
    issues: list[LintIssue] = []
    allowed = frozenset(global_names) | _LOCAL_NAMES

    def bad_name(name: str, node: nodes.Node) -> None:
        better = _suggest_name(name)
        issues.append(
            LintIssue(
                "error",
                "bad_name",
                f"字段名“{name}”不符合要求：只能使用汉字或小写英文字母、数字和下划线，并以汉字或字母"
                "开头（例如 甲方名称、party_a_name）。",
                f"The name '{name}' is not allowed: use Chinese characters or lowercase letters, "
                "digits and underscores, starting with a Chinese character or a letter (e.g. 甲方名称, "
                "party_a_name).",
                part.location(node.lineno),
                name,
                f"改为 {better}" if better else "换一个由汉字或小写字母组成的名称。",
                f"Rename it {better}" if better else "Choose a name of Chinese characters or lowercase letters.",
            )
        )

    def private(name: str, node: nodes.Node) -> None:
        issues.append(
            LintIssue(
                "error",
                "private_attribute",
                f"不允许访问以下划线开头的属性“{name}”。",
                f"Attributes starting with an underscore ('{name}') are not allowed.",
                part.location(node.lineno),
                name,
            )
        )

    for node in tree.find_all(_FORBIDDEN_NODES):
        keywords: dict[type[nodes.Node], str] = {
            nodes.Include: "include",
            nodes.Import: "import",
            nodes.FromImport: "from … import",
            nodes.Extends: "extends",
        }
        keyword = keywords[type(node)]
        issues.append(
            LintIssue(
                "error",
                "forbidden_tag",
                f"模板中不允许使用 {{% {keyword} %}}。",
                f"{{% {keyword} %}} is not allowed in templates.",
                part.location(node.lineno),
                keyword,
            )
        )
    for node in tree.find_all((nodes.Name, nodes.Getattr, nodes.Getitem, nodes.Filter, nodes.Macro)):
        if isinstance(node, (nodes.Name, nodes.Macro)):
            if node.name not in allowed and not FIELD_NAME_RE.fullmatch(node.name):
                bad_name(node.name, node)
            if isinstance(node, nodes.Macro):
                for arg in node.args:
                    if not FIELD_NAME_RE.fullmatch(arg.name):
                        bad_name(arg.name, arg)
        elif isinstance(node, nodes.Getattr):
            if node.attr.startswith("_"):
                private(node.attr, node)
            elif not FIELD_NAME_RE.fullmatch(node.attr):
                bad_name(node.attr, node)
        elif isinstance(node, nodes.Getitem):
            key = node.arg.value if isinstance(node.arg, nodes.Const) else None
            if isinstance(key, str):
                if key.startswith("_"):
                    private(key, node)
                elif not FIELD_NAME_RE.fullmatch(key):
                    bad_name(key, node)
        elif (
            isinstance(node, nodes.Filter)
            and node.name == "attr"
            and node.args
            and isinstance(node.args[0], nodes.Const)
        ):
            key = node.args[0].value
            if isinstance(key, str) and key.startswith("_"):
                private(key, node)
    return issues


def _suggest_name(name: str) -> str:
    """partyA → party_a, Party-Name → party_name, 甲方 名称 → 甲方名称; "" when nothing fits."""
    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()
    text = re.sub(r"[^a-z0-9_\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+", "_", text).strip("_")
    text = re.sub(r"_+", "_", text).lstrip("0123456789_")[:63]
    return text if text and FIELD_NAME_RE.fullmatch(text) and text != name else ""


def _lint_declared(report: FieldReport, declared: Mapping[str, str]) -> list[LintIssue]:
    """Compare the used paths with the declared ones.

    ``declared`` maps every path a template may use to the declared field it comes from
    (``term_start_cn`` → ``term_start``; a plain set maps each path to itself). A used path
    counts as declared when it is declared or is the parent of a declared path
    (``{% if party_a %}`` with ``party_a.name`` declared). A declared field counts as used when
    any of its paths is used or has a used field below it (``rows[]`` is used when
    ``rows[].amount`` is).
    """

    def below(child: str, parent: str) -> bool:
        return child.startswith(parent + ".") or child.startswith(parent + "[]")

    issues: list[LintIssue] = []
    used = report.paths
    for fld in report.fields:
        if fld.path not in declared and not any(below(d, fld.path) for d in declared):
            close = difflib.get_close_matches(fld.path, list(declared), n=1, cutoff=0.75)
            issues.append(
                LintIssue(
                    "error",
                    "undeclared_field",
                    f"模板使用了字段定义中没有的字段 {fld.path}。",
                    f"The template uses the field {fld.path}, which the field schema does not declare.",
                    fld.locations[0] if fld.locations else None,
                    fld.path,
                    (f"是否应为 {close[0]}？改正拼写，" if close else "") + f"或在字段定义中声明 {fld.path}。",
                    (f"Did you mean {close[0]}? Fix the spelling, " if close else "")
                    + f"or declare {fld.path} in the schema.",
                )
            )
    used_sources = {source for path, source in declared.items() if path in used or any(below(u, path) for u in used)}
    for source in sorted(set(declared.values()) - used_sources):
        issues.append(
            LintIssue(
                "warning",
                "unused_field",
                f"字段定义中声明的字段 {source} 在模板中没有用到。",
                f"The declared field {source} is not used by the template.",
                None,
                source,
                f"在模板中加入 {{{{ {source} }}}}，或从字段定义中删除该字段。",
                f"Show it in the template with {{{{ {source} }}}}, or remove it from the schema.",
            )
        )
    return issues


# ---------------------------------------------------------------------------------------------
# 7. Rendering (runs inside a worker)
# ---------------------------------------------------------------------------------------------

# Characters XML 1.0 forbids. Kept: tab, newline, carriage return, and \a and \f, which
# docxtpl turns into a new paragraph and a page break.
_XML_FORBIDDEN = re.compile("[\x00-\x06\x08\x0b\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_safe(value: Any) -> Any:
    """The context with characters XML cannot hold removed from every string.

    A vertical tab pasted from Excel, or a NUL, would otherwise make the rendered part
    ill-formed (and docxtpl's recovering parser would silently drop text around it).
    """
    if isinstance(value, str):
        cleaned = _XML_FORBIDDEN.sub("", value)
        if cleaned == value:
            return value
        return Markup(cleaned) if isinstance(value, Markup) else cleaned
    if isinstance(value, Mapping):
        return {key: _xml_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_xml_safe(item) for item in value)
    return value


def _render_local(
    env: DocxSandbox,
    data: bytes,
    context: dict[str, Any],
    max_output_bytes: int,
    properties: Mapping[str, str] | None = None,
) -> bytes:
    check_docx_package(data)  # remembered per content: a template is inflated once per worker
    tpl = _open_template(data)
    context = _xml_safe(context)
    try:
        tpl.render(context, jinja_env=env, autoescape=True)
    except jinja2.UndefinedError as exc:
        if "attribute '_" in str(exc):
            # What is left of a blocked `|attr('__class__')` chain: an unsafe expression.
            raise _unsafe_error(exc) from None
        raise _missing_field_error(env, data, context, exc) from None
    except SecurityError as exc:
        raise _unsafe_error(exc) from None
    except jinja2.TemplateSyntaxError as exc:
        where = _error_location(exc)
        raise TemplateError(
            f"模板语法错误：{exc.message}（{where}）",
            f"Template syntax error: {exc.message} ({where})",
            details={"reason": "syntax", "location": str(where)},
        ) from None
    except jinja2.TemplateError as exc:
        where = _error_location(exc)
        raise TemplateError(
            f"模板无法渲染：{exc}（{where}）",
            f"The template cannot be rendered: {exc} ({where})",
            details={"reason": "render", "location": str(where)},
        ) from None
    except etree.XMLSyntaxError as exc:
        if "memory" in str(exc).lower():
            raise MemoryError from None
        if "huge" in str(exc).lower():  # libxml2 refuses text nodes over 10 MB
            raise _TooExpensive(str(exc)) from None
        raise TemplateError(
            "模板结构有误：渲染结果不是有效的 Word 内容（常见原因：{% if %}/{% for %} 与结束标签"
            "不在同一层级，例如一个在段落中、一个在表格行中）。",
            "The template's structure is broken: the result is not valid Word XML (usually an "
            "{% if %}/{% for %} and its end tag sit at different levels, e.g. one in a "
            "paragraph and one in a table row).",
            details={"reason": "structure", "error": str(exc)[:200]},
        ) from None
    _set_properties(tpl, properties)
    buf = io.BytesIO()
    with _reproducible_save():
        tpl.save(buf)
    out = buf.getvalue()
    if len(out) > max_output_bytes:
        raise _TooExpensive(f"output of {len(out)} bytes")
    # No python-docx reopen here (~9 ms for a contract): every rendered part was already parsed
    # strictly above, and the archive checks the package again before storing it.
    return out


def _error_location(exc: BaseException) -> Location | str:
    source = getattr(exc, "docsvc_source", None)
    part = getattr(exc, "docsvc_part", "word/document.xml")
    lineno = getattr(exc, "lineno", None) or _template_lineno(exc)
    if source is None:
        return part
    return _Part(part, "", source).location(lineno)


def _template_lineno(exc: BaseException) -> int | None:
    """Jinja rewrites tracebacks so template frames carry the template's line numbers."""
    lineno = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            lineno = tb.tb_lineno
        tb = tb.tb_next
    return lineno


def _unsafe_error(exc: BaseException) -> TemplateError:
    where = _error_location(exc)
    return TemplateError(
        f"模板包含不安全的表达式，已拒绝（{where}）。",
        f"The template contains an unsafe expression and was refused ({where}).",
        details={"reason": "unsafe", "error": str(exc)[:200], "location": str(where)},
    )


def _missing_field_error(
    env: DocxSandbox, data: bytes, context: Mapping[str, Any], exc: jinja2.UndefinedError
) -> TemplateError:
    # Jinja says "'dict object' has no attribute 'name'"; the field report knows the path.
    try:
        report = _discover_local(env, data)
        missing = [f.path for f in report.fields if not _has_path(context, f.path)]
    except DocsvcError:
        missing = []
    if not missing:
        m = re.match(r"'([^']+)' is undefined", str(exc))
        missing = [m.group(1)] if m else []
    names = "、".join(missing) or str(exc)
    where = _error_location(exc)
    return TemplateError(
        f"缺少模板字段的数据：{names}（{where}）。",
        f"No value given for template field(s): {', '.join(missing) or exc} ({where}).",
        field=missing[0] if missing else None,
        details={"reason": "missing_field", "missing": missing, "location": str(where)},
    )


_PATH_TOKEN = re.compile(r"\[\]|\.?([^.\[]+)")


def _has_path(value: Any, path: str) -> bool:
    """Whether ``path`` (``a.b[].c``) resolves in the context, for every list row."""
    tokens = [m.group(1) or "[]" for m in _PATH_TOKEN.finditer(path)]

    def walk(obj: Any, rest: list[str]) -> bool:
        if not rest:
            return True
        head, tail = rest[0], rest[1:]
        if head == "[]":
            if isinstance(obj, (str, bytes, Mapping)) or not isinstance(obj, Iterable):
                return False
            return all(walk(item, tail) for item in obj)
        if isinstance(obj, Mapping):
            return head in obj and walk(obj[head], tail)
        return hasattr(obj, head) and walk(getattr(obj, head), tail)

    return walk(value, tokens)


# ---------------------------------------------------------------------------------------------
# 8. The worker processes
# ---------------------------------------------------------------------------------------------
#
# Why not multiprocessing? "fork" would copy a threaded web process with any lock another
# thread holds. "forkserver" and "spawn" re-run the caller's __main__ in the child: a script
# without a main guard then fails every render with a misleading error, and a heavy __main__
# costs on every worker start. So a worker is a plain `python -c` child (about 0.2 s to
# import docxtpl) that stays up and serves many renders; it is replaced only after it was
# killed (timeout, CPU limit), ran out of memory, or failed in an unexpected way. The
# replacement starts in the background, off the request path.
#
# Parent → worker: pickled (task, payload, limits) — the parent is trusted. Worker → parent:
# a JSON header and raw bytes, never a pickle, so even a subverted worker could not run code
# in the service process. Frames are an 8-byte length and the payload.


@dataclass(frozen=True)
class Limits:
    timeout_s: float = 10.0
    memory_mb: int = 512
    max_output_bytes: int = 50 * MiB


_ERROR_CLASSES: dict[str, type[DocsvcError]] = {
    cls.__name__: cls for cls in (InvalidInput, TooLarge, UnsupportedType, TemplateError)
}
_FRAME = struct.Struct(">Q")
_READY = b"docsvc-template-worker-ready"
_WORKER_START_TIMEOUT_S = 30.0


def _too_expensive(limits: Limits, reason: str, **details: Any) -> TemplateError:
    return TemplateError(
        f"模板渲染超时或超出内存限制（{limits.timeout_s:g} 秒 / {limits.memory_mb} MB），"
        "已中止；请检查模板中的循环和重复运算。",
        f"The template is too expensive to render: it ran over the time or memory limit "
        f"({limits.timeout_s:g} s / {limits.memory_mb} MB) and was stopped; check its loops "
        "and repetitions.",
        details={"reason": reason, **details},
    )


def _send_frame(sock: socket.socket, payload: bytes) -> None:
    sock.sendall(_FRAME.pack(len(payload)))
    sock.sendall(payload)


def _recv_exact(sock: socket.socket, n: int, deadline: float | None) -> bytes:
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            sock.settimeout(remaining)
        count = sock.recv_into(view[got:])
        if count == 0:
            raise EOFError
        got += count
    return bytes(buf)


def _recv_frame(sock: socket.socket, deadline: float | None = None, maxlength: int | None = None) -> bytes:
    (n,) = _FRAME.unpack(_recv_exact(sock, _FRAME.size, deadline))
    if maxlength is not None and n > maxlength:
        raise EOFError(f"frame of {n} bytes over {maxlength}")
    return _recv_exact(sock, n, deadline)


def _worker_entry(fd: int) -> None:
    """The worker's main loop: serve tasks until the parent's end of the socket closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's business
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    sock = socket.socket(fileno=fd)
    env = DocxSandbox()
    _send_frame(sock, _READY)
    while True:
        try:
            task, payload, limits = pickle.loads(_recv_frame(sock))
        except (EOFError, OSError):
            return
        _apply_limits(limits)
        header, body = _run_task(env, task, payload, limits)
        _send_frame(sock, json.dumps(header, ensure_ascii=False).encode("utf-8"))
        _send_frame(sock, body)


def _apply_limits(limits: Limits) -> None:
    # Only the soft limits move; the hard limits stay so the next task can be given its own.
    # A template cannot call setrlimit: the sandbox allows no module access.
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    memory = limits.memory_mb * MiB
    resource.setrlimit(resource.RLIMIT_AS, (memory if hard == resource.RLIM_INFINITY else min(memory, hard), hard))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    _soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
    cpu = int(usage.ru_utime + usage.ru_stime + limits.timeout_s) + 2
    resource.setrlimit(resource.RLIMIT_CPU, (cpu if hard == resource.RLIM_INFINITY else min(cpu, hard), hard))


def _run_task(env: DocxSandbox, task: str, payload: Any, limits: Limits) -> tuple[dict[str, Any], bytes]:
    env.reset_budget()
    try:
        if task == "render":
            data, context, properties = payload
            return {"ok": True}, _render_local(env, data, context, limits.max_output_bytes, properties)
        if task == "discover":
            return {"ok": True, "result": asdict(_discover_local(env, payload))}, b""
        if task == "lint":
            data, declared = payload
            return {"ok": True, "result": asdict(_lint_local(env, data, declared))}, b""
        raise ValueError(f"unknown task {task!r}")
    except DocsvcError as exc:
        return _error_header(exc, recycle=False), b""
    except (RecursionError, _TooExpensive) as exc:
        # Refused before anything was damaged: the stack unwound, the worker is fine.
        reason = "recursion" if isinstance(exc, RecursionError) else "budget"
        return _error_header(_too_expensive(limits, reason, error=str(exc)[:200]), recycle=False), b""
    except MemoryError:
        return _error_header(_too_expensive(limits, "memory"), recycle=True), b""
    except Exception as exc:  # noqa: BLE001 - an unexpected library error: report it, start a fresh worker
        return _error_header(
            TemplateError(
                f"模板无法处理：{type(exc).__name__}: {str(exc)[:200]}",
                f"The template cannot be processed: {type(exc).__name__}: {str(exc)[:200]}",
                details={"reason": "internal"},
            ),
            recycle=True,
        ), b""


def _error_header(exc: DocsvcError, *, recycle: bool) -> dict[str, Any]:
    return {
        "ok": False,
        "recycle": recycle,
        "error": {"class": type(exc).__name__, "zh": exc.zh, "en": exc.en, "field": exc.field, "details": exc.details},
    }


class _WorkerLost(Exception):
    def __init__(self, reason: str, exitcode: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.exitcode = exitcode


class _Worker:
    """The parent's handle on one worker process."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair()
        # The docsvc package's parent directory, so a source checkout works uninstalled.
        env = dict(os.environ)
        root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(filter(None, (root, env.get("PYTHONPATH"))))
        try:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    f"from docsvc.core.templating import _worker_entry; _worker_entry({theirs.fileno()})",
                ],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                env=env,
            )
        finally:
            theirs.close()
        self.sock = ours
        self.tasks = 0
        try:
            ready = _recv_frame(self.sock, time.monotonic() + _WORKER_START_TIMEOUT_S, 64)
        except (EOFError, OSError):  # TimeoutError is an OSError
            self.kill()
            raise RuntimeError("the template worker did not start") from None
        if ready != _READY:
            self.kill()
            raise RuntimeError("the template worker did not start")

    def call(self, task: str, payload: Any, limits: Limits) -> tuple[dict[str, Any], bytes]:
        self.tasks += 1
        try:
            self.sock.settimeout(limits.timeout_s)
            _send_frame(self.sock, pickle.dumps((task, payload, limits)))
        except OSError:
            raise _WorkerLost("gone") from None
        deadline = time.monotonic() + limits.timeout_s
        try:
            header = _recv_frame(self.sock, deadline, 16 * MiB)
            body = _recv_frame(self.sock, deadline, limits.max_output_bytes + 1)
        except TimeoutError:
            raise _WorkerLost("timeout") from None
        except (EOFError, OSError):
            try:
                self.process.wait(1)  # killed by RLIMIT_CPU or a signal: it is already gone
            except subprocess.TimeoutExpired:
                pass
            raise _WorkerLost("died", self.process.returncode) from None
        return json.loads(header), body

    def kill(self) -> None:
        self.sock.close()
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


class RenderPool:
    """A few long-lived template workers, shared by threads, replaced after a failure.

    A worker runs one task at a time; callers wait up to ``acquire_timeout_s`` for a free
    one. A worker that timed out, died, ran out of memory or failed unexpectedly is killed,
    and a replacement is started in the background (about 0.2 s).
    """

    def __init__(
        self, size: int | None = None, *, max_tasks_per_worker: int = 1000, acquire_timeout_s: float = 30.0
    ) -> None:
        self.size = size or max(1, min(os.cpu_count() or 1, 4))
        self.max_tasks_per_worker = max_tasks_per_worker
        self.acquire_timeout_s = acquire_timeout_s
        self._cond = threading.Condition()
        self._idle: list[_Worker] = []
        self._live = 0  # started or starting
        self._pid = os.getpid()
        self._closed = False
        self.tasks = 0
        self.replaced = 0

    def warm(self) -> None:
        """Start every worker now (in parallel) instead of on first use."""
        with self._cond:
            missing = self.size - self._live
            self._live += missing
        threads = [threading.Thread(target=self._add_worker) for _ in range(missing)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    def stats(self) -> dict[str, int]:
        with self._cond:
            return {
                "size": self.size,
                "live": self._live,
                "idle": len(self._idle),
                "tasks": self.tasks,
                "replaced": self.replaced,
            }

    def run(self, task: str, payload: Any, limits: Limits) -> tuple[dict[str, Any], bytes]:
        with self._cond:
            self.tasks += 1
        for attempt in (1, 2):
            worker = self._checkout()
            healthy = False
            try:
                header, body = worker.call(task, payload, limits)
                healthy = not header.get("recycle", False)
                return header, body
            except _WorkerLost as lost:
                if lost.reason == "gone" and attempt == 1:
                    continue  # it died while idle, before seeing the task: try another
                if lost.reason == "timeout":
                    raise _too_expensive(limits, "timeout") from None
                raise _too_expensive(limits, "worker_died", exitcode=lost.exitcode) from None
            finally:
                self._checkin(worker, healthy)
        raise AssertionError("unreachable")

    def close(self) -> None:
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            self._cond.notify_all()
        for w in idle:
            w.kill()

    def _checkout(self) -> _Worker:
        deadline = time.monotonic() + self.acquire_timeout_s
        with self._cond:
            if self._pid != os.getpid():  # we are a forked child: the workers are the parent's
                self._idle, self._live, self._pid = [], 0, os.getpid()
            while True:
                if self._closed:
                    raise _pool_closed()
                while self._idle:
                    worker = self._idle.pop()
                    if worker.process.poll() is None:
                        return worker
                    # It died while idle (OOM killer, an operator): count the slot free.
                    worker.kill()
                    self._live -= 1
                    self.replaced += 1
                if self._live < self.size:
                    self._live += 1
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise _pool_busy()
                self._cond.wait(remaining)
        try:
            return _Worker()  # outside the lock: starting takes about 0.2 s
        except BaseException:
            with self._cond:
                self._live -= 1
                self._cond.notify()
            raise

    def _checkin(self, worker: _Worker, healthy: bool) -> None:
        keep = healthy and worker.tasks < self.max_tasks_per_worker
        with self._cond:
            if keep and not self._closed and self._pid == os.getpid():
                self._idle.append(worker)
                self._cond.notify()
                return
            replace = not self._closed
            self.replaced += replace
        worker.kill()
        if replace:
            threading.Thread(target=self._add_worker, name="docsvc-template-worker-start", daemon=True).start()
        else:
            with self._cond:
                self._live -= 1

    def _add_worker(self) -> None:
        """Start a worker for a slot already counted in ``_live`` and make it idle."""
        try:
            worker = _Worker()
        except (OSError, RuntimeError):
            with self._cond:
                self._live -= 1
                self._cond.notify()
            return
        with self._cond:
            if not self._closed:
                self._idle.append(worker)
                self._cond.notify()
                return
            self._live -= 1
        worker.kill()


def _pool_busy() -> DocsvcError:
    return Unavailable(
        "模板渲染繁忙，请稍后重试。", "Template rendering is busy; try again shortly.", details={"reason": "busy"}
    )


def _pool_closed() -> DocsvcError:
    return Unavailable("模板渲染服务已关闭。", "Template rendering has been shut down.", details={"reason": "closed"})


_default_pool: RenderPool | None = None
_default_pool_lock = threading.Lock()


def default_pool() -> RenderPool:
    """The process-wide pool used when no pool is passed."""
    global _default_pool
    with _default_pool_lock:
        if _default_pool is None:
            _default_pool = RenderPool()
            atexit.register(_default_pool.close)
        return _default_pool


def _call(pool: RenderPool | None, task: str, payload: Any, limits: Limits) -> tuple[dict[str, Any], bytes]:
    header, body = (pool or default_pool()).run(task, payload, limits)
    if not header["ok"]:
        err = header["error"]
        cls = _ERROR_CLASSES.get(err["class"], TemplateError)
        raise cls(err["zh"], err["en"], field=err["field"], details=err["details"])
    return header, body


# ---------------------------------------------------------------------------------------------
# 9. The public entry points
# ---------------------------------------------------------------------------------------------


def render_docx(
    template_bytes: bytes,
    context: Mapping[str, Any],
    *,
    timeout_s: float = 10,
    memory_mb: int = 512,
    max_output_bytes: int = 50 * MiB,
    pool: RenderPool | None = None,
    properties: Mapping[str, str] | None = None,
) -> bytes:
    """Fill a .docx template with ``context`` in a sandboxed, resource-limited worker.

    ``properties`` (title, author, subject) replace the template's core properties. The same
    template, context and properties always give the same bytes.

    Raises :class:`TemplateError` for an unsafe expression (``details["reason"] == "unsafe"``),
    a template too expensive to render (``"timeout"``, ``"memory"``, ``"budget"``,
    ``"worker_died"``), a missing field (``"missing_field"``, with ``details["missing"]``), a
    syntax error; :class:`InvalidInput` for a bad package. Every rendered part has been parsed
    strictly before the package is returned.
    """
    if not isinstance(context, Mapping):
        raise InvalidInput("表单数据必须是键值对象。", "The form data must be a mapping.")
    limits = Limits(timeout_s, memory_mb, max_output_bytes)
    _header, body = _call(
        pool, "render", (bytes(template_bytes), dict(context), dict(properties) if properties else None), limits
    )
    return body


def discover_fields(docx_bytes: bytes, *, timeout_s: float = 10, pool: RenderPool | None = None) -> FieldReport:
    """Every field the template reads, with where it is used (header, footer, notes too)."""
    header, _ = _call(pool, "discover", bytes(docx_bytes), Limits(timeout_s))
    return _field_report_from_json(header["result"])


def lint_template(
    docx_bytes: bytes,
    declared: set[str] | frozenset[str] | Mapping[str, str] | None = None,
    *,
    timeout_s: float = 10,
    pool: RenderPool | None = None,
) -> LintReport:
    """Check a template for problems an author can fix in Word; see the issue ``code``\\ s.

    ``declared``: the field paths the schema allows, as a set, or as a mapping from each
    usable path to the field it derives from (``TemplateSchema.field_sources()``), so that a
    field used only through ``term_start_cn`` is not reported as unused. None skips the
    declared/used comparison. Raises :class:`InvalidInput` when the package itself is
    unreadable or unsafe.
    """
    sources = (
        None if declared is None else (dict(declared) if isinstance(declared, Mapping) else {p: p for p in declared})
    )
    header, _ = _call(pool, "lint", (bytes(docx_bytes), sources), Limits(timeout_s))
    return LintReport(
        tuple(
            LintIssue(
                i["severity"],
                i["code"],
                i["zh"],
                i["en"],
                _location_from_json(i["location"]),
                i["subject"],
                i["fix_zh"],
                i["fix_en"],
            )
            for i in header["result"]["issues"]
        )
    )


def _location_from_json(data: dict[str, str] | None) -> Location | None:
    return None if data is None else _location(data)


def _location(data: dict[str, str]) -> Location:
    return Location(data["part"], data["text"], data["place"])


def _field_report_from_json(data: dict[str, Any]) -> FieldReport:
    return FieldReport(
        tuple(Field(f["path"], tuple(_location(loc) for loc in f["locations"])) for f in data["fields"]),
        tuple(Checkbox(c["path"], tuple(c["choices"])) for c in data["checkboxes"]),
    )


__all__ = [
    "Checkbox",
    "DocxSandbox",
    "Field",
    "FieldReport",
    "LintIssue",
    "LintReport",
    "Limits",
    "Location",
    "PackageInfo",
    "RenderPool",
    "check_docx_package",
    "default_pool",
    "discover_fields",
    "lint_template",
    "render_docx",
]
