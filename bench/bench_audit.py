"""The cost of signed audit checkpoints: archive adds/s with and without checkpointing.

    python bench/bench_audit.py [--block 25] [--blocks 8] [--every 1.0] [--postgres URL]

Adds ~10 KB documents through the service layer (fsync on, as bench_archive.py) to one archive in
blocks that alternate between checkpoints off and a thread signing a checkpoint every ``--every``
seconds into a folder (the servers' default is every 10 minutes, so this is hundreds of times more
often than in use), and compares the adds/s of the two (target: at most 5 % slower). Also prints
what one checkpoint costs and how long `audit verify` takes with the checkpoints compared.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_archive import document  # noqa: E402
from bench_blobs import fresh_database  # noqa: E402

from docsvc.app import open_docsvc  # noqa: E402
from docsvc.core.checkpoints import new_key_pem  # noqa: E402


def run(label: str, url: str | None, args) -> None:
    """One archive; blocks of adds alternate between checkpoints off and on (a thread signing one
    every ``args.every`` s), so that both see the same machine: a busy neighbour slows neighbouring
    blocks alike, where whole runs one after the other would differ by more than what is measured."""
    rng = random.Random(42)
    with tempfile.TemporaryDirectory() as tmp:
        conf = {
            "ARCHIVE_DIR": f"{tmp}/archive",
            "INDEX_DIR": f"{tmp}/index",
            "TEMPLATES_DIR": f"{tmp}/nt",
            "AUDIT_KEY_FILE": f"{tmp}/audit.pem",
            "AUDIT_CHECKPOINT_URL": f"file://{tmp}/checkpoints",
        }
        Path(f"{tmp}/nt").mkdir()
        Path(f"{tmp}/audit.pem").write_bytes(new_key_pem()[0])
        if url:
            conf["DATABASE_URL"] = url
        svc = open_docsvc(conf)
        on, stop = threading.Event(), threading.Event()
        signing: list[float] = []

        def checkpoints() -> None:
            while not stop.wait(args.every):
                if on.is_set():
                    t0 = time.perf_counter()
                    if svc.write_checkpoint() is not None:
                        signing.append(time.perf_counter() - t0)

        thread = threading.Thread(target=checkpoints, daemon=True)
        thread.start()
        spent = {False: 0.0, True: 0.0}
        added = {False: 0, True: 0}
        n = 0
        for block in range(args.blocks * 2):
            anchored = block % 2 == 1
            (on.set if anchored else on.clear)()
            start = time.perf_counter()
            for _ in range(args.block):
                svc.archive.add_document(
                    document(rng) + f" #{n}".encode(),
                    f"运维报告-{n}.txt",
                    {
                        "title": f"运维报告 {n}",
                        "doc_type": "report",
                        "service_category": "4.2",
                        "doc_class": "site",
                        "project": f"港口运维{n % 20}期",
                    },
                    actor="张伟",
                )
                n += 1
            spent[anchored] += time.perf_counter() - start
            added[anchored] += args.block
        stop.set()
        thread.join()
        svc.write_checkpoint()
        t0 = time.perf_counter()
        result = svc.verify_audit()
        verify_s = time.perf_counter() - t0
        assert result.ok, result.to_dict()
        svc.close()
    off, with_cp = added[False] / spent[False], added[True] / spent[True]
    print(
        f"{label:<10} {added[False]} adds without checkpoints: {off:7.1f} adds/s; {added[True]} adds with one signed "
        f"every {args.every:g} s: {with_cp:7.1f} adds/s ({(1 - with_cp / off) * 100:+.1f} % slower; target ≤ 5 %)"
    )
    print(
        f"{'':<10} {len(signing)} checkpoints, p50 {statistics.median(signing) * 1000 if signing else 0:.1f} ms each "
        f"(mostly the two fsyncs); audit verify of {result.checked} entries with the checkpoints compared: "
        f"{verify_s * 1000:.0f} ms",
        flush=True,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--block", type=int, default=25, help="adds per block (default 25)")
    ap.add_argument("--blocks", type=int, default=8, help="off/on pairs of blocks (default 8)")
    ap.add_argument("--every", type=float, default=1.0, help="seconds between checkpoints (default 1)")
    ap.add_argument("--postgres", default="", help="admin URL, e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = ap.parse_args()
    run("SQLite", None, args)
    if args.postgres:
        url, drop = fresh_database(args.postgres)
        try:
            run("PostgreSQL", url, args)
        finally:
            drop()


if __name__ == "__main__":
    main()
