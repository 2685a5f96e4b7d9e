"""SQL for first-page thumbnails (table from migration 0018).

Plain functions over a connection, like docsvc.adapters.reviews: the job that makes a thumbnail
records it inside its fenced transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from docsvc.adapters.tables import documents, thumbnails, versions


@dataclass(frozen=True)
class ThumbnailRecord:
    sha256: str
    renderer: str
    status: str
    media_type: str
    data: bytes | None
    width: int
    height: int
    pages: int | None
    source_sha256: str
    detail: dict[str, Any]
    created_at: dt.datetime


@dataclass(frozen=True)
class Missing:
    """A content hash that has no thumbnail by the current renderer, and one version holding it."""

    sha256: str
    version_id: int
    media_type: str


def record(
    conn: sa.Connection,
    *,
    sha256: str,
    renderer: str,
    status: str,
    media_type: str,
    data: bytes | None,
    width: int,
    height: int,
    pages: int | None,
    source_sha256: str,
    detail: dict[str, Any],
    now: dt.datetime,
) -> bool:
    """Keep a thumbnail (or why there is none); False when one was kept already (the same
    content drawn by the same renderer is the same picture)."""
    insert = (sqlite_insert if conn.dialect.name == "sqlite" else postgresql_insert)(thumbnails)
    kept = conn.execute(
        insert.values(
            sha256=sha256,
            renderer=renderer,
            status=status,
            media_type=media_type,
            data=data,
            width=width,
            height=height,
            pages=pages,
            source_sha256=source_sha256,
            detail=detail,
            created_at=now,
        )
        .on_conflict_do_nothing()
        .returning(thumbnails.c.sha256)
    ).first()
    return kept is not None


def get(conn: sa.Connection, sha256: str, renderer: str) -> ThumbnailRecord | None:
    row = (
        conn.execute(sa.select(thumbnails).where(thumbnails.c.sha256 == sha256, thumbnails.c.renderer == renderer))
        .mappings()
        .first()
    )
    return None if row is None else ThumbnailRecord(**row)


def states(conn: sa.Connection, shas: Collection[str], renderer: str) -> dict[str, str]:
    """sha256 → status, for the hashes that have a row (the rest are pending)."""
    if not shas:
        return {}
    rows = conn.execute(
        sa.select(thumbnails.c.sha256, thumbnails.c.status).where(
            thumbnails.c.renderer == renderer, thumbnails.c.sha256.in_(sorted(set(shas)))
        )
    )
    return {sha: status for sha, status in rows}


def latest_versions(conn: sa.Connection, document_ids: Collection[int]) -> dict[int, tuple[int, str, str]]:
    """document id → (number, sha256, media type) of its latest version."""
    if not document_ids:
        return {}
    rows = conn.execute(
        sa.select(versions.c.document_id, versions.c.number, versions.c.sha256, versions.c.media_type)
        .join(
            documents,
            sa.and_(documents.c.id == versions.c.document_id, documents.c.latest_version == versions.c.number),
        )
        .where(versions.c.document_id.in_(sorted(set(document_ids))))
    )
    return {doc: (number, sha, media_type) for doc, number, sha, media_type in rows}


def media_types(conn: sa.Connection, shas: Collection[str]) -> dict[str, str]:
    """sha256 → the media type of the versions holding it."""
    if not shas:
        return {}
    rows = conn.execute(
        sa.select(versions.c.sha256, sa.func.min(versions.c.media_type))
        .where(versions.c.sha256.in_(sorted(set(shas))))
        .group_by(versions.c.sha256)
    )
    return {sha: media_type for sha, media_type in rows}


def missing(conn: sa.Connection, renderer: str, media_types: Collection[str], *, limit: int) -> list[Missing]:
    """Content hashes of versions of ``media_types`` with no row by ``renderer``, oldest first."""
    done = (
        sa.select(thumbnails.c.sha256)
        .where(thumbnails.c.renderer == renderer, thumbnails.c.sha256 == versions.c.sha256)
        .exists()
    )
    query = (
        sa.select(
            versions.c.sha256,
            sa.func.min(versions.c.id).label("version_id"),
            sa.func.min(versions.c.media_type).label("media_type"),
        )
        .where(versions.c.media_type.in_(sorted(media_types)), ~done)
        .group_by(versions.c.sha256)
        .order_by(sa.func.min(versions.c.id))
        .limit(limit)
    )
    return [Missing(sha, version_id, media_type) for sha, version_id, media_type in conn.execute(query)]
