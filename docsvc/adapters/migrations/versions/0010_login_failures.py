"""Failed sign-ins counted in the catalog, per account and per client address, so that the delay
and the lockout hold across every server sharing the catalog (not per process).

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_failures",
        sa.Column("scope", sa.String(16), primary_key=True),
        sa.Column("subject", sa.String(200), primary_key=True),
        sa.Column("failures", sa.Integer, nullable=False, server_default="0"),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_failure_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retry_at", sa.DateTime(timezone=True)),
        sa.Column("locked_until", sa.DateTime(timezone=True)),
        sa.Column("lockouts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("reasons", sa.JSON, nullable=False),
    )
    op.create_index("ix_login_failures_last", "login_failures", ["last_failure_at"])


def downgrade() -> None:
    op.drop_index("ix_login_failures_last", "login_failures")
    op.drop_table("login_failures")
