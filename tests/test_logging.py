"""Logging as an operator gets it: configured once from DOCSVC_LOG_LEVEL / DOCSVC_LOG_FORMAT, a
request id on every web line, an access log, JSON lines that parse, `docsvc serve` logging to
stderr in a real process, and no document text or secrets in any line, even at DEBUG."""

from __future__ import annotations

import io
import json
import logging
import signal
from pathlib import Path

import pytest
from click.testing import CliRunner

from docsvc import logs
from docsvc.cli import cli
from docsvc.web.factory import create_app
from tests.test_serve import start_serve
from tests.webutil import PASSWORD, csrf_of, world  # noqa: F401 (world: the web users, over this module's app)

SHIPPED = Path(__file__).resolve().parents[1] / "templates"
JSON_KEYS = {"ts", "level", "logger", "message", "request_id"}


class Captured:
    """Logging configured as ``docsvc serve`` does it; calling gives the lines logged since the
    last call (parsed when JSON)."""

    def __init__(self, capsys) -> None:
        self.capsys = capsys
        self.configure()

    def configure(self, fmt: str = "json", level: str = "debug") -> None:
        self.fmt = fmt
        logs.configure({"LOG_LEVEL": level, "LOG_FORMAT": fmt}, server=True)
        self.capsys.readouterr()

    def __call__(self) -> list:
        text = self.capsys.readouterr().err
        return [json.loads(line) for line in text.splitlines()] if self.fmt == "json" else text.splitlines()


@pytest.fixture
def captured(capsys):
    root, ours = logging.getLogger(), logging.getLogger("docsvc")
    levels, handlers = (root.level, ours.level), list(root.handlers)
    yield Captured(capsys)
    _restore(levels, handlers)


def _restore(levels: tuple[int, int], handlers: list[logging.Handler]) -> None:
    root = logging.getLogger()
    for handler in set(root.handlers) - set(handlers):
        root.removeHandler(handler)
    root.setLevel(levels[0])
    logging.getLogger("docsvc").setLevel(levels[1])


@pytest.fixture
def app(config):
    app = create_app({**config, "TEMPLATES_DIR": str(SHIPPED), "TESTING": True, "FSYNC": False})
    yield app
    app.extensions["docsvc"].close()


def access_lines(lines: list[dict]) -> list[dict]:
    return [line for line in lines if line["logger"] == "docsvc.web.request_log"]


def test_access_log_and_request_id(world, captured):
    c = world.api("alice")
    resp = c.get("/api/v1/search", query_string={"q": "合同", "limit": 5})
    assert resp.status_code == 200
    rid = resp.headers["X-Request-ID"]
    assert len(rid) == 16
    [line] = access_lines(captured())
    assert JSON_KEYS <= line.keys()
    assert line["request_id"] == rid and line["level"] == "INFO"
    assert line["method"] == "GET" and line["path"] == "/api/v1/search" and line["status"] == 200
    assert line["query_keys"] == "limit,q" and "合同" not in json.dumps(line, ensure_ascii=False)
    assert line["user_id"] == world.svc.users.get("alice").id
    assert isinstance(line["duration_ms"], float)
    # Each request its own id; a failed one is logged too, with its status and no user.
    resp = world.app.test_client().get("/api/v1/documents/999999")
    [line] = access_lines(captured())
    assert resp.status_code == 401 and line["status"] == 401 and line["user_id"] is None
    assert line["request_id"] == resp.headers["X-Request-ID"] != rid


def test_every_line_of_a_request_carries_its_id(world, captured):
    """A denied access logs from the Guard, inside the request: both lines carry the request's id."""
    doc = (
        world.guard("mgr")
        .add_document(
            "银行核心系统巡检记录".encode(),
            "巡检.txt",
            {
                "title": "巡检",
                "doc_type": "report",
                "service_category": "4.2",
                "doc_class": "site",
                "project": "银行核心系统",
            },
        )
        .document
    )
    captured()
    resp = world.api("alice").get(f"/api/v1/documents/{doc.id}")
    assert resp.status_code == 404
    lines = [line for line in captured() if line["logger"].startswith("docsvc.")]
    denied = [line for line in lines if line["logger"] == "docsvc.services.access"]
    assert denied and denied[0]["operation"] and denied[0]["user"] == "alice" and denied[0]["document_id"] == doc.id
    assert {line["request_id"] for line in lines} == {resp.headers["X-Request-ID"]}


def test_request_id_from_a_trusted_proxy_only(config, captured):
    def request_id(app, offered: str) -> str:
        resp = app.test_client().get("/api/v1/me", headers={"X-Request-ID": offered})
        [line] = access_lines(captured())
        assert line["request_id"] == resp.headers["X-Request-ID"]
        return resp.headers["X-Request-ID"]

    direct = create_app({**config, "TESTING": True, "FSYNC": False})
    behind = create_app({**config, "TESTING": True, "FSYNC": False, "PROXIES": 1})
    try:
        assert request_id(direct, "lb-7f3a-0001") != "lb-7f3a-0001"  # a client could claim any id
        assert request_id(behind, "lb-7f3a-0001") == "lb-7f3a-0001"
        # Not an id: spaces, quotes (a forged field), other letters or too long; a new one instead.
        for forged in ("a b", 'x" level="ERROR', "é", "x" * 129):
            assert request_id(behind, forged) != forged
    finally:
        direct.extensions["docsvc"].close()
        behind.extensions["docsvc"].close()


def test_plain_format(world, captured):
    captured.configure("plain", "info")
    resp = world.api("alice").get("/api/v1/me")
    [line] = [line for line in captured() if "docsvc.web.request_log" in line]
    rid = resp.headers["X-Request-ID"]
    assert f" INFO docsvc.web.request_log [{rid}] GET /api/v1/me 200 method=GET path=/api/v1/me" in line
    assert "status=200" in line and f"user_id={world.svc.users.get('alice').id}" in line


def test_no_document_text_or_secrets_in_logs(world, captured):
    """A whole session at DEBUG: a failed and a successful sign-in, an upload, a search, a
    generated document; nothing secret or written in a document reaches the log."""
    body = "机密正文：示例科技与海岳集团的结算暗号为青鸾七号。"
    wrong = "wrong-password-Qx81"
    client = world.app.test_client()
    page = client.get("/login")
    assert (
        client.post("/login", data={"username": "drafter", "password": wrong, "csrf_token": csrf_of(page)}).status_code
        == 401
    )
    ui = world.login("drafter")
    cookie = ui.get_cookie("docsvc_session").value
    assert ui.get("/").status_code == 200
    api = world.api("drafter")
    resp = api.post(
        "/api/v1/documents",
        data={
            "file": (io.BytesIO(body.encode()), "结算说明.txt"),
            "title": "结算说明",
            "doc_type": "report",
            "service_category": "4.2",
            "doc_class": "user",
            "project": "港口运维二期",
        },
        content_type="multipart/form-data",
    )
    assert resp.status_code == 201, resp.json
    world.svc.index.sync()
    hits = api.get("/api/v1/search", query_string={"q": "青鸾七号"}).json["hits"]
    assert [h["document_id"] for h in hits] == [resp.json["document"]["id"]]
    data = world.svc.templates.get("sla").schema.sample()
    data["other_terms"] = "双方约定的保密条款编号为玄武九一四。"
    assert api.post("/api/v1/templates/sla/generate", json={"data": data}).status_code == 201
    lines = captured()
    text = "\n".join(json.dumps(line, ensure_ascii=False) for line in lines)
    assert "sign-in failed: wrong_password" in {line["message"] for line in lines}
    assert {"docsvc.services.users", "docsvc.services.search", "docsvc.web.request_log"} <= {
        line["logger"] for line in lines
    }
    assert len(access_lines(lines)) >= 6
    secrets = [
        PASSWORD,
        wrong,
        cookie,
        world.app.config["SECRET_KEY"],
        *world.tokens.values(),
        "青鸾七号",
        "结算暗号",
        "玄武九一四",
        data["party_a"]["phone"],
    ]
    assert [s for s in secrets if s in text] == []


def test_cli_configures_logging_once_from_the_settings(config, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "导入"
    folder.mkdir()
    (folder / "纪要.txt").write_text("周例会纪要：讨论巡检计划。", "utf-8")
    env = {f"DOCSVC_{k}": str(v) for k, v in config.items()} | {"DOCSVC_ACTOR": "导入员"}
    root, ours = logging.getLogger(), logging.getLogger("docsvc")
    levels, before = (root.level, ours.level), list(root.handlers)
    try:
        quiet = CliRunner().invoke(cli, ["import", str(folder), "--class", "user", "--json"], env=env)
        assert quiet.exit_code == 0, quiet.output
        assert "import finished" not in quiet.stderr  # a one-off command logs warnings only by default
        folder.joinpath("周报.txt").write_text("本周完成服务器巡检。", "utf-8")
        told = CliRunner().invoke(
            cli,
            ["import", str(folder), "--class", "user", "--json"],
            env={**env, "DOCSVC_LOG_LEVEL": "info", "DOCSVC_LOG_FORMAT": "json"},
        )
        assert told.exit_code == 0, told.output
        [summary] = [json.loads(line) for line in told.stderr.splitlines() if "import finished" in line]
        assert summary["added"] == 1 and summary["duplicate"] == 1 and summary["failed"] == 0
        assert summary["actor"] == "导入员" and summary["logger"] == "docsvc.services.bulk"
        json.loads(told.stdout)  # the report on stdout stays clean JSON
        # Configured again, not twice: one handler of docsvc's, whether or not an earlier test
        # in this process had configured logging already.
        assert sum(isinstance(h, logs._StderrHandler) for h in root.handlers) == 1
    finally:
        _restore(levels, before)


@pytest.mark.slow
def test_serve_logs_to_stderr(tmp_path):
    proc, api = start_serve(tmp_path, workers=2, LOG_FORMAT="json", SECRET_KEY="session-key-Zt90")
    try:
        assert api.call("GET", "/api/v1/me")[0] == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    out = (tmp_path / "serve.log").read_text("utf-8")
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert lines and all(JSON_KEYS <= line.keys() for line in lines)
    [start] = [line for line in lines if line["message"].startswith("docsvc serving on http://127.0.0.1:")]
    assert start["workers"] == 2 and start["settings"]["SECRET_KEY"] == "******"
    assert start["settings"]["LOG_FORMAT"] == "json"
    access = [line for line in access_lines(lines) if line["path"] == "/api/v1/me"][-1]
    assert access["status"] == 200 and access["request_id"] and access["user_id"]
    assert "session-key-Zt90" not in out and api.token not in out


def test_jobs_and_index_batches_are_logged(svc, caplog, monkeypatch):
    """A job's start (with how long it waited: the queue's lag) and end; an index batch applied
    with its lag, and one that failed (a fault injected into the index), left queued."""
    from docsvc.errors import Unavailable
    from tests.conftest import add

    caplog.set_level(logging.INFO, logger="docsvc")
    job, _ = svc.jobs.enqueue("orphans.sweep", {}, actor="测试")
    assert svc.jobs.run_next(job_id=job.id).state.value == "done"
    started, done = [r for r in caplog.records if r.name == "docsvc.services.jobs"]
    assert started.message == f"job {job.id} (orphans.sweep) started" and started.waited_s >= 0
    assert done.message == f"job {job.id} (orphans.sweep) done" and done.duration_s >= 0 and done.attempt == 1

    svc.index.sync()
    add(svc)
    caplog.clear()
    assert svc.index.sync().applied == 1
    [batch] = [r for r in caplog.records if r.name == "docsvc.services.search"]
    assert batch.applied == 1 and batch.lag_s >= 0 and batch.levelname == "INFO"

    add(svc, "第二份合同正文。".encode(), "合同二.txt")
    caplog.clear()

    def fail(*_args, **_kwargs):
        raise Unavailable("索引暂不可用。", "The index is unavailable.")

    monkeypatch.setattr(type(svc.index.index), "upsert", fail)
    assert svc.index.sync().failed == 1
    [failed] = [r for r in caplog.records if r.name == "docsvc.services.search"]
    assert failed.levelname == "WARNING" and "The index is unavailable." in failed.message and failed.failed == 1
