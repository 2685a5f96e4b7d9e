"""Two `docsvc serve` processes sharing one PostgreSQL catalog and its search index.

Each server has its own index folder (for its indexer's status file) but searches and writes
the same full-text tables (DOCSVC_SEARCH_BACKEND=postgres), and the blobs are one shared folder.
A change made through either server is found through the other within a second: the server
that took the write wakes its own indexer, which writes the shared index.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import uuid
from pathlib import Path

import pytest

from docsvc.app import open_docsvc
from tests.conftest import poll_until, within

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

VISIBLE_WITHIN_S = 1.0  # the bound this test is about


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerError(Exception):
    """The server answered 5xx."""


class Api:
    def __init__(self, name: str, port: int, token: str) -> None:
        self.name, self.port, self.token = name, port, token

    def call(self, method: str, path: str, body: bytes | None = None, ctype: str | None = None) -> tuple[int, dict]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=within(10))
        headers = {"Authorization": f"Bearer {self.token}"}
        if ctype:
            headers["Content-Type"] = ctype
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            return resp.status, json.loads(resp.read() or b"{}")
        finally:
            conn.close()

    def _multipart(self, fields: dict[str, str], filename: str, text: str) -> tuple[bytes, str]:
        b = uuid.uuid4().hex
        body = b"".join(
            f'--{b}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in fields.items()
        )
        body += (
            f'--{b}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        ).encode()
        body += text.encode() + f"\r\n--{b}--\r\n".encode()
        return body, f"multipart/form-data; boundary={b}"

    def upload(self, title: str, filename: str, text: str, **meta: str) -> dict:
        fields = {"title": title, "doc_type": "contract", "service_category": "4.2", "doc_class": "user", **meta}
        status, body = self.call("POST", "/api/v1/documents", *self._multipart(fields, filename, text))
        assert status == 201, (self.name, status, body)
        return body

    def add_version(self, doc_id: int, filename: str, text: str, reason: str) -> dict:
        status, body = self.call(
            "POST", f"/api/v1/documents/{doc_id}/versions", *self._multipart({"reason": reason}, filename, text)
        )
        assert status == 201, (self.name, status, body)
        return body

    def set_metadata(self, doc_id: int, reason: str, **changes: str) -> dict:
        status, body = self.call(
            "PATCH",
            f"/api/v1/documents/{doc_id}",
            json.dumps({"metadata": changes, "reason": reason}).encode(),
            "application/json",
        )
        assert status == 200, (self.name, status, body)
        return body

    def search(self, q: str, **params: str) -> list[tuple[int, int, str, str]]:
        """(document id, version, title, project) of each hit; raises on any error."""
        query = urllib.parse.urlencode({"q": q, **params})
        status, body = self.call("GET", f"/api/v1/search?{query}")
        if status >= 500:
            raise ServerError(self.name, status, body)
        assert status == 200, (self.name, status, body)
        return [(h["document_id"], h["version"], h["title"], h["project"]) for h in body["hits"]]


def visible_within(check, seconds: float = VISIBLE_WITHIN_S) -> bool:
    """Whether ``check`` holds within ``seconds`` from now (the caller has just had the write's
    response); the last try starts before the deadline."""
    deadline = time.monotonic() + seconds
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)


def _ready(api: Api) -> bool:
    """Serving, and the shared index built, synced and usable by this server's process. Health,
    not a search: see test_search_backends' stats test (a search of the empty index). Passages
    still being embedded for ranking by meaning do not count: the words find a document at once,
    and on a busy machine embedding what a killed node left took longer than the wait."""
    status, health = api.call("GET", "/api/v1/health")
    return (
        status == 200
        and health["index"]["ok"]
        and health["indexer"]["state"] in ("idle", "embedding")
        and not health["indexer"]["last_error"]
    )


@pytest.fixture
def servers(db_url: str, tmp_path: Path):
    """Servers A and B, started and ready, and a manager's API token that both accept."""
    (tmp_path / "no-templates").mkdir()
    shared = {
        "DOCSVC_DATABASE_URL": db_url,
        "DOCSVC_SEARCH_BACKEND": "postgres",
        "DOCSVC_ARCHIVE_DIR": str(tmp_path / "archive"),
        "DOCSVC_SECRET_KEY": uuid.uuid4().hex,
        "DOCSVC_TEMPLATES_DIR": str(tmp_path / "no-templates"),
        "DOCSVC_FSYNC": "false",
    }
    base = {k: v for k, v in os.environ.items() if not k.startswith("DOCSVC_")}
    # The administrator's setup, once: a manager with an API token (kept in the catalog, so
    # both servers accept it).
    setup = open_docsvc(
        {k.removeprefix("DOCSVC_"): v for k, v in shared.items()} | {"INDEX_DIR": str(tmp_path / "index-setup")}
    )
    try:
        setup.users.create_user("manager", "manager", actor="test", password="a-long-password-1")
        token = setup.users.issue_token("manager", actor="test").secret
    finally:
        setup.close()

    procs: list[subprocess.Popen] = []
    apis: list[Api] = []
    try:
        for name in ("a", "b"):
            port = _free_port()
            log = tmp_path / f"server-{name}.log"
            env = {**base, **shared, "DOCSVC_INDEX_DIR": str(tmp_path / f"index-{name}")}
            with open(log, "wb") as out:
                procs.append(
                    subprocess.Popen(
                        [
                            sys.executable,
                            "-c",
                            "from docsvc.cli import main; main()",
                            "serve",
                            "--workers",
                            "1",
                            "--port",
                            str(port),
                        ],
                        env=env,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                    )
                )
            apis.append(Api(name, port, token))
        for api, proc in zip(apis, procs):
            poll_until(
                lambda proc=proc, api=api: proc.poll() is not None or _ready(api), f"server {api.name}", timeout_s=30.0
            )
            assert proc.poll() is None, (tmp_path / f"server-{api.name}.log").read_text("utf-8", "replace")
        yield apis
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
    assert all(p.poll() is not None for p in procs)  # both stopped: nothing left running


def _changes_through_one_server_are_found_through_the_other(a: Api, b: Api) -> None:
    # An upload through A is found through B.
    text_v1 = "大连港集团信息系统运维服务合同：乙方提供驻场运维，每周两次机房巡检，一级故障十五分钟内响应。"
    d = a.upload("港口信息系统运维合同", "运维合同.txt", text_v1, project="港口运维二期")["document"]["id"]
    assert visible_within(lambda: b.search("机房巡检") == [(d, 1, "港口信息系统运维合同", "港口运维二期")]), b.search(
        "机房巡检"
    )

    # A metadata change through B is what A finds.
    b.set_metadata(d, "项目更名", title="智慧港口运维服务合同", project="智慧港口")
    assert visible_within(
        lambda: (
            a.search("机房巡检") == [(d, 1, "智慧港口运维服务合同", "智慧港口")]
            and a.search("", filter="project:港口运维二期") == []
        )
    ), a.search("机房巡检")

    # A new version through B: A finds its text, and no longer the old (latest only).
    text_v2 = "智慧港口运维服务合同（第二版）：增加数据中心灾备演练，每季度一次，驻场工程师两名。"
    assert b.add_version(d, "运维合同-v2.txt", text_v2, "增加灾备演练")["version"]["number"] == 2
    assert visible_within(
        lambda: a.search("灾备演练") == [(d, 2, "智慧港口运维服务合同", "智慧港口")] and a.search("机房巡检") == []
    ), (a.search("灾备演练"), a.search("机房巡检"))
    assert [h[:2] for h in a.search("机房巡检", all_versions="1")] == [(d, 1)]
    assert [h[:2] for h in b.search("灾备演练")] == [(d, 2)]


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_two_servers_share_the_postgres_index(servers: list[Api]) -> None:
    a, b = servers
    assert b.search("机房巡检") == []  # someone searches the new, empty archive through B
    _changes_through_one_server_are_found_through_the_other(a, b)
