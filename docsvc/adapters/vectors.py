"""SQL for passage vectors (table from migration 0023; see docsvc.services.semantic)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from docsvc.adapters.tables import extractions, passage_vectors, versions


def _missing(model: str, extractor_version: str) -> sa.Select:
    """Versions whose text has been extracted and which have no vectors by ``model``."""
    have = sa.select(passage_vectors.c.version_id).where(passage_vectors.c.model == model)
    extracted = sa.select(extractions.c.sha256).where(extractions.c.extractor_version == extractor_version)
    return sa.select(versions.c.id).where(versions.c.id.not_in(have), versions.c.sha256.in_(extracted))


def pending(conn: sa.Connection, model: str, extractor_version: str, limit: int) -> list[int]:
    """Up to ``limit`` version ids to embed, newest first (what people search most)."""
    return list(conn.execute(_missing(model, extractor_version).order_by(versions.c.id.desc()).limit(limit)).scalars())


def count_pending(conn: sa.Connection, model: str, extractor_version: str) -> int:
    return conn.execute(
        sa.select(sa.func.count()).select_from(_missing(model, extractor_version).subquery())
    ).scalar_one()


def by_key(conn: sa.Connection, model: str, keys: Collection[str]) -> dict[str, tuple[int, bytes]]:
    """text key → (passages, vectors) already made by ``model``: the same text is embedded once."""
    if not keys:
        return {}
    rows = conn.execute(
        sa.select(passage_vectors.c.text_key, passage_vectors.c.passages, passage_vectors.c.vectors).where(
            passage_vectors.c.model == model, passage_vectors.c.text_key.in_(sorted(set(keys)))
        )
    )
    return {key: (n, data) for key, n, data in rows}


def put(conn: sa.Connection, rows: list[dict], model: str, now: dt.datetime) -> None:
    """Keep vectors (``version_id``, ``text_key``, ``passages``, ``vectors``), replacing a
    version's vectors by another model."""
    if not rows:
        return
    insert = (sqlite_insert if conn.dialect.name == "sqlite" else postgresql_insert)(passage_vectors)
    values = [{**r, "model": model, "created_at": now} for r in rows]
    conn.execute(
        insert.on_conflict_do_update(
            index_elements=["version_id"],
            set_={c: insert.excluded[c] for c in ("model", "text_key", "passages", "vectors", "created_at")},
        ),
        values,
    )


def get(conn: sa.Connection, version_ids: Collection[int], model: str) -> dict[int, bytes]:
    """version id → vectors by ``model``, for the versions that have them."""
    if not version_ids:
        return {}
    rows = conn.execute(
        sa.select(passage_vectors.c.version_id, passage_vectors.c.vectors).where(
            passage_vectors.c.model == model, passage_vectors.c.version_id.in_(sorted(set(version_ids)))
        )
    )
    return {vid: data for vid, data in rows}


def forget(conn: sa.Connection, sha256: str) -> int:
    """Drop the vectors of every version holding this content: its text changed (OCR read it)."""
    ids = sa.select(versions.c.id).where(versions.c.sha256 == sha256)
    return conn.execute(sa.delete(passage_vectors).where(passage_vectors.c.version_id.in_(ids))).rowcount
