"""Outbox leases: a bulk import's claim on its outbox rows names the import (claimed_by) and
lasts a short lease that the import renews while it runs, so the rows of an import that died
return to every indexer within a lease instead of after a fixed ten minutes.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("index_outbox", sa.Column("claimed_by", sa.String(64)))


def downgrade() -> None:
    with op.batch_alter_table("index_outbox") as batch:
        batch.drop_column("claimed_by")
