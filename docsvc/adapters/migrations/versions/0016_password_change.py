"""Accounts whose password someone else chose (the administrator made by `docsvc init`, a user
created with a generated password, a password reset by an administrator) must choose their own
at their next sign-in in the web UI.

Revision ID: 0016
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("password_change_required", sa.Boolean, nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("password_change_required")
