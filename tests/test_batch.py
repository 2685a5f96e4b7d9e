"""Batch generation: the spreadsheet skeleton with Chinese headers, every row
checked before anything is generated (row numbers as the spreadsheet shows them), the background
job with its progress, each row an archived version with provenance, the ZIP; the web page, the
REST API and the CLI through the same service — on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook

from docsvc.app import open_docsvc
from docsvc.core.tabular import read_numbered, skeleton_columns
from docsvc.errors import InvalidInput
from docsvc.services import batch
from docsvc.web.factory import create_app
from tests.webutil import PASSWORD, PEOPLE, World, csrf_of, err

SHIPPED = Path(__file__).resolve().parents[1] / "templates"


@pytest.fixture
def svc(config):
    s = open_docsvc({**config, "TEMPLATES_DIR": str(SHIPPED)})
    yield s
    s.close()


@pytest.fixture
def app(config):
    app = create_app({**config, "TEMPLATES_DIR": str(SHIPPED), "TESTING": True, "FSYNC": False, "BATCH_MAX_ROWS": 5})
    yield app
    app.extensions["docsvc"].close()


@pytest.fixture
def world(app) -> World:
    svc = app.extensions["docsvc"]
    tokens = {}
    for name, (role, projects) in PEOPLE.items():
        svc.users.create_user(name, role, actor="setup", password=PASSWORD, projects=projects)
        tokens[name] = svc.users.issue_token(name, actor="setup", name="test").secret
    return World(app, tokens)


# -- filling in the downloaded skeleton, as a drafter does in Excel -------------------------------
def fill_xlsx(skeleton: bytes, rows: list[dict[str, str]]) -> bytes:
    """The skeleton with its example row replaced by ``rows`` (header → value changed from the
    example; other cells keep the example's values)."""
    wb = load_workbook(io.BytesIO(skeleton))
    ws = wb.active
    header = [c.value for c in ws[1]]
    example = [c.value for c in ws[2]]
    for r, changes in enumerate(rows, start=2):
        for i, h in enumerate(header, start=1):
            ws.cell(row=r, column=i, value=changes.get(h, example[i - 1]))
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def fill_csv(skeleton: bytes, rows: list[dict[str, str]]) -> bytes:
    text = skeleton.decode("utf-8-sig")
    header, example = list(csv.reader(io.StringIO(text)))[:2]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    for changes in rows:
        w.writerow([changes.get(h, e) for h, e in zip(header, example)])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def two_slas(n: int = 2) -> list[dict[str, str]]:
    return [{"协议编号": f"SLA-2026-01{i}", "协议名称": f"港口信息系统服务等级协议（第{i}批）"} for i in range(n)]


# -- the service -----------------------------------------------------------------------------------
def test_skeleton_headers_are_chinese_labels_and_the_example_validates(svc):
    template = svc.templates.get("contract")
    cols = skeleton_columns(template.schema)
    headers = [c.header for c in cols]
    assert headers[:2] == ["合同编号", "合同名称"] and "甲方（委托方）·名称" in headers
    # A table (the payment schedule) is one column per cell, rows counted from 1.
    assert "付款计划·第1行·金额" in headers and "付款计划·第2行·期次" in headers
    xlsx = batch.skeleton(template, "xlsx")
    ws = load_workbook(io.BytesIO(xlsx.data)).active
    assert [c.value for c in ws[1]] == headers and ws.freeze_panes == "A2"
    csv_skeleton = batch.skeleton(template, "csv")
    assert csv_skeleton.data.startswith(b"\xef\xbb\xbf") and xlsx.filename.endswith(".xlsx")
    for data in (xlsx.data, csv_skeleton.data):
        [row] = read_numbered(data, schema=template.schema)
        assert row.number == 2
        svc.templates.prepare(template, row.data)  # the example row is a valid contract
        # Field keys are understood as headers too, and a choice by its Chinese name or its code.
    assert read_numbered(
        "contract_no,合同名称,服务类别\nHT-1,测试合同,计算机信息系统运营和维护服务\n".encode(), schema=template.schema
    )[0].data == {"contract_no": "HT-1", "title": "测试合同", "service_category": "4.2"}


def test_every_row_is_checked_before_anything_is_generated(svc):
    template = svc.templates.get("sla")
    sheet = batch.skeleton(template, "xlsx").data
    rows = two_slas(4)
    rows[1]["服务可用性（%）"] = "150"
    rows[3]["甲方（用户方）·名称"] = ""
    rows[2]["协议编号"] = rows[0]["协议编号"]  # the same number twice in one batch
    numbered = read_numbered(fill_xlsx(sheet, rows), schema=template.schema)
    assert [r.number for r in numbered] == [2, 3, 4, 5]
    failed = svc.templates.check_batch(template, numbered)
    assert [i.row for i in failed] == [3, 4, 5]
    error = batch.invalid_rows(template, failed)
    by_row = {r["row"]: r["errors"] for r in error.details["rows"]}
    assert by_row[3][0]["label_zh"] == "服务可用性（%）" and "90" in by_row[3][0]["zh"] and by_row[3][0]["en"]
    assert "第 2 行" in by_row[4][0]["zh"] and by_row[4][0]["field"] == "sla_no"
    assert by_row[5][0]["label_zh"] == "甲方（用户方） · 名称" and by_row[5][0]["label_en"]
    assert "第 3、4、5 行" in error.zh and "row 3, 4, 5" in error.en
    assert svc.catalog.counts()["documents"] == 0


def test_malformed_files_are_refused_with_nothing_written(svc):
    schema = svc.templates.get("sla").schema
    cases = {
        b"": "空",
        b"   \n": "空",
        b"%PDF-1.7\n\x00\x01\x02\xff\xfe binary": "不是可读取",
        "协议编号,协议名称\n".encode("utf-16-le"): "不是可读取",  # UTF-16 without its BOM: NULs
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1 an xls": ".xls",
        b"PK\x03\x04 not really a workbook": "Excel",
        "协议编号,协议名称,=1+2\nSLA-1,名称,x\n".encode(): "不是本模板",
        '协议编号,协议名称\nSLA-1,=HYPERLINK("http://x")\n'.encode(): "公式",
        "协议编号,协议名称\nSLA-1,-cmd|' /C calc'!A0\n".encode(): "公式",
        "协议编号,无此字段\nSLA-1,x\n".encode(): "无此字段",
        "协议编号,sla_no\nSLA-1,x\n".encode(): "同一字段",
    }
    for data, words in cases.items():
        with pytest.raises(InvalidInput) as e:
            read_numbered(data, schema=schema)
        assert words in e.value.zh and e.value.en and e.value.field == "file", (data, e.value.zh)
    wb = Workbook()
    wb.active.append(["协议编号", "协议名称"])
    wb.active.append(["SLA-1", '=CONCAT("a","b")'])
    buf = io.BytesIO()
    wb.save(buf)
    with pytest.raises(InvalidInput) as e:
        read_numbered(buf.getvalue(), schema=schema)
    assert "第 2 行 B 列是公式" in e.value.zh and "Row 2, column B" in e.value.en
    # A phone number or a bullet line is no formula.
    ok = read_numbered("协议编号,协议名称\nSLA-1,+86 411 8888 0000\n".encode(), schema=schema)
    assert ok[0].data["title"].startswith("+86")
    assert svc.catalog.counts()["documents"] == 0


def test_blank_rows_keep_the_numbers_of_the_others(svc):
    schema = svc.templates.get("sla").schema
    text = "协议编号,协议名称\nSLA-1,一\n,\n\nSLA-2,二\n"
    assert [r.number for r in read_numbered(text.encode(), schema=schema)] == [2, 5]
    wb = Workbook()
    ws = wb.active
    ws.append(["协议编号", "协议名称"])
    ws.append(["SLA-1", "一"])
    ws.cell(row=6, column=1, value="SLA-2")  # rows 3–5 never written (absent from the file)
    buf = io.BytesIO()
    wb.save(buf)
    assert [r.number for r in read_numbered(buf.getvalue(), schema=schema)] == [2, 6]


def test_the_job_generates_each_row_with_provenance_and_progress(svc):
    gd = svc.guard(svc.users.principal_for_cli("批量起草人"))
    template = svc.templates.get("sla")
    data = fill_csv(batch.skeleton(template, "csv").data, two_slas(3))
    job, created = gd.start_batch("sla", data, "三份协议.csv")
    assert created and job.kind == batch.BATCH_JOB and job.max_attempts == 1
    again, created_again = gd.start_batch("sla", data, "三份协议.csv")  # uploaded twice: one job
    assert again.id == job.id and not created_again
    seen = []
    real = svc.jobs.store.progress
    svc.jobs.store.progress = lambda j, r: seen.append(r["done"]) or real(j, r)
    done = svc.jobs.run_next(job_id=job.id)
    assert done.state.value == "done", done.error
    assert seen == [1, 2, 3]
    b = gd.batch(job.id)
    assert (b.total, b.done, b.succeeded, b.percent) == (3, 3, 3, 100)
    assert [i["row"] for i in b.items] == [2, 3, 4]
    for item, changes in zip(b.items, two_slas(3)):
        v = svc.archive.version(item["document_id"], item["version"])
        assert v.provenance["template"] == "sla" and v.provenance["data"]["sla_no"] == changes["协议编号"]
        assert item["title"] == changes["协议名称"] == svc.catalog.get_document(item["document_id"]).metadata.title
    buf = io.BytesIO()
    assert gd.batch_zip(job.id, buf) == 3
    names = zipfile.ZipFile(buf).namelist()
    assert sorted(names) == sorted(f"{c['协议名称']}.docx" for c in two_slas(3))
    assert svc.verify_audit().ok and svc.check().ok


def test_skip_invalid_generates_the_valid_rows_and_lists_the_others(svc):
    gd = svc.guard(svc.users.principal_for_cli("批量起草人"))
    template = svc.templates.get("sla")
    rows = two_slas(3)
    rows[1]["协议编号"] = ""
    data = fill_csv(batch.skeleton(template, "csv").data, rows)
    with pytest.raises(InvalidInput) as e:
        gd.start_batch("sla", data, "x.csv")
    assert [r["row"] for r in e.value.details["rows"]] == [3]
    assert svc.jobs.store.list_jobs(kind=batch.BATCH_JOB)[1] == 0  # nothing queued
    job, _ = gd.start_batch("sla", data, "x.csv", skip_invalid=True)
    svc.jobs.run_next(job_id=job.id)
    b = gd.batch(job.id)
    assert [i["row"] for i in b.items] == [2, 4] and [s["row"] for s in b.skipped] == [3]
    assert svc.catalog.counts()["documents"] == 2


# -- the web page and the API ----------------------------------------------------------------------
def test_the_batch_page_end_to_end(world):
    drafter = world.login("drafter")
    assert 'id="batch-sla"' in drafter.get("/templates").data.decode()
    assert "/templates/sla/batch" in drafter.get("/templates/sla/generate").data.decode()
    page = drafter.get("/templates/sla/batch")
    assert page.status_code == 200 and "skeleton.xlsx" in page.data.decode()
    xlsx = drafter.get("/templates/sla/batch/skeleton.xlsx")
    assert xlsx.status_code == 200 and xlsx.headers["Content-Disposition"].startswith("attachment")
    filled = fill_xlsx(xlsx.data, two_slas(2))
    token = csrf_of(page)
    resp = drafter.post(
        "/templates/sla/batch",
        data={"csrf_token": token, "file": (io.BytesIO(filled), "两份.xlsx")},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 303, resp.data.decode()[:500]
    status_page = resp.headers["Location"]
    running = drafter.get(status_page).data.decode()
    assert 'http-equiv="refresh"' in running and "0 / 2" in running
    world.svc.jobs.run_next()
    done = drafter.get(status_page).data.decode()
    assert 'http-equiv="refresh"' not in done and "2 / 2" in done and "第 2 行" in done and "第 3 行" in done
    assert "港口信息系统服务等级协议（第1批）" in done and 'id="batch-zip"' in done
    z = drafter.get(status_page + "/files.zip")
    assert z.status_code == 200 and len(zipfile.ZipFile(io.BytesIO(z.data)).namelist()) == 2
    # Someone else's batch is not theirs to see; an auditor sees the queue's jobs.
    assert world.login("alice").get(status_page).status_code == 404
    assert world.login("audit").get(status_page).status_code == 200


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_invalid_rows_are_shown_per_row_in_the_pages_language(world, lang):
    drafter = world.login("drafter", lang=lang)
    page = drafter.get("/templates/sla/batch")
    rows = two_slas(2)
    rows[1]["服务可用性（%）"] = "150"
    data = fill_csv(drafter.get("/templates/sla/batch/skeleton.csv").data, rows)
    resp = drafter.post(
        "/templates/sla/batch",
        data={"csrf_token": csrf_of(page), "file": (io.BytesIO(data), "x.csv")},
        content_type="multipart/form-data",
    )
    html = resp.data.decode()
    assert resp.status_code == 400 and 'id="row-errors"' in html
    if lang == "zh":
        assert "第 3 行" in html and "服务可用性（%）" in html and "未生成任何文档" in html
    else:
        assert "Row 3" in html and "Availability" in html and "nothing was generated" in html.lower()
    assert world.svc.catalog.counts()["documents"] == 0 and not world.svc.jobs.store.list_jobs()[0]


def test_refusals_limits_and_csrf(world):
    # Roles that may not draft are not offered the page and are refused it.
    member = world.login("alice")
    assert "/batch" not in member.get("/templates").data.decode()
    assert member.get("/templates/sla/batch").status_code == 403
    assert world.login("audit").get("/templates/sla/batch/skeleton.xlsx").status_code == 403
    assert "access.denied" in world.audit_actions("alice")
    drafter = world.login("drafter")
    page = drafter.get("/templates/sla/batch")
    sheet = drafter.get("/templates/sla/batch/skeleton.csv").data
    # No CSRF token: refused, nothing queued.
    no_token = drafter.post(
        "/templates/sla/batch",
        data={"file": (io.BytesIO(fill_csv(sheet, two_slas(1))), "x.csv")},
        content_type="multipart/form-data",
    )
    assert no_token.status_code == 400
    # More rows than BATCH_MAX_ROWS (5 here); a file that is no spreadsheet; no file.
    for data, words in (
        (fill_csv(sheet, two_slas(6)), "超过 5 行"),
        (b"%PDF-1.4\x00\xff\xfe", "不是可读取"),
        (None, "请选择"),
    ):
        files = {"file": (io.BytesIO(data), "x.csv")} if data is not None else {}
        resp = drafter.post(
            "/templates/sla/batch", data={"csrf_token": csrf_of(page), **files}, content_type="multipart/form-data"
        )
        assert resp.status_code == 400 and words in resp.data.decode(), words
    world.svc.settings["BATCH_MAX_BYTES"] = 200  # a file over the size limit: 413, nothing queued
    resp = drafter.post(
        "/templates/sla/batch",
        data={"csrf_token": csrf_of(page), "file": (io.BytesIO(fill_csv(sheet, two_slas(1))), "x.csv")},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 413 and "过大" in resp.data.decode()
    world.svc.settings["BATCH_MAX_BYTES"] = 5 * 1024 * 1024
    assert not world.svc.jobs.store.list_jobs()[0] and world.svc.catalog.counts()["documents"] == 0
    # An on-site document (a change request is 9.2) in a project the drafter is not a member of.
    cr = drafter.get("/templates/change_request/batch/skeleton.csv").data
    other = fill_csv(cr, [{"项目名称": "银行核心系统"}])
    resp = drafter.post(
        "/templates/change_request/batch",
        data={"csrf_token": csrf_of(page), "file": (io.BytesIO(other), "x.csv")},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 400 and "银行核心系统" in resp.data.decode()


def test_the_api_and_the_job_status(world):
    api = world.api("drafter")
    sk = api.get("/api/v1/templates/sla/batch/skeleton?format=csv")
    assert sk.status_code == 200 and sk.data.startswith(b"\xef\xbb\xbf") and sk.mimetype == "text/csv"
    err(api.get("/api/v1/templates/sla/batch/skeleton?format=xls"), 404)
    bad = two_slas(2)
    bad[0]["协议编号"] = ""
    e = err(
        api.post(
            "/api/v1/templates/sla/batch",
            data={"file": (io.BytesIO(fill_csv(sk.data, bad)), "x.csv")},
            content_type="multipart/form-data",
        ),
        400,
        field="file",
    )
    assert e["details"]["rows"][0]["row"] == 2 and e["details"]["rows"][0]["errors"][0]["label_en"]
    resp = api.post(
        "/api/v1/templates/sla/batch",
        data={"file": (io.BytesIO(fill_csv(sk.data, two_slas(2))), "x.csv")},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 202 and resp.json["state"] == "queued" and resp.json["total"] == 2
    world.svc.jobs.run_next()
    status = api.get(resp.headers["Location"]).json
    assert status["state"] == "done" and status["percent"] == 100 and [i["row"] for i in status["items"]] == [2, 3]
    assert api.get(f"/api/v1/jobs/{status['job_id']}").status_code == 200  # one's own job
    err(world.api("bob").get(resp.headers["Location"]), 404)
    z = api.get(status["files_url"])
    assert z.status_code == 200 and len(zipfile.ZipFile(io.BytesIO(z.data)).namelist()) == 2
    err(
        world.api("alice").post(
            "/api/v1/templates/sla/batch",
            data={"file": (io.BytesIO(sk.data), "x.csv")},
            content_type="multipart/form-data",
        ),
        403,
    )


def test_the_health_page_names_and_links_a_batch(world):
    api = world.api("drafter")
    sk = api.get("/api/v1/templates/sla/batch/skeleton?format=csv")
    resp = api.post(
        "/api/v1/templates/sla/batch",
        data={"file": (io.BytesIO(fill_csv(sk.data, two_slas(1))), "一份.csv")},
        content_type="multipart/form-data",
    )
    world.svc.jobs.run_next()
    html = world.login("mgr").get("/admin/health").data.decode()
    assert "批量生成" in html and f"/templates/sla/batch/{resp.json['job_id']}" in html and "一份.csv" in html


def test_the_cli_reads_the_web_spreadsheet_through_the_same_service(svc, config, tmp_path):
    """`docsvc generate --batch` takes the skeleton the page hands out (Chinese headers), names rows
    as the spreadsheet does and, like the page, generates nothing while one row is invalid."""
    from click.testing import CliRunner

    from docsvc.cli import cli

    template = svc.templates.get("sla")
    rows = two_slas(2)
    path = tmp_path / "两份协议.xlsx"
    path.write_bytes(fill_xlsx(batch.skeleton(template, "xlsx").data, rows))
    env = {
        "DOCSVC_ARCHIVE_DIR": config["ARCHIVE_DIR"],
        "DOCSVC_INDEX_DIR": config["INDEX_DIR"],
        "DOCSVC_DATABASE_URL": config["DATABASE_URL"],
        "DOCSVC_TEMPLATES_DIR": str(SHIPPED),
        "DOCSVC_ACTOR": "批量起草人",
    }
    rows[1]["服务可用性（%）"] = "150"
    bad = tmp_path / "有错.xlsx"
    bad.write_bytes(fill_xlsx(batch.skeleton(template, "xlsx").data, rows))
    refused = CliRunner().invoke(cli, ["generate", "sla", "--batch", str(bad)], env=env)
    assert refused.exit_code == 2 and "第 3 行" in refused.output and "服务可用性" in refused.output
    assert svc.catalog.counts()["documents"] == 0
    import json

    done = CliRunner().invoke(cli, ["generate", "sla", "--batch", str(path), "--json"], env=env, catch_exceptions=False)
    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)
    assert [i["row"] for i in report["items"]] == [2, 3] and report["succeeded"] == 2
    made = svc.archive.version(report["items"][0]["document_id"])
    assert made.provenance["data"]["sla_no"] == "SLA-2026-010" and made.provenance["template"] == "sla"


def test_a_batch_runs_as_its_drafter_as_they_are_when_it_runs(world):
    """Queued by a drafter who is deactivated before it runs: the job fails (never run under
    another role) and generates nothing; a stopped batch (its server lost the job) generates no
    further rows."""
    api = world.api("drafter")
    sk = api.get("/api/v1/templates/sla/batch/skeleton?format=csv")
    resp = api.post(
        "/api/v1/templates/sla/batch",
        data={"file": (io.BytesIO(fill_csv(sk.data, two_slas(2))), "x.csv")},
        content_type="multipart/form-data",
    )
    world.svc.users.update("drafter", actor="root", active=False)
    job = world.svc.jobs.run_next()
    assert job.state.value == "failed" and job.error["code"] == "forbidden" and "drafter" in job.error["message"]
    assert world.svc.catalog.counts()["documents"] == 0 and job.id == resp.json["job_id"]

    import threading

    from docsvc.core.tabular import Row

    stop = threading.Event()
    stop.set()
    template = world.svc.templates.get("sla")
    rows = [Row(2, template.schema.sample())]
    result = world.svc.templates.generate_batch(template, rows, actor="mgr", stop=stop)
    assert result.failed == 1 and result.items[0].row == 2 and "中止" in result.items[0].error["message"]
    assert world.svc.catalog.counts()["documents"] == 0
