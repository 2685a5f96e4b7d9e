"""What the embedder's queue costs at scale: prints figures, asserts nothing.

    .venv/bin/python bench/bench_vector_queue.py --versions 100000
    .venv/bin/python bench/bench_vector_queue.py --postgres postgresql+psycopg://postgres@127.0.0.1:5432/test

The background embedder asks the catalog, batch after batch, which versions still lack passage
vectors or a meaning vector (``docsvc.adapters.vectors.pending``), and the status page and
``docsvc search embed`` count them (``count_pending``). Both run over every version, so they are
measured on a migrated catalog (a temporary SQLite file, or a new PostgreSQL database on the
server named, dropped afterwards) holding ``--versions`` extracted versions: once with the
newest 100 still to embed, and once with nothing left, which is where a running server spends
its time. The rows are written straight into the tables (one document per version, stand-in
vectors): what these queries cost does not depend on what the rows hold.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).parent))

from bench_blobs import fresh_database  # noqa: E402

from docsvc.adapters import vectors  # noqa: E402
from docsvc.adapters.catalog import SqlCatalog  # noqa: E402
from docsvc.adapters.tables import documents, extractions, versions  # noqa: E402

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
    for start in range(1, n + 1, BATCH):
        ids = range(start, min(start + BATCH, n + 1))
        with engine.begin() as conn:
            conn.execute(documents.insert(), [{**doc, "id": i} for i in ids])
            conn.execute(versions.insert(), [{**ver, "id": i, "document_id": i, "sha256": _sha(i)} for i in ids])
            conn.execute(
                extractions.insert(), [{**ext, "sha256": _sha(i), "extractor_version": EXTRACTOR} for i in ids]
            )
            _embed(conn, range(start, min(ids.stop, n - missing + 1)), now)
        print(f"\r  {ids.stop - 1:,} of {n:,} versions written", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    analyze(engine)


def analyze(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")


def measure(engine: sa.Engine, label: str, rounds: int) -> None:
    with engine.connect() as conn:
        for name, call in (
            ("count_pending", lambda: vectors.count_pending(conn, MODEL, EXTRACTOR)),
            ("pending (32)", lambda: len(vectors.pending(conn, MODEL, EXTRACTOR, 32))),
        ):
            times = []
            for _ in range(rounds):
                t = time.perf_counter()
                found = call()
                times.append((time.perf_counter() - t) * 1000)
            print(f"  {label:18} {name:14} {found:6d} found   best {min(times):8.1f} ms   worst {max(times):8.1f} ms")


def run(url: str, n: int, rounds: int) -> None:
    catalog = SqlCatalog(url, durable=False)
    engine = catalog.engine
    try:
        catalog.migrate()
        print(f"{engine.dialect.name}: {n:,} versions", flush=True)
        fill(engine, n, missing=MISSING)
        measure(engine, f"{MISSING} to embed", rounds)
        with engine.begin() as conn:
            _embed(conn, range(n - MISSING + 1, n + 1), dt.datetime.now(dt.UTC))
        analyze(engine)
        measure(engine, "nothing to embed", rounds)
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
        with tempfile.TemporaryDirectory(prefix="docsvc-bench-queue-") as folder:
            run(f"sqlite:///{folder}/catalog.sqlite3", a.versions, a.rounds)


if __name__ == "__main__":
    main()
