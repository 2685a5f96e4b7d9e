"""Read-only queries for the audit-log page and audit bundles: filtered, paged, bounded by dates.

Dates are UTC calendar days, inclusive at both ends. Audit timestamps are stored as ISO text with
a fixed format, so comparing them as strings compares them as times.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterator
from dataclasses import dataclass

import sqlalchemy as sa

from docsvc.adapters.catalog import entry_from_row, version_from_row
from docsvc.adapters.tables import audit_log, documents, suggestions, versions
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
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


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
    rows = (
        conn.execute(sa.select(audit_log).where(*cond).order_by(audit_log.c.seq.desc()).limit(limit).offset(offset))
        .mappings()
        .all()
    )
    total = conn.execute(sa.select(sa.func.count()).select_from(audit_log).where(*cond)).scalar_one()
    return [entry_from_row(r) for r in rows], total


def audit_range(conn: sa.Connection, f: AuditFilter) -> Iterator[AuditEntry]:
    """Every match in chain (seq) order, streamed."""
    query = sa.select(audit_log).where(*_audit_conditions(f)).order_by(audit_log.c.seq)
    for row in conn.execution_options(yield_per=1000).execute(query).mappings():
        yield entry_from_row(row)


def versions_between(
    conn: sa.Connection, *, document_id: int | None, since: dt.date | None, until: dt.date | None
) -> list[Version]:
    cond = []
    if document_id is not None:
        cond.append(versions.c.document_id == document_id)
    if since:
        cond.append(versions.c.created_at >= _day_start(since))
    if until:
        cond.append(versions.c.created_at < _day_start(until + dt.timedelta(days=1)))
    rows = (
        conn.execute(sa.select(versions).where(*cond).order_by(versions.c.document_id, versions.c.number))
        .mappings()
        .all()
    )
    return [version_from_row(r) for r in rows]


# -- management reports (docsvc.services.reports) -----------------------------------------------


def inventory_groups(conn: sa.Connection) -> list[dict]:
    """Per service category, document class and project: documents, versions and the latest
    change, ordered by those three keys."""
    d = documents
    keys = (d.c.service_category, d.c.doc_class, d.c.project)
    rows = (
        conn.execute(
            sa.select(
                *keys,
                sa.func.count().label("documents"),
                sa.func.sum(d.c.latest_version).label("versions"),
                sa.func.max(d.c.updated_at).label("updated_at"),
            )
            .group_by(*keys)
            .order_by(*keys)
        )
        .mappings()
        .all()
    )
    return [dict(r) for r in rows]


def latest_documents(conn: sa.Connection, *, limit: int) -> list[dict]:
    """The most recently changed documents with their latest version numbers."""
    d = documents
    rows = (
        conn.execute(
            sa.select(
                d.c.id,
                d.c.title,
                d.c.doc_type,
                d.c.service_category,
                d.c.doc_class,
                d.c.project,
                d.c.latest_version,
                d.c.updated_at,
            )
            .order_by(d.c.updated_at.desc(), d.c.id.desc())
            .limit(limit)
        )
        .mappings()
        .all()
    )
    return [dict(r) for r in rows]


def unconfirmed_labels(conn: sa.Connection) -> list[dict]:
    """Documents whose suggested labels still wait for a person to confirm them."""
    d, s = documents, suggestions
    rows = (
        conn.execute(
            sa.select(
                d.c.id,
                d.c.title,
                d.c.service_category,
                d.c.project,
                s.c.doc_type.label("suggested_type"),
                s.c.created_at,
            )
            .join(s, s.c.document_id == d.c.id)
            .where(s.c.state == "pending", s.c.needs_review.is_(True))
            .order_by(d.c.id)
        )
        .mappings()
        .all()
    )
    seen: dict[int, dict] = {}
    for r in rows:
        seen.setdefault(r["id"], dict(r))
    return list(seen.values())


def audit_summary(conn: sa.Connection, f: AuditFilter) -> list[dict]:
    """Entries per actor and action in the period."""
    a = audit_log
    rows = (
        conn.execute(
            sa.select(a.c.actor, a.c.action, sa.func.count().label("count"))
            .where(*_audit_conditions(f))
            .group_by(a.c.actor, a.c.action)
            .order_by(a.c.actor, a.c.action)
        )
        .mappings()
        .all()
    )
    return [dict(r) for r in rows]


def due_for_review(conn: sa.Connection, *, doc_types: tuple[str, ...], until: dt.date) -> list[dict]:
    d = documents
    rows = (
        conn.execute(
            sa.select(
                d.c.id,
                d.c.title,
                d.c.doc_type,
                d.c.doc_class,
                d.c.project,
                d.c.counterparty,
                d.c.owner,
                d.c.review_due,
                d.c.latest_version,
                d.c.status,
            )
            .where(
                d.c.doc_type.in_(doc_types),
                d.c.review_due.is_not(None),
                d.c.review_due <= until,
                d.c.status != "archived",
            )
            .order_by(d.c.review_due, d.c.id)
        )
        .mappings()
        .all()
    )
    return [dict(r) for r in rows]


def recent_activity(
    conn: sa.Connection, *, limit: int, documents_only: bool, site_projects: Collection[str] | None = None
) -> list[tuple[AuditEntry, str | None]]:
    """The newest audit entries with the title of their document (None: no document, or one
    since gone). ``documents_only``: only entries about a document, refusals left out (what a
    reader who may not read the audit log may see of it); ``site_projects``: on-site (9.2)
    documents only of these projects."""
    a, d = audit_log, documents
    query = sa.select(a, d.c.title.label("document_title")).select_from(a.outerjoin(d, d.c.id == a.c.document_id))
    if documents_only:
        query = query.where(a.c.document_id.is_not(None), d.c.id.is_not(None), a.c.action != "access.denied")
    if site_projects is not None:
        query = query.where(
            sa.or_(a.c.document_id.is_(None), d.c.doc_class != "site", d.c.project.in_(sorted(site_projects)))
        )
    rows = conn.execute(query.order_by(a.c.seq.desc()).limit(limit)).mappings().all()
    return [(entry_from_row(r), r["document_title"]) for r in rows]
