"""Word templates and their versions, PDF renditions, extracted text, classification suggestions.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "templates",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("slug", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("schema", sa.Text, nullable=False),
        sa.Column("schema_sha256", sa.String(64), nullable=False),
        sa.Column("name_zh", sa.String(200), nullable=False),
        sa.Column("name_en", sa.String(200), nullable=False),
        sa.Column("doc_type", sa.String(64), nullable=False),
        sa.Column("lint", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.UniqueConstraint("slug", "version", name="uq_templates_slug_version"),
    )
    op.create_table(
        "renditions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("version_id", sa.Integer, sa.ForeignKey("versions.id"), nullable=False),
        sa.Column("media_type", sa.String(200), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("producer", sa.String(200), nullable=False),
        sa.UniqueConstraint("version_id", "media_type", name="uq_renditions_version_type"),
    )
    op.create_table(
        "extractions",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("extractor_version", sa.String(32), primary_key=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("chars", sa.Integer, nullable=False),
        sa.Column("pages", sa.Integer),
        sa.Column("detail", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "suggestions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("document_id", sa.Integer, sa.ForeignKey("documents.id"), nullable=False),
        sa.Column("version_id", sa.Integer, sa.ForeignKey("versions.id"), nullable=False),
        sa.Column("doc_type", sa.String(64), nullable=False),
        sa.Column("doc_type_confidence", sa.Float, nullable=False),
        sa.Column("service_category", sa.String(16), nullable=False),
        sa.Column("service_category_confidence", sa.Float, nullable=False),
        sa.Column("project", sa.String(500)),
        sa.Column("terms", sa.JSON, nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("needs_review", sa.Boolean, nullable=False),
        sa.Column("state", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True)),
        sa.Column("resolved_by", sa.String(200)),
    )
    op.create_index("ix_suggestions_state", "suggestions", ["state", "needs_review"])


def downgrade() -> None:
    op.drop_index("ix_suggestions_state", "suggestions")
    for table in ("suggestions", "extractions", "renditions", "templates"):
        op.drop_table(table)
