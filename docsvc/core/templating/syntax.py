"""Template tags as Jinja reads them: each part parsed, and where one does not parse, every broken
tag and unbalanced block found (Jinja itself stops at the first); and the names and tags a
template may not use.
"""

from __future__ import annotations

import dataclasses
import html
import re
from collections.abc import Iterable

import jinja2
from jinja2 import nodes

from docsvc.core.schema.model import FIELD_NAME_RE
from docsvc.core.templating.parts import Part
from docsvc.core.templating.results import LintIssue
from docsvc.core.templating.sandbox import LOCAL_NAMES

_FORBIDDEN_NODES: tuple[type[nodes.Node], ...] = (nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)


def parse_parts(
    env: jinja2.Environment, parts: list[Part]
) -> tuple[list[tuple[Part, nodes.Template]], list[LintIssue]]:
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


def _syntax_issue(part: Part, message: str, lineno: int | None, tag: str) -> LintIssue:
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


def _tag_problems(env: jinja2.Environment, part: Part) -> list[LintIssue]:
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
                        for i in lint_tree(part, tree, env.globals)
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


def _unclosed_block(part: Part, opener: str, lineno: int, tag: str) -> LintIssue:
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


def lint_tree(part: Part, tree: nodes.Template, global_names: Iterable[str]) -> list[LintIssue]:
    issues: list[LintIssue] = []
    allowed = frozenset(global_names) | LOCAL_NAMES

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
