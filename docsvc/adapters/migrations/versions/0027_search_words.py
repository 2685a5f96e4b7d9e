"""PostgreSQL search counts how many documents have each of the commoner words (search_word),
in the pass that counts the grams (docsvc.adapters.pg_search): what a long question's rarest
words are chosen by, and which words only rank (docsvc.core.ranking.common_words). The planner's
statistics knew only the thousand commonest. PostgreSQL only, like 0005.

Revision ID: 0027
Revises: 0026
"""

from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE TABLE search_word (word text PRIMARY KEY, df integer NOT NULL)")
    # Counted again at the next write (the counts are as old as grams_docs).
    op.execute("UPDATE search_state SET grams_docs = NULL")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TABLE search_word")
