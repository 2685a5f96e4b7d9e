"""The cost of signed audit checkpoints: archive adds/s with and without checkpointing.

    python bench/bench_audit.py [--count 400] [--rounds 2] [--every 1.0] [--postgres URL]

Adds ~10 KB documents through the service layer (fsync on, as bench_archive.py) on a fresh
archive, once with checkpoints off and once with a thread signing a checkpoint every ``--every``
seconds into a folder (the servers' default is every 10 minutes, so this is hundreds of times
more often than in use). Rounds alternate off/on so that drift of a shared machine hits both
alike; the best round of each is compared (target: at most 5 % slower). Also prints what one
checkpoint costs and how long `audit verify` takes with the checkpoints compared.
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


def run(url: str | None, count: int, *, anchored: bool, every: float) -> dict[str, float]:
    rng = random.Random(42)
    with tempfile.TemporaryDirectory() as tmp:
        conf = {"ARCHIVE_DIR": f"{tmp}/archive", "INDEX_DIR": f"{tmp}/index", "TEMPLATES_DIR": f"{tmp}/nt"}
        Path(f"{tmp}/nt").mkdir()
        if url:
            conf["DATABASE_URL"] = url
        if anchored:
            Path(f"{tmp}/audit.pem").write_bytes(new_key_pem()[0])
            conf.update(AUDIT_KEY_FILE=f"{tmp}/audit.pem", AUDIT_CHECKPOINT_URL=f"file://{tmp}/checkpoints")
        svc = open_docsvc(conf)
        payloads = [document(rng) + f" #{i}".encode() for i in range(count)]
        stop = threading.Event()
        signing: list[float] = []

        def checkpoints() -> None:
            while not stop.wait(every):
                t0 = time.perf_counter()
                if svc.write_checkpoint() is not None:
                    signing.append(time.perf_counter() - t0)

        thread = threading.Thread(target=checkpoints, daemon=True)
        if anchored:
            thread.start()
        start = time.perf_counter()
        for i, data in enumerate(payloads):
            svc.archive.add_document(data, f"运维报告-{i}.txt", {
                "title": f"运维报告 {i}", "doc_type": "report", "service_category": "4.2", "doc_class": "site",
                "project": f"港口运维{i % 20}期"}, actor="张伟")
        total = time.perf_counter() - start
        stop.set()
        if anchored:
            thread.join()
            svc.write_checkpoint()
        t0 = time.perf_counter()
        result = svc.verify_audit()
        verify_s = time.perf_counter() - t0
        assert result.ok, result.to_dict()
        svc.close()
    return {"adds_per_s": count / total, "checkpoints": len(signing),
            "checkpoint_ms": statistics.median(signing) * 1000 if signing else 0.0,
            "verify_s": verify_s, "entries": result.checked}


def compare(label: str, url_factory, args) -> None:
    best = {False: None, True: None}
    for r in range(args.rounds):
        for anchored in (False, True):
            url, drop = url_factory()
            try:
                got = run(url, args.count, anchored=anchored, every=args.every)
            finally:
                drop()
            print(f"  {label:<10} round {r + 1} checkpoints {'on ' if anchored else 'off'}: "
                  f"{got['adds_per_s']:7.1f} adds/s" + (f", {got['checkpoints']} checkpoints, "
                                                        f"p50 {got['checkpoint_ms']:.1f} ms each" if anchored else ""),
                  flush=True)
            if best[anchored] is None or got["adds_per_s"] > best[anchored]["adds_per_s"]:
                best[anchored] = got
    off, on = best[False], best[True]
    slower = (1 - on["adds_per_s"] / off["adds_per_s"]) * 100
    print(f"{label:<10} best of {args.rounds}: {off['adds_per_s']:.1f} adds/s without, {on['adds_per_s']:.1f} with "
          f"checkpoints every {args.every:g} s ({slower:+.1f} % slower; target ≤ 5 %); one checkpoint "
          f"{on['checkpoint_ms']:.1f} ms; audit verify of {on['entries']} entries {off['verify_s'] * 1000:.0f} ms "
          f"without, {on['verify_s'] * 1000:.0f} ms with the checkpoints compared")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=400, help="documents added per run (default 400)")
    ap.add_argument("--rounds", type=int, default=2, help="off/on pairs (default 2)")
    ap.add_argument("--every", type=float, default=1.0, help="seconds between checkpoints (default 1)")
    ap.add_argument("--postgres", default="", help="admin URL, e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = ap.parse_args()
    compare("SQLite", lambda: (None, lambda: None), args)
    if args.postgres:
        compare("PostgreSQL", lambda: fresh_database(args.postgres), args)


if __name__ == "__main__":
    main()
