"""A PDF asked for on the document page or through the API and made by a background job; who may
ask; the queue, the servers and their jobs on the health page; review reminders on the dashboard."""

from __future__ import annotations

import datetime as dt
import io

import pytest

from docsvc.errors import Unavailable
from docsvc.services import background, thumbnails
from tests.conftest import poll_until, wait_for
from tests.docxutil import make_docx
from tests.webutil import SITE_DOC, USER_DOC, app, csrf_of, err, world  # noqa: F401

SLA_TEXT = ("港口信息系统服务等级协议", "一级故障：十五分钟内响应，四小时内恢复。")


def upload(world, who: str, meta: dict, data: bytes, filename: str) -> int:
    resp = world.api(who).post(
        "/api/v1/documents", data={**meta, "file": (io.BytesIO(data), filename)}, content_type="multipart/form-data"
    )
    assert resp.status_code == 201, resp.data.decode()[:500]
    return resp.json["document"]["id"]


def queued_jobs(world) -> int:
    """Jobs other than thumbnails (every upload queues a thumbnail sweep: docsvc.services.thumbnails)."""
    return sum(1 for j in world.svc.jobs.store.list_jobs(limit=1000)[0] if not j.kind.startswith("thumbnail"))


def converter_says(world, monkeypatch, reason: str) -> None:
    """LibreOffice answering as it does when it cannot convert a document (or crashes)."""

    def fail(docx: bytes) -> bytes:
        raise Unavailable(
            "LibreOffice 无法转换此文档。",
            "LibreOffice could not convert this document.",
            details={"reason": reason, "error": "SfxBaseModel::impl_store failed"},
        )

    monkeypatch.setattr(world.svc.templates, "to_pdf", fail)


@pytest.mark.libreoffice
@pytest.mark.slow
def test_a_pdf_asked_for_through_the_api_is_made_by_the_servers_runner(world, unoserver_venv):
    import pypdf

    doc = upload(world, "alice", SITE_DOC, make_docx(*SLA_TEXT), "服务等级协议.docx")
    alice = world.api("alice")
    asked = alice.post(f"/api/v1/documents/{doc}/versions/1/renditions/pdf")
    assert asked.status_code == 202 and asked.json["state"] == "queued", asked.json
    job_id, status_url = asked.json["job"]["id"], asked.json["status_url"]
    assert asked.headers["Location"].endswith(status_url) and asked.json["job"]["created_by"] == "alice"
    again = alice.post(f"/api/v1/documents/{doc}/versions/1/renditions/pdf")
    assert again.status_code == 202 and again.json["job"]["id"] == job_id  # asked twice: one job

    world.svc.start_jobs()  # what docsvc serve does
    status = poll_until(
        lambda: (s := alice.get(status_url).json)["state"] in ("done", "failed") and s, "the PDF job", timeout_s=240
    )
    assert status["state"] == "done", status
    assert status["node"] == world.svc.jobs.node and status["attempts"] == 1 and status["error"] is None

    pdf = alice.get(status["rendition"]["content_url"])
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert pdf.headers["ETag"] == f'"{status["rendition"]["sha256"]}"'
    text = "".join("".join(p.extract_text().split()) for p in pypdf.PdfReader(io.BytesIO(pdf.data)).pages)
    assert "一级故障" in text and "四小时内恢复" in text

    done = alice.post(f"/api/v1/documents/{doc}/versions/1/renditions/pdf")  # it exists now: at once
    assert done.status_code == 200 and done.json["state"] == "done"
    assert done.json["rendition"]["sha256"] == status["rendition"]["sha256"]
    made = [e for e in world.svc.catalog.audit_entries(document_id=doc) if e.action == "rendition.added"]
    assert len(made) == 1 and made[0].actor == "alice" and made[0].version == 1
    assert made[0].details["job"] == job_id and made[0].details["node"] == world.svc.jobs.node
    assert world.svc.verify_audit().ok and world.svc.check().ok

    page = world.login("alice").get(f"/documents/{doc}").data.decode()
    assert f"/documents/{doc}/versions/1/renditions/pdf" in page and 'class="download pdf" download>PDF</a>' in page
    assert "request-pdf-1" not in page  # no button once the PDF is there
    health = world.api("mgr").get("/api/v1/health").json
    assert any(j["id"] == job_id and j["node"] == world.svc.jobs.node for j in health["jobs"]["recent"])
    assert health["jobs"]["by_kind"]["rendition.pdf"]["done"] == 1
    assert [n["name"] for n in health["jobs"]["nodes"]] == [world.svc.jobs.node]
    assert health["runner"]["state"] in ("idle", "running")


def test_a_conversion_that_fails_leaves_no_pdf_and_a_failed_job_saying_why(world, monkeypatch):
    converter_says(world, monkeypatch, "conversion_failed")
    doc = upload(world, "alice", USER_DOC, make_docx(*SLA_TEXT), "协议.docx")
    alice = world.api("alice")
    job_id = alice.post(f"/api/v1/documents/{doc}/versions/1/renditions/pdf").json["job"]["id"]
    assert world.svc.jobs.run_next(job_id=job_id).state.value == "failed"  # LibreOffice's refusal is final: no retries
    job = alice.get(f"/api/v1/jobs/{job_id}").json
    assert job["state"] == "failed" and job["attempts"] == 1 and "rendition" not in job
    assert job["error"]["message"].startswith(f"LibreOffice 无法把文档 {doc} 第 1 版转换为 PDF")
    assert job["error"]["message_en"].startswith(f"LibreOffice could not convert document {doc} version 1")
    assert world.svc.catalog.renditions(world.svc.catalog.get_version(doc, 1).id) == []
    err(alice.get(f"/api/v1/documents/{doc}/versions/1/renditions/pdf"), 404, "not_found")
    assert "rendition.added" not in world.audit_actions()

    page = world.login("alice").get(f"/documents/{doc}").data.decode()
    assert "PDF 生成失败" in page and f"LibreOffice 无法把文档 {doc} 第 1 版转换为 PDF" in page
    assert 'id="request-pdf-1"' in page and "重新生成 PDF" in page
    english = world.login("alice", lang="en").get(f"/documents/{doc}").data.decode()
    assert "The PDF could not be made" in english and f"LibreOffice could not convert document {doc}" in english

    again = alice.post(f"/api/v1/documents/{doc}/versions/1/renditions/pdf")  # a new try is a new job
    assert again.status_code == 202 and again.json["job"]["id"] != job_id


def test_a_converter_crash_is_retried_later_and_shown_meanwhile(world, monkeypatch):
    converter_says(world, monkeypatch, "crashed")
    doc = upload(world, "alice", USER_DOC, make_docx(*SLA_TEXT), "协议.docx")
    job_id = world.api("alice").post(f"/api/v1/documents/{doc}/versions/1/renditions/pdf").json["job"]["id"]
    world.svc.jobs.run_next(job_id=job_id)
    job = world.api("alice").get(f"/api/v1/jobs/{job_id}").json
    assert job["state"] == "queued" and job["attempts"] == 1 and job["error"]["code"] == "unavailable"
    assert job["run_after"] > job["created_at"]  # not before the back-off
    page = world.login("alice").get(f"/documents/{doc}").data.decode()
    assert "PDF 生成中" in page and 'http-equiv="refresh"' in page


def test_who_may_ask_for_a_pdf(world):
    site = upload(world, "alice", SITE_DOC, make_docx(*SLA_TEXT), "巡检.docx")  # project 港口运维二期
    missing = err(world.api("bob").post("/api/v1/documents/99999/versions/1/renditions/pdf"), 404, "not_found")
    hidden = err(world.api("bob").post(f"/api/v1/documents/{site}/versions/1/renditions/pdf"), 404, "not_found")
    assert hidden["message_en"] == missing["message_en"].replace("99999", str(site))  # like a missing document
    assert queued_jobs(world) == 0
    denied = [e for e in world.svc.catalog.audit_entries(actions=["access.denied"]) if e.actor == "bob"]
    assert denied[-1].document_id == site and denied[-1].details["operation"] == "request_rendition"

    job = world.api("alice").post(f"/api/v1/documents/{site}/versions/1/renditions/pdf").json["job"]
    # bob cannot see the job of a document he may not read (as if it did not exist); its project's member can
    err(world.api("bob").get(f"/api/v1/jobs/{job['id']}"), 404, "not_found")
    assert world.api("drafter").get(f"/api/v1/jobs/{job['id']}").json["id"] == job["id"]
    # an auditor reads everything and may ask too: the PDF changes no record (it is audited like a download)
    assert world.api("audit").post(f"/api/v1/documents/{site}/versions/1/renditions/pdf").json["job"]["id"] == job["id"]
    assert world.app.test_client().post(f"/api/v1/documents/{site}/versions/1/renditions/pdf").status_code == 401

    # the system's own jobs are for those who see the health page
    sweep = world.svc.jobs.tick()[0]
    err(world.api("alice").get(f"/api/v1/jobs/{sweep.id}"), 403, "forbidden")
    assert world.api("audit").get(f"/api/v1/jobs/{sweep.id}").json["kind"] in (
        background.ORPHANS_SWEEP,
        background.REVIEW_REMINDERS,
        background.JOBS_PRUNE,
        background.CLASSIFIER_TRAIN,
    )
    err(world.api("mgr").get("/api/v1/jobs/99999"), 404, "not_found")


def test_bad_requests_queue_nothing(world):
    word = upload(world, "alice", USER_DOC, make_docx(*SLA_TEXT), "协议.docx")
    text = upload(world, "alice", USER_DOC, "服务等级协议正文。".encode(), "协议.txt")
    alice = world.api("alice")
    e = err(alice.post(f"/api/v1/documents/{word}/versions/7/renditions/pdf"), 404, "not_found")
    assert "第 7 版" in e["message"] and "version 7" in e["message_en"]
    e = err(alice.post(f"/api/v1/documents/{text}/versions/1/renditions/pdf"), 400, "invalid_input", field="version")
    assert "只能为 Word（DOCX）版本生成 PDF" in e["message"] and "text/plain" in e["message_en"]
    err(alice.post(f"/api/v1/documents/{word}/versions/1/renditions/xlsx"), 404, "not_found", field="kind")
    assert queued_jobs(world) == 0
    page = world.login("alice").get(f"/documents/{text}").data.decode()
    assert "request-pdf-" not in page  # no button for what cannot be converted


def test_the_document_page_button_queues_the_pdf(world):
    doc = upload(world, "alice", USER_DOC, make_docx(*SLA_TEXT), "协议.docx")
    alice = world.login("alice")
    page = alice.get(f"/documents/{doc}")
    assert 'id="request-pdf-1"' in page.data.decode() and "生成 PDF" in page.data.decode()
    resp = alice.post(f"/documents/{doc}/versions/1/renditions/pdf", data={"csrf_token": csrf_of(page)})
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/documents/{doc}#versions-h")
    after = alice.get(f"/documents/{doc}").data.decode()
    assert "已排队生成第 1 版的 PDF" in after and "PDF 生成中" in after and 'id="request-pdf-1"' not in after
    assert 'http-equiv="refresh"' in after  # the page looks again until the PDF is there
    assert alice.post(f"/documents/{doc}/versions/1/renditions/pdf").status_code == 400  # no CSRF token
    assert queued_jobs(world) == 1


def test_the_health_page_shows_the_queue_the_nodes_and_which_node_ran_each_job(world):
    runner = world.svc.start_jobs()
    periodic = len(world.svc.jobs.periodic)
    assert wait_for(lambda: world.svc.jobs.store.stats().counts["done"] == periodic, 60)  # the periodic jobs
    runner.stop()
    node = world.svc.jobs.node
    page = world.login("mgr").get("/admin/health").data.decode()
    for text in (
        "后台任务",
        "服务器节点",
        node,
        "清理孤立文件",
        "复审提醒",
        "清理旧任务",
        "重新训练分类模型",
        "最近的任务",
        "已停止",
        "文件存储",
        "本机归档目录",
        "可访问",
    ):
        assert text in page, text
    assert page.count(f"<td>{node}</td>") >= 1 + periodic  # the node's row and the jobs it ran
    english = world.login("mgr", lang="en").get("/admin/health").data.decode()
    assert "Background jobs" in english and "Recent jobs" in english and "File store" in english
    health = world.api("audit").get("/api/v1/health").json
    assert health["jobs"]["counts"]["done"] == periodic and health["jobs"]["oldest_queued_age_s"] is None
    assert health["blobs"] == {"kind": "local", "location": world.svc.blobs.location, "ok": True}
    assert health["jobs"]["nodes"][0]["name"] == node and health["jobs"]["nodes"][0]["state"] == "stopped"
    assert {s["name"]: s["last_node"] for s in health["jobs"]["schedules"]} == {
        background.ORPHANS_SWEEP: node,
        background.REVIEW_REMINDERS: node,
        background.JOBS_PRUNE: node,
        background.CLASSIFIER_TRAIN: node,
        thumbnails.THUMBNAILS_SWEEP: node,
    }
    err(world.api("alice").get("/api/v1/health"), 403)


def test_the_dashboard_counts_the_documents_reminded_of(world):
    past = (dt.datetime.now(world.svc.reports.tz).date() - dt.timedelta(days=3)).isoformat()  # the archive's day
    # An SLA: the dashboard lists SLAs and service plans due for review (as the reviews report does).
    doc = upload(
        world, "alice", {**USER_DOC, "doc_type": "sla", "review_due": past}, "年度服务等级协议。".encode(), "sla.txt"
    )
    world.svc.jobs.tick()
    while world.svc.jobs.run_next() is not None:
        pass
    page = world.login("mgr").get("/").data.decode()
    assert "复审提醒：1 份文档已到复审日期，尚未复审。" in page and "已提醒" in page
    assert world.api("mgr").get("/api/v1/health").json["reviews"]["open"] == 1
    world.api("alice").patch(
        f"/api/v1/documents/{doc}", json={"metadata": {"review_due": "2099-01-01"}, "reason": "已复审"}
    )
    assert "复审提醒" not in world.login("mgr").get("/").data.decode()


@pytest.mark.slow
def test_the_health_page_shows_the_intake_folder(world, tmp_path):
    world.svc.settings["INTAKE_DIR"] = str(tmp_path / "收件")
    page = world.login("mgr").get("/admin/health").data.decode()
    assert "收件文件夹" in page and "本进程不监视" in page  # set, watched by another process
    watcher = world.svc.start_intake()
    (tmp_path / "收件" / "巡检记录.txt").write_text("机房巡检记录：UPS 电池组更换完成。", "utf-8")
    assert wait_for(lambda: watcher.status()["archived"] == 1, 30)
    page = world.login("mgr").get("/admin/health").data.decode()
    assert 'id="intake-archived">1<' in page and "本进程不监视" not in page
    english = world.login("mgr", lang="en").get("/admin/health").data.decode()
    assert "Intake folder" in english and "Archived" in english
