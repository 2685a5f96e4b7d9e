"""One docsvc server, then two, on the shared services only: PostgreSQL (catalog and search) and an
S3 protocol server (the blobs). The second run kills one node with SIGKILL in the middle and
restarts it.

    python bench/bench_nodes.py --postgres postgresql+psycopg://postgres@127.0.0.1:5432/test
    python bench/bench_nodes.py --postgres URL --docs 2000 --duration 300 --clients 20

The load is bench_web.py's mixed load (80 % searches, 15 % downloads, 5 % uploads; half the
clients a manager, half a project member). Each client talks to its home node and, like a load
balancer with health checks, turns to the other node when its home does not answer: a read is
sent again there; an upload whose answer was lost is looked up by its unique title on the other
node and sent again only if it is not there (a client never knows whether an unanswered write
happened). Afterwards every acknowledged upload must exist exactly once: the run prints lost and
duplicated uploads, which must both be zero, beside requests/s, search p95 and errors (5xx or no
node answering). The S3 server is moto, served by waitress in its own process (as in
bench_blobs.py).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import sqlalchemy as sa  # noqa: E402
from bench_blobs import fresh_database, start_s3  # noqa: E402
from bench_web import Client, fill, pct, rss_mb, start_server  # noqa: E402

UPLOAD_TITLE = re.compile("压测上传-[0-9a-f]{8}".encode())


class FailoverClient(Client):
    """A bench_web client behind a health-checking load balancer (see the module's docstring)."""

    def __init__(self, n: int, nodes: list[int], *args, **kwargs) -> None:
        super().__init__(n, "127.0.0.1", nodes[n % len(nodes)], *args, **kwargs)
        self.nodes = nodes[n % len(nodes) :] + nodes[: n % len(nodes)]  # home first
        self.conns = {port: http.client.HTTPConnection("127.0.0.1", port, timeout=30) for port in self.nodes}
        self.acknowledged: list[str] = []
        self.failovers = 0

    def send(self, port: int, method: str, path: str, body: bytes | None, ctype: str | None) -> int:
        headers = {"Authorization": f"Bearer {self.token}"}
        if ctype:
            headers["Content-Type"] = ctype
        conn = self.conns[port]
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            resp.read()
            return resp.status
        except (OSError, http.client.HTTPException):
            conn.close()
            self.conns[port] = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            raise

    def request(self, method: str, path: str, body: bytes | None = None, ctype: str | None = None) -> int:
        title = UPLOAD_TITLE.search(body).group().decode() if body else None
        for attempt in range(2 * len(self.nodes)):
            port = self.nodes[attempt % len(self.nodes)]
            try:
                if title and attempt and self.recorded(port, title):
                    self.acknowledged.append(title)  # the lost answer's upload did happen
                    return 201
                status = self.send(port, method, path, body, ctype)
            except (OSError, http.client.HTTPException):
                self.failovers += 1
                time.sleep(0.05 * attempt)
                continue
            if title and status == 201:
                self.acknowledged.append(title)
            return status
        return 0  # no node answered

    def recorded(self, port: int, title: str) -> bool:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            conn.request(
                "GET",
                f"/api/v1/documents?title={quote(title)}&limit=5",
                headers={"Authorization": f"Bearer {self.token}"},
            )
            resp = conn.getresponse()
            return resp.status == 200 and json.loads(resp.read())["total"] > 0
        finally:
            conn.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(
    label: str,
    nodes: list[tuple[int, dict]],
    tokens: list[str],
    ids: dict[str, list[int]],
    args,
    tmp: Path,
    *,
    kill: bool,
) -> tuple[list[str], dict]:
    procs = {
        port: start_server(env, port, args.threads, args.workers, tmp / f"server-{port}.log") for port, env in nodes
    }
    ports = [port for port, _ in nodes]
    results: dict[str, list] = defaultdict(list)
    stop_at = time.time() + args.duration
    clients = [
        FailoverClient(
            i, ports, tokens[i % len(tokens)], ids[tokens[i % len(tokens)]], stop_at, "search", args.think, results
        )
        for i in range(args.clients)
    ]
    events = []

    def kill_and_restart() -> None:
        time.sleep(args.duration * 0.5)
        port, env = nodes[0]
        os.kill(procs[port].pid, signal.SIGKILL)
        procs[port].wait()
        events.append(f"killed node :{port} at {args.duration * 0.5:.0f} s")
        time.sleep(args.down)
        procs[port] = start_server(env, port, args.threads, args.workers, tmp / f"server-{port}.log")
        events.append(f"restarted it {args.down:.0f} s later")

    try:
        rss = sum(rss_mb(p.pid) or 0 for p in procs.values())
        t0 = time.perf_counter()
        for c in clients:
            c.start()
        killer = threading.Thread(target=kill_and_restart, daemon=True) if kill else None
        if killer:
            killer.start()
        for c in clients:
            c.join()
        wall = time.perf_counter() - t0
        if killer:
            killer.join()
    finally:
        for p in procs.values():
            p.terminate()
        for p in procs.values():
            try:
                p.wait(15)
            except Exception:  # noqa: BLE001
                p.kill()
    rows = [r for kind in results for r in results[kind]]
    errors = [s for _, ok, s in rows if not ok]
    searches = [t for t, _, _ in results["search"]]
    figures = {
        "label": label,
        "requests": len(rows),
        "rps": len(rows) / wall,
        "errors": len(errors),
        "statuses": sorted(set(errors)),
        "search_p50": pct(searches, 50),
        "search_p95": pct(searches, 95),
        "all_p95": pct([t for t, _, _ in rows], 95),
        "uploads": len(results["upload"]),
        "failovers": sum(c.failovers for c in clients),
        "rss_start": rss,
        "events": events,
    }
    return [t for c in clients for t in c.acknowledged], figures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--postgres", required=True, help="PostgreSQL URL (a fresh database is made and dropped)")
    ap.add_argument("--docs", type=int, default=2000, help="documents to fill first (default 2000)")
    ap.add_argument("--chars", type=int, default=2000, help="mean characters per document (default 2000)")
    ap.add_argument("--duration", type=float, default=300, help="seconds of load per run (default 300)")
    ap.add_argument("--down", type=float, default=15, help="seconds the killed node stays down (default 15)")
    ap.add_argument("--clients", type=int, default=20, help="concurrent clients (default 20)")
    ap.add_argument("--think", type=float, default=0.0, help="mean pause between requests (default 0)")
    ap.add_argument("--threads", type=int, default=8, help="waitress threads per node (default 8)")
    ap.add_argument("--workers", type=int, default=1, help="processes per node (default 1)")
    args = ap.parse_args()

    for key, value in {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench-secret",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        os.environ.setdefault(key, value)
    tmp = Path(tempfile.mkdtemp(prefix="docsvc-bench-nodes-"))
    s3, endpoint = start_s3()
    url, drop = fresh_database(args.postgres)
    try:
        import boto3

        bucket = f"docsvc-bench-{uuid.uuid4().hex[:8]}"
        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=bucket)
        shared = {
            "DATABASE_URL": url,
            "SEARCH_BACKEND": "postgres",
            "BLOB_URL": f"s3://{bucket}/docsvc",
            "S3_ENDPOINT_URL": endpoint,
        }
        print(f"filling {args.docs} documents (PostgreSQL catalog and search, blobs in S3 at {endpoint}) …", flush=True)
        env, tokens = fill(tmp, args.docs, args.chars, shared)
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            all_ids = [r[0] for r in conn.exec_driver_sql("select id from documents order by id limit 1000")]
            member = [
                r[0]
                for r in conn.exec_driver_sql(
                    "select id from documents where doc_class = 'user' or project = '港口运维二期' order by id limit 1000"
                )
            ]
        ids = {tokens[0]: all_ids, tokens[1]: member}

        def node(name: str) -> tuple[int, dict]:
            return free_port(), {
                **env,
                "DOCSVC_ARCHIVE_DIR": str(tmp / f"archive-{name}"),
                "DOCSVC_INDEX_DIR": str(tmp / f"index-{name}"),
                "DOCSVC_NODE_NAME": name,
            }

        print(
            f"{args.clients} clients, {args.duration:.0f} s per run, {args.workers} process(es) × {args.threads} "
            "threads per node …",
            flush=True,
        )
        acknowledged, one = run("1 node", [node("solo")], tokens, ids, args, tmp, kill=False)
        more, two = run("2 nodes", [node("a"), node("b")], tokens, ids, args, tmp, kill=True)
        acknowledged += more
        with engine.connect() as conn:
            counts = dict(
                conn.execute(
                    sa.text("select title, count(*) from documents where title like '压测上传-%' group by title")
                ).all()
            )
        engine.dispose()
        lost = [t for t in acknowledged if t not in counts]
        duplicated = [t for t, n in counts.items() if n > 1]

        print(
            f"\n{'run':<9}{'requests':>10}{'req/s':>8}{'errors':>8}{'search p50':>12}{'search p95':>12}"
            f"{'all p95':>9}{'uploads':>9}{'failovers':>11}"
        )
        for f in (one, two):
            print(
                f"{f['label']:<9}{f['requests']:>10}{f['rps']:>8.1f}{f['errors']:>8}{f['search_p50']:>12.1f}"
                f"{f['search_p95']:>12.1f}{f['all_p95']:>9.1f}{f['uploads']:>9}{f['failovers']:>11}"
                + (f"   statuses {f['statuses']}" if f["statuses"] else "")
            )
        print("2 nodes: " + "; ".join(two["events"]))
        print(
            f"uploads acknowledged {len(acknowledged)}: lost {len(lost)}, duplicated {len(duplicated)}"
            + (f" — lost {lost[:5]}, duplicated {duplicated[:5]}" if lost or duplicated else "")
        )
        print("load average at the end: " + " ".join(f"{x:.2f}" for x in os.getloadavg()) + f" ({os.cpu_count()} CPUs)")
        if lost or duplicated or one["errors"] or two["errors"]:
            sys.exit(1)
    finally:
        s3.terminate()
        drop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
