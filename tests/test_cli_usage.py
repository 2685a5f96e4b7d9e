"""Click's own usage errors leave the command line in Chinese and English, as docsvc's own do
(docsvc.cli.usage): exit 2, the command's usage, where its help is, what was wrong."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from docsvc.cli import cli
from docsvc.cli.usage import chinese


@pytest.mark.parametrize(
    "args, zh, en",
    [
        (["labels", "review", "--limit", "0"], "'--limit' 的值无效：0 不在允许的范围 1<=x<=1000 内。", "0 is not in"),
        (["labels", "review", "--limit", "ten"], "'--limit' 的值无效：“ten”不是整数。", "is not a valid integer"),
        (["labels", "review", "--nope"], "没有选项 --nope。", "No such option '--nope'"),
        (["doc", "show"], "缺少参数 DOC_ID。", "Missing argument 'DOC_ID'"),
        (["doc", "show", "1", "2"], "多余的参数：2。", "unexpected extra argument (2)"),
        (["doc", "list", "--sort"], "选项 --sort 需要一个值。", "Option '--sort' requires an argument"),
        (["templat"], "没有命令“templat”。是不是要用 template？", "No such command 'templat'. Did you mean"),
        (["export"], "没有命令“export”。是不是要用 import、report？", "(Did you mean one of: 'import', 'report'?)"),
        # docsvc's own --as typed after the command: where it goes, not click's nearest name.
        (
            ["doc", "show", "1", "--as", "alice"],
            "--as 是 docsvc 本身的选项，要写在命令之前：docsvc --as USER",
            "put it before",
        ),
        # A parameter type of docsvc's own gives its reason in both languages, each on its line.
        (["doc", "show", "abc"], "'DOC_ID' 的值无效：参数 doc_id 必须是", "doc_id must be an integer from 1"),
    ],
)
def test_a_usage_error_says_in_chinese_and_english_what_was_wrong(tmp_path, args, zh, en):
    env = {"DOCSVC_ARCHIVE_DIR": str(tmp_path / "archive"), "DOCSVC_INDEX_DIR": str(tmp_path / "index")}
    out = CliRunner().invoke(cli, args, env=env, prog_name="docsvc")
    assert out.exit_code == 2, out.output
    lines = out.stderr.splitlines()
    [said_zh] = [line for line in lines if line.startswith("错误：")]
    [said_en] = [line for line in lines if line.startswith("Error: ")]
    assert said_zh.startswith(f"错误：{zh}"), said_zh
    assert en in said_en and not any("\u4e00" <= c <= "\u9fff" for c in said_en), said_en
    assert any(line.startswith("用法说明 / for help: docsvc") and line.endswith(" --help") for line in lines)


def test_a_form_it_does_not_know_is_named_a_usage_error_and_given_whole_in_english():
    assert chinese("Something click says one day.") == "命令行用法有误（见下一行英文说明）。"
    assert chinese("Invalid value for '--when': never.") == "'--when' 的值无效：命令行用法有误（见下一行英文说明）。"
    assert chinese("File 'a.docx' does not exist.") == "文件“a.docx”不存在。"


@pytest.mark.parametrize("args", [[], ["doc"], ["doc", "add"], ["labels", "review"], ["ocr"]])
def test_help_names_its_parts_in_chinese_and_english(args):
    """Every command's help, the groups' and the leaves', reached by the same classes: the
    headings, the usage line and the help option's own line in both languages, none of click's
    English alone."""
    out = CliRunner().invoke(cli, [*args, "--help"], prog_name="docsvc")
    assert out.exit_code == 0, out.output
    text = out.output
    assert text.startswith(f"用法 / Usage: docsvc {' '.join(args)}".rstrip() + " ")
    assert "选项 / Options:" in text and "显示此帮助并退出 / show this message and exit." in text
    assert ("命令 / Commands:" in text) == (args in ([], ["doc"]))
    for english_only in ("\nUsage:", "\nOptions:", "\nCommands:", "Show this message and exit."):
        assert english_only not in text, english_only
    if not args:
        assert "显示版本并退出 / show the version and exit." in text


def _commands(command: click.Command, path: tuple[str, ...] = ()):
    yield path, command
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from _commands(sub, (*path, name))


def test_every_option_says_what_it_is_for_and_its_default_in_both_languages():
    undocumented = [
        f"docsvc {' '.join(path)} {param.opts[0]}"
        for path, command in _commands(cli)
        for param in command.params
        if isinstance(param, click.Option) and not param.hidden and not param.help
    ]
    assert undocumented == []
    listing = CliRunner().invoke(cli, ["doc", "list", "--help"], prog_name="docsvc").output
    assert "[默认 / default: 50]" in listing and "[default:" not in listing
    export = CliRunner().invoke(cli, ["audit", "export", "--help"], prog_name="docsvc").output
    assert "[必填 / required]" in export and "[required]" not in export
