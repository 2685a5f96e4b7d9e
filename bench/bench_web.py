"""Load on the web service over loopback: 20 concurrent API clients, a read-heavy mix.

    python bench/bench_web.py --search                # fill 10k documents, start docsvc serve, run 60 s
    python bench/bench_web.py                         # the same (search is the default mix)
    python bench/bench_web.py --mix browse            # list/detail reads instead of searches
    python bench/bench_web.py --docs 2000 --duration 20 --clients 20
    python bench/bench_web.py --url http://127.0.0.1:5000 --token dsv_… --pid 1234   # an existing server

The mix (per request, by weight), as the issue asks: 80 % searches — ``GET /api/v1/search`` with
Chinese words, phrases, a question typed in plain words, English, identifiers, field queries,
facet filters, date sort and a second page now and then — 15 % downloads of a version, 5 %
uploads of a new small document. ``--mix browse`` makes the 80 % the document list (a random
filter/sort/page) and a document's detail instead. Half of the clients act as a manager, half
as a project member (so the on-site access filter is in every second search, and members
download only documents they may read). The filled documents are real contract, SLA and
specification sentences resampled (``--chars`` long on average), so domain words are as common as
in a real archive. Every client keeps one HTTP/1.1 connection (http.client) and, by default, sends
its next request as soon as the last is answered (saturation: latency is then the queue,
clients ÷ throughput); ``--think S`` adds pauses like a person reading a page. Prints throughput, p50/p95/p99 per kind, errors, and the server's RSS at the
start and the end (from /proc, when the server's pid is known).

Only loopback addresses are accepted as targets.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path
from urllib.parse import urlencode, urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

CATEGORIES = ["4.1", "4.2", "4.3.2", "4.4", "4.6", "4.9.2"]
TYPES = ["contract", "sla", "service_plan", "report", "meeting_minutes"]
PROJECTS = ["港口运维二期", "银行核心系统", "政务云迁移", "医院信息平台"]
WORDS = [
    "服务等级协议",
    "可用性",
    "故障响应",
    "运维",
    "巡检",
    "变更管理",
    "数据库",
    "备份",
    "网络",
    "安全",
    "SLA-2026-001",
    "GB/T 28827.1-2012",
    "季度报告",
    "客户满意度",
]
# What people type: words, phrases, a question, English, identifiers, field queries.
QUERIES = [
    "服务等级协议",
    "故障响应",
    "运维 巡检",
    "变更管理",
    "SLA-2026-001",
    "数据库 备份",
    '"季度报告"',
    "可用性怎么保证？",
    "客户满意度 OR 安全",
    "备份 -网络",
    "类型:合同 运维",
    "project:港口运维二期 巡检",
    "GB/T 28827.1-2012",
    "service level",
    "year:2026 变更管理",
]
FILTERS = ["", "", "", "doc_type:sla", "doc_class:user", "service_category:4.2", f"project:{PROJECTS[0]}"]


def text(rng: random.Random, n: int = 60) -> str:
    return "。".join("".join(rng.choice(WORDS) for _ in range(3)) for _ in range(n // 3)) + "。"


def fill(root: Path, count: int, chars: int, extra: dict | None = None) -> tuple[dict, list[str]]:
    """Make an archive of ``count`` documents of about ``chars`` characters each — real contract,
    SLA and specification sentences resampled (bench/corpus.py), so that domain words are as common
    as they are in a real archive — and tokens for the clients (a manager's and a project member's).
    ``extra`` adds settings (another catalog, search engine or blob store)."""
    import corpus

    from docsvc.app import open_docsvc

    conf = {"ARCHIVE_DIR": str(root / "archive"), "INDEX_DIR": str(root / "index"), "FSYNC": False, **(extra or {})}
    svc = open_docsvc(conf)
    rng = random.Random(7)
    svc.users.create_user("bench", "manager", actor="bench", password="bench-password-1")
    svc.users.create_user("bench-member", "member", actor="bench", password="bench-password-1", projects=[PROJECTS[0]])
    tokens = [svc.users.issue_token(name, actor="bench", name="bench").secret for name in ("bench", "bench-member")]
    sentences = corpus.business_sentences()
    started = time.perf_counter()
    for i in range(count):
        meta = {
            "title": f"{rng.choice(PROJECTS)}{rng.choice(['运维服务合同', '服务等级协议', '巡检报告', '会议纪要'])}-{i}",
            "doc_type": rng.choice(TYPES),
            "service_category": rng.choice(CATEGORIES),
            "doc_class": rng.choice(["user", "site"]),
            "project": rng.choice(PROJECTS),
            "review_due": f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        }
        body = corpus.business_paragraph(sentences, rng, rng.randint(chars // 2, chars * 3 // 2))
        svc.archive.add_document(f"{meta['title']}\n{body}".encode(), f"doc-{i}.txt", meta, actor="bench")
        if (i + 1) % 2000 == 0:
            print(f"  filled {i + 1}/{count} ({(i + 1) / (time.perf_counter() - started):.0f}/s)", flush=True)
    print(f"filled {count} documents in {time.perf_counter() - started:.1f} s", flush=True)
    try:
        # The server's indexer would otherwise rebuild during the measurement.
        t0 = time.perf_counter()
        svc.index.rebuild(resume=True, procs=2)
        print(f"indexed them in {time.perf_counter() - t0:.1f} s", flush=True)
    except Exception as exc:  # noqa: BLE001 - search is optional for this benchmark
        print(f"(index not built: {type(exc).__name__}: {exc})")
    svc.close()
    env = {f"DOCSVC_{k}": str(v) for k, v in conf.items()}
    return env, tokens


def start_server(env: dict, port: int, threads: int, workers: int, log: Path) -> subprocess.Popen:
    # The server's output goes to a file: an unread pipe fills up and blocks the server.
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from docsvc.cli import main; main()",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        env={**os.environ, **env, "DOCSVC_THREADS": str(threads)},
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/health")
            if conn.getresponse().status == 200:
                return proc
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit("server did not start: " + log.read_text(errors="replace")[-2000:])


def rss_mb(pid: int | None) -> float | None:
    """RSS of the server: the process and its worker processes (docsvc serve --workers)."""
    if not pid:
        return None
    total = 0.0
    try:
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        for p in [pid, *map(int, kids)]:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
    except OSError:
        return None
    return total


def multipart(fields: dict[str, str], filename: str, data: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: text/plain\r\n\r\n".encode()
        + data
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


class Client(threading.Thread):
    def __init__(
        self,
        n: int,
        host: str,
        port: int,
        token: str,
        ids: list[int],
        stop_at: float,
        mix: str,
        think_s: float,
        results: dict,
    ) -> None:
        super().__init__(daemon=True)
        self.rng = random.Random(n)
        self.host, self.port, self.token, self.ids = host, port, token, ids
        self.stop_at, self.mix, self.think_s, self.results = stop_at, mix, think_s, results
        self.conn = http.client.HTTPConnection(host, port, timeout=30)

    def request(self, method: str, path: str, body: bytes | None = None, ctype: str | None = None) -> int:
        headers = {"Authorization": f"Bearer {self.token}"}
        if ctype:
            headers["Content-Type"] = ctype
        for attempt in (1, 2):
            try:
                self.conn.request(method, path, body=body, headers=headers)
                resp = self.conn.getresponse()
                resp.read()
                return resp.status
            except (OSError, http.client.HTTPException):
                self.conn.close()
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
                if attempt == 2:
                    return 0
        return 0

    def pick(self) -> tuple[str, str, str, bytes | None, str | None]:
        r = self.rng.random()
        doc = self.rng.choice(self.ids)
        if r < 0.80:
            if self.mix == "search":
                return "search", "GET", self.search_path(), None, None
            if self.rng.random() < 0.5:
                q = self.rng.choice(
                    [
                        f"doc_type={self.rng.choice(TYPES)}",
                        f"service_category={self.rng.choice(CATEGORIES)}",
                        "sort=-updated_at",
                        "sort=review_due",
                        "sort=title",
                        "",
                    ]
                )
                return "list", "GET", f"/api/v1/documents?limit=20&offset={self.rng.randint(0, 200)}&{q}", None, None
            return "detail", "GET", f"/api/v1/documents/{doc}", None, None
        if r < 0.95:
            return "download", "GET", f"/api/v1/documents/{doc}/content", None, None
        body, ctype = multipart(
            {
                "title": f"压测上传-{uuid.uuid4().hex[:8]}",
                "doc_type": "report",
                "service_category": "4.2",
                "doc_class": "user",
            },
            "upload.txt",
            text(self.rng).encode(),
        )
        return "upload", "POST", "/api/v1/documents", body, ctype

    def search_path(self) -> str:
        params = [("q", self.rng.choice(QUERIES)), ("per_page", "10")]
        f = self.rng.choice(FILTERS)
        if f:
            params.append(("filter", f))
        if self.rng.random() < 0.15:
            params.append(("sort", "date"))
        if self.rng.random() < 0.15:
            params.append(("page", "2"))
        return "/api/v1/search?" + urlencode(params)

    def run(self) -> None:
        if self.think_s:
            # People do not all press Enter in the same millisecond: stagger the first requests
            # (otherwise one burst of every client at t=0 dominates the tail of a short run).
            time.sleep(self.rng.uniform(0, 2 * self.think_s))
        while time.time() < self.stop_at:
            kind, method, path, body, ctype = self.pick()
            t0 = time.perf_counter()
            status = self.request(method, path, body, ctype)
            elapsed = time.perf_counter() - t0
            ok = status in (200, 201)
            self.results[kind].append((elapsed, ok, status))
            if self.think_s:
                # A person reads the page before the next request: exponential pauses, mean think_s.
                time.sleep(min(self.rng.expovariate(1 / self.think_s), 10 * self.think_s))


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))] * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=10_000, help="documents to fill first (default 10000)")
    ap.add_argument("--duration", type=float, default=60, help="seconds of load (default 60)")
    ap.add_argument("--clients", type=int, default=20, help="concurrent clients (default 20)")
    ap.add_argument(
        "--think",
        type=float,
        default=0.0,
        help="mean pause between a client's requests in seconds (default 0: saturation, each client "
        "sends its next request as soon as the last one is answered)",
    )
    ap.add_argument("--chars", type=int, default=2000, help="mean characters per filled document (default 2000)")
    ap.add_argument("--threads", type=int, default=8, help="waitress threads per server process (default 8)")
    ap.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="server processes (docsvc serve --workers; default: the number of cores)",
    )
    ap.add_argument("--port", type=int, default=0, help="port for the started server (default: a free one)")
    ap.add_argument("--url", help="use a running server instead (loopback only); needs --token")
    ap.add_argument(
        "--token",
        action="append",
        help="API token for --url (repeat to alternate clients between tokens, e.g. a manager's and a member's)",
    )
    ap.add_argument("--pid", type=int, help="pid of the --url server, for its RSS")
    ap.add_argument(
        "--mix",
        choices=["search", "browse"],
        default="search",
        help="what the 80 %% reads are: searches (default) or list/detail (browse)",
    )
    ap.add_argument(
        "--search",
        action="store_const",
        const="search",
        dest="mix",
        help="the search mix (the default; kept for scripts that pass it)",
    )
    ap.add_argument("--keep", action="store_true", help="keep the temporary archive")
    ap.add_argument(
        "--archive", type=Path, help="fill this folder once and reuse it on later runs (their uploads stay in it)"
    )
    args = ap.parse_args()

    tmp = None
    proc = None
    if args.url:
        parts = urlsplit(args.url)
        if parts.hostname not in ("127.0.0.1", "localhost", "::1") and not (parts.hostname or "").startswith("127."):
            raise SystemExit("only loopback targets are allowed")
        if not args.token:
            raise SystemExit("--url needs --token")
        host, port, tokens, pid = parts.hostname, parts.port or 80, args.token, args.pid
    else:
        if args.archive:
            tmp = args.archive
            saved = tmp / "bench.json"
            if saved.exists():
                env, tokens = json.loads(saved.read_text())
                print(f"reusing the archive in {tmp}")
            else:
                tmp.mkdir(parents=True, exist_ok=True)
                env, tokens = fill(tmp, args.docs, args.chars)
                saved.write_text(json.dumps([env, tokens]))
        else:
            tmp = Path(tempfile.mkdtemp(prefix="docsvc-bench-web-"))
            env, tokens = fill(tmp, args.docs, args.chars)
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", args.port))
            port = s.getsockname()[1]
        proc = start_server(env, port, args.threads, args.workers, tmp / "server.log")
        host, pid = "127.0.0.1", proc.pid

    try:
        readable = {}  # token → ids of documents it may read (members: user documents and their project's)
        probe = http.client.HTTPConnection(host, port, timeout=30)
        for token in tokens:
            probe.request("GET", "/api/v1/documents?limit=1000&sort=id", headers={"Authorization": f"Bearer {token}"})
            listing = json.loads(probe.getresponse().read())
            readable[token] = [d["id"] for d in listing["items"]] or [1]
        probe.request("GET", "/api/v1/documents?limit=1", headers={"Authorization": f"Bearer {tokens[0]}"})
        total = json.loads(probe.getresponse().read())["total"]
        rss_start = rss_mb(pid)
        results: dict[str, list] = defaultdict(list)
        stop_at = time.time() + args.duration
        clients = [
            Client(
                i,
                host,
                port,
                tokens[i % len(tokens)],
                readable[tokens[i % len(tokens)]],
                stop_at,
                args.mix,
                args.think,
                results,
            )
            for i in range(args.clients)
        ]
        think = f", think {args.think:g} s" if args.think else ", no think time"
        print(
            f"{args.clients} clients{think} for {args.duration:.0f} s against {host}:{port}, {args.mix} mix "
            f"({total} documents; {len(tokens)} token(s); server {args.workers if proc else '?'} process(es) × "
            f"{args.threads if proc else '?'} threads) …",
            flush=True,
        )
        t0 = time.perf_counter()
        for c in clients:
            c.start()
        rss_seen = [rss_start]  # every 10 s: flat means no leak, a rise that levels off is warm-up
        done = threading.Event()

        def sample() -> None:
            while not done.wait(10):
                rss_seen.append(rss_mb(pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        for c in clients:
            c.join()
        wall = time.perf_counter() - t0
        done.set()
        rss_end = rss_mb(pid)

        print(f"\n{'kind':<10}{'requests':>10}{'errors':>8}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}")
        all_times, errors = [], 0
        for kind in ("list", "detail", "search", "download", "upload"):
            rows = results.get(kind)
            if not rows:
                continue
            times = [t for t, _, _ in rows]
            bad = [s for _, ok, s in rows if not ok]
            errors += len(bad)
            all_times += times
            print(
                f"{kind:<10}{len(rows):>10}{len(bad):>8}{len(rows) / wall:>9.1f}{pct(times, 50):>9.1f}"
                f"{pct(times, 95):>9.1f}{pct(times, 99):>9.1f}" + (f"   statuses {sorted(set(bad))}" if bad else "")
            )
        print(
            f"{'all':<10}{len(all_times):>10}{errors:>8}{len(all_times) / wall:>9.1f}{pct(all_times, 50):>9.1f}"
            f"{pct(all_times, 95):>9.1f}{pct(all_times, 99):>9.1f}"
        )
        if rss_start is not None:
            print(
                f"\nserver RSS: {rss_start:.0f} MB at start, {rss_end:.0f} MB at end; every 10 s: "
                + " ".join(f"{r:.0f}" for r in rss_seen if r is not None)
            )
        # The machine may be shared: the figures mean little if something else was busy.
        print("load average at the end: " + " ".join(f"{x:.2f}" for x in os.getloadavg()) + f" ({os.cpu_count()} CPUs)")
        if errors and statistics.mean(ok for _, ok, _ in sum(results.values(), [])) < 0.99:
            sys.exit(1)
    finally:
        if proc:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        if tmp and not args.keep and not args.archive:
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp:
            print(f"archive kept in {tmp}")


if __name__ == "__main__":
    main()
