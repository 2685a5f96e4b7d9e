"""Sign-in throttling: a growing delay and a lockout per account and per client address, kept in
the catalog so that it holds across servers; audited once per burst; lifted by an administrator.
Time is a clock the tests move (``Docsvc.clock``), never a sleep."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from click.testing import CliRunner

from docsvc.cli import cli
from docsvc.core.model import utcnow
from docsvc.errors import InvalidInput
from docsvc.services.throttle import Scope, TooManyAttempts
from docsvc.services.users import Unauthenticated
from tests.webutil import PASSWORD, app, csrf_of, world  # noqa: F401 - fixtures

PW = "correct-horse-42"


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **kw) -> None:
        self.now += dt.timedelta(**kw)


@pytest.fixture
def clock(svc) -> Clock:
    svc.clock = c = Clock()
    return c


def wrong(svc, clock, name="li.na", n=1, address="", step=dt.timedelta(minutes=1)):
    """``n`` wrong passwords a minute apart (past the short delay); the last outcome."""
    last = None
    for _ in range(n):
        try:
            svc.users.login(name, "not-the-password", address=address)
        except (Unauthenticated, TooManyAttempts) as exc:
            last = exc
        clock.now += step
    return last


def actions(svc):
    return [e.action for e in svc.catalog.audit_entries()]


def test_five_failures_lock_the_account_and_the_right_password_is_refused_too(svc, clock):
    svc.users.create_user("li.na", "member", actor="root", password=PW)
    assert isinstance(wrong(svc, clock, n=4), Unauthenticated)
    fifth = wrong(svc, clock)
    assert isinstance(fifth, TooManyAttempts) and "已被暂时锁定" in fifth.zh and "locked" in fifth.en
    assert 0 < fifth.retry_after_s <= 15 * 60
    with pytest.raises(TooManyAttempts) as refused:
        svc.users.login("li.na", PW)
    assert refused.value.details["scope"] == "account"
    # One audit entry for the burst, none per guess.
    assert actions(svc) == ["user.created", "login.locked"]
    locked = list(svc.catalog.audit_entries(actions=["login.locked"]))[0]
    assert locked.actor == "li.na"
    assert locked.details["failures"] == 5 and locked.details["reasons"] == {"wrong_password": 5}
    assert svc.users.lock_of("li.na") is not None
    clock.advance(minutes=13)  # 14 since the lockout began (wrong() moved on a minute)
    with pytest.raises(TooManyAttempts):
        svc.users.login("li.na", PW)
    clock.advance(minutes=2)
    assert svc.users.login("li.na", PW)[0].username == "li.na"
    assert svc.users.lock_of("li.na") is None


def test_a_repeated_lockout_lasts_twice_as_long(svc, clock):
    svc.users.create_user("li.na", "member", actor="root", password=PW)
    wrong(svc, clock, n=5, step=dt.timedelta(seconds=30))
    first = svc.users.lock_of("li.na") - clock.now
    clock.advance(minutes=16)
    wrong(svc, clock, n=5, step=dt.timedelta(seconds=30))
    second = svc.users.lock_of("li.na") - clock.now
    assert dt.timedelta(minutes=14) < first <= dt.timedelta(minutes=15)
    assert dt.timedelta(minutes=29) < second <= dt.timedelta(minutes=30)
    assert [e.details["lockout"] for e in svc.catalog.audit_entries(actions=["login.locked"])] == [1, 2]


def test_the_delay_grows_from_the_third_failure(svc, clock):
    svc.users.create_user("li.na", "member", actor="root", password=PW)
    for _ in range(2):  # a typo and the caps-lock key cost nothing
        with pytest.raises(Unauthenticated):
            svc.users.login("li.na", "nope")
    with pytest.raises(Unauthenticated):
        svc.users.login("li.na", "nope")
    with pytest.raises(TooManyAttempts) as wait:
        svc.users.login("li.na", PW)
    assert wait.value.retry_after_s == 2 and "秒后重试" in wait.value.zh
    clock.advance(seconds=2)
    with pytest.raises(Unauthenticated):
        svc.users.login("li.na", "nope")
    with pytest.raises(TooManyAttempts) as wait:
        svc.users.login("li.na", PW)
    assert wait.value.retry_after_s == 4
    clock.advance(seconds=4)
    p, _ = svc.users.login("li.na", PW)
    entry = list(svc.catalog.audit_entries(actions=["login.succeeded"]))[-1]
    assert entry.details["failures_before"] == 4
    # The sign-in ended the burst: the next typo is free again.
    with pytest.raises(Unauthenticated):
        svc.users.login("li.na", "nope")
    assert svc.users.login("li.na", PW)[0] == p


def test_unknown_names_lock_alike(svc, clock):
    """Otherwise a lockout would tell which names exist."""
    last = wrong(svc, clock, name="no.such.person", n=5)
    assert isinstance(last, TooManyAttempts)
    assert list(svc.catalog.audit_entries(actions=["login.locked"]))[0].details["reasons"] == {"unknown_user": 5}


def test_an_address_is_locked_after_more_failures_across_names(svc, clock):
    svc.users.create_user("li.na", "member", actor="root", password=PW)
    for i in range(19):
        wrong(svc, clock, name=f"guess{i}", address="203.0.113.9", step=dt.timedelta(seconds=20))
    last = wrong(svc, clock, name="guess19", address="203.0.113.9")
    assert isinstance(last, TooManyAttempts) and last.details["scope"] == "address"
    with pytest.raises(TooManyAttempts) as refused:
        svc.users.login("li.na", PW, address="203.0.113.9")
    assert "网络地址" in refused.value.zh
    assert svc.users.login("li.na", PW, address="198.51.100.7")[0].username == "li.na"
    locked = [e.details for e in svc.catalog.audit_entries(actions=["login.locked"])]
    assert [(d["scope"], d["subject"], d["failures"]) for d in locked] == [("address", "203.0.113.9", 20)]
    assert svc.users.unlock(actor="root", address="203.0.113.9") is True
    assert svc.users.login("li.na", PW, address="203.0.113.9")[0].username == "li.na"


def test_a_successful_sign_in_does_not_clear_its_address(svc, clock):
    """An attacker holding one account cannot reset the address counter by using it."""
    svc.users.create_user("li.na", "member", actor="root", password=PW)
    for i in range(19):
        wrong(svc, clock, name=f"guess{i}", address="203.0.113.9", step=dt.timedelta(seconds=20))
    svc.users.login("li.na", PW, address="203.0.113.9")
    assert isinstance(wrong(svc, clock, name="guess19", address="203.0.113.9"), TooManyAttempts)


def test_attempts_still_being_checked_count(svc, clock):
    """An attempt is counted before its password is checked: simultaneous guesses on several
    servers cannot all get past the limit."""
    svc.users.create_user("li.na", "member", actor="root", password=PW)
    for _ in range(5):
        svc.users._count_attempt([(Scope.ACCOUNT, "li.na")])
    with pytest.raises(TooManyAttempts):
        svc.users.login("li.na", PW)


def test_wrong_current_passwords_count_against_the_account(svc, clock):
    """A session left open is no way round the lockout: the password form counts too."""
    svc.users.create_user("li.na", "member", actor="root", password=PW)
    for _ in range(4):
        with pytest.raises(InvalidInput):
            svc.users.set_password("li.na", "another-password-1", actor="li.na", current_password="guess")
        clock.advance(minutes=1)
    with pytest.raises(TooManyAttempts):
        svc.users.set_password("li.na", "another-password-1", actor="li.na", current_password="guess")
    with pytest.raises(TooManyAttempts):
        svc.users.set_password("li.na", "another-password-1", actor="li.na", current_password=PW)
    with pytest.raises(TooManyAttempts):
        svc.users.login("li.na", PW)
    locked = list(svc.catalog.audit_entries(actions=["login.locked"]))
    assert len(locked) == 1 and locked[0].details["reasons"] == {"wrong_current_password": 5}
    # An administrator's reset needs no current password and is not throttled.
    svc.users.set_password("li.na", "reset-by-admin-1", actor="root")
    clock.advance(minutes=16)
    with pytest.raises(InvalidInput):
        svc.users.set_password("li.na", "another-password-1", actor="li.na", current_password="guess")
    svc.users.set_password("li.na", "another-password-1", actor="li.na", current_password="reset-by-admin-1")
    assert svc.users.login("li.na", "another-password-1")[0].username == "li.na"


def test_unlock_from_the_command_line_is_audited(svc, clock, config, tmp_path, monkeypatch):
    svc.users.create_user("li.na", "member", actor="root", password=PW)
    wrong(svc, clock, n=5)
    monkeypatch.chdir(tmp_path)
    env = {
        "DOCSVC_ARCHIVE_DIR": config["ARCHIVE_DIR"],
        "DOCSVC_INDEX_DIR": config["INDEX_DIR"],
        "DOCSVC_DATABASE_URL": config["DATABASE_URL"],
        "DOCSVC_ACTOR": "ops",
        "DOCSVC_FSYNC": "0",
    }
    runner = CliRunner()
    result = runner.invoke(cli, ["user", "unlock", "li.na"], env=env, catch_exceptions=False)
    assert result.exit_code == 0 and "已解除 li.na 的登录锁定" in result.output
    assert svc.users.login("li.na", PW)[0].username == "li.na"
    unlocked = list(svc.catalog.audit_entries(actions=["login.unlocked"]))
    assert len(unlocked) == 1 and unlocked[0].actor == "ops"
    assert unlocked[0].details["locked_until"] and unlocked[0].details["lockouts"] == 1
    again = runner.invoke(cli, ["user", "unlock", "li.na"], env=env, catch_exceptions=False)
    assert again.exit_code == 0 and "没有被锁定" in again.output
    assert runner.invoke(cli, ["user", "unlock", "nobody"], env=env).exit_code == 2
    assert runner.invoke(cli, ["user", "unlock"], env=env).exit_code == 2
    log = json.loads(runner.invoke(cli, ["audit", "log", "--format", "json"], env=env).output)
    assert [e["action"] for e in log].count("login.unlocked") == 1


# -- web ----------------------------------------------------------------------------------------
def _post_login(client, name, password):
    return client.post(
        "/login", data={"username": name, "password": password, "csrf_token": csrf_of(client.get("/login"))}
    )


def test_the_login_page_says_when_to_retry(world):
    world.svc.clock = clock = Clock()
    c = world.app.test_client()
    for _ in range(4):
        assert _post_login(c, "alice", "nope").status_code == 401
        clock.advance(minutes=1)
    locked = _post_login(c, "alice", "nope")
    assert locked.status_code == 429 and 0 < int(locked.headers["Retry-After"]) <= 900
    assert "已被暂时锁定" in locked.data.decode()
    right = _post_login(c, "alice", PASSWORD)
    assert right.status_code == 429 and c.get("/").status_code == 302  # not signed in
    english = world.app.test_client()
    english.set_cookie("docsvc_lang", "en")
    assert "Too many failed sign-ins" in _post_login(english, "alice", PASSWORD).data.decode()
    assert world.audit_actions("alice").count("login.locked") == 1
    assert "login.succeeded" not in world.audit_actions("alice")


def test_an_administrator_unlocks_from_the_user_page(world):
    world.svc.clock = clock = Clock()
    c = world.app.test_client()
    for _ in range(5):
        _post_login(c, "alice", "nope")
        clock.advance(minutes=1)
    admin = world.login("root")
    page = admin.get("/admin/users/alice").data.decode()
    assert 'id="unlock-user"' in page
    resp = admin.post("/admin/users/alice", data={"action": "unlock", "csrf_token": csrf_of(admin.get("/"))})
    assert resp.status_code == 302
    assert 'id="unlock-user"' not in admin.get("/admin/users/alice").data.decode()
    assert _post_login(c, "alice", PASSWORD).status_code == 302
    assert world.audit_actions("root").count("login.unlocked") == 1
    # Only administrators may.
    mgr = world.login("mgr")
    assert (
        mgr.post("/admin/users/bob", data={"action": "unlock", "csrf_token": csrf_of(mgr.get("/"))}).status_code == 403
    )


def test_the_account_page_shows_the_lockout(world):
    world.svc.clock = clock = Clock()
    c = world.login("alice")
    for _ in range(5):
        resp = c.post(
            "/account",
            data={
                "action": "password",
                "current_password": "guess",
                "new_password": "another-password-1",
                "confirm_password": "another-password-1",
                "csrf_token": csrf_of(c.get("/account")),
            },
        )
        clock.advance(minutes=1)
    assert resp.status_code == 429 and int(resp.headers["Retry-After"]) > 0
    assert "已被暂时锁定" in resp.data.decode()


def test_failures_on_one_server_lock_the_account_on_another(world, config, tmp_path):
    from tests.test_sessions import _second_server

    other = _second_server(config, tmp_path)
    try:
        clock = Clock()
        world.svc.clock = other.extensions["docsvc"].clock = clock
        a, b = world.app.test_client(), other.test_client()
        for client in (a, b, a, b):
            assert _post_login(client, "alice", "nope").status_code == 401
            clock.advance(minutes=1)
        assert _post_login(a, "alice", "nope").status_code == 429
        refused = _post_login(b, "alice", PASSWORD)
        assert refused.status_code == 429 and "已被暂时锁定" in refused.data.decode()
        assert world.audit_actions("alice").count("login.locked") == 1
        # Unlocked on the second server, the first lets alice in.
        other.extensions["docsvc"].users.unlock(actor="root", username="alice")
        assert _post_login(a, "alice", PASSWORD).status_code == 302
    finally:
        other.extensions["docsvc"].close()


@pytest.mark.parametrize("proxies", [0, 1])
def test_behind_a_trusted_proxy_the_address_limit_is_per_client(config, proxies):
    """DOCSVC_PROXIES=1: the client's address comes from the load balancer's X-Forwarded-For, so
    one client's guesses lock that client, not everyone behind the balancer; with 0 the header is
    not believed (a client facing docsvc directly could claim any address)."""
    from docsvc.web.factory import create_app

    app = create_app({**config, "TESTING": True, "FSYNC": False, "PROXIES": proxies})
    svc = app.extensions["docsvc"]
    try:
        svc.clock = clock = Clock()
        svc.users.create_user("zhou.li", "member", actor="root", password=PW)
        guesser, other = app.test_client(), app.test_client()
        guesser.environ_base["HTTP_X_FORWARDED_FOR"] = "203.0.113.9"
        other.environ_base["HTTP_X_FORWARDED_FOR"] = "198.51.100.7"
        for i in range(20):  # a different unknown name each time: only the address limit is reached
            assert _post_login(guesser, f"guess{i}", "nope").status_code in (401, 429)
            clock.advance(minutes=0.5)
        assert _post_login(guesser, "zhou.li", PW).status_code == 429
        assert _post_login(other, "zhou.li", PW).status_code == (302 if proxies else 429)
    finally:
        svc.close()
