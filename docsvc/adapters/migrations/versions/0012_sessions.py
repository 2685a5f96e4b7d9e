"""Sign-in sessions kept in the catalog, so that signing out, a password or role change, a disabled
account or a lockout ends every copy of a session on every server (the cookie alone could not be
taken back), and idle and absolute time limits hold wherever the next request lands.

Revision ID: 0012
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sessions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("address", sa.String(200), nullable=False, server_default=""),
        sa.Column("ended_at", sa.DateTime(timezone=True)),
        sa.Column("end_reason", sa.String(32)),
    )
    op.create_index("ix_sessions_user", "sessions", ["user_id", "ended_at"])
    op.create_index("ix_sessions_last_seen", "sessions", ["last_seen_at"])


def downgrade() -> None:
    op.drop_index("ix_sessions_last_seen", "sessions")
    op.drop_index("ix_sessions_user", "sessions")
    op.drop_table("sessions")
