"""SQL for custom field definitions (table from migration 0025) and the use of each field on
documents. Plain functions over a connection, like docsvc.adapters.terms; the rules (who may
define fields, what a value may be) are docsvc.services.fields' and docsvc.core.fields'.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

import sqlalchemy as sa

from docsvc.adapters.tables import documents, field_definitions, versions
from docsvc.core.fields import FieldDefinition, FieldKind


def _definition(row: Any) -> FieldDefinition:
    return FieldDefinition(
        doc_type=row["doc_type"],
        key=row["key"],
        label_zh=row["label_zh"],
        label_en=row["label_en"] or "",
        kind=FieldKind(row["kind"]),
        choices=tuple(row["choices"] or ()),
        required=bool(row["required"]),
        position=int(row["position"]),
        retired=row["retired_at"] is not None,
    )


def definitions(conn: sa.Connection) -> list[FieldDefinition]:
    """Every definition, retired ones too, by type, position and key."""
    query = sa.select(field_definitions).order_by(
        field_definitions.c.doc_type, field_definitions.c.position, field_definitions.c.key
    )
    return [_definition(r) for r in conn.execute(query).mappings()]


def get(conn: sa.Connection, key: str) -> FieldDefinition | None:
    row = conn.execute(sa.select(field_definitions).where(field_definitions.c.key == key)).mappings().first()
    return _definition(row) if row else None


def insert(conn: sa.Connection, d: FieldDefinition, *, actor: str, now: dt.datetime) -> None:
    conn.execute(
        field_definitions.insert().values(
            doc_type=d.doc_type,
            key=d.key,
            label_zh=d.label_zh,
            label_en=d.label_en,
            kind=d.kind.value,
            choices=list(d.choices),
            required=d.required,
            position=d.position,
            retired_at=None,
            created_at=now,
            created_by=actor,
            updated_at=now,
        )
    )


def update(conn: sa.Connection, d: FieldDefinition, *, now: dt.datetime) -> None:
    conn.execute(
        field_definitions.update()
        .where(field_definitions.c.key == d.key)
        .values(
            label_zh=d.label_zh,
            label_en=d.label_en,
            choices=list(d.choices),
            required=d.required,
            position=d.position,
            retired_at=(now if d.retired else None),
            updated_at=now,
        )
    )


def usage(conn: sa.Connection) -> Counter[str]:
    """How many documents hold a value of each key (counted here: portable, streamed)."""
    counts: Counter[str] = Counter()
    result = conn.execution_options(yield_per=2000).execute(
        sa.select(documents.c.fields).where(documents.c.fields.is_not(None))
    )
    for (values,) in result:
        counts.update(k for k, v in (values or {}).items() if v)
    return counts


def version_ids(conn: sa.Connection, document_id: int) -> list[int]:
    """A document's versions (each is indexed with the document's field values)."""
    query = sa.select(versions.c.id).where(versions.c.document_id == document_id).order_by(versions.c.number)
    return [i for (i,) in conn.execute(query)]
