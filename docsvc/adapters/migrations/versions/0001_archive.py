"""The archive: documents, immutable versions, the hash-chained audit log, the index outbox.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "documents",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("title", sa.String(500), nullable=False),
        sa.Column("doc_type", sa.String(64), nullable=False),
        sa.Column("service_category", sa.String(16), nullable=False),
        sa.Column("doc_class", sa.String(16), nullable=False),
        sa.Column("service_scope", sa.String(16)),
        sa.Column("pdca_phase", sa.String(16)),
        sa.Column("project", sa.String(500), nullable=False, server_default=""),
        sa.Column("counterparty", sa.String(500), nullable=False, server_default=""),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("effective_date", sa.Date),
        sa.Column("review_due", sa.Date),
        sa.Column("owner", sa.String(500), nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("latest_version", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_table(
        "versions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("document_id", sa.Integer, sa.ForeignKey("documents.id"), nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("media_type", sa.String(200), nullable=False),
        sa.Column("original_filename", sa.String(500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("provenance", sa.JSON, nullable=False),
        sa.UniqueConstraint("document_id", "number", name="uq_versions_document_number"),
    )
    op.create_index("ix_versions_sha256", "versions", ["sha256"])
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("ts", sa.String(40), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("document_id", sa.Integer),
        sa.Column("version", sa.Integer),
        sa.Column("details", sa.Text, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False, unique=True),
    )
    op.create_index("ix_audit_log_document", "audit_log", ["document_id", "seq"])
    head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.bulk_insert(head, [{"id": 1, "seq": 0, "hash": "0" * 64}])
    op.create_table(
        "index_outbox",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("document_id", sa.Integer, nullable=False),
        sa.Column("version_id", sa.Integer),
        sa.Column("op", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text),
    )


def downgrade() -> None:
    for table in ("index_outbox", "audit_head", "audit_log", "versions", "documents"):
        op.drop_table(table)
