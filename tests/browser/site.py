"""The running site every browser journey starts from: docsvc on waitress (loopback, a free
port), the test people from tests/webutil.py, and Debian's Chromium driven by Playwright."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from docsvc.app import Docsvc
from docsvc.web.factory import create_app
from tests.conftest import require
from tests.docxutil import make_docx as docx  # noqa: F401 - the browser tests take it from here
from tests.webutil import PASSWORD, PEOPLE

CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps trying hosts this network refuses.
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@contextmanager
def running_site(
    root: Path, display_names: dict[str, str], seed: Callable[[Docsvc], dict[str, Any]] = lambda svc: {}
) -> Iterator[dict[str, Any]]:
    """Yield ``{"url", "browser", "svc", "shots", "tmp", **seed(svc)}`` with the server running;
    ``shots`` is the folder DOCSVC_SCREENSHOTS names, or None."""
    require(Path(CHROMIUM).exists(), f"{CHROMIUM} is missing; apt-get install -y chromium fonts-noto-cjk")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require(False, "playwright is not installed (pip install -e '.[test]')")
    from waitress.server import create_server

    app = create_app(
        {
            "ARCHIVE_DIR": str(root / "archive"),
            "INDEX_DIR": str(root / "index"),
            "FSYNC": False,
            "DATABASE_URL": f"sqlite:///{root / 'catalog.sqlite3'}",
        }
    )
    svc = app.extensions["docsvc"]
    for name, (role, projects) in PEOPLE.items():
        svc.users.create_user(
            name, role, actor="setup", password=PASSWORD, projects=projects, display_name=display_names.get(name, "")
        )
    extra = seed(svc)
    server = create_server(app, host="127.0.0.1", port=0, threads=4)
    stopping = threading.Event()

    def serve() -> None:
        try:
            server.run()
        except (OSError, ValueError):
            # waitress has no stop: closing its socket from this thread makes the loop's select
            # fail on the closed descriptor, which is how it ends here.
            if not stopping.is_set():
                raise

    threading.Thread(target=serve, daemon=True).start()
    shots = Path(os.environ["DOCSVC_SCREENSHOTS"]) if os.environ.get("DOCSVC_SCREENSHOTS") else None
    if shots is not None:
        shots.mkdir(parents=True, exist_ok=True)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                yield {
                    "url": f"http://127.0.0.1:{server.effective_port}",
                    "browser": browser,
                    "svc": svc,
                    "shots": shots,
                    "tmp": root,
                    **extra,
                }
            finally:
                browser.close()
    finally:
        stopping.set()
        server.close()
        svc.close()


def shot(site: dict[str, Any], target: Any, name: str, *, full_page: bool = True) -> None:
    """A screenshot of ``target`` (a page or a locator) as ``name``.png, when DOCSVC_SCREENSHOTS
    names a folder for them (``docs/screenshots`` refreshes the docs' pictures). Otherwise none
    is taken: encoding full-page PNGs nobody looks at cost the suite seconds of CPU."""
    if site["shots"] is None:
        return
    options = {"full_page": full_page} if full_page else {}
    target.screenshot(path=str(site["shots"] / f"{name}.png"), **options)
