"""SQL for saved views and their dashboard pins (tables from migration 0019).

Plain functions over a connection, like docsvc.adapters.thumbnails; the rules (who may see,
change or pin a view, what a view may hold) are docsvc.services.views'.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from docsvc.adapters.tables import saved_view_pins, saved_views, users

_COLUMNS = (saved_views, users.c.username.label("owner"))


def _select() -> sa.Select:
    return sa.select(*_COLUMNS).join(users, users.c.id == saved_views.c.owner_id)


def get(conn: sa.Connection, view_id: int) -> dict[str, Any] | None:
    row = conn.execute(_select().where(saved_views.c.id == view_id)).mappings().first()
    return dict(row) if row else None


def is_pinned(conn: sa.Connection, view_id: int, user_id: int) -> bool:
    return (
        conn.execute(
            sa.select(saved_view_pins.c.view_id).where(
                saved_view_pins.c.view_id == view_id, saved_view_pins.c.user_id == user_id
            )
        ).first()
        is not None
    )


def visible(conn: sa.Connection, user_id: int) -> list[dict[str, Any]]:
    """The user's own views, then the views others shared, each with ``pinned`` (on this
    user's dashboard), ordered by owner then name."""
    pinned = sa.exists().where(saved_view_pins.c.view_id == saved_views.c.id, saved_view_pins.c.user_id == user_id)
    query = (
        sa.select(*_COLUMNS, pinned.label("pinned"))
        .join(users, users.c.id == saved_views.c.owner_id)
        .where(sa.or_(saved_views.c.owner_id == user_id, saved_views.c.shared.is_(True)))
    )
    own_first = sa.case((saved_views.c.owner_id == user_id, 0), else_=1)
    rows = conn.execute(query.order_by(own_first, users.c.username, saved_views.c.name, saved_views.c.id)).mappings()
    return [dict(r) for r in rows]


def name_taken(conn: sa.Connection, owner_id: int, name: str, *, other_than: int | None = None) -> bool:
    query = sa.select(saved_views.c.id).where(saved_views.c.owner_id == owner_id, saved_views.c.name == name)
    if other_than is not None:
        query = query.where(saved_views.c.id != other_than)
    return conn.execute(query.limit(1)).first() is not None


def count_owned(conn: sa.Connection, owner_id: int) -> int:
    return conn.execute(
        sa.select(sa.func.count()).select_from(saved_views).where(saved_views.c.owner_id == owner_id)
    ).scalar_one()


def insert(
    conn: sa.Connection, *, owner_id: int, name: str, kind: str, params: list[list[str]], shared: bool, now: dt.datetime
) -> int:
    result = conn.execute(
        sa.insert(saved_views).values(
            owner_id=owner_id, name=name, kind=kind, params=params, shared=shared, created_at=now, updated_at=now
        )
    )
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def update(conn: sa.Connection, view_id: int, changes: dict[str, Any], *, now: dt.datetime) -> None:
    conn.execute(sa.update(saved_views).where(saved_views.c.id == view_id).values(**changes, updated_at=now))


def delete(conn: sa.Connection, view_id: int) -> None:
    conn.execute(sa.delete(saved_view_pins).where(saved_view_pins.c.view_id == view_id))
    conn.execute(sa.delete(saved_views).where(saved_views.c.id == view_id))


def unshare(conn: sa.Connection, view_id: int, owner_id: int) -> None:
    """A view no longer shared leaves the other users' dashboards."""
    conn.execute(
        sa.delete(saved_view_pins).where(saved_view_pins.c.view_id == view_id, saved_view_pins.c.user_id != owner_id)
    )


def pin(conn: sa.Connection, view_id: int, user_id: int, *, pinned: bool, now: dt.datetime) -> None:
    exists = is_pinned(conn, view_id, user_id)
    if pinned and not exists:
        conn.execute(sa.insert(saved_view_pins).values(view_id=view_id, user_id=user_id, created_at=now))
    elif not pinned and exists:
        conn.execute(
            sa.delete(saved_view_pins).where(saved_view_pins.c.view_id == view_id, saved_view_pins.c.user_id == user_id)
        )
