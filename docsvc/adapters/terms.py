"""SQL for the tag and counterparty catalogs (tables from migration 0024) and for finding the
documents that carry a name. Plain functions over a connection, like docsvc.adapters.saved_views;
the rules (who may change the catalog, what a name may be) are docsvc.services.terms'.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Collection
from typing import Any

import sqlalchemy as sa

from docsvc.adapters.tables import counterparty_catalog, documents, site_visible, tag_catalog

TABLES = {"tag": tag_catalog, "counterparty": counterparty_catalog}


def rows(conn: sa.Connection, kind: str) -> list[dict[str, Any]]:
    table = TABLES[kind]
    return [dict(r) for r in conn.execute(sa.select(table)).mappings()]


def get(conn: sa.Connection, kind: str, name: str) -> dict[str, Any] | None:
    table = TABLES[kind]
    row = conn.execute(sa.select(table).where(table.c.name == name)).mappings().first()
    return dict(row) if row else None


def usage(conn: sa.Connection, kind: str, *, site_projects: Collection[str] | None = None) -> Counter[str]:
    """How many documents carry each name (of those ``site_projects`` lets one read)."""
    counts: Counter[str] = Counter()
    if kind == "counterparty":
        query = (
            sa.select(documents.c.counterparty, sa.func.count())
            .where(documents.c.counterparty != "", *site_visible(site_projects))
            .group_by(documents.c.counterparty)
        )
        counts.update({name: n for name, n in conn.execute(query)})
        return counts
    # Tags are a JSON list: counted here (portable across SQLite and PostgreSQL), streamed.
    result = conn.execution_options(yield_per=2000).execute(
        sa.select(documents.c.tags).where(*site_visible(site_projects))
    )
    for (tags,) in result:
        counts.update(set(tags or ()))
    return counts


def documents_with(conn: sa.Connection, kind: str, name: str) -> list[int]:
    """The ids of every document carrying ``name``, in id order."""
    if kind == "counterparty":
        query = sa.select(documents.c.id).where(documents.c.counterparty == name).order_by(documents.c.id)
        return [i for (i,) in conn.execute(query)]
    query = sa.select(documents.c.id, documents.c.tags).order_by(documents.c.id)
    return [i for i, tags in conn.execute(query) if name in (tags or ())]


def insert(conn: sa.Connection, kind: str, name: str, *, colour: str | None, now: dt.datetime) -> None:
    values: dict[str, Any] = {"name": name, "created_at": now, "updated_at": now}
    if kind == "tag" and colour:
        values["colour"] = colour
    conn.execute(sa.insert(TABLES[kind]).values(**values))


def update(conn: sa.Connection, kind: str, name: str, changes: dict[str, Any], *, now: dt.datetime) -> None:
    table = TABLES[kind]
    conn.execute(sa.update(table).where(table.c.name == name).values(**changes, updated_at=now))


def delete(conn: sa.Connection, kind: str, name: str) -> None:
    table = TABLES[kind]
    conn.execute(sa.delete(table).where(table.c.name == name))
