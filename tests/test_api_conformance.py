"""The REST API matches its OpenAPI document (docsvc/web/openapi.py): schemathesis, from PyPI,
runs every check it has against a live `docsvc serve` on loopback, authenticated with an
administrator's API token, for a bounded time (BUDGET_S) with a fixed seed (tests/schemathesis.toml). Zero
server errors and zero conformance findings: any finding fails the test with schemathesis's
report, which names the request and how to replay it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from docsvc.app import open_docsvc
from tests.conftest import require
from tests.test_serve import left_running, start_serve, started_by

ROOT = Path(__file__).resolve().parent.parent
# schemathesis's own time budget. 30 s runs every operation through all three phases (coverage,
# fuzzing, stateful): about 2,500 cases on a quiet two-core machine. DOCSVC_API_FUZZ_S asks for a
# longer run (the case count grows with it; the suite's share of CPU does too).
BUDGET_S = int(os.environ.get("DOCSVC_API_FUZZ_S") or 30)


@pytest.mark.slow
def test_the_api_matches_its_openapi_document(tmp_path):
    cli = Path(sys.executable).parent / "schemathesis"
    require(cli.exists(), "schemathesis is not installed (pip install -e '.[test]')")
    proc, api = start_serve(tmp_path, workers=1, TEMPLATES_DIR=str(ROOT / "templates"))
    try:
        # Something to find: two documents, one with two versions, so that ids in the stateful
        # phase's links lead to real records.
        for title in ("港口运维月报", "银行核心系统巡检记录"):
            assert api.upload(title, f"{title}：本月完成巡检 12 次。")[0] == 201
        settings = {
            "ARCHIVE_DIR": str(tmp_path / "archive"),
            "INDEX_DIR": str(tmp_path / "index"),
            "TEMPLATES_DIR": str(ROOT / "templates"),
            "FSYNC": "false",
        }
        svc = open_docsvc(settings)
        try:
            svc.archive.add_version(
                1, "第二版：本月完成巡检 13 次。".encode(), "v2.txt", actor="manager", reason="更正次数"
            )
            svc.users.create_user("root", "admin", actor="test", password="a-long-password-2")
            token = svc.users.issue_token("root", actor="test").secret
        finally:
            svc.close()
        run = subprocess.run(
            [
                str(cli),
                "--config-file",
                str(ROOT / "tests" / "schemathesis.toml"),
                "run",
                f"http://127.0.0.1:{api.port}/api/v1/openapi.json",
                "--checks",
                "all",
                "--max-time",
                str(BUDGET_S),
                "-H",
                f"Authorization: Bearer {token}",
            ],
            capture_output=True,
            text=True,
            timeout=BUDGET_S + 120,
            cwd=tmp_path,
        )
        report = run.stdout + run.stderr
        assert run.returncode == 0, report[-20000:]
        assert "no issues found" in report.lower() or " passed" in report, report[-5000:]
    finally:
        # Asked to stop, as an operator would: the server then stops what it started, the
        # LibreOffice of the PDFs asked for included.
        started = started_by(proc.pid)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    left = left_running(started)
    assert not left, f"still running after the server stopped: {left}"
