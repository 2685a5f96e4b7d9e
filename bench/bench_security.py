"""What the defences cost the people they protect: sign-in under a brute force, and a huge body.

    python bench/bench_security.py                     # 40 sign-ins alone, 40 under attack, a 1 GiB body
    python bench/bench_security.py --signins 100 --rate 20

Starts ``docsvc serve`` on an embedded archive in a temporary folder (two workers, as on a small
server) and measures, over loopback:

1. A legitimate user's sign-in (GET the form for its CSRF token, POST the password, follow
   nothing) on its own: p50/p95.
2. The same while another client guesses the administrator's password at ``--rate`` requests
   a second from another address (127.0.0.2: every 127.x address is loopback on Linux, so the
   two clients are told apart as they would be on a network). The throttle locks the attacked
   account and the guessing address; the legitimate user must not notice: p95 at most 300 ms.
3. An unauthenticated upload that declares a 1 GiB body and then streams it: how long until
   the server answers or closes, and how many bytes it took before that (target: within a
   second, a few MB at most).
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from docsvc.app import open_docsvc  # noqa: E402

COOKIE = "docsvc_session"
PASSWORD = "a-long-password-1"
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sign_in(port: int, username: str, password: str, *, source: str = "127.0.0.1") -> tuple[int, float]:
    """One sign-in as a browser does it: the form (a session cookie and its CSRF token), then
    the POST. Returns the POST's status and the whole exchange's seconds."""
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=(source, 0))
    try:
        conn.request("GET", "/login")
        resp = conn.getresponse()
        page = resp.read().decode("utf-8", "replace")
        cookie = next(
            (c.split(";", 1)[0] for c in resp.headers.get_all("Set-Cookie") or [] if c.startswith(COOKIE + "=")), ""
        )
        match = _TOKEN.search(page)
        body = urlencode({"csrf_token": match.group(1) if match else "", "username": username, "password": password})
        conn.request(
            "POST", "/login", body=body, headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie}
        )
        resp = conn.getresponse()
        resp.read()
        return resp.status, time.perf_counter() - started
    finally:
        conn.close()


def figures(times: list[float]) -> str:
    ms = sorted(t * 1000 for t in times)
    p95 = ms[min(len(ms) - 1, int(round(0.95 * (len(ms) - 1))))]
    return f"p50 {statistics.median(ms):6.1f} ms   p95 {p95:6.1f} ms   max {ms[-1]:6.1f} ms"


def legitimate(port: int, count: int) -> list[float]:
    times = []
    for _ in range(count):
        status, seconds = sign_in(port, "alice", PASSWORD)
        if status != 302:
            raise SystemExit(f"alice's sign-in was answered {status}, not 302: the throttle hit the wrong user")
        times.append(seconds)
    return times


def attack(port: int, rate: float, stop: threading.Event, answers: dict[int, int]) -> None:
    interval = 1.0 / rate
    next_at = time.perf_counter()
    while not stop.is_set():
        status, _ = sign_in(port, "admin", secrets.token_hex(6), source="127.0.0.2")
        answers[status] = answers.get(status, 0) + 1
        next_at += interval
        time.sleep(max(0.0, next_at - time.perf_counter()))


def huge_body(port: int, declared: int = 1 << 30) -> tuple[str, float, int]:
    """Declare ``declared`` bytes of upload without credentials and keep sending until the
    server answers or shuts the door: (its status line, seconds, bytes it let us send)."""
    chunk = b"\0" * (64 << 10)
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.setblocking(False)
    head = (
        f"POST /api/v1/documents HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: multipart/form-data; boundary=x\r\nContent-Length: {declared}\r\n\r\n"
    ).encode()
    started = time.perf_counter()
    pending, sent, reply = head, 0, b""
    deadline = started + 60
    while time.perf_counter() < deadline:
        try:
            got = sock.recv(4096)
            if not got:
                break
            reply += got
            if b"\r\n" in reply:
                break
        except BlockingIOError:
            pass
        except OSError:
            break
        try:
            n = sock.send(pending if pending else chunk)
            if pending:
                pending = pending[n:]
            else:
                sent += n
                if sent >= declared:
                    break
        except BlockingIOError:
            time.sleep(0.001)
        except OSError:
            break  # reset: the server closed while we were still sending
    seconds = time.perf_counter() - started
    sock.close()
    status = reply.split(b"\r\n", 1)[0].decode("latin-1") or "(closed without an answer)"
    return status, seconds, sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--signins", type=int, default=40, help="legitimate sign-ins per phase")
    parser.add_argument("--rate", type=float, default=20.0, help="the attacker's guesses a second")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="docsvc-bench-security-") as tmp:
        base = Path(tmp)
        (base / "templates").mkdir()
        env = {
            **os.environ,
            "DOCSVC_ARCHIVE_DIR": str(base / "archive"),
            "DOCSVC_INDEX_DIR": str(base / "index"),
            "DOCSVC_TEMPLATES_DIR": str(base / "templates"),
            "DOCSVC_FSYNC": "false",
        }
        env.pop("DOCSVC_DATABASE_URL", None)
        svc = open_docsvc({k[len("DOCSVC_") :]: v for k, v in env.items() if k.startswith("DOCSVC_")})
        for name, role in (("alice", "manager"), ("admin", "admin")):
            svc.users.create_user(name, role, actor="bench", password=PASSWORD)
        svc.close()
        port = free_port()
        server = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from docsvc.cli import main; main()",
                "serve",
                "--workers",
                "2",
                "--port",
                str(port),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            for _ in range(600):
                try:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                    conn.request("GET", "/login")
                    if conn.getresponse().status == 200:
                        break
                except OSError:
                    time.sleep(0.1)
                finally:
                    conn.close()
            else:
                raise SystemExit("docsvc serve did not answer within a minute")
            legitimate(port, 3)  # warm both workers
            alone = legitimate(port, args.signins)
            stop, answers = threading.Event(), {}
            attacker = threading.Thread(target=attack, args=(port, args.rate, stop, answers), daemon=True)
            attacker.start()
            time.sleep(2)  # let the throttle lock the account and the address first
            attacked = legitimate(port, args.signins)
            stop.set()
            attacker.join(30)
            status, seconds, sent = huge_body(port)
        finally:
            server.terminate()
            server.wait(30)

    print(f"sign-in alone ({args.signins}):                {figures(alone)}")
    print(f"sign-in under {args.rate:g} guesses/s ({args.signins}):  {figures(attacked)}   (target p95 ≤ 300 ms)")
    print("the attacker's answers: " + ", ".join(f"{n}× {code}" for code, n in sorted(answers.items())))
    print(
        f"1 GiB unauthenticated body: {status!r} after {seconds * 1000:.0f} ms, "
        f"{sent / (1 << 20):.2f} MiB taken before it (target: ≤ 1 s, a few MiB)"
    )


if __name__ == "__main__":
    main()
