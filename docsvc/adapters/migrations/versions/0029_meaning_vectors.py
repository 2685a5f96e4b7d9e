"""Meaning vectors of contents for the classifier (derived data, made in the background with the
passage vectors, or when a suggestion first needs one; see docsvc.services.semantic): one row
per content (its SHA-256), with the model that made it.

Revision ID: 0029
Revises: 0028
"""

import sqlalchemy as sa
from alembic import op

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "meaning_vectors",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("model", sa.String(100), nullable=False),
        sa.Column("vector", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("meaning_vectors")
