"""The command line's door: every command through the same Guard as the web and the API.

The local operator (a name that is no docsvc user) is an administrator; ``--as USER`` makes
every command run with that user's role, refused and audited as on the web."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from docsvc.cli import cli
from docsvc.core.model import AuditAction
from tests.conftest import META
from tests.webutil import PEOPLE, SITE_DOC


@pytest.fixture
def run(config, people):
    env = {f"DOCSVC_{k}": v for k, v in config.items()} | {"DOCSVC_ACTOR": "运维值班"}
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(cli, list(args), env=env, catch_exceptions=False)

    return invoke


@pytest.fixture
def docs(svc, people):
    """A user document and an on-site document of alice's project, filed by alice."""
    alice = people("alice")
    return {
        "user": alice.add_document("运维服务合同正文".encode(), "合同.txt", META).document,
        "site": alice.add_document("现场巡检记录".encode(), "巡检.txt", SITE_DOC).document,
    }


def _denied(svc, actor: str) -> list[dict]:
    return [
        e.details for e in svc.catalog.audit_entries() if e.action == AuditAction.ACCESS_DENIED and e.actor == actor
    ]


def test_a_member_is_refused_what_the_web_refuses(run, svc, docs):
    # bob (member of another project) may not even see alice's on-site document: answered as missing.
    hidden = run("--as", "bob", "doc", "set", str(docs["site"].id), "status=effective")
    assert hidden.exit_code == 2
    assert f"文档 {docs['site'].id} 不存在" in hidden.output and "does not exist" in hidden.output
    assert svc.archive.document(docs["site"].id).metadata.status.value == "draft"
    assert {"operation": "set_metadata", "role": "member", "via": "cli"}.items() <= _denied(svc, "bob")[-1].items()
    # alice may change her own project's document: the audit entry names her, not the operator.
    changed = run("--as", "alice", "doc", "set", str(docs["site"].id), "status=effective", "--reason", "已签署")
    assert changed.exit_code == 0, changed.output
    last = list(svc.catalog.audit_entries(document_id=docs["site"].id))[-1]
    assert last.action == AuditAction.METADATA_CHANGED and last.actor == "alice"
    # Reading goes through the same rule: bob cannot show, fetch or list it either.
    assert run("--as", "bob", "doc", "show", str(docs["site"].id)).exit_code == 2
    listed = json.loads(run("--as", "bob", "doc", "list", "--json").output)
    assert [d["id"] for d in listed["items"]] == [docs["user"].id]


def test_an_auditor_reads_but_may_not_write(run, svc, docs):
    refused = run("--as", "audit", "doc", "set", str(docs["user"].id), "status=effective")
    assert refused.exit_code == 2
    assert "您的角色（审计员）无权修改元数据" in refused.output
    assert "Your role (Auditor) may not change metadata" in refused.output
    assert _denied(svc, "audit")[-1]["permission"] == "document.write"
    shown = json.loads(run("--as", "audit", "doc", "show", str(docs["site"].id), "--json").output)
    assert shown["id"] == docs["site"].id
    assert run("--as", "audit", "audit", "log", "--format", "json").exit_code == 0


@pytest.mark.parametrize(
    ("who", "args", "operation"),
    [
        ("mgr", ("gc",), "gc"),
        ("mgr", ("index", "rebuild"), "index_rebuild"),
        ("mgr", ("serve", "--port", "0"), "serve"),
        ("mgr", ("user", "add", "carol", "--role", "member"), "create_user"),
        ("drafter", ("audit", "log"), "read_audit_log"),
        ("alice", ("check",), "integrity_check"),
    ],
)
def test_a_role_without_the_permission_is_refused(run, svc, docs, who, args, operation):
    refused = run("--as", who, *args)
    assert refused.exit_code == 2, refused.output
    assert "无权" in refused.output and "may not" in refused.output
    assert _denied(svc, who)[-1]["operation"] == operation
    assert svc.users.count() == len(PEOPLE)  # nothing was created


def test_the_local_operator_is_an_administrator(run, svc, docs):
    # A name that is no docsvc user: the local operator, who may do anything, audited under that name.
    made = run("user", "add", "carol", "--role", "member", "--project", "港口运维二期", "--json")
    assert made.exit_code == 0, made.output
    assert run("gc").exit_code == 0
    assert run("doc", "set", str(docs["site"].id), "status=effective").exit_code == 0
    actors = {e.actor for e in svc.catalog.audit_entries() if e.action == AuditAction.METADATA_CHANGED}
    assert actors == {"运维值班"}
    # and --as carol applies carol's role from then on
    assert run("--as", "carol", "gc").exit_code == 2


def test_a_search_only_reads(run, svc, docs):
    assert run("index", "sync").exit_code == 0  # an index that exists and is up to date
    # Archived in-process, not yet indexed: waiting in the catalog's outbox for an index writer.
    pending = svc.archive.add_document("驻场工程师巡检日志".encode(), "日志.txt", META, actor="张伟").document
    before = svc.catalog.counts()["outbox_pending"]
    assert before > 0
    found = json.loads(run("search", "驻场工程师", "--json").output)
    assert found["total"] == 0  # the search did not apply the queue …
    assert svc.catalog.counts()["outbox_pending"] == before  # … nor touch it
    similar = run("doc", "similar", str(docs["user"].id), "--json")
    assert similar.exit_code == 0 and svc.catalog.counts()["outbox_pending"] == before
    assert run("index", "sync").exit_code == 0  # the operator's write
    found = json.loads(run("search", "驻场工程师", "--json").output)
    assert [h["document_id"] for h in found["hits"]] == [pending.id]


def test_what_the_cli_archives_is_found_at_once(run, tmp_path):
    note = tmp_path / "值班记录.txt"
    note.write_text("机房空调告警处理：更换压缩机，恢复制冷。", "utf-8")
    added = json.loads(run("doc", "add", str(note), "--type", "report", "--category", "4.2", "--json").output)
    found = json.loads(run("search", "压缩机", "--json").output)
    assert [h["document_id"] for h in found["hits"]] == [added["document"]["id"]]


def test_a_deactivated_user_is_not_the_operator(run, svc, docs):
    svc.users.update("alice", actor="root", active=False)
    refused = run("--as", "alice", "doc", "set", str(docs["site"].id), "status=effective")
    assert refused.exit_code == 2
    assert "已停用" in refused.output and "deactivated" in refused.output
    assert svc.archive.document(docs["site"].id).metadata.status.value == "draft"


def test_templates_as_the_web_shows_them(config, tmp_path):
    from pathlib import Path

    from docsvc.app import open_docsvc
    from tests.webutil import PASSWORD

    shipped = {**config, "TEMPLATES_DIR": str(Path(__file__).resolve().parents[1] / "templates")}
    with_templates = open_docsvc(shipped)
    try:
        with_templates.users.create_user("drafter", "drafter", actor="setup", password=PASSWORD)
    finally:
        with_templates.close()
    env = {f"DOCSVC_{k}": v for k, v in shipped.items()}
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(cli, list(args), env=env, catch_exceptions=False)

    listed = json.loads(run("--as", "drafter", "template", "list", "--json").output)
    assert "sla" in [t["slug"] for t in listed]
    # A drafter sees the template; its version history is for template managers, as on the web.
    shown = json.loads(run("--as", "drafter", "template", "show", "sla", "--json").output)
    assert shown["slug"] == "sla" and len(shown["versions"]) == 1
    (tmp_path / "x.docx").write_bytes(b"PK")
    refused = run("--as", "drafter", "template", "add", str(tmp_path / "x.docx"), "--name", "sla")
    assert refused.exit_code == 2 and "无权" in refused.output
