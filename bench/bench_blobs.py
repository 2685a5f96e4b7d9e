"""Archive adds/s and downloads/s with the blobs in the local folder and in an S3 object store.

    python bench/bench_blobs.py [--count 500] [--size 100000] [--threads 4] [--postgres URL]
    python bench/bench_blobs.py --endpoint http://127.0.0.1:9000 --bucket docsvc   # a running store

Both runs use the same catalog kind (SQLite, or PostgreSQL with --postgres) and the same
documents, so the difference is the blob store alone. Without --endpoint an S3 protocol server
(moto, from the test extras) is started in its own process on loopback, so it does not share this
process's interpreter lock. Each add is the whole path a web upload takes below HTTP: sniffing,
metadata checks, the blob write (local: fsync + rename; S3: conditional PUT, then read back and
re-hashed), the catalog transaction with the audit chain. Each download is ``read_version``: the
blob read, re-hashed and the read audited. Prints adds/s and downloads/s, one thread and
``--threads`` threads, with p50/p95, and the S3 rate as a share of the local one (target ≥ 0.5).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_archive import document  # noqa: E402

from docsvc.app import open_docsvc  # noqa: E402

META = {"doc_type": "report", "service_category": "4.2", "doc_class": "user", "project": "压测"}


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))] * 1000


def start_s3() -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # moto's S3 served by waitress: HTTP/1.1 keep-alive like a real store (moto's own werkzeug
    # server opens a new connection per request, which would be measured instead of docsvc).
    serve = (
        "import waitress; from moto.moto_server.werkzeug_app import DomainDispatcherApplication, "
        f"create_backend_app; waitress.serve(DomainDispatcherApplication(create_backend_app), "
        f"host='127.0.0.1', port={port}, threads=8, _quiet=True)"
    )
    proc = subprocess.Popen([sys.executable, "-c", serve], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("the S3 protocol server did not start (pip install 'moto[server]')")


def fresh_database(url: str) -> tuple[str, Callable[[], None]]:
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    name = f"docsvc_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()

    return sa.engine.make_url(url).set(database=name).render_as_string(hide_password=False), drop


def run(label: str, extra: dict, args, payloads: list[bytes]) -> dict[str, float]:
    tmp = Path(tempfile.mkdtemp(prefix="docsvc-bench-blobs-"))
    drop = None
    conf = {
        "ARCHIVE_DIR": str(tmp / "archive"),
        "INDEX_DIR": str(tmp / "index"),
        "FSYNC": True,
        "THREADS": args.threads,
        **extra,
    }
    if args.postgres:
        conf["DATABASE_URL"], drop = fresh_database(args.postgres)
    svc = open_docsvc(conf)
    figures = {}
    try:
        half = len(payloads) // 2

        def add(i: int) -> float:
            t0 = time.perf_counter()
            svc.archive.add_document(payloads[i], f"doc-{i}.txt", {**META, "title": f"压测文档 {i}"}, actor="bench")
            return time.perf_counter() - t0

        ids: list[int] = []

        def download(i: int) -> float:
            t0 = time.perf_counter()
            svc.archive.read_version(ids[i % len(ids)], actor="bench")
            return time.perf_counter() - t0

        for kind, fn, n_one, n_many in (
            ("add", add, half, len(payloads) - half),
            ("download", download, args.count, args.count),
        ):
            t0 = time.perf_counter()
            one = [fn(i) for i in range(n_one)]
            rate_one = n_one / (time.perf_counter() - t0)
            t0 = time.perf_counter()
            with ThreadPoolExecutor(args.threads) as pool:
                start = n_one if kind == "add" else 0
                many = list(pool.map(fn, range(start, start + n_many)))
            rate_many = n_many / (time.perf_counter() - t0)
            if kind == "add":
                with svc.catalog.engine.connect() as conn:
                    ids = [r[0] for r in conn.exec_driver_sql("select id from documents")]
            figures[f"{kind}_1"], figures[f"{kind}_n"] = rate_one, rate_many
            print(
                f"{label:<8}{kind:<10}{rate_one:>10.1f}{pct(one, 50):>9.1f}{pct(one, 95):>9.1f}"
                f"{rate_many:>12.1f}{pct(many, 50):>9.1f}{pct(many, 95):>9.1f}",
                flush=True,
            )
        assert svc.check().ok
    finally:
        svc.close()
        if drop:
            drop()
        shutil.rmtree(tmp, ignore_errors=True)
    return figures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=500, help="documents added, then downloads made (default 500)")
    ap.add_argument("--size", type=int, default=100_000, help="bytes per document (default 100000)")
    ap.add_argument("--threads", type=int, default=4, help="concurrent adds/downloads in the second pass (default 4)")
    ap.add_argument("--postgres", help="a PostgreSQL URL: the catalog there (a fresh database per run)")
    ap.add_argument("--endpoint", help="an S3-compatible store to use instead of starting one")
    ap.add_argument("--bucket", help="bucket on --endpoint (default: a new one)")
    args = ap.parse_args()

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench-secret")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    proc = None
    endpoint = args.endpoint
    if not endpoint:
        proc, endpoint = start_s3()
    try:
        import boto3

        bucket = args.bucket or f"docsvc-bench-{uuid.uuid4().hex[:8]}"
        if not args.bucket:
            boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=bucket)
        rng = random.Random(42)
        payloads = [document(rng, args.size) + f" #{i}".encode() for i in range(args.count)]
        catalog = "PostgreSQL" if args.postgres else "SQLite"
        print(
            f"{args.count} documents of {args.size / 1000:.0f} KB, {catalog} catalog, fsync on; "
            f"S3 at {endpoint}{' (moto, its own process)' if proc else ''}"
        )
        print(
            f"{'store':<8}{'op':<10}{'1 thread/s':>10}{'p50 ms':>9}{'p95 ms':>9}"
            f"{f'{args.threads} threads/s':>12}{'p50 ms':>9}{'p95 ms':>9}"
        )
        local = run("local", {}, args, payloads)
        s3 = run(
            "s3",
            {"BLOB_URL": f"s3://{bucket}/bench-{uuid.uuid4().hex[:6]}", "S3_ENDPOINT_URL": endpoint},
            args,
            payloads,
        )
        print(
            "\nS3 as a share of the local folder: "
            + ", ".join(
                f"{k.replace('_1', ' 1 thread').replace('_n', f' {args.threads} threads')} {s3[k] / local[k]:.2f}"
                for k in local
            )
        )
        print("load average at the end: " + " ".join(f"{x:.2f}" for x in os.getloadavg()) + f" ({os.cpu_count()} CPUs)")
    finally:
        if proc:
            proc.terminate()
            proc.wait(10)


if __name__ == "__main__":
    main()
