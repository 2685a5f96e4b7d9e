"""Custom fields per document type (docsvc.core.fields, docsvc.services.fields): the definitions
an administrator makes, and each document's values as a JSON object (key → canonical text) in a
new column of documents, so a document is still read in one row and the list filters and ranges
run in SQL on SQLite and PostgreSQL alike (JSON extraction, a cast for number ranges).

A definition is retired, never deleted: documents keep its values and the audit log names it.
Existing documents get NULL (no values), read as an empty object.

Revision ID: 0025
Revises: 0024
"""

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "field_definitions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("doc_type", sa.String(64), nullable=False),
        sa.Column("key", sa.String(40), nullable=False, unique=True),
        sa.Column("label_zh", sa.String(100), nullable=False),
        sa.Column("label_en", sa.String(100), nullable=False, server_default=""),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("choices", sa.JSON, nullable=False),
        sa.Column("required", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("position", sa.Integer, nullable=False, server_default="0"),
        sa.Column("retired_at", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.add_column("documents", sa.Column("fields", sa.JSON))


def downgrade() -> None:
    op.drop_column("documents", "fields")
    op.drop_table("field_definitions")
