"""Shared fixtures: every storage test runs on SQLite and on PostgreSQL.

PostgreSQL comes from ``DOCSVC_TEST_POSTGRES_URL`` (for example
``postgresql+psycopg://postgres@127.0.0.1:5432/test``). Each test gets its own database,
cloned from a migrated template or emptied after an earlier test (tests/pgpool.py). Without
the variable the PostgreSQL cases are skipped with a reason — unless ``DOCSVC_REQUIRE_ALL=1``
(set by CI), which turns every missing service into a failure instead of a silent skip.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pickle
import shutil
import signal
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

# Python compiles a module it has no cached bytecode for at every import. The suite starts
# hundreds of Python processes (the CLI, servers, template workers) and each test worker
# rewrites every test module's asserts: with PYTHONDONTWRITEBYTECODE set (as container images
# often do) none of docsvc's or the tests' bytecode was ever cached, which cost each worker
# 5 CPU-seconds of collection alone. The suite's processes write it (__pycache__, ignored by git).
sys.dont_write_bytecode = False
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)

import pytest  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from docsvc.adapters import passwords  # noqa: E402
from docsvc.app import Docsvc, open_docsvc  # noqa: E402

# Detailed failures from the search backends' contract, whichever test module imports it first.
pytest.register_assert_rewrite("tests.search_contract")

# Semantic ranking embeds every indexed version in the background (a CPU-second or so each):
# off for the suite, which would pay it in every test that indexes; tests/test_semantic.py turns
# it on where it is the point. CLI and server processes the tests start inherit this.
os.environ["DOCSVC_SEMANTIC"] = "0"
# Commits do not wait for the disk (see the `config` fixture): for CLI and server processes too.
os.environ["DOCSVC_FSYNC"] = "0"
# Passwords are hashed with scrypt at about 0.1 CPU-s each, by design; the suite signs people up
# and in thousands of times, so its hashes (in this process) are cheap ones. Stored hashes name
# their method, so checking works the same; test_users.py checks the real default.
passwords.METHOD = "pbkdf2:sha256:1000"
PG_URL = os.environ.get("DOCSVC_TEST_POSTGRES_URL", "")


def _timing_factor() -> float:
    raw = os.environ.get("DOCSVC_TIMING_FACTOR", "") or "1"
    try:
        factor = float(raw)
    except ValueError:
        factor = 0.0
    if not 1 <= factor <= 100:
        raise pytest.UsageError(
            f"DOCSVC_TIMING_FACTOR={raw!r}: 应为 1 到 100 之间的数 / must be a number from 1 to 100 "
            "(how much slower than a quiet two-core machine this one is)"
        )
    return factor


# The suite's few wall-clock bounds (marked `timing`: a hostile input is answered within seconds,
# a runaway is stopped in time) hold on a quiet two-core machine; on a loaded one they are
# multiplied by DOCSVC_TIMING_FACTOR, so a slow machine does not fail them. Lower bounds (a
# timeout must not fire early) are never scaled.
TIMING_FACTOR = _timing_factor()


def within(seconds: float) -> float:
    """An upper bound on wall-clock time, scaled by DOCSVC_TIMING_FACTOR."""
    return seconds * TIMING_FACTOR


@contextlib.contextmanager
def ends_soon(seconds: float | None = None):
    """A parser loop that makes no progress fails the test instead of hanging the suite.

    The bound catches a loop, not a slow parse: by default 5 s, scaled like every upper bound,
    because a loaded machine has stalled a single parse of a few dozen characters past 0.5 s.
    """
    if seconds is None:
        seconds = within(5)

    def too_slow(signum, frame):
        raise AssertionError(f"the parser did not end within {seconds} s")

    previous = signal.signal(signal.SIGALRM, too_slow)
    # Again every 0.1 s: raised inside a garbage collector's callback (Hypothesis keeps one),
    # the error is only printed, and the loop would go on.
    signal.setitimer(signal.ITIMER_REAL, seconds, 0.1)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# Whole kinds of tests that take seconds each: `pytest -m "not slow"` (the quick loop) leaves them
# out, with those marked `slow` one by one (a server or a child process started, a model trained).
SLOW_MARKS = ("browser", "libreoffice")
SLOW_FILES = (
    "test_ocr",
    "test_semantic",
    "test_classify_meaning",  # the embedding model, as test_semantic
    "test_serve",
    "test_two_servers",
    "test_multi_node",
    "test_api_conformance",
    "test_faults",  # a child process killed at each step of a commit
    "test_workers",  # child processes started, stopped, killed
)


# The faces (pages and the REST API, tests/test_web_*.py) are tested on SQLite only, as are
# tests marked `sqlite_only` (what they are about is a converter, OCR or a face, not the
# catalog): what the catalog does on PostgreSQL is for the storage and service tests, which run
# on both.
FACE_FILES = "test_web_"


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """One worker more than there are cores (``-n auto``; ``--maxprocesses`` still caps it): the
    tests spend a third of their time waiting on what they started (servers, LibreOffice,
    Chromium, leases running out), and a third worker fills that time (two cores: the whole
    suite 8 min 34 s with two workers, 7 min 58 s with three)."""
    return (os.cpu_count() or 1) + 1


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    sqlite_only_on_postgres = [
        item
        for item in items
        if (item.path.name.startswith(FACE_FILES) or item.get_closest_marker("sqlite_only"))
        and getattr(item, "callspec", None) is not None
        and item.callspec.params.get("db_url") == "postgresql"
    ]
    if sqlite_only_on_postgres:
        config.hook.pytest_deselected(items=sqlite_only_on_postgres)
        chosen = set(map(id, sqlite_only_on_postgres))
        items[:] = [item for item in items if id(item) not in chosen]
    for item in items:
        if any(item.get_closest_marker(m) for m in SLOW_MARKS) or item.path.name.startswith(SLOW_FILES):
            item.add_marker(pytest.mark.slow)
    # The longest first: the workers then end together on the short ones, instead of one of
    # them running a minute-long test at the end while the others wait.
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


REQUIRE_ALL = os.environ.get("DOCSVC_REQUIRE_ALL", "") not in ("", "0", "false")


def require(condition: bool, reason: str) -> None:
    """Skip when a service is missing, or fail when CI requires everything."""
    if condition:
        return
    if REQUIRE_ALL:
        pytest.fail(f"{reason} (DOCSVC_REQUIRE_ALL is set, so this is a failure, not a skip)")
    pytest.skip(reason)


def require_rum(engine: sa.Engine) -> None:
    """The RUM extension on the PostgreSQL server (DOCSVC_SEARCH_PG_INDEX=rum), or a skip."""
    with engine.connect() as conn:
        available = conn.execute(sa.text("SELECT FROM pg_available_extensions WHERE name = 'rum'")).first()
    require(available is not None, "the PostgreSQL server has no RUM extension (Debian: postgresql-15-rum)")


def _admin_engine() -> sa.Engine:
    return sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="session")
def pg_template():
    """A migrated PostgreSQL database that each test clones (CREATE DATABASE … TEMPLATE)."""
    require(bool(PG_URL), "DOCSVC_TEST_POSTGRES_URL is not set; PostgreSQL tests need a server")
    engine = _admin_engine()
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("select 1")
    except sa.exc.OperationalError as exc:
        pytest.fail(f"PostgreSQL at {PG_URL} is unreachable: {exc}")
    name = f"docsvc_tpl_{uuid.uuid4().hex[:10]}"
    with engine.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = sa.engine.make_url(PG_URL).set(database=name)
    from docsvc.adapters.catalog import SqlCatalog

    cat = SqlCatalog(url.render_as_string(hide_password=False))
    cat.migrate()
    cat.dispose()
    yield name
    with engine.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    engine.dispose()


@pytest.fixture(scope="session")
def pg_databases(pg_template):
    """Each test's own PostgreSQL catalog: a clone of the template, or one a test before emptied."""
    from tests.pgpool import PgDatabases

    databases = PgDatabases(PG_URL, pg_template)
    yield databases
    databases.close()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """A migrated SQLite catalog that each test copies: migrating one costs ten times the copy."""
    from docsvc.adapters.catalog import SqlCatalog

    path = tmp_path_factory.mktemp("sqlite-template") / "catalog.sqlite3"
    cat = SqlCatalog(f"sqlite:///{path}")
    cat.migrate()
    cat.dispose()
    assert not path.with_name(path.name + "-wal").exists(), "the template's write-ahead log must be checkpointed"
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        target = tmp_path / "catalog.sqlite3"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), target)
        yield f"sqlite:///{target}"
        return
    with request.getfixturevalue("pg_databases").lent() as url:
        yield url


@pytest.fixture
def config(tmp_path, db_url) -> dict:
    # No shipped templates here: archive tests count blobs and audit entries from zero.
    # Template tests use the `shipped` config below.
    (tmp_path / "no-templates").mkdir(exist_ok=True)
    return {
        "ARCHIVE_DIR": str(tmp_path / "archive"),
        "INDEX_DIR": str(tmp_path / "index"),
        "DATABASE_URL": db_url,
        "TEMPLATES_DIR": str(tmp_path / "no-templates"),
        # Waiting for the disk at every commit was about half the wall time of the archive and
        # web tests on a plain disk; what is written is the same. Tests of durability (tests/test_faults.py) turn it back on. A string, as
        # the tests that pass this on to a command's environment need.
        "FSYNC": "0",
    }


@pytest.fixture
def svc(config):
    s = open_docsvc(config)
    yield s
    s.close()


T = TypeVar("T")


def once_per_run(tmp_path_factory: pytest.TempPathFactory, worker_id: str, name: str, make: Callable[[], T]) -> T:
    """What ``make()`` returns, made by the first xdist worker that asks and read back (pickled,
    from this run's temporary folder) by the others, which wait meanwhile: for session fixtures
    that take seconds of CPU, which workers making them side by side on two cores would share."""
    if worker_id == "master":
        return make()
    root = tmp_path_factory.getbasetemp().parent  # this run's, shared by its workers
    made = root / f"{name}.pickle"
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if made.exists():
            return pickle.loads(made.read_bytes())
        value = make()
        made.write_bytes(pickle.dumps(value))
        return value


@pytest.fixture(scope="session")
def bad_inputs(tmp_path_factory, worker_id) -> Path:
    """Hostile samples (zip bombs, XXE, broken PDFs …), made by tests/hostile.py once per run."""
    from tests.hostile import SAMPLES, write_samples

    folder = tmp_path_factory.mktemp("badinputs")
    made = once_per_run(
        tmp_path_factory, worker_id, "badinputs", lambda: {name: make() for name, (_what, make) in SAMPLES.items()}
    )
    return write_samples(folder, made)


META = {
    "title": "大连港集团信息系统运维服务合同",
    "doc_type": "contract",
    "service_category": "4.2",
    "doc_class": "user",
    "project": "港口运维二期",
    "counterparty": "大连港集团有限公司",
}


def wait_for(predicate, timeout_s: float = 10.0) -> bool:
    """Poll ``predicate`` until it is true (True) or ``timeout_s`` passes (False): for work that
    another thread or process finishes."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def poll_until(check, what: str, timeout_s: float = 20.0):
    """Poll ``check`` until it returns something true (returned) or ``timeout_s`` passes (an
    AssertionError naming ``what``); a server that is not listening yet counts as not yet."""
    import http.client

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            got = check()
            if got:
                return got
        except (OSError, http.client.HTTPException):
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def add(svc: Docsvc, data: bytes = "合同正文：乙方提供7×24小时运维服务。".encode(), name: str = "合同.txt", **meta):
    return svc.archive.add_document(data, name, {**META, **meta}, actor="张伟")


@pytest.fixture(scope="session")
def soffice() -> str:
    """LibreOffice's soffice (libreoffice-writer-nogui and fonts-noto-cjk from Debian)."""
    from docsvc.adapters.pdf import find_soffice
    from docsvc.errors import Unavailable

    try:
        return find_soffice()
    except Unavailable as exc:
        require(False, f"LibreOffice is not installed ({exc.en})")
        raise


@pytest.fixture(scope="session")
def unoserver_venv(soffice: str) -> Path:
    """The warm converter's venv (Debian's python3-uno + unoserver from PyPI, made once)."""
    from docsvc.adapters.pdf import default_unoserver_venv, ensure_unoserver_venv
    from docsvc.errors import Unavailable

    path = default_unoserver_venv()
    try:
        ensure_unoserver_venv(path)
    except Unavailable as exc:
        require(False, f"no unoserver venv at {path}: {exc.en}")
    return path


# -- an S3 protocol server on loopback (moto in server mode: real HTTP, not mocked in-process) ---
S3_KEYS = {
    "AWS_ACCESS_KEY_ID": "docsvc-test",
    "AWS_SECRET_ACCESS_KEY": "docsvc-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}


class S3Server:
    """A moto S3 server on 127.0.0.1. ``stop()`` and ``start()`` take the store away and bring it
    back on the same port with its objects (moto keeps them in this process's memory)."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        self._cls = ThreadedMotoServer
        self.port = 0
        self.start()

    def start(self) -> None:
        self._server = self._cls(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()
        self.port = self._server.get_host_and_port()[1]

    def stop(self) -> None:
        self._server.stop()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self):
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=S3_KEYS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=S3_KEYS["AWS_SECRET_ACCESS_KEY"],
        )

    def new_bucket(self) -> str:
        name = f"docsvc-{uuid.uuid4().hex[:16]}"
        self.client().create_bucket(Bucket=name)
        return name


def _start_s3() -> S3Server:
    try:
        import moto.server  # noqa: F401
    except ImportError:
        require(False, "moto[server] is not installed; the S3 tests need it (pip install -e '.[test]')")
    for key, value in S3_KEYS.items():
        os.environ.setdefault(key, value)  # boto3 in docsvc (and in its child processes) reads these
    return S3Server()


@pytest.fixture(scope="session")
def s3_server():
    server = _start_s3()
    yield server
    server.stop()


@pytest.fixture
def own_s3_server():
    """A server of the test's own, for tests that stop it."""
    server = _start_s3()
    yield server
    try:
        server.stop()
    except Exception:  # noqa: BLE001 - already stopped by the test
        pass


@pytest.fixture
def s3_config(config, s3_server) -> dict:
    """``config`` with the blobs in a fresh bucket of the S3 server."""
    return {**config, "BLOB_URL": f"s3://{s3_server.new_bucket()}/archive", "S3_ENDPOINT_URL": s3_server.endpoint}


@pytest.fixture
def people(svc):
    """The users of tests/webutil.PEOPLE (every role, members in one project each) in ``svc``;
    returns who → that user's Guard, as the CLI gets it."""
    from tests.webutil import PASSWORD, PEOPLE

    for name, (role, projects) in PEOPLE.items():
        svc.users.create_user(name, role, actor="setup", password=PASSWORD, projects=projects)
    return lambda who: svc.guard(svc.users.principal_for_cli(who))
