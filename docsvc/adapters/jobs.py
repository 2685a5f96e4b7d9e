"""The job queue in the catalog database: background work that any server takes, each job once.

Several servers share one catalog; work that is not a request's own (a PDF someone asked for,
the daily review reminders, the hourly orphan sweep) is a row in ``jobs`` that whichever server
is free takes. No broker: the catalog database is the queue.

- **Claiming.** On PostgreSQL a runner locks the next claimable row with ``SELECT … FOR UPDATE
  SKIP LOCKED`` and marks it running in the same transaction, so two servers never take the same
  job and neither waits for the other. On SQLite (one machine, one writer) the claim is a write
  transaction (``BEGIN IMMEDIATE``), which serialises claimers just as well.
- **Leases.** A claimed job carries ``lease_until``; its runner renews the lease while the job
  runs. A job whose lease ran out (its server was killed, lost power or the network) is
  claimable again, by any server.
- **Fencing.** Every claim adds one to ``attempts``, and every later write about the run (renew,
  finish, fail, :func:`fence`) names the node and that attempt: a runner that lost its lease
  (it stalled past it and another server took the job) can no longer record anything.
- **Deduplication.** ``active_key`` is unique and set only while a job is queued or running, so
  asking twice for the same thing, on any servers, finds the job already there.

Times are the servers' clocks (UTC), as elsewhere in the catalog: keep them synchronised (NTP);
leases are tens of seconds, far above ordinary clock drift.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Collection, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DataError, DBAPIError, OperationalError

from docsvc.adapters.catalog import SqlCatalog, refused_value, write_connection
from docsvc.adapters.tables import jobs, nodes, schedules
from docsvc.core.model import iso
from docsvc.errors import Conflict, Unavailable


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"

    @property
    def zh(self) -> str:
        return _STATE_LABELS[self][0]

    @property
    def en(self) -> str:
        return _STATE_LABELS[self][1]


_STATE_LABELS = {
    JobState.QUEUED: ("排队中", "Queued"),
    JobState.RUNNING: ("运行中", "Running"),
    JobState.DONE: ("已完成", "Done"),
    JobState.FAILED: ("失败", "Failed"),
}


class LeaseLost(Conflict):
    """This runner no longer holds the job (its lease ran out and another server took it)."""

    code = "lease_lost"


def _utc(ts: dt.datetime | None) -> dt.datetime | None:
    # SQLite hands back naive datetimes; everything docsvc stores is UTC.
    if ts is None:
        return None
    return ts if ts.tzinfo else ts.replace(tzinfo=dt.UTC)


def _loads(text: str | None) -> Any:
    return json.loads(text) if text else None


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


@dataclass(frozen=True)
class Job:
    id: int
    kind: str
    payload: dict[str, Any]
    state: JobState
    attempts: int
    max_attempts: int
    run_after: dt.datetime
    lease_until: dt.datetime | None
    node: str | None
    error: dict[str, Any] | None  # {"code", "message" (中文), "message_en"}, as DocsvcError.to_dict()
    key: str | None
    created_at: dt.datetime
    created_by: str
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    result: dict[str, Any] | None

    @property
    def finished(self) -> bool:
        return self.state in (JobState.DONE, JobState.FAILED)

    def to_dict(self) -> dict[str, Any]:
        def t(ts: dt.datetime | None) -> str | None:
            return iso(ts) if ts else None

        return {
            "id": self.id,
            "kind": self.kind,
            "payload": self.payload,
            "state": self.state.value,
            "attempts": self.attempts,
            "max_attempts": self.max_attempts,
            "run_after": t(self.run_after),
            "lease_until": t(self.lease_until),
            "node": self.node,
            "error": self.error,
            "key": self.key,
            "created_at": t(self.created_at),
            "created_by": self.created_by,
            "started_at": t(self.started_at),
            "finished_at": t(self.finished_at),
            "result": self.result,
        }


@dataclass(frozen=True)
class Node:
    name: str
    host: str
    pid: int
    version: str
    started_at: dt.datetime
    last_seen_at: dt.datetime
    stopped_at: dt.datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "host": self.host,
            "pid": self.pid,
            "version": self.version,
            "started_at": iso(self.started_at),
            "last_seen_at": iso(self.last_seen_at),
            "stopped_at": iso(self.stopped_at) if self.stopped_at else None,
        }


@dataclass(frozen=True)
class Schedule:
    name: str
    next_run_at: dt.datetime
    last_run_at: dt.datetime | None
    last_node: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "next_run_at": iso(self.next_run_at),
            "last_run_at": iso(self.last_run_at) if self.last_run_at else None,
            "last_node": self.last_node,
        }


@dataclass(frozen=True)
class QueueStats:
    counts: dict[str, int]  # state → jobs
    by_kind: dict[str, dict[str, int]]  # kind → state → jobs
    oldest_queued_at: dt.datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _job(r: Mapping[str, Any]) -> Job:
    return Job(
        r["id"],
        r["kind"],
        _loads(r["payload"]) or {},
        JobState(r["state"]),
        r["attempts"],
        r["max_attempts"],
        _utc(r["run_after"]),
        _utc(r["lease_until"]),
        r["node"],
        _loads(r["error"]),
        r["key"],
        _utc(r["created_at"]),
        r["created_by"],
        _utc(r["started_at"]),
        _utc(r["finished_at"]),
        _loads(r["result"]),
    )


def _node(r: Mapping[str, Any]) -> Node:
    return Node(
        r["name"],
        r["host"],
        r["pid"],
        r["version"],
        _utc(r["started_at"]),
        _utc(r["last_seen_at"]),
        _utc(r["stopped_at"]),
    )


def _unavailable(exc: Exception) -> Unavailable:
    return Unavailable(
        f"任务队列（目录数据库）暂时不可用，未做任何修改，请稍后重试。（{type(exc).__name__}）",
        f"The job queue (the catalog database) is unavailable; nothing was changed. Retry later. "
        f"({type(exc).__name__})",
    )


def _mine(job_id: int, node: str, attempt: int) -> sa.ColumnElement[bool]:
    """The run of ``job_id`` that ``node`` claimed as attempt ``attempt``, if it still holds it."""
    return sa.and_(
        jobs.c.id == job_id, jobs.c.state == JobState.RUNNING.value, jobs.c.node == node, jobs.c.attempts == attempt
    )


def fence(conn: sa.Connection, job_id: int, node: str, attempt: int) -> None:
    """Inside another transaction (the catalog's, recording what the job made): lock the job's
    row and make sure this run still holds it, else raise :class:`LeaseLost` and let that
    transaction roll back, so a run that lost its job to another server records nothing."""
    held = conn.execute(sa.select(jobs.c.id).where(_mine(job_id, node, attempt)).with_for_update()).first()
    if held is None:
        raise LeaseLost(
            f"任务 {job_id} 已由其他节点接手（本节点的租约已过期），本次结果未记录。",
            f"Job {job_id} was taken over by another node (this node's lease ran out); this run's "
            "result was not recorded.",
        )


class JobStore:
    """The queue's SQL. Every method takes ``now`` from the caller (the service's clock)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.is_sqlite = engine.dialect.name == "sqlite"

    @classmethod
    def of(cls, catalog: SqlCatalog) -> JobStore:
        """The queue in the catalog's database."""
        return cls(catalog.engine)

    def _write(self) -> AbstractContextManager[sa.Connection]:
        return write_connection(self.engine, _unavailable)

    @contextmanager
    def _read(self) -> Iterator[sa.Connection]:
        try:
            with self.engine.connect() as conn:
                yield conn
        except DataError as exc:
            raise refused_value(exc) from exc
        except (OperationalError, DBAPIError) as exc:
            raise _unavailable(exc) from exc

    def _insert(self, table: sa.Table):
        return (sqlite_insert if self.is_sqlite else postgresql_insert)(table)

    # -- queueing ---------------------------------------------------------------------------
    def enqueue(
        self,
        kind: str,
        payload: Mapping[str, Any],
        *,
        actor: str,
        now: dt.datetime,
        key: str | None = None,
        max_attempts: int = 3,
        run_after: dt.datetime | None = None,
    ) -> tuple[Job, bool]:
        """Queue a job; with ``key``, the job of that key already queued or running instead
        (``created`` False)."""
        with self._write() as conn:
            return self.enqueue_in(
                conn, kind, payload, actor=actor, now=now, key=key, max_attempts=max_attempts, run_after=run_after
            )

    def enqueue_in(
        self,
        conn: sa.Connection,
        kind: str,
        payload: Mapping[str, Any],
        *,
        actor: str,
        now: dt.datetime,
        key: str | None = None,
        max_attempts: int = 3,
        run_after: dt.datetime | None = None,
    ) -> tuple[Job, bool]:
        """:meth:`enqueue` inside the caller's transaction."""
        values = {
            "kind": kind,
            "payload": _dumps(dict(payload)),
            "state": JobState.QUEUED.value,
            "attempts": 0,
            "max_attempts": max_attempts,
            "run_after": run_after or now,
            "key": key,
            "active_key": key,
            "created_at": now,
            "created_by": actor,
        }
        # ON CONFLICT DO NOTHING: a concurrent request for the same key (another server) waits
        # for the first insert and then inserts nothing, instead of failing the transaction.
        insert = self._insert(jobs).values(**values)
        if key is not None:
            insert = insert.on_conflict_do_nothing(index_elements=["active_key"])
        new_id = conn.execute(insert.returning(jobs.c.id)).scalar()
        if new_id is not None:
            return _job(conn.execute(sa.select(jobs).where(jobs.c.id == new_id)).mappings().one()), True
        row = conn.execute(sa.select(jobs).where(jobs.c.active_key == key)).mappings().first()
        if row is None:  # pragma: no cover - the holder finished between the two statements
            return self.enqueue_in(
                conn, kind, payload, actor=actor, now=now, key=key, max_attempts=max_attempts, run_after=run_after
            )
        return _job(row), False

    # -- running ----------------------------------------------------------------------------
    def claim(
        self,
        node: str,
        *,
        lease_s: float,
        now: dt.datetime,
        kinds: Collection[str] | None = None,
        job_id: int | None = None,
    ) -> Job | None:
        """Take the next job that is due (queued, or running under a lease that ran out) for
        ``node``, for ``lease_s`` seconds; None when there is none. ``kinds``: only these (the
        ones this runner has handlers for); ``job_id``: only that job."""
        claimable = sa.or_(
            sa.and_(jobs.c.state == JobState.QUEUED.value, jobs.c.run_after <= now),
            sa.and_(jobs.c.state == JobState.RUNNING.value, jobs.c.lease_until < now),
        )
        cond = [claimable]
        if kinds is not None:
            cond.append(jobs.c.kind.in_(sorted(kinds)))
        if job_id is not None:
            cond.append(jobs.c.id == job_id)
        # A plain read first: an idle runner looks every few seconds, and on SQLite a write
        # transaction would take the database's one write lock each time.
        with self._read() as conn:
            if conn.execute(sa.select(jobs.c.id).where(*cond).limit(1)).first() is None:
                return None
        query = (
            sa.select(jobs)
            .where(*cond)
            .order_by(jobs.c.run_after, jobs.c.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        with self._write() as conn:
            while True:
                row = conn.execute(query).mappings().first()
                if row is None:
                    return None
                values: dict[str, Any] = {}
                if row["state"] == JobState.RUNNING.value:
                    # Its server stopped renewing the lease: died, hung or cut off.
                    lost = {
                        "code": "lease_expired",
                        "message": f"节点 {row['node']} 在运行此任务时失联（租约于 {iso(_utc(row['lease_until']))} 到期）。",
                        "message_en": f"Node {row['node']} stopped while running this job (its lease ran out "
                        f"at {iso(_utc(row['lease_until']))}).",
                    }
                    if row["attempts"] >= row["max_attempts"]:
                        conn.execute(
                            jobs.update()
                            .where(jobs.c.id == row["id"])
                            .values(
                                state=JobState.FAILED.value,
                                error=_dumps(lost),
                                finished_at=now,
                                lease_until=None,
                                active_key=None,
                            )
                        )
                        continue
                    values["error"] = _dumps(lost)
                conn.execute(
                    jobs.update()
                    .where(jobs.c.id == row["id"])
                    .values(
                        state=JobState.RUNNING.value,
                        node=node,
                        attempts=row["attempts"] + 1,
                        lease_until=now + dt.timedelta(seconds=lease_s),
                        started_at=now,
                        **values,
                    )
                )
                return _job(conn.execute(sa.select(jobs).where(jobs.c.id == row["id"])).mappings().one())

    def renew(self, job: Job, *, lease_s: float, now: dt.datetime) -> bool:
        """Extend the lease of a run; False when the run no longer holds the job."""
        with self._write() as conn:
            result = conn.execute(
                jobs.update()
                .where(_mine(job.id, job.node or "", job.attempts))
                .values(lease_until=now + dt.timedelta(seconds=lease_s))
            )
        return result.rowcount == 1

    def progress(self, job: Job, result: Mapping[str, Any]) -> bool:
        """Record how far a running job has come, as its result so far (a long batch shows
        its rows done while it runs); False when the run no longer holds the job."""
        with self._write() as conn:
            done = conn.execute(
                jobs.update().where(_mine(job.id, job.node or "", job.attempts)).values(result=_dumps(dict(result)))
            )
        return done.rowcount == 1

    def finish(self, job: Job, result: Mapping[str, Any] | None, *, now: dt.datetime) -> bool:
        """Record a run's success; False when the run no longer held the job (nothing recorded)."""
        with self._write() as conn:
            done = conn.execute(
                jobs.update()
                .where(_mine(job.id, job.node or "", job.attempts))
                .values(
                    state=JobState.DONE.value,
                    result=_dumps(dict(result or {})),
                    error=None,
                    finished_at=now,
                    lease_until=None,
                    active_key=None,
                )
            )
        return done.rowcount == 1

    def fail(
        self, job: Job, error: Mapping[str, Any], *, now: dt.datetime, retry_at: dt.datetime | None = None
    ) -> bool:
        """Record a run's failure: queued again for ``retry_at``, or failed for good (None)."""
        if retry_at is not None:
            values = {"state": JobState.QUEUED.value, "run_after": retry_at}
        else:
            values = {"state": JobState.FAILED.value, "finished_at": now, "active_key": None}
        with self._write() as conn:
            failed = conn.execute(
                jobs.update()
                .where(_mine(job.id, job.node or "", job.attempts))
                .values(error=_dumps(dict(error)), lease_until=None, **values)
            )
        return failed.rowcount == 1

    def prune(self, *, before: dt.datetime) -> dict[str, int]:
        """Forget finished jobs, and nodes not seen, since before ``before`` (queued and running
        jobs are never touched: their outcome is not known yet)."""
        with self._write() as conn:
            gone = conn.execute(
                jobs.delete().where(
                    jobs.c.state.in_([JobState.DONE.value, JobState.FAILED.value]), jobs.c.finished_at < before
                )
            )
            silent = conn.execute(nodes.delete().where(nodes.c.last_seen_at < before))
        return {"jobs": gone.rowcount, "nodes": silent.rowcount}

    # -- reading ----------------------------------------------------------------------------
    def get(self, job_id: int) -> Job | None:
        with self._read() as conn:
            row = conn.execute(sa.select(jobs).where(jobs.c.id == job_id)).mappings().first()
        return _job(row) if row else None

    def latest_by_key(self, keys: Collection[str]) -> dict[str, Job]:
        """key → the newest job of that key (whatever its state)."""
        if not keys:
            return {}
        with self._read() as conn:
            rows = conn.execute(sa.select(jobs).where(jobs.c.key.in_(sorted(keys))).order_by(jobs.c.id)).mappings()
            return {r["key"]: _job(r) for r in rows}

    def list_jobs(
        self, *, state: str | None = None, kind: str | None = None, limit: int = 50, offset: int = 0
    ) -> tuple[list[Job], int]:
        """Jobs, newest first, and how many match."""
        cond = []
        if state:
            cond.append(jobs.c.state == state)
        if kind:
            cond.append(jobs.c.kind == kind)
        with self._read() as conn:
            rows = (
                conn.execute(sa.select(jobs).where(*cond).order_by(jobs.c.id.desc()).limit(limit).offset(offset))
                .mappings()
                .all()
            )
            total = conn.execute(sa.select(sa.func.count()).select_from(jobs).where(*cond)).scalar_one()
        return [_job(r) for r in rows], total

    def stats(self) -> QueueStats:
        with self._read() as conn:
            counts: dict[str, int] = {s.value: 0 for s in JobState}
            by_kind: dict[str, dict[str, int]] = {}
            for kind, state, n in conn.execute(
                sa.select(jobs.c.kind, jobs.c.state, sa.func.count()).group_by(jobs.c.kind, jobs.c.state)
            ):
                counts[state] = counts.get(state, 0) + n
                by_kind.setdefault(kind, {s.value: 0 for s in JobState})[state] = n
            oldest = conn.execute(
                sa.select(sa.func.min(jobs.c.created_at)).where(jobs.c.state == JobState.QUEUED.value)
            ).scalar()
        if isinstance(oldest, str):  # SQLite's MIN() gives the stored text back, untyped
            oldest = dt.datetime.fromisoformat(oldest)
        return QueueStats(counts, dict(sorted(by_kind.items())), _utc(oldest))

    # -- servers ----------------------------------------------------------------------------
    def heartbeat(
        self, name: str, *, host: str, pid: int, version: str, started_at: dt.datetime, now: dt.datetime
    ) -> None:
        values = {
            "host": host,
            "pid": pid,
            "version": version,
            "started_at": started_at,
            "last_seen_at": now,
            "stopped_at": None,
        }
        insert = self._insert(nodes).values(name=name, **values)
        with self._write() as conn:
            conn.execute(insert.on_conflict_do_update(index_elements=["name"], set_=values))

    def node_stopped(self, name: str, *, now: dt.datetime) -> None:
        with self._write() as conn:
            conn.execute(nodes.update().where(nodes.c.name == name).values(stopped_at=now, last_seen_at=now))

    def nodes(self, *, limit: int = 20) -> list[Node]:
        with self._read() as conn:
            rows = (
                conn.execute(sa.select(nodes).order_by(nodes.c.last_seen_at.desc(), nodes.c.name).limit(limit))
                .mappings()
                .all()
            )
        return [_node(r) for r in rows]

    # -- periodic jobs ----------------------------------------------------------------------
    def schedules(self) -> list[Schedule]:
        with self._read() as conn:
            rows = conn.execute(sa.select(schedules).order_by(schedules.c.name)).mappings().all()
        return [Schedule(r["name"], _utc(r["next_run_at"]), _utc(r["last_run_at"]), r["last_node"]) for r in rows]

    def add_schedule(self, name: str, *, first_run_at: dt.datetime) -> None:
        """Create the schedule unless it exists (every server starting up asks)."""
        with self._write() as conn:
            conn.execute(
                self._insert(schedules)
                .values(name=name, next_run_at=first_run_at)
                .on_conflict_do_nothing(index_elements=["name"])
            )

    def fire(
        self,
        name: str,
        *,
        node: str,
        now: dt.datetime,
        next_run_at: dt.datetime,
        kind: str,
        payload: Mapping[str, Any],
        max_attempts: int = 3,
    ) -> Job | None:
        """If schedule ``name`` is due, move it on to ``next_run_at`` and queue its job, in one
        transaction; None when it was not due (another server fired it first). The period's
        job is not queued again while the last one is still queued or running."""
        with self._write() as conn:
            took = conn.execute(
                schedules.update()
                .where(schedules.c.name == name, schedules.c.next_run_at <= now)
                .values(next_run_at=next_run_at, last_run_at=now, last_node=node)
            )
            if took.rowcount != 1:
                return None
            job, _ = self.enqueue_in(
                conn,
                kind,
                {**payload, "scheduled_at": iso(now)},
                actor=f"docsvc@{node}",
                now=now,
                key=f"schedule:{name}",
                max_attempts=max_attempts,
            )
            return job
