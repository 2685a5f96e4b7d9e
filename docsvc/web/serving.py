"""``docsvc serve``: waitress, in one process or in several that share the listening socket.

Python runs one thread at a time per process, and a search is pure Python, so one process uses
one core. With ``workers`` > 1 the listening socket is bound first and that many worker
processes are forked; each builds its own app and accepts connections on the shared socket (the
kernel spreads them). The parent process keeps what there must be only one of: the index writer
(Whoosh takes one writer at a time), the intake folder's watcher and the job runner (docsvc.services.jobs: one node per
server in the queue, one LibreOffice). A worker that commits a write sets a shared event, which
wakes the writer at once, so an upload is searchable as quickly as with one process; every worker
sees the writer's commits at its next search. A worker that dies is replaced.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from docsvc import settings as settings_mod
from docsvc.app import open_docsvc
from docsvc.web.factory import create_app

log = logging.getLogger(__name__)

Config = Mapping[str, Any] | None


def serve(
    *,
    host: str,
    port: int,
    workers: int,
    threads: int,
    config: Config = None,
    on_ready: Callable[[int], None] | None = None,
) -> None:
    """Serve until SIGTERM or SIGINT. ``on_ready`` gets the bound port (0 picks a free one)."""
    sock = socket.create_server((host, port))
    bound = sock.getsockname()[1]
    if workers <= 1:
        app = create_app(config)
        svc = app.extensions["docsvc"]
        try:
            svc.start_indexer()
            svc.start_jobs()
            svc.start_intake()
            _log_start(svc.settings, host, bound, workers, threads)
            if on_ready:
                on_ready(bound)
            _waitress(app, sock, threads)
        finally:
            svc.close()  # SIGTERM ends waitress with SystemExit: the threads and LibreOffice stop too
        return
    # Migrations, folders, the first administrator and the session secret once, here, not raced
    # by the workers; closed again so that no worker inherits the catalog's connections.
    first = create_app(config).extensions["docsvc"]
    first.close()
    _log_start(first.settings, host, bound, workers, threads)  # before any worker answers
    wake = multiprocessing.get_context("fork").Event()
    children = {_fork_worker(sock, wake, config, threads): time.monotonic() for _ in range(workers)}
    svc = open_docsvc(config)
    indexer = svc.start_indexer()
    runner = svc.start_jobs()
    svc.start_intake()
    stopping = threading.Event()

    def relay() -> None:  # a worker's commit or queued job → the writer and the job runner
        while not stopping.is_set():
            if wake.wait(1.0):
                wake.clear()
                indexer.wake()
                runner.wake()

    def stop(signum: int, _frame: Any) -> None:
        stopping.set()
        for pid in list(children):
            _kill(pid, signal.SIGTERM)

    threading.Thread(target=relay, name="docsvc-wake", daemon=True).start()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if on_ready:
        on_ready(bound)
    try:
        while children:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                break
            except InterruptedError:  # pragma: no cover - PEP 475 retries os.wait
                continue
            started = children.pop(pid, None)
            if started is None or stopping.is_set():
                continue
            log.warning("worker %s exited (status %s); starting another", pid, status)
            if time.monotonic() - started < 5:
                time.sleep(1)  # one that dies at start would otherwise be restarted in a tight loop
            children[_fork_worker(sock, wake, config, threads)] = time.monotonic()
    finally:
        stopping.set()
        indexer.stop()
        svc.close()
        sock.close()


def _log_start(settings: Mapping[str, Any], host: str, port: int, workers: int, threads: int) -> None:
    log.info(
        "docsvc serving on http://%s:%s/",
        host,
        port,
        extra={"workers": workers, "threads": threads, "settings": settings_mod.redacted(settings)},
    )


def _fork_worker(sock: socket.socket, wake: Any, config: Config, threads: int) -> int:
    pid = os.fork()
    if pid:
        return pid
    code = 0
    try:
        # The parent's SIGTERM ends this worker's waitress with SystemExit, so that the worker
        # closes what it opened (a LibreOffice it started for a PDF would outlive it).
        signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(0))
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops the workers
        threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
        app = create_app(config)
        app.extensions["docsvc"].archive.on_commit.append(wake.set)
        app.extensions["docsvc"].jobs.on_enqueue.append(wake.set)
        try:
            _waitress(app, sock, threads)
        finally:
            app.extensions["docsvc"].close()
    except SystemExit:
        pass
    except BaseException:  # noqa: BLE001 - report, then leave without running the parent's cleanup
        log.exception("worker %s failed", os.getpid())
        code = 1
    finally:
        os._exit(code)


def _exit_with_parent(parent: int) -> None:
    """A worker whose main process was killed (SIGKILL: no chance to stop it) leaves too,
    instead of serving on without an index writer."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)


def _waitress(app: Any, sock: socket.socket, threads: int) -> None:
    import waitress

    # waitress reads a whole request body (spooling it to disk) before the app sees the request,
    # so a body over the limit must be refused here, when its headers arrive, not by the app after
    # a gigabyte has been received. waitress refuses Content-Length >= max_request_body_size (and a
    # chunked body once that much has come), hence the + 1: the same bodies as the app refuses.
    waitress.serve(
        app, sockets=[sock], threads=threads, ident="docsvc", max_request_body_size=app.config["MAX_CONTENT_LENGTH"] + 1
    )


def _kill(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass
