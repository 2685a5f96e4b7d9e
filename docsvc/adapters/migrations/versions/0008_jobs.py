"""Background work shared by every server: the job queue, periodic schedules, the servers'
heartbeats, and the review reminders the daily job records.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("max_attempts", sa.Integer, nullable=False, server_default="3"),
        sa.Column("run_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True)),
        sa.Column("node", sa.String(200)),
        sa.Column("error", sa.Text),
        sa.Column("key", sa.String(200)),
        sa.Column("active_key", sa.String(200), unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("result", sa.Text),
    )
    op.create_index("ix_jobs_claim", "jobs", ["state", "run_after"])
    op.create_index("ix_jobs_key", "jobs", ["key"])
    op.create_table(
        "schedules",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("next_run_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_run_at", sa.DateTime(timezone=True)),
        sa.Column("last_node", sa.String(200)),
    )
    op.create_table(
        "nodes",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("host", sa.String(200), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", sa.DateTime(timezone=True)),
    )
    op.create_table(
        "review_reminders",
        sa.Column("document_id", sa.Integer, sa.ForeignKey("documents.id"), primary_key=True),
        sa.Column("review_due", sa.Date, primary_key=True),
        sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("job_id", sa.Integer),
    )


def downgrade() -> None:
    op.drop_table("review_reminders")
    op.drop_table("nodes")
    op.drop_table("schedules")
    op.drop_index("ix_jobs_key", "jobs")
    op.drop_index("ix_jobs_claim", "jobs")
    op.drop_table("jobs")
