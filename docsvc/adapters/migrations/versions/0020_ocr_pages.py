"""OCR results page by page, kept while a document is being read, so that a job interrupted
mid-document (a crash, a lost lease) goes on from the pages already recognised (derived data;
see docsvc.services.ocr).

Revision ID: 0020
Revises: 0019
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ocr_pages",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("engine", sa.String(32), primary_key=True),
        sa.Column("page", sa.Integer, primary_key=True),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("ocr_pages")
