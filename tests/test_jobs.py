"""The job queue in the catalog: each job run once across servers, leases, retries, periodic jobs.

Every test runs on SQLite and on PostgreSQL. "Servers" here are separate Docsvc objects, each with
its own engine and connection pool on the same database (as separate processes would have), and in
one test a real child process killed with SIGKILL. Time is a clock the test moves, so a lease runs
out or a day passes without waiting for it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from docsvc.adapters.jobs import JobState, JobStore, LeaseLost
from docsvc.app import open_docsvc
from docsvc.cli import cli
from docsvc.core.model import AuditAction
from docsvc.errors import InvalidInput, Unavailable
from docsvc.services import background
from docsvc.services.jobs import JobRunner, JobService, next_boundary, node_state
from tests.conftest import add, wait_for
from tests.docxutil import make_docx

UTC = dt.UTC
T0 = dt.datetime(2026, 12, 4, 2, 30, tzinfo=UTC)  # 10:30 in Shanghai
WAIT_S = 60.0  # generous bound for work another thread or process finishes (never a timing assertion)


class Clock:
    def __init__(self, now: dt.datetime = T0) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


def service(svc, node: str, clock: Clock | None = None, **kw) -> JobService:
    """A JobService of its own on ``svc``'s database (a server's, without docsvc's job kinds)."""
    return JobService(JobStore(svc.catalog.engine), node=node, clock=clock or Clock(), **kw)


@pytest.fixture
def other(config):
    """A second server on the same catalog: its own Docsvc, engine and connections."""
    s = open_docsvc(config)
    yield s
    s.close()


# -- the queue --------------------------------------------------------------------------------
def test_a_job_is_claimed_run_and_recorded(svc):
    jobs = service(svc, "a")
    jobs.register("test.echo", lambda ctx: {"echo": ctx.job.payload["x"], "node": ctx.node})
    job, created = jobs.enqueue("test.echo", {"x": "服务等级协议"}, actor="张伟")
    assert created and job.state == JobState.QUEUED and job.attempts == 0 and job.created_by == "张伟"
    done = jobs.run_next()
    assert done.id == job.id and done.state == JobState.DONE and done.attempts == 1 and done.node == "a"
    assert done.result == {"echo": "服务等级协议", "node": "a"} and done.error is None
    assert done.started_at == done.finished_at == T0 and done.lease_until is None
    assert jobs.run_next() is None  # nothing left


def test_asking_twice_while_queued_or_running_is_the_same_job(svc, other):
    a, b = service(svc, "a"), service(other, "b")
    a.register("test.noop", lambda ctx: None)
    first, created = a.enqueue("test.noop", {}, actor="x", key="k")
    again, created_again = b.enqueue("test.noop", {}, actor="y", key="k")  # another server
    assert created and not created_again and again.id == first.id
    claimed = a.store.claim("a", lease_s=60, now=T0)
    assert b.enqueue("test.noop", {}, actor="y", key="k")[0].id == first.id  # running: still the same
    a.run(claimed, "a")
    fresh, created = b.enqueue("test.noop", {}, actor="y", key="k")  # finished: a new one
    assert created and fresh.id != first.id
    assert {j.id for j in a.store.list_jobs()[0]} == {first.id, fresh.id}


def test_a_failing_job_is_retried_later_then_failed_with_its_error(svc):
    clock = Clock()
    jobs = service(svc, "a", clock)
    calls = []

    def flaky(ctx):
        calls.append(ctx.job.attempts)
        raise Unavailable("转换服务暂时不可用。", "The converter is unavailable for now.")

    jobs.register("test.flaky", flaky, max_attempts=3)
    _job, _ = jobs.enqueue("test.flaky", {}, actor="x", key="flaky")
    first = jobs.run_next()
    assert first.state == JobState.QUEUED and first.attempts == 1
    assert first.error == {
        "code": "unavailable",
        "message": "转换服务暂时不可用。",
        "message_en": "The converter is unavailable for now.",
    }
    assert first.run_after == T0 + dt.timedelta(seconds=30)
    assert jobs.run_next() is None  # not due yet
    clock.advance(seconds=30)
    assert jobs.run_next().run_after == clock.now + dt.timedelta(seconds=60)  # backing off
    clock.advance(seconds=60)
    last = jobs.run_next()
    assert calls == [1, 2, 3]
    assert last.state == JobState.FAILED and last.attempts == 3 and last.finished_at == clock.now
    assert last.error["message"] == "转换服务暂时不可用。" and last.error["message_en"]
    clock.advance(hours=1)
    assert jobs.run_next() is None  # failed stays failed
    assert jobs.enqueue("test.flaky", {}, actor="x", key="flaky")[1]  # and no longer holds its key


def test_a_job_whose_input_is_wrong_fails_at_once(svc):
    jobs = service(svc, "a")

    def bad(ctx):
        raise InvalidInput("版本不是 Word 文档。", "The version is not a Word document.")

    jobs.register("test.bad", bad)
    jobs.enqueue("test.bad", {}, actor="x")
    failed = jobs.run_next()
    assert failed.state == JobState.FAILED and failed.attempts == 1
    assert (
        failed.error["code"] == "invalid_input" and failed.error["message_en"] == "The version is not a Word document."
    )


def test_an_unexpected_exception_is_kept_as_a_bilingual_error(svc):
    jobs = service(svc, "a", retry_base_s=0)
    jobs.register("test.boom", lambda ctx: 1 / 0, max_attempts=1)
    jobs.enqueue("test.boom", {}, actor="x")
    failed = jobs.run_next()
    assert failed.state == JobState.FAILED
    assert "ZeroDivisionError" in failed.error["message"] and "ZeroDivisionError" in failed.error["message_en"]


def test_a_job_whose_lease_ran_out_is_taken_by_another_node(svc, other):
    store_a, store_b = JobStore(svc.catalog.engine), JobStore(other.catalog.engine)
    job, _ = store_a.enqueue("test.slow", {}, actor="x", now=T0)
    held = store_a.claim("a", lease_s=60, now=T0)
    assert held.node == "a" and held.lease_until == T0 + dt.timedelta(seconds=60)
    assert store_b.claim("b", lease_s=60, now=T0 + dt.timedelta(seconds=59)) is None  # a still holds it
    assert store_a.renew(held, lease_s=60, now=T0 + dt.timedelta(seconds=50))  # a renews: until T0+110
    assert store_b.claim("b", lease_s=60, now=T0 + dt.timedelta(seconds=100)) is None
    # a dies (no more renewals); once the lease has run out b takes the job, as attempt 2
    taken = store_b.claim("b", lease_s=60, now=T0 + dt.timedelta(seconds=111))
    assert taken.id == job.id and taken.node == "b" and taken.attempts == 2
    assert taken.error["code"] == "lease_expired" and "a" in taken.error["message"]
    # a comes back from its stall: it can no longer renew, finish or fail the job
    now = T0 + dt.timedelta(seconds=112)
    assert not store_a.renew(held, lease_s=60, now=now)
    assert not store_a.finish(held, {"by": "a"}, now=now)
    assert not store_a.fail(held, {"code": "x"}, now=now)
    assert store_b.finish(taken, {"by": "b"}, now=now)
    assert store_a.get(job.id).result == {"by": "b"} and store_a.get(job.id).state == JobState.DONE


def test_a_run_that_lost_its_job_records_nothing(svc, other):
    store_a, store_b = JobStore(svc.catalog.engine), JobStore(other.catalog.engine)
    store_a.enqueue("test.slow", {}, actor="x", now=T0)
    held = store_a.claim("a", lease_s=10, now=T0)
    store_b.claim("b", lease_s=10, now=T0 + dt.timedelta(seconds=11))
    before = svc.catalog.audit_head()
    from docsvc.adapters.jobs import fence

    with pytest.raises(LeaseLost) as exc:
        with svc.catalog.transaction() as tx:
            tx.append_audit("a", AuditAction.RENDITION_ADDED, details={"would": "duplicate"})
            fence(tx.conn, held.id, "a", held.attempts)
    assert exc.value.en.startswith(f"Job {held.id} was taken over")
    assert svc.catalog.audit_head() == before  # rolled back


def test_a_node_that_dies_on_its_last_attempt_leaves_a_failed_job(svc):
    store = JobStore(svc.catalog.engine)
    job, _ = store.enqueue("test.slow", {}, actor="x", now=T0, max_attempts=1)
    store.claim("a", lease_s=10, now=T0)
    assert store.claim("b", lease_s=10, now=T0 + dt.timedelta(seconds=11)) is None
    failed = store.get(job.id)
    assert failed.state == JobState.FAILED and failed.error["code"] == "lease_expired" and failed.node == "a"


def test_a_runner_claims_only_the_kinds_it_can_run(svc):
    jobs = service(svc, "a")
    jobs.register("test.known", lambda ctx: None)
    unknown, _ = jobs.enqueue("test.from_a_newer_server", {}, actor="x")
    known, _ = jobs.enqueue("test.known", {}, actor="x")
    assert jobs.run_next().id == known.id and jobs.run_next() is None
    assert jobs.get(unknown.id).state == JobState.QUEUED


def test_concurrent_claims_never_take_a_job_twice(svc, other):
    stores = [JobStore(s.catalog.engine) for s in (svc, other)]
    ids = {stores[0].enqueue("test.n", {"i": i}, actor="x", now=T0)[0].id for i in range(60)}
    claimed: list[tuple[int, str]] = []
    lock = threading.Lock()
    start = threading.Barrier(6)

    def claimer(n: int) -> None:
        store, node = stores[n % 2], f"node-{n}"
        start.wait()
        while (job := store.claim(node, lease_s=60, now=T0)) is not None:
            with lock:
                claimed.append((job.id, node))

    threads = [threading.Thread(target=claimer, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT_S)
    assert sorted(i for i, _ in claimed) == sorted(ids)  # every job once, none twice


def test_two_runners_split_a_queue_and_run_each_job_once(svc, other):
    ran: list[tuple[int, str]] = []
    lock = threading.Lock()
    # Each runner's first job waits until the other runner holds one too: both take part, whatever
    # the scheduler does (a runner runs one job at a time).
    both = threading.Barrier(2, timeout=WAIT_S)
    first_of: set[str] = set()

    def record(ctx):
        with lock:
            first = ctx.node not in first_of
            first_of.add(ctx.node)
        if first:
            both.wait()
        with lock:
            ran.append((ctx.job.id, ctx.node))
        return {"node": ctx.node}

    services = [JobService(JobStore(s.catalog.engine), node=n) for s, n in ((svc, "server-a"), (other, "server-b"))]
    for s in services:
        s.register("test.record", record)
    ids = [services[0].enqueue("test.record", {"i": i}, actor="x")[0].id for i in range(40)]
    runners = [JobRunner(s, poll_s=0.05, heartbeat_s=0.5) for s in services]
    for r in runners:
        r.start()
    try:
        assert wait_for(lambda: services[0].store.stats().counts["done"] == 40, WAIT_S), services[0].store.stats()
    finally:
        for r in runners:
            r.stop()
    assert sorted(i for i, _ in ran) == ids  # each job ran exactly once
    assert {n for _, n in ran} == {"server-a", "server-b"}
    jobs = {j.id: j for j in services[1].store.list_jobs(limit=100)[0]}
    assert all(jobs[i].node == n and jobs[i].attempts == 1 and jobs[i].result == {"node": n} for i, n in ran)
    assert {n.name: n.stopped_at is not None for n in services[0].store.nodes()} == {"server-a": True, "server-b": True}


def test_kinds_kept_apart_run_in_their_lane_and_never_hold_up_the_main_thread(svc):
    """The classifier's training runs in a lane the main thread leaves it to: a PDF asked for
    while it trains is not queued behind it."""
    jobs = JobService(JobStore(svc.catalog.engine), node="server-a")
    release = threading.Event()
    threads: list[str] = []

    def long(ctx):
        threads.append(threading.current_thread().name)
        assert release.wait(WAIT_S)

    jobs.register("test.long", long)
    jobs.register("test.short", lambda ctx: {"thread": threading.current_thread().name})
    runner = JobRunner(jobs, poll_s=0.05, heartbeat_s=0.5, lanes=[("test.long",)], apart=("test.long",))
    for _ in range(3):
        jobs.enqueue("test.long", {}, actor="x")
    runner.start()
    try:
        short = jobs.enqueue("test.short", {}, actor="x")[0]
        assert wait_for(lambda: jobs.store.get(short.id).state is JobState.DONE, WAIT_S)
        assert jobs.store.get(short.id).result == {"thread": "docsvc-jobs"}
        release.set()
        assert wait_for(lambda: jobs.store.stats().counts["done"] == 4, WAIT_S), jobs.store.stats()
    finally:
        release.set()
        runner.stop()
    assert threads == ["docsvc-jobs-test.long"] * 3
    with pytest.raises(ValueError, match=r"test\.short"):
        JobRunner(jobs, apart=("test.short",))


# -- periodic jobs ----------------------------------------------------------------------------
def test_a_periodic_job_fires_once_per_period_across_servers(svc, other, config):
    third = open_docsvc(config)
    clock = Clock(dt.datetime(2026, 12, 4, 3, 20, tzinfo=UTC))
    try:
        servers = [
            service(s, f"node-{i}", clock, tz=ZoneInfo("Asia/Shanghai")) for i, s in enumerate((svc, other, third))
        ]
        for s in servers:
            s.register("test.hourly", lambda ctx: {"at": ctx.job.payload["scheduled_at"]})
            s.every("hourly", "test.hourly", dt.timedelta(hours=1))

        def tick_all() -> list:
            fired, lock, start = [], threading.Lock(), threading.Barrier(len(servers))

            def tick(s):
                start.wait()
                got = s.tick()
                with lock:
                    fired.extend(got)

            threads = [threading.Thread(target=tick, args=(s,)) for s in servers]
            for t in threads:
                t.start()
            for t in threads:
                t.join(WAIT_S)
            while servers[0].run_next() is not None:
                pass
            return fired

        assert len(tick_all()) == 1  # the first start: due at once, fired by one server
        assert tick_all() == []  # same period
        schedule = servers[0].store.schedules()[0]
        assert schedule.next_run_at == dt.datetime(2026, 12, 4, 4, 0, tzinfo=UTC)  # the next full hour
        assert schedule.last_node in {"node-0", "node-1", "node-2"}
        clock.advance(minutes=39)
        assert tick_all() == []  # 11:59 in Shanghai
        clock.advance(minutes=1)
        assert len(tick_all()) == 1  # 12:00: the next period
        clock.advance(hours=5, minutes=30)  # servers were down for five periods: one job, not five
        assert len(tick_all()) == 1
        assert tick_all() == []
        done = servers[0].store.list_jobs(kind="test.hourly")[0]
        assert len(done) == 3 and all(j.state == JobState.DONE for j in done)
    finally:
        third.close()


def test_a_period_does_not_queue_again_while_its_last_job_waits(svc):
    clock = Clock()
    jobs = service(svc, "a", clock)
    jobs.every("hourly", "test.nobody_runs_this", dt.timedelta(hours=1))
    assert len(jobs.tick()) == 1
    clock.advance(hours=3)
    again = jobs.tick()
    assert len(again) == 1 and len(jobs.store.list_jobs()[0]) == 1  # the same job: it is still queued


def test_periods_start_at_local_midnight():
    shanghai = ZoneInfo("Asia/Shanghai")
    now = dt.datetime(2026, 12, 4, 17, 5, tzinfo=UTC)  # 01:05 on the 5th in Shanghai
    assert next_boundary(now, dt.timedelta(days=1), shanghai) == dt.datetime(2026, 12, 5, 16, 0, tzinfo=UTC)
    assert next_boundary(now, dt.timedelta(hours=1), shanghai) == dt.datetime(2026, 12, 4, 18, 0, tzinfo=UTC)
    with pytest.raises(ValueError):
        JobService(None).every("x", "k", dt.timedelta(hours=7))  # periods must divide a day


# -- a server killed mid-job ------------------------------------------------------------------
CHILD = """
import json, sys, threading
from docsvc.app import open_docsvc
from docsvc.services.jobs import JobRunner
svc = open_docsvc(json.loads(sys.argv[1]))
jobs = svc.jobs
jobs.lease_s = 1.0  # renewed every third of a second while the child lives

def hang(ctx):
    with open(sys.argv[2], "w") as f:
        f.write(str(ctx.job.id))
    threading.Event().wait()  # mid-job, for ever

jobs.register("test.hang", hang)
JobRunner(jobs, node="doomed", poll_s=0.05).start()
threading.Event().wait()
"""


@pytest.mark.slow
def test_a_job_of_a_server_killed_with_sigkill_is_taken_over_after_its_lease(svc, config, tmp_path: Path):
    job, _ = svc.jobs.enqueue("test.hang", {"what": "mid-job"}, actor="张伟")
    marker = tmp_path / "started"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCSVC_")}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, json.dumps(config), str(marker)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        assert wait_for(lambda: marker.exists() or child.poll() is not None, WAIT_S)
        assert child.poll() is None, child.stdout.read().decode()
        running = svc.jobs.get(job.id)
        assert running.state == JobState.RUNNING and running.node == "doomed" and int(marker.read_text()) == job.id
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    survivor = svc.jobs
    survivor.lease_s = 1.0
    survivor.register("test.hang", lambda ctx: {"finished_by": ctx.node})
    runner = JobRunner(survivor, node="survivor", poll_s=0.05)
    runner.start()
    try:
        assert wait_for(lambda: survivor.get(job.id).finished, WAIT_S)
    finally:
        runner.stop()
    done = survivor.get(job.id)
    assert done.state == JobState.DONE and done.node == "survivor" and done.attempts == 2
    assert done.result == {"finished_by": "survivor"}
    doomed = next(n for n in survivor.store.nodes() if n.name == "doomed")
    assert doomed.stopped_at is None  # it never said goodbye: the health page shows it silent
    assert node_state(doomed, doomed.last_seen_at + dt.timedelta(seconds=16)) == "silent"


# -- docsvc's own job kinds -------------------------------------------------------------------
def test_review_reminders_record_each_due_document_once_per_due_date(svc):
    clock = Clock(dt.datetime(2026, 12, 4, 16, 30, tzinfo=UTC))  # 00:30 on 5 December in Shanghai
    svc.jobs.clock = clock
    due = add(svc, title="港口运维服务等级协议", review_due="2026-12-01").document.id
    today = add(svc, title="今天到期的计划", review_due="2026-12-05").document.id
    add(svc, title="明年才复审", review_due="2027-06-30")
    add(svc, title="已归档的协议", review_due="2026-11-01", status="archived")

    def run_day() -> dict:
        svc.jobs.tick()
        results = []
        while (job := svc.jobs.run_next()) is not None:
            if job.kind == background.REVIEW_REMINDERS:
                results.append(job)
        assert len(results) == 1 and results[0].state == JobState.DONE, results
        return results[0].result

    assert sorted(run_day()["reminded"]) == sorted([due, today])
    events = [e for e in svc.catalog.audit_entries(actions=[AuditAction.REVIEW_REMINDED])]
    assert [(e.document_id, e.details["review_due"]) for e in events] == [(due, "2026-12-01"), (today, "2026-12-05")]
    assert events[0].details["overdue_days"] == 4 and events[0].actor == "docsvc"
    assert sorted(background.open_reminders(svc)) == sorted([due, today])

    clock.advance(days=1)
    assert run_day() == {"day": "2026-12-06", "due": 2, "reminded": []}  # the next day: nothing new
    # Reviewed: a new date in the future takes it off; moved to another past date, it is reminded again
    svc.archive.set_metadata(today, {"review_due": "2027-12-05"}, actor="王芳", reason="已复审")
    svc.archive.set_metadata(due, {"review_due": "2026-12-03"}, actor="王芳", reason="更正复审日期")
    assert background.open_reminders(svc) == []
    clock.advance(days=1)
    assert run_day()["reminded"] == [due]
    assert background.open_reminders(svc) == [due]
    assert svc.verify_audit().ok


def test_the_review_reminder_count_follows_the_readers_access(svc):
    svc.jobs.clock = Clock(dt.datetime(2026, 12, 4, 16, 30, tzinfo=UTC))
    user = add(svc, title="用户文档", review_due="2026-12-01").document.id
    site = add(svc, title="现场巡检记录", doc_class="site", project="港口运维二期", review_due="2026-12-01").document.id
    svc.jobs.tick()
    while svc.jobs.run_next() is not None:
        pass
    svc.users.create_user("bob", "member", actor="t", password="correct-horse-42", projects=["银行核心系统"])
    svc.users.create_user("mgr", "manager", actor="t", password="correct-horse-42")
    day = dt.date(2026, 12, 5)
    assert svc.guard(svc.users.principal_for_cli("bob")).dashboard(day).reminded == {user}
    assert svc.guard(svc.users.principal_for_cli("mgr")).dashboard(day).reminded == {user, site}
    health = svc.guard(svc.users.principal_for_cli("mgr")).health()
    assert health.reviews["open"] == 2 and health.reviews["last_run_at"]


def test_the_hourly_sweep_removes_orphans_once_across_servers(config):
    servers = [open_docsvc({**config, "ORPHAN_GRACE_S": 0}) for _ in range(2)]
    try:
        stored = servers[0].blobs.put("一份没有被任何版本引用的文件".encode())
        for s in servers:
            s.jobs.tick()
        sweeps = [j for s in servers for j in iter(s.jobs.run_next, None) if j.kind == background.ORPHANS_SWEEP]
        assert len(sweeps) == 1 and sweeps[0].result == {"removed": 1}
        assert not servers[1].blobs.exists(stored.sha256)
    finally:
        for s in servers:
            s.close()


def test_health_shows_the_queue_the_nodes_and_who_ran_what(svc, other):
    clock = Clock()
    svc.jobs.clock = clock

    def bad(ctx):
        raise InvalidInput("坏。", "Bad.")

    svc.jobs.register("test.ok", lambda ctx: None)
    svc.jobs.register("test.bad", bad)
    svc.jobs.enqueue("test.ok", {}, actor="x")
    svc.jobs.enqueue("test.bad", {}, actor="x")
    assert svc.jobs.run_next(node="server-a").state == JobState.DONE
    assert svc.jobs.run_next(node="server-a").state == JobState.FAILED
    clock.advance(seconds=10)
    svc.jobs.enqueue("test.ok", {}, actor="x")
    clock.advance(seconds=50)
    # the heartbeat a running server sends (JobRunner does every HEARTBEAT_S)
    JobStore(other.catalog.engine).heartbeat(
        "server-b", host="host-b", pid=4242, version="0.1.0", started_at=T0, now=clock.now
    )
    health = svc.guard(svc.users.principal_for_cli("op")).health()
    q = health.to_dict()["jobs"]
    assert q["counts"] == {"queued": 1, "running": 0, "done": 1, "failed": 1}
    assert q["by_kind"]["test.ok"] == {"queued": 1, "running": 0, "done": 1, "failed": 0}
    assert q["oldest_queued_age_s"] == 50.0
    assert [(n["name"], n["state"]) for n in q["nodes"]] == [("server-b", "running")]
    assert [(j["kind"], j["state"], j["node"]) for j in q["recent"]] == [
        ("test.ok", "queued", None),
        ("test.bad", "failed", "server-a"),
        ("test.ok", "done", "server-a"),
    ]
    assert q["recent"][1]["error"]["message_en"] == "Bad."


# -- the command line -------------------------------------------------------------------------
@pytest.fixture
def run(config, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    env = {
        "DOCSVC_ARCHIVE_DIR": config["ARCHIVE_DIR"],
        "DOCSVC_INDEX_DIR": config["INDEX_DIR"],
        "DOCSVC_DATABASE_URL": config["DATABASE_URL"],
        "DOCSVC_ACTOR": "张伟",
        "DOCSVC_TEMPLATES_DIR": config["TEMPLATES_DIR"],
        "DOCSVC_NODE_NAME": "cli-node",
    }
    runner = CliRunner()

    def invoke(*args: str, code: int = 0):
        result = runner.invoke(cli, list(args), env=env, catch_exceptions=False)
        assert result.exit_code == code, result.output + result.stderr
        return result

    return invoke


def test_doc_pdf_and_job_commands(run, tmp_path, monkeypatch):
    from docsvc.services.templates import TemplateService

    # A stand-in converter (the real one runs in tests/test_web_jobs.py): the bytes of a tiny PDF.
    monkeypatch.setattr(TemplateService, "to_pdf", lambda self, docx: b"%PDF-1.4\n% docsvc test\n%%EOF\n")
    word = tmp_path / "服务等级协议.docx"
    word.write_bytes(make_docx("服务等级协议", "一级故障十五分钟内响应。"))
    doc_id = json.loads(
        run("doc", "add", str(word), "--type", "sla", "--category", "4.2", "--class", "user", "--json").output
    )["document"]["id"]
    queued = json.loads(run("doc", "pdf", str(doc_id), "--json").output)
    assert queued["rendition"] is None and queued["job"]["state"] == "queued"
    job_id = queued["job"]["id"]
    assert json.loads(run("doc", "pdf", str(doc_id), "--json").output)["job"]["id"] == job_id  # asked twice
    waited = json.loads(run("doc", "pdf", str(doc_id), "--version", "1", "--wait", "--json").output)
    assert waited["job"]["id"] == job_id and waited["job"]["state"] == "done" and waited["job"]["node"] == "cli-node"
    assert waited["rendition"]["media_type"] == "application/pdf"
    assert "PDF" in run("doc", "pdf", str(doc_id)).output  # exists now: answered at once
    shown = json.loads(run("job", "show", str(job_id), "--json").output)
    assert shown["state"] == "done" and shown["result"]["sha256"] == waited["rendition"]["sha256"]
    listed = run("job", "list", "--kind", "rendition.pdf").output
    assert "rendition.pdf" in listed and "cli-node" in listed and "共 1 个任务" in listed
    assert "Unknown job state" in run("job", "list", "--state", "lost", code=2).stderr
    text = tmp_path / "说明.txt"
    text.write_text("不是 Word 文档。", "utf-8")
    text_id = json.loads(
        run("doc", "add", str(text), "--type", "other", "--category", "4.2", "--class", "user", "--json").output
    )["document"]["id"]
    refused = run("doc", "pdf", str(text_id), code=2)
    assert "只能为 Word" in refused.stderr and "Only a Word (DOCX) version" in refused.stderr
    assert "does not exist" in run("job", "show", "999", code=2).stderr


def test_doc_pdf_wait_reports_a_failed_conversion(run, tmp_path, monkeypatch):
    from docsvc.services.templates import TemplateService

    def cannot(self, docx):
        raise Unavailable(
            "LibreOffice 无法转换此文档。",
            "LibreOffice could not convert this document.",
            details={"reason": "conversion_failed", "error": "General Error"},
        )

    monkeypatch.setattr(TemplateService, "to_pdf", cannot)
    word = tmp_path / "合同.docx"
    word.write_bytes(make_docx("合同"))
    doc_id = json.loads(
        run("doc", "add", str(word), "--type", "contract", "--category", "4.2", "--class", "user", "--json").output
    )["document"]["id"]
    failed = run("doc", "pdf", str(doc_id), "--wait", code=3)
    assert "LibreOffice 无法把文档" in failed.stderr and "could not convert document" in failed.stderr


# -- docsvc serve -----------------------------------------------------------------------------
@pytest.mark.slow
def test_docsvc_serve_runs_one_runner_in_its_main_process(config, tmp_path: Path):
    """With forked workers, only the main process runs jobs (one node), as only it writes the
    index; the workers answer health from the shared tables; SIGTERM marks the node stopped."""
    from tests.conftest import poll_until
    from tests.test_serve import Api, _free_port

    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("DOCSVC_")},
        **{f"DOCSVC_{k}": str(v) for k, v in config.items()},
        "DOCSVC_FSYNC": "false",
        "DOCSVC_NODE_NAME": "served",
    }
    setup = open_docsvc(config)
    setup.users.create_user("mgr", "manager", actor="test", password="a-long-password-1")
    token = setup.users.issue_token("mgr", actor="test").secret
    port = _free_port()
    log = tmp_path / "serve.log"  # a file, not a pipe nobody reads: the access log would fill it and stall the server
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from docsvc.cli import main; main()",
                "serve",
                "--workers",
                "2",
                "--port",
                str(port),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    api = Api(port, token)
    try:

        def ran_both() -> dict | None:
            health = api.call("GET", "/api/v1/health")[1]
            done = {s["name"]: s["last_node"] for s in health.get("jobs", {}).get("schedules", [])}
            periodic = len(setup.jobs.periodic)  # review.reminders, orphans.sweep, jobs.prune
            return health if health["jobs"]["counts"]["done"] == periodic and len(done) == periodic else None

        health = poll_until(ran_both, "the periodic jobs run by the server", timeout_s=WAIT_S)
        assert [(n["name"], n["pid"], n["state"]) for n in health["jobs"]["nodes"]] == [("served", proc.pid, "running")]
        assert {j["node"] for j in health["jobs"]["recent"]} == {"served"}
        assert health["runner"] is None  # answered by a worker, which runs no jobs
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)
    assert code == 0, log.read_text("utf-8", "replace")[-2000:]
    node = setup.jobs.store.nodes()[0]
    assert node.name == "served" and node.stopped_at is not None
    setup.close()


def test_finished_jobs_and_silent_nodes_are_forgotten_after_the_retention(config):
    server = open_docsvc({**config, "JOB_RETENTION_DAYS": 30})
    try:
        clock = Clock()
        server.jobs.clock = clock
        jobs = server.jobs
        jobs.register("test.echo", lambda ctx: {"ok": True})
        old, _ = jobs.enqueue("test.echo", {"n": 1}, actor="张伟")
        jobs.run_next()
        jobs.store.heartbeat("gone-node", host="h", pid=1, version="x", started_at=clock(), now=clock())
        clock.advance(days=31)
        recent, _ = jobs.enqueue("test.echo", {"n": 2}, actor="张伟")
        jobs.tick()
        prunes = [j for j in iter(jobs.run_next, None) if j.kind == background.JOBS_PRUNE]
        assert len(prunes) == 1 and prunes[0].result == {"jobs": 1, "nodes": 1, "sessions": 0}
        assert jobs.store.get(old.id) is None and jobs.store.get(recent.id).state == JobState.DONE
        assert "gone-node" not in [n.name for n in jobs.store.nodes()]
    finally:
        server.close()
