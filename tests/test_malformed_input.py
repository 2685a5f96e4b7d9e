"""Malformed input is a 4xx with a bilingual message, never a 5xx, on SQLite and PostgreSQL: ids
and version numbers past what an INTEGER column holds, NUL and other control characters, a
multipart part without a name, CR/LF in ``next=``; nothing is stored for a refused request; and
the CLI never passes a control character from the catalog to a terminal."""

from __future__ import annotations

import io
import re
import uuid

import pytest
from click.testing import CliRunner

from docsvc.cli import cli
from docsvc.core.inputs import MAX_ID, escape_controls, no_controls_pattern, parse_int, strip_controls
from docsvc.errors import InvalidInput
from tests.webutil import USER_DOC, app, csrf_of, err, world  # noqa: F401

TOO_BIG = (MAX_ID + 1, 2**63, 2**64)
TEXT = "合同正文：乙方提供7×24小时运维服务。".encode()


def _doc(w) -> int:
    r = w.api("mgr").post("/api/v1/documents", data={"file": (io.BytesIO(TEXT), "合同.txt"), **USER_DOC})
    assert r.status_code == 201, r.data
    return r.json["document"]["id"]


def _files(w) -> set[str]:
    root = w.svc.settings["ARCHIVE_DIR"]
    return {str(p) for p in root.rglob("*") if p.is_file()}


def test_ids_past_integer_are_no_such_url_in_the_api_and_the_pages(world):
    doc = _doc(world)
    api, ui = world.api("mgr"), world.login("mgr")
    for n in TOO_BIG:
        for path in (
            f"/api/v1/documents/{n}",
            f"/api/v1/documents/{n}/history",
            f"/api/v1/jobs/{n}",
            f"/api/v1/documents/{doc}/versions/{n}/content",
            f"/api/v1/documents/{n}/content",
            f"/api/v1/documents/{doc}/versions/{n}/renditions/pdf",
        ):
            err(api.get(path), 404)
        err(api.post(f"/api/v1/documents/{doc}/versions/{n}/renditions/pdf"), 404)
        err(api.patch(f"/api/v1/documents/{n}", json={"metadata": {"status": "effective"}}), 404)
        for path in (f"/documents/{n}", f"/documents/{doc}/versions/{n}/download", f"/documents/{n}/edit"):
            assert ui.get(path).status_code == 404, path
    err(api.get("/api/v1/documents/0"), 404)


def test_integer_parameters_are_range_checked(world):
    doc = _doc(world)
    api, ui = world.api("mgr"), world.login("mgr")
    for n in TOO_BIG:
        for path in (
            f"/api/v1/audit?document_id={n}",
            f"/api/v1/audit?offset={n}",
            f"/api/v1/documents?offset={n}",
            f"/api/v1/documents/{doc}/compare?a={n}",
            f"/api/v1/search?page={n}",
            f"/api/v1/documents/{doc}/similar?limit={n}",
            f"/api/v1/search?filter=document_id:{n}",
        ):
            e = err(api.get(path), 400)
            assert "整数" in e["message"] and "integer" in e["message_en"], path
        for body in ({"document_id": n}, {"document_id": float(n)}):
            err(api.post("/api/v1/audit/export", json=body), 400, field="document_id")
        err(api.post("/api/v1/templates/contract/generate", json={"data": {}, "document_id": n}), 400)
        for path in (
            f"/audit?document_id={n}",
            f"/audit?offset={n}",
            f"/documents?offset={n}",
            f"/documents/{doc}/compare?a={n}",
        ):
            assert ui.get(path).status_code == 400, path
    # Not numbers at all, or given twice: the same answer. JSON's Infinity is not an integer.
    for path in (
        "/api/v1/audit?limit=",
        "/api/v1/audit?limit=x",
        "/api/v1/audit?limit=1&limit=2",
        f"/api/v1/documents/{doc}/similar?limit=1.5",
    ):
        err(api.get(path), 400)
    r = api.post("/api/v1/audit/export", data='{"document_id": Infinity}', content_type="application/json")
    err(r, 400, field="document_id")
    page = ui.get("/account")
    assert (
        ui.post("/account", data={"action": "revoke", "token_id": str(2**64), "csrf_token": csrf_of(page)}).status_code
        == 400
    )


def test_control_characters_in_filters_are_refused_and_stripped_from_queries(world):
    _doc(world)
    api, ui = world.api("mgr"), world.login("mgr")
    for path in (
        "/api/v1/documents?title=%E5%90%88%00",
        "/api/v1/documents?project=a%00b",
        "/api/v1/documents?tag=%1b%5B2J",
        "/api/v1/audit?actor=a%00b",
        "/api/v1/search?filter=project:a%00b",
    ):
        e = err(api.get(path), 400)
        assert "控制字符" in e["message"] and "control character" in e["message_en"], path
    for path in ("/documents?title=a%00b", "/audit?actor=a%00b"):
        assert ui.get(path).status_code == 400, path
    # In a search query they mean nothing: stripped, and the rest is searched.
    r = api.get("/api/v1/search?q=%E5%90%88%00%E5%90%8C")
    assert r.status_code == 200, r.data
    # An empty filter box is no filter.
    assert api.get("/api/v1/search?q=&filter=").status_code == 200


def test_a_nul_in_a_change_reason_is_refused_before_anything_is_stored(world):
    doc = _doc(world)
    api = world.api("mgr")
    files, entries = _files(world), len(world.audit_actions())
    r = api.post(
        f"/api/v1/documents/{doc}/versions",
        data={"file": (io.BytesIO("第二版".encode()), "v2.txt"), "reason": "修订\x00原因"},
    )
    err(r, 400, field="reason")
    r = api.post(
        "/api/v1/documents", data={"file": (io.BytesIO("另一份".encode()), "b.txt"), **USER_DOC, "reason": "\x1b[2J"}
    )
    err(r, 400, field="reason")
    err(api.patch(f"/api/v1/documents/{doc}", json={"metadata": {"status": "effective"}, "reason": "a\x00"}), 400)
    err(api.delete(f"/api/v1/documents/{doc}?reason=%00"), 400)
    # Nothing written: no blob (no orphan to collect later), no version, no audit entry.
    assert _files(world) == files
    assert len(world.audit_actions()) == entries
    assert [v["number"] for v in api.get(f"/api/v1/documents/{doc}").json["versions"]] == [1]
    # A multi-line reason, as the form's box sends it (CR LF), is fine.
    r = api.post(
        f"/api/v1/documents/{doc}/versions",
        data={"file": (io.BytesIO("第二版".encode()), "v2.txt"), "reason": "第一行\r\n第二行\t备注"},
    )
    assert r.status_code == 201 and r.json["version"]["reason"] == "第一行\n第二行\t备注"


def test_no_nul_reaches_the_database(world):
    api = world.api("root")
    err(api.get("/api/v1/templates/a%00b"), 400)
    err(api.patch("/api/v1/users/a%00b", json={"active": True}), 400)
    assert world.login("root").get("/admin/users/a%00b").status_code == 400
    anon = world.app.test_client()
    page = anon.get("/login")
    r = anon.post("/login", data={"username": "ro\x00ot", "password": "correct-horse-42", "csrf_token": csrf_of(page)})
    assert r.status_code == 401  # a name no account has, like any other
    with pytest.raises(InvalidInput):  # the net under every face, on SQLite as on PostgreSQL
        world.svc.users.get("a\x00b")


def test_a_multipart_part_without_a_name_is_refused(world):
    b = uuid.uuid4().hex
    body = (
        f"--{b}\r\nContent-Disposition: form-data\r\n\r\nvalue\r\n"
        f'--{b}\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\nhello\r\n--{b}--\r\n'
    )
    files = _files(world)
    e = err(
        world.api("mgr").post(
            "/api/v1/documents", data=body.encode(), content_type=f"multipart/form-data; boundary={b}"
        ),
        400,
    )
    assert "name" in e["message"] and "name" in e["message_en"]
    assert _files(world) == files
    ui = world.login("mgr")
    r = ui.post("/upload", data=body.encode(), content_type=f"multipart/form-data; boundary={b}")
    assert r.status_code == 400


def test_crlf_in_next_is_ignored(world):
    ui = world.login("mgr")
    for target in ("/documents%0d%0aSet-Cookie:%20x=1", "/a%0ab", "/a%00b"):
        r = ui.get(f"/login?next={target}")
        assert r.status_code == 302 and r.headers["Location"].endswith("/"), r.headers
    anon = world.app.test_client()
    page = anon.get("/login")
    r = anon.post(
        "/login?next=/documents%0d%0aX:%20y",
        data={"username": "mgr", "password": "correct-horse-42", "csrf_token": csrf_of(page)},
    )
    assert r.status_code == 302 and "\n" not in r.headers["Location"] and r.headers["Location"].endswith("/")


def test_a_method_not_allowed_names_the_allowed_ones(world):
    r = world.api("mgr").open("/api/v1/users", method="TRACE")
    err(r, 405)
    assert set(r.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "POST"}


def test_every_int_url_part_is_bounded(app):
    """Routes added later get the bound too: every <int:…> in the app is a CatalogKey."""
    from werkzeug.routing import IntegerConverter

    from docsvc.web.inputs import CatalogKey

    ints = [
        (rule.rule, conv)
        for rule in app.url_map.iter_rules()
        for conv in rule._converters.values()
        if isinstance(conv, IntegerConverter)
    ]
    assert len(ints) > 10
    for rule, conv in ints:
        assert isinstance(conv, CatalogKey) and (conv.min, conv.max) == (1, MAX_ID), rule


def test_the_core_checks():
    assert parse_int("12", "n") == 12 and parse_int(None, "n", default=3) == 3
    for bad in ("", "x", "1.5", "٣", str(MAX_ID + 1), "0"):
        with pytest.raises(InvalidInput):
            parse_int(bad, "n")
    for bad in (True, "3", float("inf"), float("nan"), 1.5):
        with pytest.raises(InvalidInput):
            parse_int(bad, "n", from_text=False)
    assert parse_int(3.0, "n", from_text=False) == 3
    assert escape_controls("a\x1b[31mb\nc\u202ed\x9b") == "a\\x1b[31mb\\nc\\u202ed\\x9b"
    assert strip_controls("a\x00b\nc\td\r") == "ab\nc\td"
    # The OpenAPI document states exactly the characters the server refuses.
    pattern = re.compile(no_controls_pattern("\t"))
    assert pattern.fullmatch("合同 a\tb") and not any(
        pattern.fullmatch(f"a{chr(c)}") for c in [*range(0, 9), *range(10, 32), *range(0x7F, 0xA0)]
    )


def test_the_cli_prints_control_characters_escaped(config, tmp_path, monkeypatch):
    """Entries written before these checks, or by anyone who reached the catalog, may hold
    escape sequences; `doc history`, `doc show` and `audit log` print them escaped, on one line."""
    from docsvc.app import open_docsvc

    svc = open_docsvc(config)
    doc = svc.archive.add_document(TEXT, "合同.txt", USER_DOC, actor="张伟").document.id
    with svc.catalog.transaction() as tx:
        tx.append_audit(
            "eve\x1b]0;owned\x07",
            "metadata.changed",
            document_id=doc,
            details={"changes": {"status": {"from": "draft", "to": "effective\x1b[2J"}}},
        )
        tx.append_audit(
            "eve",
            "deletion.requested",
            document_id=doc,
            details={"reason": "ok\n#999 2026-01-01 00:00:00  admin  伪造的记录\x9b31m"},
        )
    svc.close()
    monkeypatch.chdir(tmp_path)
    env = {
        "DOCSVC_ARCHIVE_DIR": config["ARCHIVE_DIR"],
        "DOCSVC_INDEX_DIR": config["INDEX_DIR"],
        "DOCSVC_DATABASE_URL": config["DATABASE_URL"],
        "DOCSVC_TEMPLATES_DIR": config["TEMPLATES_DIR"],
    }
    runner = CliRunner()
    for args in (
        ["doc", "history", str(doc)],
        ["audit", "log"],
        ["audit", "log", "--format", "json"],
        ["doc", "history", str(doc), "--json"],
    ):
        out = runner.invoke(cli, args, env=env, catch_exceptions=False).output
        assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f]", out), (args, out)
        assert "伪造的记录" in out or "\\u4f2a" in out
        if "--json" not in args and "json" not in args:
            assert "\\x1b" in out and "\\n#999" in out  # shown, and on the entry's own line
            assert not any(line.startswith("#999") for line in out.splitlines())
    # An id past INTEGER is a bilingual usage error, not a traceback.
    r = runner.invoke(cli, ["doc", "show", str(2**64)], env=env)
    assert r.exit_code == 2 and "整数" in r.output and "integer" in r.output
