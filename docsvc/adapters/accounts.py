"""SQL for people: users, API tokens and project membership (tables from migration 0003), the
failed sign-in counters (migration 0010) and sign-in sessions (migration 0012).

Plain functions over a connection, so a write runs inside the caller's catalog transaction and
lands atomically with its audit entry.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa

from docsvc.adapters.tables import api_tokens, login_failures, project_members, sessions, users

Row = Mapping[str, Any]


def count_users(conn: sa.Connection) -> int:
    return conn.execute(sa.select(sa.func.count()).select_from(users)).scalar_one()


def insert_user(
    conn: sa.Connection,
    *,
    username: str,
    display_name: str,
    role: str,
    password_hash: str,
    actor: str,
    now: dt.datetime,
    password_change_required: bool = False,
) -> int:
    result = conn.execute(
        users.insert().values(
            username=username,
            display_name=display_name,
            role=role,
            password_hash=password_hash,
            active=True,
            created_at=now,
            created_by=actor,
            updated_at=now,
            password_change_required=password_change_required,
        )
    )
    return int(result.inserted_primary_key[0])


def user_by_username(conn: sa.Connection, username: str, *, for_update: bool = False) -> Row | None:
    query = sa.select(users).where(users.c.username == username)
    if for_update:
        query = query.with_for_update()
    return conn.execute(query).mappings().first()


def user_by_id(conn: sa.Connection, user_id: int) -> Row | None:
    return conn.execute(sa.select(users).where(users.c.id == user_id)).mappings().first()


def list_users(conn: sa.Connection) -> list[Row]:
    return list(conn.execute(sa.select(users).order_by(users.c.username)).mappings())


def update_user(conn: sa.Connection, user_id: int, now: dt.datetime, **values: Any) -> None:
    conn.execute(users.update().where(users.c.id == user_id).values(**values, updated_at=now))


def record_login(conn: sa.Connection, user_id: int, now: dt.datetime) -> None:
    conn.execute(users.update().where(users.c.id == user_id).values(last_login_at=now))


def insert_token(conn: sa.Connection, *, user_id: int, name: str, token_hash: str, actor: str, now: dt.datetime) -> int:
    result = conn.execute(
        api_tokens.insert().values(user_id=user_id, name=name, token_hash=token_hash, created_at=now, created_by=actor)
    )
    return int(result.inserted_primary_key[0])


def token_with_user(conn: sa.Connection, token_hash: str) -> Row | None:
    """The token row (``token_*`` keys) joined with its user's row."""
    query = (
        sa.select(
            api_tokens.c.id.label("token_id"),
            api_tokens.c.name.label("token_name"),
            api_tokens.c.revoked_at.label("token_revoked_at"),
            api_tokens.c.last_used_at.label("token_last_used_at"),
            users,
        )
        .join(users, users.c.id == api_tokens.c.user_id)
        .where(api_tokens.c.token_hash == token_hash)
    )
    return conn.execute(query).mappings().first()


def touch_token(conn: sa.Connection, token_id: int, now: dt.datetime) -> None:
    conn.execute(api_tokens.update().where(api_tokens.c.id == token_id).values(last_used_at=now))


def tokens_of(conn: sa.Connection, user_id: int) -> list[Row]:
    return list(
        conn.execute(sa.select(api_tokens).where(api_tokens.c.user_id == user_id).order_by(api_tokens.c.id)).mappings()
    )


def token_by_id(conn: sa.Connection, token_id: int) -> Row | None:
    return conn.execute(sa.select(api_tokens).where(api_tokens.c.id == token_id)).mappings().first()


def revoke_token(conn: sa.Connection, token_id: int, now: dt.datetime) -> None:
    conn.execute(
        api_tokens.update().where(api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None)).values(revoked_at=now)
    )


def projects_of(conn: sa.Connection, user_id: int) -> list[str]:
    return list(
        conn.execute(
            sa.select(project_members.c.project)
            .where(project_members.c.user_id == user_id)
            .order_by(project_members.c.project)
        ).scalars()
    )


def set_projects(conn: sa.Connection, user_id: int, projects: Iterable[str], *, actor: str, now: dt.datetime) -> None:
    conn.execute(project_members.delete().where(project_members.c.user_id == user_id))
    rows = [{"user_id": user_id, "project": p, "created_at": now, "created_by": actor} for p in projects]
    if rows:
        conn.execute(project_members.insert(), rows)


def login_failure(conn: sa.Connection, scope: str, subject: str) -> Row | None:
    return (
        conn.execute(
            sa.select(login_failures).where(login_failures.c.scope == scope, login_failures.c.subject == subject)
        )
        .mappings()
        .first()
    )


def save_login_failure(conn: sa.Connection, row: Mapping[str, Any], *, exists: bool) -> None:
    if exists:
        conn.execute(
            login_failures.update()
            .where(login_failures.c.scope == row["scope"], login_failures.c.subject == row["subject"])
            .values(**row)
        )
    else:
        conn.execute(login_failures.insert().values(**row))


def delete_login_failure(conn: sa.Connection, scope: str, subject: str) -> None:
    conn.execute(login_failures.delete().where(login_failures.c.scope == scope, login_failures.c.subject == subject))


def forget_login_failures(conn: sa.Connection, before: dt.datetime) -> None:
    """Counters quiet since ``before`` and no longer locked: a sprayed list of made-up names
    does not pile up rows."""
    conn.execute(
        login_failures.delete().where(
            login_failures.c.last_failure_at < before,
            sa.or_(login_failures.c.locked_until.is_(None), login_failures.c.locked_until < before),
        )
    )


def insert_session(conn: sa.Connection, *, session_id: str, user_id: int, address: str, now: dt.datetime) -> None:
    conn.execute(
        sessions.insert().values(
            id=session_id, user_id=user_id, created_at=now, last_seen_at=now, address=address[:200]
        )
    )


def session_with_user(conn: sa.Connection, session_id: str) -> Row | None:
    """The session row (``session_*`` keys) joined with its user's row."""
    query = (
        sa.select(
            sessions.c.user_id.label("session_user_id"),
            sessions.c.created_at.label("session_created_at"),
            sessions.c.last_seen_at.label("session_last_seen_at"),
            sessions.c.ended_at.label("session_ended_at"),
            users,
        )
        .join(users, users.c.id == sessions.c.user_id)
        .where(sessions.c.id == session_id)
    )
    return conn.execute(query).mappings().first()


def touch_session(conn: sa.Connection, session_id: str, now: dt.datetime) -> None:
    conn.execute(
        sessions.update().where(sessions.c.id == session_id, sessions.c.ended_at.is_(None)).values(last_seen_at=now)
    )


def end_session(conn: sa.Connection, session_id: str, reason: str, now: dt.datetime) -> int:
    return conn.execute(
        sessions.update()
        .where(sessions.c.id == session_id, sessions.c.ended_at.is_(None))
        .values(ended_at=now, end_reason=reason)
    ).rowcount


def end_sessions_of(conn: sa.Connection, user_id: int, reason: str, now: dt.datetime) -> int:
    """End every open session of the user; returns how many there were."""
    return conn.execute(
        sessions.update()
        .where(sessions.c.user_id == user_id, sessions.c.ended_at.is_(None))
        .values(ended_at=now, end_reason=reason)
    ).rowcount


def open_sessions(conn: sa.Connection, user_id: int, *, seen_since: dt.datetime) -> list[Row]:
    return list(
        conn.execute(
            sa.select(sessions)
            .where(sessions.c.user_id == user_id, sessions.c.ended_at.is_(None), sessions.c.last_seen_at >= seen_since)
            .order_by(sessions.c.created_at)
        ).mappings()
    )


def forget_sessions(conn: sa.Connection, before: dt.datetime) -> int:
    """Sessions ended, or not seen, since ``before``: no longer of use to anyone."""
    return conn.execute(
        sessions.delete().where(sa.or_(sessions.c.ended_at < before, sessions.c.last_seen_at < before))
    ).rowcount
