"""The trained classifier is kept as a blob (in the archive folder or the object store) and named
here, so that every server suggests with the same model, whichever server or command trained it.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "derived_models",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("labels_fingerprint", sa.String(64), nullable=False),
        sa.Column("n_samples", sa.Integer, nullable=False),
        sa.Column("trained_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("trained_by", sa.String(200), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("derived_models")
