"""What the catalog's queues cost at scale: prints figures, asserts nothing.

    .venv/bin/python bench/bench_queues.py --versions 100000
    .venv/bin/python bench/bench_queues.py --postgres postgresql+psycopg://postgres@127.0.0.1:5432/test

Measured on a migrated catalog (a temporary SQLite file, or a new PostgreSQL database on the
server named, dropped afterwards) holding ``--versions`` extracted versions, one document each,
every one with suggested labels waiting for review (an import of that many files without their
types). The rows are written straight into the tables: what these queries cost does not depend
on what the rows hold.

- The embedder's queue: the background embedder asks, batch after batch, which versions still
  lack passage vectors or a meaning vector (``docsvc.adapters.vectors.pending``), and the status
  page and ``docsvc search embed`` count them (``count_pending``); once with the newest 100 still
  to embed, and once with nothing left, which is where a running server spends its time.
- The review queue as the dashboard reads it for a member of one project: how many wait, and
  the oldest five (``SqlCatalog.count_review_queue``, ``review_queue``).
- Suggestions: one document's, which every confirmation, correction and new version reads
  (``SqlCatalog.suggestions``), and the training set, the documents with none pending, which
  ``docsvc labels train`` and the background trainer read (``confirmed_labels``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).parent))

from bench_blobs import fresh_database  # noqa: E402

from docsvc.adapters import vectors  # noqa: E402
from docsvc.adapters.catalog import SqlCatalog  # noqa: E402
from docsvc.adapters.tables import documents, extractions, suggestions, versions  # noqa: E402

MODEL = "bench-model"
EXTRACTOR = "bench-extractor"
BATCH = 10_000
MISSING = 100  # the newest versions left to embed in the first measurement


def _filler(table: sa.Table, now: dt.datetime) -> dict[str, object]:
    """A value for every column that must have one: the rows only need to exist."""
    by_type = {
        sa.String: "x",
        sa.Text: "",
        sa.Integer: 0,
        sa.BigInteger: 0,
        sa.Boolean: False,
        sa.Float: 0.0,
        sa.DateTime: now,
        sa.Date: now.date(),
        sa.JSON: {},
        sa.LargeBinary: b"\0",
    }
    out: dict[str, object] = {}
    for column in table.c:
        if column.nullable or column.primary_key or column.server_default is not None:
            continue
        out[column.name] = next(v for t, v in by_type.items() if isinstance(column.type, t))
    return out


def _sha(i: int) -> str:
    return hashlib.sha256(str(i).encode()).hexdigest()


def _embed(conn: sa.Connection, ids: range, now: dt.datetime) -> None:
    """Stand-in passage vectors and meaning vectors for these versions."""
    rows = [{"version_id": i, "text_key": _sha(i), "passages": 1, "vectors": b"\0"} for i in ids]
    vectors.put(conn, rows, MODEL, now)
    vectors.put_meanings(conn, {_sha(i): b"\0" for i in ids}, MODEL, now)


def fill(engine: sa.Engine, n: int, *, missing: int) -> None:
    """n extracted versions, one per document, all embedded but the newest ``missing``."""
    now = dt.datetime.now(dt.UTC)
    doc, ver, ext = _filler(documents, now), _filler(versions, now), _filler(extractions, now)
    doc |= {"doc_class": "user", "service_category": "4.2", "doc_type": "report", "status": "draft"}
    waiting = _filler(suggestions, now) | {"state": "pending", "needs_review": True}
    for start in range(1, n + 1, BATCH):
        ids = range(start, min(start + BATCH, n + 1))
        with engine.begin() as conn:
            conn.execute(documents.insert(), [{**doc, "id": i} for i in ids])
            conn.execute(versions.insert(), [{**ver, "id": i, "document_id": i, "sha256": _sha(i)} for i in ids])
            conn.execute(
                extractions.insert(), [{**ext, "sha256": _sha(i), "extractor_version": EXTRACTOR} for i in ids]
            )
            conn.execute(suggestions.insert(), [{**waiting, "document_id": i, "version_id": i} for i in ids])
            _embed(conn, range(start, min(ids.stop, n - missing + 1)), now)
        print(f"\r  {ids.stop - 1:,} of {n:,} versions written", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    analyze(engine)


def analyze(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")


def measure(label: str, calls: dict[str, Callable[[], int]], rounds: int) -> None:
    for name, call in calls.items():
        times = []
        for _ in range(rounds):
            t = time.perf_counter()
            found = call()
            times.append((time.perf_counter() - t) * 1000)
        print(f"  {label:18} {name:16} {found:7d} found   best {min(times):8.1f} ms   worst {max(times):8.1f} ms")


def embedder_queue(conn: sa.Connection) -> dict[str, Callable[[], int]]:
    return {
        "count_pending": lambda: vectors.count_pending(conn, MODEL, MODEL, EXTRACTOR),
        "pending (32)": lambda: len(vectors.pending(conn, MODEL, MODEL, EXTRACTOR, 32)),
    }


def review_queue(catalog: SqlCatalog) -> dict[str, Callable[[], int]]:
    member = frozenset({"银行核心系统"})
    return {
        "count": lambda: catalog.count_review_queue(review_only=True, site_projects=member),
        "oldest five": lambda: len(catalog.review_queue(review_only=True, site_projects=member, limit=5)),
    }


def labels(catalog: SqlCatalog, n: int) -> dict[str, Callable[[], int]]:
    return {
        "one document's": lambda: len(catalog.suggestions(n // 2)),
        "training set": lambda: len(catalog.confirmed_labels()),
    }


def run(url: str, n: int, rounds: int) -> None:
    catalog = SqlCatalog(url, durable=False)
    engine = catalog.engine
    try:
        catalog.migrate()
        print(f"{engine.dialect.name}: {n:,} versions", flush=True)
        fill(engine, n, missing=MISSING)
        with engine.connect() as conn:
            measure(f"{MISSING} to embed", embedder_queue(conn), rounds)
        with engine.begin() as conn:
            _embed(conn, range(n - MISSING + 1, n + 1), dt.datetime.now(dt.UTC))
        analyze(engine)
        with engine.connect() as conn:
            measure("nothing to embed", embedder_queue(conn), rounds)
        measure("review, dashboard", review_queue(catalog), rounds)
        measure("suggestions", labels(catalog, n), rounds)
    finally:
        engine.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--versions", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=3, help="times each query is asked")
    ap.add_argument("--postgres", metavar="URL", help="measure on this PostgreSQL server (a new database on it)")
    a = ap.parse_args()
    if a.postgres:
        url, drop = fresh_database(a.postgres)
        try:
            run(url, a.versions, a.rounds)
        finally:
            drop()
    else:
        with tempfile.TemporaryDirectory(prefix="docsvc-bench-queues-") as folder:
            run(f"sqlite:///{folder}/catalog.sqlite3", a.versions, a.rounds)


if __name__ == "__main__":
    main()
