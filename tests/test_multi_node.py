"""Several servers, one archive: two `docsvc serve` processes that share nothing but PostgreSQL and
an S3 protocol server on loopback (moto in server mode, reached over HTTP).

Each server has its own local folders and no DOCSVC_SECRET_KEY: the session key, the catalog,
the search index and the blobs all live in the shared services. The tests show: an upload on A
is downloaded byte-exact and found on B; a sign-in on A holds on B; killing A with SIGKILL in
the middle of a stream of uploads loses none that was answered 2xx and leaves the audit chain
and `docsvc check` clean; with the object store down, uploads and downloads answer 503 and
record nothing, and both servers recover when it returns.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import signal
import subprocess
import sys
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from docsvc.app import open_docsvc
from tests.conftest import poll_until
from tests.test_two_servers import Api, _free_port, _ready, visible_within

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

PASSWORD = "a-long-password-1"


class Node(Api):
    """A server's REST API, plus what these tests read raw: file downloads and web pages."""

    def __init__(self, name: str, port: int, token: str, proc: subprocess.Popen, log: Path) -> None:
        super().__init__(name, port, token)
        self.proc, self.log = proc, log

    def raw(
        self, method: str, path: str, *, body: bytes | None = None, headers: dict | None = None, auth: bool = True
    ) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        hdrs = {"Authorization": f"Bearer {self.token}"} if auth else {}
        try:
            conn.request(method, path, body=body, headers={**hdrs, **(headers or {})})
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()

    def upload_bytes(self, title: str, filename: str, text: str) -> tuple[int, dict]:
        fields = {"title": title, "doc_type": "report", "service_category": "4.2", "doc_class": "user"}
        return self.call("POST", "/api/v1/documents", *self._multipart(fields, filename, text))

    def download(self, doc_id: int, number: int = 1) -> tuple[int, bytes]:
        status, _headers, data = self.raw("GET", f"/api/v1/documents/{doc_id}/versions/{number}/content")
        return status, data


def _health(node: Node) -> str:
    try:
        return str(node.call("GET", "/api/v1/health")[1])
    except OSError as exc:
        return repr(exc)


@dataclass
class Cluster:
    nodes: dict[str, Node]
    config: dict[str, str]  # the settings every node shares, without the DOCSVC_ prefix
    env: dict[str, str]
    tmp: Path

    def start(self, name: str) -> Node:
        port = self.nodes[name].port if name in self.nodes else _free_port()
        log = self.tmp / f"server-{name}.log"
        env = {
            **self.env,
            "DOCSVC_ARCHIVE_DIR": str(self.tmp / f"archive-{name}"),
            "DOCSVC_INDEX_DIR": str(self.tmp / f"index-{name}"),
            "DOCSVC_NODE_NAME": f"node-{name}",
        }
        with open(log, "ab") as out:
            proc = subprocess.Popen(
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
        node = Node(name, port, self.token, proc, log)
        self.nodes[name] = node
        try:
            poll_until(lambda: proc.poll() is not None or _ready(node), f"server {name}", timeout_s=30.0)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; its health: {_health(node)}") from None
        assert proc.poll() is None, log.read_text("utf-8", "replace")
        return node

    def admin(self):
        """The archive as an operator's shell on a third machine sees it."""
        return open_docsvc(
            {**self.config, "ARCHIVE_DIR": str(self.tmp / "archive-ops"), "INDEX_DIR": str(self.tmp / "index-ops")}
        )


@pytest.fixture
def cluster(db_url: str, own_s3_server, tmp_path: Path):
    (tmp_path / "no-templates").mkdir()
    config = {
        "DATABASE_URL": db_url,
        "SEARCH_BACKEND": "postgres",
        "BLOB_URL": f"s3://{own_s3_server.new_bucket()}/docsvc",
        "S3_ENDPOINT_URL": own_s3_server.endpoint,
        "BLOB_TIMEOUT_S": "2",
        "TEMPLATES_DIR": str(tmp_path / "no-templates"),
        "FSYNC": "false",
    }
    base = {k: v for k, v in os.environ.items() if not k.startswith("DOCSVC_")}
    c = Cluster({}, config, {**base, **{f"DOCSVC_{k}": v for k, v in config.items()}}, tmp_path)
    setup = c.admin()
    try:
        setup.users.create_user("manager", "manager", actor="test", password=PASSWORD)
        c.token = setup.users.issue_token("manager", actor="test").secret
    finally:
        setup.close()
    try:
        c.start("a")
        c.start("b")
        yield c
    finally:
        for node in c.nodes.values():
            if node.proc.poll() is None:
                node.proc.send_signal(signal.SIGTERM)
        for node in c.nodes.values():
            try:
                node.proc.wait(15)
            except subprocess.TimeoutExpired:
                node.proc.kill()
                node.proc.wait(5)


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_upload_on_one_node_is_downloaded_and_found_on_the_other(cluster: Cluster) -> None:
    a, b = cluster.nodes["a"], cluster.nodes["b"]
    text = "大连港集团信息系统运维服务合同：乙方提供驻场运维，每周两次机房巡检。"
    status, body = a.upload_bytes("港口运维合同", "合同.txt", text)
    assert status == 201, body
    doc = body["document"]["id"]
    assert b.download(doc) == (200, text.encode())
    assert visible_within(lambda: [h[0] for h in b.search("机房巡检")] == [doc])
    # Nothing of it is in either server's own folders: the bytes are in the bucket.
    assert not list((cluster.tmp / "archive-a").rglob("blobs/*/*"))
    assert not list((cluster.tmp / "archive-b").rglob("blobs/*/*"))


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_sign_in_on_one_node_holds_on_the_other(cluster: Cluster) -> None:
    a, b = cluster.nodes["a"], cluster.nodes["b"]
    status, headers, page = a.raw("GET", "/login", auth=False)
    csrf = re.search(rb'name="csrf-token" content="([^"]+)"', page).group(1).decode()
    cookie = headers["set-cookie"].split(";")[0]
    form = f"username=manager&password={PASSWORD}&csrf_token={csrf}".encode()
    status, headers, _ = a.raw(
        "POST",
        "/login",
        body=form,
        auth=False,
        headers={"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert status == 302
    session = headers["set-cookie"].split(";")[0]
    status, _, page = b.raw("GET", "/", auth=False, headers={"Cookie": session})
    assert status == 200 and b"manager" in page
    status, _, _ = b.raw("GET", "/", auth=False)  # and without the cookie B asks to sign in
    assert status == 302


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_killing_a_node_mid_stream_loses_no_acknowledged_upload(cluster: Cluster) -> None:
    a, b = cluster.nodes["a"], cluster.nodes["b"]
    acknowledged: dict[int, str] = {}  # document id → SHA-256 of what was sent
    refused: list[str] = []
    stop = threading.Event()

    def stream() -> None:
        i = 0
        while not stop.is_set():
            i += 1
            text = f"第 {i} 份巡检记录：机房温度正常，UPS 负载 {i % 80} %，记录编号 {uuid.uuid4().hex}。" * 40
            try:
                status, body = a.upload_bytes(f"巡检记录 {i}", f"巡检{i}.txt", text)
            except (OSError, http.client.HTTPException) as exc:
                refused.append(type(exc).__name__)
                return  # the node is gone
            if status == 201:
                acknowledged[body["document"]["id"]] = hashlib.sha256(text.encode()).hexdigest()
            else:
                refused.append(str(status))

    worker = threading.Thread(target=stream)
    worker.start()
    assert visible_within(lambda: len(acknowledged) >= 5, seconds=60)
    os.kill(a.proc.pid, signal.SIGKILL)
    a.proc.wait(10)
    worker.join(30)
    stop.set()
    assert not worker.is_alive()

    for doc, digest in acknowledged.items():
        status, data = b.download(doc)
        assert status == 200 and hashlib.sha256(data).hexdigest() == digest, doc
    ops = cluster.admin()
    try:
        assert ops.verify_audit().ok
        # What A committed but had not indexed is indexed by B's indexer (it polls the shared
        # queue); at most the upload in flight is left as an orphan (a warning gc removes).
        report = poll_until(
            lambda: (r := ops.check()).ok and all(p.kind.value == "orphan_blob" for p in r.problems) and r,
            "a clean check after the kill",
            timeout_s=30,
        )
        assert len(report.problems) <= 1
        assert ops.catalog.counts()["documents"] >= len(acknowledged)
    finally:
        ops.close()
    # The killed node comes back and serves what B and it stored.
    a = cluster.start("a")
    doc = max(acknowledged)
    assert a.download(doc)[0] == 200


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_object_store_down_means_503_and_nothing_recorded_then_recovery(cluster: Cluster, own_s3_server) -> None:
    a, b = cluster.nodes["a"], cluster.nodes["b"]
    status, body = a.upload_bytes("运维月报", "月报.txt", "十一月运维月报：可用性 99.98%。")
    assert status == 201
    doc = body["document"]["id"]
    ops = cluster.admin()
    try:
        # The upload's index work is applied by a node's indexer at its own pace: settled first,
        # so that what the outage must not change is a fixed picture.
        poll_until(lambda: ops.catalog.counts()["outbox_pending"] == 0, "the upload to be indexed")
        before = ops.catalog.counts()
        own_s3_server.stop()
        for node in (a, b):
            status, body = node.upload_bytes("停机期间的上传", "上传.txt", f"{node.name} 停机期间")
            assert status == 503 and body["error"]["code"] == "unavailable", body
            assert "对象存储" in body["error"]["message"] and "object store" in body["error"]["message_en"]
            status, headers, data = node.raw("GET", f"/api/v1/documents/{doc}/versions/1/content")
            assert status == 503 and headers.get("retry-after"), data[:200]
        assert ops.catalog.counts() == before and ops.verify_audit().ok

        own_s3_server.start()
        for node in (a, b):
            assert node.download(doc) == (200, "十一月运维月报：可用性 99.98%。".encode())
            status, _ = node.upload_bytes("恢复后的上传", "上传.txt", f"{node.name} 恢复之后")
            assert status == 201
        assert ops.check().ok
    finally:
        ops.close()
