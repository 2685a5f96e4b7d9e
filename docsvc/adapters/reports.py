"""Read-only queries for the audit-log page and audit bundles: filtered, paged, bounded by dates.

Dates are UTC calendar days, inclusive at both ends. Audit timestamps are stored as ISO text with
a fixed format, so comparing them as strings compares them as times.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Iterator

import sqlalchemy as sa

from docsvc.adapters.catalog import _entry, _version  # the catalog's own row converters
from docsvc.adapters.tables import audit_log, versions
from docsvc.core.audit import AuditEntry
from docsvc.core.model import Version


@dataclass(frozen=True)
class AuditFilter:
    actor: str | None = None
    actions: tuple[str, ...] = ()
    document_id: int | None = None
    since: dt.date | None = None
    until: dt.date | None = None


def _day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.timezone.utc)


def _audit_conditions(f: AuditFilter) -> list[sa.ColumnElement[bool]]:
    cond: list[sa.ColumnElement[bool]] = []
    if f.actor:
        cond.append(audit_log.c.actor == f.actor)
    if f.actions:
        cond.append(audit_log.c.action.in_(list(f.actions)))
    if f.document_id is not None:
        cond.append(audit_log.c.document_id == f.document_id)
    if f.since:
        cond.append(audit_log.c.ts >= f.since.isoformat())
    if f.until:
        cond.append(audit_log.c.ts < (f.until + dt.timedelta(days=1)).isoformat())
    return cond


def audit_page(conn: sa.Connection, f: AuditFilter, *, limit: int, offset: int) -> tuple[list[AuditEntry], int]:
    """Newest first, with the total number of matches."""
    cond = _audit_conditions(f)
    rows = conn.execute(sa.select(audit_log).where(*cond).order_by(audit_log.c.seq.desc())
                        .limit(limit).offset(offset)).mappings().all()
    total = conn.execute(sa.select(sa.func.count()).select_from(audit_log).where(*cond)).scalar_one()
    return [_entry(r) for r in rows], total


def audit_range(conn: sa.Connection, f: AuditFilter) -> Iterator[AuditEntry]:
    """Every match in chain (seq) order, streamed."""
    query = sa.select(audit_log).where(*_audit_conditions(f)).order_by(audit_log.c.seq)
    for row in conn.execution_options(yield_per=1000).execute(query).mappings():
        yield _entry(row)


def versions_between(conn: sa.Connection, *, document_id: int | None, since: dt.date | None,
                     until: dt.date | None) -> list[Version]:
    cond = []
    if document_id is not None:
        cond.append(versions.c.document_id == document_id)
    if since:
        cond.append(versions.c.created_at >= _day_start(since))
    if until:
        cond.append(versions.c.created_at < _day_start(until + dt.timedelta(days=1)))
    rows = conn.execute(sa.select(versions).where(*cond)
                        .order_by(versions.c.document_id, versions.c.number)).mappings().all()
    return [_version(r) for r in rows]
