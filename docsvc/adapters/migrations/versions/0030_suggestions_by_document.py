"""Suggestions found by their document: every confirmation, correction and new version reads a
document's pending suggestions, which was a scan of the whole table (9 ms at 100,000 on
PostgreSQL, growing with the archive).

Revision ID: 0030
Revises: 0029
"""

from alembic import op

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_suggestions_document", "suggestions", ["document_id", "state"])


def downgrade() -> None:
    op.drop_index("ix_suggestions_document", "suggestions")
