"""Bulk import, classification review and search through the CLI, end to end."""

from __future__ import annotations

import io
import json

import pytest
from click.testing import CliRunner
from pypdf import PdfWriter

from docsvc.cli import cli
from tests.docxutil import make_docx
from tests.hostile import encrypted_office


@pytest.fixture
def run(config, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    env = {f"DOCSVC_{k}": v for k, v in config.items()} | {"DOCSVC_ACTOR": "导入员"}
    runner = CliRunner()

    def invoke(*args: str, code: int = 0):
        result = runner.invoke(cli, list(args), env=env, catch_exceptions=False)
        assert result.exit_code == code, result.output + result.stderr
        return result

    return invoke


@pytest.fixture
def folder(tmp_path, bad_inputs):
    f = tmp_path / "现场文档"
    (f / "子目录").mkdir(parents=True)
    (f / "运维服务合同.docx").write_bytes(
        make_docx(
            "信息系统运维服务合同",
            "甲方：大连港集团有限公司",
            "乙方负责服务器、网络设备的日常运行维护和故障处理，提供 7×24 小时监控预警与应急响应。",
            "合同到期前一个月双方协商续签。",
        )
    )
    (f / "验收报告.txt").write_bytes(
        "服务交付验收报告\n项目：港口调度系统集成\n验收结论：系统集成项目通过验收，"
        "服务器与存储上架完成，联调测试合格。".encode("gb18030")
    )
    (f / "子目录" / "会议纪要.md").write_text(
        "# 项目周例会会议纪要\n参会人员：张伟、李娜。议题：软件测试进度。", "utf-8"
    )
    (f / "子目录" / "重复.md").write_text("# 项目周例会会议纪要\n参会人员：张伟、李娜。议题：软件测试进度。", "utf-8")
    (f / "损坏.docx").write_bytes((bad_inputs / "crc_corrupt.docx").read_bytes())
    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    writer.encrypt("pw")
    buf = io.BytesIO()
    writer.write(buf)
    (f / "加密扫描件.pdf").write_bytes(buf.getvalue())
    (f / "培训计划.txt").write_text("IT 培训计划：面向运维人员的认证培训课程安排。", "utf-8")
    (f / "培训计划.txt.meta.json").write_text(
        json.dumps({"title": "2027 年度培训计划", "project": "人才培养"}, ensure_ascii=False), "utf-8"
    )
    (f / ".hidden.txt").write_text("不应导入", "utf-8")
    return f


@pytest.mark.slow
def test_import_suggest_review_confirm_search(run, folder):
    out = json.loads(run("import", str(folder), "--class", "site", "--json", code=1).stdout)
    assert (out["added"], out["duplicates"], out["failed"]) == (5, 1, 1)
    # The review list as it stands after the import (and the meaning read, when it is on).
    assert out["review_pending"] == sum(i["needs_review"] for i in out["items"]) and out["embedded"] == 0
    by_name = {item["path"].rsplit("/", 1)[-1]: item for item in out["items"]}
    assert by_name["损坏.docx"]["error"]["code"] == "invalid_content"
    assert by_name["重复.md"]["status"] == "duplicate" or by_name["会议纪要.md"]["status"] == "duplicate"
    assert all(i["suggested"] for i in out["items"] if i["status"] == "added")

    contract_id = by_name["运维服务合同.docx"]["document_id"]
    shown = json.loads(run("doc", "show", str(contract_id), "--json").stdout)
    assert shown["title"] == "运维服务合同" and shown["doc_class"] == "site"
    assert shown["doc_type"] == "contract" and shown["service_category"] == "4.2"
    assert shown["versions"][0]["extraction_status"] == "ok"
    training = json.loads(run("doc", "show", str(by_name["培训计划.txt"]["document_id"]), "--json").stdout)
    assert training["title"] == "2027 年度培训计划" and training["project"] == "人才培养"
    encrypted = json.loads(run("doc", "show", str(by_name["加密扫描件.pdf"]["document_id"]), "--json").stdout)
    assert encrypted["versions"][0]["extraction_status"] == "encrypted"

    suggestion = json.loads(run("classify", str(contract_id), "--json").stdout)
    assert suggestion["doc_type"]["value"] == "contract" and suggestion["doc_type"]["terms"]
    assert 0 < suggestion["service_category"]["confidence"] <= 1

    pending = json.loads(run("labels", "review", "--all", "--json").stdout)
    assert {p["document_id"] for p in pending} >= {contract_id}
    # A long queue is listed oldest first, up to --limit, with how many wait in all.
    oldest = run("labels", "review", "--all", "--limit", "1").stdout
    assert f"共 {len(pending)} 份待确认，列出最早的 1 份" in oldest
    assert f"文档 {pending[0]['document_id']} " in oldest and f"文档 {pending[1]['document_id']} " not in oldest
    assert [
        p["document_id"] for p in json.loads(run("labels", "review", "--all", "--limit", "2", "--json").stdout)
    ] == [p["document_id"] for p in pending[:2]]
    assert "--limit" in run("labels", "review", "--limit", "0", code=2).stderr
    run("labels", "confirm", str(contract_id))
    acceptance = by_name["验收报告.txt"]["document_id"]
    run("labels", "confirm", str(acceptance), "--type", "report", "--category", "4.9.2")
    remaining = {p["document_id"] for p in json.loads(run("labels", "review", "--all", "--json").stdout)}
    assert contract_id not in remaining and acceptance not in remaining
    assert "没有待确认" in run("labels", "confirm", str(contract_id), code=2).stderr
    log = json.loads(run("audit", "log", "--doc", str(acceptance), "--format", "json").stdout)
    assert [e["action"] for e in log][-2:] == ["metadata.changed", "labels.confirmed"]

    found = json.loads(run("search", "合同到期后怎么续签", "--json").stdout)
    assert found["hits"][0]["document_id"] == contract_id
    assert found["hits"][0]["original_filename"] == "运维服务合同.docx" and found["hits"][0]["highlights"]
    filtered = json.loads(run("search", "", "--filter", "doc_type:report", "--json").stdout)
    assert [h["document_id"] for h in filtered["hits"]] == [acceptance]
    assert filtered["facets"]["doc_type"] == {"report": 1}
    # The web's syntax above; key=value, what the CLI took before, still means the same.
    assert json.loads(run("search", "", "--filter", "doc_type=report", "--json").stdout)["hits"] == filtered["hits"]


def test_search_queries_file_and_index_commands(run, folder, tmp_path):
    run("import", str(folder), "--type", "report", "--category", "4.2", code=1)
    queries = tmp_path / "queries.txt"
    queries.write_text("验收\n\n*bad*\n培训计划\n", "utf-8")
    lines = [json.loads(line) for line in run("search", "--queries", str(queries)).stdout.splitlines()]
    assert [line["query"] for line in lines] == ["验收", "*bad*", "培训计划"]
    assert lines[0]["total"] >= 1 and lines[2]["hits"][0]["title"] == "2027 年度培训计划"
    assert "error" in lines[1] or lines[1]["total"] == 0
    assert json.loads(run("index", "check", "--json").stdout)["ok"] is True
    rebuilt = json.loads(run("index", "rebuild", "--restart", "--json").stdout)
    assert rebuilt["indexed"] == 5
    assert json.loads(run("index", "sync", "--json").stdout)["failed"] == 0
    assert "一致" in run("index", "check").output


def test_bad_search_input(run):
    run("init")
    result = run("search", "x" * 10_000, code=2)
    assert "错误" in result.stderr and "Error" in result.stderr
    result = run("search", "服务", "--filter", "colour=red", code=2)
    assert "colour" in result.stderr
    result = run("search", "服务", "--filter", "doc_type", code=2)
    assert "应为 键:值" in result.stderr and "is not key:value" in result.stderr
    result = run("import", "/nonexistent/folder", code=2)
    assert "不是文件夹" in result.stderr


def _repackage(data: bytes, change, extra: dict[str, bytes] | None = None) -> bytes:
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, change(info.filename, src.read(info)))
        for name, body in (extra or {}).items():
            dst.writestr(name, body)
    return out.getvalue()


def _content_type(main: bytes):
    wordml = b"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
    return lambda name, body: body.replace(wordml, main) if name == "[Content_Types].xml" else body


def _renamed_streams(cfb: bytes, names: dict[str, str]) -> bytes:
    """An OLE compound file with directory entries renamed (each entry: a 64-byte UTF-16LE
    name, then its length in bytes with the terminating NUL)."""
    data = bytearray(cfb)
    for old, new in names.items():
        at = data.index(old.encode("utf-16-le") + b"\x00\x00")
        data[at : at + 64] = (new.encode("utf-16-le") + b"\x00\x00").ljust(64, b"\x00")
        data[at + 64 : at + 66] = (2 * len(new) + 2).to_bytes(2, "little")
    return bytes(data)


def test_import_takes_every_word_file_archives_templates_and_names_what_it_refuses(run, tmp_path):
    folder = tmp_path / "Word 文件"
    folder.mkdir()
    body = make_docx("信息系统运维服务合同模板", "甲方：{{ 甲方 }}")
    (folder / "合同模板.dotx").write_bytes(
        _repackage(
            body, _content_type(b"application/vnd.openxmlformats-officedocument.wordprocessingml.template.main+xml")
        )
    )
    (folder / "带宏的合同.docm").write_bytes(
        _repackage(
            body,
            _content_type(b"application/vnd.ms-word.document.macroEnabled.main+xml"),
            {"word/vbaProject.bin": b"\xd0\xcf\x11\xe0macro"},
        )
    )
    encrypted = encrypted_office(make_docx("加密的合同正文"))
    (folder / "加密的合同.docx").write_bytes(encrypted)
    (folder / "旧格式.doc").write_bytes(
        _renamed_streams(encrypted, {"EncryptedPackage": "WordDocument", "EncryptionInfo": "1Table"})
    )
    out = json.loads(run("import", str(folder), "--type", "contract", "--category", "4.2", "--json", code=1).stdout)
    by_name = {item["path"].rsplit("/", 1)[-1]: item for item in out["items"]}
    assert set(by_name) == {"合同模板.dotx", "带宏的合同.docm", "加密的合同.docx", "旧格式.doc"}  # none skipped
    assert by_name["合同模板.dotx"]["status"] == "added"
    shown = json.loads(run("doc", "show", str(by_name["合同模板.dotx"]["document_id"]), "--json").stdout)
    assert shown["versions"][0]["original_filename"] == "合同模板.dotx"
    assert shown["versions"][0]["extraction_status"] == "ok"
    macros, locked, legacy = (by_name[n]["error"] for n in ("带宏的合同.docm", "加密的合同.docx", "旧格式.doc"))
    assert macros["details"]["reason"] == "macros" and "宏" in macros["message"] and ".docx" in macros["message_en"]
    assert locked["details"]["reason"] == "encrypted" and "加密" in locked["message"]
    assert "encrypted with a password" in locked["message_en"]
    assert legacy["details"]["reason"] == "legacy_format" and "97-2003" in legacy["message_en"]
    text = run("import", str(folder), "--type", "contract", "--category", "4.2", code=1).stdout
    assert "带宏的合同.docm" in text and "加密的合同.docx" in text and "旧格式.doc" in text
