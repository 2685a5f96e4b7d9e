"""Accounts, roles, passwords, tokens and project membership; the access rules; the user CLI."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from docsvc.cli import cli
from docsvc.core.model import DocClass
from docsvc.errors import Conflict, Forbidden, InvalidInput, NotFound
from docsvc.services.users import (
    ROLE_PERMISSIONS,
    Permission,
    Principal,
    Role,
    Unauthenticated,
    can_read,
)
from tests.conftest import add

PW = "correct-horse-42"


def actions(svc):
    return [e.action for e in svc.catalog.audit_entries()]


def test_create_login_and_audit(svc):
    user, generated = svc.users.create_user(
        "Wang.Fang",
        "drafter",
        actor="root",
        password=PW,
        display_name="王芳",
        projects=["港口运维二期", "港口运维二期", " "],
    )
    assert generated is None and user.username == "wang.fang" and user.projects == ("港口运维二期",)
    p, fingerprint = svc.users.login("WANG.FANG", PW)
    assert p.role is Role.DRAFTER and p.projects == {"港口运维二期"}
    assert svc.users.principal_for_session(user.id, fingerprint) == p
    assert actions(svc) == ["user.created", "login.succeeded"]
    assert svc.users.get("wang.fang").last_login_at is not None


def test_passwords_are_kept_as_scrypt_hashes(svc, monkeypatch):
    """The product's hash is scrypt (the suite's cheap one is its own, tests/conftest.py); a hash
    made with either method checks, since the stored text names its method."""
    from docsvc.adapters import passwords

    svc.users.create_user("li.na", "member", actor="root", password=PW)
    monkeypatch.setattr(passwords, "METHOD", "scrypt")
    svc.users.create_user("zhao.lei", "member", actor="root", password=PW)
    stored = {r.username: r.password_hash for r in _user_rows(svc)}
    assert stored["zhao.lei"].startswith("scrypt:") and stored["li.na"].startswith("pbkdf2:")
    assert PW not in stored["zhao.lei"] + stored["li.na"]
    assert svc.users.login("zhao.lei", PW)[0].username == "zhao.lei"
    assert svc.users.login("li.na", PW)[0].username == "li.na"  # made with the cheap method: still checks


@pytest.mark.parametrize(
    "username,password",
    [("wang.fang", "wrong-password"), ("nobody", PW), ("", ""), ("x" * 5000, PW), ("'; DROP TABLE users;--", PW)],
)
def test_failed_logins_answer_with_one_message_and_are_audited_in_aggregate(svc, username, password):
    svc.users.create_user("wang.fang", "member", actor="root", password=PW)
    with pytest.raises(Unauthenticated) as exc:
        svc.users.login(username, password)
    assert "用户名或密码不正确" in exc.value.zh
    # One wrong guess is counted (docsvc.services.throttle), not an audit entry of its own; the
    # sign-in that ends the burst says how many came before it.
    assert actions(svc) == ["user.created"]
    svc.users.login("wang.fang", PW)
    entry = list(svc.catalog.audit_entries(actions=["login.succeeded"]))[0]
    if username.strip().lower()[:64] == "wang.fang":
        assert entry.details["failures_before"] == 1 and entry.details["reasons"] == {"wrong_password": 1}
    else:
        assert "failures_before" not in entry.details


def test_disabled_user_cannot_log_in_and_loses_sessions(svc):
    user, _ = svc.users.create_user("li.na", "member", actor="root", password=PW)
    _, fp = svc.users.login("li.na", PW)
    svc.users.update("li.na", actor="root", active=False)
    assert svc.users.principal_for_session(user.id, fp) is None
    with pytest.raises(Unauthenticated):
        svc.users.login("li.na", PW)
    svc.users.update("li.na", actor="root", active=True)
    assert svc.users.login("li.na", PW)[0].username == "li.na"
    assert list(svc.catalog.audit_entries(actions=["login.succeeded"]))[-1].details["reasons"] == {"inactive": 1}


def test_password_change_ends_other_sessions(svc):
    user, _ = svc.users.create_user("li.na", "member", actor="root", password=PW)
    _, fp = svc.users.login("li.na", PW)
    with pytest.raises(InvalidInput):
        svc.users.set_password("li.na", "another-password-1", actor="li.na", current_password="wrong")
    svc.users.set_password("li.na", "another-password-1", actor="li.na", current_password=PW)
    assert svc.users.principal_for_session(user.id, fp) is None
    assert svc.users.login("li.na", "another-password-1")[0].username == "li.na"


@pytest.mark.parametrize(
    "kwargs,field",
    [
        ({"username": "a b"}, "username"),
        ({"username": "张三"}, "username"),
        ({"username": ""}, "username"),
        ({"role": "superuser"}, "role"),
        ({"password": "short"}, "password"),
        ({"password": "x" * 201}, "password"),
        ({"display_name": "a\nb"}, "display_name"),
    ],
)
def test_create_rejects_bad_input(svc, kwargs, field):
    args = {"username": "ok", "role": "member", "password": PW, **kwargs}
    with pytest.raises(InvalidInput) as exc:
        svc.users.create_user(args.pop("username"), args.pop("role"), actor="root", **args)
    assert exc.value.field == field


def test_duplicate_username(svc):
    svc.users.create_user("li.na", "member", actor="root", password=PW)
    with pytest.raises(Conflict):
        svc.users.create_user("LI.NA", "auditor", actor="root", password=PW)


def test_last_admin_cannot_be_demoted_or_disabled(svc):
    svc.users.create_user("root", "admin", actor="x", password=PW)
    with pytest.raises(Conflict):
        svc.users.update("root", actor="root", role="member")
    with pytest.raises(Conflict):
        svc.users.update("root", actor="root", active=False)
    svc.users.create_user("root2", "admin", actor="root", password=PW)
    assert svc.users.update("root", actor="root2", role="auditor").role is Role.AUDITOR


def test_role_and_project_changes_are_audited(svc):
    svc.users.create_user("li.na", "member", actor="root", password=PW)
    svc.users.update("li.na", actor="root", role="manager", projects=["甲", "乙"])
    entries = list(svc.catalog.audit_entries())
    assert [e.action for e in entries[-2:]] == ["user.changed", "user.projects_changed"]
    assert entries[-2].details["changes"]["role"] == {"from": "member", "to": "manager"}
    assert entries[-1].details == {"username": "li.na", "from": [], "to": ["乙", "甲"]}
    svc.users.update("li.na", actor="root", role="manager")  # no change, no entry
    assert len(list(svc.catalog.audit_entries())) == len(entries)


def test_tokens(svc):
    svc.users.create_user("ci", "member", actor="root", password=PW)
    issued = svc.users.issue_token("ci", actor="root", name="构建服务器")
    assert issued.secret.startswith("dsv_") and len(issued.secret) > 40
    p = svc.users.principal_for_token(issued.secret)
    assert p.username == "ci" and p.via == "api-token:构建服务器"
    assert svc.users.tokens("ci")[0].last_used_at is not None
    # Only the hash is stored.
    with svc.catalog.engine.connect() as conn:
        assert issued.secret not in str(conn.exec_driver_sql("select * from api_tokens").all())
    svc.users.revoke_token("ci", issued.token.id, actor="root")
    with pytest.raises(Unauthenticated):
        svc.users.principal_for_token(issued.secret)
    with pytest.raises(NotFound):
        svc.users.revoke_token("ci", 999, actor="root")
    assert actions(svc)[-2:] == ["token.created", "token.revoked"]


def test_initial_admin_is_made_once(svc):
    password = svc.users.ensure_initial_admin()
    assert password and svc.users.login("admin", password)[0].role is Role.ADMIN
    assert svc.users.ensure_initial_admin() is None
    assert svc.users.count() == 1


def test_role_table():
    assert ROLE_PERMISSIONS[Role.ADMIN] == set(Permission)
    assert Permission.MANAGE_USERS not in ROLE_PERMISSIONS[Role.MANAGER]
    assert not ROLE_PERMISSIONS[Role.AUDITOR] & {Permission.WRITE, Permission.GENERATE, Permission.MANAGE_TEMPLATES}
    assert (
        Permission.GENERATE in ROLE_PERMISSIONS[Role.DRAFTER]
        and Permission.GENERATE not in ROLE_PERMISSIONS[Role.MEMBER]
    )


def test_read_rule(svc):
    site = add(svc, doc_class="site", project="港口运维二期").document
    orphan = add(svc, b"other", doc_class="site", project="").document
    user_doc = add(svc, b"user doc").document
    member = Principal("m", Role.MEMBER, frozenset({"港口运维二期"}))
    outsider = Principal("o", Role.MEMBER, frozenset({"别的项目"}))
    auditor = Principal("a", Role.AUDITOR)
    assert site.metadata.doc_class is DocClass.SITE
    assert can_read(member, site) and not can_read(outsider, site)
    assert can_read(outsider, user_doc) and not can_read(member, orphan)
    assert all(can_read(auditor, d) for d in (site, orphan, user_doc))


def test_guard_refuses_and_logs(svc):
    svc.users.create_user("audit", "auditor", actor="root", password=PW)
    doc = add(svc).document
    g = svc.guard(svc.users.principal_for_cli("audit"))
    with pytest.raises(Forbidden):
        g.set_metadata(doc.id, {"status": "effective"})
    entry = list(svc.catalog.audit_entries())[-1]
    assert entry.action == "access.denied" and entry.document_id == doc.id and entry.details["via"] == "cli"
    # A system account that is not a docsvc user is the operator (full rights).
    assert svc.users.principal_for_cli("root@host").role is Role.ADMIN


# -- CLI --------------------------------------------------------------------------------------
@pytest.fixture
def run(config, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    env = {
        "DOCSVC_ARCHIVE_DIR": config["ARCHIVE_DIR"],
        "DOCSVC_INDEX_DIR": config["INDEX_DIR"],
        "DOCSVC_DATABASE_URL": config["DATABASE_URL"],
        "DOCSVC_ACTOR": "ops",
        "DOCSVC_FSYNC": "0",
    }
    runner = CliRunner()

    def invoke(*args: str, ok: bool = True, input: str | None = None):
        result = runner.invoke(cli, list(args), env=env, input=input, catch_exceptions=False)
        if ok:
            assert result.exit_code == 0, result.output + result.stderr
        return result

    return invoke


def test_user_cli(run):
    out = run("user", "add", "wang.fang", "--role", "drafter", "--name", "王芳", "--project", "港口运维二期").output
    assert "已创建用户 wang.fang" in out and "初始密码" in out
    run("user", "add", "li.na", "--role", "auditor", "--password-stdin", input="a-long-password\n")
    listed = json.loads(run("user", "list", "--json").output)["items"]
    assert [(u["username"], u["role"], u["projects"]) for u in listed] == [
        ("li.na", "auditor", []),
        ("wang.fang", "drafter", ["港口运维二期"]),
    ]
    assert "manager" in run("user", "set-role", "wang.fang", "manager").output
    token = run("user", "token", "li.na", "--name", "审计脚本").stdout.strip().splitlines()[0]
    assert token.startswith("dsv_")
    bad = run("user", "add", "wang.fang", "--role", "member", ok=False)
    assert bad.exit_code == 2 and "已被使用" in bad.stderr
    bad = run("user", "set-role", "nobody", "member", ok=False)
    assert bad.exit_code == 2
    bad = run("user", "add", "x", "--role", "member", "--password-stdin", input="short\n", ok=False)
    assert bad.exit_code == 2 and "10" in bad.stderr
    log = [
        e
        for e in json.loads(run("audit", "log", "--format", "json").output)
        if e["action"].startswith(("user.", "token."))
    ]
    assert [e["action"] for e in log] == ["user.created", "user.created", "user.changed", "token.created"]
    assert {e["actor"] for e in log} == {"ops"}


def _user_rows(svc):
    import sqlalchemy as sa

    from docsvc.adapters.tables import users

    with svc.catalog.engine.connect() as conn:
        return conn.execute(sa.select(users.c.username, users.c.password_hash)).all()
