"""`docsvc serve --workers 2`: several processes answer on one port, a worker's upload wakes the
single index writer in the main process, a dead worker is replaced, SIGTERM stops them all."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from docsvc.app import open_docsvc
from tests.conftest import poll_until, within


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children(pid: int) -> set[int]:
    """The processes ``pid``'s main thread started: a server's workers."""
    return {int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}


def started_by(pid: int) -> set[int]:
    """The processes ``pid`` started from any of its threads (a job runner starts LibreOffice)."""
    return {int(c) for task in Path(f"/proc/{pid}/task").iterdir() for c in (task / "children").read_text().split()}


def running(pid: int) -> bool:
    """``pid`` exists and is not a zombie."""
    try:
        return "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()
    except FileNotFoundError:
        return False


def left_running(pids: set[int], grace_s: float = 10.0) -> dict[int, str]:
    """Those of ``pids`` still running after ``grace_s``, with their command lines: a child
    that leaves when its parent's pipe closes needs a moment after the parent has gone."""
    deadline = time.monotonic() + grace_s
    while (left := [pid for pid in pids if running(pid)]) and time.monotonic() < deadline:
        time.sleep(0.1)
    names = {}
    for pid in left:
        try:
            names[pid] = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except FileNotFoundError:
            continue
    return names


class Api:
    def __init__(self, port: int, token: str) -> None:
        self.port, self.token = port, token

    def call(self, method: str, path: str, body: bytes | None = None, ctype: str | None = None) -> tuple[int, dict]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=within(10))
        headers = {"Authorization": f"Bearer {self.token}"}
        if ctype:
            headers["Content-Type"] = ctype
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        data = json.loads(resp.read() or b"{}")
        conn.close()
        return resp.status, data

    def upload(self, title: str, text: str) -> tuple[int, dict]:
        b = uuid.uuid4().hex
        fields = {"title": title, "doc_type": "report", "service_category": "4.2", "doc_class": "site"}
        body = b"".join(
            f'--{b}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in fields.items()
        )
        body += (
            (
                f'--{b}\r\nContent-Disposition: form-data; name="file"; filename="{title}.txt"\r\n'
                "Content-Type: text/plain\r\n\r\n"
            ).encode()
            + text.encode()
            + f"\r\n--{b}--\r\n".encode()
        )
        return self.call("POST", "/api/v1/documents", body, f"multipart/form-data; boundary={b}")


def start_serve(tmp_path: Path, *, workers: int, **settings: str) -> tuple[subprocess.Popen, Api]:
    """`docsvc serve` on an embedded archive in ``tmp_path`` (plus DOCSVC_ ``settings``) and a
    manager's API to it; the caller stops the process; its output is in
    ``tmp_path / "serve.log"``. Returns once the server answers."""
    env = {
        **os.environ,
        "DOCSVC_ARCHIVE_DIR": str(tmp_path / "archive"),
        "DOCSVC_INDEX_DIR": str(tmp_path / "index"),
        "DOCSVC_TEMPLATES_DIR": str(tmp_path / "no-templates"),
        "DOCSVC_FSYNC": "false",
        **{f"DOCSVC_{k}": v for k, v in settings.items()},
    }
    env.pop("DOCSVC_DATABASE_URL", None)
    (tmp_path / "no-templates").mkdir(exist_ok=True)
    svc = open_docsvc({k[len("DOCSVC_") :]: v for k, v in env.items() if k.startswith("DOCSVC_")})
    svc.users.create_user("manager", "manager", actor="test", password="a-long-password-1")
    token = svc.users.issue_token("manager", actor="test").secret
    svc.close()
    port = _free_port()
    # Its output goes to tmp_path/serve.log, not to a pipe: nobody reads a pipe while the test
    # runs, and once the access log has filled it the server would stall on its next line.
    with (tmp_path / "serve.log").open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from docsvc.cli import main; main()",
                "serve",
                "--workers",
                str(workers),
                "--port",
                str(port),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    api = Api(port, token)
    try:
        poll_until(lambda: api.call("GET", "/api/v1/me")[0] == 200, "the server")
    except BaseException:
        proc.kill()
        raise
    return proc, api


@pytest.fixture()
def server(tmp_path: Path):
    proc, api = start_serve(tmp_path, workers=2)
    try:
        yield proc, api
    finally:
        if proc.poll() is None:
            workers = _children(proc.pid)
            proc.kill()  # no goodbye: the workers must notice and leave on their own
            proc.wait(10)
            poll_until(lambda: not any(running(w) for w in workers), "the orphaned workers to leave")


def test_two_workers_share_the_port_and_one_writer_indexes_their_uploads(server) -> None:
    proc, api = server
    workers = poll_until(lambda: len(_children(proc.pid)) >= 2 and _children(proc.pid), "two workers")
    assert len(workers) == 2
    # Uploads through whichever worker takes the connection become searchable: the worker's
    # commit wakes the writer in the main process.
    for i in range(4):
        status, body = api.upload(f"巡检报告{i}", f"机房巡检第{i}次，编号 MARKER{i}X。")
        assert status == 201, body
    for i in range(4):
        poll_until(
            lambda i=i: api.call("GET", f"/api/v1/search?q=MARKER{i}X")[1].get("total") == 1, f"upload {i} indexed"
        )
    status, health = api.call("GET", "/api/v1/health")
    assert status == 200 and health["indexer"]["state"] in ("idle", "syncing")  # the writer's, from its process


def test_a_dead_worker_is_replaced_and_sigterm_stops_everything(server) -> None:
    proc, api = server
    workers = poll_until(lambda: len(_children(proc.pid)) >= 2 and _children(proc.pid), "two workers")
    victim = sorted(workers)[0]
    os.kill(victim, signal.SIGKILL)
    replaced = poll_until(
        lambda: (lambda c: len(c) == 2 and victim not in c and c)(_children(proc.pid)), "a replacement"
    )
    assert api.call("GET", "/api/v1/me")[0] == 200
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0
    for pid in replaced:
        assert not running(pid)


def test_serve_watches_the_intake_folder(tmp_path: Path) -> None:
    """With DOCSVC_INTAKE_DIR set, `docsvc serve` archives what is dropped there: no second
    process to run, and the health page says what it did."""
    intake = tmp_path / "收件"
    proc, api = start_serve(tmp_path, workers=1, INTAKE_DIR=str(intake))
    try:
        poll_until(intake.is_dir, "the intake folder")
        (intake / "机房巡检记录.txt").write_text("机房巡检记录：UPS 电池组更换完成，空调运行正常。", "utf-8")
        docs = poll_until(
            lambda: api.call("GET", "/api/v1/documents")[1].get("items"), "the dropped file to be archived"
        )
        assert [d["title"] for d in docs] == ["机房巡检记录"]
        poll_until((intake / "done" / "机房巡检记录.txt").exists, "the file to move to done/")
        status, health = api.call("GET", "/api/v1/health")
        assert status == 200 and health["intake"]["archived"] == 1 and health["intake"]["running"]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
