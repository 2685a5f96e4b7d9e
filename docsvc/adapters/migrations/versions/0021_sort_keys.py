"""Pinyin sort keys of documents' title, project and counterparty (docsvc.core.collation), so
the document list sorts them in pinyin order in the database, page by page.

Revision ID: 0021
Revises: 0020
"""

import sqlalchemy as sa
from alembic import op

from docsvc.core.collation import sort_key

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

KEYED = (("title", "title_key"), ("project", "project_key"), ("counterparty", "counterparty_key"))
BATCH = 1000


def upgrade() -> None:
    for _, key in KEYED:
        op.add_column("documents", sa.Column(key, sa.String(500), nullable=False, server_default=""))
    conn = op.get_bind()
    docs = sa.table(
        "documents", sa.column("id", sa.Integer), *(sa.column(c, sa.String) for pair in KEYED for c in pair)
    )
    last = 0
    while True:  # in batches: an archive of 100k documents is not read into memory at once
        rows = conn.execute(sa.select(docs).where(docs.c.id > last).order_by(docs.c.id).limit(BATCH)).mappings().all()
        if not rows:
            break
        for row in rows:
            conn.execute(
                docs.update().where(docs.c.id == row["id"]).values({key: sort_key(row[text]) for text, key in KEYED})
            )
        last = rows[-1]["id"]


def downgrade() -> None:
    for _, key in KEYED:
        op.drop_column("documents", key)
