"""Child processes for untrusted work: how docsvc starts them, talks to them, limits them and
ends them.

A hostile file can make a library loop or allocate without end, so that work runs outside the
service process: templates in long-lived workers (:mod:`docsvc.core.templating.pool`), PDF text
and thumbnails in children forked by a helper (:func:`run_limited`, for
:mod:`docsvc.core.extract` and :mod:`docsvc.core.thumbnail`), OCR in one child per run
(:mod:`docsvc.core.ocr`). They share this runtime:

- :func:`spawn`: a ``python -c`` child that imports one entry point. Not multiprocessing:
  "fork" copies a threaded web process with any lock another thread holds, and
  "forkserver"/"spawn" re-run the caller's ``__main__`` in every child (a script without a
  main guard then fails, and a heavy one costs on every start).
- Frames (:func:`write_frame`, :func:`read_frame`): an 8-byte big-endian length, then the
  payload, over a pipe or a socket; a read can have a deadline and a size limit, so a child
  that goes silent or sends too much cannot hold the caller.
- :func:`wait_readable`: a wall-clock limit for a child that runs at a lower priority
  (:func:`give_way`), which does not count the time it waited for a CPU.
- :func:`limit`: RLIMIT_AS and RLIMIT_CPU, set by the child on itself.
- :func:`stop`: kill and reap, so no child outlives its use and no zombie is left.
- :class:`Pool`: long-lived children shared by threads, one task at a time each, killed after a
  failure and replaced (the template workers, bounded) or not (the helpers below, one per
  concurrent caller, two kept idle).
- :func:`run_limited`: one function over one untrusted file in a child forked from a helper
  that has the parser imported, under RLIMIT_AS, RLIMIT_CPU and a wall clock (PDF text,
  thumbnails).

Standard library only.
"""

from __future__ import annotations

import abc
import atexit
import contextlib
import importlib
import json
import os
import resource
import select
import signal
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any, Generic, TypeVar

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


# A child waiting for a CPU is slow, not stuck; but at most this many times its limit in all.
MAX_WAIT_FACTOR = 10


def cpu_wait(pid: int) -> float | None:
    """Seconds the process's main thread has spent ready to run but waiting for a CPU (Linux's
    /proc/PID/schedstat); None where the kernel does not say."""
    try:
        with open(f"/proc/{pid}/schedstat", encoding="ascii") as f:
            return int(f.read().split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        return None


def wait_readable(fd: int, seconds: float, *, pid: int) -> None:
    """Wait until ``fd`` (the answers of child ``pid``) has something to read, for at most
    ``seconds`` of the child's own time: the time it spent waiting for a CPU is added to the
    limit (a child that gives way to a busy server is slow, not stuck), up to
    :data:`MAX_WAIT_FACTOR` times ``seconds`` in all. TimeoutError past that; a child that is
    blocked, not waiting for a CPU, gets no more than ``seconds``."""
    start = time.monotonic()
    first = cpu_wait(pid)
    deadline = start + seconds
    while True:
        try:
            return _wait(fd, deadline, write=False)
        except TimeoutError:
            now = cpu_wait(pid)
            if first is None or now is None:
                raise
            later = min(start + seconds + (now - first), start + seconds * MAX_WAIT_FACTOR)
            if later <= deadline:
                raise
            deadline = later


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


def give_way(niceness: int) -> None:
    """Lower the calling thread's CPU priority by ``niceness``: derived work gives way to
    requests when the cores are short, and still gets done when they are not. Linux keeps a
    nice value per thread, so a server's background thread lowers only itself (a process of a
    single thread, the whole process)."""
    with contextlib.suppress(OSError):
        os.nice(niceness)


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


class Child(abc.ABC):
    """What a :class:`Pool` holds: the caller's handle on a child that does one task at a time."""

    tasks = 0  # tasks handed to it so far

    @abc.abstractmethod
    def alive(self) -> bool: ...

    @abc.abstractmethod
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
            if self._pid != os.getpid():  # a forked copy's list names the parent's children
                return
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


# --- limited children, forked from a helper ---------------------------------------------------
#
# Starting Python and importing a parser (pypdf, pdfium) costs 0.1–0.2 s, more than reading a
# typical file. So a helper process is started once (spawn) and forks one child per file with
# the parser already imported: a child costs a fork (a few ms). The helper is single-threaded,
# so its forks are safe. One helper serves one file at a time; concurrent callers each get their
# own, from a Pool that keeps at most _HELPERS_IDLE of them for reuse.

_HELPERS_IDLE = 2
_GRACE_S = 5.0  # how much longer than the child's own wall clock the caller waits for the helper


class LimitedChildFailed(Exception):
    """The helper or its child could not answer (crashed, killed, or silent past the limit)."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.timed_out = isinstance(cause, TimeoutError)


def run_limited(
    entry: str,
    data: bytes,
    *,
    memory_bytes: int,
    cpu_seconds: int,
    timeout_seconds: float,
    preload: Sequence[str] = (),
    **params: Any,
) -> dict[str, Any]:
    """Run ``entry(data, request)`` (``"package.module:function"``) over untrusted ``data`` in a
    child forked from a helper, under RLIMIT_AS ``memory_bytes``, RLIMIT_CPU ``cpu_seconds`` and a
    wall clock of ``timeout_seconds``. ``request`` holds the limits (``memory``, ``cpu``,
    ``timeout``) and ``params``. ``preload``: modules the helper imports once, before it forks,
    so that no child has to (the entry's own module is imported so too).

    The entry's answer (a JSON object); ``{"stopped": "timeout"}`` when the wall clock ended the
    child, ``{"stopped": "limit"}`` when it died without answering (RLIMIT_CPU, RLIMIT_AS, a crash
    in native code): the caller says what was stopped, in its own words. Raises
    :class:`LimitedChildFailed` when the helper itself failed.
    """
    request = {
        "entry": entry,
        "preload": list(preload),
        "memory": memory_bytes,
        "cpu": cpu_seconds,
        "timeout": timeout_seconds,
        **params,
    }
    helper = _helpers.checkout()
    healthy = False
    try:
        answer = helper.run(request, data)
        healthy = True
    except (OSError, EOFError, ValueError) as exc:  # TimeoutError is an OSError
        raise LimitedChildFailed(exc) from exc
    finally:
        _helpers.checkin(helper, healthy=healthy)  # one in an unknown state is never reused
    return answer


class _Helper(Child):
    """The caller's side of one helper process."""

    def __init__(self) -> None:
        self.proc = spawn("docsvc.core.workers:_helper_main")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def run(self, request: dict[str, Any], data: bytes) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        write_frame(self.proc.stdin.fileno(), json.dumps(request).encode())
        write_frame(self.proc.stdin.fileno(), data)
        deadline = time.monotonic() + float(request["timeout"]) + _GRACE_S
        answer: dict[str, Any] = json.loads(read_frame(self.proc.stdout.fileno(), deadline=deadline))
        return answer

    def kill(self) -> None:
        stop(self.proc)


_helpers = Pool(_Helper, keep_idle=_HELPERS_IDLE)
# An idle helper would leave by itself when our end of its pipe closes, but only after this
# process has gone: a stopped server stops its helpers before it exits, as it stops LibreOffice.
atexit.register(_helpers.close)


def _helper_main() -> None:
    """The helper's loop: read a request, fork a limited child, wait for it, answer."""
    stdin, stdout = claim_stdio()
    while True:
        try:
            request = json.loads(read_frame(stdin))
            data = read_frame(stdin)
        except EOFError:
            return  # the caller went away
        for module in (*request["preload"], request["entry"].partition(":")[0]):
            importlib.import_module(module)  # once per helper: every child forked after has it
        write_frame(stdout, json.dumps(_fork_child(data, request)).encode())


def _fork_child(data: bytes, request: dict[str, Any]) -> dict[str, Any]:
    timeout = float(request["timeout"])
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: limit, run, write the answer, exit without cleanup
        os.close(read_fd)
        try:
            limit(resource.RLIMIT_AS, request["memory"], request["memory"])
            limit(resource.RLIMIT_CPU, request["cpu"], request["cpu"] + 1)
            signal.alarm(int(timeout) + 2)  # dies on its own even if the helper is gone
            module, _, function = request["entry"].partition(":")
            payload = json.dumps(getattr(importlib.import_module(module), function)(data, request)).encode()
            with os.fdopen(write_fd, "wb") as out:
                out.write(payload)
        finally:
            os._exit(0)
    os.close(write_fd)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    timed_out = False
    with os.fdopen(read_fd, "rb", buffering=0) as pipe:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([pipe], [], [], left)[0]:
                timed_out = True
                break
            chunk = pipe.read(_CHUNK)
            if not chunk:
                break
            chunks.append(chunk)
    if timed_out:
        os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    if timed_out:
        return {"stopped": "timeout"}
    try:
        answer: dict[str, Any] = json.loads(b"".join(chunks))
        return answer
    except ValueError:  # killed half-way (SIGXCPU, the OOM killer) or crashed in native code
        return {"stopped": "limit"}


__all__ = [
    "FRAME",
    "Child",
    "LimitedChildFailed",
    "Pool",
    "claim_stdio",
    "cpu_used",
    "limit",
    "read_frame",
    "run_limited",
    "spawn",
    "stop",
    "write_frame",
]
