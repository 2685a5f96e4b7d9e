"""Passage vectors of versions for semantic ranking (derived data, made in the background after
indexing; see docsvc.services.semantic), one row per version with the model that made it.

Revision ID: 0023
Revises: 0021
"""

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "passage_vectors",
        sa.Column("version_id", sa.Integer, sa.ForeignKey("versions.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("model", sa.String(100), nullable=False),
        sa.Column("text_key", sa.String(64), nullable=False),
        sa.Column("passages", sa.Integer, nullable=False),
        sa.Column("vectors", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_passage_vectors_key", "passage_vectors", ["model", "text_key"])


def downgrade() -> None:
    op.drop_index("ix_passage_vectors_key", table_name="passage_vectors")
    op.drop_table("passage_vectors")
