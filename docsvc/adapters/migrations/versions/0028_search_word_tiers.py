"""PostgreSQL search keeps, per version, each word said more than once as a lexeme naming its
count's tier ('8|巡检'), under a GIN index: one word's candidates for ranking come from its
highest tiers, as a RUM index's come from its counts (docsvc.adapters.pg_search). Versions
indexed before have none until the next rebuild. PostgreSQL only, like 0005.

Revision ID: 0028
Revises: 0027
"""

from alembic import op

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE search_entry ADD COLUMN tier_tsv tsvector NOT NULL DEFAULT ''::tsvector")
    op.execute("CREATE INDEX ix_search_entry_tier_tsv ON search_entry USING gin (tier_tsv)")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX ix_search_entry_tier_tsv")
    op.execute("ALTER TABLE search_entry DROP COLUMN tier_tsv")
