"""The converter's lifecycle: a CLI command that starts LibreOffice stops it before it exits.

Run as a real process (``python -m docsvc``-style entry point in a subprocess), with a marker in
its environment that every child inherits, so the processes it started can be found in /proc
among those of anyone else on the machine.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from docsvc.adapters.pdf import libreoffice_processes
from tests.conftest import wait_for
from tests.test_pdf import unix_sockets

SHIPPED = Path(__file__).resolve().parents[1] / "templates"
CLI = [sys.executable, "-c", "from docsvc.cli import main; main()"]


@pytest.fixture
def marked(config, unoserver_venv):
    """The command's environment with a marker of this test; what it leaves behind is killed
    at the end, so a failing test does not leak LibreOffice into the next ones."""
    marker = ("DOCSVC_TEST_RUN", uuid.uuid4().hex)
    env = {
        **os.environ,
        "DOCSVC_ARCHIVE_DIR": config["ARCHIVE_DIR"],
        "DOCSVC_INDEX_DIR": config["INDEX_DIR"],
        "DOCSVC_DATABASE_URL": config["DATABASE_URL"],
        "DOCSVC_TEMPLATES_DIR": str(SHIPPED),
        "DOCSVC_ACTOR": "起草人",
        "DOCSVC_UNOSERVER_VENV": str(unoserver_venv),
        marker[0]: marker[1],
    }
    yield marker, env
    for pid in libreoffice_processes(environ=marker):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _sample(env, tmp_path) -> Path:
    sample = subprocess.run([*CLI, "template", "sample", "sla"], env=env, capture_output=True, check=True)
    data = tmp_path / "sla.json"
    data.write_bytes(sample.stdout)
    return data


@pytest.mark.sqlite_only
@pytest.mark.libreoffice
def test_generate_pdf_leaves_no_libreoffice_running(marked, tmp_path):
    marker, env = marked
    data = _sample(env, tmp_path)
    assert libreoffice_processes(environ=marker) == {}
    done = subprocess.run(
        [*CLI, "generate", "sla", "--data", str(data), "--pdf", "--json"], env=env, capture_output=True, timeout=300
    )
    assert done.returncode == 0, done.stderr.decode()
    out = json.loads(done.stdout)
    # LibreOffice did run: the PDF is there …
    assert [r["media_type"] for r in out["renditions"]] == ["application/pdf"]
    # … and nothing it started is left (soffice.bin outlives its parent unless its group is killed).
    assert libreoffice_processes(environ=marker) == {}


def _signal_while_converting(
    marker, env, data: Path, signum: int, *, holding: Callable[[int], bool] = lambda pid: True
) -> subprocess.Popen[bytes]:
    """Run ``generate --pdf`` and send it ``signum`` once LibreOffice is seen running (and
    ``holding`` says yes of one of its processes); skip the test when the conversion finished
    first."""
    proc = subprocess.Popen(
        [*CLI, "generate", "sla", "--data", str(data), "--pdf"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    seen = False
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        running = libreoffice_processes(environ=marker)
        if any(name.startswith("soffice") and holding(pid) for pid, name in running.items()):
            seen = True
            proc.send_signal(signum)
            break
        time.sleep(0.05)
    proc.wait(60)
    if not seen:
        pytest.skip("the conversion finished before LibreOffice could be seen running")
    return proc


@pytest.mark.sqlite_only
@pytest.mark.libreoffice
def test_terminated_command_stops_libreoffice_too(marked, tmp_path):
    """SIGTERM while the converter runs (a CI timeout, systemd): the command still stops it."""
    marker, env = marked
    proc = _signal_while_converting(marker, env, _sample(env, tmp_path), signal.SIGTERM)
    assert proc.returncode != 0
    assert libreoffice_processes(environ=marker) == {}


@pytest.mark.sqlite_only
@pytest.mark.libreoffice
def test_a_killed_command_leaves_no_libreoffice_behind(marked, tmp_path):
    """SIGKILL (the OOM killer, kill -9) gives the command no chance to stop the converter: the
    unoserver's watch of its parent stops it, and LibreOffice with it, and removes what the
    command would have removed on closing: the converter's folder in the system's temporary
    one, and the socket LibreOffice binds in /tmp."""
    marker, env = marked
    system_temp = tmp_path / "system-temp"
    system_temp.mkdir()
    env = {**env, "TMPDIR": str(system_temp)}
    sockets: set[str] = set()

    def holds_its_socket(pid: int) -> bool:
        sockets.update(path for path in unix_sockets(pid) if path.startswith("/tmp/"))
        return bool(sockets)

    data = _sample(env, tmp_path)
    proc = _signal_while_converting(marker, env, data, signal.SIGKILL, holding=holds_its_socket)
    assert proc.returncode == -signal.SIGKILL
    assert wait_for(lambda: libreoffice_processes(environ=marker) == {}, 15), libreoffice_processes(environ=marker)
    assert wait_for(lambda: not any(system_temp.iterdir()), 5), sorted(p.name for p in system_temp.iterdir())
    assert [path for path in sockets if os.path.exists(path)] == []
