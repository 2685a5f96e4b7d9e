"""Sessions hold across servers: every server of one installation signs with the same key, kept
in the shared catalog unless the operator sets DOCSVC_SECRET_KEY."""

from __future__ import annotations

from docsvc.app import create_app
from tests.webutil import PASSWORD, app, csrf_of  # noqa: F401 - app is a fixture


def _second_server(config, tmp_path, **extra):
    """Another server on the same catalog, with its own local folders."""
    return create_app({**config, "ARCHIVE_DIR": str(tmp_path / "b-archive"), "INDEX_DIR": str(tmp_path / "b-index"),
                       "TESTING": True, "FSYNC": False, **extra})


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
            resp = c.post("/login", data={"username": "wang", "password": PASSWORD,
                                          "csrf_token": csrf_of(c.get("/login"))})
            assert resp.status_code == 302
            cookie = [h for h in resp.headers.getlist("Set-Cookie") if h.startswith("docsvc_session=")][0]
            assert ("; Secure" in cookie) is secure, cookie
            assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
            lang = c.post("/lang", data={"lang": "en", "csrf_token": csrf_of(c.get("/"))})
            assert ("; Secure" in lang.headers["Set-Cookie"]) is secure
        finally:
            served.extensions["docsvc"].close()
