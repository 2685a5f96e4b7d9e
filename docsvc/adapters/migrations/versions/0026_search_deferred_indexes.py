"""A rebuild of the PostgreSQL search index drops the word (GIN) indexes while it writes and
builds them again when it completes (docsvc.adapters.pg_search): their definitions wait in
search_state, so a rebuild resumed after a crash still builds them. PostgreSQL only, like 0005.

Revision ID: 0026
Revises: 0025
"""

from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE search_state ADD COLUMN deferred_indexes jsonb")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE search_state DROP COLUMN deferred_indexes")
