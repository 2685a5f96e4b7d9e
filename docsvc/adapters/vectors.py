"""SQL for passage vectors (table from migration 0023) and the classifier's meaning vectors
(0029); see docsvc.services.semantic."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from docsvc.adapters.tables import extractions, meaning_vectors, passage_vectors, versions


def _missing(model: str, meaning_model: str, extractor_version: str) -> sa.Select:
    """Versions whose text has been extracted and which have no passage vectors by ``model`` or
    no meaning vector by ``meaning_model``. Correlated EXISTS, each answered by a primary key:
    PostgreSQL cannot hash a NOT IN over 100,000 content hashes within work_mem and compared
    every version with every vector instead (221 s to count what was missing at 100,000
    versions)."""
    no_passages = ~sa.exists().where(passage_vectors.c.version_id == versions.c.id, passage_vectors.c.model == model)
    no_meaning = ~sa.exists().where(
        meaning_vectors.c.sha256 == versions.c.sha256, meaning_vectors.c.model == meaning_model
    )
    extracted = sa.exists().where(
        extractions.c.sha256 == versions.c.sha256, extractions.c.extractor_version == extractor_version
    )
    return sa.select(versions.c.id).where(sa.or_(no_passages, no_meaning), extracted)


def pending(conn: sa.Connection, model: str, meaning_model: str, extractor_version: str, limit: int) -> list[int]:
    """Up to ``limit`` version ids to embed, newest first (what people search most)."""
    missing = _missing(model, meaning_model, extractor_version)
    return list(conn.execute(missing.order_by(versions.c.id.desc()).limit(limit)).scalars())


def count_pending(conn: sa.Connection, model: str, meaning_model: str, extractor_version: str) -> int:
    missing = _missing(model, meaning_model, extractor_version)
    return conn.execute(sa.select(sa.func.count()).select_from(missing.subquery())).scalar_one()


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
    conn.execute(sa.delete(meaning_vectors).where(meaning_vectors.c.sha256 == sha256))
    return conn.execute(sa.delete(passage_vectors).where(passage_vectors.c.version_id.in_(ids))).rowcount


def meanings(conn: sa.Connection, model: str, shas: Collection[str]) -> dict[str, bytes]:
    """content SHA-256 → its meaning vector by ``model`` (a meaning version:
    docsvc.core.classify.features.meaning_version), for the contents that have one."""
    out: dict[str, bytes] = {}
    wanted = sorted(set(shas))
    for start in range(0, len(wanted), 500):  # bounded IN lists
        rows = conn.execute(
            sa.select(meaning_vectors.c.sha256, meaning_vectors.c.vector).where(
                meaning_vectors.c.model == model, meaning_vectors.c.sha256.in_(wanted[start : start + 500])
            )
        )
        out.update({sha: data for sha, data in rows})
    return out


def put_meanings(conn: sa.Connection, vectors: dict[str, bytes], model: str, now: dt.datetime) -> None:
    """Keep meaning vectors (content SHA-256 → vector), replacing another model's."""
    if not vectors:
        return
    insert = (sqlite_insert if conn.dialect.name == "sqlite" else postgresql_insert)(meaning_vectors)
    conn.execute(
        insert.on_conflict_do_update(
            index_elements=["sha256"], set_={c: insert.excluded[c] for c in ("model", "vector", "created_at")}
        ),
        [{"sha256": sha, "model": model, "vector": v, "created_at": now} for sha, v in sorted(vectors.items())],
    )
