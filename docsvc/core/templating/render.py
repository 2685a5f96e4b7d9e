"""Rendering a template with docxtpl in the sandbox (inside a worker process): the form data made
safe for XML, every rendered part parsed strictly, the bytes reproducible, and every failure a
bilingual error that names the paragraph.
"""

from __future__ import annotations

import contextlib
import io
import re
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import jinja2
from docx.opc import pkgwriter as _pkgwriter
from docx.opc.phys_pkg import _ZipPkgWriter
from docxtpl import DocxTemplate
from jinja2.exceptions import SecurityError
from lxml import etree
from markupsafe import Markup

from docsvc.core.content import check_docx_package
from docsvc.core.templating.fields import discover
from docsvc.core.templating.parts import Part, open_template
from docsvc.core.templating.results import Location
from docsvc.core.templating.sandbox import DocxSandbox, TooExpensive
from docsvc.errors import DocsvcError, TemplateError

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


def render(
    env: DocxSandbox,
    data: bytes,
    context: dict[str, Any],
    max_output_bytes: int,
    properties: Mapping[str, str] | None = None,
) -> bytes:
    check_docx_package(data)  # remembered per content: a template is inflated once per worker
    tpl = open_template(data)
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
            raise TooExpensive(str(exc)) from None
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
        raise TooExpensive(f"output of {len(out)} bytes")
    # No python-docx reopen here (~9 ms for a contract): every rendered part was already parsed
    # strictly above, and the archive checks the package again before storing it.
    return out


def _error_location(exc: BaseException) -> Location | str:
    source = getattr(exc, "docsvc_source", None)
    part = getattr(exc, "docsvc_part", "word/document.xml")
    lineno = getattr(exc, "lineno", None) or _template_lineno(exc)
    if source is None:
        return part
    return Part(part, "", source).location(lineno)


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
        report = discover(env, data)
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
