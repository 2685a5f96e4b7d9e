"""Drafting end to end: shipped templates registered and versioned, form data validated,
rendered safely, archived with provenance, revised, batch-generated — on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import json
from pathlib import Path

import docx
import pytest

from docsvc.app import open_docsvc
from docsvc.core.model import AuditAction, VersionSource
from docsvc.core.tabular import read_numbered, read_rows
from docsvc.errors import InvalidInput, NotFound, TemplateError, UnsupportedType
from tests.docxutil import docx_text

SHIPPED = Path(__file__).resolve().parents[1] / "templates"


@pytest.fixture
def svc(config):
    s = open_docsvc({**config, "TEMPLATES_DIR": str(SHIPPED)})
    yield s
    s.close()


def test_shipped_templates_are_registered_once(svc, config):
    slugs = [t.slug for t in svc.templates.list()]
    assert {"contract", "service_plan", "sla", "change_request", "acceptance_report"} <= set(slugs)
    assert all(t.version == 1 for t in svc.templates.list())
    again = open_docsvc({**config, "TEMPLATES_DIR": str(SHIPPED)})
    assert [t.version for t in again.templates.list()] == [1] * len(slugs)  # unchanged: no new version
    again.close()
    events = [e.action for e in svc.catalog.audit_entries()]
    assert events.count(AuditAction.TEMPLATE_ADDED) == len(slugs)


def test_servers_starting_together_register_each_shipped_template_once(config):
    """Two servers start at the same moment on a new catalog: both find the shipped templates
    new, and still each is registered once (the check is repeated under the audit-head lock)."""
    import threading

    first = open_docsvc(config)  # the schema, without shipped templates
    first.close()
    barrier, opened, errors = threading.Barrier(2), [], []

    def start() -> None:
        try:
            svc = open_docsvc({**config, "TEMPLATES_DIR": str(SHIPPED)}, migrate=False)
            barrier.wait()
            svc.templates.sync_shipped()
            opened.append(svc)
        except Exception as exc:  # noqa: BLE001 - asserted below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert not errors
        templates = opened[0].templates.list()
        assert templates and all(t.version == 1 for t in templates)
        added = [e for e in opened[0].catalog.audit_entries() if e.action == AuditAction.TEMPLATE_ADDED]
        assert len(added) == len(templates)
    finally:
        for svc in opened:
            svc.close()


def test_generate_contract_with_provenance(svc):
    sample = svc.templates.get("contract").schema.sample()
    result = svc.templates.generate("contract", sample, actor="起草人")
    v = result.version
    assert v.source is VersionSource.GENERATED and v.media_type.endswith("wordprocessingml.document")
    prov = v.provenance
    tpl = svc.templates.get("contract")
    assert prov["template"] == "contract" and prov["template_version"] == 1
    assert prov["template_sha256"] == tpl.record.sha256 and prov["schema_sha256"] == tpl.record.schema_sha256
    assert prov["data"] == json.loads(json.dumps(sample, ensure_ascii=False))
    assert prov["software"]["docxtpl"] and prov["output_sha256"] == v.sha256
    body = docx_text(svc.archive.read_version(result.document.id, actor="a")[1])
    assert sample["party_a"]["name"] in body and sample["party_b"]["name"] in body
    meta = result.document.metadata
    assert meta.doc_type == "contract" and meta.service_category.value == sample["service_category"]
    assert meta.counterparty  # taken from the form
    audit = [
        e for e in svc.catalog.audit_entries(document_id=result.document.id) if e.action == AuditAction.VERSION_ADDED
    ][0]
    assert "data" not in audit.details["provenance"] and len(audit.details["provenance"]["data_sha256"]) == 64


def test_revision_is_a_new_version_of_the_same_document(svc):
    data = svc.templates.get("sla").schema.sample()
    first = svc.templates.generate("sla", data, actor="起草人")
    with pytest.raises(InvalidInput) as err:
        svc.templates.generate("sla", data, actor="起草人", document_id=first.document.id)
    assert err.value.field == "reason"
    revised = json.loads(json.dumps(data))
    revised["title"] = revised["title"] + "（2027 年修订）"
    second = svc.templates.generate(
        "sla", revised, actor="起草人", document_id=first.document.id, reason="年度复审（规范 8.1.3）"
    )
    assert second.version.number == 2 and second.document.id == first.document.id
    assert second.document.metadata.title.endswith("（2027 年修订）")
    history = svc.archive.history(first.document.id)
    assert [v.provenance["data"]["title"] for v in history.versions] == [data["title"], revised["title"]]
    assert any(e.action == AuditAction.METADATA_CHANGED for e in history.events)
    with pytest.raises(InvalidInput) as err:
        svc.templates.generate(
            "contract",
            svc.templates.get("contract").schema.sample(),
            actor="x",
            document_id=first.document.id,
            reason="换模板",
        )
    assert err.value.field == "template"


def test_bad_form_data_names_every_field_and_archives_nothing(svc):
    data = svc.templates.get("contract").schema.sample()
    del data["party_a"]["name"]
    data["service_category"] = "4.99"
    data["unknown_field"] = "x"
    data["term_start"] = "2026-02-30"
    with pytest.raises(InvalidInput) as err:
        svc.templates.generate("contract", data, actor="a")
    fields = {e["field"] for e in err.value.details["errors"]}
    assert {"party_a.name", "service_category", "unknown_field", "term_start"} <= fields
    assert all(e["zh"] and e["en"] for e in err.value.details["errors"])
    huge = svc.templates.get("contract").schema.sample()
    huge["service_content"] = "长" * (10 * 1024 * 1024)
    with pytest.raises(InvalidInput):
        svc.templates.generate("contract", huge, actor="a")
    assert svc.catalog.counts()["documents"] == 0


def test_values_with_markup_render_literally(svc):
    data = svc.templates.get("change_request").schema.sample()
    schema = svc.templates.get("change_request").schema
    text_field = next(
        f.name
        for f in schema.fields
        if f.type == "text" and f.name not in ("request_no",) and not f.fields and not getattr(f, "pattern", None)
    )
    data[text_field] = "A & B </w:t><w:p>{{7*7}}"
    result = svc.templates.generate("change_request", data, actor="a")
    body = docx_text(svc.archive.read_version(result.document.id, actor="a")[1])
    assert "A & B </w:t><w:p>{{7*7}}" in body and "49" not in body.replace("2049", "")


def test_unknown_template_and_version(svc):
    with pytest.raises(NotFound) as err:
        svc.templates.generate("invoice", {}, actor="a")
    assert "contract" in err.value.zh
    with pytest.raises(NotFound):
        svc.templates.get("sla", 9)


def test_new_template_version_leaves_old_documents_alone(svc, tmp_path):
    sla = svc.templates.get("sla")
    old = svc.templates.generate("sla", sla.schema.sample(), actor="a")
    # A new version of the template: the same schema, an extra line of fixed text.
    d = docx.Document(io.BytesIO(svc.templates.template_bytes(sla)))
    d.add_paragraph("本协议一式两份，双方各执一份。")
    buf = io.BytesIO()
    d.save(buf)
    v2 = svc.templates.add(buf.getvalue(), None, actor="管理员", slug="sla")
    assert v2.version == 2
    assert svc.templates.get("sla").version == 2
    assert svc.archive.version(old.document.id).provenance["template_version"] == 1
    assert svc.blobs.read(sla.record.sha256) == svc.templates.template_bytes(svc.templates.get("sla", 1))
    new = svc.templates.generate("sla", {**sla.schema.sample(), "sla_no": "ZHYF-SLA-2026-0316"}, actor="a")
    assert "一式两份" in docx_text(svc.archive.read_version(new.document.id, actor="a")[1])
    assert "一式两份" not in docx_text(svc.archive.read_version(old.document.id, actor="a")[1])
    pinned = svc.templates.generate(
        "sla", {**sla.schema.sample(), "sla_no": "ZHYF-SLA-2026-0317"}, actor="a", version=1
    )
    assert pinned.version.provenance["template_version"] == 1


def test_template_failing_lint_is_not_accepted(svc):
    sla = svc.templates.get("sla")
    d = docx.Document(io.BytesIO(svc.templates.template_bytes(sla)))
    d.add_paragraph("{{ undeclared_field }} {{ ''.__class__.__mro__ }}")
    buf = io.BytesIO()
    d.save(buf)
    with pytest.raises(TemplateError) as err:
        svc.templates.add(buf.getvalue(), None, actor="管理员", slug="sla")
    assert err.value.details["lint"]["ok"] is False
    assert any(i["location"] for i in err.value.details["lint"]["issues"])
    assert svc.templates.get("sla").version == 1
    with pytest.raises(UnsupportedType):
        svc.templates.add(b"not a docx at all", None, actor="管理员", slug="sla")


def _batch_csv(svc, tmp_path) -> tuple[Path, list[str]]:
    """A change-request batch: a good row, one with the first (required) field empty, a good row."""
    import csv

    flat = _flatten(svc.templates.get("change_request").schema.sample())
    header = list(flat)
    good = [flat[h] for h in header]
    path = tmp_path / "批量变更.csv"
    with path.open("w", newline="", encoding="utf-8-sig") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerow(good)
        w.writerow([""] + good[1:])
        w.writerow(good)
    return path, header


def test_batch_from_csv_reports_per_row(svc, tmp_path):
    path, header = _batch_csv(svc, tmp_path)
    rows = read_rows(path.read_bytes(), path.name)
    assert len(rows) == 3
    seen = []
    result = svc.templates.generate_batch("change_request", rows, actor="批量", progress=seen.append)
    assert (result.succeeded, result.failed) == (2, 1) and len(seen) == 3
    failed = [i for i in result.items if not i.ok][0]
    assert failed.row == 2 and failed.error["details"]["errors"][0]["field"] == header[0]
    # Read with their spreadsheet numbers (header = row 1), the same rows say where they are.
    numbered = read_numbered(path.read_bytes(), schema=svc.templates.get("change_request").schema)
    assert [r.number for r in numbered] == [2, 3, 4]
    assert svc.catalog.counts()["documents"] == 2


def _flatten(data, prefix=""):
    out = {}
    for k, v in data.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        elif isinstance(v, list):
            out[key] = json.dumps(v, ensure_ascii=False)
        else:
            out[key] = "" if v is None else str(v)
    return out


@pytest.mark.sqlite_only
@pytest.mark.libreoffice
def test_generate_with_pdf(svc, unoserver_venv):
    import pypdf

    data = svc.templates.get("sla").schema.sample()
    result = svc.templates.generate("sla", data, actor="起草人", pdf=True)
    renditions = svc.catalog.renditions(result.version.id)
    assert [r.media_type for r in renditions] == ["application/pdf"]
    pdf = svc.blobs.read(renditions[0].sha256)
    text = "".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages)
    squeezed = "".join(text.split())
    assert "".join(data["party_a"]["name"].split()) in squeezed
    assert "".join(data["title"].split()) in squeezed
    fonts = {
        str(f.get("/BaseFont"))
        for page in pypdf.PdfReader(io.BytesIO(pdf)).pages
        for f in (page.get("/Resources", {}).get("/Font", {}) or {}).values()
        for f in [f.get_object()]
    }
    assert any("NotoSerifCJK" in f or "NotoSansCJK" in f for f in fonts), fonts
    event = [e for e in svc.catalog.audit_entries(document_id=result.document.id) if e.action == "version.added"][0]
    assert event.details["renditions"][0]["sha256"] == renditions[0].sha256
    assert svc.check().ok


def test_pdf_failure_archives_nothing(svc, monkeypatch):
    from docsvc.errors import Unavailable

    def no_libreoffice(docx: bytes, **options) -> bytes:
        raise Unavailable("未安装 LibreOffice，无法生成 PDF", "LibreOffice is not installed")

    monkeypatch.setattr(svc.templates, "to_pdf", no_libreoffice)
    with pytest.raises(Unavailable):
        svc.templates.generate("sla", svc.templates.get("sla").schema.sample(), actor="a", pdf=True)
    assert svc.catalog.counts()["documents"] == 0
    # DOCX alone still works.
    assert svc.templates.generate("sla", svc.templates.get("sla").schema.sample(), actor="a").created


def test_batch_from_xlsx_with_dates_and_indexed_rows(svc, tmp_path):
    import datetime as dt

    from openpyxl import Workbook

    sample = svc.templates.get("change_request").schema.sample()
    flat = _flatten(sample)
    # A list given cell by cell rather than as JSON: list[0].field headers.
    list_fields = [k for k, v in sample.items() if isinstance(v, list)]
    for name in list_fields:
        del flat[name]
        for i, row in enumerate(sample[name]):
            for key, value in row.items():
                flat[f"{name}[{i}].{key}"] = value if not isinstance(value, dict) else json.dumps(value)
    dates = [k for k, v in flat.items() if isinstance(v, str) and len(v) == 10 and v[4] == "-" and v[7] == "-"]
    wb = Workbook()
    ws = wb.active
    header = list(flat)
    ws.append(header)
    for _ in range(2):
        # Dates as real Excel dates, as a person typing into a spreadsheet would have them.
        ws.append([dt.date.fromisoformat(flat[h]) if h in dates else flat[h] for h in header])
    path = tmp_path / "batch.xlsx"
    wb.save(path)
    rows = read_rows(path.read_bytes(), path.name)
    assert len(rows) == 2 and rows[0][list_fields[0]][0] if list_fields else True
    result = svc.templates.generate_batch("change_request", rows, actor="批量")
    assert (result.succeeded, result.failed) == (2, 0), [i.error for i in result.items]


def test_batch_from_the_command_line(svc, config, tmp_path):
    """`docsvc generate SLUG --batch FILE`: rows render concurrently, the report keeps row order,
    a failed row leaves nothing behind, the exit code says some rows failed."""
    from click.testing import CliRunner

    from docsvc.cli import cli

    path, header = _batch_csv(svc, tmp_path)
    env = {
        "DOCSVC_ARCHIVE_DIR": config["ARCHIVE_DIR"],
        "DOCSVC_INDEX_DIR": config["INDEX_DIR"],
        "DOCSVC_DATABASE_URL": config["DATABASE_URL"],
        "DOCSVC_TEMPLATES_DIR": str(SHIPPED),
        "DOCSVC_ACTOR": "批量起草人",
    }
    # By default every row is checked first: one invalid row, nothing generated (exit 2).
    refused = CliRunner().invoke(cli, ["generate", "change_request", "--batch", str(path)], env=env)
    assert refused.exit_code == 2 and "第 3 行" in refused.output and svc.catalog.counts()["documents"] == 0
    result = CliRunner().invoke(
        cli,
        ["generate", "change_request", "--batch", str(path), "--skip-invalid", "--json"],
        env=env,
        catch_exceptions=False,
    )
    assert result.exit_code == 1, result.output  # some rows failed, some succeeded
    report = json.loads(result.stdout)
    assert (report["succeeded"], report["failed"]) == (2, 1)
    assert [i["row"] for i in report["items"]] == [2, 3, 4]  # as the spreadsheet numbers them
    assert report["items"][1]["error"]["details"]["errors"][0]["field"] == header[0]
    made = [i["document_id"] for i in report["items"] if i["document_id"]]
    assert len(set(made)) == 2 and svc.catalog.counts()["documents"] == 2
    assert all(svc.catalog.get_document(d).metadata.doc_type == "change_request" for d in made)
    bad = CliRunner().invoke(cli, ["generate", "change_request", "--batch", str(tmp_path / "无此文件.csv")], env=env)
    assert bad.exit_code != 0 and "无此文件" in bad.output


def test_batch_file_errors_are_clear(tmp_path):
    with pytest.raises(InvalidInput) as err:
        read_rows(b"", "empty.csv")
    assert "空" in err.value.zh and "empty" in err.value.en
    with pytest.raises(InvalidInput) as err:
        read_rows(b",,\n1,2,3\n", "no-header.csv")
    assert "表头" in err.value.zh
    with pytest.raises(InvalidInput) as err:
        read_rows(b"a b,c\n1,2\n", "bad.csv")
    assert "a b" in err.value.zh
    with pytest.raises(InvalidInput):
        read_rows(b"PK\x03\x04 not really a workbook", "x.xlsx")
