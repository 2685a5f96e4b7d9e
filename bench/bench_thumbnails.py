"""Thumbnails: what one costs to make, how long a new upload waits for its own, and the document
list with 50 thumbnails under load.

    python bench/bench_thumbnails.py                       # 60 scanned-page PDFs + 2 DOCX, 20 clients, 15 s
    python bench/bench_thumbnails.py --pdfs 200 --docx 0 --duration 30 --clients 20

1. Fills an archive (SQLite) with one-page PDFs that hold a scanned A4 page (150 dpi greyscale,
   lines of "text"), and ``--docx`` Word files (drawn through their LibreOffice PDF), then starts
   ``docsvc serve``: its job runner's periodic sweep queues the backlog at start. Prints the
   cost per page (the job's render time, PDF and DOCX apart), the backlog's throughput and the
   queue delay (queued → started) of its jobs.
2. Uploads ``--uploads`` PDFs through the API, one every half second, and prints how long each
   waited from the upload's answer until its thumbnail was there (polling the catalog).
3. ``--clients`` signed-in browsers each load ``/documents?per_page=50`` and then its 50
   thumbnails over their one keep-alive connection, as fast as they are answered, for
   ``--duration`` seconds, keeping thumbnails as the server's Cache-Control allows (a browser's
   cache; ``--no-cache``: every thumbnail on every page): p50/p95/p99 of the page, of a thumbnail
   request, of page + its thumbnails and of a first visit (page + 50 thumbnails, nothing kept)
   (the target: page p95 at most 300 ms under this load).
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import random
import re
import shutil
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_web import multipart, start_server  # noqa: E402


def pct(ms: list[float], p: float) -> float:
    ms = sorted(ms)
    return ms[min(len(ms) - 1, int(round(p / 100 * (len(ms) - 1))))] if ms else float("nan")


PASSWORD = "bench-password-1"
CLIENT_USERS = 50


def scanned_page(rng: random.Random) -> bytes:
    from PIL import Image, ImageDraw

    img = Image.new("L", (1240, 1754), 250)  # A4 at 150 dpi
    draw = ImageDraw.Draw(img)
    y = 120
    while y < 1650:
        x = 110
        while x < 1130:
            w = rng.randint(20, 90)
            draw.rectangle((x, y, x + w, y + 18), fill=rng.randint(20, 80))
            x += w + rng.randint(8, 20)
        y += rng.randint(34, 48)
    out = io.BytesIO()
    img.save(out, "PDF", resolution=150)
    return out.getvalue()


def fill(root: Path, pdfs: int, docx: int) -> dict:
    from docsvc.app import open_docsvc
    from tests.docxutil import make_docx

    # OCR off: the scans would otherwise be read by OCR beside the measurement (bench_ocr.py measures that).
    conf = {"ARCHIVE_DIR": str(root / "archive"), "INDEX_DIR": str(root / "index"), "FSYNC": False, "OCR": False}
    svc = open_docsvc(conf)
    rng = random.Random(7)
    svc.users.create_user("bench", "manager", actor="bench", password=PASSWORD)
    for i in range(CLIENT_USERS):  # one account per browsing client, as people are
        svc.users.create_user(f"reader-{i}", "manager", actor="bench", password=PASSWORD)
    token = svc.users.issue_token("bench", actor="bench", name="bench").secret
    meta = {"doc_type": "report", "service_category": "4.2", "doc_class": "user", "project": "港口运维二期"}
    for i in range(pdfs):
        svc.archive.add_document(
            scanned_page(rng), f"scan-{i}.pdf", {**meta, "title": f"巡检扫描件-{i}"}, actor="bench"
        )
    for i in range(docx):
        svc.archive.add_document(
            make_docx(f"运维服务月报 {i}", "一、本月服务概况：可用性 99.95%。" * 20),
            f"report-{i}.docx",
            {**meta, "title": f"运维服务月报-{i}"},
            actor="bench",
        )
    svc.close()
    return {"env": {f"DOCSVC_{k}": str(v) for k, v in conf.items()}, "token": token, "conf": conf}


def catalog(conf: dict):
    from docsvc.app import open_docsvc

    return open_docsvc(conf, migrate=False)


def backlog_report(svc, expected: int, timeout_s: float) -> None:
    from docsvc.services import thumbnails

    t0 = time.perf_counter()
    while True:
        jobs = [  # a Word file's thumbnail is a job of its own kind (it waits for LibreOffice)
            j
            for kind in (thumbnails.THUMBNAIL, thumbnails.THUMBNAIL_DOCX)
            for j in svc.jobs.store.list_jobs(kind=kind, limit=100_000)[0]
        ]
        done = [j for j in jobs if j.finished]
        if len(jobs) >= expected and len(done) == len(jobs):
            break
        if time.perf_counter() - t0 > timeout_s:
            print(f"  backlog not finished after {timeout_s:.0f} s: {len(done)}/{len(jobs)} jobs")
            break
        time.sleep(0.5)
    failed = [j for j in done if j.state.value != "done"]
    by_type: dict[str, list[float]] = {"pdf": [], "docx": []}
    for j in done:
        if j.result and "seconds" in j.result:
            by_type["docx" if j.result["source_sha256"] != j.result["sha256"] else "pdf"].append(
                j.result["seconds"] * 1000
            )
    delays = [(j.started_at - j.created_at).total_seconds() * 1000 for j in done if j.started_at]
    span = (max(j.finished_at for j in done) - min(j.created_at for j in done)).total_seconds() if done else 0
    print(
        f"backlog: {len(done)} thumbnails in {span:.1f} s ({len(done) / span if span else 0:.1f}/s), "
        f"{len(failed)} failed"
    )
    for kind, ms in by_type.items():
        if ms:
            print(
                f"  cost per page, {kind}: p50 {pct(ms, 50):.0f} ms  p95 {pct(ms, 95):.0f} ms  "
                f"(n={len(ms)}; docx includes LibreOffice's PDF)"
            )
    if delays:
        print(
            f"  backlog queue delay (queued → started): p50 {pct(delays, 50):.0f} ms  p95 {pct(delays, 95):.0f} ms  "
            f"max {max(delays):.0f} ms"
        )


def upload_delays(port: int, token: str, svc, count: int) -> None:
    from docsvc.adapters import thumbnails as rows
    from docsvc.core.thumbnail import THUMBNAILER_VERSION

    rng = random.Random(11)
    waits = []
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    pending: dict[str, float] = {}
    for i in range(count):
        body, ctype = multipart(
            {"title": f"新上传扫描件-{i}", "doc_type": "report", "service_category": "4.2", "doc_class": "user"},
            f"new-{i}.pdf",
            scanned_page(rng),
        )
        conn.request(
            "POST", "/api/v1/documents", body=body, headers={"Authorization": f"Bearer {token}", "Content-Type": ctype}
        )
        resp = conn.getresponse()
        answer = json.loads(resp.read())
        if resp.status != 201:
            print("  upload failed:", resp.status, answer)
            continue
        pending[answer["version"]["sha256"]] = time.perf_counter()
        time.sleep(0.5)
        _collect(svc, rows, THUMBNAILER_VERSION, pending, waits)
    deadline = time.perf_counter() + 120
    while pending and time.perf_counter() < deadline:
        time.sleep(0.05)
        _collect(svc, rows, THUMBNAILER_VERSION, pending, waits)
    if waits:
        print(
            f"upload → thumbnail there ({len(waits)} uploads, one per 0.5 s): p50 {pct(waits, 50):.0f} ms  "
            f"p95 {pct(waits, 95):.0f} ms  max {max(waits):.0f} ms"
            + (f"; {len(pending)} never came" if pending else "")
        )


def _collect(svc, rows, renderer, pending, waits) -> None:
    with svc.catalog.engine.connect() as c:
        made = rows.states(c, list(pending), renderer)
    now = time.perf_counter()
    for sha in made:
        waits.append((now - pending.pop(sha)) * 1000)


def login(port: int, user: str) -> tuple[http.client.HTTPConnection, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/login")
    resp = conn.getresponse()
    page = resp.read().decode()
    cookie = session_cookie(resp, "")
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    conn.request(
        "POST",
        "/login",
        body=urlencode({"username": user, "password": PASSWORD, "csrf_token": csrf}),
        headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie},
    )
    resp = conn.getresponse()
    resp.read()
    if resp.status != 302:
        raise RuntimeError(f"sign-in answered {resp.status}")
    return conn, session_cookie(resp, cookie)


def session_cookie(resp, default: str) -> str:
    cookies = [c.split(";", 1)[0] for c in resp.msg.get_all("Set-Cookie") or []]
    return next((c for c in cookies if c.startswith("docsvc_session=")), default)


def browse(port: int, duration: float, clients: int, *, cache: bool) -> None:
    """Each client is a browser: with ``cache`` it keeps what a response allows (Cache-Control
    max-age, then a revalidation with If-None-Match), as Chromium does; without, it asks for
    every thumbnail on every page (a browser with its cache off: the worst case)."""
    pages, thumbs, totals, firsts, errors = [], [], [], [], []
    revalidated = [0]
    lock = threading.Lock()

    def client(conn: http.client.HTTPConnection, cookie: str) -> None:
        try:
            run_client(conn, cookie)
        except Exception as exc:  # noqa: BLE001 - counted, and the others go on
            with lock:
                errors.append(f"{type(exc).__name__}: {exc}")

    def run_client(conn: http.client.HTTPConnection, cookie: str) -> None:
        kept: dict[str, tuple[float, str]] = {}  # url → (fresh until, ETag)
        first = True
        while time.perf_counter() < stop:
            t0 = time.perf_counter()
            conn.request("GET", "/documents?per_page=50", headers={"Cookie": cookie})
            resp = conn.getresponse()
            html = resp.read().decode()
            t1 = time.perf_counter()
            local, shown = [], 0
            ok = resp.status == 200
            for src in re.findall(r'<img class="thumb" src="([^"]+)"', html):
                shown += 1
                fresh_until, etag = kept.get(src, (0.0, ""))
                if cache and time.perf_counter() < fresh_until:
                    continue  # from the browser's cache: no request
                headers = {"Cookie": cookie, **({"If-None-Match": etag} if cache and etag else {})}
                s0 = time.perf_counter()
                conn.request("GET", src, headers=headers)
                r = conn.getresponse()
                r.read()
                local.append((time.perf_counter() - s0) * 1000)
                ok = ok and r.status in (200, 304)
                if r.status == 304:
                    with lock:
                        revalidated[0] += 1
                age = re.search(r"max-age=(\d+)", r.getheader("Cache-Control") or "")
                if age:
                    kept[src] = (time.perf_counter() + int(age.group(1)), r.getheader("ETag") or etag)
            with lock:
                pages.append((t1 - t0) * 1000)
                thumbs.extend(local)
                totals.append((time.perf_counter() - t0) * 1000)
                if first:
                    firsts.append((time.perf_counter() - t0) * 1000)
                if not ok or shown < 50:
                    errors.append((resp.status, shown))
            first = False

    sessions = [login(port, f"reader-{i % CLIENT_USERS}") for i in range(clients)]  # signed in before the clock runs
    stop = time.perf_counter() + duration
    threads = [threading.Thread(target=client, args=session) for session in sessions]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    how = "browsers keep thumbnails as the server allows" if cache else "no browser cache: every thumbnail every time"
    print(
        f"document list with 50 thumbnails, {clients} clients, {duration:.0f} s ({how}): {len(pages)} pages, "
        f"{len(thumbs)} thumbnail requests ({revalidated[0]} answered 304), {len(errors)} errors"
        + (f" (first: {errors[0]})" if errors else "")
    )
    for name, ms in (
        ("page", pages),
        ("thumbnail request", thumbs),
        ("page + its thumbnails", totals),
        ("first visit: page + 50 thumbnails", firsts),
    ):
        if ms:
            print(f"  {name}: p50 {pct(ms, 50):.0f} ms  p95 {pct(ms, 95):.0f} ms  p99 {pct(ms, 99):.0f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pdfs", type=int, default=60, help="one-page scanned PDFs in the archive (default 60)")
    ap.add_argument("--docx", type=int, default=2, help="Word files, drawn through LibreOffice (default 2)")
    ap.add_argument("--uploads", type=int, default=10, help="PDFs uploaded while the server runs (default 10)")
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--duration", type=float, default=15)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument(
        "--no-cache", action="store_true", help="clients fetch every thumbnail on every page (a browser's cache off)"
    )
    ap.add_argument("--keep-log", type=Path, help="copy the server's log here at the end (what a 5xx was)")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-thumbs-"))
    try:
        t0 = time.perf_counter()
        filled = fill(root, args.pdfs, args.docx)
        print(f"filled {args.pdfs} PDFs and {args.docx} DOCX in {time.perf_counter() - t0:.1f} s", flush=True)
        port = 20000 + uuid.uuid4().int % 20000
        proc = start_server(filled["env"], port, args.threads, args.workers, root / "server.log")
        svc = catalog(filled["conf"])
        try:
            backlog_report(svc, args.pdfs + args.docx, timeout_s=600)
            upload_delays(port, filled["token"], svc, args.uploads)
            browse(port, args.duration, args.clients, cache=not args.no_cache)
        finally:
            svc.close()
            proc.terminate()
            proc.wait(30)
            if args.keep_log:
                shutil.copyfile(root / "server.log", args.keep_log)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
