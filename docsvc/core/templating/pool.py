"""The template workers: long-lived child processes that parse and render templates under
RLIMIT_AS, RLIMIT_CPU and a wall-clock timeout, and the pool that shares them between threads.

Everything that parses or runs a template happens here, never in the service process: the
sandbox stops attribute tricks, only the process limits stop a template that loops or allocates
forever.
"""

from __future__ import annotations

import atexit
import json
import os
import pickle
import resource
import signal
import socket
import subprocess
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

from docsvc.core import workers
from docsvc.core.templating.fields import discover
from docsvc.core.templating.lint import lint
from docsvc.core.templating.render import render
from docsvc.core.templating.sandbox import DocxSandbox, TooExpensive
from docsvc.errors import DocsvcError, InvalidInput, TemplateError, TooLarge, Unavailable, UnsupportedType

MiB = 1024 * 1024

# A worker is a `python -c` child (docsvc.core.workers.spawn; about 0.2 s to import docxtpl)
# that stays up and serves many renders; it is replaced only after it was killed (timeout, CPU
# limit), ran out of memory, or failed in an unexpected way. The replacement starts in the
# background, off the request path.
#
# Parent → worker: pickled (task, payload, limits) — the parent is trusted. Worker → parent:
# a JSON header and raw bytes, never a pickle, so even a subverted worker could not run code
# in the service process. Both as frames over a socket pair (docsvc.core.workers).


@dataclass(frozen=True)
class Limits:
    timeout_s: float = 10.0
    memory_mb: int = 512
    max_output_bytes: int = 50 * MiB


_ERROR_CLASSES: dict[str, type[DocsvcError]] = {
    cls.__name__: cls for cls in (InvalidInput, TooLarge, UnsupportedType, TemplateError)
}
_READY = b"docsvc-template-worker-ready"
_WORKER_START_TIMEOUT_S = 30.0


def _too_expensive(limits: Limits, reason: str, **details: Any) -> TemplateError:
    return TemplateError(
        f"模板渲染超时或超出内存限制（{limits.timeout_s:g} 秒 / {limits.memory_mb} MB），"
        "已中止；请检查模板中的循环和重复运算。",
        f"The template is too expensive to render: it ran over the time or memory limit "
        f"({limits.timeout_s:g} s / {limits.memory_mb} MB) and was stopped; check its loops "
        "and repetitions.",
        details={"reason": reason, **details},
    )


def _worker_entry(fd: int) -> None:
    """The worker's main loop: serve tasks until the parent's end of the socket closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's business
    workers.limit(resource.RLIMIT_CORE, 0, 0)
    env = DocxSandbox()
    workers.write_frame(fd, _READY)
    while True:
        try:
            task, payload, limits = pickle.loads(workers.read_frame(fd))
        except (EOFError, OSError):
            return
        _apply_limits(limits)
        header, body = _run_task(env, task, payload, limits)
        workers.write_frame(fd, json.dumps(header, ensure_ascii=False).encode("utf-8"))
        workers.write_frame(fd, body)


def _apply_limits(limits: Limits) -> None:
    # Only the soft limits move; the hard limits stay so the next task can be given its own.
    # A template cannot call setrlimit: the sandbox allows no module access.
    workers.limit(resource.RLIMIT_AS, limits.memory_mb * MiB)
    workers.limit(resource.RLIMIT_CPU, int(workers.cpu_used() + limits.timeout_s) + 2)


def _run_task(env: DocxSandbox, task: str, payload: Any, limits: Limits) -> tuple[dict[str, Any], bytes]:
    env.reset_budget()
    try:
        if task == "render":
            data, context, properties = payload
            return {"ok": True}, render(env, data, context, limits.max_output_bytes, properties)
        if task == "discover":
            return {"ok": True, "result": asdict(discover(env, payload))}, b""
        if task == "lint":
            data, declared = payload
            return {"ok": True, "result": asdict(lint(env, data, declared))}, b""
        raise ValueError(f"unknown task {task!r}")
    except DocsvcError as exc:
        return _error_header(exc, recycle=False), b""
    except (RecursionError, TooExpensive) as exc:
        # Refused before anything was damaged: the stack unwound, the worker is fine.
        reason = "recursion" if isinstance(exc, RecursionError) else "budget"
        return _error_header(_too_expensive(limits, reason, error=str(exc)[:200]), recycle=False), b""
    except MemoryError:
        return _error_header(_too_expensive(limits, "memory"), recycle=True), b""
    except Exception as exc:  # noqa: BLE001 - an unexpected library error: report it, start a fresh worker
        return _error_header(
            TemplateError(
                f"模板无法处理：{type(exc).__name__}: {str(exc)[:200]}",
                f"The template cannot be processed: {type(exc).__name__}: {str(exc)[:200]}",
                details={"reason": "internal"},
            ),
            recycle=True,
        ), b""


def _error_header(exc: DocsvcError, *, recycle: bool) -> dict[str, Any]:
    return {
        "ok": False,
        "recycle": recycle,
        "error": {"class": type(exc).__name__, "zh": exc.zh, "en": exc.en, "field": exc.field, "details": exc.details},
    }


class _WorkerLost(Exception):
    def __init__(self, reason: str, exitcode: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.exitcode = exitcode


class _Worker(workers.Child):
    """The parent's handle on one worker process."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair()
        try:
            self.process = workers.spawn(
                "docsvc.core.templating.pool:_worker_entry",
                theirs.fileno(),
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
            )
        finally:
            theirs.close()
        ours.setblocking(False)  # a deadline holds for sending too: a write never blocks past it
        self.sock = ours
        try:
            ready = workers.read_frame(ours.fileno(), deadline=time.monotonic() + _WORKER_START_TIMEOUT_S, maxlength=64)
        except (EOFError, OSError):  # TimeoutError is an OSError
            self.kill()
            raise RuntimeError("the template worker did not start") from None
        if ready != _READY:
            self.kill()
            raise RuntimeError("the template worker did not start")

    def alive(self) -> bool:
        return self.process.poll() is None

    def call(self, task: str, payload: Any, limits: Limits) -> tuple[dict[str, Any], bytes]:
        fd = self.sock.fileno()
        try:
            workers.write_frame(fd, pickle.dumps((task, payload, limits)), deadline=time.monotonic() + limits.timeout_s)
        except OSError:  # TimeoutError included: a worker that takes no task is as good as gone
            raise _WorkerLost("gone") from None
        deadline = time.monotonic() + limits.timeout_s
        try:
            header = workers.read_frame(fd, deadline=deadline, maxlength=16 * MiB)
            body = workers.read_frame(fd, deadline=deadline, maxlength=limits.max_output_bytes + 1)
        except TimeoutError:
            raise _WorkerLost("timeout") from None
        except (EOFError, OSError):
            try:
                self.process.wait(1)  # killed by RLIMIT_CPU or a signal: it is already gone
            except subprocess.TimeoutExpired:
                pass
            raise _WorkerLost("died", self.process.returncode) from None
        return json.loads(header), body

    def kill(self) -> None:
        self.sock.close()
        workers.stop(self.process)


class RenderPool:
    """A few long-lived template workers, shared by threads, replaced after a failure (a
    :class:`docsvc.core.workers.Pool`).

    A worker runs one task at a time; callers wait up to ``acquire_timeout_s`` for a free
    one. A worker that timed out, died, ran out of memory or failed unexpectedly is killed,
    and a replacement is started in the background (about 0.2 s).
    """

    def __init__(
        self, size: int | None = None, *, max_tasks_per_worker: int = 1000, acquire_timeout_s: float = 30.0
    ) -> None:
        self.size = size or max(1, min(os.cpu_count() or 1, 4))
        self._workers = workers.Pool(
            _Worker,
            size=self.size,
            max_tasks=max_tasks_per_worker,
            acquire_timeout_s=acquire_timeout_s,
            replace=True,
            busy=_pool_busy,
            closed=_pool_closed,
            name="docsvc-template-worker-start",
        )
        self._lock = threading.Lock()
        self.tasks = 0

    def warm(self) -> None:
        """Start every worker now (in parallel) instead of on first use."""
        self._workers.warm()

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {"size": self.size, **self._workers.counts(), "tasks": self.tasks}

    def run(self, task: str, payload: Any, limits: Limits) -> tuple[dict[str, Any], bytes]:
        with self._lock:
            self.tasks += 1
        for attempt in (1, 2):
            worker = self._workers.checkout()
            healthy = False
            try:
                header, body = worker.call(task, payload, limits)
                healthy = not header.get("recycle", False)
                return header, body
            except _WorkerLost as lost:
                if lost.reason == "gone" and attempt == 1:
                    continue  # it died while idle, before seeing the task: try another
                if lost.reason == "timeout":
                    raise _too_expensive(limits, "timeout") from None
                raise _too_expensive(limits, "worker_died", exitcode=lost.exitcode) from None
            finally:
                self._workers.checkin(worker, healthy=healthy)
        raise AssertionError("unreachable")

    def close(self) -> None:
        self._workers.close()


def _pool_busy() -> DocsvcError:
    return Unavailable(
        "模板渲染繁忙，请稍后重试。", "Template rendering is busy; try again shortly.", details={"reason": "busy"}
    )


def _pool_closed() -> DocsvcError:
    return Unavailable("模板渲染服务已关闭。", "Template rendering has been shut down.", details={"reason": "closed"})


_default_pool: RenderPool | None = None
_default_pool_lock = threading.Lock()


def default_pool() -> RenderPool:
    """The process-wide pool used when no pool is passed."""
    global _default_pool
    with _default_pool_lock:
        if _default_pool is None:
            _default_pool = RenderPool()
            atexit.register(_default_pool.close)
        return _default_pool


def call(pool: RenderPool | None, task: str, payload: Any, limits: Limits) -> tuple[dict[str, Any], bytes]:
    """Run a task in ``pool`` (the default pool when None); the error a worker reported is raised here."""
    header, body = (pool or default_pool()).run(task, payload, limits)
    if not header["ok"]:
        err = header["error"]
        cls = _ERROR_CLASSES.get(err["class"], TemplateError)
        raise cls(err["zh"], err["en"], field=err["field"], details=err["details"])
    return header, body
