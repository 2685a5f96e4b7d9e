"""Management reports, generated like any document and archived with provenance: from the CLI,
the REST API and the web reports page; on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path

import docx
import pytest
from click.testing import CliRunner

from docsvc.cli import cli
from docsvc.errors import InvalidInput
from docsvc.services.reports import ReportRequest
from docsvc.web.factory import create_app
from tests.webutil import World, csrf_of, err, world  # noqa: F401 - the world fixture

SHIPPED = Path(__file__).resolve().parents[1] / "templates"


@pytest.fixture
def app(config):
    app = create_app(
        {
            **config,
            "TEMPLATES_DIR": str(SHIPPED),
            "TESTING": True,
            "FSYNC": False,
            "ORGANIZATION": "大连某信息技术有限公司",
        }
    )
    yield app
    app.extensions["docsvc"].close()


def _text(data: bytes) -> str:
    d = docx.Document(io.BytesIO(data))
    return "\n".join(
        [p.text for p in d.paragraphs] + ["|".join(c.text for c in row.cells) for t in d.tables for row in t.rows]
    )


def _today(world: World) -> dt.date:
    # The archive's time zone, as reports count days: the machine's own date differs from it
    # for part of every day (before 08:00 UTC in Asia/Shanghai).
    return dt.datetime.now(world.svc.reports.tz).date()


def _archive_some(world: World) -> tuple[int, int]:
    svc = world.svc
    today = _today(world)
    sla = svc.templates.get("sla").schema.sample()
    overdue = svc.templates.generate("sla", sla, actor="drafter").document.id
    svc.archive.set_metadata(overdue, {"review_due": (today - dt.timedelta(days=3)).isoformat()}, actor="mgr")
    plan = svc.templates.generate(
        "service_plan", svc.templates.get("service_plan").schema.sample(), actor="drafter"
    ).document.id
    svc.archive.set_metadata(plan, {"review_due": (today + dt.timedelta(days=10)).isoformat()}, actor="mgr")
    return overdue, plan


@pytest.mark.slow
def test_reports_from_the_api_are_archived_with_provenance(world):
    overdue, plan = _archive_some(world)
    world.api("drafter").get("/api/v1/audit")  # a denied attempt, for the audit report
    resp = world.api("mgr").post("/api/v1/reports/reviews", json={})
    assert resp.status_code == 201, resp.data.decode()[:500]
    doc_id = resp.json["document"]["id"]
    version = world.svc.archive.version(doc_id)
    assert version.provenance["template"] == "report_reviews" and version.provenance["report"]["kind"] == "reviews"
    assert world.svc.catalog.get_document(doc_id).metadata.doc_type == "report"
    text = _text(world.svc.blobs.read(version.sha256))
    assert "已逾期 3 天" in text and "10 天后到期" in text and "其中 1 份已逾期" in text
    assert str(overdue) in text and str(plan) in text

    audit = world.api("mgr").post(
        "/api/v1/reports/audit", json={"since": (_today(world) - dt.timedelta(days=1)).isoformat()}
    )
    assert audit.status_code == 201
    text = _text(world.svc.blobs.read(world.svc.archive.version(audit.json["document"]["id"]).sha256))
    assert "drafter|拒绝访问" in text  # who did what: the drafter was refused the audit log
    assert "拒绝访问；read_audit_log" in text  # and the denied attempt itself, with what was asked
    assert "哈希链无断裂" in text

    inventory = world.api("root").post("/api/v1/reports/inventory")
    assert inventory.status_code == 201
    inv = world.svc.archive.version(inventory.json["document"]["id"])
    text = _text(world.svc.blobs.read(inv.sha256))
    assert "4.2 " in text and "用户文档" in text and "现场文档" in text
    assert (
        docx.Document(io.BytesIO(world.svc.blobs.read(inv.sha256))).core_properties.author == "大连某信息技术有限公司"
    )


def test_who_may_make_reports_and_bad_input(world):
    err(world.api("drafter").post("/api/v1/reports/inventory", json={}), 403)
    err(world.api("audit").post("/api/v1/reports/inventory", json={}), 403)  # auditors write nothing
    assert "access.denied" in world.audit_actions("audit")
    err(world.api("mgr").post("/api/v1/reports/weekly", json={}), 400, field="kind")
    err(
        world.api("mgr").post("/api/v1/reports/audit", json={"since": "2026-02-01", "until": "2026-01-01"}),
        400,
        field="until",
    )
    err(world.api("mgr").post("/api/v1/reports/audit", json={"since": "1.1.2026"}), 400, field="since")
    err(world.api("mgr").post("/api/v1/reports/audit", json={"pdf": "yes"}), 400, field="pdf")
    assert world.svc.catalog.counts()["documents"] == 0


def test_report_templates_are_not_filled_by_hand(world):
    """A report is the archive's own data: its template cannot be drafted with typed-in figures."""
    sample = world.svc.templates.get("report_inventory").schema.sample()
    err(
        world.api("mgr").post("/api/v1/templates/report_inventory/generate", json={"data": sample}),
        400,
        field="template",
    )
    with pytest.raises(InvalidInput):
        world.svc.templates.generate("report_inventory", sample, actor="mgr")


def test_reports_page(world):
    _archive_some(world)
    client = world.login("mgr")
    page = client.get("/reports")
    assert page.status_code == 200 and "到期复审" in page.data.decode()
    resp = client.post("/reports", data={"kind": "inventory", "service_category": "4.2", "csrf_token": csrf_of(page)})
    assert resp.status_code == 302 and "/documents/" in resp.headers["Location"]
    bad = client.post("/reports", data={"kind": "audit", "since": "2026-13-01", "csrf_token": csrf_of(page)})
    assert bad.status_code == 400 and "YYYY-MM-DD" in bad.data.decode()
    assert world.login("drafter").get("/reports").status_code == 403
    en = world.login("mgr", lang="en").get("/reports").data.decode()
    assert "Archive inventory" in en and "Reviews due" in en
    assert "/templates/report_inventory/versions" in en  # restyle: upload a new template version
    versions = client.get("/templates/report_inventory/versions")
    assert versions.status_code == 200
    # Not in the drafting gallery: a report is never typed in.
    assert "report_inventory" not in client.get("/templates").data.decode()


def test_report_from_the_command_line(world, config, tmp_path):
    _archive_some(world)
    env = {
        "DOCSVC_ARCHIVE_DIR": config["ARCHIVE_DIR"],
        "DOCSVC_INDEX_DIR": config["INDEX_DIR"],
        "DOCSVC_DATABASE_URL": config["DATABASE_URL"],
        "DOCSVC_TEMPLATES_DIR": str(SHIPPED),
        "DOCSVC_ACTOR": "运维经理",
    }
    out = tmp_path / "out"
    out.mkdir()
    result = CliRunner().invoke(cli, ["report", "inventory", "-o", str(out), "--json"], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    made = json.loads(result.stdout)
    written = Path(made["written"][0])
    assert written.parent == out and written.name.startswith("档案清单报告")
    assert "归档文档共 2 份" in _text(written.read_bytes())
    again = CliRunner().invoke(cli, ["report", "inventory", "-o", str(out)], env=env)
    assert again.exit_code == 2 and "--force" in again.stderr
    assert world.svc.catalog.counts()["documents"] == 3  # refused before a second report was archived
    bad = CliRunner().invoke(cli, ["report", "audit", "--since", "明天"], env=env)
    assert bad.exit_code == 2 and "YYYY-MM-DD" in bad.stderr


def test_request_defaults():
    today = dt.date(2026, 3, 31)
    audit = ReportRequest.parse("audit", today=today)
    assert (audit.since, audit.until) == (dt.date(2026, 3, 1), today)
    assert ReportRequest.parse("reviews", today=today).until == dt.date(2026, 4, 30)
    with pytest.raises(InvalidInput):
        ReportRequest.parse("reviews", today=today, service_category="9.9")


def test_report_templates_are_what_their_builder_makes_and_lint_clean(tmp_path):
    import runpy

    from docsvc.core.schema import load_schema
    from docsvc.core.templating import lint_template

    build_all = runpy.run_path(str(SHIPPED / "reports" / "build_reports.py"), run_name="build_reports")["build_all"]
    for folder in build_all(tmp_path):
        committed = SHIPPED / "reports" / folder.name
        for name in ("template.docx", "schema.json"):
            assert (folder / name).read_bytes() == (committed / name).read_bytes(), (
                f"{committed / name} is stale: run .venv/bin/python templates/reports/build_reports.py"
            )
        report = lint_template((committed / "template.docx").read_bytes(), load_schema(committed).field_sources())
        assert report.ok and not report.issues, report.issues
