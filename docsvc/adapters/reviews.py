"""SQL for review reminders (spec 8.1.3; table from migration 0008).

Plain functions over a connection, so a reminder is recorded inside the caller's catalog
transaction, with its audit entry.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from docsvc.adapters.tables import documents, review_reminders, site_visible

# Documents in these states need no review (docsvc.core.model.DocStatus values).
_CLOSED = ("superseded", "archived")


def remember(
    conn: sa.Connection, document_id: int, review_due: dt.date, *, job_id: int | None, now: dt.datetime
) -> bool:
    """Record that the document was reminded of for this due date; False when it already was."""
    insert = (sqlite_insert if conn.dialect.name == "sqlite" else postgresql_insert)(review_reminders)
    # RETURNING, not rowcount: an INSERT … ON CONFLICT DO NOTHING reports no row count on psycopg.
    inserted = conn.execute(
        insert.values(document_id=document_id, review_due=review_due, reminded_at=now, job_id=job_id)
        .on_conflict_do_nothing()
        .returning(review_reminders.c.document_id)
    ).first()
    return inserted is not None


def open_reminders(conn: sa.Connection, *, site_projects: Collection[str] | None = None) -> list[int]:
    """Ids of the documents reminded of for the review date they still have (nobody has
    reviewed them and set a new date since), open ones only; ``site_projects`` as in
    SqlCatalog.list_documents (the access rule for on-site documents)."""
    cond = [documents.c.status.not_in(_CLOSED), *site_visible(site_projects)]
    query = (
        sa.select(documents.c.id)
        .join(
            review_reminders,
            sa.and_(
                review_reminders.c.document_id == documents.c.id,
                review_reminders.c.review_due == documents.c.review_due,
            ),
        )
        .where(*cond)
        .order_by(documents.c.review_due, documents.c.id)
    )
    return [i for (i,) in conn.execute(query)]
