"""Index outbox claims: a bulk import indexes its own new versions and claims their rows for a
while, so a running server's indexer does not index them a second time.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("index_outbox", sa.Column("claimed_until", sa.DateTime(timezone=True)))


def downgrade() -> None:
    with op.batch_alter_table("index_outbox") as batch:
        batch.drop_column("claimed_until")
