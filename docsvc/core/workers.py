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

Standard library only, like the rest of core.
"""

from __future__ import annotations

import os
import resource
import select
import struct
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

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


__all__ = ["FRAME", "claim_stdio", "cpu_used", "limit", "read_frame", "spawn", "stop", "write_frame"]
