"""Render-and-archive throughput of the drafting path: the shipped contract with a 50-row
payment schedule, through TemplateService.generate (validate the form, render in the sandboxed
worker, archive the version with provenance: blob fsync, catalog, audit chain, outbox).

    python bench/bench_generate.py [--count 100] [--threads 2]

Prints docs/s for one and for ``--threads`` concurrent callers (as the web server sees them),
and for ``generate_batch`` (the CLI's CSV/XLSX batch, one row per render worker).

PDF figures (warm converter against cold soffice) come from bench/bench_render_pdf.py.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

from docsvc.app import open_docsvc

ROOT = Path(__file__).resolve().parents[1]
ROWS = 50


def contract_data(sample: dict) -> dict:
    data = copy.deepcopy(sample)
    total = Decimal(data["total_fee"]["amount"])
    row = data["payment_schedule"][0]
    share, ratio = (total / ROWS).quantize(Decimal("0.01")), Decimal(100) / ROWS
    rows = []
    for i in range(ROWS):
        r = copy.deepcopy(row)
        r["phase"] = f"第 {i + 1} 期"
        r["ratio"] = str(ratio)
        r["amount"] = {"amount": str(share if i < ROWS - 1 else total - share * (ROWS - 1)), "currency": "CNY"}
        rows.append(r)
    data["payment_schedule"] = rows
    return data


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        svc = open_docsvc({"ARCHIVE_DIR": f"{tmp}/archive", "INDEX_DIR": f"{tmp}/index",
                           "TEMPLATES_DIR": str(ROOT / "templates")})
        data = contract_data(svc.templates.get("contract").schema.sample())
        svc.templates.generate("contract", data, actor="bench")  # warm the render worker
        for threads in sorted({1, args.threads}):
            times: list[float] = []

            def one(_: int) -> None:
                t0 = time.perf_counter()
                svc.templates.generate("contract", data, actor="bench")
                times.append(time.perf_counter() - t0)

            start = time.perf_counter()
            with ThreadPoolExecutor(threads) as pool:
                list(pool.map(one, range(args.count)))
            took = time.perf_counter() - start
            q = statistics.quantiles(times, n=20)
            print(f"generate contract ({ROWS}-row payment table), {threads} thread(s): {args.count / took:5.1f} docs/s"
                  f"   p50 {statistics.median(times) * 1000:.0f} ms   p95 {q[18] * 1000:.0f} ms")
        start = time.perf_counter()
        batch = svc.templates.generate_batch("contract", [data] * args.count, actor="bench")
        took = time.perf_counter() - start
        assert batch.failed == 0
        print(f"generate_batch contract ({ROWS}-row payment table), {args.count} rows: {args.count / took:5.1f} docs/s")
        assert svc.verify_audit().ok
        svc.close()


if __name__ == "__main__":
    main()
