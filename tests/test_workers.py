"""docsvc.core.workers: the runtime the template workers, the PDF helper and OCR share — a child
started by entry point, frames with deadlines and size limits, limits, and no child left behind."""

from __future__ import annotations

import ast
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from docsvc.core import workers
from tests.conftest import require, within
from tests.test_serve import running

ROOT = Path(__file__).resolve().parents[1]


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


@pytest.mark.timing
def test_a_silent_child_times_out_and_is_killed_and_reaped() -> None:
    proc = workers.spawn("tests.test_workers:_silent_child")
    assert proc.stdout is not None
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        workers.read_frame(proc.stdout.fileno(), deadline=time.monotonic() + 0.5)
    assert time.monotonic() - started < within(5)
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


class _Echo(workers.Child):
    """A pool's handle on an echoing child (a real process)."""

    def __init__(self) -> None:
        self.proc = workers.spawn("tests.test_workers:_echo_child")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        workers.stop(self.proc)

    def echo(self, payload: bytes) -> bytes:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        workers.write_frame(self.proc.stdin.fileno(), payload)
        return workers.read_frame(self.proc.stdout.fileno(), deadline=time.monotonic() + 30)


def _wait_for(condition: Callable[[], bool], seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_a_bounded_pool_reuses_a_healthy_child_and_replaces_a_failed_one() -> None:
    pool = workers.Pool(_Echo, size=1, replace=True, acquire_timeout_s=0.3, busy=lambda: TimeoutError("busy"))
    try:
        first = pool.checkout()
        assert first.echo(b"ab") == b"ba"
        with pytest.raises(TimeoutError, match="busy"):
            pool.checkout()  # the only child is taken
        pool.checkin(first, healthy=True)
        again = pool.checkout()
        assert again is first and again.tasks == 2
        pool.checkin(again, healthy=False)
        assert first.proc.returncode is not None and _gone(first.proc.pid)
        assert _wait_for(lambda: pool.counts()["idle"] == 1)  # the replacement, started off the caller's path
        replacement = pool.checkout()
        assert replacement is not first and replacement.echo(b"cd") == b"dc"
        assert pool.counts() == {"live": 1, "idle": 0, "replaced": 1}
        pool.checkin(replacement, healthy=True)
    finally:
        pool.close()
    assert replacement.proc.returncode is not None and _gone(replacement.proc.pid)


def test_an_unbounded_pool_keeps_few_idle_and_never_hands_out_a_dead_child() -> None:
    pool = workers.Pool(_Echo, keep_idle=1)
    try:
        a, b = pool.checkout(), pool.checkout()  # no bound: each caller gets its own
        assert a is not b and pool.counts()["live"] == 2
        pool.checkin(a, healthy=True)
        pool.checkin(b, healthy=True)  # one idle child is enough: this one is stopped
        assert b.proc.returncode is not None and _gone(b.proc.pid)
        a.proc.kill()  # it dies while idle (the OOM killer, an operator)
        a.proc.wait()
        c = pool.checkout()
        assert c is not a and c.echo(b"x") == b"x"
        assert _gone(a.proc.pid) and pool.counts()["live"] == 1
        pool.checkin(c, healthy=True)
    finally:
        pool.close()


def _limited_entry(data: bytes, request: dict[str, Any]) -> dict[str, Any]:
    """Runs in a limited child: reports its limits, or hangs, or dies, as ``data`` says."""
    if data == b"hang":
        time.sleep(60)
    if data == b"die":  # as RLIMIT_CPU or the OOM killer would end it
        os.kill(os.getpid(), signal.SIGKILL)
    return {
        "reversed": data[::-1].decode(),
        "param": request["param"],
        "cpu": resource.getrlimit(resource.RLIMIT_CPU),
        "memory": resource.getrlimit(resource.RLIMIT_AS),
    }


def _run(data: bytes, timeout_s: float = 20) -> dict[str, Any]:
    return workers.run_limited(
        "tests.test_workers:_limited_entry",
        data,
        memory_bytes=2 << 30,
        cpu_seconds=20,
        timeout_seconds=timeout_s,
        preload=("json",),
        param="p",
    )


def test_a_limited_child_answers_under_its_limits() -> None:
    assert _run(b"abc") == {"reversed": "cba", "param": "p", "cpu": [20, 21], "memory": [2 << 30, 2 << 30]}


@pytest.mark.timing
def test_a_limited_child_stopped_by_the_wall_clock_or_killed_says_so() -> None:
    started = time.monotonic()
    assert _run(b"hang", timeout_s=1) == {"stopped": "timeout"}
    assert time.monotonic() - started < within(10)
    assert _run(b"die") == {"stopped": "limit"}
    assert _run(b"ok")["reversed"] == "ko"  # the helper itself is fine


def test_a_forked_copy_that_closes_the_pool_leaves_the_parents_children_alone() -> None:
    pool = workers.Pool(_Echo, keep_idle=1)
    try:
        child = pool.checkout()
        pool.checkin(child, healthy=True)  # idle, in the list the fork copies
        pid = os.fork()
        if pid == 0:  # a forked server worker shutting down
            pool.close()
            os._exit(0)
        assert os.waitpid(pid, 0)[1] == 0
        assert child.alive() and pool.checkout().echo(b"still here") == b"ereh llits"
    finally:
        pool.close()


def test_a_process_stops_its_helpers_before_it_exits() -> None:
    script = (
        "from docsvc.core import workers; from tests.test_workers import _run; "
        "assert _run(b'abc')['reversed'] == 'cba'; "
        "print(*[h.proc.pid for h in workers._helpers._idle])"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    helpers = [int(p) for p in run.stdout.split()]
    assert helpers  # an idle helper, which would leave by itself only after its parent had gone
    assert not [pid for pid in helpers if running(pid)]


def _on_one_cpu(code: str, *, nice: int = 0) -> subprocess.Popen[bytes]:
    """A Python child pinned to this process's first CPU, ``nice`` below us."""
    cpu = min(os.sched_getaffinity(0))
    prelude = f"import os, time; os.sched_setaffinity(0, {{{cpu}}}); os.nice({nice})\n"
    return subprocess.Popen([sys.executable, "-c", prelude + code], stdout=subprocess.PIPE)


@pytest.mark.slow
def test_a_child_that_gives_way_is_given_the_time_it_waited_for_a_cpu():
    """OCR runs at a lower priority than the server: on a busy machine a page takes longer in
    wall time without taking longer to read. The limit counts the child's own time, so a page
    is not skipped for good because the server was busy; a child that is stuck is not helped."""
    require(workers.cpu_wait(os.getpid()) is not None, "this kernel gives no /proc/PID/schedstat")
    # A busy server: a process at our priority that never rests, on the CPU the child runs on.
    hog = _on_one_cpu("while True: pass")
    try:
        # 0.3 CPU-seconds of work at nice 10 beside it: about 3 s of wall time.
        child = _on_one_cpu(
            "start = time.process_time()\nwhile time.process_time() - start < 0.3: pass\nos.write(1, b'x')", nice=10
        )
        try:
            started = time.monotonic()
            workers.wait_readable(child.stdout.fileno(), 1.5, pid=child.pid)
            took = time.monotonic() - started
            assert child.stdout.read(1) == b"x"
            assert took > 1.5, "the child was never short of a CPU: nothing was tested"
        finally:
            workers.stop(child)
    finally:
        workers.stop(hog)
    # Stuck (asleep, not waiting for a CPU): timed out after its limit, not later.
    stuck = _on_one_cpu("time.sleep(30)")
    try:
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            workers.wait_readable(stuck.stdout.fileno(), 0.5, pid=stuck.pid)
        assert time.monotonic() - started < within(3)
    finally:
        workers.stop(stuck)
    assert workers.cpu_wait(stuck.pid) is None  # gone: the plain limit applies
