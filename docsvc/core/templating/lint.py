"""Lint: the problems a drafter can fix in Word, all at once, each at its paragraph with a fix.

Broken tags and names (:mod:`~docsvc.core.templating.syntax`), tags split across Word runs or
left open, curly quotes and full-width braces (read off the runs, before docxtpl patches them),
and the fields used but not declared or declared but not used.
"""

from __future__ import annotations

import bisect
import difflib
import functools
import re
from collections.abc import Iterable, Iterator, Mapping

from lxml import etree

from docsvc.core.content import SAFE_XML_PARSER as _SAFE_XML_PARSER
from docsvc.core.content import check_docx_package
from docsvc.core.templating.fields import collect_fields
from docsvc.core.templating.parts import Part, W, template_parts, truncate
from docsvc.core.templating.results import FieldReport, LintIssue, LintReport, Location
from docsvc.core.templating.sandbox import DocxSandbox
from docsvc.core.templating.syntax import lint_tree, parse_parts

_TAG_OPEN = re.compile(r"\{[{%#]")
_TAG_CLOSE = {"{": "}}", "%": "%}", "#": "#}"}
_SMART_QUOTES = "“”‘’"
_STRAIGHT = str.maketrans({"“": '"', "”": '"', "‘": "'", "’": "'"})


def lint(env: DocxSandbox, data: bytes, declared: Mapping[str, str] | None) -> LintReport:
    """Every issue of a template; ``declared`` (path → the field it derives from) or None to skip
    the declared/used comparison."""
    check_docx_package(data)
    parts = template_parts(data)
    issues: list[LintIssue] = []
    for part in parts:
        if part.is_xml:
            issues += _lint_runs(part)
    parsed, syntax_issues = parse_parts(env, parts)
    issues += syntax_issues
    for part, tree in parsed:
        issues += lint_tree(part, tree, env.globals)
    if declared is not None:
        issues += _lint_declared(collect_fields(parsed, env.globals), declared)
    return LintReport(tuple(issues))


def _paragraph_runs(root: etree._Element) -> Iterator[tuple[int, list[str]]]:
    """(index in document order, the texts of its runs) of each paragraph with text."""
    for n, p in enumerate(root.iter(f"{W}p")):
        texts = [t.text or "" for t in p.iter(f"{W}t") if next(t.iterancestors(f"{W}p"), None) is p]
        if texts:
            yield n, texts


def _lint_runs(part: Part) -> list[LintIssue]:
    """Checks that need Word's runs, so they look at the XML before docxtpl patches it."""
    issues: list[LintIssue] = []
    root = etree.fromstring(part.raw.encode("utf-8"), _SAFE_XML_PARSER)
    for n, texts in _paragraph_runs(root):
        joined = "".join(texts)
        where = Location(part.name, truncate(joined), part.places[n] if n < len(part.places) else "")
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
                        f"标签“{truncate(joined[m.start() :])}”没有在同一段落内结束；一个标签必须写在同一段中。",
                        f"The tag '{truncate(joined[m.start() :])}' is not closed in the same "
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
