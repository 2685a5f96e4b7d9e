"""Generate-and-archive throughput of the drafting path against raw docxtpl, the warm PDF, and
the CLI's converter lifecycle — one run, figures only.

    python bench/bench_generate.py [--count 40] [--threads 2] [--pdfs 10] [--no-pdf]

1. For every shipped template (its schema's sample data; the contract with a 50-row payment
   schedule): docs/s of raw docxtpl rendering of the same template and context in this process
   (no sandbox process, no archive: the baseline), then of TemplateService.prepare +
   generate_draft (validate, render in the sandboxed worker, archive the version with its
   provenance: blob fsync, catalog, audit chain, outbox) serially and from ``--threads``
   callers, and the ratio to raw (target: at least 0.9×). And ``generate_batch``.
2. Warm PDF: p50/p95 of converting the rendered contract with the warm converter (target p50
   at most 0.35 s).
3. The CLI: wall time of ``docsvc generate contract --pdf`` in a fresh process (LibreOffice
   starts cold), and how many LibreOffice processes it left alive (target: 0).

The machine's load average is printed too: on a shared machine figures move with it.
"""

from __future__ import annotations

import argparse
import copy
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

from docxtpl import DocxTemplate
from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

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


def form_data(svc, slug: str) -> dict:
    sample = svc.templates.get(slug).schema.sample()
    if slug != "contract":
        return sample
    try:
        return contract_data(sample)
    except (KeyError, TypeError, ArithmeticError):  # the contract's schema moved on: its sample as is
        return sample


def raw_rate(template: bytes, context: dict, n: int) -> float:
    """Raw docxtpl in this process: the same template and validated context, no archive."""
    start = time.perf_counter()
    for _ in range(n):
        tpl = DocxTemplate(io.BytesIO(template))
        tpl.render(context, jinja_env=SandboxedEnvironment(undefined=StrictUndefined, autoescape=True), autoescape=True)
        tpl.save(io.BytesIO())
    return n / (time.perf_counter() - start)


_serial = iter(range(1, 10**9))


def numbered(svc, slug: str, data: dict) -> dict:
    """The data with numbers of its own where the schema wants them unique in the archive."""
    fields = [c.params["field"] for c in svc.templates.get(slug).schema.checks if c.rule == "unique_in_archive"]
    return {**data, **{f: f"BENCH-{next(_serial):06d}" for f in fields}}


def generate_rate(svc, slug: str, data: dict, n: int, threads: int) -> tuple[float, list[float]]:
    templates = svc.templates
    times: list[float] = []

    def one(_: int) -> None:
        form = numbered(svc, slug, data)
        t0 = time.perf_counter()
        draft = templates.prepare(slug, form)
        templates.generate_draft(draft, actor="bench")
        times.append(time.perf_counter() - t0)

    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, range(n)))
    return n / (time.perf_counter() - start), times


def bench_templates(svc, args) -> None:
    print(
        f"{'template':<20}{'raw docxtpl':>14}{'generate 1×':>14}{'ratio':>7}"
        f"{f'generate {args.threads}×':>14}{'ratio':>7}   p50 (1×)"
    )
    for t in svc.templates.list():
        if t.slug.startswith("report_"):
            continue
        data = form_data(svc, t.slug)
        draft = svc.templates.prepare(t.slug, numbered(svc, t.slug, data))
        svc.templates.generate_draft(draft, actor="bench")  # warm the worker and the caches
        raw = raw_rate(svc.templates.template_bytes(t), draft.context, args.count)
        serial, times = generate_rate(svc, t.slug, data, args.count, 1)
        parallel, _ = generate_rate(svc, t.slug, data, args.count, args.threads)
        print(
            f"{t.slug:<20}{raw:>10.1f}/s  {serial:>10.1f}/s {serial / raw:>5.2f}×{parallel:>10.1f}/s "
            f"{parallel / raw:>5.2f}×   {statistics.median(times) * 1000:.0f} ms"
        )
    data = form_data(svc, "contract")
    start = time.perf_counter()
    batch = svc.templates.generate_batch(
        "contract", [numbered(svc, "contract", data) for _ in range(args.count)], actor="bench"
    )
    assert batch.failed == 0
    print(f"generate_batch contract, {args.count} rows: {args.count / (time.perf_counter() - start):.1f} docs/s")


def bench_warm_pdf(svc, n: int) -> None:
    docx = svc.templates.render("contract", form_data(svc, "contract")).docx
    converter = svc.converter()
    t0 = time.perf_counter()
    converter.convert(docx)  # starts LibreOffice
    print(f"warm converter start + first PDF: {time.perf_counter() - t0:.1f} s (mode {converter.health()['mode']})")
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        converter.convert(docx)
        times.append(time.perf_counter() - t0)
    q = statistics.quantiles(times, n=20) if len(times) > 1 else times * 19
    print(f"warm PDF, contract: p50 {statistics.median(times):.2f} s   p95 {q[18]:.2f} s   (target p50 ≤ 0.35 s)")


def bench_cli(tmp: str) -> None:
    from docsvc.adapters.pdf import libreoffice_processes

    marker = ("DOCSVC_BENCH_RUN", uuid.uuid4().hex)
    env = {
        **os.environ,
        "DOCSVC_ARCHIVE_DIR": f"{tmp}/cli-archive",
        "DOCSVC_INDEX_DIR": f"{tmp}/cli-index",
        "DOCSVC_TEMPLATES_DIR": str(ROOT / "templates"),
        "DOCSVC_ACTOR": "bench",
        marker[0]: marker[1],
    }
    env.pop("DOCSVC_DATABASE_URL", None)
    cli = [sys.executable, "-c", "from docsvc.cli import main; main()"]
    sample = subprocess.run([*cli, "template", "sample", "contract"], env=env, capture_output=True, check=True)
    path = Path(tmp) / "contract.json"
    path.write_bytes(sample.stdout)
    t0 = time.perf_counter()
    done = subprocess.run(
        [*cli, "generate", "contract", "--data", str(path), "--pdf", "--json"], env=env, capture_output=True
    )
    took = time.perf_counter() - t0
    left = libreoffice_processes(environ=marker)
    ok = done.returncode == 0 and json.loads(done.stdout)["renditions"]
    print(
        f"CLI generate contract --pdf: {took:.1f} s wall{'' if ok else ' (FAILED: ' + done.stderr.decode()[-200:] + ')'}"
        f"   LibreOffice processes alive afterwards: {len(left)} (target 0)"
    )
    for pid in left:  # never leave them behind, even when the figure is wrong
        os.kill(pid, 9)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=40)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--pdfs", type=int, default=10)
    ap.add_argument("--no-pdf", action="store_true")
    args = ap.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp:
        svc = open_docsvc(
            {"ARCHIVE_DIR": f"{tmp}/archive", "INDEX_DIR": f"{tmp}/index", "TEMPLATES_DIR": str(ROOT / "templates")}
        )
        try:
            bench_templates(svc, args)
            if not args.no_pdf:
                bench_warm_pdf(svc, args.pdfs)
            assert svc.verify_audit().ok
        finally:
            svc.close()
        if not args.no_pdf:
            bench_cli(tmp)


if __name__ == "__main__":
    main()
