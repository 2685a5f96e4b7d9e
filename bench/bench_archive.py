"""Ingest throughput of the archive service layer: N documents of ~10 KB, fsync on.

    python bench/bench_archive.py [--count 1000] [--postgres URL]

Prints adds/s and p50/p95 per add for SQLite (and PostgreSQL when a URL is given).
Each add is the full path: content sniffing, metadata validation, durable blob write
(fsync + rename + directory fsync), catalog transaction with the audit chain and outbox row.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
import uuid

import sqlalchemy as sa

from docsvc.app import open_docsvc

WORDS = (
    "服务 合同 甲方 乙方 运维 可用性 响应 故障 变更 验收 交付 数据 系统 集成 监理 测试 培训 保密 违约 "
    "争议 仲裁 费用 支付 期限 服务等级 信息 管理 计划 目标 人员 职责 流程 质量 安全 可靠性 报告"
).split()


def document(rng: random.Random, size: int = 10_000) -> bytes:
    out, n = [], 0
    while n < size:
        w = rng.choice(WORDS)
        out.append(w)
        n += len(w.encode()) + 1
    return " ".join(out).encode()


def run(label: str, url: str | None, count: int) -> None:
    rng = random.Random(42)
    with tempfile.TemporaryDirectory() as tmp:
        conf = {"ARCHIVE_DIR": f"{tmp}/archive", "INDEX_DIR": f"{tmp}/index"}
        if url:
            conf["DATABASE_URL"] = url
        svc = open_docsvc(conf)
        payloads = [document(rng) + f" #{i}".encode() for i in range(count)]
        times = []
        start = time.perf_counter()
        for i, data in enumerate(payloads):
            t0 = time.perf_counter()
            svc.archive.add_document(
                data,
                f"doc-{i}.txt",
                {
                    "title": f"运维报告 {i}",
                    "doc_type": "report",
                    "service_category": "4.2",
                    "doc_class": "site",
                    "project": f"项目{i % 20}",
                },
                actor="bench",
            )
            times.append(time.perf_counter() - t0)
        total = time.perf_counter() - start
        assert svc.verify_audit().ok
        svc.close()
    q = statistics.quantiles(times, n=100)
    print(
        f"{label:<11} {count} adds in {total:.2f} s = {count / total:7.1f} adds/s   "
        f"p50 {q[49] * 1000:.2f} ms   p95 {q[94] * 1000:.2f} ms"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--postgres", default="", help="admin URL, e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = ap.parse_args()
    run("SQLite", None, args.count)
    if args.postgres:
        admin = sa.create_engine(args.postgres, isolation_level="AUTOCOMMIT")
        name = f"docsvc_bench_{uuid.uuid4().hex[:8]}"
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            run("PostgreSQL", sa.engine.make_url(args.postgres).set(database=name).render_as_string(False), args.count)
        finally:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
