"""Child processes for untrusted work: how docsvc starts them, talks to them, limits them and
ends them.

A hostile file can make a library loop or allocate without end, so that work runs outside the
service process: templates in long-lived workers (:mod:`docsvc.core.templating.pool`), PDF text
and thumbnails in children forked by a helper (:mod:`docsvc.core.extract`), OCR in one child
per run (:mod:`docsvc.core.ocr`). They share this runtime:

- :func:`spawn`: a ``python -c`` child that imports one entry point. Not multiprocessing:
  "fork" copies a threaded web process with any lock another thread holds, and
  "forkserver"/"spawn" re-run the caller's ``__main__`` in every child (a script without a
  main guard then fails, and a heavy one costs on every start).
- Frames (:func:`write_frame`, :func:`read_frame`): an 8-byte big-endian length, then the
  payload, over a pipe or a socket; a read can have a deadline and a size limit, so a child
  that goes silent or sends too much cannot hold the caller.
- :func:`limit`: RLIMIT_AS and RLIMIT_CPU, set by the child on itself.
- :func:`stop`: kill and reap, so no child outlives its use and no zombie is left.
- :class:`Pool`: long-lived children shared by threads, one task at a time each, killed after a
  failure and replaced (the template workers, bounded) or not (the PDF helpers, one per
  concurrent caller, two kept idle).

Standard library only, like the rest of core.
"""

from __future__ import annotations

import os
import resource
import select
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any, Generic, Protocol, TypeVar

FRAME = struct.Struct(">Q")
_CHUNK = 1 << 20
# The directory holding the docsvc package, so a child finds it in a source checkout too.
_ROOT = str(Path(__file__).resolve().parents[2])


def spawn(
    entry: str,
    *args: int | str,
    env: dict[str, str] | None = None,
    pass_fds: Sequence[int] = (),
    stdin: int | IO[Any] | None = subprocess.PIPE,
    stdout: int | IO[Any] | None = subprocess.PIPE,
) -> subprocess.Popen[bytes]:
    """Start ``python -c`` running ``entry`` (``"package.module:function"``) with ``args``.

    ``env``: the child's environment (this process's by default). Only ``pass_fds`` and the
    standard streams are inherited.
    """
    module, _, function = entry.partition(":")
    code = f"from {module} import {function}; {function}({', '.join(repr(a) for a in args)})"
    environ = dict(os.environ if env is None else env)
    environ["PYTHONPATH"] = os.pathsep.join(filter(None, (_ROOT, environ.get("PYTHONPATH"))))
    return subprocess.Popen(
        [sys.executable, "-c", code],
        stdin=stdin,
        stdout=stdout,
        pass_fds=tuple(pass_fds),
        close_fds=True,
        env=environ,
    )


def claim_stdio() -> tuple[int, int]:
    """In a child started by :func:`spawn` with pipes: its ends of them (read, write), with file
    descriptor 1 pointed at stderr, so nothing printed — by Python or by a C library — can
    corrupt the frames on the caller's pipe."""
    sys.stdout.flush()
    out = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return 0, out


def write_frame(fd: int, payload: bytes, *, deadline: float | None = None) -> None:
    """Send one frame. Past ``deadline`` (``time.monotonic()``), TimeoutError; the reader gone,
    BrokenPipeError."""
    _write_all(fd, FRAME.pack(len(payload)), deadline)
    _write_all(fd, payload, deadline)


def read_frame(fd: int, *, deadline: float | None = None, maxlength: int | None = None) -> bytes:
    """Receive one frame. Past ``deadline``, TimeoutError; the writer gone (or a frame over
    ``maxlength`` announced), EOFError."""
    (n,) = FRAME.unpack(_read_exact(fd, FRAME.size, deadline))
    if maxlength is not None and n > maxlength:
        raise EOFError(f"frame of {n} bytes over {maxlength}")
    return _read_exact(fd, n, deadline)


def _wait(fd: int, deadline: float | None, *, write: bool) -> None:
    remaining = None if deadline is None else deadline - time.monotonic()
    if remaining is not None and remaining <= 0:
        raise TimeoutError
    ready = select.select([], [fd], [], remaining)[1] if write else select.select([fd], [], [], remaining)[0]
    if not ready:
        raise TimeoutError


def _write_all(fd: int, data: bytes, deadline: float | None) -> None:
    view = memoryview(data)
    while view:
        _wait(fd, deadline, write=True)
        try:
            view = view[os.write(fd, view[:_CHUNK]) :]
        except BlockingIOError:  # a non-blocking descriptor that filled up meanwhile
            continue


def _read_exact(fd: int, n: int, deadline: float | None) -> bytes:
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        _wait(fd, deadline, write=False)
        try:
            count = os.readv(fd, [view[got : got + _CHUNK]])
        except BlockingIOError:
            continue
        if count == 0:
            raise EOFError
        got += count
    return bytes(buf)


def limit(which: int, soft: int, hard: int | None = None) -> None:
    """Lower a limit of this process (``resource.RLIMIT_AS`` in bytes, ``RLIMIT_CPU`` in seconds).

    With ``hard``, both limits are set: a child doing one job. Without it only the soft limit
    moves, kept under the hard one, so a long-lived worker can give each task a limit of its own.
    """
    if hard is None:
        _soft, hard = resource.getrlimit(which)
        if hard != resource.RLIM_INFINITY:
            soft = min(soft, hard)
    resource.setrlimit(which, (soft, hard))


def cpu_used() -> float:
    """CPU seconds this process has used so far (user and system), what RLIMIT_CPU counts."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Kill a child if it still runs, reap it, and close our ends of its pipes."""
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    for stream in (proc.stdin, proc.stdout):
        if stream is not None:
            try:
                stream.close()
            except OSError:  # unwritten bytes for a child that is gone: nobody will read them
                pass


class Child(Protocol):
    """What a :class:`Pool` holds: the caller's handle on a child that does one task at a time."""

    tasks: int  # tasks handed to it so far

    def alive(self) -> bool: ...

    def kill(self) -> None:
        """Kill the child and reap it (:func:`stop`)."""


C = TypeVar("C", bound=Child)


def _no_free_child() -> Exception:
    return TimeoutError("no free child process")


def _pool_closed() -> Exception:
    return RuntimeError("the pool of child processes is closed")


class Pool(Generic[C]):
    """Long-lived children shared by threads, one task at a time each.

    ``start`` makes a child; it runs outside the lock, since starting a Python interpreter takes
    a fraction of a second. ``size`` bounds the children alive at once: a caller waits up to
    ``acquire_timeout_s`` for a free one, then gets ``busy()``; None means no bound, every
    concurrent caller getting a child of its own. ``keep_idle`` bounds the children kept between
    tasks (None: all of them). A child that failed, served ``max_tasks`` or died while idle (the
    OOM killer, an operator) is killed and reaped; with ``replace`` a replacement starts in the
    background, off the caller's path, so the pool stays warm. A process forked from the pool's
    never uses the parent's children.
    """

    def __init__(
        self,
        start: Callable[[], C],
        *,
        size: int | None = None,
        keep_idle: int | None = None,
        max_tasks: int | None = None,
        acquire_timeout_s: float = 30.0,
        replace: bool = False,
        busy: Callable[[], Exception] = _no_free_child,
        closed: Callable[[], Exception] = _pool_closed,
        name: str = "docsvc-child-start",
    ) -> None:
        self.size = size
        self._start, self._name = start, name
        self._keep_idle, self._max_tasks, self._replace = keep_idle, max_tasks, replace
        self._acquire_timeout_s, self._busy, self._closed_error = acquire_timeout_s, busy, closed
        self._cond = threading.Condition()
        self._idle: list[C] = []
        self._live = 0  # started or starting
        self._pid = os.getpid()
        self._closed = False
        self._replaced = 0

    def warm(self) -> None:
        """Start the children now (in parallel), up to ``size``, instead of on first use."""
        with self._cond:
            missing = max((self.size or 0) - self._live, 0)
            self._live += missing
        threads = [threading.Thread(target=self._add, name=self._name) for _ in range(missing)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    def counts(self) -> dict[str, int]:
        """Children alive (or starting), idle, and replaced so far."""
        with self._cond:
            return {"live": self._live, "idle": len(self._idle), "replaced": self._replaced}

    def checkout(self) -> C:
        """A child for one task, an idle one or a new one; give it back with :meth:`checkin`."""
        deadline = time.monotonic() + self._acquire_timeout_s
        with self._cond:
            if self._pid != os.getpid():  # we are a forked copy: the children are the parent's
                self._idle, self._live, self._pid = [], 0, os.getpid()
            while True:
                if self._closed:
                    raise self._closed_error()
                while self._idle:
                    child = self._idle.pop()
                    if child.alive():
                        child.tasks += 1
                        return child
                    child.kill()  # it died while idle: its slot is free
                    self._live -= 1
                    self._replaced += 1
                if self.size is None or self._live < self.size:
                    self._live += 1
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise self._busy()
                self._cond.wait(remaining)
        try:
            child = self._start()
        except BaseException:
            with self._cond:
                self._live -= 1
                self._cond.notify()
            raise
        child.tasks += 1
        return child

    def checkin(self, child: C, *, healthy: bool) -> None:
        """Give a child back after its task. ``healthy``: it did the task and can do another; it
        is then kept (within ``max_tasks`` and ``keep_idle``), else killed and reaped."""
        with self._cond:
            reusable = healthy and (self._max_tasks is None or child.tasks < self._max_tasks)
            if (
                reusable
                and not self._closed
                and self._pid == os.getpid()
                and (self._keep_idle is None or len(self._idle) < self._keep_idle)
            ):
                self._idle.append(child)
                self._cond.notify()
                return
            replace = self._replace and not reusable and not self._closed
            self._replaced += replace
            if not replace:
                self._live -= 1
                self._cond.notify()
        child.kill()
        if replace:
            threading.Thread(target=self._add, name=self._name, daemon=True).start()

    def close(self) -> None:
        """Kill the idle children and refuse new tasks; a busy child is killed when given back."""
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            self._cond.notify_all()
        for child in idle:
            child.kill()

    def _add(self) -> None:
        """Start a child for a slot already counted in ``_live`` and make it idle."""
        try:
            child = self._start()
        except (OSError, RuntimeError):
            with self._cond:
                self._live -= 1
                self._cond.notify()
            return
        with self._cond:
            if not self._closed:
                self._idle.append(child)
                self._cond.notify()
                return
            self._live -= 1
        child.kill()


__all__ = ["FRAME", "Child", "Pool", "claim_stdio", "cpu_used", "limit", "read_frame", "spawn", "stop", "write_frame"]
