"""Background jobs: queued by any server, run by whichever server's runner is free, each once.

:class:`JobService` queues jobs, knows the handler of each kind and the periodic jobs, and runs
one claimed job (renewing its lease meanwhile, retrying a failure later, failing it for good
after ``max_attempts``). :class:`JobRunner` is the thread each ``docsvc serve`` runs in its main
process (beside the index writer): it heartbeats its node, fires the periodic jobs that are due
and drains the queue. The queue itself is the catalog database (``docsvc.adapters.jobs``), so
any number of servers sharing the catalog share the work, and a job whose server died is taken
by another once its lease has run out.

Handlers must be safe to run again: a run that stalled past its lease may finish after another
server has taken the job over. What a handler records in the catalog it records inside a
transaction that calls :meth:`JobContext.fence` first, so a run that lost its job records nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from docsvc import __version__
from docsvc.adapters.catalog import Connection
from docsvc.adapters.jobs import Job, JobState, JobStore, LeaseLost, fence
from docsvc.core.model import iso, utcnow
from docsvc.errors import Conflict, Corrupted, DocsvcError, Forbidden, InvalidInput, NotFound

log = logging.getLogger(__name__)

LEASE_S = 60.0  # a job's lease; renewed every third of it while the job runs
HEARTBEAT_S = 5.0  # a runner's heartbeat
SILENT_AFTER_S = 3 * HEARTBEAT_S  # a node not heard from for this long is shown as silent
POLL_S = 2.0  # how often an idle runner looks at the queue and the schedules (a local enqueue wakes it)
RETRY_BASE_S = 30.0  # a failed attempt is retried after 30 s, then 60 s, 120 s …
MAX_ATTEMPTS = 3
RECENT = 15  # recent jobs on the health page

# Failures that another attempt cannot mend: the input or the stored data is wrong.
PERMANENT = (InvalidInput, NotFound, Forbidden, Conflict, Corrupted)


def default_node_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class Periodic:
    """A job queued once per period across all servers (``every`` divides a day: periods
    start at local midnight in the configured time zone)."""

    name: str
    kind: str
    every: dt.timedelta
    payload: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class JobContext:
    """What a handler gets: its job, the node running it, and the fence for its transaction."""

    job: Job
    node: str
    lost: threading.Event  # set when the lease could not be renewed: another server has the job

    def progress(self, store: JobStore, result: Mapping[str, Any]) -> None:
        """Show how far the job has come (its result so far, read by the pages that poll it);
        raises LeaseLost when another server has taken the job over."""
        if self.lost.is_set() or not store.progress(self.job, result):
            raise LeaseLost(
                f"任务 {self.job.id} 已由其他节点接手，本节点停止执行。",
                f"Job {self.job.id} was taken over by another node; this node stops running it.",
            )

    def fence(self, conn: Connection) -> None:
        """Call first inside the transaction that records the job's work (raises LeaseLost)."""
        fence(conn, self.job.id, self.node, self.job.attempts)


Handler = Callable[[JobContext], Mapping[str, Any] | None]


def next_boundary(now: dt.datetime, every: dt.timedelta, tz: dt.tzinfo) -> dt.datetime:
    """The start of the next period after ``now``: periods of ``every`` counted from local
    midnight (daily → the next midnight, hourly → the next full hour)."""
    local = now.astimezone(tz)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    elapsed = local - midnight
    return (midnight + every * (elapsed // every + 1)).astimezone(dt.UTC)


def error_dict(exc: BaseException) -> dict[str, Any]:
    """A failure as the job keeps it: the domain error's bilingual message, or a wrapped one."""
    if isinstance(exc, DocsvcError):
        return exc.to_dict()
    text = f"{type(exc).__name__}: {exc}"[:1000]
    return {"code": "job_error", "message": f"任务执行出错：{text}", "message_en": f"The job failed: {text}"}


class JobService:
    def __init__(
        self,
        store: JobStore,
        *,
        node: str | None = None,
        tz: dt.tzinfo = dt.UTC,
        clock: Callable[[], dt.datetime] = utcnow,
        lease_s: float = LEASE_S,
        retry_base_s: float = RETRY_BASE_S,
    ) -> None:
        self.store = store
        self.node = node or default_node_name()
        self.tz = tz
        self.clock = clock
        self.lease_s = lease_s
        self.retry_base_s = retry_base_s
        self.handlers: dict[str, Handler] = {}
        self.max_attempts: dict[str, int] = {}
        self.periodic: dict[str, Periodic] = {}
        # Called after a job is queued (this process's runner listens; a forked worker relays).
        self.on_enqueue: list[Callable[[], None]] = []
        self._scheduled: set[str] = set()  # schedule rows known to exist

    # -- declaring work ---------------------------------------------------------------------
    def register(self, kind: str, handler: Handler, *, max_attempts: int = MAX_ATTEMPTS) -> None:
        self.handlers[kind] = handler
        self.max_attempts[kind] = max_attempts

    def every(self, name: str, kind: str, every: dt.timedelta, payload: Mapping[str, Any] | None = None) -> None:
        if dt.timedelta(days=1) % every:
            raise ValueError(f"a period must divide a day: {every}")
        self.periodic[name] = Periodic(name, kind, every, dict(payload or {}))

    # -- queueing ---------------------------------------------------------------------------
    def enqueue(self, kind: str, payload: Mapping[str, Any], *, actor: str, key: str | None = None) -> tuple[Job, bool]:
        """Queue a job (``created`` True), or with ``key`` return the one of that key already
        queued or running (``created`` False)."""
        job, created = self.store.enqueue(
            kind,
            payload,
            actor=actor,
            now=self.clock(),
            key=key,
            max_attempts=self.max_attempts.get(kind, MAX_ATTEMPTS),
        )
        if created:
            for hook in self.on_enqueue:
                hook()
        return job, created

    def get(self, job_id: int) -> Job:
        job = self.store.get(job_id)
        if job is None:
            raise NotFound(f"任务 {job_id} 不存在。", f"Job {job_id} does not exist.", field="job_id")
        return job

    def tick(self, node: str | None = None) -> list[Job]:
        """Queue the periodic jobs that are due; what another server queued first is not
        queued again (the first conditional UPDATE wins)."""
        now, node = self.clock(), node or self.node
        for p in self.periodic.values():
            if p.name not in self._scheduled:
                self.store.add_schedule(p.name, first_run_at=now)
                self._scheduled.add(p.name)
        fired = []
        for s in self.store.schedules():
            due = self.periodic.get(s.name)
            if due is None or s.next_run_at > now:
                continue
            job = self.store.fire(
                due.name,
                node=node,
                now=now,
                next_run_at=next_boundary(now, due.every, self.tz),
                kind=due.kind,
                payload=due.payload,
                max_attempts=self.max_attempts.get(due.kind, MAX_ATTEMPTS),
            )
            if job is not None:
                fired.append(job)
        return fired

    # -- running ----------------------------------------------------------------------------
    def run_next(
        self, node: str | None = None, *, job_id: int | None = None, kinds: Collection[str] | None = None
    ) -> Job | None:
        """Claim the next due job this process has a handler for (or only ``job_id``, or only
        of ``kinds``) and run it; the job as it ended this run, or None when there was nothing to do."""
        node = node or self.node
        job = self.store.claim(
            node,
            lease_s=self.lease_s,
            now=self.clock(),
            kinds=self.handlers.keys() if kinds is None else kinds,
            job_id=job_id,
        )
        return None if job is None else self.run(job, node)

    def run(self, job: Job, node: str) -> Job:
        """Run a claimed job, renewing its lease meanwhile, and record how it ended."""
        ctx = JobContext(job, node, threading.Event())
        fields = {"job_id": job.id, "kind": job.kind, "attempt": job.attempts, "node": node}
        started = self.clock()
        # The queue's lag: how long the job waited past the time it was due.
        log.info(
            "job %d (%s) started",
            job.id,
            job.kind,
            extra={**fields, "waited_s": round((started - max(job.run_after, job.created_at)).total_seconds(), 3)},
        )
        done = threading.Event()
        keeper = threading.Thread(
            target=self._keep_lease, args=(job, ctx.lost, done), daemon=True, name=f"docsvc-lease-{job.id}"
        )
        keeper.start()
        error: dict[str, Any] | None = None
        trace: BaseException | None = None
        permanent = False
        try:
            result = self.handlers[job.kind](ctx)
        except LeaseLost:
            log.warning("job %d (%s) lost its lease to another server", job.id, job.kind, extra=fields)
            return self.store.get(job.id) or job  # the server that took it over records the outcome
        except Exception as exc:  # noqa: BLE001 - any failure of the job is the job's outcome
            error, permanent = error_dict(exc), isinstance(exc, PERMANENT)
            # A domain error is the job's outcome; anything else, a bug to trace.
            trace = None if isinstance(exc, DocsvcError) else exc
        finally:
            done.set()
            keeper.join()
        now = self.clock()
        fields["duration_s"] = round((now - started).total_seconds(), 3)
        if error is None:
            self.store.finish(job, result, now=now)
            log.info("job %d (%s) done", job.id, job.kind, extra=fields)
        else:
            retry = not permanent and job.attempts < job.max_attempts
            retry_at = now + dt.timedelta(seconds=self.retry_base_s * 2 ** (job.attempts - 1)) if retry else None
            self.store.fail(job, error, now=now, retry_at=retry_at)
            log.log(
                logging.WARNING if retry else logging.ERROR,
                "job %d (%s) failed%s: %s",
                job.id,
                job.kind,
                f", retried at {iso(retry_at)}" if retry_at else "",
                error["message_en"],
                extra=fields,
                exc_info=trace,
            )
        return self.store.get(job.id) or job

    def _keep_lease(self, job: Job, lost: threading.Event, done: threading.Event) -> None:
        while not done.wait(self.lease_s / 3):
            try:
                if not self.store.renew(job, lease_s=self.lease_s, now=self.clock()):
                    lost.set()
                    return
            except DocsvcError:
                pass  # the database is away: try again; if the lease runs out meanwhile, so be it

    def wait(
        self, job_id: int, *, run_here: bool = True, poll_s: float = 0.5, on_poll: Callable[[Job], None] | None = None
    ) -> Job:
        """Until the job has finished: run it in this process when it is due and no server has
        it (a CLI without a server), else wait for the server that has it."""
        stop = threading.Event()
        while True:
            job = self.get(job_id)
            if job.finished:
                return job
            if run_here and job.kind in self.handlers:
                ran = self.run_next(job_id=job_id)
                if ran is not None and ran.finished:
                    return ran
            if on_poll:
                on_poll(job)
            stop.wait(poll_s)

    # -- reading ----------------------------------------------------------------------------
    def overview(self, *, recent: int = RECENT) -> dict[str, Any]:
        """The queue for the health page: counts by state and kind, the oldest queued job's
        age, the nodes and their heartbeats, the schedules and the recent jobs."""
        now = self.clock()
        stats = self.store.stats()
        jobs, _ = self.store.list_jobs(limit=recent)
        return {
            "counts": stats.counts,
            "by_kind": stats.by_kind,
            "oldest_queued_age_s": round((now - stats.oldest_queued_at).total_seconds(), 1)
            if stats.oldest_queued_at
            else None,
            "nodes": [
                {
                    **n.to_dict(),
                    "state": node_state(n, now),
                    "seen_s_ago": round((now - n.last_seen_at).total_seconds(), 1),
                }
                for n in self.store.nodes()
            ],
            "schedules": [s.to_dict() for s in self.store.schedules()],
            "recent": [j.to_dict() for j in jobs],
        }


def node_state(n: Any, now: dt.datetime) -> str:
    """running (heard from lately), silent (stopped heartbeating: died or cut off) or stopped."""
    if n.stopped_at is not None:
        return "stopped"
    return "running" if (now - n.last_seen_at).total_seconds() <= SILENT_AFTER_S else "silent"


class JobRunner:
    """One server's job runner: a thread that fires due periodic jobs and drains the queue,
    one job at a time, and a thread that heartbeats the node."""

    def __init__(
        self,
        service: JobService,
        *,
        node: str | None = None,
        poll_s: float = POLL_S,
        heartbeat_s: float = HEARTBEAT_S,
        lanes: Sequence[Collection[str]] = (),
        apart: Collection[str] = (),
    ) -> None:
        self.service = service
        self.node = node or service.node
        # Extra threads, each taking only its kinds, so that short jobs (thumbnails) do not wait
        # behind long ones (OCR, PDF conversion) in the one main thread (which takes every kind
        # but those ``apart``: long jobs of a lane's that must not hold up the others).
        self.lanes = tuple(tuple(kinds) for kinds in lanes)
        self.apart = frozenset(apart)
        if stranded := self.apart - {kind for kinds in self.lanes for kind in kinds}:
            raise ValueError(f"kinds kept apart without a lane to run them: {sorted(stranded)}")
        self._lane_wakes = [threading.Event() for _ in self.lanes]
        self.poll_s = poll_s
        self.heartbeat_s = heartbeat_s
        self.started_at = service.clock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.state = "stopped"
        self.current: int | None = None
        self.ran = 0
        self.last_error = ""

    def start(self) -> None:
        if self._threads:
            return
        self.service.on_enqueue.append(self.wake)
        self.state = "idle"
        self._beat()  # the node shows up before the first job
        log.info("job runner started on node %s", self.node, extra={"node": self.node})
        self._threads = [
            threading.Thread(target=self._run, name="docsvc-jobs", daemon=True),
            threading.Thread(target=self._heartbeat, name="docsvc-heartbeat", daemon=True),
            *(
                threading.Thread(target=self._run_lane, args=(kinds, wake), daemon=True, name=f"docsvc-jobs-{kinds[0]}")
                for kinds, wake in zip(self.lanes, self._lane_wakes)
            ),
        ]
        for t in self._threads:
            t.start()

    def wake(self) -> None:
        self._wake.set()
        for wake in self._lane_wakes:
            wake.set()

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop after the job in hand (a job still running past ``timeout_s`` is left to its
        lease: another server takes it when the lease has run out)."""
        self._stop.set()
        self.wake()
        for t in self._threads:
            t.join(timeout_s)
        if self._threads:
            try:
                self.service.store.node_stopped(self.node, now=self.service.clock())
            except DocsvcError:
                pass
        if self.wake in self.service.on_enqueue:
            self.service.on_enqueue.remove(self.wake)
        self._threads = []
        self.state = "stopped"

    def status(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "state": self.state,
            "current_job": self.current,
            "jobs_run": self.ran,
            "last_error": self.last_error,
        }

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.service.tick(self.node)
                while not self._stop.is_set():
                    job = self.service.store.claim(
                        self.node,
                        lease_s=self.service.lease_s,
                        now=self.service.clock(),
                        kinds=[kind for kind in self.service.handlers if kind not in self.apart],
                    )
                    if job is None:
                        break
                    self.state, self.current = "running", job.id
                    self.service.run(job, self.node)
                    self.ran += 1
                    self.state, self.current = "idle", None
                self.last_error = ""
            except Exception as exc:  # noqa: BLE001 - a database hiccup must not end the runner
                error = f"{type(exc).__name__}: {exc}"
                if error != self.last_error:  # once per change, not at every poll while it lasts
                    log.warning("job runner failing, trying again every %g s: %s", self.poll_s, error)
                self.last_error = error
                self.state, self.current = "idle", None
            self._wake.wait(self.poll_s)
            self._wake.clear()

    def _run_lane(self, kinds: tuple[str, ...], wake: threading.Event) -> None:
        while not self._stop.is_set():
            try:
                while not self._stop.is_set():
                    job = self.service.store.claim(
                        self.node, lease_s=self.service.lease_s, now=self.service.clock(), kinds=kinds
                    )
                    if job is None:
                        break
                    self.service.run(job, self.node)
                    self.ran += 1
            except Exception as exc:  # noqa: BLE001 - a database hiccup must not end the lane
                self.last_error = f"{type(exc).__name__}: {exc}"
            wake.wait(self.poll_s)
            wake.clear()

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            self._beat()

    def _beat(self) -> None:
        try:
            host, pid = socket.gethostname(), os.getpid()
            self.service.store.heartbeat(
                self.node, host=host, pid=pid, version=__version__, started_at=self.started_at, now=self.service.clock()
            )
        except DocsvcError as exc:
            if self.last_error != f"heartbeat: {exc.en}":
                log.warning("job runner %s: heartbeat failed: %s", self.node, exc.en)
            self.last_error = f"heartbeat: {exc.en}"


__all__ = [
    "HEARTBEAT_S",
    "LEASE_S",
    "Job",
    "JobContext",
    "JobRunner",
    "JobService",
    "JobState",
    "Periodic",
    "default_node_name",
    "next_boundary",
    "node_state",
]
