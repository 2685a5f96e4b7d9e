"""Sessions hold across servers: every server of one installation signs with the same key, kept
in the shared catalog unless the operator sets DOCSVC_SECRET_KEY; and they end everywhere at once
(sign-out, account changes, lockouts, idle and absolute limits)."""

from __future__ import annotations

import datetime as dt

import pytest

from docsvc.core.model import utcnow
from docsvc.web.factory import create_app
from tests.webutil import PASSWORD, app, csrf_of, world  # noqa: F401 - app and world are fixtures


def _second_server(config, tmp_path, **extra):
    """Another server on the same catalog, with its own local folders."""
    return create_app(
        {
            **config,
            "ARCHIVE_DIR": str(tmp_path / "b-archive"),
            "INDEX_DIR": str(tmp_path / "b-index"),
            "TESTING": True,
            "FSYNC": False,
            **extra,
        }
    )


def test_a_session_made_on_one_server_is_honoured_by_another(app, config, tmp_path):
    svc = app.extensions["docsvc"]
    svc.users.create_user("wang", "drafter", actor="setup", password=PASSWORD)
    other = _second_server(config, tmp_path)
    try:
        assert other.config["SECRET_KEY"] == app.config["SECRET_KEY"]
        a = app.test_client()
        resp = a.post("/login", data={"username": "wang", "password": PASSWORD, "csrf_token": csrf_of(a.get("/login"))})
        assert resp.status_code == 302
        cookie = a.get_cookie("docsvc_session")
        b = other.test_client()
        b.set_cookie("docsvc_session", cookie.value)
        page = b.get("/")
        assert page.status_code == 200 and "wang" in page.data.decode()
    finally:
        other.extensions["docsvc"].close()


def test_the_setting_wins_over_the_stored_key(app, config, tmp_path):
    other = _second_server(config, tmp_path, SECRET_KEY="operator-chosen-key-0123456789")
    try:
        assert other.config["SECRET_KEY"] == "operator-chosen-key-0123456789"
        assert app.config["SECRET_KEY"] != other.config["SECRET_KEY"]
    finally:
        other.extensions["docsvc"].close()


def test_a_key_file_of_an_older_installation_is_kept(config, tmp_path):
    """Sessions signed before the key moved into the catalog stay valid after the upgrade."""
    archive = tmp_path / "archive"
    archive.mkdir()
    (archive / "secret_key").write_text("f" * 64 + "\n")
    upgraded = create_app({**config, "TESTING": True, "FSYNC": False})
    try:
        assert upgraded.config["SECRET_KEY"] == "f" * 64
    finally:
        upgraded.extensions["docsvc"].close()


def test_cookie_secure_setting_marks_the_session_cookie_secure(config, monkeypatch):
    """DOCSVC_COOKIE_SECURE (environment or config file) reaches the cookie; off by default."""
    for secure in (False, True):
        if secure:
            monkeypatch.setenv("DOCSVC_COOKIE_SECURE", "1")
        served = create_app({**config, "TESTING": True, "FSYNC": False})
        try:
            svc = served.extensions["docsvc"]
            if not svc.users.count():
                svc.users.create_user("wang", "drafter", actor="setup", password=PASSWORD)
            c = served.test_client()
            resp = c.post(
                "/login", data={"username": "wang", "password": PASSWORD, "csrf_token": csrf_of(c.get("/login"))}
            )
            assert resp.status_code == 302
            cookie = [h for h in resp.headers.getlist("Set-Cookie") if h.startswith("docsvc_session=")][0]
            assert ("; Secure" in cookie) is secure, cookie
            assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
            lang = c.post("/lang", data={"lang": "en", "csrf_token": csrf_of(c.get("/"))})
            assert ("; Secure" in lang.headers["Set-Cookie"]) is secure
        finally:
            served.extensions["docsvc"].close()


# -- sessions that end ------------------------------------------------------------------------
# Sessions live in the catalog (migration 0012): the cookie is only a key to one, so ending it
# ends every copy of the cookie on every server. Time is a clock the tests move, never a sleep.


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **kw) -> None:
        self.now += dt.timedelta(**kw)


@pytest.fixture
def two(app, config, tmp_path):
    """Two servers on one catalog, one clock for both; 王芳 (wang) signed in on the first, her
    cookie copied to a client of the second."""
    svc = app.extensions["docsvc"]
    svc.users.create_user("wang", "drafter", actor="setup", password=PASSWORD, display_name="王芳")
    svc.users.create_user("root", "admin", actor="setup", password=PASSWORD, display_name="管理员")
    other = _second_server(config, tmp_path)
    clock = Clock()
    svc.clock = other.extensions["docsvc"].clock = clock
    a = app.test_client()
    assert (
        a.post(
            "/login", data={"username": "wang", "password": PASSWORD, "csrf_token": csrf_of(a.get("/login"))}
        ).status_code
        == 302
    )
    b = other.test_client()
    b.set_cookie("docsvc_session", a.get_cookie("docsvc_session").value)
    assert _signed_in(a) and _signed_in(b)
    yield svc, a, b, clock
    other.extensions["docsvc"].close()


def _signed_in(client) -> bool:
    resp = client.get("/")
    return resp.status_code == 200 and "王芳" in resp.data.decode()


def test_signing_out_ends_every_copy_of_the_session(two):
    svc, a, b, _ = two
    assert a.post("/logout", data={"csrf_token": csrf_of(a.get("/"))}).status_code == 302
    assert not _signed_in(b)  # the copied cookie, on the other server
    resp = b.get("/")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]
    assert svc.users.open_sessions("wang") == 0


@pytest.mark.parametrize("change", ["password", "role", "disable"])
def test_an_account_change_ends_every_session_of_the_account(two, change):
    svc, a, b, _ = two
    other_session = svc.users.login("wang", PASSWORD)[1]  # e.g. another browser
    if change == "password":
        svc.users.set_password("wang", "新的密码-long-1", actor="root")
    elif change == "role":
        svc.users.update("wang", actor="root", role="member")
    else:
        svc.users.update("wang", actor="root", active=False)
    assert not _signed_in(a) and not _signed_in(b)
    assert svc.users.principal_for_session(svc.users.get("wang").id, other_session) is None
    entry = list(svc.catalog.audit_entries())[-1]
    assert entry.details["sessions_ended"] == 2 and entry.details["username"] == "wang"


def test_changing_ones_own_password_ends_this_session_too(two):
    _svc, a, b, _ = two
    resp = a.post(
        "/account",
        data={
            "action": "password",
            "current_password": PASSWORD,
            "new_password": "新的密码-long-1",
            "confirm_password": "新的密码-long-1",
            "csrf_token": csrf_of(a.get("/account")),
        },
    )
    assert resp.status_code == 302
    assert not _signed_in(b)


def test_a_lockout_ends_the_accounts_sessions(two):
    svc, a, b, clock = two
    for _ in range(5):
        clock.advance(minutes=1)
        try:
            svc.users.login("wang", "不对的密码-wrong", address="203.0.113.9")
        except Exception:  # noqa: BLE001 - Unauthenticated, then TooManyAttempts
            pass
    assert svc.users.lock_of("wang") is not None
    assert not _signed_in(a) and not _signed_in(b)
    locked = list(svc.catalog.audit_entries(actions=["login.locked"]))
    assert locked and locked[0].details["sessions_ended"] == 1


def test_a_session_idles_out_and_expires(two):
    svc, a, b, clock = two
    clock.advance(minutes=59)  # DOCSVC_SESSION_IDLE_MINUTES is 60 by default
    assert _signed_in(b)  # a request on either server keeps it alive …
    clock.advance(minutes=59)
    assert _signed_in(a)
    clock.advance(minutes=61)  # … until none comes for longer than the idle limit
    assert not _signed_in(b) and not _signed_in(a)

    fresh = svc.users.login("wang", PASSWORD)[1]
    uid = svc.users.get("wang").id
    for _ in range(8 * 2 + 1):  # active every 30 minutes: still ended past DOCSVC_SESSION_MAX_HOURS
        clock.advance(minutes=30)
        alive = svc.users.principal_for_session(uid, fresh) is not None
    assert not alive
    assert svc.users.open_sessions("wang") == 0


def test_session_limits_come_from_the_settings(config, tmp_path):
    served = create_app({**config, "TESTING": True, "FSYNC": False, "SESSION_IDLE_MINUTES": 5, "SESSION_MAX_HOURS": 1})
    try:
        svc = served.extensions["docsvc"]
        svc.clock = clock = Clock()
        svc.users.create_user("wang", "drafter", actor="setup", password=PASSWORD, display_name="王芳")
        secret = svc.users.login("wang", PASSWORD)[1]
        uid = svc.users.get("wang").id
        clock.advance(minutes=4)
        assert svc.users.principal_for_session(uid, secret) is not None
        clock.advance(minutes=6)
        assert svc.users.principal_for_session(uid, secret) is None
        assert served.permanent_session_lifetime == dt.timedelta(hours=1)
    finally:
        served.extensions["docsvc"].close()


def test_a_forged_or_old_style_cookie_is_no_session(app):
    svc = app.extensions["docsvc"]
    svc.users.create_user("wang", "drafter", actor="setup", password=PASSWORD, display_name="王芳")
    uid = svc.users.get("wang").id
    assert svc.users.principal_for_session(uid, "not-a-session") is None
    c = app.test_client()
    with c.session_transaction() as s:  # signed with the right key, as before migration 0012
        s["uid"], s["auth"] = uid, "0" * 32
    assert not _signed_in(c)
    other = svc.users.login("wang", PASSWORD)[1]
    assert svc.users.principal_for_session(uid + 1, other) is None  # a session is its own user's only


def test_api_tokens_of_a_revoked_token_or_disabled_account_stop_working(world):
    svc = world.svc
    alice = world.api("alice")
    assert alice.get("/api/v1/me").status_code == 200
    svc.users.update("alice", actor="root", active=False)
    assert alice.get("/api/v1/me").status_code == 401
    svc.users.update("alice", actor="root", active=True)
    assert alice.get("/api/v1/me").status_code == 200
    token_id = svc.users.tokens("alice")[0].id
    svc.users.revoke_token("alice", token_id, actor="root")
    assert alice.get("/api/v1/me").status_code == 401


def test_https_through_a_trusted_proxy_makes_the_cookie_secure(config):
    """With DOCSVC_PROXIES=1, a request the proxy says came over HTTPS gets a Secure cookie even
    without DOCSVC_COOKIE_SECURE; without a trusted proxy the header is not believed."""
    for proxies, secure in ((1, True), (0, False)):
        served = create_app({**config, "TESTING": True, "FSYNC": False, "PROXIES": proxies})
        try:
            svc = served.extensions["docsvc"]
            if not svc.users.count():
                svc.users.create_user("wang", "drafter", actor="setup", password=PASSWORD)
            c = served.test_client()
            # (Flask-WTF checks the Referer of a form posted over HTTPS.)
            headers = {
                "X-Forwarded-Proto": "https",
                "X-Forwarded-For": "198.51.100.7",
                "Referer": "https://localhost/login",
            }
            page = c.get("/login", headers=headers)
            resp = c.post(
                "/login", headers=headers, data={"username": "wang", "password": PASSWORD, "csrf_token": csrf_of(page)}
            )
            assert resp.status_code == 302
            cookie = [h for h in resp.headers.getlist("Set-Cookie") if h.startswith("docsvc_session=")][0]
            assert ("; Secure" in cookie) is secure, cookie
        finally:
            served.extensions["docsvc"].close()


def test_sessions_over_a_day_old_are_forgotten(two):
    svc, a, _b, clock = two
    kept = svc.users.login("wang", PASSWORD)[1]
    assert a.post("/logout", data={"csrf_token": csrf_of(a.get("/"))}).status_code == 302
    clock.advance(hours=25)
    assert svc.users.forget_sessions(older_than=dt.timedelta(days=1)) == 2  # the ended one and the idle one
    assert svc.users.principal_for_session(svc.users.get("wang").id, kept) is None


def test_ending_all_sessions_from_the_account_page_the_admin_page_and_the_cli(two, config):
    from click.testing import CliRunner

    from docsvc.cli import cli

    svc, a, b, _ = two
    # 王芳 herself, on the second server: every copy ends, this one too.
    resp = b.post("/account", data={"action": "end_sessions", "csrf_token": csrf_of(b.get("/account"))})
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]
    assert not _signed_in(a) and not _signed_in(b)
    # An administrator, on the user's page.
    svc.users.login("wang", PASSWORD)
    svc.users.login("wang", PASSWORD)
    root = a.application.test_client()
    root.post("/login", data={"username": "root", "password": PASSWORD, "csrf_token": csrf_of(root.get("/login"))})
    page = root.get("/admin/users/wang").data.decode()
    assert "当前打开的会话：2 个" in page
    resp = root.post("/admin/users/wang", data={"action": "end_sessions", "csrf_token": csrf_of(root.get("/"))})
    assert resp.status_code == 302 and svc.users.open_sessions("wang") == 0
    # The command line.
    svc.users.login("wang", PASSWORD)
    out = CliRunner().invoke(
        cli, ["--as", "管理员", "user", "signout", "wang"], env={f"DOCSVC_{k}": str(v) for k, v in config.items()}
    )
    assert out.exit_code == 0 and "1 session(s) ended" in out.output
    ended = [e for e in svc.catalog.audit_entries(actions=["sessions.ended"])]
    assert [(e.actor, e.details["sessions_ended"]) for e in ended] == [("wang", 1), ("root", 2), ("管理员", 1)]


def test_only_administrators_end_someone_elses_sessions(world):
    from docsvc.errors import Forbidden

    with pytest.raises(Forbidden):
        world.guard("alice").end_sessions("bob")
    assert world.guard("alice").end_sessions("alice") == 0
