"""Template rendering and PDF conversion: throughput and latency, measured in one run.

    python bench/bench_render_pdf.py [--renders 200] [--pdfs 20] [--cold 8] [--no-pdf] [--builtin]

Rendering: a contract with a 50-row payment table (the shipped templates/contract when it is
there, with its schema's sample data and every list stretched to 50 rows; otherwise a
built-in contract-like template), rendered

* by raw docxtpl in this process (SandboxedEnvironment + autoescape, no isolation): the
  baseline, serial, i.e. one core;
* by ``render_docx`` (sandbox + budgets in long-lived, rlimited worker processes, output
  opened with python-docx), serially with one worker, and from N threads with N workers
  (N = cores).

PDF: the rendered contract through the warm converter (unoserver) and through a cold
``soffice --convert-to pdf`` per document: p50/p95 of each.

Prints figures only. The machine's load average is printed too: on a shared machine
figures move with it.
"""

from __future__ import annotations

import argparse
import copy
import io
import os
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

import docx
from docxtpl import DocxTemplate
from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from docsvc.core.templating import RenderPool, render_docx

ROOT = Path(__file__).resolve().parents[1]
ROWS = 50


def builtin_contract() -> tuple[bytes, dict[str, Any]]:
    """About four pages: 30 clauses, a header and footer, and a 50-row payment table."""
    d = docx.Document()
    d.add_heading("信息服务管理合同 {{ contract_no }}", 0)
    for i in range(30):
        d.add_paragraph(
            f"第{i + 1}条 甲方 {{{{ party_a.name }}}} 委托乙方 {{{{ party_b.name }}}} 提供信息系统运行维护"
            "服务，服务期限自 {{ start_date }} 起，乙方应按照服务等级协议约定的响应时间和可用性目标"
            "履行义务，甲方应按期支付服务费用。"
        )
    table = d.add_table(rows=4, cols=4)
    for cell, text in zip(table.rows[0].cells, ("期次", "金额（元）", "付款条件", "日期")):
        cell.text = text
    table.rows[1].cells[0].text = "{%tr for row in payment_schedule %}"
    for cell, text in zip(
        table.rows[2].cells, ("{{ row.phase }}", "{{ row.amount }}", "{{ row.condition }}", "{{ row.due_date }}")
    ):
        cell.text = text
    table.rows[3].cells[0].text = "{%tr endfor %}"
    d.sections[0].header.paragraphs[0].text = "合同编号：{{ contract_no }}"
    d.sections[0].footer.paragraphs[0].text = "甲方：{{ party_a.name }}"
    buf = io.BytesIO()
    d.save(buf)
    context = {
        "contract_no": "ZHYF-HT-2026-0315",
        "start_date": "2026年1月1日",
        "party_a": {"name": "大连长兴湾物流集团有限公司"},
        "party_b": {"name": "大连云海信息技术有限公司"},
        "payment_schedule": [
            {
                "phase": f"第{i + 1}期",
                "amount": f"{(i + 1) * 12500:,}.00",
                "condition": "上一季度服务验收合格后支付",
                "due_date": f"2026年{i % 12 + 1}月15日",
            }
            for i in range(ROWS)
        ],
    }
    return buf.getvalue(), context


def shipped_contract() -> tuple[bytes, dict[str, Any]] | None:
    directory = ROOT / "templates" / "contract"
    if not (directory / "template.docx").is_file():
        return None
    try:
        from docsvc.core.schema import load_schema

        schema = load_schema(directory / "schema.json")
        context = schema.validate(schema.sample())
    except Exception as exc:  # noqa: BLE001 - the schema module is someone else's and may be mid-change
        print(f"(shipped contract not usable: {type(exc).__name__}: {exc}; using built-in)")
        return None
    return (directory / "template.docx").read_bytes(), _stretch_lists(context)


def _stretch_lists(value: Any) -> Any:
    """Every list of rows becomes ROWS rows long (repeating its rows), to match the brief."""
    if isinstance(value, dict):
        return {k: _stretch_lists(v) for k, v in value.items()}
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return [copy.deepcopy(value[i % len(value)]) for i in range(ROWS)]
    return value


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.1f} ms"


def bench_raw(template: bytes, context: dict[str, Any], n: int) -> list[float]:
    times = []
    for _ in range(n):
        started = time.perf_counter()
        tpl = DocxTemplate(io.BytesIO(template))
        env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=True)
        tpl.render(context, jinja_env=env, autoescape=True)
        tpl.save(io.BytesIO())
        times.append(time.perf_counter() - started)
    return times


def bench_isolated(template: bytes, context: dict[str, Any], n: int, threads: int) -> tuple[float, list[float]]:
    pool = RenderPool(threads)
    pool.warm()
    render_docx(template, context, pool=pool)  # compile caches in every worker, roughly
    times: list[float] = []
    lock = threading.Lock()
    per_thread = n // threads

    def work() -> None:
        for _ in range(per_thread):
            started = time.perf_counter()
            render_docx(template, context, pool=pool)
            with lock:
                times.append(time.perf_counter() - started)

    started = time.perf_counter()
    workers = [threading.Thread(target=work) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    wall = time.perf_counter() - started
    pool.close()
    return per_thread * threads / wall, times


def bench_interleaved(template: bytes, context: dict[str, Any], n: int) -> tuple[list[float], list[float]]:
    """Raw docxtpl and render_docx (one worker) in alternating blocks, serially.

    On a shared machine the load moves during a run; alternating gives both the same load.
    """
    pool = RenderPool(1)
    render_docx(template, context, pool=pool)
    raw: list[float] = []
    isolated: list[float] = []
    for _ in range(max(1, n // 10)):
        raw += bench_raw(template, context, 10)
        for _ in range(10):
            started = time.perf_counter()
            render_docx(template, context, pool=pool)
            isolated.append(time.perf_counter() - started)
    pool.close()
    return raw, isolated


def bench_worker_start(template: bytes) -> list[float]:
    """A new worker's first task minus its second: the cost of starting a worker."""
    costs = []
    for _ in range(5):
        pool = RenderPool(1)
        started = time.perf_counter()
        render_docx(template, {}, pool=pool)
        first = time.perf_counter() - started
        started = time.perf_counter()
        render_docx(template, {}, pool=pool)
        costs.append(first - (time.perf_counter() - started))
        pool.close()
    return costs


def bench_pdf(rendered: bytes, warm_n: int, cold_n: int) -> None:
    from docsvc.adapters.pdf import LibreOfficeConverter, SofficeConverter
    from docsvc.errors import Unavailable

    try:
        warm = LibreOfficeConverter(cold_fallback=False)
        started = time.perf_counter()
        warm.start()
        print(f"warm converter start (unoserver + soffice): {time.perf_counter() - started:.1f} s")
    except Unavailable as exc:
        print(f"PDF: skipped, {exc.en}")
        return
    try:
        warm.convert(rendered)  # first document loads the Writer filters
        times = []
        for _ in range(warm_n):
            started = time.perf_counter()
            pdf = warm.convert(rendered)
            times.append(time.perf_counter() - started)
        print(
            f"PDF warm (unoserver):   p50 {ms(statistics.median(times))}  "
            f"p95 {ms(pct(times, 0.95))}  n={warm_n}  ({len(pdf) // 1024} KiB)"
        )
    finally:
        warm.close()
    cold = SofficeConverter()
    try:
        times = []
        for _ in range(cold_n):
            started = time.perf_counter()
            cold.convert(rendered)
            times.append(time.perf_counter() - started)
        print(f"PDF cold (soffice CLI): p50 {ms(statistics.median(times))}  p95 {ms(pct(times, 0.95))}  n={cold_n}")
    finally:
        cold.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--renders", type=int, default=200)
    parser.add_argument("--pdfs", type=int, default=20)
    parser.add_argument("--cold", type=int, default=8)
    parser.add_argument("--no-pdf", action="store_true")
    parser.add_argument(
        "--builtin", action="store_true", help="use the built-in contract even when templates/contract exists"
    )
    args = parser.parse_args()

    shipped = None if args.builtin else shipped_contract()
    template, context = shipped or builtin_contract()
    cores = os.cpu_count() or 1
    print(
        f"template: {'templates/contract (shipped)' if shipped else 'built-in contract'}, "
        f"{len(template) // 1024} KiB, lists stretched to {ROWS} rows; {cores} cores; "
        f"load average {os.getloadavg()[0]:.2f}"
    )

    rendered = render_docx(template, context, pool=RenderPool(1))
    pages_hint = len(docx.Document(io.BytesIO(rendered)).paragraphs)
    print(f"rendered DOCX: {len(rendered) // 1024} KiB, {pages_hint} paragraphs")

    bench_raw(template, context, 5)
    raw, isolated = bench_interleaved(template, context, args.renders)
    print(
        f"raw docxtpl, in-process, serial:     {len(raw) / sum(raw):6.1f} renders/s  "
        f"p50 {ms(statistics.median(raw))}  p95 {ms(pct(raw, 0.95))}"
    )
    print(
        f"render_docx, 1 worker, serial:       {len(isolated) / sum(isolated):6.1f} renders/s  "
        f"p50 {ms(statistics.median(isolated))}  p95 {ms(pct(isolated, 0.95))}  "
        f"(same run, alternating blocks of 10)"
    )
    rate, times = bench_isolated(template, context, args.renders, cores)
    print(
        f"render_docx, {cores} workers, {cores} threads:   {rate:6.1f} renders/s  "
        f"p50 {ms(statistics.median(times))}  p95 {ms(pct(times, 0.95))}"
    )
    small = io.BytesIO()
    docx.Document().save(small)
    starts = bench_worker_start(small.getvalue())
    print(
        f"new worker's first render minus its second (process start, imports, empty "
        f"compile cache): p50 {ms(statistics.median(starts))}"
    )
    print(f"load average after rendering: {os.getloadavg()[0]:.2f}")

    if not args.no_pdf:
        bench_pdf(rendered, args.pdfs, args.cold)
    return 0


if __name__ == "__main__":
    sys.exit(main())
