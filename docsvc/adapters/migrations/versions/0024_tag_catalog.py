"""Managed tags and counterparties (docsvc.services.terms): one row per name, a tag with its
colour from a fixed palette. Documents keep storing the names; the catalog is seeded with every
tag and counterparty already on a document.

Revision ID: 0024
Revises: 0023
"""

import datetime as dt
import unicodedata

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

BATCH = 1000


def upgrade() -> None:
    op.create_table(
        "tag_catalog",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(500), nullable=False, unique=True),
        sa.Column("colour", sa.String(16), nullable=False, server_default="grey"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "counterparty_catalog",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(500), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    conn = op.get_bind()
    docs = sa.table(
        "documents", sa.column("id", sa.Integer), sa.column("tags", sa.JSON), sa.column("counterparty", sa.String)
    )
    tags: set[str] = set()
    counterparties: set[str] = set()
    last = 0
    while True:  # in batches: an archive of 100k documents is not read into memory at once
        rows = conn.execute(sa.select(docs).where(docs.c.id > last).order_by(docs.c.id).limit(BATCH)).mappings().all()
        if not rows:
            break
        for row in rows:
            tags.update(t for t in (row["tags"] or ()) if isinstance(t, str) and t.strip())
            if row["counterparty"] and row["counterparty"].strip():
                counterparties.add(row["counterparty"])
        last = rows[-1]["id"]
    now = dt.datetime.now(dt.UTC)
    # The names exactly as documents hold them (a catalog name finds its documents by equality);
    # only a name whose NFC form differs is left out, as the services never store such a name.
    for table, names in (("tag_catalog", tags), ("counterparty_catalog", counterparties)):
        rows_out = [
            {"name": n, "created_at": now, "updated_at": now}
            for n in sorted(names)
            if unicodedata.normalize("NFC", n) == n and len(n) <= 500
        ]
        if rows_out:
            target = sa.table(
                table,
                sa.column("name", sa.String),
                sa.column("created_at", sa.DateTime(timezone=True)),
                sa.column("updated_at", sa.DateTime(timezone=True)),
            )
            op.bulk_insert(target, rows_out)


def downgrade() -> None:
    op.drop_table("counterparty_catalog")
    op.drop_table("tag_catalog")
