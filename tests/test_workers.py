"""docsvc.core.workers: the runtime the template workers, the PDF helper and OCR share — a child
started by entry point, frames with deadlines and size limits, limits, and no child left behind."""

from __future__ import annotations

import ast
import os
import resource
import time

import pytest

from docsvc.core import workers


def _echo_child() -> None:
    """Prints on its standard output, as a library might, then answers each frame reversed."""
    stdin, stdout = workers.claim_stdio()
    print("a library's chatter")
    os.write(1, b"and a C library's\n")
    while True:
        try:
            payload = workers.read_frame(stdin)
        except EOFError:
            return
        workers.write_frame(stdout, payload[::-1])


def _silent_child() -> None:
    workers.claim_stdio()
    time.sleep(60)


def _limited_child() -> None:
    """Reports its limits after setting them: the soft CPU limit alone, then both memory limits."""
    _stdin, stdout = workers.claim_stdio()
    workers.limit(resource.RLIMIT_CPU, 7)
    workers.limit(resource.RLIMIT_AS, 1 << 30, 1 << 30)
    cpu, memory = resource.getrlimit(resource.RLIMIT_CPU), resource.getrlimit(resource.RLIMIT_AS)
    workers.write_frame(stdout, repr((cpu, memory)).encode())


def _gone(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:  # reaped: no zombie left
        return True
    return False


def test_frames_reach_the_caller_whatever_the_child_prints() -> None:
    proc = workers.spawn("tests.test_workers:_echo_child")
    assert proc.stdin is not None and proc.stdout is not None
    try:
        for payload in (b"", b"abc", os.urandom(3 << 20)):  # 3 MiB: more than one pipe buffer
            workers.write_frame(proc.stdin.fileno(), payload)
            answer = workers.read_frame(proc.stdout.fileno(), deadline=time.monotonic() + 30)
            assert answer == payload[::-1]
    finally:
        workers.stop(proc)
    assert proc.returncode is not None and _gone(proc.pid)


def test_a_silent_child_times_out_and_is_killed_and_reaped() -> None:
    proc = workers.spawn("tests.test_workers:_silent_child")
    assert proc.stdout is not None
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        workers.read_frame(proc.stdout.fileno(), deadline=time.monotonic() + 0.5)
    assert time.monotonic() - started < 5
    workers.stop(proc)
    assert proc.returncode == -9 and _gone(proc.pid)


def test_a_frame_over_the_size_limit_is_refused_unread() -> None:
    proc = workers.spawn("tests.test_workers:_echo_child")
    assert proc.stdin is not None and proc.stdout is not None
    try:
        workers.write_frame(proc.stdin.fileno(), b"x" * 1000)
        with pytest.raises(EOFError, match="over 100"):
            workers.read_frame(proc.stdout.fileno(), deadline=time.monotonic() + 30, maxlength=100)
    finally:
        workers.stop(proc)


def test_a_child_that_exits_is_an_end_of_file() -> None:
    proc = workers.spawn("tests.test_workers:_echo_child")
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.close()  # the child's read ends, and so does the child
    with pytest.raises(EOFError):
        workers.read_frame(proc.stdout.fileno(), deadline=time.monotonic() + 30)
    workers.stop(proc)
    assert proc.returncode == 0 and _gone(proc.pid)


def test_limits_a_child_sets_on_itself() -> None:
    proc = workers.spawn("tests.test_workers:_limited_child")
    assert proc.stdout is not None
    try:
        (cpu_soft, cpu_hard), memory = ast.literal_eval(
            workers.read_frame(proc.stdout.fileno(), deadline=time.monotonic() + 30).decode()
        )
    finally:
        workers.stop(proc)
    assert cpu_soft == 7 and cpu_hard == resource.getrlimit(resource.RLIMIT_CPU)[1]  # the hard limit stays
    assert memory == (1 << 30, 1 << 30)
