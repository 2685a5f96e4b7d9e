"""Click's own words in Chinese and English, as docsvc's own are: click says them in English only.

:class:`BilingualGroup` is the class of the ``docsvc`` group and of its groups, and
:class:`BilingualCommand` of their commands. The usage errors of every command, found while its
arguments are parsed, pass through the group on their way out: click's messages follow a
handful of fixed forms; each known form is said again in Chinese, and any other is named as a
usage error, its English given whole on the next line. The help's usage line and headings, the
help option's own line and the options' default and required marks are written in both
languages."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import IO, Any

import click

from docsvc.core.text import has_cjk

# (click's English, as a pattern) → the Chinese; {0}, {1}… are the pattern's groups.
_FORMS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.DOTALL), zh)
    for pattern, zh in (
        (r"Invalid value for (.+?): (.*)", "{0} 的值无效：{1}"),
        (r"Invalid value: (.*)", "值无效：{0}"),
        (r"(.+) is not in the range (.+)\.", "{0} 不在允许的范围 {1} 内。"),
        (r"'(.*)' is not a valid integer( range)?\.", "“{0}”不是整数。"),
        (r"'(.*)' is not a valid float( range)?\.", "“{0}”不是数字。"),
        (r"'(.*)' is not a valid boolean\.", "“{0}”不是是/否值（true/false）。"),
        (r"'(.*)' is not one of (.+)\.", "“{0}”不是可选的值，可选：{1}。"),
        (r"'(.*)' is not '(.*)'\.", "“{0}”不是可选的值，可选：{1}。"),
        (r"'(.*)' does not match the formats? (.+)\.", "“{0}”的格式不对，应为 {1}。"),
        (r"(File|Directory|Path) '(.*)' does not exist\.", "{0}“{1}”不存在。"),
        (r"(File|Directory|Path) '(.*)' is a file\.", "{0}“{1}”是文件，不是文件夹。"),
        (r"(File|Directory|Path) '(.*)' is a directory\.", "{0}“{1}”是文件夹，不是文件。"),
        (r"(File|Directory|Path) '(.*)' is not readable\.", "{0}“{1}”不可读。"),
        (r"(File|Directory|Path) '(.*)' is not writable\.", "{0}“{1}”不可写。"),
        (r"Missing argument '(.+)'\.", "缺少参数 {0}。"),
        (r"Missing option '(.+)'\.", "缺少选项 {0}。"),
        (r"No such option '(.+)'\.", "没有选项 {0}。"),
        (r"No such command '(.+)'\.", "没有命令“{0}”。"),
        (r"Option '(.+)' requires an argument\.", "选项 {0} 需要一个值。"),
        (r"Option '(.+)' requires (\d+) arguments\.", "选项 {0} 需要 {1} 个值。"),
        (r"Option '(.+)' does not take a value\.", "选项 {0} 不带值。"),
        (r"Got unexpected extra arguments? \((.*)\)", "多余的参数：{0}。"),
    )
)
_FILE_KINDS = {"File": "文件", "Directory": "文件夹", "Path": "路径"}
# The forms whose last part is a reason of its own (a parameter type's): said in Chinese too.
_REASON_FORMS = {"{0} 的值无效：{1}", "值无效：{0}"}
# What click adds to an unknown option or command: the nearest names.
_HINT = re.compile(r"(.*?)\s+(?:Did you mean (.+)\?|\(Did you mean one of: (.+)\?\))", re.DOTALL)


def chinese(message: str) -> str:
    """Click's English ``message`` in Chinese: what was wrong, in the words of the form it takes."""
    message = message.strip()
    if hint := _HINT.fullmatch(message):
        names = (hint.group(2) or hint.group(3)).replace("'", "").replace(", ", "、")
        return f"{chinese(hint.group(1))}是不是要用 {names}？"
    for pattern, zh in _FORMS:
        if m := pattern.fullmatch(message):
            parts = [_FILE_KINDS.get(g, g) if g is not None else "" for g in m.groups()]
            if zh in _REASON_FORMS:
                parts[-1] = chinese(parts[-1])
            return zh.format(*parts)
    if has_cjk(message):  # docsvc's own reason (a parameter type's), in both languages
        return _own(message)[0]
    return "命令行用法有误（见下一行英文说明）。"


def english(message: str) -> str:
    """``message`` without the Chinese of docsvc's own reasons inside it."""
    if not has_cjk(message):
        return message
    head, sep, reason = message.rpartition(": ")
    return f"{head}{sep}{_own(reason or head)[1]}" if sep and reason else _own(message)[1]


def _own(reason: str) -> tuple[str, str]:
    """(Chinese, English) of a reason docsvc words as ``中文 / English``."""
    zh, sep, en = reason.rpartition(" / ")
    if sep and has_cjk(zh) and not has_cjk(en):
        return zh, en
    return reason, reason


class BilingualUsageError(click.UsageError):
    """A usage error shown in both languages, with the way to the command's help."""

    def __init__(self, original: click.UsageError, *, zh: str = "", en: str = "") -> None:
        super().__init__(en or original.format_message(), original.ctx)
        self.zh = zh

    def show(self, file: IO[Any] | None = None) -> None:
        out = {"file": file} if file is not None else {"err": True}
        if self.ctx is not None:
            usage, path = self.ctx.get_usage(), self.ctx.command_path
            click.echo(f"{usage}\n用法说明 / for help: {path} --help\n", color=self.ctx.color, **out)
        else:  # click did not say which command: the list of them
            click.echo("用法说明 / for help: docsvc --help\n", **out)
        message = self.format_message()
        click.echo(f"错误：{self.zh or chinese(message)}", **out)
        click.echo(f"Error: {english(message)}", **out)


HELP_OPTION = "显示此帮助并退出 / show this message and exit."
VERSION_OPTION = "显示版本并退出 / show the version and exit."


_HEADINGS = {"Options": "选项 / Options", "Commands": "命令 / Commands"}
# What click appends to an option's help: "[default: 50; required]".
_EXTRAS = re.compile(r"\[([^\[\]]*)\]\Z")


def _extra(item: str) -> str:
    if item == "required":
        return "必填 / required"
    if item.startswith("default: "):
        return f"默认 / {item}"
    return item


class BilingualFormatter(click.HelpFormatter):
    """Help whose headings, usage line and options' defaults name themselves in both languages."""

    def write_usage(self, prog: str, args: str = "", prefix: str | None = None) -> None:
        super().write_usage(prog, args, "用法 / Usage: " if prefix is None else prefix)

    def section(self, name: str) -> Any:
        return super().section(_HEADINGS.get(name, name))

    def write_dl(self, rows: Iterable[tuple[str, str]], col_max: int = 30, col_spacing: int = 2) -> None:
        rows = [
            (term, _EXTRAS.sub(lambda m: "[" + "; ".join(map(_extra, m.group(1).split("; "))) + "]", text))
            for term, text in rows
        ]
        super().write_dl(rows, col_max, col_spacing)


class BilingualContext(click.Context):
    formatter_class = BilingualFormatter


class _BilingualHelp(click.Command):
    context_class = BilingualContext

    def get_help_option(self, ctx: click.Context) -> click.Option | None:
        option = super().get_help_option(ctx)
        if option is not None:
            option.help = HELP_OPTION
        return option


class BilingualCommand(_BilingualHelp):
    """A docsvc command: its help in both languages."""


class BilingualGroup(_BilingualHelp, click.Group):
    """The ``docsvc`` group and its groups: usage errors of any command under them leave in
    both languages, and their help is written in both."""

    command_class = BilingualCommand
    group_class = type  # a group's groups are of its own class

    def make_context(
        self, info_name: str | None, args: list[str], parent: click.Context | None = None, **extra: Any
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as exc:
            raise _bilingual(exc) from exc

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.NoSuchOption as exc:
            raise self._misplaced(exc, ctx) or _bilingual(exc) from exc
        except click.UsageError as exc:
            raise _bilingual(exc) from exc

    def _misplaced(self, exc: click.NoSuchOption, ctx: click.Context) -> click.UsageError | None:
        """An option of docsvc itself (``--as``) typed after the command: say where it goes,
        rather than click's nearest name of the command's own."""
        root = ctx.find_root()
        mine = next((p for p in root.command.params if exc.option_name in getattr(p, "opts", ())), None)
        if mine is None:
            return None
        metavar = mine.make_metavar(root)
        return BilingualUsageError(
            exc,
            zh=f"{exc.option_name} 是 docsvc 本身的选项，要写在命令之前：docsvc {exc.option_name} {metavar} <命令> …",
            en=f"{exc.option_name} is an option of docsvc itself: put it before the command "
            f"(docsvc {exc.option_name} {metavar} <command> …).",
        )


def _bilingual(exc: click.UsageError) -> click.UsageError:
    return exc if isinstance(exc, BilingualUsageError) else BilingualUsageError(exc)
