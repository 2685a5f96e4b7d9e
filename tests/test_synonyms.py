"""The search synonym table (docsvc.core.synonyms), its expansion of a query, and its CLI."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from docsvc.cli import cli
from docsvc.core import query as q
from docsvc.core import synonyms
from docsvc.errors import InvalidInput


def test_the_shipped_table_loads_and_has_the_domain_groups() -> None:
    table = synonyms.load()
    groups = {t: g for g in table.groups for t in g}
    assert {"服务级别协议", "服务等级协议", "SLA"} <= set(groups["SLA"])
    assert "续约" in groups["续签"] and "运行维护" in groups["运维"]
    assert table.version.startswith("syn-") and table.version == synonyms.load().version


def test_version_follows_the_groups() -> None:
    a, b = synonyms.parse("续签 = 续约"), synonyms.parse("续签 = 续约 = 续订")
    assert a.version != b.version and a.version == synonyms.parse("# note\n续签 = 续约\n").version


def test_longest_term_first_and_latin_terms_as_whole_words() -> None:
    table = synonyms.parse("服务级别协议 = SLA\n协议 = 合约\nO&M = 运维")
    found = [(s, e) for s, e, _ in table.find("服务级别协议和协议，SLAB 不是 sla；o&m")]
    assert found == [(0, 6), (7, 9), (18, 21), (22, 25)]
    assert table.find("ＳＬＡ") and table.find("SLA-2026") and not table.find("SLAB")


@pytest.mark.parametrize(
    "raw,line",
    [
        ("续签\n", 1),
        ("a = b\n续签 = \n", 2),
        ("续签 = 续约\n续约 = 延期\n", 2),
        ("a = !!!\n", 1),
        ("x = " + "长" * 41, 1),
        (" = ".join(["词"] * 21), 1),
    ],
)
def test_bad_files_are_refused_with_the_line(raw: str, line: int) -> None:
    with pytest.raises(InvalidInput) as err:
        synonyms.parse(raw, "mine.txt")
    assert f"第 {line} 行" in err.value.zh and f"line {line}" in err.value.en


def test_expansion_keeps_phrases_fields_and_structure() -> None:
    table = synonyms.parse("服务级别协议 = 服务等级协议 = SLA\n续签 = 续约")
    node, applied = q.expand(q.parse_query('SLA 合同怎么续签 title:续签 "续签" project:续签'), table)
    assert isinstance(node, q.Soft)
    kinds = [type(i).__name__ for i in node.items]
    assert kinds.count("Synonyms") == 3  # SLA, 续签 in the question, title:续签
    assert q.Text("续签", phrase=True) in node.items  # quoted: as typed
    assert dict(applied) == {"SLA": ("服务级别协议", "服务等级协议"), "续签": ("续约",)}
    node, _ = q.expand(q.parse_query("合同续签 AND 运维"), table)
    assert isinstance(node, q.And) and isinstance(node.items[0], q.And)  # both parts still required
    assert q.expand(q.parse_query("运维"), table) == (q.Text("运维"), ())
    assert q.expand(None, table) == (None, ())


@pytest.fixture
def run(config, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    env = {
        "DOCSVC_ARCHIVE_DIR": config["ARCHIVE_DIR"],
        "DOCSVC_INDEX_DIR": config["INDEX_DIR"],
        "DOCSVC_DATABASE_URL": config["DATABASE_URL"],
        "DOCSVC_TEMPLATES_DIR": config["TEMPLATES_DIR"],
    }
    return lambda *args: CliRunner().invoke(cli, list(args), env=env)


def test_cli_shows_and_checks_tables(run, tmp_path) -> None:
    assert run("init").exit_code == 0
    shown = run("synonyms", "show", "--json")
    assert shown.exit_code == 0 and json.loads(shown.output)["version"].startswith("syn-")
    good = tmp_path / "mine.txt"
    good.write_text("巡检 = 巡查\n", "utf-8")
    ok = run("synonyms", "check", str(good))
    assert ok.exit_code == 0 and "1 组" in ok.output and "1 groups" in ok.output
    bad = tmp_path / "bad.txt"
    bad.write_text("巡检 = 巡查\n巡查 = 检查\n", "utf-8")
    refused = run("synonyms", "check", str(bad))
    assert refused.exit_code != 0 and "第 2 行" in refused.output + refused.stderr
    assert "line 2" in refused.output + refused.stderr
    assert run("synonyms", "check", str(tmp_path / "missing.txt")).exit_code != 0
